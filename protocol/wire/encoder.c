/* Own encoder, not yajl_gen: yajl_gen writes non-ASCII UTF-8 as is, while upstream (and
 * clients comparing its output) escape every byte outside 0x20..0x7E as \uXXXX. Strings
 * are decoded with utf8.h, as upstream's writer does: \xC0\x80 is U+0000, invalid
 * sequences become U+FFFD. */
#include "protocol/wire/encoder.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "protocol/wire/utf8.h"

static void buf_puts(struct buf *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

static void put_u16(struct buf *b, unsigned u)
{
    char esc[8];
    snprintf(esc, sizeof(esc), "\\u%04X", u & 0xFFFF);
    buf_put(b, esc, 6);
}

static void put_escaped(struct buf *b, unsigned char c)
{
    static const char simple[] = {['"'] = '"',  ['\\'] = '\\', ['\b'] = 'b', ['\f'] = 'f',
                                  ['\n'] = 'n', ['\r'] = 'r',  ['\t'] = 't'};
    if (c < sizeof(simple) && simple[c]) {
        char esc[2] = {'\\', simple[c]};
        buf_put(b, esc, 2);
    } else {
        put_u16(b, c);
    }
}

/* Bytes copied as they are: printable ASCII but the quote and the backslash. A table,
 * because every byte of a 64 MiB read reply goes through this test. */
const bool proto_plain_byte[256] = {
    [0x20 ... 0x21] = true, /* '"' (0x22) is escaped */
    [0x23 ... 0x5B] = true, /* '\\' (0x5C) is escaped */
    [0x5D ... 0x7E] = true,
};

void proto_encode_string(struct buf *b, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;

    buf_put(b, "\"", 1);
    while (*s) {
        const unsigned char *run = s;
        while (proto_plain_byte[*s])
            s++;
        buf_put(b, (const char *)run, (size_t)(s - run));
        if (!*s)
            break;
        if (*s < 0x80) {
            put_escaped(b, *s++);
            continue;
        }
        uint32_t cp;
        s += utf8_decode(s, &cp);
        if (cp >= 0x10000) {
            cp -= 0x10000;
            put_u16(b, 0xD800 | (cp >> 10));
            put_u16(b, 0xDC00 | (cp & 0x3FF));
        } else {
            put_u16(b, cp);
        }
    }
    buf_put(b, "\"", 1);
}

static void encode_number(struct buf *b, yajl_val v)
{
    char text[40];

    if (v->u.number.r) {
        buf_puts(b, v->u.number.r);
        return;
    }
    if (v->u.number.flags & YAJL_NUMBER_INT_VALID)
        snprintf(text, sizeof(text), "%lld", v->u.number.i);
    else
        snprintf(text, sizeof(text), "%.17g", v->u.number.d);
    buf_puts(b, text);
}

void proto_encode_value(struct buf *b, yajl_val v)
{
    if (!v) {
        buf_puts(b, "null");
        return;
    }
    switch (v->type) {
    case yajl_t_string:
        proto_encode_string(b, v->u.string);
        break;
    case yajl_t_number:
        encode_number(b, v);
        break;
    case yajl_t_object:
        buf_put(b, "{", 1);
        for (size_t i = 0; i < v->u.object.len; i++) {
            if (i)
                buf_put(b, ", ", 2);
            proto_encode_string(b, v->u.object.keys[i]);
            buf_put(b, ": ", 2);
            proto_encode_value(b, v->u.object.values[i]);
        }
        buf_put(b, "}", 1);
        break;
    case yajl_t_array:
        buf_put(b, "[", 1);
        for (size_t i = 0; i < v->u.array.len; i++) {
            if (i)
                buf_put(b, ", ", 2);
            proto_encode_value(b, v->u.array.values[i]);
        }
        buf_put(b, "]", 1);
        break;
    case yajl_t_true:
        buf_puts(b, "true");
        break;
    case yajl_t_false:
        buf_puts(b, "false");
        break;
    default:
        buf_puts(b, "null");
        break;
    }
}

/* Subtracts what v costs from *budget; false once it is spent. */
static bool size_within(yajl_val v, size_t *budget)
{
    size_t cost = 8; /* punctuation, and keeps many small values from being free */
    if (v && v->type == yajl_t_string)
        cost += strnlen(v->u.string, *budget);
    else if (v && v->type == yajl_t_number && v->u.number.r)
        cost += strnlen(v->u.number.r, *budget);
    if (cost >= *budget)
        return false;
    *budget -= cost;
    if (v && v->type == yajl_t_object) {
        for (size_t i = 0; i < v->u.object.len; i++)
            if (!size_within(v->u.object.values[i], budget))
                return false;
    } else if (v && v->type == yajl_t_array) {
        for (size_t i = 0; i < v->u.array.len; i++)
            if (!size_within(v->u.array.values[i], budget))
                return false;
    }
    return true;
}

bool proto_encode_size_exceeds(yajl_val v, size_t limit)
{
    size_t budget = limit;
    return !size_within(v, &budget);
}

static char *reply_finish(struct buf *b, yajl_val id, size_t *len)
{
    if (id) {
        buf_puts(b, ", \"id\": ");
        proto_encode_value(b, id);
    }
    buf_put(b, "}\n", 2);
    *len = b->len;
    return b->data;
}

char *proto_reply_return(yajl_val value, yajl_val id, bool delimited, size_t *len)
{
    struct buf b = {0};
    if (delimited)
        buf_put(&b, "\xff", 1);
    buf_puts(&b, "{\"return\": ");
    proto_encode_value(&b, value);
    return reply_finish(&b, id, len);
}

char *proto_reply_error(const char *err_class, const char *desc, yajl_val id, size_t *len)
{
    struct buf b = {0};
    buf_puts(&b, "{\"error\": {\"class\": ");
    proto_encode_string(&b, err_class);
    buf_puts(&b, ", \"desc\": ");
    proto_encode_string(&b, desc ? desc : "");
    buf_put(&b, "}", 1);
    return reply_finish(&b, id, len);
}
