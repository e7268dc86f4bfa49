#include "protocol/buf.h"

#include <stdlib.h>
#include <string.h>

#include "agent/xalloc.h"

void proto_buf_reserve(struct proto_buf *b, size_t n)
{
    if (b->len + n <= b->cap)
        return;
    size_t cap = b->cap ? b->cap * 2 : 256;
    if (cap < b->len + n)
        cap = b->len + n;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

void proto_buf_put(struct proto_buf *b, const char *s, size_t n)
{
    if (n == 0)
        return; /* data may still be NULL */
    proto_buf_reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

void proto_buf_release(struct proto_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
