/* Files for guest-file-*: open with upstream's mode table and creation rules, and a stdio
 * stream with upstream's read/write switching (flush before a read that follows a write,
 * a seek before a write that follows a read). Every call may block: threadpool only, and
 * one call per file at a time. Return 0 or -errno. */
#ifndef QGAD_PLATFORM_FILEIO_H
#define QGAD_PLATFORM_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct plat_file;

/* Which step failed, for the caller's error text. */
enum plat_file_step {
    PLAT_FILE_STEP_OPEN,
    PLAT_FILE_STEP_CHMOD, /* a new file's mode could not be set (the file is removed) */
    PLAT_FILE_STEP_FDOPEN,
    PLAT_FILE_STEP_FLUSH, /* the flush before a read that follows a write */
    PLAT_FILE_STEP_SEEK,  /* the seek before a write that follows a read */
    PLAT_FILE_STEP_IO,
};

/* O_* flags of an fopen-style mode ("r", "rb+", "a+b", ...), or -EINVAL. */
int plat_file_mode_flags(const char *mode);
/* True when the mode may create or change a file (anything but "r" / "rb"). */
bool plat_file_mode_writes(const char *mode);

/* Opens with O_NOCTTY|O_NONBLOCK|O_CLOEXEC. Creating modes try O_EXCL first and give a file
 * they created create_mode (umask bypassed); an existing file keeps its mode. Modes that
 * write (r+ included) do not follow a symlink in the last component. */
int plat_file_open(const char *path, const char *mode, unsigned create_mode, struct plat_file **out,
                   enum plat_file_step *failed);
/* fread semantics: *eof is the stream's EOF flag after this read (cleared again after). */
int plat_file_read(struct plat_file *f, void *buf, size_t count, size_t *got, bool *eof,
                   enum plat_file_step *failed);
int plat_file_write(struct plat_file *f, const void *buf, size_t count, size_t *put, bool *eof,
                    enum plat_file_step *failed);
/* whence is SEEK_SET / SEEK_CUR / SEEK_END. *pos is ftell afterwards. */
int plat_file_seek(struct plat_file *f, int64_t offset, int whence, int64_t *pos, bool *eof);
int plat_file_flush(struct plat_file *f);
/* Closes and frees f, even when the final flush fails (-errno then). */
int plat_file_close(struct plat_file *f);

#endif
