/* TJSONProtocol, wire-compatible with Apache Thrift's: a struct is an object
 * keyed by field id whose values are {"<type>": value}; containers are
 * arrays led by their element types and size; map keys are JSON object
 * keys, so numbers there are quoted; doubles NaN and +-Infinity are quoted
 * strings; binary is base64 (padded when written, padding optional when
 * read); a message is [1,"name",type,seqid,{...}]. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "proto/proto_impl.h"

static const char *const type_names[17] = {
    [THRIFT_TYPE_BOOL] = "tf",    [THRIFT_TYPE_BYTE] = "i8",
    [THRIFT_TYPE_I16] = "i16",    [THRIFT_TYPE_I32] = "i32",
    [THRIFT_TYPE_I64] = "i64",    [THRIFT_TYPE_DOUBLE] = "dbl",
    [THRIFT_TYPE_STRING] = "str", [THRIFT_TYPE_STRUCT] = "rec",
    [THRIFT_TYPE_MAP] = "map",    [THRIFT_TYPE_SET] = "set",
    [THRIFT_TYPE_LIST] = "lst",   [THRIFT_TYPE_UUID] = "uid",
};

static const char b64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* ---- encode ---------------------------------------------------------------- */

static inline void put_lit(thrift__writer_t *w, const char *s, size_t n) {
    memcpy(w->p, s, n);
    w->p += n;
}

static void put_type_name(thrift__writer_t *w, unsigned wire) {
    const char *n = type_names[wire];
    size_t len = strlen(n);
    *w->p++ = '"';
    put_lit(w, n, len);
    *w->p++ = '"';
}

/* Decimal digits of i at the end of tmp[24]; returns the first char. */
static char *fmt_int(char tmp[24], int64_t i) {
    char *e = tmp + 24, *p = e;
    uint64_t u = i < 0 ? 0 - (uint64_t)i : (uint64_t)i;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (i < 0)
        *--p = '-';
    return p;
}

static thrift_status_t put_int(thrift__writer_t *w, int64_t i, bool quote) {
    if (!thrift__ensure(w, 24))
        return THRIFT_NOMEM;
    char tmp[24];
    char *digits = fmt_int(tmp, i);
    size_t n = (size_t)(tmp + 24 - digits);
    if (quote)
        *w->p++ = '"';
    put_lit(w, digits, n);
    if (quote)
        *w->p++ = '"';
    return THRIFT_OK;
}

static thrift_status_t put_double(thrift__writer_t *w, double d, bool quote) {
    if (!thrift__ensure(w, 40))
        return THRIFT_NOMEM;
    if (isnan(d)) {
        put_lit(w, "\"NaN\"", 5);
        return THRIFT_OK;
    }
    if (isinf(d)) {
        if (d < 0)
            put_lit(w, "\"-Infinity\"", 11);
        else
            put_lit(w, "\"Infinity\"", 10);
        return THRIFT_OK;
    }
    char tmp[40];
    /* 17 significant digits round-trip every double, and are what Apache's
     * Python library writes. */
    int n = snprintf(tmp, sizeof tmp, "%.17g", d);
    for (int i = 0; i < n; i++)
        if (tmp[i] == ',') /* a locale with a decimal comma */
            tmp[i] = '.';
    if (quote)
        *w->p++ = '"';
    put_lit(w, tmp, (size_t)n);
    if (quote)
        *w->p++ = '"';
    return THRIFT_OK;
}

static thrift_status_t put_string(thrift__writer_t *w, const uint8_t *s,
                                  size_t len) {
    if (len > (SIZE_MAX - 2) / 6 || !thrift__ensure(w, 6 * len + 2))
        return thrift__error_set(w->err, THRIFT_NOMEM, "out of memory");
    static const char hex[] = "0123456789abcdef";
    uint8_t *p = w->p;
    *p++ = '"';
    for (size_t i = 0; i < len; i++) {
        uint8_t c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *p++ = c;
            continue;
        }
        *p++ = '\\';
        switch (c) {
        case '"':
            *p++ = '"';
            break;
        case '\\':
            *p++ = '\\';
            break;
        case '\b':
            *p++ = 'b';
            break;
        case '\f':
            *p++ = 'f';
            break;
        case '\n':
            *p++ = 'n';
            break;
        case '\r':
            *p++ = 'r';
            break;
        case '\t':
            *p++ = 't';
            break;
        default:
            *p++ = 'u';
            *p++ = '0';
            *p++ = '0';
            *p++ = (uint8_t)hex[c >> 4];
            *p++ = (uint8_t)hex[c & 15];
        }
    }
    *p++ = '"';
    w->p = p;
    return THRIFT_OK;
}

