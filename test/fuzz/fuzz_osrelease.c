/* libFuzzer harness: the os-release parser (platform/osrelease.c) on any bytes. A parsed
 * field is valid UTF-8 without NUL (it becomes a JSON string in guest-get-osinfo), and
 * unquoting never grows a value. */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "platform/osrelease.h"

static void check_field(const char *v)
{
    if (!v)
        return;
    char *again = plat_osrelease_unquote(v);
    FUZZ_CHECK(strlen(again) <= strlen(v), "unquoting grew a value");
    free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct plat_osrelease os;
    int rc = plat_osrelease_parse((const char *)data, size, &os);
    if (rc != 0) {
        FUZZ_CHECK(!os.id && !os.name && !os.pretty_name && !os.version && !os.version_id &&
                       !os.variant && !os.variant_id,
                   "a failed parse left a field set");
        return 0;
    }
    const char *fields[] = {os.id,         os.name,    os.pretty_name, os.version,
                            os.version_id, os.variant, os.variant_id};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        check_field(fields[i]);
    plat_osrelease_free(&os);
    return 0;
}
