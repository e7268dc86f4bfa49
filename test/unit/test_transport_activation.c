/* systemd socket activation: LISTEN_PID/LISTEN_FDS parsing, the method taken from the
 * socket family, and a listener that serves the handed-over socket without binding. */
#include "test_transport_harness.h"

#include <netinet/in.h>
#include <sys/stat.h>
#include <linux/vm_sockets.h>

#define FD3 3

static void set_env(const char *pid, const char *fds)
{
    char own[32];

    if (pid && strcmp(pid, "self") == 0) {
        snprintf(own, sizeof(own), "%ld", (long)getpid());
        pid = own;
    }
    if (pid)
        setenv("LISTEN_PID", pid, 1);
    else
        unsetenv("LISTEN_PID");
    if (fds)
        setenv("LISTEN_FDS", fds, 1);
    else
        unsetenv("LISTEN_FDS");
    setenv("LISTEN_FDNAMES", "qga", 1);
}

/* Puts a socket of the given family on fd 3 (closing whatever was there). */
static void socket_on_fd3(int family)
{
    int fd = socket(family, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (fd != FD3) {
        assert_int_equal(dup2(fd, FD3), FD3);
        close(fd);
    }
}

static int setup(void **state)
{
    socket_on_fd3(AF_UNIX);
    return 0;
}

static int teardown(void **state)
{
    close(FD3);
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return 0;
}

static void test_not_activated(void **state)
{
    const char *method = NULL;

    set_env(NULL, NULL);
    assert_int_equal(transport_activation_fd(&method), -1);
    set_env("self", NULL);
    assert_int_equal(transport_activation_fd(&method), -1);
    set_env(NULL, "1");
    assert_int_equal(transport_activation_fd(&method), -1);
    /* Meant for another process (e.g. our parent): left alone. */
    set_env("1", "1");
    assert_int_equal(transport_activation_fd(&method), -1);
    assert_string_equal(getenv("LISTEN_FDS"), "1");
    assert_null(method);
}

static void test_unix_socket(void **state)
{
    const char *method = NULL;

    fcntl(FD3, F_SETFD, 0);
    set_env("self", "1");
    assert_int_equal(transport_activation_fd(&method), FD3);
    assert_string_equal(method, "unix-listen");
    assert_null(getenv("LISTEN_PID"));
    assert_null(getenv("LISTEN_FDS"));
    assert_null(getenv("LISTEN_FDNAMES"));
    assert_true(fcntl(FD3, F_GETFD) & FD_CLOEXEC);
}

static void test_fatal_cases(void **state)
{
    const char *method = NULL;

    set_env("self", "2");
    assert_int_equal(transport_activation_fd(&method), -EINVAL);
    set_env("self", "0");
    assert_int_equal(transport_activation_fd(&method), -EINVAL);
    set_env("self", "x");
    assert_int_equal(transport_activation_fd(&method), -EINVAL);

    socket_on_fd3(AF_INET);
    set_env("self", "1");
    assert_int_equal(transport_activation_fd(&method), -EAFNOSUPPORT);

    close(FD3);
    assert_int_equal(open("/dev/null", O_RDONLY), FD3);
    set_env("self", "1");
    assert_int_equal(transport_activation_fd(&method), -ENOTSOCK);
    assert_null(method);
}

static void test_vsock_socket(void **state)
{
    const char *method = NULL;
    int fd = socket(AF_VSOCK, SOCK_STREAM, 0);

    if (fd < 0) {
        print_message("AF_VSOCK unavailable (%s): skipping\n", strerror(errno));
        skip();
    }
    close(fd);
    socket_on_fd3(AF_VSOCK);
    set_env("self", "1");
    assert_int_equal(transport_activation_fd(&method), FD3);
    assert_string_equal(method, "vsock-listen");
}

/* The handed-over socket is served as it is: no bind, and no unlink on close. */
static void test_listener_uses_activated_fd(void **state)
{
    char *dir = make_tmpdir();
    char *path = xasprintf("%s/activated.sock", dir);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct recorder rec;
    struct transport_events ev = rec_events(&rec);
    struct transport_channel *ch = NULL;
    const char *method = NULL;

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(bind(FD3, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(FD3, 4), 0);
    set_env("self", "1");
    int fd = transport_activation_fd(&method);
    assert_int_equal(fd, FD3);

    struct transport_opts o = {.method = method, .activated_fd = fd};
    rec.echo = true;
    assert_int_equal(transport_channel_open(&o, &ev, &ch), 0);
    int c = unix_connect(path);
    assert_true(wait_count(&rec.n_open, 1, 2000));
    assert_string_equal(transport_conn_name(rec.conns[0]->conn), "unix:activated#1");
    write_all(c, "ping", 4);
    assert_true(wait_readable(c, 2000));
    char buf[8];
    assert_int_equal(read(c, buf, sizeof(buf)), 4);
    assert_memory_equal(buf, "ping", 4);

    transport_channel_close(ch);
    drain_loop();
    assert_int_equal(rec.n_close, 1);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);               /* systemd owns the socket file */
    assert_int_equal(fcntl(FD3, F_GETFD), -1);          /* the fd went with the channel */
    assert_int_equal(open("/dev/null", O_RDONLY), FD3); /* teardown closes fd 3 */
    close(c);
    rec_free(&rec);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_not_activated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unix_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fatal_cases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vsock_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listener_uses_activated_fd, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
