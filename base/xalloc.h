/* Allocation that cannot fail: on exhaustion the agent logs and aborts, as GLib-based
 * qemu-ga does. Every cap in limits.h exists so that a host cannot get us here. */
#ifndef QGAD_BASE_XALLOC_H
#define QGAD_BASE_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
