/* The fake commands layer and transport sink shared by the session unit tests: this defines
 * every function of commands/dispatch.h over its own call struct (so call.o is never
 * linked), whose "slow" command finishes only when the test says so. Include it once. */
#ifndef QGAD_TEST_SESSION_FAKE_H
#define QGAD_TEST_SESSION_FAKE_H

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/limits.h"
#include "base/xalloc.h"
#include "commands/dispatch.h"
#include "protocol/session.h"

#define SESSION_FAKE static __attribute__((unused))

/* ---- the fake commands layer: commands/dispatch.h over its own call struct ---- */

enum { FAKE_BARRIER = 1, FAKE_DELIMITED = 2, FAKE_SILENT = 4 };

struct fake_cmd {
    const char *name;
    void (*handler)(cmd_call *call);
    unsigned flags;
};

struct cmd_call {
    const struct fake_cmd *cmd;
    yajl_val args;
    bool finished, disabled;
    yajl_val result;
    const char *err_class;
    char *err_desc;
    void (*on_done)(cmd_call *call);
    void *owner;
};

SESSION_FAKE cmd_call *pending[16];
SESSION_FAKE size_t n_pending;
SESSION_FAKE _Atomic size_t calls_live, freed_off_loop; /* cmd_call_free may run in the pool */
SESSION_FAKE pthread_t loop_thread;

/* Delivers at once: the session must cope with a completion inside its own dispatch too. */
SESSION_FAKE void fake_finish(cmd_call *call, yajl_val result, const char *err_class,
                              const char *desc)
{
    call->result = result;
    call->err_class = err_class;
    call->err_desc = desc ? xstrdup(desc) : NULL;
    call->finished = true;
    call->on_done(call);
}

SESSION_FAKE void h_instant(cmd_call *call)
{
    fake_finish(call, json_object(), NULL, NULL);
}
SESSION_FAKE void h_number(cmd_call *call)
{
    fake_finish(call, json_int(5), NULL, NULL);
}
SESSION_FAKE void h_fail(cmd_call *call)
{
    fake_finish(call, NULL, ERR_GENERIC, "it failed");
}
SESSION_FAKE void h_slow(cmd_call *call)
{
    pending[n_pending++] = call;
}

#define BIG_LEN (1u << 20) /* big enough to be encoded in the threadpool */
SESSION_FAKE void h_big(cmd_call *call)
{
    char *s = xmalloc(BIG_LEN + 1);
    memset(s, 'b', BIG_LEN);
    s[BIG_LEN] = '\0';
    fake_finish(call, json_string_take(s), NULL, NULL);
}

SESSION_FAKE const struct fake_cmd fake_cmds[] = {
    {"instant", h_instant, 0},
    {"slow", h_slow, 0},
    {"fail", h_fail, 0},
    {"sync", h_number, FAKE_BARRIER},
    {"sync-delimited", h_number, FAKE_BARRIER | FAKE_DELIMITED},
    {"shutdown", h_instant, FAKE_SILENT},
    {"shutdown-fail", h_fail, FAKE_SILENT},
    {"blocked-sync", h_number, FAKE_BARRIER},
    {"big", h_big, 0},
};

cmd_call *cmd_call_new(const char *name, yajl_val args, void (*on_done)(cmd_call *), void *owner)
{
    cmd_call *call = xcalloc(1, sizeof(*call));
    call->args = args;
    call->on_done = on_done;
    call->owner = owner;
    calls_live++;
    for (size_t i = 0; i < sizeof(fake_cmds) / sizeof(fake_cmds[0]); i++)
        if (strcmp(fake_cmds[i].name, name) == 0)
            call->cmd = &fake_cmds[i];
    if (!call->cmd) {
        call->finished = true;
        call->err_class = ERR_NOT_FOUND;
        call->err_desc = xasprintf("The command %s has not been found", name);
    } else if (strcmp(name, "blocked-sync") == 0) {
        call->finished = true;
        call->disabled = true;
        call->err_class = ERR_NOT_FOUND;
        call->err_desc =
            xasprintf("Command %s has been disabled: the command is not allowed", name);
    }
    return call;
}

