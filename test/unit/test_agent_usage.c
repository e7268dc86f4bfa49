/* agent/usage.c: the -h text names every option and its defaults, -V is one line, and
 * "-b help" lists the command table in order, once each. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/usage.h"
#include "commands/registry.h"

enum text { USAGE, VERSION, COMMANDS };

static char *print(enum text which)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    if (which == USAGE)
        agent_usage_print("qgad-x", f);
    else if (which == VERSION)
        agent_usage_print_version(f);
    else
        agent_usage_print_commands(f);
    fclose(f);
    return buf;
}

static void test_usage_names_every_option(void **state)
{
    /* PROTOCOL.md part 2 section 3, then qgad's own */
    static const char *const options[] = {
        "  -c, --config=PATH ",   "  -m, --method ",
        "  -p, --path ",          "  -l, --logfile ",
        "  -f, --pidfile ",       "  -F, --fsfreeze-hook\n",
        "  -t, --statedir ",      "  -v, --verbose ",
        "  -V, --version ",       "  -d, --daemonize ",
        "  -b, --block-rpcs ",    "  -a, --allow-rpcs ",
        "  -D, --dump-conf ",     "  -r, --retry-path ",
        "  -h, --help ",          "      --listen=METHOD:PATH ",
        "      --max-clients=N ", "      --vsock-allow-cids=LIST ",
    };
    char *text = print(USAGE);
    const char *at = text;

    assert_true(!strncmp(text, "Usage: qgad-x [-m <method> -p <path>] [<options>]\n", 50));
    for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
        const char *p = strstr(at, options[i]);
        if (!p)
            fail_msg("missing or out of order: '%s'", options[i]);
        at = p;
    }
    assert_non_null(strstr(text, "version " QGAD_VERSION "\n"));
    assert_non_null(strstr(text, "(default is " QGAD_CONFDIR "/qemu-ga.conf,\n"));
    assert_non_null(strstr(text, "(default is " QGAD_RUNSTATEDIR "/qemu-ga.pid);\n"));
    assert_non_null(strstr(text, "(default is " QGAD_CONFDIR "/fsfreeze-hook).\n"));
    assert_non_null(strstr(text, "(default 16)\n"));
    size_t len = strlen(text);
    assert_true(len > 2 && !strcmp(text + len - 2, ".\n"));
    free(text);
}

static void test_version_line(void **state)
{
    char *text = print(VERSION);

    assert_string_equal(text, "qgad " QGAD_VERSION "\n");
    free(text);
}

static void test_commands_in_table_order(void **state)
{
    char *text = print(COMMANDS);
    const char *p = text;

    assert_non_null(strstr(text, "guest-sync-delimited\n"));
    assert_non_null(strstr(text, "guest-ping\n"));
    for (size_t i = 0; i < cmd_count(); i++) {
        const char *name = cmd_at(i)->name;
        size_t n = strlen(name);
        if (strncmp(p, name, n) || p[n] != '\n')
            fail_msg("line %zu is not '%s'", i + 1, name);
        p += n + 1;
    }
    assert_string_equal(p, "");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_names_every_option),
        cmocka_unit_test(test_version_line),
        cmocka_unit_test(test_commands_in_table_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
