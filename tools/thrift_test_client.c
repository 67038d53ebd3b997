/* thrift_test_client — the ThriftTest client of Apache Thrift's cross-test
 * contract (apache/thrift test/README.md), written against dynthrift's
 * dynamic API: ThriftTest.thrift is loaded at run time and every call is
 * made by method name.
 *
 *   thrift_test_client [--idl FILE] [--host H] [--port N | --domain-socket P]
 *                      [--transport buffered|framed|http|zlib|header] [--zlib]
 *                      [--protocol binary|compact|json|header] [--multiplex]
 *                      [--ssl [--ssl-ca FILE]] [--http-path PATH]
 *                      [-n|--testloops N]
 *
 * It calls every ThriftTest method with the values Apache's reference
 * clients (test/cpp TestClient, test/py TestClient.py) use, checks the
 * answers the way they do, and exits with the contract's bitmask:
 * 1 base types, 2 structs, 4 containers, 8 exceptions, 64 unknown (could
 * not connect, no IDL...).  Maps and sets are compared without regard to
 * order, and an unset field equals its type's default, as C++'s generated
 * operator== sees them.
 *
 * Extensions: `--only M1,M2` runs only the checks of those methods;
 * `--call-timeout-ms N` bounds each call (default 20000);
 * `-v` prints every call. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dynthrift/dynthrift.h"
#include "dynthrift/json.h"
#include "dynthrift/net.h"

#include "thrift_test_common.h"

enum {
    ERR_BASETYPES = 1,
    ERR_STRUCTS = 2,
    ERR_CONTAINERS = 4,
    ERR_EXCEPTIONS = 8,
    ERR_UNKNOWN = 64
};

typedef struct client {
    thrift_schema_t *schema;
    thrift_conn_t *conn;    /* ThriftTest */
    thrift_conn_t *second;  /* SecondService, when multiplexed */
    thrift_arena_t *arena;  /* args and expected values of one check */
    const char *only;       /* comma-separated method names, or NULL */
    int rc;
    int verbose;
    unsigned checks, failures;
} client_t;

/* ---- comparing ------------------------------------------------------------- */

static bool same(thrift_arena_t *a, const thrift_value_t *x, const thrift_value_t *y);

/* A struct field's value, or its type's default when unset: C++'s generated
 * operator== compares default-requiredness fields whatever their isset
 * flag, and Python's servers leave them None. */
static const thrift_value_t *field_or_default(thrift_arena_t *a, const thrift_value_t *s,
                                              size_t i) {
    const thrift_value_t *v = thrift_value_get_at(s, i);
    if (v)
        return v;
    const thrift_field_def_t *f = thrift_struct_def_field_at(thrift_value_struct_def(s), i);
    return thrift_value_new(a, thrift_field_def_type(f));
}

