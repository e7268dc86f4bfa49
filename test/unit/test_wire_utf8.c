/* Strict UTF-8 (utf8.h) on its own and through the framer: every rejected form gives
 * upstream's text (checked against Debian's qemu-ga 7.2) and the next request still
 * parses; every accepted boundary, raw or escaped, comes back through the encoder as the
 * same code point. Each input is fed whole and one byte per read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/json.h"
#include "base/xalloc.h"
#include "protocol/wire/encoder.h"
#include "protocol/wire/framer.h"
#include "protocol/wire/utf8.h"

#define ERR_UTF8 "E:JSON parse error, invalid UTF-8 sequence in string"
#define NEXT "{\"execute\":\"next\"}"

struct seen {
    struct buf text; /* events, each "V:<encoded>\n" or "E:<desc>\n" */
};

static bool on_message(void *ctx, yajl_val v)
{
    struct seen *s = ctx;
    buf_put(&s->text, "V:", 2);
    proto_encode_value(&s->text, v);
    buf_put(&s->text, "\n", 1);
    json_free(v);
    return true;
}

static bool on_error(void *ctx, const char *desc)
{
    struct seen *s = ctx;
    buf_put(&s->text, "E:", 2);
    buf_put(&s->text, desc, strlen(desc));
    buf_put(&s->text, "\n", 1);
    return true;
}

/* Feeds `in` then NEXT (whole, or byte by byte); the events must be `want` then NEXT. */
static void check_one(const char *in, const char *want, bool bytewise)
{
    struct seen s = {0};
    struct proto_framer_events ev = {on_message, on_error, &s};
    struct proto_framer *f = proto_framer_new(&ev);
    char *all = xasprintf("%s" NEXT, in);
    size_t n = strlen(all);
    for (size_t i = 0; i < n; i += bytewise ? 1 : n)
        proto_framer_feed(f, all + i, bytewise ? 1 : n);
    char *expected = xasprintf("%s\nV:{\"execute\": \"next\"}\n", want);
    buf_put(&s.text, "", 1);
    assert_string_equal(s.text.data, expected);
    free(expected);
    free(all);
    free(s.text.data);
    proto_framer_free(f);
    assert_int_equal(proto_framer_buffered_total(), 0);
}

static void check(const char *in, const char *want)
{
    check_one(in, want, false);
    check_one(in, want, true);
}

static void test_raw_rejected(void **state)
{
    static const char *const bad[] = {
        "\xc0\xaf",         /* overlong '/' */
        "\xc1\xbf",         /* overlong U+007F */
        "\xe0\x80\xaf",     /* overlong, 3 bytes */
        "\xf0\x80\x80\xaf", /* overlong, 4 bytes */
        "\xed\xa0\x80",     /* encoded high surrogate */
        "\xed\xbf\xbf",     /* encoded low surrogate */
        "\xf4\x90\x80\x80", /* U+110000 */
        "\xf8\x88\x80\x80\x80",
        "\xc2",     /* truncated at the string's end */
        "\xe2\x82", /* truncated */
        "\xe2\x82x",
        "\x80",         /* stray continuation byte */
        "\xef\xbf\xbf", /* U+FFFF, a noncharacter: qemu-ga 7.2 rejects it */
        "\xef\xb7\x90", /* U+FDD0 */
        "\xf4\x8f\xbf\xbf",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *value = xasprintf("{\"id\":\"a%sb\"}", bad[i]);
        char *key = xasprintf("{\"%s\":1}", bad[i]);
        char *sq = xasprintf("{'id':'%s'}", bad[i]);
        check(value, ERR_UTF8);
        check(key, ERR_UTF8);
        check(sq, ERR_UTF8);
        free(value);
        free(key);
        free(sq);
    }
}

static void test_escape_rejected(void **state)
{
    static const char *const bad[][2] = {
        {"\\ud800", "\\ud800"},
        {"\\uD800", "\\uD800"}, /* quoted as sent */
        {"\\ud800x", "\\ud800"},
        {"\\ud800\\u0041", "\\ud800"},
        {"\\ud800\\ud800", "\\ud800"},
        {"\\ud800\\udbff", "\\ud800"},
        {"\\ud800\\n", "\\ud800"},
        {"\\udc00", "\\udc00"},
        {"\\udc00\\ud800", "\\udc00"},
        {"\\uffff", "\\uffff"},
        {"\\ufffe", "\\ufffe"},
        {"\\ufdd0", "\\ufdd0"},
        {"\\udbff\\udfff", "\\udbff\\udfff"}, /* the pair is U+10FFFF */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *in = xasprintf("{\"id\":\"a%sb\"}", bad[i][0]);
        char *sq = xasprintf("{'%s':1}", bad[i][0]);
        char *want =
            xasprintf("E:JSON parse error, %s is not a valid Unicode character", bad[i][1]);
        check(in, want);
        check(sq, want);
        free(in);
        free(sq);
        free(want);
    }
    check("{\"id\":\"\\ud800\\uzzzz\"}", "E:JSON parse error, invalid escape sequence in string");
}

