/* guest-file-open/close/read/write/seek/flush. Handles are numbered from the statedir
 * counter (never reused), capped in number, and every file operation runs in the
 * threadpool; the requests on one handle go through its FIFO, so only one of them touches
 * the stream at a time. A closed handle's record lives on until the requests already
 * queued on it have failed, which is what the reference count is for. */
#include <errno.h>
#include <inttypes.h>
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

#define READ_COUNT_DEFAULT 4096

struct file_handle {
    int64_t id;
    struct plat_file *file;
    struct cmd_serial serial;
    unsigned refs; /* calls holding the record: queued or running */
    bool closed;   /* gone for new requests; freed when refs drops to 0 */
    bool busy;     /* a job is in the threadpool */
    struct file_handle *next;
};

static struct file_handle *handles;
static unsigned n_open; /* handles not closed, plus opens in flight */

/* One threadpool job: inputs copied (or borrowed from the call's arguments, which stay
 * unchanged until the call finishes), outputs filled by the work function. */
struct file_job {
    struct file_handle *h;
    const char *path, *mode, *b64;
    int64_t count;
    bool has_count;
    int64_t offset;
    int whence;
    /* results */
    struct plat_file *file;
    int rc;
    enum plat_file_step step;
    char *err;  /* a complete error text from the work function */
    char *data; /* base64 of what was read */
    size_t done;
    bool eof;
    int64_t pos;
    cmd_after_fn after; /* the operation's completion, run by job_after */
};

static struct file_handle *handle_find(int64_t id, bool include_closed)
{
    for (struct file_handle *h = handles; h; h = h->next)
        if (h->id == id && (include_closed || !h->closed))
            return h;
    return NULL;
}

