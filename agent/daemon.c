/* Daemonizing (-d) as upstream qemu-ga does it, the pidfile's lock, and close-on-exec for
 * inherited descriptors: the process-level chores main runs before and after the loop. */
#include "agent/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/xalloc.h"

static char *pidfile_path;
static int pidfile_fd = -1;

void agent_cloexec_inherited(void)
{
#ifdef CLOSE_RANGE_CLOEXEC
    if (close_range(3, ~0u, CLOSE_RANGE_CLOEXEC) == 0)
        return;
#endif
    /* kernels before 5.11: one fcntl per open descriptor */
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        int fd = atoi(e->d_name);
        if (fd > 2 && fd != dirfd(d))
            fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC);
    }
    closedir(d);
}

int agent_daemon_fork(void)
{
    pid_t pid = fork();

    if (pid < 0)
        return -errno;
    if (pid > 0)
        _exit(EXIT_SUCCESS); /* no atexit handlers: they belong to the child now */
    return 0;
}

int agent_daemon_detach(void)
{
    umask(077);
    if (setsid() < 0)
        return -errno;
    if (chdir("/") < 0)
        return -errno;
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    for (int std = 0; std <= 2; std++) {
        if (dup2(fd, std) < 0) {
            int e = -errno;
            close(fd);
            return e;
        }
    }
    close(fd);
    return 0;
}

/* Opens and locks path; 1 if it was replaced meanwhile (try again), 0 or -errno. */
static int pidfile_open_locked(const char *path, int *out)
{
    struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    struct stat fd_st, path_st;
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);

    if (fd < 0)
        return -errno;
    if (fcntl(fd, F_SETLK, &lock) < 0) {
        int e = errno == EACCES ? -EAGAIN : -errno;
        close(fd);
        return e;
    }
    /* Another instance exiting may have unlinked the file we locked. */
    if (fstat(fd, &fd_st) < 0 || stat(path, &path_st) < 0 || fd_st.st_ino != path_st.st_ino ||
        fd_st.st_dev != path_st.st_dev) {
        close(fd);
        return 1;
    }
    *out = fd;
    return 0;
}

int agent_pidfile_create(const char *path)
{
    int fd = -1, ret;

    do {
        ret = pidfile_open_locked(path, &fd);
    } while (ret == 1);
    if (ret < 0)
        return ret;
    char buf[32];
    int len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || write(fd, buf, (size_t)len) != len) {
        ret = -errno;
        close(fd);
        unlink(path);
        return ret ? ret : -EIO;
    }
    pidfile_fd = fd; /* kept open: the lock lives as long as the process */
    free(pidfile_path);
    pidfile_path = xstrdup(path);
    return 0;
}

void agent_pidfile_remove(void)
{
    if (!pidfile_path)
        return;
    unlink(pidfile_path);
    close(pidfile_fd);
    pidfile_fd = -1;
    free(pidfile_path);
    pidfile_path = NULL;
}
