/* The schema-less field-id dump behind `dynthrift decode --raw`: reads any
 * struct or message in binary, compact or TJSONProtocol and writes the
 * tagged JSON tree documented at thrift_json_raw_dumps in dynthrift/json.h.
 * It reads the wire itself instead of going through src/proto because the
 * decoders there are schema-guided and build values; this walks bytes and
 * writes text, with the same bounds checks. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "dynthrift/json.h"
#include "json/json_internal.h"
#include "proto/proto_impl.h" /* thrift__unzigzag */

#define RAW_MAX_DEPTH 64

typedef struct raw {
    const uint8_t *start, *p, *end;
    thrift__buf_t *out;
    thrift_error_t *err;
    unsigned depth;
    bool compact;
    bool pretty;
} raw_t;

static const char *wire_tag(unsigned wt) {
    switch (wt) {
    case THRIFT_TYPE_BOOL: return "tf";
    case THRIFT_TYPE_BYTE: return "i8";
    case THRIFT_TYPE_DOUBLE: return "dbl";
    case THRIFT_TYPE_I16: return "i16";
    case THRIFT_TYPE_I32: return "i32";
    case THRIFT_TYPE_I64: return "i64";
    case THRIFT_TYPE_STRING: return "str";
    case THRIFT_TYPE_STRUCT: return "rec";
    case THRIFT_TYPE_MAP: return "map";
    case THRIFT_TYPE_SET: return "set";
    case THRIFT_TYPE_LIST: return "lst";
    case THRIFT_TYPE_UUID: return "uid";
    default: return NULL;
    }
}

static bool fail(raw_t *r, thrift_status_t code, const char *what) {
    if (r->err && r->err->code == THRIFT_OK) {
        thrift__error_set(r->err, code, "%s", what);
        r->err->offset = (size_t)(r->p - r->start);
        r->err->has_offset = true;
    }
    return false;
}

static bool nomem(raw_t *r) { return fail(r, THRIFT_NOMEM, "out of memory"); }

static bool need(raw_t *r, size_t n) {
    if ((size_t)(r->end - r->p) < n)
        return fail(r, THRIFT_NEED_MORE, "need more bytes");
    return true;
}

static bool put(raw_t *r, const char *s) {
    return thrift__buf_puts(r->out, s) ? true : nomem(r);
}

/* ---- wire primitives --------------------------------------------------- */

static bool rd_u8(raw_t *r, uint8_t *v) {
    if (!need(r, 1))
        return false;
    *v = *r->p++;
    return true;
}

static bool rd_be(raw_t *r, size_t n, uint64_t *v) {
    if (!need(r, n))
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++)
        x = x << 8 | r->p[i];
    r->p += n;
    *v = x;
    return true;
}

static bool rd_varint(raw_t *r, uint64_t *v) {
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        uint8_t b;
        if (!rd_u8(r, &b))
            return false;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return true;
        }
    }
    return fail(r, THRIFT_INVALID, "varint longer than 10 bytes");
}

static bool rd_int(raw_t *r, unsigned wt, int64_t *v) {
    uint64_t u;
    if (r->compact && wt != THRIFT_TYPE_BYTE) {
        if (!rd_varint(r, &u))
            return false;
        *v = thrift__unzigzag(u);
        return true;
    }
    size_t n = wt == THRIFT_TYPE_BYTE ? 1 : wt == THRIFT_TYPE_I16 ? 2
             : wt == THRIFT_TYPE_I32 ? 4 : 8;
    if (!rd_be(r, n, &u))
        return false;
    // Sign-extend from n bytes.
    unsigned bits = (unsigned)n * 8;
    if (bits < 64 && (u >> (bits - 1)) & 1)
        u |= ~(uint64_t)0 << bits;
    *v = (int64_t)u;
    return true;
}

static bool rd_len(raw_t *r, uint64_t *len) {
    if (r->compact)
        return rd_varint(r, len);
    int64_t n;
    if (!rd_int(r, THRIFT_TYPE_I32, &n))
        return false;
    if (n < 0)
        return fail(r, THRIFT_INVALID, "negative length");
    *len = (uint64_t)n;
    return true;
}

