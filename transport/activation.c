/* systemd socket activation, as upstream: exactly one socket (fd 3), handed over only if
 * LISTEN_PID names this process; the method follows from the socket's family. */
#include "transport/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"

#define ACTIVATION_FD 3

static int parse_ulong(const char *s, unsigned long *out)
{
    char *end;

    if (!s || !*s || strspn(s, "0123456789") != strlen(s))
        return -EINVAL;
    errno = 0;
    *out = strtoul(s, &end, 10);
    return errno ? -errno : 0;
}

int transport_activation_fd(const char **method)
{
    const char *pid_s = getenv("LISTEN_PID");
    const char *fds_s = getenv("LISTEN_FDS");
    unsigned long pid, nfds;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (!pid_s || !fds_s)
        return -1;
    if (parse_ulong(pid_s, &pid) < 0 || pid != (unsigned long)getpid())
        return -1;
    if (parse_ulong(fds_s, &nfds) < 0 || nfds != 1) {
        log_critical("Unexpected number of file descriptors passed by systemd: %s"
                     " (expected 1)",
                     fds_s);
        return -EINVAL;
    }
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDNAMES");
    if (fcntl(ACTIVATION_FD, F_SETFD, FD_CLOEXEC) < 0 ||
        getsockname(ACTIVATION_FD, (struct sockaddr *)&ss, &len) < 0) {
        int err = errno;
        log_critical("socket activation: fd %d is not a usable socket: %s", ACTIVATION_FD,
                     strerror(err));
        return -err;
    }
    if (ss.ss_family == AF_UNIX) {
        *method = "unix-listen";
    } else if (ss.ss_family == AF_VSOCK) {
        *method = "vsock-listen";
    } else {
        log_critical("socket activation: unsupported socket family %d", (int)ss.ss_family);
        return -EAFNOSUPPORT;
    }
    return ACTIVATION_FD;
}
