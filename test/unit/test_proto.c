/* Protocol codecs: byte-exact vectors (checked by hand and against Apache
 * Thrift's Python library once), round trips, truncation, limits, unknown
 * and mismatched fields, required fields, unions, messages, the probe. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "dynthrift/proto.h"
#include "proto/proto_impl.h"
#include "tap.h"

static const char idl[] =
    "enum Color { RED = 1, GREEN = 2, BLUE = 5 }\n"
    "struct Inner { 1: i32 a, 2: optional string b }\n"
    "union U { 1: i32 x, 2: string y }\n"
    "struct All {\n"
    "  1: bool b, 2: i8 i8v, 3: i16 i16v, 4: i32 i32v, 5: i64 i64v,\n"
    "  6: double d, 7: string s, 8: binary bin, 10: Color color,\n"
    "  11: list<i32> li, 12: set<string> ss, 13: map<string,i64> m,\n"
    "  14: Inner inner, 15: list<bool> lb, 16: map<Inner,i32> mk,\n"
    "  17: optional U un, 20: bool far, 300: i32 veryfar,\n"
    "  18: map<i32,string> em, 19: optional uuid id\n"
    "}\n"
    "struct Req { 1: required i32 id, 2: string name = \"anon\", 3: Color c = Color.GREEN }\n"
    "struct Deep { 1: optional Deep next }\n"
    "struct Small { 1: i32 a }\n"
    "struct SmallV2 { 1: i32 a, 2: string extra, 3: list<Inner> more, 4: Inner x, 5: bool flag }\n"
    "struct Str { 1: string s }\n"
    "struct Dbl { 1: double d }\n"
    "struct Big { 1: list<i64> l }\n"
    "service Svc { i32 ping(1: i32 n) }\n";

static thrift_schema_t *schema;
static thrift_arena_t *arena;

static const thrift_struct_def_t *def(const char *name) {
    return thrift_schema_find_struct(schema, name);
}

static thrift_value_t *field(thrift_value_t *v, const char *name) {
    return thrift_value_field(arena, v, name);
}

static void set_int(thrift_value_t *v, const char *name, int64_t i) {
    thrift_value_set_int(field(v, name), i);
}

static void set_str(thrift_value_t *v, const char *name, const char *s,
                    size_t len) {
    thrift_value_set_bytes(arena, field(v, name), s, len);
}

static thrift_value_t *make_all(bool with_struct_key) {
    thrift_value_t *v = thrift_value_new_struct(arena, def("All"));
    thrift_value_set_bool(field(v, "b"), true);
    set_int(v, "i8v", -128);
    set_int(v, "i16v", -2);
    set_int(v, "i32v", -1);
    set_int(v, "i64v", INT64_MIN);
    thrift_value_set_double(field(v, "d"), -0.5);
    set_str(v, "s", "h\xc3\xa9\"\n\x01", 6);
    set_str(v, "bin", "\x00\xff\x0a", 3);
    set_int(v, "color", 5);
    thrift_value_t *li = field(v, "li");
    thrift_value_set_int(thrift_value_append_new(arena, li), 1);
    thrift_value_set_int(thrift_value_append_new(arena, li), -1);
    thrift_value_set_int(thrift_value_append_new(arena, li), 300);
    thrift_value_append(arena, field(v, "ss"),
                        thrift_value_new_string(arena, "x", 1));
    thrift_value_map_put(arena, field(v, "m"),
                         thrift_value_new_string(arena, "k", 1),
                         thrift_value_new_i64(arena, -3));
    thrift_value_t *inner = field(v, "inner");
    set_int(inner, "a", 7);
    set_str(inner, "b", "z", 1);
    thrift_value_t *lb = field(v, "lb");
    thrift_value_append(arena, lb, thrift_value_new_bool(arena, true));
    thrift_value_append(arena, lb, thrift_value_new_bool(arena, false));
    thrift_value_append(arena, lb, thrift_value_new_bool(arena, true));
    if (with_struct_key) {
        thrift_value_t *k = thrift_value_new_struct(arena, def("Inner"));
        set_int(k, "a", 1);
        thrift_value_map_put(arena, field(v, "mk"), k,
                             thrift_value_new_i32(arena, 2));
    } else {
        field(v, "mk");
        thrift_value_unset(v, "mk");
    }
    set_str(field(v, "un"), "y", "q", 1);
    thrift_value_set_bool(field(v, "far"), false);
    set_int(v, "veryfar", -70000);
    field(v, "em");
    return v;
}

static bool hex_eq(const thrift_buffer_t *b, const char *hex) {
    size_t n = strlen(hex) / 2;
    if (thrift_buffer_len(b) != n)
        goto diff;
    for (size_t i = 0; i < n; i++) {
        unsigned x;
        sscanf(hex + 2 * i, "%2x", &x);
        if (thrift_buffer_data(b)[i] != x)
            goto diff;
    }
    return true;
diff:
    printf("#   got:      ");
    for (size_t i = 0; i < thrift_buffer_len(b); i++)
        printf("%02x", thrift_buffer_data(b)[i]);
    printf("\n#   expected: %s\n", hex);
    return false;
}

static bool text_eq(const thrift_buffer_t *b, const char *text) {
    size_t n = strlen(text);
    if (thrift_buffer_len(b) == n && memcmp(thrift_buffer_data(b), text, n) == 0)
        return true;
    printf("#   got:      %.*s\n#   expected: %s\n", (int)thrift_buffer_len(b),
           (const char *)thrift_buffer_data(b), text);
    return false;
}

/* Apache Thrift 0.17's Python library wrote these for the same value (no
 * struct-keyed map: Python structs are unhashable); fields go out sorted by
 * id, 300 before the declared-later 18 and 19. */
static const char all_binary[] =
    "0200010103000280060003fffe080004ffffffff0a00058000000000000000040006bfe0"
    "0000000000000b00070000000668c3a9220a010b00080000000300ff0a08000a00000005"
    "0f000b080000000300000001ffffffff0000012c0e000c0b000000010000000178"
    "0d000d0b0a00000001000000016bfffffffffffffffd0c000e0800010000000"
    "70b0002000000017a000f000f02000000030100010c00110b00020000000171000d0012"
    "080b000000000200140008012cfffeee9000";
static const char all_compact[] =
    "1113801403150116ffffffffffffffffff0117000000000000e0bf180668c3a9220a0118"
    "0300ff0a250a19350201d8041a1801781b0186016b051c150e18017a0019310102012c28"
    "0171001b002205d804dfc50800";
/* Python writes control characters raw; like Apache's C++ and Java we
 * escape them (\u0001), which every TJSONProtocol reader accepts. */
static const char all_json[] =
    "{\"1\":{\"tf\":1},\"2\":{\"i8\":-128},\"3\":{\"i16\":-2},\"4\":{\"i32\":-1},"
    "\"5\":{\"i64\":-9223372036854775808},\"6\":{\"dbl\":-0.5},"
    "\"7\":{\"str\":\"h\xc3\xa9\\\"\\n\\u0001\"},\"8\":{\"str\":\"AP8K\"},"
    "\"10\":{\"i32\":5},\"11\":{\"lst\":[\"i32\",3,1,-1,300]},"
    "\"12\":{\"set\":[\"str\",1,\"x\"]},\"13\":{\"map\":[\"str\",\"i64\",1,{\"k\":-3}]},"
    "\"14\":{\"rec\":{\"1\":{\"i32\":7},\"2\":{\"str\":\"z\"}}},"
    "\"15\":{\"lst\":[\"tf\",3,1,0,1]},\"17\":{\"rec\":{\"2\":{\"str\":\"q\"}}},"
    "\"18\":{\"map\":[\"i32\",\"str\",0,{}]},\"20\":{\"tf\":0},\"300\":{\"i32\":-70000}}";

