/* The argument checker must produce QAPI's exact texts (clients compare them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cmd_testutil.h"
#include "commands/args.h"

static const struct arg_spec spec_id[] = {{.name = "id", .type = ARG_INT}, {0}};

/* Runs the checker on JSON text; expected NULL means "accepted". */
static void expect(const struct arg_spec *spec, const char *json, const char *expected)
{
    yajl_val args = testutil_json(json);
    if (!json)
        json = "(no arguments)";
    char *err = args_check(spec, args);
    if (!expected) {
        if (err)
            fail_msg("%s: unexpected error '%s'", json, err);
    } else {
        if (!err)
            fail_msg("%s: accepted, expected '%s'", json, expected);
        assert_string_equal(err, expected);
    }
    free(err);
    json_free(args);
}

static void test_int(void **state)
{
    expect(spec_id, "{\"id\": 1}", NULL);
    expect(spec_id, "{\"id\": -1}", NULL);
    expect(spec_id, "{\"id\": 1700000000123}", NULL);
    expect(spec_id, "{\"id\": 9223372036854775807}", NULL);
    expect(spec_id, "{\"id\": -9223372036854775808}", NULL);
    const char *bad = "Invalid parameter type for 'id', expected: integer";
    expect(spec_id, "{\"id\": 9223372036854775808}", bad);
    expect(spec_id, "{\"id\": 18446744073709551615}", bad);
    expect(spec_id, "{\"id\": -9223372036854775809}", bad);
    expect(spec_id, "{\"id\": 1.5}", bad);
    expect(spec_id, "{\"id\": 1.0}", bad);
    expect(spec_id, "{\"id\": 1e3}", bad);
    expect(spec_id, "{\"id\": \"1\"}", bad);
    expect(spec_id, "{\"id\": null}", bad);
    expect(spec_id, "{\"id\": true}", bad);
    expect(spec_id, "{\"id\": [1]}", bad);
}

static void test_missing_and_unexpected(void **state)
{
    expect(spec_id, NULL, "Parameter 'id' is missing");
    expect(spec_id, "{}", "Parameter 'id' is missing");
    expect(spec_id, "{\"id\": 1, \"x\": 2}", "Parameter 'x' is unexpected");
    /* spec order first: the missing member is reported before the unexpected one */
    expect(spec_id, "{\"x\": 2}", "Parameter 'id' is missing");
    /* ...and a type error too */
    expect(spec_id, "{\"x\": 2, \"id\": \"a\"}",
           "Invalid parameter type for 'id', expected: integer");
    /* a command without arguments */
    expect(NULL, NULL, NULL);
    expect(NULL, "{}", NULL);
    expect(NULL, "{\"x\": 1}", "Parameter 'x' is unexpected");
    expect(NULL, "{\"b\": 1, \"a\": 2}", "Parameter 'b' is unexpected");
}

static void test_scalar_types(void **state)
{
    static const struct arg_spec spec[] = {
        {.name = "s", .type = ARG_STR, .optional = true},
        {.name = "b", .type = ARG_BOOL, .optional = true},
        {.name = "n", .type = ARG_NUMBER, .optional = true},
        {.name = "a", .type = ARG_ARRAY, .elem = ARG_STR, .optional = true},
        {.name = "o", .type = ARG_OBJECT, .optional = true},
        {0},
    };
    expect(spec, "{}", NULL);
    expect(spec, "{\"s\": \"x\", \"b\": false, \"n\": 1, \"a\": [], \"o\": {}}", NULL);
    expect(spec, "{\"n\": 1.5}", NULL);
    expect(spec, "{\"n\": -1e308}", NULL);
    expect(spec, "{\"n\": 18446744073709551616}", NULL);
    expect(spec, "{\"s\": 1}", "Invalid parameter type for 's', expected: string");
    expect(spec, "{\"s\": null}", "Invalid parameter type for 's', expected: string");
    expect(spec, "{\"b\": 1}", "Invalid parameter type for 'b', expected: boolean");
    expect(spec, "{\"b\": \"true\"}", "Invalid parameter type for 'b', expected: boolean");
    expect(spec, "{\"n\": \"1\"}", "Invalid parameter type for 'n', expected: number");
    expect(spec, "{\"a\": \"x\"}", "Invalid parameter type for 'a', expected: array");
    expect(spec, "{\"a\": {}}", "Invalid parameter type for 'a', expected: array");
    expect(spec, "{\"o\": []}", "Invalid parameter type for 'o', expected: object");
    expect(spec, "{\"a\": [\"x\", 1]}", "Invalid parameter type for 'a[1]', expected: string");
    /* an object with no member spec accepts no members */
    expect(spec, "{\"o\": {\"k\": 1}}", "Parameter 'o.k' is unexpected");
}

