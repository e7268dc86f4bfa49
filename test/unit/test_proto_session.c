/* Session ordering, barriers, reply shapes and lifetimes, over the fake commands layer of
 * session_fake.h (test_proto_halfclose.c: the end of input). */
#include "session_fake.h"

/* ---- tests ---- */

/* Replies held behind a call that never ends must not pile up without bound: the stream
 * is paused at QGAD_MAX_PENDING_REQUESTS and resumed once half of them are written. */
static void test_backlog_pauses_the_stream(void **state)
{
    struct proto_session_io io = {.write = sink_write, .ctx = &sink, .pause = count_pause};
    struct proto_session *s;
    buf_release(&sink.out);
    memset(&sink, 0, sizeof(sink));
    n_pending = 0;
    pauses = resumes = 0;
    s = proto_session_new(&io, "test");

    feed(s, "{\"execute\":\"slow\"}");
    for (size_t i = 1; i < QGAD_MAX_PENDING_REQUESTS - 1; i++)
        feed(s, "{\"execute\":\"instant\"}");
    assert_int_equal(pauses, 0);
    feed(s, "{\"execute\":\"instant\"}");
    assert_int_equal(pauses, 1);
    feed(s, "{\"execute\":\"instant\"}{\"execute\":\"instant\"}"); /* read already */
    assert_int_equal(pauses, 1);
    assert_int_equal(sink.writes, 0);
    finish_slow(0);
    assert_int_equal(sink.writes, QGAD_MAX_PENDING_REQUESTS + 2);
    assert_int_equal(resumes, 1);
    teardown_check(s);
}

/* What the slot policy hears (transport/slots.c through agent/channels.c). */
static struct proto_session_activity last_activity;
static int n_activity;

static void record_activity(void *ctx, const struct proto_session_activity *a)
{
    last_activity = *a;
    n_activity++;
}

#define expect_activity(b, p, req, rep)                                                            \
    do {                                                                                           \
        assert_int_equal(last_activity.busy, b);                                                   \
        assert_int_equal(last_activity.partial, p);                                                \
        assert_int_equal(last_activity.request, req);                                              \
        assert_int_equal(last_activity.replied, rep);                                              \
    } while (0)

static void test_activity_reports(void **state)
{
    struct proto_session_io io = {.write = sink_write, .ctx = &sink, .activity = record_activity};
    buf_release(&sink.out);
    memset(&sink, 0, sizeof(sink));
    n_pending = 0;
    n_activity = 0;
    struct proto_session *s = proto_session_new(&io, "test");

    feed(s, "  \n");
    expect_activity(false, false, false, false); /* whitespace is no message */
    feed(s, "{\"execute\":");
    expect_activity(false, true, false, false);
    feed(s, "\"slow\"}{\"exec");
    expect_activity(true, true, true, false); /* in flight, and a new partial one */
    feed(s, "ute\":\"instant\"}");
    expect_activity(true, false, true, false); /* done, but waits behind the slow one */
    int before = n_activity;
    finish_slow(0);
    assert_true(n_activity > before);
    expect_activity(false, false, false, true); /* both written */
    feed(s, "{\"execute\":\"shutdown\"} {");    /* a silent success frees its slot */
    expect_activity(false, true, false, false); /* the request was already reported */
    feed(s, "x}");                              /* a parse error is no request */
    expect_activity(false, false, false, false);
    proto_session_end_input(s);
    expect_activity(false, false, false, false);
    teardown_check(s);
}

static void test_instant_reply(void **state)
{
    struct proto_session *s = session_new();
    feed(s, "{\"execute\":\"instant\",\"id\":1}{'execute':'fail','id':'x'}");
    expect_out(
        "{\"return\": {}, \"id\": 1}\n"
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"it failed\"}, \"id\": \"x\"}\n");
    feed(s, "{\"execute\":\"instant\"}");
    expect_out("{\"return\": {}}\n");
    teardown_check(s);
}

