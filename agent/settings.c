/* The settings' life cycle (defaults, free, final checks, absolute paths) and the value
 * parsers that agent/cli.c and agent/config.c share, so a value reads the same in both. */
#include "agent/settings.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/limits.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "transport/transport.h"

#define PIDFILE_DEFAULT QGAD_RUNSTATEDIR "/qemu-ga.pid"

void agent_options_init(struct agent_options *o)
{
    memset(o, 0, sizeof(*o));
    o->max_clients = QGAD_DEFAULT_MAX_CLIENTS;
    o->idle_timeout = QGAD_IDLE_TIMEOUT_MS / 1000;
    o->partial_timeout = QGAD_PARTIAL_TIMEOUT_MS / 1000;
    o->file_create_mode = 0600;
    o->max_file_handles = QGAD_DEFAULT_MAX_FILE_HANDLES;
    o->max_exec_processes = QGAD_DEFAULT_MAX_EXEC_PROCESSES;
    o->exec_output_total = QGAD_DEFAULT_EXEC_OUTPUT_TOTAL;
}

static void strlist_free(struct agent_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void agent_options_free(struct agent_options *o)
{
    char **strings[] = {&o->method,        &o->path,     &o->logfile,  &o->pidfile,
                        &o->fsfreeze_hook, &o->statedir, &o->conf_path};

    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
        free(*strings[i]);
    strlist_free(&o->block);
    strlist_free(&o->allow);
    for (size_t i = 0; i < o->n_listen; i++) {
        free(o->listen[i].method);
        free(o->listen[i].path);
    }
    free(o->listen);
    free(o->vsock_cids);
    memset(o, 0, sizeof(*o));
}

/* Upstream splits with g_strsplit and prepends each piece, then concatenates: so every
 * chunk comes out reversed, chunks in order. -D shows that order, so keep it. */
void agent_strlist_add_chunk(struct agent_strlist *l, const char *chunk)
{
    size_t pieces = 0, base = l->n;

    if (!*chunk)
        return; /* g_strsplit("") yields nothing */
    for (const char *p = chunk; p; p = strchr(p, ','), p = p ? p + 1 : NULL)
        pieces++;
    l->v = xrealloc(l->v, (l->n + pieces) * sizeof(*l->v));
    l->n += pieces;
    size_t i = 0;
    for (const char *p = chunk;; i++) {
        const char *e = strchr(p, ',');
        l->v[base + pieces - 1 - i] = e ? xstrndup(p, (size_t)(e - p)) : xstrdup(p);
        if (!e)
            break;
        p = e + 1;
    }
}

char *agent_strlist_join(const struct agent_strlist *l, char sep)
{
    size_t len = 1;

    for (size_t i = 0; i < l->n; i++)
        len += strlen(l->v[i]) + 1;
    char *s = xmalloc(len), *q = s;
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            *q++ = sep;
        size_t n = strlen(l->v[i]);
        memcpy(q, l->v[i], n);
        q += n;
    }
    *q = '\0';
    return s;
}

int agent_parse_uint(const char *s, int base, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;

    if (!*s || !(*s >= '0' && *s <= '9'))
        return -EINVAL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, base);
    if (errno || *end || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

/* "METHOD:PATH"; PATH may contain ':' (vsock CID:PORT, tcp HOST:PORT). */
int agent_options_add_listen(struct agent_options *o, const char *spec)
{
    const char *colon = strchr(spec, ':');

    if (!colon || colon == spec || !colon[1]) {
        log_critical("invalid listener '%s': expected METHOD:PATH", spec);
        return -EINVAL;
    }
    char *method = xstrndup(spec, (size_t)(colon - spec));
    if (!transport_method_known(method)) {
        log_critical("invalid listener '%s': unsupported channel method/type: %s", spec, method);
        free(method);
        return -EINVAL;
    }
    o->listen = xrealloc(o->listen, (o->n_listen + 1) * sizeof(*o->listen));
    o->listen[o->n_listen++] = (struct agent_listen){method, xstrdup(colon + 1)};
    return 0;
}

/* "any", or a comma-separated list of CIDs ("2,3"). */
int agent_options_set_vsock_cids(struct agent_options *o, const char *text)
{
    size_t n = 1;

    for (const char *p = text; *p; p++)
        n += *p == ',';
    uint32_t *cids = xcalloc(n, sizeof(*cids));
    if (!strcmp(text, "any")) {
        cids[0] = AGENT_VSOCK_CID_ANY;
    } else {
        char *copy = xstrdup(text), *tok = copy;
        for (size_t i = 0; i < n; i++) {
            char *comma = strchr(tok, ',');
            uint64_t v;
            if (comma)
                *comma = '\0';
            if (agent_parse_uint(tok, 10, 0, UINT32_MAX, &v) < 0) {
                log_critical("invalid vsock-allow-cids '%s': expected 'any' or CIDs like 2,3",
                             text);
                free(copy);
                free(cids);
                return -EINVAL;
            }
            cids[i] = (uint32_t)v;
            tok = comma + 1;
        }
        free(copy);
    }
    free(o->vsock_cids);
    o->vsock_cids = cids;
    o->n_vsock_cids = n;
    return 0;
}

enum agent_opts_status agent_options_finish(struct agent_options *o, const char *activated_method)
{
    if (activated_method) {
        free(o->method);
        o->method = xstrdup(activated_method);
        free(o->path);
        o->path = NULL;
    }
    if (!o->method)
        o->method = xstrdup("virtio-serial");
    if (!o->pidfile)
        o->pidfile = xstrdup(PIDFILE_DEFAULT);
    if (!o->statedir)
        o->statedir = xstrdup(QGAD_RUNSTATEDIR);
    /* -D shows whatever was asked for, as upstream; running needs a real method */
    if (!o->dump_conf && !transport_method_known(o->method)) {
        log_critical("unsupported channel method/type: %s", o->method);
        return AGENT_OPTS_FAIL;
    }
    if (!o->path && !activated_method) {
        const char *dflt = transport_default_path(o->method);
        if (!dflt) {
            log_critical("must specify a path for this channel");
            return AGENT_OPTS_FAIL;
        }
        o->path = xstrdup(dflt);
    }
    return AGENT_OPTS_RUN;
}

static void make_absolute(char **p, const char *cwd)
{
    if (!*p || **p == '/' || !**p)
        return;
    char *abs = xasprintf("%s/%s", cwd, *p);
    free(*p);
    *p = abs;
}

/* Channel paths that name files; vsock CID:PORT and tcp HOST:PORT do not. */
static bool method_uses_file(const char *method)
{
    return method && (!strcmp(method, "unix-listen") || !strcmp(method, "virtio-serial") ||
                      !strcmp(method, "isa-serial"));
}

void agent_options_absolutize(struct agent_options *o)
{
    char *cwd = getcwd(NULL, 0);

    if (!cwd)
        return; /* cwd gone: relative paths stay relative and will fail visibly */
    make_absolute(&o->logfile, cwd);
    make_absolute(&o->pidfile, cwd);
    make_absolute(&o->statedir, cwd);
    make_absolute(&o->fsfreeze_hook, cwd);
    if (method_uses_file(o->method))
        make_absolute(&o->path, cwd);
    for (size_t i = 0; i < o->n_listen; i++)
        if (method_uses_file(o->listen[i].method))
            make_absolute(&o->listen[i].path, cwd);
    free(cwd);
}
