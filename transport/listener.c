/* Stream-socket plumbing shared by unix-listen, vsock-listen and tcp-listen: the backend
 * hands over a listening fd, libuv accepts (uv_pipe_t works for any stream socket family,
 * AF_VSOCK included) and every client becomes a connection with its own read loop and
 * write queue. Unlike upstream (one client, backlog 1, exit on a read error), several
 * clients are served at once and an error ends only that client. A client that shuts down
 * its sending side still gets its replies: EOF stops reading and tells the layer above,
 * which closes the connection (after the queue is written) once every reply is out. */
#include "transport/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/limits.h"
#include "base/log.h"
#include "base/loopmon.h"
#include "base/xalloc.h"

struct transport_listener {
    uv_pipe_t handle;
    struct transport_channel *ch;
};

/* Small replies that arrive while a write is in flight are copied into one pending
 * buffer of up to this many bytes, so a peer that reads slowly (or never) holds a few
 * big queued writes instead of a million tiny ones, whose cancellation at close would
 * hold the loop for tens of milliseconds. */
#define LISTENER_COALESCE_BYTES (256u << 10)

struct listener_conn {
    struct transport_conn base; /* first: the conn is the container */
    uv_pipe_t pipe;
    uv_timer_t deadline;    /* after the peer's EOF: QGAD_HALF_CLOSE_DRAIN_MS */
    uv_shutdown_t shutdown; /* transport_close(): FIN once the writes are done */
    unsigned handles;       /* open uv handles (pipe, deadline): freed at zero */
    unsigned in_flight;     /* uv_write requests not completed */
    struct buf pending;     /* small replies waiting for the next write */
    char rbuf[QGAD_READ_CHUNK];
};

struct listener_write {
    uv_write_t req;
    struct listener_conn *conn;
    char *buf;
    size_t len;
};

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

int transport__sock_listen(int fd, const struct sockaddr *sa, socklen_t len)
{
    if (bind(fd, sa, len) < 0 || listen(fd, SOMAXCONN) < 0)
        return -errno;
    return 0;
}

static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct listener_conn *c = container_of(h, struct listener_conn, pipe);
    buf->base = c->rbuf;
    buf->len = sizeof(c->rbuf);
}

static void conn_deadline_cb(uv_timer_t *t)
{
    loopmon_mark("listener: half-close deadline");
    struct listener_conn *c = container_of(t, struct listener_conn, deadline);

    log_warning("%s: replies to a half-closed peer not delivered within %u ms "
                "(%zu bytes unsent), closing the connection",
                c->base.name, c->base.ch ? c->base.ch->half_close_ms : 0, c->base.queued);
    transport__conn_end(&c->base);
}

/* The peer shut down its sending side: stop reading, let the layer above deliver what is
 * due, and bound how long that may take. */
static void conn_input_ended(struct listener_conn *c)
{
    struct transport_channel *ch = c->base.ch;

    uv_read_stop((uv_stream_t *)&c->pipe);
    transport__conn_eof(&c->base);
    if (c->base.ending)
        return;
    uv_timer_init(uv_default_loop(), &c->deadline);
    c->handles++;
    uv_timer_start(&c->deadline, conn_deadline_cb, ch->half_close_ms, 0);
}

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    loopmon_mark("listener: read");
    struct listener_conn *c = container_of(s, struct listener_conn, pipe);

    if (nread > 0) {
        transport__conn_data(&c->base, buf->base, (size_t)nread);
    } else if (nread == UV_EOF) {
        conn_input_ended(c);
    } else if (nread < 0) {
        log_warning("%s: read error: %s", c->base.name, uv_strerror((int)nread));
        transport__conn_end(&c->base);
    }
}

static void conn_submit(struct listener_conn *c, char *buf, size_t len);

/* Queues the pending small replies as one write (their bookkeeping share was charged
 * when the pending buffer was started). */
static void conn_flush_pending(struct listener_conn *c)
{
    if (c->pending.len == 0)
        return;
    char *buf = c->pending.data;
    size_t len = c->pending.len;
    c->pending = (struct buf){0};
    conn_submit(c, buf, len);
}

static void conn_write_cb(uv_write_t *req, int status)
{
    loopmon_mark("listener: write done");
    struct listener_write *w = container_of(req, struct listener_write, req);
    struct listener_conn *c = w->conn;

    c->in_flight--;
    transport__conn_written(&c->base, w->len);
    transport__conn_buf_done(&c->base, w->buf, w->len);
    free(w);
    if (status < 0 && status != UV_ECANCELED) {
        log_debug("%s: write error: %s", c->base.name, uv_strerror(status));
        transport__conn_end(&c->base);
    } else if (status == 0 && !c->base.ending) {
        conn_flush_pending(c);
    }
}

