/* The end of a session's input (a half-closed socket): what was received is answered in
 * order, a partial message is dropped without a reply (as qemu-ga 7.2), io.drained comes
 * once the last reply is written, and barrier-dropped replies are not waited for. */
#include "session_fake.h"

#include "protocol/wire/framer.h"

static void end_input(struct proto_session *s)
{
    proto_session_end_input(s);
}

/* Nothing pending: drained at once, and only once. */
static void test_idle_drains_at_once(void **state)
{
    struct proto_session *s = session_new();
    feed(s, "{\"execute\":\"instant\",\"id\":1}");
    expect_out("{\"return\": {}, \"id\": 1}\n");
    end_input(s);
    assert_int_equal(sink.drained, 1);
    end_input(s);
    assert_int_equal(sink.drained, 1);
    teardown_check(s);
}

/* Requests still running: their replies come in order, then drained. */
static void test_running_replies_then_drained(void **state)
{
    struct proto_session *s = session_new();
    feed(s, "{\"execute\":\"slow\",\"id\":\"a\"}{\"execute\":\"slow\",\"id\":\"b\"}"
            "{\"execute\":\"instant\",\"id\":\"c\"}");
    end_input(s);
    expect_out("");
    assert_int_equal(sink.drained, 0);
    finish_slow(1);
    expect_out("");
    assert_int_equal(sink.drained, 0);
    finish_slow(0);
    expect_out("{\"return\": {\"n\": 0}, \"id\": \"a\"}\n"
               "{\"return\": {\"n\": 1}, \"id\": \"b\"}\n"
               "{\"return\": {}, \"id\": \"c\"}\n");
    assert_int_equal(sink.drained, 1);
    teardown_check(s);
}

/* A partial message at the end of input gets no reply; later bytes are ignored. */
static void test_partial_message_dropped(void **state)
{
    struct proto_session *s = session_new();
    feed(s, "{\"execute\":\"instant\",\"id\":1}{\"execute\":\"instant\"");
    expect_out("{\"return\": {}, \"id\": 1}\n");
    end_input(s);
    assert_int_equal(sink.drained, 1);
    feed(s, ",\"id\":2}");
    expect_out("");
    assert_int_equal(proto_framer_buffered_total(), 0);
    teardown_check(s);
}

/* A barrier drops a running reply: it is not waited for. */
static void test_barrier_dropped_not_waited(void **state)
{
    struct proto_session *s = session_new();
    feed(s, "{\"execute\":\"slow\",\"id\":1}{\"execute\":\"sync\",\"id\":2}"
            "{\"execute\":\"slow\",\"id\":3}");
    expect_out("{\"return\": 5, \"id\": 2}\n");
    end_input(s);
    assert_int_equal(sink.drained, 0); /* 3 is still due */
    finish_slow(1);
    expect_out("{\"return\": {\"n\": 1}, \"id\": 3}\n");
    assert_int_equal(sink.drained, 1); /* 1 was dropped by the barrier */
    finish_slow(0);
    expect_out("");
    assert_int_equal(sink.drained, 1);
    teardown_check(s);
}

/* The transport may free the session from inside io.drained. */
static void test_freed_inside_drained(void **state)
{
    struct proto_session *s = session_new();
    feed(s, "{\"execute\":\"slow\",\"id\":1}");
    end_input(s);
    sink.free_on_drained = s;
    finish_slow(0); /* must not touch the freed session (ASan) */
    expect_out("{\"return\": {\"n\": 0}, \"id\": 1}\n");
    assert_int_equal(sink.drained, 1);
    assert_int_equal(calls_live, 0);

    s = session_new();
    sink.free_on_drained = s;
    end_input(s); /* drained (and freed) at once */
    assert_int_equal(sink.drained, 1);
    buf_release(&sink.out);
}

/* Freed before its replies are done (agent shutdown, deadline): no drained, no reply. */
static void test_freed_before_drained(void **state)
{
    struct proto_session *s = session_new();
    feed(s, "{\"execute\":\"slow\",\"id\":1}");
    end_input(s);
    proto_session_free(s);
    finish_slow(0);
    assert_int_equal(sink.writes, 0);
    assert_int_equal(sink.drained, 0);
    assert_int_equal(calls_live, 0);
    buf_release(&sink.out);
}

int main(void)
{
    loop_thread = pthread_self();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_drains_at_once),
        cmocka_unit_test(test_running_replies_then_drained),
        cmocka_unit_test(test_partial_message_dropped),
        cmocka_unit_test(test_barrier_dropped_not_waited),
        cmocka_unit_test(test_freed_inside_drained),
        cmocka_unit_test(test_freed_before_drained),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
