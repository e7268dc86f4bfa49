/* tcp-listen (qgad-only, for testing): -p HOST:PORT or [IPv6]:PORT. The agent has no
 * authentication, so anything but a loopback address gets a warning. */
#include "transport/internal.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/xalloc.h"

int transport__parse_host_port(const char *s, char **host, char **port)
{
    const char *colon;
    const char *h = s;
    size_t hlen;

    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':')
            return -EINVAL;
        h = s + 1;
        hlen = (size_t)(end - h);
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || memchr(s, ':', (size_t)(colon - s)))
            return -EINVAL; /* none, or an IPv6 address without brackets */
        hlen = (size_t)(colon - s);
    }
    if (colon[1] == '\0' || strspn(colon + 1, "0123456789") != strlen(colon + 1))
        return -EINVAL;
    *host = xstrndup(h, hlen);
    *port = xstrdup(colon + 1);
    return 0;
}

static bool addr_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    }
    return false;
}

static int bind_one(const struct addrinfo *ai, const char **note)
{
    int one = 1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    int rc = transport__sock_listen(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    if (!addr_is_loopback(ai->ai_addr))
        *note = "listening on a non-loopback address: the agent has no authentication";
    return fd;
}

static int tcp_listen_fd(struct transport_channel *ch, const char **note)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
    };
    struct addrinfo *res = NULL;
    char *host, *port;
    int fd = -EADDRNOTAVAIL;

    if (transport__parse_host_port(ch->path, &host, &port) < 0) {
        *note = "invalid address (expected HOST:PORT or [IPv6]:PORT)";
        return -EINVAL;
    }
    int gai = getaddrinfo(*host ? host : NULL, port, &hints, &res);
    if (gai != 0) {
        *note = gai_strerror(gai); /* a static text: "Name or service not known" */
        fd = -EINVAL;
    }
    for (struct addrinfo *ai = gai == 0 ? res : NULL; ai; ai = ai->ai_next) {
        fd = bind_one(ai, note);
        if (fd >= 0)
            break;
    }
    if (res)
        freeaddrinfo(res);
    free(host);
    free(port);
    return fd;
}

static int tcp_vet_peer(struct transport_channel *ch, int fd, char *desc, size_t desc_len,
                        const char **note)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN], serv[8];

    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0 &&
        getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0)
        snprintf(desc, desc_len, "%s port %s", host, serv);
    return 0;
}

static const struct transport_listener_ops tcp_ops = {
    .listen_fd = tcp_listen_fd,
    .vet_peer = tcp_vet_peer,
};

const struct transport_backend transport__tcp = {
    .method = "tcp-listen",
    .kind = &transport__listener_kind,
    .ops.listener = &tcp_ops,
};