static bool same(thrift_arena_t *a, const thrift_value_t *x, const thrift_value_t *y) {
    if (!x || !y)
        return x == y;
    thrift_kind_t k = thrift_value_kind(x);
    if (k != thrift_value_kind(y))
        return false;
    switch (k) {
    case THRIFT_KIND_VOID:
        return true;
    case THRIFT_KIND_BOOL:
        return thrift_value_bool(x) == thrift_value_bool(y);
    case THRIFT_KIND_I8:
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
    case THRIFT_KIND_I64:
    case THRIFT_KIND_ENUM:
        return thrift_value_int(x) == thrift_value_int(y);
    case THRIFT_KIND_DOUBLE:
        return thrift_value_double(x) == thrift_value_double(y);
    case THRIFT_KIND_STRING:
    case THRIFT_KIND_BINARY: {
        size_t nx = 0, ny = 0;
        const uint8_t *px = thrift_value_bytes(x, &nx), *py = thrift_value_bytes(y, &ny);
        return nx == ny && (!nx || !memcmp(px, py, nx));
    }
    case THRIFT_KIND_UUID:
        return !memcmp(thrift_value_uuid(x), thrift_value_uuid(y), 16);
    case THRIFT_KIND_LIST:
        if (thrift_value_count(x) != thrift_value_count(y))
            return false;
        for (size_t i = 0; i < thrift_value_count(x); i++)
            if (!same(a, thrift_value_at(x, i), thrift_value_at(y, i)))
                return false;
        return true;
    case THRIFT_KIND_SET:
        // Order is the sender's business (std::set sorts, Python's set
        // hashes); elements here are never containers needing `same`.
        if (thrift_value_count(x) != thrift_value_count(y))
            return false;
        for (size_t i = 0; i < thrift_value_count(x); i++)
            if (!thrift_value_contains(y, thrift_value_at(x, i)))
                return false;
        return true;
    case THRIFT_KIND_MAP:
        if (thrift_value_count(x) != thrift_value_count(y))
            return false;
        for (size_t i = 0; i < thrift_value_count(x); i++) {
            const thrift_value_t *other = thrift_value_map_find(y, thrift_value_map_key(x, i));
            if (!other || !same(a, thrift_value_map_value(x, i), other))
                return false;
        }
        return true;
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION: {
        const thrift_struct_def_t *sd = thrift_value_struct_def(x);
        if (sd != thrift_value_struct_def(y))
            return false;
        for (size_t i = 0; i < thrift_struct_def_field_count(sd); i++)
            if (!same(a, field_or_default(a, x, i), field_or_default(a, y, i)))
                return false;
        return true;
    }
    default:
        return false;
    }
}

/* ---- checks ----------------------------------------------------------------- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool selected(const client_t *t, const char *method) {
    if (!t->only)
        return true;
    size_t n = strlen(method);
    for (const char *p = t->only; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && !memcmp(p, method, n))
            return true;
        p += len + (end ? 1 : 0);
    }
    return false;
}

/* Prints a value as JSON, shortened: big binaries would flood the log. */
static void print_value(const thrift_value_t *v) {
    if (!v) {
        fputs("(none)", stdout);
        return;
    }
    if (thrift_value_kind(v) == THRIFT_KIND_VOID) {
        fputs("void", stdout);
        return;
    }
    size_t len = 0;
    char *text = thrift_json_dumps(v, THRIFT_JSON_DEFAULT, &len, NULL);
    if (!text) {
        fputs("(not printable)", stdout);
    } else if (len > 160) {
        int cut = 120;
        while (cut > 0 && (text[cut] & 0xC0) == 0x80)
            cut--; // not inside a UTF-8 sequence
        printf("%.*s...(%zu chars)", cut, text, len);
    } else {
        fputs(text, stdout);
    }
    thrift_json_text_free(text);
}

static void failed(client_t *t, int bit, const char *method, const char *why,
                   const thrift_error_t *err) {
    t->rc |= bit;
    t->failures++;
    printf("*** FAILED *** %s: %s", method, why);
    if (err && err->code) {
        char text[700];
        thrift_error_render(err, false, text, sizeof text);
        printf(": %s [%s]", text, thrift_status_name(err->code));
    }
    putchar('\n');
}

static const thrift_function_def_t *find_fn(thrift_conn_t *conn, const char *method) {
    return thrift_service_def_find_function(thrift_conn_service(conn), method);
}

/* A fresh args struct for `method`: from JSON when `args_json` is given. */
static thrift_value_t *new_args(client_t *t, thrift_conn_t *conn, const char *method,
                                const char *args_json, thrift_error_t *err) {
    const thrift_function_def_t *fn = find_fn(conn, method);
    if (!fn)
        return NULL;
    const thrift_type_def_t *at = thrift_struct_def_type(thrift_function_def_args(fn));
    if (!args_json)
        return thrift_value_new(t->arena, at);
    return thrift_json_loads(t->arena, at, args_json, strlen(args_json), THRIFT_JSON_DEFAULT, err);
}

static thrift_value_t *expected_of(client_t *t, const thrift_type_def_t *type, const char *json,
                                   thrift_error_t *err) {
    return thrift_json_loads(t->arena, type, json, strlen(json), THRIFT_JSON_DEFAULT, err);
}

