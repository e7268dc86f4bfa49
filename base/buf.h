/* A growable byte buffer (doubling, so appending n bytes costs O(n) overall). */
#ifndef QGAD_BASE_BUF_H
#define QGAD_BASE_BUF_H

#include <stddef.h>

struct buf {
    char *data; /* malloc'd, not NUL-terminated */
    size_t len, cap;
};

/* Makes room for n more bytes. */
void buf_reserve(struct buf *b, size_t n);
void buf_put(struct buf *b, const char *s, size_t n);
/* Frees the memory and empties the buffer. */
void buf_release(struct buf *b);

#endif
