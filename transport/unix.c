/* unix-listen: a stream socket at -p PATH. As upstream, a stale file at PATH is unlinked
 * before bind(); unlike upstream, the socket file is removed again on close (only if it is
 * still the one we created, so a newer instance's socket is left alone). */
#include "transport/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/log.h"
#include "base/xalloc.h"

struct unix_identity {
    dev_t dev;
    ino_t ino;
};

static int unix_listen_fd(struct transport_channel *ch)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;

    if (strlen(ch->path) >= sizeof(sa.sun_path)) {
        transport__open_error(ch, "unix-listen: socket path too long: %s", ch->path);
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, ch->path, strlen(ch->path) + 1);

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int err = errno;
        transport__open_error(ch, "unix-listen: socket: %s", strerror(err));
        return -err;
    }
    if (unlink(ch->path) < 0 && errno != ENOENT)
        log_debug("unix-listen: cannot remove %s: %s", ch->path, strerror(errno));
    int rc = transport__sock_listen(fd, (struct sockaddr *)&sa, sizeof(sa));
    if (rc < 0) {
        transport__open_error(ch, "unix-listen: cannot listen on %s: %s", ch->path, strerror(-rc));
        close(fd);
        return rc;
    }
    if (stat(ch->path, &st) == 0) {
        struct unix_identity *id = xmalloc(sizeof(*id));
        id->dev = st.st_dev;
        id->ino = st.st_ino;
        free(ch->backend_data);
        ch->backend_data = id;
    }
    return fd;
}

static int unix_vet_peer(struct transport_channel *ch, int fd, char *desc, size_t desc_len)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
        snprintf(desc, desc_len, "pid %ld uid %ld", (long)cred.pid, (long)cred.uid);
    return 0;
}

static void unix_cleanup(struct transport_channel *ch)
{
    struct unix_identity *id = ch->backend_data;
    struct stat st;

    if (!id || !ch->path)
        return;
    if (stat(ch->path, &st) == 0 && st.st_dev == id->dev && st.st_ino == id->ino &&
        S_ISSOCK(st.st_mode))
        unlink(ch->path);
}

const struct transport_backend transport__unix = {
    .method = "unix-listen",
    .listen_fd = unix_listen_fd,
    .vet_peer = unix_vet_peer,
    .cleanup = unix_cleanup,
};
