/* The GKeyFile subset qemu-ga.conf uses, with GLib's rules and messages (see keyfile.h);
 * no GLib needed. Used by agent/config.c (reading) and agent/dumpconf.c (escaping). */
#include "agent/keyfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "platform/readfile.h"

/* A config file is a few hundred bytes; anything far bigger is not one. */
#define KEYFILE_MAX_BYTES (1u << 20)

struct kf_entry {
    char *group;
    char *key;
    char *value; /* raw, still escaped */
};

struct agent_keyfile {
    struct kf_entry *v;
    size_t n, cap;
};

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_cntrl(char c)
{
    return (unsigned char)c < 0x20 || c == 0x7f;
}

static int fail(char **err, char *msg)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return -EINVAL;
}

/* "[name]" followed only by blanks; name non-empty, without brackets or controls. */
static int parse_group(const char *line, char **group, char **err)
{
    const char *end = strchr(line, ']');
    const char *p;

    for (p = end + 1; *p == ' ' || *p == '\t'; p++)
        ;
    if (*p)
        return fail(err, xasprintf("Key file contains line “%s” which is not a key-value "
                                   "pair, group, or comment",
                                   line));
    for (p = line + 1; p < end && *p != '[' && !is_cntrl(*p); p++)
        ;
    if (p != end || end == line + 1)
        return fail(err, xasprintf("Invalid group name: %.*s", (int)(end - line - 1), line + 1));
    free(*group);
    *group = xstrndup(line + 1, (size_t)(end - line - 1));
    return 0;
}

/* GLib accepts inner spaces and an optional "[locale]" suffix, nothing else odd. */
static bool key_name_valid(const char *k)
{
    const char *q = k;

    while (*q && *q != '=' && *q != '[' && *q != ']')
        q++;
    if (q == k || *k == ' ' || q[-1] == ' ')
        return false;
    if (*q == '[') {
        for (q++; *q && *q != ']' && *q != '['; q++)
            if (is_cntrl(*q) || *q == ' ')
                return false;
        if (*q != ']')
            return false;
        q++;
    }
    return *q == '\0';
}

/* Duplicates are kept: lookups scan from the end, so a later one wins, as in GLib, and
 * a file of many keys costs linear time, not quadratic. */
static void add_entry(struct agent_keyfile *kf, const char *group, char *key, const char *value)
{
    if (kf->n == kf->cap) {
        kf->cap = kf->cap ? kf->cap * 2 : 16;
        kf->v = xrealloc(kf->v, kf->cap * sizeof(*kf->v));
    }
    kf->v[kf->n++] = (struct kf_entry){xstrdup(group), key, xstrdup(value)};
}

static int parse_pair(struct agent_keyfile *kf, const char *group, const char *line, char **err)
{
    const char *eq = strchr(line, '=');
    const char *kend = eq;

    if (!group)
        return fail(err, xstrdup("Key file does not start with a group"));
    while (kend > line && is_space(kend[-1]))
        kend--;
    char *key = xstrndup(line, (size_t)(kend - line));
    if (!key_name_valid(key)) {
        int ret = fail(err, xasprintf("Invalid key name: %s", key));
        free(key);
        return ret;
    }
    const char *value = eq + 1;
    while (is_space(*value))
        value++;
    add_entry(kf, group, key, value);
    return 0;
}

/* line: NUL-terminated, without its newline. */
static int parse_line(struct agent_keyfile *kf, char **group, char *line, char **err)
{
    while (is_space(*line))
        line++;
    if (*line == '\0' || *line == '#')
        return 0;
    if (*line == '[' && strchr(line, ']'))
        return parse_group(line, group, err);
    if (*line != '=' && strchr(line, '='))
        return parse_pair(kf, *group, line, err);
    return fail(err, xasprintf("Key file contains line “%s” which is not a key-value pair, "
                               "group, or comment",
                               line));
}

int agent_keyfile_parse(const char *data, size_t len, struct agent_keyfile **out, char **err)
{
    struct agent_keyfile *kf = xcalloc(1, sizeof(*kf));
    char *group = NULL;
    int ret = 0;
    size_t start = 0;

    while (start < len && ret == 0) {
        const char *nl = memchr(data + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - data) : len;
        size_t l = end - start;
        if (l > 0 && data[start + l - 1] == '\r')
            l--;
        char *line = xstrndup(data + start, l);
        if (strlen(line) != l)
            ret = fail(err, xstrdup("Key file contains a NUL byte"));
        else
            ret = parse_line(kf, &group, line, err);
        free(line);
        start = end + 1;
    }
    free(group);
    if (ret) {
        agent_keyfile_free(kf);
        return ret;
    }
    *out = kf;
    return 0;
}

