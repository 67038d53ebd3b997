/* The JSON mapping between value trees and JSON (see dynthrift/json.h for
 * the rules).  Values are read and built through their internal layout
 * (value/value_impl.h): the mapping is a codec like the wire protocols. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "dynthrift/json.h"
#include "json/json_internal.h"
#include "proto/proto_impl.h" /* thrift__decode_budget */
#include "value/value_impl.h"

/* Value trees nested deeper than this are not written, so a hostile tree
 * cannot exhaust the stack.  (Input has its own, lower limit:
 * THRIFT__JSON_MAX_DEPTH_IN.) */
#define JSON_MAX_DEPTH 1000

static bool is_struct_kind(unsigned kind) {
    return kind == THRIFT_KIND_STRUCT || kind == THRIFT_KIND_UNION ||
           kind == THRIFT_KIND_EXCEPTION;
}

static bool is_int_kind(unsigned kind) {
    return kind == THRIFT_KIND_I8 || kind == THRIFT_KIND_I16 ||
           kind == THRIFT_KIND_I32 || kind == THRIFT_KIND_I64;
}

/* Map keys that have a natural JSON object key. */
bool thrift__json_is_object_key_kind(unsigned kind) {
    return kind == THRIFT_KIND_STRING || kind == THRIFT_KIND_ENUM ||
           is_int_kind(kind);
}

const char *thrift__json_type_name(const thrift_type_def_t *t) {
    return t->name ? t->name : thrift_kind_name((thrift_kind_t)t->kind);
}

static const char *enum_name(const thrift_enum_def_t *e, int64_t number) {
    // by_number is sorted by number: binary search.
    if (!e->by_number)
        return NULL;
    size_t lo = 0, hi = e->value_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int32_t n = e->by_number[mid]->number;
        if (n == number)
            return e->by_number[mid]->name;
        if (n < number)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ======================================================================
 * JSON -> value
 * ====================================================================== */

typedef struct in_ctx {
    thrift_arena_t *arena;
    unsigned flags;
    thrift_error_t *err;
    unsigned depth;
} in_ctx_t;

static const char *json_kind(const json_t *j) {
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "real";
    case JSON_TRUE:
    case JSON_FALSE: return "bool";
    case JSON_NULL: return "null";
    }
    return "?";
}

static bool type_error(in_ctx_t *c, const thrift_type_def_t *t,
                       const json_t *j) {
    thrift__error_set(c->err, THRIFT_TYPE, "expected %s, got %s", thrift__json_type_name(t),
                      json_kind(j));
    return false;
}

static bool oom(in_ctx_t *c) {
    thrift__json_alloc_failed(c->err, c->arena);
    return false;
}

size_t thrift__json_text_budget(size_t len) {
    thrift_codec_options_t o;
    thrift_codec_options_init(&o);
    return thrift__decode_budget(&o, len);
}

bool thrift__json_alloc_failed(thrift_error_t *err, const thrift_arena_t *arena) {
    if (arena && arena->over_limit)
        thrift__error_set(err, THRIFT_LIMIT,
                          "the value needs more memory than the budget of "
                          "%zu MiB + %zu bytes per input byte",
                          (size_t)THRIFT__DECODE_MEMORY_BASE >> 20,
                          (size_t)THRIFT__DECODE_MEMORY_PER_BYTE);
    else
        thrift__error_set(err, THRIFT_NOMEM, "out of memory");
    return false;
}

bool thrift__json_int_in_range(unsigned kind, int64_t n) {
    switch (kind) {
    case THRIFT_KIND_I8: return n >= INT8_MIN && n <= INT8_MAX;
    case THRIFT_KIND_I16: return n >= INT16_MIN && n <= INT16_MAX;
    case THRIFT_KIND_I32:
    case THRIFT_KIND_ENUM: return n >= INT32_MIN && n <= INT32_MAX;
    default: return true;
    }
}

/* Strict decimal: optional '-', digits, no leading '+', spaces or junk. */
static bool parse_decimal(const char *s, size_t len, int64_t *out) {
    size_t i = 0;
    bool neg = false;
    if (i < len && s[i] == '-') {
        neg = true;
        i++;
    }
    if (i == len)
        return false;
    uint64_t u = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (u > (UINT64_MAX - d) / 10)
            return false;
        u = u * 10 + d;
    }
    if (neg) {
        if (u > (uint64_t)INT64_MAX + 1)
            return false;
        *out = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
    } else {
        if (u > (uint64_t)INT64_MAX)
            return false;
        *out = (int64_t)u;
    }
    return true;
}

bool thrift__json_enum_by_name(thrift_error_t *err, thrift_value_t *v,
                               const thrift_type_def_t *t, const char *s,
                               size_t len) {
    const thrift_enum_value_def_t *ev =
        t->enum_def->by_name.slots
            ? thrift__strmap_get(&t->enum_def->by_name, s, len)
            : NULL;
    if (!ev) {
        // Name the valid values: the user has to type one of them.
        char names[200];
        size_t used = 0;
        names[0] = 0;
        const thrift_enum_def_t *e = t->enum_def;
        for (uint32_t i = 0; i < e->value_count && used < sizeof names; i++) {
            int n = snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                             e->values[i].name);
            if (n < 0 || (size_t)n >= sizeof names - used) {
                memcpy(names + (used < sizeof names - 6 ? used : sizeof names - 6), ", ...", 6);
                break;
            }
            used += (size_t)n;
        }
        thrift__error_set(err, THRIFT_RANGE, "unknown %s value '%.*s' (one of: %s)",
                          thrift__json_type_name(t), (int)(len > 64 ? 64 : len), s, names);
        return false;
    }
    v->u.i = ev->number;
    return true;
}

