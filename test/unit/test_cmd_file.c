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
#include "commands/call.h"
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

static int64_t open_file(const char *path)
{
    char args[512];
    snprintf(args, sizeof(args), "{\"path\":\"%s\",\"mode\":\"r\"}", path);
    cmd_call *call = start("guest-file-open", args);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    assert_true(call->finished);
    assert_null(call->err_desc);
    int64_t id = 0;
    assert_true(json_as_int64(call->result, &id));
    cmd_call_free(call);
    return id;
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
    assert_true(first->finished);
    assert_false(second->finished);

    cmd_file_close_all();
    uv_run(uv_default_loop(), UV_RUN_DEFAULT); /* the second read completes */
    assert_int_equal(done_count, 2);
    assert_true(second->finished);
    assert_null(second->err_desc);

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
        cmocka_unit_test(test_close_all_while_next_read_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
