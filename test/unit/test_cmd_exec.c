/* guest-exec and guest-exec-status run as the session runs them (cmd_call_new/start, the
 * loop until delivery): spawn and status, capture modes, input-data, the PATH search, the
 * __org.qgad_timeout and __org.qgad_wait extensions, the process cap and the agent's exit
 * (cmd_exec_release_all). The children never keep the loop alive, so every wait here runs
 * the loop under a referenced guard timer that fails the test when it fires. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "base/base64.h"
#include "base/limits.h"
#include "base/xalloc.h"
#include "cmd_testutil.h"
#include "commands/exec.h"
#include "commands/settings.h"
#include "proc_testutil.h"

#define GUARD_MS 20000 /* no single wait in this file may take longer */
#define LONG_WAIT "60000"

/* ---- driving calls ---- */

static uv_timer_t guard;
static uv_timer_t tick; /* test_long_path_searched_off_loop */
static bool guard_fired;

static void guard_cb(uv_timer_t *t)
{
    guard_fired = true;
}

static bool orphan_done; /* on_done ran for a detached call */

static void on_done(cmd_call *call)
{
    bool *done = cmd_call_owner(call);
    if (done)
        *done = true;
    else
        orphan_done = true;
}

/* Runs the loop until *flag (set by an on_done), failing the test after GUARD_MS. */
static void run_until(const bool *flag)
{
    guard_fired = false;
    uv_timer_start(&guard, guard_cb, GUARD_MS, 0);
    while (!*flag && !guard_fired)
        uv_run(uv_default_loop(), UV_RUN_ONCE);
    uv_timer_stop(&guard);
    assert_false(guard_fired);
}

/* A started call and its delivery flag. */
struct pending {
    cmd_call *call;
    bool done;
};

static void pending_start(struct pending *p, const char *name, const char *args)
{
    p->done = false;
    p->call = cmd_call_new(name, testutil_json(args), on_done, &p->done);
    cmd_call_start(p->call);
    assert_false(p->done); /* delivery is always on a later loop turn */
}

static cmd_call *pending_finish(struct pending *p)
{
    run_until(&p->done);
    assert_true(cmd_call_finished(p->call));
    return p->call;
}

static char *vformat(const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    assert_true(n >= 0);
    char *s = xmalloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, copy);
    va_end(copy);
    return s;
}

