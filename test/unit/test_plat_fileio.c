/* platform/fileio.c: upstream's mode table, creation (create_mode, umask bypassed, no symlink
 * followed), the EOF flag per call, read/write switching, seeks, and which step failed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "platform/fileio.h"

static char dir[] = "/tmp/qgad-fileio-XXXXXX";

static const char *const creating_modes[] = {"w",   "wb",  "a",  "ab",  "w+",
                                             "wb+", "w+b", "a+", "ab+", "a+b"};
#define N_CREATING (sizeof(creating_modes) / sizeof(creating_modes[0]))

static int setup_all(void **state)
{
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown_all(void **state)
{
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd);
}

/* each case gets its own empty subfolder, so names never collide */
static char sub[48];

static int setup(void **state)
{
    static int n;
    snprintf(sub, sizeof(sub), "%s/%d", dir, n++);
    return mkdir(sub, 0700);
}

static char *path_in(const char *name)
{
    static char p[4][128];
    static int next;
    char *r = p[next++ % 4];
    snprintf(r, sizeof(p[0]), "%.48s/%.64s", sub, name);
    return r;
}

static void write_file(const char *name, const char *text, mode_t mode)
{
    int fd = open(path_in(name), O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

/* the file's whole content (NUL-terminated), or NULL if it does not exist; caller frees */
static char *file_text(const char *name)
{
    FILE *f = fopen(path_in(name), "r");
    if (!f)
        return NULL;
    char *buf = calloc(1, 4096);
    size_t n = fread(buf, 1, 4095, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void assert_text(const char *name, const char *want)
{
    char *text = file_text(name);
    assert_non_null(text);
    assert_string_equal(text, want);
    free(text);
}

static unsigned file_mode(const char *name)
{
    struct stat st;
    assert_int_equal(lstat(path_in(name), &st), 0);
    return st.st_mode & 07777;
}

static struct plat_file *open_ok(const char *path, const char *mode, unsigned create_mode)
{
    struct plat_file *f = NULL;
    enum plat_file_step failed = PLAT_FILE_STEP_IO;
    int rc = plat_file_open(path, mode, create_mode, &f, &failed);
    if (rc != 0)
        fail_msg("open %s \"%s\": %s", path, mode, strerror(-rc));
    assert_non_null(f);
    return f;
}

/* "f" holding text, opened with mode */
static struct plat_file *open_text(const char *text, const char *mode)
{
    write_file("f", text, 0600);
    return open_ok(path_in("f"), mode, 0600);
}

static void assert_open_fails(const char *path, const char *mode, int want_rc)
{
    struct plat_file *f = NULL;
    enum plat_file_step failed = PLAT_FILE_STEP_IO;
    int rc = plat_file_open(path, mode, 0600, &f, &failed);
    if (rc != want_rc)
        fail_msg("open %s \"%s\": %d, want %d", path, mode, rc, want_rc);
    assert_int_equal(failed, PLAT_FILE_STEP_OPEN);
    assert_null(f);
}

static void read_ok(struct plat_file *f, size_t count, const char *want, bool want_eof)
{
    char buf[256] = {0};
    size_t got = 999;
    bool eof = !want_eof;
    enum plat_file_step failed = PLAT_FILE_STEP_OPEN;
    assert_true(count < sizeof(buf));
    assert_int_equal(plat_file_read(f, buf, count, &got, &eof, &failed), 0);
    assert_int_equal(got, strlen(want));
    assert_memory_equal(buf, want, got);
    assert_int_equal(eof, want_eof);
}

static void write_ok(struct plat_file *f, const char *text)
{
    size_t put = 999;
    bool eof = true;
    enum plat_file_step failed = PLAT_FILE_STEP_OPEN;
    assert_int_equal(plat_file_write(f, text, strlen(text), &put, &eof, &failed), 0);
    assert_int_equal(put, strlen(text));
    assert_false(eof);
}

/* a read that fails with want_rc at step want_step, leaving *got alone */
static void read_fails(struct plat_file *f, size_t count, int want_rc,
                       enum plat_file_step want_step)
{
    char buf[4];
    size_t got = 999;
    bool eof = false;
    enum plat_file_step failed = PLAT_FILE_STEP_OPEN;
    assert_true(count <= sizeof(buf));
    assert_int_equal(plat_file_read(f, buf, count, &got, &eof, &failed), want_rc);
    assert_int_equal(failed, want_step);
    assert_int_equal(got, 999);
}

static void write_fails(struct plat_file *f, const void *data, size_t count, int want_rc,
                        enum plat_file_step want_step)
{
    size_t put = 999;
    bool eof = false;
    enum plat_file_step failed = PLAT_FILE_STEP_OPEN;
    assert_int_equal(plat_file_write(f, data, count, &put, &eof, &failed), want_rc);
    assert_int_equal(failed, want_step);
    assert_int_equal(put, 999);
}

static int64_t seek_ok(struct plat_file *f, int64_t offset, int whence)
{
    int64_t pos = -1;
    bool eof = true;
    assert_int_equal(plat_file_seek(f, offset, whence, &pos, &eof), 0);
    assert_false(eof);
    return pos;
}

/* fopen(3): the letter says create/truncate/append, '+' says read and write */
static int fopen_flags(const char *mode)
{
    int rw = strchr(mode, '+') ? O_RDWR : (mode[0] == 'r' ? O_RDONLY : O_WRONLY);
    switch (mode[0]) {
    case 'w':
        return rw | O_CREAT | O_TRUNC;
    case 'a':
        return rw | O_CREAT | O_APPEND;
    default:
        return rw;
    }
}

static void test_mode_table(void **state)
{
    const char *modes[] = {"r",   "rb", "w",   "wb",  "a",  "ab",  "r+", "rb+",
                           "r+b", "w+", "wb+", "w+b", "a+", "ab+", "a+b"};
    for (size_t k = 0; k < sizeof(modes) / sizeof(modes[0]); k++) {
        int want = fopen_flags(modes[k]);
        if (plat_file_mode_flags(modes[k]) != want)
            fail_msg("mode \"%s\": flags %#x, want %#x", modes[k], plat_file_mode_flags(modes[k]),
                     want);
        assert_int_equal(plat_file_mode_writes(modes[k]), k >= 2);
    }
}

static void test_mode_invalid(void **state)
{
    const char *bad[] = {"", "x", "R", "W", "rw", "r+x", "wa", "b", "+r", "r ", "rb+b", "rx", "br"};
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        if (plat_file_mode_flags(bad[k]) != -EINVAL)
            fail_msg("mode \"%s\" accepted", bad[k]);
        assert_false(plat_file_mode_writes(bad[k]));
    }
    assert_int_equal(plat_file_mode_flags(NULL), -EINVAL);
    assert_false(plat_file_mode_writes(NULL));
}

static void test_open_invalid_mode_creates_nothing(void **state)
{
    assert_open_fails(path_in("f"), "rw", -EINVAL);
    assert_open_fails(path_in("f"), "x", -EINVAL);
    assert_null(file_text("f"));
}

static void test_open_missing_file_for_reading(void **state)
{
    const char *modes[] = {"r", "rb", "r+", "rb+", "r+b"};
    for (size_t k = 0; k < sizeof(modes) / sizeof(modes[0]); k++)
        assert_open_fails(path_in("missing"), modes[k], -ENOENT);
    assert_null(file_text("missing"));
}

static void test_open_in_missing_dir(void **state)
{
    assert_open_fails(path_in("no/such/file"), "w", -ENOENT);
    assert_open_fails(path_in("no/such/file"), "a+", -ENOENT);
}

static void test_open_directory_for_writing(void **state)
{
    assert_open_fails(sub, "w", -EISDIR);
    assert_open_fails(sub, "a", -EISDIR);
    assert_open_fails(sub, "r+", -EISDIR);
}

/* the umask must not reduce the mode the host asked for */
static void test_created_file_gets_create_mode(void **state)
{
    const unsigned modes[] = {0644, 0600, 0751, 0666, 0};
    mode_t old = umask(077);
    for (size_t k = 0; k < N_CREATING; k++) {
        for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
            char name[32];
            snprintf(name, sizeof(name), "f%zu-%zu", k, m);
            assert_int_equal(plat_file_close(open_ok(path_in(name), creating_modes[k], modes[m])),
                             0);
            if (file_mode(name) != modes[m])
                fail_msg("\"%s\" created %04o, want %04o", creating_modes[k], file_mode(name),
                         modes[m]);
        }
    }
    umask(old);
}

static void test_create_mode_beyond_permission_bits_ignored(void **state)
{
    mode_t old = umask(0);
    assert_int_equal(plat_file_close(open_ok(path_in("f"), "w", S_IFREG | 0640)), 0);
    assert_int_equal(file_mode("f"), 0640);
    umask(old);
}

static void test_existing_file_keeps_its_mode(void **state)
{
    for (size_t k = 0; k < N_CREATING; k++) {
        write_file("f", "", 0604);
        assert_int_equal(plat_file_close(open_ok(path_in("f"), creating_modes[k], 0600)), 0);
        if (file_mode("f") != 0604)
            fail_msg("\"%s\" changed the mode to %04o", creating_modes[k], file_mode("f"));
    }
}

static void test_w_truncates_existing(void **state)
{
    const char *modes[] = {"w", "wb", "w+", "wb+", "w+b"};
    for (size_t k = 0; k < sizeof(modes) / sizeof(modes[0]); k++) {
        write_file("f", "old content", 0600);
        assert_int_equal(plat_file_close(open_ok(path_in("f"), modes[k], 0600)), 0);
        assert_text("f", "");
    }
}

static void test_r_plus_and_a_keep_existing(void **state)
{
    const char *modes[] = {"r+", "rb+", "r+b", "a", "ab", "a+", "ab+", "a+b"};
    for (size_t k = 0; k < sizeof(modes) / sizeof(modes[0]); k++) {
        write_file("f", "old", 0600);
        assert_int_equal(plat_file_close(open_ok(path_in("f"), modes[k], 0600)), 0);
        assert_text("f", "old");
    }
}

/* fileio.h: modes that create do not follow a symlink in the last component */
static void test_creating_modes_refuse_symlink(void **state)
{
    write_file("target", "keep", 0640);
    assert_int_equal(symlink(path_in("target"), path_in("link")), 0);
    for (size_t k = 0; k < N_CREATING; k++)
        assert_open_fails(path_in("link"), creating_modes[k], -ELOOP);
    assert_text("target", "keep");
    assert_int_equal(file_mode("target"), 0640);
}

/* ...and neither do r+, rb+, r+b: the write modes that do not create (the target keeps
 * its text; reading through the link still works) */
static void test_update_modes_refuse_symlink(void **state)
{
    static const char *const update_modes[] = {"r+", "rb+", "r+b"};
    write_file("target", "keep", 0640);
    assert_int_equal(symlink(path_in("target"), path_in("link")), 0);
    for (size_t k = 0; k < 3; k++)
        assert_open_fails(path_in("link"), update_modes[k], -ELOOP);
    assert_text("target", "keep");
    assert_int_equal(plat_file_close(open_ok(path_in("link"), "r", 0600)), 0);
}

static void test_creating_modes_refuse_dangling_symlink(void **state)
{
    assert_int_equal(symlink(path_in("target"), path_in("link")), 0);
    for (size_t k = 0; k < N_CREATING; k++)
        assert_open_fails(path_in("link"), creating_modes[k], -ELOOP);
    assert_null(file_text("target"));
}

/* the descriptor behind the stream: the one in /proc/self/fd that names path */
static int fd_of(const char *path)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int found = -1;
    assert_non_null(d);
    while ((e = readdir(d))) {
        char link[300], target[PATH_MAX];
        snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n > 0) {
            target[n] = 0;
            if (strcmp(target, path) == 0)
                found = atoi(e->d_name);
        }
    }
    closedir(d);
    return found;
}

