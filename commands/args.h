/* Argument specs and the generic checker that produces QAPI's exact error texts, so no
 * handler re-implements them. */
#ifndef QGAD_COMMANDS_ARGS_H
#define QGAD_COMMANDS_ARGS_H

#include <stdbool.h>
#include <yajl/yajl_tree.h>

enum arg_type {
    ARG_INT, /* must fit int64 */
    ARG_UINT64,
    ARG_NUMBER, /* any JSON number */
    ARG_STR,
    ARG_BOOL,
    ARG_ENUM,          /* string, one of .values */
    ARG_ARRAY,         /* elements of .elem (with .values/.members for enum/object elements) */
    ARG_OBJECT,        /* struct with .members */
    ARG_ALT_INT_ENUM,  /* alternate: integer, or string from .values (GuestFileWhence) */
    ARG_ALT_BOOL_ENUM, /* alternate: bool, or string from .values (GuestExecCaptureOutput) */
};

struct arg_spec {
    const char *name; /* NULL ends a list */
    enum arg_type type;
    bool optional;
    const char *const *values;      /* enum values, NULL-terminated */
    const struct arg_spec *members; /* object members (also for object array elements) */
    enum arg_type elem;             /* ARG_ARRAY element type */
    const char *type_name;          /* QAPI name, used in alternate type errors */
};

/* args is the request's "arguments" object or NULL. spec is a NULL-name-terminated list,
 * or NULL for a command without arguments. Returns NULL when args match, else a malloc'd
 * error text such as "Parameter 'id' is missing". */
char *args_check(const struct arg_spec *spec, yajl_val args);

#endif
