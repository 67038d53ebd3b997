/* Unit tests of the JSON mapping (src/json): text and jansson-tree APIs,
 * flags, error paths, number formatting, base64, the raw dumper. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

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
    "  11: optional Choice choice, 12: list<bool> flags, 13: set<i64> ids }\n"
    "struct Maps { 1: map<string, i32> s, 2: map<i64, string> i,\n"
    "  3: map<Color, i32> e, 4: map<Point, i32> p }\n";

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


/* ---- the direct scanner against the jansson tree path -------------------- */

typedef struct agree_stats {
    int runs, mismatches, accepted;
} agree_stats_t;

static char *dump_or_null(const thrift_value_t *v) {
    thrift_error_t err;
    thrift_error_clear(&err);
    return v ? thrift_json_dumps(v, 0, NULL, &err) : NULL;
}

/* Loads text three ways: the tree path (json_loadb + thrift_json_to_value),
 * the scanner on its own, and the public thrift_json_loads.  They must give
 * the same verdict; accepted texts the same value; mapping errors the same
 * code, path and text from the scanner; and the public function exactly the
 * tree path's error, line and column included.  Returns a description of
 * the first disagreement (static) or NULL. */
static const char *disagreement(const thrift_type_def_t *t, const char *text,
                                size_t len, unsigned flags) {
    static char why[2048];
    thrift_arena_t *arena = thrift_arena_new(NULL);
    thrift_error_t et, es, ep;
    thrift_error_clear(&et);
    thrift_error_clear(&es);
    thrift_error_clear(&ep);
    bool syntax = false;
    thrift_value_t *vt = thrift__json_loads_tree(arena, t, text, len, flags, &et);
    thrift_value_t *vs = thrift__json_scan(arena, t, text, len, flags, &es, &syntax);
    thrift_value_t *vp = thrift_json_loads(arena, t, text, len, flags, &ep);
    const char *bad = NULL;
    char *dt = dump_or_null(vt), *ds = dump_or_null(vs), *dp = dump_or_null(vp);
    if (!vt != !vs) {
        snprintf(why, sizeof why, "tree %s (%.200s: %.200s), scanner %s (%.200s: %.200s)",
                 vt ? "accepts" : "refuses", et.path, et.text,
                 vs ? "accepts" : "refuses", es.path, es.text);
        bad = why;
    } else if (vt) {
        if (!thrift_value_equal(vt, vs) || !thrift_value_equal(vt, vp) || !dt ||
            !ds || !dp || strcmp(dt, ds) || strcmp(dt, dp)) {
            snprintf(why, sizeof why, "values differ: tree %.200s scanner %.200s",
                     dt ? dt : "?", ds ? ds : "?");
            bad = why;
        }
    } else {
        if (et.code != THRIFT_SYNTAX &&
            (syntax || es.code != et.code || strcmp(es.path, et.path) ||
             strcmp(es.text, et.text))) {
            snprintf(why, sizeof why, "errors differ: tree %s %.200s: %.200s, scanner %s%s %.200s: %.200s",
                     thrift_status_name(et.code), et.path, et.text,
                     syntax ? "(syntax) " : "", thrift_status_name(es.code),
                     es.path, es.text);
            bad = why;
        } else if (vp || ep.code != et.code || strcmp(ep.path, et.path) ||
                   strcmp(ep.text, et.text) || ep.line != et.line ||
                   ep.column != et.column) {
            snprintf(why, sizeof why, "public error %s %.200s: %.200s (%d:%d), tree %.200s: %.200s (%d:%d)",
                     thrift_status_name(ep.code), ep.path, ep.text, ep.line,
                     ep.column, et.path, et.text, et.line, et.column);
            bad = why;
        }
    }
    free(dt);
    free(ds);
    free(dp);
    thrift_arena_free(arena);
    return bad;
}

static void agree(agree_stats_t *st, const thrift_type_def_t *t, const char *text,
                  size_t len, unsigned flags, const char *label) {
    const char *bad = disagreement(t, text, len, flags);
    st->runs++;
    if (bad) {
        st->mismatches++;
        if (st->mismatches <= 10) {
            printf("# disagreement (%s, flags %u): %s\n#   input: '", label, flags, bad);
            for (size_t i = 0; i < len && i < 300; i++)
                printf(text[i] >= 0x20 && text[i] < 0x7f ? "%c" : "\\x%02x",
                       (unsigned char)text[i]);
            printf("'\n");
        }
    }
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (buf)
        buf[n] = '\0';
    *len = n;
    return buf;
}