static void test_descriptor_is_cloexec_and_nonblocking(void **state)
{
    const char *modes[] = {"r", "w", "a+", "r+"};
    write_file("f", "", 0600);
    for (size_t k = 0; k < sizeof(modes) / sizeof(modes[0]); k++) {
        struct plat_file *f = open_ok(path_in("f"), modes[k], 0600);
        int fd = fd_of(path_in("f"));
        assert_true(fd >= 0);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
        assert_int_equal(plat_file_close(f), 0);
        assert_int_equal(fd_of(path_in("f")), -1); /* closed */
    }
}

/* without O_NONBLOCK, opening a FIFO nobody writes to would hang the pool thread */
static void test_fifo_without_writer_opens_and_reads_eof(void **state)
{
    assert_int_equal(mkfifo(path_in("fifo"), 0600), 0);
    struct plat_file *f = open_ok(path_in("fifo"), "r", 0);
    read_ok(f, 16, "", true);
    assert_int_equal(plat_file_close(f), 0);
}

static void test_fifo_short_read_keeps_data(void **state)
{
    assert_int_equal(mkfifo(path_in("fifo"), 0600), 0);
    struct plat_file *f = open_ok(path_in("fifo"), "r", 0);
    int w = open(path_in("fifo"), O_WRONLY | O_NONBLOCK);
    assert_true(w >= 0);
    assert_int_equal(write(w, "abc", 3), 3);

    read_ok(f, 16, "abc", false); /* the EAGAIN after the data is a short read */

    read_fails(f, 4, -EAGAIN, PLAT_FILE_STEP_IO); /* nothing there: an error, as upstream */

    close(w);
    read_ok(f, 16, "", true);
    assert_int_equal(plat_file_close(f), 0);
}