static void test_vectors(void) {
    thrift_buffer_t *b = thrift_buffer_new();
    thrift_value_t *all = make_all(false);
    TAP_CHECK(thrift_value_validate(all, 0, NULL) == THRIFT_OK, "All validates");
    static const char *const expect[3] = {all_binary, all_compact, all_json};
    for (int p = 0; p < 3; p++) {
        thrift_buffer_clear(b);
        thrift_error_t err;
        thrift_error_clear(&err);
        thrift_status_t st = thrift_encode((thrift_protocol_t)p, all, b, &err);
        TAP_CHECK(st == THRIFT_OK, "encode All %s: %s", thrift_protocol_name(p),
                  err.text);
        if (p < 2)
            TAP_CHECK(hex_eq(b, expect[p]), "All in %s is byte-exact",
                      thrift_protocol_name(p));
        else
            TAP_CHECK(text_eq(b, expect[p]), "All in json is byte-exact");
        /* and back */
        thrift_error_clear(&err);
        size_t used = 0;
        thrift_value_t *back = thrift_decode(
            (thrift_protocol_t)p, &def("All")->type, thrift_buffer_data(b),
            thrift_buffer_len(b), arena, NULL, &used, &err);
        TAP_CHECK(back && used == thrift_buffer_len(b) &&
                      thrift_value_equal(back, all),
                  "All decodes back from %s: %s", thrift_protocol_name(p),
                  err.text);
    }

    /* Small hand-checked vectors. */
    thrift_value_t *small = thrift_value_new_struct(arena, def("Small"));
    set_int(small, "a", 1);
    thrift_buffer_clear(b);
    thrift_encode(THRIFT_PROTO_BINARY, small, b, NULL);
    TAP_CHECK(hex_eq(b, "08000100000001" "00"), "binary i32 field");
    thrift_buffer_clear(b);
    thrift_encode(THRIFT_PROTO_COMPACT, small, b, NULL);
    TAP_CHECK(hex_eq(b, "1502" "00"), "compact: delta 1, type i32, zigzag 2");
    set_int(small, "a", -1);
    thrift_buffer_clear(b);
    thrift_encode(THRIFT_PROTO_COMPACT, small, b, NULL);
    TAP_CHECK(hex_eq(b, "1501" "00"), "compact: zigzag -1 is 1");
    set_int(small, "a", INT32_MIN);
    thrift_buffer_clear(b);
    thrift_encode(THRIFT_PROTO_COMPACT, small, b, NULL);
    TAP_CHECK(hex_eq(b, "15ffffffff0f" "00"), "compact: zigzag INT32_MIN");
    thrift_buffer_clear(b);
    thrift_encode(THRIFT_PROTO_JSON, small, b, NULL);
    TAP_CHECK(text_eq(b, "{\"1\":{\"i32\":-2147483648}}"), "json i32 field");

    /* Doubles in JSON: specials quoted, 17 significant digits. */
    thrift_value_t *dbl = thrift_value_new_struct(arena, def("Dbl"));
    const struct {
        double d;
        const char *json;
    } dv[] = {{NAN, "{\"1\":{\"dbl\":\"NaN\"}}"},
              {INFINITY, "{\"1\":{\"dbl\":\"Infinity\"}}"},
              {-INFINITY, "{\"1\":{\"dbl\":\"-Infinity\"}}"},
              {0.1, "{\"1\":{\"dbl\":0.10000000000000001}}"},
              {-0.0, "{\"1\":{\"dbl\":-0}}"},
              {1e300, "{\"1\":{\"dbl\":1.0000000000000001e+300}}"},
              {5e-324, "{\"1\":{\"dbl\":4.9406564584124654e-324}}"}};
    for (size_t i = 0; i < sizeof dv / sizeof dv[0]; i++) {
        thrift_value_set_double(field(dbl, "d"), dv[i].d);
        thrift_buffer_clear(b);
        thrift_encode(THRIFT_PROTO_JSON, dbl, b, NULL);
        TAP_CHECK(text_eq(b, dv[i].json), "json double %s", dv[i].json);
        thrift_value_t *back = thrift_decode(
            THRIFT_PROTO_JSON, &def("Dbl")->type, thrift_buffer_data(b),
            thrift_buffer_len(b), arena, NULL, NULL, NULL);
        TAP_CHECK(back && thrift_value_equal(back, dbl), "json double back");
    }
    /* Compact doubles are little-endian. */
    thrift_value_set_double(field(dbl, "d"), 1.0);
    thrift_buffer_clear(b);
    thrift_encode(THRIFT_PROTO_COMPACT, dbl, b, NULL);
    TAP_CHECK(hex_eq(b, "17000000000000f03f" "00"), "compact double little-endian");

    /* Compact: empty map is one zero byte; a long list header. */
    thrift_value_t *big = thrift_value_new_struct(arena, def("Big"));
    thrift_value_t *l = field(big, "l");
    for (int i = 0; i < 15; i++)
        thrift_value_set_int(thrift_value_append_new(arena, l), 0);
    thrift_buffer_clear(b);
    thrift_encode(THRIFT_PROTO_COMPACT, big, b, NULL);
    TAP_CHECK(hex_eq(b, "19f60f000000000000000000000000000000" "00"),
              "compact list of 15: 0xf6 then varint size");

    /* uuid: binary type 16, compact type 13, json "uid" as text. */
    thrift_value_t *u = thrift_value_new_struct(arena, def("All"));
    uint8_t ub[16];
    for (int i = 0; i < 16; i++)
        ub[i] = (uint8_t)(i * 17);
    memcpy(field(u, "id")->u.uuid, ub, 16);
    /* strip the IDL defaults: none here, fields just unset */
    thrift_buffer_clear(b);
    thrift_encode(THRIFT_PROTO_BINARY, u, b, NULL);
    TAP_CHECK(hex_eq(b, "100013" "00112233445566778899aabbccddeeff" "00"),
              "binary uuid");
    thrift_buffer_clear(b);
    thrift_encode(THRIFT_PROTO_COMPACT, u, b, NULL);
    TAP_CHECK(hex_eq(b, "0d26" "00112233445566778899aabbccddeeff" "00"),
              "compact uuid (long-form id 19 after none)");
    thrift_buffer_clear(b);
    thrift_encode(THRIFT_PROTO_JSON, u, b, NULL);
    TAP_CHECK(text_eq(b, "{\"19\":{\"uid\":\"00112233-4455-6677-8899-aabbccddeeff\"}}"),
              "json uuid");
    for (int p = 0; p < 3; p++) {
        thrift_buffer_clear(b);
        thrift_encode((thrift_protocol_t)p, u, b, NULL);
        thrift_value_t *back = thrift_decode(
            (thrift_protocol_t)p, &def("All")->type, thrift_buffer_data(b),
            thrift_buffer_len(b), arena, NULL, NULL, NULL);
        TAP_CHECK(back && thrift_value_equal(back, u), "uuid round trip %s",
                  thrift_protocol_name(p));
    }
    thrift_buffer_free(b);
}

static void test_round_trips(void) {
    thrift_buffer_t *b = thrift_buffer_new();
    thrift_value_t *all = make_all(true);
    for (int p = 0; p < 3; p++) {
        thrift_buffer_clear(b);
        thrift_error_t err;
        thrift_error_clear(&err);
        TAP_CHECK(thrift_encode((thrift_protocol_t)p, all, b, &err) == THRIFT_OK,
                  "encode with struct-keyed map (%s)", thrift_protocol_name(p));
        thrift_value_t *back = thrift_decode(
            (thrift_protocol_t)p, &def("All")->type, thrift_buffer_data(b),
            thrift_buffer_len(b), arena, NULL, NULL, &err);
        TAP_CHECK(back && thrift_value_equal(back, all),
                  "struct-keyed map round trip (%s): %s",
                  thrift_protocol_name(p), err.text);
        /* zero-copy strings point into the input */
        thrift_codec_options_t o;
        thrift_codec_options_init(&o);
        o.zero_copy = true;
        back = thrift_decode((thrift_protocol_t)p, &def("All")->type,
                             thrift_buffer_data(b), thrift_buffer_len(b), arena,
                             &o, NULL, NULL);
        TAP_CHECK(back && thrift_value_equal(back, all),
                  "zero-copy round trip (%s)", thrift_protocol_name(p));
        if (p == 0) {
            size_t n;
            const uint8_t *s = thrift_value_bytes(thrift_value_get(back, "s"), &n);
            TAP_CHECK(s >= thrift_buffer_data(b) &&
                          s < thrift_buffer_data(b) + thrift_buffer_len(b),
                      "zero-copy string aliases the input");
        }
    }
    /* JSON base64 without padding, and escapes, are read. */
    const char *js = "{\"7\":{\"str\":\"\\u00e9\\ud83d\\ude00\\/\"},\"8\":{\"str\":\"AP8\"}}";
    thrift_value_t *v = thrift_decode(THRIFT_PROTO_JSON, &def("All")->type,
                                      (const uint8_t *)js, strlen(js), arena,
                                      NULL, NULL, NULL);
    size_t n = 0;
    const uint8_t *s = v ? thrift_value_bytes(thrift_value_get(v, "s"), &n) : NULL;
    TAP_CHECK(s && n == 7 && memcmp(s, "\xc3\xa9\xf0\x9f\x98\x80/", 7) == 0,
              "json \\u escapes and surrogate pairs become UTF-8");
    s = v ? thrift_value_bytes(thrift_value_get(v, "bin"), &n) : NULL;
    TAP_CHECK(s && n == 2 && s[0] == 0 && s[1] == 0xff,
              "json base64 without padding");
    /* Compact: a bool list with element type 2 and values 1/0/2 is read. */
    const uint8_t lbv[] = {0xf9, 0x32, 0x01, 0x00, 0x02, 0x00};
    v = thrift_decode(THRIFT_PROTO_COMPACT, &def("All")->type, lbv, sizeof lbv,
                      arena, NULL, NULL, NULL);
    thrift_value_t *lb = v ? thrift_value_get(v, "lb") : NULL;
    TAP_CHECK(lb && thrift_value_count(lb) == 3 &&
                  thrift_value_bool(thrift_value_at(lb, 0)) &&
                  !thrift_value_bool(thrift_value_at(lb, 1)) &&
                  !thrift_value_bool(thrift_value_at(lb, 2)),
              "compact bool list with element type 2");
    thrift_buffer_free(b);
}

