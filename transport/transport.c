/* The registry of backends and the channel: open, close, -r retries and after-fork. A
 * channel's kind (listener, device) does the rest; connections live in conn.c. */
#include "transport/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "base/log.h"
#include "base/loopmon.h"
#include "base/xalloc.h"

static const struct transport_backend *const backends[] = {
    &transport__virtio_serial, &transport__isa_serial, &transport__unix,
    &transport__vsock,         &transport__tcp,
};

const struct transport_backend *transport__backend_find(const char *method)
{
    if (!method)
        return NULL;
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
        if (strcmp(backends[i]->method, method) == 0)
            return backends[i];
    }
    return NULL;
}

bool transport_method_known(const char *method)
{
    return transport__backend_find(method) != NULL;
}

const char *transport_default_path(const char *method)
{
    const struct transport_backend *be = transport__backend_find(method);
    return be ? be->default_path : NULL;
}

static void retry_timer_cb(uv_timer_t *timer)
{
    loopmon_mark("channel retry timer");
    struct transport_channel *ch = timer->data;
    int rc = ch->be->kind->start(ch);

    if (rc < 0) {
        uv_timer_start(timer, retry_timer_cb, QGAD_RETRY_PATH_MS, 0);
    } else if (!uv_is_active((uv_handle_t *)timer)) { /* not hung up again at once */
        ch->retrying = false;
        log_info("%s: channel %s is open", ch->be->method, ch->path ? ch->path : "");
    }
}

void transport__channel_retry(struct transport_channel *ch)
{
    if (ch->closing)
        return;
    ch->retrying = true;
    if (!ch->retry_timer) {
        ch->retry_timer = xmalloc(sizeof(*ch->retry_timer));
        uv_timer_init(uv_default_loop(), ch->retry_timer);
        ch->retry_timer->data = ch;
    }
    uv_timer_start(ch->retry_timer, retry_timer_cb, QGAD_RETRY_PATH_MS, 0);
}

static void channel_free(struct transport_channel *ch)
{
    free(ch->path);
    free(ch->allow_cids);
    free(ch->backend_data);
    free(ch);
}

int transport_channel_open(const struct transport_opts *opts, const struct transport_events *ev,
                           struct transport_channel **out)
{
    const struct transport_backend *be = transport__backend_find(opts->method);
    const char *path = opts->path;

    *out = NULL;
    if (!be) {
        log_critical("invalid channel method: %s", opts->method ? opts->method : "(null)");
        return -EINVAL;
    }
    if (!path && opts->activated_fd < 0)
        path = be->default_path;
    if (!path && opts->activated_fd < 0) {
        log_critical("must specify a path for this channel");
        return -EINVAL;
    }

    struct transport_channel *ch = xcalloc(1, sizeof(*ch));
    ch->be = be;
    ch->ev = *ev;
    ch->path = path ? xstrdup(path) : NULL;
    ch->retry_path = opts->retry_path;
    ch->max_clients = opts->max_clients ? opts->max_clients : QGAD_DEFAULT_MAX_CLIENTS;
    ch->activated_fd = opts->activated_fd;
    ch->half_close_ms = QGAD_HALF_CLOSE_DRAIN_MS;
    ch->idle_ms = opts->idle_timeout_ms;
    ch->partial_ms = opts->partial_timeout_ms;
    if (opts->vsock_allow_cids && opts->n_vsock_allow_cids) {
        ch->n_allow_cids = opts->n_vsock_allow_cids;
        ch->allow_cids = xmalloc(ch->n_allow_cids * sizeof(uint32_t));
        memcpy(ch->allow_cids, opts->vsock_allow_cids, ch->n_allow_cids * sizeof(uint32_t));
    }

    /* -r retries what may come back (a device, a directory); not a bad address, and
     * not a socket from systemd, which cannot be had again. */
    int rc = be->kind->start(ch);
    if (rc < 0 && !(ch->retry_path && rc != -EINVAL && opts->activated_fd < 0)) {
        channel_free(ch);
        return rc;
    }
    if (rc < 0) {
        log_warning("%s: cannot open channel %s, retrying every %u ms", be->method,
                    ch->path ? ch->path : "", QGAD_RETRY_PATH_MS);
        transport__channel_retry(ch);
    }
    *out = ch;
    return 0;
}

static void timer_free_cb(uv_handle_t *h)
{
    loopmon_mark("channel timer closed");
    free(h);
}

void transport_channel_close(struct transport_channel *ch)
{
    if (!ch)
        return;
    ch->closing = true;
    if (ch->retry_timer)
        uv_close((uv_handle_t *)ch->retry_timer, timer_free_cb);
    ch->be->kind->stop(ch);
    /* Close events fire now, the handles finish closing on the loop later: detach every
     * connection from the channel so that nothing touches ch once it is freed. */
    while (ch->conns) {
        struct transport_conn *conn = ch->conns;
        transport__conn_end(conn);
        transport__conn_release(conn);
    }
    channel_free(ch);
}

void transport_channel_after_fork(struct transport_channel *ch)
{
    if (ch)
        ch->be->kind->after_fork(ch);
}