static void test_read_sets_eof_only_at_end(void **state)
{
    struct plat_file *f = open_text("hello", "r");
    read_ok(f, 3, "hel", false);
    read_ok(f, 10, "lo", true);
    read_ok(f, 10, "", true);
    assert_int_equal(plat_file_close(f), 0);
}

static void test_read_of_exact_length_is_not_eof(void **state)
{
    struct plat_file *f = open_text("hello", "rb");
    read_ok(f, 5, "hello", false); /* fread semantics: EOF not seen yet */
    read_ok(f, 5, "", true);
    assert_int_equal(plat_file_close(f), 0);
}

/* the flag is cleared after each call: a file that grew is read on, as upstream */
static void test_eof_does_not_stick(void **state)
{
    struct plat_file *f = open_text("ab", "r");
    read_ok(f, 10, "ab", true);
    FILE *more = fopen(path_in("f"), "a");
    fputs("cd", more);
    fclose(more);
    read_ok(f, 10, "cd", true);
    read_ok(f, 1, "", true);
    assert_int_equal(plat_file_close(f), 0);
}

static void test_read_after_write_sees_the_write(void **state)
{
    struct plat_file *f = open_text("0123456789", "r+");
    write_ok(f, "AB");
    read_ok(f, 3, "234", false);
    assert_int_equal(plat_file_close(f), 0);
    assert_text("f", "AB23456789");
}

