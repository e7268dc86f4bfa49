/* -D: the effective settings in the key-file form upstream prints, escaped as GLib's
 * g_key_file_set_string() does, so agent/config.c takes the dump back as a config file. */
#include "agent/dumpconf.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "agent/keyfile.h"
#include "base/xalloc.h"

static void put_str(FILE *out, const char *key, const char *value)
{
    char *esc = agent_keyfile_escape(value ? value : "");

    fprintf(out, "%s=%s\n", key, esc);
    free(esc);
}

static void put_bool(FILE *out, const char *key, bool value)
{
    fprintf(out, "%s=%s\n", key, value ? "true" : "false");
}

static void put_list(FILE *out, const char *key, const struct agent_strlist *l)
{
    char *joined = agent_strlist_join(l, ',');

    put_str(out, key, joined);
    free(joined);
}

/* ';'-separated as the reader expects; a ';' inside an entry is written "\;". */
static void put_listeners(FILE *out, const struct agent_options *o)
{
    fputs("listen=", out);
    for (size_t i = 0; i < o->n_listen; i++) {
        char *spec = xasprintf("%s:%s", o->listen[i].method, o->listen[i].path);
        char *esc = agent_keyfile_escape(spec);
        if (i)
            fputc(';', out);
        for (const char *p = esc; *p; p++) {
            if (*p == ';')
                fputc('\\', out);
            fputc(*p, out);
        }
        free(esc);
        free(spec);
    }
    fputc('\n', out);
}

static void put_cids(FILE *out, const struct agent_options *o)
{
    fputs("vsock-allow-cids=", out);
    if (!o->vsock_cids) {
        fputs("2", out);
    } else if (o->n_vsock_cids == 1 && o->vsock_cids[0] == AGENT_VSOCK_CID_ANY) {
        fputs("any", out);
    } else {
        for (size_t i = 0; i < o->n_vsock_cids; i++)
            fprintf(out, "%s%" PRIu32, i ? "," : "", o->vsock_cids[i]);
    }
    fputc('\n', out);
}

void agent_dumpconf_write(const struct agent_options *o, FILE *out)
{
    fputs("[general]\n", out);
    put_bool(out, "daemon", o->daemonize);
    put_str(out, "method", o->method);
    if (o->path)
        put_str(out, "path", o->path);
    if (o->logfile)
        put_str(out, "logfile", o->logfile);
    put_str(out, "pidfile", o->pidfile);
    if (o->fsfreeze_hook)
        put_str(out, "fsfreeze-hook", o->fsfreeze_hook);
    put_str(out, "statedir", o->statedir);
    put_bool(out, "verbose", o->verbose);
    put_bool(out, "retry-path", o->retry_path);
    put_list(out, "block-rpcs", &o->block);
    put_list(out, "allow-rpcs", &o->allow);

    fputs("\n[qgad]\n", out);
    put_listeners(out, o);
    fprintf(out, "max-clients=%u\n", o->max_clients);
    fprintf(out, "idle-timeout=%u\n", o->idle_timeout);
    fprintf(out, "partial-timeout=%u\n", o->partial_timeout);
    put_cids(out, o);
    fprintf(out, "file-create-mode=%04o\n", o->file_create_mode);
    fprintf(out, "max-file-handles=%u\n", o->max_file_handles);
    fprintf(out, "max-exec-processes=%u\n", o->max_exec_processes);
    fprintf(out, "exec-output-total=%" PRIu64 "\n", o->exec_output_total);
}