static void test_uint64(void **state)
{
    static const struct arg_spec spec[] = {{.name = "u", .type = ARG_UINT64}, {0}};
    expect(spec, "{\"u\": 0}", NULL);
    expect(spec, "{\"u\": 18446744073709551615}", NULL);
    expect(spec, "{\"u\": -1}", NULL); /* the visitor accepts negatives for compatibility */
    expect(spec, "{\"u\": 18446744073709551616}", "Parameter 'u' expects uint64");
    expect(spec, "{\"u\": 1.5}", "Parameter 'u' expects uint64");
    expect(spec, "{\"u\": \"1\"}", "Parameter 'u' expects uint64");
    expect(spec, "{}", "Parameter 'u' is missing");
}

static const char *const capture_modes[] = {"none",      "stdout", "stderr",
                                            "separated", "merged", NULL};
static const char *const seek_names[] = {"set", "cur", "end", NULL};

static void test_enum(void **state)
{
    static const struct arg_spec spec[] = {
        {.name = "mode", .type = ARG_ENUM, .values = capture_modes},
        {0},
    };
    expect(spec, "{\"mode\": \"merged\"}", NULL);
    expect(spec, "{\"mode\": \"bogus\"}", "Parameter 'mode' does not accept value 'bogus'");
    expect(spec, "{\"mode\": \"\"}", "Parameter 'mode' does not accept value ''");
    expect(spec, "{\"mode\": 1}", "Invalid parameter type for 'mode', expected: string");
}

static void test_alternates(void **state)
{
    static const struct arg_spec spec[] = {
        {.name = "whence",
         .type = ARG_ALT_INT_ENUM,
         .values = seek_names,
         .type_name = "GuestFileWhence",
         .optional = true},
        {.name = "capture-output",
         .type = ARG_ALT_BOOL_ENUM,
         .values = capture_modes,
         .type_name = "GuestExecCaptureOutput",
         .optional = true},
        {0},
    };
    expect(spec, "{\"whence\": 0}", NULL);
    expect(spec, "{\"whence\": 7}", NULL); /* the value itself is the handler's business */
    expect(spec, "{\"whence\": \"end\"}", NULL);
    expect(spec, "{\"whence\": \"bogus\"}", "Parameter 'whence' does not accept value 'bogus'");
    expect(spec, "{\"whence\": 1.5}", "Invalid parameter type for 'whence', expected: integer");
    expect(spec, "{\"whence\": 9223372036854775808}",
           "Invalid parameter type for 'whence', expected: integer");
    expect(spec, "{\"whence\": true}",
           "Invalid parameter type for 'whence', expected: GuestFileWhence");
    expect(spec, "{\"whence\": null}",
           "Invalid parameter type for 'whence', expected: GuestFileWhence");
    expect(spec, "{\"whence\": []}",
           "Invalid parameter type for 'whence', expected: GuestFileWhence");

    expect(spec, "{\"capture-output\": true}", NULL);
    expect(spec, "{\"capture-output\": false}", NULL);
    expect(spec, "{\"capture-output\": \"stderr\"}", NULL);
    expect(spec, "{\"capture-output\": \"bogus\"}",
           "Parameter 'capture-output' does not accept value 'bogus'");
    expect(spec, "{\"capture-output\": 1}",
           "Invalid parameter type for 'capture-output', expected: GuestExecCaptureOutput");
    expect(spec, "{\"capture-output\": {}}",
           "Invalid parameter type for 'capture-output', expected: GuestExecCaptureOutput");
}

