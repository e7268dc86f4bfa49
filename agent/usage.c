/* The texts of -h, -V and "-b help": printed to the stream the caller gives (stdout in
 * main), so the command line parser only decides when, and tests read them back. */
#include "agent/usage.h"

#include "base/limits.h"
#include "commands/registry.h"

void agent_usage_print(const char *argv0, FILE *out)
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
            "idle-timeout, partial-timeout, vsock-allow-cids, file-create-mode,\n"
            "max-file-handles, max-exec-processes, exec-output-total); -D prints both.\n",
            argv0, QGAD_VERSION, QGAD_CONFDIR, QGAD_RUNSTATEDIR, QGAD_CONFDIR, QGAD_RUNSTATEDIR,
            QGAD_DEFAULT_MAX_CLIENTS);
}

void agent_usage_print_version(FILE *out)
{
    fprintf(out, "qgad %s\n", QGAD_VERSION);
}

void agent_usage_print_commands(FILE *out)
{
    for (size_t i = 0; i < cmd_count(); i++)
        fprintf(out, "%s\n", cmd_at(i)->name);
}
