/* transport/conn.c alone, under fake kind ops and a hand-made channel: open/data/eof/close
 * events, half-close, end and release each once, the write-queue accounting and cap, pause. */
#include "test_transport_harness.h"

#include "base/limits.h"
#include "transport/internal.h"

struct fake_conn {
    struct transport_conn base; /* first, as the kinds do */
    int n_write, n_shutdown, n_pause, n_close_written;
    size_t last_len;
};

/* Takes the buffer as a kind would, and completes the write at once. */
static void fake_write(struct transport_conn *conn, char *buf, size_t len)
{
    struct fake_conn *c = (struct fake_conn *)conn;

    c->n_write++;
    c->last_len = len;
    free(buf);
}

static void fake_shutdown(struct transport_conn *conn)
{
    ((struct fake_conn *)conn)->n_shutdown++;
}

static void fake_pause(struct transport_conn *conn)
{
    ((struct fake_conn *)conn)->n_pause++;
}

static void fake_close_written(struct transport_conn *conn)
{
    ((struct fake_conn *)conn)->n_close_written++;
}

static const struct transport_conn_ops fake_ops = {
    .write = fake_write,
    .shutdown = fake_shutdown,
    .pause = fake_pause,
};

/* A kind that can close after its queue is written (the listener). */
static const struct transport_conn_ops fake_drain_ops = {
    .write = fake_write,
    .shutdown = fake_shutdown,
    .pause = fake_pause,
    .close_written = fake_close_written,
};

struct fixture {
    struct recorder rec;
    struct transport_channel ch;
    struct fake_conn a, b;
};

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));

    f->ch.ev = rec_events(&f->rec);
    transport__conn_start(&f->ch, &f->a.base, &fake_ops, xstrdup("fake#1"));
    transport__conn_start(&f->ch, &f->b.base, &fake_ops, xstrdup("fake#2"));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    transport__conn_release(&f->a.base);
    transport__conn_release(&f->b.base);
    free(f->a.base.name);
    free(f->b.base.name);
    rec_free(&f->rec);
    free(f);
    return 0;
}

static void test_start_links_and_opens(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(f->rec.n_open, 2);
    assert_int_equal(f->ch.n_conns, 2);
    assert_ptr_equal(f->ch.conns, &f->b.base); /* newest first */
    assert_ptr_equal(f->b.base.next, &f->a.base);
    assert_ptr_equal(f->rec.conns[0]->conn, &f->a.base);
    assert_string_equal(transport_conn_name(&f->a.base), "fake#1");
}

static void test_end_then_release(void **state)
{
    struct fixture *f = *state;

    transport__conn_data(&f->a.base, "abc", 3);
    assert_int_equal(f->rec.conns[0]->in_len, 3);

    transport__conn_end(&f->a.base);
    transport__conn_end(&f->a.base);
    assert_int_equal(f->a.n_shutdown, 1);
    transport__conn_data(&f->a.base, "def", 3); /* ending: not delivered */
    assert_int_equal(f->rec.conns[0]->in_len, 3);
    assert_int_equal(f->rec.n_close, 0); /* only from the close callback */

    transport__conn_release(&f->a.base);
    transport__conn_release(&f->a.base);
    assert_int_equal(f->rec.n_close, 1);
    assert_true(f->rec.conns[0]->closed);
    assert_int_equal(f->ch.n_conns, 1);
    assert_ptr_equal(f->ch.conns, &f->b.base);
    assert_null(f->b.base.next);
    assert_null(f->a.base.ch);
}

static void test_write_accounting(void **state)
{
    struct fixture *f = *state;
    struct transport_conn *conn = &f->a.base;

    transport_write(conn, xstrdup("0123456789"), 10);
    assert_int_equal(f->a.n_write, 1);
    assert_int_equal(f->a.last_len, 10);
    assert_int_equal(conn->queued, 10 + QGAD_WRITE_BUFFER_OVERHEAD);
    transport__conn_written(conn, 10);
    assert_int_equal(conn->queued, QGAD_WRITE_BUFFER_OVERHEAD);
    transport__conn_buf_done(conn, xmalloc(1), 1); /* the share of its bookkeeping */
    assert_int_equal(conn->queued, 0);
    transport__conn_written(conn, 5); /* never below zero */
    assert_int_equal(conn->queued, 0);

    transport_write(conn, xmalloc(1), 0); /* nothing to write: freed */
    assert_int_equal(f->a.n_write, 1);
}

