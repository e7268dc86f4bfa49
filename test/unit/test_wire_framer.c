/* Framer + parser: message boundaries at every split, extensions, resync, caps, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "base/json.h"
#include "base/limits.h"
#include "base/release.h"
#include "base/xalloc.h"
#include "protocol/wire/encoder.h"
#include "protocol/wire/framer.h"

#define MAX_EVENTS 64

/* Every event as text: "V:<encoded value>" or "E:<desc>". */
struct events {
    char *ev[MAX_EVENTS];
    size_t n;
    size_t stop_after; /* 0: never ask to stop */
};

static bool record(struct events *e, char *text)
{
    assert_true(e->n < MAX_EVENTS);
    e->ev[e->n++] = text;
    return e->stop_after == 0 || e->n < e->stop_after;
}

static bool on_message(void *ctx, yajl_val v)
{
    struct buf b = {0};
    buf_put(&b, "V:", 2);
    proto_encode_value(&b, v);
    buf_put(&b, "", 1);
    json_free(v);
    return record(ctx, b.data);
}

static bool on_error(void *ctx, const char *desc)
{
    return record(ctx, xasprintf("E:%s", desc));
}

static struct proto_framer *framer_new(struct events *e)
{
    struct proto_framer_events ev = {on_message, on_error, e};
    memset(e, 0, sizeof(*e));
    return proto_framer_new(&ev);
}

static void events_clear(struct events *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->ev[i]);
    e->n = 0;
}

static void expect(struct events *e, const char *const *want, size_t n)
{
    for (size_t i = 0; i < n && i < e->n; i++)
        assert_string_equal(e->ev[i], want[i]);
    assert_int_equal(e->n, n);
    events_clear(e);
}

#define EXPECT(e, ...)                                                                             \
    do {                                                                                           \
        const char *const want_[] = {__VA_ARGS__};                                                 \
        expect((e), want_, sizeof(want_) / sizeof(want_[0]));                                      \
    } while (0)
#define EXPECT_NONE(e) assert_int_equal((e)->n, 0)

static void feed_str(struct proto_framer *f, const char *s)
{
    proto_framer_feed(f, s, strlen(s));
}

/* One input stream with one of everything; its events do not depend on how it is split. */
static const char stream[] = "{\"execute\":\"guest-ping\"}{ 'execute' : 'guest-sync', "
                             "'arguments':{'id':18446744073709551615}, 'id':'it\\'s \"x\"'}\n"
                             "  [1, {\"a\":\"\\'\\u00e9\\n\"}, true, null]\xff"
                             "{\"exec\xff{\"execute\":\"x\", \"id\": 1.7e12}"
                             "{\"a\":1,}{\"b\":[1,2]}42 \"top\" nope\n"
                             "{'a':'\\\"'}";
static const char *const stream_events[] = {
    "V:{\"execute\": \"guest-ping\"}",
    "V:{\"execute\": \"guest-sync\", \"arguments\": {\"id\": 18446744073709551615}, "
    "\"id\": \"it's \\\"x\\\"\"}",
    "V:[1, {\"a\": \"'\\u00E9\\n\"}, true, null]",
    "E:JSON parse error, stray '\xEF\xBF\xBD'",
    "V:{\"execute\": \"x\", \"id\": 1.7e12}",
    "E:JSON parse error, expecting value",
    "V:{\"b\": [1, 2]}",
    "V:42",
    "V:\"top\"",
    "E:JSON parse error, invalid keyword 'nope'",
    "V:{\"a\": \"\\\"\"}",
};
#define N_STREAM_EVENTS (sizeof(stream_events) / sizeof(stream_events[0]))

static void test_whole_stream(void **state)
{
    struct events e;
    struct proto_framer *f = framer_new(&e);
    proto_framer_feed(f, stream, sizeof(stream) - 1);
    expect(&e, stream_events, N_STREAM_EVENTS);
    proto_framer_free(f);
    assert_int_equal(proto_framer_buffered_total(), 0);
}

static void test_every_split_point(void **state)
{
    size_t len = sizeof(stream) - 1;
    for (size_t cut = 0; cut <= len; cut++) {
        struct events e;
        struct proto_framer *f = framer_new(&e);
        proto_framer_feed(f, stream, cut);
        proto_framer_feed(f, stream + cut, len - cut);
        expect(&e, stream_events, N_STREAM_EVENTS);
        proto_framer_free(f);
    }
}

