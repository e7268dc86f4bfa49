/* The life of one call: lookup, policy and argument check at creation, the handler, one
 * finish, the per-resource FIFO and the threadpool hand-off. */
#include "commands/call.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "base/json.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "commands/registry.h"

/* Finishing a call twice would run on_done twice on a freed call: stop loudly, also in
 * release builds (where assert() is compiled out). */
static void call_check_unfinished(const cmd_call *call)
{
    if (!call->finished)
        return;
    log_critical("command %s finished twice", call->cmd ? call->cmd->name : "?");
    abort();
}

/* Records the outcome without running on_done (used while the call is being created). */
static void call_set_error(cmd_call *call, const char *err_class, char *desc)
{
    call_check_unfinished(call);
    call->err_class = err_class;
    call->err_desc = desc;
    call->finished = true;
}

cmd_call *cmd_call_new(const char *name, yajl_val args, void (*on_done)(cmd_call *), void *owner)
{
    cmd_call *call = xcalloc(1, sizeof(*call));
    call->args = args;
    call->on_done = on_done;
    call->owner = owner;

    const struct cmd_def *cmd = cmd_lookup(name);
    if (!cmd) {
        call_set_error(call, ERR_NOT_FOUND, xasprintf("The command %s has not been found", name));
        return call;
    }
    call->cmd = cmd;
    if (!cmd_enabled(cmd)) {
        call_set_error(call, ERR_NOT_FOUND,
                       xasprintf("Command %s has been disabled: the command is not allowed", name));
        return call;
    }
    char *err = args_check(cmd->args, args);
    if (err)
        call_set_error(call, ERR_GENERIC, err);
    return call;
}

void cmd_call_start(cmd_call *call)
{
    if (call->finished) {
        call->on_done(call);
        return;
    }
    call->cmd->handler(call);
}

void cmd_call_free(cmd_call *call)
{
    if (!call)
        return;
    json_free(call->args);
    json_free(call->result);
    free(call->err_desc);
    free(call);
}

/* Gives the call's resource slot to the next waiting call and returns that call (or NULL).
 * Done before on_done, which may free this call. */
static cmd_call *serial_release(cmd_call *call)
{
    struct cmd_serial *q = call->serial;
    if (!q)
        return NULL;
    call->serial = NULL;
    if (q->running != call)
        return NULL; /* finished while still waiting (cannot happen via call_serialize) */
    cmd_call *next = q->head;
    if (next) {
        q->head = next->serial_next;
        if (!q->head)
            q->tail = NULL;
        next->serial_next = NULL;
    }
    q->running = next;
    return next;
}

static void call_finish(cmd_call *call)
{
    assert(call->finished);
    cmd_call *next = serial_release(call);
    call->on_done(call);
    if (next)
        next->serial_start(next);
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

    va_start(ap, fmt);
    if (vasprintf(&desc, fmt, ap) < 0)
        desc = NULL;
    va_end(ap);
    call_set_error(call, err_class, desc ? desc : xstrdup(fmt));
    call_finish(call);
}

yajl_val call_arg(cmd_call *call, const char *name)
{
    return json_get(call->args, name);
}

int64_t call_arg_int(cmd_call *call, const char *name, int64_t dflt)
{
    int64_t v;
    return json_as_int64(call_arg(call, name), &v) ? v : dflt;
}

const char *call_arg_str(cmd_call *call, const char *name, const char *dflt)
{
    yajl_val v = call_arg(call, name);
    return (v && v->type == yajl_t_string) ? v->u.string : dflt;
}

bool call_arg_bool(cmd_call *call, const char *name, bool dflt)
{
    yajl_val v = call_arg(call, name);
    if (v && v->type == yajl_t_true)
        return true;
    if (v && v->type == yajl_t_false)
        return false;
    return dflt;
}

bool call_has_arg(cmd_call *call, const char *name)
{
    return call_arg(call, name) != NULL;
}

/* One threadpool hand-off; freed on the loop thread after `after` ran. */
struct call_work {
    uv_work_t req;
    cmd_call *call;
    void *data;
    cmd_work_fn work;
    cmd_after_fn after;
};

static void call_work_run(uv_work_t *req)
{
    struct call_work *w = req->data;
    w->work(w->data);
}

static void call_work_done(uv_work_t *req, int status)
{
    struct call_work *w = req->data;
    /* Work is never cancelled, so status is 0; `after` owns data either way. */
    if (status != 0)
        log_warning("threadpool work for %s ended with %s", w->call->cmd->name,
                    uv_strerror(status));
    w->after(w->call, w->data);
    free(w);
}

void call_queue_work(cmd_call *call, void *data, cmd_work_fn work, cmd_after_fn after)
{
    struct call_work *w = xcalloc(1, sizeof(*w));
    w->req.data = w;
    w->call = call;
    w->data = data;
    w->work = work;
    w->after = after;
    int rc = uv_queue_work(uv_default_loop(), &w->req, call_work_run, call_work_done);
    if (rc < 0) {
        /* Only a programming error (NULL callbacks) gets here: run the work inline. */
        log_error("uv_queue_work: %s", uv_strerror(rc));
        work(data);
        after(call, data);
        free(w);
    }
}

void call_serialize(cmd_call *call, struct cmd_serial *q, void (*start)(cmd_call *call))
{
    assert(!call->serial);
    call->serial = q;
    call->serial_start = start;
    call->serial_next = NULL;
    if (!q->running) {
        q->running = call;
        start(call);
        return;
    }
    if (q->tail)
        q->tail->serial_next = call;
    else
        q->head = call;
    q->tail = call;
}
