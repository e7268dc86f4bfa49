/* The settings end to end (agent/cli.c, config.c, settings.c, dumpconf.c): two-pass
 * parsing, config keys, -D text, paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/cli.h"
#include "agent/dumpconf.h"
#include "agent/settings.h"
#include "base/log.h"

#define RUNDIR QGAD_RUNSTATEDIR
#define CONFDIR QGAD_CONFDIR

static char tmpdir[] = "/tmp/qgad-opts-XXXXXX";
static char *out_buf;
static size_t out_len;
static FILE *out;

static int setup_all(void **state)
{
    if (!mkdtemp(tmpdir))
        return -1;
    /* the host's own config must never leak into a test */
    setenv("QGA_CONF", "/nonexistent/qgad-test/qemu-ga.conf", 1);
    return 0;
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

static char *tmp_path(const char *name)
{
    char *p;
    assert_true(asprintf(&p, "%s/%s", tmpdir, name) > 0);
    return p;
}

static char *write_conf(const char *name, const char *text)
{
    char *path = tmp_path(name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Runs agent_cli_parse on a NULL-terminated list (argv[0] = "qgad"). */
static enum agent_opts_status parse(struct agent_options *o, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;

    argv[argc++] = "qgad";
    va_start(ap, o);
    for (char *a; (a = va_arg(ap, char *));)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    free(out_buf);
    out_buf = NULL;
    out = open_memstream(&out_buf, &out_len);
    agent_options_init(o);
    enum agent_opts_status st = agent_cli_parse(o, argc, argv, out);
    fflush(out);
    return st;
}

static void close_out(void)
{
    fclose(out);
    out = NULL;
}

static char *dump(struct agent_options *o)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    agent_dumpconf_write(o, f);
    fclose(f);
    return buf;
}

static const char qgad_defaults[] = "[qgad]\n"
                                    "listen=\n"
                                    "max-clients=16\n"
                                    "idle-timeout=600\n"
                                    "partial-timeout=30\n"
                                    "vsock-allow-cids=2\n"
                                    "file-create-mode=0600\n"
                                    "max-file-handles=256\n"
                                    "max-exec-processes=128\n"
                                    "exec-output-total=268435456\n";

static void test_defaults_dump(void **state)
{
    struct agent_options o;

    assert_int_equal(parse(&o, "-D", NULL), AGENT_OPTS_RUN);
    close_out();
    assert_true(o.dump_conf);
    assert_int_equal(agent_options_finish(&o, NULL), AGENT_OPTS_RUN);
    char *text = dump(&o);
    char *want;
    assert_true(asprintf(&want,
                         "[general]\n"
                         "daemon=false\n"
                         "method=virtio-serial\n"
                         "path=/dev/virtio-ports/org.qemu.guest_agent.0\n"
                         "pidfile=" RUNDIR "/qemu-ga.pid\n"
                         "statedir=" RUNDIR "\n"
                         "verbose=false\n"
                         "retry-path=false\n"
                         "block-rpcs=\n"
                         "allow-rpcs=\n"
                         "\n%s",
                         qgad_defaults) > 0);
    assert_string_equal(text, want);
    free(want);
    free(text);
    agent_options_free(&o);
}

/* Config first, then the command line: scalars overridden, lists accumulated, each
 * chunk reversed (upstream's prepend-based split), ';' values verbatim. */
static void test_two_passes_and_dump_order(void **state)
{
    struct agent_options o;
    char *conf = write_conf("two.conf", "[general]\n"
                                        "method=unix-listen\n"
                                        "path=/conf/path\n"
                                        "logfile=/conf/log\n"
                                        "block-rpcs=guest-ping,guest-get-time\n"
                                        "allow-rpcs=guest-ping;guest-info\n"
                                        "verbose=true\n"
                                        "daemon=1\n"
                                        "fsfreeze-hook=/conf/hook\n");

    assert_int_equal(parse(&o, "-p", "/cli/path", "-b", "guest-x", "-b", "a,b", "-r", "-c", conf,
                           "-t", "/st", NULL),
                     AGENT_OPTS_RUN);
    close_out();
    assert_int_equal(agent_options_finish(&o, NULL), AGENT_OPTS_RUN);
    char *text = dump(&o);
    char *want;
    assert_true(asprintf(&want,
                         "[general]\n"
                         "daemon=true\n"
                         "method=unix-listen\n"
                         "path=/cli/path\n"
                         "logfile=/conf/log\n"
                         "pidfile=" RUNDIR "/qemu-ga.pid\n"
                         "fsfreeze-hook=/conf/hook\n"
                         "statedir=/st\n"
                         "verbose=true\n"
                         "retry-path=true\n"
                         "block-rpcs=guest-get-time,guest-ping,guest-x,b,a\n"
                         "allow-rpcs=guest-ping;guest-info\n"
                         "\n%s",
                         qgad_defaults) > 0);
    assert_string_equal(text, want);
    free(want);
    free(text);
    free(conf);
    agent_options_free(&o);
}

static void test_fsfreeze_hook_optional_arg(void **state)
{
    struct agent_options o;

    assert_int_equal(parse(&o, "-F", NULL), AGENT_OPTS_RUN);
    close_out();
    assert_string_equal(o.fsfreeze_hook, CONFDIR "/fsfreeze-hook");
    agent_options_free(&o);

    assert_int_equal(parse(&o, "-F/x/hook", NULL), AGENT_OPTS_RUN);
    close_out();
    assert_string_equal(o.fsfreeze_hook, "/x/hook");
    agent_options_free(&o);

    assert_int_equal(parse(&o, "--fsfreeze-hook=/y", NULL), AGENT_OPTS_RUN);
    close_out();
    assert_string_equal(o.fsfreeze_hook, "/y");
    agent_options_free(&o);

    assert_int_equal(parse(&o, NULL), AGENT_OPTS_RUN);
    close_out();
    assert_null(o.fsfreeze_hook);
    agent_options_free(&o);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    static char buf[8192];
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_blacklist_is_block_rpcs_with_warning(void **state)
{
    struct agent_options o;
    char *log = tmp_path("blacklist.log");
    char *conf = write_conf("bl.conf", "[general]\nblacklist=guest-a\nblock-rpcs=guest-b\n");

    assert_int_equal(log_open(log, true), 0);
    assert_int_equal(parse(&o, "-c", conf, "--blacklist", "guest-c", NULL), AGENT_OPTS_RUN);
    close_out();
    log_close();
    char *joined = agent_strlist_join(&o.block, ',');
    assert_string_equal(joined, "guest-a,guest-b,guest-c");
    free(joined);
    const char *text = read_file(log);
    assert_non_null(strstr(text, ": warning: config key 'blacklist' is deprecated"));
    assert_non_null(strstr(text, ": warning: option --blacklist is deprecated"));
    free(log);
    free(conf);
    agent_options_free(&o);
}

static void test_config_files(void **state)
{
    struct agent_options o;
    char *bad = write_conf("bad.conf", "[general]\nverbose=yes\n");
    char *junk = write_conf("junk.conf", "not a key file\n");
    char *missing = tmp_path("missing.conf");

    /* -c: missing is fatal; QGA_CONF or the default: silently skipped */
    assert_int_equal(parse(&o, "-c", missing, NULL), AGENT_OPTS_FAIL);
    close_out();
    agent_options_free(&o);
    setenv("QGA_CONF", missing, 1);
    assert_int_equal(parse(&o, NULL), AGENT_OPTS_RUN);
    close_out();
    assert_string_equal(o.conf_path, missing);
    agent_options_free(&o);
    setenv("QGA_CONF", bad, 1); /* QGA_CONF is read when -c is absent */
    assert_int_equal(parse(&o, NULL), AGENT_OPTS_FAIL);
    close_out();
    agent_options_free(&o);
    setenv("QGA_CONF", "/nonexistent/qgad-test/qemu-ga.conf", 1);
    assert_int_equal(parse(&o, "--config", junk, NULL), AGENT_OPTS_FAIL);
    close_out();
    agent_options_free(&o);
    free(bad);
    free(junk);
    free(missing);
}

static void test_qgad_group(void **state)
{
    struct agent_options o;
    char *conf = write_conf("qgad.conf", "[qgad]\n"
                                         "listen=unix-listen:/x.sock;tcp-listen:127.0.0.1:5\n"
                                         "max-clients=4\n"
                                         "idle-timeout=0\n"
                                         "partial-timeout=7\n"
                                         "vsock-allow-cids=2,3\n"
                                         "file-create-mode=0640\n"
                                         "max-file-handles=10\n"
                                         "max-exec-processes=5\n"
                                         "exec-output-total=1000\n"
                                         "unknown-key=whatever\n"
                                         "[unknown-group]\nx=y\n");

    assert_int_equal(parse(&o, "-c", conf, "--listen", "vsock-listen:4294967295:99",
                           "--max-clients", "7", "-m", "tcp-listen", "-p", "127.0.0.1:1", NULL),
                     AGENT_OPTS_RUN);
    close_out();
    assert_int_equal(agent_options_finish(&o, NULL), AGENT_OPTS_RUN);
    char *text = dump(&o);
    const char *qgad = strstr(text, "\n\n[qgad]\n");
    assert_non_null(qgad);
    assert_string_equal(qgad + 2, "[qgad]\n"
                                  "listen=unix-listen:/x.sock;tcp-listen:127.0.0.1:5;"
                                  "vsock-listen:4294967295:99\n"
                                  "max-clients=7\n"
                                  "idle-timeout=0\n"
                                  "partial-timeout=7\n"
                                  "vsock-allow-cids=2,3\n"
                                  "file-create-mode=0640\n"
                                  "max-file-handles=10\n"
                                  "max-exec-processes=5\n"
                                  "exec-output-total=1000\n");
    free(text);
    agent_options_free(&o);

    assert_int_equal(parse(&o, "--vsock-allow-cids=any", NULL), AGENT_OPTS_RUN);
    close_out();
    assert_int_equal(o.n_vsock_cids, 1);
    assert_int_equal(o.vsock_cids[0], AGENT_VSOCK_CID_ANY);
    agent_options_free(&o);
    free(conf);
}

static void test_bad_values(void **state)
{
    static const char *const confs[] = {
        "[qgad]\nmax-clients=0\n",        "[qgad]\nfile-create-mode=999\n",
        "[qgad]\nmax-clients=-1\n",       "[qgad]\nvsock-allow-cids=host\n",
        "[qgad]\nlisten=nocolon\n",       "[qgad]\nlisten=bogus:/x\n",
        "[general]\nmethod=a\\qb\n",      "[general]\nretry-path=maybe\n",
        "[qgad]\nexec-output-total=1k\n",
    };
    struct agent_options o;

    for (size_t i = 0; i < sizeof(confs) / sizeof(confs[0]); i++) {
        char *conf = write_conf("badval.conf", confs[i]);
        if (parse(&o, "-c", conf, NULL) != AGENT_OPTS_FAIL)
            fail_msg("accepted: %s", confs[i]);
        close_out();
        agent_options_free(&o);
        free(conf);
    }
    assert_int_equal(parse(&o, "--max-clients", "x", NULL), AGENT_OPTS_FAIL);
    close_out();
    agent_options_free(&o);
    assert_int_equal(parse(&o, "--vsock-allow-cids", "2,,3", NULL), AGENT_OPTS_FAIL);
    close_out();
    agent_options_free(&o);
    assert_int_equal(parse(&o, "--listen", "tcp-listen:", NULL), AGENT_OPTS_FAIL);
    close_out();
    agent_options_free(&o);
}

static void test_exits(void **state)
{
    struct agent_options o;

    assert_int_equal(parse(&o, "-h", NULL), AGENT_OPTS_DONE);
    close_out();
    assert_non_null(strstr(out_buf, "Usage: qgad "));
    agent_options_free(&o);

    assert_int_equal(parse(&o, "--version", NULL), AGENT_OPTS_DONE);
    close_out();
    assert_string_equal(out_buf, "qgad " QGAD_VERSION "\n");
    agent_options_free(&o);

    assert_int_equal(parse(&o, "--bogus", NULL), AGENT_OPTS_FAIL);
    close_out();
    assert_string_equal(out_buf, "Unknown option, try 'qgad --help' for more information.\n");
    agent_options_free(&o);

    assert_int_equal(parse(&o, "-s", "install", NULL), AGENT_OPTS_FAIL);
    close_out();
    agent_options_free(&o);

    static const char *const helps[][2] = {{"-b", "help"}, {"-b", "?"}, {"-a", "help"}};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(parse(&o, helps[i][0], helps[i][1], NULL), AGENT_OPTS_DONE);
        close_out();
        assert_non_null(strstr(out_buf, "guest-ping\n"));
        assert_non_null(strstr(out_buf, "guest-sync-delimited\n"));
        agent_options_free(&o);
    }
}

static void test_channel_checks(void **state)
{
    static const char *const need_path[] = {"unix-listen", "vsock-listen", "tcp-listen"};
    struct agent_options o;

    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(parse(&o, "-m", need_path[i], NULL), AGENT_OPTS_RUN);
        close_out();
        assert_int_equal(agent_options_finish(&o, NULL), AGENT_OPTS_FAIL);
        agent_options_free(&o);
    }
    assert_int_equal(parse(&o, "-m", "isa-serial", NULL), AGENT_OPTS_RUN);
    close_out();
    assert_int_equal(agent_options_finish(&o, NULL), AGENT_OPTS_RUN);
    assert_string_equal(o.path, "/dev/ttyS0");
    agent_options_free(&o);

    assert_int_equal(parse(&o, "-m", "carrier-pigeon", "-p", "/x", NULL), AGENT_OPTS_RUN);
    close_out();
    assert_int_equal(agent_options_finish(&o, NULL), AGENT_OPTS_FAIL);
    agent_options_free(&o);

    /* socket activation: -m/-p are ignored */
    assert_int_equal(parse(&o, "-m", "tcp-listen", "-p", "127.0.0.1:1", NULL), AGENT_OPTS_RUN);
    close_out();
    assert_int_equal(agent_options_finish(&o, "vsock-listen"), AGENT_OPTS_RUN);
    assert_string_equal(o.method, "vsock-listen");
    assert_null(o.path);
    agent_options_free(&o);
}

