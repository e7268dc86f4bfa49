/* Every OS path a platform reader uses is taken through plat_path(), under a root prefix
 * that unit tests point at a fixture tree ("" on a real system). */
#ifndef QGAD_PLATFORM_PATHS_H
#define QGAD_PLATFORM_PATHS_H

#include <stddef.h>

void plat_root_set(const char *root); /* NULL or "" for the real system */
const char *plat_root(void);
/* root + abs; returns buf, or NULL if it does not fit. */
char *plat_path(char *buf, size_t size, const char *abs);

#endif
