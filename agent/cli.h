/* The command line: two getopt passes around the config file, as upstream qemu-ga does
 * (the first only looks for -c; the second overrides what the config file set). */
#ifndef QGAD_AGENT_CLI_H
#define QGAD_AGENT_CLI_H

#include <stdio.h>

#include "agent/settings.h"

/* Both passes and the config file between them (QGA_CONF, or the default path, unless
 * -c names one). out receives -h, -V and the "-b help" command list; the unknown-option
 * hint also goes there, as upstream. */
enum agent_opts_status agent_cli_parse(struct agent_options *o, int argc, char **argv, FILE *out);

#endif
