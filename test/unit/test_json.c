/* Unit tests of the JSON mapping (src/json): text and jansson-tree APIs,
 * flags, error paths, number formatting, base64, the raw dumper. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#include "dynthrift/dynthrift.h"
#include "dynthrift/json.h"
#include "json/json_internal.h"
#include "tap.h"

static const char idl[] =
    "enum Color { RED = 1, GREEN = 2 }\n"
    "struct Address { 1: required string street, 2: optional string city, 3: i32 zip }\n"
    "union Choice { 1: i32 number, 2: string text }\n"
    "struct Point { 1: i32 x, 2: i32 y }\n"
    "struct User {\n"
    "  1: required i64 id, 2: string name, 3: optional Address address,\n"
    "  4: Color color = Color.RED, 5: i8 tiny, 6: binary avatar, 7: uuid tag,\n"
    "  8: double score, 9: map<Point, string> labels, 10: map<Color, i32> by_color,\n"
    "  11: optional Choice choice, 12: list<bool> flags, 13: set<i64> ids }\n";

static thrift_schema_t *schema;

static const thrift_type_def_t *type(const char *name) {
    return thrift_struct_def_type(thrift_schema_find_struct(schema, name));
}

/* text -> value -> text; returns the output (owned) or NULL with err. */
static char *roundtrip(const char *name, const char *in, unsigned flags,
                       thrift_error_t *err) {
    thrift_arena_t *arena = thrift_arena_new(NULL);
    thrift_value_t *v = thrift_json_loads(arena, type(name), in, strlen(in), flags, err);
    char *out = v ? thrift_json_dumps(v, 0, NULL, err) : NULL;
    thrift_arena_free(arena);
    return out;
}

static void check_roundtrip(const char *name, const char *in, const char *want) {
    thrift_error_t err;
    thrift_error_clear(&err);
    char *out = roundtrip(name, in, 0, &err);
    TAP_STREQ(out ? out : err.text, want, "round trip %s", in);
    free(out);
}

static void check_error(const char *name, const char *in, unsigned flags,
                        thrift_status_t code, const char *want) {
    thrift_error_t err;
    thrift_error_clear(&err);
    char *out = roundtrip(name, in, flags, &err);
    char buf[512];
    thrift_error_render(&err, false, buf, sizeof buf);
    TAP_CHECK(!out && err.code == code, "%s fails with %s", in, thrift_status_name(code));
    TAP_STREQ(buf, want, "error text for %s", in);
    free(out);
}

