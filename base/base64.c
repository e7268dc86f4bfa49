/* Base64 for guest-file-read/write and guest-exec (input-data, captured output). */
#include "base/base64.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/xalloc.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *base64_encode(const void *data, size_t len)
{
    const unsigned char *in = data;
    char *out = xmalloc((len + 2) / 3 * 4 + 1);
    char *p = out;
    size_t i = 0;

    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *p++ = alphabet[v >> 18];
        *p++ = alphabet[(v >> 12) & 63];
        *p++ = alphabet[(v >> 6) & 63];
        *p++ = alphabet[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
        *p++ = alphabet[v >> 18];
        *p++ = alphabet[(v >> 12) & 63];
        *p++ = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
        *p++ = '=';
    }
    *p = 0;
    return out;
}

/* Value of an alphabet character, 0 for '=' (as GLib), -1 for what is skipped ('\n') and
 * -2 for what is refused. */
static int rank(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    if (c == '=')
        return 0;
    return c == '\n' ? -1 : -2;
}

char *base64_decode(const char *text, size_t *out_len)
{
    size_t len = strlen(text);
    for (size_t k = 0; k < len; k++)
        if (rank((unsigned char)text[k]) == -2)
            return NULL;

    char *out = xmalloc(len / 4 * 3 + 3);
    char *p = out;
    uint32_t v = 0;
    int n = 0;
    char last0 = 0, last1 = 0; /* the two most recent characters that counted */

    for (size_t k = 0; k < len; k++) {
        int r = rank((unsigned char)text[k]);
        if (r < 0)
            continue;
        last1 = last0;
        last0 = text[k];
        v = v << 6 | (uint32_t)r;
        if (++n < 4)
            continue;
        *p++ = (char)(v >> 16);
        if (last1 != '=')
            *p++ = (char)(v >> 8);
        if (last0 != '=')
            *p++ = (char)v;
        v = 0;
        n = 0;
    }
    /* a last group without its padding: what its characters hold */
    if (n == 2 && last0 != '=' && last1 != '=')
        *p++ = (char)(v >> 4);
    if (n == 3 && last1 != '=') {
        *p++ = (char)(v >> 10);
        if (last0 != '=')
            *p++ = (char)(v >> 2);
    }
    *p = 0;
    *out_len = (size_t)(p - out);
    return out;
}
