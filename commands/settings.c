#include "commands/settings.h"

#include "base/limits.h"

struct cmd_settings cmd_settings = {
    .file_create_mode = 0600,
    .max_file_handles = QGAD_DEFAULT_MAX_FILE_HANDLES,
    .max_exec_processes = QGAD_DEFAULT_MAX_EXEC_PROCESSES,
    .exec_output_total = QGAD_DEFAULT_EXEC_OUTPUT_TOTAL,
    .fsfreeze_hook = NULL,
};