static void test_relative_paths(void **state)
{
    struct agent_options o;
    char *cwd = getcwd(NULL, 0);

    assert_int_equal(chdir(tmpdir), 0);
    assert_int_equal(parse(&o, "-l", "rel.log", "-f", "sub/rel.pid", "-t", "state", "-Fhook", "-m",
                           "unix-listen", "-p", "qga.sock", "--listen", "vsock-listen:2:1234",
                           "--listen", "unix-listen:extra.sock", NULL),
                     AGENT_OPTS_RUN);
    close_out();
    assert_int_equal(agent_options_finish(&o, NULL), AGENT_OPTS_RUN);
    agent_options_absolutize(&o);
    char *base = getcwd(NULL, 0); /* tmpdir with symlinks resolved, as getcwd sees it */
    char *want;
#define CHECK_ABS(field, rel)                                                                      \
    do {                                                                                           \
        assert_true(asprintf(&want, "%s/%s", base, rel) > 0);                                      \
        assert_string_equal(field, want);                                                          \
        free(want);                                                                                \
    } while (0)
    CHECK_ABS(o.logfile, "rel.log");
    CHECK_ABS(o.pidfile, "sub/rel.pid");
    CHECK_ABS(o.statedir, "state");
    CHECK_ABS(o.fsfreeze_hook, "hook");
    CHECK_ABS(o.path, "qga.sock");
    CHECK_ABS(o.listen[1].path, "extra.sock");
#undef CHECK_ABS
    assert_string_equal(o.listen[0].path, "2:1234"); /* not a file */
    agent_options_free(&o);

    /* tcp HOST:PORT stays as it is; absolute paths are untouched */
    assert_int_equal(parse(&o, "-m", "tcp-listen", "-p", "localhost:5", "-l", "/abs.log", NULL),
                     AGENT_OPTS_RUN);
    close_out();
    assert_int_equal(agent_options_finish(&o, NULL), AGENT_OPTS_RUN);
    agent_options_absolutize(&o);
    assert_string_equal(o.path, "localhost:5");
    assert_string_equal(o.logfile, "/abs.log");
    agent_options_free(&o);
    assert_int_equal(chdir(cwd), 0);
    free(base);
    free(cwd);
}

static void test_dump_escapes(void **state)
{
    struct agent_options o;

    assert_int_equal(parse(&o, "-m", "unix-listen", "-p", " lead\\back", "-l", "a\nb", NULL),
                     AGENT_OPTS_RUN);
    close_out();
    assert_int_equal(agent_options_finish(&o, NULL), AGENT_OPTS_RUN);
    char *text = dump(&o);
    assert_non_null(strstr(text, "\npath=\\slead\\\\back\nlogfile=a\\nb\n"));
    free(text);
    agent_options_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_dump),
        cmocka_unit_test(test_two_passes_and_dump_order),
        cmocka_unit_test(test_fsfreeze_hook_optional_arg),
        cmocka_unit_test(test_blacklist_is_block_rpcs_with_warning),
        cmocka_unit_test(test_config_files),
        cmocka_unit_test(test_qgad_group),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_exits),
        cmocka_unit_test(test_channel_checks),
        cmocka_unit_test(test_relative_paths),
        cmocka_unit_test(test_dump_escapes),
    };
    int ret = cmocka_run_group_tests(tests, setup_all, teardown_all);
    free(out_buf);
    return ret;
}
