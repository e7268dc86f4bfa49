/* The channels the agent serves (the main one, then each --listen) and the glue that gives
 * every transport connection its own protocol session: transport and protocol meet here. */
#ifndef QGAD_AGENT_CHANNELS_H
#define QGAD_AGENT_CHANNELS_H

#include "agent/settings.h"

/* Opens the main channel (on activated_fd if it is >= 0) and then the extra listeners, in
 * that order. 0, or the -errno of the first that fails; the ones opened stay open until
 * agent_channels_close(). */
int agent_channels_open(const struct agent_options *o, int activated_fd);
/* In the child after fork(): each channel re-arms what the fork invalidated. */
void agent_channels_after_fork(void);
/* Closes every channel (and so its connections and sessions) and forgets them. */
void agent_channels_close(void);

#endif
