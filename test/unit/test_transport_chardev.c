/* Device transports over a pty pair (the slave stands in for the device): reading,
 * writing, raw termios for isa-serial, hangups that must not spin, the SIGIO wait for a
 * transient hangup (virtio-like), and -r retries for a missing device. */
#include "test_transport_harness.h"

#include <pty.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>

#include "base/limits.h"
#include "transport/internal.h"

/* CPU allowed over a second of hangup: a spinning or sleep-polling loop burns far more. */
#define HUP_CPU_BUDGET_USEC 50000

struct fixture {
    int master, slave;
    char slave_path[64];
    struct recorder rec;
    struct transport_channel *ch;
};

static void make_raw(int fd)
{
    struct termios t;
    assert_int_equal(tcgetattr(fd, &t), 0);
    cfmakeraw(&t);
    assert_int_equal(tcsetattr(fd, TCSANOW, &t), 0);
}

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));

    assert_int_equal(openpty(&f->master, &f->slave, f->slave_path, NULL, NULL), 0);
    fcntl(f->master, F_SETFD, FD_CLOEXEC);
    fcntl(f->slave, F_SETFD, FD_CLOEXEC);
    make_raw(f->slave); /* virtio-serial sets no termios: keep echo and line editing off */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    transport_channel_close(f->ch);
    drain_loop();
    rec_free(&f->rec);
    if (f->master >= 0)
        close(f->master);
    if (f->slave >= 0)
        close(f->slave);
    free(f);
    return 0;
}

static void open_dev(struct fixture *f, const char *method, const char *path, bool retry)
{
    struct transport_events ev = rec_events(&f->rec);
    struct transport_opts o = {
        .method = method, .path = path, .retry_path = retry, .activated_fd = -1};
    assert_int_equal(transport_channel_open(&o, &ev, &f->ch), 0);
}

static void expect_master_reads(int master, const char *want)
{
    char buf[256];
    size_t len = strlen(want), got = 0;

    while (got < len) {
        assert_true(wait_readable(master, 2000));
        ssize_t n = read(master, buf + got, sizeof(buf) - got);
        assert_true(n > 0);
        got += (size_t)n;
    }
    assert_memory_equal(buf, want, len);
}

static void test_read_write(void **state)
{
    struct fixture *f = *state;

    open_dev(f, "virtio-serial", f->slave_path, false);
    /* The host is there: a connection starts at once. */
    assert_int_equal(f->rec.n_open, 1);
    assert_string_equal(transport_conn_name(f->rec.conns[0]->conn), "virtio-serial#1");

    const char *req = "{\"execute\":\"guest-sync\",\"arguments\":{\"id\":1}}";
    write_all(f->master, req, strlen(req));
    assert_true(wait_input(f->rec.conns[0], strlen(req), 2000));
    assert_memory_equal(f->rec.conns[0]->in, req, strlen(req));

    transport_write(f->rec.conns[0]->conn, xstrdup("{\"return\": 1}\n"), 14);
    transport_write(f->rec.conns[0]->conn, xstrdup("second\n"), 7);
    expect_master_reads(f->master, "{\"return\": 1}\nsecond\n");
    assert_int_equal(f->rec.n_close, 0);
}

/* A host that stops reading the port: past the cap the session is dropped, the device
 * stays open and the host's next bytes start a fresh session. */
static void test_write_queue_cap(void **state)
{
    struct fixture *f = *state;
    const size_t chunk = 8u << 20;
    size_t handed = 0;

    open_dev(f, "virtio-serial", f->slave_path, false);
    struct transport_conn *conn = f->rec.conns[0]->conn;
    while (f->rec.n_close == 0 && handed <= QGAD_MAX_WRITE_QUEUE_BYTES) {
        transport_write(conn, xcalloc(1, chunk), chunk);
        handed += chunk;
        uv_run(uv_default_loop(), UV_RUN_NOWAIT);
    }
    assert_true(wait_count(&f->rec.n_close, 1, 2000));
    assert_true(handed > QGAD_MAX_WRITE_QUEUE_BYTES);
    assert_int_equal(f->rec.n_open, 1);

    char junk[4096];
    while (read_timeout(f->master, junk, sizeof(junk), 0) > 0)
        ;
    write_all(f->master, "next", 4);
    assert_true(wait_count(&f->rec.n_open, 2, 2000));
    assert_true(wait_input(f->rec.conns[1], 4, 2000));
    assert_memory_equal(f->rec.conns[1]->in, "next", 4);
}

