/* The life of one call: lookup, policy and argument check at creation, the row's way of
 * running (on the loop, or a pool job between optional loop steps), its resource FIFO,
 * and one finish whose delivery waits for the next loop turn. */
#include "commands/dispatch.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "base/json.h"
#include "base/log.h"
#include "base/loopmon.h"
#include "base/xalloc.h"
#include "commands/registry.h"

struct cmd_call {
    const struct cmd_def *cmd; /* NULL when the command was not found */
    yajl_val request_args;     /* the "arguments" object as received; owned */
    void *args;                /* the command's argument struct; owned */
    char *range_err;           /* an argument out of its range: reported at start */
    bool disabled;             /* refused by the policy (a disabled sync is no barrier) */
    bool finished;
    yajl_val result;       /* owned */
    const char *err_class; /* static text; NULL on success */
    char *err_desc;        /* owned */
    void (*on_done)(cmd_call *call);
    void *owner; /* NULL once nobody waits */
    void *ctx;   /* a pool row's context, from its begin step */
    struct cmd_serial *serial;
    cmd_call *serial_next;
    cmd_call *deferred_next; /* in the deferred queue (to deliver, or to start) */
    bool deferred_start;
};

/* ---- the deferred queue: deliveries and serialised starts run on a later turn ---- */

static struct {
    uv_idle_t idle;
    bool init;
    cmd_call *head, *tail;
} deferred;

static void call_run(cmd_call *call);
static void call_deliver(cmd_call *call);

static void deferred_run(uv_idle_t *idle)
{
    /* only what is queued now: what these calls queue waits for the next turn */
    cmd_call *list = deferred.head;
    deferred.head = deferred.tail = NULL;
    uv_idle_stop(idle);
    while (list) {
        cmd_call *call = list;
        list = call->deferred_next;
        call->deferred_next = NULL;
        const char *name = call->cmd ? call->cmd->name : "a request";
        if (call->deferred_start) {
            loopmon_mark(name);
            call_run(call);
        } else {
            loopmon_mark_fmt("deliver %s", name);
            call_deliver(call);
        }
    }
}

static void deferred_push(cmd_call *call, bool start)
{
    if (!deferred.init) {
        uv_idle_init(uv_default_loop(), &deferred.idle);
        deferred.init = true;
    }
    call->deferred_start = start;
    call->deferred_next = NULL;
    if (deferred.tail)
        deferred.tail->deferred_next = call;
    else
        deferred.head = call;
    deferred.tail = call;
    uv_idle_start(&deferred.idle, deferred_run);
}

/* ---- creation ---- */

/* Finishing a call twice would run on_done twice on a freed call: stop loudly, also in
 * release builds (where assert() is compiled out). */
static void call_check_unfinished(const cmd_call *call)
{
    if (!call->finished)
        return;
    log_critical("command %s finished twice", call->cmd ? call->cmd->name : "?");
    abort();
}

/* The call is created finished: it never runs. */
static cmd_call *call_refuse(cmd_call *call, const char *err_class, char *desc)
{
    call->finished = true;
    call->err_class = err_class;
    call->err_desc = desc;
    return call;
}

cmd_call *cmd_call_new(const char *name, yajl_val args, void (*on_done)(cmd_call *), void *owner)
{
    cmd_call *call = xcalloc(1, sizeof(*call));
    call->request_args = args;
    call->on_done = on_done;
    call->owner = owner;

    const struct cmd_def *cmd = cmd_lookup(name);
    if (!cmd)
        return call_refuse(call, ERR_NOT_FOUND,
                           xasprintf("The command %s has not been found", name));
    call->cmd = cmd;
    if (!cmd_enabled(cmd)) {
        call->disabled = true;
        return call_refuse(
            call, ERR_NOT_FOUND,
            xasprintf("Command %s has been disabled: the command is not allowed", name));
    }
    if (cmd->args)
        call->args = xmalloc(cmd->args->size);
    char *err = args_parse(cmd->args, args, call->args, &call->range_err);
    if (err)
        return call_refuse(call, ERR_GENERIC, err);
    return call;
}

void cmd_call_free(cmd_call *call)
{
    if (!call)
        return;
    json_free(call->request_args);
    free(call->args);
    free(call->range_err);
    json_free(call->result);
    free(call->err_desc);
    free(call);
}

/* ---- running ---- */

/* One pool job of a CMD_POOL row; freed on the loop thread. */
struct call_job {
    uv_work_t req;
    cmd_call *call;
    yajl_val out;
    char *err;
    int rc;
    /* call_queue_work's generic form */
    void *data;
    cmd_work_fn work;
    cmd_after_fn after;
};

static void row_job_run(uv_work_t *req)
{
    struct call_job *j = req->data;
    cmd_call *call = j->call; /* only its args and ctx: nothing the loop changes now */
    j->rc = call->cmd->work(call->args, call->ctx, &j->out, &j->err);
    if (j->rc < 0 && !j->err)
        j->err = xasprintf("%s failed", call->cmd->name);
}

static void row_job_done(uv_work_t *req, int status)
{
    struct call_job *j = req->data;
    cmd_call *call = j->call;
    loopmon_mark_fmt("%s end", call->cmd->name);
    yajl_val out = j->out;
    char *err = j->err;
    if (j->rc < 0) { /* the outcome is the error, whatever else the work left */
        json_free(out);
        out = NULL;
    } else {
        free(err);
        err = NULL;
    }
    free(j);
    if (call->cmd->end)
        call->cmd->end(call, call->ctx, out, err);
    else
        call_finish_with(call, out, err);
}