/* Random edits of valid texts: the verdicts and errors must still agree. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static void mutate_and_agree(agree_stats_t *st, const thrift_type_def_t *t,
                             const char *base, size_t len, int rounds) {
    static const char alphabet[] = "{}[],:\"\\-+0123456789.eE tfnulrsa\n\t/bu";
    static const char *const pieces[] = {
        "\\u0000", "\\ud83d\\ude00", "\\ud800", "\\udc00", "\xc3\xa9", "\xed\xa0\x80",
        "\xff", "\xc0\xaf", "1e400", "-0", "01", "9223372036854775808", "null",
        "true", "\"id\":1,", "[[", "]]", "{}", "\"NaN\"", "1.5", "\x01", "\\u00e9"};
    char *buf = malloc(len + 64);
    for (int r = 0; r < rounds; r++) {
        size_t n = len;
        memcpy(buf, base, len);
        int edits = 1 + (int)(rng() % 3);
        for (int e = 0; e < edits && n > 0; e++) {
            size_t at = rng() % n;
            switch (rng() % 5) {
            case 0: // replace a byte
                buf[at] = alphabet[rng() % (sizeof alphabet - 1)];
                break;
            case 1: // delete a byte
                memmove(buf + at, buf + at + 1, n - at - 1);
                n--;
                break;
            case 2: { // insert a piece
                const char *pc = pieces[rng() % (sizeof pieces / sizeof pieces[0])];
                size_t pl = strlen(pc);
                if (n + pl > len + 63)
                    break;
                memmove(buf + at + pl, buf + at, n - at);
                memcpy(buf + at, pc, pl);
                n += pl;
                break;
            }
            case 3: // truncate
                n = at;
                break;
            default: // a byte from anywhere
                buf[at] = (char)(rng() & 0xff);
            }
        }
        agree(st, t, buf, n, r & 1 ? THRIFT_JSON_IGNORE_UNKNOWN : 0, "mutant");
        agree(st, t, buf, n, THRIFT_JSON_IGNORE_UNKNOWN | THRIFT_JSON_NO_REQUIRED,
              "mutant");
    }
    free(buf);
}

static void test_scanner_suite(void) {
    const char *root = getenv("DYNTHRIFT_SOURCE_ROOT");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/test/suites/json", root ? root : "..");
    static const char *const cases[] = {
        "base64_padding_optional", "defaults_filled", "defaults_self_typed",
        "doubles_shortest",
        "enum_number_input", "enum_unknown_number_kept", "error_bad_base64",
        "error_bad_base64_length", "error_bad_uuid", "error_bad_uuid_short",
        "error_bool_from_int", "error_double_bad_string", "error_duplicate_key",
        "error_enum_unknown_name", "error_i64_too_big", "error_json_syntax",
        "error_map_key_not_integer", "error_missing_required",
        "error_missing_required_nested", "error_missing_required_top",
        "error_pair_not_pair", "error_range_i16", "error_range_i32",
        "error_range_i32_map_key", "error_range_i8", "error_raw_nul_byte", "error_union_no_key",
        "error_union_two_keys", "error_unknown_key_with_path",
        "error_unknown_top_key", "error_wrong_type", "error_wrong_type_container",
        "error_wrong_type_real_for_int", "i64_exact_extremes",
        "map_nul_key_as_pairs", "map_pairs_accepted_for_int_keys",
        "null_field_decodes_to_default",
        "roundtrip_everything", "strings_escapes_unicode", "union_one_key",
        "unknown_keys_ignored", "uuid_uppercase_input"};
    agree_stats_t plain = {0}, mutants = {0};
    int loaded = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[1200];
        size_t len = 0, tlen = 0, alen = 0;
        // A case's own schema.thrift, else the suite's shared one.
        snprintf(path, sizeof path, "%s/%s/schema.thrift", dir, cases[i]);
        if (access(path, R_OK) != 0)
            snprintf(path, sizeof path, "%s/schema.thrift", dir);
        thrift_error_t err;
        thrift_error_clear(&err);
        thrift_schema_t *sc = thrift_load(path, &err);
        snprintf(path, sizeof path, "%s/%s/type.txt", dir, cases[i]);
        char *tname = slurp(path, &tlen);
        snprintf(path, sizeof path, "%s/%s/input.json", dir, cases[i]);
        char *input = slurp(path, &len);
        snprintf(path, sizeof path, "%s/%s/args.txt", dir, cases[i]);
        char *args = slurp(path, &alen);
        if (!sc || !tname || !input) {
            free(tname);
            free(input);
            free(args);
            thrift_schema_unref(sc);
            continue;
        }
        while (tlen && (tname[tlen - 1] == '\n' || tname[tlen - 1] == ' '))
            tname[--tlen] = '\0';
        const thrift_struct_def_t *def = thrift_schema_find_struct(sc, tname);
        if (def) {
            loaded++;
            unsigned flags = args && strstr(args, "--ignore-unknown")
                                 ? THRIFT_JSON_IGNORE_UNKNOWN : 0;
            const thrift_type_def_t *t = thrift_struct_def_type(def);
            agree(&plain, t, input, len, flags, cases[i]);
            agree(&plain, t, input, len, flags ^ THRIFT_JSON_IGNORE_UNKNOWN, cases[i]);
            agree(&plain, t, input, len, THRIFT_JSON_NO_REQUIRED, cases[i]);
            mutate_and_agree(&mutants, t, input, len, 300);
        }
        free(tname);
        free(input);
        free(args);
        thrift_schema_unref(sc);
    }
    TAP_CHECK(loaded == (int)(sizeof cases / sizeof cases[0]),
              "scanner: %d of %zu suite cases loaded", loaded,
              sizeof cases / sizeof cases[0]);
    TAP_CHECK(plain.mismatches == 0,
              "scanner and tree path agree on every suite input, 3 flag sets "
              "(%d runs, %d disagree)", plain.runs, plain.mismatches);
    TAP_CHECK(mutants.mismatches == 0,
              "scanner and tree path agree on %d edited suite inputs (%d disagree)",
              mutants.runs, mutants.mismatches);
}

/* Texts aimed at the lexical corners, against the unit schema's User. */
static void test_scanner_corners(void) {
    static const char *const texts[] = {
        // numbers
        "{\"id\":0}", "{\"id\":-0}", "{\"id\":00}", "{\"id\":01}", "{\"id\":-}",
        "{\"id\":+1}", "{\"id\":1.}", "{\"id\":.5}", "{\"id\":1e5}", "{\"id\":1E+2}",
        "{\"id\":9223372036854775807}", "{\"id\":9223372036854775808}",
        "{\"id\":-9223372036854775808}", "{\"id\":-9223372036854775809}",
        "{\"id\":12345678901234567890}", "{\"id\":99999999999999999999}",
        "{\"id\":1,\"score\":-0}", "{\"id\":1,\"score\":-0.0}",
        "{\"id\":1,\"score\":1e400}", "{\"id\":1,\"score\":-1e400}",
        "{\"id\":1,\"score\":1e-400}", "{\"id\":1,\"score\":4.9e-324}",
        "{\"id\":1,\"score\":2.2250738585072011e-308}",
        "{\"id\":1,\"score\":0.1}", "{\"id\":1,\"score\":123456789012345678901234567890}",
        "{\"id\":1,\"score\":9007199254740993}", "{\"id\":1,\"score\":9007199254740993.0}",
        "{\"id\":1,\"score\":1.7976931348623157e308}", "{\"id\":1,\"score\":1.7976931348623159e308}",
        "{\"id\":1,\"score\":0.30000000000000004441}", "{\"id\":1,\"score\":1e22}",
        "{\"id\":1,\"score\":1e23}", "{\"id\":1,\"score\":0.000000000000000000000000001}",
        "{\"id\":1,\"score\":1.00000000000000000000000000000001}",
        "{\"id\":1,\"score\":1e0000000000000000000000000000001}",
        "{\"id\":1,\"score\":1e}", "{\"id\":1,\"score\":1e+}", "{\"id\":1,\"score\":-a}",
        "{\"id\":1,\"score\":\"NaN\\u0000x\"}", "{\"id\":1,\"score\":\"nan\"}",
        "{\"id\":1,\"score\":true}", "{\"id\":1,\"tiny\":1.0}", "{\"id\":1,\"tiny\":-129}",
        "{\"id\":1,\"color\":2.5}", "{\"id\":1,\"color\":2147483648}",
        "{\"id\":1,\"color\":\"GR\\u0045EN\"}", "{\"id\":1,\"color\":\"GREEN\\u0000\"}",
        // strings
        "{\"id\":1,\"name\":\"\\ud83d\\ude00\"}", "{\"id\":1,\"name\":\"\\ud83d\"}",
        "{\"id\":1,\"name\":\"\\ud83dx\"}", "{\"id\":1,\"name\":\"\\ud83d\\u0041\"}",
        "{\"id\":1,\"name\":\"\\ude00\"}", "{\"id\":1,\"name\":\"\\u00e9\\u20AC\"}",
        "{\"id\":1,\"name\":\"\\u12\"}", "{\"id\":1,\"name\":\"\\x\"}",
        "{\"id\":1,\"name\":\"a\tb\"}", "{\"id\":1,\"name\":\"a\nb\"}",
        "{\"id\":1,\"name\":\"\xc3\xa9\"}", "{\"id\":1,\"name\":\"\xc3\"}",
        "{\"id\":1,\"name\":\"\xed\xa0\x80\"}", "{\"id\":1,\"name\":\"\xf4\x90\x80\x80\"}",
        "{\"id\":1,\"name\":\"\xf0\x9f\x98\x80\"}", "{\"id\":1,\"name\":\"\xe0\x80\xaf\"}",
        "{\"id\":1,\"name\":\"\\/\\b\\f\\n\\r\\t\\\\\\\"\"}", "{\"id\":1,\"name\":\"abc",
        "{\"id\":1,\"avatar\":\"AA\\u0045C\"}", "{\"id\":1,\"tag\":\"0011\\u0000\"}",
        "{\"id\":1,\"tag\":\"00112233-4455-6677-8899-aabbccddeeff\"}",
        // keys, duplicates, unknowns
        "{\"\\u0069d\":1}", "{\"id\":1,\"\\u0069d\":2}", "{\"id\":1,\"id\":null}",
        "{\"i\\u0000d\":1}", "{\"id\":1,\"name\":null,\"name\":\"x\"}",
        "{\"id\":1,\"by_color\":{\"RED\":1,\"RED\":2}}",
        "{\"id\":1,\"by_color\":{\"RED\":1,\"R\\u0045D\":2}}",
        "{\"id\":1,\"by_color\":{\"1\":1,\"01\":2}}",
        "{\"id\":1,\"by_color\":{\"1\":1,\"BLUE\":2,\"1\":3}}",
        "{\"id\":1,\"x\":1,\"x\":2}", "{\"id\":1,\"x\":{\"a\":1,\"a\":2}}",
        "{\"id\":1,\"x\":[{\"a\":1},{\"a\":2}]}", "{\"id\":1,\"x\":{\"a\":{\"a\":1},\"b\":1}}",
        ("{\"id\":1,\"x\":{\"k1\":1,\"k2\":1,\"k3\":1,\"k4\":1,\"k5\":1,\"k6\":1,\"k7\":1,"
         "\"k8\":1,\"k9\":1,\"k10\":1,\"k3\":2}}"),
        "{\"id\":1,\"x\":[1,2,}", "{\"id\":1,\"x\":[1,2,]}", "{\"id\":1,\"x\":{\"a\"}}",
        "{\"id\":1,\"x\":{\"a\":}}", "{\"id\":1,\"x\":{,}}", "{\"id\":1,\"x\":tru}",
        "{\"id\":1,\"x\":nul}", "{\"id\":1,\"x\":1e999}", "{\"id\":1,\"x\":-}",
        "{\"id\":1,\"x\":\"\\ud800\"}", "{\"id\":1,\"x\":{\"\\u0000\":1}}",
        // structure
        "", " ", "{", "}", "{}", "[]", "null", "{\"id\":1} x", "{\"id\":1}{}",
        "{\"id\":1}\n\t\r ", " \n{ \"id\" : 1 , \"flags\" : [ true , false ] } ",
        "{\"id\":1,}", "{\"id\" 1}", "{\"id\":1 \"name\":\"x\"}", "{'id':1}",
        "{\"id\":1,\"flags\":[true,false,null]}", "{\"id\":1,\"flags\":[truex]}",
        "{\"id\":1,\"flags\":[true false]}", "{\"id\":1,\"ids\":[1,2,3,-4]}",
        "{\"id\":1,\"ids\":[1,[2]]}", "{\"id\":1,\"labels\":[[{\"x\":1},\"a\"]]}",
        "{\"id\":1,\"labels\":[[{\"x\":1},\"a\",3]]}", "{\"id\":1,\"labels\":[[{\"q\":1},\"a\",3]]}",
        "{\"id\":1,\"labels\":[[{\"q\":1}]]}", "{\"id\":1,\"labels\":[[]]}",
        "{\"id\":1,\"labels\":[7]}", "{\"id\":1,\"labels\":[[{\"x\":\"s\"},\"a\"],]}",
        "{\"id\":1,\"labels\":[[{\"x\":1},\"a\"}", "{\"id\":1,\"labels\":{\"a\":1}}",
        "{\"id\":1,\"labels\":[[{\"x\":1},\"a\"],[{\"x\":1},\"b\"]]}",
        "{\"id\":1,\"labels\":[[{\"q\":1},\"a\"]],\"id\":2}",
        "{\"id\":1,\"choice\":{}}", "{\"id\":1,\"choice\":{\"number\":null}}",
        "{\"id\":1,\"choice\":{\"number\":1,\"text\":null}}",
        "{\"id\":1,\"address\":{\"street\":\"s\",\"street\":\"t\"}}",
        "{\"id\":1,\"address\":{\"zip\":1}}", "{\"name\":\"x\"}",
        "{\"id\":\"1\"}", "{\"id\":[1]}", "{\"id\":{}}", "{\"id\":null}", "{\"id\":true}",
    };
    agree_stats_t st = {0};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        for (unsigned flags = 0; flags < 4; flags++)
            agree(&st, type("User"), texts[i], strlen(texts[i]), flags, "corner");
        mutate_and_agree(&st, type("User"), texts[i], strlen(texts[i]), 20);
    }
    // NUL bytes inside the text (not escapes): never JSON.
    agree(&st, type("User"), "{\"id\":1}\0", 9, 0, "trailing NUL");
    agree(&st, type("User"), "{\"id\":1,\"name\":\"a\0b\"}", 21, 0, "raw NUL");
    // jansson alone would drop a NUL right after a number or literal
    agree(&st, type("User"), "{\"id\":1\0}", 9, 0, "NUL after a number");
    agree(&st, type("User"), "{\"id\":1,\"flags\":[true\0]}", 25, 0, "NUL after a literal");
    agree(&st, type("User"), "{\"id\":1,\"x\":null\0}", 18, THRIFT_JSON_IGNORE_UNKNOWN,
          "NUL after a skipped literal");
    {
        thrift_arena_t *arena = thrift_arena_new(NULL);
        thrift_error_t err;
        thrift_error_clear(&err);
        thrift_value_t *v = thrift_json_loads(arena, type("User"), "{\n \"id\": 1\0}", 12, 0, &err);
        char buf[256];
        thrift_error_render(&err, false, buf, sizeof buf);
        TAP_STREQ(v ? "accepted" : buf, "<json>:2:9: unexpected NUL byte",
                  "a raw NUL byte after a number is refused where it is");
        thrift_arena_free(arena);
    }
    agree(&st, type("User"), NULL, 0, 0, "NULL text");
    TAP_CHECK(st.mismatches == 0,
              "scanner and tree path agree on %zu corner texts and their edits "
              "(%d runs, %d disagree)", sizeof texts / sizeof texts[0], st.runs,
              st.mismatches);
}

