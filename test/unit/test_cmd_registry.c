/* The command table, the enable policy, guest-info, and the call lifecycle (errors at
 * creation, exactly-once finish, resource FIFO, threadpool hand-off). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <uv.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd_testutil.h"
#include "commands/registry.h"

static int done_count;
static cmd_call *last_done;
static bool in_done, in_start;

/* Delivery never runs inside cmd_call_start or inside another delivery. */
static void on_done(cmd_call *call)
{
    assert_false(in_done);
    assert_false(in_start);
    in_done = true;
    done_count++;
    last_done = call;
    in_done = false;
}

/* Creates and starts a call, and runs the loop until it is delivered. */
static cmd_call *run(const char *name, const char *args_json)
{
    done_count = 0;
    last_done = NULL;
    cmd_call *call = cmd_call_new(name, testutil_json(args_json), on_done, NULL);
    in_start = true;
    cmd_call_start(call);
    in_start = false;
    assert_int_equal(done_count, 0); /* delivered on a later loop turn */
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    return call;
}

static void expect_error(const char *name, const char *args, const char *cls, const char *desc)
{
    cmd_call *call = run(name, args);
    assert_int_equal(done_count, 1);
    assert_ptr_equal(last_done, call);
    assert_true(cmd_call_finished(call));
    assert_null(cmd_call_result(call));
    assert_string_equal(cmd_call_error(call, NULL), cls);
    assert_string_equal(testutil_desc(call), desc);
    cmd_call_free(call);
}

static int reset_policy(void **state)
{
    cmd_policy_set(NULL, 0, NULL, 0);
    cmd_policy_set_frozen(false);
    return 0;
}

static void test_table_order_and_flags(void **state)
{
    /* schema order, as PROTOCOL.md part 2 section 2 numbers them */
    static const char *const schema[] = {
        "guest-sync-delimited",
        "guest-sync",
        "guest-ping",
        "guest-get-time",
        "guest-set-time",
        "guest-info",
        "guest-shutdown",
        "guest-file-open",
        "guest-file-close",
        "guest-file-read",
        "guest-file-write",
        "guest-file-seek",
        "guest-file-flush",
        "guest-fsfreeze-status",
        "guest-fsfreeze-freeze",
        "guest-fsfreeze-freeze-list",
        "guest-fsfreeze-thaw",
        "guest-fstrim",
        "guest-suspend-disk",
        "guest-suspend-ram",
        "guest-suspend-hybrid",
        "guest-network-get-interfaces",
        "guest-get-vcpus",
        "guest-set-vcpus",
        "guest-get-disks",
        "guest-get-fsinfo",
        "guest-set-user-password",
        "guest-get-memory-blocks",
        "guest-set-memory-blocks",
        "guest-get-memory-block-info",
        "guest-exec-status",
        "guest-exec",
        "guest-get-host-name",
        "guest-get-users",
        "guest-get-timezone",
        "guest-get-osinfo",
        "guest-get-devices",
        "guest-ssh-get-authorized-keys",
        "guest-ssh-add-authorized-keys",
        "guest-ssh-remove-authorized-keys",
        "guest-get-diskstats",
        "guest-get-cpustats",
        "guest-get-load",
        "guest-network-get-route",
    };
    size_t pos = 0;
    for (size_t i = 0; i < cmd_count(); i++) {
        const struct cmd_def *cmd = cmd_at(i);
        while (pos < sizeof(schema) / sizeof(schema[0]) && strcmp(schema[pos], cmd->name) != 0)
            pos++;
        if (pos == sizeof(schema) / sizeof(schema[0]))
            fail_msg("%s is out of schema order or not in the schema", cmd->name);
        assert_ptr_equal(cmd_lookup(cmd->name), cmd);
        /* instant rows have a handler and nothing else; pool rows a work function */
        if (cmd->run == CMD_INSTANT) {
            assert_non_null(cmd->handler);
            assert_null(cmd->work);
            assert_null(cmd->end);
        } else {
            assert_int_equal(cmd->run, CMD_POOL);
            assert_non_null(cmd->work);
        }
    }
    assert_null(cmd_at(cmd_count()));
    assert_null(cmd_lookup("guest-nope"));
    assert_null(cmd_lookup(NULL));

    const struct cmd_def *d = cmd_lookup("guest-sync-delimited");
    assert_int_equal(d->flags, CMD_BARRIER | CMD_DELIMITED | CMD_ALLOW_FROZEN);
    assert_int_equal(cmd_lookup("guest-sync")->flags, CMD_BARRIER | CMD_ALLOW_FROZEN);
    assert_int_equal(cmd_lookup("guest-ping")->flags, CMD_ALLOW_FROZEN);
    assert_int_equal(cmd_lookup("guest-info")->flags, CMD_ALLOW_FROZEN);
    assert_int_equal(cmd_lookup("guest-get-time")->flags, 0);
    /* KubeVirt's readiness set that this part of the tree provides */
    static const char *const mine[] = {"guest-get-time", "guest-get-host-name",
                                       "guest-get-timezone", "guest-get-osinfo", "guest-get-load"};
    for (size_t i = 0; i < sizeof(mine) / sizeof(mine[0]); i++)
        assert_non_null(cmd_lookup(mine[i]));
}

