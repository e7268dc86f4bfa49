/* A growable byte buffer (doubling, so appending n bytes costs O(n) overall). */
#ifndef QGAD_PROTOCOL_BUF_H
#define QGAD_PROTOCOL_BUF_H

#include <stddef.h>

struct proto_buf {
    char *data; /* malloc'd, not NUL-terminated */
    size_t len, cap;
};

/* Makes room for n more bytes. */
void proto_buf_reserve(struct proto_buf *b, size_t n);
void proto_buf_put(struct proto_buf *b, const char *s, size_t n);
/* Frees the memory and empties the buffer. */
void proto_buf_release(struct proto_buf *b);

#endif
