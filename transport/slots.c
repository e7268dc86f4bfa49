/* The slot policy of listeners: connection slots are never held hostage (DESIGN.md "Bounded
 * everything"). A partial message must complete within partial_ms of its first byte, a
 * connection with no request for idle_ms is closed, and when every max-clients slot is
 * taken a new client evicts the connection that has made no progress for longest among
 * those with no request in flight. Silent or trickling clients can therefore never lock the
 * host out (over vsock every host process is CID 2). The layer above reports busy, partial
 * and progress (transport_set_busy...); one coarse timer per listener applies the timeouts,
 * so nothing here runs per byte. Devices never time out and are never evicted. */
#include "transport/internal.h"

#include <stdlib.h>

#include "base/log.h"
#include "base/loopmon.h"
#include "base/xalloc.h"

/* The sweep runs every quarter of the shortest timeout, at most every SWEEP_MAX_MS: a
 * timeout fires at most that much late. */
#define SWEEP_MAX_MS 1000u
#define SWEEP_MIN_MS 10u

static bool slot_policy_applies(const struct transport_channel *ch)
{
    return (ch->idle_ms || ch->partial_ms) && ch->be && ch->be->kind == &transport__listener_kind;
}

/* A connection the timeouts may close: not already going, not a half-closed client (it has
 * its own drain deadline). */
static bool conn_open_for_policy(const struct transport_conn *conn)
{
    return !conn->ending && !conn->draining && !conn->input_ended;
}

enum slot_verdict { SLOT_KEEP, SLOT_PARTIAL_TIMEOUT, SLOT_IDLE_TIMEOUT };

static enum slot_verdict conn_verdict(const struct transport_channel *ch,
                                      const struct transport_conn *conn, uint64_t now)
{
    if (!conn_open_for_policy(conn) || conn->busy)
        return SLOT_KEEP;
    /* paused: we stopped reading it, so its message cannot grow (transport_pause restarts
     * the clock when reading resumes) */
    if (ch->partial_ms && conn->partial && !conn->paused &&
        now - conn->partial_since >= ch->partial_ms)
        return SLOT_PARTIAL_TIMEOUT;
    if (ch->idle_ms && now - conn->progress_at >= ch->idle_ms)
        return SLOT_IDLE_TIMEOUT;
    return SLOT_KEEP;
}

static void sweep_cb(uv_timer_t *t)
{
    loopmon_mark("listener: slot sweep");
    struct transport_channel *ch = t->data;
    uint64_t now = uv_now(uv_default_loop());
    struct transport_conn *conn = ch->conns;

    while (conn) {
        struct transport_conn *next = conn->next; /* ending does not unlink it */
        switch (conn_verdict(ch, conn, now)) {
        case SLOT_PARTIAL_TIMEOUT:
            log_info("%s: request not complete %u ms after its first byte (partial-timeout), "
                     "closing the connection",
                     conn->name, ch->partial_ms);
            transport__conn_end(conn);
            break;
        case SLOT_IDLE_TIMEOUT:
            log_info("%s: no request for %u ms (idle-timeout), closing the connection", conn->name,
                     ch->idle_ms);
            transport__conn_end(conn);
            break;
        case SLOT_KEEP:
            break;
        }
        conn = next;
    }
}

static unsigned sweep_interval(const struct transport_channel *ch)
{
    unsigned shortest = SWEEP_MAX_MS * 4;

    if (ch->partial_ms && ch->partial_ms < shortest)
        shortest = ch->partial_ms;
    if (ch->idle_ms && ch->idle_ms < shortest)
        shortest = ch->idle_ms;
    return shortest / 4 > SWEEP_MIN_MS ? shortest / 4 : SWEEP_MIN_MS;
}

void transport__slots_update(struct transport_channel *ch)
{
    if (ch->closing || !slot_policy_applies(ch))
        return;
    bool want = ch->n_conns > ch->n_ending;
    if (!ch->sweep_timer) {
        if (!want)
            return;
        ch->sweep_timer = xmalloc(sizeof(*ch->sweep_timer));
        uv_timer_init(uv_default_loop(), ch->sweep_timer);
        ch->sweep_timer->data = ch;
    }
    bool active = uv_is_active((uv_handle_t *)ch->sweep_timer);
    if (want && !active) {
        unsigned ms = sweep_interval(ch);
        uv_timer_start(ch->sweep_timer, sweep_cb, ms, ms);
    } else if (!want && active) {
        uv_timer_stop(ch->sweep_timer); /* no wakeups while nobody is connected */
    }
}

static void sweep_free_cb(uv_handle_t *h)
{
    loopmon_mark("listener: slot timer closed");
    free(h);
}

void transport__slots_stop(struct transport_channel *ch)
{
    if (!ch->sweep_timer)
        return;
    uv_close((uv_handle_t *)ch->sweep_timer, sweep_free_cb);
    ch->sweep_timer = NULL;
}

/* The connection without a request in flight that has made no progress for longest; of
 * equals, the one accepted first (the list runs newest first). */
static struct transport_conn *eviction_victim(const struct transport_channel *ch)
{
    struct transport_conn *victim = NULL;

    for (struct transport_conn *c = ch->conns; c; c = c->next) {
        if (c->ending || c->busy)
            continue;
        if (!victim || c->progress_at <= victim->progress_at)
            victim = c;
    }
    return victim;
}

bool transport__slots_admit(struct transport_channel *ch, const char *peer)
{
    if (ch->n_conns - ch->n_ending < ch->max_clients)
        return true;
    const char *where = ch->path ? ch->path : ch->be->method;
    struct transport_conn *victim = eviction_victim(ch);
    if (!victim) {
        log_warning("%s: %u clients connected (max-clients), each with a request in flight: "
                    "closing the new connection%s%s",
                    where, ch->n_conns, *peer ? " from " : "", peer);
        return false;
    }
    uint64_t quiet = uv_now(uv_default_loop()) - victim->progress_at;
    log_info("%s: %u clients connected (max-clients): evicting %s (no request in flight, none "
             "for %llu ms%s) for the new connection%s%s",
             where, ch->n_conns, victim->name, (unsigned long long)quiet,
             victim->partial ? ", holding a partial message" : "", *peer ? " from " : "", peer);
    transport__conn_end(victim);
    return true;
}
