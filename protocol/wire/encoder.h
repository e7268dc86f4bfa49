/* Replies as upstream's QMP writer prints them: one line, `": "` and `", "` separators,
 * strings pure ASCII (\uXXXX for everything outside 0x20..0x7E, surrogate pairs above
 * the BMP, \uFFFD for invalid UTF-8), numbers as the text they carry. */
#ifndef QGAD_WIRE_ENCODER_H
#define QGAD_WIRE_ENCODER_H

#include <stdbool.h>
#include <stddef.h>
#include <yajl/yajl_tree.h>

#include "base/buf.h"

/* Bytes a string carries as they are: printable ASCII but '"' and '\\'. */
extern const bool proto_plain_byte[256];

void proto_encode_string(struct buf *b, const char *s);
void proto_encode_value(struct buf *b, yajl_val v);

/* Whether the strings, keys and numbers in v add up to more than limit bytes; reads at
 * most about limit bytes of them to find out. */
bool proto_encode_size_exceeds(yajl_val v, size_t limit);

/* Whole reply lines ending in "\n"; the caller owns the result. id NULL: no "id" member
 * (a yajl null id is echoed as null). delimited: prefixed with the raw byte 0xFF. */
char *proto_reply_return(yajl_val value, yajl_val id, bool delimited, size_t *len);
char *proto_reply_error(const char *err_class, const char *desc, yajl_val id, size_t *len);

#endif
