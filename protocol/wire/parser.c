/* yajl callbacks -> yajl_val tree. Numbers keep their text (json_number_text), so 64-bit
 * ids come back exact. yajl's error messages are mapped to the details upstream's
 * json-parser reports, since clients and test suites compare them. */
#include "protocol/wire/parser.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "base/json.h"
#include "base/limits.h"
#include "base/release.h"
#include "base/xalloc.h"

#define ERR_PREFIX "JSON parse error, "
#define SMALL_OBJECT 8 /* objects up to this size are checked pairwise for duplicate keys */
#define KEY_KEEP 4096  /* a bigger key buffer is released between messages */

struct proto_parser {
    yajl_handle yajl; /* per message; yajl has no reset */
    yajl_val root;    /* the message's value, owned until finish */
    yajl_val *stack;  /* open arrays and objects */
    size_t depth, stack_cap;
    char *key; /* the pending object key, NUL-terminated */
    size_t key_cap;
    struct substitute {
        size_t ordinal;
        char *str;
        size_t len;
    } * subst;          /* strings the framer took out of the text, by token number */
    size_t subst_bytes; /* of those taken into the tree: past a limit, it is freed off the loop */
    size_t n_subst, cap_subst, next_subst;
    size_t strings;   /* string tokens (keys and values) seen so far */
    size_t values;    /* values in root so far */
    const char *span; /* the last bytes fed to yajl: errors point into them */
    size_t span_len;
    char *error;
};

static int parser_fail(struct proto_parser *p, const char *detail)
{
    free(p->error);
    p->error = xasprintf(ERR_PREFIX "%s", detail);
    return 0; /* stops yajl: yajl_status_client_canceled */
}

static int attach(struct proto_parser *p, yajl_val v)
{
    p->values++;
    if (p->depth == 0) {
        p->root = v;
        return 1;
    }
    yajl_val top = p->stack[p->depth - 1];
    if (top->type == yajl_t_array)
        json_array_add(top, v);
    else
        json_object_add(top, p->key, v);
    return 1;
}

static int push(struct proto_parser *p, yajl_val v)
{
    attach(p, v);
    if (p->depth == p->stack_cap) {
        p->stack_cap = p->stack_cap ? p->stack_cap * 2 : 16;
        p->stack = xrealloc(p->stack, p->stack_cap * sizeof(*p->stack));
    }
    p->stack[p->depth++] = v;
    return 1;
}

static int on_null(void *ctx)
{
    return attach(ctx, json_null());
}
static int on_bool(void *ctx, int b)
{
    return attach(ctx, json_bool(b));
}
static int on_start_map(void *ctx)
{
    return push(ctx, json_object());
}
static int on_start_array(void *ctx)
{
    return push(ctx, json_array());
}

static int on_end_array(void *ctx)
{
    struct proto_parser *p = ctx;
    p->depth--;
    return 1;
}

static int on_number(void *ctx, const char *s, size_t len)
{
    return attach(ctx, json_number_text(s, len));
}

void proto_parser_substitute(struct proto_parser *p, size_t ordinal, char *str, size_t len)
{
    if (p->n_subst == p->cap_subst) {
        p->cap_subst = p->cap_subst ? p->cap_subst * 2 : 4;
        p->subst = xrealloc(p->subst, p->cap_subst * sizeof(*p->subst));
    }
    p->subst[p->n_subst].ordinal = ordinal;
    p->subst[p->n_subst].len = len;
    p->subst[p->n_subst++].str = str;
}

/* The string the framer took out for this token (yajl saw ""), or NULL. */
static char *take_substitute(struct proto_parser *p)
{
    size_t ordinal = p->strings++;
    if (p->next_subst == p->n_subst || p->subst[p->next_subst].ordinal != ordinal)
        return NULL;
    p->subst_bytes += p->subst[p->next_subst].len;
    return p->subst[p->next_subst++].str;
}

static int on_string(void *ctx, const unsigned char *s, size_t len)
{
    char *big = take_substitute(ctx);
    if (big)
        return attach(ctx, json_string_take(big));
    if (memchr(s, '\0', len))
        return parser_fail(ctx, "\\u0000 is not supported");
    return attach(ctx, json_string_len((const char *)s, len));
}

