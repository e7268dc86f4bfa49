/* libFuzzer harness: the config-file reader (agent/keyfile.c) on any bytes, every key the
 * agent reads looked up as the agent does, and escape -> parse -> get_string giving the
 * value back. */
#include <stdbool.h>
#include <string.h>

#include "agent/keyfile.h"
#include "fuzz.h"

static const char *const string_keys[] = {
    "method",     "path",       "logfile",     "pidfile",          "fsfreeze-hook",    "statedir",
    "block-rpcs", "allow-rpcs", "max-clients", "file-create-mode", "vsock-allow-cids", "k",
};
static const char *const groups[] = {"general", "qgad", "g"};

/* A value read back from a file holding only agent_keyfile_escape(value). */
static void check_escape_round_trip(const char *value)
{
    char *esc = agent_keyfile_escape(value);
    size_t len = strlen(esc) + 16;
    char *text = malloc(len);
    FUZZ_CHECK(text != NULL, "out of memory");
    int n = snprintf(text, len, "[g]\nk=%s\n", esc);
    struct agent_keyfile *kf;
    char *err = NULL, *back = NULL;
    FUZZ_CHECK(agent_keyfile_parse(text, (size_t)n, &kf, &err) == 0, "escaped value rejected");
    FUZZ_CHECK(agent_keyfile_get_string(kf, "g", "k", &back, &err) == 0, "escaped value lost");
    FUZZ_CHECK(strcmp(back, value) == 0, "escape/unescape changed the value");
    free(back);
    agent_keyfile_free(kf);
    free(text);
    free(esc);
}

static void look_up(const struct agent_keyfile *kf, const char *group, const char *key)
{
    char *err = NULL, *s = NULL, **items = NULL;
    size_t n = 0;
    bool b;

    if (agent_keyfile_get_string(kf, group, key, &s, &err) == 0) {
        check_escape_round_trip(s);
        free(s);
    }
    free(err);
    err = NULL;
    agent_keyfile_get_bool(kf, group, key, &b, &err);
    free(err);
    err = NULL;
    if (agent_keyfile_get_list(kf, group, key, &items, &n, &err) == 0) {
        for (size_t i = 0; i < n; i++) {
            FUZZ_CHECK(items[i][0] != '\0', "an empty list item was kept");
            free(items[i]);
        }
        free(items);
    }
    free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct agent_keyfile *kf = NULL;
    char *err = NULL;
    int rc = agent_keyfile_parse((const char *)data, size, &kf, &err);
    if (rc != 0) {
        FUZZ_CHECK(rc == -22 && err && err[0], "a parse failure without its message");
        free(err);
        return 0;
    }
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
        for (size_t k = 0; k < sizeof(string_keys) / sizeof(string_keys[0]); k++)
            look_up(kf, groups[g], string_keys[k]);
    agent_keyfile_free(kf);
    return 0;
}
