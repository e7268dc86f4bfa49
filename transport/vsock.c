/* vsock-listen: -p CID:PORT, both unsigned decimal as upstream (no "vsock:" prefix;
 * 4294967295 binds any CID). Unlike upstream, only peers listed in vsock_allow_cids are
 * served, by default the host alone (CID 2): another guest must not drive this agent. */
#include "transport/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

static int parse_u32(const char *s, size_t len, uint32_t *out)
{
    uint64_t v = 0;

    if (len == 0 || len > 32)
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > UINT32_MAX)
            return -ERANGE;
    }
    *out = (uint32_t)v;
    return 0;
}

int transport__parse_vsock_addr(const char *s, uint32_t *cid, uint32_t *port)
{
    const char *colon = strchr(s, ':');

    if (!colon)
        return -EINVAL;
    if (parse_u32(s, (size_t)(colon - s), cid) < 0 ||
        parse_u32(colon + 1, strlen(colon + 1), port) < 0)
        return -EINVAL;
    return 0;
}

bool transport__vsock_cid_allowed(const struct transport_channel *ch, uint32_t cid)
{
    if (ch->n_allow_cids == 0)
        return cid == TRANSPORT__VSOCK_HOST_CID;
    for (size_t i = 0; i < ch->n_allow_cids; i++) {
        if (ch->allow_cids[i] == cid || ch->allow_cids[i] == TRANSPORT__VSOCK_ANY_CID)
            return true;
    }
    return false;
}

static int vsock_listen_fd(struct transport_channel *ch, const char **note)
{
    struct sockaddr_vm sa = {.svm_family = AF_VSOCK};
    uint32_t cid, port;

    if (transport__parse_vsock_addr(ch->path, &cid, &port) < 0) {
        *note = "invalid address (expected CID:PORT, decimal)";
        return -EINVAL;
    }
    sa.svm_cid = cid;
    sa.svm_port = port;
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = transport__sock_listen(fd, (struct sockaddr *)&sa, sizeof(sa));
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

static int vsock_vet_peer(struct transport_channel *ch, int fd, char *desc, size_t desc_len,
                          const char **note)
{
    struct sockaddr_vm sa;
    socklen_t len = sizeof(sa);

    if (getpeername(fd, (struct sockaddr *)&sa, &len) < 0 || sa.svm_family != AF_VSOCK) {
        *note = "cannot identify the peer";
        return -EPERM;
    }
    snprintf(desc, desc_len, "cid %u port %u", sa.svm_cid, sa.svm_port);
    if (!transport__vsock_cid_allowed(ch, sa.svm_cid)) {
        *note = "peer CID is not allowed (vsock-allow-cids)";
        return -EPERM;
    }
    return 0;
}

static const struct transport_listener_ops vsock_ops = {
    .listen_fd = vsock_listen_fd,
    .vet_peer = vsock_vet_peer,
};

const struct transport_backend transport__vsock = {
    .method = "vsock-listen",
    .kind = &transport__listener_kind,
    .ops.listener = &vsock_ops,
};
