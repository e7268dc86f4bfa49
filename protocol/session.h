/* A session is one byte stream (the virtio-serial port, or one accepted unix/vsock/tcp
 * connection): its own framer and parser, requests dispatched in arrival order, replies
 * written in request order, and guest-sync/guest-sync-delimited as barriers that drop the
 * replies of earlier still-running requests (DESIGN.md "Sessions"). */
#ifndef QGAD_PROTOCOL_SESSION_H
#define QGAD_PROTOCOL_SESSION_H

#include <stdbool.h>
#include <stddef.h>

struct proto_session;

struct proto_session_io {
    /* Write one encoded reply (takes ownership of buf, malloc'd). */
    void (*write)(void *ctx, char *buf, size_t len);
    void *ctx;
    /* Stop (true) or resume (false) reading the stream: asked while too many requests wait
     * for their reply (QGAD_MAX_PENDING_*), so a host cannot pile up work without bound.
     * May be NULL. Bytes already read keep being fed. */
    void (*pause)(void *ctx, bool paused);
};

struct proto_session *proto_session_new(const struct proto_session_io *io, const char *name);
/* Bytes from the stream; any number of requests, any split. */
void proto_session_feed(struct proto_session *s, const char *buf, size_t len);
/* The stream is gone: running calls are detached (their work completes, replies are
 * dropped), partial input is discarded. */
void proto_session_free(struct proto_session *s);

#endif
