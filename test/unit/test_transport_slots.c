/* transport/slots.c over a real unix-listen channel: eviction of the connection quiet for
 * longest when max-clients are taken (never a busy one), the partial-message and idle
 * timeouts (not for a busy or paused connection), and the sweep timer only while
 * connections are open. The layer above is played by transport_set_busy... calls. */
#include "test_transport_harness.h"

#include <signal.h>

#include "transport/internal.h" /* the channel's sweep timer */

static void open_slots(struct listener_fixture *f, unsigned max_clients, unsigned idle_ms,
                       unsigned partial_ms)
{
    struct transport_events ev = rec_events(&f->rec);
    struct transport_opts o = {.method = "unix-listen",
                               .path = f->path,
                               .max_clients = max_clients,
                               .activated_fd = -1,
                               .idle_timeout_ms = idle_ms,
                               .partial_timeout_ms = partial_ms};

    assert_int_equal(transport_channel_open(&o, &ev, &f->ch), 0);
}

static struct transport_conn *conn_of(struct listener_fixture *f, int i)
{
    return f->rec.conns[i]->conn;
}

static bool closed_pred(void *arg)
{
    return ((struct rec_conn *)arg)->closed;
}

static bool wait_closed(struct listener_fixture *f, int i, unsigned ms)
{
    return run_until(closed_pred, f->rec.conns[i], ms);
}

/* Full: the newcomer evicts the quiet one, never the busy one nor the one with recent
 * progress; with every slot busy, the newcomer is refused. */
static void test_eviction_order(void **state)
{
    struct listener_fixture *f = *state;
    char c;

    open_slots(f, 3, 0, 0);
    int a = unix_connect(f->path), b = unix_connect(f->path), d = unix_connect(f->path);
    assert_true(wait_count(&f->rec.n_open, 3, 2000));
    run_for(20); /* the loop's clock moves on */
    transport_progress(conn_of(f, 0));
    transport_set_busy(conn_of(f, 2), true);
    int e = unix_connect(f->path); /* evicts the one accepted first with no progress since */
    assert_true(wait_count(&f->rec.n_open, 4, 2000));
    assert_true(wait_count(&f->rec.n_close, 1, 2000));
    assert_true(f->rec.conns[1]->closed);
    assert_false(f->rec.conns[0]->closed);
    assert_false(f->rec.conns[2]->closed);

    transport_set_busy(conn_of(f, 0), true);
    transport_set_busy(conn_of(f, 3), true);
    int x = unix_connect(f->path); /* every slot busy: refused */
    assert_true(wait_readable(x, 2000));
    assert_int_equal(read(x, &c, 1), 0);
    assert_int_equal(f->rec.n_open, 4);
    assert_int_equal(f->rec.n_close, 1);
    close(a);
    close(b);
    close(d);
    close(e);
    close(x);
}

/* Two evictions from one batch of accepts each take a different connection. */
static void test_eviction_counts_ending(void **state)
{
    struct listener_fixture *f = *state;
    int fds[4];

    open_slots(f, 2, 0, 0);
    fds[0] = unix_connect(f->path);
    fds[1] = unix_connect(f->path);
    assert_true(wait_count(&f->rec.n_open, 2, 2000));
    fds[2] = unix_connect(f->path);
    fds[3] = unix_connect(f->path);
    assert_true(wait_count(&f->rec.n_open, 4, 2000));
    assert_true(wait_count(&f->rec.n_close, 2, 2000));
    assert_true(f->rec.conns[0]->closed && f->rec.conns[1]->closed);
    assert_int_equal(f->ch->n_conns, 2);
    for (int i = 0; i < 4; i++)
        close(fds[i]);
}

static void test_partial_timeout(void **state)
{
    struct listener_fixture *f = *state;

    open_slots(f, 0, 0, 150);
    int a = unix_connect(f->path), b = unix_connect(f->path), p = unix_connect(f->path);
    assert_true(wait_count(&f->rec.n_open, 3, 2000));
    assert_non_null(f->ch->sweep_timer);
    transport_set_partial(conn_of(f, 0), true);
    transport_set_partial(conn_of(f, 1), true);
    transport_set_busy(conn_of(f, 1), true); /* a request in flight: kept */
    transport_set_partial(conn_of(f, 2), true);
    transport_pause(conn_of(f, 2), true); /* we stopped reading: not the peer's fault */
    assert_true(wait_closed(f, 0, 2000));
    run_for(400);
    assert_false(f->rec.conns[1]->closed);
    assert_false(f->rec.conns[2]->closed);
    transport_set_busy(conn_of(f, 1), false);
    transport_set_partial(conn_of(f, 1), false); /* complete: no partial timeout */
    run_for(400);
    assert_false(f->rec.conns[1]->closed);
    close(a);
    close(b);
    close(p);
}

static void test_idle_timeout(void **state)
{
    struct listener_fixture *f = *state;
    char c;

    open_slots(f, 0, 200, 0);
    int a = unix_connect(f->path), b = unix_connect(f->path);
    assert_true(wait_count(&f->rec.n_open, 2, 2000));
    transport_set_busy(conn_of(f, 1), true);
    assert_true(wait_closed(f, 0, 2000));
    assert_true(wait_readable(a, 2000));
    assert_int_equal(read(a, &c, 1), 0); /* the peer sees EOF */
    run_for(400);
    assert_false(f->rec.conns[1]->closed);
    transport_set_busy(conn_of(f, 1), false);
    transport_progress(conn_of(f, 1)); /* its reply was written: the clock starts over */
    assert_true(wait_closed(f, 1, 2000));
    drain_loop();
    /* nobody connected: the sweep timer does not wake the loop */
    assert_false(uv_is_active((uv_handle_t *)f->ch->sweep_timer));
    close(a);
    close(b);
}

/* Both timeouts off (the unit tests' and zeroed opts' default): no timer at all. */
static void test_no_timeouts_no_timer(void **state)
{
    struct listener_fixture *f = *state;

    open_slots(f, 0, 0, 0);
    int a = unix_connect(f->path);
    assert_true(wait_count(&f->rec.n_open, 1, 2000));
    assert_null(f->ch->sweep_timer);
    close(a);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        LISTENER_TEST(test_eviction_order),       LISTENER_TEST(test_eviction_counts_ending),
        LISTENER_TEST(test_partial_timeout),      LISTENER_TEST(test_idle_timeout),
        LISTENER_TEST(test_no_timeouts_no_timer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