/* Nesting: mapped values stop at THRIFT__JSON_MAX_DEPTH_IN, skipped values
 * at jansson's 2048, and neither recurses without bound. */
static void test_scanner_depth(void) {
    static const char idl2[] =
        "struct Node { 1: list<Node> kids, 2: map<string, Node> named }\n";
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_schema_t *sc = thrift_load_string("n.thrift", idl2, strlen(idl2), NULL, &err);
    const thrift_type_def_t *node =
        sc ? thrift_struct_def_type(thrift_schema_find_struct(sc, "Node")) : NULL;
    TAP_CHECK(node != NULL, "recursive schema loads");
    if (!node)
        return;
    agree_stats_t st = {0};
    size_t cap = 800000;
    char *buf = malloc(cap);
    static const int levels[] = {1, 31, 32, 33, 63, 64, 65, 100, 1000};
    for (size_t li = 0; li < sizeof levels / sizeof levels[0]; li++) {
        // {"kids":[{"kids":[ ... {} ... ]}]}
        size_t n = 0;
        for (int i = 0; i < levels[li]; i++)
            n += (size_t)sprintf(buf + n, "{\"kids\":[");
        n += (size_t)sprintf(buf + n, "{}");
        for (int i = 0; i < levels[li]; i++)
            n += (size_t)sprintf(buf + n, "]}");
        agree(&st, node, buf, n, 0, "deep mapped");
    }
    static const int skipped[] = {10, 2040, 2045, 2046, 2047, 2048, 2049, 5000, 50000};
    for (size_t li = 0; li < sizeof skipped / sizeof skipped[0]; li++) {
        for (int form = 0; form < 3; form++) {
            size_t n = (size_t)sprintf(buf, "{\"unknown\":");
            for (int i = 0; i < skipped[li]; i++)
                n += (size_t)sprintf(buf + n, form == 1 ? "{\"a\":" : "[");
            n += (size_t)sprintf(buf + n, form == 2 ? "[]" : "1");
            for (int i = 0; i < skipped[li]; i++)
                n += (size_t)sprintf(buf + n, form == 1 ? "}" : "]");
            n += (size_t)sprintf(buf + n, "}");
            agree(&st, node, buf, n, THRIFT_JSON_IGNORE_UNKNOWN, "deep skipped");
            agree(&st, node, buf, n, 0, "deep unknown");
        }
    }
    // unbalanced deep input
    memset(buf, '[', 100000);
    agree(&st, node, buf, 100000, 0, "deep open");
    free(buf);
    thrift_arena_t *arena = thrift_arena_new(NULL);
    const char *deep = "{\"kids\":[{\"kids\":[{}]}]}";
    TAP_CHECK(thrift__json_scan(arena, node, deep, strlen(deep), 0, &err, NULL) != NULL,
              "a recursive struct loads directly");
    thrift_arena_free(arena);
    TAP_CHECK(st.mismatches == 0, "deep nesting: scanner and tree agree (%d runs, %d disagree)",
              st.runs, st.mismatches);
    thrift_schema_unref(sc);
}

