/* agent/settings.c: defaults, free, and the value parsers the command line and the config
 * file share (numbers, rpc lists, listeners, vsock CIDs), called directly. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/settings.h"
#include "base/limits.h"

static void test_init_defaults_and_free(void **state)
{
    struct agent_options o;

    agent_options_init(&o);
    assert_false(o.daemonize);
    assert_null(o.method);
    assert_null(o.path);
    assert_null(o.vsock_cids);
    assert_int_equal(o.n_listen, 0);
    assert_int_equal(o.max_clients, QGAD_DEFAULT_MAX_CLIENTS);
    assert_int_equal(o.idle_timeout * 1000u, QGAD_IDLE_TIMEOUT_MS);
    assert_int_equal(o.partial_timeout * 1000u, QGAD_PARTIAL_TIMEOUT_MS);
    assert_int_equal(o.file_create_mode, 0600);
    assert_int_equal(o.max_file_handles, QGAD_DEFAULT_MAX_FILE_HANDLES);
    assert_int_equal(o.max_exec_processes, QGAD_DEFAULT_MAX_EXEC_PROCESSES);
    assert_true(o.exec_output_total == QGAD_DEFAULT_EXEC_OUTPUT_TOTAL);

    agent_strlist_add_chunk(&o.block, "a,b");
    assert_int_equal(agent_options_add_listen(&o, "unix-listen:/x"), 0);
    assert_int_equal(agent_options_set_vsock_cids(&o, "3"), 0);
    o.logfile = strdup("/log");
    agent_options_free(&o);
    /* free leaves a zeroed struct, so a second free is harmless */
    assert_null(o.block.v);
    assert_null(o.listen);
    assert_null(o.logfile);
    agent_options_free(&o);
}

static void test_parse_uint(void **state)
{
    uint64_t v = 42;

    assert_int_equal(agent_parse_uint("0", 10, 0, 10, &v), 0);
    assert_true(v == 0);
    assert_int_equal(agent_parse_uint("10", 10, 0, 10, &v), 0);
    assert_true(v == 10);
    assert_int_equal(agent_parse_uint("0640", 8, 0, 0777, &v), 0);
    assert_true(v == 0640);
    assert_int_equal(agent_parse_uint("640", 8, 0, 0777, &v), 0);
    assert_true(v == 0640);
    assert_int_equal(agent_parse_uint("18446744073709551615", 10, 0, UINT64_MAX, &v), 0);
    assert_true(v == UINT64_MAX);

    static const char *const bad[] = {"", " 1", "1 ", "+1", "-1", "1k", "0x10", "1.5", "a"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = 42;
        if (agent_parse_uint(bad[i], 10, 0, UINT64_MAX, &v) != -EINVAL)
            fail_msg("accepted '%s'", bad[i]);
        assert_true(v == 42); /* untouched on failure */
    }
    assert_int_equal(agent_parse_uint("11", 10, 0, 10, &v), -EINVAL); /* above max */
    assert_int_equal(agent_parse_uint("0", 10, 1, 10, &v), -EINVAL);  /* below min */
    assert_int_equal(agent_parse_uint("8", 8, 0, 0777, &v), -EINVAL); /* not octal */
    assert_int_equal(agent_parse_uint("18446744073709551616", 10, 0, UINT64_MAX, &v), -EINVAL);
}

static char *joined(const struct agent_strlist *l)
{
    static char buf[256];
    char *s = agent_strlist_join(l, ',');

    snprintf(buf, sizeof(buf), "%s", s);
    free(s);
    return buf;
}

