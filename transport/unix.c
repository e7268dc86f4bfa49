/* unix-listen: a stream socket at -p PATH. As upstream, a stale file at PATH is unlinked
 * before bind(), but unlike upstream never the socket of an agent still listening there;
 * the socket file is removed again on close (only if it is still the one we created). */
#include "transport/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/xalloc.h"

struct unix_identity {
    dev_t dev;
    ino_t ino;
};

/* Somebody accepts connections at sa (a live agent, not a stale file). */
static bool unix_path_listening(const struct sockaddr_un *sa)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    /* a full backlog (EAGAIN) is a listener too; a stale file gives ECONNREFUSED */
    bool live = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 || errno == EAGAIN;
    close(fd);
    return live;
}

static int unix_listen_fd(struct transport_channel *ch, const char **note)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;

    if (strlen(ch->path) >= sizeof(sa.sun_path)) {
        *note = "socket path too long";
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, ch->path, strlen(ch->path) + 1);

    if (unix_path_listening(&sa)) {
        *note = "another process is listening on it";
        return -EADDRINUSE;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int unlink_err = unlink(ch->path) < 0 && errno != ENOENT ? errno : 0;
    int rc = transport__sock_listen(fd, (struct sockaddr *)&sa, sizeof(sa));
    if (rc < 0) {
        close(fd);
        /* a file that could not be removed is why the address is in use */
        return unlink_err ? -unlink_err : rc;
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

static int unix_vet_peer(struct transport_channel *ch, int fd, char *desc, size_t desc_len,
                         const char **note)
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

static const struct transport_listener_ops unix_ops = {
    .listen_fd = unix_listen_fd,
    .vet_peer = unix_vet_peer,
    .cleanup = unix_cleanup,
};

const struct transport_backend transport__unix = {
    .method = "unix-listen",
    .kind = &transport__listener_kind,
    .ops.listener = &unix_ops,
};
