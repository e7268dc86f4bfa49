/* guest-exec and guest-exec-status. Each guest-exec is one platform child (own process
 * group, reaped by libuv, capped capture) and one record here until a status call has
 * reported it exited. Extensions: __org.qgad_timeout kills the group after N seconds, and
 * __org.qgad_wait lets guest-exec-status wait up to N ms for the exit (answered from the
 * child's completion or a timer, so nothing blocks). */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "base/base64.h"
#include "base/json.h"
#include "base/limits.h"
#include "base/loopmon.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "commands/call.h"
#include "commands/exec.h"
#include "commands/handlers.h"
#include "commands/settings.h"
#include "platform/child.h"

/* Bigger output is base64-encoded in the threadpool, not on the loop. */
#define EXEC_INLINE_B64 (64u << 10)
#define EXEC_MAX_TIMEOUT_S (10.0 * 365 * 24 * 3600)
#define EXEC_AUDIT_ARGV_MAX 2048

struct exec_status_args {
    int64_t pid, wait;
};
ARG_LIST(cmd_exec_status_args, struct exec_status_args,
         {ARG_AT(struct exec_status_args, pid), .name = "pid", .type = ARG_INT},
         {ARG_AT(struct exec_status_args, wait), .name = "__org.qgad_wait", .type = ARG_INT,
          .optional = true}); /* ms, qgad extension */

enum exec_capture {
    CAPTURE_NONE,
    CAPTURE_STDOUT,
    CAPTURE_STDERR,
    CAPTURE_SEPARATED,
    CAPTURE_MERGED
};
static const char *const exec_capture_values[] = {"none",      "stdout", "stderr",
                                                  "separated", "merged", NULL};
struct exec_args {
    const char *path;
    yajl_val arg, env;
    const char *input; /* base64 */
    int capture;       /* enum exec_capture */
    yajl_val timeout;  /* seconds, qgad extension */
};
ARG_LIST(cmd_exec_args, struct exec_args,
         {ARG_AT(struct exec_args, path), .name = "path", .type = ARG_STR},
         {ARG_AT(struct exec_args, arg), .name = "arg", .type = ARG_ARRAY, .optional = true,
          .elem = ARG_STR},
         {ARG_AT(struct exec_args, env), .name = "env", .type = ARG_ARRAY, .optional = true,
          .elem = ARG_STR},
         {ARG_AT(struct exec_args, input), .name = "input-data", .type = ARG_STR, .optional = true},
         {ARG_AT(struct exec_args, capture), .name = "capture-output", .type = ARG_ALT_BOOL_ENUM,
          .optional = true, .values = exec_capture_values, .type_name = "GuestExecCaptureOutput",
          .if_true = CAPTURE_SEPARATED, .if_false = CAPTURE_NONE, ARG_DEFAULT(CAPTURE_NONE)},
         {ARG_AT(struct exec_args, timeout), .name = "__org.qgad_timeout", .type = ARG_NUMBER,
          .optional = true});

struct exec_prep;

struct exec_waiter {
    uv_timer_t timer;
    cmd_call *call;
    struct exec_rec *rec;
    struct exec_waiter *next;
};

struct exec_rec {
    int64_t pid; /* 0 while starting */
    struct plat_child *child;
    cmd_call *starting;     /* the guest-exec call, until the child started */
    struct exec_prep *prep; /* its prepared arguments, as long */
    bool has_out, has_err;  /* streams to report */
    struct exec_waiter *waiters;
    struct exec_rec *next;
    char *out_b64, *err_b64; /* filled when reported */
};

static struct exec_rec *recs;
static unsigned n_recs;
static unsigned n_waiters;
static struct plat_child_budget output_budget;

static struct exec_rec *rec_find(int64_t pid)
{
    for (struct exec_rec *r = recs; r; r = r->next)
        if (!r->starting && r->pid == pid)
            return r;
    return NULL;
}

static void rec_unlink(struct exec_rec *rec)
{
    for (struct exec_rec **p = &recs; *p; p = &(*p)->next) {
        if (*p == rec) {
            *p = rec->next;
            n_recs--;
            return;
        }
    }
}

static void rec_free(struct exec_rec *rec)
{
    plat_child_free(rec->child, false);
    free(rec->out_b64);
    free(rec->err_b64);
    free(rec);
}

/* ---- guest-exec-status ---- */

static void encode_work(void *data)
{
    struct exec_rec *rec = data;
    const struct plat_child_result *res = plat_child_result(rec->child);
    if (rec->has_out && res->out.len > 0)
        rec->out_b64 = base64_encode(res->out.data, res->out.len);
    if (rec->has_err && res->err.len > 0)
        rec->err_b64 = base64_encode(res->err.data, res->err.len);
}

