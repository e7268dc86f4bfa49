/* platform/child.c against real processes: the asynchronous start, capture, merged, caps
 * and budget, deadline and group kill, stdin data, start failures, PATH lookup, the child's
 * session, signals, cwd and env, reaping; again on the uv_spawn fallback. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <cmocka.h>

#include "platform/child.h"
#include "platform/spawn.h"
#include "proc_testutil.h"

struct run {
    bool started, done;
    int start_rc;
    pid_t pid;                    /* at started */
    struct plat_child_result res; /* copied in done; streams copied too */
    char *out, *err;
};

static void on_done(struct plat_child *child, void *data)
{
    struct run *r = data;
    const struct plat_child_result *res = plat_child_result(child);
    assert_true(r->started);
    assert_int_equal(r->start_rc, 0);
    r->res = *res;
    r->out = malloc(res->out.len + 1);
    memcpy(r->out, res->out.data ? res->out.data : "", res->out.len);
    r->out[res->out.len] = 0;
    r->err = malloc(res->err.len + 1);
    memcpy(r->err, res->err.data ? res->err.data : "", res->err.len);
    r->err[res->err.len] = 0;
    r->done = true;
    plat_child_free(child, false);
}

static void on_started(struct plat_child *child, int rc, void *data)
{
    struct run *r = data;
    assert_false(r->started);
    assert_false(r->done);
    r->started = true;
    r->start_rc = rc;
    r->pid = rc == 0 ? (pid_t)plat_child_pid(child) : 0;
    if (rc == 0)
        assert_true(r->pid > 0);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Runs the loop until r->done (fails after 20 s), then until every handle is closed. */
static void run_until_done(struct run *r)
{
    double end = now_s() + 20;
    while (!r->done) {
        assert_true(now_s() < end);
        uv_run(uv_default_loop(), UV_RUN_ONCE);
    }
    uv_run(uv_default_loop(), UV_RUN_NOWAIT);
}

static int spawn_async(struct run *r, struct plat_child_opts *o, struct plat_child **child)
{
    memset(r, 0, sizeof(*r));
    return plat_child_spawn(o, on_started, on_done, r, child);
}

/* Spawns and runs the loop until started: returns the spawn's or the start's rc (the
 * record is gone after a failed start: *child is then NULL). */
static int spawn(struct run *r, struct plat_child_opts *o, struct plat_child **child)
{
    struct plat_child *c = NULL;
    int rc = spawn_async(r, o, &c);
    double end = now_s() + 20;
    while (rc == 0 && !r->started) {
        assert_true(now_s() < end);
        uv_run(uv_default_loop(), UV_RUN_ONCE);
    }
    if (rc == 0)
        rc = r->start_rc;
    if (child)
        *child = rc == 0 ? c : NULL;
    return rc;
}

static void run_free(struct run *r)
{
    free(r->out);
    free(r->err);
}

static void test_separated(void **state)
{
    const char *argv[] = {"sh", "-c", "printf out1; printf err1 >&2; printf out2; exit 3", NULL};
    struct plat_child_opts o = {
        .path = "sh", .argv = argv, .out = PLAT_CHILD_CAPTURE, .err = PLAT_CHILD_CAPTURE};
    struct run r;
    assert_int_equal(spawn(&r, &o, NULL), 0);
    run_until_done(&r);
    assert_true(r.res.exited);
    assert_int_equal(r.res.exit_code, 3);
    assert_int_equal(r.res.signal, 0);
    assert_string_equal(r.out, "out1out2");
    assert_string_equal(r.err, "err1");
    assert_false(r.res.out.truncated);
    run_free(&r);
}

static void test_merged_order(void **state)
{
    const char *argv[] = {"sh", "-c", "printf a; printf b >&2; printf c; printf d >&2; printf e",
                          NULL};
    struct plat_child_opts o = {
        .path = "/bin/sh", .argv = argv, .out = PLAT_CHILD_CAPTURE, .err = PLAT_CHILD_TO_STDOUT};
    struct run r;
    assert_int_equal(spawn(&r, &o, NULL), 0);
    run_until_done(&r);
    assert_string_equal(r.out, "abcde");
    assert_int_equal(r.res.err.len, 0);
    run_free(&r);
}

static void test_only_stderr(void **state)
{
    const char *argv[] = {"sh", "-c", "printf out; printf err >&2", NULL};
    struct plat_child_opts o = {
        .path = "sh", .argv = argv, .out = PLAT_CHILD_DISCARD, .err = PLAT_CHILD_CAPTURE};
    struct run r;
    assert_int_equal(spawn(&r, &o, NULL), 0);
    run_until_done(&r);
    assert_string_equal(r.err, "err");
    assert_int_equal(r.res.out.len, 0);
    run_free(&r);
}

static void test_cap_and_budget(void **state)
{
    const char *argv[] = {"head", "-c", "300000", "/dev/zero", NULL};
    struct plat_child_opts o = {
        .path = "head", .argv = argv, .out = PLAT_CHILD_CAPTURE, .cap = 100000};
    struct run r;
    assert_int_equal(spawn(&r, &o, NULL), 0);
    run_until_done(&r);
    assert_int_equal(r.res.out.len, 100000);
    assert_true(r.res.out.truncated);
    assert_int_equal(r.res.exit_code, 0);
    run_free(&r);

    /* exactly the cap: not truncated */
    const char *argv2[] = {"head", "-c", "100000", "/dev/zero", NULL};
    o.argv = argv2;
    assert_int_equal(spawn(&r, &o, NULL), 0);
    run_until_done(&r);
    assert_int_equal(r.res.out.len, 100000);
    assert_false(r.res.out.truncated);
    run_free(&r);

    /* a shared budget below the cap, given back on free */
    struct plat_child_budget budget = {.limit = 5000};
    o.budget = &budget;
    assert_int_equal(spawn(&r, &o, NULL), 0);
    run_until_done(&r);
    assert_int_equal(r.res.out.len, 5000);
    assert_true(r.res.out.truncated);
    assert_int_equal(budget.used, 0);
    run_free(&r);
}

static void test_deadline_kills_group(void **state)
{
    /* the grandchild holds stdout: only a group kill ends it before 30 s */
    const char *argv[] = {"sh", "-c", "sleep 30 & echo $!; sleep 30", NULL};
    struct plat_child_opts o = {
        .path = "sh", .argv = argv, .out = PLAT_CHILD_CAPTURE, .timeout_ms = 300};
    struct run r;
    struct plat_child *c;
    double t0 = now_s();
    assert_int_equal(spawn(&r, &o, &c), 0);
    pid_t pid = (pid_t)plat_child_pid(c);
    assert_int_equal(getpgid(pid), pid); /* own group ... */
    assert_int_equal(getsid(pid), pid);  /* ... and session */
    run_until_done(&r);
    double took = now_s() - t0;
    assert_true(r.res.timed_out);
    assert_false(r.res.exited);
    assert_int_equal(r.res.signal, SIGKILL);
    assert_true(took < 1.8); /* group kill, not the 2 s grace */
    pid_t grandchild = (pid_t)atoi(r.out);
    assert_true(grandchild > 0);
    double end = now_s() + 5;
    while (!testutil_process_gone(grandchild) && now_s() < end)
        usleep(10000);
    assert_true(testutil_process_gone(grandchild));
    /* reaped by libuv: no zombie left for us */
    assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
    run_free(&r);
}

static void test_escaped_grandchild_grace(void **state)
{
    /* a descendant that left the group keeps the pipe open: the grace period ends it */
    const char *argv[] = {"sh", "-c", "setsid sleep 5 & sleep 30", NULL};
    struct plat_child_opts o = {
        .path = "sh", .argv = argv, .out = PLAT_CHILD_CAPTURE, .timeout_ms = 100};
    struct run r;
    double t0 = now_s();
    assert_int_equal(spawn(&r, &o, NULL), 0);
    run_until_done(&r);
    assert_true(now_s() - t0 < 4);
    assert_true(r.res.timed_out);
    assert_int_equal(r.res.signal, SIGKILL);
    run_free(&r);
}

static void test_stdin_data(void **state)
{
    static const char data[] = "line1\nline2\0binary";
    const char *argv[] = {"cat", NULL};
    struct plat_child_opts o = {.path = "cat",
                                .argv = argv,
                                .out = PLAT_CHILD_CAPTURE,
                                .input = data,
                                .input_len = sizeof(data) - 1,
                                .has_input = true};
    struct run r;
    assert_int_equal(spawn(&r, &o, NULL), 0);
    run_until_done(&r);
    assert_int_equal(r.res.out.len, sizeof(data) - 1);
    assert_memory_equal(r.out, data, sizeof(data) - 1);
    run_free(&r);

    /* empty input: EOF at once; no input: /dev/null */
    o.input_len = 0;
    assert_int_equal(spawn(&r, &o, NULL), 0);
    run_until_done(&r);
    assert_int_equal(r.res.out.len, 0);
    assert_int_equal(r.res.exit_code, 0);
    run_free(&r);
    o.has_input = false;
    assert_int_equal(spawn(&r, &o, NULL), 0);
    run_until_done(&r);
    assert_int_equal(r.res.out.len, 0);
    run_free(&r);
}

static void test_big_input_unread(void **state)
{
    /* the child exits without reading 4 MiB of input: EPIPE, not our death */
    size_t n = 4u << 20;
    char *data = calloc(1, n);
    const char *argv[] = {"true", NULL};
    struct plat_child_opts o = {
        .path = "true", .argv = argv, .input = data, .input_len = n, .has_input = true};
    struct run r;
    assert_int_equal(spawn(&r, &o, NULL), 0);
    free(data);
    run_until_done(&r);
    assert_true(r.res.exited);
    assert_int_equal(r.res.exit_code, 0);
    run_free(&r);
}

static void test_spawn_failures(void **state)
{
    const char *argv[] = {"x", NULL};
    struct plat_child_opts o = {.path = "/nonexistent/qgad-nope", .argv = argv};
    struct run r;
    assert_int_equal(spawn(&r, &o, NULL), -ENOENT);
    o.path = "qgad-no-such-program-42";
    assert_int_equal(spawn(&r, &o, NULL), -ENOENT);

    char tmpl[] = "/tmp/qgad-child-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    close(fd);
    chmod(tmpl, 0644);
    o.path = tmpl;
    int rc = spawn(&r, &o, NULL);
    unlink(tmpl);
    assert_int_equal(rc, -EACCES);
    uv_run(uv_default_loop(), UV_RUN_NOWAIT); /* the failed handle's close */
    assert_false(r.done);

    /* found and executable, but exec (or chdir) fails: the same through started */
    o.path = "/tmp"; /* a directory */
    assert_int_equal(spawn(&r, &o, NULL), -EACCES);
    const char *argv_true[] = {"true", NULL};
    o.path = "/bin/true";
    o.argv = argv_true;
    o.cwd = "/nonexistent/qgad-dir";
    assert_int_equal(spawn(&r, &o, NULL), -ENOENT);
    uv_run(uv_default_loop(), UV_RUN_NOWAIT);
    assert_false(r.done);

    /* bad arguments: at once, nothing started */
    o.argv = NULL;
    assert_int_equal(spawn_async(&r, &o, NULL), -EINVAL);
    assert_false(r.started);
}

static void test_path_lookup(void **state)
{
    int err = 0;
    const char *env_path[] = {"FOO=bar", "PATH=/nonexistent:/usr/bin", NULL};
    char *p = plat_child_find_program("env", env_path, &err);
    assert_non_null(p);
    assert_string_equal(p, "/usr/bin/env");
    free(p);

    const char *env_nopath[] = {"FOO=bar", NULL};
    p = plat_child_find_program("sh", env_nopath, &err); /* falls back to ours */
    assert_non_null(p);
    free(p);

    const char *env_bad[] = {"PATH=/nonexistent", NULL};
    assert_null(plat_child_find_program("sh", env_bad, &err));
    assert_int_equal(err, -ENOENT);

    /* env replaces the environment */
    const char *argv[] = {"env", NULL};
    struct plat_child_opts o = {
        .path = "env", .argv = argv, .env = env_path, .out = PLAT_CHILD_CAPTURE};
    struct run r;
    assert_int_equal(spawn(&r, &o, NULL), 0);
    run_until_done(&r);
    assert_string_equal(r.out, "FOO=bar\nPATH=/nonexistent:/usr/bin\n");
    run_free(&r);
}

static void test_child_signal_state(void **state)
{
    /* we ignore SIGPIPE (plat_child_spawn makes sure of it); the child must not */
    const char *argv[] = {"grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status", NULL};
    struct plat_child_opts o = {.path = "grep", .argv = argv, .out = PLAT_CHILD_CAPTURE};
    struct run r;
    assert_int_equal(spawn(&r, &o, NULL), 0);
    run_until_done(&r);
    assert_int_equal(signal(SIGPIPE, SIG_IGN), SIG_IGN);
    unsigned long long blk = ~0ull, ign = ~0ull;
    const char *b = strstr(r.out, "SigBlk:");
    const char *i = strstr(r.out, "SigIgn:");
    assert_non_null(b);
    assert_non_null(i);
    blk = strtoull(b + 7, NULL, 16);
    ign = strtoull(i + 7, NULL, 16);
    assert_int_equal(ign & (1ull << (SIGPIPE - 1)), 0);
    assert_int_equal(blk, 0);
    run_free(&r);
}

static void test_kill_signal(void **state)
{
    const char *argv[] = {"sh", "-c", "kill -9 $$", NULL};
    struct plat_child_opts o = {
        .path = "sh", .argv = argv, .out = PLAT_CHILD_CAPTURE, .err = PLAT_CHILD_CAPTURE};
    struct run r;
    assert_int_equal(spawn(&r, &o, NULL), 0);
    run_until_done(&r);
    assert_false(r.res.exited);
    assert_int_equal(r.res.signal, 9);
    assert_false(r.res.timed_out);
    run_free(&r);
}

static void test_free_running(void **state)
{
    /* freed while running with kill_group: killed and still reaped, done never called */
    const char *argv[] = {"sleep", "30", NULL};
    struct plat_child_opts o = {.path = "sleep", .argv = argv, .out = PLAT_CHILD_CAPTURE};
    struct run r;
    struct plat_child *c;
    assert_int_equal(spawn(&r, &o, &c), 0);
    pid_t pid = (pid_t)plat_child_pid(c);
    plat_child_free(c, true);
    double end = now_s() + 5;
    while (uv_loop_alive(uv_default_loop()) && now_s() < end)
        uv_run(uv_default_loop(), UV_RUN_ONCE);
    assert_false(uv_loop_alive(uv_default_loop()));
    assert_false(r.done);
    assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

static void test_async_start(void **state)
{
    const char *argv[] = {"sh", "-c", "exit 7", NULL};
    struct plat_child_opts o = {.path = "sh", .argv = argv};
    struct run r;
    struct plat_child *c = NULL;
    assert_int_equal(spawn_async(&r, &o, &c), 0);
    assert_non_null(c);
    assert_false(r.started); /* on a later loop turn */
    assert_int_equal(plat_child_pid(c), 0);
    assert_false(plat_child_finished(c));
    run_until_done(&r); /* on_done checks that started came first */
    assert_true(r.pid > 0);
    assert_int_equal(r.res.pid, r.pid);
    assert_int_equal(r.res.exit_code, 7);
    run_free(&r);
}

/* Runs the loop until nothing is left in it (5 s at most). */
static void drain_loop(void)
{
    double end = now_s() + 5;
    while (uv_loop_alive(uv_default_loop()) && now_s() < end)
        uv_run(uv_default_loop(), UV_RUN_ONCE);
    assert_false(uv_loop_alive(uv_default_loop()));
}

static void test_free_before_started(void **state)
{
    /* kill_group: killed and reaped once it exists; neither callback runs */
    const char *argv[] = {"sleep", "30", NULL};
    struct plat_child_opts o = {.path = "sleep", .argv = argv, .out = PLAT_CHILD_CAPTURE};
    struct run r;
    struct plat_child *c;
    assert_int_equal(spawn_async(&r, &o, &c), 0);
    plat_child_free(c, true);
    drain_loop();
    assert_false(r.started);
    assert_false(r.done);
    siginfo_t info;
    assert_int_equal(waitid(P_ALL, 0, &info, WEXITED | WNOHANG), -1); /* no child at all */
    assert_int_equal(errno, ECHILD);

    /* without: left running, not watched (so ours to reap here) */
    const char *argv2[] = {"sh", "-c", "sleep 0.1; exit 5", NULL};
    o.argv = argv2;
    o.path = "sh";
    assert_int_equal(spawn_async(&r, &o, &c), 0);
    plat_child_free(c, false);
    drain_loop();
    assert_false(r.started);
    int status = 0;
    assert_true(waitpid(-1, &status, 0) > 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 5);
}

static void test_own_session(void **state)
{
    const char *argv[] = {"sleep", "30", NULL};
    struct plat_child_opts o = {.path = "sleep", .argv = argv};
    struct run r;
    struct plat_child *c;
    assert_int_equal(spawn(&r, &o, &c), 0);
    pid_t pid = (pid_t)plat_child_pid(c);
    assert_int_equal(getsid(pid), pid);
    assert_int_equal(getpgid(pid), pid);
    assert_true(getsid(0) != pid);
    plat_child_free(c, true);
    drain_loop();
}

static void test_sigpipe_default(void **state)
{
    /* SIGPIPE at its default action kills; ignored (as in the agent) it would not */
    const char *argv[] = {"sh", "-c", "kill -PIPE $$; exit 0", NULL};
    struct plat_child_opts o = {.path = "sh", .argv = argv};
    struct run r;
    assert_int_equal(spawn(&r, &o, NULL), 0);
    run_until_done(&r);
    assert_false(r.res.exited);
    assert_int_equal(r.res.signal, SIGPIPE);
    run_free(&r);
}

static void test_cwd_and_env(void **state)
{
    const char *argv[] = {"sh", "-c", "pwd; env", NULL};
    const char *env[] = {"QGAD_A=1", "QGAD_B=two words", NULL};
    struct plat_child_opts o = {.path = "/bin/sh",
                                .argv = argv,
                                .env = env,
                                .cwd = "/usr/share",
                                .out = PLAT_CHILD_CAPTURE};
    struct run r;
    assert_int_equal(spawn(&r, &o, NULL), 0);
    run_until_done(&r);
    assert_int_equal(strncmp(r.out, "/usr/share\n", 11), 0);
    assert_non_null(strstr(r.out, "\nQGAD_A=1\n"));
    assert_non_null(strstr(r.out, "\nQGAD_B=two words\n"));
    assert_null(strstr(r.out, "\nHOME=")); /* replaced, not added to */
    run_free(&r);

    o.env = NULL; /* inherited */
    setenv("QGAD_INHERITED", "yes", 1);
    assert_int_equal(spawn(&r, &o, NULL), 0);
    run_until_done(&r);
    assert_non_null(strstr(r.out, "\nQGAD_INHERITED=yes\n"));
    unsetenv("QGAD_INHERITED");
    run_free(&r);
}

static void test_script_without_shebang(void **state)
{
    /* ENOEXEC: run by /bin/sh, as execvp (and so uv_spawn) did */
    char tmpl[] = "/tmp/qgad-script-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "echo \"script $1\"\n", 17), 17);
    close(fd);
    chmod(tmpl, 0755);
    const char *argv[] = {tmpl, "arg1", NULL};
    struct plat_child_opts o = {.path = tmpl, .argv = argv, .out = PLAT_CHILD_CAPTURE};
    struct run r;
    int rc = spawn(&r, &o, NULL);
    if (rc == 0)
        run_until_done(&r);
    unlink(tmpl);
    assert_int_equal(rc, 0);
    assert_string_equal(r.out, "script arg1\n");
    run_free(&r);
}