static void test_truncation(void) {
    thrift_buffer_t *b = thrift_buffer_new();
    thrift_value_t *all = make_all(true);
    for (int p = 0; p < 3; p++) {
        thrift_buffer_clear(b);
        thrift_encode_message(p, "Svc:ping", 8, THRIFT_MSG_CALL, 7, all, b, NULL);
        size_t len = thrift_buffer_len(b);
        bool all_need_more = true, probe_ok = true;
        for (size_t k = 0; k < len; k++) {
            /* a fresh heap copy, so ASan sees any read past the prefix */
            uint8_t *copy = malloc(k ? k : 1);
            memcpy(copy, thrift_buffer_data(b), k);
            thrift_error_t err;
            thrift_error_clear(&err);
            size_t used = 0, mlen = 0;
            thrift_message_header_t hdr;
            thrift_status_t st = thrift_decode_message_header(p, copy, k, NULL,
                                                              &hdr, &used, &err);
            if (st == THRIFT_OK) {
                thrift_error_clear(&err);
                thrift_value_t *v = thrift_decode_message_body(
                    p, def("All"), copy + used, k - used, arena, NULL, NULL, &err);
                st = v ? THRIFT_OK : err.code;
            }
            if (st != THRIFT_NEED_MORE) {
                all_need_more = false;
                printf("# %s prefix %zu: %s\n", thrift_protocol_name(p), k,
                       thrift_status_name(st));
            }
            if (thrift_probe_message(p, copy, k, NULL, &mlen, NULL) !=
                THRIFT_NEED_MORE)
                probe_ok = false;
            free(copy);
        }
        TAP_CHECK(all_need_more, "every prefix of a %s message needs more (%zu)",
                  thrift_protocol_name(p), len);
        TAP_CHECK(probe_ok, "probe says need-more for every %s prefix",
                  thrift_protocol_name(p));
        size_t mlen = 0;
        TAP_CHECK(thrift_probe_message(p, thrift_buffer_data(b), len, NULL,
                                       &mlen, NULL) == THRIFT_OK && mlen == len,
                  "probe finds the whole %s message", thrift_protocol_name(p));
        /* two messages back to back: the probe finds the first */
        size_t one = len;
        thrift_encode_message(p, "x", 1, THRIFT_MSG_ONEWAY, 8, all, b, NULL);
        TAP_CHECK(thrift_probe_message(p, thrift_buffer_data(b),
                                       thrift_buffer_len(b), NULL, &mlen,
                                       NULL) == THRIFT_OK && mlen == one,
                  "probe stops at the end of the first %s message",
                  thrift_protocol_name(p));
    }
    uint8_t junk[] = {0x12, 0x34, 0x56, 0x78, 0x9a};
    TAP_CHECK(thrift_probe_message(THRIFT_PROTO_BINARY, junk, 5, NULL, NULL,
                                   NULL) == THRIFT_INVALID,
              "probe rejects a bad binary version");
    TAP_CHECK(thrift_probe_message(THRIFT_PROTO_COMPACT, junk, 5, NULL, NULL,
                                   NULL) == THRIFT_INVALID,
              "probe rejects a bad compact protocol id");
    thrift_buffer_free(b);
}

static void test_messages(void) {
    thrift_buffer_t *b = thrift_buffer_new();
    const thrift_service_def_t *svc = thrift_schema_find_service(schema, "Svc");
    const thrift_function_def_t *fn = thrift_service_def_find_function(svc, "ping");
    thrift_value_t *args = thrift_value_new_struct(arena, thrift_function_def_args(fn));
    thrift_value_set_int(thrift_value_field(arena, args, "n"), 3);
    thrift_encode_message(THRIFT_PROTO_BINARY, "ping", 4, THRIFT_MSG_CALL, 1,
                          args, b, NULL);
    TAP_CHECK(hex_eq(b, "80010001" "0000000470696e67" "00000001"
                        "080001" "00000003" "00"),
              "binary strict CALL message");
    thrift_buffer_clear(b);
    thrift_encode_message(THRIFT_PROTO_COMPACT, "ping", 4, THRIFT_MSG_CALL, -1,
                          args, b, NULL);
    TAP_CHECK(hex_eq(b, "8221" "ffffffff0f" "0470696e67" "1506" "00"),
              "compact CALL message, seqid -1 as 32-bit varint");
    thrift_buffer_clear(b);
    thrift_encode_message(THRIFT_PROTO_JSON, "ping", 4, THRIFT_MSG_REPLY, 9,
                          args, b, NULL);
    TAP_CHECK(text_eq(b, "[1,\"ping\",2,9,{\"1\":{\"i32\":3}}]"), "json message");
    thrift_message_header_t hdr;
    size_t used;
    TAP_CHECK(thrift_decode_message_header(THRIFT_PROTO_JSON,
                                           thrift_buffer_data(b),
                                           thrift_buffer_len(b), NULL, &hdr,
                                           &used, NULL) == THRIFT_OK &&
                  hdr.name_len == 4 && memcmp(hdr.name, "ping", 4) == 0 &&
                  hdr.type == THRIFT_MSG_REPLY && hdr.seqid == 9,
              "json message header");

    /* Old-style (non-strict) binary headers. */
    thrift_codec_options_t o;
    thrift_codec_options_init(&o);
    o.strict_write = false;
    thrift_buffer_clear(b);
    thrift_encode_message_ex(THRIFT_PROTO_BINARY, "ping", 4, THRIFT_MSG_ONEWAY,
                             2, args, &o, b, NULL);
    TAP_CHECK(hex_eq(b, "0000000470696e67" "04" "00000002" "080001" "00000003" "00"),
              "binary old-style header written");
    thrift_error_t err;
    thrift_error_clear(&err);
    TAP_CHECK(thrift_decode_message_header(THRIFT_PROTO_BINARY,
                                           thrift_buffer_data(b),
                                           thrift_buffer_len(b), NULL, &hdr,
                                           &used, &err) == THRIFT_INVALID,
              "strict read rejects an old-style header");
    o.strict_read = false;
    TAP_CHECK(thrift_decode_message_header(THRIFT_PROTO_BINARY,
                                           thrift_buffer_data(b),
                                           thrift_buffer_len(b), &o, &hdr,
                                           &used, NULL) == THRIFT_OK &&
                  hdr.type == THRIFT_MSG_ONEWAY && hdr.seqid == 2 && used == 13,
              "non-strict read accepts it");
    size_t mlen;
    TAP_CHECK(thrift_probe_message(THRIFT_PROTO_BINARY, thrift_buffer_data(b),
                                   thrift_buffer_len(b), &o, &mlen, NULL) ==
                      THRIFT_OK && mlen == thrift_buffer_len(b),
              "probe reads old-style headers when allowed");

    /* TApplicationException */
    thrift_value_t *ex = thrift_app_exception_new(arena, THRIFT_APPEX_UNKNOWN_METHOD,
                                                  "no");
    thrift_buffer_clear(b);
    thrift_encode_message(THRIFT_PROTO_BINARY, "zap", 3, THRIFT_MSG_EXCEPTION, 5,
                          ex, b, NULL);
    TAP_CHECK(hex_eq(b, "80010003" "000000037a6170" "00000005"
                        "0b0001" "00000002" "6e6f" "080002" "00000001" "00"),
              "TApplicationException message");
    TAP_CHECK(thrift_decode_message_header(THRIFT_PROTO_BINARY,
                                           thrift_buffer_data(b),
                                           thrift_buffer_len(b), NULL, &hdr,
                                           &used, NULL) == THRIFT_OK,
              "exception header");
    thrift_value_t *back = thrift_decode_message_body(
        THRIFT_PROTO_BINARY, thrift_app_exception_def(),
        thrift_buffer_data(b) + used, thrift_buffer_len(b) - used, arena, NULL,
        NULL, NULL);
    TAP_CHECK(back && thrift_value_int(thrift_value_get(back, "type")) == 1 &&
                  thrift_value_equal(back, ex),
              "TApplicationException decoded");
    TAP_CHECK(!strcmp(thrift_app_exception_type_name(THRIFT_APPEX_UNKNOWN_METHOD),
                      "UNKNOWN_METHOD") &&
                  !strcmp(thrift_app_exception_type_name(THRIFT_APPEX_UNSUPPORTED_CLIENT_TYPE),
                          "UNSUPPORTED_CLIENT_TYPE") &&
                  !strcmp(thrift_app_exception_type_name(0), "UNKNOWN") &&
                  !thrift_app_exception_type_name(11) && !thrift_app_exception_type_name(-1),
              "TApplicationException type names; NULL outside the table");
    TAP_CHECK(!strcmp(thrift_status_name(THRIFT_NOMEM), "THRIFT_NOMEM"),
              "thrift_status_name gives the enumerator's name, as documented");
    thrift_buffer_free(b);
}

static thrift_value_t *decode_err(thrift_protocol_t p, const char *type,
                                  const uint8_t *data, size_t len,
                                  const thrift_codec_options_t *o,
                                  thrift_error_t *err) {
    thrift_error_clear(err);
    return thrift_decode(p, &def(type)->type, data, len, arena, o, NULL, err);
}

