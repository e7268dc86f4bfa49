/* The QMP envelope of one request: {"execute": name, "arguments": {...}, "id": any}. */
#ifndef QGAD_WIRE_REQUEST_H
#define QGAD_WIRE_REQUEST_H

#include <yajl/yajl_tree.h>

struct proto_request {
    const char *execute; /* borrowed from the message */
    yajl_val args;       /* detached from the message, owned; NULL if absent */
    yajl_val id;         /* detached, owned; NULL if absent (echoed in every reply) */
};

/* Checks msg (which keeps ownership of everything not detached). The id is detached
 * whenever msg is an object, so that error replies echo it too. Returns NULL when the
 * request is well formed, else upstream's GenericError text (malloc'd). */
char *proto_request_check(yajl_val msg, struct proto_request *req);

#endif