static void test_policy_allow_block(void **state)
{
    const struct cmd_def *ping = cmd_lookup("guest-ping");
    const struct cmd_def *tm = cmd_lookup("guest-get-time");
    const struct cmd_def *info = cmd_lookup("guest-info");

    assert_true(cmd_enabled(ping) && cmd_enabled(tm) && cmd_enabled(info));

    const char *allow[] = {"guest-ping", "guest-nope"};
    cmd_policy_set(allow, 2, NULL, 0);
    assert_true(cmd_enabled(ping));
    assert_false(cmd_enabled(tm));
    assert_false(cmd_enabled(info));

    const char *block[] = {"guest-get-time", "no-such-command"};
    cmd_policy_set(NULL, 0, block, 2);
    assert_true(cmd_enabled(ping));
    assert_false(cmd_enabled(tm));
    assert_true(cmd_enabled(info));

    /* both: the block list wins */
    const char *allow2[] = {"guest-ping", "guest-get-time"};
    cmd_policy_set(allow2, 2, block, 1);
    assert_true(cmd_enabled(ping));
    assert_false(cmd_enabled(tm));
    assert_false(cmd_enabled(info));

    /* an empty allow list is no allow list */
    cmd_policy_set(allow, 0, NULL, 0);
    assert_true(cmd_enabled(tm));

    /* setting the policy again recomputes every row */
    cmd_policy_set(NULL, 0, NULL, 0);
    assert_true(cmd_enabled(ping) && cmd_enabled(tm) && cmd_enabled(info));
}

static void test_policy_frozen(void **state)
{
    const char *block[] = {"guest-ping"};
    cmd_policy_set(NULL, 0, block, 1);
    cmd_policy_set_frozen(true);
    assert_true(cmd_policy_frozen());
    for (size_t i = 0; i < cmd_count(); i++) {
        const struct cmd_def *cmd = cmd_at(i);
        /* frozen overrides the lists: exactly the allow-list rows run */
        assert_int_equal(cmd_enabled(cmd), (cmd->flags & CMD_ALLOW_FROZEN) != 0);
    }
    cmd_policy_set_frozen(false);
    assert_false(cmd_policy_frozen());
    assert_false(cmd_enabled(cmd_lookup("guest-ping")));
    assert_true(cmd_enabled(cmd_lookup("guest-get-time")));
}

static void test_call_errors(void **state)
{
    expect_error("guest-nope", NULL, "CommandNotFound",
                 "The command guest-nope has not been found");
    const char *block[] = {"guest-get-time"};
    cmd_policy_set(NULL, 0, block, 1);
    expect_error("guest-get-time", NULL, "CommandNotFound",
                 "Command guest-get-time has been disabled: the command is not allowed");
    cmd_policy_set(NULL, 0, NULL, 0);
    cmd_policy_set_frozen(true);
    expect_error("guest-get-time", NULL, "CommandNotFound",
                 "Command guest-get-time has been disabled: the command is not allowed");
    cmd_policy_set_frozen(false);
    expect_error("guest-sync", "{}", "GenericError", "Parameter 'id' is missing");
    expect_error("guest-sync", "{\"id\": 18446744073709551615}", "GenericError",
                 "Invalid parameter type for 'id', expected: integer");
    expect_error("guest-ping", "{\"x\": 1}", "GenericError", "Parameter 'x' is unexpected");

    /* an errored call is finished at creation; on_done waits for cmd_call_start and then
     * for the next loop turn */
    done_count = 0;
    cmd_call *call = cmd_call_new("guest-nope", NULL, on_done, NULL);
    assert_true(cmd_call_finished(call));
    assert_null(cmd_call_name(call));
    assert_false(cmd_call_is_barrier(call));
    uv_run(uv_default_loop(), UV_RUN_NOWAIT);
    assert_int_equal(done_count, 0);
    cmd_call_start(call);
    assert_int_equal(done_count, 0);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    assert_int_equal(done_count, 1);
    cmd_call_free(call);
}

/* The barrier decision: an accepted sync is one (even with bad arguments, as before), a
 * disabled one is "not found" and is not; other commands never are. */
static void test_barrier(void **state)
{
    cmd_call *call = cmd_call_new("guest-sync", testutil_json("{\"id\": 1}"), on_done, NULL);
    assert_true(cmd_call_is_barrier(call));
    assert_false(cmd_call_delimited(call));
    cmd_call_free(call);
    call = cmd_call_new("guest-sync-delimited", NULL, on_done, NULL);
    assert_true(cmd_call_is_barrier(call)); /* "Parameter 'id' is missing", still a barrier */
    assert_true(cmd_call_delimited(call));
    cmd_call_free(call);
    call = cmd_call_new("guest-ping", NULL, on_done, NULL);
    assert_false(cmd_call_is_barrier(call));
    cmd_call_free(call);
    const char *block[] = {"guest-sync"};
    cmd_policy_set(NULL, 0, block, 1);
    call = cmd_call_new("guest-sync", testutil_json("{\"id\": 1}"), on_done, NULL);
    assert_false(cmd_call_is_barrier(call));
    cmd_call_free(call);
}

