/* Listener transports (unix-listen, tcp-listen): several clients at once, echo through
 * transport_write, close events, the max-clients cap, the write-queue cap and half-closed
 * clients (replies after EOF, the deadline). */
#include "test_transport_harness.h"

#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <sys/stat.h>

#include "base/limits.h"
#include "transport/internal.h" /* half_close_ms */

static void open_unix(struct listener_fixture *f, unsigned max_clients, bool echo)
{
    struct transport_events ev = rec_events(&f->rec);
    struct transport_opts o = {
        .method = "unix-listen", .path = f->path, .max_clients = max_clients, .activated_fd = -1};

    f->rec.echo = echo;
    assert_int_equal(transport_channel_open(&o, &ev, &f->ch), 0);
    assert_non_null(f->ch);
}

/* Sends msg on fd and expects it echoed back. */
static void expect_echo(int fd, const char *msg)
{
    char buf[256];
    size_t len = strlen(msg), got = 0;

    write_all(fd, msg, len);
    while (got < len) {
        assert_true(wait_readable(fd, 2000));
        ssize_t n = read(fd, buf + got, sizeof(buf) - got);
        assert_true(n > 0);
        got += (size_t)n;
    }
    assert_memory_equal(buf, msg, len);
}

static void test_unix_several_clients(void **state)
{
    struct listener_fixture *f = *state;
    int fds[3];

    open_unix(f, 0, true);
    for (int i = 0; i < 3; i++)
        fds[i] = unix_connect(f->path);
    assert_true(wait_count(&f->rec.n_open, 3, 2000));

    /* Names follow "unix:<path>#<n>". */
    char *want = xasprintf("unix:%s#", f->path);
    assert_memory_equal(transport_conn_name(f->rec.conns[0]->conn), want, strlen(want));
    free(want);

    expect_echo(fds[0], "{\"execute\":\"guest-ping\"}");
    expect_echo(fds[1], "hello from one");
    expect_echo(fds[2], "and two");

    /* One client leaving closes only its own connection. */
    close(fds[1]);
    assert_true(wait_count(&f->rec.n_close, 1, 2000));
    int closed = -1;
    for (int i = 0; i < 3; i++) {
        if (f->rec.conns[i]->closed)
            closed = i;
    }
    assert_int_not_equal(closed, -1);
    assert_string_equal(f->rec.conns[closed]->in, "hello from one");
    expect_echo(fds[0], "still here");
    expect_echo(fds[2], "me too");

    /* Closing the channel fires the remaining close events and removes the socket. */
    transport_channel_close(f->ch);
    f->ch = NULL;
    assert_int_equal(f->rec.n_close, 3);
    struct stat st;
    assert_int_equal(stat(f->path, &st), -1);
    drain_loop();
    char c;
    assert_int_equal(read_timeout(fds[0], &c, 1, 2000), 0); /* EOF */
    close(fds[0]);
    close(fds[2]);
}

static void test_unix_stale_file_replaced(void **state)
{
    struct listener_fixture *f = *state;
    int fd = open(f->path, O_CREAT | O_WRONLY, 0600);

    assert_true(fd >= 0);
    close(fd);
    open_unix(f, 0, true);
    int c = unix_connect(f->path);
    assert_true(wait_count(&f->rec.n_open, 1, 2000));
    expect_echo(c, "x");
    close(c);
}

static void test_unix_max_clients(void **state)
{
    struct listener_fixture *f = *state;
    int fds[QGAD_DEFAULT_MAX_CLIENTS + 1];
    char c;

    open_unix(f, 0, true);
    for (int i = 0; i < QGAD_DEFAULT_MAX_CLIENTS; i++)
        fds[i] = unix_connect(f->path);
    assert_true(wait_count(&f->rec.n_open, QGAD_DEFAULT_MAX_CLIENTS, 2000));
    for (int i = 0; i < QGAD_DEFAULT_MAX_CLIENTS; i++)
        transport_set_busy(f->rec.conns[i]->conn, true); /* nobody to evict */

    /* The 17th is accepted and closed at once, not left waiting in the backlog. */
    int extra = unix_connect(f->path);
    assert_true(wait_readable(extra, 2000));
    assert_int_equal(read(extra, &c, 1), 0);
    close(extra);
    assert_int_equal(f->rec.n_open, QGAD_DEFAULT_MAX_CLIENTS);
    assert_int_equal(f->rec.n_close, 0);

    for (int i = 0; i < QGAD_DEFAULT_MAX_CLIENTS; i++)
        expect_echo(fds[i], "ok");

    /* A slot freed is a slot usable again. */
    close(fds[0]);
    assert_true(wait_count(&f->rec.n_close, 1, 2000));
    fds[0] = unix_connect(f->path);
    assert_true(wait_count(&f->rec.n_open, QGAD_DEFAULT_MAX_CLIENTS + 1, 2000));
    expect_echo(fds[0], "back");
    for (int i = 0; i < QGAD_DEFAULT_MAX_CLIENTS; i++)
        close(fds[i]);
}