/* A map key given as an object key (always a string in JSON). */
bool thrift__json_key_from_string(thrift_arena_t *arena, thrift_error_t *err,
                                  thrift_value_t *v, const thrift_type_def_t *t,
                                  const char *s, size_t len) {
    in_ctx_t ctx = {arena, 0, err, 0}, *c = &ctx;
    if (!thrift__value_init(c->arena, v, t))
        return oom(c);
    switch (t->kind) {
    case THRIFT_KIND_STRING: {
        char *copy = thrift__arena_strndup(c->arena, s, len);
        if (!copy)
            return oom(c);
        v->u.bytes.ptr = (const uint8_t *)copy;
        v->u.bytes.len = len;
        return true;
    }
    case THRIFT_KIND_ENUM: {
        int64_t n;
        if (parse_decimal(s, len, &n)) {
            if (!thrift__json_int_in_range(THRIFT_KIND_I32, n)) {
                thrift__error_set(c->err, THRIFT_RANGE,
                                  "%lld out of range for %s", (long long)n,
                                  thrift__json_type_name(t));
                return false;
            }
            v->u.i = n;
            return true;
        }
        return thrift__json_enum_by_name(c->err, v, t, s, len);
    }
    default: {
        int64_t n;
        if (!parse_decimal(s, len, &n)) {
            thrift__error_set(c->err, THRIFT_TYPE,
                              "expected %s key, got '%.*s'", thrift__json_type_name(t),
                              (int)(len > 64 ? 64 : len), s);
            return false;
        }
        if (!thrift__json_int_in_range(t->kind, n)) {
            thrift__error_set(c->err, THRIFT_RANGE, "%lld out of range for %s",
                              (long long)n, thrift__json_type_name(t));
            return false;
        }
        v->u.i = n;
        return true;
    }
    }
}

static bool from_json(in_ctx_t *c, thrift_value_t *v,
                      const thrift_type_def_t *type, const json_t *j);

void thrift__json_path_key(thrift_error_t *err, const char *key, size_t len) {
    char tmp[72];
    snprintf(tmp, sizeof tmp, "%.*s", (int)(len > 64 ? 64 : len), key);
    thrift__error_path_prepend(err, tmp, true);
}

void thrift__json_path_index(thrift_error_t *err, size_t i) {
    char tmp[24];
    snprintf(tmp, sizeof tmp, "%zu", i);
    thrift__error_path_prepend(err, tmp, true);
}

void thrift__json_unknown_field(thrift_error_t *err,
                                const thrift_struct_def_t *sd, const char *key,
                                size_t len) {
    thrift__error_set(err, THRIFT_UNKNOWN_FIELD, "unknown field of %s",
                      sd->name);
    thrift__json_path_key(err, key, len);
    // A field path reads better with a dot than in brackets.
    if (err) {
        char tmp[sizeof err->path];
        snprintf(tmp, sizeof tmp, "%s", err->path);
        size_t n = strlen(tmp);
        if (n >= 2 && tmp[0] == '[' && tmp[n - 1] == ']') {
            tmp[n - 1] = '\0';
            snprintf(err->path, sizeof err->path, "%s", tmp + 1);
        }
    }
}

static bool map_from_json(in_ctx_t *c, thrift_value_t *v,
                          const thrift_type_def_t *t, const json_t *j) {
    const thrift_type_def_t *kt = t->key->resolved, *vt = t->value;
    if (json_is_object(j) && thrift__json_is_object_key_kind(kt->kind)) {
        size_t n = json_object_size(j);
        if (n > UINT32_MAX || !thrift__value_reserve(c->arena, v, (uint32_t)n))
            return oom(c);
        const char *key;
        const json_t *val;
        // jansson iterates in insertion order, which is the text's order.
        json_object_foreach((json_t *)j, key, val) {
            size_t klen = json_object_iter_key_len(json_object_key_to_iter(key));
            thrift_value_t *kv = &v->u.c.items[2 * (size_t)v->count];
            if (!thrift__json_key_from_string(c->arena, c->err, kv, kt, key, klen) ||
                !from_json(c, kv + 1, vt, val)) {
                thrift__json_path_key(c->err, key, klen);
                return false;
            }
            v->count++;
        }
        return true;
    }
    if (!json_is_array(j))
        return type_error(c, t, j);
    size_t n = json_array_size(j);
    if (n > UINT32_MAX || !thrift__value_reserve(c->arena, v, (uint32_t)n))
        return oom(c);
    for (size_t i = 0; i < n; i++) {
        const json_t *pair = json_array_get(j, i);
        thrift_value_t *kv = &v->u.c.items[2 * (size_t)v->count];
        if (!json_is_array(pair) || json_array_size(pair) != 2) {
            thrift__error_set(c->err, THRIFT_TYPE,
                              "expected a [key, value] pair, got %s",
                              json_is_array(pair) ? "another array"
                                                  : json_kind(pair));
            thrift__json_path_index(c->err, i);
            return false;
        }
        if (!from_json(c, kv, kt, json_array_get(pair, 0)) ||
            !from_json(c, kv + 1, vt, json_array_get(pair, 1))) {
            thrift__json_path_index(c->err, i);
            return false;
        }
        v->count++;
    }
    return true;
}