static void conn_submit(struct listener_conn *c, char *buf, size_t len)
{
    struct transport_conn *conn = &c->base;
    struct listener_write *w = xmalloc(sizeof(*w));
    uv_buf_t b = uv_buf_init(buf, (unsigned)len);

    w->conn = c;
    w->buf = buf;
    w->len = len;
    int rc = uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, conn_write_cb);
    if (rc < 0) {
        log_debug("%s: write error: %s", conn->name, uv_strerror(rc));
        transport__conn_written(conn, len);
        transport__conn_buf_done(conn, buf, len);
        free(w);
        transport__conn_end(conn);
        return;
    }
    c->in_flight++;
}

static void conn_write(struct transport_conn *conn, char *buf, size_t len)
{
    struct listener_conn *c = (struct listener_conn *)conn;

    if (c->in_flight > 0 && len < LISTENER_COALESCE_BYTES) {
        if (c->pending.len + len > LISTENER_COALESCE_BYTES)
            conn_flush_pending(c); /* full: queued as one write, a new one starts */
        if (c->pending.len == 0)
            conn->queued += QGAD_WRITE_BUFFER_OVERHEAD; /* the pending buffer's own share */
        buf_put(&c->pending, buf, len);
        transport__conn_buf_done(conn, buf, len); /* its bytes stay counted, now pending */
        return;
    }
    conn_flush_pending(c); /* first: replies go out in order */
    conn_submit(c, buf, len);
}

static void conn_handle_closed(struct listener_conn *c)
{
    if (--c->handles > 0)
        return;
    buf_release(&c->pending);
    free(c->base.name);
    free(c);
}

static void conn_close_cb(uv_handle_t *h)
{
    loopmon_mark("listener: connection closed");
    struct listener_conn *c = container_of(h, struct listener_conn, pipe);

    transport__conn_release(&c->base);
    conn_handle_closed(c);
}

static void conn_deadline_close_cb(uv_handle_t *h)
{
    conn_handle_closed(container_of(h, struct listener_conn, deadline));
}

static void conn_shutdown(struct transport_conn *conn)
{
    struct listener_conn *c = (struct listener_conn *)conn;

    uv_read_stop((uv_stream_t *)&c->pipe);
    uv_close((uv_handle_t *)&c->pipe, conn_close_cb); /* cancels a pending uv_shutdown */
    if (c->handles > 1)
        uv_close((uv_handle_t *)&c->deadline, conn_deadline_close_cb);
}

static void conn_written_cb(uv_shutdown_t *req, int status)
{
    loopmon_mark("listener: all written");
    struct listener_conn *c = container_of(req, struct listener_conn, shutdown);

    if (status < 0 && status != UV_ECANCELED)
        log_debug("%s: shutdown: %s", c->base.name, uv_strerror(status));
    transport__conn_end(&c->base); /* no-op if already ending (ECANCELED) */
}

/* libuv runs the shutdown once every queued write is done, then the peer reads EOF. */
static void conn_close_written(struct transport_conn *conn)
{
    struct listener_conn *c = (struct listener_conn *)conn;

    conn_flush_pending(c);
    if (conn->ending)
        return;
    int rc = uv_shutdown(&c->shutdown, (uv_stream_t *)&c->pipe, conn_written_cb);
    if (rc < 0) {
        log_debug("%s: shutdown: %s", conn->name, uv_strerror(rc));
        transport__conn_end(conn);
    }
}

static void conn_pause(struct transport_conn *conn)
{
    struct listener_conn *c = (struct listener_conn *)conn;

    if (conn->paused) {
        uv_read_stop((uv_stream_t *)&c->pipe);
        return;
    }
    int rc = uv_read_start((uv_stream_t *)&c->pipe, conn_alloc_cb, conn_read_cb);
    if (rc < 0) {
        log_warning("%s: cannot read: %s", conn->name, uv_strerror(rc));
        transport__conn_end(conn);
    }
}

static const struct transport_conn_ops listener_conn_ops = {
    .write = conn_write,
    .shutdown = conn_shutdown,
    .pause = conn_pause,
    .close_written = conn_close_written,
};

static void reject_close_cb(uv_handle_t *h)
{
    loopmon_mark("listener: rejected connection closed");
    free(container_of(h, struct listener_conn, pipe));
}

/* "unix-listen" -> "unix": the scheme part of connection names. */
static char *conn_name(const struct transport_channel *ch, unsigned id)
{
    size_t n = strcspn(ch->be->method, "-");
    if (ch->path)
        return xasprintf("%.*s:%s#%u", (int)n, ch->be->method, ch->path, id);
    return xasprintf("%.*s:activated#%u", (int)n, ch->be->method, id);
}