/* Calls `method` with `args` and compares the answer with `expect` (NULL:
 * only success is checked).  Returns whether it passed. */
static bool check_value(client_t *t, thrift_conn_t *conn, int bit, const char *method,
                        const thrift_value_t *args, const thrift_value_t *expect) {
    t->checks++;
    if (t->verbose) {
        printf("%s(", method);
        print_value(args);
        printf(") = ");
    }
    thrift_error_t err;
    thrift_error_clear(&err);
    const thrift_value_t *got = thrift_call(conn, method, args, &err);
    if (t->verbose) {
        if (got)
            print_value(got);
        putchar('\n');
    }
    if (!got) {
        failed(t, bit, method, "call failed", &err);
        return false;
    }
    if (expect && !same(t->arena, got, expect)) {
        failed(t, bit, method, "unexpected result", NULL);
        printf("  expected: ");
        print_value(expect);
        printf("\n  got:      ");
        print_value(got);
        putchar('\n');
        return false;
    }
    return true;
}

/* The same with args and expectation as JSON text (`expect_json` NULL: the
 * call must only succeed). */
static bool check(client_t *t, int bit, const char *method, const char *args_json,
                  const char *expect_json) {
    if (!selected(t, method))
        return true;
    thrift_arena_reset(t->arena);
    thrift_error_t err;
    thrift_error_clear(&err);
    const thrift_function_def_t *fn = find_fn(t->conn, method);
    if (!fn) {
        failed(t, bit, method, "not in the IDL", NULL);
        return false;
    }
    thrift_value_t *args = new_args(t, t->conn, method, args_json, &err);
    thrift_value_t *expect =
        args && expect_json ? expected_of(t, thrift_function_def_return_type(fn), expect_json, &err)
                            : NULL;
    if (!args || (expect_json && !expect)) {
        failed(t, bit, method, "bad test data", &err);
        return false;
    }
    return check_value(t, t->conn, bit, method, args, expect);
}

/* One-argument identity checks: `thing` comes back unchanged. */
static void identity(client_t *t, int bit, const char *method, const char *thing_json) {
    char args[256];
    snprintf(args, sizeof args, "{\"thing\": %s}", thing_json);
    check(t, bit, method, args, thing_json);
}

/* A string argument of `len` bytes that must come back unchanged. */
static void identity_bytes(client_t *t, int bit, const char *method, const void *p, size_t len,
                           bool binary) {
    if (!selected(t, method))
        return;
    thrift_arena_reset(t->arena);
    thrift_value_t *args = new_args(t, t->conn, method, NULL, NULL);
    thrift_value_t *thing = args ? thrift_value_field(t->arena, args, "thing") : NULL;
    thrift_value_t *expect = binary ? thrift_value_new_binary(t->arena, p, len)
                                    : thrift_value_new_string(t->arena, p, len);
    if (!thing || !expect || thrift_value_set_bytes(t->arena, thing, p, len)) {
        failed(t, bit, method, "not in the IDL or out of memory", NULL);
        return;
    }
    check_value(t, t->conn, bit, method, args, expect);
}

/* The call must fail with the declared exception `exception` (a struct
 * name) equal to `exception_json`, or, with `exception` NULL, with a
 * TApplicationException. */
