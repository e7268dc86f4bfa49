/* Splits one session's byte stream into JSON messages. It tracks strings and {}/[] depth,
 * so a request is dispatched as soon as its closing brace arrives (no newline needed, any
 * split across reads), translates upstream's extensions (single-quoted strings, \') for
 * yajl, enforces the per-message caps and the global input cap, and resynchronises on
 * 0xFF/0xFE. After an error the rest of that message is skipped, and the next one parses
 * cleanly. */
#ifndef QGAD_WIRE_FRAMER_H
#define QGAD_WIRE_FRAMER_H

#include <stdbool.h>
#include <stddef.h>
#include <yajl/yajl_tree.h>

struct proto_framer;

/* Called in stream order. Return false to stop feeding (the owner is going away); the
 * callbacks must not free the framer themselves. */
struct proto_framer_events {
    bool (*message)(void *ctx, yajl_val value); /* one top-level value; the callee owns it */
    bool (*error)(void *ctx, const char *desc); /* "JSON parse error, ..." or a cap text */
    void *ctx;
};

struct proto_framer *proto_framer_new(const struct proto_framer_events *ev);
/* Returns false if a callback asked to stop. */
bool proto_framer_feed(struct proto_framer *f, const char *buf, size_t len);
/* Inside the message callback: the size of the message being delivered. */
size_t proto_framer_message_bytes(const struct proto_framer *f);
/* Between feeds: part of a message has been read (a token of it; whitespace is not a
 * message), including one being skipped after an error. */
bool proto_framer_in_message(const struct proto_framer *f);
/* Discards any partial message. */
void proto_framer_free(struct proto_framer *f);

/* Partial-message bytes held across all framers (bounded by QGAD_MAX_INPUT_TOTAL_BYTES). */
size_t proto_framer_buffered_total(void);

#endif