static bool compact_to_wire(raw_t *r, unsigned ct, unsigned *wt) {
    static const uint8_t map[] = {0, THRIFT_TYPE_BOOL, THRIFT_TYPE_BOOL,
                                  THRIFT_TYPE_BYTE, THRIFT_TYPE_I16,
                                  THRIFT_TYPE_I32, THRIFT_TYPE_I64,
                                  THRIFT_TYPE_DOUBLE, THRIFT_TYPE_STRING,
                                  THRIFT_TYPE_LIST, THRIFT_TYPE_SET,
                                  THRIFT_TYPE_MAP, THRIFT_TYPE_STRUCT,
                                  THRIFT_TYPE_UUID};
    if (ct == 0 || ct >= sizeof map)
        return fail(r, THRIFT_INVALID, "unknown compact type");
    *wt = map[ct];
    return true;
}

static bool rd_elem_type(raw_t *r, unsigned nibble_or_byte, unsigned *wt) {
    if (r->compact)
        return compact_to_wire(r, nibble_or_byte, wt);
    if (!wire_tag(nibble_or_byte))
        return fail(r, THRIFT_INVALID, "unknown wire type");
    *wt = nibble_or_byte;
    return true;
}

/* ---- values ------------------------------------------------------------ */

static bool raw_struct(raw_t *r);
static bool raw_value(raw_t *r, unsigned wt, bool tagged, int bool_hint);

static bool put_bytes(raw_t *r, const uint8_t *s, size_t n, bool tagged) {
    bool text = thrift__utf8_valid(s, n);
    if (text && tagged && !put(r, "{\"str\":"))
        return false;
    if (!text && !put(r, "{\"bin\":"))
        return false;
    if (!(text ? thrift__json_put_string(r->out, s, n)
               : thrift__json_put_base64(r->out, s, n)))
        return nomem(r);
    return (text && !tagged) ? true : put(r, "}");
}

static bool raw_container(raw_t *r, unsigned wt) {
    uint64_t size;
    unsigned kt = 0, vt = 0;
    bool empty_compact_map = false;
    if (wt == THRIFT_TYPE_MAP) {
        if (r->compact) {
            if (!rd_varint(r, &size))
                return false;
            if (size == 0) {
                empty_compact_map = true;
            } else {
                uint8_t b;
                if (!rd_u8(r, &b) || !compact_to_wire(r, b >> 4, &kt) ||
                    !compact_to_wire(r, b & 15, &vt))
                    return false;
            }
        } else {
            uint8_t k, v;
            if (!rd_u8(r, &k) || !rd_u8(r, &v) || !rd_elem_type(r, k, &kt) ||
                !rd_elem_type(r, v, &vt) || !rd_len(r, &size))
                return false;
        }
    } else {
        if (r->compact) {
            uint8_t b;
            if (!rd_u8(r, &b) || !compact_to_wire(r, b & 15, &kt))
                return false;
            size = b >> 4;
            if (size == 15 && !rd_varint(r, &size))
                return false;
        } else {
            uint8_t e;
            if (!rd_u8(r, &e) || !rd_elem_type(r, e, &kt) || !rd_len(r, &size))
                return false;
        }
    }
    // Every element takes at least one byte: a count larger than what is
    // left cannot be honest.
    if (size > (uint64_t)(r->end - r->p))
        return fail(r, THRIFT_NEED_MORE, "container larger than the input");
    if (!put(r, "["))
        return false;
    if (empty_compact_map) {
        if (!put(r, "null,null,"))
            return false;
    } else {
        if (!put(r, "\"") || !put(r, wire_tag(kt)) || !put(r, "\","))
            return false;
        if (wt == THRIFT_TYPE_MAP &&
            (!put(r, "\"") || !put(r, wire_tag(vt)) || !put(r, "\",")))
            return false;
    }
    if (!put(r, "["))
        return false;
    for (uint64_t i = 0; i < size; i++) {
        if (i && !put(r, ","))
            return false;
        if (wt == THRIFT_TYPE_MAP) {
            if (!put(r, "[") || !raw_value(r, kt, false, -1) || !put(r, ",") ||
                !raw_value(r, vt, false, -1) || !put(r, "]"))
                return false;
        } else if (!raw_value(r, kt, false, -1)) {
            return false;
        }
    }
    return put(r, "]]");
}