static thrift_status_t put_base64(thrift__writer_t *w, const uint8_t *s,
                                  size_t len) {
    if (len > SIZE_MAX / 2 || !thrift__ensure(w, (len + 2) / 3 * 4 + 2))
        return thrift__error_set(w->err, THRIFT_NOMEM, "out of memory");
    uint8_t *p = w->p;
    *p++ = '"';
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *p++ = (uint8_t)b64_chars[v >> 18];
        *p++ = (uint8_t)b64_chars[(v >> 12) & 63];
        *p++ = (uint8_t)b64_chars[(v >> 6) & 63];
        *p++ = (uint8_t)b64_chars[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)s[i] << 16;
        *p++ = (uint8_t)b64_chars[v >> 18];
        *p++ = (uint8_t)b64_chars[(v >> 12) & 63];
        *p++ = '=';
        *p++ = '=';
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
        *p++ = (uint8_t)b64_chars[v >> 18];
        *p++ = (uint8_t)b64_chars[(v >> 12) & 63];
        *p++ = (uint8_t)b64_chars[(v >> 6) & 63];
        *p++ = '=';
    }
    *p++ = '"';
    w->p = p;
    return THRIFT_OK;
}

static thrift_status_t put_uuid(thrift__writer_t *w, const uint8_t u[16]) {
    if (!thrift__ensure(w, 38))
        return THRIFT_NOMEM;
    static const char hex[] = "0123456789abcdef";
    uint8_t *p = w->p;
    *p++ = '"';
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = (uint8_t)hex[u[i] >> 4];
        *p++ = (uint8_t)hex[u[i] & 15];
    }
    *p++ = '"';
    w->p = p;
    return THRIFT_OK;
}

static thrift_status_t enc_value(thrift__writer_t *w, const thrift_value_t *v,
                                 bool key);

/* A field's `"id":{"type":`, after the '}' that closes the field before's
 * {"type":value} and a comma (*written: a field was). */
static thrift_status_t put_field_hdr(thrift__writer_t *w,
                                     const thrift_value_t *slot,
                                     const thrift_field_def_t *f,
                                     int *written) {
    if (*written) {
        if (!thrift__ensure(w, 1))
            return THRIFT_NOMEM;
        *w->p++ = '}';
    }
    if (!thrift__ensure(w, 24))
        return THRIFT_NOMEM;
    if (*written)
        *w->p++ = ',';
    *written = 1;
    char tmp[24];
    char *digits = fmt_int(tmp, f->id);
    *w->p++ = '"';
    put_lit(w, digits, (size_t)(tmp + 24 - digits));
    put_lit(w, "\":{", 3);
    put_type_name(w, thrift__kind_wire[slot->kind]);
    *w->p++ = ':';
    return THRIFT_OK;
}

static thrift_status_t enc_field(thrift__writer_t *w, const thrift_value_t *v) {
    return enc_value(w, v, false);
}

static thrift_status_t enc_struct(thrift__writer_t *w,
                                  const thrift_value_t *v) {
    if (!thrift__ensure(w, 1))
        return THRIFT_NOMEM;
    *w->p++ = '{';
    int written = 0;
    thrift_status_t st =
        thrift__enc_fields(w, v, put_field_hdr, enc_field, &written);
    if (st != THRIFT_OK)
        return st;
    if (!thrift__ensure(w, 2))
        return THRIFT_NOMEM;
    if (written)
        *w->p++ = '}';
    *w->p++ = '}';
    return THRIFT_OK;
}