static bool struct_from_json(in_ctx_t *c, thrift_value_t *v,
                             const thrift_type_def_t *t, const json_t *j) {
    const thrift_struct_def_t *sd = t->struct_def;
    if (!json_is_object(j))
        return type_error(c, t, j);
    bool is_union = t->kind == THRIFT_KIND_UNION;
    if (is_union) // the JSON names the one field; IDL defaults do not count
        for (uint32_t i = 0; i < sd->field_count; i++)
            v->u.s.slots[i].flags &= (uint8_t)~THRIFT__VALUE_SET;
    size_t given = 0;
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)j, key, val) {
        size_t klen = json_object_iter_key_len(json_object_key_to_iter(key));
        const thrift_field_def_t *f = thrift__struct_field_by_name(sd, key, klen);
        if (!f) {
            if (c->flags & THRIFT_JSON_IGNORE_UNKNOWN)
                continue;
            thrift__json_unknown_field(c->err, sd, key, klen);
            return false;
        }
        thrift_value_t *slot = &v->u.s.slots[f->index];
        if (json_is_null(val)) {
            slot->flags &= (uint8_t)~THRIFT__VALUE_SET;
            continue;
        }
        if (!from_json(c, slot, f->type, val)) {
            thrift__error_path_prepend(c->err, f->name, false);
            return false;
        }
        slot->flags |= THRIFT__VALUE_SET;
        given++;
    }
    if (is_union && given != 1) {
        thrift__error_set(c->err, THRIFT_TYPE,
                          "union %s needs exactly one field, got %zu",
                          sd->name, given);
        return false;
    }
    if (!(c->flags & THRIFT_JSON_NO_REQUIRED) && sd->required_count) {
        for (uint32_t i = 0; i < sd->field_count; i++) {
            const thrift_field_def_t *f = &sd->fields[i];
            if (f->req == THRIFT_REQ_REQUIRED &&
                !(v->u.s.slots[i].flags & THRIFT__VALUE_SET)) {
                thrift__error_set(c->err, THRIFT_MISSING,
                                  "required field missing");
                thrift__error_path_prepend(c->err, f->name, false);
                return false;
            }
        }
    }
    return true;
}

static bool from_json(in_ctx_t *c, thrift_value_t *v,
                      const thrift_type_def_t *type, const json_t *j) {
    const thrift_type_def_t *t = type->resolved;
    if (c->depth >= THRIFT__JSON_MAX_DEPTH_IN) {
        thrift__error_set(c->err, THRIFT_LIMIT, "nested deeper than %d",
                          THRIFT__JSON_MAX_DEPTH_IN);
        return false;
    }
    uint8_t keep = v->flags & THRIFT__VALUE_SET;
    if (!thrift__value_init(c->arena, v, t))
        return oom(c);
    v->flags |= keep;
    switch (t->kind) {
    case THRIFT_KIND_BOOL:
        if (!json_is_boolean(j))
            return type_error(c, t, j);
        v->u.b = json_is_true(j);
        return true;
    case THRIFT_KIND_I8:
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
    case THRIFT_KIND_I64: {
        if (!json_is_integer(j))
            return type_error(c, t, j);
        json_int_t n = json_integer_value(j);
        if (!thrift__json_int_in_range(t->kind, n)) {
            thrift__error_set(c->err, THRIFT_RANGE, "%lld out of range for %s",
                              (long long)n, thrift__json_type_name(t));
            return false;
        }
        v->u.i = n;
        return true;
    }
    case THRIFT_KIND_ENUM:
        if (json_is_integer(j)) {
            json_int_t n = json_integer_value(j);
            if (!thrift__json_int_in_range(THRIFT_KIND_I32, n)) {
                thrift__error_set(c->err, THRIFT_RANGE,
                                  "%lld out of range for %s", (long long)n,
                                  thrift__json_type_name(t));
                return false;
            }
            v->u.i = n;
            return true;
        }
        if (!json_is_string(j))
            return type_error(c, t, j);
        return thrift__json_enum_by_name(c->err, v, t, json_string_value(j),
                                json_string_length(j));
    case THRIFT_KIND_DOUBLE:
        if (json_is_real(j)) {
            v->u.d = json_real_value(j);
        } else if (json_is_integer(j)) {
            v->u.d = (double)json_integer_value(j);
        } else if (json_is_string(j)) {
            const char *s = json_string_value(j);
            if (!strcmp(s, "NaN"))
                v->u.d = NAN;
            else if (!strcmp(s, "Infinity"))
                v->u.d = INFINITY;
            else if (!strcmp(s, "-Infinity"))
                v->u.d = -INFINITY;
            else {
                thrift__error_set(c->err, THRIFT_TYPE,
                                  "expected double, got string (only \"NaN\", "
                                  "\"Infinity\" and \"-Infinity\" are numbers)");
                return false;
            }
        } else {
            return type_error(c, t, j);
        }
        return true;
    case THRIFT_KIND_STRING: {
        if (!json_is_string(j))
            return type_error(c, t, j);
        size_t len = json_string_length(j);
        char *copy = thrift__arena_strndup(c->arena, json_string_value(j), len);
        if (!copy)
            return oom(c);
        v->u.bytes.ptr = (const uint8_t *)copy;
        v->u.bytes.len = len;
        return true;
    }
    case THRIFT_KIND_BINARY: {
        if (!json_is_string(j))
            return type_error(c, t, j);
        size_t len = json_string_length(j);
        uint8_t *out = thrift__arena_alloc(c->arena, len / 4 * 3 + 3);
        if (!out)
            return oom(c);
        size_t n;
        if (!thrift__base64_decode(json_string_value(j), len, out, &n)) {
            thrift__error_set(c->err, THRIFT_TYPE,
                              "expected binary, got a string that is not base64");
            return false;
        }
        v->u.bytes.ptr = out;
        v->u.bytes.len = n;
        return true;
    }
    case THRIFT_KIND_UUID:
        if (!json_is_string(j))
            return type_error(c, t, j);
        if (!thrift__uuid_parse(json_string_value(j), json_string_length(j),
                                v->u.uuid)) {
            thrift__error_set(c->err, THRIFT_TYPE,
                              "expected uuid (8-4-4-4-12 hex), got '%.40s'",
                              json_string_value(j));
            return false;
        }
        return true;
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET: {
        if (!json_is_array(j))
            return type_error(c, t, j);
        size_t n = json_array_size(j);
        if (n > UINT32_MAX || !thrift__value_reserve(c->arena, v, (uint32_t)n))
            return oom(c);
        c->depth++;
        for (size_t i = 0; i < n; i++) {
            if (!from_json(c, &v->u.c.items[v->count], t->elem,
                           json_array_get(j, i))) {
                thrift__json_path_index(c->err, i);
                return false;
            }
            v->count++;
        }
        c->depth--;
        return true;
    }
    case THRIFT_KIND_MAP: {
        c->depth++;
        bool ok = map_from_json(c, v, t, j);
        c->depth--;
        return ok;
    }
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION: {
        c->depth++;
        bool ok = struct_from_json(c, v, t, j);
        c->depth--;
        return ok;
    }
    default:
        thrift__error_set(c->err, THRIFT_UNSUPPORTED, "no JSON form for %s",
                          thrift__json_type_name(t));
        return false;
    }
}

