/* Files for guest-file-*: upstream's mode table and two-step creation, and the stdio
 * stream with its read/write switching. The error flag is cleared after every call, so
 * each reply's eof describes that call only, as upstream. */
#include "platform/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/xalloc.h"

enum rw_state { RW_NEW, RW_READING, RW_WRITING };

struct plat_file {
    FILE *fh;
    enum rw_state state;
};

static const struct {
    const char *mode;
    int flags;
} open_modes[] = {
    {"r", O_RDONLY},
    {"rb", O_RDONLY},
    {"w", O_WRONLY | O_CREAT | O_TRUNC},
    {"wb", O_WRONLY | O_CREAT | O_TRUNC},
    {"a", O_WRONLY | O_CREAT | O_APPEND},
    {"ab", O_WRONLY | O_CREAT | O_APPEND},
    {"r+", O_RDWR},
    {"rb+", O_RDWR},
    {"r+b", O_RDWR},
    {"w+", O_RDWR | O_CREAT | O_TRUNC},
    {"wb+", O_RDWR | O_CREAT | O_TRUNC},
    {"w+b", O_RDWR | O_CREAT | O_TRUNC},
    {"a+", O_RDWR | O_CREAT | O_APPEND},
    {"ab+", O_RDWR | O_CREAT | O_APPEND},
    {"a+b", O_RDWR | O_CREAT | O_APPEND},
};

/* errno of the call that just failed; stdio may leave it 0 in odd cases */
static int neg_errno(void)
{
    return errno ? -errno : -EIO;
}

int plat_file_mode_flags(const char *mode)
{
    for (size_t i = 0; mode && i < sizeof(open_modes) / sizeof(open_modes[0]); i++)
        if (strcmp(open_modes[i].mode, mode) == 0)
            return open_modes[i].flags;
    return -EINVAL;
}

bool plat_file_mode_writes(const char *mode)
{
    int flags = plat_file_mode_flags(mode);
    return flags >= 0 && (flags & O_ACCMODE) != O_RDONLY;
}

int plat_file_open(const char *path, const char *mode, unsigned create_mode, struct plat_file **out,
                   enum plat_file_step *failed)
{
    int oflag = plat_file_mode_flags(mode);
    int base = O_NOCTTY | O_NONBLOCK | O_CLOEXEC;
    int fd, rc;

    *failed = PLAT_FILE_STEP_OPEN;
    if (oflag < 0)
        return oflag;
    /* O_NOFOLLOW for every mode that writes (r+ too): a symlink planted at the path is
     * refused (ELOOP), also by the O_EXCL attempt (EEXIST, then ELOOP). Exclusive creation
     * first, so only a file we created gets create_mode (umask bypassed); an existing one
     * is opened as it is. */
    if ((oflag & O_ACCMODE) != O_RDONLY)
        base |= O_NOFOLLOW;
    if (oflag & O_CREAT) {
        fd = open(path, oflag | base | O_EXCL, 0);
        if (fd < 0 && errno == EEXIST) {
            fd = open(path, (oflag & ~O_CREAT) | base);
        } else if (fd >= 0 && fchmod(fd, create_mode & 07777) < 0) {
            rc = neg_errno();
            close(fd);
            unlink(path);
            *failed = PLAT_FILE_STEP_CHMOD;
            return rc;
        }
    } else {
        fd = open(path, oflag | base);
    }
    if (fd < 0)
        return neg_errno();

    FILE *fh = fdopen(fd, mode);
    if (!fh) {
        rc = neg_errno();
        close(fd);
        *failed = PLAT_FILE_STEP_FDOPEN;
        return rc;
    }
    struct plat_file *f = xcalloc(1, sizeof(*f));
    f->fh = fh;
    f->state = RW_NEW;
    *out = f;
    return 0;
}

int plat_file_read(struct plat_file *f, void *buf, size_t count, size_t *got, bool *eof,
                   enum plat_file_step *failed)
{
    int rc = 0;
    errno = 0;
    if (f->state == RW_WRITING) {
        if (fflush(f->fh) == EOF) {
            *failed = PLAT_FILE_STEP_FLUSH;
            return neg_errno();
        }
        f->state = RW_NEW;
    }
    size_t n = fread(buf, 1, count, f->fh);
    /* Non-blocking (a FIFO): what was there is a short read, not an error that loses it. */
    bool short_read = n > 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    if (ferror(f->fh) && !short_read) {
        rc = neg_errno();
        *failed = PLAT_FILE_STEP_IO;
    } else {
        *got = n;
        *eof = feof(f->fh) != 0;
        f->state = RW_READING;
    }
    clearerr(f->fh);
    return rc;
}

int plat_file_write(struct plat_file *f, const void *buf, size_t count, size_t *put, bool *eof,
                    enum plat_file_step *failed)
{
    int rc = 0;
    errno = 0;
    if (f->state == RW_READING) {
        /* drops stdio's read-ahead so the write lands at the logical position */
        if (fseeko(f->fh, 0, SEEK_CUR) == -1) {
            *failed = PLAT_FILE_STEP_SEEK;
            return neg_errno();
        }
        f->state = RW_NEW;
    }
    size_t n = fwrite(buf, 1, count, f->fh);
    if (ferror(f->fh)) {
        rc = neg_errno();
        *failed = PLAT_FILE_STEP_IO;
    } else {
        *put = n;
        *eof = feof(f->fh) != 0;
        f->state = RW_WRITING;
    }
    clearerr(f->fh);
    return rc;
}

int plat_file_seek(struct plat_file *f, int64_t offset, int whence, int64_t *pos, bool *eof)
{
    int rc = 0;
    errno = 0;
    if (fseeko(f->fh, (off_t)offset, whence) == -1) {
        rc = neg_errno();
        if (rc == -ESPIPE)
            f->state = RW_NEW; /* not seekable: stdio does not buffer it anyway */
    } else {
        *pos = (int64_t)ftello(f->fh);
        *eof = feof(f->fh) != 0;
        f->state = RW_NEW;
    }
    clearerr(f->fh);
    return rc;
}

int plat_file_flush(struct plat_file *f)
{
    errno = 0;
    if (fflush(f->fh) == EOF)
        return neg_errno();
    f->state = RW_NEW;
    return 0;
}

int plat_file_close(struct plat_file *f)
{
    errno = 0;
    int rc = fclose(f->fh) == EOF ? neg_errno() : 0;
    free(f);
    return rc;
}
