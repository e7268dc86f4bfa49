/* Daemonizing (-d) the way upstream qemu-ga does it: fork (the parent exits 0), the
 * child writes the pidfile, then detaches from the terminal and the working directory. */
#ifndef QGAD_AGENT_DAEMON_H
#define QGAD_AGENT_DAEMON_H

/* Marks every descriptor above stderr close-on-exec: whatever the agent inherited (a
 * shell's or an init script's pipes) must not reach guest-exec children or hooks, which
 * upstream's GLib spawn never let through either. Call first, before opening anything. */
void agent_cloexec_inherited(void);
/* Returns in the child; the parent exits 0 at once. -errno if fork fails. */
int agent_daemon_fork(void);
/* umask 077, setsid, chdir("/"), stdin/stdout/stderr to /dev/null. 0 or -errno. */
int agent_daemon_detach(void);

/* Created 0600 and write-locked for the life of the process (a second instance fails
 * here), re-checked to be the file now at path, truncated, then "<pid>\n". 0 or -errno
 * (-EAGAIN: another instance holds the lock). */
int agent_pidfile_create(const char *path);
/* Unlinks the pidfile this process created, if any. */
void agent_pidfile_remove(void);

#endif
