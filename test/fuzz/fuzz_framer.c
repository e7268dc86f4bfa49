/* libFuzzer harness: the framer and parser alone, then what the session does with each
 * message (envelope check) and the argument checker against every command's spec, enabled
 * or not, with no handler run. Oracle: every message re-encoded is one ASCII line that
 * parses back to a value encoding to the same bytes, and every error is a JSON error
 * text. */
#include <stdbool.h>
#include <string.h>

#include "base/json.h"
#include "commands/args.h"
#include "commands/registry.h"
#include "fuzz.h"
#include "protocol/wire/encoder.h"
#include "protocol/wire/framer.h"
#include "protocol/wire/request.h"

struct reparse {
    yajl_val value;
    size_t errors;
};

static bool reparse_message(void *ctx, yajl_val v)
{
    struct reparse *r = ctx;
    json_free(r->value);
    r->value = v;
    return true;
}

static bool reparse_error(void *ctx, const char *desc)
{
    struct reparse *r = ctx;
    fprintf(stderr, "re-parse: %s\n", desc);
    r->errors++;
    return true;
}

/* Encodes msg, parses the line again with a fresh framer, and encodes that again. */
static void check_round_trip(yajl_val msg)
{
    size_t len, len2;
    char *line = proto_reply_return(msg, NULL, false, &len);
    yajl_tree_free(fuzz_check_reply(line, len, NULL));

    struct reparse r = {0};
    struct proto_framer_events ev = {reparse_message, reparse_error, &r};
    struct proto_framer *f = proto_framer_new(&ev);
    proto_framer_feed(f, line, len);
    proto_framer_free(f);
    FUZZ_CHECK(r.errors == 0 && r.value, "an encoded message does not parse again");

    yajl_val inner = json_get(r.value, "return");
    char *line2 = proto_reply_return(inner, NULL, false, &len2);
    FUZZ_CHECK(len == len2 && memcmp(line, line2, len) == 0, "encode(parse(encode(v))) differs");
    free(line);
    free(line2);
    json_free(r.value);
}

static bool on_message(void *ctx, yajl_val msg)
{
    struct proto_request req;
    check_round_trip(msg);
    char *err = proto_request_check(msg, &req);
    if (err) {
        FUZZ_CHECK(err[0] != '\0', "empty envelope error");
        free(err);
    } else {
        for (size_t i = 0; i < cmd_count(); i++)
            free(args_parse(cmd_at(i)->args, req.args, NULL, NULL));
    }
    json_free(req.args);
    json_free(req.id);
    json_free(msg);
    return true;
}

static bool on_error(void *ctx, const char *desc)
{
    FUZZ_CHECK(strncmp(desc, "JSON ", 5) == 0, "a framer error is not a JSON error text");
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proto_framer_events ev = {on_message, on_error, NULL};
    struct proto_framer *f = proto_framer_new(&ev);
    /* two reads, split where the first byte says, to cross token boundaries */
    size_t cut = size ? (size_t)data[0] * size / 256 : 0;
    proto_framer_feed(f, (const char *)data, cut);
    proto_framer_feed(f, (const char *)data + cut, size - cut);
    proto_framer_free(f);
    FUZZ_CHECK(proto_framer_buffered_total() == 0, "input bytes still accounted after free");
    return 0;
}