static void handle_unref(struct file_handle *h)
{
    if (--h->refs > 0 || !h->closed)
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

static struct file_job *job_new(struct file_handle *h)
{
    struct file_job *job = xcalloc(1, sizeof(*job));
    job->h = h;
    return job;
}

static void job_free(struct file_job *job)
{
    free(job->err);
    free(job->data);
    free(job);
}

/* ---- guest-file-open ---- */

static void open_work(void *data)
{
    struct file_job *job = data;
    job->rc =
        plat_file_open(job->path, job->mode, cmd_settings.file_create_mode, &job->file, &job->step);
}

static void open_fail(cmd_call *call, struct file_job *job)
{
    const char *why = strerror(-job->rc);
    if (job->step == PLAT_FILE_STEP_CHMOD)
        call_fail(call, "failed to set permission 0%03o on new file '%s' (mode: '%s'): %s",
                  cmd_settings.file_create_mode, job->path, job->mode, why);
    else if (job->step == PLAT_FILE_STEP_FDOPEN)
        call_fail(call,
                  "failed to associate stdio stream with file descriptor, file '%s' "
                  "(mode: '%s'): %s",
                  job->path, job->mode, why);
    else
        call_fail(call, "failed to open file '%s' (mode: '%s'): %s", job->path, job->mode, why);
}

static void open_after(cmd_call *call, void *data)
{
    struct file_job *job = data;
    bool audit = plat_file_mode_writes(job->mode);
    int64_t id = 0;

    if (job->rc == 0 && plat_state_next_handle(&id) < 0) {
        plat_file_close(job->file); /* a fresh file: nothing buffered to flush */
        job->rc = -EIO;
        n_open--;
        if (audit)
            log_audit("guest-file-open '%s' mode '%s': failed (state not saved)", job->path,
                      job->mode);
        call_fail(call, "failed to commit persistent state to disk");
        job_free(job);
        return;
    }
    if (job->rc < 0) {
        n_open--;
        if (audit)
            log_audit("guest-file-open '%s' mode '%s': failed: %s", job->path, job->mode,
                      strerror(-job->rc));
        open_fail(call, job);
        job_free(job);
        return;
    }
    struct file_handle *h = xcalloc(1, sizeof(*h));
    h->id = id;
    h->file = job->file;
    h->next = handles;
    handles = h;
    if (audit)
        log_audit("guest-file-open '%s' mode '%s': handle %" PRId64, job->path, job->mode, id);
    else
        log_info("guest-file-open '%s' mode '%s': handle %" PRId64, job->path, job->mode, id);
    job_free(job);
    call_return(call, json_int(id));
}

void cmd_file_open(cmd_call *call)
{
    const char *path = call_arg_str(call, "path", "");
    const char *mode = call_arg_str(call, "mode", "r");

    if (plat_file_mode_flags(mode) < 0) {
        call_fail(call, "invalid file open mode '%s'", mode);
        return;
    }
    if (n_open >= cmd_settings.max_file_handles) {
        call_fail(call, "too many open file handles: the limit is %u (close some first)",
                  cmd_settings.max_file_handles);
        return;
    }
    n_open++;
    struct file_job *job = job_new(NULL);
    job->path = path;
    job->mode = mode;
    call_queue_work(call, job, open_work, open_after);
}

/* ---- the per-handle FIFO ---- */

/* Finds the handle of a new request and queues the call on it. */
static void handle_queue(cmd_call *call, void (*start)(cmd_call *call))
{
    int64_t id = call_arg_int(call, "handle", -1);
    struct file_handle *h = handle_find(id, false);
    if (!h) {
        fail_not_found(call, id);
        return;
    }
    h->refs++;
    call_serialize(call, &h->serial, start);
}

/* At its turn: the handle, or NULL (call failed, reference dropped) if closed meanwhile. */
static struct file_handle *handle_turn(cmd_call *call)
{
    int64_t id = call_arg_int(call, "handle", -1);
    struct file_handle *h = handle_find(id, true);
    if (h->closed) {
        fail_not_found(call, id);
        handle_unref(h);
        return NULL;
    }
    return h;
}

/* The handle is idle again before the call finishes: finishing starts the next queued
 * request, whose job is then the one in the threadpool (and keeps busy set). */
static void job_after(cmd_call *call, void *data)
{
    struct file_job *job = data;
    job->h->busy = false;
    job->after(call, job);
}

static void queue_job(cmd_call *call, struct file_handle *h, struct file_job *job, cmd_work_fn work,
                      cmd_after_fn after)
{
    h->busy = true;
    job->after = after;
    call_queue_work(call, job, work, job_after);
}

/* Finishes a job's call with its error, if any. Returns true when it did. */
static bool job_failed(cmd_call *call, struct file_job *job, const char *what)
{
    if (job->err) {
        call_fail(call, "%s", job->err);
        return true;
    }
    if (job->rc == 0)
        return false;
    if (job->step == PLAT_FILE_STEP_FLUSH)
        what = "failed to flush file";
    else if (job->step == PLAT_FILE_STEP_SEEK)
        what = "failed to seek file";
    call_fail(call, "%s: %s", what, strerror(-job->rc));
    return true;
}

static void job_done(struct file_job *job)
{
    struct file_handle *h = job->h;
    job_free(job);
    handle_unref(h);
}

/* ---- guest-file-read ---- */

static void read_work(void *data)
{
    struct file_job *job = data;
    char *buf = xmalloc((size_t)job->count + 1);
    job->rc =
        plat_file_read(job->h->file, buf, (size_t)job->count, &job->done, &job->eof, &job->step);
    if (job->rc == 0)
        job->data = base64_encode(buf, job->done);
    free(buf);
}

static void read_after(cmd_call *call, void *data)
{
    struct file_job *job = data;
    if (!job_failed(call, job, "failed to read file")) {
        yajl_val r = json_object();
        json_object_add_int(r, "count", (int64_t)job->done);
        json_object_add(r, "buf-b64", json_string_take(job->data));
        job->data = NULL;
        json_object_add_bool(r, "eof", job->eof);
        call_return(call, r);
    }
    job_done(job);
}

static void read_start(cmd_call *call)
{
    struct file_handle *h = handle_turn(call);
    if (!h)
        return;
    struct file_job *job = job_new(h);
    job->count = call_arg_int(call, "count", READ_COUNT_DEFAULT);
    queue_job(call, h, job, read_work, read_after);
}

void cmd_file_read(cmd_call *call)
{
    int64_t id = call_arg_int(call, "handle", -1);
    if (!handle_find(id, false)) {
        fail_not_found(call, id);
        return;
    }
    int64_t count = call_arg_int(call, "count", READ_COUNT_DEFAULT);
    if (count < 0 || count > (int64_t)QGAD_MAX_READ_COUNT) {
        call_fail(call, "value '%" PRId64 "' is invalid for argument count", count);
        return;
    }
    handle_queue(call, read_start);
}

/* ---- guest-file-write ---- */

static void write_work(void *data)
{
    struct file_job *job = data;
    size_t len = 0;
    char *buf = base64_decode(job->b64, &len);
    if (!buf) {
        job->err = xstrdup(BASE64_INVALID_TEXT);
        return;
    }
    if (job->has_count && (job->count < 0 || (uint64_t)job->count > len)) {
        job->err = xasprintf("value '%" PRId64 "' is invalid for argument count", job->count);
        free(buf);
        return;
    }
    size_t n = job->has_count ? (size_t)job->count : len;
    job->rc = plat_file_write(job->h->file, buf, n, &job->done, &job->eof, &job->step);
    free(buf);
}

static void write_after(cmd_call *call, void *data)
{
    struct file_job *job = data;
    if (!job_failed(call, job, "failed to write to file")) {
        yajl_val r = json_object();
        json_object_add_int(r, "count", (int64_t)job->done);
        json_object_add_bool(r, "eof", job->eof);
        call_return(call, r);
    }
    job_done(job);
}

static void write_start(cmd_call *call)
{
    struct file_handle *h = handle_turn(call);
    if (!h)
        return;
    struct file_job *job = job_new(h);
    job->b64 = call_arg_str(call, "buf-b64", "");
    job->has_count = call_has_arg(call, "count");
    job->count = call_arg_int(call, "count", 0);
    queue_job(call, h, job, write_work, write_after);
}

void cmd_file_write(cmd_call *call)
{
    handle_queue(call, write_start);
}

/* ---- guest-file-seek ---- */

/* GuestFileWhence: 0/1/2 or "set"/"cur"/"end". -1 with the call failed otherwise. */
static int whence_of(cmd_call *call)
{
    yajl_val w = call_arg(call, "whence");
    if (w && w->type == yajl_t_string) {
        if (strcmp(w->u.string, "set") == 0)
            return SEEK_SET;
        return strcmp(w->u.string, "cur") == 0 ? SEEK_CUR : SEEK_END;
    }
    int64_t code = call_arg_int(call, "whence", -1);
    switch (code) {
    case 0:
        return SEEK_SET;
    case 1:
        return SEEK_CUR;
    case 2:
        return SEEK_END;
    default:
        call_fail(call, "invalid whence code %" PRId64, code);
        return -1;
    }
}

static void seek_work(void *data)
{
    struct file_job *job = data;
    job->rc = plat_file_seek(job->h->file, job->offset, job->whence, &job->pos, &job->eof);
}

static void seek_after(cmd_call *call, void *data)
{
    struct file_job *job = data;
    if (!job_failed(call, job, "failed to seek file")) {
        yajl_val r = json_object();
        json_object_add_int(r, "position", job->pos);
        json_object_add_bool(r, "eof", job->eof);
        call_return(call, r);
    }
    job_done(job);
}

static void seek_start(cmd_call *call)
{
    struct file_handle *h = handle_turn(call);
    if (!h)
        return;
    struct file_job *job = job_new(h);
    job->offset = call_arg_int(call, "offset", 0);
    job->whence = whence_of(call); /* checked before queueing */
    queue_job(call, h, job, seek_work, seek_after);
}

void cmd_file_seek(cmd_call *call)
{
    int64_t id = call_arg_int(call, "handle", -1);
    if (!handle_find(id, false)) {
        fail_not_found(call, id);
        return;
    }
    if (whence_of(call) < 0)
        return;
    handle_queue(call, seek_start);
}

/* ---- guest-file-flush ---- */

static void flush_work(void *data)
{
    struct file_job *job = data;
    job->rc = plat_file_flush(job->h->file);
}

static void flush_after(cmd_call *call, void *data)
{
    struct file_job *job = data;
    if (!job_failed(call, job, "failed to flush file"))
        call_return_empty(call);
    job_done(job);
}

static void flush_start(cmd_call *call)
{
    struct file_handle *h = handle_turn(call);
    if (h)
        queue_job(call, h, job_new(h), flush_work, flush_after);
}

void cmd_file_flush(cmd_call *call)
{
    handle_queue(call, flush_start);
}

/* ---- guest-file-close ---- */

static void close_work(void *data)
{
    struct file_job *job = data;
    job->rc = plat_file_close(job->file);
}

static void close_after(cmd_call *call, void *data)
{
    struct file_job *job = data;
    if (!job_failed(call, job, "failed to close handle"))
        call_return_empty(call);
    job_done(job);
}

static void close_start(cmd_call *call)
{
    struct file_handle *h = handle_turn(call);
    if (!h)
        return;
    /* from now on the handle is gone for everyone, whatever fclose says */
    h->closed = true;
    n_open--;
    log_info("guest-file-close: handle %" PRId64, h->id);
    struct file_job *job = job_new(h);
    job->file = h->file;
    h->file = NULL;
    queue_job(call, h, job, close_work, close_after);
}

void cmd_file_close(cmd_call *call)
{
    handle_queue(call, close_start);
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
