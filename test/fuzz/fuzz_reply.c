/* The reply-line oracle shared by the harnesses (fuzz.h). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

yajl_val fuzz_check_reply(const char *buf, size_t len, int *delimited)
{
    const unsigned char *p = (const unsigned char *)buf;
    size_t start = len > 0 && p[0] == 0xFF ? 1 : 0;
    char err[256];

    FUZZ_CHECK(len >= start + 3, "reply too short to be a JSON object line");
    FUZZ_CHECK(p[len - 1] == '\n', "reply does not end in a newline");
    for (size_t i = start; i < len - 1; i++)
        FUZZ_CHECK(p[i] >= 0x20 && p[i] <= 0x7E, "reply byte outside printable ASCII");

    char *text = malloc(len - start);
    FUZZ_CHECK(text != NULL, "out of memory");
    memcpy(text, buf + start, len - start - 1);
    text[len - start - 1] = '\0';
    yajl_val v = yajl_tree_parse(text, err, sizeof(err));
    if (!v)
        fprintf(stderr, "reply: %.200s\nyajl: %s\n", text, err);
    free(text);
    FUZZ_CHECK(v != NULL, "reply is not valid JSON");
    if (delimited)
        *delimited = (int)start;
    return v;
}
