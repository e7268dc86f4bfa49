/* guest-file-open/close/read/write/seek/flush. Handles are numbered from the statedir
 * counter (never reused; persisted in the threadpool), capped in number, and every file
 * operation is a pool job. The requests on one handle wait in its FIFO, so only one job
 * touches the stream at a time; a closed handle's record lives on until the requests
 * already queued on it have failed. */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base64.h"
#include "base/json.h"
#include "base/limits.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "commands/call.h"
#include "commands/file.h"
#include "commands/handlers.h"
#include "commands/settings.h"
#include "platform/fileio.h"
#include "platform/statedir.h"

/* ---- arguments: every handle command's struct starts with the handle ---- */

struct file_handle_args {
    int64_t handle;
};
ARG_LIST(cmd_file_handle_args, struct file_handle_args,
         {ARG_AT(struct file_handle_args, handle), .name = "handle", .type = ARG_INT});

struct file_open_args {
    const char *path, *mode;
};
ARG_LIST(cmd_file_open_args, struct file_open_args,
         {ARG_AT(struct file_open_args, path), .name = "path", .type = ARG_STR},
         {ARG_AT(struct file_open_args, mode), .name = "mode", .type = ARG_STR, .optional = true,
          .dflt_str = "r"});

struct file_read_args {
    int64_t handle, count;
};
ARG_LIST(cmd_file_read_args, struct file_read_args,
         {ARG_AT(struct file_read_args, handle), .name = "handle", .type = ARG_INT},
         {ARG_AT(struct file_read_args, count), .name = "count", .type = ARG_INT, .optional = true,
          ARG_DEFAULT(4096), ARG_RANGE(0, QGAD_MAX_READ_COUNT)});

struct file_write_args {
    int64_t handle;
    const char *b64;
    int64_t count;
    bool has_count;
};
ARG_LIST(cmd_file_write_args, struct file_write_args,
         {ARG_AT(struct file_write_args, handle), .name = "handle", .type = ARG_INT},
         {ARG_AT(struct file_write_args, b64), .name = "buf-b64", .type = ARG_STR},
         {ARG_AT(struct file_write_args, count), ARG_PRESENT(struct file_write_args, has_count),
          .name = "count", .type = ARG_INT, .optional = true});

static const char *const file_whence_values[] = {"set", "cur", "end", NULL}; /* = 0, 1, 2 */
struct file_seek_args {
    int64_t handle, offset, whence;
};
ARG_LIST(cmd_file_seek_args, struct file_seek_args,
         {ARG_AT(struct file_seek_args, handle), .name = "handle", .type = ARG_INT},
         {ARG_AT(struct file_seek_args, offset), .name = "offset", .type = ARG_INT},
         {ARG_AT(struct file_seek_args, whence), .name = "whence", .type = ARG_ALT_INT_ENUM,
          .values = file_whence_values, .type_name = "GuestFileWhence"});

/* ---- handles ---- */

struct file_handle {
    int64_t id;
    struct plat_file *file; /* while busy, only the running job touches it */
    struct cmd_serial serial;
    bool closed; /* gone for new requests; freed once no call is left in its FIFO */
    bool busy;   /* a job is in the threadpool */
    struct file_handle *next;
};

static struct file_handle *handles;
static unsigned n_open; /* handles not closed, plus opens in flight */

static struct file_handle *handle_find(int64_t id, bool include_closed)
{
    for (struct file_handle *h = handles; h; h = h->next)
        if (h->id == id && (include_closed || !h->closed))
            return h;
    return NULL;
}

/* After a call on h finished (its FIFO slot already passed on): a closed handle goes
 * once the calls queued behind the close have failed. */
static void handle_release(struct file_handle *h)
{
    if (!h->closed || h->serial.running || h->serial.head)
        return;
    for (struct file_handle **p = &handles; *p; p = &(*p)->next) {
        if (*p == h) {
            *p = h->next;
            break;
        }
    }
    if (h->file) /* left open by cmd_file_close_all while a job used it */
        plat_file_close(h->file);
    free(h);
}

static void fail_not_found(cmd_call *call, int64_t id)
{
    call_fail(call, "handle '%" PRId64 "' has not been found", id);
}

/* The row's serial step: the handle's FIFO (the record lives while calls wait in it). */
struct cmd_serial *cmd_file_queue(cmd_call *call)
{
    const struct file_handle_args *a = call_args(call);
    struct file_handle *h = handle_find(a->handle, false);
    if (!h) {
        fail_not_found(call, a->handle);
        return NULL;
    }
    return &h->serial;
}

