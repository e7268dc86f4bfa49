/* base/json.c: the yajl_val builders, member lookup, deep copy, and the exact integer views
 * that the argument checker relies on (64-bit limits, non-integers, number text). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"

/* A number from its text, as the parser makes it. */
static yajl_val number(const char *text)
{
    return json_number_text(text, strlen(text));
}

static bool int64_of(const char *text, int64_t *out)
{
    yajl_val v = number(text);
    bool ok = json_as_int64(v, out);
    json_free(v);
    return ok;
}

static bool uint64_of(const char *text, uint64_t *out)
{
    yajl_val v = number(text);
    bool ok = json_as_uint64(v, out);
    json_free(v);
    return ok;
}

/* v is a number whose integer view is want */
static void assert_int64_value(yajl_val v, int64_t want)
{
    int64_t i = want ^ 1;
    assert_true(json_as_int64(v, &i));
    assert_true(i == want);
}

static void test_scalars_have_their_type(void **state)
{
    yajl_val t = json_bool(true), f = json_bool(false), n = json_null();
    assert_int_equal(t->type, yajl_t_true);
    assert_int_equal(f->type, yajl_t_false);
    assert_int_equal(n->type, yajl_t_null);
    json_free(t);
    json_free(f);
    json_free(n);

    yajl_val o = json_object(), a = json_array();
    assert_int_equal(o->type, yajl_t_object);
    assert_int_equal(o->u.object.len, 0);
    assert_int_equal(a->type, yajl_t_array);
    assert_int_equal(a->u.array.len, 0);
    json_free(o);
    json_free(a);
}

static void test_string_copies_its_text(void **state)
{
    char text[] = "hello";
    yajl_val s = json_string(text);
    text[0] = 'j';
    assert_int_equal(s->type, yajl_t_string);
    assert_string_equal(s->u.string, "hello");
    json_free(s);

    s = json_string("");
    assert_string_equal(s->u.string, "");
    json_free(s);
}

static void test_string_len_takes_a_prefix(void **state)
{
    yajl_val s = json_string_len("hello world", 5);
    assert_string_equal(s->u.string, "hello");
    json_free(s);
    s = json_string_len("abc", 0);
    assert_string_equal(s->u.string, "");
    json_free(s);
}

static void test_string_take_keeps_the_pointer(void **state)
{
    char *mine = strdup("owned");
    yajl_val s = json_string_take(mine);
    assert_ptr_equal(s->u.string, mine);
    json_free(s); /* frees mine: a leak or double free shows under ASan */
}

static void test_int_text_and_value(void **state)
{
    const int64_t values[] = {0, 1, -1, 42, INT64_MAX, INT64_MIN};
    const char *texts[] = {"0", "1", "-1", "42", "9223372036854775807", "-9223372036854775808"};
    for (size_t k = 0; k < sizeof(values) / sizeof(values[0]); k++) {
        yajl_val v = json_int(values[k]);
        assert_int_equal(v->type, yajl_t_number);
        assert_string_equal(v->u.number.r, texts[k]);
        assert_true(v->u.number.flags & YAJL_NUMBER_INT_VALID);
        assert_int64_value(v, values[k]);
        json_free(v);
    }
}

static void test_uint_text_and_value(void **state)
{
    yajl_val v = json_uint(UINT64_MAX);
    uint64_t u = 0;
    int64_t i = 0;
    assert_string_equal(v->u.number.r, "18446744073709551615");
    assert_true(json_as_uint64(v, &u));
    assert_true(u == UINT64_MAX);
    assert_false(json_as_int64(v, &i)); /* above INT64_MAX */
    json_free(v);

    v = json_uint(0);
    assert_string_equal(v->u.number.r, "0");
    assert_true(json_as_uint64(v, &u));
    assert_true(u == 0);
    json_free(v);
}

