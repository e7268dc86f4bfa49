/* os-release reader. The accepted syntax is GLib's key file syntax, because upstream
 * loads the file with g_key_file_load_from_data() behind a fake "[os-release]" header:
 * a line GLib rejects makes the whole file unusable (and the next candidate is tried). */
#include "platform/osrelease.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/xalloc.h"
#include "platform/paths.h"
#include "platform/readfile.h"

/* os-release files are a few hundred bytes; anything this big is not one. */
#define OS_RELEASE_MAX_BYTES (1u << 20)

static const char *const os_keys[] = {
    "ID", "NAME", "PRETTY_NAME", "VERSION", "VERSION_ID", "VARIANT", "VARIANT_ID",
};

static char **os_field(struct plat_osrelease *os, size_t i)
{
    char **fields[] = {&os->id,         &os->name,    &os->pretty_name, &os->version,
                       &os->version_id, &os->variant, &os->variant_id};
    return fields[i];
}

/* Strict UTF-8 as g_utf8_validate: no overlongs, no surrogates, nothing past U+10FFFF. */
static bool utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, cp = c & 0x07;
        } else {
            return false;
        }
        if (i + n >= len)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        static const uint32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

static bool is_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* g_key_file_is_key_name(): "name" or "name[locale]", no leading/trailing space. */
static bool key_name_valid(const char *k)
{
    const char *q = k;
    while (*q && *q != '[' && *q != ']')
        q++;
    if (q == k || *k == ' ' || q[-1] == ' ')
        return false;
    if (*q == '[') {
        q++;
        while (*q && ((unsigned char)*q >= 0x80 || (*q >= '0' && *q <= '9') ||
                      (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || strchr("-_.@", *q)))
            q++;
        if (*q != ']')
            return false;
        q++;
    }
    return *q == '\0';
}

/* A "[group]" line: returns the group name (malloc'd), or NULL if not a valid group line
 * (which GLib then reports as a parse error). */
static char *group_line(const char *line)
{
    const char *end = strchr(line + 1, ']');
    if (!end)
        return NULL;
    for (const char *t = end + 1; *t; t++)
        if (*t != ' ' && *t != '\t')
            return NULL;
    if (end == line + 1)
        return NULL;
    for (const char *t = line + 1; t < end; t++)
        if (*t == '[' || (unsigned char)*t < 0x20 || *t == 0x7F)
            return NULL;
    return xstrndup(line + 1, (size_t)(end - line - 1));
}

struct kf_state {
    bool in_os_release; /* the current group is the prepended (start) group */
    struct plat_osrelease *out;
};

/* One key=value line; returns false on a GLib parse error. */
static bool parse_pair(struct kf_state *st, const char *line)
{
    const char *eq = strchr(line, '=');
    const char *key_end = eq;
    while (key_end > line && is_space(key_end[-1]))
        key_end--;
    char *key = xstrndup(line, (size_t)(key_end - line));
    bool ok = key_name_valid(key);
    const char *value = eq + 1;
    while (is_space(*value))
        value++;
    if (ok && st->in_os_release && strcmp(key, "Encoding") == 0 && strcasecmp(value, "UTF-8") != 0)
        ok = false; /* GLib: G_KEY_FILE_ERROR_UNKNOWN_ENCODING in the start group */
    if (ok && st->in_os_release) {
        for (size_t i = 0; i < sizeof(os_keys) / sizeof(os_keys[0]); i++) {
            if (strcmp(key, os_keys[i]) == 0) {
                char **f = os_field(st->out, i);
                free(*f); /* a later duplicate wins, as in GLib */
                *f = xstrdup(value);
            }
        }
    }
    free(key);
    return ok;
}

static bool parse_line(struct kf_state *st, char *line)
{
    size_t len = strlen(line);
    if (len > 0 && line[len - 1] == '\r')
        line[len - 1] = '\0';
    while (is_space(*line))
        line++;
    if (*line == '\0' || *line == '#')
        return true;
    if (*line == '[') {
        char *group = group_line(line);
        if (!group)
            return false;
        st->in_os_release = strcmp(group, "os-release") == 0;
        free(group);
        return true;
    }
    char *eq = strchr(line, '=');
    if (!eq || eq == line)
        return false;
    return parse_pair(st, line);
}

char *plat_osrelease_unquote(const char *raw)
{
    if (raw[0] != '"') {
        /* Unquoted, and single-quoted too (upstream's slip): cut at ' ' or ';'. */
        return xstrndup(raw, strcspn(raw, " ;"));
    }
    char *out = xmalloc(strlen(raw));
    char *o = out;
    for (const char *p = raw + 1; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1] != '\0' && strchr("$'\"\\`", p[1]))
            p++;
        *o++ = *p;
    }
    *o = '\0';
    return out;
}

void plat_osrelease_free(struct plat_osrelease *os)
{
    for (size_t i = 0; i < sizeof(os_keys) / sizeof(os_keys[0]); i++) {
        char **f = os_field(os, i);
        free(*f);
        *f = NULL;
    }
}

int plat_osrelease_parse(const char *content, size_t len, struct plat_osrelease *out)
{
    memset(out, 0, sizeof(*out));
    size_t n = strnlen(content, len); /* upstream handles the text as a C string */
    if (!utf8_valid((const unsigned char *)content, n))
        return -EINVAL;

    char *text = xstrndup(content, n);
    struct kf_state st = {.in_os_release = true, .out = out};
    bool ok = true;
    for (char *line = text, *next; ok && line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        ok = parse_line(&st, line);
    }
    free(text);
    if (!ok) {
        plat_osrelease_free(out);
        return -EINVAL;
    }
    for (size_t i = 0; i < sizeof(os_keys) / sizeof(os_keys[0]); i++) {
        char **f = os_field(out, i);
        if (*f) {
            char *v = plat_osrelease_unquote(*f);
            free(*f);
            *f = v;
        }
    }
    return 0;
}

static int parse_file(const char *path, struct plat_osrelease *out)
{
    char *data;
    size_t len;
    memset(out, 0, sizeof(*out));
    int rc = plat_read_file(path, OS_RELEASE_MAX_BYTES, &data, &len);
    if (rc < 0)
        return rc;
    rc = plat_osrelease_parse(data, len, out);
    free(data);
    return rc;
}

int plat_osrelease_read(struct plat_osrelease *out)
{
    const char *env = getenv("QGA_OS_RELEASE");
    if (env)
        return parse_file(env, out); /* no fallback when the variable is set */

    char path[4096];
    int rc = -ENAMETOOLONG;
    if (plat_path(path, sizeof(path), "/etc/os-release"))
        rc = parse_file(path, out);
    if (rc < 0 && plat_path(path, sizeof(path), "/usr/lib/os-release"))
        rc = parse_file(path, out);
    return rc;
}
