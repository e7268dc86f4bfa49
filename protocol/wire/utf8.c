/* The strict UTF-8 decoder of utf8.h: a byte-at-a-time state machine shaped like
 * upstream's mod_utf8_codepoint() (lead bytes up to 6-byte forms are read to their end
 * and then rejected), so what qgad accepts and how many U+FFFD its writer emits for bad
 * bytes match qemu-ga. */
#include "protocol/wire/utf8.h"

bool utf8_codepoint_valid(uint32_t cp)
{
    if (cp > 0x10FFFF)
        return false; /* beyond Unicode */
    if ((cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE)
        return false;                  /* noncharacter */
    return cp < 0xD800 || cp > 0xDFFF; /* not a surrogate */
}

static enum utf8_result sequence_end(const struct utf8_dec *d)
{
    /* the smallest code point that needs len bytes; \xC0\x80 (NUL) is allowed */
    static const uint32_t min_cp[7] = {0, 0, 0x80, 0x800, 0x10000, 0x200000, 0x4000000};
    if (d->cp < min_cp[d->len] && !(d->cp == 0 && d->len == 2))
        return UTF8_BAD; /* overlong */
    return utf8_codepoint_valid(d->cp) ? UTF8_CHAR : UTF8_BAD;
}

enum utf8_result utf8_step(struct utf8_dec *d, unsigned char c)
{
    if (d->need == 0) {
        if (c < 0x80) {
            d->cp = c;
            return UTF8_CHAR;
        }
        if (c < 0xC0 || c >= 0xFE)
            return UTF8_BAD; /* a continuation byte, or 0xFE/0xFF */
        d->len = 2;
        while (d->len < 6 && (c & (0x80 >> d->len)))
            d->len++;
        d->need = d->len - 1;
        d->cp = c & (0x7F >> d->len);
        return UTF8_MORE;
    }
    if ((c & 0xC0) != 0x80) {
        d->need = 0;
        return UTF8_BAD; /* truncated */
    }
    d->cp = (d->cp << 6) | (c & 0x3F);
    if (--d->need)
        return UTF8_MORE;
    return sequence_end(d);
}

size_t utf8_decode(const unsigned char *s, uint32_t *cp)
{
    struct utf8_dec d = {0};
    for (size_t i = 0;; i++) {
        bool continuing = d.need != 0;
        switch (utf8_step(&d, s[i])) {
        case UTF8_CHAR:
            *cp = d.cp;
            return i + 1;
        case UTF8_BAD:
            *cp = UTF8_REPLACEMENT;
            /* a byte that broke a sequence starts the next one (the NUL ends the string) */
            return continuing && (s[i] & 0xC0) != 0x80 ? i : i + 1;
        case UTF8_MORE:
            break;
        }
    }
}
