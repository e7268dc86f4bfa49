/* Logging with upstream's line format: "<unix-seconds>.<usec>: <level>: <message>".
 * Cross-cutting: every layer may log. While frozen, lines go to a memory ring that is
 * flushed after thaw (a log file on a frozen filesystem would block the agent). */
#ifndef QGAD_BASE_LOG_H
#define QGAD_BASE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level {
    LOG_LVL_ERROR = 1 << 0,
    LOG_LVL_CRITICAL = 1 << 1,
    LOG_LVL_WARNING = 1 << 2,
    LOG_LVL_MESSAGE = 1 << 3,
    LOG_LVL_INFO = 1 << 4,
    LOG_LVL_DEBUG = 1 << 5,
};

/* path NULL: stderr. Returns 0 or -errno (the file is opened append, close-on-exec). */
int log_open(const char *path, bool verbose);
void log_close(void);
/* SIGHUP (logrotate): the log file is opened again at its path, so lines go to the new
 * file; while suspended that happens on resume. stderr is left alone. 0 or -errno (the
 * old file stays in use). */
int log_reopen(void);
/* While frozen: keep lines in memory (bounded ring), write them on resume. */
void log_suspend(void);
void log_resume(void);

void log_emit(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Audit line for a mutating command: syslog(LOG_INFO) and the log, never filtered by -v.
 * Callers must never pass secrets (passwords, file contents, env values, input data). */
void log_audit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Rate limit (a host can make the agent log: parse errors with -v, warnings, audit
 * lines). Lines that pass the level mask are charged to a token bucket of their class
 * (base/limits.h): debug/info/message share one, warning/error/critical have their own
 * (a debug flood never hides an error), each a burst of QGAD_LOG_BURST lines then
 * QGAD_LOG_PER_SEC a second. A line over the limit is dropped before it is even formatted
 * and counted; the count is written as a warning "<N> log lines suppressed (rate limit)"
 * (never masked) by the first line after it once lines of that class flow again (the
 * bucket refills within a second), at most once a second per class, and at log_close().
 * Audit lines have a third, larger bucket (QGAD_LOG_AUDIT_BURST, then
 * QGAD_LOG_AUDIT_PER_SEC a second): an admin's audit trail should survive a busy host,
 * but a hostile one must not fill /var/log through syslog either. An audit line over the
 * limit goes neither to the log nor to syslog, and "<N> audit lines suppressed (rate
 * limit)" goes to both, so the trail says that lines are missing and how many.
 * The check is O(1), under the log lock, on CLOCK_MONOTONIC. The ring kept while
 * suspended holds only lines that passed it. */

/* For tests only: the rate limit's clock (monotonic nanoseconds); NULL restores
 * CLOCK_MONOTONIC. Every bucket is full again. */
void log_set_clock_for_test(uint64_t (*now_ns)(void));

/* Host-controlled text in a log line goes through log_str: control characters, DEL, '\'
 * and quotes become \xNN, and only its first LOG_STR_MAX bytes are shown, then
 * "...(N bytes)". Reads at most len bytes (pass strlen only when it is cheap to know) or,
 * with len SIZE_MAX, stops at the NUL or after LOG_STR_MAX + 1 bytes ("...(more)").
 * Returns out. */
#define LOG_STR_MAX 256
#define LOG_STR_BUF (LOG_STR_MAX * 4 + 32)
const char *log_str(char out[LOG_STR_BUF], const char *s, size_t len);

#define log_error(...) log_emit(LOG_LVL_ERROR, __VA_ARGS__)
#define log_critical(...) log_emit(LOG_LVL_CRITICAL, __VA_ARGS__)
#define log_warning(...) log_emit(LOG_LVL_WARNING, __VA_ARGS__)
#define log_message(...) log_emit(LOG_LVL_MESSAGE, __VA_ARGS__)
#define log_info(...) log_emit(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_emit(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