static void check_throws(client_t *t, int bit, const char *method, const char *args_json,
                         const char *exception, const char *exception_json) {
    if (!selected(t, method))
        return;
    t->checks++;
    thrift_arena_reset(t->arena);
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_value_t *args = new_args(t, t->conn, method, args_json, &err);
    const thrift_struct_def_t *xd = exception ? thrift_schema_find_struct(t->schema, exception) : NULL;
    thrift_value_t *expect =
        xd ? expected_of(t, thrift_struct_def_type(xd), exception_json, &err) : NULL;
    if (!args || (exception && !expect)) {
        failed(t, bit, method, "bad test data (or method not in the IDL)", &err);
        return;
    }
    if (t->verbose) {
        printf("%s(", method);
        print_value(args);
        printf(") => ");
    }
    const thrift_value_t *got = thrift_call(t->conn, method, args, &err);
    const thrift_result_t *r = thrift_conn_last_result(t->conn);
    if (t->verbose) {
        if (err.code == THRIFT_DECLARED_EXCEPTION) {
            printf("%s ", thrift_result_exception_name(r));
            print_value(thrift_result_value(r));
        } else if (err.code == THRIFT_APP_EXCEPTION) {
            printf("TApplicationException(%d): %s", thrift_result_app_type(r), err.text);
        } else if (got) {
            print_value(got);
        }
        putchar('\n');
    }
    if (got) {
        failed(t, bit, method, "returned instead of throwing", NULL);
    } else if (!exception) {
        if (err.code != THRIFT_APP_EXCEPTION)
            failed(t, bit, method, "expected a TApplicationException", &err);
    } else if (err.code != THRIFT_DECLARED_EXCEPTION) {
        failed(t, bit, method, "expected a declared exception", &err);
    } else if (strcmp(thrift_result_exception_name(r), exception)) {
        printf("  got %s, expected %s\n", thrift_result_exception_name(r), exception);
        failed(t, bit, method, "wrong exception type", NULL);
    } else if (!same(t->arena, thrift_result_value(r), expect)) {
        failed(t, bit, method, "unexpected exception contents", NULL);
        printf("  expected: ");
        print_value(expect);
        printf("\n  got:      ");
        print_value(thrift_result_value(r));
        putchar('\n');
    }
}

/* ---- the test sequence (the reference clients' values) --------------------- */

static const char multilingual[] =
    "Deutsch: Grüße, Español: ¡Hola!, Français: déjà vu, Ελληνικά: καλημέρα, "
    "Русский: привет, עברית: שלום, العربية: مرحبا, हिन्दी: नमस्ते, 日本語: こんにちは, "
    "中文: 你好, 한국어: 안녕하세요, ไทย: สวัสดี, emoji: \xF0\x9F\x98\x80\xF0\x9F\x8E\x89, "
    "combining: e\xCC\x81 n\xCC\x83";

static const char json_hostile[] =
    "quote: \" backslash: \\ slash: / escaped slash: \\/ backspace: \b formfeed: \f "
    "newline: \n return: \r tab: \t all: \"\\\\/\b\n\r\t brackets: ]] \"]] \\\" }}}{ [[[ "
    "control: \x01\x1f nul: \0 end";