int agent_keyfile_load(const char *path, struct agent_keyfile **out, char **err)
{
    char *data = NULL;
    size_t len = 0;
    int ret = plat_read_file(path, KEYFILE_MAX_BYTES, &data, &len);

    if (ret)
        return ret;
    ret = agent_keyfile_parse(data, len, out, err);
    free(data);
    return ret;
}

void agent_keyfile_free(struct agent_keyfile *kf)
{
    if (!kf)
        return;
    for (size_t i = 0; i < kf->n; i++) {
        free(kf->v[i].group);
        free(kf->v[i].key);
        free(kf->v[i].value);
    }
    free(kf->v);
    free(kf);
}

static const char *raw_value(const struct agent_keyfile *kf, const char *group, const char *key)
{
    for (size_t i = kf->n; i-- > 0;)
        if (!strcmp(kf->v[i].group, group) && !strcmp(kf->v[i].key, key))
            return kf->v[i].value;
    return NULL;
}

bool agent_keyfile_has(const struct agent_keyfile *kf, const char *group, const char *key)
{
    return raw_value(kf, group, key) != NULL;
}

/* Decodes raw[0..len) into a new string; in_list makes "\;" a literal ';'. */
static int unescape(const char *raw, size_t len, bool in_list, char **out, char **err)
{
    char *s = xmalloc(len + 1), *q = s;

    for (size_t i = 0; i < len; i++) {
        if (raw[i] != '\\') {
            *q++ = raw[i];
            continue;
        }
        char c = ++i < len ? raw[i] : '\0';
        switch (c) {
        case 's':
            *q++ = ' ';
            break;
        case 'n':
            *q++ = '\n';
            break;
        case 't':
            *q++ = '\t';
            break;
        case 'r':
            *q++ = '\r';
            break;
        case '\\':
            *q++ = '\\';
            break;
        case ';':
            if (in_list) {
                *q++ = ';';
                break;
            }
            /* fall through */
        default:
            free(s);
            if (c == '\0')
                return fail(err, xstrdup("Key file contains escape character at end of line"));
            return fail(err, xasprintf("Key file contains invalid escape sequence “\\%c”", c));
        }
    }
    *q = '\0';
    *out = s;
    return 0;
}

int agent_keyfile_get_string(const struct agent_keyfile *kf, const char *group, const char *key,
                             char **out, char **err)
{
    const char *raw = raw_value(kf, group, key);

    if (!raw)
        return -ENOENT;
    return unescape(raw, strlen(raw), false, out, err);
}

int agent_keyfile_get_bool(const struct agent_keyfile *kf, const char *group, const char *key,
                           bool *out, char **err)
{
    const char *raw = raw_value(kf, group, key);

    if (!raw)
        return -ENOENT;
    size_t len = strlen(raw);
    while (len > 0 && is_space(raw[len - 1])) /* GLib ignores trailing blanks here */
        len--;
    if ((len == 4 && !strncmp(raw, "true", 4)) || (len == 1 && raw[0] == '1')) {
        *out = true;
        return 0;
    }
    if ((len == 5 && !strncmp(raw, "false", 5)) || (len == 1 && raw[0] == '0')) {
        *out = false;
        return 0;
    }
    return fail(err, xasprintf("Value “%.*s” cannot be interpreted as a boolean.", (int)len, raw));
}

int agent_keyfile_get_list(const struct agent_keyfile *kf, const char *group, const char *key,
                           char ***out, size_t *n, char **err)
{
    const char *raw = raw_value(kf, group, key);
    char **items = NULL;
    size_t count = 0;

    if (!raw)
        return -ENOENT;
    for (const char *p = raw; *p;) {
        const char *e = p;
        while (*e && *e != ';')
            e += (e[0] == '\\' && e[1]) ? 2 : 1;
        char *item;
        int ret = unescape(p, (size_t)(e - p), true, &item, err);
        if (ret) {
            for (size_t i = 0; i < count; i++)
                free(items[i]);
            free(items);
            return ret;
        }
        if (*item) {
            items = xrealloc(items, (count + 1) * sizeof(*items));
            items[count++] = item;
        } else {
            free(item);
        }
        p = *e ? e + 1 : e;
    }
    *out = items;
    *n = count;
    return 0;
}

char *agent_keyfile_escape(const char *value)
{
    char *s = xmalloc(2 * strlen(value) + 1), *q = s;
    bool leading = true;

    for (const char *p = value; *p; p++) {
        if (*p == ' ' && leading) {
            *q++ = '\\';
            *q++ = 's';
        } else if (*p == '\t' && leading) {
            *q++ = '\\';
            *q++ = 't';
        } else if (*p == '\n' || *p == '\r' || *p == '\\') {
            *q++ = '\\';
            *q++ = *p == '\n' ? 'n' : *p == '\r' ? 'r' : '\\';
        } else {
            leading = false;
            *q++ = *p;
        }
    }
    *q = '\0';
    return s;
}
