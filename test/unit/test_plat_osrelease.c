/* os-release parsing: GLib key file syntax plus upstream's unquoting (PROTOCOL.md 4.8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/osrelease.h"
#include "platform/paths.h"

static char *fixture(const char *rel)
{
    const char *base = getenv("QGAD_FIXTURES");
    char *path;
    if (!base)
        fail_msg("QGAD_FIXTURES is not set");
    if (asprintf(&path, "%s/%s", base, rel) < 0)
        abort();
    return path;
}

/* Reads a fixture through QGA_OS_RELEASE, as an operator would point the agent at it. */
static int read_env_file(const char *rel, struct plat_osrelease *os)
{
    char *path = fixture(rel);
    setenv("QGA_OS_RELEASE", path, 1);
    int rc = plat_osrelease_read(os);
    unsetenv("QGA_OS_RELEASE");
    free(path);
    return rc;
}

static void assert_all_null(const struct plat_osrelease *os)
{
    assert_null(os->id);
    assert_null(os->name);
    assert_null(os->pretty_name);
    assert_null(os->version);
    assert_null(os->version_id);
    assert_null(os->variant);
    assert_null(os->variant_id);
}

static void test_upstream_test_file(void **state)
{
    struct plat_osrelease os;
    assert_int_equal(read_env_file("osrelease/upstream", &os), 0);
    assert_string_equal(os.id, "qemu-ga-test");
    assert_string_equal(os.name, "QEMU-GA");
    assert_string_equal(os.pretty_name, "QEMU Guest Agent test");
    assert_string_equal(os.version, "Test 1");
    assert_string_equal(os.version_id, "1");
    assert_string_equal(os.variant, "Unit test \"'$`\\ and \\\\ etc.");
    assert_string_equal(os.variant_id, "unit-test");
    plat_osrelease_free(&os);
    assert_all_null(&os);
}

