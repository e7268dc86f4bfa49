/* The system information commands, run as the session runs them (cmd_call_new/start, the
 * loop for threadpool work), against fixture trees where the answer comes from files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "cmd_testutil.h"
#include "commands/registry.h"
#include "platform/paths.h"

static int done_count;

static void on_done(cmd_call *call)
{
    done_count++;
}

/* Runs a command to completion (running the loop for threadpool work). */
static cmd_call *run(const char *name)
{
    done_count = 0;
    cmd_call *call = cmd_call_new(name, NULL, on_done, NULL);
    cmd_call_start(call);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    assert_int_equal(done_count, 1);
    assert_true(cmd_call_finished(call));
    if (cmd_call_error(call, NULL))
        fail_msg("%s failed: %s", name, testutil_desc(call));
    return call;
}

static const char *str_member(yajl_val obj, const char *key)
{
    yajl_val v = json_get(obj, key);
    if (!v)
        return NULL;
    assert_int_equal(v->type, yajl_t_string);
    return v->u.string;
}

static void set_root(const char *rel)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", getenv("QGAD_FIXTURES"), rel);
    plat_root_set(path);
}

static int clean_env(void **state)
{
    plat_root_set(NULL);
    unsetenv("QGA_OS_RELEASE");
    return 0;
}

static void test_get_time(void **state)
{
    struct timeval before, after;
    gettimeofday(&before, NULL);
    cmd_call *call = run("guest-get-time");
    gettimeofday(&after, NULL);
    int64_t ns;
    assert_true(json_as_int64(cmd_call_result(call), &ns));
    assert_int_equal(ns % 1000, 0); /* microseconds x 1000 */
    int64_t lo = ((int64_t)before.tv_sec * 1000000 + before.tv_usec) * 1000;
    int64_t hi = ((int64_t)after.tv_sec * 1000000 + after.tv_usec) * 1000;
    assert_true(ns >= lo && ns <= hi);
    cmd_call_free(call);
}

static void test_get_host_name(void **state)
{
    char want[256] = {0};
    gethostname(want, sizeof(want) - 1);
    cmd_call *call = run("guest-get-host-name");
    assert_int_equal(cmd_call_result(call)->u.object.len, 1);
    assert_string_equal(str_member(cmd_call_result(call), "host-name"), want);
    cmd_call_free(call);
}

static void expect_zone(const char *tz, const char *zone, int64_t offset)
{
    setenv("TZ", tz, 1);
    cmd_call *call = run("guest-get-timezone");
    assert_string_equal(str_member(cmd_call_result(call), "zone"), zone);
    int64_t got;
    assert_true(json_as_int64(json_get(cmd_call_result(call), "offset"), &got));
    assert_int_equal(got, offset);
    cmd_call_free(call);
}

static void test_get_timezone(void **state)
{
    /* POSIX TZ strings without DST rules: fixed answers on any date */
    expect_zone("UTC0", "UTC", 0);
    expect_zone("CET-1", "CET", 3600);
    expect_zone("XYZ+5:30", "XYZ", -(5 * 3600 + 30 * 60));
    /* the zone is read again on every call */
    expect_zone("ABC-2", "ABC", 7200);
    unsetenv("TZ");
    tzset();
}

static void test_get_load(void **state)
{
    set_root("sysinfo-root");
    cmd_call *call = run("guest-get-load");
    yajl_val r = cmd_call_result(call);
    assert_int_equal(r->u.object.len, 3);
    assert_string_equal(json_get(r, "load1m")->u.number.r, "0.52000000000000002");
    assert_true(json_get(r, "load5m")->u.number.d == 0.58);
    assert_true(json_get(r, "load15m")->u.number.d == 0.59);
    cmd_call_free(call);

    /* no /proc/loadavg: an error, not a made-up answer */
    set_root("osrelease");
    done_count = 0;
    call = cmd_call_new("guest-get-load", NULL, on_done, NULL);
    cmd_call_start(call);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    assert_int_equal(done_count, 1);
    assert_string_equal(cmd_call_error(call, NULL), "GenericError");
    assert_string_equal(testutil_desc(call),
                        "cannot query load average: No such file or directory");
    cmd_call_free(call);

    /* the real machine */
    plat_root_set(NULL);
    call = run("guest-get-load");
    assert_int_equal(json_get(cmd_call_result(call), "load1m")->type, yajl_t_number);
    cmd_call_free(call);
}

static void test_get_osinfo(void **state)
{
    struct utsname u;
    uname(&u);
    set_root("sysinfo-root");
    cmd_call *call = run("guest-get-osinfo");
    yajl_val r = cmd_call_result(call);
    assert_string_equal(str_member(r, "kernel-release"), u.release);
    assert_string_equal(str_member(r, "kernel-version"), u.version);
    assert_string_equal(str_member(r, "machine"), u.machine);
    assert_string_equal(str_member(r, "id"), "debian");
    assert_string_equal(str_member(r, "name"), "Debian GNU/Linux");
    assert_string_equal(str_member(r, "pretty-name"), "Debian GNU/Linux 12 (bookworm)");
    assert_string_equal(str_member(r, "version"), "12 (bookworm)");
    assert_string_equal(str_member(r, "version-id"), "12");
    assert_null(json_get(r, "variant"));
    assert_null(json_get(r, "variant-id"));
    assert_int_equal(r->u.object.len, 8);
    cmd_call_free(call);

    /* QGA_OS_RELEASE: the upstream unit test file */
    char path[4096];
    snprintf(path, sizeof(path), "%s/osrelease/upstream", getenv("QGAD_FIXTURES"));
    setenv("QGA_OS_RELEASE", path, 1);
    call = run("guest-get-osinfo");
    r = cmd_call_result(call);
    assert_string_equal(str_member(r, "variant"), "Unit test \"'$`\\ and \\\\ etc.");
    assert_string_equal(str_member(r, "variant-id"), "unit-test");
    assert_string_equal(str_member(r, "version-id"), "1");
    assert_int_equal(r->u.object.len, 10);
    cmd_call_free(call);

    /* an unusable file: only the kernel fields */
    snprintf(path, sizeof(path), "%s/osrelease/invalid-utf8", getenv("QGAD_FIXTURES"));
    setenv("QGA_OS_RELEASE", path, 1);
    call = run("guest-get-osinfo");
    assert_int_equal(cmd_call_result(call)->u.object.len, 3);
    assert_non_null(str_member(cmd_call_result(call), "kernel-release"));
    cmd_call_free(call);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_get_time, clean_env),
        cmocka_unit_test_teardown(test_get_host_name, clean_env),
        cmocka_unit_test_teardown(test_get_timezone, clean_env),
        cmocka_unit_test_teardown(test_get_load, clean_env),
        cmocka_unit_test_teardown(test_get_osinfo, clean_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
