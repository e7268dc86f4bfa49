/* The backend registry and the backends' contract: each row names its kind and that kind's
 * ops; backends return -errno (and a note) without logging; the kind logs once. */
#include "test_transport_harness.h"

#include <sys/stat.h>

#include "base/log.h"
#include "transport/internal.h"

static const char *const listeners[] = {"unix-listen", "vsock-listen", "tcp-listen"};
static const char *const devices[] = {"virtio-serial", "isa-serial"};

static char log_path[] = "/tmp/qgad-transport-log-XXXXXX";

/* What was logged since the last call. */
static char *log_take(void)
{
    FILE *f = fopen(log_path, "r");
    char *buf = xcalloc(1, 8192);

    assert_non_null(f);
    size_t n = fread(buf, 1, 8191, f);
    buf[n] = '\0';
    fclose(f);
    assert_int_equal(truncate(log_path, 0), 0);
    return buf;
}

static int setup_log(void **state)
{
    int fd = mkstemp(log_path);

    if (fd < 0)
        return -1;
    close(fd);
    return log_open(log_path, false);
}

static int teardown_log(void **state)
{
    log_close();
    unlink(log_path);
    return 0;
}

static void test_rows_name_kind_and_ops(void **state)
{
    for (size_t i = 0; i < sizeof(listeners) / sizeof(listeners[0]); i++) {
        const struct transport_backend *be = transport__backend_find(listeners[i]);
        assert_non_null(be);
        assert_string_equal(be->method, listeners[i]);
        assert_ptr_equal(be->kind, &transport__listener_kind);
        assert_non_null(be->ops.listener->listen_fd);
        assert_non_null(be->ops.listener->vet_peer);
    }
    for (size_t i = 0; i < sizeof(devices) / sizeof(devices[0]); i++) {
        const struct transport_backend *be = transport__backend_find(devices[i]);
        assert_non_null(be);
        assert_ptr_equal(be->kind, &transport__device_kind);
        assert_non_null(be->ops.device->open_dev);
        assert_non_null(be->default_path);
    }
    assert_true(transport__backend_find("virtio-serial")->ops.device->hup_is_transient);
    assert_false(transport__backend_find("isa-serial")->ops.device->hup_is_transient);
    assert_null(transport__backend_find("carrier-pigeon"));
    assert_null(transport__backend_find(NULL));
}

/* Calls a listener backend's listen_fd on path; returns what it returned. */
static int listen_with(const char *method, const char *path, const char **note)
{
    struct transport_channel ch = {.be = transport__backend_find(method), .path = (char *)path};
    int fd = ch.be->ops.listener->listen_fd(&ch, note);

    free(ch.backend_data);
    if (fd >= 0)
        close(fd);
    return fd;
}

static void test_listen_errors_not_logged(void **state)
{
    const char *note = NULL;
    char long_path[200];

    assert_int_equal(listen_with("tcp-listen", "127.0.0.1", &note), -EINVAL);
    assert_string_equal(note, "invalid address (expected HOST:PORT or [IPv6]:PORT)");
    note = NULL;
    assert_int_equal(listen_with("vsock-listen", "vsock:2:1", &note), -EINVAL);
    assert_string_equal(note, "invalid address (expected CID:PORT, decimal)");
    memset(long_path, 'x', sizeof(long_path) - 1);
    long_path[sizeof(long_path) - 1] = '\0';
    note = NULL;
    assert_int_equal(listen_with("unix-listen", long_path, &note), -ENAMETOOLONG);
    assert_string_equal(note, "socket path too long");
    note = NULL;
    assert_int_equal(listen_with("unix-listen", "/nonexistent-qgad/dir/s", &note), -ENOENT);
    assert_null(note); /* the errno says it all */
    char *log = log_take();
    assert_string_equal(log, "");
    free(log);
}

/* A directory where the socket should be: it cannot be unlinked, and that is the cause. */
static void test_unix_unremovable_file(void **state)
{
    char *dir = make_tmpdir();
    char *path = xasprintf("%s/sock", dir);
    const char *note = NULL;

    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(listen_with("unix-listen", path, &note), -EISDIR);
    rmdir(path);
    rmdir(dir);
    free(path);
    free(dir);
}

/* The listener kind logs a failed open once, with method, path and the backend's note. */
static void test_listener_logs_once(void **state)
{
    struct recorder rec;
    struct transport_events ev = rec_events(&rec);
    struct transport_channel *ch = NULL;
    struct transport_opts o = {.method = "tcp-listen", .path = "127.0.0.1", .activated_fd = -1};

    assert_int_equal(transport_channel_open(&o, &ev, &ch), -EINVAL);
    char *log = log_take();
    const char *want = "error: tcp-listen: cannot listen on 127.0.0.1: invalid address "
                       "(expected HOST:PORT or [IPv6]:PORT)\n";
    assert_non_null(strstr(log, want));
    assert_null(strstr(strstr(log, want) + strlen(want), "cannot listen")); /* once */
    free(log);
}

/* vsock's vet_peer on a peer that is no vsock: refused with a note, nothing logged. */
static void test_vsock_vet_peer_not_logged(void **state)
{
    const struct transport_backend *be = transport__backend_find("vsock-listen");
    struct transport_channel ch = {.be = be};
    char desc[64] = "";
    const char *note = NULL;
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(be->ops.listener->vet_peer(&ch, sv[0], desc, sizeof(desc), &note), -EPERM);
    assert_string_equal(note, "cannot identify the peer");
    assert_string_equal(desc, "");
    char *log = log_take();
    assert_string_equal(log, "");
    free(log);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_name_kind_and_ops),
        cmocka_unit_test(test_listen_errors_not_logged),
        cmocka_unit_test(test_unix_unremovable_file),
        cmocka_unit_test(test_listener_logs_once),
        cmocka_unit_test(test_vsock_vet_peer_not_logged),
    };
    return cmocka_run_group_tests(tests, setup_log, teardown_log);
}
