/* Child processes on the loop: started by platform/spawn.c's pool job, their pipes read and
 * written here, reaped via a pidfd (libuv on old kernels), the group killed at a deadline. */
#include "platform/child.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "base/limits.h"
#include "base/log.h"
#include "base/loopmon.h"
#include "base/xalloc.h"
#include "platform/spawn.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define CHILD_READ_CHUNK (64u << 10)
/* After a deadline kill, how long a descendant that left the group may hold our pipes
 * before we stop waiting for their EOF. */
#define CHILD_KILL_GRACE_MS 2000

struct child_pipe {
    uv_pipe_t handle;
    struct plat_child_stream *dst; /* NULL for stdin */
    size_t alloc;                  /* bytes allocated at dst->data */
    bool open;
};

struct plat_child {
    uv_work_t work;        /* the start job */
    struct spawn_job *job; /* while starting */
    uv_process_t proc;     /* the uv_spawn fallback */
    uv_poll_t poll;        /* the pidfd: readable once the child exited */
    int pidfd;
    uv_timer_t timer;
    uint64_t timeout_ms;
    struct child_pipe in, out, err;
    uv_write_t write_req;
    char *input;
    size_t input_len;
    struct plat_child_result res;
    size_t cap;
    struct plat_child_budget *budget;
    plat_child_started_fn started;
    plat_child_done_fn done;
    void *data;
    int live_handles; /* initialised and not yet closed */
    bool proc_open, poll_open, timer_open;
    bool starting, free_kill; /* free_kill: plat_child_free(, true) came while starting */
    bool reaped, finished, freed, grace, loop_unref;
};

/* Bytes past a cap are read into this and dropped (loop thread only). */
static char discard_buf[CHILD_READ_CHUNK];

static void child_release(struct plat_child *c)
{
    if (!c->freed || c->live_handles > 0 || c->starting)
        return;
    if (c->budget) {
        uint64_t mine = c->res.out.len + c->res.err.len;
        c->budget->used = c->budget->used > mine ? c->budget->used - mine : 0;
    }
    free(c->res.out.data);
    free(c->res.err.data);
    free(c->input);
    free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    loopmon_mark("child: handle closed");
    struct plat_child *c = h->data;
    c->live_handles--;
    child_release(c);
}

static void pipe_close(struct child_pipe *p)
{
    if (!p->open)
        return;
    p->open = false;
    uv_close((uv_handle_t *)&p->handle, on_handle_closed);
}

