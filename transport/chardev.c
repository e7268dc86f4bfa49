/* Character-device plumbing shared by virtio-serial and isa-serial: one fd driven by a
 * uv_poll_t (read when readable, drain the write queue when writable), carrying one
 * connection, that is one session, for as long as the device stays open.
 *
 * A virtio port whose host side is closed polls POLLHUP (and reads 0) until the host
 * reopens it. Upstream sleeps 100 ms and polls again, forever; here the poll is stopped
 * and we wait for SIGIO, which the virtio_console driver sends when the host opens or
 * closes the port. The session survives such a host reconnect, as upstream's does: the
 * driver takes control messages (host open/close) and data on separate virtqueues, so
 * a fast reconnecting host's first request can be read before the close of the previous
 * host is seen; ending the session at that HUP would drop the request (seen in QEMU).
 * Clients resynchronise with 0xFF and guest-sync as the protocol intends. A tty that
 * hangs up, or a port that is unplugged, is dead for good: the session ends and the
 * device is reopened after QGAD_RETRY_PATH_MS. Nothing spins or sleep-polls. */
#include "transport/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/limits.h"
#include "base/log.h"
#include "base/loopmon.h"
#include "base/xalloc.h"

/* Reads per poll callback before giving the loop back. */
#define CHARDEV_READS_PER_WAKEUP 16

struct transport_chardev {
    struct transport_channel *ch;
    int fd;
    uv_poll_t poll;
    uv_signal_t sigio;
    bool has_sigio;
    bool waiting_host; /* hung up; poll stopped, SIGIO armed */
    int open_handles;  /* freed when the last handle's close callback ran */
    struct chardev_conn *conn;
    char rbuf[QGAD_READ_CHUNK];
};

struct chardev_wbuf {
    struct chardev_wbuf *next;
    char *buf;
    size_t len, off;
};

struct chardev_conn {
    struct transport_conn base; /* first: the conn is the container */
    uv_idle_t closer;           /* never started: closing it defers the close event to a callback */
    struct transport_chardev *dev; /* NULL once detached */
    struct chardev_wbuf *head, *tail;
};

/* SIGIO's default action kills the process: keep it ignored whenever no device of ours
 * has libuv's handler installed (libuv restores SIG_DFL when the last handle stops). */
static unsigned sigio_users;

static void dev_hangup(struct transport_chardev *dev);

static bool fd_hung_up(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
    int n;

    do {
        n = poll(&p, 1, 0);
    } while (n < 0 && errno == EINTR);
    return n > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL));
}

/* SIGIO for this fd on or off. The owner is set on each arming: -d forks after the
 * channel is opened, and the signal must reach the daemon, not the parent that exited. */
static int set_async(int fd, bool on)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0)
        return -errno;
    if (on && fcntl(fd, F_SETOWN, getpid()) < 0)
        return -errno;
    flags = on ? flags | O_ASYNC : flags & ~O_ASYNC;
    return fcntl(fd, F_SETFL, flags) < 0 ? -errno : 0;
}

/* The node at the path is no longer the device we hold open (port unplugged, pty gone). */
static bool device_replaced(const struct transport_chardev *dev)
{
    struct stat held, now;

    if (fstat(dev->fd, &held) < 0 || stat(dev->ch->path, &now) < 0)
        return true;
    return held.st_dev != now.st_dev || held.st_ino != now.st_ino || held.st_rdev != now.st_rdev;
}

/* Paused with nothing to write, the device is not polled at all: a hangup is then seen
 * when reading resumes. */
static void dev_poll_update(struct transport_chardev *dev)
{
    int events = dev->conn && dev->conn->base.paused ? 0 : UV_READABLE;

    if (dev->conn && dev->conn->head)
        events |= UV_WRITABLE;
    if (events)
        uv_poll_start(&dev->poll, events, dev->poll.poll_cb);
    else
        uv_poll_stop(&dev->poll);
}

/* ---- the connection ---- */

static void conn_drop_queue(struct chardev_conn *c)
{
    while (c->head) {
        struct chardev_wbuf *w = c->head;
        c->head = w->next;
        transport__conn_written(&c->base, w->len - w->off);
        transport__conn_buf_done(&c->base, w->buf, w->len);
        free(w);
    }
    c->tail = NULL;
}

static void conn_close_cb(uv_handle_t *h)
{
    loopmon_mark("device: connection closed");
    struct chardev_conn *c = h->data;

    transport__conn_release(&c->base);
    free(c->base.name);
    free(c);
}

