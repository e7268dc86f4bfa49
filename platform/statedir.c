/* The state directory. qga.state is written exactly as GLib's g_key_file_to_data() writes
 * upstream's one-key file, so either agent can take over the other's statedir. The
 * counter is read once and then kept in memory; every handle persists counter+1 with an
 * atomic rewrite (temp file, fsync, rename) before the handle is handed out. */
#include "platform/statedir.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "platform/readfile.h"

#define STATE_FILE "qga.state"
#define FROZEN_MARKER "qga.state.isfrozen"
#define FD_COUNTER_DEFAULT 1000
#define STATE_FILE_MAX_BYTES (64u << 10)

/* guest-file-open may take handles from pool threads: the counter has one lock. */
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static char *state_dir;
static bool counter_loaded;
static int64_t fd_counter;

static char *state_path(const char *name)
{
    return xasprintf("%s/%s", state_dir, name);
}

int plat_statedir_init(const char *dir)
{
    if (!dir || !*dir)
        return -EINVAL;
    pthread_mutex_lock(&state_lock);
    free(state_dir);
    state_dir = xstrdup(dir);
    counter_loaded = false;
    pthread_mutex_unlock(&state_lock);
    return 0;
}

const char *plat_statedir(void)
{
    return state_dir;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* fd_counter from "[global]"; -ENOENT when the key is absent, -EINVAL when it is no
 * integer. */
static int parse_counter(char *text, int64_t *out)
{
    bool in_global = false;
    int rc = -ENOENT;
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        line = trim(line);
        if (*line == '[') {
            in_global = strcmp(line, "[global]") == 0;
            continue;
        }
        char *eq = strchr(line, '=');
        if (!in_global || *line == '#' || !eq)
            continue;
        *eq = '\0';
        if (strcmp(trim(line), "fd_counter") != 0)
            continue;
        char *value = trim(eq + 1), *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        rc = (errno || end == value || *end || v < 0) ? -EINVAL : 0;
        if (rc == 0)
            *out = v;
    }
    return rc;
}

/* Makes a rename or a new entry durable. Best effort: the file itself is already
 * complete, and some filesystems refuse fsync on a directory. */
static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    (void)fsync(fd);
    close(fd);
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Replaces qga.state with the given counter: a reader sees the old or the new file. */
static int state_write(int64_t counter)
{
    char *path = state_path(STATE_FILE);
    char *tmp = xasprintf("%s.XXXXXX", path);
    char *text = xasprintf("[global]\nfd_counter=%" PRId64 "\n", counter);
    int rc = 0;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    rc = write_all(fd, text, strlen(text));
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0)
        unlink(tmp);
    else
        fsync_dir(state_dir);
out:
    free(text);
    free(tmp);
    free(path);
    return rc;
}

/* Loads the counter once. A missing file means the default; create says whether to
 * write it then. Called with state_lock held. */
static int counter_load(bool create)
{
    if (counter_loaded)
        return 0;
    if (!state_dir)
        return -EINVAL;
    char *path = state_path(STATE_FILE), *text;
    size_t len;
    int rc = plat_read_file(path, STATE_FILE_MAX_BYTES, &text, &len);
    free(path);
    if (rc == -ENOENT) {
        fd_counter = FD_COUNTER_DEFAULT;
        rc = create ? state_write(fd_counter) : 0;
    } else if (rc == 0) {
        int64_t v = FD_COUNTER_DEFAULT;
        rc = parse_counter(text, &v);
        free(text);
        if (rc == -ENOENT)
            rc = 0; /* no key: the default, as upstream */
        fd_counter = v;
    }
    if (rc == 0)
        counter_loaded = true;
    return rc;
}

int plat_state_ensure(void)
{
    if (plat_frozen_marker_exists())
        return 0; /* deferred until thaw: the statedir may be on a frozen filesystem */
    pthread_mutex_lock(&state_lock);
    int rc = counter_load(true);
    pthread_mutex_unlock(&state_lock);
    return rc;
}

int plat_state_next_handle(int64_t *handle)
{
    pthread_mutex_lock(&state_lock);
    int rc = counter_load(false);
    if (rc == 0 && fd_counter == INT64_MAX)
        rc = -EOVERFLOW;
    if (rc == 0) {
        int64_t h = fd_counter++;
        /* the counter stays advanced even if the write fails: a handle that might have
         * been persisted is never handed out twice */
        rc = state_write(fd_counter);
        if (rc == 0)
            *handle = h;
    }
    pthread_mutex_unlock(&state_lock);
    return rc;
}

bool plat_frozen_marker_exists(void)
{
    if (!state_dir)
        return false;
    char *path = state_path(FROZEN_MARKER);
    struct stat st;
    bool exists = stat(path, &st) == 0;
    free(path);
    return exists;
}

int plat_frozen_marker_set(void)
{
    if (!state_dir)
        return -EINVAL;
    char *path = state_path(FROZEN_MARKER);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    int rc = fd < 0 ? -errno : 0;
    if (fd >= 0) {
        /* it must be on disk before any filesystem is frozen */
        if (fsync(fd) < 0)
            rc = -errno;
        close(fd);
    }
    if (rc == 0)
        fsync_dir(state_dir);
    free(path);
    return rc;
}

int plat_frozen_marker_clear(void)
{
    if (!state_dir)
        return -EINVAL;
    char *path = state_path(FROZEN_MARKER);
    int rc = (unlink(path) < 0 && errno != ENOENT) ? -errno : 0;
    free(path);
    return rc;
}