static void test_byte_by_byte(void **state)
{
    struct events e;
    struct proto_framer *f = framer_new(&e);
    for (size_t i = 0; i < sizeof(stream) - 1; i++)
        proto_framer_feed(f, stream + i, 1);
    expect(&e, stream_events, N_STREAM_EVENTS);
    proto_framer_free(f);
}

static void test_dispatch_at_closing_brace(void **state)
{
    struct events e;
    struct proto_framer *f = framer_new(&e);
    feed_str(f, "{\"execute\":\"guest-ping\"");
    EXPECT_NONE(&e);
    feed_str(f, "}");
    EXPECT(&e, "V:{\"execute\": \"guest-ping\"}");
    /* a top-level scalar needs its delimiter, as upstream */
    feed_str(f, "42");
    EXPECT_NONE(&e);
    feed_str(f, "\n");
    EXPECT(&e, "V:42");
    feed_str(f, "-7{}");
    EXPECT(&e, "V:-7", "V:{}");
    proto_framer_free(f);
}

static void test_resync(void **state)
{
    struct events e;
    struct proto_framer *f = framer_new(&e);
    /* a lone 0xFF (or 0xFE) between requests: no reply at all */
    feed_str(f, "\xff\n\xfe{\"execute\":\"a\"}\xff\xff");
    EXPECT(&e, "V:{\"execute\": \"a\"}");
    /* partial input: one error, then a clean start */
    feed_str(f, "{\"execute\":\"gue");
    feed_str(f, "\xff\xff{\"execute\":\"b\"}");
    EXPECT(&e, "E:JSON parse error, stray '\xEF\xBF\xBD'", "V:{\"execute\": \"b\"}");
    /* a message already being skipped after an error gets no second error */
    feed_str(f, "{\"a\":@, \"b\":");
    feed_str(f, "\xff{}");
    EXPECT(&e, "E:JSON parse error, stray '@'", "V:{}");
    proto_framer_free(f);
}

