/* The one command table and the enable policy applied to it.
 *
 * Rows are in the schema order of PROTOCOL.md part 2 section 2 (#1 .. #44); guest-info
 * lists them newest first, i.e. in reverse. Add a command by inserting its row (and its
 * argument spec, if any) at its schema number below. Only commands that really work are
 * listed: an absent row answers CommandNotFound, as a command not built upstream does. */
#include "commands/registry.h"

#include <string.h>

#include "commands/handlers.h"

/* ---- argument specs, in table order ---- */

static const struct arg_spec args_sync[] = {
    {.name = "id", .type = ARG_INT},
    {0},
};

static const struct arg_spec args_file_open[] = {
    {.name = "path", .type = ARG_STR},
    {.name = "mode", .type = ARG_STR, .optional = true},
    {0},
};

static const struct arg_spec args_file_handle[] = {
    {.name = "handle", .type = ARG_INT},
    {0},
};

static const struct arg_spec args_file_read[] = {
    {.name = "handle", .type = ARG_INT},
    {.name = "count", .type = ARG_INT, .optional = true},
    {0},
};

static const struct arg_spec args_file_write[] = {
    {.name = "handle", .type = ARG_INT},
    {.name = "buf-b64", .type = ARG_STR},
    {.name = "count", .type = ARG_INT, .optional = true},
    {0},
};

static const char *const file_whence_values[] = {"set", "cur", "end", NULL};
static const struct arg_spec args_file_seek[] = {
    {.name = "handle", .type = ARG_INT},
    {.name = "offset", .type = ARG_INT},
    {.name = "whence",
     .type = ARG_ALT_INT_ENUM,
     .values = file_whence_values,
     .type_name = "GuestFileWhence"},
    {0},
};

static const struct arg_spec args_exec_status[] = {
    {.name = "pid", .type = ARG_INT},
    {.name = "__org.qgad_wait", .type = ARG_INT, .optional = true}, /* ms, qgad extension */
    {0},
};

static const char *const exec_capture_values[] = {"none",      "stdout", "stderr",
                                                  "separated", "merged", NULL};
static const struct arg_spec args_exec[] = {
    {.name = "path", .type = ARG_STR},
    {.name = "arg", .type = ARG_ARRAY, .optional = true, .elem = ARG_STR},
    {.name = "env", .type = ARG_ARRAY, .optional = true, .elem = ARG_STR},
    {.name = "input-data", .type = ARG_STR, .optional = true},
    {.name = "capture-output",
     .type = ARG_ALT_BOOL_ENUM,
     .optional = true,
     .values = exec_capture_values,
     .type_name = "GuestExecCaptureOutput"},
    {.name = "__org.qgad_timeout", .type = ARG_NUMBER, .optional = true}, /* s, extension */
    {0},
};

/* ---- the table ---- */

