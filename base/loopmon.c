/* The loop stall check: the time between marks is compared with a threshold, so slow work
 * on the loop fails a test. libuv runs I/O callbacks inside poll, after its wait. */
#include "base/loopmon.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/release.h"

#define LOOPMON_LABEL_MAX 96
#define LOOPMON_DEFAULT_LABEL "unlabelled callback"
#define LOOPMON_DEFAULT_MS 20.0
/* A stretch in which the loop thread blocked but worked less than the threshold counts
 * once it lasted this many thresholds (60 ms): sleeping in I/O or for a child that long is
 * a stall; waiting that briefly on a lock whose holder was preempted is the machine's. */
#define LOOPMON_BLOCKED_FACTOR 3u
/* Parsing the message itself is the one work that may grow with host input (DESIGN.md). */
#define LOOPMON_EXEMPT_PARSE_BYTES ((size_t)1 << 20)

static struct {
    uv_loop_t *loop;
    uv_prepare_t prepare;
    uv_check_t check;
    bool running;
    uint64_t threshold_ns;
    int report_fd;
    uint64_t start_ns;             /* of the open segment */
    bool in_poll;                  /* it began at uv_prepare: it holds poll's wait */
    uint64_t start_cpu_ns;         /* the loop thread's CPU time at the segment's start */
    long start_nvcsw;              /* and its voluntary context switches (it blocked) */
    unsigned start_heavy;          /* the pool's frees and trims started then */
    char label[LOOPMON_LABEL_MAX]; /* what the open segment works on */
} mon = {.report_fd = -1};

/* Blocked in epoll_wait the thread uses no CPU. (libuv 1.44's idle-time metric loses the
 * wait when epoll_wait is interrupted, by SIGCHLD say, so it cannot be subtracted.) */
static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The loop thread's CPU time (exact: the scheduler's, not rusage's 4 ms ticks) and its
 * voluntary context switches so far. */
static void thread_usage(uint64_t *cpu_ns, long *nvcsw)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    *nvcsw = ru.ru_nvcsw;
    *cpu_ns = thread_cpu_ns();
}

/* A free or trim in the pool (base/release.c) ran during the open segment, or runs now. */
static bool release_overlapped(void)
{
    unsigned started, finished;
    release_activity(&started, &finished);
    return started != mon.start_heavy || finished != started;
}

static void set_label(const char *what)
{
    size_t n = strnlen(what, sizeof(mon.label) - 1);
    memcpy(mon.label, what, n);
    mon.label[n] = '\0';
}

static void stall_report(double ms)
{
    if (mon.report_fd < 0) {
        log_warning("loop stall: %.1f ms in %s", ms, mon.label);
        return;
    }
    char line[LOOPMON_LABEL_MAX + 48];
    int n = snprintf(line, sizeof(line), "stall %.1f ms in %s\n", ms, mon.label);
    if (n > 0 && write(mon.report_fd, line, (size_t)n) < 0)
        log_warning("loop stall: %.1f ms in %s (report: %s)", ms, mon.label, strerror(errno));
}

/* Closes the open segment (parsed: the size of the message it parsed, or 0) and opens the
 * next one; the time spent reporting is charged to nobody. The segment that holds poll's
 * wait is timed by CPU: it ends at the first callback's mark, so only unmarked callbacks
 * (or libuv itself) can spend its time; a blocking call in those goes unseen. */
