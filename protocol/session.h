/* A session is one byte stream (the virtio-serial port, or one accepted unix/vsock/tcp
 * connection): its own framer and parser, requests dispatched in arrival order, replies
 * written in request order, and guest-sync/guest-sync-delimited as barriers that drop the
 * replies of earlier still-running requests (DESIGN.md "Sessions"). */
#ifndef QGAD_PROTOCOL_SESSION_H
#define QGAD_PROTOCOL_SESSION_H

#include <stdbool.h>
#include <stddef.h>

struct proto_session;

struct proto_session_activity {
    bool busy;    /* a request is in flight: its reply is not written yet */
    bool partial; /* part of a message is buffered */
    bool request; /* a complete message arrived since the last report (so a partial
                   * message now is a new one) */
    bool replied; /* a reply was written since the last report */
};

struct proto_session_io {
    /* Write one encoded reply (takes ownership of buf, malloc'd). */
    void (*write)(void *ctx, char *buf, size_t len);
    void *ctx;
    /* Stop (true) or resume (false) reading the stream: asked while too many requests wait
     * for their reply (QGAD_MAX_PENDING_*), so a host cannot pile up work without bound.
     * May be NULL. Bytes already read keep being fed. */
    void (*pause)(void *ctx, bool paused);
    /* After proto_session_end_input(): every reply due has been handed to write(), so the
     * stream can close once it has written them. Called once; may be NULL. It may free
     * the session (proto_session_free is deferred while the session is busy). */
    void (*drained)(void *ctx);
    /* What the stream is doing, for the transport's slot policy; after every read and every
     * reply written. May be NULL. */
    void (*activity)(void *ctx, const struct proto_session_activity *a);
};

struct proto_session *proto_session_new(const struct proto_session_io *io, const char *name);
/* Bytes from the stream; any number of requests, any split. */
void proto_session_feed(struct proto_session *s, const char *buf, size_t len);
/* The peer shut down its sending side (a half-closed socket): a partial message is
 * discarded without a reply (as qemu-ga 7.2), requests received keep running, and their
 * replies are written in order; then io.drained(). guest-sync* barriers keep dropping
 * the replies of earlier running calls, and those are not waited for. */
void proto_session_end_input(struct proto_session *s);
/* The stream is gone: running calls are detached (their work completes, replies are
 * dropped), partial input is discarded. */
void proto_session_free(struct proto_session *s);

#endif
