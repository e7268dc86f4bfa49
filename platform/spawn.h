/* The spawning half of platform/child.c, private to platform/: the threadpool start job
 * (pipes, posix_spawn, pidfd) and the uv_spawn fallback for kernels without pidfds. */
#ifndef QGAD_PLATFORM_SPAWN_H
#define QGAD_PLATFORM_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>
#include <uv.h>

#include "platform/child.h"

/* A start request: owned copies of what it needs, then what the pool job made. */
struct spawn_job {
    char *path, **argv, **env, *cwd; /* env NULL: inherit the agent's */
    bool has_input;
    enum plat_child_stdio out, err;
    char *file;   /* the resolved program */
    int rc;       /* 0 or -errno (not found, exec failure, pipe or pidfd failure) */
    bool uv_path; /* no pidfds here: start with spawn_job_uv_spawn() on the loop */
    pid_t pid;
    int pidfd;              /* -1: none */
    int in, out_fd, err_fd; /* parent ends: stdin writer, stdout/stderr readers; -1: none */
};

/* Copies what opts says about the process (not the input bytes, caps or deadline). */
struct spawn_job *spawn_job_new(const struct plat_child_opts *opts);
/* Pool thread: resolve the program, make the pipes, posix_spawn, pidfd_open. */
void spawn_job_run(struct spawn_job *job);
/* Loop thread, the fallback: today's uv_spawn (it waits for the exec on the loop). proc is
 * initialised when *proc_init is set, even on failure (it must then be closed). */
int spawn_job_uv_spawn(struct spawn_job *job, uv_process_t *proc, uv_exit_cb exit_cb,
                       bool *proc_init);
/* Closes every fd still set in the job (-1 marks one taken) and frees it. */
void spawn_job_free(struct spawn_job *job);

/* Tests: take the uv_spawn path as on a kernel without pidfds. */
void spawn_force_uv_path(bool on);

#endif
