/* Transport <-> protocol glue: one proto_session per transport connection, bytes fed in,
 * replies written back, backpressure passed down; plus the list of open channels. */
#include "agent/channels.h"

#include <stdbool.h>
#include <stdlib.h>

#include "base/loopmon.h"
#include "base/xalloc.h"
#include "protocol/session.h"
#include "transport/transport.h"

struct agent_conn {
    struct transport_conn *conn;
    struct proto_session *session;
};

static struct transport_channel **channels;
static size_t n_channels;

static void conn_write(void *ctx, char *buf, size_t len)
{
    struct agent_conn *c = ctx;

    transport_write(c->conn, buf, len);
}

static void conn_pause(void *ctx, bool paused)
{
    struct agent_conn *c = ctx;

    transport_pause(c->conn, paused);
}

/* Every reply to a half-closed client is written: close after the queue drains. */
static void conn_drained(void *ctx)
{
    struct agent_conn *c = ctx;

    transport_close(c->conn);
}

/* The slot policy's view of the session (transport/slots.c). */
static void conn_activity(void *ctx, const struct proto_session_activity *a)
{
    struct agent_conn *c = ctx;

    transport_set_busy(c->conn, a->busy);
    if (a->request || a->replied)
        transport_progress(c->conn);
    if (a->request) /* what is buffered now started in this read */
        transport_set_partial(c->conn, false);
    transport_set_partial(c->conn, a->partial);
}

static void *conn_open(struct transport_conn *conn, void *user)
{
    struct agent_conn *c = xmalloc(sizeof(*c));
    struct proto_session_io io = {.write = conn_write,
                                  .pause = conn_pause,
                                  .drained = conn_drained,
                                  .activity = conn_activity,
                                  .ctx = c};

    c->conn = conn;
    c->session = proto_session_new(&io, transport_conn_name(conn));
    return c;
}

static void conn_data(void *ctx, const char *buf, size_t len)
{
    struct agent_conn *c = ctx;

    loopmon_mark_fmt("read %s", transport_conn_name(c->conn));
    proto_session_feed(c->session, buf, len);
    loopmon_mark(NULL);
}

/* The client shut down its sending side (printf ... | socat): answer what it sent. */
static void conn_eof(void *ctx)
{
    struct agent_conn *c = ctx;

    loopmon_mark_fmt("eof %s", transport_conn_name(c->conn));
    proto_session_end_input(c->session);
    loopmon_mark(NULL);
}

static void conn_close(void *ctx)
{
    struct agent_conn *c = ctx;

    loopmon_mark_fmt("close %s", transport_conn_name(c->conn));
    proto_session_free(c->session);
    free(c);
    loopmon_mark(NULL);
}

static int open_channel(const struct transport_opts *topts)
{
    static const struct transport_events events = {
        .open = conn_open,
        .data = conn_data,
        .eof = conn_eof,
        .close = conn_close,
    };
    struct transport_channel *ch;
    int ret = transport_channel_open(topts, &events, &ch);

    if (ret < 0)
        return ret;
    channels = xrealloc(channels, (n_channels + 1) * sizeof(*channels));
    channels[n_channels++] = ch;
    return 0;
}

int agent_channels_open(const struct agent_options *o, int activated_fd)
{
    struct transport_opts topts = {
        .method = o->method,
        .path = o->path,
        .retry_path = o->retry_path,
        .max_clients = o->max_clients,
        .vsock_allow_cids = o->vsock_cids,
        .n_vsock_allow_cids = o->n_vsock_cids,
        .activated_fd = activated_fd,
        .idle_timeout_ms = o->idle_timeout * 1000u,
        .partial_timeout_ms = o->partial_timeout * 1000u,
    };
    int ret = open_channel(&topts);

    for (size_t i = 0; ret == 0 && i < o->n_listen; i++) {
        topts.method = o->listen[i].method;
        topts.path = o->listen[i].path;
        topts.activated_fd = -1;
        ret = open_channel(&topts);
    }
    return ret;
}

void agent_channels_after_fork(void)
{
    for (size_t i = 0; i < n_channels; i++)
        transport_channel_after_fork(channels[i]);
}

void agent_channels_close(void)
{
    for (size_t i = 0; i < n_channels; i++)
        transport_channel_close(channels[i]);
    free(channels);
    channels = NULL;
    n_channels = 0;
}
