/* Shared by the transport unit tests: transport events that record what happened (and
 * optionally echo), and helpers that drive uv_default_loop() until a condition holds. */
#ifndef QGAD_TEST_TRANSPORT_HARNESS_H
#define QGAD_TEST_TRANSPORT_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "base/xalloc.h"
#include "transport/transport.h"

/* Each test file uses a subset of these. */
#define HARNESS static __attribute__((unused))

#define REC_MAX_CONNS 64
#define REC_IN_MAX 65536

struct rec_conn {
    struct transport_conn *conn;
    char in[REC_IN_MAX];
    size_t in_len;
    bool closed;
    bool eof; /* eof() fired */
};

struct recorder {
    struct rec_conn *conns[REC_MAX_CONNS];
    int n_open;
    int n_close;
    bool echo;
    bool hold_on_eof; /* eof() leaves the connection open (else: transport_close) */
    int n_eof;
};

HARNESS void *rec_open(struct transport_conn *conn, void *user)
{
    struct recorder *r = user;
    struct rec_conn *c = xcalloc(1, sizeof(*c));

    assert_true(r->n_open < REC_MAX_CONNS);
    c->conn = conn;
    r->conns[r->n_open++] = c;
    return c;
}

static struct recorder *rec_current;

HARNESS void rec_data(void *ctx, const char *buf, size_t len)
{
    struct rec_conn *c = ctx;

    assert_false(c->closed);
    if (len > REC_IN_MAX - c->in_len)
        len = REC_IN_MAX - c->in_len;
    memcpy(c->in + c->in_len, buf, len);
    c->in_len += len;
    if (rec_current && rec_current->echo) {
        char *copy = xmalloc(len);
        memcpy(copy, buf, len);
        transport_write(c->conn, copy, len);
    }
}

HARNESS void rec_eof(void *ctx)
{
    struct rec_conn *c = ctx;

    assert_false(c->closed);
    assert_false(c->eof);
    c->eof = true;
    rec_current->n_eof++;
    if (!rec_current->hold_on_eof)
        transport_close(c->conn);
}

HARNESS void rec_close(void *ctx)
{
    struct rec_conn *c = ctx;

    assert_false(c->closed);
    c->closed = true;
    rec_current->n_close++;
}

HARNESS struct transport_events rec_events(struct recorder *r)
{
    memset(r, 0, sizeof(*r));
    rec_current = r;
    return (struct transport_events){
        .open = rec_open, .data = rec_data, .eof = rec_eof, .close = rec_close, .user = r};
}

HARNESS void rec_free(struct recorder *r)
{
    for (int i = 0; i < r->n_open; i++)
        free(r->conns[i]);
    memset(r, 0, sizeof(*r));
}

/* ---- loop driving ---- */

HARNESS void harness_timeout_cb(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

/* Runs the loop until pred(arg) holds or ms pass; returns whether pred held. */
HARNESS bool run_until(bool (*pred)(void *), void *arg, unsigned ms)
{
    uv_timer_t timer;
    bool expired = false;

    uv_timer_init(uv_default_loop(), &timer);
    timer.data = &expired;
    uv_timer_start(&timer, harness_timeout_cb, ms, 0);
    while (!(pred && pred(arg)) && !expired)
        uv_run(uv_default_loop(), UV_RUN_ONCE);
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(uv_default_loop(), UV_RUN_NOWAIT);
    return pred && pred(arg);
}

HARNESS void run_for(unsigned ms)
{
    run_until(NULL, NULL, ms);
}

/* Let pending close callbacks run. */
HARNESS void drain_loop(void)
{
    for (int i = 0; i < 8; i++)
        uv_run(uv_default_loop(), UV_RUN_NOWAIT);
}

struct count_pred {
    int *counter;
    int want;
};

HARNESS bool pred_count(void *arg)
{
    struct count_pred *p = arg;
    return *p->counter >= p->want;
}

HARNESS bool wait_count(int *counter, int want, unsigned ms)
{
    struct count_pred p = {counter, want};
    return run_until(pred_count, &p, ms);
}

HARNESS bool pred_fd_readable(void *arg)
{
    struct pollfd p = {.fd = *(int *)arg, .events = POLLIN};
    return poll(&p, 1, 0) > 0;
}

HARNESS bool wait_readable(int fd, unsigned ms)
{
    return run_until(pred_fd_readable, &fd, ms);
}

struct len_pred {
    struct rec_conn *c;
    size_t want;
};

HARNESS bool pred_len(void *arg)
{
    struct len_pred *p = arg;
    return p->c->in_len >= p->want;
}

HARNESS bool wait_input(struct rec_conn *c, size_t want, unsigned ms)
{
    struct len_pred p = {c, want};
    return run_until(pred_len, &p, ms);
}

/* CPU time (user + system) of this process, in microseconds. */
HARNESS long long cpu_usec(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL + ru.ru_utime.tv_usec +
           ru.ru_stime.tv_usec;
}

/* Blocking read with a deadline; returns bytes read, 0 on EOF, -1 on timeout/error. */
HARNESS ssize_t read_timeout(int fd, char *buf, size_t len, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    if (poll(&p, 1, ms) <= 0)
        return -1;
    return read(fd, buf, len);
}

HARNESS int unix_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

HARNESS void write_all(int fd, const char *s, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, s, len);
        assert_true(n > 0);
        s += n;
        len -= (size_t)n;
    }
}

HARNESS char *make_tmpdir(void)
{
    char tmpl[] = "/tmp/qgad-transport-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    return xstrdup(tmpl);
}

/* ---- a listener channel on a socket in a fresh temp dir ---- */

struct listener_fixture {
    char *dir;
    char *path; /* the socket: dir/qga.sock */
    struct recorder rec;
    struct transport_channel *ch;
};

HARNESS int listener_setup(void **state)
{
    struct listener_fixture *f = xcalloc(1, sizeof(*f));
    f->dir = make_tmpdir();
    f->path = xasprintf("%s/qga.sock", f->dir);
    *state = f;
    return 0;
}

HARNESS int listener_teardown(void **state)
{
    struct listener_fixture *f = *state;
    transport_channel_close(f->ch);
    drain_loop();
    rec_free(&f->rec);
    unlink(f->path);
    rmdir(f->dir);
    free(f->path);
    free(f->dir);
    free(f);
    return 0;
}

#define LISTENER_TEST(test) cmocka_unit_test_setup_teardown(test, listener_setup, listener_teardown)

#endif
