/* Starting children off the loop: a pool job posix_spawns them (the pool thread, not the
 * loop, waits for the exec) and takes a pidfd; kernels without pidfds get uv_spawn. */
#include "platform/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/xalloc.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

extern char **environ;

/* 0: not probed yet, 1: pidfd_open and waitid(P_PIDFD) work, -1: they do not. */
static atomic_int pidfd_state;
static atomic_bool force_uv_path;

char *plat_child_find_program(const char *path, const char *const *env, int *err)
{
    if (!path || !*path) {
        *err = -ENOENT;
        return NULL;
    }
    if (strchr(path, '/'))
        return xstrdup(path);

    const char *search = NULL;
    for (const char *const *e = env; e && *e && !search; e++)
        if (strncmp(*e, "PATH=", 5) == 0)
            search = *e + 5;
    if (!search)
        search = getenv("PATH");
    if (!search)
        search = "/bin:/usr/bin";

    bool denied = false;
    for (const char *dir = search;; dir++) {
        size_t n = strcspn(dir, ":");
        char *cand = n ? xasprintf("%.*s/%s", (int)n, dir, path) : xasprintf("./%s", path);
        struct stat st;
        if (stat(cand, &st) == 0 && S_ISREG(st.st_mode)) {
            if (access(cand, X_OK) == 0)
                return cand;
            denied = true;
        }
        free(cand);
        dir += n;
        if (!*dir)
            break;
    }
    *err = denied ? -EACCES : -ENOENT;
    return NULL;
}

static char **strv_dup(const char *const *v)
{
    if (!v)
        return NULL;
    size_t n = 0;
    while (v[n])
        n++;
    char **copy = xcalloc(n + 1, sizeof(*copy));
    for (size_t i = 0; i < n; i++)
        copy[i] = xstrdup(v[i]);
    return copy;
}