static void test_sync_and_ping(void **state)
{
    cmd_call *call = run("guest-sync", "{\"id\": 9223372036854775807}");
    assert_int_equal(done_count, 1);
    assert_null(cmd_call_error(call, NULL));
    assert_string_equal(cmd_call_result(call)->u.number.r, "9223372036854775807");
    cmd_call_free(call);

    call = run("guest-sync-delimited", "{\"id\": -1700000000123}");
    assert_string_equal(cmd_call_result(call)->u.number.r, "-1700000000123");
    cmd_call_free(call);

    call = run("guest-ping", "{}");
    assert_int_equal(cmd_call_result(call)->type, yajl_t_object);
    assert_int_equal(cmd_call_result(call)->u.object.len, 0);
    cmd_call_free(call);
}

static void test_guest_info(void **state)
{
    const char *block[] = {"guest-get-time"};
    cmd_policy_set(NULL, 0, block, 1);
    cmd_call *call = run("guest-info", NULL);
    yajl_val r = cmd_call_result(call);
    assert_non_null(r);
    assert_string_equal(json_get(r, "version")->u.string, QGAD_VERSION);
    yajl_val list = json_get(r, "supported_commands");
    assert_int_equal(list->type, yajl_t_array);
    assert_int_equal(list->u.array.len, cmd_count());
    for (size_t i = 0; i < list->u.array.len; i++) {
        yajl_val e = list->u.array.values[i];
        const struct cmd_def *cmd = cmd_at(cmd_count() - 1 - i); /* newest first */
        assert_string_equal(json_get(e, "name")->u.string, cmd->name);
        /* the three upstream members, plus the list of "__" arguments where there are any */
        yajl_val ext = json_get(e, "__org.qgad_arguments");
        assert_int_equal(e->u.object.len, ext ? 4 : 3);
        if (ext)
            assert_true(strncmp(ext->u.array.values[0]->u.string, "__org.qgad_", 11) == 0);
        bool enabled = strcmp(cmd->name, "guest-get-time") != 0;
        assert_int_equal(json_get(e, "enabled")->type, enabled ? yajl_t_true : yajl_t_false);
        bool success = !(cmd->flags & CMD_NO_SUCCESS_REPLY);
        assert_int_equal(json_get(e, "success-response")->type,
                         success ? yajl_t_true : yajl_t_false);
    }
    assert_string_equal(json_get(list->u.array.values[list->u.array.len - 1], "name")->u.string,
                        "guest-sync-delimited");
    cmd_call_free(call);

    /* frozen: exactly the allow-list rows are enabled */
    cmd_policy_set_frozen(true);
    call = run("guest-info", NULL);
    list = json_get(cmd_call_result(call), "supported_commands");
    for (size_t i = 0; i < list->u.array.len; i++) {
        yajl_val e = list->u.array.values[i];
        const struct cmd_def *cmd = cmd_lookup(json_get(e, "name")->u.string);
        assert_int_equal(json_get(e, "enabled")->type,
                         (cmd->flags & CMD_ALLOW_FROZEN) ? yajl_t_true : yajl_t_false);
    }
    cmd_call_free(call);
}

/* Finishing twice is a bug that must stop the agent, also in release builds. */
static void test_double_finish_aborts(void **state)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        cmd_call *call = cmd_call_new("guest-ping", NULL, on_done, NULL);
        call_return_empty(call);
        call_fail(call, "again");
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

/* ---- threadpool ---- */

static uv_thread_t loop_thread;
static uv_thread_t work_thread;

static void work_fn(void *data)
{
    work_thread = uv_thread_self();
    *(int *)data = 42;
}

static void after_fn(cmd_call *call, void *data)
{
    assert_true(uv_thread_equal(&loop_thread, &(uv_thread_t){uv_thread_self()}));
    call_return(call, json_int(*(int *)data));
}

static void test_queue_work(void **state)
{
    int value = 0;
    loop_thread = uv_thread_self();
    done_count = 0;
    cmd_call *call = cmd_call_new("guest-ping", NULL, on_done, NULL);
    call_queue_work(call, &value, work_fn, after_fn);
    assert_int_equal(done_count, 0); /* nothing finishes before the loop runs */
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    assert_int_equal(done_count, 1);
    assert_false(uv_thread_equal(&loop_thread, &work_thread));
    assert_string_equal(cmd_call_result(call)->u.number.r, "42");
    cmd_call_free(call);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_table_order_and_flags, reset_policy),
        cmocka_unit_test_setup(test_policy_allow_block, reset_policy),
        cmocka_unit_test_setup(test_policy_frozen, reset_policy),
        cmocka_unit_test_setup(test_call_errors, reset_policy),
        cmocka_unit_test_setup(test_sync_and_ping, reset_policy),
        cmocka_unit_test_setup(test_guest_info, reset_policy),
        cmocka_unit_test_setup(test_barrier, reset_policy),
        cmocka_unit_test_setup(test_double_finish_aborts, reset_policy),
        cmocka_unit_test_setup(test_queue_work, reset_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
