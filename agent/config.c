/* qemu-ga.conf's [general] keys and qgad's [qgad] group, read through agent/keyfile.c. A bad
 * value in a key that is read is fatal, as upstream; unknown keys and groups are ignored. */
#include "agent/config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "agent/keyfile.h"
#include "base/log.h"
#include "base/xalloc.h"

#define GENERAL "general"
#define QGAD "qgad"

struct string_key {
    const char *key;
    size_t offset; /* of a char * in struct agent_options */
};

static const struct string_key general_strings[] = {
    {"method", offsetof(struct agent_options, method)},
    {"path", offsetof(struct agent_options, path)},
    {"logfile", offsetof(struct agent_options, logfile)},
    {"pidfile", offsetof(struct agent_options, pidfile)},
    {"fsfreeze-hook", offsetof(struct agent_options, fsfreeze_hook)},
    {"statedir", offsetof(struct agent_options, statedir)},
};

struct bool_key {
    const char *key;
    size_t offset; /* of a bool */
};

static const struct bool_key general_bools[] = {
    {"daemon", offsetof(struct agent_options, daemonize)},
    {"verbose", offsetof(struct agent_options, verbose)},
    {"retry-path", offsetof(struct agent_options, retry_path)},
};

struct number_key {
    const char *key;
    int base;
    uint64_t min, max;
    size_t offset;
    bool wide; /* uint64_t rather than unsigned */
};

static const struct number_key qgad_numbers[] = {
    {"max-clients", 10, 1, UINT_MAX, offsetof(struct agent_options, max_clients), false},
    {"idle-timeout", 10, 0, UINT_MAX / 1000, offsetof(struct agent_options, idle_timeout), false},
    {"partial-timeout", 10, 0, UINT_MAX / 1000, offsetof(struct agent_options, partial_timeout),
     false},
    {"file-create-mode", 8, 0, 0777, offsetof(struct agent_options, file_create_mode), false},
    {"max-file-handles", 10, 1, UINT_MAX, offsetof(struct agent_options, max_file_handles), false},
    {"max-exec-processes", 10, 1, UINT_MAX, offsetof(struct agent_options, max_exec_processes),
     false},
    {"exec-output-total", 10, 0, UINT64_MAX, offsetof(struct agent_options, exec_output_total),
     true},
};

/* 0, or -EINVAL with *err set; an absent key is not an error. */
static int read_general(struct agent_options *o, const struct agent_keyfile *kf, char **err)
{
    char *s;
    int ret;

    for (size_t i = 0; i < sizeof(general_strings) / sizeof(general_strings[0]); i++) {
        char **dst = (char **)((char *)o + general_strings[i].offset);
        ret = agent_keyfile_get_string(kf, GENERAL, general_strings[i].key, &s, err);
        if (ret == -EINVAL)
            return ret;
        if (ret == 0) {
            free(*dst);
            *dst = s;
        }
    }
    for (size_t i = 0; i < sizeof(general_bools) / sizeof(general_bools[0]); i++) {
        bool *dst = (bool *)((char *)o + general_bools[i].offset);
        if (agent_keyfile_get_bool(kf, GENERAL, general_bools[i].key, dst, err) == -EINVAL)
            return -EINVAL;
    }
    /* The removed key first, so it reads as if it were written before block-rpcs. */
    static const char *const list_keys[] = {"blacklist", "block-rpcs", "allow-rpcs"};
    for (size_t i = 0; i < 3; i++) {
        ret = agent_keyfile_get_string(kf, GENERAL, list_keys[i], &s, err);
        if (ret == -EINVAL)
            return ret;
        if (ret)
            continue;
        if (i == 0)
            log_warning("config key 'blacklist' is deprecated, use 'block-rpcs' instead");
        agent_strlist_add_chunk(i == 2 ? &o->allow : &o->block, s);
        free(s);
    }
    return 0;
}

static int read_number(struct agent_options *o, const struct agent_keyfile *kf,
                       const struct number_key *k, char **err)
{
    char *s;
    uint64_t v;
    int ret = agent_keyfile_get_string(kf, QGAD, k->key, &s, err);

    if (ret == -ENOENT)
        return 0;
    if (ret)
        return ret;
    if (agent_parse_uint(s, k->base, k->min, k->max, &v) < 0) {
        *err = xasprintf("Key file contains key “%s” in group “%s” which has a value that "
                         "cannot be interpreted.",
                         k->key, QGAD);
        free(s);
        return -EINVAL;
    }
    free(s);
    if (k->wide)
        *(uint64_t *)((char *)o + k->offset) = v;
    else
        *(unsigned *)((char *)o + k->offset) = (unsigned)v;
    return 0;
}

static int read_qgad(struct agent_options *o, const struct agent_keyfile *kf, char **err)
{
    char **items;
    size_t n;
    char *s;
    int ret;

    for (size_t i = 0; i < sizeof(qgad_numbers) / sizeof(qgad_numbers[0]); i++) {
        ret = read_number(o, kf, &qgad_numbers[i], err);
        if (ret)
            return ret;
    }
    ret = agent_keyfile_get_list(kf, QGAD, "listen", &items, &n, err);
    if (ret == -EINVAL)
        return ret;
    if (ret == 0) {
        for (size_t i = 0; i < n; i++) {
            if (ret == 0 && agent_options_add_listen(o, items[i]) < 0) {
                *err = xasprintf("invalid listen entry “%s”", items[i]);
                ret = -EINVAL;
            }
            free(items[i]);
        }
        free(items);
        if (ret)
            return ret;
    }
    ret = agent_keyfile_get_string(kf, QGAD, "vsock-allow-cids", &s, err);
    if (ret == -EINVAL)
        return ret;
    if (ret == 0) {
        ret = agent_options_set_vsock_cids(o, s);
        if (ret)
            *err = xasprintf("invalid vsock-allow-cids “%s”", s);
        free(s);
    }
    return ret == -ENOENT ? 0 : ret;
}

enum agent_opts_status agent_config_load(struct agent_options *o, const char *path, bool required)
{
    struct agent_keyfile *kf = NULL;
    char *err = NULL;

    free(o->conf_path);
    o->conf_path = xstrdup(path);
    int ret = agent_keyfile_load(path, &kf, &err);
    if (ret == -ENOENT && !required)
        return AGENT_OPTS_RUN;
    if (ret == 0) {
        ret = read_general(o, kf, &err);
        if (ret == 0)
            ret = read_qgad(o, kf, &err);
        agent_keyfile_free(kf);
    }
    if (ret) {
        log_critical("error loading configuration from path: %s, %s", path,
                     err ? err : strerror(-ret));
        free(err);
        return AGENT_OPTS_FAIL;
    }
    return AGENT_OPTS_RUN;
}
