/* base/log.c: line format, level mask, audit lines, the ring kept while suspended, the
 * rate limit (on a fake clock). */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/limits.h"
#include "base/log.h"

static char tmpdir[] = "/tmp/qgad-log-XXXXXX";
static char path[256];

static int setup_all(void **state)
{
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_all(void **state)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd);
}

static int setup(void **state)
{
    static int n;
    snprintf(path, sizeof(path), "%s/%d.log", tmpdir, n++);
    return 0;
}

static int teardown(void **state)
{
    log_close();
    log_set_clock_for_test(NULL);
    return 0;
}

#define MS 1000000ull
static uint64_t fake_ns = 1000000 * MS;

static uint64_t fake_clock(void)
{
    return fake_ns;
}

static uint64_t ticking_clock(void) /* a second per line: the limit never bites */
{
    return fake_ns += 1000 * MS;
}

/* How often needle occurs in text. */
static size_t count_of(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* The whole file; the caller frees. "" if it does not exist. */
static char *slurp(void)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (f) {
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
            fwrite(chunk, 1, n, m);
        fclose(f);
    }
    fclose(m);
    return buf;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_line_format(void **state)
{
    regex_t re;

    assert_int_equal(log_open(path, false), 0);
    log_error("disk %s is %d%% full", "vda", 99);
    log_critical("boom");
    char *text = slurp();
    assert_int_equal(regcomp(&re,
                             "^[0-9]+\\.[0-9]{6}: error: disk vda is 99% full\n"
                             "[0-9]+\\.[0-9]{6}: critical: boom\n$",
                             REG_EXTENDED),
                     0);
    if (regexec(&re, text, 0, NULL, 0) != 0)
        fail_msg("unexpected log text: %s", text);
    regfree(&re);
    free(text);
}

static void test_append_and_mode(void **state)
{
    FILE *f = fopen(path, "w");
    struct stat st;

    fputs("old line\n", f);
    fclose(f);
    assert_int_equal(log_open(path, false), 0);
    log_error("new");
    char *text = slurp();
    assert_true(strncmp(text, "old line\n", 9) == 0);
    assert_non_null(strstr(text + 9, ": error: new\n"));
    free(text);

    char fresh[300];
    snprintf(fresh, sizeof(fresh), "%s.fresh", path);
    assert_int_equal(log_open(fresh, false), 0);
    assert_int_equal(stat(fresh, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(log_open("/nonexistent/dir/x.log", false) < 0, 1);
}

static void test_default_mask(void **state)
{
    assert_int_equal(log_open(path, false), 0);
    log_error("e");
    log_critical("c");
    log_warning("w");
    log_message("m");
    log_info("i");
    log_debug("d");
    log_audit("guest-file-open of /etc/x by the host");
    char *text = slurp();
    assert_int_equal(count_lines(text), 3);
    assert_non_null(strstr(text, ": error: e\n"));
    assert_non_null(strstr(text, ": critical: c\n"));
    /* audit lines are never filtered */
    assert_non_null(strstr(text, ": info: guest-file-open of /etc/x by the host\n"));
    assert_null(strstr(text, ": warning:"));
    assert_null(strstr(text, ": debug:"));
    free(text);
}

static void test_verbose_mask(void **state)
{
    static const char *const levels[] = {"error",   "critical", "warning",
                                         "message", "info",     "debug"};

    assert_int_equal(log_open(path, true), 0);
    log_error("x");
    log_critical("x");
    log_warning("x");
    log_message("x");
    log_info("x");
    log_debug("x");
    char *text = slurp();
    assert_int_equal(count_lines(text), 6);
    for (size_t i = 0; i < 6; i++) {
        char want[32];
        snprintf(want, sizeof(want), ": %s: x\n", levels[i]);
        assert_non_null(strstr(text, want));
    }
    free(text);
}

static void test_suspend_defers_file_and_keeps_lines(void **state)
{
    struct stat st;

    log_suspend();
    assert_int_equal(log_open(path, true), 0);
    log_info("first");
    log_audit("thaw requested");
    log_debug("second");
    /* nothing touches the (possibly frozen) filesystem until resume */
    assert_int_equal(stat(path, &st), -1);
    log_resume();
    char *text = slurp();
    assert_int_equal(count_lines(text), 3);
    char *a = strstr(text, ": info: first\n");
    char *b = strstr(text, ": info: thaw requested\n");
    char *c = strstr(text, ": debug: second\n");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_true(a < b && b < c);
    free(text);

    log_info("after");
    text = slurp();
    assert_int_equal(count_lines(text), 4);
    free(text);
}

/* log_reopen (SIGHUP): the file moved away keeps what was written before; the lines after
 * go to a new file at the path. While suspended the reopen waits for the resume. */
static void test_reopen_after_rotation(void **state)
{
    char rotated[300];
    snprintf(rotated, sizeof(rotated), "%s.1", path);
    assert_int_equal(log_open(path, true), 0);
    log_info("before");
    assert_int_equal(rename(path, rotated), 0);
    assert_int_equal(log_reopen(), 0);
    log_info("after");
    char *text = slurp();
    assert_non_null(strstr(text, "after"));
    assert_null(strstr(text, "before"));
    free(text);

    assert_int_equal(rename(path, rotated), 0);
    log_suspend();
    assert_int_equal(log_reopen(), 0);
    log_info("frozen");
    struct stat st;
    assert_int_equal(stat(path, &st), -1); /* nothing opened while suspended */
    log_resume();
    text = slurp();
    assert_non_null(strstr(text, "frozen"));
    free(text);
    unlink(rotated);

    log_close();
    assert_int_equal(log_reopen(), 0); /* stderr: nothing to reopen */
}

/* Host text in log lines: control characters, DEL, backslash and quotes escaped, at most
 * LOG_STR_MAX bytes shown, the cut said; a long string is read only that far. */
static void test_log_str_escapes_and_caps(void **state)
{
    char out[LOG_STR_BUF];
    assert_string_equal(log_str(out, "plain /path", SIZE_MAX), "plain /path");
    assert_string_equal(log_str(out, "a\nb\rc\x7f'\"\\", SIZE_MAX),
                        "a\\x0ab\\x0dc\\x7f\\x27\\x22\\x5c");
    assert_string_equal(log_str(out, NULL, SIZE_MAX), "(null)");
    assert_string_equal(log_str(out, "ab\0cd", 5), "ab\\x00cd"); /* with a length: NULs too */

    char *big = malloc(10000);
    memset(big, 'x', 10000);
    big[9999] = '\0';
    log_str(out, big, SIZE_MAX);
    assert_int_equal(strlen(out), LOG_STR_MAX + strlen("...(more)"));
    assert_string_equal(out + LOG_STR_MAX, "...(more)");
    log_str(out, big, 9999);
    assert_string_equal(out + LOG_STR_MAX, "...(9999 bytes)");
    /* the worst case fits: every byte escaped, then the marker */
    memset(big, '\n', 9999);
    log_str(out, big, 9999);
    assert_int_equal(strlen(out), LOG_STR_MAX * 4 + strlen("...(9999 bytes)"));
    /* only the first LOG_STR_MAX + 1 bytes are read (ASan would see a read past this) */
    char *exact = malloc(LOG_STR_MAX + 1);
    memset(exact, 'y', LOG_STR_MAX + 1);
    log_str(out, exact, SIZE_MAX);
    assert_string_equal(out + LOG_STR_MAX, "...(more)");
    free(exact);
    free(big);
}

static void test_ring_drops_oldest(void **state)
{
    char big[1000];
    size_t total = 2 * QGAD_LOG_RING_BYTES / sizeof(big) + 10;

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    log_set_clock_for_test(ticking_clock);
    assert_int_equal(log_open(path, true), 0);
    log_suspend();
    for (size_t i = 0; i < total; i++)
        log_info("%zu %s", i, big);
    char *text = slurp();
    assert_string_equal(text, "");
    free(text);
    log_resume();
    text = slurp();
    size_t lines = count_lines(text);
    assert_true(lines > 1 && lines < total);
    assert_true(strlen(text) <= QGAD_LOG_RING_BYTES + 200);
    char want[64];
    snprintf(want, sizeof(want), ": warning: %zu log lines dropped", total - (lines - 1));
    if (!strstr(text, want))
        fail_msg("missing '%s'", want);
    assert_true(strstr(text, want) < strstr(text, ": info: "));
    snprintf(want, sizeof(want), ": info: %zu x", total - 1); /* the newest is kept */
    assert_non_null(strstr(text, want));
    assert_null(strstr(text, ": info: 0 x")); /* the oldest is gone */
    free(text);
}

static void test_rate_limit_burst_then_suppressed(void **state)
{
    log_set_clock_for_test(fake_clock);
    assert_int_equal(log_open(path, true), 0);
    for (int i = 0; i < QGAD_LOG_BURST + 50; i++)
        log_debug("chatty %d", i);
    log_error("an error still shows"); /* its own bucket */
    char *text = slurp();
    assert_int_equal(count_of(text, ": debug: chatty "), QGAD_LOG_BURST);
    assert_int_equal(count_lines(text), QGAD_LOG_BURST + 1);
    assert_null(strstr(text, "suppressed"));
    free(text);

    fake_ns += 100 * MS; /* 5 lines' worth */
    log_info("flowing again");
    text = slurp();
    const char *report = strstr(text, ": warning: 50 log lines suppressed (rate limit)\n");
    assert_non_null(report);
    assert_true(report < strstr(text, ": info: flowing again\n"));
    assert_int_equal(count_lines(text), QGAD_LOG_BURST + 3);
    free(text);

    for (int i = 0; i < 10; i++) /* 4 pass, 6 are dropped */
        log_debug("again %d", i);
    fake_ns += 500 * MS;
    log_debug("within the second"); /* passes, but the count waits */
    text = slurp();
    assert_int_equal(count_of(text, "suppressed"), 1);
    assert_int_equal(count_of(text, ": debug: again "), 4);
    assert_non_null(strstr(text, ": debug: within the second\n"));
    free(text);
    fake_ns += 600 * MS;
    log_debug("a second later");
    text = slurp();
    assert_non_null(strstr(text, ": warning: 6 log lines suppressed (rate limit)\n"));
    assert_int_equal(count_of(text, "suppressed"), 2);
    free(text);
}

static void test_rate_limit_audit_and_mask(void **state)
{
    log_set_clock_for_test(fake_clock);
    assert_int_equal(log_open(path, false), 0);
    for (int i = 0; i < 1000; i++)
        log_debug("masked %d", i); /* filtered lines cost no tokens */
    for (int i = 0; i < QGAD_LOG_BURST; i++)
        log_error("e %d", i);
    for (int i = 0; i < QGAD_LOG_AUDIT_BURST + 10; i++)
        log_audit("guest-file-open '/tmp/%d'", i);
    char *text = slurp();
    assert_int_equal(count_of(text, ": error: e "), QGAD_LOG_BURST);
    assert_int_equal(count_of(text, ": info: guest-file-open"), QGAD_LOG_AUDIT_BURST);
    assert_int_equal(count_lines(text), QGAD_LOG_BURST + QGAD_LOG_AUDIT_BURST);
    free(text);

    /* the count is due once the audit bucket refills, whatever line comes next, and is
     * not masked although it is a warning */
    fake_ns += 1000 * MS;
    log_error("next");
    text = slurp();
    const char *report = strstr(text, ": warning: 10 audit lines suppressed (rate limit)\n");
    assert_non_null(report);
    assert_true(report < strstr(text, ": error: next\n"));
    free(text);
}

static void test_rate_limit_count_written_at_close(void **state)
{
    log_set_clock_for_test(fake_clock);
    assert_int_equal(log_open(path, true), 0);
    for (int i = 0; i < QGAD_LOG_BURST + 7; i++)
        log_warning("w %d", i);
    log_close();
    char *text = slurp();
    assert_non_null(strstr(text, ": warning: 7 log lines suppressed (rate limit)\n"));
    assert_int_equal(count_lines(text), QGAD_LOG_BURST + 1);
    free(text);

    assert_int_equal(log_open(path, true), 0); /* and the buckets are full again */
    for (int i = 0; i < QGAD_LOG_BURST; i++)
        log_warning("x %d", i);
    text = slurp();
    assert_int_equal(count_of(text, ": warning: x "), QGAD_LOG_BURST);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_line_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_after_rotation, setup, teardown),
        cmocka_unit_test(test_log_str_escapes_and_caps),
        cmocka_unit_test_setup_teardown(test_append_and_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_mask, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verbose_mask, setup, teardown),
        cmocka_unit_test_setup_teardown(test_suspend_defers_file_and_keeps_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ring_drops_oldest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit_burst_then_suppressed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit_audit_and_mask, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit_count_written_at_close, setup, teardown),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