static const struct cmd_def cmd_table[] = {
    /* #1 */ {"guest-sync-delimited", cmd_sync_delimited, args_sync,
              CMD_BARRIER | CMD_DELIMITED | CMD_ALLOW_FROZEN},
    /* #2 */ {"guest-sync", cmd_sync, args_sync, CMD_BARRIER | CMD_ALLOW_FROZEN},
    /* #3 */ {"guest-ping", cmd_ping, NULL, CMD_ALLOW_FROZEN},
    /* #4 */ {"guest-get-time", cmd_get_time, NULL, 0},
    /* #5 guest-set-time */
    /* #6 */ {"guest-info", cmd_info, NULL, CMD_ALLOW_FROZEN},
    /* #7 guest-shutdown */
    /* #8 */ {"guest-file-open", cmd_file_open, args_file_open, 0},
    /* #9 */ {"guest-file-close", cmd_file_close, args_file_handle, 0},
    /* #10 */ {"guest-file-read", cmd_file_read, args_file_read, 0},
    /* #11 */ {"guest-file-write", cmd_file_write, args_file_write, 0},
    /* #12 */ {"guest-file-seek", cmd_file_seek, args_file_seek, 0},
    /* #13 */ {"guest-file-flush", cmd_file_flush, args_file_handle, 0},
    /* #14 guest-fsfreeze-status */
    /* #15 guest-fsfreeze-freeze */
    /* #16 guest-fsfreeze-freeze-list */
    /* #17 guest-fsfreeze-thaw */
    /* #18 guest-fstrim */
    /* #19 guest-suspend-disk */
    /* #20 guest-suspend-ram */
    /* #21 guest-suspend-hybrid */
    /* #22 guest-network-get-interfaces */
    /* #23 guest-get-vcpus */
    /* #24 guest-set-vcpus */
    /* #25 guest-get-disks */
    /* #26 guest-get-fsinfo */
    /* #27 guest-set-user-password */
    /* #28 guest-get-memory-blocks */
    /* #29 guest-set-memory-blocks */
    /* #30 guest-get-memory-block-info */
    /* #31 */ {"guest-exec-status", cmd_exec_status, args_exec_status, 0},
    /* #32 */ {"guest-exec", cmd_exec, args_exec, 0},
    /* #33 */ {"guest-get-host-name", cmd_get_host_name, NULL, 0},
    /* #34 guest-get-users */
    /* #35 */ {"guest-get-timezone", cmd_get_timezone, NULL, 0},
    /* #36 */ {"guest-get-osinfo", cmd_get_osinfo, NULL, 0},
    /* #37 guest-get-devices: Windows only, never on Linux */
    /* #38 guest-ssh-get-authorized-keys */
    /* #39 guest-ssh-add-authorized-keys */
    /* #40 guest-ssh-remove-authorized-keys */
    /* #41 guest-get-diskstats */
    /* #42 guest-get-cpustats */
    /* #43 */ {"guest-get-load", cmd_get_load, NULL, 0},
    /* #44 guest-network-get-route */
};

#define CMD_COUNT (sizeof(cmd_table) / sizeof(cmd_table[0]))

/* ---- lookup ---- */

const struct cmd_def *cmd_lookup(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < CMD_COUNT; i++)
        if (strcmp(cmd_table[i].name, name) == 0)
            return &cmd_table[i];
    return NULL;
}

size_t cmd_count(void)
{
    return CMD_COUNT;
}

const struct cmd_def *cmd_at(size_t i)
{
    return i < CMD_COUNT ? &cmd_table[i] : NULL;
}

/* ---- policy ---- */

/* disabled_by_lists[i]: row i is off by the allow/block lists (false: enabled). */
static bool disabled_by_lists[CMD_COUNT];
static bool policy_frozen;

static bool name_listed(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] && strcmp(list[i], name) == 0)
            return true;
    return false;
}

void cmd_policy_set(const char *const *allow, size_t n_allow, const char *const *block,
                    size_t n_block)
{
    for (size_t i = 0; i < CMD_COUNT; i++) {
        const char *name = cmd_table[i].name;
        /* an empty allow list is no allow list, as upstream's empty GList */
        bool off = n_allow > 0 && !name_listed(name, allow, n_allow);
        if (name_listed(name, block, n_block))
            off = true;
        disabled_by_lists[i] = off;
    }
}

void cmd_policy_set_frozen(bool frozen)
{
    policy_frozen = frozen;
}

bool cmd_policy_frozen(void)
{
    return policy_frozen;
}

bool cmd_enabled(const struct cmd_def *cmd)
{
    size_t i = (size_t)(cmd - cmd_table);
    if (i >= CMD_COUNT)
        return false;
    /* frozen overrides the lists both ways, as upstream: the allow-list rows run even if
     * blocked, so a frozen guest can always be thawed */
    if (policy_frozen)
        return (cmd->flags & CMD_ALLOW_FROZEN) != 0;
    return !disabled_by_lists[i];
}