/* bool_hint: for compact struct fields the bool is in the field header
 * (0 false, 1 true); -1 means read it from the data. */
static bool raw_value(raw_t *r, unsigned wt, bool tagged, int bool_hint) {
    const char *tag = wire_tag(wt);
    if (!tag)
        return fail(r, THRIFT_INVALID, "unknown wire type");
    if (wt == THRIFT_TYPE_STRING) {
        uint64_t len;
        if (!rd_len(r, &len))
            return false;
        if (!need(r, len))
            return false;
        const uint8_t *s = r->p;
        r->p += len;
        return put_bytes(r, s, (size_t)len, tagged);
    }
    if (tagged) {
        if (!put(r, "{\"") || !put(r, tag) || !put(r, "\":"))
            return false;
    }
    bool ok = true;
    switch (wt) {
    case THRIFT_TYPE_BOOL: {
        uint8_t b = 0;
        if (bool_hint >= 0)
            b = (uint8_t)bool_hint;
        else if (!rd_u8(r, &b))
            return false;
        // compact elements: 1 true, 2 (or 0) false; binary: non-zero true
        bool v = r->compact && bool_hint < 0 ? b == 1 : b != 0;
        ok = put(r, v ? "true" : "false");
        break;
    }
    case THRIFT_TYPE_BYTE:
    case THRIFT_TYPE_I16:
    case THRIFT_TYPE_I32:
    case THRIFT_TYPE_I64: {
        int64_t v;
        if (!rd_int(r, wt, &v))
            return false;
        ok = thrift__json_put_int(r->out, v) ? true : nomem(r);
        break;
    }
    case THRIFT_TYPE_DOUBLE: {
        if (!need(r, 8))
            return false;
        uint64_t bits = 0;
        for (int i = 0; i < 8; i++)
            bits |= (uint64_t)r->p[i] << (r->compact ? 8 * i : 8 * (7 - i));
        r->p += 8;
        double d;
        memcpy(&d, &bits, sizeof d);
        ok = thrift__json_put_double(r->out, d) ? true : nomem(r);
        break;
    }
    case THRIFT_TYPE_UUID: {
        if (!need(r, 16))
            return false;
        char tmp[37];
        thrift_uuid_format(r->p, tmp);
        r->p += 16;
        ok = put(r, "\"") && put(r, tmp) && put(r, "\"");
        break;
    }
    case THRIFT_TYPE_STRUCT:
        ok = raw_struct(r);
        break;
    default:
        if (++r->depth > RAW_MAX_DEPTH)
            return fail(r, THRIFT_LIMIT, "nested too deep");
        ok = raw_container(r, wt);
        r->depth--;
        break;
    }
    if (!ok)
        return false;
    return tagged ? put(r, "}") : true;
}

static bool raw_struct(raw_t *r) {
    if (++r->depth > RAW_MAX_DEPTH)
        return fail(r, THRIFT_LIMIT, "nested too deep");
    if (!put(r, "{"))
        return false;
    int last_id = 0;
    for (bool first = true;; first = false) {
        uint8_t h;
        if (!rd_u8(r, &h))
            return false;
        if (h == 0)
            break;
        unsigned wt;
        int64_t id;
        int bool_hint = -1;
        if (r->compact) {
            unsigned ct = h & 15, delta = h >> 4;
            if (!compact_to_wire(r, ct, &wt))
                return false;
            if (ct == 1 || ct == 2)
                bool_hint = ct == 1;
            if (delta) {
                id = last_id + (int64_t)delta;
            } else if (!rd_int(r, THRIFT_TYPE_I16, &id)) {
                return false;
            }
            if (id < INT16_MIN || id > INT16_MAX)
                return fail(r, THRIFT_INVALID, "field id out of range");
            last_id = (int)id;
        } else {
            if (!rd_elem_type(r, h, &wt) || !rd_int(r, THRIFT_TYPE_I16, &id))
                return false;
        }
        char key[32];
        snprintf(key, sizeof key, "%s\"%lld\":", first ? "" : ",", (long long)id);
        if (!put(r, key) || !raw_value(r, wt, true, bool_hint))
            return false;
    }
    r->depth--;
    return put(r, "}");
}

