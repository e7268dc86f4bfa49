/* base/log.c: line format, level mask, audit lines, the ring kept while suspended. */
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
    return 0;
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
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