static void encode_after(cmd_call *call, void *data)
{
    struct exec_rec *rec = data;
    const struct plat_child_result *res = plat_child_result(rec->child);
    yajl_val r = json_object();

    json_object_add_bool(r, "exited", true);
    if (res->exited)
        json_object_add_int(r, "exitcode", res->exit_code);
    else if (res->signal)
        json_object_add_int(r, "signal", res->signal);
    if (res->timed_out)
        json_object_add_bool(r, "__org.qgad_timed-out", true); /* killed at the deadline */
    if (rec->out_b64) {
        json_object_add(r, "out-data", json_string_take(rec->out_b64));
        rec->out_b64 = NULL;
    }
    if (rec->err_b64) {
        json_object_add(r, "err-data", json_string_take(rec->err_b64));
        rec->err_b64 = NULL;
    }
    if (rec->has_out && res->out.len > 0)
        json_object_add_bool(r, "out-truncated", res->out.truncated);
    if (rec->has_err && res->err.len > 0)
        json_object_add_bool(r, "err-truncated", res->err.truncated);
    rec_free(rec);
    call_return(call, r);
}

/* The final status of a finished process; the record is gone from now on. */
static void status_report(cmd_call *call, struct exec_rec *rec)
{
    const struct plat_child_result *res = plat_child_result(rec->child);
    rec_unlink(rec);
    if (res->out.len + res->err.len > EXEC_INLINE_B64) {
        call_queue_work(call, rec, encode_work, encode_after);
        return;
    }
    encode_work(rec);
    encode_after(call, rec);
}

static void return_running(cmd_call *call)
{
    yajl_val r = json_object();
    json_object_add_bool(r, "exited", false);
    call_return(call, r);
}

static void fail_no_pid(cmd_call *call, int64_t pid)
{
    call_fail(call, "PID %" PRId64 " does not exist", pid);
}

static void waiter_closed(uv_handle_t *h)
{
    loopmon_mark("exec-status waiter closed");
    free(h->data);
}

static void waiter_drop(struct exec_waiter *w)
{
    n_waiters--;
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, waiter_closed);
}

