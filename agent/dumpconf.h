/* -D (--dump-conf): the effective settings written as a key file that the config reader
 * takes back, upstream's [general] group first, then qgad's [qgad]. */
#ifndef QGAD_AGENT_DUMPCONF_H
#define QGAD_AGENT_DUMPCONF_H

#include <stdio.h>

#include "agent/settings.h"

/* Upstream's key order and escapes; keys upstream omits when unset stay omitted. */
void agent_dumpconf_write(const struct agent_options *o, FILE *out);

#endif
