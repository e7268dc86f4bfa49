/* Child processes on the loop (guest-exec, the fsfreeze hook, chpasswd, hwclock,
 * shutdown): started in the threadpool in their own session and process group, stdin fed
 * from a buffer through a pipe (or /dev/null), stdout/stderr discarded, captured into
 * capped buffers or merged, an optional deadline that SIGKILLs the whole group. Reaped
 * through a pidfd; nothing waits on a child synchronously. Loop thread only. */
#ifndef QGAD_PLATFORM_CHILD_H
#define QGAD_PLATFORM_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum plat_child_stdio {
    PLAT_CHILD_DISCARD,   /* /dev/null */
    PLAT_CHILD_CAPTURE,   /* a pipe read by the loop into a capped buffer */
    PLAT_CHILD_TO_STDOUT, /* stderr only: the same pipe as stdout ("merged") */
};

/* Captured bytes shared by several children (guest-exec's total across processes). A
 * child takes from it as output arrives and gives back in plat_child_free(). */
struct plat_child_budget {
    uint64_t limit;
    uint64_t used;
};

struct plat_child_opts {
    const char *path;        /* without a '/', searched in PATH (the env's, else ours) */
    const char *const *argv; /* NULL-terminated, argv[0] included */
    const char *const *env;  /* NULL-terminated "K=V"; NULL: inherit the agent's */
    const char *cwd;         /* NULL: the agent's */
    const void *input;       /* stdin data when has_input (written async, then EOF) */
    size_t input_len;
    bool has_input; /* false: stdin is /dev/null */
    enum plat_child_stdio out, err;
    size_t cap;                       /* per captured stream; 0: QGAD_EXEC_STREAM_CAP */
    struct plat_child_budget *budget; /* optional */
    uint64_t timeout_ms;              /* 0: none; else the group gets SIGKILL then */
    bool loop_unref; /* the child does not keep the loop running (agent exit won't wait) */
};

struct plat_child_stream {
    char *data; /* owned by the child; NULL when nothing was captured */
    size_t len;
    bool truncated; /* bytes were dropped (cap or budget) */
};

struct plat_child_result {
    int64_t pid;
    bool exited; /* normal exit: exit_code is valid */
    int exit_code;
    int signal;                        /* killed by this signal, 0 if not */
    bool timed_out;                    /* the deadline passed and the group was killed */
    struct plat_child_stream out, err; /* merged output is all in out */
};

struct plat_child;
/* Runs once, on a later loop turn than plat_child_spawn(): rc 0, the child runs and its
 * pid is valid; or rc -errno, it could not be started (not found, not executable, fork
 * failure...), the platform frees the record after this returns and done is never called.
 * With rc 0 the callback may call plat_child_free(). */
typedef void (*plat_child_started_fn)(struct plat_child *child, int rc, void *data);
/* Runs once, when the child has been reaped AND every capture pipe is at EOF. The callback
 * may call plat_child_free(). */
typedef void (*plat_child_done_fn)(struct plat_child *child, void *data);

/* Starts the child in the threadpool (the caller may free opts and what it points to when
 * this returns). Returns 0 and *out, a record whose pid is 0 until started() ran, or
 * -errno for bad arguments, leaving nothing behind. */
int plat_child_spawn(const struct plat_child_opts *opts, plat_child_started_fn started,
                     plat_child_done_fn done, void *data, struct plat_child **out);
int64_t plat_child_pid(const struct plat_child *child);
bool plat_child_finished(const struct plat_child *child);
/* Valid once finished (pid is valid once started). */
const struct plat_child_result *plat_child_result(const struct plat_child *child);
/* Signals the whole process group (the child leads it). */
void plat_child_kill(struct plat_child *child, int sig);
/* Releases the child and its captured bytes (and their budget). Still running: with
 * kill_group the group gets SIGKILL and is still reaped; without, the process is left
 * running and no longer watched (for agent exit: children outlive the agent as upstream's
 * do). Still starting: the same, once the child exists. Neither started nor done is
 * called after this. */
void plat_child_free(struct plat_child *child, bool kill_group);

/* The program a spawn with this path and env would run: path itself when it has a '/',
 * else the first executable regular file along the env's PATH, else the agent's PATH,
 * else "/bin:/usr/bin" (GLib's SEARCH_PATH_FROM_ENVP order). Returns a malloc'd path, or
 * NULL with *err = -ENOENT / -EACCES. */
char *plat_child_find_program(const char *path, const char *const *env, int *err);

#endif
