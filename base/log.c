/* Logging (base/log.h). Thread-safe: threadpool work functions may log too. Lines are
 * formatted once and written with a single write(2) so appends from several threads
 * never interleave. While suspended (frozen filesystems) lines go to a bounded ring;
 * the log file itself is not even opened until resume, as it may live on a frozen fs. */
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "base/limits.h"
#include "base/xalloc.h"

#define LOG_MASK_DEFAULT (LOG_LVL_ERROR | LOG_LVL_CRITICAL)
#define LOG_MASK_ALL 0x3f
/* Before log_open() (option parsing) warnings show too, like GLib's default
 * handler does for qemu-ga before its own handler is installed. */
#define LOG_MASK_EARLY (LOG_MASK_DEFAULT | LOG_LVL_WARNING)

struct ring_line {
    struct ring_line *next;
    bool audit;     /* also goes to syslog on resume */
    size_t msg_off; /* where the message starts inside text */
    size_t len;
    char text[]; /* the formatted line, '\n' included */
};

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = STDERR_FILENO;
static bool log_fd_owned;
static unsigned log_mask = LOG_MASK_EARLY;
static bool log_suspended;
static char *log_deferred_path; /* opened on resume */
static char *log_path;          /* the open log file's, for log_reopen() */
static bool log_syslog_open;

static struct ring_line *ring_head, *ring_tail;
static size_t ring_bytes;
static unsigned long ring_dropped;

#define NS_PER_SEC 1000000000ull
#define REPORT_NS ((uint64_t)QGAD_LOG_SUPPRESSED_REPORT_MS * 1000000ull)

/* Rate limit: one token bucket per class (base/limits.h). All under log_lock. */
enum log_class { CLASS_CHATTY, CLASS_PROBLEM, CLASS_AUDIT, CLASS_COUNT };

static const struct class_limit {
    uint64_t burst, per_sec;
    const char *what; /* "<N> <what> lines suppressed" */
} class_limits[CLASS_COUNT] = {
    [CLASS_CHATTY] = {QGAD_LOG_BURST, QGAD_LOG_PER_SEC, "log"},
    [CLASS_PROBLEM] = {QGAD_LOG_BURST, QGAD_LOG_PER_SEC, "log"},
    [CLASS_AUDIT] = {QGAD_LOG_AUDIT_BURST, QGAD_LOG_AUDIT_PER_SEC, "audit"},
};

struct bucket {
    bool primed;             /* false: full, on first use */
    uint64_t credit;         /* NS_PER_SEC per token: refill adds elapsed ns x per_sec */
    uint64_t last_ns;        /* last refill */
    unsigned long dropped;   /* lines dropped since the last report */
    uint64_t next_report_ns; /* reports at most every REPORT_NS */
};

static struct bucket buckets[CLASS_COUNT];

static uint64_t monotonic_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static uint64_t (*log_clock)(void) = monotonic_ns;

static const char *level_name(enum log_level level)
{
    switch (level) {
    case LOG_LVL_ERROR:
        return "error";
    case LOG_LVL_CRITICAL:
        return "critical";
    case LOG_LVL_WARNING:
        return "warning";
    case LOG_LVL_MESSAGE:
        return "message";
    case LOG_LVL_INFO:
        return "info";
    case LOG_LVL_DEBUG:
        return "debug";
    }
    return "unknown";
}

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report it */
        }
        buf += n;
        len -= (size_t)n;
    }
}

/* Makes path the log destination; called with log_lock held. 0 or -errno. */
static int use_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0)
        return -errno;
    log_fd = fd;
    log_fd_owned = true;
    if (path != log_path) {
        free(log_path);
        log_path = xstrdup(path);
    }
    return 0;
}

static void close_current(void)
{
    if (log_fd_owned)
        close(log_fd);
    log_fd = STDERR_FILENO;
    log_fd_owned = false;
    free(log_path);
    log_path = NULL;
}

static void audit_syslog(const char *msg)
{
    if (!log_syslog_open) {
        openlog("qgad", LOG_PID, LOG_DAEMON);
        log_syslog_open = true;
    }
    syslog(LOG_INFO, "%s", msg);
}

static void ring_drop_head(void)
{
    struct ring_line *l = ring_head;

    ring_head = l->next;
    if (!ring_head)
        ring_tail = NULL;
    ring_bytes -= l->len;
    ring_dropped++;
    free(l);
}