static void test_error_texts(void **state)
{
    static const char *const cases[][2] = {
        {"{\"a\":1,}", "expecting value"},
        {"[1,]", "expecting value"},
        {"{\"a\":}", "expecting value"},
        {"}", "expecting value"},
        {",", "expecting value"},
        {"{\"a\" 1}", "missing : in object pair"},
        {"{\"a\":1 \"b\":2}", "expected separator in dict"},
        {"[1 2]", "expected separator in list"},
        {"{1:2}", "key is not a string in object"},
        {"{[]:2}", "key is not a string in object"},
        {"{,}", "expecting value"},
        {"{\"a\":tru}", "invalid keyword 'tru'"},
        {"{\"a\":\"\\q\"}", "invalid escape sequence in string"},
        {"{\"a\":\"\\u12x4\"}", "invalid escape sequence in string"},
        {"{\"a\":\"\x80\"}", "invalid UTF-8 sequence in string"},
        {"{\"a\":1,\"a\":2}", "duplicate key"},
        {"{\"a\":@}", "stray '@'"},
        {"{\"a\":1.}", "malformed number, a digit is required after the decimal point"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct events e;
        struct proto_framer *f = framer_new(&e);
        char *want = xasprintf("E:JSON parse error, %s", cases[i][1]);
        feed_str(f, cases[i][0]);
        feed_str(f, " {\"execute\":\"next\"}");
        EXPECT(&e, want, "V:{\"execute\": \"next\"}");
        free(want);
        proto_framer_free(f);
    }
}

/* An error found when a read ends mid-message: the rest of that message is skipped. */
static void test_error_then_rest_skipped(void **state)
{
    struct events e;
    struct proto_framer *f = framer_new(&e);
    feed_str(f, "{\"a\" 1, \"x\": [");
    EXPECT(&e, "E:JSON parse error, missing : in object pair");
    feed_str(f, "{\"}\": ']'}], 'q': \"{\"}{\"execute\":\"ok\"}");
    EXPECT(&e, "V:{\"execute\": \"ok\"}");
    proto_framer_free(f);
}

static void test_duplicate_keys_large_object(void **state)
{
    struct events e;
    struct proto_framer *f = framer_new(&e);
    struct buf b = {0};
    buf_put(&b, "{", 1);
    for (int i = 0; i < 1000; i++) {
        char *m = xasprintf("%s\"k%d\":%d", i ? "," : "", i, i);
        buf_put(&b, m, strlen(m));
        free(m);
    }
    buf_put(&b, "}", 1);
    proto_framer_feed(f, b.data, b.len);
    assert_int_equal(e.n, 1);
    assert_memory_equal(e.ev[0], "V:{\"k0\": 0, ", 12);
    events_clear(&e);
    b.len--; /* the same object plus one repeated key */
    buf_put(&b, ",\"k500\":1}", 10);
    proto_framer_feed(f, b.data, b.len);
    EXPECT(&e, "E:JSON parse error, duplicate key");
    free(b.data);
    proto_framer_free(f);
}

static void test_numbers_exact(void **state)
{
    struct events e;
    struct proto_framer *f = framer_new(&e);
    feed_str(f, "{\"id\":1700000000123}{\"id\":9223372036854775807}{\"id\":18446744073709551615}"
                "{\"id\":-9223372036854775808}{\"id\":1e400}");
    EXPECT(&e, "V:{\"id\": 1700000000123}", "V:{\"id\": 9223372036854775807}",
           "V:{\"id\": 18446744073709551615}", "V:{\"id\": -9223372036854775808}",
           "V:{\"id\": 1e400}");
    proto_framer_free(f);
}

static char *nested(size_t depth)
{
    char *s = xmalloc(2 * depth + 1);
    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    s[2 * depth] = '\0';
    return s;
}

static void test_nesting_cap(void **state)
{
    struct events e;
    struct proto_framer *f = framer_new(&e);
    char *ok = nested(QGAD_MAX_NESTING), *deep = nested(QGAD_MAX_NESTING + 1);
    feed_str(f, ok);
    assert_int_equal(e.n, 1);
    assert_memory_equal(e.ev[0], "V:[[[", 5);
    events_clear(&e);
    feed_str(f, deep);
    feed_str(f, "{\"execute\":\"next\"}");
    EXPECT(&e, "E:JSON nesting depth limit exceeded", "V:{\"execute\": \"next\"}");
    free(ok);
    free(deep);
    proto_framer_free(f);
}

/* [1,1,...]: n elements are 2n+1 tokens. */
static void feed_array_tokens(struct proto_framer *f, size_t n)
{
    size_t len = 2 * n + 1;
    char *s = xmalloc(len);
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = i ? ',' : '[';
        s[2 * i + 1] = '1';
    }
    s[len - 1] = ']';
    for (size_t off = 0; off < len; off += QGAD_READ_CHUNK)
        proto_framer_feed(f, s + off, len - off < QGAD_READ_CHUNK ? len - off : QGAD_READ_CHUNK);
    free(s);
}

static void test_token_count_cap(void **state)
{
    struct events e;
    struct proto_framer *f = framer_new(&e);
    feed_array_tokens(f, (QGAD_MAX_MESSAGE_TOKENS - 1) / 2); /* exactly the cap */
    assert_int_equal(e.n, 1);
    assert_memory_equal(e.ev[0], "V:[1, 1", 7);
    events_clear(&e);
    feed_array_tokens(f, (QGAD_MAX_MESSAGE_TOKENS - 1) / 2 + 1);
    feed_str(f, "{\"execute\":\"next\"}");
    EXPECT(&e, "E:JSON token count limit exceeded", "V:{\"execute\": \"next\"}");
    proto_framer_free(f);
}

/* {"data":"aaaa..."} with n a's, fed in read-sized chunks. */
static void feed_big_string(struct proto_framer *f, size_t n, bool close)
{
    static char chunk[QGAD_READ_CHUNK];
    memset(chunk, 'a', sizeof(chunk));
    feed_str(f, "{\"data\":\"");
    for (size_t done = 0; done < n; done += sizeof(chunk))
        proto_framer_feed(f, chunk, n - done < sizeof(chunk) ? n - done : sizeof(chunk));
    if (close)
        feed_str(f, "\"}");
}

static void test_message_size_cap(void **state)
{
    struct events e;
    struct proto_framer *f = framer_new(&e);
    /* 48 MiB of payload parses (a guest-file-write of a full read) */
    feed_big_string(f, 48u << 20, true);
    assert_int_equal(e.n, 1);
    assert_int_equal(strlen(e.ev[0]), strlen("V:{\"data\": \"\"}") + (48u << 20));
    events_clear(&e);
    feed_big_string(f, QGAD_MAX_MESSAGE_BYTES, true);
    feed_str(f, "{\"execute\":\"next\"}");
    EXPECT(&e, "E:JSON token size limit exceeded", "V:{\"execute\": \"next\"}");
    assert_int_equal(proto_framer_buffered_total(), 0);
    proto_framer_free(f);
}

