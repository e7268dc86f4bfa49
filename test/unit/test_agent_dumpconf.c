/* agent/dumpconf.c on settings built by hand: the keys -D omits when unset, the escapes,
 * and that the config reader takes the dump back as the same settings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/config.h"
#include "agent/dumpconf.h"

static char *dump_text(const struct agent_options *o)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    agent_dumpconf_write(o, f);
    fclose(f);
    return buf;
}

/* Only method, pidfile and statedir are always there in [general]; NULL ones print empty. */
static void test_unset_keys_omitted(void **state)
{
    struct agent_options o;

    agent_options_init(&o);
    static const char general[] = "[general]\n"
                                  "daemon=false\n"
                                  "method=\n"
                                  "pidfile=\n"
                                  "statedir=\n"
                                  "verbose=false\n"
                                  "retry-path=false\n"
                                  "block-rpcs=\n"
                                  "allow-rpcs=\n"
                                  "\n"
                                  "[qgad]\n"; /* its defaults: test_agent_options.c */
    char *text = dump_text(&o);

    if (strncmp(text, general, strlen(general)))
        fail_msg("dump starts:\n%s", text);
    free(text);
    agent_options_free(&o);
}

static void test_qgad_values(void **state)
{
    struct agent_options o;

    agent_options_init(&o);
    assert_int_equal(agent_options_add_listen(&o, "unix-listen:/a;b"), 0);
    assert_int_equal(agent_options_add_listen(&o, "tcp-listen:h:1"), 0);
    assert_int_equal(agent_options_set_vsock_cids(&o, "3,0,7"), 0);
    o.file_create_mode = 07;
    o.exec_output_total = UINT64_MAX;
    char *text = dump_text(&o);
    assert_non_null(strstr(text, "\nlisten=unix-listen:/a\\;b;tcp-listen:h:1\n"));
    assert_non_null(strstr(text, "\nvsock-allow-cids=3,0,7\n"));
    assert_non_null(strstr(text, "\nfile-create-mode=0007\n"));
    assert_non_null(strstr(text, "\nexec-output-total=18446744073709551615\n"));
    free(text);
    assert_int_equal(agent_options_set_vsock_cids(&o, "any"), 0);
    text = dump_text(&o);
    assert_non_null(strstr(text, "\nvsock-allow-cids=any\n"));
    free(text);
    agent_options_free(&o);
}

/* Dump, read the dump as a config file, dump again: the same text. */
static void test_round_trip(void **state)
{
    char path[] = "/tmp/qgad-dumpconf-XXXXXX";
    struct agent_options o, back;

    agent_options_init(&o);
    o.method = strdup("unix-listen");
    o.path = strdup(" /lead\\back\tsock");
    o.logfile = strdup("/log\nfile");
    o.pidfile = strdup("/p.pid");
    o.fsfreeze_hook = strdup("/hook");
    o.statedir = strdup("/state");
    o.daemonize = o.verbose = o.retry_path = true;
    agent_strlist_add_chunk(&o.block, "guest-ping");
    agent_strlist_add_chunk(&o.allow, "guest-info");
    assert_int_equal(agent_options_add_listen(&o, "unix-listen:/x;y"), 0);
    assert_int_equal(agent_options_add_listen(&o, "vsock-listen:2:99"), 0);
    assert_int_equal(agent_options_set_vsock_cids(&o, "2,5"), 0);
    o.max_clients = 9;
    o.file_create_mode = 0644;
    o.max_file_handles = 3;
    o.max_exec_processes = 4;
    o.exec_output_total = 5;
    char *text = dump_text(&o);

    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_true(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    agent_options_init(&back);
    assert_int_equal(agent_config_load(&back, path, true), AGENT_OPTS_RUN);
    unlink(path);
    char *again = dump_text(&back);
    assert_string_equal(again, text);
    free(again);
    free(text);
    agent_options_free(&back);
    agent_options_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unset_keys_omitted),
        cmocka_unit_test(test_qgad_values),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
