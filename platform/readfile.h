/* Reading a small file whole (os-release, qga.state, config files). */
#ifndef QGAD_PLATFORM_READFILE_H
#define QGAD_PLATFORM_READFILE_H

#include <stddef.h>

/* Reads path into a malloc'd buffer with a NUL after the last byte (*len excludes it).
 * Returns 0, -errno, or -EFBIG when the file holds more than max bytes. May block. */
int plat_read_file(const char *path, size_t max, char **data, size_t *len);

#endif