static void queue_or_die(uv_work_t *req, uv_work_cb run, uv_after_work_cb done)
{
    int rc = uv_queue_work(uv_default_loop(), req, run, done);
    if (rc < 0) { /* only NULL callbacks can make it refuse */
        log_critical("uv_queue_work: %s", uv_strerror(rc));
        abort();
    }
}

static void call_run(cmd_call *call)
{
    const struct cmd_def *cmd = call->cmd;
    if (cmd->handler)
        cmd->handler(call);
    if (cmd->run != CMD_POOL || call->finished)
        return;
    struct call_job *j = xcalloc(1, sizeof(*j));
    j->req.data = j;
    j->call = call;
    queue_or_die(&j->req, row_job_run, row_job_done);
}

/* After the resource lookup (an unknown handle is reported first, as upstream). */
static bool range_refused(cmd_call *call)
{
    if (!call->range_err)
        return false;
    call_error(call, ERR_GENERIC, "%s", call->range_err);
    return true;
}

void cmd_call_start(cmd_call *call)
{
    if (call->finished) {
        deferred_push(call, false);
        return;
    }
    if (!call->cmd->serial) {
        if (!range_refused(call))
            call_run(call);
        return;
    }
    struct cmd_serial *q = call->cmd->serial(call);
    if (!q) {
        assert(call->finished);
        return;
    }
    if (range_refused(call))
        return;
    call->serial = q;
    if (!q->running) {
        q->running = call;
        call_run(call);
        return;
    }
    if (q->tail)
        q->tail->serial_next = call;
    else
        q->head = call;
    q->tail = call;
}

/* ---- finishing ---- */

/* Gives the call's resource slot to the next waiting call, which starts on a later turn. */
static void serial_release(cmd_call *call)
{
    struct cmd_serial *q = call->serial;
    if (!q)
        return;
    call->serial = NULL;
    cmd_call *next = q->head;
    if (next) {
        q->head = next->serial_next;
        if (!q->head)
            q->tail = NULL;
        next->serial_next = NULL;
        deferred_push(next, true);
    }
    q->running = next;
}

static void call_deliver(cmd_call *call)
{
    call->on_done(call); /* may free the call */
}

static void call_finish(cmd_call *call)
{
    serial_release(call);
    deferred_push(call, false);
}

void call_return(cmd_call *call, yajl_val value)
{
    call_check_unfinished(call);
    call->result = value ? value : json_object();
    call->finished = true;
    call_finish(call);
}

void call_return_empty(cmd_call *call)
{
    call_return(call, json_object());
}

void call_error(cmd_call *call, const char *err_class, const char *fmt, ...)
{
    va_list ap;
    char *desc = NULL;

    call_check_unfinished(call);
    va_start(ap, fmt);
    if (vasprintf(&desc, fmt, ap) < 0)
        desc = NULL;
    va_end(ap);
    call->err_class = err_class;
    call->err_desc = desc ? desc : xstrdup(fmt);
    call->finished = true;
    call_finish(call);
}

void call_finish_with(cmd_call *call, yajl_val value, char *err)
{
    if (!err) {
        call_return(call, value);
        return;
    }
    json_free(value);
    call_check_unfinished(call);
    call->err_class = ERR_GENERIC;
    call->err_desc = err; /* taken as it is: no copy of the work's text */
    call->finished = true;
    call_finish(call);
}

/* ---- accessors ---- */

const void *call_args(const cmd_call *call)
{
    return call->args;
}

bool call_wanted(const cmd_call *call)
{
    return call->owner != NULL;
}

void call_set_ctx(cmd_call *call, void *ctx)
{
    call->ctx = ctx;
}

void *call_ctx(const cmd_call *call)
{
    return call->ctx;
}

void *cmd_call_owner(const cmd_call *call)
{
    return call->owner;
}

void cmd_call_detach(cmd_call *call)
{
    call->owner = NULL;
}

const char *cmd_call_name(const cmd_call *call)
{
    return call->cmd ? call->cmd->name : NULL;
}

bool cmd_call_is_barrier(const cmd_call *call)
{
    /* a disabled sync is "not found", and not a barrier */
    return call->cmd && (call->cmd->flags & CMD_BARRIER) && !call->disabled;
}

bool cmd_call_delimited(const cmd_call *call)
{
    return call->cmd && (call->cmd->flags & CMD_DELIMITED);
}

bool cmd_call_silent_success(const cmd_call *call)
{
    return call->cmd && (call->cmd->flags & CMD_NO_SUCCESS_REPLY);
}

bool cmd_call_finished(const cmd_call *call)
{
    return call->finished;
}

const char *cmd_call_error(const cmd_call *call, const char **desc)
{
    if (desc)
        *desc = call->err_desc;
    return call->err_class;
}

yajl_val cmd_call_result(const cmd_call *call)
{
    return call->result;
}

yajl_val cmd_call_request_args(const cmd_call *call)
{
    return call->request_args;
}

/* ---- the threadpool for loop-run commands ---- */

static void generic_job_run(uv_work_t *req)
{
    struct call_job *j = req->data;
    j->work(j->data);
}

static void generic_job_done(uv_work_t *req, int status)
{
    struct call_job *j = req->data;
    loopmon_mark_fmt("%s after its pool work", j->call->cmd ? j->call->cmd->name : "a request");
    j->after(j->call, j->data);
    free(j);
}

void call_queue_work(cmd_call *call, void *data, cmd_work_fn work, cmd_after_fn after)
{
    struct call_job *j = xcalloc(1, sizeof(*j));
    j->req.data = j;
    j->call = call;
    j->data = data;
    j->work = work;
    j->after = after;
    queue_or_die(&j->req, generic_job_run, generic_job_done);
}