/* Called with log_lock held. */
static void ring_push(const char *line, size_t len, size_t msg_off, bool audit)
{
    if (len > QGAD_LOG_RING_BYTES) {
        ring_dropped++;
        return;
    }
    while (ring_head && ring_bytes + len > QGAD_LOG_RING_BYTES)
        ring_drop_head();
    struct ring_line *l = xmalloc(sizeof(*l) + len + 1);
    l->next = NULL;
    l->audit = audit;
    l->msg_off = msg_off;
    l->len = len;
    memcpy(l->text, line, len + 1);
    if (ring_tail)
        ring_tail->next = l;
    else
        ring_head = l;
    ring_tail = l;
    ring_bytes += len;
}

/* "<sec>.<usec>: <level>: <msg>\n"; *msg_off is where <msg> starts. */
static char *format_line(enum log_level level, const char *msg, size_t *len, size_t *msg_off)
{
    struct timeval tv;
    char prefix[64];

    gettimeofday(&tv, NULL);
    snprintf(prefix, sizeof(prefix), "%lld.%06ld: %s: ", (long long)tv.tv_sec, (long)tv.tv_usec,
             level_name(level));
    char *line = xasprintf("%s%s\n", prefix, msg);
    *len = strlen(line);
    *msg_off = strlen(prefix);
    return line;
}

/* Called with log_lock held. */
static void emit(enum log_level level, const char *msg, bool audit)
{
    size_t len, msg_off;
    char *line = format_line(level, msg, &len, &msg_off);

    if (log_suspended) {
        ring_push(line, len, msg_off, audit);
    } else {
        if (audit)
            audit_syslog(msg);
        write_all(log_fd, line, len);
    }
    free(line);
}

static void refill(struct bucket *b, const struct class_limit *lim, uint64_t now)
{
    uint64_t cap = lim->burst * NS_PER_SEC;

    if (!b->primed) {
        b->primed = true;
        b->credit = cap;
        b->last_ns = now;
    }
    if (now <= b->last_ns)
        return;
    uint64_t elapsed = now - b->last_ns;
    b->last_ns = now;
    if (elapsed >= cap / lim->per_sec) { /* also keeps elapsed * per_sec from overflowing */
        b->credit = cap;
        return;
    }
    uint64_t add = elapsed * lim->per_sec;
    b->credit = cap - b->credit > add ? b->credit + add : cap;
}

/* Called with log_lock held: "N log lines suppressed (rate limit)" (audit: also to
 * syslog). Not charged to the bucket, and never masked: the lines it counts were not. */
static void report_suppressed(enum log_class c, uint64_t now)
{
    struct bucket *b = &buckets[c];
    char *msg = xasprintf("%lu %s lines suppressed (rate limit)", b->dropped, class_limits[c].what);

    b->dropped = 0;
    b->next_report_ns = now + REPORT_NS;
    emit(LOG_LVL_WARNING, msg, c == CLASS_AUDIT);
    free(msg);
}

/* Called with log_lock held. A pending count is written once lines of its class flow
 * again (after a second at most, as the bucket refills), at most once a second. */
static void report_due(enum log_class c, uint64_t now)
{
    struct bucket *b = &buckets[c];

    refill(b, &class_limits[c], now);
    if (b->dropped && now >= b->next_report_ns && b->credit >= NS_PER_SEC)
        report_suppressed(c, now);
}

/* Called with log_lock held: whether a line of class c may be written now. O(1), no
 * allocation unless a report is due. */
static bool rate_allow(enum log_class c)
{
    uint64_t now = log_clock();
    struct bucket *b = &buckets[c];

    for (enum log_class o = 0; o < CLASS_COUNT; o++)
        report_due(o, now);
    if (b->credit >= NS_PER_SEC) {
        b->credit -= NS_PER_SEC;
        return true;
    }
    b->dropped++;
    return false;
}

static enum log_class class_of(enum log_level level, bool audit)
{
    if (audit)
        return CLASS_AUDIT;
    return level & (LOG_LVL_ERROR | LOG_LVL_CRITICAL | LOG_LVL_WARNING) ? CLASS_PROBLEM
                                                                        : CLASS_CHATTY;
}

/* Called with log_lock held: pending counts are written now (at exit), then the buckets
 * are full again. */
static void rate_reset(void)
{
    for (enum log_class c = 0; c < CLASS_COUNT; c++) {
        if (buckets[c].dropped && !log_suspended)
            report_suppressed(c, log_clock());
    }
    memset(buckets, 0, sizeof(buckets));
}

void log_set_clock_for_test(uint64_t (*now_ns)(void))
{
    pthread_mutex_lock(&log_lock);
    log_clock = now_ns ? now_ns : monotonic_ns;
    memset(buckets, 0, sizeof(buckets));
    pthread_mutex_unlock(&log_lock);
}