/* Runs one command to its delivery; returns the call (free it). */
static cmd_call *run(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static cmd_call *run(const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *args = vformat(fmt, ap);
    va_end(ap);
    struct pending p;
    pending_start(&p, name, args);
    free(args);
    return pending_finish(&p);
}

/* The command fails with exactly desc. */
static void expect_fail(const char *name, const char *desc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void expect_fail(const char *name, const char *desc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *args = vformat(fmt, ap);
    va_end(ap);
    cmd_call *call = run(name, "%s", args);
    free(args);
    assert_non_null(testutil_desc(call));
    assert_string_equal(testutil_desc(call), desc);
    assert_null(cmd_call_result(call));
    cmd_call_free(call);
}

/* guest-exec with these arguments (a JSON object) succeeds; returns the pid. */
static int64_t exec_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int64_t exec_ok(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *args = vformat(fmt, ap);
    va_end(ap);
    cmd_call *call = run("guest-exec", "%s", args);
    free(args);
    if (testutil_desc(call))
        fail_msg("guest-exec failed: %s", testutil_desc(call));
    int64_t pid = 0;
    assert_true(json_as_int64(json_get(cmd_call_result(call), "pid"), &pid));
    assert_true(pid > 0);
    cmd_call_free(call);
    return pid;
}

/* guest-exec-status with this wait ("" for none); returns the successful call (free it). */
static cmd_call *status(int64_t pid, const char *wait)
{
    cmd_call *call;
    if (*wait)
        call = run("guest-exec-status", "{\"pid\":%" PRId64 ",\"__org.qgad_wait\":%s}", pid, wait);
    else
        call = run("guest-exec-status", "{\"pid\":%" PRId64 "}", pid);
    if (testutil_desc(call))
        fail_msg("guest-exec-status failed: %s", testutil_desc(call));
    assert_true(YAJL_IS_OBJECT(cmd_call_result(call)));
    return call;
}

/* The status of a running process is exactly {"exited": false}. */
static void expect_running(int64_t pid, const char *wait)
{
    cmd_call *call = status(pid, wait);
    yajl_val r = cmd_call_result(call);
    assert_int_equal(r->u.object.len, 1);
    assert_true(YAJL_IS_FALSE(json_get(r, "exited")));
    cmd_call_free(call);
}

/* Waits for the exit and returns the final status call (free it). */
static cmd_call *final_status(int64_t pid)
{
    cmd_call *call = status(pid, LONG_WAIT);
    assert_true(YAJL_IS_TRUE(json_get(cmd_call_result(call), "exited")));
    return call;
}

static void expect_gone(int64_t pid)
{
    char want[64];
    snprintf(want, sizeof(want), "PID %" PRId64 " does not exist", pid);
    expect_fail("guest-exec-status", want, "{\"pid\":%" PRId64 "}", pid);
}

static bool has(yajl_val obj, const char *key)
{
    return json_get(obj, key) != NULL;
}

static int64_t int_of(yajl_val obj, const char *key)
{
    int64_t v = 0;
    if (!json_as_int64(json_get(obj, key), &v))
        fail_msg("no integer %s", key);
    return v;
}

/* The decoded bytes of a base64 member, as a string (free it). */
static char *data_of(yajl_val obj, const char *key, size_t *len)
{
    yajl_val v = json_get(obj, key);
    if (!YAJL_IS_STRING(v))
        fail_msg("no string %s", key);
    size_t n = 0;
    char *d = base64_decode(v->u.string, &n);
    assert_non_null(d);
    if (len)
        *len = n;
    return d;
}

static void expect_data(yajl_val obj, const char *key, const char *want)
{
    char *d = data_of(obj, key, NULL);
    assert_string_equal(d, want);
    free(d);
}

/* guest-exec with these arguments exits 0 with this stdout ("" when none is reported). */
static void expect_exit0_output(const char *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void expect_exit0_output(const char *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *args = vformat(fmt, ap);
    va_end(ap);
    int64_t pid = exec_ok("%s", args);
    free(args);
    cmd_call *call = final_status(pid);
    yajl_val r = cmd_call_result(call);
    assert_int_equal(int_of(r, "exitcode"), 0);
    if (*out)
        expect_data(r, "out-data", out);
    else
        assert_false(has(r, "out-data"));
    cmd_call_free(call);
}

/* Exit with exitcode code (and nothing else but "exited"); the record is then gone. */
static void expect_exitcode(int64_t pid, int64_t code)
{
    cmd_call *call = final_status(pid);
    yajl_val r = cmd_call_result(call);
    assert_int_equal(int_of(r, "exitcode"), code);
    assert_false(has(r, "signal"));
    assert_false(has(r, "__org.qgad_timed-out"));
    cmd_call_free(call);
    expect_gone(pid);
}

static void expect_signal(int64_t pid, int64_t sig, bool timed_out)
{
    cmd_call *call = final_status(pid);
    yajl_val r = cmd_call_result(call);
    assert_int_equal(int_of(r, "signal"), sig);
    assert_false(has(r, "exitcode"));
    if (timed_out)
        assert_true(YAJL_IS_TRUE(json_get(r, "__org.qgad_timed-out")));
    else
        assert_false(has(r, "__org.qgad_timed-out"));
    cmd_call_free(call);
    expect_gone(pid);
}

/* ---- fixtures ---- */

static char tmpdir[64];

static int group_setup(void **state)
{
    uv_timer_init(uv_default_loop(), &guard);
    uv_timer_init(uv_default_loop(), &tick);
    return 0;
}

static int group_teardown(void **state)
{
    uv_close((uv_handle_t *)&guard, NULL);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(uv_default_loop(), UV_RUN_NOWAIT);
    return 0;
}

/* A directory holding an executable script "qgad-test-prog" that prints FOO and HOME. */
static int make_tmpdir(void **state)
{
    strcpy(tmpdir, "/tmp/qgad-test-exec-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char path[128];
    snprintf(path, sizeof(path), "%s/qgad-test-prog", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("#!/bin/sh\necho \"found $FOO:$HOME\"\n", f);
    fclose(f);
    assert_int_equal(chmod(path, 0755), 0);
    return 0;
}

static int remove_tmpdir(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* Tests that lower a setting leave the default behind them even when they fail. */
static int restore_settings(void **state)
{
    cmd_settings.max_exec_processes = QGAD_DEFAULT_MAX_EXEC_PROCESSES;
    cmd_settings.exec_output_total = QGAD_DEFAULT_EXEC_OUTPUT_TOTAL;
    return 0;
}

/* Kills a process the test started and guest-exec no longer watches, and reaps it. */
static void kill_and_reap(int64_t pid)
{
    kill(-(pid_t)pid, SIGKILL);
    int st;
    while (waitpid((pid_t)pid, &st, 0) < 0 && errno == EINTR)
        ;
}

/* ---- spawn and status ---- */

static void test_true_exits_0(void **state)
{
    expect_exitcode(exec_ok("{\"path\":\"/bin/true\"}"), 0);
}

static void test_exitcode_3(void **state)
{
    expect_exitcode(exec_ok("{\"path\":\"/bin/sh\",\"arg\":[\"-c\",\"exit 3\"]}"), 3);
}

static void test_killed_by_signal_9(void **state)
{
    expect_signal(exec_ok("{\"path\":\"/bin/sh\",\"arg\":[\"-c\",\"kill -9 $$\"]}"), 9, false);
}

/* A running process reports {"exited": false}, with no wait and when a short wait runs
 * out; the test ends it itself (SIGTERM to the process). */
static void test_running_reports_not_exited(void **state)
{
    int64_t pid = exec_ok("{\"path\":\"sleep\",\"arg\":[\"30\"]}");
    expect_running(pid, "");
    expect_running(pid, "0");
    expect_running(pid, "50");
    assert_int_equal(kill((pid_t)pid, SIGTERM), 0);
    expect_signal(pid, SIGTERM, false);
}

/* The exited report removes the record: a second status call finds no such pid. */
static void test_record_removed_after_report(void **state)
{
    int64_t pid = exec_ok("{\"path\":\"/bin/true\"}");
    cmd_call *call = final_status(pid);
    cmd_call_free(call);
    expect_gone(pid);
    expect_gone(pid);
}

static void test_unknown_pid(void **state)
{
    expect_gone(0);
    expect_gone(2147483646);
    expect_gone(-5);
}

/* ---- capture ---- */

/* `printf out; printf err >&2` under the given capture-output value; returns the final
 * status call (free it). */
static cmd_call *capture_run(const char *capture)
{
    int64_t pid = exec_ok("{\"path\":\"/bin/sh\",\"arg\":[\"-c\",\"printf out; printf err >&2\"]"
                          "%s%s}",
                          capture ? ",\"capture-output\":" : "", capture ? capture : "");
    cmd_call *call = final_status(pid);
    assert_int_equal(int_of(cmd_call_result(call), "exitcode"), 0);
    return call;
}

static void expect_no_stream(yajl_val r, const char *data, const char *truncated)
{
    assert_false(has(r, data));
    assert_false(has(r, truncated));
}

static void expect_stream(yajl_val r, const char *data, const char *truncated, const char *want)
{
    expect_data(r, data, want);
    assert_true(YAJL_IS_FALSE(json_get(r, truncated)));
}

static void expect_capture(const char *capture, const char *out, const char *err)
{
    cmd_call *call = capture_run(capture);
    yajl_val r = cmd_call_result(call);
    if (out)
        expect_stream(r, "out-data", "out-truncated", out);
    else
        expect_no_stream(r, "out-data", "out-truncated");
    if (err)
        expect_stream(r, "err-data", "err-truncated", err);
    else
        expect_no_stream(r, "err-data", "err-truncated");
    cmd_call_free(call);
}

static void test_capture_absent_is_none(void **state)
{
    expect_capture(NULL, NULL, NULL);
}

static void test_capture_none(void **state)
{
    expect_capture("\"none\"", NULL, NULL);
}

static void test_capture_stdout(void **state)
{
    expect_capture("\"stdout\"", "out", NULL);
}

static void test_capture_stderr(void **state)
{
    expect_capture("\"stderr\"", NULL, "err");
}

static void test_capture_separated(void **state)
{
    expect_capture("\"separated\"", "out", "err");
}

static void test_capture_merged(void **state)
{
    expect_capture("\"merged\"", "outerr", NULL);
}

static void test_capture_true_is_separated(void **state)
{
    expect_capture("true", "out", "err");
}

static void test_capture_false_is_none(void **state)
{
    expect_capture("false", NULL, NULL);
}

/* Captured streams that stayed empty carry neither data nor a truncated flag. */
static void test_capture_empty_streams_omitted(void **state)
{
    int64_t pid = exec_ok("{\"path\":\"/bin/true\",\"capture-output\":\"separated\"}");
    cmd_call *call = final_status(pid);
    yajl_val r = cmd_call_result(call);
    expect_no_stream(r, "out-data", "out-truncated");
    expect_no_stream(r, "err-data", "err-truncated");
    cmd_call_free(call);
}

/* `head -c n /dev/zero` with stdout captured; returns the final status call (free it) and
 * the decoded length of its out-data, which must be all zeros. */
static cmd_call *zeros_run(unsigned n, size_t *len)
{
    int64_t pid = exec_ok("{\"path\":\"/bin/sh\",\"arg\":[\"-c\",\"head -c %u /dev/zero\"],"
                          "\"capture-output\":\"stdout\"}",
                          n);
    cmd_call *call = final_status(pid);
    char *d = data_of(cmd_call_result(call), "out-data", len);
    for (size_t i = 0; i < *len; i++)
        assert_int_equal(d[i], 0);
    free(d);
    return call;
}

/* Output beyond the inline limit (encoded in the threadpool) comes back whole. */
static void test_capture_large_output(void **state)
{
    size_t len = 0;
    cmd_call *call = zeros_run(300000, &len);
    assert_int_equal(len, 300000);
    assert_true(YAJL_IS_FALSE(json_get(cmd_call_result(call), "out-truncated")));
    cmd_call_free(call);
}

/* The total output budget (exec-output-total) cuts a stream and sets its flag. */
static void test_capture_budget_truncates(void **state)
{
    cmd_settings.exec_output_total = 1000;
    size_t len = 0;
    cmd_call *call = zeros_run(5000, &len);
    assert_true(len > 0 && len <= 1000);
    assert_true(YAJL_IS_TRUE(json_get(cmd_call_result(call), "out-truncated")));
    cmd_call_free(call);
}

/* ---- input-data ---- */

static void test_input_reaches_stdin(void **state)
{
    expect_exit0_output("hello\nworld\n", "{\"path\":\"/bin/cat\",\"input-data\":"
                                          "\"aGVsbG8Kd29ybGQK\",\"capture-output\":true}");
}

/* Without input-data stdin is /dev/null: cat ends at once with nothing to say. */
static void test_no_input_is_dev_null(void **state)
{
    expect_exit0_output("", "{\"path\":\"/bin/cat\",\"capture-output\":true}");
}

static void test_input_invalid_base64(void **state)
{
    expect_fail("guest-exec", BASE64_INVALID_TEXT,
                "{\"path\":\"/bin/cat\",\"input-data\":\"not*base64\"}");
}

/* ---- PATH search ---- */

/* A bare name is found through env's PATH, and env replaces the whole environment (the
 * script sees FOO but not the test's HOME). */
static void test_path_from_env(void **state)
{
    expect_exit0_output("found bar:\n",
                        "{\"path\":\"qgad-test-prog\",\"env\":[\"PATH=/nonexistent:%s\","
                        "\"FOO=bar\"],\"capture-output\":true}",
                        tmpdir);
}

static void test_missing_program(void **state)
{
    expect_fail("guest-exec",
                "Failed to execute child process \xe2\x80\x9cqgad-no-such-program-x\xe2\x80\x9d"
                " (No such file or directory)",
                "{\"path\":\"qgad-no-such-program-x\"}");
    expect_fail("guest-exec",
                "Failed to execute child process \xe2\x80\x9cqgad-test-prog\xe2\x80\x9d"
                " (No such file or directory)",
                "{\"path\":\"qgad-test-prog\",\"env\":[\"PATH=/nonexistent\"]}");
    expect_fail("guest-exec",
                "Failed to execute child process \xe2\x80\x9c/nonexistent/prog\xe2\x80\x9d"
                " (No such file or directory)",
                "{\"path\":\"/nonexistent/prog\"}");
}

/* The loop's ticks while a long PATH search runs. */
static unsigned ticks;
static uint64_t last_tick, max_gap;

static void tick_cb(uv_timer_t *t)
{
    uint64_t now = uv_hrtime();
    if (last_tick && now - last_tick > max_gap)
        max_gap = now - last_tick;
    last_tick = now;
    ticks++;
}

/* A PATH of many thousands of entries still finds the program at its end, and the loop
 * kept running meanwhile: the longest gap between 1 ms timer ticks is well below the time
 * the call took. Each entry is "L", a symlink to itself in the test's (temporary) cwd, so
 * every probe costs a full ELOOP walk, and the whole PATH stays below the kernel's limit
 * on one environment string (128 KiB). The loop check is skipped when the search was too
 * quick to tell. */
static void test_long_path_searched_off_loop(void **state)
{
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(tmpdir), 0);
    assert_int_equal(symlink("L", "L"), 0);
    enum { ENTRIES = 50000 };
    size_t cap = (size_t)ENTRIES * 2 + sizeof(tmpdir);
    char *path = xmalloc(cap);
    size_t len = 0;
    for (int i = 0; i < ENTRIES; i++)
        len += (size_t)snprintf(path + len, cap - len, "L:");
    snprintf(path + len, cap - len, "%s", tmpdir);
    char *args = xasprintf("{\"path\":\"qgad-test-prog\",\"env\":[\"PATH=%s\"],"
                           "\"capture-output\":true}",
                           path);
    free(path);

    ticks = 0;
    last_tick = max_gap = 0;
    struct pending p;
    uint64_t t0 = uv_hrtime();
    pending_start(&p, "guest-exec", args);
    free(args);
    uv_timer_start(&tick, tick_cb, 1, 1);
    cmd_call *call = pending_finish(&p);
    uint64_t took = uv_hrtime() - t0;
    uv_timer_stop(&tick);
    assert_int_equal(chdir(cwd), 0);

    if (testutil_desc(call))
        fail_msg("guest-exec failed: %s", testutil_desc(call));
    int64_t pid = int_of(cmd_call_result(call), "pid");
    cmd_call_free(call);
    cmd_call *st = final_status(pid);
    expect_data(cmd_call_result(st), "out-data", "found :\n");
    cmd_call_free(st);

    if (took >= 200 * 1000000ull) {
        print_message("PATH search took %" PRIu64 " ms, %u ticks, longest gap %" PRIu64 " ms\n",
                      took / 1000000, ticks, max_gap / 1000000);
        assert_true(ticks >= 5);
        assert_true(max_gap < took / 2);
    } else {
        print_message("PATH search took %" PRIu64 " ms: too quick to check the loop "
                      "(skipped)\n",
                      took / 1000000);
    }
}

/* The tick timer is stopped even when the test failed half-way. */
static int stop_tick_remove_tmpdir(void **state)
{
    uv_timer_stop(&tick);
    return remove_tmpdir(state);
}

/* ---- __org.qgad_timeout and __org.qgad_wait ---- */

/* The deadline kills the whole group: the shell's background sleep is dead too. Its
 * death follows the SIGKILL asynchronously, so this polls for it, for 5 s at most (and
 * skips the check when the deadline came before the shell had started the sleep). */
static void test_timeout_kills_group(void **state)
{
    int64_t pid = exec_ok("{\"path\":\"/bin/sh\",\"arg\":[\"-c\",\"sleep 30 & echo $!; wait\"],"
                          "\"capture-output\":true,\"__org.qgad_timeout\":0.5}");
    cmd_call *call = final_status(pid);
    yajl_val r = cmd_call_result(call);
    assert_int_equal(int_of(r, "signal"), 9);
    assert_true(YAJL_IS_TRUE(json_get(r, "__org.qgad_timed-out")));
    long bg = 0;
    if (has(r, "out-data")) {
        char *out = data_of(r, "out-data", NULL);
        bg = strtol(out, NULL, 10);
        free(out);
    }
    cmd_call_free(call);
    expect_gone(pid);
    if (bg == 0) { /* the shell had not started the sleep yet: nothing to check */
        print_message("killed before the background sleep started (check skipped)\n");
        return;
    }
    bool dead = false;
    for (int i = 0; i < 500 && !(dead = testutil_process_gone((pid_t)bg)); i++)
        uv_sleep(10);
    if (!dead)
        kill((pid_t)bg, SIGKILL);
    assert_true(dead);
}

static void test_timeout_invalid(void **state)
{
    static const char *const bad[] = {"0", "-1", "1e12", "-0.5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char want[96];
        snprintf(want, sizeof(want), "value '%s' is invalid for argument __org.qgad_timeout",
                 bad[i]);
        expect_fail("guest-exec", want, "{\"path\":\"/bin/true\",\"__org.qgad_timeout\":%s}",
                    bad[i]);
    }
}

/* A process that exits well before its timeout reports a normal exit. */
static void test_timeout_not_reached(void **state)
{
    expect_exitcode(exec_ok("{\"path\":\"/bin/true\",\"__org.qgad_timeout\":30}"), 0);
}

/* Starts a status call on pid that waits LONG_WAIT ms. */
static void start_waiter(struct pending *p, int64_t pid)
{
    char args[96];
    snprintf(args, sizeof(args), "{\"pid\":%" PRId64 ",\"__org.qgad_wait\":%s}", pid, LONG_WAIT);
    pending_start(p, "guest-exec-status", args);
}

/* A `sleep 30` and a status call *p waiting for it (still waiting after a loop turn). */
static int64_t sleeper_waited(struct pending *p)
{
    int64_t pid = exec_ok("{\"path\":\"sleep\",\"arg\":[\"30\"]}");
    start_waiter(p, pid);
    uv_run(uv_default_loop(), UV_RUN_NOWAIT);
    assert_false(p->done);
    return pid;
}

/* A waiting status call is answered by the exit, not by its timer: the call is waiting
 * (started, not delivered) before the test ends the process. */
static void test_wait_returns_at_exit(void **state)
{
    struct pending p;
    int64_t pid = sleeper_waited(&p);
    uint64_t t0 = uv_hrtime();
    assert_int_equal(kill((pid_t)pid, SIGTERM), 0);
    cmd_call *call = pending_finish(&p);
    assert_true(uv_hrtime() - t0 < 15 * 1000000000ull);
    assert_null(testutil_desc(call));
    yajl_val r = cmd_call_result(call);
    assert_true(YAJL_IS_TRUE(json_get(r, "exited")));
    assert_int_equal(int_of(r, "signal"), SIGTERM);
    cmd_call_free(call);
    expect_gone(pid);
}

static void test_wait_negative(void **state)
{
    int64_t pid = exec_ok("{\"path\":\"/bin/true\"}");
    expect_fail("guest-exec-status", "value '-1' is invalid for argument __org.qgad_wait",
                "{\"pid\":%" PRId64 ",\"__org.qgad_wait\":-1}", pid);
    expect_exitcode(pid, 0); /* the refused call left the record alone */
}

/* Waiters are answered in arrival order: the first gets the status, the later ones find
 * the record gone; beyond QGAD_EXEC_MAX_WAITERS a status call does not wait. */
static void test_waiters_in_order_and_capped(void **state)
{
    int64_t pid = exec_ok("{\"path\":\"sleep\",\"arg\":[\"30\"]}");
    static struct pending w[QGAD_EXEC_MAX_WAITERS];
    for (int i = 0; i < QGAD_EXEC_MAX_WAITERS; i++)
        start_waiter(&w[i], pid);
    expect_running(pid, LONG_WAIT); /* one too many: answered at once */
    for (int i = 0; i < QGAD_EXEC_MAX_WAITERS; i++)
        assert_false(w[i].done);

    assert_int_equal(kill((pid_t)pid, SIGTERM), 0);
    cmd_call *first = pending_finish(&w[0]);
    assert_null(testutil_desc(first));
    assert_int_equal(int_of(cmd_call_result(first), "signal"), SIGTERM);
    cmd_call_free(first);
    char gone[64];
    snprintf(gone, sizeof(gone), "PID %" PRId64 " does not exist", pid);
    for (int i = 1; i < QGAD_EXEC_MAX_WAITERS; i++) {
        cmd_call *call = pending_finish(&w[i]);
        assert_non_null(testutil_desc(call));
        assert_string_equal(testutil_desc(call), gone);
        cmd_call_free(call);
    }
}

/* A waiter nobody listens to any more (a sync or a disconnect detached it) is answered
 * "not exited" at the exit and leaves the status to the next status call. */
static void test_detached_waiter_keeps_status(void **state)
{
    int64_t pid = exec_ok("{\"path\":\"sleep\",\"arg\":[\"30\"]}");
    struct pending dropped, next;
    start_waiter(&dropped, pid);
    start_waiter(&next, pid);
    cmd_call_detach(dropped.call);
    orphan_done = false;

    assert_int_equal(kill((pid_t)pid, SIGTERM), 0);
    cmd_call *call = pending_finish(&next);
    assert_null(testutil_desc(call));
    yajl_val r = cmd_call_result(call);
    assert_int_equal(int_of(r, "signal"), SIGTERM);
    cmd_call_free(call);
    assert_true(cmd_call_finished(dropped.call));
    assert_null(testutil_desc(dropped.call));
    assert_true(YAJL_IS_FALSE(json_get(cmd_call_result(dropped.call), "exited")));
    run_until(&orphan_done); /* its on_done still runs, with no owner */
    cmd_call_free(dropped.call);
    expect_gone(pid);

    /* alone, the detached waiter leaves the whole status in place */
    pid = exec_ok("{\"path\":\"sleep\",\"arg\":[\"30\"]}");
    start_waiter(&dropped, pid);
    cmd_call_detach(dropped.call);
    orphan_done = false;
    assert_int_equal(kill((pid_t)pid, SIGTERM), 0);
    call = final_status(pid);
    assert_int_equal(int_of(cmd_call_result(call), "signal"), SIGTERM);
    cmd_call_free(call);
    assert_true(cmd_call_finished(dropped.call));
    assert_true(YAJL_IS_FALSE(json_get(cmd_call_result(dropped.call), "exited")));
    run_until(&orphan_done);
    cmd_call_free(dropped.call);
    expect_gone(pid);
}

/* ---- the process cap ---- */

/* Finished but uncollected processes count: the third exec is refused until one of the
 * two is collected. */
static void test_process_cap(void **state)
{
    cmd_settings.max_exec_processes = 2;
    int64_t a = exec_ok("{\"path\":\"/bin/true\"}");
    int64_t b = exec_ok("{\"path\":\"/bin/true\"}");
    expect_fail("guest-exec",
                "too many guest-exec processes: the limit is 2 (collect finished ones with "
                "guest-exec-status)",
                "{\"path\":\"/bin/true\"}");
    expect_exitcode(a, 0);
    int64_t c = exec_ok("{\"path\":\"/bin/true\"}");
    cmd_settings.max_exec_processes = QGAD_DEFAULT_MAX_EXEC_PROCESSES;
    expect_exitcode(b, 0);
    expect_exitcode(c, 0);
}

/* ---- agent exit ---- */

/* cmd_exec_release_all answers a waiting status call {"exited": false} and forgets the
 * record; the process is left running (the test kills and reaps it). */
static void test_release_all_answers_waiter(void **state)
{
    struct pending p;
    int64_t pid = sleeper_waited(&p);
    cmd_exec_release_all();
    cmd_call *call = pending_finish(&p);
    assert_null(testutil_desc(call));
    yajl_val r = cmd_call_result(call);
    assert_int_equal(r->u.object.len, 1);
    assert_true(YAJL_IS_FALSE(json_get(r, "exited")));
    cmd_call_free(call);
    assert_int_equal(kill((pid_t)pid, 0), 0); /* still running */
    expect_gone(pid);
    kill_and_reap(pid);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_true_exits_0),
        cmocka_unit_test(test_exitcode_3),
        cmocka_unit_test(test_killed_by_signal_9),
        cmocka_unit_test(test_running_reports_not_exited),
        cmocka_unit_test(test_record_removed_after_report),
        cmocka_unit_test(test_unknown_pid),
        cmocka_unit_test(test_capture_absent_is_none),
        cmocka_unit_test(test_capture_none),
        cmocka_unit_test(test_capture_stdout),
        cmocka_unit_test(test_capture_stderr),
        cmocka_unit_test(test_capture_separated),
        cmocka_unit_test(test_capture_merged),
        cmocka_unit_test(test_capture_true_is_separated),
        cmocka_unit_test(test_capture_false_is_none),
        cmocka_unit_test(test_capture_empty_streams_omitted),
        cmocka_unit_test(test_capture_large_output),
        cmocka_unit_test_teardown(test_capture_budget_truncates, restore_settings),
        cmocka_unit_test(test_input_reaches_stdin),
        cmocka_unit_test(test_no_input_is_dev_null),
        cmocka_unit_test(test_input_invalid_base64),
        cmocka_unit_test_setup_teardown(test_path_from_env, make_tmpdir, remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_missing_program, make_tmpdir, remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_long_path_searched_off_loop, make_tmpdir,
                                        stop_tick_remove_tmpdir),
        cmocka_unit_test(test_timeout_kills_group),
        cmocka_unit_test(test_timeout_invalid),
        cmocka_unit_test(test_timeout_not_reached),
        cmocka_unit_test(test_wait_returns_at_exit),
        cmocka_unit_test(test_wait_negative),
        cmocka_unit_test(test_waiters_in_order_and_capped),
        cmocka_unit_test(test_detached_waiter_keeps_status),
        cmocka_unit_test_teardown(test_process_cap, restore_settings),
        cmocka_unit_test(test_release_all_answers_waiter),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