static void test_write_cap(void **state)
{
    struct fixture *f = *state;
    struct transport_conn *conn = &f->a.base;

    conn->queued = QGAD_MAX_WRITE_QUEUE_BYTES - QGAD_WRITE_BUFFER_OVERHEAD - 5;
    transport_write(conn, xstrdup("12345"), 5); /* exactly at the cap */
    assert_int_equal(f->a.n_write, 1);
    assert_int_equal(conn->queued, QGAD_MAX_WRITE_QUEUE_BYTES);
    assert_int_equal(f->a.n_shutdown, 0);

    transport_write(conn, xstrdup("x"), 1); /* past it: the connection is dropped */
    assert_int_equal(f->a.n_write, 1);
    assert_int_equal(f->a.n_shutdown, 1);
    assert_true(conn->ending);
    transport_write(conn, xstrdup("y"), 1); /* ending: freed, not queued */
    assert_int_equal(f->a.n_write, 1);
    assert_int_equal(f->b.n_shutdown, 0); /* the other connection is untouched */
}

static void test_pause_on_change_only(void **state)
{
    struct fixture *f = *state;
    struct transport_conn *conn = &f->a.base;

    transport_pause(conn, false);
    assert_int_equal(f->a.n_pause, 0);
    transport_pause(conn, true);
    transport_pause(conn, true);
    assert_int_equal(f->a.n_pause, 1);
    assert_true(conn->paused);
    transport_pause(conn, false);
    assert_int_equal(f->a.n_pause, 2);
    transport__conn_end(conn);
    transport_pause(conn, true);
    assert_int_equal(f->a.n_pause, 2);
}

/* transport_channel_close releases connections before their handles are closed: a late
 * write from the session finds no channel and is dropped. */
static void test_released_conn_drops_writes(void **state)
{
    struct fixture *f = *state;

    transport__conn_release(&f->b.base);
    assert_int_equal(f->rec.n_close, 1);
    transport_write(&f->b.base, xstrdup("late"), 4);
    transport_pause(&f->b.base, true);
    transport__conn_data(&f->b.base, "late", 4);
    assert_int_equal(f->b.n_write, 0);
    assert_int_equal(f->b.n_pause, 0);
    assert_int_equal(f->rec.conns[1]->in_len, 0);
}

/* EOF: eof() once, reading can no longer be resumed, writes still go out; without
 * close_written, transport_close ends the connection at once. */
static void test_eof_then_close(void **state)
{
    struct fixture *f = *state;
    struct transport_conn *conn = &f->a.base;

    f->rec.hold_on_eof = true;
    transport_pause(conn, true);
    transport__conn_eof(conn);
    transport__conn_eof(conn);
    assert_int_equal(f->rec.n_eof, 1);
    assert_true(f->rec.conns[0]->eof);
    assert_true(conn->input_ended);
    transport_pause(conn, false); /* the input is over: nothing to resume */
    assert_int_equal(f->a.n_pause, 1);
    transport_write(conn, xstrdup("reply"), 5);
    assert_int_equal(f->a.n_write, 1);
    assert_int_equal(f->a.n_shutdown, 0);
    transport_close(conn);
    assert_int_equal(f->a.n_shutdown, 1);
    assert_true(conn->ending);
    assert_int_equal(f->rec.n_close, 0); /* only from the close callback */
}

/* With close_written: asked once, later writes are dropped, the end comes from the kind. */
static void test_close_after_written(void **state)
{
    struct fixture *f = *state;
    struct transport_conn *conn = &f->a.base;

    conn->ops = &fake_drain_ops;
    transport_write(conn, xstrdup("reply"), 5);
    transport_close(conn);
    transport_close(conn);
    assert_int_equal(f->a.n_close_written, 1);
    assert_true(conn->draining);
    assert_false(conn->ending);
    transport_write(conn, xstrdup("late"), 4);
    assert_int_equal(f->a.n_write, 1);
    transport__conn_end(conn); /* the kind's shutdown completed */
    assert_int_equal(f->a.n_shutdown, 1);
    transport_close(conn);
    assert_int_equal(f->a.n_close_written, 1);
}

/* A layer above without eof(): EOF ends the connection, as before half-close. */
static void test_eof_without_handler_ends(void **state)
{
    struct fixture *f = *state;

    f->ch.ev.eof = NULL;
    transport__conn_eof(&f->a.base);
    assert_int_equal(f->rec.n_eof, 0);
    assert_int_equal(f->a.n_shutdown, 1);
    assert_false(f->a.base.input_ended);
    transport__conn_eof(&f->b.base);
    transport__conn_end(&f->b.base);
    transport__conn_eof(&f->b.base); /* ending: nothing */
    assert_int_equal(f->b.n_shutdown, 1);
}

/* A big buffer is freed in the threadpool; the loop just has to run. */
static void test_buf_free_big(void **state)
{
    transport__buf_free(xmalloc(QGAD_POOL_FREE_BYTES), QGAD_POOL_FREE_BYTES);
    transport__buf_free(xmalloc(16), 16);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_start_links_and_opens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_end_then_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_accounting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pause_on_change_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_released_conn_drops_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eof_then_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_after_written, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eof_without_handler_ends, setup, teardown),
        cmocka_unit_test(test_buf_free_big),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
