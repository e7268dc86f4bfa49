/* The connection life cycle both kinds share: open/data/eof/close events, half-close, the
 * write-queue cap and freeing written buffers; the kinds supply the I/O through transport_conn_ops.
 */
#include "transport/internal.h"

#include <stdlib.h>

#include "base/limits.h"
#include "base/log.h"
#include "base/release.h"

void transport__conn_start(struct transport_channel *ch, struct transport_conn *conn,
                           const struct transport_conn_ops *ops, char *name)
{
    conn->ch = ch;
    conn->ops = ops;
    conn->name = name;
    conn->next = ch->conns;
    if (ch->conns)
        ch->conns->prev = conn;
    ch->conns = conn;
    ch->n_conns++;
    conn->progress_at = uv_now(uv_default_loop());
    log_debug("%s: connection opened", name);
    conn->ctx = ch->ev.open(conn, ch->ev.user);
    transport__slots_update(ch);
}

void transport__conn_data(struct transport_conn *conn, const char *buf, size_t len)
{
    if (conn->ending || !conn->ch)
        return;
    conn->ch->ev.data(conn->ctx, buf, len);
}

void transport__conn_eof(struct transport_conn *conn)
{
    if (conn->ending || !conn->ch || conn->input_ended)
        return;
    if (!conn->ch->ev.eof) {
        transport__conn_end(conn);
        return;
    }
    conn->input_ended = true;
    log_debug("%s: peer closed its sending side; delivering the replies still due", conn->name);
    conn->ch->ev.eof(conn->ctx);
}

void transport__conn_end(struct transport_conn *conn)
{
    if (conn->ending)
        return;
    conn->ending = true;
    if (conn->ch)
        conn->ch->n_ending++;
    conn->ops->shutdown(conn);
}

void transport__conn_release(struct transport_conn *conn)
{
    struct transport_channel *ch = conn->ch;

    if (!ch)
        return;
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        ch->conns = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    conn->prev = conn->next = NULL;
    conn->ch = NULL;
    ch->n_conns--;
    if (conn->ending)
        ch->n_ending--;
    log_debug("%s: connection closed", conn->name);
    if (!conn->close_fired) {
        conn->close_fired = true;
        ch->ev.close(conn->ctx);
    }
    transport__slots_update(ch);
}

void transport__conn_written(struct transport_conn *conn, size_t len)
{
    conn->queued = len < conn->queued ? conn->queued - len : 0;
}

void transport__conn_buf_done(struct transport_conn *conn, char *buf, size_t len)
{
    transport__conn_written(conn, QGAD_WRITE_BUFFER_OVERHEAD);
    transport__buf_free(buf, len);
}

void transport__buf_free(char *buf, size_t len)
{
    if (len < QGAD_POOL_FREE_BYTES) {
        free(buf);
        return;
    }
    release_in_pool(free, buf);
}

void transport_write(struct transport_conn *conn, char *buf, size_t len)
{
    if (conn->ending || conn->draining || !conn->ch || len == 0) {
        transport__buf_free(buf, len);
        return;
    }
    /* a queued reply costs its bookkeeping too: a flood of tiny replies to a peer that
     * never reads must hit the cap as surely as a few big ones */
    size_t cost = len + QGAD_WRITE_BUFFER_OVERHEAD;
    if (cost > QGAD_MAX_WRITE_QUEUE_BYTES - conn->queued) {
        log_warning("%s: peer is not reading (%zu bytes unsent), dropping the connection",
                    conn->name, conn->queued);
        transport__buf_free(buf, len);
        transport__conn_end(conn);
        return;
    }
    conn->queued += cost;
    conn->ops->write(conn, buf, len);
}

void transport_close(struct transport_conn *conn)
{
    if (conn->ending || conn->draining || !conn->ch)
        return;
    conn->draining = true;
    log_debug("%s: closing once the replies are written (%zu bytes queued)", conn->name,
              conn->queued);
    if (conn->ops->close_written)
        conn->ops->close_written(conn);
    else
        transport__conn_end(conn);
}

void transport_pause(struct transport_conn *conn, bool paused)
{
    if (conn->ending || conn->input_ended || !conn->ch || conn->paused == paused)
        return;
    conn->paused = paused;
    if (!paused && conn->partial) /* the time it was not read is not the peer's */
        conn->partial_since = uv_now(uv_default_loop());
    log_debug("%s: %s reading", conn->name, paused ? "stop" : "resume");
    if (conn->ops->pause)
        conn->ops->pause(conn);
}

void transport_set_busy(struct transport_conn *conn, bool busy)
{
    conn->busy = busy;
}

void transport_set_partial(struct transport_conn *conn, bool partial)
{
    if (partial && !conn->partial)
        conn->partial_since = uv_now(uv_default_loop());
    conn->partial = partial;
}

void transport_progress(struct transport_conn *conn)
{
    conn->progress_at = uv_now(uv_default_loop());
}

const char *transport_conn_name(const struct transport_conn *conn)
{
    return conn->name;
}