static void test_limits(void) {
    thrift_error_t err;
    /* A string declaring 2 GB with 3 bytes present. */
    const uint8_t s1[] = {0x0b, 0x00, 0x01, 0x7f, 0xff, 0xff, 0xff, 'a', 'b', 'c'};
    size_t fp = thrift_arena_footprint(arena);
    TAP_CHECK(!decode_err(THRIFT_PROTO_BINARY, "Str", s1, sizeof s1, NULL, &err) &&
                  err.code == THRIFT_LIMIT,
              "2 GB string is over the message limit: %s", err.text);
    thrift_codec_options_t o;
    thrift_codec_options_init(&o);
    o.max_string_size = 2;
    const uint8_t s2[] = {0x0b, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03, 'a', 'b', 'c', 0};
    TAP_CHECK(!decode_err(THRIFT_PROTO_BINARY, "Str", s2, sizeof s2, &o, &err) &&
                  err.code == THRIFT_LIMIT,
              "string limit");
    TAP_CHECK(decode_err(THRIFT_PROTO_BINARY, "Str", s2, sizeof s2, NULL, &err),
              "same string without the limit");
    const uint8_t s3[] = {0x0b, 0x00, 0x01, 0x00, 0x00, 0x10, 0x00, 'a'};
    TAP_CHECK(!decode_err(THRIFT_PROTO_BINARY, "Str", s3, sizeof s3, NULL, &err) &&
                  err.code == THRIFT_NEED_MORE && err.has_offset && err.offset == 7,
              "4 KB string with 1 byte present needs more (offset %zu)", err.offset);
    /* A list declaring 200 million i64s: over 100 MiB before allocating. */
    const uint8_t l1[] = {0x0f, 0x00, 0x01, 0x0a, 0x0b, 0xeb, 0xc2, 0x00, 0, 0};
    TAP_CHECK(!decode_err(THRIFT_PROTO_BINARY, "Big", l1, sizeof l1, NULL, &err) &&
                  err.code == THRIFT_LIMIT,
              "200M-element list rejected: %s", err.text);
    const uint8_t l2[] = {0x0f, 0x00, 0x01, 0x0a, 0x00, 0x10, 0x00, 0x00, 0, 0};
    TAP_CHECK(!decode_err(THRIFT_PROTO_BINARY, "Big", l2, sizeof l2, NULL, &err) &&
                  err.code == THRIFT_NEED_MORE,
              "1M-element list with 2 bytes present needs more");
    const uint8_t l3[] = {0x19, 0xfa, 0xff, 0xff, 0xff, 0x07, 0x00};
    TAP_CHECK(!decode_err(THRIFT_PROTO_COMPACT, "Big", l3, sizeof l3, NULL, &err) &&
                  (err.code == THRIFT_LIMIT || err.code == THRIFT_NEED_MORE),
              "compact list of 2^31-1 rejected before allocating");
    o.max_container_size = 2;
    const uint8_t l4[] = {0x0f, 0x00, 0x01, 0x0a, 0, 0, 0, 3};
    TAP_CHECK(!decode_err(THRIFT_PROTO_BINARY, "Big", l4, sizeof l4, &o, &err) &&
                  err.code == THRIFT_LIMIT,
              "container limit");
    const uint8_t l5[] = {0x0f, 0x00, 0x01, 0x0a, 0xff, 0xff, 0xff, 0xff, 0};
    TAP_CHECK(!decode_err(THRIFT_PROTO_BINARY, "Big", l5, sizeof l5, NULL, &err) &&
                  err.code == THRIFT_INVALID,
              "negative size is invalid");
    const char *j1 = "{\"1\":{\"lst\":[\"i64\",99999999999,1]}}";
    TAP_CHECK(!decode_err(THRIFT_PROTO_JSON, "Big", (const uint8_t *)j1,
                          strlen(j1), NULL, &err) &&
                  err.code == THRIFT_LIMIT,
              "json huge count rejected");
    TAP_CHECK(thrift_arena_footprint(arena) - fp < 4096,
              "nothing big was allocated");

    /* Depth: Deep nested 64 structs is fine, 65 is not. */
    uint8_t deep[400];
    for (int levels = 64; levels <= 65; levels++) {
        size_t n = 0;
        for (int i = 1; i < levels; i++) {
            deep[n++] = 0x0c;
            deep[n++] = 0x00;
            deep[n++] = 0x01;
        }
        for (int i = 0; i < levels; i++)
            deep[n++] = 0x00;
        thrift_value_t *v = decode_err(THRIFT_PROTO_BINARY, "Deep", deep, n,
                                       NULL, &err);
        if (levels == 64)
            TAP_CHECK(v != NULL, "64 nested structs decode");
        else
            TAP_CHECK(!v && err.code == THRIFT_LIMIT, "65 nested structs: %s",
                      err.text);
        thrift_error_clear(&err);
        size_t used;
        thrift_status_t st = thrift_skip(THRIFT_PROTO_BINARY, THRIFT_TYPE_STRUCT,
                                         deep, n, NULL, &used, &err);
        TAP_CHECK(levels == 64 ? st == THRIFT_OK && used == n : st == THRIFT_LIMIT,
                  "skip honours the depth limit (%d)", levels);
    }
}

static void test_fields(void) {
    thrift_error_t err;
    thrift_buffer_t *b = thrift_buffer_new();
    /* A newer peer's struct read with an older schema. */
    thrift_value_t *v2 = thrift_value_new_struct(arena, def("SmallV2"));
    set_int(v2, "a", 42);
    set_str(v2, "extra", "hello", 5);
    thrift_value_t *more = field(v2, "more");
    set_int(thrift_value_append_new(arena, more), "a", 1);
    set_int(field(v2, "x"), "a", 2);
    thrift_value_set_bool(field(v2, "flag"), true);
    for (int p = 0; p < 3; p++) {
        thrift_buffer_clear(b);
        thrift_encode((thrift_protocol_t)p, v2, b, NULL);
        size_t used = 0;
        thrift_error_clear(&err);
        thrift_value_t *v = thrift_decode((thrift_protocol_t)p, &def("Small")->type,
                                          thrift_buffer_data(b),
                                          thrift_buffer_len(b), arena, NULL,
                                          &used, &err);
        TAP_CHECK(v && used == thrift_buffer_len(b) &&
                      thrift_value_int(thrift_value_get(v, "a")) == 42,
                  "unknown fields skipped at any depth (%s) %s",
                  thrift_protocol_name(p), err.text);
    }
    /* Field 1 sent as a string where Small expects i32. */
    thrift_value_t *s = thrift_value_new_struct(arena, def("Str"));
    set_str(s, "s", "oops", 4);
    for (int p = 0; p < 3; p++) {
        thrift_buffer_clear(b);
        thrift_encode((thrift_protocol_t)p, s, b, NULL);
        thrift_value_t *v = decode_err(p, "Small", thrift_buffer_data(b),
                                       thrift_buffer_len(b), NULL, &err);
        TAP_CHECK(!v && err.code == THRIFT_TYPE && strcmp(err.path, "Small.a") == 0,
                  "mismatched wire type is an error (%s): %s: %s",
                  thrift_protocol_name(p), err.path, err.text);
        thrift_codec_options_t o;
        thrift_codec_options_init(&o);
        o.skip_mismatched = true;
        v = decode_err(p, "Small", thrift_buffer_data(b), thrift_buffer_len(b),
                       &o, &err);
        TAP_CHECK(v && !thrift_value_has(v, "a"),
                  "skip_mismatched skips it (%s)", thrift_protocol_name(p));
    }
    /* Required fields and defaults. */
    const uint8_t empty[] = {0};
    thrift_value_t *v = decode_err(THRIFT_PROTO_BINARY, "Req", empty, 1, NULL, &err);
    char line[512];
    thrift_error_render(&err, false, line, sizeof line);
    TAP_CHECK(!v && err.code == THRIFT_MISSING, "required field missing: %s", line);
    TAP_STREQ(line, "<binary>@1: Req.id: required field missing",
              "error rendering with offset and path");
    const uint8_t idonly[] = {0x08, 0x00, 0x01, 0, 0, 0, 9, 0};
    v = decode_err(THRIFT_PROTO_BINARY, "Req", idonly, sizeof idonly, NULL, &err);
    size_t n;
    const uint8_t *name = v ? thrift_value_bytes(thrift_value_get(v, "name"), &n) : NULL;
    TAP_CHECK(name && n == 4 && memcmp(name, "anon", 4) == 0 &&
                  thrift_value_int(thrift_value_get(v, "c")) == 2,
              "absent fields take their IDL defaults");
    thrift_codec_options_t o;
    thrift_codec_options_init(&o);
    o.check_required = false;
    TAP_CHECK(decode_err(THRIFT_PROTO_BINARY, "Req", empty, 1, &o, &err) != NULL,
              "check_required off");
    thrift_value_t *req = thrift_value_new_struct(arena, def("Req"));
    thrift_buffer_clear(b);
    thrift_error_clear(&err);
    thrift_status_t est = thrift_encode(THRIFT_PROTO_COMPACT, req, b, &err);
    TAP_CHECK(est == THRIFT_MISSING &&
                  thrift_buffer_len(b) == 0 && strcmp(err.path, "Req.id") == 0,
              "encoding refuses a missing required field: %s %s", err.path, thrift_status_name(err.code));
    /* Unions: exactly one field. */
    const uint8_t u2[] = {0x08, 0x00, 0x01, 0, 0, 0, 1,
                          0x0b, 0x00, 0x02, 0, 0, 0, 1, 'x', 0};
    TAP_CHECK(!decode_err(THRIFT_PROTO_BINARY, "U", u2, sizeof u2, NULL, &err) &&
                  err.code == THRIFT_INVALID,
              "union with two fields: %s", err.text);
    TAP_CHECK(!decode_err(THRIFT_PROTO_BINARY, "U", empty, 1, NULL, &err) &&
                  err.code == THRIFT_MISSING,
              "union with no field");
    TAP_CHECK(decode_err(THRIFT_PROTO_BINARY, "U", u2 + 7, sizeof u2 - 7, NULL, &err),
              "union with one field");
    /* Error paths inside containers. */
    const char *bad = "{\"14\":{\"rec\":{\"1\":{\"i32\":1}}},\"11\":{\"lst\":[\"i32\",2,1,\"x\"]}}";
    TAP_CHECK(!decode_err(THRIFT_PROTO_JSON, "All", (const uint8_t *)bad,
                          strlen(bad), NULL, &err),
              "bad list element");
    TAP_STREQ(err.path, "All.li[1]", "error path names the element");
    thrift_buffer_free(b);
}

