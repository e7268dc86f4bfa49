/* The call as the session drives it: create (lookup, policy and argument check), start,
 * read the outcome, detach, free. The only commands/ interface protocol/ uses. */
#ifndef QGAD_COMMANDS_DISPATCH_H
#define QGAD_COMMANDS_DISPATCH_H

#include <stdbool.h>
#include <yajl/yajl_tree.h>

#include "commands/call.h"

/* Looks the command up, applies the policy and checks the arguments; on any error the
 * call is created already finished (CommandNotFound or GenericError). Takes args.
 * on_done(call) runs once, on the loop thread, on a loop turn after the call finished
 * (never inside cmd_call_start); owner is whatever the caller wants back then. */
cmd_call *cmd_call_new(const char *name, yajl_val args, void (*on_done)(cmd_call *), void *owner);
/* Runs the command (or, if it was refused at creation, schedules on_done). */
void cmd_call_start(cmd_call *call);
/* Only after on_done ran (or for a call never started). */
void cmd_call_free(cmd_call *call);

void *cmd_call_owner(const cmd_call *call);
/* Nobody waits for the reply any more; on_done still runs (with no owner). */
void cmd_call_detach(cmd_call *call);
/* The command's row name, or NULL when it was not found. */
const char *cmd_call_name(const cmd_call *call);
/* A guest-sync* that was accepted by the policy: it drops earlier running replies. */
bool cmd_call_is_barrier(const cmd_call *call);
/* The success reply is prefixed with 0xFF (guest-sync-delimited). */
bool cmd_call_delimited(const cmd_call *call);
/* success-response: false (shutdown, suspend): a success sends no reply. */
bool cmd_call_silent_success(const cmd_call *call);

/* The command has finished (its on_done may still be due on a later turn). */
bool cmd_call_finished(const cmd_call *call);
/* Outcome, once finished: the error class (NULL on success) and its text. */
const char *cmd_call_error(const cmd_call *call, const char **desc);
yajl_val cmd_call_result(const cmd_call *call);
/* The request's arguments as received (to judge the cost of freeing the call). */
yajl_val cmd_call_request_args(const cmd_call *call);

#endif
