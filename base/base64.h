/* Base64 as qemu-ga speaks it: standard alphabet, padded output. Input is checked the way
 * upstream checks it (only the alphabet, '=' and newlines) and decoded as GLib decodes it,
 * except that a final group without its padding is decoded rather than dropped. */
#ifndef QGAD_BASE_BASE64_H
#define QGAD_BASE_BASE64_H

#include <stddef.h>

#define BASE64_INVALID_TEXT "Base64 data contains invalid characters"

/* malloc'd, NUL-terminated ("" for len 0). Thread-safe. */
char *base64_encode(const void *data, size_t len);
/* malloc'd bytes (NUL-terminated for convenience) and *out_len, or NULL when text has a
 * character outside the alphabet, '=' and '\n' (report BASE64_INVALID_TEXT). Thread-safe. */
char *base64_decode(const char *text, size_t *out_len);

#endif