/* The host side goes away for good: the connection ends and the loop stays idle. */
static void hangup_does_not_spin(struct fixture *f, const char *method)
{
    open_dev(f, method, f->slave_path, false);
    assert_int_equal(f->rec.n_open, 1);
    write_all(f->master, "{\"exec", 6); /* partial input, dropped with the session */
    assert_true(wait_input(f->rec.conns[0], 6, 2000));
    close(f->slave); /* only the transport holds the slave now */
    f->slave = -1;
    close(f->master);
    f->master = -1;

    assert_true(wait_count(&f->rec.n_close, 1, 2000));
    long long before = cpu_usec();
    run_for(1000);
    long long used = cpu_usec() - before;
    print_message("%s: CPU over 1 s of hangup: %lld us\n", method, used);
    assert_true(used < HUP_CPU_BUDGET_USEC);
    assert_int_equal(f->rec.n_open, 1);
    assert_int_equal(f->rec.n_close, 1);
}

static void test_virtio_hangup_no_spin(void **state)
{
    hangup_does_not_spin(*state, "virtio-serial");
}

static void test_isa_hangup_no_spin(void **state)
{
    hangup_does_not_spin(*state, "isa-serial");
}

static void test_isa_termios(void **state)
{
    struct fixture *f = *state;
    struct termios t;

    /* Start from a cooked tty with pending input: both must be gone after open. */
    assert_int_equal(tcgetattr(f->slave, &t), 0);
    t.c_iflag |= ICRNL | IXON | ISTRIP;
    t.c_oflag |= OPOST | ONLCR;
    t.c_lflag |= ICANON | ECHO | ISIG;
    cfsetispeed(&t, B9600);
    cfsetospeed(&t, B9600);
    assert_int_equal(tcsetattr(f->slave, TCSANOW, &t), 0);
    write_all(f->master, "stale\n", 6);
    run_for(50);
    char echoed[64]; /* the cooked tty echoes: drain it, it is not what we test */
    while (read_timeout(f->master, echoed, sizeof(echoed), 0) > 0)
        ;

    open_dev(f, "isa-serial", f->slave_path, false);
    assert_int_equal(tcgetattr(f->slave, &t), 0);
    assert_int_equal(t.c_iflag & (ICRNL | IXON | ISTRIP | INLCR | IGNCR | IXOFF | BRKINT), 0);
    assert_int_equal(t.c_oflag, 0);
    assert_int_equal(t.c_lflag, 0);
    assert_int_equal(t.c_cflag & CBAUD, B38400);
    assert_int_equal(t.c_cc[VMIN], 1);
    assert_int_equal(t.c_cc[VTIME], 0);

    run_for(100);
    assert_int_equal(f->rec.conns[0]->in_len, 0); /* the stale line was flushed */
    write_all(f->master, "a\rb", 3);              /* raw: no CR translation */
    assert_true(wait_input(f->rec.conns[0], 3, 2000));
    assert_memory_equal(f->rec.conns[0]->in, "a\rb", 3);
    transport_write(f->rec.conns[0]->conn, xstrdup("x\n"), 2);
    expect_master_reads(f->master, "x\n"); /* raw: no NL -> CRNL */
}

static void test_missing_device(void **state)
{
    struct fixture *f = *state;
    struct transport_events ev = rec_events(&f->rec);
    struct transport_channel *ch = NULL;
    char link[] = "/tmp/qgad-transport-dev-XXXXXX";
    int fd = mkstemp(link);

    assert_true(fd >= 0);
    close(fd);
    unlink(link);

    /* Without -r, a missing device is the caller's error. */
    struct transport_opts o = {.method = "virtio-serial", .path = link, .activated_fd = -1};
    assert_int_equal(transport_channel_open(&o, &ev, &ch), -ENOENT);
    assert_null(ch);

    /* With -r the channel waits and opens the device once it appears. */
    open_dev(f, "virtio-serial", link, true);
    assert_int_equal(f->rec.n_open, 0);
    assert_int_equal(symlink(f->slave_path, link), 0);
    assert_true(wait_count(&f->rec.n_open, 1, QGAD_RETRY_PATH_MS + 2000));
    write_all(f->master, "hi", 2);
    assert_true(wait_input(f->rec.conns[0], 2, 2000));
    unlink(link);
}