/* The handle at the call's turn, marked busy and handed to the job; NULL (call failed,
 * record released) if it was closed meanwhile. */
static struct file_handle *handle_turn(cmd_call *call)
{
    const struct file_handle_args *a = call_args(call);
    struct file_handle *h = handle_find(a->handle, true);
    if (h->closed) {
        fail_not_found(call, a->handle);
        handle_release(h); /* after the failure released the FIFO slot */
        return NULL;
    }
    h->busy = true;
    call_set_ctx(call, h);
    return h;
}

void cmd_file_begin(cmd_call *call)
{
    handle_turn(call);
}

void cmd_file_end(cmd_call *call, void *ctx, yajl_val out, char *err)
{
    struct file_handle *h = ctx;
    h->busy = false;
    call_finish_with(call, out, err); /* releases the FIFO slot, which lives in h */
    handle_release(h);
}

/* A failed step's error text: "<what>: <strerror>", named after the step that failed. */
static int step_error(char **err, int rc, enum plat_file_step step, const char *what)
{
    if (step == PLAT_FILE_STEP_FLUSH)
        what = "failed to flush file";
    else if (step == PLAT_FILE_STEP_SEEK)
        what = "failed to seek file";
    *err = xasprintf("%s: %s", what, strerror(-rc));
    return -1;
}

static yajl_val count_eof(size_t count, bool eof)
{
    yajl_val r = json_object();
    json_object_add_int(r, "count", (int64_t)count);
    json_object_add_bool(r, "eof", eof);
    return r;
}

/* ---- guest-file-open ---- */

struct open_job {
    struct plat_file *file;
    int64_t id;
    int rc;             /* -errno of the open, for the audit line */
    bool state_unsaved; /* opened, but the handle counter could not be persisted */
};

void cmd_file_open_begin(cmd_call *call)
{
    const struct file_open_args *a = call_args(call);
    if (plat_file_mode_flags(a->mode) < 0) {
        call_fail(call, "invalid file open mode '%s'", a->mode);
        return;
    }
    if (n_open >= cmd_settings.max_file_handles) {
        call_fail(call, "too many open file handles: the limit is %u (close some first)",
                  cmd_settings.max_file_handles);
        return;
    }
    n_open++;
    call_set_ctx(call, xcalloc(1, sizeof(struct open_job)));
}

static char *open_error(const struct file_open_args *a, int rc, enum plat_file_step step)
{
    const char *why = strerror(-rc);
    if (step == PLAT_FILE_STEP_CHMOD)
        return xasprintf("failed to set permission 0%03o on new file '%s' (mode: '%s'): %s",
                         cmd_settings.file_create_mode, a->path, a->mode, why);
    if (step == PLAT_FILE_STEP_FDOPEN)
        return xasprintf("failed to associate stdio stream with file descriptor, file '%s' "
                         "(mode: '%s'): %s",
                         a->path, a->mode, why);
    return xasprintf("failed to open file '%s' (mode: '%s'): %s", a->path, a->mode, why);
}

int cmd_file_open(const void *args, void *ctx, yajl_val *out, char **err)
{
    const struct file_open_args *a = args;
    struct open_job *job = ctx;
    enum plat_file_step step;
    job->rc = plat_file_open(a->path, a->mode, cmd_settings.file_create_mode, &job->file, &step);
    if (job->rc < 0) {
        *err = open_error(a, job->rc, step);
        return -1;
    }
    /* the counter is persisted (write, fsync, rename) before the handle is given out */
    if (plat_state_next_handle(&job->id) < 0) {
        plat_file_close(job->file); /* a fresh file: nothing buffered to flush */
        job->state_unsaved = true;
        *err = xstrdup("failed to commit persistent state to disk");
        return -1;
    }
    *out = json_int(job->id);
    return 0;
}

void cmd_file_open_end(cmd_call *call, void *ctx, yajl_val out, char *err)
{
    const struct file_open_args *a = call_args(call);
    struct open_job *job = ctx;
    bool audit = plat_file_mode_writes(a->mode);
    char path[LOG_STR_BUF], mode[LOG_STR_BUF]; /* the host's: escaped and capped */
    log_str(path, a->path, SIZE_MAX);
    log_str(mode, a->mode, SIZE_MAX);

    if (err) {
        n_open--;
        if (audit && job->state_unsaved)
            log_audit("guest-file-open '%s' mode '%s': failed (state not saved)", path, mode);
        else if (audit)
            log_audit("guest-file-open '%s' mode '%s': failed: %s", path, mode, strerror(-job->rc));
    } else {
        struct file_handle *h = xcalloc(1, sizeof(*h));
        h->id = job->id;
        h->file = job->file;
        h->next = handles;
        handles = h;
        if (audit)
            log_audit("guest-file-open '%s' mode '%s': handle %" PRId64, path, mode, h->id);
        else
            log_info("guest-file-open '%s' mode '%s': handle %" PRId64, path, mode, h->id);
    }
    free(job);
    call_finish_with(call, out, err);
}

