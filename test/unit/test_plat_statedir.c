/* The state directory: qga.state as upstream writes it, the handle counter, the marker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "platform/readfile.h"
#include "platform/statedir.h"

static char dir[64];

static char *path_in(const char *name)
{
    char *p;
    if (asprintf(&p, "%s/%s", dir, name) < 0)
        abort();
    return p;
}

static char *state_text(void)
{
    char *p = path_in("qga.state"), *text = NULL;
    size_t len;
    int rc = plat_read_file(p, 4096, &text, &len);
    free(p);
    return rc == 0 ? text : NULL;
}

static void write_state(const char *text)
{
    char *p = path_in("qga.state");
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    free(p);
}

static int make_dir(void **state)
{
    strcpy(dir, "/tmp/qgad-statedir-XXXXXX");
    assert_non_null(mkdtemp(dir));
    assert_int_equal(plat_statedir_init(dir), 0);
    return 0;
}

static int remove_dir(void **state)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *p = path_in(e->d_name);
        unlink(p);
        free(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
    return 0;
}

static void test_counter_starts_at_1000(void **state)
{
    assert_string_equal(plat_statedir(), dir);
    assert_int_equal(plat_state_ensure(), 0);
    char *text = state_text();
    assert_non_null(text);
    assert_string_equal(text, "[global]\nfd_counter=1000\n");
    free(text);

    int64_t h;
    assert_int_equal(plat_state_next_handle(&h), 0);
    assert_int_equal(h, 1000);
    text = state_text();
    assert_string_equal(text, "[global]\nfd_counter=1001\n"); /* as observed upstream */
    free(text);
    assert_int_equal(plat_state_next_handle(&h), 0);
    assert_int_equal(h, 1001);

    /* a reload (a restart) continues where the file says: handles are never reused */
    assert_int_equal(plat_statedir_init(dir), 0);
    assert_int_equal(plat_state_ensure(), 0);
    assert_int_equal(plat_state_next_handle(&h), 0);
    assert_int_equal(h, 1002);
    text = state_text();
    assert_string_equal(text, "[global]\nfd_counter=1003\n");
    free(text);

    /* no temp files are left behind */
    DIR *d = opendir(dir);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)))
        files += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(files, 1);
}

static void test_reads_upstream_file(void **state)
{
    /* a file written by qemu-ga (GLib may add comments or other keys later) */
    write_state("# written by qemu-ga\n[global]\nfd_counter = 4242\nother=1\n");
    assert_int_equal(plat_state_ensure(), 0);
    int64_t h;
    assert_int_equal(plat_state_next_handle(&h), 0);
    assert_int_equal(h, 4242);
    char *text = state_text();
    assert_string_equal(text, "[global]\nfd_counter=4243\n");
    free(text);
}

static void test_missing_key_and_bad_value(void **state)
{
    write_state("[global]\n");
    int64_t h;
    assert_int_equal(plat_state_next_handle(&h), 0); /* loaded lazily, default */
    assert_int_equal(h, 1000);

    write_state("[global]\nfd_counter=abc\n");
    assert_int_equal(plat_statedir_init(dir), 0);
    assert_int_equal(plat_state_ensure(), -EINVAL);
    assert_int_equal(plat_state_next_handle(&h), -EINVAL);

    write_state("[global]\nfd_counter=9223372036854775807\n");
    assert_int_equal(plat_statedir_init(dir), 0);
    assert_int_equal(plat_state_next_handle(&h), -EOVERFLOW);
}

static void test_frozen_marker(void **state)
{
    assert_false(plat_frozen_marker_exists());
    assert_int_equal(plat_frozen_marker_set(), 0);
    assert_true(plat_frozen_marker_exists());
    char *p = path_in("qga.state.isfrozen");
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    free(p);
    assert_int_equal(plat_frozen_marker_set(), 0); /* idempotent */

    /* while the marker exists, creating qga.state is deferred (as upstream) */
    assert_int_equal(plat_state_ensure(), 0);
    char *text = state_text();
    assert_null(text);

    assert_int_equal(plat_frozen_marker_clear(), 0);
    assert_false(plat_frozen_marker_exists());
    assert_int_equal(plat_frozen_marker_clear(), 0); /* already gone is fine */
    assert_int_equal(plat_state_ensure(), 0);
    text = state_text();
    assert_string_equal(text, "[global]\nfd_counter=1000\n");
    free(text);
}

static void test_unwritable_dir(void **state)
{
    assert_int_equal(plat_statedir_init(""), -EINVAL);
    assert_int_equal(plat_statedir_init("/nonexistent/qgad/state"), 0);
    assert_true(plat_state_ensure() < 0);
    int64_t h;
    assert_true(plat_state_next_handle(&h) < 0);
    assert_true(plat_frozen_marker_set() < 0);
    assert_false(plat_frozen_marker_exists());
    assert_int_equal(plat_statedir_init(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_counter_starts_at_1000, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_reads_upstream_file, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_missing_key_and_bad_value, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_frozen_marker, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_unwritable_dir, make_dir, remove_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