static void run_base_types(client_t *t) {
    check(t, ERR_BASETYPES, "testVoid", NULL, NULL);
    identity(t, ERR_BASETYPES, "testString", "\"Test\"");
    identity(t, ERR_BASETYPES, "testString", "\"\"");
    identity_bytes(t, ERR_BASETYPES, "testString", multilingual, sizeof multilingual - 1, false);
    identity_bytes(t, ERR_BASETYPES, "testString", json_hostile, sizeof json_hostile - 1, false);
    if (t->second && selected(t, "secondtestString")) {
        thrift_arena_reset(t->arena);
        thrift_error_t err;
        thrift_error_clear(&err);
        thrift_value_t *args = new_args(t, t->second, "secondtestString", "{\"thing\": \"foo\"}", &err);
        thrift_value_t *expect = thrift_value_new_string(t->arena, "testString(\"foo\")", 17);
        if (!args)
            failed(t, ERR_EXCEPTIONS, "secondtestString", "not in the IDL", &err);
        else
            check_value(t, t->second, ERR_EXCEPTIONS, "secondtestString", args, expect);
    }
    identity(t, ERR_BASETYPES, "testBool", "true");
    identity(t, ERR_BASETYPES, "testBool", "false");
    static const char *const bytes[] = {"0", "-1", "42", "-42", "127", "-128", "63", "-127"};
    for (size_t i = 0; i < sizeof bytes / sizeof *bytes; i++)
        identity(t, ERR_BASETYPES, "testByte", bytes[i]);
    static const char *const i32s[] = {"0", "-1", "190000013", "-190000013", "2147483647",
                                       "-2147483648"};
    for (size_t i = 0; i < sizeof i32s / sizeof *i32s; i++)
        identity(t, ERR_BASETYPES, "testI32", i32s[i]);
    static const char *const i64s[] = {
        "0",          "-1",          "1",          "-34359738368",        "7000000000000000123",
        "-7000000000000000123",      "4294967296", "-4294967296",         "4294967297",
        "-4294967297", "9223372036854775807",      "-9223372036854775808"};
    for (size_t i = 0; i < sizeof i64s / sizeof *i64s; i++)
        identity(t, ERR_BASETYPES, "testI64", i64s[i]);
    const double doubles[] = {0.0,
                              -1.0,
                              -5.2098523,
                              -5.235098235,
                              -0.000341012439638598279,
                              4294967296.0,
                              4294967297.0,
                              9007199254740991.0,
                              -4294967296.0,
                              -4294967297.0,
                              -9007199254740991.0,
                              1e307,
                              1e-292,
                              0.1};
    for (size_t i = 0; i < sizeof doubles / sizeof *doubles; i++) {
        char text[64];
        snprintf(text, sizeof text, "%.17g", doubles[i]);
        identity(t, ERR_BASETYPES, "testDouble", text);
    }
    // Binaries of 0, 1, 2, 4 ... 131072 bytes, every byte value present.
    static uint8_t blob[131072];
    for (size_t i = 0; i < sizeof blob; i++)
        blob[i] = (uint8_t)((i + 129) & 0xff);
    for (size_t n = 0; n <= sizeof blob; n = n ? n * 2 : 1) {
        unsigned before = t->failures;
        identity_bytes(t, ERR_BASETYPES, "testBinary", blob, n, true);
        if (t->failures != before)
            break;
    }
    if (find_fn(t->conn, "testUuid")) {
        identity(t, ERR_BASETYPES, "testUuid", "\"5e2ab188-1726-4e75-a04f-1ed9a6a89c4c\"");
        identity(t, ERR_BASETYPES, "testUuid", "\"00000000-0000-0000-0000-000000000000\"");
        identity(t, ERR_BASETYPES, "testUuid", "\"00112233-4455-6677-8899-aabbccddeeff\"");
    }
}

static void run_structs(client_t *t) {
    identity(t, ERR_STRUCTS, "testStruct",
             "{\"string_thing\": \"Zero\", \"byte_thing\": 1, \"i32_thing\": -3, \"i64_thing\": -5}");
    identity(t, ERR_STRUCTS, "testNest",
             "{\"byte_thing\": 1, \"struct_thing\": {\"string_thing\": \"Zero\", \"byte_thing\": 1,"
             " \"i32_thing\": -3, \"i64_thing\": -5}, \"i32_thing\": 5}");
}

static void run_containers(client_t *t) {
    identity(t, ERR_CONTAINERS, "testMap", "{\"0\": -10, \"1\": -9, \"2\": -8, \"3\": -7, \"4\": -6}");
    identity(t, ERR_CONTAINERS, "testMap", "{\"0\": 1, \"1\": 2, \"2\": 3, \"3\": 4, \"-1\": -2}");
    identity(t, ERR_CONTAINERS, "testMap", "{}");
    identity(t, ERR_CONTAINERS, "testStringMap", "{\"a\": \"2\", \"b\": \"blah\", \"some\": \"thing\"}");
    identity(t, ERR_CONTAINERS, "testSet", "[-2, -1, 0, 1, 2]");
    identity(t, ERR_CONTAINERS, "testSet", "[8, 1, 42]");
    identity(t, ERR_CONTAINERS, "testList", "[]");
    identity(t, ERR_CONTAINERS, "testList", "[-2, -1, 0, 1, 2]");
    identity(t, ERR_CONTAINERS, "testList", "[1, 4, 9, -42]");
}

