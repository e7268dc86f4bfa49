/* Helpers shared by the test_cmd_* unit tests (header only; not a test itself). */
#ifndef QGAD_TEST_CMD_TESTUTIL_H
#define QGAD_TEST_CMD_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "base/json.h"
#include "commands/dispatch.h"

/* Numbers get the flags the protocol parser gives them (json_number_text), so tests see
 * what the daemon sees. */
static inline void testutil_fix_numbers(yajl_val v)
{
    if (!v)
        return;
    if (v->type == yajl_t_number) {
        yajl_val n = json_number_text(v->u.number.r, strlen(v->u.number.r));
        v->u.number.i = n->u.number.i;
        v->u.number.d = n->u.number.d;
        v->u.number.flags = n->u.number.flags;
        json_free(n);
    } else if (v->type == yajl_t_object) {
        for (size_t i = 0; i < v->u.object.len; i++)
            testutil_fix_numbers(v->u.object.values[i]);
    } else if (v->type == yajl_t_array) {
        for (size_t i = 0; i < v->u.array.len; i++)
            testutil_fix_numbers(v->u.array.values[i]);
    }
}

/* Parses JSON text (NULL -> NULL); aborts the test binary on a parse error. */
static inline yajl_val testutil_json(const char *text)
{
    if (!text)
        return NULL;
    char err[256];
    yajl_val v = yajl_tree_parse(text, err, sizeof(err));
    if (!v) {
        fprintf(stderr, "bad test JSON %s: %s\n", text, err);
        abort();
    }
    testutil_fix_numbers(v);
    return v;
}

/* A finished call's error text (NULL on success). */
static inline const char *testutil_desc(const cmd_call *call)
{
    const char *desc = NULL;
    cmd_call_error(call, &desc);
    return desc;
}

#endif
