/* The state directory: "qga.state" ([global] fd_counter=<n>, file handles start at 1000
 * and are never reused across restarts) and the frozen marker "qga.state.isfrozen". */
#ifndef QGAD_PLATFORM_STATEDIR_H
#define QGAD_PLATFORM_STATEDIR_H

#include <stdbool.h>
#include <stdint.h>

/* Remembers the directory; does not create anything. Returns 0 or -errno. */
int plat_statedir_init(const char *dir);
const char *plat_statedir(void);
/* Create qga.state if missing (skipped while frozen, as upstream). 0 or -errno. */
int plat_state_ensure(void);
/* Return the current handle counter, persist counter+1 atomically. 0 or -errno. */
int plat_state_next_handle(int64_t *handle);
bool plat_frozen_marker_exists(void);
int plat_frozen_marker_set(void); /* created 0600 */
int plat_frozen_marker_clear(void);

#endif
