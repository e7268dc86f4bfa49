/* Splits one session's byte stream into JSON messages. It tracks strings and {}/[] depth,
 * so a request is dispatched as soon as its closing brace arrives (no newline needed, any
 * split across reads), translates upstream's extensions (single-quoted strings, \') for
 * yajl, enforces the per-message caps and its session's input share, and resynchronises on
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

/* Input share (base/limits.h): a framer may hold QGAD_INPUT_SESSION_MIN bytes of a partial
 * message whatever the others hold; beyond that it draws on the shared pool of
 * QGAD_MAX_INPUT_TOTAL_BYTES while the pool has room. Its share, recomputed at the start of
 * each read and after each message in O(1) from two totals (no walk over framers), is
 *   min(QGAD_MAX_MESSAGE_BYTES, MIN + its own pool bytes + the pool's free bytes).
 * Bytes are charged at the end of each read; a message past the share gets
 * "JSON parse error, input buffer limit exceeded" and is skipped to its end. */
/* Partial-message bytes held across all framers, minimums included. */
size_t proto_framer_buffered_total(void);
/* Of those, the pool's part (each framer's bytes beyond QGAD_INPUT_SESSION_MIN). */
size_t proto_framer_pool_used(void);

#endif