static void test_replies_in_request_order(void **state)
{
    struct proto_session *s = session_new();
    feed(s, "{\"execute\":\"slow\",\"id\":\"a\"}{\"execute\":\"slow\",\"id\":\"b\"}"
            "{\"execute\":\"instant\",\"id\":\"c\"}");
    expect_out("");
    finish_slow(1);
    expect_out(""); /* b waits for a */
    finish_slow(0);
    expect_out("{\"return\": {\"n\": 0}, \"id\": \"a\"}\n"
               "{\"return\": {\"n\": 1}, \"id\": \"b\"}\n"
               "{\"return\": {}, \"id\": \"c\"}\n");
    teardown_check(s);
}

static void test_parse_errors_in_order(void **state)
{
    struct proto_session *s = session_new();
    feed(s, "{\"execute\":\"slow\",\"id\":1}{,}[]{\"execute\":\"instant\",\"id\":3}");
    expect_out("");
    finish_slow(0);
    expect_out("{\"return\": {\"n\": 0}, \"id\": 1}\n"
               "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, "
               "expecting value\"}}\n"
               "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input must be a "
               "JSON object\"}}\n"
               "{\"return\": {}, \"id\": 3}\n");
    teardown_check(s);
}

static void test_barrier_drops_running(void **state)
{
    struct proto_session *s = session_new();
    feed(s, "{\"execute\":\"slow\",\"id\":1}{\"execute\":\"instant\",\"id\":2}"
            "{\"execute\":\"slow\",\"id\":3}{\"execute\":\"sync\",\"id\":4}");
    /* 1 and 3 were running: dropped; 2 was done and is written first */
    expect_out("{\"return\": {}, \"id\": 2}\n{\"return\": 5, \"id\": 4}\n");
    finish_slow(1);
    finish_slow(0);
    expect_out("");
    assert_int_equal(calls_live, 0); /* the dropped calls were freed when they finished */
    feed(s, "{\"execute\":\"instant\",\"id\":5}");
    expect_out("{\"return\": {}, \"id\": 5}\n");
    teardown_check(s);
}

static void test_barrier_does_not_drop_later(void **state)
{
    struct proto_session *s = session_new();
    feed(s, "{\"execute\":\"sync\",\"id\":1}{\"execute\":\"slow\",\"id\":2}");
    expect_out("{\"return\": 5, \"id\": 1}\n");
    finish_slow(0);
    expect_out("{\"return\": {\"n\": 0}, \"id\": 2}\n");
    teardown_check(s);
}

static void test_disabled_sync_is_no_barrier(void **state)
{
    struct proto_session *s = session_new();
    feed(s, "{\"execute\":\"slow\",\"id\":1}{\"execute\":\"blocked-sync\",\"id\":2}");
    expect_out("");
    finish_slow(0);
    expect_out("{\"return\": {\"n\": 0}, \"id\": 1}\n"
               "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Command blocked-sync "
               "has been disabled: the command is not allowed\"}, \"id\": 2}\n");
    teardown_check(s);
}

static void test_sync_delimited(void **state)
{
    struct proto_session *s = session_new();
    /* Proxmox: resync byte, sync-delimited and the command in one write */
    feed(s, "\xff{\"execute\":\"sync-delimited\",\"arguments\":{\"id\":5}}"
            "{\"execute\":\"instant\"}");
    expect_out("\xff{\"return\": 5}\n{\"return\": {}}\n");
    teardown_check(s);
}

static void test_no_success_reply(void **state)
{
    struct proto_session *s = session_new();
    feed(s, "{\"execute\":\"shutdown\",\"id\":1}{\"execute\":\"instant\",\"id\":2}"
            "{\"execute\":\"shutdown-fail\",\"id\":3}");
    expect_out("{\"return\": {}, \"id\": 2}\n"
               "{\"error\": {\"class\": \"GenericError\", \"desc\": \"it failed\"}, \"id\": 3}\n");
    teardown_check(s);
}

