#include "platform/readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/xalloc.h"

static int read_fd(int fd, size_t max, char **data, size_t *len)
{
    size_t cap = 4096, used = 0;
    char *buf = xmalloc(cap + 1);
    for (;;) {
        if (used == cap) {
            if (cap > max) {
                free(buf);
                return -EFBIG;
            }
            cap *= 2;
            buf = xrealloc(buf, cap + 1);
        }
        ssize_t r = read(fd, buf + used, cap - used);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int err = -errno;
            free(buf);
            return err;
        }
        if (r == 0)
            break;
        used += (size_t)r;
    }
    if (used > max) {
        free(buf);
        return -EFBIG;
    }
    buf[used] = '\0';
    *data = buf;
    *len = used;
    return 0;
}

int plat_read_file(const char *path, size_t max, char **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = read_fd(fd, max, data, len);
    close(fd);
    return rc;
}
