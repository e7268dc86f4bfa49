/* virtio-serial: the port /dev/virtio-ports/org.qemu.guest_agent.0. The host closing its
 * side is a transient state of the port (chardev.c waits for SIGIO). O_ASYNC is armed
 * with fcntl() only while waiting: Linux ignores O_ASYNC given to open(). */
#include "transport/internal.h"

#include <errno.h>
#include <fcntl.h>

static int virtio_open(struct transport_channel *ch)
{
    int fd = open(ch->path, O_RDWR | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

static const struct transport_device_ops virtio_ops = {
    .open_dev = virtio_open,
    .hup_is_transient = true,
};

const struct transport_backend transport__virtio_serial = {
    .method = "virtio-serial",
    .default_path = "/dev/virtio-ports/org.qemu.guest_agent.0",
    .kind = &transport__device_kind,
    .ops.device = &virtio_ops,
};
