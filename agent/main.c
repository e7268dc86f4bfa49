/* qgad: startup in upstream qemu-ga 10.x order (options, log, statedir and the frozen
 * marker, command policy, channels, daemonize, signals), then the libuv loop. */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "agent/agent.h"
#include "agent/channels.h"
#include "agent/cli.h"
#include "agent/daemon.h"
#include "agent/dumpconf.h"
#include "agent/settings.h"
#include "base/log.h"
#include "base/loopmon.h"
#include "base/xalloc.h"
#include "commands/exec.h"
#include "commands/file.h"
#include "commands/registry.h"
#include "commands/settings.h"
#include "platform/statedir.h"
#include "transport/transport.h"

static struct {
    struct agent_options opts;
    uv_signal_t sig_int, sig_term, sig_hup, sig_usr1, sig_usr2;
    bool signals_started;
    bool pidfile_deferred; /* -d while frozen at start: written on thaw */
    bool stopping;
} agent;

/* hooks for the freeze code */

void agent_on_thaw(void)
{
    log_resume();
    if (agent.pidfile_deferred) {
        int ret = agent_pidfile_create(agent.opts.pidfile);
        if (ret < 0)
            log_warning("failed to create/open pid file %s: %s", agent.opts.pidfile,
                        strerror(-ret));
        agent.pidfile_deferred = false;
    }
    int ret = plat_state_ensure();
    if (ret < 0)
        log_error("unable to create state file in %s: %s", plat_statedir(), strerror(-ret));
}

static void close_signal(uv_signal_t *sig)
{
    uv_signal_stop(sig);
    if (!uv_is_closing((uv_handle_t *)sig))
        uv_close((uv_handle_t *)sig, NULL);
}

void agent_stop(void)
{
    if (agent.stopping)
        return;
    agent.stopping = true;
    agent_channels_close();
    /* no session is left to answer: waiting exec-status calls end, open files are closed
     * so buffered writes reach them */
    cmd_exec_release_all();
    cmd_file_close_all();
    if (agent.signals_started) {
        close_signal(&agent.sig_int);
        close_signal(&agent.sig_term);
        close_signal(&agent.sig_hup);
        close_signal(&agent.sig_usr1);
        close_signal(&agent.sig_usr2);
    }
    uv_stop(uv_default_loop());
}

/* Part 1 item 5: while frozen this must thaw first, then stop; the freeze code hooks in
 * here (thaw, then agent_stop() from its completion). */
static void on_signal(uv_signal_t *sig, int signum)
{
    log_info("received signal %d (%s), stopping", signum, strsignal(signum));
    agent_stop();
}

/* SIGHUP reopens the log file (logrotate's "postrotate ... kill -HUP"); SIGUSR1 and
 * SIGUSR2 mean nothing to the agent and must not end it (their default action). */
static void on_other_signal(uv_signal_t *sig, int signum)
{
    if (signum != SIGHUP) {
        log_debug("received signal %d (%s), ignored", signum, strsignal(signum));
        return;
    }
    int ret = log_reopen();
    if (ret < 0)
        log_warning("SIGHUP: cannot reopen the log file: %s", strerror(-ret));
    else
        log_info("SIGHUP: log file reopened");
}

/* startup steps: each returns 0 or logs a critical message and returns -1 */

static int fatal(const char *msg, int err)
{
    if (err)
        log_critical("%s: %s", msg, strerror(-err));
    else
        log_critical("%s", msg);
    /* while frozen the log is only in memory and would die with us */
    if (cmd_policy_frozen())
        fprintf(stderr, "qgad: %s%s%s\n", msg, err ? ": " : "", err ? strerror(-err) : "");
    return -1;
}

static int setup_log_and_state(const struct agent_options *o)
{
    log_open(NULL, o->verbose); /* the level mask, still on stderr */
    int ret = plat_statedir_init(o->statedir);
    if (ret < 0)
        return fatal("unable to use the state directory", ret);
    bool frozen = plat_frozen_marker_exists();
    if (frozen) {
        log_warning("previous instance appears to have exited with frozen filesystems. "
                    "deferring logging/pidfile creation and disabling non-fsfreeze-safe "
                    "commands until guest-fsfreeze-thaw is issued, or filesystems are "
                    "manually unfrozen and the file %s/qga.state.isfrozen is removed",
                    o->statedir);
        log_suspend(); /* log_open() below then defers the file */
    }
    ret = log_open(o->logfile, o->verbose);
    if (ret < 0)
        return fatal("unable to open specified log file", ret);
    const char *const *allow = (const char *const *)o->allow.v;
    const char *const *block = (const char *const *)o->block.v;
    cmd_policy_set_frozen(frozen);
    cmd_policy_set(allow, o->allow.n, block, o->block.n);
    if (!frozen) {
        ret = plat_state_ensure();
        if (ret < 0)
            return fatal("failed to load persistent state", ret);
    }
    return 0;
}