thrift_value_t *thrift_json_to_value(thrift_arena_t *arena,
                                     const thrift_type_def_t *type,
                                     const json_t *json, unsigned flags,
                                     thrift_error_t *err) {
    if (!arena || !type || !json) {
        thrift__error_set(err, THRIFT_MISUSE, "NULL argument");
        return NULL;
    }
    in_ctx_t c = {arena, flags, err, 0};
    thrift_value_t *v = thrift__arena_zalloc(arena, sizeof *v);
    if (!v) {
        oom(&c);
        return NULL;
    }
    if (!from_json(&c, v, type, json)) {
        const thrift_type_def_t *t = type->resolved;
        if (err && is_struct_kind(t->kind) && err->code != THRIFT_NOMEM)
            thrift__error_path_prepend(err, t->struct_def->name, false);
        return NULL;
    }
    return v;
}

/* JSON text -> jansson tree -> value: the reference the direct scanner is
 * held to, and the path that describes failures (see thrift_json_loads). */
thrift_value_t *thrift__json_loads_tree(thrift_arena_t *arena,
                                        const thrift_type_def_t *type,
                                        const char *text, size_t len,
                                        unsigned flags, thrift_error_t *err) {
    json_error_t jerr;
    json_t *j = json_loadb(text, len,
                           JSON_DECODE_ANY | JSON_ALLOW_NUL |
                               JSON_REJECT_DUPLICATES,
                           &jerr);
    if (!j) {
        if (err && err->code == THRIFT_OK) {
            thrift__error_set(err, THRIFT_SYNTAX, "%s", jerr.text);
            thrift__error_set_source(err, "<json>");
            err->line = jerr.line > 0 ? jerr.line : 0;
            err->column = jerr.column > 0 ? jerr.column : 0;
            err->offset = (size_t)jerr.position;
            err->has_offset = true;
        }
        return NULL;
    }
    // jansson drops one NUL byte that directly follows a number or a
    // literal ("1\0}" parses as "1}"): its stream buffer takes the NUL,
    // once pushed back, for its own end marker.  A raw NUL is never JSON
    // (only \u0000 is), so such text is refused here, where jansson
    // accepted it, and the direct scanner refuses it the same way.
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        json_decref(j);
        if (err && err->code == THRIFT_OK) {
            thrift__error_set(err, THRIFT_SYNTAX, "unexpected NUL byte");
            thrift__error_set_source(err, "<json>");
            // line and column counted as jansson counts them (columns in
            // characters, the NUL itself included)
            int line = 1, column = 1;
            for (const char *p = text; p < nul; p++) {
                if (*p == '\n') {
                    line++;
                    column = 1;
                } else if (((unsigned char)*p & 0xc0) != 0x80) {
                    column++;
                }
            }
            err->line = line;
            err->column = column;
            err->offset = (size_t)(nul - text) + 1;
            err->has_offset = true;
        }
        return NULL;
    }
    size_t outer = thrift__arena_budget(arena, thrift__json_text_budget(len));
    thrift_value_t *v = thrift_json_to_value(arena, type, j, flags, err);
    thrift__arena_unbudget(arena, outer);
    json_decref(j);
    return v;
}

/* The scanner builds the value in one pass.  When the text fails, the tree
 * path runs again on it to say why: syntax errors then carry jansson's own
 * message, line and column, and a syntax error anywhere in the text wins
 * over a mapping error, as it always has.  (Failures are rare and already
 * the slow path; the scanner and the tree agree on every verdict, which
 * test_json checks case by case.) */
