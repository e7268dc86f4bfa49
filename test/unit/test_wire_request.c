/* The request envelope check: upstream's exact texts, id detached for every object. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/json.h"
#include "protocol/wire/framer.h"
#include "protocol/wire/request.h"

static yajl_val parsed;

static bool keep(void *ctx, yajl_val v)
{
    parsed = v;
    return true;
}

static bool fail_on_error(void *ctx, const char *desc)
{
    fail_msg("unexpected parse error: %s", desc);
    return false;
}

static yajl_val parse(const char *text)
{
    struct proto_framer_events ev = {keep, fail_on_error, NULL};
    struct proto_framer *f = proto_framer_new(&ev);
    parsed = NULL;
    proto_framer_feed(f, text, strlen(text));
    proto_framer_feed(f, " ", 1); /* ends a top-level scalar */
    proto_framer_free(f);
    assert_non_null(parsed);
    return parsed;
}

/* Checks text; returns the error (or NULL) and frees everything else. */
static void check(const char *text, const char *want_err, const char *want_id_text)
{
    yajl_val msg = parse(text);
    struct proto_request req;
    char *err = proto_request_check(msg, &req);
    if (want_err) {
        assert_non_null(err);
        assert_string_equal(err, want_err);
        assert_null(req.args);
    } else {
        assert_null(err);
    }
    if (want_id_text) {
        assert_non_null(req.id);
        if (req.id->type == yajl_t_number)
            assert_string_equal(req.id->u.number.r, want_id_text);
        else
            assert_string_equal(req.id->u.string, want_id_text);
    } else {
        assert_null(req.id);
    }
    free(err);
    json_free(req.id);
    json_free(req.args);
    json_free(msg);
}

static void test_not_an_object(void **state)
{
    check("[]", "QMP input must be a JSON object", NULL);
    check("42", "QMP input must be a JSON object", NULL);
    check("\"execute\"", "QMP input must be a JSON object", NULL);
}

static void test_members(void **state)
{
    check("{\"execute\":\"x\",\"foo\":1}", "QMP input member 'foo' is unexpected", NULL);
    check("{\"exec-oob\":\"x\",\"id\":\"a\"}", "QMP input member 'exec-oob' is unexpected", "a");
    check("{\"execute\":1,\"id\":7}", "QMP input member 'execute' must be a string", "7");
    check("{\"execute\":\"x\",\"arguments\":[]}", "QMP input member 'arguments' must be an object",
          NULL);
    check("{}", "QMP input lacks member 'execute'", NULL);
    check("{\"id\":18446744073709551615}", "QMP input lacks member 'execute'",
          "18446744073709551615");
    check("{\"arguments\":{},\"id\":\"s\"}", "QMP input lacks member 'execute'", "s");
}

static void test_valid(void **state)
{
    yajl_val msg =
        parse("{\"id\":1700000000123,\"arguments\":{\"id\":5},\"execute\":\"guest-sync\"}");
    struct proto_request req;
    assert_null(proto_request_check(msg, &req));
    assert_string_equal(req.execute, "guest-sync");
    assert_non_null(req.args);
    assert_int_equal(req.args->type, yajl_t_object);
    assert_string_equal(json_get(req.args, "id")->u.number.r, "5");
    assert_string_equal(req.id->u.number.r, "1700000000123");
    json_free(req.args);
    json_free(req.id);
    json_free(msg); /* the detached members are not freed twice (ASan) */

    check("{\"execute\":\"guest-ping\"}", NULL, NULL);
    check("{\"execute\":\"guest-ping\",\"id\":\"abc\"}", NULL, "abc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_an_object),
        cmocka_unit_test(test_members),
        cmocka_unit_test(test_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