/* Upstream's order: each chunk reversed, chunks in the order they came. */
static void test_strlist_chunks(void **state)
{
    struct agent_strlist l = {0};

    assert_string_equal(joined(&l), "");
    agent_strlist_add_chunk(&l, ""); /* nothing, as g_strsplit("") */
    assert_int_equal(l.n, 0);
    agent_strlist_add_chunk(&l, "a,b,c");
    assert_string_equal(joined(&l), "c,b,a");
    agent_strlist_add_chunk(&l, "d");
    assert_string_equal(joined(&l), "c,b,a,d");
    agent_strlist_add_chunk(&l, ",e,"); /* empty pieces are kept, as upstream */
    assert_int_equal(l.n, 7);
    assert_string_equal(joined(&l), "c,b,a,d,,e,");

    char *semi = agent_strlist_join(&l, ';');
    assert_string_equal(semi, "c;b;a;d;;e;");
    free(semi);
    for (size_t i = 0; i < l.n; i++)
        free(l.v[i]);
    free(l.v);
}

static void test_add_listen(void **state)
{
    struct agent_options o;

    agent_options_init(&o);
    assert_int_equal(agent_options_add_listen(&o, "vsock-listen:4294967295:1234"), 0);
    assert_int_equal(agent_options_add_listen(&o, "tcp-listen:127.0.0.1:5"), 0);
    assert_int_equal(o.n_listen, 2);
    assert_string_equal(o.listen[0].method, "vsock-listen");
    assert_string_equal(o.listen[0].path, "4294967295:1234"); /* split at the first ':' */
    assert_string_equal(o.listen[1].method, "tcp-listen");
    assert_string_equal(o.listen[1].path, "127.0.0.1:5");

    static const char *const bad[] = {"", "nocolon", ":/x", "unix-listen:", "bogus:/x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (agent_options_add_listen(&o, bad[i]) != -EINVAL)
            fail_msg("accepted '%s'", bad[i]);
    assert_int_equal(o.n_listen, 2);
    agent_options_free(&o);
}

static void test_vsock_cids(void **state)
{
    struct agent_options o;

    agent_options_init(&o);
    assert_int_equal(agent_options_set_vsock_cids(&o, "any"), 0);
    assert_int_equal(o.n_vsock_cids, 1);
    assert_int_equal(o.vsock_cids[0], AGENT_VSOCK_CID_ANY);
    /* a later value replaces the earlier one (the command line over the config) */
    assert_int_equal(agent_options_set_vsock_cids(&o, "2,3,4294967295"), 0);
    assert_int_equal(o.n_vsock_cids, 3);
    assert_int_equal(o.vsock_cids[0], 2);
    assert_int_equal(o.vsock_cids[1], 3);
    assert_int_equal(o.vsock_cids[2], 4294967295u);

    static const char *const bad[] = {"", "host", "2,", ",2", "2,,3", "4294967296", "-1", "ANY"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (agent_options_set_vsock_cids(&o, bad[i]) != -EINVAL)
            fail_msg("accepted '%s'", bad[i]);
    assert_int_equal(o.n_vsock_cids, 3); /* a bad value leaves the old one */
    assert_int_equal(o.vsock_cids[1], 3);
    agent_options_free(&o);
}

static void test_finish_defaults(void **state)
{
    struct agent_options o;

    agent_options_init(&o);
    assert_int_equal(agent_options_finish(&o, NULL), AGENT_OPTS_RUN);
    assert_string_equal(o.method, "virtio-serial");
    assert_string_equal(o.path, "/dev/virtio-ports/org.qemu.guest_agent.0");
    assert_string_equal(o.pidfile, QGAD_RUNSTATEDIR "/qemu-ga.pid");
    assert_string_equal(o.statedir, QGAD_RUNSTATEDIR);
    agent_options_free(&o);

    /* -D shows an unknown method instead of failing; running does not */
    agent_options_init(&o);
    o.method = strdup("carrier-pigeon");
    o.path = strdup("/x");
    o.dump_conf = true;
    assert_int_equal(agent_options_finish(&o, NULL), AGENT_OPTS_RUN);
    o.dump_conf = false;
    assert_int_equal(agent_options_finish(&o, NULL), AGENT_OPTS_FAIL);
    agent_options_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_defaults_and_free),
        cmocka_unit_test(test_parse_uint),
        cmocka_unit_test(test_strlist_chunks),
        cmocka_unit_test(test_add_listen),
        cmocka_unit_test(test_vsock_cids),
        cmocka_unit_test(test_finish_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