static void waiter_timeout(uv_timer_t *t)
{
    loopmon_mark("exec-status wait timeout");
    struct exec_waiter *w = t->data;
    for (struct exec_waiter **p = &w->rec->waiters; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    cmd_call *call = w->call;
    waiter_drop(w);
    return_running(call);
}

/* The process finished: answer the waiters in arrival order. The first one somebody still
 * listens to gets the status (and the record); later ones find the record gone, as a
 * second status call would. */
static void exec_child_done(struct plat_child *child, void *data)
{
    struct exec_rec *rec = data;
    struct exec_waiter *list = rec->waiters;
    bool reported = false;
    int64_t pid = rec->pid;

    rec->waiters = NULL;
    while (list) {
        struct exec_waiter *w = list;
        cmd_call *call = w->call;
        list = w->next;
        waiter_drop(w);
        if (reported)
            fail_no_pid(call, pid);
        else if (!call_wanted(call))
            return_running(call); /* dropped by a sync or a disconnect: keep the data */
        else {
            reported = true;
            status_report(call, rec);
        }
    }
}

void cmd_exec_status(cmd_call *call)
{
    const struct exec_status_args *a = call_args(call);
    int64_t pid = a->pid, wait = a->wait;
    struct exec_rec *rec = rec_find(pid);

    if (!rec) {
        fail_no_pid(call, pid);
        return;
    }
    if (wait < 0) {
        call_fail(call, "value '%" PRId64 "' is invalid for argument __org.qgad_wait", wait);
        return;
    }
    if (plat_child_finished(rec->child)) {
        status_report(call, rec);
        return;
    }
    if (wait == 0 || n_waiters >= QGAD_EXEC_MAX_WAITERS) {
        return_running(call);
        return;
    }
    struct exec_waiter *w = xcalloc(1, sizeof(*w));
    w->call = call;
    w->rec = rec;
    w->timer.data = w;
    uv_timer_init(uv_default_loop(), &w->timer);
    uv_unref((uv_handle_t *)&w->timer); /* agent exit does not wait for it */
    uv_timer_start(&w->timer, waiter_timeout,
                   (uint64_t)(wait < QGAD_EXEC_MAX_WAIT_MS ? wait : QGAD_EXEC_MAX_WAIT_MS), 0);
    struct exec_waiter **tail = &rec->waiters;
    while (*tail)
        tail = &(*tail)->next;
    *tail = w;
    n_waiters++;
}

/* ---- guest-exec ---- */

/* What the pool step prepares for the spawn on the loop. */
struct exec_prep {
    char *program; /* the resolved path: the PATH search ran in the pool */
    int find_rc;   /* -errno when there is none */
    const char **argv, **env;
    char *input; /* decoded input-data, NULL: none */
    size_t input_len;
    uint64_t timeout_ms;
};

/* A NULL-terminated vector of pointers into a validated string array (first: lead). */
static const char **str_vector(const char *lead, yajl_val arr)
{
    size_t n = YAJL_IS_ARRAY(arr) ? arr->u.array.len : 0;
    const char **v = xcalloc(n + 2, sizeof(*v));
    size_t k = 0;
    if (lead)
        v[k++] = lead;
    for (size_t i = 0; i < n; i++)
        v[k++] = arr->u.array.values[i]->u.string;
    return v;
}

static void capture_mode(int capture, struct plat_child_opts *o)
{
    bool out =
        capture == CAPTURE_STDOUT || capture == CAPTURE_SEPARATED || capture == CAPTURE_MERGED;
    bool err = capture == CAPTURE_STDERR || capture == CAPTURE_SEPARATED;
    o->out = out ? PLAT_CHILD_CAPTURE : PLAT_CHILD_DISCARD;
    o->err = err ? PLAT_CHILD_CAPTURE : PLAT_CHILD_DISCARD;
    if (capture == CAPTURE_MERGED)
        o->err = PLAT_CHILD_TO_STDOUT;
}

/* __org.qgad_timeout in ms, 0 when absent; -1 when not a sane duration. */
static int64_t timeout_ms(yajl_val v)
{
    if (!v)
        return 0;
    double s = v->u.number.r ? strtod(v->u.number.r, NULL) : 0;
    if (!(s > 0) || s > EXEC_MAX_TIMEOUT_S)
        return -1;
    int64_t ms = (int64_t)(s * 1000);
    return ms < s * 1000 ? ms + 1 : ms; /* rounded up: never 0 */
}

/* argv as one bounded audit text: quoted arguments, "..." when cut. */
/* argv as one bounded audit text: each argument escaped, capped and quoted, "..." when
 * the whole is cut. Reads a bounded prefix of each argument, whatever their size. */
static char *argv_text(const char *const *argv)
{
    char *buf = xmalloc(EXEC_AUDIT_ARGV_MAX + 1);
    char arg[LOG_STR_BUF];
    size_t len = 0;
    buf[0] = 0;
    for (const char *const *a = argv; *a; a++) {
        log_str(arg, *a, SIZE_MAX);
        int n =
            snprintf(buf + len, EXEC_AUDIT_ARGV_MAX + 1 - len, "%s'%s'", a == argv ? "" : " ", arg);
        if (n < 0 || len + (size_t)n > EXEC_AUDIT_ARGV_MAX - 4) {
            snprintf(buf + (len < EXEC_AUDIT_ARGV_MAX - 4 ? len : EXEC_AUDIT_ARGV_MAX - 4), 5,
                     " ...");
            break;
        }
        len += (size_t)n;
    }
    return buf;
}

static void exec_audit(const struct exec_args *a, const char *const *argv, int64_t pid, int rc)
{
    char *text = argv_text(argv);
    char path[LOG_STR_BUF];
    char envinfo[48] = "";
    log_str(path, a->path, SIZE_MAX);
    if (YAJL_IS_ARRAY(a->env))
        snprintf(envinfo, sizeof(envinfo), ", env replaced (%zu entries)", a->env->u.array.len);
    const char *input = a->input ? ", with input data" : "";
    if (rc < 0)
        log_audit("guest-exec '%s' argv [%s]%s%s: failed: %s", path, text, envinfo, input,
                  strerror(-rc));
    else
        log_audit("guest-exec '%s' argv [%s]%s%s: pid %" PRId64, path, text, envinfo, input, pid);
    free(text);
}

void cmd_exec_begin(cmd_call *call)
{
    call_set_ctx(call, xcalloc(1, sizeof(struct exec_prep)));
}

/* Pool: everything whose cost grows with the request (input, vectors, PATH search). */
int cmd_exec(const void *args, void *ctx, yajl_val *out, char **err)
{
    const struct exec_args *a = args;
    struct exec_prep *p = ctx;
    int64_t tmo = timeout_ms(a->timeout);
    if (tmo < 0) {
        *err = xasprintf("value '%s' is invalid for argument __org.qgad_timeout",
                         a->timeout->u.number.r ? a->timeout->u.number.r : "?");
        return -1;
    }
    p->timeout_ms = (uint64_t)tmo;
    if (a->input) {
        p->input = base64_decode(a->input, &p->input_len);
        if (!p->input) {
            *err = xstrdup(BASE64_INVALID_TEXT);
            return -1;
        }
    }
    p->argv = str_vector(a->path, a->arg);
    p->env = a->env ? str_vector(NULL, a->env) : NULL;
    p->program = plat_child_find_program(a->path, p->env, &p->find_rc);
    return 0;
}

static void prep_free(struct exec_prep *p)
{
    free(p->program);
    free(p->argv);
    free(p->env);
    free(p->input);
    free(p);
}

static void exec_failed(cmd_call *call, const char *path, int rc)
{
    call_fail(call, "Failed to execute child process \xe2\x80\x9c%s\xe2\x80\x9d (%s)", path,
              strerror(-rc));
}

/* The child runs (the reply is its pid) or could not be started (the record goes). */
static void exec_started(struct plat_child *child, int rc, void *data)
{
    loopmon_mark("guest-exec started");
    struct exec_rec *rec = data;
    cmd_call *call = rec->starting;
    struct exec_prep *p = rec->prep;
    const struct exec_args *a = call_args(call);

    rec->starting = NULL;
    rec->prep = NULL;
    if (rc == 0)
        rec->pid = plat_child_pid(child);
    exec_audit(a, p->argv, rec->pid, rc);
    if (rc < 0) {
        exec_failed(call, a->path, rc);
        rec->child = NULL; /* freed by the platform */
        rec_unlink(rec);
        rec_free(rec);
    } else {
        yajl_val r = json_object();
        json_object_add_int(r, "pid", rec->pid);
        call_return(call, r);
    }
    prep_free(p);
}

/* Requests the start of the prepared process; the record counts from now on. Returns 0
 * (p is the record's, the call is finished by exec_started) or -errno. */
static int exec_spawn(cmd_call *call, const struct exec_args *a, struct exec_prep *p)
{
    struct plat_child_opts o = {
        .path = p->program,
        .argv = p->argv,
        .env = p->env,
        .input = p->input,
        .input_len = p->input_len,
        .has_input = p->input != NULL,
        .cap = QGAD_EXEC_STREAM_CAP,
        .timeout_ms = p->timeout_ms,
        .budget = &output_budget,
        .loop_unref = true,
    };
    output_budget.limit = cmd_settings.exec_output_total;
    capture_mode(a->capture, &o);

    struct exec_rec *rec = xcalloc(1, sizeof(*rec));
    rec->has_out = o.out == PLAT_CHILD_CAPTURE;
    rec->has_err = o.err == PLAT_CHILD_CAPTURE;
    rec->starting = call;
    rec->prep = p;
    loopmon_mark("guest-exec spawn");
    int rc = plat_child_spawn(&o, exec_started, exec_child_done, rec, &rec->child);
    if (rc < 0) {
        free(rec);
        return rc;
    }
    rec->next = recs;
    recs = rec;
    n_recs++;
    return 0;
}

void cmd_exec_end(cmd_call *call, void *ctx, yajl_val out, char *err)
{
    const struct exec_args *a = call_args(call);
    struct exec_prep *p = ctx;

    json_free(out);
    if (err) {
        call_finish_with(call, NULL, err);
    } else if (n_recs >= cmd_settings.max_exec_processes) {
        call_fail(call,
                  "too many guest-exec processes: the limit is %u (collect finished ones "
                  "with guest-exec-status)",
                  cmd_settings.max_exec_processes);
    } else {
        int rc = p->program ? exec_spawn(call, a, p) : p->find_rc;
        if (rc == 0)
            return; /* exec_started finishes the call */
        exec_audit(a, p->argv, 0, rc);
        exec_failed(call, a->path, rc);
    }
    prep_free(p);
}

void cmd_exec_release_all(void)
{
    while (recs) {
        struct exec_rec *rec = recs;
        struct exec_waiter *list = rec->waiters;
        rec->waiters = NULL;
        rec_unlink(rec);
        if (rec->starting) { /* its start will not be reported: the child is left alone */
            call_fail(rec->starting, "the agent is stopping");
            prep_free(rec->prep);
        }
        while (list) {
            struct exec_waiter *w = list;
            cmd_call *call = w->call;
            list = w->next;
            waiter_drop(w);
            return_running(call);
        }
        rec_free(rec); /* a running process is left running, as upstream's are */
    }
}
