/* Every command's steps and argument list, grouped by the file that implements them.
 * registry.c puts them in rows; nothing else calls them directly. Pool steps have the
 * cmd_pool_fn shape (commands/registry.h). */
#ifndef QGAD_COMMANDS_HANDLERS_H
#define QGAD_COMMANDS_HANDLERS_H

#include <yajl/yajl_tree.h>

#include "commands/args.h"
#include "commands/call.h"

/* commands/handshake.c */
extern const struct arg_list cmd_sync_args;
void cmd_sync_delimited(cmd_call *call);
void cmd_sync(cmd_call *call);
void cmd_ping(cmd_call *call);
void cmd_info(cmd_call *call);

/* commands/sysinfo.c */
void cmd_get_time(cmd_call *call);
void cmd_get_host_name(cmd_call *call);
int cmd_get_timezone(const void *args, void *ctx, yajl_val *out, char **err);
int cmd_get_osinfo(const void *args, void *ctx, yajl_val *out, char **err);
int cmd_get_load(const void *args, void *ctx, yajl_val *out, char **err);

/* commands/file.c: every handle command waits in its handle's FIFO (cmd_file_queue),
 * takes the handle at its turn (cmd_file_begin) and gives it back (cmd_file_end) */
extern const struct arg_list cmd_file_open_args, cmd_file_handle_args, cmd_file_read_args,
    cmd_file_write_args, cmd_file_seek_args;
struct cmd_serial *cmd_file_queue(cmd_call *call);
void cmd_file_begin(cmd_call *call);
void cmd_file_end(cmd_call *call, void *ctx, yajl_val out, char *err);
void cmd_file_open_begin(cmd_call *call);
int cmd_file_open(const void *args, void *ctx, yajl_val *out, char **err);
void cmd_file_open_end(cmd_call *call, void *ctx, yajl_val out, char *err);
void cmd_file_close_begin(cmd_call *call);
int cmd_file_close(const void *args, void *ctx, yajl_val *out, char **err);
int cmd_file_read(const void *args, void *ctx, yajl_val *out, char **err);
int cmd_file_write(const void *args, void *ctx, yajl_val *out, char **err);
void cmd_file_seek_begin(cmd_call *call);
int cmd_file_seek(const void *args, void *ctx, yajl_val *out, char **err);
int cmd_file_flush(const void *args, void *ctx, yajl_val *out, char **err);

/* commands/exec.c */
extern const struct arg_list cmd_exec_status_args, cmd_exec_args;
void cmd_exec_status(cmd_call *call);
void cmd_exec_begin(cmd_call *call);
int cmd_exec(const void *args, void *ctx, yajl_val *out, char **err);
void cmd_exec_end(cmd_call *call, void *ctx, yajl_val out, char *err);

#endif
