/* The one command table and the enable policy applied to it.
 *
 * Rows are in the schema order of PROTOCOL.md part 2 section 2 (#1 .. #44); guest-info
 * lists them newest first, i.e. in reverse. Add a command by inserting its row (and its
 * argument spec, if any) at its schema number below. Only commands that really work are
 * listed: an absent row answers CommandNotFound, as a command not built upstream does.
 * A row says how the command runs (registry.h): INSTANT on the loop, POOL for a pure
 * function in the threadpool, ON_HANDLE for a pool job in a file handle's FIFO. */
#include "commands/registry.h"

#include <string.h>

#include "commands/handlers.h"

/* ---- the table ---- */

/* Row shapes: a command on the loop, a pure pool job, and a pool job on a file handle. */
#define INSTANT(fn) .run = CMD_INSTANT, .handler = (fn)
#define POOL(fn) .run = CMD_POOL, .work = (fn)
#define ON_HANDLE(fn) ON_HANDLE_AFTER(cmd_file_begin, fn)
#define ON_HANDLE_AFTER(begin, fn)                                                                 \
    .run = CMD_POOL, .serial = cmd_file_queue, .handler = (begin), .work = (fn), .end = cmd_file_end

static const struct cmd_def cmd_table[] = {
    /* #1 */ {"guest-sync-delimited", INSTANT(cmd_sync_delimited), .args = &cmd_sync_args,
              .flags = CMD_BARRIER | CMD_DELIMITED | CMD_ALLOW_FROZEN},
    /* #2 */
    {"guest-sync", INSTANT(cmd_sync), .args = &cmd_sync_args,
     .flags = CMD_BARRIER | CMD_ALLOW_FROZEN},
    /* #3 */ {"guest-ping", INSTANT(cmd_ping), .flags = CMD_ALLOW_FROZEN},
    /* #4 */ {"guest-get-time", INSTANT(cmd_get_time)},
    /* #5 guest-set-time */
    /* #6 */ {"guest-info", INSTANT(cmd_info), .flags = CMD_ALLOW_FROZEN},
    /* #7 guest-shutdown */
    /* #8 */
    {"guest-file-open", POOL(cmd_file_open), .handler = cmd_file_open_begin,
     .end = cmd_file_open_end, .args = &cmd_file_open_args},
    /* #9 */
    {"guest-file-close", ON_HANDLE_AFTER(cmd_file_close_begin, cmd_file_close),
     .args = &cmd_file_handle_args},
    /* #10 */ {"guest-file-read", ON_HANDLE(cmd_file_read), .args = &cmd_file_read_args},
    /* #11 */ {"guest-file-write", ON_HANDLE(cmd_file_write), .args = &cmd_file_write_args},
    /* #12 */
    {"guest-file-seek", ON_HANDLE_AFTER(cmd_file_seek_begin, cmd_file_seek),
     .args = &cmd_file_seek_args},
    /* #13 */ {"guest-file-flush", ON_HANDLE(cmd_file_flush), .args = &cmd_file_handle_args},
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
    /* #31 */ {"guest-exec-status", INSTANT(cmd_exec_status), .args = &cmd_exec_status_args},
    /* #32 */
    {"guest-exec", POOL(cmd_exec), .handler = cmd_exec_begin, .end = cmd_exec_end,
     .args = &cmd_exec_args},
    /* #33 */ {"guest-get-host-name", INSTANT(cmd_get_host_name)},
    /* #34 guest-get-users */
    /* #35 */ {"guest-get-timezone", POOL(cmd_get_timezone)},
    /* #36 */ {"guest-get-osinfo", POOL(cmd_get_osinfo)},
    /* #37 guest-get-devices: Windows only, never on Linux */
    /* #38 guest-ssh-get-authorized-keys */
    /* #39 guest-ssh-add-authorized-keys */
    /* #40 guest-ssh-remove-authorized-keys */
    /* #41 guest-get-diskstats */
    /* #42 guest-get-cpustats */
    /* #43 */ {"guest-get-load", POOL(cmd_get_load)},
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