static void test_ids_and_errors(void **state)
{
    struct proto_session *s = session_new();
    feed(s, "{\"execute\":\"instant\",\"id\":1700000000123}"
            "{\"execute\":\"instant\",\"id\":9223372036854775807}"
            "{\"execute\":\"instant\",\"id\":18446744073709551615}"
            "{\"execute\":\"instant\",\"id\":{\"a\":[null]}}"
            "{\"execute\":\"instant\",\"id\":null}");
    expect_out("{\"return\": {}, \"id\": 1700000000123}\n"
               "{\"return\": {}, \"id\": 9223372036854775807}\n"
               "{\"return\": {}, \"id\": 18446744073709551615}\n"
               "{\"return\": {}, \"id\": {\"a\": [null]}}\n"
               "{\"return\": {}, \"id\": null}\n");
    feed(s, "{\"execute\":\"guest-nope\",\"id\":7}{\"id\":8,\"execute\":\"instant\",\"x\":1}");
    expect_out("{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command guest-nope "
               "has not been found\"}, \"id\": 7}\n"
               "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input member 'x' is "
               "unexpected\"}, \"id\": 8}\n");
    teardown_check(s);
}

static void test_free_with_running_call(void **state)
{
    struct proto_session *s = session_new();
    feed(s, "{\"execute\":\"slow\",\"id\":1}{\"execute\":\"instant\",\"id\":2}{\"execute\":");
    proto_session_free(s);
    finish_slow(0); /* must not touch the freed session (ASan) */
    assert_int_equal(sink.writes, 0);
    assert_int_equal(calls_live, 0);
}

/* The transport may close the session from inside a write (write queue over its cap). */
static void test_closed_inside_write(void **state)
{
    struct proto_session *s = session_new();
    sink.close_on_write = s;
    feed(s, "{\"execute\":\"instant\",\"id\":1}{\"execute\":\"instant\",\"id\":2}");
    expect_out("{\"return\": {}, \"id\": 1}\n");
    assert_int_equal(calls_live, 0);

    s = session_new();
    feed(s, "{\"execute\":\"slow\",\"id\":1}{\"execute\":\"instant\",\"id\":2}"
            "{\"execute\":\"slow\",\"id\":3}");
    sink.close_on_write = s;
    finish_slow(0); /* from the loop, outside any feed */
    expect_out("{\"return\": {\"n\": 0}, \"id\": 1}\n");
    finish_slow(1);
    expect_out("");
    assert_int_equal(calls_live, 0);
    buf_release(&sink.out);
}

static void run_loop(void)
{
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
}

/* "{"return": "bbb...", "id": <id>}\n" */
static void expect_big_reply(const char *id)
{
    const char *head = "{\"return\": \"";
    char *tail = xasprintf("\", \"id\": %s}\n", id);
    size_t n = strlen(head) + BIG_LEN + strlen(tail);
    assert_true(sink.out.len >= n);
    assert_memory_equal(sink.out.data, head, strlen(head));
    for (size_t i = 0; i < BIG_LEN; i++)
        if (sink.out.data[strlen(head) + i] != 'b')
            fail_msg("byte %zu of the big reply", i);
    assert_memory_equal(sink.out.data + strlen(head) + BIG_LEN, tail, strlen(tail));
    memmove(sink.out.data, sink.out.data + n, sink.out.len - n);
    sink.out.len -= n;
    free(tail);
}

