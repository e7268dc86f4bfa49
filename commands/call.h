/* A call is one request being executed. Handlers run on the loop thread and must finish
 * the call exactly once, now or later: call_return() or call_error(). Blocking work goes
 * to the threadpool with call_queue_work(); requests on one resource are kept in order
 * with call_serialize(). */
#ifndef QGAD_COMMANDS_CALL_H
#define QGAD_COMMANDS_CALL_H

#include <stdbool.h>
#include <stdint.h>
#include <yajl/yajl_tree.h>

struct cmd_def;
typedef struct cmd_call cmd_call;
typedef void (*cmd_handler)(cmd_call *call);

#define ERR_GENERIC "GenericError"
#define ERR_NOT_FOUND "CommandNotFound"

struct cmd_serial; /* a FIFO of calls on one resource (a file handle, the freeze state) */

struct cmd_call {
    const struct cmd_def *cmd; /* NULL when the command was not found */
    yajl_val args;             /* validated "arguments" object, or NULL; owned */
    /* outcome, valid once finished */
    bool finished;
    yajl_val result;       /* owned */
    const char *err_class; /* static text; NULL on success */
    char *err_desc;        /* owned */
    /* completion: on_done runs once, on the loop thread, possibly inside cmd_call_start */
    void (*on_done)(cmd_call *call);
    void *owner; /* the waiting session record; NULL once nobody waits */
    /* resource serialisation */
    struct cmd_serial *serial;
    cmd_call *serial_next;
    void (*serial_start)(cmd_call *call);
};

/* Looks the command up, applies the policy and checks the arguments; on any error the
 * call is created already finished (CommandNotFound or GenericError). Takes args. */
cmd_call *cmd_call_new(const char *name, yajl_val args, void (*on_done)(cmd_call *), void *owner);
/* Runs the handler (unless already finished, in which case on_done runs now). */
void cmd_call_start(cmd_call *call);
void cmd_call_free(cmd_call *call);

void call_return(cmd_call *call, yajl_val value);
void call_return_empty(cmd_call *call); /* {} */
void call_error(cmd_call *call, const char *err_class, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define call_fail(call, ...) call_error((call), ERR_GENERIC, __VA_ARGS__)

/* Typed views of validated arguments (absent -> the default / NULL / false). */
yajl_val call_arg(cmd_call *call, const char *name);
int64_t call_arg_int(cmd_call *call, const char *name, int64_t dflt);
const char *call_arg_str(cmd_call *call, const char *name, const char *dflt);
bool call_arg_bool(cmd_call *call, const char *name, bool dflt);
bool call_has_arg(cmd_call *call, const char *name);

/* Threadpool: work(data) runs on a pool thread and must touch no loop-owned state;
 * after(call, data) runs on the loop thread and must finish the call. */
typedef void (*cmd_work_fn)(void *data);
typedef void (*cmd_after_fn)(cmd_call *call, void *data);
void call_queue_work(cmd_call *call, void *data, cmd_work_fn work, cmd_after_fn after);

/* Resource FIFO: start(call) runs when every earlier call queued on q has finished. */
struct cmd_serial {
    cmd_call *running;
    cmd_call *head, *tail; /* waiting */
};
void call_serialize(cmd_call *call, struct cmd_serial *q, void (*start)(cmd_call *call));

#endif