static void test_no_zombie(void **state)
{
    const char *argv[] = {"true", NULL};
    struct plat_child_opts o = {.path = "true", .argv = argv};
    struct run r;
    assert_int_equal(spawn(&r, &o, NULL), 0);
    pid_t pid = r.pid;
    run_until_done(&r);
    siginfo_t info;
    assert_int_equal(waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
    run_free(&r);
}

static int use_uv_spawn(void **state)
{
    spawn_force_uv_path(true);
    return 0;
}

static int use_pidfd(void **state)
{
    spawn_force_uv_path(false);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_separated),
        cmocka_unit_test(test_merged_order),
        cmocka_unit_test(test_only_stderr),
        cmocka_unit_test(test_cap_and_budget),
        cmocka_unit_test(test_deadline_kills_group),
        cmocka_unit_test(test_escaped_grandchild_grace),
        cmocka_unit_test(test_stdin_data),
        cmocka_unit_test(test_big_input_unread),
        cmocka_unit_test(test_spawn_failures),
        cmocka_unit_test(test_path_lookup),
        cmocka_unit_test(test_child_signal_state),
        cmocka_unit_test(test_kill_signal),
        cmocka_unit_test(test_free_running),
        cmocka_unit_test(test_async_start),
        cmocka_unit_test(test_free_before_started),
        cmocka_unit_test(test_own_session),
        cmocka_unit_test(test_sigpipe_default),
        cmocka_unit_test(test_cwd_and_env),
        cmocka_unit_test(test_script_without_shebang),
        cmocka_unit_test(test_no_zombie),
    };
    /* the uv_spawn fallback (kernels without pidfds) */
    const struct CMUnitTest fallback[] = {
        cmocka_unit_test(test_separated),
        cmocka_unit_test(test_merged_order),
        cmocka_unit_test(test_deadline_kills_group),
        cmocka_unit_test(test_stdin_data),
        cmocka_unit_test(test_spawn_failures),
        cmocka_unit_test(test_child_signal_state),
        cmocka_unit_test(test_free_running),
        cmocka_unit_test(test_async_start),
        cmocka_unit_test(test_free_before_started),
        cmocka_unit_test(test_own_session),
        cmocka_unit_test(test_cwd_and_env),
        cmocka_unit_test(test_script_without_shebang),
        cmocka_unit_test(test_no_zombie),
    };
    int rc = cmocka_run_group_tests(tests, use_pidfd, NULL);
    rc += cmocka_run_group_tests_name("uv_spawn fallback", fallback, use_uv_spawn, use_pidfd);
    uv_loop_close(uv_default_loop());
    return rc;
}