/* ---- guest-file-read / write / seek / flush ---- */

int cmd_file_read(const void *args, void *ctx, yajl_val *out, char **err)
{
    const struct file_read_args *a = args;
    struct file_handle *h = ctx;
    char *buf = xmalloc((size_t)a->count + 1);
    size_t got = 0;
    bool eof = false;
    enum plat_file_step step;
    int rc = plat_file_read(h->file, buf, (size_t)a->count, &got, &eof, &step);
    if (rc < 0) {
        free(buf);
        return step_error(err, rc, step, "failed to read file");
    }
    yajl_val r = count_eof(got, eof);
    json_object_add(r, "buf-b64", json_string_take(base64_encode(buf, got)));
    free(buf);
    *out = r;
    return 0;
}

int cmd_file_write(const void *args, void *ctx, yajl_val *out, char **err)
{
    const struct file_write_args *a = args;
    struct file_handle *h = ctx;
    size_t len = 0;
    char *buf = base64_decode(a->b64, &len);
    if (!buf) {
        *err = xstrdup(BASE64_INVALID_TEXT);
        return -1;
    }
    if (a->has_count && (a->count < 0 || (uint64_t)a->count > len)) {
        *err = xasprintf("value '%" PRId64 "' is invalid for argument count", a->count);
        free(buf);
        return -1;
    }
    size_t put = 0;
    bool eof = false;
    enum plat_file_step step;
    int rc =
        plat_file_write(h->file, buf, a->has_count ? (size_t)a->count : len, &put, &eof, &step);
    free(buf);
    if (rc < 0)
        return step_error(err, rc, step, "failed to write to file");
    *out = count_eof(put, eof);
    return 0;
}

void cmd_file_seek_begin(cmd_call *call)
{
    const struct file_seek_args *a = call_args(call);
    struct file_handle *h = handle_turn(call);
    if (!h || (a->whence >= SEEK_SET && a->whence <= SEEK_END))
        return;
    h->busy = false;
    call_fail(call, "invalid whence code %" PRId64, a->whence);
    handle_release(h);
}

int cmd_file_seek(const void *args, void *ctx, yajl_val *out, char **err)
{
    const struct file_seek_args *a = args;
    struct file_handle *h = ctx;
    int64_t pos = 0;
    bool eof = false;
    int rc = plat_file_seek(h->file, a->offset, (int)a->whence, &pos, &eof);
    if (rc < 0)
        return step_error(err, rc, PLAT_FILE_STEP_SEEK, "failed to seek file");
    yajl_val r = json_object();
    json_object_add_int(r, "position", pos);
    json_object_add_bool(r, "eof", eof);
    *out = r;
    return 0;
}

int cmd_file_flush(const void *args, void *ctx, yajl_val *out, char **err)
{
    struct file_handle *h = ctx;
    int rc = plat_file_flush(h->file);
    return rc < 0 ? step_error(err, rc, PLAT_FILE_STEP_FLUSH, "failed to flush file") : 0;
}

/* ---- guest-file-close ---- */

void cmd_file_close_begin(cmd_call *call)
{
    struct file_handle *h = handle_turn(call);
    if (!h)
        return;
    /* from now on the handle is gone for everyone, whatever fclose says */
    h->closed = true;
    n_open--;
    log_info("guest-file-close: handle %" PRId64, h->id);
}

int cmd_file_close(const void *args, void *ctx, yajl_val *out, char **err)
{
    struct file_handle *h = ctx;
    int rc = plat_file_close(h->file);
    h->file = NULL;
    return rc < 0 ? step_error(err, rc, PLAT_FILE_STEP_IO, "failed to close handle") : 0;
}

void cmd_file_close_all(void)
{
    struct file_handle **p = &handles;
    while (*p) {
        struct file_handle *h = *p;
        if (h->busy) {
            /* a pool thread is using the stream: leave it to the kernel at exit */
            h->closed = true;
            p = &h->next;
            continue;
        }
        if (h->file)
            plat_file_close(h->file);
        h->file = NULL;
        if (!h->closed)
            n_open--;
        *p = h->next;
        free(h);
    }
}
