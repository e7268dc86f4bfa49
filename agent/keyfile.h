/* A minimal reader for the GKeyFile (Desktop Entry) syntax of qemu-ga.conf, following
 * GLib's rules where a config file can tell the difference: '#' comments, [groups],
 * key=value with the whitespace around '=' dropped, later duplicates win, string escapes
 * \s \n \t \r \\ (anything else is an error), booleans true/false/1/0. Values are kept
 * raw and decoded on lookup, so a bad escape only matters in a key that is read, as in
 * GLib. Unknown groups and keys are simply never looked up. */
#ifndef QGAD_AGENT_KEYFILE_H
#define QGAD_AGENT_KEYFILE_H

#include <stdbool.h>
#include <stddef.h>

struct agent_keyfile;

/* Every function that can fail returns 0 or -errno and, on -EINVAL, sets *err to a
 * malloc'd message in GLib's words. */
int agent_keyfile_load(const char *path, struct agent_keyfile **out, char **err);
int agent_keyfile_parse(const char *data, size_t len, struct agent_keyfile **out, char **err);
void agent_keyfile_free(struct agent_keyfile *kf);

bool agent_keyfile_has(const struct agent_keyfile *kf, const char *group, const char *key);
/* -ENOENT if the key is absent. */
int agent_keyfile_get_string(const struct agent_keyfile *kf, const char *group, const char *key,
                             char **out, char **err);
int agent_keyfile_get_bool(const struct agent_keyfile *kf, const char *group, const char *key,
                           bool *out, char **err);
/* A ';'-separated list ("\;" is a literal ';'); empty items are dropped. *out is a
 * malloc'd array of malloc'd strings. */
int agent_keyfile_get_list(const struct agent_keyfile *kf, const char *group, const char *key,
                           char ***out, size_t *n, char **err);

/* The escaped form of a value, as g_key_file_set_string() writes it (malloc'd). */
char *agent_keyfile_escape(const char *value);

#endif
