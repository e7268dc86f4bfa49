/* base/loopmon.c: a busy callback is reported by its label, in timers and inside poll;
 * poll's waiting is not (even when a signal cuts it), a big parse is exempt and a short
 * segment is silent. Skips (77) without QGAD_LOOP_STALL_CHECK. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <cmocka.h>

#include "base/loopmon.h"

#ifdef QGAD_LOOP_STALL_CHECK

static char tmpdir[] = "/tmp/qgad-loopmon-XXXXXX";
static char report[256];

/* What the timer callback does once its delay is over. */
struct scenario {
    const char *label; /* marked first, unless NULL */
    unsigned busy_ms;
    unsigned sleep_ms; /* then blocks this long (a slow syscall) */
    size_t parsed;     /* then loopmon_mark_parsed(parsed), unless 0 */
    bool in_poll;      /* played by an async callback (I/O, inside poll) instead of a timer */
    bool unmark;       /* then loopmon_mark(NULL) and as long busy again */
};

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* By CPU time, so a loaded machine that takes the CPU away does not shorten it. */
static void busy_wait(unsigned ms)
{
    uint64_t until = cpu_ns() + (uint64_t)ms * 1000000;
    while (cpu_ns() < until)
        ;
}

static void play(const struct scenario *sc)
{
    if (sc->label)
        loopmon_mark(sc->label);
    busy_wait(sc->busy_ms);
    if (sc->sleep_ms)
        usleep(sc->sleep_ms * 1000);
    if (sc->parsed) {
        loopmon_mark_parsed(sc->parsed);
        loopmon_mark("after the parse");
    }
    if (sc->unmark) {
        loopmon_mark(NULL);
        busy_wait(sc->busy_ms);
    }
}

static void on_timer(uv_timer_t *t)
{
    play(t->data);
}

static void on_async(uv_async_t *a)
{
    play(a->data);
    uv_close((uv_handle_t *)a, NULL);
}

/* Runs one loop with the check on: a timer after delay_ms plays the scenario. Returns the
 * report's text (static). */