static thrift_status_t enc_value(thrift__writer_t *w, const thrift_value_t *v,
                                 bool key) {
    switch (v->kind) {
    case THRIFT_KIND_BOOL:
        return put_int(w, v->u.b ? 1 : 0, key);
    case THRIFT_KIND_I8:
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
    case THRIFT_KIND_I64:
    case THRIFT_KIND_ENUM:
        return put_int(w, v->u.i, key);
    case THRIFT_KIND_DOUBLE:
        return put_double(w, v->u.d, key);
    case THRIFT_KIND_STRING:
        return put_string(w, v->u.bytes.ptr, v->u.bytes.len);
    case THRIFT_KIND_BINARY:
        return put_base64(w, v->u.bytes.ptr, v->u.bytes.len);
    case THRIFT_KIND_UUID:
        return put_uuid(w, v->u.uuid);
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET: {
        if (!thrift__ensure(w, 32))
            return THRIFT_NOMEM;
        *w->p++ = '[';
        put_type_name(w, v->type->elem->resolved->wire_type);
        *w->p++ = ',';
        put_int(w, v->count, false);
        for (uint32_t i = 0; i < v->count; i++) {
            if (!thrift__ensure(w, 1))
                return THRIFT_NOMEM;
            *w->p++ = ',';
            thrift_status_t st = enc_value(w, &v->u.c.items[i], false);
            if (st != THRIFT_OK) {
                thrift__wpath_index(w->err, i);
                return st;
            }
        }
        if (!thrift__ensure(w, 1))
            return THRIFT_NOMEM;
        *w->p++ = ']';
        return THRIFT_OK;
    }
    case THRIFT_KIND_MAP: {
        if (!thrift__ensure(w, 40))
            return THRIFT_NOMEM;
        *w->p++ = '[';
        put_type_name(w, v->type->key->resolved->wire_type);
        *w->p++ = ',';
        put_type_name(w, v->type->value->resolved->wire_type);
        *w->p++ = ',';
        put_int(w, v->count, false);
        *w->p++ = ',';
        *w->p++ = '{';
        for (uint32_t i = 0; i < v->count; i++) {
            if (i) {
                if (!thrift__ensure(w, 1))
                    return THRIFT_NOMEM;
                *w->p++ = ',';
            }
            thrift_status_t st = enc_value(w, &v->u.c.items[2 * i], true);
            if (st == THRIFT_OK) {
                if (!thrift__ensure(w, 1))
                    return THRIFT_NOMEM;
                *w->p++ = ':';
                st = enc_value(w, &v->u.c.items[2 * i + 1], false);
            }
            if (st != THRIFT_OK) {
                thrift__wpath_index(w->err, i);
                return st;
            }
        }
        if (!thrift__ensure(w, 2))
            return THRIFT_NOMEM;
        *w->p++ = '}';
        *w->p++ = ']';
        return THRIFT_OK;
    }
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION:
        return enc_struct(w, v);
    default:
        return thrift__wfail_kind(w, v->kind);
    }
}

thrift_status_t thrift__json_encode_value(thrift__writer_t *w,
                                          const thrift_value_t *v) {
    return enc_value(w, v, false);
}

thrift_status_t thrift__json_write_message_begin(thrift__writer_t *w,
                                                 const char *name,
                                                 size_t name_len, unsigned type,
                                                 int32_t seqid, bool strict) {
    (void)strict;
    if (!thrift__ensure(w, 3))
        return THRIFT_NOMEM;
    put_lit(w, "[1,", 3);
    thrift_status_t st = put_string(w, (const uint8_t *)name, name_len);
    if (st != THRIFT_OK)
        return st;
    if (!thrift__ensure(w, 32))
        return THRIFT_NOMEM;
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, ",%u,%d,", type, (int)seqid);
    put_lit(w, tmp, (size_t)n);
    return THRIFT_OK;
}

thrift_status_t thrift__json_write_message_end(thrift__writer_t *w) {
    if (!thrift__ensure(w, 1))
        return THRIFT_NOMEM;
    *w->p++ = ']';
    return THRIFT_OK;
}

/* ---- decode ---------------------------------------------------------------- */