static const char *msg_type_name(int64_t t) {
    switch (t) {
    case THRIFT_MSG_CALL: return "call";
    case THRIFT_MSG_REPLY: return "reply";
    case THRIFT_MSG_EXCEPTION: return "exception";
    case THRIFT_MSG_ONEWAY: return "oneway";
    default: return NULL;
    }
}

static bool raw_message_header(raw_t *r) {
    const uint8_t *name;
    uint64_t name_len;
    int64_t type, seqid;
    if (r->compact) {
        uint8_t id, tv;
        if (!rd_u8(r, &id) || !rd_u8(r, &tv))
            return false;
        if (id != 0x82 || (tv & 0x1f) != 1)
            return fail(r, THRIFT_INVALID, "not a compact message header");
        type = tv >> 5;
        uint64_t s;
        if (!rd_varint(r, &s))
            return false;
        seqid = (int32_t)(uint32_t)s;
        if (!rd_varint(r, &name_len) || !need(r, name_len))
            return false;
        name = r->p;
        r->p += name_len;
    } else {
        int64_t first;
        if (!rd_int(r, THRIFT_TYPE_I32, &first))
            return false;
        if (first < 0) {
            if (((uint32_t)first & 0xffff0000u) != 0x80010000u)
                return fail(r, THRIFT_INVALID, "bad binary protocol version");
            type = first & 0xff;
            if (!rd_len(r, &name_len) || !need(r, name_len))
                return false;
            name = r->p;
            r->p += name_len;
        } else { // old-style header: name first
            name_len = (uint64_t)first;
            if (!need(r, name_len))
                return false;
            name = r->p;
            r->p += name_len;
            uint8_t t;
            if (!rd_u8(r, &t))
                return false;
            type = t;
        }
        if (!rd_int(r, THRIFT_TYPE_I32, &seqid))
            return false;
    }
    const char *tn = msg_type_name(type);
    if (!tn)
        return fail(r, THRIFT_INVALID, "unknown message type");
    if (!thrift__utf8_valid(name, (size_t)name_len))
        return fail(r, THRIFT_INVALID, "method name is not UTF-8");
    char tmp[64];
    snprintf(tmp, sizeof tmp, ",\"type\":\"%s\",\"seqid\":%lld,\"body\":", tn,
             (long long)seqid);
    return put(r, "{\"method\":") &&
           (thrift__json_put_string(r->out, name, (size_t)name_len) ||
            nomem(r)) &&
           put(r, tmp);
}

/* ---- TJSONProtocol: parse with jansson, then re-shape the tree -------- */

static unsigned tjson_type(const char *s) {
    static const struct { const char *n; unsigned t; } names[] = {
        {"tf", THRIFT_TYPE_BOOL}, {"i8", THRIFT_TYPE_BYTE},
        {"i16", THRIFT_TYPE_I16}, {"i32", THRIFT_TYPE_I32},
        {"i64", THRIFT_TYPE_I64}, {"dbl", THRIFT_TYPE_DOUBLE},
        {"str", THRIFT_TYPE_STRING}, {"rec", THRIFT_TYPE_STRUCT},
        {"map", THRIFT_TYPE_MAP}, {"set", THRIFT_TYPE_SET},
        {"lst", THRIFT_TYPE_LIST}, {"uid", THRIFT_TYPE_UUID}};
    for (size_t i = 0; s && i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(s, names[i].n))
            return names[i].t;
    return 0;
}

static bool tj_struct(raw_t *r, const json_t *j);

static bool tj_fail(raw_t *r, const char *what) {
    return fail(r, THRIFT_INVALID, what);
}

