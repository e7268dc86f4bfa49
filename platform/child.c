/* Child processes on the loop. Every pipe is made here with uv_pipe() (O_CLOEXEC, so no
 * other child inherits it and EOF really means "the group let go"), the child ends are
 * handed over with UV_INHERIT_FD, which also makes "merged" one pipe on fds 1 and 2.
 * UV_PROCESS_DETACHED puts the child in its own session, so its pid is its group id and a
 * deadline can kill the whole group. libuv resets signal dispositions and the signal mask
 * in the child, so SIGPIPE is the default there. */
#include "platform/child.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "base/limits.h"
#include "base/log.h"
#include "base/loopmon.h"
#include "base/xalloc.h"

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
    uv_process_t proc;
    uv_timer_t timer;
    struct child_pipe in, out, err;
    uv_write_t write_req;
    char *input;
    struct plat_child_result res;
    size_t cap;
    struct plat_child_budget *budget;
    plat_child_done_fn done;
    void *data;
    int live_handles; /* initialised and not yet closed */
    bool proc_open, timer_open;
    bool reaped, finished, freed, grace, loop_unref;
};

/* Bytes past a cap are read into this and dropped (loop thread only). */
static char discard_buf[CHILD_READ_CHUNK];

static void child_release(struct plat_child *c)
{
    if (!c->freed || c->live_handles > 0)
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

/* A write to a pipe whose reader has gone must be an EPIPE error, not our death. */
static void ignore_sigpipe(void)
{
    static bool done;
    if (!done) {
        signal(SIGPIPE, SIG_IGN);
        done = true;
    }
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
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

static void start_input(struct plat_child *c, const struct plat_child_opts *opts)
{
    if (!c->in.open)
        return;
    if (opts->input_len == 0) {
        pipe_close(&c->in);
        return;
    }
    c->input = xmalloc(opts->input_len);
    memcpy(c->input, opts->input, opts->input_len);
    uv_buf_t buf = uv_buf_init(c->input, (unsigned)opts->input_len);
    c->write_req.data = c;
    int rc = uv_write(&c->write_req, (uv_stream_t *)&c->in.handle, &buf, 1, on_input_written);
    if (rc < 0) {
        log_debug("child stdin: %s", uv_strerror(rc));
        pipe_close(&c->in);
    }
}

struct child_fds {
    int in[2], out[2], err[2];
};

static int make_pipes(const struct plat_child_opts *o, struct child_fds *f,
                      uv_stdio_container_t *stdio)
{
    int rc = 0;
    stdio[0].flags = stdio[1].flags = stdio[2].flags = UV_IGNORE; /* /dev/null */
    if (o->has_input && (rc = uv_pipe(f->in, 0, 0)) == 0) {
        stdio[0].flags = UV_INHERIT_FD;
        stdio[0].data.fd = f->in[0];
    }
    if (rc == 0 && o->out == PLAT_CHILD_CAPTURE && (rc = uv_pipe(f->out, 0, 0)) == 0) {
        stdio[1].flags = UV_INHERIT_FD;
        stdio[1].data.fd = f->out[1];
    }
    if (rc == 0 && o->err == PLAT_CHILD_CAPTURE && (rc = uv_pipe(f->err, 0, 0)) == 0) {
        stdio[2].flags = UV_INHERIT_FD;
        stdio[2].data.fd = f->err[1];
    }
    if (rc == 0 && o->err == PLAT_CHILD_TO_STDOUT && o->out == PLAT_CHILD_CAPTURE) {
        stdio[2].flags = UV_INHERIT_FD;
        stdio[2].data.fd = f->out[1];
    }
    return rc;
}

static int child_start(struct plat_child *c, const struct plat_child_opts *opts, char *file)
{
    struct child_fds f = {{-1, -1}, {-1, -1}, {-1, -1}};
    uv_stdio_container_t stdio[3];
    uv_process_options_t po = {0};

    int rc = make_pipes(opts, &f, stdio);
    if (rc == 0) {
        po.exit_cb = on_child_exit;
        po.file = file;
        po.args = (char **)opts->argv;
        po.env = (char **)opts->env;
        po.cwd = opts->cwd;
        po.flags = UV_PROCESS_DETACHED; /* setsid: own session and process group */
        po.stdio_count = 3;
        po.stdio = stdio;
        rc = uv_spawn(uv_default_loop(), &c->proc, &po);
        /* uv_spawn initialises the handle even when it fails: it must be closed */
        c->proc.data = c;
        c->proc_open = true;
        c->live_handles++;
    }
    close_fd(&f.in[0]);
    close_fd(&f.out[1]);
    close_fd(&f.err[1]);
    if (rc < 0) {
        close_fd(&f.in[1]);
        close_fd(&f.out[0]);
        close_fd(&f.err[0]);
        return rc;
    }
    c->res.pid = c->proc.pid;
    if (c->loop_unref)
        uv_unref((uv_handle_t *)&c->proc);
    if (f.in[1] >= 0)
        pipe_attach(c, &c->in, f.in[1], NULL);
    if (f.out[0] >= 0)
        pipe_attach(c, &c->out, f.out[0], &c->res.out);
    if (f.err[0] >= 0)
        pipe_attach(c, &c->err, f.err[0], &c->res.err);
    return 0;
}

int plat_child_spawn(const struct plat_child_opts *opts, plat_child_done_fn done, void *data,
                     struct plat_child **out)
{
    int err = 0;
    char *file = plat_child_find_program(opts->path, opts->env, &err);
    if (!file)
        return err;
    ignore_sigpipe();

    struct plat_child *c = xcalloc(1, sizeof(*c));
    c->cap = opts->cap ? opts->cap : QGAD_EXEC_STREAM_CAP;
    c->budget = opts->budget;
    c->loop_unref = opts->loop_unref;
    c->done = done;
    c->data = data;
    int rc = child_start(c, opts, file);
    free(file);
    if (rc < 0) {
        c->freed = true;
        proc_close(c); /* frees c once closed */
        child_release(c);
        return rc;
    }
    uv_timer_init(uv_default_loop(), &c->timer);
    c->timer.data = c;
    if (c->loop_unref)
        uv_unref((uv_handle_t *)&c->timer);
    c->timer_open = true;
    c->live_handles++;
    if (opts->timeout_ms)
        uv_timer_start(&c->timer, on_deadline, opts->timeout_ms, 0);
    start_input(c, opts);
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
    if (!child->finished) {
        pipe_close(&child->in);
        pipe_close(&child->out);
        pipe_close(&child->err);
        timer_close(child);
        if (kill_group)
            group_kill(child, SIGKILL);
        if (!kill_group || child->reaped)
            proc_close(child); /* else it stays open to reap the killed child */
    }
    child_release(child);
}