static int set_key(struct proto_parser *p, const unsigned char *s, size_t len)
{
    if (memchr(s, '\0', len))
        return parser_fail(p, "\\u0000 is not supported");
    if (len + 1 > p->key_cap) {
        p->key_cap = len + 1 > 64 ? len + 1 : 64;
        free(p->key);
        p->key = xmalloc(p->key_cap);
    }
    memcpy(p->key, s, len);
    p->key[len] = '\0';
    return 1;
}

static int on_map_key(void *ctx, const unsigned char *s, size_t len)
{
    struct proto_parser *p = ctx;
    char *big = take_substitute(p);
    if (!big)
        return set_key(p, s, len);
    int rc = set_key(p, (const unsigned char *)big, strlen(big));
    free(big);
    return rc;
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorting keeps an object with many keys O(n log n); small ones are compared directly. */
static bool has_duplicate_keys(yajl_val obj)
{
    size_t n = obj->u.object.len;
    const char **keys = obj->u.object.keys;
    bool dup = false;

    if (n <= SMALL_OBJECT) {
        for (size_t i = 0; i < n && !dup; i++)
            for (size_t j = i + 1; j < n && !dup; j++)
                dup = strcmp(keys[i], keys[j]) == 0;
        return dup;
    }
    const char **sorted = xmalloc(n * sizeof(*sorted));
    memcpy(sorted, keys, n * sizeof(*sorted));
    qsort(sorted, n, sizeof(*sorted), key_cmp);
    for (size_t i = 1; i < n && !dup; i++)
        dup = strcmp(sorted[i - 1], sorted[i]) == 0;
    free(sorted);
    return dup;
}

static int on_end_map(void *ctx)
{
    struct proto_parser *p = ctx;
    if (has_duplicate_keys(p->stack[p->depth - 1]))
        return parser_fail(p, "duplicate key");
    p->depth--;
    return 1;
}

static const yajl_callbacks parser_callbacks = {
    .yajl_null = on_null,
    .yajl_boolean = on_bool,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_map_key,
    .yajl_end_map = on_end_map,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_end_array,
};

static void *yajl_xmalloc(void *ctx, size_t n)
{
    return xmalloc(n);
}
static void *yajl_xrealloc(void *ctx, void *ptr, size_t n)
{
    return xrealloc(ptr, n);
}
static void yajl_xfree(void *ctx, void *ptr)
{
    free(ptr);
}

static yajl_alloc_funcs parser_alloc = {yajl_xmalloc, yajl_xrealloc, yajl_xfree, NULL};

/* yajl's messages that name the same problem as one of upstream's details. */
static const struct {
    const char *yajl;
    const char *detail;
} yajl_details[] = {
    {"premature EOF", "premature EOI"},
    {"must be separated by a colon", "missing : in object pair"},
    {"inside map, I expect", "expected separator in dict"},
    {"after array element, I expect", "expected separator in list"},
    {"unallowed token at this point", "expecting value"},
    {"occurs before a character which it may not", "invalid escape sequence in string"},
    {"(non-hex) character occurs after", "invalid escape sequence in string"},
    {"invalid bytes in UTF8 string", "invalid UTF-8 sequence in string"},
};

/* The byte yajl stopped at: after it for tokens, on it inside strings. */
static int offending_byte(const struct proto_parser *p, bool in_string)
{
    size_t at = yajl_get_bytes_consumed(p->yajl);
    if (!in_string)
        at--;
    return (p->span && at < p->span_len) ? (unsigned char)p->span[at] : -1;
}

static void parser_set_yajl_error(struct proto_parser *p)
{
    unsigned char *text = yajl_get_error(p->yajl, 0, NULL, 0);
    const char *msg = (const char *)text;
    bool in_string = strstr(msg, "inside string") != NULL;
    char *colon = strstr(msg, ": ");
    int c;

    if (strstr(msg, "invalid object key")) {
        /* upstream parses a value first: only a structural token fails as "expecting" */
        c = offending_byte(p, false);
        parser_fail(p, c > 0 && strchr("}],:", c) ? "expecting value"
                                                  : "key is not a string in object");
    } else if (strstr(msg, "invalid char") || strstr(msg, "comment") ||
               strstr(msg, "invalid character inside string")) {
        char stray[16];
        c = offending_byte(p, in_string);
        snprintf(stray, sizeof(stray), "stray '%c'", c > 0 ? c : '?');
        parser_fail(p, stray);
    } else {
        const char *detail = NULL;
        for (size_t i = 0; i < sizeof(yajl_details) / sizeof(yajl_details[0]) && !detail; i++)
            if (strstr(msg, yajl_details[i].yajl))
                detail = yajl_details[i].detail;
        if (!detail) {
            /* "lexical error: malformed number, ....\n" -> "malformed number, ..." */
            char *short_text = colon ? colon + 2 : (char *)msg;
            short_text[strcspn(short_text, "\n")] = '\0';
            size_t n = strlen(short_text);
            if (n && short_text[n - 1] == '.')
                short_text[n - 1] = '\0';
            detail = short_text;
        }
        parser_fail(p, detail);
    }
    yajl_free_error(p->yajl, text);
}

struct proto_parser *proto_parser_new(void)
{
    return xcalloc(1, sizeof(struct proto_parser));
}

/* Pool thread: a tree of millions of nodes takes tens of ms to free, and glibc keeps the
 * freed small chunks in the heap unless asked to give them back. */
static void tree_release(void *tree)
{
    json_free(tree);
    heap_trim();
}

void proto_parser_reset(struct proto_parser *p)
{
    if (p->yajl)
        yajl_free(p->yajl);
    p->yajl = NULL;
    /* a message dropped half way: its tree and big strings are freed off the loop */
    if (p->root && (p->values > QGAD_POOL_FREE_VALUES || p->subst_bytes > QGAD_POOL_FREE_BYTES))
        release_in_pool(tree_release, p->root);
    else
        json_free(p->root);
    p->root = NULL;
    p->values = 0;
    p->depth = 0;
    for (; p->next_subst < p->n_subst; p->next_subst++) {
        struct substitute *sub = &p->subst[p->next_subst];
        if (sub->len > QGAD_POOL_FREE_BYTES)
            release_in_pool(free, sub->str);
        else
            free(sub->str);
    }
    p->n_subst = p->next_subst = p->strings = 0;
    p->subst_bytes = 0;
    p->span = NULL;
    p->span_len = 0;
    free(p->error);
    p->error = NULL;
    if (p->key_cap > KEY_KEEP) { /* one huge key must not stay allocated */
        free(p->key);
        p->key = NULL;
        p->key_cap = 0;
    }
}

void proto_parser_free(struct proto_parser *p)
{
    if (!p)
        return;
    proto_parser_reset(p);
    free(p->stack);
    free(p->subst);
    free(p->key);
    free(p);
}

static int parser_check(struct proto_parser *p, yajl_status st)
{
    if (st == yajl_status_ok)
        return 0;
    if (!p->error) /* a callback already set its own text otherwise */
        parser_set_yajl_error(p);
    return -1;
}

int proto_parser_feed(struct proto_parser *p, const char *buf, size_t len)
{
    if (p->error)
        return -1;
    if (!p->yajl)
        p->yajl = yajl_alloc(&parser_callbacks, &parser_alloc, p);
    if (len == 0)
        return 0;
    p->span = buf;
    p->span_len = len;
    return parser_check(p, yajl_parse(p->yajl, (const unsigned char *)buf, len));
}

yajl_val proto_parser_finish(struct proto_parser *p)
{
    if (proto_parser_feed(p, NULL, 0) < 0)
        return NULL;
    p->span = NULL;
    p->span_len = 0;
    if (parser_check(p, yajl_complete_parse(p->yajl)) < 0)
        return NULL;
    yajl_val v = p->root;
    p->root = NULL;
    return v;
}

const char *proto_parser_error(const struct proto_parser *p)
{
    return p->error ? p->error : ERR_PREFIX "premature EOI";
}
