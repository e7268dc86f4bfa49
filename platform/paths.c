#include "platform/paths.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/xalloc.h"

static char *root_prefix;

void plat_root_set(const char *root)
{
    free(root_prefix);
    root_prefix = (root && *root) ? xstrdup(root) : NULL;
}

const char *plat_root(void)
{
    return root_prefix ? root_prefix : "";
}

char *plat_path(char *buf, size_t size, const char *abs)
{
    int n = snprintf(buf, size, "%s%s", plat_root(), abs);
    return (n < 0 || (size_t)n >= size) ? NULL : buf;
}
