/* agent/keyfile.c: the GKeyFile subset qemu-ga.conf uses, with GLib's rules. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/keyfile.h"

static struct agent_keyfile *parse_ok(const char *text)
{
    struct agent_keyfile *kf = NULL;
    char *err = NULL;

    int ret = agent_keyfile_parse(text, strlen(text), &kf, &err);
    if (ret)
        fail_msg("parse failed: %d %s", ret, err ? err : "");
    return kf;
}

/* Expects a parse error whose message contains want. */
static void parse_fails(const char *text, const char *want)
{
    struct agent_keyfile *kf = NULL;
    char *err = NULL;

    assert_int_equal(agent_keyfile_parse(text, strlen(text), &kf, &err), -EINVAL);
    assert_null(kf);
    assert_non_null(err);
    if (!strstr(err, want))
        fail_msg("error '%s' lacks '%s'", err, want);
    free(err);
}

static void assert_string_value(struct agent_keyfile *kf, const char *group, const char *key,
                                const char *want)
{
    char *s = NULL, *err = NULL;

    assert_int_equal(agent_keyfile_get_string(kf, group, key, &s, &err), 0);
    assert_string_equal(s, want);
    free(s);
}

static void test_syntax(void **state)
{
    struct agent_keyfile *kf = parse_ok("# comment\n"
                                        "\n"
                                        "   # indented comment\n"
                                        "[general]\n"
                                        "method = unix-listen\n"
                                        "  path=/run/a b  \n"
                                        "key with space=x\r\n"
                                        "method=vsock-listen\n"
                                        "[other] \t\n"
                                        "method=ignored\n"
                                        "Name[de]=locale\n");

    assert_string_value(kf, "general", "method", "vsock-listen"); /* later duplicate wins */
    assert_string_value(kf, "general", "path", "/run/a b  ");     /* trailing blanks kept */
    assert_string_value(kf, "general", "key with space", "x");    /* CRLF accepted */
    assert_string_value(kf, "other", "method", "ignored");
    assert_true(agent_keyfile_has(kf, "other", "Name[de]"));
    assert_false(agent_keyfile_has(kf, "general", "logfile"));
    assert_false(agent_keyfile_has(kf, "nogroup", "method"));

    char *s = NULL, *err = NULL;
    assert_int_equal(agent_keyfile_get_string(kf, "general", "logfile", &s, &err), -ENOENT);
    assert_null(err);
    agent_keyfile_free(kf);
}

static void test_empty_value_and_reopened_group(void **state)
{
    struct agent_keyfile *kf = parse_ok("[general]\n"
                                        "block-rpcs=\n"
                                        "[qgad]\n"
                                        "x=1\n"
                                        "[general]\n"
                                        "allow-rpcs = a,b\n");

    assert_string_value(kf, "general", "block-rpcs", "");
    assert_string_value(kf, "general", "allow-rpcs", "a,b");
    agent_keyfile_free(kf);
}

static void test_escapes(void **state)
{
    struct agent_keyfile *kf = parse_ok("[g]\n"
                                        "a=\\sleading\n"
                                        "b=x\\ny\\tz\\rw\\\\v\n"
                                        "c=semi;colon\n"
                                        "d=bad\\q\n"
                                        "e=end\\\n"
                                        "f=sem\\;i\n");
    char *s = NULL, *err = NULL;

    assert_string_value(kf, "g", "a", " leading");
    assert_string_value(kf, "g", "b", "x\ny\tz\rw\\v");
    assert_string_value(kf, "g", "c", "semi;colon"); /* no list splitting in a string */

    assert_int_equal(agent_keyfile_get_string(kf, "g", "d", &s, &err), -EINVAL);
    assert_non_null(strstr(err, "invalid escape sequence"));
    free(err);
    err = NULL;
    assert_int_equal(agent_keyfile_get_string(kf, "g", "e", &s, &err), -EINVAL);
    assert_non_null(strstr(err, "escape character at end of line"));
    free(err);
    err = NULL;
    /* "\;" only means ';' inside a list, as in GLib */
    assert_int_equal(agent_keyfile_get_string(kf, "g", "f", &s, &err), -EINVAL);
    free(err);
    agent_keyfile_free(kf);
}

static void test_booleans(void **state)
{
    struct agent_keyfile *kf = parse_ok("[g]\n"
                                        "t1=true\nt2=1\nt3=true  \n"
                                        "f1=false\nf2=0\n"
                                        "bad1=yes\nbad2=True\nbad3=\n");
    static const char *const truthy[] = {"t1", "t2", "t3"};
    static const char *const falsy[] = {"f1", "f2"};
    static const char *const bad[] = {"bad1", "bad2", "bad3"};
    char *err = NULL;
    bool b;

    for (size_t i = 0; i < 3; i++) {
        b = false;
        assert_int_equal(agent_keyfile_get_bool(kf, "g", truthy[i], &b, &err), 0);
        assert_true(b);
    }
    for (size_t i = 0; i < 2; i++) {
        b = true;
        assert_int_equal(agent_keyfile_get_bool(kf, "g", falsy[i], &b, &err), 0);
        assert_false(b);
    }
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(agent_keyfile_get_bool(kf, "g", bad[i], &b, &err), -EINVAL);
        assert_non_null(strstr(err, "cannot be interpreted as a boolean"));
        free(err);
        err = NULL;
    }
    assert_int_equal(agent_keyfile_get_bool(kf, "g", "absent", &b, &err), -ENOENT);
    agent_keyfile_free(kf);
}

static void test_lists(void **state)
{
    struct agent_keyfile *kf = parse_ok("[g]\nl=unix-listen:/a;vsock-listen:2:5;;x\\;y;\n");
    char **items = NULL, *err = NULL;
    size_t n = 0;

    assert_int_equal(agent_keyfile_get_list(kf, "g", "l", &items, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(items[0], "unix-listen:/a");
    assert_string_equal(items[1], "vsock-listen:2:5");
    assert_string_equal(items[2], "x;y");
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
    agent_keyfile_free(kf);
}

static void test_errors(void **state)
{
    parse_fails("method=x\n", "does not start with a group");
    parse_fails("[general]\nno equals sign\n", "not a key-value pair, group, or comment");
    parse_fails("[general]\n=value\n", "not a key-value pair, group, or comment");
    parse_fails("[]\n", "Invalid group name");
    parse_fails("[general] junk\n", "not a key-value pair, group, or comment");
    parse_fails("[general]\nbad]key=1\n", "Invalid key name");
    parse_fails("[general]\nk[en=1\n", "Invalid key name");
}

static void test_escape_for_writing(void **state)
{
    char *s = agent_keyfile_escape("  a b\\c\nd;e");

    assert_string_equal(s, "\\s\\sa b\\\\c\\nd;e");
    free(s);
}

static void test_load_missing(void **state)
{
    struct agent_keyfile *kf = NULL;
    char *err = NULL;

    assert_int_equal(agent_keyfile_load("/nonexistent/qgad/test.conf", &kf, &err), -ENOENT);
    assert_null(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syntax),
        cmocka_unit_test(test_empty_value_and_reopened_group),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_booleans),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_escape_for_writing),
        cmocka_unit_test(test_load_missing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
