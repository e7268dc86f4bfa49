/* A session turns messages into calls and replies back into bytes, in request order.
 * Every request (and every parse error) gets a slot in a FIFO; a slot is written once it
 * is done and every slot before it has been written. guest-sync* drops the slots of
 * earlier calls still running, so no stale reply can follow its own. A big reply (a 48 MiB
 * read is 64 MiB of base64) is encoded in the threadpool: encoding it on the loop would
 * hold up every guest-sync for ~100 ms. */
#include "protocol/session.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "base/json.h"
#include "base/limits.h"
#include "base/log.h"
#include "base/loopmon.h"
#include "base/release.h"
#include "base/xalloc.h"
#include "commands/dispatch.h"
#include "protocol/wire/encoder.h"
#include "protocol/wire/framer.h"
#include "protocol/wire/request.h"

struct reply_slot {
    struct reply_slot *next;
    struct proto_session *session;
    cmd_call *call;                /* while running */
    struct reply_encoding *encode; /* while its reply is encoded in the threadpool */
    yajl_val id;                   /* echoed; owned */
    char *reply;                   /* encoded once done; NULL: nothing to write */
    size_t len;
    size_t weight; /* message plus reply bytes, counted in the session's held_bytes */
    bool done;
};

struct proto_session {
    struct proto_session_io io;
    char *name;
    struct proto_framer *framer;
    struct reply_slot *head, *tail;
    size_t held, held_bytes; /* slots in the FIFO and their weight (QGAD_MAX_PENDING_*) */
    bool paused;             /* the stream was asked to stop reading */
    unsigned busy;           /* inside feed or flush: freeing is deferred until they return */
    bool input_ended;        /* proto_session_end_input(): no more bytes will come */
    bool drained;            /* io.drained() called */
    bool closing;
    bool partial;   /* after the last read: part of a message is buffered */
    bool requested; /* a message arrived since the last activity report */
};

/* Past either cap the stream stops; it resumes once both are down to half, so a busy
 * host is not flipped on and off for every reply. */
static void session_throttle(struct proto_session *s)
{
    bool over = s->held >= QGAD_MAX_PENDING_REQUESTS || s->held_bytes >= QGAD_MAX_PENDING_BYTES;
    bool under =
        s->held <= QGAD_MAX_PENDING_REQUESTS / 2 && s->held_bytes <= QGAD_MAX_PENDING_BYTES / 2;
    if (s->closing || !s->io.pause || (s->paused ? !under : !over))
        return;
    s->paused = !s->paused;
    log_debug("%s: %zu requests waiting for their reply: %s reading", s->name, s->held,
              s->paused ? "stop" : "resume");
    s->io.pause(s->io.ctx, s->paused);
}

static void slot_weigh(struct proto_session *s, struct reply_slot *slot, size_t bytes)
{
    slot->weight += bytes;
    s->held_bytes += bytes;
    session_throttle(s);
}

static struct reply_slot *slot_add(struct proto_session *s, yajl_val id)
{
    struct reply_slot *slot = xcalloc(1, sizeof(*slot));
    slot->session = s;
    slot->id = id;
    if (s->tail)
        s->tail->next = slot;
    else
        s->head = slot;
    s->tail = slot;
    s->held++;
    return slot;
}

/* One reply encoded in the threadpool. It owns what the pool thread reads (the finished
 * call and the id), so the slot may go away meanwhile (barrier, closed session). */
struct reply_encoding {
    uv_work_t req;
    struct reply_slot *slot; /* NULL once nobody waits */
    cmd_call *call;          /* freed by the pool thread too: a big result is a big munmap */
    const char *name;        /* the command's (static) name, for logs */
    const char *err_class;   /* without a call: an error reply of this class and text */
    char *desc;
    yajl_val id;
    bool delimited;
    char *reply;
    size_t len;
};

/* Frees a finished call. One holding a big value (the 64 MiB payload of a guest-file-write)
 * is freed in the threadpool: unmapping that much would stall the loop for milliseconds. */
static void call_free_any(void *call)
{
    cmd_call_free(call);
    heap_trim();
}

static void value_free_any(void *v)
{
    json_free(v);
    heap_trim();
}

/* An id can be as big as any request (a hostile host's millions of nodes). */
static void value_release(yajl_val v)
{
    if (proto_encode_size_exceeds(v, QGAD_POOL_ENCODE_BYTES))
        release_in_pool(value_free_any, v);
    else
        json_free(v);
}

/* Whoever still works for the slot will find nobody waiting. */
static void slot_detach(struct reply_slot *slot)
{
    if (slot->call)
        cmd_call_detach(slot->call);
    if (slot->encode)
        slot->encode->slot = NULL;
    slot->call = NULL;
    slot->encode = NULL;
}

static void slot_free(struct reply_slot *slot)
{
    struct proto_session *s = slot->session;
    s->held--;
    s->held_bytes -= slot->weight;
    session_throttle(s);
    slot_detach(slot);
    value_release(slot->id);
    free(slot->reply);
    free(slot);
}