/* Random corruption of valid messages: every outcome is a status, never a
 * crash or a read past the input (run under ASan). */
static void test_mutations(void) {
    thrift_buffer_t *b = thrift_buffer_new();
    thrift_value_t *all = make_all(true);
    unsigned seed = 12345;
    for (int p = 0; p < 3; p++) {
        thrift_buffer_clear(b);
        thrift_encode_message(p, "m", 1, THRIFT_MSG_CALL, 1, all, b, NULL);
        size_t len = thrift_buffer_len(b);
        int ok = 0, failed = 0;
        for (int iter = 0; iter < 3000; iter++) {
            uint8_t *copy = malloc(len);
            memcpy(copy, thrift_buffer_data(b), len);
            int flips = 1 + (int)(seed % 3);
            for (int f = 0; f < flips; f++) {
                seed = seed * 1103515245u + 12345u;
                size_t at = (seed >> 8) % len;
                seed = seed * 1103515245u + 12345u;
                copy[at] = (uint8_t)(seed >> 16);
            }
            thrift_arena_t *a = thrift_arena_new(NULL);
            thrift_message_header_t hdr;
            size_t used = 0, mlen = 0;
            thrift_status_t st = thrift_decode_message_header(p, copy, len, NULL,
                                                              &hdr, &used, NULL);
            if (st == THRIFT_OK &&
                thrift_decode_message_body(p, def("All"), copy + used,
                                           len - used, a, NULL, NULL, NULL))
                ok++;
            else
                failed++;
            thrift_probe_message(p, copy, len, NULL, &mlen, NULL);
            thrift_skip(p, THRIFT_TYPE_STRUCT, copy, len, NULL, &used, NULL);
            thrift_arena_free(a);
            free(copy);
        }
        TAP_CHECK(ok + failed == 3000,
                  "3000 corrupted %s messages handled (%d decoded, %d refused)",
                  thrift_protocol_name(p), ok, failed);
    }
    thrift_buffer_free(b);
}

/* Issue 10, item 1: a default holding its own struct type loaded and then
 * recursed without end whenever an empty value was made (encode, decode,
 * a call).  Such defaults are refused at load with the field's location;
 * self-typed defaults that end still round-trip, defaults filled. */
static void test_self_typed_defaults(void) {
    static const char *const cyclic[] = {
        "struct S { 1: S s = {\"s\": {}} }",
        "struct A { 1: B b = {\"a\": {}} }\nstruct B { 1: A a = {\"b\": {}} }",
        "struct S { 1: optional S s = {} }",
        "struct S { 1: optional list<S> l = [{}] }",
        "struct S { 1: optional map<string, S> m = {\"k\": {}} }",
        "const S E = {}\nstruct S { 1: optional S s = E }",
    };
    for (size_t i = 0; i < sizeof cyclic / sizeof cyclic[0]; i++) {
        thrift_error_t err;
        thrift_error_clear(&err);
        thrift_schema_t *s =
            thrift_load_string("c.thrift", cyclic[i], strlen(cyclic[i]), NULL, &err);
        TAP_CHECK(!s && err.code == THRIFT_SEMANTIC && err.line >= 1 &&
                      err.column >= 1 && strstr(err.text, "cyclic default"),
                  "cyclic default %zu refused at load: %s (%d:%d)", i, err.text,
                  err.line, err.column);
        thrift_schema_unref(s);
    }
    static const char finite[] =
        "struct T { 1: i32 x = 1, 2: optional T t }\n"
        "struct U { 1: T t = {\"t\": {}}, 2: list<T> l = [{}, {\"x\": 3}] }\n";
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_schema_t *s =
        thrift_load_string("f.thrift", finite, strlen(finite), NULL, &err);
    TAP_CHECK(s != NULL, "self-typed default that ends loads: %s", err.text);
    if (!s)
        return;
    const thrift_struct_def_t *u = thrift_schema_find_struct(s, "U");
    thrift_value_t *v = thrift_value_new_struct(arena, u);
    thrift_value_t *t = v ? thrift_value_get(v, "t") : NULL;
    thrift_value_t *tt = t ? thrift_value_get(t, "t") : NULL;
    TAP_CHECK(tt && thrift_value_int(thrift_value_get(tt, "x")) == 1 &&
                  !thrift_value_get(tt, "t"),
              "empty U: t.t is a T with its defaults and no t");
    thrift_buffer_t *b = thrift_buffer_new();
    for (int p = 0; p < 3; p++) {
        thrift_buffer_clear(b);
        thrift_error_clear(&err);
        thrift_status_t st = thrift_encode((thrift_protocol_t)p, v, b, &err);
        thrift_value_t *back =
            st ? NULL
               : thrift_decode((thrift_protocol_t)p, &u->type, thrift_buffer_data(b),
                               thrift_buffer_len(b), arena, NULL, NULL, &err);
        TAP_CHECK(back && thrift_value_equal(back, v),
                  "empty U round trip (%s): %s", thrift_protocol_name(p), err.text);
        /* An empty message decodes to the defaults too. */
        static const uint8_t stop[] = {0};
        back = p == 2 ? thrift_decode(THRIFT_PROTO_JSON, &u->type,
                                      (const uint8_t *)"{}", 2, arena, NULL, NULL,
                                      &err)
                      : thrift_decode((thrift_protocol_t)p, &u->type, stop, 1,
                                      arena, NULL, NULL, &err);
        TAP_CHECK(back && thrift_value_equal(back, v),
                  "empty message decodes to U's defaults (%s): %s",
                  thrift_protocol_name(p), err.text);
    }
    thrift_buffer_free(b);
    thrift_schema_unref(s);
}

/* ---- the streaming writer -------------------------------------------------
 * A value tree written piece by piece through thrift_writer_* (fields in
 * ascending id order, as thrift_encode does) must give thrift_encode's
 * bytes, in binary and compact. */
static thrift_status_t write_tree(thrift_writer_t *w, const thrift_value_t *v) {
    const thrift_type_def_t *t = thrift_type_def_resolved(thrift_value_type(v));
    thrift_status_t st = THRIFT_OK;
    switch (thrift_value_kind(v)) {
    case THRIFT_KIND_BOOL:
        return thrift_writer_bool(w, thrift_value_bool(v));
    case THRIFT_KIND_I8:
        return thrift_writer_i8(w, (int8_t)thrift_value_int(v));
    case THRIFT_KIND_I16:
        return thrift_writer_i16(w, (int16_t)thrift_value_int(v));
    case THRIFT_KIND_I32:
    case THRIFT_KIND_ENUM:
        return thrift_writer_i32(w, (int32_t)thrift_value_int(v));
    case THRIFT_KIND_I64:
        return thrift_writer_i64(w, thrift_value_int(v));
    case THRIFT_KIND_DOUBLE:
        return thrift_writer_double(w, thrift_value_double(v));
    case THRIFT_KIND_STRING:
    case THRIFT_KIND_BINARY: {
        size_t n;
        const uint8_t *p = thrift_value_bytes(v, &n);
        return thrift_writer_binary(w, p, n);
    }
    case THRIFT_KIND_UUID:
        return thrift_writer_uuid(w, thrift_value_uuid(v));
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET: {
        thrift_wire_type_t et = thrift_type_def_wire_type(thrift_type_def_elem(t));
        size_t n = thrift_value_count(v);
        st = thrift_value_kind(v) == THRIFT_KIND_LIST ? thrift_writer_list_begin(w, et, (uint32_t)n)
                                                      : thrift_writer_set_begin(w, et, (uint32_t)n);
        for (size_t i = 0; st == THRIFT_OK && i < n; i++)
            st = write_tree(w, thrift_value_at(v, i));
        return st;
    }
    case THRIFT_KIND_MAP: {
        size_t n = thrift_value_count(v);
        st = thrift_writer_map_begin(w, thrift_type_def_wire_type(thrift_type_def_key(t)),
                                     thrift_type_def_wire_type(thrift_type_def_value(t)),
                                     (uint32_t)n);
        for (size_t i = 0; st == THRIFT_OK && i < n; i++) {
            st = write_tree(w, thrift_value_map_key(v, i));
            if (st == THRIFT_OK)
                st = write_tree(w, thrift_value_map_value(v, i));
        }
        return st;
    }
    default: { /* struct, union, exception: fields by ascending id */
        const thrift_struct_def_t *sd = thrift_value_struct_def(v);
        size_t nf = thrift_struct_def_field_count(sd);
        st = thrift_writer_struct_begin(w);
        int last = -32769;
        for (;;) {
            size_t best = nf;
            for (size_t i = 0; i < nf; i++) {
                int id = thrift_field_def_id(thrift_struct_def_field_at(sd, i));
                if (id > last && (best == nf ||
                                  id < thrift_field_def_id(thrift_struct_def_field_at(sd, best))))
                    best = i;
            }
            if (best == nf || st != THRIFT_OK)
                break;
            const thrift_field_def_t *f = thrift_struct_def_field_at(sd, best);
            last = thrift_field_def_id(f);
            const thrift_value_t *fv = thrift_value_get_at(v, best);
            if (!fv)
                continue;
            st = thrift_writer_field_begin(w, thrift_type_def_wire_type(thrift_field_def_type(f)),
                                           (int16_t)last);
            if (st == THRIFT_OK)
                st = write_tree(w, fv);
        }
        return st == THRIFT_OK ? thrift_writer_struct_end(w) : st;
    }
    }
}

