/* The generic argument checker. It walks the spec the way QEMU's QObject input visitor
 * walks a QAPI type, so the first error it reports and its text are the visitor's:
 * members in spec order (missing / wrong type), then members nobody asked for. Names of
 * nested values are spelled as the visitor spells them: "vcpus[0].online". Then it fills
 * the command's argument struct and checks ranges, as upstream's handlers did. */
#include "commands/args.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/xalloc.h"

/* Where a value sits: a member name in an object, or an index in an array. Lives on the
 * stack of the walk; only turned into text when an error is reported. */
struct arg_path {
    const struct arg_path *parent;
    const char *name; /* NULL: array element */
    size_t index;
};

static void path_append(const struct arg_path *p, char **buf, size_t *len)
{
    if (!p)
        return;
    path_append(p->parent, buf, len);
    char part[32];
    const char *text = p->name;
    if (!p->name) {
        snprintf(part, sizeof(part), "[%zu]", p->index);
        text = part;
    }
    bool dot = p->name && *len > 0;
    size_t n = strlen(text);
    *buf = xrealloc(*buf, *len + n + 2);
    if (dot)
        (*buf)[(*len)++] = '.';
    memcpy(*buf + *len, text, n + 1);
    *len += n;
}

static char *path_text(const struct arg_path *p)
{
    char *buf = xstrdup("");
    size_t len = 0;
    path_append(p, &buf, &len);
    return buf;
}

/* "Parameter '<path>'<what>": the missing / unexpected / uint64 texts. */
static char *param_error(const struct arg_path *p, const char *what)
{
    char *name = path_text(p);
    char *msg = xasprintf("Parameter '%s'%s", name, what);
    free(name);
    return msg;
}

static char *type_error(const struct arg_path *p, const char *expected)
{
    char *name = path_text(p);
    char *msg = xasprintf("Invalid parameter type for '%s', expected: %s", name, expected);
    free(name);
    return msg;
}

/* Enum and alternate errors name the value by its own name, not its path, and "null"
 * for array elements (the visitor passes the bare name there). */
static const char *bare_name(const struct arg_path *p)
{
    return p->name ? p->name : "null";
}

static char *check_enum(const struct arg_path *p, const char *const *values, yajl_val v)
{
    if (v->type != yajl_t_string)
        return type_error(p, "string");
    for (const char *const *e = values; e && *e; e++)
        if (strcmp(*e, v->u.string) == 0)
            return NULL;
    return xasprintf("Parameter '%s' does not accept value '%s'", bare_name(p), v->u.string);
}

static char *check_members(const struct arg_spec *spec, yajl_val obj,
                           const struct arg_path *parent);

/* Checks one value of `type`; `spec` supplies values/members/type_name. */
static char *check_value(const struct arg_spec *spec, enum arg_type type, yajl_val v,
                         const struct arg_path *p)
{
    int64_t i;
    uint64_t u;

    switch (type) {
    case ARG_INT:
        return json_as_int64(v, &i) ? NULL : type_error(p, "integer");
    case ARG_UINT64:
        /* the visitor also takes negative integers here, for compatibility */
        if (json_as_uint64(v, &u) || json_as_int64(v, &i))
            return NULL;
        return param_error(p, " expects uint64");
    case ARG_NUMBER:
        return v->type == yajl_t_number ? NULL : type_error(p, "number");
    case ARG_STR:
        return v->type == yajl_t_string ? NULL : type_error(p, "string");
    case ARG_BOOL:
        return (v->type == yajl_t_true || v->type == yajl_t_false) ? NULL
                                                                   : type_error(p, "boolean");
    case ARG_ENUM:
        return check_enum(p, spec->values, v);
    case ARG_ARRAY:
        if (v->type != yajl_t_array)
            return type_error(p, "array");
        for (size_t k = 0; k < v->u.array.len; k++) {
            struct arg_path ep = {.parent = p, .name = NULL, .index = k};
            char *err = check_value(spec, spec->elem, v->u.array.values[k], &ep);
            if (err)
                return err;
        }
        return NULL;
    case ARG_OBJECT:
        if (v->type != yajl_t_object)
            return type_error(p, "object");
        return check_members(spec->members, v, p);
    case ARG_ALT_INT_ENUM:
        if (v->type == yajl_t_number)
            return check_value(spec, ARG_INT, v, p);
        if (v->type == yajl_t_string)
            return check_enum(p, spec->values, v);
        break;
    case ARG_ALT_BOOL_ENUM:
        if (v->type == yajl_t_true || v->type == yajl_t_false)
            return NULL;
        if (v->type == yajl_t_string)
            return check_enum(p, spec->values, v);
        break;
    }
    return xasprintf("Invalid parameter type for '%s', expected: %s", bare_name(p),
                     spec->type_name ? spec->type_name : "alternate");
}

