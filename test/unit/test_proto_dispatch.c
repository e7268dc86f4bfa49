/* Sessions over the real command table: guest-sync/-delimited/ping, argument and policy
 * errors, and ordering/barrier with a command that really runs in the threadpool
 * (guest-get-osinfo reads /etc/os-release and uname: harmless on any machine). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "base/buf.h"
#include "commands/registry.h"
#include "protocol/session.h"

static struct buf written;

static void sink_write(void *ctx, char *buf, size_t len)
{
    buf_put(&written, buf, len);
    free(buf);
}

static struct proto_session *session_new(void)
{
    struct proto_session_io io = {.write = sink_write};
    written.len = 0;
    return proto_session_new(&io, "dispatch-test");
}

/* Feeds text and runs one loop turn: what the loop thread answers at once is delivered
 * on the turn after its dispatch. */
static void feed(struct proto_session *s, const char *text)
{
    proto_session_feed(s, text, strlen(text));
    uv_run(uv_default_loop(), UV_RUN_NOWAIT);
}

static char *take_output(void)
{
    buf_put(&written, "", 1);
    char *out = strdup(written.data);
    written.len = 0;
    return out;
}

static void expect_out(const char *want)
{
    char *out = take_output();
    assert_string_equal(out, want);
    free(out);
}

static void test_sync_and_ping(void **state)
{
    struct proto_session *s = session_new();
    feed(s, "{\"execute\":\"guest-sync\",\"arguments\":{\"id\":1700000000123}}"
            "{'execute':'guest-sync','arguments':{'id':9223372036854775807},'id':'x'}"
            "{\"execute\":\"guest-ping\",\"id\":18446744073709551615}");
    expect_out("{\"return\": 1700000000123}\n"
               "{\"return\": 9223372036854775807, \"id\": \"x\"}\n"
               "{\"return\": {}, \"id\": 18446744073709551615}\n");
    feed(s, "\xff{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":7}}");
    expect_out("\xff{\"return\": 7}\n");
    proto_session_free(s);
}

static void test_command_errors(void **state)
{
    struct proto_session *s = session_new();
    feed(s, "{\"execute\":\"guest-sync\",\"id\":1}"
            "{\"execute\":\"guest-sync\",\"arguments\":{\"id\":18446744073709551615}}"
            "{\"execute\":\"guest-nope\"}");
    expect_out("{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'id' is "
               "missing\"}, \"id\": 1}\n"
               "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid parameter type "
               "for 'id', expected: integer\"}}\n"
               "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command "
               "guest-nope has not been found\"}}\n");
    const char *block[] = {"guest-ping"};
    cmd_policy_set(NULL, 0, block, 1);
    feed(s, "{\"execute\":\"guest-ping\"}");
    expect_out("{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Command guest-ping has "
               "been disabled: the command is not allowed\"}}\n");
    cmd_policy_set(NULL, 0, NULL, 0);
    proto_session_free(s);
}

static void test_order_with_threadpool_command(void **state)
{
    struct proto_session *s = session_new();
    feed(s, "{\"execute\":\"guest-get-osinfo\",\"id\":1}{\"execute\":\"guest-ping\",\"id\":2}");
    expect_out(""); /* the ping's reply waits for the osinfo reply (a file read in the pool) */
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    char *out = take_output();
    assert_memory_equal(out, "{\"return\": {", 12);
    const char *ping = strstr(out, "}, \"id\": 1}\n{\"return\": {}, \"id\": 2}\n");
    assert_non_null(ping);
    assert_string_equal(ping + strlen("}, \"id\": 1}\n{\"return\": {}, \"id\": 2}\n"), "");
    free(out);
    proto_session_free(s);
}

static void test_barrier_with_threadpool_command(void **state)
{
    struct proto_session *s = session_new();
    feed(s, "{\"execute\":\"guest-get-osinfo\",\"id\":1}"
            "{\"execute\":\"guest-sync\",\"arguments\":{\"id\":5},\"id\":2}");
    expect_out("{\"return\": 5, \"id\": 2}\n"); /* at once, without the osinfo reply */
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    expect_out(""); /* and the dropped reply never follows */

    /* a session freed while its command runs: the work completes, nothing is written */
    feed(s, "{\"execute\":\"guest-get-osinfo\",\"id\":3}");
    proto_session_free(s);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    expect_out("");
}

static int teardown(void **state)
{
    buf_release(&written);
    uv_loop_close(uv_default_loop());
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_and_ping),
        cmocka_unit_test(test_command_errors),
        cmocka_unit_test(test_order_with_threadpool_command),
        cmocka_unit_test(test_barrier_with_threadpool_command),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