/* Map keys are JSON strings in TJSONProtocol, whatever their type. */
static bool tj_value(raw_t *r, unsigned wt, const json_t *j, bool tagged,
                     bool is_key) {
    if (tagged) {
        // binary and text are both "str": keep what the wire says.
        if (!put(r, "{\"") || !put(r, wire_tag(wt)) || !put(r, "\":"))
            return false;
    }
    bool ok = true;
    switch (wt) {
    case THRIFT_TYPE_BOOL:
    case THRIFT_TYPE_BYTE:
    case THRIFT_TYPE_I16:
    case THRIFT_TYPE_I32:
    case THRIFT_TYPE_I64: {
        json_int_t n;
        if (json_is_integer(j)) {
            n = json_integer_value(j);
        } else if (is_key && json_is_string(j)) {
            char *end;
            n = strtoll(json_string_value(j), &end, 10);
            if (*end || end == json_string_value(j))
                return tj_fail(r, "bad integer key");
        } else {
            return tj_fail(r, "expected a number");
        }
        ok = wt == THRIFT_TYPE_BOOL ? put(r, n ? "true" : "false")
                                     : (thrift__json_put_int(r->out, n) || nomem(r));
        break;
    }
    case THRIFT_TYPE_DOUBLE: {
        double d;
        if (json_is_number(j)) {
            d = json_number_value(j);
        } else if (json_is_string(j)) {
            const char *s = json_string_value(j);
            if (!strcmp(s, "NaN"))
                d = NAN;
            else if (!strcmp(s, "Infinity"))
                d = INFINITY;
            else if (!strcmp(s, "-Infinity"))
                d = -INFINITY;
            else {
                char *end;
                d = strtod(s, &end);
                if (*end || end == s)
                    return tj_fail(r, "bad double");
            }
        } else {
            return tj_fail(r, "expected a double");
        }
        ok = thrift__json_put_double(r->out, d) || nomem(r);
        break;
    }
    case THRIFT_TYPE_STRING:
    case THRIFT_TYPE_UUID:
        if (!json_is_string(j))
            return tj_fail(r, "expected a string");
        ok = thrift__json_put_string(r->out,
                                     (const uint8_t *)json_string_value(j),
                                     json_string_length(j)) || nomem(r);
        break;
    case THRIFT_TYPE_STRUCT:
        ok = tj_struct(r, j);
        break;
    case THRIFT_TYPE_LIST:
    case THRIFT_TYPE_SET:
    case THRIFT_TYPE_MAP: {
        bool is_map = wt == THRIFT_TYPE_MAP;
        size_t head = is_map ? 3 : 2;
        if (!json_is_array(j) || json_array_size(j) < head)
            return tj_fail(r, "bad container header");
        unsigned kt = tjson_type(json_string_value(json_array_get(j, 0)));
        unsigned vt = is_map ? tjson_type(json_string_value(json_array_get(j, 1)))
                             : 0;
        if (!kt || (is_map && !vt))
            return tj_fail(r, "bad container element type");
        if (++r->depth > RAW_MAX_DEPTH)
            return fail(r, THRIFT_LIMIT, "nested too deep");
        if (!put(r, "[\"") || !put(r, wire_tag(kt)) || !put(r, "\","))
            return false;
        if (is_map && (!put(r, "\"") || !put(r, wire_tag(vt)) || !put(r, "\",")))
            return false;
        if (!put(r, "["))
            return false;
        if (is_map) {
            const json_t *obj = json_array_get(j, 3);
            if (!json_is_object(obj))
                return tj_fail(r, "bad map body");
            const char *key;
            json_t *val;
            bool first = true;
            json_object_foreach((json_t *)obj, key, val) {
                json_t *k = json_string(key);
                if (!k)
                    return nomem(r);
                bool kok = (first || put(r, ",")) && put(r, "[") &&
                           tj_value(r, kt, k, false, true) && put(r, ",") &&
                           tj_value(r, vt, val, false, false) && put(r, "]");
                json_decref(k);
                if (!kok)
                    return false;
                first = false;
            }
        } else {
            for (size_t i = head; i < json_array_size(j); i++)
                if ((i > head && !put(r, ",")) ||
                    !tj_value(r, kt, json_array_get(j, i), false, false))
                    return false;
        }
        r->depth--;
        ok = put(r, "]]");
        break;
    }
    default:
        return tj_fail(r, "unknown type");
    }
    if (!ok)
        return false;
    return tagged ? put(r, "}") : true;
}

