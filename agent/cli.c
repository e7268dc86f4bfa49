/* Command line: two getopt passes around the config file, as upstream qemu-ga does; each
 * option stores into the settings through the parsers agent/settings.c shares. */
#include "agent/cli.h"

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config.h"
#include "agent/usage.h"
#include "base/log.h"
#include "base/xalloc.h"

#define CONF_DEFAULT QGAD_CONFDIR "/qemu-ga.conf"
#define HOOK_DEFAULT QGAD_CONFDIR "/fsfreeze-hook"

enum {
    OPT_LISTEN = 256,
    OPT_MAX_CLIENTS,
    OPT_VSOCK_CIDS,
    OPT_BLACKLIST,
};

static const char short_opts[] = "hVvdc:m:p:l:f:F::b:a:s:t:Dr";
static const struct option long_opts[] = {
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {"dump-conf", no_argument, NULL, 'D'},
    {"config", required_argument, NULL, 'c'},
    {"logfile", required_argument, NULL, 'l'},
    {"pidfile", required_argument, NULL, 'f'},
    {"fsfreeze-hook", optional_argument, NULL, 'F'},
    {"verbose", no_argument, NULL, 'v'},
    {"method", required_argument, NULL, 'm'},
    {"path", required_argument, NULL, 'p'},
    {"daemonize", no_argument, NULL, 'd'},
    {"block-rpcs", required_argument, NULL, 'b'},
    {"allow-rpcs", required_argument, NULL, 'a'},
    {"blacklist", required_argument, NULL, OPT_BLACKLIST},
    {"service", required_argument, NULL, 's'},
    {"statedir", required_argument, NULL, 't'},
    {"retry-path", no_argument, NULL, 'r'},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"max-clients", required_argument, NULL, OPT_MAX_CLIENTS},
    {"vsock-allow-cids", required_argument, NULL, OPT_VSOCK_CIDS},
    {NULL, 0, NULL, 0},
};

static bool is_help_option(const char *s)
{
    return !strcmp(s, "help") || !strcmp(s, "?");
}

/* The options that only store a string or raise a flag. */
static char **string_slot(struct agent_options *o, int ch)
{
    switch (ch) {
    case 'm':
        return &o->method;
    case 'p':
        return &o->path;
    case 'l':
        return &o->logfile;
    case 'f':
        return &o->pidfile;
    case 'F':
        return &o->fsfreeze_hook;
    case 't':
        return &o->statedir;
    }
    return NULL;
}

static bool *flag_slot(struct agent_options *o, int ch)
{
    switch (ch) {
    case 'v':
        return &o->verbose;
    case 'd':
        return &o->daemonize;
    case 'D':
        return &o->dump_conf;
    case 'r':
        return &o->retry_path;
    }
    return NULL;
}

/* One option of the second pass. */
static enum agent_opts_status apply_option(struct agent_options *o, int ch, const char *arg,
                                           const char *argv0, FILE *out)
{
    char **str = string_slot(o, ch);
    bool *flag = flag_slot(o, ch);
    uint64_t v;

    if (str) {
        free(*str);
        *str = xstrdup(ch == 'F' && !arg ? HOOK_DEFAULT : arg); /* bare -F: the default hook */
        return AGENT_OPTS_RUN;
    }
    if (flag) {
        *flag = true;
        return AGENT_OPTS_RUN;
    }
    switch (ch) {
    case 'c':
        break; /* taken in the first pass */
    case 'V':
        agent_usage_print_version(out);
        return AGENT_OPTS_DONE;
    case OPT_BLACKLIST:
        log_warning("option --blacklist is deprecated, use --block-rpcs instead");
        /* fall through */
    case 'b':
    case 'a':
        if (is_help_option(arg)) {
            agent_usage_print_commands(out);
            return AGENT_OPTS_DONE;
        }
        agent_strlist_add_chunk(ch == 'a' ? &o->allow : &o->block, arg);
        break;
    case 's':
        log_critical("-s/--service manages a Windows service; it is not supported here");
        return AGENT_OPTS_FAIL;
    case OPT_LISTEN:
        return agent_options_add_listen(o, arg) ? AGENT_OPTS_FAIL : AGENT_OPTS_RUN;
    case OPT_MAX_CLIENTS:
        if (agent_parse_uint(arg, 10, 1, UINT_MAX, &v) < 0) {
            log_critical("invalid --max-clients '%s': expected a positive number", arg);
            return AGENT_OPTS_FAIL;
        }
        o->max_clients = (unsigned)v;
        break;
    case OPT_VSOCK_CIDS:
        return agent_options_set_vsock_cids(o, arg) ? AGENT_OPTS_FAIL : AGENT_OPTS_RUN;
    case 'h':
        agent_usage_print(argv0, out);
        return AGENT_OPTS_DONE;
    default: /* '?': getopt already said why on stderr */
        fprintf(out, "Unknown option, try '%s --help' for more information.\n", argv0);
        return AGENT_OPTS_FAIL;
    }
    return AGENT_OPTS_RUN;
}

enum agent_opts_status agent_cli_parse(struct agent_options *o, int argc, char **argv, FILE *out)
{
    const char *env = getenv("QGA_CONF");
    const char *conf = env && *env ? env : CONF_DEFAULT;
    bool required = false;
    int ch;

    /* Pass 1: only -c; the complaints about unknown options come in pass 2. */
    opterr = 0;
    optind = 0; /* glibc: full re-initialisation, so parse may run more than once */
    while ((ch = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1) {
        if (ch == 'c') {
            conf = optarg;
            required = true;
        }
    }
    char *conf_copy = xstrdup(conf); /* argv may be permuted by pass 1 */
    enum agent_opts_status st = agent_config_load(o, conf_copy, required);
    free(conf_copy);
    if (st != AGENT_OPTS_RUN)
        return st;

    opterr = 1;
    optind = 0;
    while ((ch = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1) {
        st = apply_option(o, ch, optarg, argv[0], out);
        if (st != AGENT_OPTS_RUN)
            return st;
    }
    /* upstream ignores them silently; a warning catches "-F /path" (with a space) */
    for (int i = optind; i < argc; i++)
        log_warning("ignoring extra argument '%s'", argv[i]);
    return AGENT_OPTS_RUN;
}