static void session_destroy(struct proto_session *s)
{
    while (s->head) {
        struct reply_slot *slot = s->head;
        s->head = slot->next;
        slot_free(slot);
    }
    proto_framer_free(s->framer);
    free(s->name);
    free(s);
}

static void session_report(struct proto_session *s, bool replied)
{
    if (!s->io.activity || s->closing)
        return;
    struct proto_session_activity a = {.busy = s->head != NULL,
                                       .partial = s->partial,
                                       .request = s->requested,
                                       .replied = replied};
    s->requested = false;
    s->io.activity(s->io.ctx, &a);
}

static void session_enter(struct proto_session *s)
{
    s->busy++;
}

static void session_leave(struct proto_session *s)
{
    if (--s->busy == 0 && s->closing)
        session_destroy(s);
}

/* Writes every finished reply that no earlier request is still waiting for. */
static void session_flush(struct proto_session *s)
{
    bool wrote = false, freed = false;
    session_enter(s);
    while (s->head && s->head->done && !s->closing) {
        struct reply_slot *slot = s->head;
        s->head = slot->next;
        if (!s->head)
            s->tail = NULL;
        if (slot->reply) {
            s->io.write(s->io.ctx, slot->reply, slot->len); /* may close the session */
            slot->reply = NULL;
            wrote = true;
        }
        slot_free(slot);
        freed = true;
    }
    if (freed) /* a silent success writes nothing but is no longer in flight either */
        session_report(s, wrote);
    if (s->input_ended && !s->head && !s->drained && !s->closing) {
        s->drained = true;
        log_debug("%s: every reply written after the end of input", s->name);
        if (s->io.drained)
            s->io.drained(s->io.ctx);
    }
    session_leave(s);
}

/* An error reply without a call (a parse error, a bad envelope). Its id can be as big as
 * any request: then it is encoded in the threadpool. */
static bool encode_in_pool(struct reply_slot *slot, cmd_call *call, bool delimited,
                           const char *err_class, const char *desc);

static void slot_set_error(struct reply_slot *slot, const char *err_class, const char *desc)
{
    if (proto_encode_size_exceeds(slot->id, QGAD_POOL_ENCODE_BYTES) &&
        encode_in_pool(slot, NULL, false, err_class, desc))
        return;
    slot->reply = proto_reply_error(err_class, desc, slot->id, &slot->len);
    slot->done = true;
    slot_weigh(slot->session, slot, slot->len);
}

static void encoding_run(uv_work_t *req)
{
    struct reply_encoding *e = req->data;
    const char *desc = e->desc;
    const char *err_class = e->call ? cmd_call_error(e->call, &desc) : e->err_class;
    if (err_class)
        e->reply = proto_reply_error(err_class, desc, e->id, &e->len);
    else
        e->reply = proto_reply_return(cmd_call_result(e->call), e->id, e->delimited, &e->len);
    if (e->call)
        cmd_call_free(e->call);
    e->call = NULL;
}

static void encoding_done(uv_work_t *req, int status)
{
    struct reply_encoding *e = req->data;
    struct reply_slot *slot = e->slot;
    loopmon_mark_fmt("encoded reply to %s", e->name ? e->name : "a request");
    if (slot) {
        slot->encode = NULL;
        slot->reply = e->reply;
        slot->len = e->len;
        slot->done = true;
        slot_weigh(slot->session, slot, slot->len);
    } else {
        free(e->reply);
    }
    value_release(e->id);
    free(e->desc);
    free(e);
    if (slot)
        session_flush(slot->session);
    loopmon_mark(NULL);
}

static void call_release(cmd_call *call)
{
    if (proto_encode_size_exceeds(cmd_call_request_args(call), QGAD_POOL_ENCODE_BYTES) ||
        proto_encode_size_exceeds(cmd_call_result(call), QGAD_POOL_ENCODE_BYTES)) {
        release_in_pool(call_free_any, call);
        return;
    }
    cmd_call_free(call);
}

/* Takes the call (or, without one, encodes the error err_class/desc). Returns false if
 * the pool refused the work (then nothing changed). */
static bool encode_in_pool(struct reply_slot *slot, cmd_call *call, bool delimited,
                           const char *err_class, const char *desc)
{
    struct reply_encoding *e = xcalloc(1, sizeof(*e));
    e->req.data = e;
    e->slot = slot;
    e->call = call;
    e->name = call ? cmd_call_name(call) : NULL;
    e->err_class = err_class;
    e->desc = call ? NULL : xstrdup(desc);
    e->id = slot->id;
    e->delimited = delimited;
    if (uv_queue_work(uv_default_loop(), &e->req, encoding_run, encoding_done) < 0) {
        free(e->desc);
        free(e);
        return false;
    }
    slot->id = NULL;
    slot->call = NULL;
    slot->encode = e;
    return true;
}

