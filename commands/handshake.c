/* Session-level commands: guest-sync, guest-sync-delimited, guest-ping, guest-info. All
 * instant; the barrier and the 0xFF prefix of the sync pair are the session's business
 * (CMD_BARRIER / CMD_DELIMITED), so the handlers only echo the id. */
#include <stdint.h>
#include <string.h>

#include "base/json.h"
#include "commands/args.h"
#include "commands/handlers.h"
#include "commands/registry.h"

struct sync_args {
    int64_t id;
};
ARG_LIST(cmd_sync_args, struct sync_args,
         {ARG_AT(struct sync_args, id), .name = "id", .type = ARG_INT});

static void sync_echo(cmd_call *call)
{
    const struct sync_args *a = call_args(call);
    /* re-encoded as QEMU does ("-0" -> 0) */
    call_return(call, json_int(a->id));
}

void cmd_sync_delimited(cmd_call *call)
{
    sync_echo(call);
}

void cmd_sync(cmd_call *call)
{
    sync_echo(call);
}

void cmd_ping(cmd_call *call)
{
    call_return_empty(call);
}

/* The downstream-extension arguments (QAPI "__" names) a command accepts, or NULL: shown
 * in guest-info so a host can discover them without trying. */
static yajl_val extension_args(const struct cmd_def *cmd)
{
    yajl_val names = NULL;
    for (const struct arg_spec *a = cmd->args ? cmd->args->specs : NULL; a && a->name; a++) {
        if (strncmp(a->name, "__", 2) != 0)
            continue;
        if (!names)
            names = json_array();
        json_array_add(names, json_string(a->name));
    }
    return names;
}

void cmd_info(cmd_call *call)
{
    yajl_val list = json_array();
    /* newest first: reverse schema order, as upstream's generated list */
    for (size_t i = cmd_count(); i-- > 0;) {
        const struct cmd_def *cmd = cmd_at(i);
        yajl_val entry = json_object();
        json_object_add_str(entry, "name", cmd->name);
        json_object_add_bool(entry, "enabled", cmd_enabled(cmd));
        json_object_add_bool(entry, "success-response", !(cmd->flags & CMD_NO_SUCCESS_REPLY));
        yajl_val ext = extension_args(cmd);
        if (ext)
            json_object_add(entry, "__org.qgad_arguments", ext);
        json_array_add(list, entry);
    }
    yajl_val info = json_object();
    json_object_add_str(info, "version", QGAD_VERSION);
    json_object_add(info, "supported_commands", list);
    call_return(call, info);
}