thrift_value_t *thrift_json_loads(thrift_arena_t *arena,
                                  const thrift_type_def_t *type,
                                  const char *text, size_t len, unsigned flags,
                                  thrift_error_t *err) {
    thrift_error_t scan_err;
    thrift_error_clear(&scan_err);
    thrift_value_t *v =
        thrift__json_scan(arena, type, text, len, flags, &scan_err, NULL);
    if (v)
        return v;
    // Out of memory or over the budget: the tree path would only spend
    // more (jansson's tree of the whole text first) to fail the same way.
    if (scan_err.code == THRIFT_NOMEM ||
        (scan_err.code == THRIFT_LIMIT && strstr(scan_err.text, "budget"))) {
        if (err && err->code == THRIFT_OK)
            *err = scan_err;
        return NULL;
    }
    return thrift__json_loads_tree(arena, type, text, len, flags, err);
}

/* ======================================================================
 * value -> json_t
 * ====================================================================== */

typedef struct out_ctx {
    unsigned flags;
    thrift_error_t *err;
    unsigned depth;
} out_ctx_t;

static json_t *out_oom(out_ctx_t *c) {
    thrift__error_set(c->err, THRIFT_NOMEM, "out of memory");
    return NULL;
}

static json_t *to_json(out_ctx_t *c, const thrift_value_t *v);

/* ---- maps written as objects: one member per key ------------------------- */

// A map read from the wire may hold a key twice (no protocol forbids it),
// but a JSON object must not name a member twice: readers silently keep one
// of them.  As Apache's generated code does (and a Python dict, and a
// jansson object), the last value wins, at the place of the key's first
// appearance.  Keys of object-key kinds give the same member name exactly
// when they are equal: a string by its bytes, an integer or enum by its
// number (an enum number has one name; names are never digits).
enum { MAP_SCAN_MAX = 16, MAP_STACK_TABLE = 512 };
#define MAP_SKIP UINT32_MAX

static bool same_map_key(const thrift_value_t *a, const thrift_value_t *b) {
    if (a->kind == THRIFT_KIND_STRING) {
        size_t n = a->u.bytes.len;
        // The length and the last byte tell most distinct keys apart
        // without a call ("k1"/"k2", "user_id"/"user_name").
        return n == b->u.bytes.len &&
               (n == 0 || (a->u.bytes.ptr[n - 1] == b->u.bytes.ptr[n - 1] &&
                           memcmp(a->u.bytes.ptr, b->u.bytes.ptr, n) == 0));
    }
    return a->u.i == b->u.i;
}

static uint64_t map_key_hash(const thrift_value_t *k) {
    if (k->kind == THRIFT_KIND_STRING)
        return thrift__hash_bytes(k->u.bytes.ptr, k->u.bytes.len);
    return thrift__hash_bytes(&k->u.i, sizeof k->u.i);
}

// A string key holding a NUL byte cannot be an object member name that
// reads back: jansson refuses it ("NUL byte in object key not supported"),
// and the direct scanner agrees with jansson.  Such a map is written in the
// [[key, value], ...] form instead, which both read for every map.
static bool map_key_has_nul(const thrift_value_t *v) {
    if (v->type->key->resolved->kind != THRIFT_KIND_STRING)
        return false;
    for (uint32_t i = 0; i < v->count; i++) {
        const thrift_value_t *k = &v->u.c.items[2 * (size_t)i];
        if (k->u.bytes.len && memchr(k->u.bytes.ptr, 0, k->u.bytes.len))
            return true;
    }
    return false;
}

/* Sets *winners to NULL when every key of map `v` is distinct (the common
 * case; small maps are checked without allocating), else to a malloc'd
 * array (free it) giving per entry the entry whose value goes there, or
 * MAP_SKIP.  False on out of memory. */
static bool map_winners(const thrift_value_t *v, uint32_t **winners) {
    *winners = NULL;
    uint32_t n = v->count;
    if (n < 2)
        return true;
    const thrift_value_t *items = v->u.c.items;
    uint32_t on_stack[MAP_STACK_TABLE];
    uint32_t *table = NULL, *w = NULL;
    size_t mask = 0;
    if (n > MAP_SCAN_MAX) {
        size_t size = 64;
        while (size < 2 * (size_t)n)
            size *= 2;
        table = size <= MAP_STACK_TABLE ? on_stack : malloc(size * sizeof *table);
        if (!table)
            return false;
        memset(table, 0xff, size * sizeof *table);
        mask = size - 1;
    }
    for (uint32_t i = 0; i < n; i++) {
        const thrift_value_t *k = &items[2 * (size_t)i];
        uint32_t first = MAP_SKIP;
        if (table) {
            size_t h = (size_t)map_key_hash(k) & mask;
            for (; table[h] != MAP_SKIP; h = (h + 1) & mask)
                if (same_map_key(&items[2 * (size_t)table[h]], k)) {
                    first = table[h];
                    break;
                }
            if (first == MAP_SKIP)
                table[h] = i;
        } else {
            for (uint32_t j = 0; j < i; j++)
                if (same_map_key(&items[2 * (size_t)j], k)) {
                    first = j;
                    break;
                }
        }
        if (first == MAP_SKIP)
            continue;
        if (!w) {
            w = malloc(n * sizeof *w);
            if (!w) {
                if (table != on_stack)
                    free(table);
                return false;
            }
            for (uint32_t j = 0; j < n; j++)
                w[j] = j;
        }
        w[first] = i;
        w[i] = MAP_SKIP;
    }
    if (table != on_stack)
        free(table);
    *winners = w;
    return true;
}