static void test_writer(void) {
    thrift_value_t *all = make_all(true);
    /* a field id far from its predecessor and a negative one: compact's
     * long field header */
    set_int(all, "veryfar", 7);
    thrift_value_t *far = thrift_value_new_struct(arena, def("Req"));
    set_int(far, "id", 3);
    const thrift_value_t *cases[] = {all, far};
    for (int proto = THRIFT_PROTO_BINARY; proto <= THRIFT_PROTO_COMPACT; proto++) {
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            thrift_buffer_t *want = thrift_buffer_new(), *got = thrift_buffer_new();
            thrift_error_t err;
            thrift_error_clear(&err);
            thrift_status_t st = thrift_encode((thrift_protocol_t)proto, cases[k], want, &err);
            thrift_writer_t *w = thrift_writer_new((thrift_protocol_t)proto, got);
            thrift_status_t wst = w ? write_tree(w, cases[k]) : THRIFT_NOMEM;
            TAP_CHECK(st == THRIFT_OK && wst == THRIFT_OK &&
                          thrift_buffer_len(want) == thrift_buffer_len(got) &&
                          !memcmp(thrift_buffer_data(want), thrift_buffer_data(got),
                                  thrift_buffer_len(want)),
                      "writer: %s %s gives thrift_encode's %zu bytes (got %zu, status %s)",
                      thrift_protocol_name((thrift_protocol_t)proto), k ? "Req" : "All",
                      thrift_buffer_len(want), thrift_buffer_len(got), thrift_status_name(wst));
            thrift_writer_free(w);
            thrift_buffer_free(want);
            thrift_buffer_free(got);
        }
    }
    /* hand-checked bytes: struct { 1: bool true, 2: list<i16> [-1] } and a
     * field id 100 after 2 */
    static const uint8_t bin[] = {2, 0, 1, 1, 15, 0, 2, 6, 0, 0, 0, 1, 0xff, 0xff,
                                  8, 0, 100, 0, 0, 0, 5, 0};
    static const uint8_t cpt[] = {0x11, 0x19, 0x14, 0x01, 0x05, 0xc8, 0x01, 0x0a, 0};
    for (int proto = THRIFT_PROTO_BINARY; proto <= THRIFT_PROTO_COMPACT; proto++) {
        thrift_buffer_t *b = thrift_buffer_new();
        thrift_writer_t *w = thrift_writer_new((thrift_protocol_t)proto, b);
        bool ok = thrift_writer_struct_begin(w) == THRIFT_OK &&
                  thrift_writer_field_begin(w, THRIFT_TYPE_BOOL, 1) == THRIFT_OK &&
                  thrift_writer_bool(w, true) == THRIFT_OK &&
                  thrift_writer_field_begin(w, THRIFT_TYPE_LIST, 2) == THRIFT_OK &&
                  thrift_writer_list_begin(w, THRIFT_TYPE_I16, 1) == THRIFT_OK &&
                  thrift_writer_i16(w, -1) == THRIFT_OK &&
                  thrift_writer_field_begin(w, THRIFT_TYPE_I32, 100) == THRIFT_OK &&
                  thrift_writer_i32(w, 5) == THRIFT_OK && thrift_writer_struct_end(w) == THRIFT_OK;
        const uint8_t *want = proto == THRIFT_PROTO_BINARY ? bin : cpt;
        size_t wn = proto == THRIFT_PROTO_BINARY ? sizeof bin : sizeof cpt;
        TAP_CHECK(ok && thrift_buffer_len(b) == wn && !memcmp(thrift_buffer_data(b), want, wn),
                  "writer: %s hand-checked bytes", thrift_protocol_name((thrift_protocol_t)proto));
        /* misuse: a stray struct_end; compact: a bool field's value
         * written as another scalar */
        thrift_writer_reset(w);
        TAP_CHECK(thrift_writer_struct_end(w) == THRIFT_MISUSE, "writer: struct_end outside a struct");
        thrift_writer_reset(w);
        thrift_writer_struct_begin(w);
        thrift_writer_field_begin(w, THRIFT_TYPE_BOOL, 1);
        thrift_status_t st = thrift_writer_i32(w, 1);
        TAP_CHECK(proto == THRIFT_PROTO_COMPACT ? st == THRIFT_MISUSE : st == THRIFT_OK,
                  "writer: %s bool field then i32: %s", thrift_protocol_name((thrift_protocol_t)proto),
                  thrift_status_name(st));
        thrift_writer_reset(w);
        st = THRIFT_OK;
        for (int i = 0; st == THRIFT_OK && i <= THRIFT_WRITER_MAX_DEPTH; i++)
            st = thrift_writer_struct_begin(w);
        TAP_CHECK(st == THRIFT_LIMIT, "writer: structs nested deeper than the limit");
        thrift_writer_free(w);
        thrift_buffer_free(b);
    }
    TAP_CHECK(thrift_writer_new(THRIFT_PROTO_JSON, NULL) == NULL, "writer: no JSON writer");
}

/* ---- the streaming reader --------------------------------------------------
 * The writer's hand-checked bytes read back piece by piece; a whole encoded
 * struct passed over field by field (skip, compact bool fields in headers);
 * every truncation, bad count, nesting and budget overrun fails cleanly. */
static thrift_status_t skip_fields(thrift_reader_t *rd, size_t *fields) {
    thrift_status_t st = thrift_reader_struct_begin(rd);
    *fields = 0;
    while (st == THRIFT_OK) {
        thrift_wire_type_t wt;
        int16_t id;
        st = thrift_reader_field_begin(rd, &wt, &id);
        if (st != THRIFT_OK || wt == THRIFT_TYPE_STOP)
            break;
        ++*fields;
        st = thrift_reader_skip(rd, wt);
    }
    return st == THRIFT_OK ? thrift_reader_struct_end(rd) : st;
}

/* skip_fields with thrift_reader_field: scalars come read, the rest is
 * skipped; the scalars' values are checked against the one-call-per-piece
 * reading of the same bytes in `check` (begun on the same input). */
static thrift_status_t field_fields(thrift_reader_t *rd, thrift_reader_t *check, size_t *fields,
                                    size_t *mismatches) {
    thrift_status_t st = thrift_reader_struct_begin(rd);
    thrift_reader_struct_begin(check);
    *fields = 0;
    while (st == THRIFT_OK) {
        thrift_reader_field_t f;
        thrift_wire_type_t wt = THRIFT_TYPE_STOP;
        int16_t id = 0;
        size_t at = thrift_reader_offset(check);
        thrift_reader_field_begin(check, &wt, &id);
        st = thrift_reader_field(rd, &f);
        if (st != THRIFT_OK)
            break;
        *mismatches += f.type != wt || f.id != id || f.offset != at;
        if (f.type == THRIFT_TYPE_STOP)
            break;
        ++*fields;
        bool same = true;
        switch (f.type) {
        case THRIFT_TYPE_BOOL: {
            bool b = !f.value.b;
            same = thrift_reader_bool(check, &b) == THRIFT_OK && b == f.value.b;
            break;
        }
        case THRIFT_TYPE_BYTE: {
            int8_t v = 0;
            same = thrift_reader_i8(check, &v) == THRIFT_OK && v == f.value.i;
            break;
        }
        case THRIFT_TYPE_I16: {
            int16_t v = 0;
            same = thrift_reader_i16(check, &v) == THRIFT_OK && v == f.value.i;
            break;
        }
        case THRIFT_TYPE_I32: {
            int32_t v = 0;
            same = thrift_reader_i32(check, &v) == THRIFT_OK && v == f.value.i;
            break;
        }
        case THRIFT_TYPE_I64: {
            int64_t v = 0;
            same = thrift_reader_i64(check, &v) == THRIFT_OK && v == f.value.i;
            break;
        }
        case THRIFT_TYPE_DOUBLE: {
            double v = 0;
            same = thrift_reader_double(check, &v) == THRIFT_OK &&
                   memcmp(&v, &f.value.d, sizeof v) == 0;
            break;
        }
        case THRIFT_TYPE_STRING: {
            const uint8_t *p = NULL;
            size_t n = 0;
            same = thrift_reader_binary(check, &p, &n) == THRIFT_OK && p == f.value.bytes.p &&
                   n == f.value.bytes.n;
            break;
        }
        default:
            same = !f.has_value && thrift_reader_skip(check, f.type) == THRIFT_OK;
            st = thrift_reader_skip(rd, f.type);
            break;
        }
        *mismatches += !same || f.has_value != (f.type < THRIFT_TYPE_STRUCT);
    }
    return st == THRIFT_OK ? thrift_reader_struct_end(rd) : st;
}