/* One event: the value {"data":"a..."} with n a's. */
static void expect_big_value(struct events *e, size_t n)
{
    assert_int_equal(e->n, 1);
    assert_int_equal(strlen(e->ev[0]), strlen("V:{\"data\": \"\"}") + n);
    events_clear(e);
}

/* Frees done in the threadpool so far (base/release.h), once those queued have run. */
static unsigned pool_frees(void)
{
    unsigned started, finished;
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    release_activity(&started, &finished);
    return finished;
}

#define BIG_OPEN 9  /* {"data":" */
#define BIG_CLOSE 2 /* "} */
#define SHARE_MIN QGAD_INPUT_SESSION_MIN
#define SHARE_POOL QGAD_MAX_INPUT_TOTAL_BYTES

/* The per-session share (framer.h): two framers each hold a whole 64 MiB message but its
 * end (the hostile host's lock-out), and a third and a fourth are still served: the third
 * from what is left of the pool, the fourth, with the pool full, from its own minimum. */
static void test_input_share(void **state)
{
    struct events e1, e2, e3, e4;
    struct proto_framer *f1 = framer_new(&e1), *f2 = framer_new(&e2), *f3 = framer_new(&e3),
                        *f4 = framer_new(&e4);
    size_t held = QGAD_MAX_MESSAGE_BYTES - BIG_CLOSE; /* message bytes of each holder */
    feed_big_string(f1, held - BIG_OPEN, false);
    feed_big_string(f2, held - BIG_OPEN, false);
    EXPECT_NONE(&e1);
    EXPECT_NONE(&e2);
    assert_int_equal(proto_framer_buffered_total(), 2 * held);
    assert_int_equal(proto_framer_pool_used(), 2 * (held - SHARE_MIN));

    /* f3: its minimum plus the pool's rest, exactly; one byte more is over its share */
    size_t share3 = SHARE_MIN + SHARE_POOL - 2 * (held - SHARE_MIN);
    feed_big_string(f3, share3 - BIG_OPEN - BIG_CLOSE, true);
    expect_big_value(&e3, share3 - BIG_OPEN - BIG_CLOSE);
    feed_big_string(f3, share3 - BIG_OPEN - BIG_CLOSE + 1, true);
    feed_str(f3, "{\"execute\":\"next\"}");
    EXPECT(&e3, "E:JSON parse error, input buffer limit exceeded", "V:{\"execute\": \"next\"}");
    assert_int_equal(proto_framer_pool_used(), 2 * (held - SHARE_MIN));

    /* f3 takes the whole pool; f4 still has its minimum, and no more */
    feed_big_string(f3, share3 - BIG_OPEN, false);
    EXPECT_NONE(&e3);
    assert_int_equal(proto_framer_pool_used(), SHARE_POOL);
    feed_big_string(f4, SHARE_MIN - BIG_OPEN - BIG_CLOSE, true);
    expect_big_value(&e4, SHARE_MIN - BIG_OPEN - BIG_CLOSE);
    feed_big_string(f4, SHARE_MIN - BIG_OPEN - BIG_CLOSE + 1, true);
    feed_str(f4, "\xFF{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":1}}");
    EXPECT(&e4, "E:JSON parse error, input buffer limit exceeded",
           "V:{\"execute\": \"guest-sync-delimited\", \"arguments\": {\"id\": 1}}");
    assert_int_equal(proto_framer_pool_used(), SHARE_POOL);

    /* a holder's end needs pool bytes too: while the pool is full, it is over its share;
     * its 64 MiB (a string the parser holds by then) are freed in the threadpool */
    unsigned frees = pool_frees();
    feed_str(f1, "\"}{\"execute\":\"next\"}");
    EXPECT(&e1, "E:JSON parse error, input buffer limit exceeded", "V:{\"execute\": \"next\"}");
    assert_true(pool_frees() > frees);
    frees = pool_frees();
    proto_framer_free(f3); /* a partial message is released with its framer, off the loop */
    assert_true(pool_frees() > frees);
    feed_big_string(f4, 2u << 20, false);
    feed_str(f4, "\","); /* the string is in the parser's tree now */
    frees = pool_frees();
    feed_str(f4, "\xFF"); /* and the tree goes to the threadpool */
    EXPECT(&e4, "E:JSON parse error, stray '\xEF\xBF\xBD'");
    assert_true(pool_frees() > frees);
    assert_int_equal(proto_framer_pool_used(), held - SHARE_MIN);
    feed_str(f2, "\"}");
    expect_big_value(&e2, held - BIG_OPEN);
    assert_int_equal(proto_framer_buffered_total(), 0);
    assert_int_equal(proto_framer_pool_used(), 0);
    feed_big_string(f4, 32u << 20, true); /* the pool is back */
    expect_big_value(&e4, 32u << 20);
    proto_framer_free(f1);
    proto_framer_free(f2);
    proto_framer_free(f4);
    assert_int_equal(proto_framer_buffered_total(), 0);
}