/* An object key for a map key of string, enum or integer type; the text
 * goes to buf (at least 40 bytes) unless it is a string's own bytes. */
static bool map_key_text(out_ctx_t *c, const thrift_value_t *k, char *buf,
                         const char **key, size_t *len) {
    if (k->kind == THRIFT_KIND_STRING) {
        if (!thrift__utf8_valid(k->u.bytes.ptr, k->u.bytes.len)) {
            thrift__error_set(c->err, THRIFT_INVALID,
                              "map key is not valid UTF-8");
            return false;
        }
        *key = (const char *)k->u.bytes.ptr;
        *len = k->u.bytes.len;
        return true;
    }
    if (k->kind == THRIFT_KIND_ENUM) {
        const char *name = enum_name(k->type->enum_def, k->u.i);
        if (name) {
            *key = name;
            *len = strlen(name);
            return true;
        }
    }
    int n = snprintf(buf, 40, "%lld", (long long)k->u.i);
    *key = buf;
    *len = (size_t)n;
    return true;
}

static json_t *container_to_json(out_ctx_t *c, const thrift_value_t *v) {
    if (v->kind == THRIFT_KIND_LIST || v->kind == THRIFT_KIND_SET) {
        json_t *a = json_array();
        if (!a)
            return out_oom(c);
        for (uint32_t i = 0; i < v->count; i++) {
            json_t *item = to_json(c, &v->u.c.items[i]);
            if (!item || json_array_append_new(a, item)) {
                if (item)
                    out_oom(c);
                thrift__json_path_index(c->err, i);
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    // map
    const thrift_type_def_t *kt = v->type->key->resolved;
    if (thrift__json_is_object_key_kind(kt->kind) && !map_key_has_nul(v)) {
        uint32_t *winners;
        if (!map_winners(v, &winners))
            return out_oom(c);
        json_t *o = json_object();
        if (!o) {
            free(winners);
            return out_oom(c);
        }
        for (uint32_t i = 0; i < v->count; i++) {
            uint32_t from = winners ? winners[i] : i;
            if (from == MAP_SKIP)
                continue;
            const thrift_value_t *k = &v->u.c.items[2 * (size_t)i];
            char buf[40];
            const char *key;
            size_t klen;
            if (!map_key_text(c, k, buf, &key, &klen)) {
                thrift__json_path_index(c->err, i);
                free(winners);
                json_decref(o);
                return NULL;
            }
            json_t *val = to_json(c, &v->u.c.items[2 * (size_t)from + 1]);
            if (!val || json_object_setn_new_nocheck(o, key, klen, val)) {
                if (val)
                    out_oom(c);
                thrift__json_path_key(c->err, key, klen);
                free(winners);
                json_decref(o);
                return NULL;
            }
        }
        free(winners);
        return o;
    }
    json_t *a = json_array();
    if (!a)
        return out_oom(c);
    for (uint32_t i = 0; i < v->count; i++) {
        const thrift_value_t *k = &v->u.c.items[2 * (size_t)i];
        json_t *jk = to_json(c, k), *jv = jk ? to_json(c, k + 1) : NULL;
        if (!jv) {
            json_decref(jk);
            thrift__json_path_index(c->err, i);
            json_decref(a);
            return NULL;
        }
        // "o" steals both references, also when json_pack fails.
        json_t *pair = json_pack("[oo]", jk, jv);
        if (!pair || json_array_append_new(a, pair)) {
            out_oom(c);
            thrift__json_path_index(c->err, i);
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *to_json(out_ctx_t *c, const thrift_value_t *v) {
    if (c->depth >= JSON_MAX_DEPTH) {
        thrift__error_set(c->err, THRIFT_LIMIT, "nested deeper than %d",
                          JSON_MAX_DEPTH);
        return NULL;
    }
    json_t *r = NULL;
    switch (v->kind) {
    case THRIFT_KIND_BOOL:
        r = json_boolean(v->u.b);
        break;
    case THRIFT_KIND_I8:
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
    case THRIFT_KIND_I64:
        r = json_integer(v->u.i);
        break;
    case THRIFT_KIND_ENUM: {
        const char *name = enum_name(v->type->enum_def, v->u.i);
        r = name ? json_string(name) : json_integer(v->u.i);
        break;
    }
    case THRIFT_KIND_DOUBLE:
        if (isnan(v->u.d))
            r = json_string("NaN");
        else if (isinf(v->u.d))
            r = json_string(v->u.d > 0 ? "Infinity" : "-Infinity");
        else
            r = json_real(v->u.d);
        break;
    case THRIFT_KIND_STRING:
        if (!thrift__utf8_valid(v->u.bytes.ptr, v->u.bytes.len)) {
            thrift__error_set(c->err, THRIFT_INVALID,
                              "string is not valid UTF-8 (declare it binary?)");
            return NULL;
        }
        r = json_stringn_nocheck((const char *)v->u.bytes.ptr, v->u.bytes.len);
        break;
    case THRIFT_KIND_BINARY: {
        size_t n = thrift__base64_len(v->u.bytes.len);
        char *tmp = malloc(n + 1);
        if (!tmp)
            return out_oom(c);
        thrift__base64_encode(v->u.bytes.ptr, v->u.bytes.len, tmp);
        r = json_stringn_nocheck(tmp, n);
        free(tmp);
        break;
    }
    case THRIFT_KIND_UUID: {
        char tmp[37];
        thrift_uuid_format(v->u.uuid, tmp);
        r = json_string(tmp);
        break;
    }
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET:
    case THRIFT_KIND_MAP:
        c->depth++;
        r = container_to_json(c, v);
        c->depth--;
        return r;
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION: {
        const thrift_struct_def_t *sd = v->type->struct_def;
        json_t *o = json_object();
        if (!o)
            return out_oom(c);
        c->depth++;
        for (uint32_t i = 0; i < sd->field_count; i++) {
            const thrift_value_t *slot = &v->u.s.slots[i];
            if (!(slot->flags & THRIFT__VALUE_SET))
                continue;
            json_t *child = to_json(c, slot);
            if (!child ||
                json_object_setn_new_nocheck(o, sd->fields[i].name,
                                             sd->fields[i].name_len, child)) {
                if (child)
                    out_oom(c);
                thrift__error_path_prepend(c->err, sd->fields[i].name, false);
                json_decref(o);
                return NULL;
            }
        }
        c->depth--;
        return o;
    }
    default:
        thrift__error_set(c->err, THRIFT_UNSUPPORTED, "no JSON form for %s",
                          thrift__json_type_name(v->type));
        return NULL;
    }
    return r ? r : out_oom(c);
}

json_t *thrift_json_from_value(const thrift_value_t *v, unsigned flags,
                               thrift_error_t *err) {
    if (!v) {
        thrift__error_set(err, THRIFT_MISUSE, "NULL value");
        return NULL;
    }
    out_ctx_t c = {flags, err, 0};
    json_t *j = to_json(&c, v);
    if (!j && err && is_struct_kind(v->kind) && err->code != THRIFT_NOMEM)
        thrift__error_path_prepend(err, v->type->struct_def->name, false);
    return j;
}

/* ======================================================================
 * value -> text (no jansson: exact integers, shortest doubles, one pass)
 * ====================================================================== */

typedef struct text_ctx {
    thrift__buf_t *b;
    unsigned flags;
    thrift_error_t *err;
    unsigned depth;
} text_ctx_t;

static bool text_oom(text_ctx_t *c) {
    thrift__error_set(c->err, THRIFT_NOMEM, "out of memory");
    return false;
}

static bool newline(text_ctx_t *c) {
    if (!(c->flags & THRIFT_JSON_PRETTY))
        return true;
    size_t n = 1 + 2 * (size_t)c->depth;
    if (!thrift__buf_reserve(c->b, n))
        return false;
    c->b->data[c->b->len++] = '\n';
    memset(c->b->data + c->b->len, ' ', n - 1);
    c->b->len += n - 1;
    return true;
}

/* Writes `sep` then the newline/indent (if pretty) before an element. */
static bool before_item(text_ctx_t *c, bool first) {
    if (!first && !thrift__buf_putc(c->b, ','))
        return false;
    return newline(c);
}

static bool colon(text_ctx_t *c) {
    return c->flags & THRIFT_JSON_PRETTY ? thrift__buf_append(c->b, ": ", 2)
                                         : thrift__buf_putc(c->b, ':');
}

static bool to_text(text_ctx_t *c, const thrift_value_t *v);

static bool open_close(text_ctx_t *c, char ch) {
    if (ch == ']' || ch == '}') {
        c->depth--;
        if (!newline(c))
            return false;
    } else {
        c->depth++;
    }
    return thrift__buf_putc(c->b, ch);
}

/* The entries of a non-empty map; `winners` as map_winners gives it. */
static bool map_entries_to_text(text_ctx_t *c, const thrift_value_t *v,
                                bool as_object, const uint32_t *winners) {
    if (!open_close(c, as_object ? '{' : '['))
        return text_oom(c);
    for (uint32_t i = 0; i < v->count; i++) {
        uint32_t from = winners ? winners[i] : i;
        if (from == MAP_SKIP)
            continue; /* never entry 0: a first appearance */
        const thrift_value_t *k = &v->u.c.items[2 * (size_t)i];
        if (!before_item(c, i == 0))
            return text_oom(c);
        if (as_object) {
            char buf[40];
            const char *key;
            size_t klen;
            if (!map_key_text(&(out_ctx_t){c->flags, c->err, 0}, k, buf, &key,
                              &klen)) {
                thrift__json_path_index(c->err, i);
                return false;
            }
            if (!thrift__json_put_string(c->b, (const uint8_t *)key, klen) ||
                !colon(c))
                return text_oom(c);
            if (!to_text(c, &v->u.c.items[2 * (size_t)from + 1])) {
                thrift__json_path_key(c->err, key, klen);
                return false;
            }
        } else {
            if (!thrift__buf_putc(c->b, '['))
                return text_oom(c);
            if (!to_text(c, k) || !thrift__buf_putc(c->b, ',') ||
                ((c->flags & THRIFT_JSON_PRETTY) && !thrift__buf_putc(c->b, ' ')) ||
                !to_text(c, k + 1) || !thrift__buf_putc(c->b, ']')) {
                if (!thrift__error_is_set(c->err))
                    text_oom(c);
                thrift__json_path_index(c->err, i);
                return false;
            }
        }
    }
    if (!open_close(c, as_object ? '}' : ']'))
        return text_oom(c);
    return true;
}

static bool map_to_text(text_ctx_t *c, const thrift_value_t *v) {
    const thrift_type_def_t *kt = v->type->key->resolved;
    bool as_object =
        thrift__json_is_object_key_kind(kt->kind) && !map_key_has_nul(v);
    if (v->count == 0)
        return thrift__buf_puts(c->b, as_object ? "{}" : "[]");
    uint32_t *winners = NULL;
    if (as_object && !map_winners(v, &winners))
        return text_oom(c);
    bool ok = map_entries_to_text(c, v, as_object, winners);
    free(winners);
    return ok;
}

static bool to_text(text_ctx_t *c, const thrift_value_t *v) {
    thrift__buf_t *b = c->b;
    if (c->depth >= JSON_MAX_DEPTH) {
        thrift__error_set(c->err, THRIFT_LIMIT, "nested deeper than %d",
                          JSON_MAX_DEPTH);
        return false;
    }
    bool ok = true;
    switch (v->kind) {
    case THRIFT_KIND_BOOL:
        ok = thrift__buf_puts(b, v->u.b ? "true" : "false");
        break;
    case THRIFT_KIND_I8:
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
    case THRIFT_KIND_I64:
        ok = thrift__json_put_int(b, v->u.i);
        break;
    case THRIFT_KIND_ENUM: {
        const char *name = enum_name(v->type->enum_def, v->u.i);
        ok = name ? thrift__json_put_string(b, (const uint8_t *)name,
                                            strlen(name))
                  : thrift__json_put_int(b, v->u.i);
        break;
    }
    case THRIFT_KIND_DOUBLE:
        ok = thrift__json_put_double(b, v->u.d);
        break;
    case THRIFT_KIND_STRING:
        if (!thrift__utf8_valid(v->u.bytes.ptr, v->u.bytes.len)) {
            thrift__error_set(c->err, THRIFT_INVALID,
                              "string is not valid UTF-8 (declare it binary?)");
            return false;
        }
        ok = thrift__json_put_string(b, v->u.bytes.ptr, v->u.bytes.len);
        break;
    case THRIFT_KIND_BINARY:
        ok = thrift__json_put_base64(b, v->u.bytes.ptr, v->u.bytes.len);
        break;
    case THRIFT_KIND_UUID: {
        char tmp[40];
        tmp[0] = '"';
        thrift_uuid_format(v->u.uuid, tmp + 1);
        tmp[37] = '"';
        ok = thrift__buf_append(b, tmp, 38);
        break;
    }
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET:
        if (v->count == 0) {
            ok = thrift__buf_puts(b, "[]");
            break;
        }
        if (!open_close(c, '['))
            return text_oom(c);
        for (uint32_t i = 0; i < v->count; i++) {
            if (!before_item(c, i == 0))
                return text_oom(c);
            if (!to_text(c, &v->u.c.items[i])) {
                thrift__json_path_index(c->err, i);
                return false;
            }
        }
        ok = open_close(c, ']');
        break;
    case THRIFT_KIND_MAP:
        return map_to_text(c, v);
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION: {
        const thrift_struct_def_t *sd = v->type->struct_def;
        bool first = true;
        if (!open_close(c, '{'))
            return text_oom(c);
        for (uint32_t i = 0; i < sd->field_count; i++) {
            const thrift_value_t *slot = &v->u.s.slots[i];
            if (!(slot->flags & THRIFT__VALUE_SET))
                continue;
            const thrift_field_def_t *f = &sd->fields[i];
            if (!before_item(c, first) ||
                !thrift__json_put_string(b, (const uint8_t *)f->name,
                                         f->name_len) ||
                !colon(c))
                return text_oom(c);
            first = false;
            if (!to_text(c, slot)) {
                thrift__error_path_prepend(c->err, f->name, false);
                return false;
            }
        }
        if (first) { // no field: "{}" with no newline inside
            c->depth--;
            ok = thrift__buf_putc(b, '}');
        } else {
            ok = open_close(c, '}');
        }
        break;
    }
    default:
        thrift__error_set(c->err, THRIFT_UNSUPPORTED, "no JSON form for %s",
                          thrift__json_type_name(v->type));
        return false;
    }
    return ok ? true : text_oom(c);
}

static bool dump_into(const thrift_value_t *v, unsigned flags,
                      thrift__buf_t *b, thrift_error_t *err) {
    if (!v) {
        thrift__error_set(err, THRIFT_MISUSE, "NULL value");
        return false;
    }
    text_ctx_t c = {b, flags, err, 0};
    if (!to_text(&c, v)) {
        if (err && is_struct_kind(v->kind) && err->code != THRIFT_NOMEM)
            thrift__error_path_prepend(err, v->type->struct_def->name, false);
        return false;
    }
    return true;
}

char *thrift_json_dumps(const thrift_value_t *v, unsigned flags, size_t *len,
                        thrift_error_t *err) {
    thrift__buf_t b;
    thrift__buf_init(&b, NULL);
    if (!dump_into(v, flags, &b, err) || !thrift__buf_putc(&b, '\0')) {
        thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        thrift__buf_free(&b);
        return NULL;
    }
    if (len)
        *len = b.len - 1;
    return (char *)b.data;
}

thrift_status_t thrift_json_dump_buffer(const thrift_value_t *v,
                                        unsigned flags, thrift_buffer_t *out,
                                        thrift_error_t *err) {
    size_t len;
    char *text = thrift_json_dumps(v, flags, &len, err);
    if (!text)
        return err ? err->code : THRIFT_INVALID;
    thrift_status_t st = thrift_buffer_append(out, text, len);
    free(text);
    if (st != THRIFT_OK)
        return thrift__error_set(err, st, "out of memory");
    return THRIFT_OK;
}

void thrift_json_text_free(char *text) { free(text); }
