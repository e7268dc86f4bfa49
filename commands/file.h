/* guest-file-* state the agent core needs at exit. */
#ifndef QGAD_COMMANDS_FILE_H
#define QGAD_COMMANDS_FILE_H

/* Closes every open guest-file handle (agent exit). A handle whose stream a pool thread is
 * using at that moment is left to the kernel. */
void cmd_file_close_all(void);

#endif
