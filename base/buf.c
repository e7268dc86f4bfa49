#include "base/buf.h"

#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

void buf_reserve(struct buf *b, size_t n)
{
    if (b->len + n <= b->cap)
        return;
    size_t cap = b->cap ? b->cap * 2 : 256;
    if (cap < b->len + n)
        cap = b->len + n;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

void buf_put(struct buf *b, const char *s, size_t n)
{
    if (n == 0)
        return; /* data may still be NULL */
    buf_reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

void buf_release(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