static void test_double_keeps_value_and_exact_text(void **state)
{
    yajl_val v = json_double(0.1);
    assert_string_equal(v->u.number.r, "0.10000000000000001"); /* %.17g round-trips */
    assert_true(v->u.number.flags & YAJL_NUMBER_DOUBLE_VALID);
    assert_true(v->u.number.d == 0.1);
    json_free(v);

    /* an integral double prints as "2" but stays a double, not an integer */
    v = json_double(2.0);
    int64_t i = 0;
    assert_string_equal(v->u.number.r, "2");
    assert_int_equal(v->u.number.flags, YAJL_NUMBER_DOUBLE_VALID);
    assert_false(json_as_int64(v, &i));
    json_free(v);

    v = json_double(-2.5);
    assert_string_equal(v->u.number.r, "-2.5");
    json_free(v);

    v = json_double(-1.5e300);
    assert_true(v->u.number.d == -1.5e300);
    assert_true(strtod(v->u.number.r, NULL) == -1.5e300);
    json_free(v);
}

static void test_number_text_flags(void **state)
{
    yajl_val v = number("1.5");
    assert_string_equal(v->u.number.r, "1.5");
    assert_false(v->u.number.flags & YAJL_NUMBER_INT_VALID);
    assert_true(v->u.number.flags & YAJL_NUMBER_DOUBLE_VALID);
    assert_true(v->u.number.d == 1.5);
    json_free(v);

    /* too big for long long: no integer view, still a double */
    v = number("123456789012345678901234567890");
    assert_false(v->u.number.flags & YAJL_NUMBER_INT_VALID);
    assert_true(v->u.number.flags & YAJL_NUMBER_DOUBLE_VALID);
    json_free(v);

    /* beyond double range: neither view, the text is kept */
    v = number("1e400");
    assert_int_equal(v->u.number.flags, 0);
    assert_string_equal(v->u.number.r, "1e400");
    json_free(v);
}

static void test_number_text_uses_only_len(void **state)
{
    yajl_val v = json_number_text("12345", 3);
    assert_string_equal(v->u.number.r, "123");
    assert_int64_value(v, 123);
    json_free(v);
}

static void test_as_int64_limits(void **state)
{
    int64_t i = 0;
    assert_true(int64_of("9223372036854775807", &i));
    assert_true(i == INT64_MAX);
    assert_true(int64_of("-9223372036854775808", &i));
    assert_true(i == INT64_MIN);
    i = 5;
    assert_false(int64_of("9223372036854775808", &i));
    assert_false(int64_of("-9223372036854775809", &i));
    assert_false(int64_of("18446744073709551615", &i));
    assert_int_equal(i, 5); /* left alone on failure */
}

static void test_as_int64_non_integers(void **state)
{
    int64_t i = 5;
    assert_false(int64_of("1.5", &i));
    assert_false(int64_of("1.0", &i));
    assert_false(int64_of("1e3", &i)); /* a double token, as QEMU's lexer sees it */
    assert_false(int64_of("123456789012345678901234567890", &i));
    assert_int_equal(i, 5);

    assert_true(int64_of("-0", &i));
    assert_int_equal(i, 0);
}

static void test_as_int64_other_types(void **state)
{
    int64_t i = 5;
    yajl_val s = json_string("1"), t = json_bool(true), n = json_null(), o = json_object();
    assert_false(json_as_int64(s, &i));
    assert_false(json_as_int64(t, &i));
    assert_false(json_as_int64(n, &i));
    assert_false(json_as_int64(o, &i));
    assert_false(json_as_int64(NULL, &i));
    assert_int_equal(i, 5);
    json_free(s);
    json_free(t);
    json_free(n);
    json_free(o);
}

static void test_as_uint64_limits(void **state)
{
    uint64_t u = 0;
    assert_true(uint64_of("18446744073709551615", &u));
    assert_true(u == UINT64_MAX);
    assert_true(uint64_of("9223372036854775808", &u));
    assert_true(u == (uint64_t)INT64_MAX + 1);
    assert_true(uint64_of("0", &u));
    assert_true(u == 0);
    u = 5;
    assert_false(uint64_of("18446744073709551616", &u));
    assert_false(uint64_of("99999999999999999999999", &u));
    assert_true(u == 5);
}

