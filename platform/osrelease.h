/* os-release (os-release(5)) as qemu-ga reads it for guest-get-osinfo: the file from
 * $QGA_OS_RELEASE, else /etc/os-release, else /usr/lib/os-release; parsed as a GLib key
 * file with a "[os-release]" group prepended, then each value unquoted by upstream's
 * rules (PROTOCOL.md 4.8), single-quote slip included. */
#ifndef QGAD_PLATFORM_OSRELEASE_H
#define QGAD_PLATFORM_OSRELEASE_H

#include <stddef.h>

/* Each member is malloc'd, or NULL when the key is absent. */
struct plat_osrelease {
    char *id;          /* ID */
    char *name;        /* NAME */
    char *pretty_name; /* PRETTY_NAME */
    char *version;     /* VERSION */
    char *version_id;  /* VERSION_ID */
    char *variant;     /* VARIANT */
    char *variant_id;  /* VARIANT_ID */
};

/* Reads the first usable file. Returns 0 (members set as found), or -errno / -EINVAL
 * when no file could be read and parsed (then every member is NULL). May block. */
int plat_osrelease_read(struct plat_osrelease *out);
/* Parses content (up to its first NUL, as upstream). 0, or -EINVAL for invalid UTF-8 or
 * a line GLib's key file parser rejects (then every member is NULL). */
int plat_osrelease_parse(const char *content, size_t len, struct plat_osrelease *out);
/* Upstream's value post-processing of one raw key file value. malloc'd. */
char *plat_osrelease_unquote(const char *raw);
void plat_osrelease_free(struct plat_osrelease *os);

#endif