void cmd_call_start(cmd_call *call)
{
    if (call->finished)
        call->on_done(call);
    else
        call->cmd->handler(call);
}

void cmd_call_free(cmd_call *call)
{
    json_free(call->args);
    json_free(call->result);
    free(call->err_desc);
    free(call);
    calls_live--;
    if (!pthread_equal(pthread_self(), loop_thread))
        freed_off_loop++;
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
    return call->cmd && (call->cmd->flags & FAKE_BARRIER) && !call->disabled;
}
bool cmd_call_delimited(const cmd_call *call)
{
    return call->cmd && (call->cmd->flags & FAKE_DELIMITED);
}
bool cmd_call_silent_success(const cmd_call *call)
{
    return call->cmd && (call->cmd->flags & FAKE_SILENT);
}
bool cmd_call_finished(const cmd_call *call)
{
    return call->finished;
}
const char *cmd_call_error(const cmd_call *call, const char **desc)
{
    *desc = call->err_desc;
    return call->err_class;
}
yajl_val cmd_call_result(const cmd_call *call)
{
    return call->result;
}
yajl_val cmd_call_request_args(const cmd_call *call)
{
    return call->args;
}

/* Finishes the i-th slow call (in start order) successfully with {"n": i}. */
SESSION_FAKE void finish_slow(size_t i)
{
    assert_true(i < n_pending && pending[i]);
    cmd_call *call = pending[i];
    pending[i] = NULL;
    yajl_val r = json_object();
    json_object_add_int(r, "n", (int64_t)i);
    fake_finish(call, r, NULL, NULL);
}

/* ---- the transport side ---- */

struct sink {
    struct buf out;
    size_t writes;
    struct proto_session *close_on_write;  /* frees this session inside the first write */
    size_t drained;                        /* io.drained calls */
    struct proto_session *free_on_drained; /* frees this session inside io.drained */
};

SESSION_FAKE void sink_write(void *ctx, char *buf, size_t len)
{
    struct sink *k = ctx;
    buf_put(&k->out, buf, len);
    free(buf);
    k->writes++;
    if (k->close_on_write) {
        struct proto_session *s = k->close_on_write;
        k->close_on_write = NULL;
        proto_session_free(s);
    }
}

SESSION_FAKE struct sink sink;

SESSION_FAKE void sink_drained(void *ctx)
{
    struct sink *k = ctx;
    k->drained++;
    if (k->free_on_drained) {
        struct proto_session *s = k->free_on_drained;
        k->free_on_drained = NULL;
        proto_session_free(s);
    }
}

SESSION_FAKE struct proto_session *session_new(void)
{
    struct proto_session_io io = {.write = sink_write, .drained = sink_drained, .ctx = &sink};
    buf_release(&sink.out);
    memset(&sink, 0, sizeof(sink));
    memset(pending, 0, sizeof(pending));
    n_pending = 0;
    return proto_session_new(&io, "test");
}

SESSION_FAKE void feed(struct proto_session *s, const char *text)
{
    proto_session_feed(s, text, strlen(text));
}

/* The bytes written since the last check are exactly want. */
SESSION_FAKE void expect_out(const char *want)
{
    size_t n = strlen(want);
    if (sink.out.len != n || (n && memcmp(sink.out.data, want, n) != 0))
        fail_msg("written: '%.*s'\nwanted:  '%s'", (int)sink.out.len,
                 sink.out.data ? sink.out.data : "", want);
    sink.out.len = 0;
}

SESSION_FAKE int pauses, resumes; /* io.pause calls */

SESSION_FAKE void count_pause(void *ctx, bool paused)
{
    if (paused)
        pauses++;
    else
        resumes++;
}

SESSION_FAKE void teardown_check(struct proto_session *s)
{
    proto_session_free(s);
    assert_int_equal(calls_live, 0);
    buf_release(&sink.out);
}

#endif