static void test_unix_custom_max_clients(void **state)
{
    struct listener_fixture *f = *state;
    char c;

    open_unix(f, 2, false);
    int a = unix_connect(f->path), b = unix_connect(f->path);
    assert_true(wait_count(&f->rec.n_open, 2, 2000));
    transport_set_busy(f->rec.conns[0]->conn, true);
    transport_set_busy(f->rec.conns[1]->conn, true);
    int x = unix_connect(f->path);
    assert_true(wait_readable(x, 2000));
    assert_int_equal(read(x, &c, 1), 0);
    assert_int_equal(f->rec.n_open, 2);
    close(a);
    close(b);
    close(x);
}

/* A host that stops reading: the queue grows to the cap, then the connection is dropped. */
static void test_write_queue_cap(void **state)
{
    struct listener_fixture *f = *state;
    const size_t chunk = 8u << 20;
    size_t handed = 0;

    open_unix(f, 0, false);
    int c = unix_connect(f->path);
    assert_true(wait_count(&f->rec.n_open, 1, 2000));
    struct transport_conn *conn = f->rec.conns[0]->conn;

    while (f->rec.n_close == 0 && handed <= 2 * (size_t)QGAD_MAX_WRITE_QUEUE_BYTES) {
        /* calloc'd: pages stay untouched beyond what the socket takes */
        transport_write(conn, xcalloc(1, chunk), chunk);
        handed += chunk;
        if (handed > QGAD_MAX_WRITE_QUEUE_BYTES + chunk)
            break;
        uv_run(uv_default_loop(), UV_RUN_NOWAIT);
    }
    assert_true(wait_count(&f->rec.n_close, 1, 2000));
    /* Dropped only past the cap (bytes plus a fixed cost per queued buffer), and no later
     * than one chunk beyond it. */
    size_t charged = handed + (handed / chunk) * QGAD_WRITE_BUFFER_OVERHEAD;
    assert_true(charged > QGAD_MAX_WRITE_QUEUE_BYTES);
    assert_true(handed <= QGAD_MAX_WRITE_QUEUE_BYTES + chunk);

    /* The client sees the stream end once it drains what was sent. */
    char buf[65536];
    ssize_t n;
    while ((n = read_timeout(c, buf, sizeof(buf), 2000)) > 0)
        ;
    assert_int_equal(n, 0);
    close(c);
}