static void run_enums_typedefs(client_t *t) {
    static const char *const names[] = {"\"ONE\"", "\"TWO\"", "\"THREE\"", "\"FIVE\"", "\"EIGHT\""};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        identity(t, ERR_STRUCTS, "testEnum", names[i]);
    identity(t, ERR_STRUCTS, "testTypedef", "309858235082523");
    identity(t, ERR_STRUCTS, "testTypedef", "72057594037927935");
}

static void run_nested(client_t *t) {
    static const char mapmap[] = "{\"-4\": {\"-4\": -4, \"-3\": -3, \"-2\": -2, \"-1\": -1},"
                                 " \"4\": {\"4\": 4, \"3\": 3, \"2\": 2, \"1\": 1}}";
    check(t, ERR_CONTAINERS, "testMapMap", "{\"hello\": 1}", mapmap);
    check(t, ERR_CONTAINERS, "testMapMap", "{\"hello\": 42}", mapmap);

#define INSANE                                                                                     \
    "{\"userMap\": {\"FIVE\": 5, \"EIGHT\": 8}, \"xtructs\": ["                                    \
    "{\"string_thing\": \"Goodbye4\", \"byte_thing\": 4, \"i32_thing\": 4, \"i64_thing\": 4},"     \
    "{\"string_thing\": \"Hello2\", \"byte_thing\": 2, \"i32_thing\": 2, \"i64_thing\": 2}]}"
    check(t, ERR_STRUCTS, "testInsanity", "{\"argument\": " INSANE "}",
          "{\"1\": {\"TWO\": " INSANE ", \"THREE\": " INSANE "}, \"2\": {\"SIX\": {}}}");
#undef INSANE

    check(t, ERR_STRUCTS, "testMulti",
          "{\"arg0\": 42, \"arg1\": 4242, \"arg2\": 424242, \"arg3\": {\"1\": \"blah\", \"2\": \"thing\"},"
          " \"arg4\": \"EIGHT\", \"arg5\": 24}",
          "{\"string_thing\": \"Hello2\", \"byte_thing\": 42, \"i32_thing\": 4242, \"i64_thing\": 424242}");
    check(t, ERR_STRUCTS, "testMulti",
          "{\"arg0\": 74, \"arg1\": 16711935, \"arg2\": 281474976698576, \"arg3\": {\"0\": \"abc\"},"
          " \"arg4\": \"FIVE\", \"arg5\": 15790320}",
          "{\"string_thing\": \"Hello2\", \"byte_thing\": 74, \"i32_thing\": 16711935,"
          " \"i64_thing\": 281474976698576}");
}

static void run_exceptions(client_t *t) {
    check_throws(t, ERR_EXCEPTIONS, "testException", "{\"arg\": \"Xception\"}", "Xception",
                 "{\"errorCode\": 1001, \"message\": \"Xception\"}");
    check_throws(t, ERR_EXCEPTIONS, "testException", "{\"arg\": \"TException\"}", NULL, NULL);
    check(t, ERR_EXCEPTIONS, "testException", "{\"arg\": \"success\"}", NULL);
    check(t, ERR_EXCEPTIONS, "testException", "{\"arg\": \"Safe\"}", NULL);
    check_throws(t, ERR_EXCEPTIONS, "testMultiException",
                 "{\"arg0\": \"Xception\", \"arg1\": \"test 1\"}", "Xception",
                 "{\"errorCode\": 1001, \"message\": \"This is an Xception\"}");
    check_throws(t, ERR_EXCEPTIONS, "testMultiException",
                 "{\"arg0\": \"Xception2\", \"arg1\": \"test 2\"}", "Xception2",
                 "{\"errorCode\": 2002, \"struct_thing\": {\"string_thing\": \"This is an Xception2\"}}");
    // Only string_thing is set by the servers; the others are defaults.
    check(t, ERR_EXCEPTIONS, "testMultiException", "{\"arg0\": \"success\", \"arg1\": \"test 3\"}",
          "{\"string_thing\": \"test 3\"}");
}