static void conn_shutdown(struct transport_conn *conn)
{
    struct chardev_conn *c = (struct chardev_conn *)conn;
    struct transport_chardev *dev = c->dev;

    c->dev = NULL;
    conn_drop_queue(c);
    if (dev && dev->conn == c) {
        /* The device stays up (e.g. the write cap dropped the session): the next bytes
         * read start a new connection. */
        dev->conn = NULL;
        if (!dev->waiting_host)
            dev_poll_update(dev);
    }
    uv_close((uv_handle_t *)&c->closer, conn_close_cb);
}

static void conn_write(struct transport_conn *conn, char *buf, size_t len)
{
    struct chardev_conn *c = (struct chardev_conn *)conn;
    struct chardev_wbuf *w = xmalloc(sizeof(*w));

    w->next = NULL;
    w->buf = buf;
    w->len = len;
    w->off = 0;
    if (c->tail)
        c->tail->next = w;
    else
        c->head = w;
    c->tail = w;
    /* Written from the poll callback, never from inside the caller's stack. */
    if (c->dev && !c->dev->waiting_host)
        dev_poll_update(c->dev);
}

static void conn_pause(struct transport_conn *conn)
{
    struct chardev_conn *c = (struct chardev_conn *)conn;

    if (c->dev && !c->dev->waiting_host)
        dev_poll_update(c->dev);
}

static const struct transport_conn_ops chardev_conn_ops = {
    .write = conn_write,
    .shutdown = conn_shutdown,
    .pause = conn_pause,
};

static void dev_connect(struct transport_chardev *dev)
{
    struct transport_channel *ch = dev->ch;
    struct chardev_conn *c = xcalloc(1, sizeof(*c));

    uv_idle_init(uv_default_loop(), &c->closer);
    c->closer.data = c;
    c->dev = dev;
    dev->conn = c;
    dev_poll_update(dev);
    transport__conn_start(ch, &c->base, &chardev_conn_ops,
                          xasprintf("%s#%u", ch->be->method, ++ch->next_conn_id));
}

static void dev_detach_conn(struct transport_chardev *dev)
{
    struct chardev_conn *c = dev->conn;

    if (!c)
        return;
    dev->conn = NULL;
    c->dev = NULL;
    transport__conn_end(&c->base);
}

/* ---- the device ---- */

static void dev_handle_close_cb(uv_handle_t *h)
{
    loopmon_mark("device: handle closed");
    struct transport_chardev *dev = h->data;

    if (--dev->open_handles == 0)
        free(dev);
}

static void dev_close(struct transport_chardev *dev)
{
    if (dev->ch->dev == dev)
        dev->ch->dev = NULL;
    dev_detach_conn(dev);
    if (dev->has_sigio) {
        set_async(dev->fd, false);
        uv_close((uv_handle_t *)&dev->sigio, dev_handle_close_cb);
        if (--sigio_users == 0)
            signal(SIGIO, SIG_IGN);
    }
    uv_close((uv_handle_t *)&dev->poll, dev_handle_close_cb);
    close(dev->fd);
}

static void dev_reopen_later(struct transport_chardev *dev, const char *why)
{
    struct transport_channel *ch = dev->ch;

    log_info("%s: %s %s, reopening in %u ms", ch->be->method, ch->path, why, QGAD_RETRY_PATH_MS);
    dev_close(dev);
    transport__channel_retry(ch);
}

/* SIGIO for the hung-up port, owned by this process; false: it is being reopened. */
static bool dev_arm_sigio(struct transport_chardev *dev)
{
    int rc = set_async(dev->fd, true);

    if (rc == 0)
        return true;
    log_warning("%s: cannot get SIGIO for %s: %s", dev->ch->be->method, dev->ch->path,
                strerror(-rc));
    dev_reopen_later(dev, "hung up");
    return false;
}

/* While waiting: the host side is back once the port no longer polls HUP. */
static void dev_check_host(struct transport_chardev *dev)
{
    if (!dev->waiting_host)
        return;
    if (fd_hung_up(dev->fd)) {
        if (device_replaced(dev))
            dev_reopen_later(dev, "went away");
        return;
    }
    set_async(dev->fd, false);
    dev->waiting_host = false;
    log_debug("%s: host side connected", dev->ch->be->method);
    if (dev->conn)
        dev_poll_update(dev); /* queued replies go out now */
    else
        dev_connect(dev);
}

static void dev_hangup(struct transport_chardev *dev)
{
    uv_poll_stop(&dev->poll);
    if (!dev->ch->be->ops.device->hup_is_transient) {
        dev_reopen_later(dev, "hung up");
        return;
    }
    if (device_replaced(dev)) {
        dev_reopen_later(dev, "went away");
        return;
    }
    if (!dev_arm_sigio(dev))
        return;
    dev->waiting_host = true;
    log_debug("%s: host side not connected, waiting for it", dev->ch->be->method);
    /* The host may have reconnected before O_ASYNC was armed: look once more. */
    dev_check_host(dev);
}