const char *log_str(char out[LOG_STR_BUF], const char *s, size_t len)
{
    size_t n = 0, o = 0;
    if (!s)
        s = "(null)";
    for (; n < LOG_STR_MAX && (len == SIZE_MAX ? s[n] != '\0' : n < len); n++) {
        unsigned char c = (unsigned char)s[n];
        if (c < 0x20 || c == 0x7f || c == '\\' || c == '\'' || c == '"')
            o += (size_t)snprintf(out + o, LOG_STR_BUF - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
    if (len != SIZE_MAX && n < len)
        snprintf(out + o, LOG_STR_BUF - o, "...(%zu bytes)", len);
    else if (len == SIZE_MAX && s[n] != '\0')
        snprintf(out + o, LOG_STR_BUF - o, "...(more)");
    return out;
}

int log_open(const char *path, bool verbose)
{
    int ret = 0;

    pthread_mutex_lock(&log_lock);
    __atomic_store_n(&log_mask, verbose ? LOG_MASK_ALL : LOG_MASK_DEFAULT, __ATOMIC_RELAXED);
    free(log_deferred_path);
    log_deferred_path = NULL;
    close_current();
    if (path && log_suspended) {
        log_deferred_path = xstrdup(path);
    } else if (path) {
        ret = use_file(path);
    }
    pthread_mutex_unlock(&log_lock);
    return ret;
}

void log_close(void)
{
    pthread_mutex_lock(&log_lock);
    rate_reset();
    close_current();
    free(log_deferred_path);
    log_deferred_path = NULL;
    while (ring_head)
        ring_drop_head();
    ring_dropped = 0;
    log_suspended = false;
    __atomic_store_n(&log_mask, LOG_MASK_EARLY, __ATOMIC_RELAXED);
    if (log_syslog_open) {
        closelog();
        log_syslog_open = false;
    }
    pthread_mutex_unlock(&log_lock);
}

int log_reopen(void)
{
    int ret = 0;

    pthread_mutex_lock(&log_lock);
    if (log_suspended && log_fd_owned && !log_deferred_path) {
        /* frozen: a file system may be too; reopened on resume */
        log_deferred_path = xstrdup(log_path);
        close_current();
    } else if (log_fd_owned) {
        int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0) {
            ret = -errno; /* keep writing to the file that is open */
        } else {
            close(log_fd);
            log_fd = fd;
        }
    }
    pthread_mutex_unlock(&log_lock);
    return ret;
}

void log_suspend(void)
{
    pthread_mutex_lock(&log_lock);
    log_suspended = true;
    pthread_mutex_unlock(&log_lock);
}

void log_resume(void)
{
    int open_err = 0;

    pthread_mutex_lock(&log_lock);
    if (!log_suspended) {
        pthread_mutex_unlock(&log_lock);
        return;
    }
    log_suspended = false;
    if (log_deferred_path)
        open_err = use_file(log_deferred_path);
    if (open_err) {
        char *msg = xasprintf("cannot open log file %s: %s; logging to stderr", log_deferred_path,
                              strerror(-open_err));
        emit(LOG_LVL_ERROR, msg, false);
        free(msg);
    }
    free(log_deferred_path);
    log_deferred_path = NULL;
    if (ring_dropped) {
        char *msg = xasprintf("%lu log lines dropped while logging was suspended", ring_dropped);
        emit(LOG_LVL_WARNING, msg, false);
        free(msg);
        ring_dropped = 0;
    }
    for (struct ring_line *l = ring_head; l; l = l->next) {
        if (l->audit) {
            char *msg = xstrndup(l->text + l->msg_off, l->len - l->msg_off - 1);
            audit_syslog(msg);
            free(msg);
        }
        write_all(log_fd, l->text, l->len);
    }
    while (ring_head)
        ring_drop_head();
    ring_dropped = 0;
    pthread_mutex_unlock(&log_lock);
}

__attribute__((format(printf, 3, 0))) static void log_v(enum log_level level, bool audit,
                                                        const char *fmt, va_list ap)
{
    char *msg = NULL;

    pthread_mutex_lock(&log_lock); /* a dropped line is not even formatted */
    if ((audit || (level & log_mask)) && rate_allow(class_of(level, audit)) &&
        vasprintf(&msg, fmt, ap) >= 0) {
        emit(level, msg, audit);
        free(msg);
    }
    pthread_mutex_unlock(&log_lock);
}

void log_emit(enum log_level level, const char *fmt, ...)
{
    va_list ap;

    if (!(level & __atomic_load_n(&log_mask, __ATOMIC_RELAXED)))
        return; /* cheap early exit for filtered debug lines */
    va_start(ap, fmt);
    log_v(level, false, fmt, ap);
    va_end(ap);
}

void log_audit(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_v(LOG_LVL_INFO, true, fmt, ap);
    va_end(ap);
}
