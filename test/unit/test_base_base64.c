/* base/base64.c: padded standard-alphabet output; input checked as upstream checks it
 * (alphabet, '=' and '\n' only) and decoded as GLib decodes it, unpadded tails included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/base64.h"

/* Decodes text and checks it gives want (want_len bytes), NUL-terminated. */
static void assert_decodes(const char *text, const void *want, size_t want_len)
{
    size_t len = 12345;
    char *out = base64_decode(text, &len);
    assert_non_null(out);
    assert_int_equal(len, want_len);
    assert_memory_equal(out, want, want_len);
    assert_int_equal(out[len], 0);
    free(out);
}

static void assert_refused(const char *text)
{
    size_t len = 12345;
    char *out = base64_decode(text, &len);
    if (out)
        fail_msg("\"%s\" decoded to %zu bytes", text, len);
}

static void assert_encodes(const char *data, const char *want)
{
    char *out = base64_encode(data, strlen(data));
    assert_string_equal(out, want);
    free(out);
}

/* RFC 4648, section 10 */
static void test_encode_rfc4648_vectors(void **state)
{
    assert_encodes("", "");
    assert_encodes("f", "Zg==");
    assert_encodes("fo", "Zm8=");
    assert_encodes("foo", "Zm9v");
    assert_encodes("foob", "Zm9vYg==");
    assert_encodes("fooba", "Zm9vYmE=");
    assert_encodes("foobar", "Zm9vYmFy");
}

static void test_decode_rfc4648_vectors(void **state)
{
    assert_decodes("", "", 0);
    assert_decodes("Zg==", "f", 1);
    assert_decodes("Zm8=", "fo", 2);
    assert_decodes("Zm9v", "foo", 3);
    assert_decodes("Zm9vYg==", "foob", 4);
    assert_decodes("Zm9vYmE=", "fooba", 5);
    assert_decodes("Zm9vYmFy", "foobar", 6);
}

/* the last two letters of the alphabet, and the bytes at the ends of the range */
static void test_alphabet_ends(void **state)
{
    const unsigned char high[] = {0xfb, 0xef, 0xff};
    const unsigned char zero[] = {0, 0, 0};
    char *out = base64_encode(high, sizeof(high));
    assert_string_equal(out, "++//");
    free(out);
    assert_decodes("++//", high, sizeof(high));

    out = base64_encode(zero, sizeof(zero));
    assert_string_equal(out, "AAAA");
    free(out);
    assert_decodes("AAAA", zero, sizeof(zero));

    out = base64_encode(high + 2, 1);
    assert_string_equal(out, "/w==");
    free(out);
}

static void test_encode_length_is_padded(void **state)
{
    unsigned char data[64] = {0};
    for (size_t len = 0; len <= sizeof(data); len++) {
        char *out = base64_encode(data, len);
        assert_int_equal(strlen(out), (len + 2) / 3 * 4);
        size_t pad = strlen(out) - strcspn(out, "=");
        assert_int_equal(pad, (3 - len % 3) % 3);
        free(out);
    }
}

static void test_round_trip_every_length(void **state)
{
    unsigned char data[600];
    for (size_t k = 0; k < sizeof(data); k++)
        data[k] = (unsigned char)(k * 151 + 7);
    for (size_t len = 0; len <= sizeof(data); len++) {
        char *text = base64_encode(data, len);
        assert_decodes(text, data, len);
        free(text);
    }
}

/* every byte value at each of the three positions of a group */
static void test_round_trip_all_byte_values(void **state)
{
    unsigned char data[258];
    for (size_t shift = 0; shift < 3; shift++) {
        for (size_t k = 0; k < sizeof(data); k++)
            data[k] = (unsigned char)(k + shift);
        char *text = base64_encode(data, sizeof(data) - shift);
        assert_decodes(text, data, sizeof(data) - shift);
        free(text);
    }
}

/* upstream's GLib decoder drops an unpadded last group; qgad decodes it (base64.h) */
static void test_missing_padding_accepted(void **state)
{
    assert_decodes("Zg", "f", 1);
    assert_decodes("Zm8", "fo", 2);
    assert_decodes("Zm9vYg", "foob", 4);
    assert_decodes("Zm9vYmE", "fooba", 5);
    assert_decodes("Zg=", "f", 1); /* one of two '=' */
    assert_decodes("Zm9vYg=", "foob", 4);
    assert_decodes("Zh", "f", 1);      /* bits past the last byte are ignored, as GLib */
    assert_decodes("Zm9vY", "foo", 3); /* one character holds no whole byte */
}

static void test_newlines_are_skipped(void **state)
{
    assert_decodes("Zm9v\nYmFy\n", "foobar", 6);
    assert_decodes("\nZ\nm\n9\nv\n", "foo", 3);
    assert_decodes("Zm\n8=", "fo", 2);
    assert_decodes("Zg=\n=", "f", 1);
    assert_decodes("\n\n\n", "", 0);
}

/* only '\n' is allowed: upstream's check refuses every other white space */
static void test_other_whitespace_refused(void **state)
{
    assert_refused("Zm9v YmFy");
    assert_refused("Zm9v\r\nYmFy");
    assert_refused("Zm9v\tYmFy");
    assert_refused(" Zm9v");
    assert_refused("Zm9v\v");
    assert_refused("Zm9v\f");
}

static void test_invalid_characters_refused(void **state)
{
    const char *bad = "-_.*!#$%&,:;?@[]^`{|}~\"'\\()<>";
    for (const char *c = bad; *c; c++) {
        char text[] = "Zm9vYmFy";
        text[0] = *c; /* first, middle and last position */
        assert_refused(text);
        memcpy(text, "Zm9vYmFy", 8);
        text[4] = *c;
        assert_refused(text);
        memcpy(text, "Zm9vYmFy", 8);
        text[7] = *c;
        assert_refused(text);
    }
    assert_refused("Zm9v\x80");
    assert_refused("Zm9v\xff");
    assert_refused("\x01Zm9v");
}

/* GLib's decoder runs on after padding: each padded group gives its bytes */
static void test_padding_inside_decodes_as_glib(void **state)
{
    assert_decodes("Zg==Zg==", "ff", 2);
    assert_decodes("Zm8=Zm9v", "fofoo", 5);
    assert_decodes("====", "\0", 1); /* GLib always emits a group's first byte */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_rfc4648_vectors),
        cmocka_unit_test(test_decode_rfc4648_vectors),
        cmocka_unit_test(test_alphabet_ends),
        cmocka_unit_test(test_encode_length_is_padded),
        cmocka_unit_test(test_round_trip_every_length),
        cmocka_unit_test(test_round_trip_all_byte_values),
        cmocka_unit_test(test_missing_padding_accepted),
        cmocka_unit_test(test_newlines_are_skipped),
        cmocka_unit_test(test_other_whitespace_refused),
        cmocka_unit_test(test_invalid_characters_refused),
        cmocka_unit_test(test_padding_inside_decodes_as_glib),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