static bool tj_struct(raw_t *r, const json_t *j) {
    if (!json_is_object(j))
        return tj_fail(r, "expected a struct object");
    if (++r->depth > RAW_MAX_DEPTH)
        return fail(r, THRIFT_LIMIT, "nested too deep");
    if (!put(r, "{"))
        return false;
    const char *key;
    json_t *val;
    bool first = true;
    json_object_foreach((json_t *)j, key, val) {
        const char *tkey;
        json_t *inner;
        if (!json_is_object(val) || json_object_size(val) != 1)
            return tj_fail(r, "expected {\"type\": value} for a field");
        tkey = json_object_iter_key(json_object_iter(val));
        inner = json_object_iter_value(json_object_iter(val));
        unsigned wt = tjson_type(tkey);
        if (!wt)
            return tj_fail(r, "unknown field type");
        if (!first && !put(r, ","))
            return false;
        first = false;
        if (!(thrift__json_put_string(r->out, (const uint8_t *)key,
                                      strlen(key)) ||
              nomem(r)) ||
            !put(r, ":") || !tj_value(r, wt, inner, true, false))
            return false;
    }
    r->depth--;
    return put(r, "}");
}

static bool raw_tjson(raw_t *r, bool message) {
    json_error_t jerr;
    json_t *j = json_loadb((const char *)r->p, (size_t)(r->end - r->p),
                           JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL, &jerr);
    if (!j) {
        // A cut-off document reads as a premature end of input.
        bool eof = strstr(jerr.text, "end of file") || strstr(jerr.text, "premature");
        return fail(r, eof ? THRIFT_NEED_MORE : THRIFT_INVALID, jerr.text);
    }
    bool ok;
    if (message) {
        const json_t *name = json_array_get(j, 1);
        json_int_t type = json_integer_value(json_array_get(j, 2));
        if (!json_is_array(j) || json_array_size(j) != 5 ||
            json_integer_value(json_array_get(j, 0)) != 1 ||
            !json_is_string(name) || !msg_type_name(type)) {
            json_decref(j);
            return tj_fail(r, "not a TJSONProtocol message");
        }
        char tmp[64];
        snprintf(tmp, sizeof tmp, ",\"type\":\"%s\",\"seqid\":%lld,\"body\":",
                 msg_type_name(type),
                 (long long)json_integer_value(json_array_get(j, 3)));
        ok = put(r, "{\"method\":") &&
             (thrift__json_put_string(r->out,
                                      (const uint8_t *)json_string_value(name),
                                      json_string_length(name)) ||
              nomem(r)) &&
             put(r, tmp) && tj_struct(r, json_array_get(j, 4)) && put(r, "}");
    } else {
        ok = tj_struct(r, j);
    }
    r->p += jerr.position;
    json_decref(j);
    return ok;
}

char *thrift_json_raw_dumps(thrift_protocol_t proto, const uint8_t *data,
                            size_t len, bool message, unsigned flags,
                            size_t *consumed, thrift_error_t *err) {
    thrift__buf_t out;
    thrift__buf_init(&out, NULL);
    raw_t r = {data, data, data + len, &out, err, 0,
               proto == THRIFT_PROTO_COMPACT, (flags & THRIFT_JSON_PRETTY) != 0};
    bool ok;
    if (proto == THRIFT_PROTO_JSON) {
        ok = raw_tjson(&r, message);
    } else if (proto == THRIFT_PROTO_BINARY || proto == THRIFT_PROTO_COMPACT) {
        ok = message ? raw_message_header(&r) && raw_struct(&r) && put(&r, "}")
                     : raw_struct(&r);
    } else {
        ok = fail(&r, THRIFT_MISUSE, "unknown protocol");
    }
    if (ok)
        ok = thrift__buf_putc(&out, '\0') || nomem(&r);
    if (!ok) {
        thrift__error_set_source(err, proto == THRIFT_PROTO_COMPACT ? "<compact>"
                                      : proto == THRIFT_PROTO_JSON  ? "<json>"
                                                                    : "<binary>");
        thrift__buf_free(&out);
        return NULL;
    }
    if (consumed)
        *consumed = (size_t)(r.p - r.start);
    return (char *)out.data;
}
