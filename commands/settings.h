/* Settings the agent core hands to command handlers at startup (from CLI and config).
 * Filled in before the loop runs; read-only afterwards. */
#ifndef QGAD_COMMANDS_SETTINGS_H
#define QGAD_COMMANDS_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

struct cmd_settings {
    unsigned file_create_mode;   /* [qgad] file-create-mode, default 0600 */
    unsigned max_file_handles;   /* [qgad] max-file-handles */
    unsigned max_exec_processes; /* [qgad] max-exec-processes */
    uint64_t exec_output_total;  /* [qgad] exec-output-total, bytes */
    const char *fsfreeze_hook;   /* -F, NULL: no hook */
    /* Set by the agent core (agent_on_thaw): the freeze code calls it after a thaw so
     * logging resumes and files deferred by a frozen start get created. May be NULL. */
    void (*on_thaw)(void);
};

/* Defaults from base/limits.h until the agent overwrites them. */
extern struct cmd_settings cmd_settings;

#endif