static void test_as_uint64_negatives(void **state)
{
    uint64_t u = 5;
    assert_false(uint64_of("-1", &u));
    assert_false(uint64_of("-9223372036854775808", &u));
    assert_false(uint64_of("-18446744073709551615", &u)); /* strtoull would negate it */
    assert_true(u == 5);
    assert_true(uint64_of("-0", &u));
    assert_true(u == 0);
}

static void test_as_uint64_non_integers(void **state)
{
    uint64_t u = 5;
    assert_false(uint64_of("1.5", &u));
    assert_false(uint64_of("1e3", &u));
    assert_false(uint64_of("-0.0", &u));
    assert_true(u == 5);

    yajl_val s = json_string("1"), f = json_bool(false);
    assert_false(json_as_uint64(s, &u));
    assert_false(json_as_uint64(f, &u));
    assert_false(json_as_uint64(NULL, &u));
    assert_true(u == 5);
    json_free(s);
    json_free(f);
}

static void test_object_add_keeps_order_and_copies_keys(void **state)
{
    yajl_val o = json_object();
    char key[16];
    for (int k = 0; k < 100; k++) { /* past several regrowths */
        snprintf(key, sizeof(key), "k%d", k);
        json_object_add_int(o, key, k);
    }
    strcpy(key, "changed");
    assert_int_equal(o->u.object.len, 100);
    for (int k = 0; k < 100; k++) {
        char want[16];
        snprintf(want, sizeof(want), "k%d", k);
        assert_string_equal(o->u.object.keys[k], want);
        assert_int64_value(o->u.object.values[k], k);
    }
    json_free(o);
}

static void test_object_convenience_adders(void **state)
{
    yajl_val o = json_object();
    json_object_add_str(o, "s", "text");
    json_object_add_int(o, "i", -3);
    json_object_add_uint(o, "u", UINT64_MAX);
    json_object_add_bool(o, "t", true);
    json_object_add_bool(o, "f", false);
    json_object_add(o, "n", json_null());

    assert_int_equal(o->u.object.len, 6);
    assert_string_equal(json_get(o, "s")->u.string, "text");
    assert_string_equal(json_get(o, "i")->u.number.r, "-3");
    assert_string_equal(json_get(o, "u")->u.number.r, "18446744073709551615");
    assert_int_equal(json_get(o, "t")->type, yajl_t_true);
    assert_int_equal(json_get(o, "f")->type, yajl_t_false);
    assert_int_equal(json_get(o, "n")->type, yajl_t_null);
    json_free(o);
}

static void test_array_add_keeps_order(void **state)
{
    yajl_val a = json_array();
    for (int k = 0; k < 100; k++)
        json_array_add(a, json_int(k));
    assert_int_equal(a->u.array.len, 100);
    for (int k = 0; k < 100; k++)
        assert_int64_value(a->u.array.values[k], k);
    json_free(a);
}

static void test_get(void **state)
{
    yajl_val o = json_object();
    json_object_add_str(o, "a", "first");
    json_object_add_str(o, "b", "second");
    json_object_add_str(o, "a", "duplicate"); /* no duplicate check: lookup finds the first */

    assert_string_equal(json_get(o, "a")->u.string, "first");
    assert_string_equal(json_get(o, "b")->u.string, "second");
    assert_null(json_get(o, "c"));
    assert_null(json_get(o, "A"));
    assert_null(json_get(o, ""));
    assert_null(json_get(NULL, "a"));

    yajl_val a = json_array(), s = json_string("a");
    json_array_add(a, json_string("a"));
    assert_null(json_get(a, "a"));
    assert_null(json_get(s, "a"));
    json_free(a);
    json_free(s);
    json_free(o);
}

