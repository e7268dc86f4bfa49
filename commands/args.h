/* Argument specs and the generic checker that produces QAPI's exact error texts and fills
 * the command's own argument struct (defaults applied, ranges checked), so no handler
 * re-implements a check or writes an argument's name a second time. */
#ifndef QGAD_COMMANDS_ARGS_H
#define QGAD_COMMANDS_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_tree.h>

enum arg_type {             /* what the struct member is: */
                ARG_INT,    /* int64_t; must fit int64 */
                ARG_UINT64, /* uint64_t */
                ARG_NUMBER, /* yajl_val: any JSON number (its text is kept) */
                ARG_STR,    /* const char *, pointing into the request */
                ARG_BOOL,   /* bool */
                ARG_ENUM,   /* int: index into .values */
                ARG_ARRAY,  /* yajl_val: elements of .elem (with .values/.members for their checks)
                             */
                ARG_OBJECT, /* yajl_val: struct with .members */
                ARG_ALT_INT_ENUM,  /* int64_t: an integer, or the index of a string in .values
                                    * (GuestFileWhence: "set"/"cur"/"end" are 0/1/2) */
                ARG_ALT_BOOL_ENUM, /* int: the index of a string in .values, or .if_true / .if_false
                                    * for a bool (GuestExecCaptureOutput) */
};

struct arg_spec {
    const char *name; /* NULL ends a list */
    enum arg_type type;
    bool optional;
    const char *const *values;      /* enum values, NULL-terminated */
    const struct arg_spec *members; /* object members (also for object array elements) */
    enum arg_type elem;             /* ARG_ARRAY element type */
    const char *type_name;          /* QAPI name, used in alternate type errors */
    int if_true, if_false;          /* ARG_ALT_BOOL_ENUM: the value index of a bool */
    /* Top-level members only: where the value goes in the command's struct. */
    bool stored;
    size_t offset;
    bool has_flag; /* an optional member without default: a bool says it was given */
    size_t has_offset;
    bool has_default; /* absent: the struct gets dflt_int (INT, UINT64, BOOL, ENUM) or */
    int64_t dflt_int; /* dflt_str (STR) instead of zero */
    const char *dflt_str;
    bool ranged; /* ARG_INT outside [min, max]: "value '<n>' is invalid for argument <name>" */
    int64_t min, max;
};

/* A command's arguments: its spec and the size of the struct the checker fills. */
struct arg_list {
    const struct arg_spec *specs;
    size_t size;
};

/* Spec building blocks: `{ARG_AT(struct file_read_args, count), .name = "count", ...}`. */
#define ARG_AT(type, member) .stored = true, .offset = offsetof(type, member)
#define ARG_PRESENT(type, member) .has_flag = true, .has_offset = offsetof(type, member)
#define ARG_DEFAULT(v) .has_default = true, .dflt_int = (v)
#define ARG_RANGE(lo, hi) .ranged = true, .min = (lo), .max = (hi)
/* Defines `const struct arg_list name` from a struct type and its spec rows. */
#define ARG_LIST(name, type, ...)                                                                  \
    static const struct arg_spec name##_specs[] = {__VA_ARGS__, {0}};                              \
    const struct arg_list name = {name##_specs, sizeof(type)}

/* Checks args (the request's "arguments" object, or NULL) against list (NULL: the command
 * takes none) and, when out is not NULL, fills out (list->size bytes, zeroed first).
 * Returns NULL when they match, else a malloc'd error text such as "Parameter 'id' is
 * missing" (QAPI's visitor: spec order). Range errors are the handler's in upstream, so
 * they come separately in *range_err (the first one, malloc'd; NULL if none): the call
 * reports it after looking up its resource, as upstream's handlers did. */
char *args_parse(const struct arg_list *list, yajl_val args, void *out, char **range_err);
/* Only the checks, for a bare spec (NULL-name-terminated). */
char *args_check(const struct arg_spec *spec, yajl_val args);

#endif
