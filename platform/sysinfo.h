/* Small system facts for the informational commands: clock, host name, time zone, load
 * average, kernel identity. Each returns 0 or -errno. */
#ifndef QGAD_PLATFORM_SYSINFO_H
#define QGAD_PLATFORM_SYSINFO_H

#include <stdint.h>
#include <sys/utsname.h>

/* Wall clock in ns, at microsecond resolution (as upstream: g_get_real_time() * 1000). */
int plat_realtime_ns(int64_t *ns);
/* The current host name (not cached), malloc'd. */
int plat_hostname(char **name);
/* The local time zone for now: abbreviation (malloc'd, NULL if unknown) and the offset
 * east of UTC in seconds. Re-reads TZ / the zone file each time. */
int plat_timezone(char **abbrev, int64_t *offset);
/* 1, 5 and 15 minute load averages from <root>/proc/loadavg. */
int plat_loadavg(double load[3]);
int plat_uname(struct utsname *u);

#endif
