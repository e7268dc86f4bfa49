/* One JSON message to one yajl_val tree: yajl's streaming parser, fed by the framer in
 * pieces that never split a token, with upstream's error texts and duplicate-key check. */
#ifndef QGAD_WIRE_PARSER_H
#define QGAD_WIRE_PARSER_H

#include <stddef.h>
#include <yajl/yajl_tree.h>

struct proto_parser;

struct proto_parser *proto_parser_new(void);
void proto_parser_free(struct proto_parser *p);
/* Forgets the current message (partial tree, error) and starts a new one. */
void proto_parser_reset(struct proto_parser *p);
/* More bytes of the current message. 0, or -1 on a parse error (see proto_parser_error). */
int proto_parser_feed(struct proto_parser *p, const char *buf, size_t len);
/* The message's string token number `ordinal` (keys and values, counted from 0) is str
 * (malloc'd, taken, len bytes); the bytes fed for that token are a placeholder "". */
void proto_parser_substitute(struct proto_parser *p, size_t ordinal, char *str, size_t len);
/* End of the message: the value (the caller owns it) or NULL on a parse error. */
yajl_val proto_parser_finish(struct proto_parser *p);
/* "JSON parse error, <detail>" for the last failure; valid until the next reset. */
const char *proto_parser_error(const struct proto_parser *p);

#endif
