/* The one command table: one row per command (commands/registry.c), plus the enable
 * policy (allow list, block list, frozen allow-list) applied to it. */
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

struct cmd_def {
    const char *name;
    cmd_handler handler;
    const struct arg_spec *args; /* NULL: takes no arguments */
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
