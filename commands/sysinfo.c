/* System information: guest-get-time, guest-get-host-name, guest-get-timezone,
 * guest-get-osinfo, guest-get-load. The clock and the host name are instant; whatever
 * reads a file (the time zone database, os-release, /proc/loadavg) is a pool job. */
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "base/json.h"
#include "base/xalloc.h"
#include "commands/handlers.h"
#include "platform/osrelease.h"
#include "platform/sysinfo.h"

void cmd_get_time(cmd_call *call)
{
    int64_t ns;
    int rc = plat_realtime_ns(&ns);
    if (rc < 0) {
        call_fail(call, "cannot read the clock: %s", strerror(-rc));
        return;
    }
    call_return(call, json_int(ns));
}

void cmd_get_host_name(cmd_call *call)
{
    char *name;
    int rc = plat_hostname(&name);
    if (rc < 0) {
        call_fail(call, "cannot get hostname: %s", strerror(-rc));
        return;
    }
    yajl_val r = json_object();
    json_object_add(r, "host-name", json_string_take(name));
    call_return(call, r);
}

int cmd_get_timezone(const void *args, void *ctx, yajl_val *out, char **err)
{
    char *zone;
    int64_t offset;
    if (plat_timezone(&zone, &offset) < 0) {
        *err = xstrdup("Couldn't retrieve local timezone");
        return -1;
    }
    yajl_val r = json_object();
    if (zone)
        json_object_add(r, "zone", json_string_take(zone));
    json_object_add_int(r, "offset", offset);
    *out = r;
    return 0;
}

int cmd_get_load(const void *args, void *ctx, yajl_val *out, char **err)
{
    double load[3];
    int rc = plat_loadavg(load);
    if (rc < 0) {
        *err = xasprintf("cannot query load average: %s", strerror(-rc));
        return -1;
    }
    yajl_val r = json_object();
    json_object_add(r, "load1m", json_double(load[0]));
    json_object_add(r, "load5m", json_double(load[1]));
    json_object_add(r, "load15m", json_double(load[2]));
    *out = r;
    return 0;
}

static void add_opt_str(yajl_val obj, const char *key, char *value)
{
    if (value)
        json_object_add_str(obj, key, value);
}

int cmd_get_osinfo(const void *args, void *ctx, yajl_val *out, char **err)
{
    struct utsname uts;
    int rc = plat_uname(&uts);
    if (rc < 0) {
        *err = xasprintf("uname failed: %s", strerror(-rc));
        return -1;
    }
    struct plat_osrelease os;
    plat_osrelease_read(&os); /* failure leaves every member NULL: fields omitted */
    yajl_val r = json_object();
    json_object_add_str(r, "kernel-release", uts.release);
    json_object_add_str(r, "kernel-version", uts.version);
    json_object_add_str(r, "machine", uts.machine);
    add_opt_str(r, "id", os.id);
    add_opt_str(r, "name", os.name);
    add_opt_str(r, "pretty-name", os.pretty_name);
    add_opt_str(r, "version", os.version);
    add_opt_str(r, "version-id", os.version_id);
    add_opt_str(r, "variant", os.variant);
    add_opt_str(r, "variant-id", os.variant_id);
    plat_osrelease_free(&os);
    *out = r;
    return 0;
}