static void session_call_finish(cmd_call *call)
{
    struct reply_slot *slot = cmd_call_owner(call);
    if (!slot) { /* dropped by a barrier, or the session is gone */
        call_release(call);
        return;
    }
    bool delimited = cmd_call_delimited(call);
    const char *desc;
    const char *err_class = cmd_call_error(call, &desc);
    yajl_val result = cmd_call_result(call);
    if (err_class || !cmd_call_silent_success(call)) {
        /* a big reply, or a big id echoed in it, is encoded off the loop */
        bool big = proto_encode_size_exceeds(slot->id, QGAD_POOL_ENCODE_BYTES) ||
                   (!err_class && proto_encode_size_exceeds(result, QGAD_POOL_ENCODE_BYTES));
        if (big && encode_in_pool(slot, call, delimited, NULL, NULL))
            return;
        if (err_class)
            slot->reply = proto_reply_error(err_class, desc, slot->id, &slot->len);
        else
            slot->reply = proto_reply_return(result, slot->id, delimited, &slot->len);
        slot_weigh(slot->session, slot, slot->len);
    }
    slot->done = true;
    slot->call = NULL;
    call_release(call);
    session_flush(slot->session);
}

static void session_call_done(cmd_call *call)
{
    const char *name = cmd_call_name(call);
    loopmon_mark_fmt("reply to %s", name ? name : "a request");
    session_call_finish(call);
    loopmon_mark(NULL);
}

/* Drops the replies of every earlier request still running; their work completes. The
 * barrier is the newest slot, so the tail stays. */
static void session_barrier(struct proto_session *s, struct reply_slot *barrier, const char *cmd)
{
    struct reply_slot **link = &s->head;
    while (*link != barrier) {
        struct reply_slot *slot = *link;
        /* a finished call's reply is only waiting for its delivery turn: it stays */
        if (slot->done || (slot->call && cmd_call_finished(slot->call))) {
            link = &slot->next;
            continue;
        }
        const char *name = slot->call ? cmd_call_name(slot->call) : slot->encode->name;
        log_debug("%s: %s drops the reply of a running %s", s->name, cmd, name ? name : "command");
        *link = slot->next;
        slot_free(slot);
    }
}

static void session_dispatch(struct proto_session *s, yajl_val msg)
{
    struct proto_request req;
    size_t bytes = proto_framer_message_bytes(s->framer);
    loopmon_mark_parsed(bytes);
    char *err = proto_request_check(msg, &req);
    loopmon_mark(req.execute ? req.execute : "invalid request");
    struct reply_slot *slot = slot_add(s, req.id);
    slot_weigh(s, slot, bytes);
    s->requested = true;

    if (err) {
        value_release(msg);
        slot_set_error(slot, ERR_GENERIC, err);
        free(err);
        session_flush(s);
        return;
    }
    cmd_call *call = cmd_call_new(req.execute, req.args, session_call_done, slot);
    value_release(msg);
    slot->call = call;
    if (cmd_call_is_barrier(call))
        session_barrier(s, slot, cmd_call_name(call));
    cmd_call_start(call); /* may finish (and flush) right away */
}

static bool session_on_message(void *ctx, yajl_val msg)
{
    struct proto_session *s = ctx;
    session_dispatch(s, msg);
    loopmon_mark_fmt("read %s", s->name); /* the framer goes on with the rest of the read */
    return !s->closing;
}

static bool session_on_error(void *ctx, const char *desc)
{
    struct proto_session *s = ctx;
    loopmon_mark_parsed(proto_framer_message_bytes(s->framer));
    loopmon_mark("parse error reply");
    char text[LOG_STR_BUF]; /* the error names the host's bytes */
    log_debug("%s: %s", s->name, log_str(text, desc, SIZE_MAX));
    slot_set_error(slot_add(s, NULL), ERR_GENERIC, desc);
    session_flush(s);
    loopmon_mark_fmt("read %s", s->name);
    return !s->closing;
}

struct proto_session *proto_session_new(const struct proto_session_io *io, const char *name)
{
    struct proto_session *s = xcalloc(1, sizeof(*s));
    struct proto_framer_events ev = {session_on_message, session_on_error, s};
    s->io = *io;
    s->name = xstrdup(name ? name : "session");
    s->framer = proto_framer_new(&ev);
    return s;
}

void proto_session_feed(struct proto_session *s, const char *buf, size_t len)
{
    if (s->closing || s->input_ended)
        return;
    session_enter(s);
    proto_framer_feed(s->framer, buf, len);
    /* buffering part of a big message (growing its buffer) is parsing it too */
    loopmon_mark_parsed(proto_framer_message_bytes(s->framer));
    s->partial = proto_framer_in_message(s->framer);
    session_report(s, false);
    session_leave(s);
}

void proto_session_end_input(struct proto_session *s)
{
    if (s->closing || s->input_ended)
        return;
    s->input_ended = true;
    log_debug("%s: end of input, %zu requests still to answer", s->name, s->held);
    proto_framer_free(s->framer); /* a partial message is dropped, its budget returned */
    s->framer = NULL;
    s->partial = false;
    session_report(s, false);
    session_flush(s); /* nothing due: drained at once */
}

void proto_session_free(struct proto_session *s)
{
    if (!s || s->closing)
        return;
    s->closing = true;
    for (struct reply_slot *slot = s->head; slot; slot = slot->next)
        slot_detach(slot); /* work in flight completes; its reply is dropped */
    if (!s->busy)
        session_destroy(s);
}
