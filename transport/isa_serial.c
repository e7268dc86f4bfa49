/* isa-serial: a tty (default /dev/ttyS0) in raw mode, as upstream: pending input flushed,
 * input processing cleared, no output processing, no line discipline, 38400 baud, reads
 * return as soon as one byte is there. O_NOCTTY: a daemon must not acquire the port as
 * its controlling terminal (a hangup would then send it SIGHUP). */
#include "transport/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

int transport__tty_make_raw(int fd)
{
    struct termios tio;

    if (tcflush(fd, TCIFLUSH) < 0 || tcgetattr(fd, &tio) < 0)
        return -errno;
    tio.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | IGNPAR | PARMRK | INPCK | ISTRIP | INLCR | IGNCR |
                               ICRNL | IXON | IXOFF | IXANY | IMAXBEL);
    tio.c_oflag = 0;
    tio.c_lflag = 0;
    tio.c_cflag |= B38400;
    tio.c_cc[VMIN] = 1;
    tio.c_cc[VTIME] = 0;
    return tcsetattr(fd, TCSANOW, &tio) < 0 ? -errno : 0;
}

static int isa_open(struct transport_channel *ch)
{
    int fd = open(ch->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0)
        return -errno;
    int rc = transport__tty_make_raw(fd);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

static const struct transport_device_ops isa_ops = {
    .open_dev = isa_open,
    .hup_is_transient = false,
};

const struct transport_backend transport__isa_serial = {
    .method = "isa-serial",
    .default_path = "/dev/ttyS0",
    .kind = &transport__device_kind,
    .ops.device = &isa_ops,
};