static void test_doubles(void) {
    static const struct { double d; const char *s; } cases[] = {
        {0.1, "0.1"}, {1.0, "1.0"}, {-0.0, "-0.0"}, {0.0, "0.0"},
        {5e-324, "5e-324"}, {1e300, "1e+300"}, {123.456, "123.456"},
        {0.30000000000000004, "0.30000000000000004"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {2.2250738585072014e-308, "2.2250738585072014e-308"},
        {100.0, "100.0"}, {1e22, "1e+22"}, {-1.5, "-1.5"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[32];
        thrift__json_format_double(cases[i].d, buf);
        TAP_CHECK(strcmp(buf, cases[i].s) == 0, "double %s is written shortest (got %s)",
                  cases[i].s, buf);
        TAP_CHECK(strtod(buf, NULL) == cases[i].d &&
                      signbit(strtod(buf, NULL)) == signbit(cases[i].d),
                  "%s reads back exactly", buf);
    }
}

static void test_base64(void) {
    uint8_t all[256], back[260];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    for (size_t n = 0; n <= 256; n += (n < 8 ? 1 : 61)) {
        char enc[400];
        thrift__base64_encode(all, n, enc);
        size_t elen = thrift__base64_len(n), blen = 0;
        bool ok = thrift__base64_decode(enc, elen, back, &blen) && blen == n &&
                  memcmp(all, back, n) == 0;
        // and without padding
        size_t unpadded = elen;
        while (unpadded && enc[unpadded - 1] == '=')
            unpadded--;
        ok = ok && thrift__base64_decode(enc, unpadded, back, &blen) && blen == n &&
             memcmp(all, back, n) == 0;
        TAP_CHECK(ok, "base64 of %zu bytes round-trips, padded or not", n);
    }
    size_t blen;
    TAP_CHECK(!thrift__base64_decode("AA$C", 4, back, &blen), "bad character refused");
    TAP_CHECK(!thrift__base64_decode("AAECA", 5, back, &blen), "bad length refused");
    TAP_CHECK(!thrift__base64_decode("A===", 4, back, &blen), "bad padding refused");
    TAP_CHECK(!thrift__base64_decode("AA=A", 4, back, &blen), "padding inside refused");
}

static void test_utf8(void) {
    TAP_CHECK(thrift__utf8_valid((const uint8_t *)"h\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80", 12),
              "valid UTF-8 accepted");
    TAP_CHECK(!thrift__utf8_valid((const uint8_t *)"\xc0\xaf", 2), "overlong refused");
    TAP_CHECK(!thrift__utf8_valid((const uint8_t *)"\xed\xa0\x80", 3), "surrogate refused");
    TAP_CHECK(!thrift__utf8_valid((const uint8_t *)"\xe2\x98", 2), "truncated refused");
    TAP_CHECK(!thrift__utf8_valid((const uint8_t *)"\xff", 1), "0xff refused");
}

static void test_tree_api(void) {
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_arena_t *arena = thrift_arena_new(NULL);
    json_t *in = json_pack("{s:I, s:s, s:f, s:[b,b], s:[I,I]}", "id",
                           (json_int_t)INT64_MIN, "name", "n", "score", 0.5,
                           "flags", 1, 0, "ids", (json_int_t)INT64_MAX,
                           (json_int_t)-1);
    thrift_value_t *v = thrift_json_to_value(arena, type("User"), in, 0, &err);
    TAP_CHECK(v != NULL, "json_t -> value: %s", err.text);
    json_t *out = v ? thrift_json_from_value(v, 0, &err) : NULL;
    TAP_CHECK(out && json_integer_value(json_object_get(out, "id")) == INT64_MIN,
              "i64 min survives the tree API");
    TAP_CHECK(out && json_is_real(json_object_get(out, "score")), "double is a real");
    TAP_CHECK(out && !strcmp(json_string_value(json_object_get(out, "color")), "RED"),
              "IDL default filled, enum by name");
    TAP_CHECK(out && json_is_false(json_array_get(json_object_get(out, "flags"), 1)),
              "bool list");
    json_decref(in);
    json_decref(out);

    // NaN goes through the tree as a string.
    v = thrift_json_loads(arena, type("User"), "{\"id\":1,\"score\":\"NaN\"}", 22, 0, &err);
    out = v ? thrift_json_from_value(v, 0, &err) : NULL;
    TAP_CHECK(out && !strcmp(json_string_value(json_object_get(out, "score")), "NaN"),
              "NaN is the string \"NaN\" in the tree");
    json_decref(out);

    // A string that is not UTF-8 cannot be JSON.
    v = thrift_json_loads(arena, type("User"), "{\"id\":1}", 8, 0, &err);
    thrift_value_t *name = thrift_value_new_string(arena, "\xff", 1);
    TAP_CHECK(v && thrift_value_set(v, "name", name) == THRIFT_OK, "set a bad string");
    thrift_error_clear(&err);
    char *text = thrift_json_dumps(v, 0, NULL, &err);
    TAP_CHECK(!text && err.code == THRIFT_INVALID && !strcmp(err.path, "User.name"),
              "invalid UTF-8 refused with its path (%s)", err.path);
    thrift_error_clear(&err);
    out = thrift_json_from_value(v, 0, &err);
    TAP_CHECK(!out && err.code == THRIFT_INVALID, "tree API refuses it too");
    thrift_arena_free(arena);
}

static void test_flags_and_pretty(void) {
    thrift_error_t err;
    thrift_error_clear(&err);
    char *out = roundtrip("User", "{\"id\":1,\"nick\":\"x\",\"address\":{\"street\":\"s\",\"moon\":1}}",
                          THRIFT_JSON_IGNORE_UNKNOWN, &err);
    TAP_STREQ(out, "{\"id\":1,\"address\":{\"street\":\"s\"},\"color\":\"RED\"}",
              "IGNORE_UNKNOWN skips unknown keys at any depth");
    free(out);
    thrift_error_clear(&err);
    out = roundtrip("User", "{\"name\":\"no id\",\"address\":{}}", THRIFT_JSON_NO_REQUIRED, &err);
    TAP_STREQ(out, "{\"name\":\"no id\",\"address\":{},\"color\":\"RED\"}",
              "NO_REQUIRED builds values without required fields");
    free(out);

    thrift_arena_t *arena = thrift_arena_new(NULL);
    const char *in = "{\"id\":1,\"labels\":[[{\"x\":1,\"y\":2},\"a\"]],\"flags\":[],\"address\":{\"street\":\"s\"}}";
    thrift_value_t *v = thrift_json_loads(arena, type("User"), in, strlen(in), 0, &err);
    char *pretty = v ? thrift_json_dumps(v, THRIFT_JSON_PRETTY, NULL, &err) : NULL;
    TAP_STREQ(pretty,
              "{\n  \"id\": 1,\n  \"address\": {\n    \"street\": \"s\"\n  },\n"
              "  \"color\": \"RED\",\n  \"labels\": [\n    [{\n      \"x\": 1,\n"
              "      \"y\": 2\n    }, \"a\"]\n  ],\n  \"flags\": []\n}",
              "pretty output");
    // Pretty and compact text parse to the same thing.
    json_t *a = pretty ? json_loads(pretty, 0, NULL) : NULL;
    char *compact = v ? thrift_json_dumps(v, 0, NULL, &err) : NULL;
    json_t *b = compact ? json_loads(compact, 0, NULL) : NULL;
    TAP_CHECK(a && b && json_equal(a, b), "pretty and compact agree");
    json_decref(a);
    json_decref(b);
    free(pretty);
    free(compact);
    thrift_arena_free(arena);
}

static void test_raw(void) {
    // Binary: struct { 1: i64 42, 2: string "hi", 3: list<i32> [1, -1],
    // 4: map<string,bool> {"k": true}, 5: struct { 1: double 0.5 } }.
    static const uint8_t bin[] = {
        10, 0, 1, 0, 0, 0, 0, 0, 0, 0, 42,
        11, 0, 2, 0, 0, 0, 2, 'h', 'i',
        15, 0, 3, 8, 0, 0, 0, 2, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff,
        13, 0, 4, 11, 2, 0, 0, 0, 1, 0, 0, 0, 1, 'k', 1,
        12, 0, 5, 4, 0, 1, 0x3f, 0xe0, 0, 0, 0, 0, 0, 0, 0,
        0};
    thrift_error_t err;
    thrift_error_clear(&err);
    size_t used = 0;
    char *out = thrift_json_raw_dumps(THRIFT_PROTO_BINARY, bin, sizeof bin, false, 0, &used, &err);
    TAP_STREQ(out,
              "{\"1\":{\"i64\":42},\"2\":{\"str\":\"hi\"},\"3\":{\"lst\":[\"i32\",[1,-1]]},"
              "\"4\":{\"map\":[\"str\",\"tf\",[[\"k\",true]]]},\"5\":{\"rec\":{\"1\":{\"dbl\":0.5}}}}",
              "raw binary struct");
    TAP_CHECK(used == sizeof bin, "consumed all %zu bytes", used);
    free(out);
    for (size_t n = 0; n < sizeof bin; n++) {
        thrift_error_clear(&err);
        out = thrift_json_raw_dumps(THRIFT_PROTO_BINARY, bin, n, false, 0, NULL, &err);
        if (out || err.code != THRIFT_NEED_MORE) {
            TAP_CHECK(false, "truncated at %zu: need more", n);
            free(out);
            return;
        }
    }
    TAP_CHECK(true, "every truncated prefix says need more bytes");
    // Compact: field 1 bool true (folded), field 2 i32 -1 (zigzag 1), stop;
    // then a message header around it.
    static const uint8_t cmsg[] = {0x82, 0x21, 7, 3, 'a', 'd', 'd', 0x11, 0x15, 0x01, 0};
    thrift_error_clear(&err);
    out = thrift_json_raw_dumps(THRIFT_PROTO_COMPACT, cmsg, sizeof cmsg, true, 0, NULL, &err);
    TAP_STREQ(out,
              "{\"method\":\"add\",\"type\":\"call\",\"seqid\":7,\"body\":"
              "{\"1\":{\"tf\":true},\"2\":{\"i32\":-1}}}",
              "raw compact message");
    free(out);
    const char *tj = "[1,\"add\",2,5,{\"0\":{\"i64\":3},\"2\":{\"lst\":[\"tf\",2,1,0]}}]";
    thrift_error_clear(&err);
    out = thrift_json_raw_dumps(THRIFT_PROTO_JSON, (const uint8_t *)tj, strlen(tj), true, 0,
                                NULL, &err);
    TAP_STREQ(out,
              "{\"method\":\"add\",\"type\":\"reply\",\"seqid\":5,\"body\":"
              "{\"0\":{\"i64\":3},\"2\":{\"lst\":[\"tf\",[true,false]]}}}",
              "raw TJSONProtocol message");
    free(out);
}

int main(void) {
    thrift_error_t err;
    thrift_error_clear(&err);
    schema = thrift_load_string("t.thrift", idl, strlen(idl), NULL, &err);
    TAP_CHECK(schema != NULL, "schema loads: %s", err.text);
    if (!schema)
        return tap_done();

    check_roundtrip("User", "{\"id\":-9223372036854775808,\"tiny\":-128}",
                    "{\"id\":-9223372036854775808,\"color\":\"RED\",\"tiny\":-128}");
    check_roundtrip("User", "{\"id\":1,\"color\":2,\"avatar\":\"AAEC/w\",\"score\":-0.0}",
                    "{\"id\":1,\"color\":\"GREEN\",\"avatar\":\"AAEC/w==\",\"score\":-0.0}");
    check_roundtrip("User", "{\"id\":1,\"color\":77,\"score\":\"-Infinity\",\"tag\":"
                            "\"ABCDEF01-2345-6789-ABCD-EF0123456789\"}",
                    "{\"id\":1,\"color\":77,\"tag\":\"abcdef01-2345-6789-abcd-ef0123456789\","
                    "\"score\":\"-Infinity\"}");
    check_roundtrip("User", "{\"id\":1,\"color\":null,\"by_color\":{\"GREEN\":1,\"5\":2},"
                            "\"ids\":[9007199254740993]}",
                    "{\"id\":1,\"by_color\":{\"GREEN\":1,\"5\":2},\"ids\":[9007199254740993]}");
    check_roundtrip("User", "{\"id\":1,\"name\":\"a\\u0000b\\u001f\\\"\",\"choice\":{\"text\":\"t\"}}",
                    "{\"id\":1,\"name\":\"a\\u0000b\\u001f\\\"\",\"color\":\"RED\",\"choice\":{\"text\":\"t\"}}");
    check_roundtrip("Choice", "{\"number\":3}", "{\"number\":3}");

    check_error("User", "{\"id\":1,\"address\":{\"street\":\"s\",\"zip\":\"1\"}}", 0,
                THRIFT_TYPE, "User.address.zip: expected i32, got string");
    check_error("User", "{\"id\":1,\"labels\":[[{\"x\":1,\"z\":2},\"a\"]]}", 0,
                THRIFT_UNKNOWN_FIELD, "User.labels[0].z: unknown field of Point");
    check_error("User", "{\"id\":1,\"tiny\":-129}", 0, THRIFT_RANGE,
                "User.tiny: -129 out of range for i8");
    check_error("User", "{\"id\":1,\"by_color\":{\"BLUE\":1}}", 0, THRIFT_RANGE,
                "User.by_color[BLUE]: unknown Color value 'BLUE'");
    check_error("User", "{\"id\":1,\"choice\":{\"number\":1,\"text\":\"x\"}}", 0, THRIFT_TYPE,
                "User.choice: union Choice needs exactly one field, got 2");
    check_error("User", "{\"id\":1,\"address\":{}}", 0, THRIFT_MISSING,
                "User.address.street: required field missing");
    check_error("User", "{\"id\":1,\"tag\":\"nope\"}", 0, THRIFT_TYPE,
                "User.tag: expected uuid (8-4-4-4-12 hex), got 'nope'");
    check_error("User", "[1", 0, THRIFT_SYNTAX,
                "<json>:1:2: ']' expected near end of file");

    test_doubles();
    test_base64();
    test_utf8();
    test_tree_api();
    test_flags_and_pretty();
    test_raw();
    thrift_schema_unref(schema);
    return tap_done();
}