static void test_write_after_read_lands_at_position(void **state)
{
    struct plat_file *f = open_text("0123456789", "r+");
    read_ok(f, 2, "01", false); /* stdio read ahead the whole file */
    write_ok(f, "AB");
    read_ok(f, 2, "45", false);
    write_ok(f, "CD");
    assert_int_equal(plat_file_close(f), 0);
    assert_text("f", "01AB45CD89");
}

static void test_w_plus_reads_back_after_seek(void **state)
{
    struct plat_file *f = open_ok(path_in("f"), "w+", 0600);
    write_ok(f, "hello");
    read_ok(f, 5, "", true);
    assert_int_equal(seek_ok(f, 0, SEEK_SET), 0);
    read_ok(f, 10, "hello", true);
    assert_int_equal(plat_file_close(f), 0);
}

static void test_append_writes_at_end(void **state)
{
    struct plat_file *f = open_text("abc", "a+");
    assert_int_equal(seek_ok(f, 0, SEEK_SET), 0);
    read_ok(f, 1, "a", false);
    write_ok(f, "d");
    assert_int_equal(seek_ok(f, 0, SEEK_SET), 0);
    write_ok(f, "e");
    assert_int_equal(plat_file_close(f), 0);
    assert_text("f", "abcde");

    f = open_ok(path_in("f"), "a", 0600);
    write_ok(f, "f");
    assert_int_equal(plat_file_close(f), 0);
    assert_text("f", "abcdef");
}

