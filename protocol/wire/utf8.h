/* Strict (modified) UTF-8, as upstream's mod_utf8_codepoint() and is_valid_codepoint():
 * one decoder for every string the agent reads (framer) and writes (encoder). Rejected:
 * overlong forms (but \xC0\x80, modified UTF-8's NUL), surrogates U+D800..DFFF, code
 * points above U+10FFFF, noncharacters (U+FDD0..FDEF and U+xxFFFE/U+xxFFFF: qemu-ga 7.2
 * rejects them too), stray continuation bytes and truncated sequences. Incremental, so a
 * sequence may be split across reads; one step per byte, nothing for ASCII. */
#ifndef QGAD_WIRE_UTF8_H
#define QGAD_WIRE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UTF8_REPLACEMENT 0xFFFD

enum utf8_result { UTF8_MORE, UTF8_CHAR, UTF8_BAD };

struct utf8_dec {
    uint32_t cp;  /* the code point so far; complete after UTF8_CHAR */
    uint8_t len;  /* bytes of the sequence being decoded */
    uint8_t need; /* continuation bytes still expected; 0 between characters */
};

/* A Unicode scalar value that is not a noncharacter (what upstream accepts, escaped or
 * not; 0 counts, it is encoded as \xC0\x80). */
bool utf8_codepoint_valid(uint32_t cp);

/* Feeds one byte. UTF8_BAD leaves d ready for a new sequence; if d was expecting a
 * continuation byte, c itself was not consumed by the bad sequence (a lead byte or ASCII
 * may follow). */
enum utf8_result utf8_step(struct utf8_dec *d, unsigned char c);

/* Decodes the sequence at s (NUL-terminated, s[0] >= 0x80): returns the bytes it takes
 * and sets *cp, or UTF8_REPLACEMENT for an invalid sequence (then the bytes to skip, as
 * upstream's writer skips them). */
size_t utf8_decode(const unsigned char *s, uint32_t *cp);

#endif