static void test_accepted(void **state)
{
    static const char *const good[][2] = {
        {"\x7f", "\\u007F"},
        {"\xc2\x80", "\\u0080"},
        {"\xdf\xbf", "\\u07FF"},
        {"\xe0\xa0\x80", "\\u0800"},
        {"\xed\x9f\xbf", "\\uD7FF"},
        {"\xee\x80\x80", "\\uE000"},
        {"\xef\xbf\xbd", "\\uFFFD"},
        {"\xf0\x90\x80\x80", "\\uD800\\uDC00"},
        {"\xf4\x8f\xbf\xbd", "\\uDBFF\\uDFFD"},
        {"\xc0\x80", "\\u0000"}, /* modified UTF-8 NUL, as qemu-ga 7.2 */
        {"\\u0000", "\\u0000"},
        {"\\u007f\\u0080\\u07ff\\u0800\\ufffd", "\\u007F\\u0080\\u07FF\\u0800\\uFFFD"},
        {"\\ud800\\udc00", "\\uD800\\uDC00"},
        {"\\uD83D\\uDE00", "\\uD83D\\uDE00"},
        {"\\udbff\\udffd", "\\uDBFF\\uDFFD"},
        {"\xf0\x9f\x98\x80\\u00e9", "\\uD83D\\uDE00\\u00E9"},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char *in = xasprintf("{\"id\":\"%s\"}", good[i][0]);
        char *sq = xasprintf("{'%s':'%s'}", good[i][0], good[i][0]);
        char *want = xasprintf("V:{\"id\": \"%s\"}", good[i][1]);
        char *want_sq = xasprintf("V:{\"%s\": \"%s\"}", good[i][1], good[i][1]);
        check(in, want);
        check(sq, want_sq);
        free(in);
        free(sq);
        free(want);
        free(want_sq);
    }
}

static void test_decoder(void **state)
{
    uint32_t cp;
    assert_int_equal(utf8_decode((const unsigned char *)"\xf4\x8f\xbf\xbd", &cp), 4);
    assert_int_equal(cp, 0x10FFFD);
    assert_int_equal(utf8_decode((const unsigned char *)"\xc0\x80", &cp), 2);
    assert_int_equal(cp, 0);
    assert_int_equal(utf8_decode((const unsigned char *)"\xe2\x82x", &cp), 2);
    assert_int_equal(cp, UTF8_REPLACEMENT);
    assert_int_equal(utf8_decode((const unsigned char *)"\xed\xa0\x80", &cp), 3);
    assert_int_equal(cp, UTF8_REPLACEMENT);
    assert_int_equal(utf8_decode((const unsigned char *)"\xff", &cp), 1);
    assert_true(utf8_codepoint_valid(0x10FFFD) && utf8_codepoint_valid(0xFDCF));
    assert_false(utf8_codepoint_valid(0x1FFFE) || utf8_codepoint_valid(0xDFFF));
    assert_false(utf8_codepoint_valid(0x110000) || utf8_codepoint_valid(0xFDEF));
}

/* Every code point a string can hold, encoded raw, round-trips through framer + encoder
 * (the encoder's \uXXXX, surrogate pairs above the BMP). */
static void test_every_code_point(void **state)
{
    for (uint32_t cp = 0x80; cp <= 0x10FFFF; cp += cp < 0x3000 ? 1 : 97) {
        if (!utf8_codepoint_valid(cp))
            continue;
        char raw[5] = {0};
        if (cp < 0x800) {
            raw[0] = (char)(0xC0 | cp >> 6);
            raw[1] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            raw[0] = (char)(0xE0 | cp >> 12);
            raw[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
            raw[2] = (char)(0x80 | (cp & 0x3F));
        } else {
            raw[0] = (char)(0xF0 | cp >> 18);
            raw[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
            raw[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
            raw[3] = (char)(0x80 | (cp & 0x3F));
        }
        uint32_t v = cp - 0x10000;
        char *in = xasprintf("{\"id\":\"%s\"}", raw);
        char *want = cp < 0x10000 ? xasprintf("V:{\"id\": \"\\u%04X\"}", cp)
                                  : xasprintf("V:{\"id\": \"\\u%04X\\u%04X\"}", 0xD800 | (v >> 10),
                                              0xDC00 | (v & 0x3FF));
        check_one(in, want, false);
        free(in);
        free(want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw_rejected),     cmocka_unit_test(test_escape_rejected),
        cmocka_unit_test(test_accepted),         cmocka_unit_test(test_decoder),
        cmocka_unit_test(test_every_code_point),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