static void run_oneway(client_t *t) {
    if (!selected(t, "testOneway"))
        return;
    // The server naps (seconds / 3 for Python's): the call must return once
    // written, and the next call must get its own reply, not a stray one.
    double start = now_s();
    bool ok = check(t, ERR_BASETYPES, "testOneway", "{\"secondsToSleep\": 1}", NULL);
    double elapsed = now_s() - start;
    if (ok && elapsed > 0.2) {
        printf("  testOneway took %.3f s\n", elapsed);
        failed(t, ERR_BASETYPES, "testOneway", "did not return at once", NULL);
    } else if (t->verbose) {
        printf("  testOneway returned in %.2f ms\n", elapsed * 1000);
    }
    identity(t, ERR_BASETYPES, "testI32", "-1");
    identity(t, ERR_BASETYPES, "testString", "\"Python\"");
}

static void run_all(client_t *t) {
    run_base_types(t);
    run_structs(t);
    run_containers(t);
    run_enums_typedefs(t);
    run_nested(t);
    run_exceptions(t);
    run_oneway(t);
}

/* ---- main ---------------------------------------------------------------- */

static void usage(FILE *f) {
    fputs("usage: thrift_test_client [options]\n"
          "  --idl FILE                 ThriftTest.thrift (default: the shared corpus's)\n"
          "  --host H (localhost)       host to connect to\n"
          "  --port N (9090)            port to connect to\n"
          "  --domain-socket PATH       connect to a Unix socket instead\n"
          "  --transport buffered|framed|http|zlib|header (buffered)\n"
          "  --protocol binary|compact|json|header (binary); multi, multic, multij imply\n"
          "                             --multiplex; header = THeader with binary inside\n"
          "  --zlib                     TZlibTransport around buffered or framed\n"
          "  --ssl                      TLS (https:// with --transport http)\n"
          "  --ssl-ca FILE              CAs to trust ($THRIFT_TEST_SSL_CA, keys/CA.pem)\n"
          "  --ssl-cert FILE, --ssl-key FILE  accepted, not used by the client\n"
          "  --http-path PATH (/)       the path of --transport http\n"
          "  --multiplex                TMultiplexedProtocol, and call SecondService too\n"
          "  -n N, --testloops N (1)    run the whole sequence N times\n"
          "  --only M1,M2               only the checks of these methods\n"
          "  --call-timeout-ms N (20000) deadline of each call\n"
          "  -v, --verbose              print every call\n"
          "exit status: 0, or 1 base types | 2 structs | 4 containers | 8 exceptions |\n"
          "             64 unknown (no connection, bad options)\n",
          f);
}

static thrift_conn_t *open_conn(client_t *t, const char *service, const char *address,
                                const thrift_conn_options_t *opts) {
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_conn_t *c = thrift_connect(t->schema, service, address, opts, &err);
    if (!c) {
        char text[700];
        thrift_error_render(&err, false, text, sizeof text);
        printf("Connect to %s (%s) failed: %s\n", address, service, text);
    }
    return c;
}