/* guest-set-vcpus: vcpus:[GuestLogicalProcessor] */
static const struct arg_spec cpu_members[] = {
    {.name = "logical-id", .type = ARG_INT},
    {.name = "online", .type = ARG_BOOL},
    {.name = "can-offline", .type = ARG_BOOL, .optional = true},
    {0},
};
static const struct arg_spec spec_vcpus[] = {
    {.name = "vcpus", .type = ARG_ARRAY, .elem = ARG_OBJECT, .members = cpu_members},
    {0},
};

static void test_nested_names(void **state)
{
    expect(spec_vcpus, "{\"vcpus\": []}", NULL);
    expect(spec_vcpus, "{\"vcpus\": [{\"logical-id\": 0, \"online\": true}]}", NULL);
    expect(spec_vcpus, "{\"vcpus\": [{\"logical-id\": 0, \"online\": true}, {\"logical-id\": 1}]}",
           "Parameter 'vcpus[1].online' is missing");
    expect(spec_vcpus, "{\"vcpus\": [{\"logical-id\": 0, \"online\": 1}]}",
           "Invalid parameter type for 'vcpus[0].online', expected: boolean");
    expect(spec_vcpus, "{\"vcpus\": [{\"logical-id\": 0, \"online\": true, \"foo\": 1}]}",
           "Parameter 'vcpus[0].foo' is unexpected");
    expect(spec_vcpus, "{\"vcpus\": [1]}",
           "Invalid parameter type for 'vcpus[0]', expected: object");
    expect(spec_vcpus, "{\"vcpus\": {}}", "Invalid parameter type for 'vcpus', expected: array");
    /* members of the element first, then the element's unexpected, then the top level's */
    expect(spec_vcpus, "{\"x\": 1, \"vcpus\": [{\"logical-id\": 0, \"online\": true, \"y\": 1}]}",
           "Parameter 'vcpus[0].y' is unexpected");

    /* a struct member inside a struct: "a.b" */
    static const struct arg_spec inner[] = {{.name = "b", .type = ARG_INT}, {0}};
    static const struct arg_spec outer[] = {
        {.name = "a", .type = ARG_OBJECT, .members = inner},
        {0},
    };
    expect(outer, "{\"a\": {}}", "Parameter 'a.b' is missing");
    expect(outer, "{\"a\": {\"b\": \"x\"}}", "Invalid parameter type for 'a.b', expected: integer");

    /* enum array elements: the visitor names them 'null' in the value error */
    static const struct arg_spec enums[] = {
        {.name = "e", .type = ARG_ARRAY, .elem = ARG_ENUM, .values = seek_names},
        {0},
    };
    expect(enums, "{\"e\": [\"set\", \"x\"]}", "Parameter 'null' does not accept value 'x'");
    expect(enums, "{\"e\": [true]}", "Invalid parameter type for 'e[0]', expected: string");
}

static void test_uint64_in_array(void **state)
{
    /* guest-set-memory-blocks: mem-blks:[GuestMemoryBlock] */
    static const struct arg_spec blk[] = {
        {.name = "phys-index", .type = ARG_UINT64},
        {.name = "online", .type = ARG_BOOL},
        {0},
    };
    static const struct arg_spec spec[] = {
        {.name = "mem-blks", .type = ARG_ARRAY, .elem = ARG_OBJECT, .members = blk},
        {0},
    };
    expect(spec, "{\"mem-blks\": [{\"phys-index\": 18446744073709551615, \"online\": true}]}",
           NULL);
    expect(spec, "{\"mem-blks\": [{\"phys-index\": 1.5, \"online\": true}]}",
           "Parameter 'mem-blks[0].phys-index' expects uint64");
}

static void test_arguments_not_object(void **state)
{
    expect(spec_id, "[1]", "QMP input member 'arguments' must be an object");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_missing_and_unexpected),
        cmocka_unit_test(test_scalar_types),
        cmocka_unit_test(test_uint64),
        cmocka_unit_test(test_enum),
        cmocka_unit_test(test_alternates),
        cmocka_unit_test(test_nested_names),
        cmocka_unit_test(test_uint64_in_array),
        cmocka_unit_test(test_arguments_not_object),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