static void test_reader(void) {
    static const uint8_t bin[] = {2, 0, 1, 1, 15, 0, 2, 6, 0, 0, 0, 1, 0xff, 0xff,
                                  8, 0, 100, 0, 0, 0, 5, 0};
    static const uint8_t cpt[] = {0x11, 0x19, 0x14, 0x01, 0x05, 0xc8, 0x01, 0x0a, 0};
    thrift_value_t *all = make_all(true);
    for (int proto = THRIFT_PROTO_BINARY; proto <= THRIFT_PROTO_COMPACT; proto++) {
        const char *pn = thrift_protocol_name((thrift_protocol_t)proto);
        const uint8_t *data = proto == THRIFT_PROTO_BINARY ? bin : cpt;
        size_t len = proto == THRIFT_PROTO_BINARY ? sizeof bin : sizeof cpt;
        thrift_reader_t *rd = thrift_reader_new((thrift_protocol_t)proto, NULL);
        thrift_error_t err;
        thrift_reader_begin(rd, data, len, &err);
        thrift_wire_type_t t1, t2, t3, t4, et;
        int16_t id1, id2, id3, id4;
        bool b = false;
        uint32_t n = 0;
        int16_t i16 = 0;
        int32_t i32 = 0;
        bool ok = thrift_reader_struct_begin(rd) == THRIFT_OK &&
                  thrift_reader_field_begin(rd, &t1, &id1) == THRIFT_OK &&
                  thrift_reader_bool(rd, &b) == THRIFT_OK &&
                  thrift_reader_field_begin(rd, &t2, &id2) == THRIFT_OK &&
                  thrift_reader_list_begin(rd, &et, &n) == THRIFT_OK &&
                  thrift_reader_i16(rd, &i16) == THRIFT_OK &&
                  thrift_reader_container_end(rd) == THRIFT_OK &&
                  thrift_reader_field_begin(rd, &t3, &id3) == THRIFT_OK &&
                  thrift_reader_i32(rd, &i32) == THRIFT_OK &&
                  thrift_reader_field_begin(rd, &t4, &id4) == THRIFT_OK &&
                  thrift_reader_struct_end(rd) == THRIFT_OK;
        TAP_CHECK(ok && t1 == THRIFT_TYPE_BOOL && id1 == 1 && b && t2 == THRIFT_TYPE_LIST &&
                      id2 == 2 && et == THRIFT_TYPE_I16 && n == 1 && i16 == -1 &&
                      t3 == THRIFT_TYPE_I32 && id3 == 100 && i32 == 5 &&
                      t4 == THRIFT_TYPE_STOP && thrift_reader_offset(rd) == len,
                  "reader: %s hand-checked bytes read back (%s)", pn, err.text);

        thrift_reader_field_t f1, f2, f3, f4;
        thrift_reader_begin(rd, data, len, &err);
        ok = thrift_reader_struct_begin(rd) == THRIFT_OK &&
             thrift_reader_field(rd, &f1) == THRIFT_OK && thrift_reader_field(rd, &f2) == THRIFT_OK &&
             thrift_reader_list_begin(rd, &et, &n) == THRIFT_OK &&
             thrift_reader_i16(rd, &i16) == THRIFT_OK &&
             thrift_reader_container_end(rd) == THRIFT_OK &&
             thrift_reader_field(rd, &f3) == THRIFT_OK && thrift_reader_field(rd, &f4) == THRIFT_OK &&
             thrift_reader_struct_end(rd) == THRIFT_OK;
        size_t f3_at = proto == THRIFT_PROTO_BINARY ? 14 : 4;
        TAP_CHECK(ok && f1.type == THRIFT_TYPE_BOOL && f1.id == 1 && f1.has_value && f1.value.b &&
                      f1.offset == 0 && f2.type == THRIFT_TYPE_LIST && !f2.has_value &&
                      f3.type == THRIFT_TYPE_I32 && f3.id == 100 && f3.has_value &&
                      f3.value.i == 5 && f3.offset == f3_at && f4.type == THRIFT_TYPE_STOP &&
                      !f4.has_value && thrift_reader_offset(rd) == len,
                  "reader: %s hand-checked bytes read back by thrift_reader_field (%s)", pn,
                  err.text);

        /* a whole struct: every field passed over, to its last byte */
        thrift_buffer_t *buf = thrift_buffer_new();
        thrift_error_clear(&err);
        thrift_encode((thrift_protocol_t)proto, all, buf, &err);
        const uint8_t *enc = thrift_buffer_data(buf);
        size_t enc_len = thrift_buffer_len(buf);
        /* make_all sets every field of All but the optional uuid `id` */
        size_t fields = 0, set_fields = thrift_struct_def_field_count(def("All")) - 1;
        thrift_reader_begin(rd, enc, enc_len, &err);
        thrift_status_t st = skip_fields(rd, &fields);
        TAP_CHECK(st == THRIFT_OK && thrift_reader_offset(rd) == enc_len &&
                      fields == set_fields,
                  "reader: %s All skipped field by field (%zu of %zu fields, %zu of %zu bytes: %s)", pn, set_fields,
                  fields, thrift_reader_offset(rd), enc_len, err.text);
        size_t bad = 0;
        for (size_t cut = 0; cut < enc_len; cut++) {
            thrift_reader_begin(rd, enc, cut, &err);
            st = skip_fields(rd, &fields);
            bad += st != THRIFT_NEED_MORE || err.code != THRIFT_NEED_MORE || !err.has_offset ||
                   err.offset > cut;
        }
        TAP_CHECK(bad == 0, "reader: %s every truncation of All is NEED_MORE (%zu not)", pn, bad);

        /* the same with thrift_reader_field: scalars read with their headers */
        thrift_reader_t *check = thrift_reader_new((thrift_protocol_t)proto, NULL);
        thrift_error_t check_err;
        size_t mismatches = 0;
        thrift_reader_begin(rd, enc, enc_len, &err);
        thrift_reader_begin(check, enc, enc_len, &check_err);
        st = field_fields(rd, check, &fields, &mismatches);
        TAP_CHECK(st == THRIFT_OK && thrift_reader_offset(rd) == enc_len &&
                      fields == set_fields && mismatches == 0,
                  "reader: %s All read by thrift_reader_field as piece by piece (%zu of %zu "
                  "fields, %zu mismatches: %s)",
                  pn, fields, set_fields, mismatches, err.text);
        bad = 0;
        for (size_t cut = 0; cut < enc_len; cut++) {
            thrift_reader_begin(rd, enc, cut, &err);
            thrift_reader_begin(check, enc, cut, &check_err);
            st = field_fields(rd, check, &fields, &mismatches);
            bad += st != THRIFT_NEED_MORE || err.code != THRIFT_NEED_MORE || !err.has_offset ||
                   err.offset > cut;
        }
        TAP_CHECK(bad == 0, "reader: %s every truncation read by thrift_reader_field is NEED_MORE "
                  "(%zu not)", pn, bad);
        thrift_reader_free(check);
        /* a string field longer than the input: no value */
        static const uint8_t bin_sfield[] = {11, 0, 1, 0, 0, 0, 5, 'a'};
        static const uint8_t cpt_sfield[] = {0x18, 0x05, 'a'};
        thrift_reader_begin(rd, proto == THRIFT_PROTO_BINARY ? bin_sfield : cpt_sfield,
                            proto == THRIFT_PROTO_BINARY ? sizeof bin_sfield : sizeof cpt_sfield,
                            &err);
        thrift_reader_field_t sf;
        st = thrift_reader_struct_begin(rd);
        st = st == THRIFT_OK ? thrift_reader_field(rd, &sf) : st;
        TAP_CHECK(st == THRIFT_NEED_MORE && !sf.has_value && sf.type == THRIFT_TYPE_STRING &&
                      sf.id == 1 && sf.offset == 0,
                  "reader: %s string field longer than the input: %s", pn, err.text);
        /* a header cut short: no type */
        static const uint8_t bin_hdr[] = {11, 0};
        static const uint8_t cpt_hdr[] = {0x08};
        thrift_reader_begin(rd, proto == THRIFT_PROTO_BINARY ? bin_hdr : cpt_hdr,
                            proto == THRIFT_PROTO_BINARY ? sizeof bin_hdr : sizeof cpt_hdr, &err);
        st = thrift_reader_struct_begin(rd);
        st = st == THRIFT_OK ? thrift_reader_field(rd, &sf) : st;
        TAP_CHECK(st == THRIFT_NEED_MORE && !sf.has_value && sf.type == THRIFT_TYPE_STOP,
                  "reader: %s field header cut short: type STOP (%s)", pn, err.text);

        /* a list claiming more elements than bytes left; strings too */
        static const uint8_t bin_list[] = {8, 0x7f, 0xff, 0xff, 0xff, 0};
        static const uint8_t cpt_list[] = {0xf5, 0xff, 0xff, 0xff, 0xff, 0x07};
        thrift_reader_begin(rd, proto == THRIFT_PROTO_BINARY ? bin_list : cpt_list,
                            sizeof bin_list, &err);
        st = thrift_reader_list_begin(rd, &et, &n);
        TAP_CHECK(st == THRIFT_NEED_MORE || st == THRIFT_LIMIT,
                  "reader: %s huge list count refused before reading: %s", pn, err.text);
        static const uint8_t bin_str[] = {0, 0, 0, 5, 'a'};
        static const uint8_t cpt_str[] = {0x05, 'a'};
        thrift_reader_begin(rd, proto == THRIFT_PROTO_BINARY ? bin_str : cpt_str,
                            proto == THRIFT_PROTO_BINARY ? sizeof bin_str : sizeof cpt_str, &err);
        const uint8_t *sp = NULL;
        size_t sn = 0;
        st = thrift_reader_binary(rd, &sp, &sn);
        TAP_CHECK(st == THRIFT_NEED_MORE && err.code == THRIFT_NEED_MORE,
                  "reader: %s string longer than the input: %s", pn, err.text);

        /* nesting: lists of lists beyond max_depth */
        uint8_t deep[400];
        for (size_t i = 0; i < 80; i++) {
            if (proto == THRIFT_PROTO_BINARY) {
                memcpy(deep + 5 * i, (const uint8_t[]){15, 0, 0, 0, 1}, 5);
            } else {
                deep[i] = 0x19; /* one element, a list */
            }
        }
        thrift_reader_begin(rd, deep, proto == THRIFT_PROTO_BINARY ? 400 : 80, &err);
        st = THRIFT_OK;
        int levels = 0;
        while (st == THRIFT_OK && levels < 80) {
            st = thrift_reader_list_begin(rd, &et, &n);
            levels += st == THRIFT_OK;
        }
        TAP_CHECK(st == THRIFT_LIMIT && levels == 64,
                  "reader: %s nesting stops at max_depth (%d levels: %s)", pn, levels, err.text);
        thrift_reader_free(rd);

        /* the memory budget: 100 empty structs in 101 bytes */
        thrift_codec_options_t opts;
        thrift_codec_options_init(&opts);
        opts.max_memory_base = 0;
        opts.max_memory_per_byte = 8;
        uint8_t many[120] = {0};
        size_t mlen;
        if (proto == THRIFT_PROTO_BINARY) {
            memcpy(many, (const uint8_t[]){12, 0, 0, 0, 100}, 5);
            mlen = 105;
        } else {
            memcpy(many, (const uint8_t[]){0xfc, 100}, 2);
            mlen = 102;
        }
        rd = thrift_reader_new((thrift_protocol_t)proto, &opts);
        thrift_reader_begin(rd, many, mlen, &err);
        st = thrift_reader_list_begin(rd, &et, &n);
        TAP_CHECK(st == THRIFT_LIMIT && strstr(err.text, "memory budget"),
                  "reader: %s 100 values from %zu bytes exceed a budget of 8 per byte: %s", pn,
                  mlen, err.text);
        thrift_reader_free(rd);
        thrift_buffer_free(buf);
    }
    /* compact: an i32 out of range; an i16 as well */
    static const uint8_t big[] = {0x80, 0x80, 0x80, 0x80, 0x20};
    thrift_reader_t *rd = thrift_reader_new(THRIFT_PROTO_COMPACT, NULL);
    thrift_error_t err;
    thrift_reader_begin(rd, big, sizeof big, &err);
    int32_t v32;
    TAP_CHECK(thrift_reader_i32(rd, &v32) == THRIFT_INVALID && strstr(err.text, "out of range"),
              "reader: compact i32 out of range: %s", err.text);
    thrift_reader_begin(rd, big, sizeof big, &err);
    TAP_CHECK(err.code == THRIFT_OK && thrift_reader_struct_end(rd) == THRIFT_MISUSE,
              "reader: struct_end outside a struct");
    thrift_reader_free(rd);
    TAP_CHECK(thrift_reader_new(THRIFT_PROTO_JSON, NULL) == NULL, "reader: no JSON reader");
}

