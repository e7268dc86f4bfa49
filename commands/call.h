/* What a command handler sees of its call. Handlers run on the loop thread and finish
 * the call exactly once, now or later: call_return() or call_error(). The outcome reaches
 * the session on a later loop turn, never inside the handler or another completion. How
 * a command runs (on the loop, or as a pool job) is its registry row's business. */
#ifndef QGAD_COMMANDS_CALL_H
#define QGAD_COMMANDS_CALL_H

#include <stdbool.h>
#include <stdint.h>
#include <yajl/yajl_tree.h>

typedef struct cmd_call cmd_call;

#define ERR_GENERIC "GenericError"
#define ERR_NOT_FOUND "CommandNotFound"

/* The command's argument struct, filled from its spec (defaults applied, ranges checked);
 * NULL for a command without arguments. Valid until the call is freed. */
const void *call_args(const cmd_call *call);
/* false once nobody waits for the reply (a sync barrier dropped it, the session ended):
 * the work still completes; a handler may skip what only the reply needed. */
bool call_wanted(const cmd_call *call);

void call_return(cmd_call *call, yajl_val value); /* takes value; NULL means {} */
void call_return_empty(cmd_call *call);           /* {} */
void call_error(cmd_call *call, const char *err_class, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define call_fail(call, ...) call_error((call), ERR_GENERIC, __VA_ARGS__)
/* Finishes with a pool job's outcome: err (taken) if set, else value (taken). */
void call_finish_with(cmd_call *call, yajl_val value, char *err);

/* A row's loop-side begin step hands its pool job a context (a file handle, a record). */
void call_set_ctx(cmd_call *call, void *ctx);
void *call_ctx(const cmd_call *call);

/* For commands that run on the loop and need the threadpool later (an exec-status that
 * waited for the exit): work(data) runs on a pool thread and must touch no loop-owned
 * state; after(call, data) runs on the loop thread and must finish the call. */
typedef void (*cmd_work_fn)(void *data);
typedef void (*cmd_after_fn)(cmd_call *call, void *data);
void call_queue_work(cmd_call *call, void *data, cmd_work_fn work, cmd_after_fn after);

/* A FIFO of calls on one resource (a file handle, the freeze state). A row names the
 * function that finds a call's FIFO; the call runs when every earlier one has finished. */
struct cmd_serial {
    cmd_call *running;
    cmd_call *head, *tail; /* waiting */
};

#endif
