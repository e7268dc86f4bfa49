/* Every command handler, grouped by the file that implements it. registry.c maps names
 * to these; nothing else calls them directly. */
#ifndef QGAD_COMMANDS_HANDLERS_H
#define QGAD_COMMANDS_HANDLERS_H

#include "commands/call.h"

/* commands/handshake.c */
void cmd_sync_delimited(cmd_call *call);
void cmd_sync(cmd_call *call);
void cmd_ping(cmd_call *call);
void cmd_info(cmd_call *call);

/* commands/sysinfo.c */
void cmd_get_time(cmd_call *call);
void cmd_get_host_name(cmd_call *call);
void cmd_get_timezone(cmd_call *call);
void cmd_get_osinfo(cmd_call *call);
void cmd_get_load(cmd_call *call);

/* commands/file.c */
void cmd_file_open(cmd_call *call);
void cmd_file_close(cmd_call *call);
void cmd_file_read(cmd_call *call);
void cmd_file_write(cmd_call *call);
void cmd_file_seek(cmd_call *call);
void cmd_file_flush(cmd_call *call);

/* commands/exec.c */
void cmd_exec_status(cmd_call *call);
void cmd_exec(cmd_call *call);

#endif