static int open_channels(const struct agent_options *o, int activated_fd)
{
    int ret = agent_channels_open(o, activated_fd);

    return ret < 0 ? fatal("failed to initialize guest agent channel", ret) : 0;
}

static int daemonize(const struct agent_options *o)
{
    int ret = agent_daemon_fork();

    if (ret < 0)
        return fatal("failed to fork a daemon", ret);
    ret = uv_loop_fork(uv_default_loop()); /* the child owns the loop now */
    if (ret < 0)
        return fatal("failed to reinitialise the event loop after fork", ret);
    agent_channels_after_fork();
    if (cmd_policy_frozen()) {
        agent.pidfile_deferred = true; /* the pidfile may be on a frozen filesystem */
    } else {
        ret = agent_pidfile_create(o->pidfile);
        if (ret < 0)
            return fatal(ret == -EAGAIN ? "Cannot lock pid file, another instance running?"
                                        : "failed to create pid file",
                         ret == -EAGAIN ? 0 : ret);
    }
    ret = agent_daemon_detach();
    if (ret < 0)
        return fatal("failed to detach the daemon", ret);
    return 0;
}

static int start_signals(void)
{
    uv_loop_t *loop = uv_default_loop();

    static const struct {
        uv_signal_t *handle;
        uv_signal_cb cb;
        int signum;
    } sigs[] = {
        {&agent.sig_int, on_signal, SIGINT},         {&agent.sig_term, on_signal, SIGTERM},
        {&agent.sig_hup, on_other_signal, SIGHUP},   {&agent.sig_usr1, on_other_signal, SIGUSR1},
        {&agent.sig_usr2, on_other_signal, SIGUSR2},
    };

    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        if (uv_signal_init(loop, sigs[i].handle) < 0 ||
            uv_signal_start(sigs[i].handle, sigs[i].cb, sigs[i].signum) < 0)
            return fatal("failed to register signal handlers", 0);
    }
    agent.signals_started = true;
    return 0;
}

static void apply_settings(const struct agent_options *o)
{
    cmd_settings.file_create_mode = o->file_create_mode;
    cmd_settings.max_file_handles = o->max_file_handles;
    cmd_settings.max_exec_processes = o->max_exec_processes;
    cmd_settings.exec_output_total = o->exec_output_total;
    cmd_settings.fsfreeze_hook = o->fsfreeze_hook;
    cmd_settings.on_thaw = agent_on_thaw;
}

/* Options, socket activation, defaults; -1 means exit 1, 1 means exit 0 now. */
static int configure(int argc, char **argv, int *activated_fd)
{
    struct agent_options *o = &agent.opts;
    const char *activated_method = NULL;

    switch (agent_cli_parse(o, argc, argv, stdout)) {
    case AGENT_OPTS_DONE:
        return 1;
    case AGENT_OPTS_FAIL:
        return -1;
    case AGENT_OPTS_RUN:
        break;
    }
    *activated_fd = transport_activation_fd(&activated_method);
    if (*activated_fd < -1)
        return fatal("unusable socket activation", *activated_fd);
    if (agent_options_finish(o, *activated_fd >= 0 ? activated_method : NULL) != AGENT_OPTS_RUN)
        return -1;
    if (o->dump_conf) {
        agent_dumpconf_write(o, stdout);
        return 1;
    }
    agent_options_absolutize(o);
    apply_settings(o);
    return 0;
}

static int run(int argc, char **argv)
{
    int activated_fd = -1;
    int ret = configure(argc, argv, &activated_fd);

    if (ret)
        return ret > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
    if (setup_log_and_state(&agent.opts) < 0 || open_channels(&agent.opts, activated_fd) < 0)
        return EXIT_FAILURE;
    if (agent.opts.daemonize && daemonize(&agent.opts) < 0)
        return EXIT_FAILURE;
    if (start_signals() < 0)
        return EXIT_FAILURE;
    log_info("qgad %s started: %s %s", QGAD_VERSION, agent.opts.method,
             agent.opts.path ? agent.opts.path : "(socket activation)");
    loopmon_start(uv_default_loop());
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    loopmon_stop();
    /* let the close callbacks of channels, connections and signals run */
    uv_run(uv_default_loop(), UV_RUN_NOWAIT);
    log_info("qgad stopped");
    return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
    /* No fastbins: freed small chunks coalesce at once, so the million nodes of a huge
     * request freed in the threadpool are not left for the loop's next big malloc to
     * consolidate (malloc_consolidate: ~13 ms on the loop, found by the stall check). */
    mallopt(M_MXFAST, 0);
    agent_cloexec_inherited();
    agent_options_init(&agent.opts);
    int status = run(argc, argv);
    agent_stop();
    agent_pidfile_remove();
    agent_options_free(&agent.opts);
    log_close();
    return status;
}