static inline void ws(thrift__reader_t *r) {
    while (r->p < r->end &&
           (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
        r->p++;
}

static thrift_status_t expect(thrift__reader_t *r, char c) {
    ws(r);
    if (r->p >= r->end)
        return thrift__reader_need_more(r);
    if (*r->p != (uint8_t)c)
        return thrift__reader_fail(r, THRIFT_INVALID, "expected '%c', got '%c'",
                                   c, *r->p);
    r->p++;
    return THRIFT_OK;
}

/* An integer, quoted or not (map keys and field ids are quoted). */
static thrift_status_t read_int(thrift__reader_t *r, int64_t *out) {
    ws(r);
    if (r->p >= r->end)
        return thrift__reader_need_more(r);
    const uint8_t *start = r->p;
    bool quoted = *r->p == '"';
    if (quoted)
        r->p++;
    bool neg = false;
    if (r->p < r->end && (*r->p == '-' || *r->p == '+')) {
        neg = *r->p == '-';
        r->p++;
    }
    uint64_t v = 0;
    size_t digits = 0;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
        unsigned d = *r->p - '0';
        if (v > (UINT64_MAX - d) / 10) {
            r->p = start;
            return thrift__reader_fail(r, THRIFT_INVALID, "integer overflow");
        }
        v = v * 10 + d;
        digits++;
        r->p++;
    }
    if (r->p >= r->end)
        return thrift__reader_need_more(r);
    if (!digits) {
        r->p = start;
        return thrift__reader_fail(r, THRIFT_INVALID, "expected an integer");
    }
    if (quoted) {
        if (*r->p != '"') {
            r->p = start;
            return thrift__reader_fail(r, THRIFT_INVALID, "expected an integer");
        }
        r->p++;
    }
    if ((!neg && v > (uint64_t)INT64_MAX) ||
        (neg && v > (uint64_t)INT64_MAX + 1)) {
        r->p = start;
        return thrift__reader_fail(r, THRIFT_INVALID, "integer overflow");
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return THRIFT_OK;
}

/* Scans a JSON string starting at '"'.  Sets *body and *len to the raw bytes
 * between the quotes and *escaped when it holds a backslash. */
static thrift_status_t scan_string(thrift__reader_t *r, const uint8_t **body,
                                   size_t *len, bool *escaped) {
    ws(r);
    if (r->p >= r->end)
        return thrift__reader_need_more(r);
    if (*r->p != '"')
        return thrift__reader_fail(r, THRIFT_INVALID, "expected a string");
    const uint8_t *p = r->p + 1;
    *escaped = false;
    for (;;) {
        const uint8_t *q = memchr(p, '"', (size_t)(r->end - p));
        if (!q)
            return thrift__reader_need_more(r);
        /* The quote ends the string unless an odd run of backslashes
         * precedes it. */
        size_t bs = 0;
        while (q - bs > r->p + 1 && q[-1 - (ptrdiff_t)bs] == '\\')
            bs++;
        if (bs)
            *escaped = true;
        if (bs % 2 == 0) {
            *body = r->p + 1;
            *len = (size_t)(q - (r->p + 1));
            if (!*escaped && memchr(*body, '\\', *len))
                *escaped = true;
            r->p = q + 1;
            return THRIFT_OK;
        }
        p = q + 1;
    }
}

static bool read_u4(const uint8_t *s, const uint8_t *end, unsigned *out) {
    if (end - s < 4)
        return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = thrift__hex_digit(s[i]);
        if (h < 0)
            return false;
        v = v << 4 | (unsigned)h;
    }
    *out = v;
    return true;
}

/* Decodes escapes of s[0..len) into out (which has room for len bytes:
 * every escape is at least as long as the UTF-8 it stands for). */
static thrift_status_t unescape(thrift__reader_t *r, const uint8_t *s,
                                size_t len, uint8_t *out, size_t *out_len) {
    const uint8_t *end = s + len;
    uint8_t *o = out;
    while (s < end) {
        if (*s != '\\') {
            *o++ = *s++;
            continue;
        }
        s++;
        if (s >= end)
            return thrift__reader_fail(r, THRIFT_INVALID, "bad escape");
        uint8_t c = *s++;
        switch (c) {
        case '"':
        case '\\':
        case '/':
            *o++ = c;
            break;
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'u': {
            unsigned cp;
            if (!read_u4(s, end, &cp))
                return thrift__reader_fail(r, THRIFT_INVALID, "bad \\u escape");
            s += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                unsigned lo;
                if (end - s < 6 || s[0] != '\\' || s[1] != 'u' ||
                    !read_u4(s + 2, end, &lo) || lo < 0xdc00 || lo > 0xdfff)
                    return thrift__reader_fail(r, THRIFT_INVALID,
                                               "expected a low surrogate");
                s += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                return thrift__reader_fail(r, THRIFT_INVALID,
                                           "unexpected low surrogate");
            }
            if (cp < 0x80) {
                *o++ = (uint8_t)cp;
            } else if (cp < 0x800) {
                *o++ = (uint8_t)(0xc0 | cp >> 6);
                *o++ = (uint8_t)(0x80 | (cp & 0x3f));
            } else if (cp < 0x10000) {
                *o++ = (uint8_t)(0xe0 | cp >> 12);
                *o++ = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
                *o++ = (uint8_t)(0x80 | (cp & 0x3f));
            } else {
                *o++ = (uint8_t)(0xf0 | cp >> 18);
                *o++ = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
                *o++ = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
                *o++ = (uint8_t)(0x80 | (cp & 0x3f));
            }
            break;
        }
        default:
            return thrift__reader_fail(r, THRIFT_INVALID, "bad escape '\\%c'", c);
        }
    }
    *out_len = (size_t)(o - out);
    return THRIFT_OK;
}