static void segment_close(size_t parsed)
{
    uint64_t busy;
    if (mon.in_poll) {
        busy = thread_cpu_ns() - mon.start_cpu_ns;
    } else {
        busy = uv_hrtime() - mon.start_ns;
        if (busy > mon.threshold_ns) {
            /* A loop thread that never blocked was only preempted (the machine was busy):
             * charge it its CPU time. One that blocked (I/O, a lock, a child's exec) is
             * charged the wall time: that is exactly the stall this check is for. */
            uint64_t cpu;
            long nvcsw;
            thread_usage(&cpu, &nvcsw);
            if (nvcsw == mon.start_nvcsw) {
                busy = cpu - mon.start_cpu_ns;
            } else if (cpu - mon.start_cpu_ns <= mon.threshold_ns && release_overlapped()) {
                /* blocked on the allocator lock of a big free or trim in the pool: known,
                 * and left to the memory-budget work (a parse-tree allocator of its own) */
                log_debug("loop: %.1f ms in %s waiting for the allocator (exempt)",
                          (double)busy / 1e6, mon.label);
                busy = 0;
            } else if (cpu - mon.start_cpu_ns <= mon.threshold_ns &&
                       busy <= LOOPMON_BLOCKED_FACTOR * mon.threshold_ns) {
                /* a short block: on a busy machine a lock the pool holds (the threadpool's,
                 * the allocator's, the log's) can keep the loop waiting while its holder is
                 * preempted, which says nothing about the agent */
                log_debug("loop: %.1f ms in %s, blocked (under %u x the threshold)",
                          (double)busy / 1e6, mon.label, LOOPMON_BLOCKED_FACTOR);
                busy = 0;
            }
        }
    }
    if (busy > mon.threshold_ns) {
        double ms = (double)busy / 1e6;
        if (parsed > LOOPMON_EXEMPT_PARSE_BYTES)
            log_debug("loop: %.1f ms in %s parsing a %zu-byte message (exempt)", ms, mon.label,
                      parsed);
        else
            stall_report(ms);
    }
    mon.in_poll = false;
    thread_usage(&mon.start_cpu_ns, &mon.start_nvcsw);
    unsigned finished;
    release_activity(&mon.start_heavy, &finished);
    mon.start_ns = uv_hrtime();
}

/* Iteration boundaries: poll is about to wait, or it has returned (and run the I/O
 * callbacks: threadpool completions, reads, accepts, signals). */
static void on_prepare(uv_prepare_t *h)
{
    segment_close(0);
    set_label(LOOPMON_DEFAULT_LABEL);
    mon.in_poll = true;
    mon.start_cpu_ns = thread_cpu_ns();
}

static void on_check(uv_check_t *h)
{
    segment_close(0);
    set_label(LOOPMON_DEFAULT_LABEL);
}

static uint64_t threshold_from_env(void)
{
    const char *env = getenv("QGAD_STALL_MS");
    char *end;
    double ms = env ? strtod(env, &end) : 0;

    if (!env || end == env || *end || !(ms > 0))
        ms = LOOPMON_DEFAULT_MS;
    return (uint64_t)(ms * 1e6);
}

void loopmon_start(uv_loop_t *loop)
{
    if (mon.running)
        return;
    const char *path = getenv("QGAD_STALL_REPORT");
    mon.report_fd = -1;
    if (path && *path) {
        mon.report_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (mon.report_fd < 0)
            log_warning("loop stall report %s: %s", path, strerror(errno));
    }
    mon.loop = loop;
    mon.threshold_ns = threshold_from_env();
    uv_prepare_init(loop, &mon.prepare);
    uv_check_init(loop, &mon.check);
    uv_prepare_start(&mon.prepare, on_prepare);
    uv_check_start(&mon.check, on_check);
    uv_unref((uv_handle_t *)&mon.prepare);
    uv_unref((uv_handle_t *)&mon.check);
    set_label(LOOPMON_DEFAULT_LABEL);
    mon.running = true;
    mon.in_poll = false;
    mon.start_ns = uv_hrtime();
    log_debug("loop stall check: threshold %.1f ms", (double)mon.threshold_ns / 1e6);
}

void loopmon_stop(void)
{
    if (!mon.running)
        return;
    segment_close(0);
    mon.running = false;
    uv_close((uv_handle_t *)&mon.prepare, NULL);
    uv_close((uv_handle_t *)&mon.check, NULL);
    if (mon.report_fd >= 0)
        close(mon.report_fd);
    mon.report_fd = -1;
}

void loopmon_mark(const char *what)
{
    if (!mon.running)
        return;
    segment_close(0);
    set_label(what ? what : LOOPMON_DEFAULT_LABEL);
}

void loopmon_mark_fmt(const char *fmt, ...)
{
    if (!mon.running)
        return;
    segment_close(0);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(mon.label, sizeof(mon.label), fmt, ap);
    va_end(ap);
}

void loopmon_mark_parsed(size_t message_bytes)
{
    if (mon.running)
        segment_close(message_bytes);
}
