/* libFuzzer harness: bytes from a hostile host into one protocol session wired to the real
 * command table. Every reply must be one line of ASCII JSON ({"return"} or {"error"}),
 * and once the session is freed no input bytes may stay accounted. Commands that touch
 * files or spawn processes are disabled first (an allow list, so a row added later is off
 * too): the fuzzer must never create a file or run a program. */
#include <stdbool.h>
#include <string.h>
#include <uv.h>

#include "commands/registry.h"
#include "fuzz.h"
#include "protocol/session.h"
#include "protocol/wire/framer.h"

/* Read-only commands: everything else stays disabled while fuzzing. */
static const char *const read_only[] = {
    "guest-sync-delimited", "guest-sync",       "guest-ping",
    "guest-info",           "guest-get-time",   "guest-get-host-name",
    "guest-get-timezone",   "guest-get-osinfo", "guest-get-load",
};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static bool is_read_only(const char *name)
{
    for (size_t i = 0; i < COUNT(read_only); i++)
        if (strcmp(read_only[i], name) == 0)
            return true;
    return false;
}

/* Allows the read-only rows and blocks every other one by name, so a mutating row stays
 * off even if the allow list stopped meaning "deny the rest". */
static void restrict_commands(void)
{
    const char *block[64];
    size_t n_block = 0;
    for (size_t i = 0; i < cmd_count(); i++) {
        FUZZ_CHECK(n_block < COUNT(block), "more commands than the block list holds");
        if (!is_read_only(cmd_at(i)->name))
            block[n_block++] = cmd_at(i)->name;
    }
    cmd_policy_set(read_only, COUNT(read_only), block, n_block);
    for (size_t i = 0; i < cmd_count(); i++)
        FUZZ_CHECK(!cmd_enabled(cmd_at(i)) || is_read_only(cmd_at(i)->name),
                   "a command outside the read-only list is enabled");
    FUZZ_CHECK(!cmd_enabled(cmd_lookup("guest-file-open")) &&
                   !cmd_enabled(cmd_lookup("guest-exec")),
               "guest-file-open or guest-exec is enabled");
}

static void on_write(void *ctx, char *buf, size_t len)
{
    int delimited;
    yajl_val v = fuzz_check_reply(buf, len, &delimited);
    const char *ret[] = {"return", NULL}, *error[] = {"error", NULL};
    bool has_return = yajl_tree_get(v, ret, yajl_t_any) != NULL;
    bool has_error = yajl_tree_get(v, error, yajl_t_any) != NULL;

    FUZZ_CHECK(YAJL_IS_OBJECT(v), "reply is not an object");
    FUZZ_CHECK(has_return != has_error, "reply has neither or both of return and error");
    FUZZ_CHECK(!delimited || has_return, "an error reply carries the 0xFF prefix");
    yajl_tree_free(v);
    free(buf);
}

static bool paused;

static void on_pause(void *ctx, bool pause)
{
    FUZZ_CHECK(pause != paused, "the session paused or resumed its stream twice");
    paused = pause;
}

/* Up to three cut points derived from the input itself, so that a crash replays exactly
 * and the fuzzer explores resumption at every token boundary it can reach. */
static size_t chunk_cuts(const uint8_t *data, size_t size, size_t cuts[3])
{
    uint32_t h = 2166136261u;
    size_t step = size / 16 + 1;
    for (size_t i = 0; i < size; i += step)
        h = (h ^ data[i]) * 16777619u;
    size_t n = h % 4;
    for (size_t i = 0; i < n; i++) {
        h = h * 1103515245u + 12345u;
        cuts[i] = size ? (h >> 8) % (size + 1) : 0;
    }
    for (size_t i = 1; i < n; i++) /* insertion sort of at most three */
        for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
            size_t t = cuts[j];
            cuts[j] = cuts[j - 1];
            cuts[j - 1] = t;
        }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        restrict_commands();
        ready = true;
    }
    struct proto_session_io io = {.write = on_write, .pause = on_pause};
    struct proto_session *s = proto_session_new(&io, "fuzz");
    size_t cuts[3], n = chunk_cuts(data, size, cuts), at = 0;

    for (size_t i = 0; i <= n; i++) {
        size_t end = i < n ? cuts[i] : size;
        proto_session_feed(s, (const char *)data + at, end - at);
        at = end;
        uv_run(uv_default_loop(), UV_RUN_NOWAIT); /* some pool work finishes between reads */
    }
    uv_run(uv_default_loop(), UV_RUN_DEFAULT); /* every threadpool command replies */
    proto_session_free(s);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT); /* big calls are freed in the pool */
    FUZZ_CHECK(proto_framer_buffered_total() == 0, "input bytes still accounted after free");
    return 0;
}