/* A decoded string: aliases the input when it has no escapes and zero-copy
 * is on; otherwise copied into the arena. */
static thrift_status_t read_string(thrift__reader_t *r, const uint8_t **out,
                                   size_t *out_len) {
    const uint8_t *body;
    size_t len;
    bool escaped;
    const uint8_t *start = r->p;
    thrift_status_t st = scan_string(r, &body, &len, &escaped);
    if (st != THRIFT_OK)
        return st;
    if (len > r->opts->max_string_size) {
        r->p = start;
        return thrift__reader_fail(r, THRIFT_LIMIT,
                                   "string of %zu bytes exceeds the limit", len);
    }
    if (!escaped && (r->opts->zero_copy || len == 0 || !r->arena)) {
        *out = body;
        *out_len = len;
        return THRIFT_OK;
    }
    if (!r->arena) {
        *out = body;
        *out_len = len;
        return THRIFT_OK;
    }
    uint8_t *buf = thrift__arena_alloc(r->arena, len ? len : 1);
    if (!buf)
        return thrift__fail_nomem(r);
    if (!escaped) {
        memcpy(buf, body, len);
        *out_len = len;
    } else {
        st = unescape(r, body, len, buf, out_len);
        if (st != THRIFT_OK)
            return st;
    }
    *out = buf;
    return THRIFT_OK;
}

static int b64val(uint8_t c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

static thrift_status_t read_base64(thrift__reader_t *r, const uint8_t **out,
                                   size_t *out_len) {
    const uint8_t *s;
    size_t len;
    const uint8_t *start = r->p;
    thrift__reader_t probe = *r;
    probe.arena = NULL; /* the text itself; decoded below */
    thrift_status_t st = read_string(&probe, &s, &len);
    if (st != THRIFT_OK)
        return st;
    r->p = probe.p;
    /* Padding is optional: Apache's C++ writer leaves it out. */
    while (len && s[len - 1] == '=')
        len--;
    if (len % 4 == 1) {
        r->p = start;
        return thrift__reader_fail(r, THRIFT_INVALID, "bad base64 length");
    }
    size_t n = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    uint8_t *buf = thrift__arena_alloc(r->arena, n ? n : 1);
    if (!buf)
        return thrift__fail_nomem(r);
    size_t o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val(s[i]);
        if (v < 0) {
            r->p = start;
            return thrift__reader_fail(r, THRIFT_INVALID,
                                       "bad base64 character");
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (uint8_t)(acc >> bits);
        }
    }
    *out = buf;
    *out_len = o;
    return THRIFT_OK;
}