static void test_unquote_rules(void **state)
{
    static const struct {
        const char *raw, *want;
    } cases[] = {
        {"debian", "debian"},
        {"two words", "two"},
        {"semi;colon", "semi"},
        {"a;b c", "a"},
        {"'single quoted'", "'single"}, /* upstream's slip: cut, quotes kept */
        {"'x'", "'x'"},
        {"\"plain\"", "plain"},
        {"\"a b;c\"", "a b;c"},
        {"\"esc \\$ \\' \\\" \\\\ \\`\"", "esc $ ' \" \\ `"},
        {"\"keep \\n \\t \\x\"", "keep \\n \\t \\x"},
        {"\"stop\" here", "stop"},
        {"\"\"", ""},
        {"\"", ""},
        {"\"open", "open"},
        {"\"trailing backslash\\", "trailing backslash\\"},
        {"", ""},
        {"tab\tkept", "tab\tkept"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = plat_osrelease_unquote(cases[i].raw);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("unquote(%s) = %s, want %s", cases[i].raw, got, cases[i].want);
        free(got);
    }
}

static void test_keyfile_syntax(void **state)
{
    struct plat_osrelease os;
    assert_int_equal(read_env_file("osrelease/quoting", &os), 0);
    assert_string_equal(os.pretty_name, "'Single"); /* leading blanks of the line dropped */
    assert_string_equal(os.id, "foo");              /* the [Other Group] ID is not ours */
    assert_string_equal(os.name, "Back In Group");  /* back in the group: later one wins */
    assert_string_equal(os.version, "spaced = value");
    assert_string_equal(os.version_id, "unterminated");
    assert_string_equal(os.variant, "a\\nb\\tc\\x");
    assert_string_equal(os.variant_id, "");
    plat_osrelease_free(&os);
}

static void test_missing_keys_and_crlf(void **state)
{
    struct plat_osrelease os;
    assert_int_equal(read_env_file("osrelease/minimal", &os), 0);
    assert_string_equal(os.id, "only-id");
    assert_null(os.name);
    assert_null(os.pretty_name);
    assert_null(os.version);
    assert_null(os.version_id);
    assert_null(os.variant);
    assert_null(os.variant_id);
    plat_osrelease_free(&os);
}

static void test_unusable_files(void **state)
{
    static const char *const bad[] = {
        "osrelease/invalid-utf8", "osrelease/not-keyfile",    "osrelease/empty-key",
        "osrelease/bad-encoding", "osrelease/does-not-exist",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct plat_osrelease os;
        int rc = read_env_file(bad[i], &os);
        if (rc >= 0)
            fail_msg("%s was accepted", bad[i]);
        assert_all_null(&os);
    }
    struct plat_osrelease os;
    assert_int_equal(read_env_file("osrelease/does-not-exist", &os), -ENOENT);
}

static void test_parse_in_memory(void **state)
{
    struct plat_osrelease os;
    /* the text ends at the first NUL, as upstream handles it as a C string */
    static const char nul[] = "ID=debian\0\nNAME=after\n";
    assert_int_equal(plat_osrelease_parse(nul, sizeof(nul) - 1, &os), 0);
    assert_string_equal(os.id, "debian");
    assert_null(os.name);
    plat_osrelease_free(&os);

    /* UTF-8 is accepted when valid, rejected when overlong, surrogate or truncated */
    static const char ok[] = "NAME=\"D\xc3\xa9"
                             "bian \xf0\x9f\x90\xa7\"\n";
    assert_int_equal(plat_osrelease_parse(ok, sizeof(ok) - 1, &os), 0);
    assert_string_equal(os.name, "D\xc3\xa9"
                                 "bian \xf0\x9f\x90\xa7");
    plat_osrelease_free(&os);
    static const char *const invalid[] = {"ID=\xc0\xaf\n", "ID=\xed\xa0\x80\n", "ID=\xe2\x82",
                                          "ID=\xf4\x90\x80\x80\n", "ID=\xff\n"};
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        assert_int_equal(plat_osrelease_parse(invalid[i], strlen(invalid[i]), &os), -EINVAL);
        assert_all_null(&os);
    }

    /* key names as GLib checks them */
    static const char locale[] = "NAME[de]=Name\nID=x\n";
    assert_int_equal(plat_osrelease_parse(locale, sizeof(locale) - 1, &os), 0);
    assert_null(os.name);
    assert_string_equal(os.id, "x");
    plat_osrelease_free(&os);
    static const char badkey[] = "NA]ME=x\n";
    assert_int_equal(plat_osrelease_parse(badkey, sizeof(badkey) - 1, &os), -EINVAL);
    static const char badgroup[] = "ID=x\n[]\n";
    assert_int_equal(plat_osrelease_parse(badgroup, sizeof(badgroup) - 1, &os), -EINVAL);
    static const char enc_ok[] = "Encoding=utf-8\nID=x\n";
    assert_int_equal(plat_osrelease_parse(enc_ok, sizeof(enc_ok) - 1, &os), 0);
    plat_osrelease_free(&os);
}

static void test_file_choice(void **state)
{
    struct plat_osrelease os;
    unsetenv("QGA_OS_RELEASE");

    /* /etc/os-release under the root prefix comes first */
    char *root = fixture("sysinfo-root");
    plat_root_set(root);
    free(root);
    assert_int_equal(plat_osrelease_read(&os), 0);
    assert_string_equal(os.id, "debian");
    assert_string_equal(os.pretty_name, "Debian GNU/Linux 12 (bookworm)");
    assert_string_equal(os.version, "12 (bookworm)");
    plat_osrelease_free(&os);

    /* an unparseable /etc/os-release falls back to /usr/lib/os-release */
    root = fixture("usrlib-root");
    plat_root_set(root);
    free(root);
    assert_int_equal(plat_osrelease_read(&os), 0);
    assert_string_equal(os.id, "fallback");
    assert_string_equal(os.variant_id, "server");
    plat_osrelease_free(&os);

    /* QGA_OS_RELEASE wins and has no fallback */
    char *path = fixture("osrelease/not-keyfile");
    setenv("QGA_OS_RELEASE", path, 1);
    free(path);
    assert_int_equal(plat_osrelease_read(&os), -EINVAL);
    assert_all_null(&os);
    unsetenv("QGA_OS_RELEASE");

    /* nothing at all */
    root = fixture("osrelease");
    plat_root_set(root);
    free(root);
    assert_true(plat_osrelease_read(&os) < 0);
    assert_all_null(&os);
    plat_root_set(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upstream_test_file), cmocka_unit_test(test_unquote_rules),
        cmocka_unit_test(test_keyfile_syntax),     cmocka_unit_test(test_missing_keys_and_crlf),
        cmocka_unit_test(test_unusable_files),     cmocka_unit_test(test_parse_in_memory),
        cmocka_unit_test(test_file_choice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
