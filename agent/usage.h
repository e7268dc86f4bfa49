/* What the agent prints and then exits 0 on: -h, -V, and the command list of "-b help"
 * / "-a help". Kept apart from parsing so the texts are tested on their own. */
#ifndef QGAD_AGENT_USAGE_H
#define QGAD_AGENT_USAGE_H

#include <stdio.h>

/* -h: upstream's option list, then qgad's own options and config groups. */
void agent_usage_print(const char *argv0, FILE *out);
/* -V */
void agent_usage_print_version(FILE *out);
/* "-b help": every command name in the registry, one a line. */
void agent_usage_print_commands(FILE *out);

#endif