static const char *run(const struct scenario *sc, unsigned delay_ms)
{
    static char text[4096];
    uv_loop_t loop;
    uv_timer_t timer;
    uv_async_t async;

    unlink(report);
    assert_int_equal(uv_loop_init(&loop), 0);
    loopmon_start(&loop);
    uv_timer_init(&loop, &timer);
    timer.data = async.data = (void *)sc;
    if (sc->in_poll) {
        uv_async_init(&loop, &async, on_async);
        uv_async_send(&async);
    } else {
        uv_timer_start(&timer, on_timer, delay_ms, 0);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    loopmon_stop();
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);

    text[0] = '\0';
    FILE *f = fopen(report, "r");
    if (f) {
        size_t n = fread(text, 1, sizeof(text) - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    return text;
}

static int setup_all(void **state)
{
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(report, sizeof(report), "%s/stalls.log", tmpdir);
    setenv("QGAD_STALL_REPORT", report, 1);
    return 0;
}

static int teardown_all(void **state)
{
    unlink(report);
    return rmdir(tmpdir);
}

static int setup(void **state)
{
    unsetenv("QGAD_STALL_MS");
    return 0;
}

static void test_busy_callback_is_named(void **state)
{
    const struct scenario sc = {.label = "busy timer", .busy_ms = 40};
    const char *text = run(&sc, 1);
    assert_non_null(strstr(text, "stall "));
    assert_non_null(strstr(text, " ms in busy timer\n"));
    double ms = strtod(text + strlen("stall "), NULL);
    assert_true(ms >= 40 && ms < 1000);
}

/* Blocking (I/O, waiting for a child) is charged wall time: 80 ms asleep is a stall... */
static void test_long_block_is_a_stall(void **state)
{
    const struct scenario sc = {.label = "slow syscall", .sleep_ms = 80};
    assert_non_null(strstr(run(&sc, 1), " ms in slow syscall\n"));
}

/* ...but a block under twice the threshold is not (a preempted lock holder) */
static void test_short_block_is_silent(void **state)
{
    const struct scenario sc = {.label = "brief wait", .sleep_ms = 30};
    assert_string_equal(run(&sc, 1), "");
}

static void test_unmarked_callback_is_unlabelled(void **state)
{
    const struct scenario sc = {.busy_ms = 40};
    assert_non_null(strstr(run(&sc, 1), " ms in unlabelled callback\n"));
}

static void test_waiting_in_poll_is_not_a_stall(void **state)
{
    const struct scenario sc = {.label = "late timer", .busy_ms = 0};
    assert_string_equal(run(&sc, 80), "");
}

static void test_busy_io_callback_is_named(void **state)
{
    const struct scenario sc = {.label = "busy read", .busy_ms = 40, .in_poll = true};
    assert_non_null(strstr(run(&sc, 0), " ms in busy read\n"));
}

static void test_unmarked_io_callback_is_unlabelled(void **state)
{
    const struct scenario sc = {.busy_ms = 40, .in_poll = true};
    assert_non_null(strstr(run(&sc, 0), " ms in unlabelled callback\n"));
}

/* What runs after a marked callback returned is not charged to it. */
static void test_unmark_ends_the_label(void **state)
{
    const struct scenario sc = {.label = "short", .busy_ms = 40, .unmark = true};
    setenv("QGAD_STALL_MS", "30", 1);
    const char *text = run(&sc, 1);
    assert_non_null(strstr(text, " ms in short\n"));
    assert_non_null(strstr(text, " ms in unlabelled callback\n"));
}

static void on_sigchld(int signum) {}

/* A signal cuts epoll_wait short (EINTR) and libuv waits again: still no callback's time. */
static void test_interrupted_wait_is_not_a_stall(void **state)
{
    struct sigaction sa = {.sa_handler = on_sigchld}, old;
    sigaction(SIGCHLD, &sa, &old);
    pid_t pid = fork();
    if (pid == 0) {
        usleep(20000);
        _exit(0);
    }
    const struct scenario sc = {.label = "late timer", .busy_ms = 0};
    const char *text = run(&sc, 80);
    waitpid(pid, NULL, 0);
    sigaction(SIGCHLD, &old, NULL);
    assert_string_equal(text, "");
}

static void test_short_segment_is_silent(void **state)
{
    const struct scenario sc = {.label = "short", .busy_ms = 5};
    assert_string_equal(run(&sc, 1), "");
}

static void test_big_parse_is_exempt(void **state)
{
    const struct scenario sc = {.label = "read conn", .busy_ms = 40, .parsed = 2u << 20};
    assert_string_equal(run(&sc, 1), "");
}

static void test_small_parse_is_a_stall(void **state)
{
    const struct scenario sc = {.label = "read conn", .busy_ms = 40, .parsed = 512u << 10};
    assert_non_null(strstr(run(&sc, 1), " ms in read conn\n"));
}

static void test_threshold_from_env(void **state)
{
    const struct scenario sc = {.label = "short", .busy_ms = 5};
    setenv("QGAD_STALL_MS", "2", 1);
    assert_non_null(strstr(run(&sc, 1), " ms in short\n"));
}

static void test_long_label_is_capped(void **state)
{
    char label[300];
    memset(label, 'x', sizeof(label) - 1);
    label[sizeof(label) - 1] = '\0';
    const struct scenario sc = {.label = label, .busy_ms = 40};
    const char *text = run(&sc, 1);
    assert_non_null(strstr(text, " ms in xxxx"));
    assert_true(strlen(text) < 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_busy_callback_is_named, setup),
        cmocka_unit_test_setup(test_long_block_is_a_stall, setup),
        cmocka_unit_test_setup(test_short_block_is_silent, setup),
        cmocka_unit_test_setup(test_unmarked_callback_is_unlabelled, setup),
        cmocka_unit_test_setup(test_waiting_in_poll_is_not_a_stall, setup),
        cmocka_unit_test_setup(test_busy_io_callback_is_named, setup),
        cmocka_unit_test_setup(test_unmarked_io_callback_is_unlabelled, setup),
        cmocka_unit_test_setup(test_interrupted_wait_is_not_a_stall, setup),
        cmocka_unit_test_setup(test_unmark_ends_the_label, setup),
        cmocka_unit_test_setup(test_short_segment_is_silent, setup),
        cmocka_unit_test_setup(test_big_parse_is_exempt, setup),
        cmocka_unit_test_setup(test_small_parse_is_a_stall, setup),
        cmocka_unit_test_setup(test_threshold_from_env, setup),
        cmocka_unit_test_setup(test_long_label_is_capped, setup),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}

#else

int main(void)
{
    puts("loop stall check not built (-DQGAD_LOOP_STALL_CHECK=ON): skipped");
    return 77;
}

#endif