static void on_sigio(uv_signal_t *h, int signum)
{
    loopmon_mark("device: SIGIO");
    dev_check_host(h->data);
}

/* Returns false when the device hung up (dev may be gone). */
static bool dev_read(struct transport_chardev *dev)
{
    for (int i = 0; i < CHARDEV_READS_PER_WAKEUP; i++) {
        if (dev->conn && dev->conn->base.paused)
            return true;
        ssize_t n = read(dev->fd, dev->rbuf, sizeof(dev->rbuf));
        if (n > 0) {
            if (!dev->conn)
                dev_connect(dev);
            if (dev->conn)
                transport__conn_data(&dev->conn->base, dev->rbuf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        /* EAGAIN on the first read after a wakeup: guard against a HUP that libuv
         * reported as readable and that read() does not show. */
        if (n < 0 && errno == EAGAIN && !(i == 0 && fd_hung_up(dev->fd)))
            return true;
        if (n < 0 && errno != EAGAIN && errno != EIO)
            log_warning("%s: read error: %s", dev->ch->be->method, strerror(errno));
        dev_hangup(dev);
        return false;
    }
    return true;
}

static void dev_flush(struct transport_chardev *dev)
{
    struct chardev_conn *c = dev->conn;

    while (c && c->head) {
        struct chardev_wbuf *w = c->head;
        ssize_t n = write(dev->fd, w->buf + w->off, w->len - w->off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n < 0) {
            log_debug("%s: write error: %s", dev->ch->be->method, strerror(errno));
            dev_hangup(dev);
            return;
        }
        w->off += (size_t)n;
        transport__conn_written(&c->base, (size_t)n);
        if (w->off == w->len) {
            c->head = w->next;
            if (!c->head)
                c->tail = NULL;
            transport__conn_buf_done(&c->base, w->buf, w->len);
            free(w);
        }
    }
    dev_poll_update(dev);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    loopmon_mark("device: poll");
    struct transport_chardev *dev = h->data;

    if (status < 0) { /* POLLERR: a hung-up tty reports it */
        dev_hangup(dev);
        return;
    }
    if ((events & UV_READABLE) && !dev_read(dev))
        return;
    if (events & UV_WRITABLE)
        dev_flush(dev);
}

static int dev_init_handles(struct transport_chardev *dev)
{
    uv_loop_t *loop = uv_default_loop();
    int rc = uv_poll_init(loop, &dev->poll, dev->fd);

    if (rc < 0)
        return rc;
    dev->poll.data = dev;
    dev->poll.poll_cb = on_poll;
    dev->open_handles = 1;
    if (!dev->ch->be->ops.device->hup_is_transient)
        return 0;
    uv_signal_init(loop, &dev->sigio);
    dev->sigio.data = dev;
    dev->open_handles++;
    dev->has_sigio = true;
    sigio_users++;
    uv_signal_start(&dev->sigio, on_sigio, SIGIO);
    return 0;
}

static int chardev_start(struct transport_channel *ch)
{
    int fd = ch->be->ops.device->open_dev(ch);

    if (fd < 0) {
        transport__open_error(ch, "%s: cannot open %s: %s", ch->be->method, ch->path,
                              strerror(-fd));
        return fd;
    }
    struct transport_chardev *dev = xcalloc(1, sizeof(*dev));
    dev->ch = ch;
    dev->fd = fd;
    int rc = dev_init_handles(dev);
    if (rc < 0) {
        transport__open_error(ch, "%s: cannot poll %s: %s", ch->be->method, ch->path,
                              uv_strerror(rc));
        close(fd);
        free(dev);
        return rc;
    }
    ch->dev = dev;
    log_info("%s: opened %s", ch->be->method, ch->path);
    if (fd_hung_up(fd))
        dev_hangup(dev);
    else
        dev_connect(dev);
    return 0;
}

static void chardev_stop(struct transport_channel *ch)
{
    if (ch->dev)
        dev_close(ch->dev);
}

/* A device that hung up before -d forked has SIGIO armed for the parent, which is gone:
 * without a new owner the daemon would wait for the host forever. */
static void chardev_after_fork(struct transport_channel *ch)
{
    struct transport_chardev *dev = ch->dev;

    if (!dev || !dev->waiting_host || !dev_arm_sigio(dev))
        return;
    dev_check_host(dev); /* the host may have come back while the signal went astray */
}

const struct transport_kind transport__device_kind = {
    .start = chardev_start,
    .stop = chardev_stop,
    .after_fork = chardev_after_fork,
};