static void test_seek_whence(void **state)
{
    struct plat_file *f = open_text("0123456789", "r");
    assert_int_equal(seek_ok(f, 3, SEEK_SET), 3);
    read_ok(f, 2, "34", false);
    assert_int_equal(seek_ok(f, 1, SEEK_CUR), 6);
    read_ok(f, 1, "6", false);
    assert_int_equal(seek_ok(f, -3, SEEK_CUR), 4);
    read_ok(f, 1, "4", false);
    assert_int_equal(seek_ok(f, -2, SEEK_END), 8);
    read_ok(f, 2, "89", false);
    assert_int_equal(seek_ok(f, 0, SEEK_END), 10);
    assert_int_equal(seek_ok(f, 20, SEEK_SET), 20); /* past the end is allowed */
    read_ok(f, 2, "", true);
    assert_int_equal(plat_file_close(f), 0);
}

static void test_seek_clears_eof(void **state)
{
    struct plat_file *f = open_text("xy", "r");
    read_ok(f, 10, "xy", true);
    assert_int_equal(seek_ok(f, 0, SEEK_CUR), 2);
    assert_int_equal(seek_ok(f, -1, SEEK_END), 1);
    read_ok(f, 1, "y", false);
    assert_int_equal(plat_file_close(f), 0);
}

static void test_seek_errors(void **state)
{
    struct plat_file *f = open_text("0123456789", "r");
    int64_t pos = 77;
    bool eof = true;
    assert_int_equal(plat_file_seek(f, 4, SEEK_SET, &pos, &eof), 0);
    pos = 77;
    assert_int_equal(plat_file_seek(f, -1, SEEK_SET, &pos, &eof), -EINVAL);
    assert_int_equal(plat_file_seek(f, -11, SEEK_END, &pos, &eof), -EINVAL);
    assert_int_equal(plat_file_seek(f, 0, 42, &pos, &eof), -EINVAL);
    assert_int_equal(pos, 77); /* not written on failure */
    read_ok(f, 1, "4", false); /* the position is where the last good seek left it */
    assert_int_equal(plat_file_close(f), 0);
}

static void test_seek_past_end_then_write_leaves_a_hole(void **state)
{
    struct plat_file *f = open_ok(path_in("f"), "w", 0600);
    assert_int_equal(seek_ok(f, 4, SEEK_SET), 4);
    write_ok(f, "x");
    assert_int_equal(plat_file_close(f), 0);
    int fd = open(path_in("f"), O_RDONLY);
    char buf[8];
    assert_int_equal(read(fd, buf, sizeof(buf)), 5);
    close(fd);
    assert_memory_equal(buf, "\0\0\0\0x", 5);
}

static void test_seek_on_fifo_is_espipe(void **state)
{
    assert_int_equal(mkfifo(path_in("fifo"), 0600), 0);
    struct plat_file *f = open_ok(path_in("fifo"), "r", 0);
    int64_t pos = 77;
    bool eof = false;
    assert_int_equal(plat_file_seek(f, 0, SEEK_SET, &pos, &eof), -ESPIPE);
    assert_int_equal(pos, 77);
    assert_int_equal(plat_file_close(f), 0);
}

static void test_write_to_read_only_fails_at_io(void **state)
{
    struct plat_file *f = open_text("abc", "r");
    write_fails(f, "x", 1, -EBADF, PLAT_FILE_STEP_IO);
    read_ok(f, 3, "abc", false); /* the error flag does not stick */
    assert_int_equal(plat_file_close(f), 0);
    assert_text("f", "abc");
}

static void test_read_from_write_only_fails_at_io(void **state)
{
    struct plat_file *f = open_ok(path_in("f"), "a", 0600);
    read_fails(f, 4, -EBADF, PLAT_FILE_STEP_IO);
    write_ok(f, "ok");
    assert_int_equal(plat_file_close(f), 0);
    assert_text("f", "ok");
}

/* open(2) accepts a directory for reading: the failure is the read's */
static void test_read_of_directory_fails_at_io(void **state)
{
    struct plat_file *f = open_ok(sub, "r", 0);
    read_fails(f, 4, -EISDIR, PLAT_FILE_STEP_IO);
    assert_int_equal(plat_file_close(f), 0);
}

static void test_flush_writes_buffered_data(void **state)
{
    struct plat_file *f = open_ok(path_in("f"), "w", 0600);
    write_ok(f, "hi");
    assert_text("f", ""); /* still in the stdio buffer */
    assert_int_equal(plat_file_flush(f), 0);
    assert_text("f", "hi");
    write_ok(f, "!");
    assert_int_equal(plat_file_close(f), 0); /* close flushes too */
    assert_text("f", "hi!");
}

