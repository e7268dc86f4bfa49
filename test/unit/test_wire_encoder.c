/* Reply encoding: upstream's separators, ASCII-only strings, verbatim numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/json.h"
#include "protocol/wire/encoder.h"

static void assert_encodes(yajl_val v, const char *want)
{
    struct buf b = {0};
    proto_encode_value(&b, v);
    buf_put(&b, "", 1);
    assert_string_equal(b.data, want);
    free(b.data);
    json_free(v);
}

static void test_string_escapes(void **state)
{
    assert_encodes(json_string("caf\xc3\xa9"), "\"caf\\u00E9\"");
    assert_encodes(json_string("\xf0\x9f\x98\x80"), "\"\\uD83D\\uDE00\"");
    assert_encodes(json_string("\xe2\x82\xac"), "\"\\u20AC\"");
    assert_encodes(json_string("q\"b\\s/"), "\"q\\\"b\\\\s/\"");
    assert_encodes(json_string("\b\f\n\r\t"), "\"\\b\\f\\n\\r\\t\"");
    assert_encodes(json_string("\x01\x1f\x7f"), "\"\\u0001\\u001F\\u007F\"");
    assert_encodes(json_string("plain ASCII ~"), "\"plain ASCII ~\"");
    assert_encodes(json_string(""), "\"\"");
}

static void test_invalid_utf8(void **state)
{
    assert_encodes(json_string("a\xff"
                               "b"),
                   "\"a\\uFFFDb\"");
    assert_encodes(json_string("\x80"), "\"\\uFFFD\"");
    assert_encodes(json_string("end\xc3"), "\"end\\uFFFD\""); /* truncated at the end */
    assert_encodes(json_string("\xe2\x82x"), "\"\\uFFFDx\""); /* truncated inside */
    /* a whole sequence that decodes to a rejected code point is one U+FFFD, as upstream */
    assert_encodes(json_string("\xc0\xaf"), "\"\\uFFFD\"");            /* overlong '/' */
    assert_encodes(json_string("\xed\xa0\x80"), "\"\\uFFFD\"");        /* surrogate */
    assert_encodes(json_string("\xf4\x90\x80\x80"), "\"\\uFFFD\"");    /* above U+10FFFF */
    assert_encodes(json_string("\xef\xbf\xbf"), "\"\\uFFFD\"");        /* noncharacter */
    assert_encodes(json_string("\xc3\xc3\xa9"), "\"\\uFFFD\\u00E9\""); /* restarts */
    /* modified UTF-8's NUL, how the parser keeps \u0000 */
    assert_encodes(json_string("a\xc0\x80"
                               "b"),
                   "\"a\\u0000b\"");
}

static void test_values(void **state)
{
    yajl_val o = json_object();
    yajl_val a = json_array();
    json_array_add(a, json_int(1));
    json_array_add(a, json_bool(false));
    json_array_add(a, json_null());
    json_object_add(o, "a", a);
    json_object_add(o, "b", json_object());
    json_object_add(o, "c", json_array());
    json_object_add_bool(o, "d", true);
    json_object_add(o, "k\xc3\xa9y", json_string("v"));
    assert_encodes(o, "{\"a\": [1, false, null], \"b\": {}, \"c\": [], \"d\": true, "
                      "\"k\\u00E9y\": \"v\"}");
}

static void test_numbers_verbatim(void **state)
{
    assert_encodes(json_uint(UINT64_MAX), "18446744073709551615");
    assert_encodes(json_int(INT64_MIN), "-9223372036854775808");
    assert_encodes(json_double(0.1), "0.10000000000000001");
    assert_encodes(json_number_text("1.7e12", 6), "1.7e12");
}

static void test_replies(void **state)
{
    size_t len;
    yajl_val id = json_uint(UINT64_MAX), ret = json_object();
    char *r = proto_reply_return(ret, id, false, &len);
    const char *want = "{\"return\": {}, \"id\": 18446744073709551615}\n";
    assert_int_equal(len, strlen(want));
    assert_memory_equal(r, want, len);
    free(r);

    r = proto_reply_return(ret, NULL, true, &len);
    assert_int_equal(len, 16);
    assert_memory_equal(r, "\xff{\"return\": {}}\n", 16);
    free(r);

    r = proto_reply_error("GenericError", "bad \"x\"", id, &len);
    want = "{\"error\": {\"class\": \"GenericError\", \"desc\": \"bad \\\"x\\\"\"}, "
           "\"id\": 18446744073709551615}\n";
    assert_int_equal(len, strlen(want));
    assert_memory_equal(r, want, len);
    free(r);

    yajl_val null_id = json_null();
    r = proto_reply_error("CommandNotFound", "x", null_id, &len);
    want = "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"x\"}, \"id\": null}\n";
    assert_int_equal(len, strlen(want));
    assert_memory_equal(r, want, len);
    free(r);
    json_free(null_id);
    json_free(id);
    json_free(ret);
}

static void test_size_exceeds(void **state)
{
    yajl_val o = json_object();
    json_object_add_str(o, "small", "0123456789");
    assert_false(proto_encode_size_exceeds(o, 100));
    assert_true(proto_encode_size_exceeds(o, 20));
    yajl_val a = json_array();
    for (int i = 0; i < 50; i++)
        json_array_add(a, json_int(i));
    json_object_add(o, "many", a);
    assert_true(proto_encode_size_exceeds(o, 400)); /* many small values count too */
    assert_false(proto_encode_size_exceeds(o, 4000));
    json_free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_string_escapes), cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_values),         cmocka_unit_test(test_numbers_verbatim),
        cmocka_unit_test(test_replies),        cmocka_unit_test(test_size_exceeds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
