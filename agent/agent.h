/* The daemon core as seen by the code that changes its state from inside the loop
 * (the freeze state machine). Lower layers reach these through cmd_settings hooks, so
 * nothing below agent/ links against agent/. */
#ifndef QGAD_AGENT_AGENT_H
#define QGAD_AGENT_AGENT_H

/* Filesystems were thawed: logging resumes (the log file is opened if it was deferred,
 * the lines kept while frozen are written), and what a frozen start deferred is created
 * now: the pidfile (with -d) and qga.state. Safe to call when nothing was deferred. */
void agent_on_thaw(void);
/* Graceful stop: channels closed, the loop ends, the process exits 0. */
void agent_stop(void);

#endif
