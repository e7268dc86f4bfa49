/* System information: guest-get-time, guest-get-host-name, guest-get-timezone,
 * guest-get-osinfo, guest-get-load. Everything is instant except osinfo, which reads
 * files and therefore runs in the threadpool. */
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

void cmd_get_timezone(cmd_call *call)
{
    char *zone;
    int64_t offset;
    if (plat_timezone(&zone, &offset) < 0) {
        call_fail(call, "Couldn't retrieve local timezone");
        return;
    }
    yajl_val r = json_object();
    if (zone)
        json_object_add(r, "zone", json_string_take(zone));
    json_object_add_int(r, "offset", offset);
    call_return(call, r);
}

void cmd_get_load(cmd_call *call)
{
    double load[3];
    int rc = plat_loadavg(load);
    if (rc < 0) {
        call_fail(call, "cannot query load average: %s", strerror(-rc));
        return;
    }
    yajl_val r = json_object();
    json_object_add(r, "load1m", json_double(load[0]));
    json_object_add(r, "load5m", json_double(load[1]));
    json_object_add(r, "load15m", json_double(load[2]));
    call_return(call, r);
}

/* guest-get-osinfo: gathered on a pool thread, turned into JSON on the loop. */
struct osinfo_work {
    int uname_rc;
    struct utsname uts;
    struct plat_osrelease os;
};

static void osinfo_gather(void *data)
{
    struct osinfo_work *w = data;
    w->uname_rc = plat_uname(&w->uts);
    plat_osrelease_read(&w->os); /* failure leaves every member NULL: fields omitted */
}

static void add_opt_str(yajl_val obj, const char *key, char *value)
{
    if (value)
        json_object_add_str(obj, key, value);
}

static void osinfo_reply(cmd_call *call, void *data)
{
    struct osinfo_work *w = data;
    if (w->uname_rc < 0) {
        call_fail(call, "uname failed: %s", strerror(-w->uname_rc));
    } else {
        yajl_val r = json_object();
        json_object_add_str(r, "kernel-release", w->uts.release);
        json_object_add_str(r, "kernel-version", w->uts.version);
        json_object_add_str(r, "machine", w->uts.machine);
        add_opt_str(r, "id", w->os.id);
        add_opt_str(r, "name", w->os.name);
        add_opt_str(r, "pretty-name", w->os.pretty_name);
        add_opt_str(r, "version", w->os.version);
        add_opt_str(r, "version-id", w->os.version_id);
        add_opt_str(r, "variant", w->os.variant);
        add_opt_str(r, "variant-id", w->os.variant_id);
        call_return(call, r);
    }
    plat_osrelease_free(&w->os);
    free(w);
}

void cmd_get_osinfo(cmd_call *call)
{
    struct osinfo_work *w = xcalloc(1, sizeof(*w));
    call_queue_work(call, w, osinfo_gather, osinfo_reply);
}