int main(int argc, char **argv) {
    const char *idl = NULL, *host = "localhost", *port = "9090", *domain_socket = NULL;
    tt_stack_t stack;
    tt_stack_init(&stack);
    const char *timeout = "20000";
    bool multiplex = false;
    long loops = 1;
    client_t t;
    memset(&t, 0, sizeof t);
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--multiplex")) {
            multiplex = true;
        } else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
            t.verbose = 1;
        } else if ((v = tt_opt_value(argc, argv, &i, "--idl"))) {
            idl = v;
        } else if ((v = tt_opt_value(argc, argv, &i, "--host"))) {
            host = v;
        } else if ((v = tt_opt_value(argc, argv, &i, "--port"))) {
            port = v;
        } else if ((v = tt_opt_value(argc, argv, &i, "--domain-socket"))) {
            domain_socket = v;
        } else if (tt_stack_flag(&stack, argc, argv, &i)) {
            continue;
        } else if ((v = tt_opt_value(argc, argv, &i, "--testloops")) ||
                   (v = tt_opt_value(argc, argv, &i, "-n"))) {
            loops = strtol(v, NULL, 10);
            if (loops < 1)
                loops = 1;
        } else if ((v = tt_opt_value(argc, argv, &i, "--only"))) {
            t.only = v;
        } else if ((v = tt_opt_value(argc, argv, &i, "--call-timeout-ms"))) {
            timeout = v;
        } else if ((v = tt_opt_value(argc, argv, &i, "--threads")) ||
                   (v = tt_opt_value(argc, argv, &i, "-t"))) {
            if (strcmp(v, "1")) {
                fprintf(stderr, "thrift_test_client: only --threads 1 is supported\n");
                return ERR_UNKNOWN;
            }
        } else {
            fprintf(stderr, "thrift_test_client: unsupported option '%s'\n", argv[i]);
            usage(stderr);
            return ERR_UNKNOWN;
        }
    }
    if (tt_multiplexed_protocol(&stack.protocol))
        multiplex = true;
    if (!idl) {
        idl = tt_default_idl();
        if (!idl) {
            fprintf(stderr, "thrift_test_client: no ThriftTest.thrift found; use --idl FILE\n");
            return ERR_UNKNOWN;
        }
    }
    thrift_error_t err;
    thrift_error_clear(&err);
    char text[1024];
    t.schema = thrift_load(idl, &err);
    thrift_conn_options_t *opts = t.schema ? thrift_conn_options_new() : NULL;
    if (!opts || tt_stack_options(&stack, false, opts, &err) ||
        thrift_conn_options_set(opts, "call_timeout_ms", timeout, &err) ||
        thrift_conn_options_set(opts, "multiplexed", multiplex ? "1" : "0", &err) ||
        !(t.arena = thrift_arena_new(NULL))) {
        thrift_error_render(&err, true, text, sizeof text);
        fprintf(stderr, "thrift_test_client: %s\n", err.code ? text : "out of memory");
        thrift_conn_options_free(opts);
        thrift_schema_unref(t.schema);
        return ERR_UNKNOWN;
    }
    char address[1200];
    if (domain_socket)
        snprintf(address, sizeof address, "unix:%s", domain_socket);
    else
        snprintf(address, sizeof address, strchr(host, ':') ? "%s[%s]:%s%s" : "%s%s:%s%s",
                 tt_stack_scheme(&stack), host, port, tt_stack_path(&stack));
    printf("Connecting (%s/%s%s%s%s) to: %s\n", stack.transport, stack.protocol,
           stack.zlib ? ", zlib" : "", stack.ssl ? ", ssl" : "", multiplex ? ", multiplexed" : "",
           address);

    double total = 0, tmin = 0, tmax = 0;
    for (long loop = 0; loop < loops; loop++) {
        // A fresh connection per loop, as the reference clients reopen
        // their transport.
        t.conn = open_conn(&t, "ThriftTest", address, opts);
        if (t.conn && multiplex)
            t.second = open_conn(&t, "SecondService", address, opts);
        if (!t.conn || (multiplex && !t.second)) {
            t.rc |= ERR_UNKNOWN;
            thrift_conn_free(t.conn);
            thrift_conn_free(t.second);
            t.conn = t.second = NULL;
            break;
        }
        double start = now_s();
        run_all(&t);
        double took = now_s() - start;
        total += took;
        if (!loop || took < tmin)
            tmin = took;
        if (took > tmax)
            tmax = took;
        thrift_conn_free(t.conn);
        thrift_conn_free(t.second);
        t.conn = t.second = NULL;
        if (loops > 1)
            printf("Test #%ld done: %.0f us\n", loop + 1, took * 1e6);
    }
    printf("%u checks, %u failed; min %.0f us, max %.0f us, avg %.0f us; exit %d\n", t.checks,
           t.failures, tmin * 1e6, tmax * 1e6, loops ? total / (double)loops * 1e6 : 0., t.rc);
    thrift_conn_options_free(opts);
    thrift_arena_free(t.arena);
    thrift_schema_unref(t.schema);
    return t.rc;
}
