/* -D (the effective config, in the key-file form upstream prints) and -h. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "agent/keyfile.h"
#include "agent/options.h"
#include "base/limits.h"
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

void agent_options_dump(const struct agent_options *o, FILE *out)
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
    put_cids(out, o);
    fprintf(out, "file-create-mode=%04o\n", o->file_create_mode);
    fprintf(out, "max-file-handles=%u\n", o->max_file_handles);
    fprintf(out, "max-exec-processes=%u\n", o->max_exec_processes);
    fprintf(out, "exec-output-total=%" PRIu64 "\n", o->exec_output_total);
}

void agent_options_usage(const char *argv0, FILE *out)
{
    fprintf(out,
            "Usage: %s [-m <method> -p <path>] [<options>]\n"
            "qgad: a QEMU Guest Agent (qemu-ga) compatible agent, version %s\n"
            "\n"
            "  -c, --config=PATH     configuration file (default is %s/qemu-ga.conf,\n"
            "                        or the QGA_CONF environment variable)\n"
            "  -m, --method          transport method: one of unix-listen, virtio-serial,\n"
            "                        isa-serial, vsock-listen or tcp-listen (default:\n"
            "                        virtio-serial)\n"
            "  -p, --path            device/socket path: virtio-serial default is\n"
            "                        /dev/virtio-ports/org.qemu.guest_agent.0, isa-serial\n"
            "                        /dev/ttyS0; vsock-listen takes CID:PORT, tcp-listen\n"
            "                        HOST:PORT\n"
            "  -l, --logfile         set logfile path, logs to stderr by default\n"
            "  -f, --pidfile         specify pidfile (default is %s/qemu-ga.pid);\n"
            "                        only written with -d\n"
            "  -F, --fsfreeze-hook\n"
            "                        enable fsfreeze hook. Accepts an optional argument\n"
            "                        that specifies script to run on freeze/thaw. Script\n"
            "                        will be called with 'freeze'/'thaw' arguments\n"
            "                        accordingly (default is %s/fsfreeze-hook).\n"
            "                        If using -F with an argument, do not follow -F\n"
            "                        with a space (for example: -F/var/run/fsfreezehook.sh)\n"
            "  -t, --statedir        specify dir to store state information (default is\n"
            "                        %s)\n"
            "  -v, --verbose         log extra debugging information\n"
            "  -V, --version         print version information and exit\n"
            "  -d, --daemonize       become a daemon\n"
            "  -b, --block-rpcs      comma-separated list of RPCs to disable (no spaces,\n"
            "                        use \"help\" to list available RPCs)\n"
            "  -a, --allow-rpcs      comma-separated list of RPCs to enable (no spaces,\n"
            "                        use \"help\" to list available RPCs)\n"
            "  -D, --dump-conf       dump a qemu-ga config file based on current config\n"
            "                        options / command-line parameters to stdout\n"
            "  -r, --retry-path      attempt re-opening path if it's unavailable or closed\n"
            "                        due to an error which may be recoverable in the future\n"
            "  -h, --help            display this help and exit\n"
            "\n"
            "qgad options:\n"
            "      --listen=METHOD:PATH  an extra listener besides the main channel\n"
            "                        (repeatable), e.g. vsock-listen:4294967295:1234\n"
            "      --max-clients=N   connections served at once per listener (default %u)\n"
            "      --vsock-allow-cids=LIST  vsock peers accepted: CIDs like 2,3 or \"any\"\n"
            "                        (default 2, the host)\n"
            "\n"
            "Config file groups: [general] (qemu-ga's keys) and [qgad] (listen, max-clients,\n"
            "vsock-allow-cids, file-create-mode, max-file-handles, max-exec-processes,\n"
            "exec-output-total); -D prints both.\n",
            argv0, QGAD_VERSION, QGAD_CONFDIR, QGAD_RUNSTATEDIR, QGAD_CONFDIR, QGAD_RUNSTATEDIR,
            QGAD_DEFAULT_MAX_CLIENTS);
}