static int free_tcp_port(int family)
{
    struct sockaddr_storage ss = {.ss_family = (sa_family_t)family};
    socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    int fd = socket(family, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    if (family == AF_INET)
        ((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else
        ((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                   : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

static int tcp_connect(int family, int port)
{
    struct sockaddr_storage ss = {.ss_family = (sa_family_t)family};
    socklen_t len;
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        in->sin_port = htons((uint16_t)port);
        len = sizeof(*in);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_addr = in6addr_loopback;
        in6->sin6_port = htons((uint16_t)port);
        len = sizeof(*in6);
    }
    assert_int_equal(connect(fd, (struct sockaddr *)&ss, len), 0);
    return fd;
}

static void tcp_echo_roundtrip(struct listener_fixture *f, int family)
{
    int port = free_tcp_port(family);
    assert_true(port > 0);
    char *addr = family == AF_INET ? xasprintf("127.0.0.1:%d", port) : xasprintf("[::1]:%d", port);
    struct transport_events ev = rec_events(&f->rec);
    struct transport_opts o = {.method = "tcp-listen", .path = addr, .activated_fd = -1};

    f->rec.echo = true;
    assert_int_equal(transport_channel_open(&o, &ev, &f->ch), 0);
    int a = tcp_connect(family, port), b = tcp_connect(family, port);
    assert_true(wait_count(&f->rec.n_open, 2, 2000));
    expect_echo(a, "{\"execute\":\"guest-info\"}");
    expect_echo(b, "second client");
    char *want = xasprintf("tcp:%s#", addr);
    assert_memory_equal(transport_conn_name(f->rec.conns[0]->conn), want, strlen(want));
    free(want);
    close(a);
    assert_true(wait_count(&f->rec.n_close, 1, 2000));
    expect_echo(b, "still served");
    close(b);
    free(addr);
}

static void test_tcp_ipv4(void **state)
{
    tcp_echo_roundtrip(*state, AF_INET);
}

/* A read error (connection reset) ends that client only; upstream would exit. */
static void test_tcp_reset_closes_one(void **state)
{
    struct listener_fixture *f = *state;
    int port = free_tcp_port(AF_INET);
    char *addr = xasprintf("127.0.0.1:%d", port);
    struct transport_events ev = rec_events(&f->rec);
    struct transport_opts o = {.method = "tcp-listen", .path = addr, .activated_fd = -1};
    struct linger lg = {.l_onoff = 1, .l_linger = 0};

    f->rec.echo = true;
    assert_int_equal(transport_channel_open(&o, &ev, &f->ch), 0);
    int a = tcp_connect(AF_INET, port);
    assert_true(wait_count(&f->rec.n_open, 1, 2000));
    int b = tcp_connect(AF_INET, port);
    assert_true(wait_count(&f->rec.n_open, 2, 2000));
    /* Echoed data left unread plus SO_LINGER 0: close() sends a RST. */
    write_all(a, "unread", 6);
    assert_true(wait_input(f->rec.conns[0], 6, 2000));
    assert_int_equal(setsockopt(a, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    close(a);
    assert_true(wait_count(&f->rec.n_close, 1, 2000));
    assert_true(f->rec.conns[0]->closed);
    expect_echo(b, "unaffected");
    assert_int_equal(f->rec.n_close, 1);
    close(b);
    free(addr);
}

static void test_tcp_ipv6(void **state)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = in6addr_loopback};
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;

    if (fd >= 0)
        close(fd);
    if (!ok) {
        print_message("IPv6 loopback unavailable here: skipping\n");
        skip();
    }
    tcp_echo_roundtrip(*state, AF_INET6);
}

/* Reads fd to EOF (within ms per read) into buf; returns the length, or -1. */
static ssize_t read_to_eof(int fd, char *buf, size_t len, int ms)
{
    size_t got = 0;
    ssize_t n;

    while (got < len && (n = read_timeout(fd, buf + got, len - got, ms)) > 0)
        got += (size_t)n;
    return got < len && n == 0 ? (ssize_t)got : -1;
}

/* The client sends, then shuts down its sending side: eof() fires, the connection stays
 * open for the replies, and transport_close ends it after they are written. */
static void half_close_roundtrip(struct listener_fixture *f, int fd)
{
    char buf[64];

    f->rec.hold_on_eof = true;
    assert_true(wait_count(&f->rec.n_open, 1, 2000));
    write_all(fd, "request", 7);
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    assert_true(wait_count(&f->rec.n_eof, 1, 2000));
    struct rec_conn *rc = f->rec.conns[0];
    assert_int_equal(rc->in_len, 7);
    run_for(50);
    assert_int_equal(f->rec.n_close, 0); /* not ended at EOF */
    transport_write(rc->conn, xstrdup("reply 1;"), 8);
    transport_write(rc->conn, xstrdup("reply 2"), 7);
    transport_close(rc->conn);
    assert_true(wait_count(&f->rec.n_close, 1, 2000));
    drain_loop();
    assert_int_equal(read_to_eof(fd, buf, sizeof(buf), 2000), 15);
    assert_memory_equal(buf, "reply 1;reply 2", 15);
    close(fd);
}

static void test_unix_half_close(void **state)
{
    struct listener_fixture *f = *state;

    open_unix(f, 0, false);
    half_close_roundtrip(f, unix_connect(f->path));
}

static void test_tcp_half_close(void **state)
{
    struct listener_fixture *f = *state;
    int port = free_tcp_port(AF_INET);
    char *addr = xasprintf("127.0.0.1:%d", port);
    struct transport_events ev = rec_events(&f->rec);
    struct transport_opts o = {.method = "tcp-listen", .path = addr, .activated_fd = -1};

    assert_int_equal(transport_channel_open(&o, &ev, &f->ch), 0);
    half_close_roundtrip(f, tcp_connect(AF_INET, port));
    free(addr);
}

/* Nobody closes a half-closed connection: the deadline does. Until then it holds its
 * max-clients slot. */
static void test_half_close_deadline(void **state)
{
    struct listener_fixture *f = *state;
    char c;

    open_unix(f, 1, false);
    f->rec.hold_on_eof = true;
    f->ch->half_close_ms = 300;
    int a = unix_connect(f->path);
    assert_true(wait_count(&f->rec.n_open, 1, 2000));
    assert_int_equal(shutdown(a, SHUT_WR), 0);
    assert_true(wait_count(&f->rec.n_eof, 1, 2000));
    transport_set_busy(f->rec.conns[0]->conn, true); /* its replies are still due */
    int b = unix_connect(f->path);                   /* over max-clients: closed at once */
    run_for(50);
    assert_int_equal(read_timeout(b, &c, 1, 2000), 0);
    assert_int_equal(f->rec.n_open, 1);
    close(b);
    assert_int_equal(f->rec.n_close, 0);
    assert_true(wait_count(&f->rec.n_close, 1, 2000));
    drain_loop();
    assert_int_equal(read_timeout(a, &c, 1, 2000), 0);
    close(a);
}

/* The channel closes (agent stop) while a half-closed peer that never reads has a big
 * write and the shutdown behind it pending: everything goes at once (ASan: no leak or
 * use after free from the cancelled shutdown). */
static void test_half_close_channel_close(void **state)
{
    struct listener_fixture *f = *state;
    const size_t big = 8u << 20;

    open_unix(f, 0, false);
    f->rec.hold_on_eof = true;
    int a = unix_connect(f->path);
    assert_true(wait_count(&f->rec.n_open, 1, 2000));
    assert_int_equal(shutdown(a, SHUT_WR), 0);
    assert_true(wait_count(&f->rec.n_eof, 1, 2000));
    struct transport_conn *conn = f->rec.conns[0]->conn;
    transport_write(conn, xcalloc(1, big), big);
    transport_write(conn, xstrdup("tail"), 4);
    transport_close(conn);
    run_for(50);
    assert_int_equal(f->rec.n_close, 0); /* still writing */
    transport_channel_close(f->ch);
    f->ch = NULL;
    assert_int_equal(f->rec.n_close, 1);
    drain_loop();
    close(a);
}

static void test_open_errors(void **state)
{
    struct listener_fixture *f = *state;
    struct transport_events ev = rec_events(&f->rec);
    struct transport_channel *ch = (void *)1;
    struct transport_opts o = {.method = "tcp-listen", .path = "127.0.0.1", .activated_fd = -1};

    assert_int_equal(transport_channel_open(&o, &ev, &ch), -EINVAL);
    assert_null(ch);
    o.path = "::1:5000"; /* IPv6 needs brackets */
    assert_int_equal(transport_channel_open(&o, &ev, &ch), -EINVAL);
    o.method = "unix-listen";
    o.path = NULL; /* no default path */
    assert_int_equal(transport_channel_open(&o, &ev, &ch), -EINVAL);
    o.method = "carrier-pigeon";
    o.path = "/x";
    assert_int_equal(transport_channel_open(&o, &ev, &ch), -EINVAL);
    o.method = "vsock-listen";
    o.path = "vsock:2:1234"; /* upstream takes no prefix */
    assert_int_equal(transport_channel_open(&o, &ev, &ch), -EINVAL);

    /* An unusable path is an error without -r ... */
    o.method = "unix-listen";
    char *missing = xasprintf("%s/no/such/dir/s", f->dir);
    o.path = missing;
    assert_int_equal(transport_channel_open(&o, &ev, &ch), -ENOENT);
    assert_null(ch);
    /* ... and a channel that keeps retrying with it. */
    o.retry_path = true;
    assert_int_equal(transport_channel_open(&o, &ev, &ch), 0);
    assert_non_null(ch);
    transport_channel_close(ch);
    drain_loop();
    free(missing);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        LISTENER_TEST(test_unix_several_clients),
        LISTENER_TEST(test_unix_stale_file_replaced),
        LISTENER_TEST(test_unix_max_clients),
        LISTENER_TEST(test_unix_custom_max_clients),
        LISTENER_TEST(test_write_queue_cap),
        LISTENER_TEST(test_tcp_ipv4),
        LISTENER_TEST(test_tcp_ipv6),
        LISTENER_TEST(test_tcp_reset_closes_one),
        LISTENER_TEST(test_unix_half_close),
        LISTENER_TEST(test_tcp_half_close),
        LISTENER_TEST(test_half_close_deadline),
        LISTENER_TEST(test_half_close_channel_close),
        LISTENER_TEST(test_open_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
