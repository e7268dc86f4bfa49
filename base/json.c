#include "base/json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

static yajl_val value_new(yajl_type type)
{
    yajl_val v = xcalloc(1, sizeof(*v));
    v->type = type;
    return v;
}

yajl_val json_object(void)
{
    return value_new(yajl_t_object);
}
yajl_val json_array(void)
{
    return value_new(yajl_t_array);
}
yajl_val json_null(void)
{
    return value_new(yajl_t_null);
}
yajl_val json_bool(bool b)
{
    return value_new(b ? yajl_t_true : yajl_t_false);
}

yajl_val json_string_take(char *s)
{
    yajl_val v = value_new(yajl_t_string);
    v->u.string = s;
    return v;
}

yajl_val json_string(const char *s)
{
    return json_string_take(xstrdup(s));
}
yajl_val json_string_len(const char *s, size_t len)
{
    return json_string_take(xstrndup(s, len));
}

yajl_val json_number_text(const char *text, size_t len)
{
    yajl_val v = value_new(yajl_t_number);
    char *end;

    v->u.number.r = xstrndup(text, len);
    errno = 0;
    long long i = strtoll(v->u.number.r, &end, 10);
    if (errno == 0 && *end == '\0') {
        v->u.number.i = i;
        v->u.number.flags |= YAJL_NUMBER_INT_VALID;
    }
    errno = 0;
    v->u.number.d = strtod(v->u.number.r, &end);
    if (errno == 0 && *end == '\0')
        v->u.number.flags |= YAJL_NUMBER_DOUBLE_VALID;
    return v;
}

yajl_val json_int(int64_t v)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%" PRId64, v);
    return json_number_text(buf, (size_t)n);
}

yajl_val json_uint(uint64_t v)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%" PRIu64, v);
    return json_number_text(buf, (size_t)n);
}

yajl_val json_double(double d)
{
    char buf[40];
    int n = snprintf(buf, sizeof(buf), "%.17g", d);
    yajl_val v = json_number_text(buf, (size_t)n);
    /* "%.17g" of 2.0 is "2": keep it a double in the tree, the text is what is printed */
    v->u.number.flags = YAJL_NUMBER_DOUBLE_VALID;
    v->u.number.d = d;
    return v;
}

/* Arrays grow by doubling; the capacity is implied by len (next power of two). */
static bool needs_growth(size_t len)
{
    return len == 0 || (len & (len - 1)) == 0;
}

void json_object_add(yajl_val obj, const char *key, yajl_val value)
{
    size_t n = obj->u.object.len;
    if (needs_growth(n)) {
        size_t cap = n ? n * 2 : 4;
        obj->u.object.keys = xrealloc(obj->u.object.keys, cap * sizeof(char *));
        obj->u.object.values = xrealloc(obj->u.object.values, cap * sizeof(yajl_val));
    }
    obj->u.object.keys[n] = xstrdup(key);
    obj->u.object.values[n] = value;
    obj->u.object.len = n + 1;
}

void json_array_add(yajl_val arr, yajl_val value)
{
    size_t n = arr->u.array.len;
    if (needs_growth(n)) {
        size_t cap = n ? n * 2 : 4;
        arr->u.array.values = xrealloc(arr->u.array.values, cap * sizeof(yajl_val));
    }
    arr->u.array.values[n] = value;
    arr->u.array.len = n + 1;
}

void json_object_add_str(yajl_val obj, const char *key, const char *s)
{
    json_object_add(obj, key, json_string(s));
}
void json_object_add_int(yajl_val obj, const char *key, int64_t v)
{
    json_object_add(obj, key, json_int(v));
}
void json_object_add_uint(yajl_val obj, const char *key, uint64_t v)
{
    json_object_add(obj, key, json_uint(v));
}
void json_object_add_bool(yajl_val obj, const char *key, bool b)
{
    json_object_add(obj, key, json_bool(b));
}

yajl_val json_get(yajl_val obj, const char *key)
{
    if (!obj || obj->type != yajl_t_object)
        return NULL;
    for (size_t i = 0; i < obj->u.object.len; i++)
        if (strcmp(obj->u.object.keys[i], key) == 0)
            return obj->u.object.values[i];
    return NULL;
}

yajl_val json_copy(yajl_val v)
{
    if (!v)
        return NULL;
    switch (v->type) {
    case yajl_t_string:
        return json_string(v->u.string);
    case yajl_t_number:
        return json_number_text(v->u.number.r, strlen(v->u.number.r));
    case yajl_t_object: {
        yajl_val o = json_object();
        for (size_t i = 0; i < v->u.object.len; i++)
            json_object_add(o, v->u.object.keys[i], json_copy(v->u.object.values[i]));
        return o;
    }
    case yajl_t_array: {
        yajl_val a = json_array();
        for (size_t i = 0; i < v->u.array.len; i++)
            json_array_add(a, json_copy(v->u.array.values[i]));
        return a;
    }
    default:
        return value_new(v->type);
    }
}

void json_free(yajl_val v)
{
    if (v)
        yajl_tree_free(v);
}

bool json_as_int64(yajl_val v, int64_t *out)
{
    if (!v || v->type != yajl_t_number || !(v->u.number.flags & YAJL_NUMBER_INT_VALID))
        return false;
    *out = v->u.number.i;
    return true;
}

bool json_as_uint64(yajl_val v, uint64_t *out)
{
    if (!v || v->type != yajl_t_number || !v->u.number.r)
        return false;
    const char *r = v->u.number.r;
    if (r[0] == '-') {
        /* "-0" is a valid uint64 0; any other negative is not */
        if (strcmp(r, "-0") != 0)
            return false;
        *out = 0;
        return true;
    }
    char *end;
    errno = 0;
    unsigned long long u = strtoull(r, &end, 10);
    if (errno || *end != '\0' || end == r)
        return false;
    *out = u;
    return true;
}
