/* guest-file-* run as the session runs them (cmd_call_new/start, the loop for threadpool
 * work), with the agent's shutdown (cmd_file_close_all) arriving between two requests on
 * one handle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdlib.h>
#include <uv.h>

#include "cmd_testutil.h"
#include "commands/file.h"
#include "platform/statedir.h"

static int done_count;
static bool stop_on_done;

static void on_done(cmd_call *call)
{
    done_count++;
    if (stop_on_done)
        uv_stop(uv_default_loop());
}

static cmd_call *start(const char *name, const char *args)
{
    cmd_call *call = cmd_call_new(name, testutil_json(args), on_done, NULL);
    cmd_call_start(call);
    return call;
}

static int64_t open_mode(const char *path, const char *mode)
{
    char args[512];
    snprintf(args, sizeof(args), "{\"path\":\"%s\",\"mode\":\"%s\"}", path, mode);
    cmd_call *call = start("guest-file-open", args);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    assert_true(cmd_call_finished(call));
    assert_null(testutil_desc(call));
    int64_t id = 0;
    assert_true(json_as_int64(cmd_call_result(call), &id));
    cmd_call_free(call);
    return id;
}

static int64_t open_file(const char *path)
{
    return open_mode(path, "r");
}

/* Runs one command to its delivery; returns the call (free it). */
static cmd_call *run(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static cmd_call *run(const char *name, const char *fmt, ...)
{
    char args[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    cmd_call *call = start(name, args);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    assert_true(cmd_call_finished(call));
    return call;
}

/* The command (its arguments: a format with one handle) fails with desc. */
static void expect_fail(const char *name, const char *desc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void expect_fail(const char *name, const char *desc, const char *fmt, ...)
{
    char args[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    cmd_call *call = run(name, "%s", args);
    assert_non_null(testutil_desc(call));
    assert_string_equal(testutil_desc(call), desc);
    cmd_call_free(call);
}

static char statedir[] = "/tmp/qgad-test-file-XXXXXX";

static int make_statedir(void **state)
{
    strcpy(statedir, "/tmp/qgad-test-file-XXXXXX");
    assert_non_null(mkdtemp(statedir));
    assert_int_equal(plat_statedir_init(statedir), 0);
    return 0;
}

static int remove_statedir(void **state)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", statedir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* Requests on one handle run one at a time in arrival order, although four pool threads
 * could take them at once: four writes queued before the loop runs land as "abcd", and
 * are delivered in that order. */
static int64_t delivered[4];
static int n_delivered;
static cmd_call *queued[4];

static void on_done_order(cmd_call *call)
{
    for (int i = 0; i < 4; i++)
        if (queued[i] == call)
            delivered[n_delivered++] = i;
}

static void test_handle_fifo_keeps_order(void **state)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/data", statedir);
    int64_t id = open_mode(path, "w");
    static const char *const b64[] = {"YQ==", "Yg==", "Yw==", "ZA=="}; /* a b c d */
    n_delivered = 0;
    for (int i = 0; i < 4; i++) {
        char args[128];
        snprintf(args, sizeof(args), "{\"handle\":%" PRId64 ",\"buf-b64\":\"%s\"}", id, b64[i]);
        queued[i] = cmd_call_new("guest-file-write", testutil_json(args), on_done_order, NULL);
        cmd_call_start(queued[i]);
    }
    assert_int_equal(n_delivered, 0);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    assert_int_equal(n_delivered, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(delivered[i], i);
        assert_null(testutil_desc(queued[i]));
        cmd_call_free(queued[i]);
    }
    cmd_call_free(run("guest-file-close", "{\"handle\":%" PRId64 "}", id));
    FILE *f = fopen(path, "r");
    char got[8] = {0};
    assert_int_equal(fread(got, 1, sizeof(got), f), 4);
    fclose(f);
    assert_string_equal(got, "abcd");
}

/* The spec's default (4096) and range (0..48 MiB) for count; an unknown handle is
 * reported before a bad count, as upstream's handler checks the handle first. */
static void test_read_count_default_and_range(void **state)
{
    int64_t id = open_file("/dev/zero");
    cmd_call *call = run("guest-file-read", "{\"handle\":%" PRId64 "}", id);
    int64_t count = 0;
    assert_true(json_as_int64(json_get(cmd_call_result(call), "count"), &count));
    assert_int_equal(count, 4096);
    cmd_call_free(call);
    expect_fail("guest-file-read", "value '-1' is invalid for argument count",
                "{\"handle\":%" PRId64 ",\"count\":-1}", id);
    expect_fail("guest-file-read", "value '50331649' is invalid for argument count",
                "{\"handle\":%" PRId64 ",\"count\":50331649}", id);
    char want[64];
    snprintf(want, sizeof(want), "handle '%" PRId64 "' has not been found", id + 1000);
    expect_fail("guest-file-read", want, "{\"handle\":%" PRId64 ",\"count\":-1}", id + 1000);
    expect_fail("guest-file-seek", "invalid whence code 7",
                "{\"handle\":%" PRId64 ",\"offset\":0,\"whence\":7}", id);
    call = run("guest-file-seek", "{\"handle\":%" PRId64 ",\"offset\":5,\"whence\":\"set\"}", id);
    assert_true(json_as_int64(json_get(cmd_call_result(call), "position"), &count));
    assert_int_equal(count, 5);
    cmd_call_free(call);
    cmd_call_free(run("guest-file-close", "{\"handle\":%" PRId64 "}", id));
    snprintf(want, sizeof(want), "handle '%" PRId64 "' has not been found", id);
    expect_fail("guest-file-flush", want, "{\"handle\":%" PRId64 "}", id);
}

/* A read finishes and the next read on the same handle is in the threadpool when the
 * agent stops: the handle must count as busy, so close_all neither closes its stream
 * under the pool thread nor frees the record the pending completion still uses. */
static void test_close_all_while_next_read_runs(void **state)
{
    char dir[] = "/tmp/qgad-test-file-XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(plat_statedir_init(dir), 0);

    int64_t id = open_file("/dev/zero");
    char args[128];
    snprintf(args, sizeof(args), "{\"handle\":%" PRId64 ",\"count\":16}", id);
    cmd_call *first = start("guest-file-read", args);
    /* big enough to still be running when the first one's completion returns */
    snprintf(args, sizeof(args), "{\"handle\":%" PRId64 ",\"count\":%d}", id, 32 << 20);
    cmd_call *second = start("guest-file-read", args);

    done_count = 0;
    stop_on_done = true;
    uv_run(uv_default_loop(), UV_RUN_DEFAULT); /* until the first read is answered */
    stop_on_done = false;
    assert_int_equal(done_count, 1);
    assert_true(cmd_call_finished(first));
    assert_false(cmd_call_finished(second));

    cmd_file_close_all();
    uv_run(uv_default_loop(), UV_RUN_DEFAULT); /* the second read completes */
    assert_int_equal(done_count, 2);
    assert_true(cmd_call_finished(second));
    assert_null(testutil_desc(second));

    cmd_call_free(first);
    cmd_call_free(second);
    char path[128];
    snprintf(path, sizeof(path), "%s/qga.state", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_handle_fifo_keeps_order, make_statedir,
                                        remove_statedir),
        cmocka_unit_test_setup_teardown(test_read_count_default_and_range, make_statedir,
                                        remove_statedir),
        cmocka_unit_test(test_close_all_while_next_read_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
