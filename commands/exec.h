/* guest-exec state the agent core needs at exit. */
#ifndef QGAD_COMMANDS_EXEC_H
#define QGAD_COMMANDS_EXEC_H

/* Forgets every guest-exec record (agent exit): waiting exec-status calls are answered
 * {"exited": false}, running processes are left running (as upstream's outlive it) and no
 * longer watched. The records' handles never keep the loop alive. */
void cmd_exec_release_all(void);

#endif
