/* The config file (qemu-ga.conf): upstream's [general] keys and qgad's own [qgad] group,
 * read into the settings between the two command line passes, as upstream does. */
#ifndef QGAD_AGENT_CONFIG_H
#define QGAD_AGENT_CONFIG_H

#include <stdbool.h>

#include "agent/settings.h"

/* Reads one config file into o. required: a missing file is an error (-c); otherwise it
 * is silently skipped. A bad value in a key that is read is fatal (logged): FAIL. */
enum agent_opts_status agent_config_load(struct agent_options *o, const char *path, bool required);

#endif