/* The streaming writer's and reader's integers at every width's extremes,
 * both protocols: what the writer writes the reader reads back; the bytes
 * equal thrift_encode's (compact: zigzag varints, the same for every
 * width); a truncated integer is NEED_MORE and a compact i16 out of range
 * INVALID, the output left as it was. */
static void test_stream_ints(void) {
    static const int64_t vals[] = {0, -1, 1, INT16_MIN, INT16_MAX, INT32_MIN, INT32_MAX,
                                   INT64_MIN, INT64_MAX};
    for (int proto = THRIFT_PROTO_BINARY; proto <= THRIFT_PROTO_COMPACT; proto++) {
        const char *pn = thrift_protocol_name((thrift_protocol_t)proto);
        thrift_buffer_t *b = thrift_buffer_new();
        thrift_writer_t *w = thrift_writer_new((thrift_protocol_t)proto, b);
        bool ok = true;
        for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
            int64_t v = vals[i];
            if (v == (int16_t)v)
                ok = ok && thrift_writer_i16(w, (int16_t)v) == THRIFT_OK;
            if (v == (int32_t)v)
                ok = ok && thrift_writer_i32(w, (int32_t)v) == THRIFT_OK;
            ok = ok && thrift_writer_i64(w, v) == THRIFT_OK;
        }
        thrift_error_t err;
        thrift_reader_t *rd = thrift_reader_new((thrift_protocol_t)proto, NULL);
        thrift_reader_begin(rd, thrift_buffer_data(b), thrift_buffer_len(b), &err);
        int bad = 0;
        for (size_t i = 0; ok && i < sizeof vals / sizeof vals[0]; i++) {
            int64_t v = vals[i], v64 = 0;
            int16_t v16 = 0;
            int32_t v32 = 0;
            if (v == (int16_t)v)
                bad += thrift_reader_i16(rd, &v16) != THRIFT_OK || v16 != v;
            if (v == (int32_t)v)
                bad += thrift_reader_i32(rd, &v32) != THRIFT_OK || v32 != v;
            bad += thrift_reader_i64(rd, &v64) != THRIFT_OK || v64 != v;
        }
        TAP_CHECK(ok && !bad && thrift_reader_offset(rd) == thrift_buffer_len(b),
                  "writer and reader: %s i16/i32/i64 at their extremes round-trip (%d bad)", pn,
                  bad);
        /* The same integers as thrift_encode writes them. */
        thrift_value_t *iv = thrift_value_new_i32(arena, INT32_MIN);
        thrift_buffer_t *enc = thrift_buffer_new();
        thrift_writer_reset(w);
        thrift_buffer_clear(b);
        TAP_CHECK(iv && thrift_writer_i32(w, INT32_MIN) == THRIFT_OK &&
                      thrift_encode((thrift_protocol_t)proto, iv, enc, NULL) == THRIFT_OK &&
                      thrift_buffer_len(b) == thrift_buffer_len(enc) &&
                      !memcmp(thrift_buffer_data(b), thrift_buffer_data(enc), thrift_buffer_len(b)),
                  "writer: %s i32 INT32_MIN as thrift_encode writes it", pn);
        thrift_buffer_free(enc);
        /* Truncated: NEED_MORE, the output untouched. */
        thrift_buffer_clear(b);
        thrift_writer_reset(w);
        thrift_writer_i64(w, INT64_MIN);
        int64_t keep = 7;
        thrift_reader_begin(rd, thrift_buffer_data(b), thrift_buffer_len(b) - 1, &err);
        TAP_CHECK(thrift_reader_i64(rd, &keep) == THRIFT_NEED_MORE && keep == 7,
                  "reader: %s truncated i64 -> NEED_MORE, output untouched", pn);
        thrift_reader_free(rd);
        thrift_writer_free(w);
        thrift_buffer_free(b);
    }
    /* compact: 40000 (zigzag 80000) does not fit an i16 */
    static const uint8_t big16[] = {0x80, 0xf1, 0x04};
    thrift_reader_t *rd = thrift_reader_new(THRIFT_PROTO_COMPACT, NULL);
    thrift_error_t err;
    thrift_reader_begin(rd, big16, sizeof big16, &err);
    int16_t v16 = 7;
    TAP_CHECK(thrift_reader_i16(rd, &v16) == THRIFT_INVALID && v16 == 7 &&
                  strstr(err.text, "40000 out of range for i16"),
              "reader: compact i16 out of range -> INVALID, output untouched: %s", err.text);
    thrift_reader_free(rd);
}

int main(void) {
    thrift_error_t err;
    thrift_error_clear(&err);
    schema = thrift_load_string("t.thrift", idl, sizeof idl - 1, NULL, &err);
    TAP_CHECK(schema != NULL, "test schema loads: %s", err.text);
    if (!schema)
        return tap_done();
    arena = thrift_arena_new(NULL);
    test_vectors();
    test_round_trips();
    test_truncation();
    test_messages();
    test_limits();
    test_fields();
    test_mutations();
    test_self_typed_defaults();
    test_writer();
    test_reader();
    test_stream_ints();
    thrift_arena_free(arena);
    thrift_schema_unref(schema);
    return tap_done();
}