static void test_stop_request(void **state)
{
    struct events e;
    struct proto_framer *f = framer_new(&e);
    e.stop_after = 2;
    assert_false(proto_framer_feed(f, "{}[]{}{}", 8));
    EXPECT(&e, "V:{}", "V:[]");
    proto_framer_free(f);
}

/* Fills n bytes of c into b. */
static void put_fill(struct buf *b, char c, size_t n)
{
    buf_reserve(b, n);
    memset(b->data + b->len, c, n);
    b->len += n;
}

static void put_str(struct buf *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

/* Long plain strings skip yajl (the framer hands them over); they must come out the same,
 * whatever their position (value, key, top level) and however the input is split. */
static void test_big_strings(void **state)
{
    const size_t big = 70000;
    struct buf in = {0}, want = {0};
    put_str(&in, "{\"a\":\"");
    put_fill(&in, 'x', big);
    put_str(&in, "\",\"b\":'small',\"");
    put_fill(&in, 'k', big);
    put_str(&in, "\":'");
    put_fill(&in, 'y', big);
    put_str(&in, "',\"esc\":\"");
    put_fill(&in, 'z', big);
    put_str(&in, "\\n\xc3\xa9\"}\"");
    put_fill(&in, 't', big);
    put_str(&in, "\"{\"e\":\"");
    put_fill(&in, 'e', big);
    put_str(&in, "\" 1}{\"q\" 1,\"e\":\"");
    put_fill(&in, 'e', big);
    put_str(&in, "\"}{}");

    put_str(&want, "V:{\"a\": \"");
    put_fill(&want, 'x', big);
    put_str(&want, "\", \"b\": \"small\", \"");
    put_fill(&want, 'k', big);
    put_str(&want, "\": \"");
    put_fill(&want, 'y', big);
    put_str(&want, "\", \"esc\": \"");
    put_fill(&want, 'z', big);
    put_str(&want, "\\n\\u00E9\"}");
    buf_put(&want, "", 1);
    struct buf top = {0};
    put_str(&top, "V:\"");
    put_fill(&top, 't', big);
    put_str(&top, "\"");
    buf_put(&top, "", 1);

    const size_t chunks[] = {1, 1000, QGAD_READ_CHUNK, in.len};
    for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
        size_t chunk = chunks[c];
        struct events e;
        struct proto_framer *f = framer_new(&e);
        for (size_t off = 0; off < in.len; off += chunk)
            proto_framer_feed(f, in.data + off, in.len - off < chunk ? in.len - off : chunk);
        EXPECT(&e, want.data, top.data, "E:JSON parse error, expected separator in dict",
               "E:JSON parse error, missing : in object pair", "V:{}");
        proto_framer_free(f);
    }
    free(in.data);
    free(want.data);
    free(top.data);
    assert_int_equal(proto_framer_buffered_total(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_stream),
        cmocka_unit_test(test_every_split_point),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_dispatch_at_closing_brace),
        cmocka_unit_test(test_resync),
        cmocka_unit_test(test_error_texts),
        cmocka_unit_test(test_error_then_rest_skipped),
        cmocka_unit_test(test_duplicate_keys_large_object),
        cmocka_unit_test(test_numbers_exact),
        cmocka_unit_test(test_nesting_cap),
        cmocka_unit_test(test_token_count_cap),
        cmocka_unit_test(test_message_size_cap),
        cmocka_unit_test(test_input_share),
        cmocka_unit_test(test_stop_request),
        cmocka_unit_test(test_big_strings),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT); /* the buffers freed in the pool */
    uv_loop_close(uv_default_loop());
    return rc;
}
