/* Loop stall check for test builds (-DQGAD_LOOP_STALL_CHECK=ON): times the callback work of
 * every loop iteration, split at marks, and reports any stretch over a threshold by label.
 * Without the option every call here compiles to nothing, so call sites need no #ifdef. */
#ifndef QGAD_BASE_LOOPMON_H
#define QGAD_BASE_LOOPMON_H

#include <stddef.h>
#include <uv.h>

#ifdef QGAD_LOOP_STALL_CHECK

/* Starts timing loop (uv_prepare + uv_check handles, unref'd; the time blocked in poll is
 * not counted). Env: QGAD_STALL_MS the threshold (default 20), QGAD_STALL_REPORT a file
 * that gets "stall <ms> ms in <label>" per stall (default: a warning in the log). */
void loopmon_start(uv_loop_t *loop);
/* Checks the open segment and closes the handles (they need one more loop turn). */
void loopmon_stop(void);
/* Loop thread only: from here on the loop works on `what` (copied, capped). NULL: the
 * callback that marked has returned, so what follows is an "unlabelled callback". */
void loopmon_mark(const char *what);
/* The same with a printf label, formatted straight into the fixed label buffer. */
void loopmon_mark_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The segment that just ended was parsing one message of that size: over 1 MiB it may
 * exceed the threshold (reported as an exempt parse at debug level, not as a stall). */
void loopmon_mark_parsed(size_t message_bytes);

#else

static inline void loopmon_start(uv_loop_t *loop)
{
    (void)loop;
}
static inline void loopmon_stop(void) {}
static inline void loopmon_mark(const char *what)
{
    (void)what;
}
static inline __attribute__((format(printf, 1, 2))) void loopmon_mark_fmt(const char *fmt, ...)
{
    (void)fmt;
}
static inline void loopmon_mark_parsed(size_t message_bytes)
{
    (void)message_bytes;
}

#endif

#endif