static void timer_close(struct plat_child *c)
{
    if (!c->timer_open)
        return;
    c->timer_open = false;
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void proc_close(struct plat_child *c)
{
    if (!c->proc_open)
        return;
    c->proc_open = false;
    uv_close((uv_handle_t *)&c->proc, on_handle_closed);
}

static void on_poll_closed(uv_handle_t *h)
{
    struct plat_child *c = h->data;
    if (c->pidfd >= 0)
        close(c->pidfd); /* no longer watched: libuv dropped it at uv_close */
    c->pidfd = -1;
    on_handle_closed(h);
}

/* Stops watching the exit: the pidfd (or the fallback's process handle). */
static void watch_close(struct plat_child *c)
{
    proc_close(c);
    if (!c->poll_open)
        return;
    c->poll_open = false;
    uv_close((uv_handle_t *)&c->poll, on_poll_closed);
}

static void group_kill(struct plat_child *c, int sig)
{
    /* The group outlives its leader while a member lives; ESRCH just means it is gone. */
    if (c->res.pid > 0 && kill(-(pid_t)c->res.pid, sig) < 0 && errno != ESRCH)
        log_warning("kill(-%lld, %d): %s", (long long)c->res.pid, sig, strerror(errno));
}

/* Done = reaped and every capture pipe at EOF. */
static void child_check_done(struct plat_child *c)
{
    if (c->finished || !c->reaped || c->out.open || c->err.open)
        return;
    c->finished = true;
    timer_close(c);
    pipe_close(&c->in); /* a child that exited without reading all of its input */
    if (c->freed) {
        child_release(c);
        return;
    }
    c->done(c, c->data); /* may free c: nothing after this */
}

static struct child_pipe *pipe_of(struct plat_child *c, const uv_handle_t *h)
{
    return h == (const uv_handle_t *)&c->out.handle ? &c->out : &c->err;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct plat_child *c = h->data;
    struct child_pipe *p = pipe_of(c, h);
    struct plat_child_stream *s = p->dst;
    uint64_t room = c->cap > s->len ? c->cap - s->len : 0;

    if (c->budget) {
        uint64_t avail =
            c->budget->limit > c->budget->used ? c->budget->limit - c->budget->used : 0;
        room = room < avail ? room : avail;
    }
    if (room == 0) {
        *buf = uv_buf_init(discard_buf, sizeof(discard_buf));
        return;
    }
    size_t want = room < CHILD_READ_CHUNK ? (size_t)room : CHILD_READ_CHUNK;
    if (s->len + want > p->alloc) {
        size_t grown = p->alloc ? p->alloc * 2 : CHILD_READ_CHUNK;
        if (grown < s->len + want)
            grown = s->len + want;
        if (grown > c->cap)
            grown = c->cap;
        s->data = xrealloc(s->data, grown);
        p->alloc = grown;
    }
    *buf = uv_buf_init(s->data + s->len, (unsigned)want);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    loopmon_mark("child: output");
    struct plat_child *c = stream->data;
    struct child_pipe *p = pipe_of(c, (uv_handle_t *)stream);

    if (nread > 0) {
        if (buf->base == discard_buf) {
            p->dst->truncated = true;
            return;
        }
        p->dst->len += (size_t)nread;
        if (c->budget)
            c->budget->used += (uint64_t)nread;
        return;
    }
    if (nread == 0)
        return;
    if (nread != UV_EOF)
        log_debug("child %lld: output pipe: %s", (long long)c->res.pid, uv_strerror((int)nread));
    pipe_close(p);
    child_check_done(c);
}

static void on_child_exit(uv_process_t *proc, int64_t exit_status, int term_signal)
{
    loopmon_mark("child: exit");
    struct plat_child *c = proc->data;
    c->reaped = true;
    c->res.exited = term_signal == 0;
    c->res.exit_code = (int)exit_status;
    c->res.signal = term_signal;
    proc_close(c);
    child_check_done(c);
}

/* The pidfd is readable: the child exited; reap it. */
static void on_pidfd(uv_poll_t *h, int status, int events)
{
    loopmon_mark("child: exit");
    struct plat_child *c = h->data;
    siginfo_t info;
    int rc;
    memset(&info, 0, sizeof(info));
    do
        rc = waitid((idtype_t)P_PIDFD, (id_t)c->pidfd, &info, WEXITED | WNOHANG);
    while (rc < 0 && errno == EINTR);
    if (rc == 0 && info.si_pid == 0)
        return; /* not yet (a poll error, say) */
    if (rc < 0)
        log_warning("child %lld: waitid: %s", (long long)c->res.pid, strerror(errno));
    c->reaped = true;
    c->res.exited = rc == 0 && info.si_code == CLD_EXITED;
    c->res.exit_code = c->res.exited ? info.si_status : 0;
    c->res.signal = rc == 0 && !c->res.exited ? info.si_status : 0;
    watch_close(c);
    child_check_done(c);
}

static void on_deadline(uv_timer_t *t)
{
    loopmon_mark("child: deadline");
    struct plat_child *c = t->data;
    if (!c->grace) {
        c->res.timed_out = true;
        c->grace = true;
        log_warning("child %lld: deadline passed, killing its process group",
                    (long long)c->res.pid);
        group_kill(c, SIGKILL);
        uv_timer_start(&c->timer, on_deadline, CHILD_KILL_GRACE_MS, 0);
        return;
    }
    /* Something outside the group still holds the pipes: stop waiting for their EOF. */
    pipe_close(&c->out);
    pipe_close(&c->err);
    child_check_done(c);
}

static void on_input_written(uv_write_t *req, int status)
{
    loopmon_mark("child: input written");
    struct plat_child *c = req->data;
    if (status < 0 && status != UV_ECANCELED)
        log_debug("child %lld: stdin: %s", (long long)c->res.pid, uv_strerror(status));
    pipe_close(&c->in); /* EOF for the child */
}

/* A write to a pipe whose reader has gone must be an EPIPE error, not our death. */
static void ignore_sigpipe(void)
{
    static bool done;
    if (!done) {
        signal(SIGPIPE, SIG_IGN);
        done = true;
    }
}

/* The parent end of a pipe, read or written by the loop. */
static void pipe_attach(struct plat_child *c, struct child_pipe *p, int fd,
                        struct plat_child_stream *dst)
{
    uv_pipe_init(uv_default_loop(), &p->handle, 0);
    p->handle.data = c;
    if (c->loop_unref)
        uv_unref((uv_handle_t *)&p->handle);
    p->dst = dst;
    p->open = true;
    c->live_handles++;
    int rc = uv_pipe_open(&p->handle, fd);
    if (rc < 0)
        close(fd); /* not adopted by the handle */
    else if (dst)
        rc = uv_read_start((uv_stream_t *)&p->handle, on_alloc, on_read);
    if (rc < 0) {
        log_error("child %lld: pipe: %s", (long long)c->res.pid, uv_strerror(rc));
        pipe_close(p);
    }
}

static void start_input(struct plat_child *c)
{
    if (!c->in.open)
        return;
    if (c->input_len == 0) {
        pipe_close(&c->in);
        return;
    }
    uv_buf_t buf = uv_buf_init(c->input, (unsigned)c->input_len);
    c->write_req.data = c;
    int rc = uv_write(&c->write_req, (uv_stream_t *)&c->in.handle, &buf, 1, on_input_written);
    if (rc < 0) {
        log_debug("child stdin: %s", uv_strerror(rc));
        pipe_close(&c->in);
    }
}

/* Stops what is still running: pipes and deadline closed; the group killed (and still
 * reaped) with kill_group, else the child is left running and no longer watched. */
static void child_stop(struct plat_child *c, bool kill_group)
{
    pipe_close(&c->in);
    pipe_close(&c->out);
    pipe_close(&c->err);
    timer_close(c);
    if (kill_group)
        group_kill(c, SIGKILL);
    if (!kill_group || c->reaped)
        watch_close(c); /* else it stays open to reap the killed child */
}

/* Watches the started child's exit through its pidfd. */
static int watch_pidfd(struct plat_child *c)
{
    int rc = uv_poll_init(uv_default_loop(), &c->poll, c->job->pidfd);
    if (rc < 0) {
        log_error("child %lld: pidfd poll: %s", (long long)c->job->pid, uv_strerror(rc));
        kill(-c->job->pid, SIGKILL);
        siginfo_t info; /* just killed: reaped at once */
        while (waitid(P_PID, (id_t)c->job->pid, &info, WEXITED) < 0 && errno == EINTR)
            ;
        return rc;
    }
    c->pidfd = c->job->pidfd;
    c->job->pidfd = -1;
    c->poll.data = c;
    c->poll_open = true;
    c->live_handles++;
    if (c->loop_unref)
        uv_unref((uv_handle_t *)&c->poll);
    uv_poll_start(&c->poll, UV_READABLE, on_pidfd);
    return 0;
}

/* The fallback: uv_spawn on the loop, reaped by libuv. */
static int watch_uv_spawn(struct plat_child *c)
{
    bool init = false;
    int rc = spawn_job_uv_spawn(c->job, &c->proc, on_child_exit, &init);
    if (init) {
        c->proc.data = c;
        c->proc_open = true;
        c->live_handles++;
        if (c->loop_unref)
            uv_unref((uv_handle_t *)&c->proc);
    }
    return rc;
}

/* The child runs: its pipes are the loop's, its deadline starts. */
static void child_attach(struct plat_child *c)
{
    struct spawn_job *j = c->job;
    if (j->in >= 0)
        pipe_attach(c, &c->in, j->in, NULL);
    if (j->out_fd >= 0)
        pipe_attach(c, &c->out, j->out_fd, &c->res.out);
    if (j->err_fd >= 0)
        pipe_attach(c, &c->err, j->err_fd, &c->res.err);
    j->in = j->out_fd = j->err_fd = -1;
    uv_timer_init(uv_default_loop(), &c->timer);
    c->timer.data = c;
    if (c->loop_unref)
        uv_unref((uv_handle_t *)&c->timer);
    c->timer_open = true;
    c->live_handles++;
    if (c->timeout_ms)
        uv_timer_start(&c->timer, on_deadline, c->timeout_ms, 0);
    start_input(c);
}

static void on_start_work(uv_work_t *req)
{
    struct plat_child *c = req->data;
    spawn_job_run(c->job);
}

/* Back on the loop: watch the child and report the start (or free a failed one). */
static void on_start_done(uv_work_t *req, int status)
{
    loopmon_mark("child: started");
    struct plat_child *c = req->data;
    int rc = status < 0 ? status : c->job->rc;
    if (rc == 0)
        rc = c->job->uv_path ? watch_uv_spawn(c) : watch_pidfd(c);
    if (rc == 0) {
        c->res.pid = c->job->pid;
        if (!c->freed)
            child_attach(c);
    }
    spawn_job_free(c->job); /* closes what was not attached */
    c->job = NULL;
    if (rc < 0) {
        if (!c->freed) /* still "starting": a plat_child_free in there only marks it */
            c->started(c, rc, c->data);
        c->starting = false;
        c->freed = true;
        watch_close(c); /* a failed uv_spawn's handle */
        child_release(c);
        return;
    }
    c->starting = false;
    if (c->freed) { /* freed while starting */
        child_stop(c, c->free_kill);
        child_release(c);
        return;
    }
    c->started(c, 0, c->data); /* may free c */
}

int plat_child_spawn(const struct plat_child_opts *opts, plat_child_started_fn started,
                     plat_child_done_fn done, void *data, struct plat_child **out)
{
    if (!opts || !opts->argv || !opts->argv[0] || !started || !done || !out ||
        (opts->has_input && opts->input_len && !opts->input))
        return -EINVAL;
    ignore_sigpipe();

    struct plat_child *c = xcalloc(1, sizeof(*c));
    c->cap = opts->cap ? opts->cap : QGAD_EXEC_STREAM_CAP;
    c->budget = opts->budget;
    c->loop_unref = opts->loop_unref;
    c->timeout_ms = opts->timeout_ms;
    c->started = started;
    c->done = done;
    c->data = data;
    c->pidfd = -1;
    if (opts->has_input && opts->input_len) {
        c->input = xmalloc(opts->input_len);
        memcpy(c->input, opts->input, opts->input_len);
        c->input_len = opts->input_len;
    }
    c->job = spawn_job_new(opts);
    c->work.data = c;
    int rc = uv_queue_work(uv_default_loop(), &c->work, on_start_work, on_start_done);
    if (rc < 0) {
        spawn_job_free(c->job);
        free(c->input);
        free(c);
        return rc;
    }
    c->starting = true;
    *out = c;
    return 0;
}

int64_t plat_child_pid(const struct plat_child *child)
{
    return child->res.pid;
}

bool plat_child_finished(const struct plat_child *child)
{
    return child->finished;
}

const struct plat_child_result *plat_child_result(const struct plat_child *child)
{
    return &child->res;
}

void plat_child_kill(struct plat_child *child, int sig)
{
    /* once finished the group may be gone and its number reused */
    if (!child->finished)
        group_kill(child, sig);
}

void plat_child_free(struct plat_child *child, bool kill_group)
{
    if (!child)
        return;
    child->freed = true;
    if (child->starting)
        child->free_kill = kill_group; /* the start's completion acts on it */
    else if (!child->finished)
        child_stop(child, kill_group);
    child_release(child);
}