static void assert_same_tree(yajl_val x, yajl_val y)
{
    assert_non_null(x);
    assert_non_null(y);
    assert_ptr_not_equal(x, y);
    assert_int_equal(x->type, y->type);
    switch (x->type) {
    case yajl_t_string:
        assert_ptr_not_equal(x->u.string, y->u.string);
        assert_string_equal(x->u.string, y->u.string);
        break;
    case yajl_t_number:
        assert_ptr_not_equal(x->u.number.r, y->u.number.r);
        assert_string_equal(x->u.number.r, y->u.number.r);
        break;
    case yajl_t_object:
        assert_int_equal(x->u.object.len, y->u.object.len);
        for (size_t i = 0; i < x->u.object.len; i++) {
            assert_string_equal(x->u.object.keys[i], y->u.object.keys[i]);
            assert_same_tree(x->u.object.values[i], y->u.object.values[i]);
        }
        break;
    case yajl_t_array:
        assert_int_equal(x->u.array.len, y->u.array.len);
        for (size_t i = 0; i < x->u.array.len; i++)
            assert_same_tree(x->u.array.values[i], y->u.array.values[i]);
        break;
    default:
        break;
    }
}

static void test_copy_is_deep(void **state)
{
    yajl_val o = json_object(), inner = json_array(), nested = json_object();
    json_object_add_str(nested, "x", "y");
    json_array_add(inner, json_int(INT64_MIN));
    json_array_add(inner, json_uint(UINT64_MAX));
    json_array_add(inner, json_double(0.5));
    json_array_add(inner, json_null());
    json_array_add(inner, json_bool(true));
    json_array_add(inner, json_bool(false));
    json_array_add(inner, nested);
    json_object_add(o, "list", inner);
    json_object_add_str(o, "name", "qgad");
    json_object_add(o, "empty", json_object());

    yajl_val c = json_copy(o);
    assert_same_tree(o, c);
    json_free(o); /* the copy shares nothing: ASan catches a use after free below */

    uint64_t u = 0;
    yajl_val list = json_get(c, "list");
    assert_int64_value(list->u.array.values[0], INT64_MIN);
    assert_true(json_as_uint64(list->u.array.values[1], &u));
    assert_true(u == UINT64_MAX);
    assert_true(list->u.array.values[2]->u.number.d == 0.5);
    assert_string_equal(json_get(list->u.array.values[6], "x")->u.string, "y");
    assert_string_equal(json_get(c, "name")->u.string, "qgad");
    json_free(c);
}

static void test_copy_of_scalars_and_null(void **state)
{
    assert_null(json_copy(NULL));
    yajl_val s = json_string(""), c = json_copy(s);
    assert_same_tree(s, c);
    json_free(s);
    json_free(c);

    yajl_val n = json_null();
    c = json_copy(n);
    assert_same_tree(n, c);
    json_free(n);
    json_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars_have_their_type),
        cmocka_unit_test(test_string_copies_its_text),
        cmocka_unit_test(test_string_len_takes_a_prefix),
        cmocka_unit_test(test_string_take_keeps_the_pointer),
        cmocka_unit_test(test_int_text_and_value),
        cmocka_unit_test(test_uint_text_and_value),
        cmocka_unit_test(test_double_keeps_value_and_exact_text),
        cmocka_unit_test(test_number_text_flags),
        cmocka_unit_test(test_number_text_uses_only_len),
        cmocka_unit_test(test_as_int64_limits),
        cmocka_unit_test(test_as_int64_non_integers),
        cmocka_unit_test(test_as_int64_other_types),
        cmocka_unit_test(test_as_uint64_limits),
        cmocka_unit_test(test_as_uint64_negatives),
        cmocka_unit_test(test_as_uint64_non_integers),
        cmocka_unit_test(test_object_add_keeps_order_and_copies_keys),
        cmocka_unit_test(test_object_convenience_adders),
        cmocka_unit_test(test_array_add_keeps_order),
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_copy_is_deep),
        cmocka_unit_test(test_copy_of_scalars_and_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