/* Asks the backend whether to serve the peer; says why not in the log. */
static bool peer_vetted(struct transport_channel *ch, int fd, char *peer, size_t peer_len)
{
    const char *note = NULL;
    int rc = ch->be->ops.listener->vet_peer(ch, fd, peer, peer_len, &note);

    if (rc == 0)
        return true;
    log_warning("%s: closing the connection%s%s: %s", ch->be->method, *peer ? " from " : "", peer,
                note ? note : strerror(-rc));
    return false;
}

static void on_connection(uv_stream_t *server, int status)
{
    loopmon_mark("listener: accept");
    struct transport_listener *l = container_of(server, struct transport_listener, handle);
    struct transport_channel *ch = l->ch;
    char peer[128] = "";
    uv_os_fd_t fd;

    if (status < 0) {
        log_warning("%s: accept failed: %s", ch->be->method, uv_strerror(status));
        return;
    }
    struct listener_conn *c = xcalloc(1, sizeof(*c));
    uv_pipe_init(uv_default_loop(), &c->pipe, 0);
    int rc = uv_accept(server, (uv_stream_t *)&c->pipe);
    if (rc < 0 || uv_fileno((uv_handle_t *)&c->pipe, &fd) < 0) {
        log_warning("%s: accept failed: %s", ch->be->method, uv_strerror(rc));
        uv_close((uv_handle_t *)&c->pipe, reject_close_cb);
        return;
    }
    if (!peer_vetted(ch, fd, peer, sizeof(peer))) {
        uv_close((uv_handle_t *)&c->pipe, reject_close_cb);
        return;
    }
    /* Refuse at once rather than leave the client waiting unserved in the backlog. */
    if (!transport__slots_admit(ch, peer)) {
        uv_close((uv_handle_t *)&c->pipe, reject_close_cb);
        return;
    }
    c->handles = 1;
    char *name = conn_name(ch, ++ch->next_conn_id);
    log_info("%s: client connected%s%s", name, *peer ? " from " : "", peer);
    transport__conn_start(ch, &c->base, &listener_conn_ops, name);
    if (!c->base.ending) {
        rc = uv_read_start((uv_stream_t *)&c->pipe, conn_alloc_cb, conn_read_cb);
        if (rc < 0) {
            log_warning("%s: cannot read: %s", name, uv_strerror(rc));
            transport__conn_end(&c->base);
        }
    }
}

static void listener_close_cb(uv_handle_t *h)
{
    loopmon_mark("listener: closed");
    free(container_of(h, struct transport_listener, handle));
}

/* The activated socket once, then ch->path's: the fd or -errno, logged. */
static int listener_fd(struct transport_channel *ch)
{
    const char *note = NULL;
    int fd = ch->activated_fd;

    if (fd >= 0) {
        ch->activated_fd = -1; /* consumed: a retry binds the path itself */
        return fd;
    }
    if (!ch->path)
        return -EINVAL; /* an activated socket that failed cannot be recreated */
    fd = ch->be->ops.listener->listen_fd(ch, &note);
    if (fd < 0)
        transport__open_error(ch, "%s: cannot listen on %s: %s", ch->be->method, ch->path,
                              note ? note : strerror(-fd));
    else if (note)
        log_warning("%s: %s", ch->be->method, note);
    return fd;
}

static int listener_start(struct transport_channel *ch)
{
    int fd = listener_fd(ch);

    if (fd < 0)
        return fd;

    struct transport_listener *l = xcalloc(1, sizeof(*l));
    l->ch = ch;
    uv_pipe_init(uv_default_loop(), &l->handle, 0);
    int rc = uv_pipe_open(&l->handle, fd);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->handle, SOMAXCONN, on_connection);
    if (rc < 0) {
        transport__open_error(ch, "%s: cannot listen on %s: %s", ch->be->method,
                              ch->path ? ch->path : "fd", uv_strerror(rc));
        if (uv_fileno((uv_handle_t *)&l->handle, &(uv_os_fd_t){0}) < 0)
            close(fd);
        uv_close((uv_handle_t *)&l->handle, listener_close_cb);
        return rc;
    }
    ch->listener = l;
    log_info("%s: listening on %s", ch->be->method, ch->path ? ch->path : "an activated socket");
    return 0;
}

static void listener_stop(struct transport_channel *ch)
{
    struct transport_listener *l = ch->listener;

    if (l) {
        ch->listener = NULL;
        uv_close((uv_handle_t *)&l->handle, listener_close_cb);
    }
    transport__slots_stop(ch);
    if (ch->be->ops.listener->cleanup)
        ch->be->ops.listener->cleanup(ch);
}

/* Accepting sockets keep working in the child as they are. */
static void listener_after_fork(struct transport_channel *ch) {}

const struct transport_kind transport__listener_kind = {
    .start = listener_start,
    .stop = listener_stop,
    .after_fork = listener_after_fork,
};