static void test_big_reply_encoded_off_loop(void **state)
{
    struct proto_session *s = session_new();
    feed(s, "{\"execute\":\"big\",\"id\":1}{\"execute\":\"instant\",\"id\":2}");
    expect_out(""); /* encoding in the threadpool; the instant reply waits for it */
    run_loop();
    expect_big_reply("1");
    expect_out("{\"return\": {}, \"id\": 2}\n");

    /* a barrier drops a reply still being encoded */
    feed(s, "{\"execute\":\"big\",\"id\":3}{\"execute\":\"sync\",\"id\":4}");
    expect_out("{\"return\": 5, \"id\": 4}\n");
    run_loop();
    expect_out("");

    /* a call with a big argument is freed in the threadpool too */
    struct buf req = {0};
    const char *head = "{\"execute\":\"instant\",\"id\":6,\"arguments\":{\"data\":\"";
    buf_put(&req, head, strlen(head));
    for (size_t i = 0; i < BIG_LEN; i++)
        buf_put(&req, "a", 1);
    buf_put(&req, "\"}}", 3);
    proto_session_feed(s, req.data, req.len);
    buf_release(&req);
    expect_out("{\"return\": {}, \"id\": 6}\n");
    run_loop();
    assert_int_equal(calls_live, 0);
    assert_int_equal(freed_off_loop, 3); /* the big replies' calls (1, 3) and this one */

    /* and a closed session does too */
    feed(s, "{\"execute\":\"big\",\"id\":5}");
    proto_session_free(s);
    run_loop();
    expect_out("");
    assert_int_equal(calls_live, 0);
    buf_release(&sink.out);
}

/* A request that carries a big id: the id echoed in its reply makes that reply big, so it
 * is encoded off the loop too, whether the command succeeds, fails, or never ran (a bad
 * envelope). Replies stay in request order. */
static void test_big_id_encoded_off_loop(void **state)
{
    struct proto_session *s = session_new();
    static const char *const heads[] = {
        "{\"execute\":\"instant\",\"id\":\"",
        "{\"execute\":\"fail\",\"id\":\"",
        "{\"execute\":\"instant\",\"foo\":1,\"id\":\"",
    };
    static const char *const bodies[] = {
        "{\"return\": {}, \"id\": \"",
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"it failed\"}, \"id\": \"",
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input member 'foo' is "
        "unexpected\"}, \"id\": \"",
    };
    for (size_t k = 0; k < 3; k++) {
        struct buf req = {0};
        buf_put(&req, heads[k], strlen(heads[k]));
        for (size_t i = 0; i < BIG_LEN; i++)
            buf_put(&req, "i", 1);
        const char *tail = "\"}{\"execute\":\"instant\",\"id\":2}";
        buf_put(&req, tail, strlen(tail));
        proto_session_feed(s, req.data, req.len);
        buf_release(&req);
        expect_out(""); /* being encoded in the threadpool; the second reply waits */
        run_loop();
        size_t n = strlen(bodies[k]);
        assert_true(sink.out.len > n + BIG_LEN);
        assert_memory_equal(sink.out.data, bodies[k], n);
        assert_memory_equal(sink.out.data + n + BIG_LEN, "\"}\n", 3);
        memmove(sink.out.data, sink.out.data + n + BIG_LEN + 3, sink.out.len - n - BIG_LEN - 3);
        sink.out.len -= n + BIG_LEN + 3;
        expect_out("{\"return\": {}, \"id\": 2}\n");
    }
    proto_session_free(s);
    run_loop();
    assert_int_equal(calls_live, 0);
    buf_release(&sink.out);
}

int main(void)
{
    loop_thread = pthread_self();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_instant_reply),
        cmocka_unit_test(test_activity_reports),
        cmocka_unit_test(test_replies_in_request_order),
        cmocka_unit_test(test_parse_errors_in_order),
        cmocka_unit_test(test_barrier_drops_running),
        cmocka_unit_test(test_barrier_does_not_drop_later),
        cmocka_unit_test(test_disabled_sync_is_no_barrier),
        cmocka_unit_test(test_sync_delimited),
        cmocka_unit_test(test_no_success_reply),
        cmocka_unit_test(test_ids_and_errors),
        cmocka_unit_test(test_free_with_running_call),
        cmocka_unit_test(test_closed_inside_write),
        cmocka_unit_test(test_big_reply_encoded_off_loop),
        cmocka_unit_test(test_big_id_encoded_off_loop),
        cmocka_unit_test(test_backlog_pauses_the_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