static bool spec_has(const struct arg_spec *spec, const char *name)
{
    for (const struct arg_spec *s = spec; s && s->name; s++)
        if (strcmp(s->name, name) == 0)
            return true;
    return false;
}

static char *check_members(const struct arg_spec *spec, yajl_val obj, const struct arg_path *parent)
{
    for (const struct arg_spec *s = spec; s && s->name; s++) {
        struct arg_path p = {.parent = parent, .name = s->name};
        yajl_val v = json_get(obj, s->name);
        if (!v) {
            if (s->optional)
                continue;
            return param_error(&p, " is missing");
        }
        char *err = check_value(s, s->type, v, &p);
        if (err)
            return err;
    }
    if (!obj)
        return NULL;
    for (size_t k = 0; k < obj->u.object.len; k++) {
        if (!spec_has(spec, obj->u.object.keys[k])) {
            struct arg_path p = {.parent = parent, .name = obj->u.object.keys[k]};
            return param_error(&p, " is unexpected");
        }
    }
    return NULL;
}

char *args_check(const struct arg_spec *spec, yajl_val args)
{
    if (args && args->type != yajl_t_object)
        return xstrdup("QMP input member 'arguments' must be an object");
    return check_members(spec, args, NULL);
}

static int value_index(const char *const *values, const char *s)
{
    for (int i = 0; values && values[i]; i++)
        if (strcmp(values[i], s) == 0)
            return i;
    return -1; /* cannot happen after the check */
}

/* The struct member of a checked value, or of an absent one (v NULL: its default). */
static void store(const struct arg_spec *s, yajl_val v, char *out)
{
    void *at = out + s->offset;
    int64_t i = s->dflt_int;
    uint64_t u = (uint64_t)s->dflt_int;

    switch (s->type) {
    case ARG_INT:
        if (v)
            json_as_int64(v, &i);
        *(int64_t *)at = i;
        break;
    case ARG_UINT64:
        if (v && !json_as_uint64(v, &u) && json_as_int64(v, &i))
            u = (uint64_t)i; /* a negative integer, taken as upstream's visitor takes it */
        *(uint64_t *)at = u;
        break;
    case ARG_BOOL:
        *(bool *)at = v ? v->type == yajl_t_true : s->dflt_int != 0;
        break;
    case ARG_STR:
        *(const char **)at = v ? v->u.string : s->dflt_str;
        break;
    case ARG_ENUM:
        *(int *)at = v ? value_index(s->values, v->u.string) : (int)s->dflt_int;
        break;
    case ARG_ALT_INT_ENUM:
        if (v && v->type == yajl_t_string)
            i = value_index(s->values, v->u.string);
        else if (v)
            json_as_int64(v, &i);
        *(int64_t *)at = i;
        break;
    case ARG_ALT_BOOL_ENUM:
        if (!v)
            *(int *)at = (int)s->dflt_int;
        else if (v->type == yajl_t_string)
            *(int *)at = value_index(s->values, v->u.string);
        else
            *(int *)at = v->type == yajl_t_true ? s->if_true : s->if_false;
        break;
    case ARG_NUMBER:
    case ARG_ARRAY:
    case ARG_OBJECT:
        *(yajl_val *)at = v;
        break;
    }
    if (s->has_flag)
        *(bool *)(out + s->has_offset) = v != NULL;
}

char *args_parse(const struct arg_list *list, yajl_val args, void *out, char **range_err)
{
    const struct arg_spec *spec = list ? list->specs : NULL;
    char *err = args_check(spec, args);
    if (range_err)
        *range_err = NULL;
    if (err || !out)
        return err;
    memset(out, 0, list ? list->size : 0);
    for (const struct arg_spec *s = spec; s && s->name; s++) {
        yajl_val v = json_get(args, s->name);
        if (s->stored)
            store(s, v, out);
        int64_t i;
        if (range_err && !*range_err && s->ranged && v && json_as_int64(v, &i) &&
            (i < s->min || i > s->max))
            *range_err = xasprintf("value '%" PRId64 "' is invalid for argument %s", i, s->name);
    }
    return NULL;
}