static bool is_numeric_char(uint8_t c) {
    return (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.' ||
           c == 'e' || c == 'E';
}

static thrift_status_t parse_double(thrift__reader_t *r, const uint8_t *s,
                                    size_t len, double *out) {
    if (len == 3 && memcmp(s, "NaN", 3) == 0) {
        *out = NAN;
        return THRIFT_OK;
    }
    if (len == 8 && memcmp(s, "Infinity", 8) == 0) {
        *out = INFINITY;
        return THRIFT_OK;
    }
    if (len == 9 && memcmp(s, "-Infinity", 9) == 0) {
        *out = -INFINITY;
        return THRIFT_OK;
    }
    char tmp[512];
    if (len == 0 || len >= sizeof tmp)
        return thrift__reader_fail(r, THRIFT_INVALID, "bad number");
    for (size_t i = 0; i < len; i++)
        if (!is_numeric_char(s[i]))
            return thrift__reader_fail(r, THRIFT_INVALID, "bad number");
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *end;
    *out = strtod(tmp, &end);
    if (end != tmp + len)
        return thrift__reader_fail(r, THRIFT_INVALID, "bad number");
    return THRIFT_OK;
}

static thrift_status_t read_double(thrift__reader_t *r, double *out) {
    ws(r);
    if (r->p >= r->end)
        return thrift__reader_need_more(r);
    if (*r->p == '"') {
        const uint8_t *s;
        size_t len;
        bool escaped;
        const uint8_t *start = r->p;
        thrift_status_t st = scan_string(r, &s, &len, &escaped);
        if (st != THRIFT_OK)
            return st;
        st = parse_double(r, s, len, out);
        if (st != THRIFT_OK)
            r->p = start;
        return st;
    }
    const uint8_t *s = r->p;
    while (r->p < r->end && is_numeric_char(*r->p))
        r->p++;
    if (r->p >= r->end)
        return thrift__reader_need_more(r);
    thrift_status_t st = parse_double(r, s, (size_t)(r->p - s), out);
    if (st != THRIFT_OK)
        r->p = s;
    return st;
}

static thrift_status_t read_type_name(thrift__reader_t *r, unsigned *wire) {
    const uint8_t *s;
    size_t len;
    bool escaped;
    const uint8_t *start = r->p;
    thrift_status_t st = scan_string(r, &s, &len, &escaped);
    if (st != THRIFT_OK)
        return st;
    for (unsigned i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
        if (type_names[i] && strlen(type_names[i]) == len &&
            memcmp(type_names[i], s, len) == 0) {
            *wire = i;
            return THRIFT_OK;
        }
    r->p = start;
    return thrift__reader_fail(r, THRIFT_INVALID, "unknown type name '%.*s'",
                               (int)(len > 16 ? 16 : len), (const char *)s);
}

/* Checks a declared element count against the limits and the bytes left
 * (every element takes at least one byte plus a comma). */
static thrift_status_t check_count(thrift__reader_t *r, int64_t n) {
    if (n < 0)
        return thrift__reader_fail(r, THRIFT_INVALID, "negative size %lld",
                                   (long long)n);
    return thrift__check_count(r, (uint64_t)n, 1);
}

static thrift_status_t skip_any(thrift__reader_t *r);

static thrift_status_t dec_value(thrift__reader_t *r, thrift_value_t *v,
                                 const thrift_type_def_t *t);

/* A field's header, `"id":{"type":`, after the comma that separates it from
 * the field before; or the '}' that ends the struct (STOP).  The '}' that
 * closes the field before's {"type":value} is read here too.  h->aux counts
 * fields read. */
static thrift_status_t read_field_hdr(thrift__reader_t *r,
                                      thrift__field_hdr_t *h) {
    thrift_status_t st;
    if (h->aux && (st = expect(r, '}')) != THRIFT_OK)
        return st;
    ws(r);
    if (r->p >= r->end)
        return thrift__reader_need_more(r);
    if (*r->p == '}') {
        r->p++;
        h->wire = THRIFT_TYPE_STOP;
        return THRIFT_OK;
    }
    if (h->aux && (st = expect(r, ',')) != THRIFT_OK)
        return st;
    h->aux = 1;
    h->at = r->p;
    int64_t id;
    if ((st = read_int(r, &id)) != THRIFT_OK ||
        (st = expect(r, ':')) != THRIFT_OK ||
        (st = expect(r, '{')) != THRIFT_OK ||
        (st = read_type_name(r, &h->wire)) != THRIFT_OK ||
        (st = expect(r, ':')) != THRIFT_OK)
        return st;
    /* An id outside i16 names no field: INT32_MIN stands for it. */
    h->id = id >= INT16_MIN && id <= INT16_MAX ? (int)id : INT32_MIN;
    return THRIFT_OK;
}

static thrift_status_t dec_field(thrift__reader_t *r, thrift_value_t *slot,
                                 const thrift_type_def_t *ft, unsigned aux) {
    (void)aux;
    return dec_value(r, slot, ft);
}

static thrift_status_t dec_struct(thrift__reader_t *r, thrift_value_t *v,
                                  const thrift_type_def_t *t) {
    thrift_status_t st = expect(r, '{');
    if (st != THRIFT_OK)
        return st;
    return thrift__dec_struct(r, v, t, read_field_hdr, dec_field,
                              thrift__json_skip);
}

/* A value after the separator `sep`. */
static thrift_status_t dec_after(thrift__reader_t *r, char sep,
                                 thrift_value_t *v, const thrift_type_def_t *t) {
    thrift_status_t st = expect(r, sep);
    return st == THRIFT_OK ? dec_value(r, v, t) : st;
}

/* List elements follow a comma; map entries are key:value, separated by
 * commas. */
static thrift_status_t dec_list_elem(thrift__reader_t *r, thrift_value_t *item,
                                     const thrift_type_def_t *t, unsigned i) {
    (void)i;
    return dec_after(r, ',', item, t);
}

static thrift_status_t dec_map_key(thrift__reader_t *r, thrift_value_t *item,
                                   const thrift_type_def_t *t, unsigned i) {
    return i ? dec_after(r, ',', item, t) : dec_value(r, item, t);
}

static thrift_status_t dec_map_val(thrift__reader_t *r, thrift_value_t *item,
                                   const thrift_type_def_t *t, unsigned i) {
    (void)i;
    return dec_after(r, ':', item, t);
}

static thrift_status_t dec_value(thrift__reader_t *r, thrift_value_t *v,
                                 const thrift_type_def_t *t) {
    v->type = t;
    v->kind = t->kind;
    thrift_status_t st;
    int64_t i;
    const uint8_t *start;
    ws(r);
    start = r->p;
    switch (t->kind) {
    case THRIFT_KIND_BOOL:
        if ((st = read_int(r, &i)) != THRIFT_OK)
            return st;
        v->u.i = 0;
        v->u.b = i != 0;
        return THRIFT_OK;
    case THRIFT_KIND_I8:
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
    case THRIFT_KIND_I64:
    case THRIFT_KIND_ENUM:
        if ((st = read_int(r, &i)) != THRIFT_OK)
            return st;
        if (!thrift__int_fits(t->kind, i)) {
            r->p = start;
            return thrift__reader_fail(r, THRIFT_INVALID,
                                       "%lld out of range for %s", (long long)i,
                                       thrift__kind_name(t->kind));
        }
        v->u.i = i;
        return THRIFT_OK;
    case THRIFT_KIND_DOUBLE:
        return read_double(r, &v->u.d);
    case THRIFT_KIND_STRING:
        return read_string(r, &v->u.bytes.ptr, &v->u.bytes.len);
    case THRIFT_KIND_BINARY:
        return read_base64(r, &v->u.bytes.ptr, &v->u.bytes.len);
    case THRIFT_KIND_UUID: {
        const uint8_t *s;
        size_t len;
        bool escaped;
        if ((st = scan_string(r, &s, &len, &escaped)) != THRIFT_OK)
            return st;
        if (!thrift__uuid_parse((const char *)s, len, v->u.uuid)) {
            r->p = start;
            return thrift__reader_fail(r, THRIFT_INVALID, "bad uuid");
        }
        return THRIFT_OK;
    }
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET: {
        unsigned wire;
        if ((st = expect(r, '[')) != THRIFT_OK ||
            (st = read_type_name(r, &wire)) != THRIFT_OK ||
            (st = expect(r, ',')) != THRIFT_OK ||
            (st = read_int(r, &i)) != THRIFT_OK ||
            (st = check_count(r, i)) != THRIFT_OK ||
            (st = thrift__dec_list(r, v, t, start, wire, (uint32_t)i,
                                   dec_list_elem)) != THRIFT_OK)
            return st;
        return expect(r, ']');
    }
    case THRIFT_KIND_MAP: {
        unsigned kw, vw;
        if ((st = expect(r, '[')) != THRIFT_OK ||
            (st = read_type_name(r, &kw)) != THRIFT_OK ||
            (st = expect(r, ',')) != THRIFT_OK ||
            (st = read_type_name(r, &vw)) != THRIFT_OK ||
            (st = expect(r, ',')) != THRIFT_OK ||
            (st = read_int(r, &i)) != THRIFT_OK ||
            (st = check_count(r, i)) != THRIFT_OK ||
            (st = expect(r, ',')) != THRIFT_OK ||
            (st = expect(r, '{')) != THRIFT_OK ||
            (st = thrift__dec_map(r, v, t, start, kw, vw, (uint32_t)i,
                                  dec_map_key, dec_map_val)) != THRIFT_OK ||
            (st = expect(r, '}')) != THRIFT_OK)
            return st;
        return expect(r, ']');
    }
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION:
        return dec_struct(r, v, t);
    default:
        return thrift__fail_kind(r, t);
    }
}

thrift_status_t thrift__json_decode_value(thrift__reader_t *r,
                                          thrift_value_t *v,
                                          const thrift_type_def_t *t) {
    v->flags = 0;
    return dec_value(r, v, t->resolved);
}

/* ---- skip ------------------------------------------------------------------ */

/* Passes over any JSON value.  TJSONProtocol's map keys may themselves be
 * objects or arrays (maps keyed by structs), so an object's keys are parsed
 * as values too. */
static thrift_status_t skip_any(thrift__reader_t *r) {
    ws(r);
    if (r->p >= r->end)
        return thrift__reader_need_more(r);
    thrift_status_t st;
    uint8_t c = *r->p;
    if (c == '"') {
        const uint8_t *s;
        size_t len;
        bool escaped;
        return scan_string(r, &s, &len, &escaped);
    }
    if (c == '{' || c == '[') {
        uint8_t close = c == '{' ? '}' : ']';
        if ((st = thrift__reader_enter(r)) != THRIFT_OK)
            return st;
        r->p++;
        bool first = true;
        for (;;) {
            ws(r);
            if (r->p >= r->end)
                return thrift__reader_need_more(r);
            if (*r->p == close) {
                r->p++;
                break;
            }
            if (!first && (st = expect(r, ',')) != THRIFT_OK)
                return st;
            first = false;
            if ((st = skip_any(r)) != THRIFT_OK)
                return st;
            if (close == '}' &&
                ((st = expect(r, ':')) != THRIFT_OK ||
                 (st = skip_any(r)) != THRIFT_OK))
                return st;
        }
        r->depth--;
        return THRIFT_OK;
    }
    if (is_numeric_char(c)) {
        while (r->p < r->end && is_numeric_char(*r->p))
            r->p++;
        if (r->p >= r->end)
            return thrift__reader_need_more(r);
        return THRIFT_OK;
    }
    return thrift__reader_fail(r, THRIFT_INVALID, "unexpected '%c'", c);
}

thrift_status_t thrift__json_skip(thrift__reader_t *r, unsigned wire) {
    (void)wire;
    return skip_any(r);
}

/* ---- messages -------------------------------------------------------------- */

thrift_status_t thrift__json_read_message_begin(thrift__reader_t *r,
                                                thrift_message_header_t *hdr) {
    int64_t version, type, seqid;
    const uint8_t *s;
    size_t len;
    bool escaped;
    thrift_status_t st;
    if ((st = expect(r, '[')) != THRIFT_OK ||
        (st = read_int(r, &version)) != THRIFT_OK)
        return st;
    if (version != 1)
        return thrift__reader_fail(r, THRIFT_INVALID,
                                   "bad JSON protocol version %lld",
                                   (long long)version);
    if ((st = expect(r, ',')) != THRIFT_OK ||
        (st = scan_string(r, &s, &len, &escaped)) != THRIFT_OK)
        return st;
    if (escaped)
        return thrift__reader_fail(r, THRIFT_UNSUPPORTED,
                                   "escaped characters in a method name");
    if ((st = expect(r, ',')) != THRIFT_OK ||
        (st = read_int(r, &type)) != THRIFT_OK ||
        (st = expect(r, ',')) != THRIFT_OK ||
        (st = read_int(r, &seqid)) != THRIFT_OK ||
        (st = expect(r, ',')) != THRIFT_OK)
        return st;
    if (type < THRIFT_MSG_CALL || type > THRIFT_MSG_ONEWAY)
        return thrift__reader_fail(r, THRIFT_INVALID, "bad message type %lld",
                                   (long long)type);
    if (seqid < INT32_MIN || seqid > UINT32_MAX)
        return thrift__reader_fail(r, THRIFT_INVALID, "seqid out of range");
    hdr->name = (const char *)s;
    hdr->name_len = len;
    hdr->type = (thrift_message_type_t)type;
    hdr->seqid = (int32_t)(uint32_t)seqid;
    return THRIFT_OK;
}

thrift_status_t thrift__json_read_message_end(thrift__reader_t *r) {
    return expect(r, ']');
}