/* ---- duplicate map keys from the wire (issue 10, item 9) --------------- */

typedef struct {
    uint8_t b[4096];
    size_t n;
} bytes_t;

static void put8(bytes_t *o, unsigned v) { o->b[o->n++] = (uint8_t)v; }
static void put32(bytes_t *o, uint32_t v) {
    for (int i = 3; i >= 0; i--)
        put8(o, (v >> (8 * i)) & 0xff);
}
static void put_str(bytes_t *o, const char *s) {
    put32(o, (uint32_t)strlen(s));
    memcpy(o->b + o->n, s, strlen(s));
    o->n += strlen(s);
}
static void map_head(bytes_t *o, int id, unsigned kt, unsigned vt, uint32_t n) {
    put8(o, 13);
    put8(o, 0);
    put8(o, (unsigned)id);
    put8(o, kt);
    put8(o, vt);
    put32(o, n);
}

/* Both writers (direct text and jansson tree) print `bin` (binary Maps) as
 * `want`. */
static void check_dup_keys(const char *what, const bytes_t *bin, const char *want) {
    thrift_arena_t *arena = thrift_arena_new(NULL);
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_value_t *v = thrift_decode(THRIFT_PROTO_BINARY, type("Maps"), bin->b,
                                      bin->n, arena, NULL, NULL, &err);
    char *direct = v ? thrift_json_dumps(v, 0, NULL, &err) : NULL;
    json_t *tree = v ? thrift_json_from_value(v, 0, &err) : NULL;
    char *via_tree =
        tree ? json_dumps(tree, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    TAP_STREQ(direct, want, "duplicate map keys, direct writer: %s", what);
    TAP_STREQ(via_tree, want, "duplicate map keys, jansson tree: %s", what);
    /* What was printed reads back (no duplicate names to refuse). */
    thrift_value_t *back =
        direct ? thrift_json_loads(arena, type("Maps"), direct, strlen(direct), 0,
                                   &err)
               : NULL;
    TAP_CHECK(back != NULL, "printed map reads back: %s: %s", what, err.text);
    /* ... through the direct scanner and the jansson tree alike. */
    const char *why =
        direct ? disagreement(type("Maps"), direct, strlen(direct), 0) : "no text";
    TAP_CHECK(why == NULL, "scanner and tree read the printed map alike: %s: %s",
              what, why ? why : "");
    free(via_tree);
    json_decref(tree);
    thrift_json_text_free(direct);
    thrift_arena_free(arena);
}

static void test_duplicate_map_keys(void) {
    bytes_t o = {{0}, 0};
    map_head(&o, 1, 11, 8, 4); /* {"a":5, "b":1, "a":6, "":0} */
    put_str(&o, "a"), put32(&o, 5), put_str(&o, "b"), put32(&o, 1);
    put_str(&o, "a"), put32(&o, 6), put_str(&o, ""), put32(&o, 0);
    map_head(&o, 2, 10, 11, 3); /* {7:"x", 7:"y", 7:"z"} */
    for (int i = 0; i < 3; i++) {
        put32(&o, 0), put32(&o, 7);
        char s[2] = {(char)('x' + i), 0};
        put_str(&o, s);
    }
    map_head(&o, 3, 8, 8, 3); /* {RED:1, 9:2, RED:3} */
    put32(&o, 1), put32(&o, 1), put32(&o, 9), put32(&o, 2), put32(&o, 1), put32(&o, 3);
    put8(&o, 0);
    check_dup_keys("string, i64 and enum keys", &o,
                   "{\"s\":{\"a\":6,\"b\":1,\"\":0},\"i\":{\"7\":\"z\"},"
                   "\"e\":{\"RED\":3,\"9\":2}}");

    /* A large map (hashed, not scanned): 40 keys k0..k19 twice, the second
     * round's values win. */
    bytes_t big = {{0}, 0};
    map_head(&big, 1, 11, 8, 40);
    for (int i = 0; i < 40; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%d", i % 20);
        put_str(&big, k);
        put32(&big, (uint32_t)i);
    }
    put8(&big, 0);
    char want[1024];
    size_t n = (size_t)snprintf(want, sizeof want, "{\"s\":{");
    for (int i = 0; i < 20; i++)
        n += (size_t)snprintf(want + n, sizeof want - n, "%s\"k%d\":%d",
                              i ? "," : "", i, i + 20);
    snprintf(want + n, sizeof want - n, "}}");
    check_dup_keys("40 entries, 20 keys", &big, want);

    /* Struct keys are written as [key, value] pairs: kept as they came. */
    bytes_t pk = {{0}, 0};
    map_head(&pk, 4, 12, 8, 2);
    for (int i = 0; i < 2; i++) {
        put8(&pk, 8), put8(&pk, 0), put8(&pk, 1), put32(&pk, 1), put8(&pk, 0);
        put32(&pk, (uint32_t)i);
    }
    put8(&pk, 0);
    /* issue 10, item 8: a string key with a NUL byte cannot be an object
     * member name that reads back (jansson refuses it, and the scanner
     * agrees), so that map is written as pairs, which both read. */
    bytes_t nul = {{0}, 0};
    map_head(&nul, 1, 11, 8, 3);
    put32(&nul, 3), memcpy(nul.b + nul.n, "a\0b", 3), nul.n += 3, put32(&nul, 5);
    put_str(&nul, "c"), put32(&nul, 1), put_str(&nul, "c"), put32(&nul, 2);
    put8(&nul, 0);
    check_dup_keys("NUL byte in a key: pairs", &nul,
                   "{\"s\":[[\"a\\u0000b\",5],[\"c\",1],[\"c\",2]]}");

    check_dup_keys("struct keys as pairs", &pk,
                   "{\"p\":[[{\"x\":1},0],[{\"x\":1},1]]}");
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
    test_duplicate_map_keys();

    check_error("User", "{\"id\":1,\"address\":{\"street\":\"s\",\"zip\":\"1\"}}", 0,
                THRIFT_TYPE, "User.address.zip: expected i32, got string");
    check_error("User", "{\"id\":1,\"labels\":[[{\"x\":1,\"z\":2},\"a\"]]}", 0,
                THRIFT_UNKNOWN_FIELD, "User.labels[0].z: unknown field of Point");
    check_error("User", "{\"id\":1,\"tiny\":-129}", 0, THRIFT_RANGE,
                "User.tiny: -129 out of range for i8");
    check_error("User", "{\"id\":1,\"by_color\":{\"BLUE\":1}}", 0, THRIFT_RANGE,
                "User.by_color[BLUE]: unknown Color value 'BLUE' (one of: RED, GREEN)");
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
    test_scanner_suite();
    test_scanner_corners();
    test_scanner_depth();
    thrift_schema_unref(schema);
    return tap_done();
}