/* /dev/full: writes are buffered, the flush reports ENOSPC */
static void test_flush_error_is_reported(void **state)
{
    struct plat_file *f = open_ok("/dev/full", "w", 0600);
    write_ok(f, "data");
    assert_int_equal(plat_file_flush(f), -ENOSPC);
    plat_file_close(f);
}

static void test_close_reports_final_flush_error(void **state)
{
    struct plat_file *f = open_ok("/dev/full", "a", 0600);
    write_ok(f, "data");
    assert_int_equal(plat_file_close(f), -ENOSPC); /* and f is freed: ASan checks */
}

static void test_large_write_error_fails_at_io(void **state)
{
    static char big[1 << 17];
    struct plat_file *f = open_ok("/dev/full", "w", 0600);
    write_fails(f, big, sizeof(big), -ENOSPC, PLAT_FILE_STEP_IO);
    plat_file_close(f);
}

static void test_read_after_write_reports_failed_flush(void **state)
{
    struct plat_file *f = open_ok("/dev/full", "w+", 0600);
    write_ok(f, "data");
    read_fails(f, 4, -ENOSPC, PLAT_FILE_STEP_FLUSH);
    plat_file_close(f);
}

/* a FIFO opened read-write: the seek that drops read-ahead fails, and says so */
static void test_write_after_read_reports_failed_seek(void **state)
{
    assert_int_equal(mkfifo(path_in("fifo"), 0600), 0);
    struct plat_file *f = open_ok(path_in("fifo"), "r+", 0);
    int w = open(path_in("fifo"), O_WRONLY | O_NONBLOCK);
    assert_true(w >= 0);
    assert_int_equal(write(w, "abc", 3), 3);
    read_ok(f, 1, "a", false);

    write_fails(f, "x", 1, -ESPIPE, PLAT_FILE_STEP_SEEK);
    close(w);
    assert_int_equal(plat_file_close(f), 0);
}

#define CASE(name) cmocka_unit_test_setup(name, setup)

int main(void)
{
    const struct CMUnitTest tests[] = {
        CASE(test_mode_table),
        CASE(test_mode_invalid),
        CASE(test_open_invalid_mode_creates_nothing),
        CASE(test_open_missing_file_for_reading),
        CASE(test_open_in_missing_dir),
        CASE(test_open_directory_for_writing),
        CASE(test_created_file_gets_create_mode),
        CASE(test_create_mode_beyond_permission_bits_ignored),
        CASE(test_existing_file_keeps_its_mode),
        CASE(test_w_truncates_existing),
        CASE(test_r_plus_and_a_keep_existing),
        CASE(test_creating_modes_refuse_symlink),
        CASE(test_creating_modes_refuse_dangling_symlink),
        CASE(test_update_modes_refuse_symlink),
        CASE(test_descriptor_is_cloexec_and_nonblocking),
        CASE(test_fifo_without_writer_opens_and_reads_eof),
        CASE(test_fifo_short_read_keeps_data),
        CASE(test_read_sets_eof_only_at_end),
        CASE(test_read_of_exact_length_is_not_eof),
        CASE(test_eof_does_not_stick),
        CASE(test_read_after_write_sees_the_write),
        CASE(test_write_after_read_lands_at_position),
        CASE(test_w_plus_reads_back_after_seek),
        CASE(test_append_writes_at_end),
        CASE(test_seek_whence),
        CASE(test_seek_clears_eof),
        CASE(test_seek_errors),
        CASE(test_seek_past_end_then_write_leaves_a_hole),
        CASE(test_seek_on_fifo_is_espipe),
        CASE(test_write_to_read_only_fails_at_io),
        CASE(test_read_from_write_only_fails_at_io),
        CASE(test_read_of_directory_fails_at_io),
        CASE(test_flush_writes_buffered_data),
        CASE(test_flush_error_is_reported),
        CASE(test_close_reports_final_flush_error),
        CASE(test_large_write_error_fails_at_io),
        CASE(test_read_after_write_reports_failed_flush),
        CASE(test_write_after_read_reports_failed_seek),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
