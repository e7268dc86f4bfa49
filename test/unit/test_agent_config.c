/* agent/config.c on its own: which keys of [general] and [qgad] are read into the settings,
 * how repeated loads combine, and the fatal message a bad value logs. */
#include <limits.h>
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
#include "base/log.h"

static char tmpdir[] = "/tmp/qgad-config-XXXXXX";

static int setup_all(void **state)
{
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_all(void **state)
{
    char *cmd;
    if (asprintf(&cmd, "rm -rf '%s'", tmpdir) < 0)
        return -1;
    int ret = system(cmd);
    free(cmd);
    return ret;
}

/* A file in tmpdir holding text (NULL: the name only); the caller frees the path. */
static char *conf_file(const char *name, const char *text)
{
    char *path;
    assert_true(asprintf(&path, "%s/%s", tmpdir, name) > 0);
    if (text) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
    }
    return path;
}

static void test_missing_file(void **state)
{
    struct agent_options o;
    char *path = conf_file("absent.conf", NULL);

    agent_options_init(&o);
    assert_int_equal(agent_config_load(&o, path, false), AGENT_OPTS_RUN);
    assert_string_equal(o.conf_path, path); /* -D and the log name it even when absent */
    assert_null(o.method);
    assert_int_equal(agent_config_load(&o, path, true), AGENT_OPTS_FAIL);
    agent_options_free(&o);
    free(path);
}

static void test_general_keys(void **state)
{
    struct agent_options o;
    char *path = conf_file("general.conf", "# comment\n"
                                           "[general]\n"
                                           "method = unix-listen\n"
                                           "path=/run/a\\sb.sock\n"
                                           "logfile=/var/log/qga.log\n"
                                           "pidfile=/run/qga.pid\n"
                                           "fsfreeze-hook=/etc/hook\n"
                                           "statedir=/var/lib/qga\n"
                                           "daemon=true\n"
                                           "verbose=1\n"
                                           "retry-path=false\n"
                                           "block-rpcs=guest-ping,guest-info\n"
                                           "allow-rpcs=guest-sync\n"
                                           "[other]\nmethod=ignored\n");

    agent_options_init(&o);
    o.retry_path = true;
    assert_int_equal(agent_config_load(&o, path, true), AGENT_OPTS_RUN);
    assert_string_equal(o.method, "unix-listen");
    assert_string_equal(o.path, "/run/a b.sock");
    assert_string_equal(o.logfile, "/var/log/qga.log");
    assert_string_equal(o.pidfile, "/run/qga.pid");
    assert_string_equal(o.fsfreeze_hook, "/etc/hook");
    assert_string_equal(o.statedir, "/var/lib/qga");
    assert_true(o.daemonize);
    assert_true(o.verbose);
    assert_false(o.retry_path);
    assert_int_equal(o.block.n, 2);
    assert_string_equal(o.block.v[0], "guest-info"); /* the chunk reversed, as upstream */
    assert_string_equal(o.block.v[1], "guest-ping");
    assert_int_equal(o.allow.n, 1);

    /* a second file overrides strings and adds to the lists */
    char *more = conf_file("more.conf", "[general]\nmethod=isa-serial\nblock-rpcs=guest-x\n");
    assert_int_equal(agent_config_load(&o, more, true), AGENT_OPTS_RUN);
    assert_string_equal(o.method, "isa-serial");
    assert_string_equal(o.path, "/run/a b.sock");
    assert_int_equal(o.block.n, 3);
    assert_string_equal(o.conf_path, more);
    agent_options_free(&o);
    free(more);
    free(path);
}

static void test_qgad_keys(void **state)
{
    struct agent_options o;
    char *path = conf_file("qgad.conf", "[qgad]\n"
                                        "listen=unix-listen:/a\\;b;;tcp-listen:[::1]:5\n"
                                        "max-clients=3\n"
                                        "idle-timeout=0\n"
                                        "partial-timeout=4294967\n"
                                        "vsock-allow-cids=any\n"
                                        "file-create-mode=640\n"
                                        "max-file-handles=1\n"
                                        "max-exec-processes=4294967295\n"
                                        "exec-output-total=18446744073709551615\n");

    agent_options_init(&o);
    assert_int_equal(agent_config_load(&o, path, true), AGENT_OPTS_RUN);
    assert_int_equal(o.n_listen, 2); /* the empty item is dropped */
    assert_string_equal(o.listen[0].method, "unix-listen");
    assert_string_equal(o.listen[0].path, "/a;b");
    assert_string_equal(o.listen[1].path, "[::1]:5");
    assert_int_equal(o.max_clients, 3);
    assert_int_equal(o.idle_timeout, 0);                  /* 0 = off */
    assert_int_equal(o.partial_timeout, UINT_MAX / 1000); /* the most that fits in ms */
    assert_int_equal(o.n_vsock_cids, 1);
    assert_int_equal(o.vsock_cids[0], AGENT_VSOCK_CID_ANY);
    assert_int_equal(o.file_create_mode, 0640); /* octal with or without the 0 */
    assert_int_equal(o.max_file_handles, 1);
    assert_int_equal(o.max_exec_processes, 4294967295u);
    assert_true(o.exec_output_total == UINT64_MAX);
    agent_options_free(&o);
    free(path);
}

static char *read_all(const char *path)
{
    static char buf[4096];
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* One critical line naming the file and the key, in GLib's words. */
static void test_bad_value_message(void **state)
{
    static const struct {
        const char *conf, *want;
    } cases[] = {
        {"[qgad]\nmax-clients=0\n",
         "Key file contains key “max-clients” in group “qgad” which has a value that cannot "
         "be interpreted.\n"},
        {"[qgad]\nidle-timeout=4294968\n",
         "Key file contains key “idle-timeout” in group “qgad” which has a value that cannot "
         "be interpreted.\n"},
        {"[qgad]\npartial-timeout=-1\n",
         "Key file contains key “partial-timeout” in group “qgad” which has a value that "
         "cannot be interpreted.\n"},
        {"[qgad]\nlisten=nocolon\n", "invalid listen entry “nocolon”\n"},
        {"[qgad]\nvsock-allow-cids=host\n", "invalid vsock-allow-cids “host”\n"},
    };
    char *log = conf_file("config.log", NULL);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct agent_options o;
        char *path = conf_file("bad.conf", cases[i].conf);
        char *want;
        assert_true(asprintf(&want, ": critical: error loading configuration from path: %s, %s",
                             path, cases[i].want) > 0);
        unlink(log);
        assert_int_equal(log_open(log, false), 0);
        agent_options_init(&o);
        assert_int_equal(agent_config_load(&o, path, false), AGENT_OPTS_FAIL);
        log_close();
        if (!strstr(read_all(log), want))
            fail_msg("log lacks '%s':\n%s", want, read_all(log));
        agent_options_free(&o);
        free(want);
        free(path);
    }
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_general_keys),
        cmocka_unit_test(test_qgad_keys),
        cmocka_unit_test(test_bad_value_message),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
