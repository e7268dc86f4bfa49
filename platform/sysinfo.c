#include "platform/sysinfo.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "platform/paths.h"

int plat_realtime_ns(int64_t *ns)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
        return -errno;
    *ns = ((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000) * 1000;
    return 0;
}

int plat_hostname(char **name)
{
    long max = sysconf(_SC_HOST_NAME_MAX);
    size_t size = (max > 0 ? (size_t)max : 255) + 1;
    char *buf = xcalloc(1, size);
    if (gethostname(buf, size) < 0) {
        int err = -errno;
        free(buf);
        return err;
    }
    buf[size - 1] = '\0';
    *name = buf;
    return 0;
}

int plat_timezone(char **abbrev, int64_t *offset)
{
    struct tm tm;
    time_t now = time(NULL);
    tzset(); /* localtime_r alone may keep a zone read long ago */
    if (!localtime_r(&now, &tm))
        return errno ? -errno : -EINVAL;
    *offset = tm.tm_gmtoff;
    *abbrev = (tm.tm_zone && *tm.tm_zone) ? xstrdup(tm.tm_zone) : NULL;
    return 0;
}

int plat_loadavg(double load[3])
{
    char path[4096];
    if (!plat_path(path, sizeof(path), "/proc/loadavg"))
        return -ENAMETOOLONG;
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    int n = fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]);
    fclose(f);
    return n == 3 ? 0 : -EINVAL;
}

int plat_uname(struct utsname *u)
{
    return uname(u) < 0 ? -errno : 0;
}