static void strv_free(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

struct spawn_job *spawn_job_new(const struct plat_child_opts *opts)
{
    struct spawn_job *j = xcalloc(1, sizeof(*j));
    j->path = opts->path ? xstrdup(opts->path) : NULL;
    j->argv = strv_dup(opts->argv);
    j->env = strv_dup(opts->env);
    j->cwd = opts->cwd ? xstrdup(opts->cwd) : NULL;
    j->has_input = opts->has_input;
    j->out = opts->out;
    j->err = opts->err;
    j->pidfd = j->in = j->out_fd = j->err_fd = -1;
    return j;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

void spawn_job_free(struct spawn_job *j)
{
    if (!j)
        return;
    close_fd(&j->pidfd);
    close_fd(&j->in);
    close_fd(&j->out_fd);
    close_fd(&j->err_fd);
    free(j->path);
    strv_free(j->argv);
    strv_free(j->env);
    free(j->cwd);
    free(j->file);
    free(j);
}

void spawn_force_uv_path(bool on)
{
    atomic_store(&force_uv_path, on);
}

static int pidfd_open(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* pidfd_open is Linux 5.3, waitid(P_PIDFD) 5.4: probed once, on our own pid. */
static bool pidfds_work(void)
{
    if (atomic_load(&force_uv_path))
        return false;
    int state = atomic_load(&pidfd_state);
    if (state)
        return state > 0;
    int fd = pidfd_open(getpid());
    if (fd < 0 && errno != ENOSYS)
        return true; /* say EMFILE: not a verdict; the spawn reports its own error */
    siginfo_t info;
    bool ok = fd >= 0 && (waitid(P_PIDFD, (id_t)fd, &info, WEXITED | WNOHANG) == 0 ||
                          errno != EINVAL); /* ECHILD: we are not our own child */
    if (fd >= 0)
        close(fd);
    atomic_store(&pidfd_state, ok ? 1 : -1);
    return ok;
}

/* The child ends of the pipes (-1: none), closed in the parent once the child runs. */
struct child_ends {
    int in, out, err;
};

/* After the start: the child ends are the child's alone; on failure ours go too. */
static void pipes_settle(struct spawn_job *j, struct child_ends *e, int rc)
{
    close_fd(&e->in);
    close_fd(&e->out);
    close_fd(&e->err);
    if (rc < 0) {
        close_fd(&j->in);
        close_fd(&j->out_fd);
        close_fd(&j->err_fd);
    }
}

static int pipe_pair(int *parent, int *child, bool child_reads)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    *child = fds[child_reads ? 0 : 1];
    *parent = fds[child_reads ? 1 : 0];
    return 0;
}

/* stdin /dev/null or the input pipe; stdout/stderr /dev/null, a pipe, or stdout's pipe. */
static int make_pipes(struct spawn_job *j, struct child_ends *e)
{
    int rc = 0;
    if (j->has_input)
        rc = pipe_pair(&j->in, &e->in, true);
    if (rc == 0 && j->out == PLAT_CHILD_CAPTURE)
        rc = pipe_pair(&j->out_fd, &e->out, false);
    if (rc == 0 && j->err == PLAT_CHILD_CAPTURE)
        rc = pipe_pair(&j->err_fd, &e->err, false);
    return rc;
}

static int child_stdio(int fd, int pipe_end, posix_spawn_file_actions_t *fa)
{
    if (pipe_end >= 0)
        return posix_spawn_file_actions_adddup2(fa, pipe_end, fd);
    return posix_spawn_file_actions_addopen(fa, fd, "/dev/null", fd ? O_RDWR : O_RDONLY, 0);
}

static int file_actions(const struct spawn_job *j, const struct child_ends *e,
                        posix_spawn_file_actions_t *fa)
{
    int merged = j->err == PLAT_CHILD_TO_STDOUT ? e->out : -1;
    int rc = child_stdio(0, e->in, fa);
    if (rc == 0)
        rc = child_stdio(1, e->out, fa);
    if (rc == 0)
        rc = child_stdio(2, e->err >= 0 ? e->err : merged, fa);
    if (rc == 0 && j->cwd)
        rc = posix_spawn_file_actions_addchdir_np(fa, j->cwd);
    return rc;
}

/* Own session (so it leads its group), every signal default, nothing blocked. */
static int child_attrs(posix_spawnattr_t *at)
{
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    int rc = posix_spawnattr_setsigdefault(at, &all);
    if (rc == 0)
        rc = posix_spawnattr_setsigmask(at, &none);
    if (rc == 0)
        rc = posix_spawnattr_setflags(at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF |
                                              POSIX_SPAWN_SETSIGMASK);
    return rc;
}

/* Returns 0 or the exec's errno. A file the kernel cannot exec runs as a shell script,
 * as execvp (and so uv_spawn) does. */
static int spawn_exec(struct spawn_job *j, const posix_spawn_file_actions_t *fa,
                      const posix_spawnattr_t *at)
{
    char **env = j->env ? j->env : environ;
    int rc = posix_spawn(&j->pid, j->file, fa, at, j->argv, env);
    if (rc != ENOEXEC)
        return rc;
    size_t n = 0;
    while (j->argv[n])
        n++;
    char **sh = xcalloc(n + 2, sizeof(*sh));
    sh[0] = "/bin/sh";
    sh[1] = j->file;
    for (size_t i = 1; i < n; i++)
        sh[i + 1] = j->argv[i];
    rc = posix_spawn(&j->pid, "/bin/sh", fa, at, sh, env);
    free(sh);
    return rc;
}

/* The child runs; without a pidfd it cannot be watched, so it is killed and reaped. */
static int take_pidfd(struct spawn_job *j)
{
    j->pidfd = pidfd_open(j->pid);
    if (j->pidfd >= 0)
        return 0;
    int rc = -errno;
    kill(-j->pid, SIGKILL);
    while (waitpid(j->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return rc;
}

static int spawn_posix(struct spawn_job *j)
{
    struct child_ends e = {-1, -1, -1};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);

    int rc = make_pipes(j, &e);
    if (rc == 0)
        rc = -file_actions(j, &e, &fa);
    if (rc == 0)
        rc = -child_attrs(&at);
    if (rc == 0)
        rc = -spawn_exec(j, &fa, &at);
    if (rc == 0)
        rc = take_pidfd(j);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    pipes_settle(j, &e, rc);
    if (rc < 0)
        j->pid = 0;
    return rc;
}

void spawn_job_run(struct spawn_job *j)
{
    int err = 0;
    j->file = plat_child_find_program(j->path, (const char *const *)j->env, &err);
    if (!j->file)
        j->rc = err;
    else if (!pidfds_work())
        j->uv_path = true;
    else
        j->rc = spawn_posix(j);
}

/* ---- the uv_spawn fallback ---- */

static int uv_pipes(struct spawn_job *j, struct child_ends *e, uv_stdio_container_t *stdio)
{
    int fds[2], rc = 0;
    stdio[0].flags = stdio[1].flags = stdio[2].flags = UV_IGNORE; /* /dev/null */
    if (j->has_input && (rc = uv_pipe(fds, 0, 0)) == 0) {
        e->in = fds[0];
        j->in = fds[1];
    }
    if (rc == 0 && j->out == PLAT_CHILD_CAPTURE && (rc = uv_pipe(fds, 0, 0)) == 0) {
        j->out_fd = fds[0];
        e->out = fds[1];
    }
    if (rc == 0 && j->err == PLAT_CHILD_CAPTURE && (rc = uv_pipe(fds, 0, 0)) == 0) {
        j->err_fd = fds[0];
        e->err = fds[1];
    }
    int child[3] = {e->in, e->out, e->err};
    if (j->err == PLAT_CHILD_TO_STDOUT)
        child[2] = e->out;
    for (int i = 0; i < 3; i++) {
        if (child[i] >= 0) {
            stdio[i].flags = UV_INHERIT_FD;
            stdio[i].data.fd = child[i];
        }
    }
    return rc;
}

int spawn_job_uv_spawn(struct spawn_job *j, uv_process_t *proc, uv_exit_cb exit_cb, bool *proc_init)
{
    struct child_ends e = {-1, -1, -1};
    uv_stdio_container_t stdio[3];
    uv_process_options_t po = {0};

    *proc_init = false;
    int rc = uv_pipes(j, &e, stdio);
    if (rc == 0) {
        po.exit_cb = exit_cb;
        po.file = j->file;
        po.args = j->argv;
        po.env = j->env;
        po.cwd = j->cwd;
        po.flags = UV_PROCESS_DETACHED; /* setsid: own session and process group */
        po.stdio_count = 3;
        po.stdio = stdio;
        rc = uv_spawn(uv_default_loop(), proc, &po); /* initialises proc even on failure */
        *proc_init = true;
    }
    pipes_settle(j, &e, rc);
    if (rc < 0)
        return rc;
    j->pid = proc->pid;
    return 0;
}