/* A transient hangup, as a virtio port shows while the host has its side closed: a pty
 * master polls HUP while no slave is open, and SIGIO announces the slave's first bytes.
 * The session survives (the device carries one session, as upstream's): a request read
 * just before the HUP is still answered once the other side is back. */
static int master_fd_for_test = -1;

static int test_open_master(struct transport_channel *ch)
{
    int fd = dup(master_fd_for_test);
    return fd < 0 ? -errno : fd;
}

static const struct transport_device_ops test_transient_ops = {
    .open_dev = test_open_master,
    .hup_is_transient = true,
};

static const struct transport_backend test_transient_backend = {
    .method = "test-transient",
    .kind = &transport__device_kind,
    .ops.device = &test_transient_ops,
};

/* A channel of the transient test backend over the fixture's pty master. */
static struct transport_channel *start_transient(struct fixture *f)
{
    struct transport_events ev = rec_events(&f->rec);
    struct transport_channel *ch = xcalloc(1, sizeof(*ch));

    master_fd_for_test = f->master;
    ch->be = &test_transient_backend;
    ch->ev = ev;
    ch->path = xasprintf("/proc/self/fd/%d", f->master);
    ch->max_clients = 1;
    ch->activated_fd = -1;
    f->ch = ch;
    assert_int_equal(ch->be->kind->start(ch), 0);
    return ch;
}

static void test_transient_hangup_sigio(void **state)
{
    struct fixture *f = *state;

    start_transient(f);
    assert_int_equal(f->rec.n_open, 1);

    write_all(f->slave, "one", 3);
    assert_true(wait_input(f->rec.conns[0], 3, 2000));

    /* The other side closes: HUP; the loop idles, the session stays. */
    close(f->slave);
    f->slave = -1;
    long long before = cpu_usec();
    run_for(1000);
    long long used = cpu_usec() - before;
    print_message("transient hangup: CPU over 1 s: %lld us\n", used);
    assert_true(used < HUP_CPU_BUDGET_USEC);
    assert_int_equal(f->rec.n_open, 1);
    assert_int_equal(f->rec.n_close, 0);
    /* A reply produced meanwhile waits for the other side. */
    transport_write(f->rec.conns[0]->conn, xstrdup("back"), 4);
    run_for(50);

    /* It comes back: its bytes reach the same session, the queued reply goes out. */
    f->slave = open(f->slave_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(f->slave >= 0);
    write_all(f->slave, "two", 3);
    assert_true(wait_input(f->rec.conns[0], 6, 2000));
    assert_memory_equal(f->rec.conns[0]->in, "onetwo", 6);
    assert_true(wait_readable(f->slave, 2000));
    char buf[8];
    assert_int_equal(read(f->slave, buf, sizeof(buf)), 4);
    assert_memory_equal(buf, "back", 4);
    assert_int_equal(f->rec.n_open, 1);
    assert_int_equal(f->rec.n_close, 0);
}

static bool pred_first_input(void *arg)
{
    struct recorder *r = arg;
    return r->n_open >= 1 && r->conns[0]->in_len >= 3;
}

/* -d forks after the channel is opened. A device that was already hung up then (virtio:
 * the host side closed at boot) had SIGIO armed for the parent, which exits: the daemon
 * must still hear the host come back. */
static void test_transient_hangup_survives_fork(void **state)
{
    struct fixture *f = *state;

    close(f->slave); /* the other side is closed from the start */
    f->slave = -1;
    struct transport_channel *ch = start_transient(f);
    assert_int_equal(f->rec.n_open, 0);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* the daemon; the parent stands in for the one that exits */
        int ok = uv_loop_fork(uv_default_loop()) == 0;
        transport_channel_after_fork(ch);
        int slave = open(f->slave_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
        ok = ok && slave >= 0 && write(slave, "two", 3) == 3;
        ok = ok && run_until(pred_first_input, &f->rec, 2000);
        ok = ok && memcmp(f->rec.conns[0]->in, "two", 3) == 0;
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_queue_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_virtio_hangup_no_spin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_isa_hangup_no_spin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_isa_termios, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transient_hangup_sigio, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transient_hangup_survives_fork, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_device, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
