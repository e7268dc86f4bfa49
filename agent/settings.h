/* The agent's settings (struct agent_options) and the value parsers that the command
 * line and the config file share, so both read "--listen", CIDs and numbers one way. */
#ifndef QGAD_AGENT_SETTINGS_H
#define QGAD_AGENT_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* VMADDR_CID_ANY: in vsock_cids, "accept every peer" (--vsock-allow-cids any). */
#define AGENT_VSOCK_CID_ANY 0xFFFFFFFFu

struct agent_strlist {
    char **v;
    size_t n;
};

struct agent_listen {
    char *method;
    char *path;
};

/* Upstream's command line and [general] keys (PROTOCOL.md part 2 section 3) plus qgad's
 * own (--listen, --max-clients, --vsock-allow-cids and the [qgad] config group). */
struct agent_options {
    /* [general], as upstream */
    bool daemonize;
    char *method; /* NULL until agent_options_finish() */
    char *path;
    char *logfile; /* NULL: stderr */
    char *pidfile;
    char *fsfreeze_hook; /* NULL: no hook */
    char *statedir;
    bool verbose;
    bool retry_path;
    /* Block and allow lists in upstream's dump order: each comma-separated chunk (one
     * config value, one -b/-a argument) reversed, chunks config first, then CLI. */
    struct agent_strlist block;
    struct agent_strlist allow;
    bool dump_conf;  /* -D */
    char *conf_path; /* the config file that was read (or looked for) */

    /* [qgad] */
    struct agent_listen *listen;
    size_t n_listen;
    unsigned max_clients;
    unsigned idle_timeout;    /* seconds, 0 = off (listeners) */
    unsigned partial_timeout; /* seconds, 0 = off (listeners) */
    uint32_t *vsock_cids;     /* NULL: host only (CID 2) */
    size_t n_vsock_cids;
    unsigned file_create_mode;
    unsigned max_file_handles;
    unsigned max_exec_processes;
    uint64_t exec_output_total;
};

/* What reading the settings (command line, config file, final checks) tells main. None
 * of it exits the process, so every rule is unit-tested. */
enum agent_opts_status {
    AGENT_OPTS_RUN = 0, /* go on (check dump_conf) */
    AGENT_OPTS_DONE,    /* help, version or a command list was printed: exit 0 */
    AGENT_OPTS_FAIL,    /* the reason was printed or logged: exit 1 */
};

void agent_options_init(struct agent_options *o);
void agent_options_free(struct agent_options *o);

/* Defaults (method, path, pidfile, statedir) and checks that need the final values.
 * activated_method: the method of a socket-activation fd (then -m/-p are ignored), or
 * NULL. */
enum agent_opts_status agent_options_finish(struct agent_options *o, const char *activated_method);
/* Makes every file path absolute against the current directory, so the daemon may
 * chdir("/"): logfile, pidfile, statedir, hook, and file-system channel paths. */
void agent_options_absolutize(struct agent_options *o);

/* Value parsers shared by the command line and the config file (0 or -EINVAL, the
 * reason logged). */
int agent_options_add_listen(struct agent_options *o, const char *spec);
int agent_options_set_vsock_cids(struct agent_options *o, const char *text);
/* Strict decimal/octal number in [min, max]: digits only, no sign or blanks. */
int agent_parse_uint(const char *s, int base, uint64_t min, uint64_t max, uint64_t *out);
/* Appends a comma-separated chunk in upstream's order (see struct agent_strlist). */
void agent_strlist_add_chunk(struct agent_strlist *l, const char *chunk);
char *agent_strlist_join(const struct agent_strlist *l, char sep);

#endif
