/* Upstream's envelope check (qmp_dispatch_check_obj), texts included. Members are checked
 * in message order; upstream walks a hash table, so its order for a request with two bad
 * members is not defined anyway. */
#include "protocol/wire/request.h"

#include <stddef.h>
#include <string.h>

#include "base/xalloc.h"

/* Takes member i out of the message: yajl_tree_free skips NULL values. */
static yajl_val detach(yajl_val msg, size_t i)
{
    yajl_val v = msg->u.object.values[i];
    msg->u.object.values[i] = NULL;
    return v;
}

char *proto_request_check(yajl_val msg, struct proto_request *req)
{
    req->execute = NULL;
    req->args = req->id = NULL;
    if (!msg || msg->type != yajl_t_object)
        return xstrdup("QMP input must be a JSON object");

    for (size_t i = 0; i < msg->u.object.len; i++)
        if (strcmp(msg->u.object.keys[i], "id") == 0)
            req->id = detach(msg, i);

    for (size_t i = 0; i < msg->u.object.len; i++) {
        const char *key = msg->u.object.keys[i];
        yajl_val v = msg->u.object.values[i];
        if (strcmp(key, "execute") == 0) {
            if (v->type != yajl_t_string)
                return xstrdup("QMP input member 'execute' must be a string");
            req->execute = v->u.string;
        } else if (strcmp(key, "arguments") == 0) {
            if (v->type != yajl_t_object)
                return xstrdup("QMP input member 'arguments' must be an object");
        } else if (strcmp(key, "id") != 0) {
            return xasprintf("QMP input member '%s' is unexpected", key);
        }
    }
    if (!req->execute)
        return xstrdup("QMP input lacks member 'execute'");
    for (size_t i = 0; i < msg->u.object.len; i++)
        if (strcmp(msg->u.object.keys[i], "arguments") == 0)
            req->args = detach(msg, i);
    return NULL;
}
