/* The one command table: one row per command (commands/registry.c) saying its name, its
 * argument spec, how it runs and what it is serialised on, plus the enable policy (allow
 * list, block list, frozen allow-list) applied to it. */
#ifndef QGAD_COMMANDS_REGISTRY_H
#define QGAD_COMMANDS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "commands/args.h"
#include "commands/call.h"

enum cmd_flags {
    CMD_ALLOW_FROZEN = 1 << 0,     /* in the freeze allow-list (PROTOCOL.md 4.1) */
    CMD_NO_SUCCESS_REPLY = 1 << 1, /* success-response: false */
    CMD_BARRIER = 1 << 2,          /* guest-sync*: drops earlier still-running replies */
    CMD_DELIMITED = 1 << 3,        /* success reply is prefixed with 0xFF */
};

enum cmd_run {
    /* The handler runs on the loop: it finishes the call at once, or later from a loop
     * event (a timer, a child's exit). Only for work that does not grow with the input. */
    CMD_INSTANT,
    /* The work function runs in the threadpool. Optional loop-side steps around it: the
     * handler first (take a resource, refuse early; it may finish the call, and then no
     * job runs), the end step after (record what the job made; it must finish the call).
     * Without an end step the job's outcome is the reply. */
    CMD_POOL,
};

typedef void (*cmd_handler)(cmd_call *call);
/* Pool thread: args is the command's argument struct (read-only, kept alive by the
 * call), ctx what the handler step set (NULL without one). Returns 0 with *out set (NULL
 * means {}), or -1 with *err a malloc'd GenericError text. Touches no loop-owned state. */
typedef int (*cmd_pool_fn)(const void *args, void *ctx, yajl_val *out, char **err);
/* Loop thread, after the pool job: takes out and err; must finish the call. */
typedef void (*cmd_end_fn)(cmd_call *call, void *ctx, yajl_val out, char *err);
/* The FIFO the call must wait in, or NULL after failing the call (e.g. unknown handle). */
typedef struct cmd_serial *(*cmd_queue_fn)(cmd_call *call);

struct cmd_def {
    const char *name;
    enum cmd_run run;
    cmd_handler handler;         /* CMD_INSTANT: the command; CMD_POOL: optional begin step */
    cmd_pool_fn work;            /* CMD_POOL */
    cmd_end_fn end;              /* CMD_POOL: optional */
    const struct arg_list *args; /* NULL: takes no arguments */
    cmd_queue_fn serial;         /* NULL: runs at once */
    unsigned flags;
};

const struct cmd_def *cmd_lookup(const char *name);
size_t cmd_count(void);
const struct cmd_def *cmd_at(size_t i); /* table (schema) order */
bool cmd_enabled(const struct cmd_def *cmd);

/* Policy: the lists are command names; unknown names are ignored. Recomputes every row:
 * allow list present -> deny all but those; block list wins; frozen -> only the
 * CMD_ALLOW_FROZEN rows. Call again whenever frozen changes. */
void cmd_policy_set(const char *const *allow, size_t n_allow, const char *const *block,
                    size_t n_block);
void cmd_policy_set_frozen(bool frozen);
bool cmd_policy_frozen(void);

#endif
