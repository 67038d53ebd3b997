/* TCompactProtocol: zigzag varints, field-id deltas folded with the type
 * into one byte, bools folded into field headers, little-endian doubles. */
#include "proto/proto_impl.h"

enum {
    CT_STOP = 0,
    CT_TRUE = 1,
    CT_FALSE = 2,
    CT_BYTE = 3,
    CT_I16 = 4,
    CT_I32 = 5,
    CT_I64 = 6,
    CT_DOUBLE = 7,
    CT_BINARY = 8,
    CT_LIST = 9,
    CT_SET = 10,
    CT_MAP = 11,
    CT_STRUCT = 12,
    CT_UUID = 13,
};

#define PROTOCOL_ID 0x82
#define VERSION 1

/* Compact type code of a value kind (bools: TRUE, as in containers). */
static const uint8_t kind_ctype[THRIFT_KIND_TYPEDEF + 1] = {
    [THRIFT_KIND_BOOL] = CT_TRUE,     [THRIFT_KIND_I8] = CT_BYTE,
    [THRIFT_KIND_I16] = CT_I16,       [THRIFT_KIND_I32] = CT_I32,
    [THRIFT_KIND_I64] = CT_I64,       [THRIFT_KIND_DOUBLE] = CT_DOUBLE,
    [THRIFT_KIND_STRING] = CT_BINARY, [THRIFT_KIND_BINARY] = CT_BINARY,
    [THRIFT_KIND_UUID] = CT_UUID,     [THRIFT_KIND_ENUM] = CT_I32,
    [THRIFT_KIND_LIST] = CT_LIST,     [THRIFT_KIND_SET] = CT_SET,
    [THRIFT_KIND_MAP] = CT_MAP,       [THRIFT_KIND_STRUCT] = CT_STRUCT,
    [THRIFT_KIND_UNION] = CT_STRUCT,  [THRIFT_KIND_EXCEPTION] = CT_STRUCT,
};

/* Wire type of a compact type code; STOP (0) for codes that are not types. */
static const uint8_t ctype_wire[16] = {
    [CT_TRUE] = THRIFT_TYPE_BOOL,     [CT_FALSE] = THRIFT_TYPE_BOOL,
    [CT_BYTE] = THRIFT_TYPE_BYTE,     [CT_I16] = THRIFT_TYPE_I16,
    [CT_I32] = THRIFT_TYPE_I32,       [CT_I64] = THRIFT_TYPE_I64,
    [CT_DOUBLE] = THRIFT_TYPE_DOUBLE, [CT_BINARY] = THRIFT_TYPE_STRING,
    [CT_LIST] = THRIFT_TYPE_LIST,     [CT_SET] = THRIFT_TYPE_SET,
    [CT_MAP] = THRIFT_TYPE_MAP,       [CT_STRUCT] = THRIFT_TYPE_STRUCT,
    [CT_UUID] = THRIFT_TYPE_UUID,
};

/* Compact type code of a wire type (for container headers). */
static const uint8_t wire_ctype[17] = {
    [THRIFT_TYPE_BOOL] = CT_TRUE,     [THRIFT_TYPE_BYTE] = CT_BYTE,
    [THRIFT_TYPE_I16] = CT_I16,       [THRIFT_TYPE_I32] = CT_I32,
    [THRIFT_TYPE_I64] = CT_I64,       [THRIFT_TYPE_DOUBLE] = CT_DOUBLE,
    [THRIFT_TYPE_STRING] = CT_BINARY, [THRIFT_TYPE_LIST] = CT_LIST,
    [THRIFT_TYPE_SET] = CT_SET,       [THRIFT_TYPE_MAP] = CT_MAP,
    [THRIFT_TYPE_STRUCT] = CT_STRUCT, [THRIFT_TYPE_UUID] = CT_UUID,
};

/* The fewest bytes an element of a wire type takes; 0: not a type. */
static const uint8_t min_size[17] = {
    [THRIFT_TYPE_BOOL] = 1,   [THRIFT_TYPE_BYTE] = 1,   [THRIFT_TYPE_DOUBLE] = 8,
    [THRIFT_TYPE_I16] = 1,    [THRIFT_TYPE_I32] = 1,    [THRIFT_TYPE_I64] = 1,
    [THRIFT_TYPE_STRING] = 1, [THRIFT_TYPE_STRUCT] = 1, [THRIFT_TYPE_MAP] = 1,
    [THRIFT_TYPE_SET] = 1,    [THRIFT_TYPE_LIST] = 1,   [THRIFT_TYPE_UUID] = 16,
};

static inline unsigned wire_min(unsigned wire) {
    return wire < sizeof min_size ? min_size[wire] : 0;
}

static inline uint64_t zigzag64(int64_t n) {
    return ((uint64_t)n << 1) ^ (uint64_t)(n >> 63);
}
static inline uint32_t zigzag32(int32_t n) {
    return ((uint32_t)n << 1) ^ (uint32_t)(n >> 31);
}
static inline int64_t unzigzag(uint64_t n) {
    return (int64_t)(n >> 1) ^ -(int64_t)(n & 1);
}

static inline uint8_t *put_varint(uint8_t *p, uint64_t n) {
    while (n >= 0x80) {
        *p++ = (uint8_t)(n | 0x80);
        n >>= 7;
    }
    *p++ = (uint8_t)n;
    return p;
}

static inline void put_le64(uint8_t *p, uint64_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, 8);
}
static inline uint64_t get_le64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* ---- encode ---------------------------------------------------------------- */

static thrift_status_t enc_value(thrift__writer_t *w, const thrift_value_t *v);

static thrift_status_t enc_struct(thrift__writer_t *w,
                                  const thrift_value_t *v) {
    const thrift_struct_def_t *sd = v->type->struct_def;
    const thrift_field_def_t *fields = sd->fields;
    const thrift_value_t *slots = v->u.s.slots;
    uint32_t n = v->count;
    int last = 0;
    thrift__field_order_t order = thrift__field_order(sd);
    for (uint32_t k = 0; k < order.span; k++) {
        uint32_t i = thrift__field_order_at(&order, k);
        if (i >= n)
            continue;
        const thrift_value_t *slot = &slots[i];
        if (!(slot->flags & THRIFT__VALUE_SET)) {
            if (THRIFT_UNLIKELY(fields[i].req == THRIFT_REQ_REQUIRED)) {
                thrift__error_set(w->err, THRIFT_MISSING,
                                  "required field missing");
                thrift__wpath_field(w->err, &fields[i]);
                return THRIFT_MISSING;
            }
            continue;
        }
        if (THRIFT_UNLIKELY(!thrift__ensure(w, 4)))
            return THRIFT_NOMEM;
        unsigned ct = kind_ctype[slot->kind];
        bool is_bool = slot->kind == THRIFT_KIND_BOOL;
        if (is_bool)
            ct = slot->u.b ? CT_TRUE : CT_FALSE;
        int id = fields[i].id;
        int delta = id - last;
        uint8_t *p = w->p;
        if (delta > 0 && delta <= 15) {
            *p++ = (uint8_t)(delta << 4 | ct);
        } else {
            *p++ = (uint8_t)ct;
            p = put_varint(p, zigzag32((int16_t)id));
        }
        w->p = p;
        last = id;
        if (is_bool)
            continue;
        thrift_status_t st = enc_value(w, slot);
        if (THRIFT_UNLIKELY(st != THRIFT_OK)) {
            thrift__wpath_field(w->err, &fields[i]);
            return st;
        }
    }
    if (THRIFT_UNLIKELY(!thrift__ensure(w, 1)))
        return THRIFT_NOMEM;
    *w->p++ = CT_STOP;
    return THRIFT_OK;
}

static thrift_status_t enc_value(thrift__writer_t *w, const thrift_value_t *v) {
    /* 16 bytes cover every fixed-size value and every container header. */
    if (THRIFT_UNLIKELY(!thrift__ensure(w, 16)))
        return THRIFT_NOMEM;
    uint8_t *p = w->p;
    switch (v->kind) {
    case THRIFT_KIND_BOOL:
        *p = v->u.b ? CT_TRUE : CT_FALSE;
        w->p = p + 1;
        return THRIFT_OK;
    case THRIFT_KIND_I8:
        *p = (uint8_t)v->u.i;
        w->p = p + 1;
        return THRIFT_OK;
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
    case THRIFT_KIND_ENUM:
        w->p = put_varint(p, zigzag32((int32_t)v->u.i));
        return THRIFT_OK;
    case THRIFT_KIND_I64:
        w->p = put_varint(p, zigzag64(v->u.i));
        return THRIFT_OK;
    case THRIFT_KIND_DOUBLE: {
        uint64_t bits;
        memcpy(&bits, &v->u.d, 8);
        put_le64(p, bits);
        w->p = p + 8;
        return THRIFT_OK;
    }
    case THRIFT_KIND_STRING:
    case THRIFT_KIND_BINARY: {
        size_t len = v->u.bytes.len;
        if (THRIFT_UNLIKELY(len > INT32_MAX))
            return thrift__error_set(w->err, THRIFT_LIMIT,
                                     "string of %zu bytes is too long", len);
        if (len > 11) {
            if (THRIFT_UNLIKELY(!thrift__ensure(w, 5 + len)))
                return THRIFT_NOMEM;
            p = w->p;
        }
        p = put_varint(p, len);
        if (len)
            memcpy(p, v->u.bytes.ptr, len);
        w->p = p + len;
        return THRIFT_OK;
    }
    case THRIFT_KIND_UUID:
        memcpy(p, v->u.uuid, 16);
        w->p = p + 16;
        return THRIFT_OK;
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET: {
        unsigned et = wire_ctype[v->type->elem->resolved->wire_type];
        uint32_t n = v->count;
        if (n <= 14) {
            *p++ = (uint8_t)(n << 4 | et);
        } else {
            *p++ = (uint8_t)(0xf0 | et);
            p = put_varint(p, n);
        }
        w->p = p;
        const thrift_value_t *items = v->u.c.items;
        for (uint32_t i = 0; i < n; i++) {
            thrift_status_t st = enc_value(w, &items[i]);
            if (THRIFT_UNLIKELY(st != THRIFT_OK)) {
                thrift__wpath_index(w->err, i);
                return st;
            }
        }
        return THRIFT_OK;
    }
    case THRIFT_KIND_MAP: {
        uint32_t n = v->count;
        if (n == 0) {
            *p = 0;
            w->p = p + 1;
            return THRIFT_OK;
        }
        p = put_varint(p, n);
        *p++ = (uint8_t)(wire_ctype[v->type->key->resolved->wire_type] << 4 |
                         wire_ctype[v->type->value->resolved->wire_type]);
        w->p = p;
        const thrift_value_t *items = v->u.c.items;
        for (uint32_t i = 0; i < 2 * n; i++) {
            thrift_status_t st = enc_value(w, &items[i]);
            if (THRIFT_UNLIKELY(st != THRIFT_OK)) {
                thrift__wpath_index(w->err, i / 2);
                return st;
            }
        }
        return THRIFT_OK;
    }
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION:
        return enc_struct(w, v);
    default:
        return thrift__error_set(w->err, THRIFT_TYPE, "cannot encode a %s",
                                 thrift__kind_name(v->kind));
    }
}

thrift_status_t thrift__compact_encode_value(thrift__writer_t *w,
                                             const thrift_value_t *v) {
    return enc_value(w, v);
}

/* ---- decode ---------------------------------------------------------------- */

#define NEED(r, n)                                                            \
    do {                                                                      \
        if (THRIFT_UNLIKELY((size_t)((r)->end - (r)->p) < (size_t)(n)))       \
            return thrift__reader_need_more(r);                               \
    } while (0)

static thrift_status_t read_varint(thrift__reader_t *r, uint64_t *out) {
    const uint8_t *p = r->p;
    if (THRIFT_LIKELY(r->end - p >= 1 && p[0] < 0x80)) {
        *out = p[0];
        r->p = p + 1;
        return THRIFT_OK;
    }
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (THRIFT_UNLIKELY(p >= r->end))
            return thrift__reader_need_more(r);
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            r->p = p;
            return THRIFT_OK;
        }
    }
    return thrift__reader_fail(r, THRIFT_INVALID, "varint longer than 10 bytes");
}

static thrift_status_t read_size(thrift__reader_t *r, uint32_t *out,
                                 const char *what) {
    uint64_t n = 0;
    thrift_status_t st = read_varint(r, &n);
    if (st != THRIFT_OK)
        return st;
    if (n > INT32_MAX)
        return thrift__reader_fail(r, THRIFT_INVALID, "%s size %llu is negative",
                                   what, (unsigned long long)n);
    *out = (uint32_t)n;
    return THRIFT_OK;
}

static thrift_status_t check_count(thrift__reader_t *r, uint32_t n,
                                   unsigned elem_min) {
    if (THRIFT_UNLIKELY((size_t)n > r->opts->max_container_size))
        return thrift__reader_fail(r, THRIFT_LIMIT,
                                   "container of %u elements exceeds the limit", n);
    return thrift__reader_check_len(r, (uint64_t)n * elem_min,
                                    r->opts->max_message_size, "container");
}

static thrift_status_t dec_value(thrift__reader_t *r, thrift_value_t *v,
                                 const thrift_type_def_t *t);
static thrift_status_t skip_value(thrift__reader_t *r, unsigned wire);

static thrift_status_t read_field_header(thrift__reader_t *r, unsigned b,
                                         int *last) {
    unsigned delta = b >> 4;
    if (delta) {
        *last += (int)delta;
        return THRIFT_OK;
    }
    uint64_t z = 0;
    thrift_status_t st = read_varint(r, &z);
    if (st != THRIFT_OK)
        return st;
    int64_t id = unzigzag(z);
    if (id < INT16_MIN || id > INT16_MAX)
        return thrift__reader_fail(r, THRIFT_INVALID, "field id %lld out of range",
                                   (long long)id);
    *last = (int)id;
    return THRIFT_OK;
}

static thrift_status_t dec_struct(thrift__reader_t *r, thrift_value_t *v,
                                  const thrift_type_def_t *t) {
    const thrift_struct_def_t *sd = t->struct_def;
    if (THRIFT_UNLIKELY(++r->depth > r->opts->max_depth))
        return thrift__reader_fail(r, THRIFT_LIMIT,
                                   "nesting deeper than %u", r->opts->max_depth);
    uint32_t n = sd->field_count;
    thrift_value_t *slots = NULL;
    if (n) {
        slots = thrift__arena_alloc(r->arena, sizeof(thrift_value_t) * n);
        if (THRIFT_UNLIKELY(!slots))
            return thrift__reader_fail(r, THRIFT_NOMEM, "out of memory");
        memset(slots, 0, sizeof(thrift_value_t) * n);
    }
    v->u.s.slots = slots;
    v->count = n;
    uint32_t seen = 0;
    int last = 0;
    for (;;) {
        NEED(r, 1);
        const uint8_t *hdr = r->p;
        unsigned b = *r->p++;
        if (b == CT_STOP)
            break;
        unsigned ct = b & 0x0f;
        unsigned wire = ctype_wire[ct];
        thrift_status_t st = read_field_header(r, b, &last);
        if (st != THRIFT_OK)
            return st;
        if (THRIFT_UNLIKELY(wire == 0)) {
            r->p = hdr;
            return thrift__reader_fail(r, THRIFT_INVALID,
                                       "invalid compact type %u", ct);
        }
        const thrift_field_def_t *f = thrift__struct_field_by_id(sd, last);
        const thrift_type_def_t *ft = f ? f->type->resolved : NULL;
        if (!f || THRIFT_UNLIKELY(ft->wire_type != wire)) {
            if (f && !r->opts->skip_mismatched) {
                r->p = hdr;
                st = thrift__reader_fail(
                    r, THRIFT_TYPE, "expected %s, got wire type %u",
                    ft->name ? ft->name : thrift__kind_name(ft->kind), wire);
                thrift__path_field(r, f);
                return st;
            }
            /* A bool field's value is in its header: nothing to skip. */
            if (wire != THRIFT_TYPE_BOOL) {
                st = skip_value(r, wire);
                if (st != THRIFT_OK)
                    return st;
            }
            continue;
        }
        thrift_value_t *slot = &slots[f->index];
        seen += !(slot->flags & THRIFT__VALUE_SET);
        if (wire == THRIFT_TYPE_BOOL) {
            slot->type = ft;
            slot->kind = ft->kind;
            slot->u.i = 0;
            slot->u.b = ct == CT_TRUE;
        } else {
            st = dec_value(r, slot, ft);
            if (THRIFT_UNLIKELY(st != THRIFT_OK)) {
                thrift__path_field(r, f);
                return st;
            }
        }
        slot->flags = THRIFT__VALUE_SET;
    }
    r->depth--;
    if (seen != n || t->kind == THRIFT_KIND_UNION)
        return thrift__finish_struct(r, v, seen);
    return THRIFT_OK;
}

/* Reads a list/set header: element wire type and count. */
static thrift_status_t read_list_header(thrift__reader_t *r, unsigned *wire,
                                        uint32_t *count) {
    NEED(r, 1);
    unsigned b = *r->p++;
    unsigned n = b >> 4;
    *wire = ctype_wire[b & 0x0f];
    if (n == 15) {
        thrift_status_t st = read_size(r, count, "list");
        if (st != THRIFT_OK)
            return st;
    } else {
        *count = n;
    }
    if (*count && !*wire) {
        r->p--;
        return thrift__reader_fail(r, THRIFT_INVALID,
                                   "invalid compact element type %u", b & 0x0f);
    }
    return check_count(r, *count, wire_min(*wire) ? wire_min(*wire) : 1);
}

static thrift_status_t read_map_header(thrift__reader_t *r, unsigned *kw,
                                       unsigned *vw, uint32_t *count) {
    thrift_status_t st = read_size(r, count, "map");
    if (st != THRIFT_OK)
        return st;
    *kw = *vw = 0;
    if (*count == 0)
        return THRIFT_OK;
    NEED(r, 1);
    unsigned b = *r->p++;
    *kw = ctype_wire[b >> 4];
    *vw = ctype_wire[b & 0x0f];
    if (!*kw || !*vw) {
        r->p--;
        return thrift__reader_fail(r, THRIFT_INVALID,
                                   "invalid compact map types 0x%02x", b);
    }
    return check_count(r, *count, wire_min(*kw) + wire_min(*vw));
}

static thrift_status_t dec_value(thrift__reader_t *r, thrift_value_t *v,
                                 const thrift_type_def_t *t) {
    v->type = t;
    v->kind = t->kind;
    thrift_status_t st;
    uint64_t u = 0;
    switch (t->kind) {
    case THRIFT_KIND_BOOL:
        NEED(r, 1);
        v->u.i = 0;
        v->u.b = *r->p++ == CT_TRUE;
        return THRIFT_OK;
    case THRIFT_KIND_I8:
        NEED(r, 1);
        v->u.i = (int8_t)*r->p++;
        return THRIFT_OK;
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
    case THRIFT_KIND_ENUM:
    case THRIFT_KIND_I64:
        st = read_varint(r, &u);
        if (THRIFT_UNLIKELY(st != THRIFT_OK))
            return st;
        v->u.i = unzigzag(u);
        if (THRIFT_UNLIKELY(t->kind != THRIFT_KIND_I64 &&
                            !thrift__int_fits(t->kind, v->u.i)))
            return thrift__reader_fail(r, THRIFT_INVALID,
                                       "%lld out of range for %s",
                                       (long long)v->u.i,
                                       thrift__kind_name(t->kind));
        return THRIFT_OK;
    case THRIFT_KIND_DOUBLE: {
        NEED(r, 8);
        uint64_t bits = get_le64(r->p);
        memcpy(&v->u.d, &bits, 8);
        r->p += 8;
        return THRIFT_OK;
    }
    case THRIFT_KIND_STRING:
    case THRIFT_KIND_BINARY: {
        uint32_t len;
        st = read_size(r, &len, "string");
        if (THRIFT_UNLIKELY(st != THRIFT_OK))
            return st;
        if (THRIFT_UNLIKELY((size_t)len > r->opts->max_string_size ||
                            (size_t)(r->end - r->p) < (size_t)len)) {
            st = thrift__reader_check_len(r, len, r->opts->max_string_size,
                                          "string");
            if (st != THRIFT_OK)
                return st;
        }
        if (r->opts->zero_copy || len == 0) {
            v->u.bytes.ptr = r->p;
        } else {
            uint8_t *copy = thrift__arena_alloc(r->arena, len);
            if (THRIFT_UNLIKELY(!copy))
                return thrift__reader_fail(r, THRIFT_NOMEM, "out of memory");
            memcpy(copy, r->p, len);
            v->u.bytes.ptr = copy;
        }
        v->u.bytes.len = len;
        r->p += len;
        return THRIFT_OK;
    }
    case THRIFT_KIND_UUID:
        NEED(r, 16);
        memcpy(v->u.uuid, r->p, 16);
        r->p += 16;
        return THRIFT_OK;
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET: {
        const uint8_t *start = r->p;
        const thrift_type_def_t *et = t->elem->resolved;
        unsigned wire;
        uint32_t count = 0;
        st = read_list_header(r, &wire, &count);
        if (st != THRIFT_OK)
            return st;
        if (THRIFT_UNLIKELY(count && wire != et->wire_type)) {
            r->p = start;
            return thrift__reader_fail(r, THRIFT_TYPE,
                                       "expected %s elements, got wire type %u",
                                       et->name, wire);
        }
        thrift_value_t *items = NULL;
        if (count) {
            items = thrift__arena_alloc(r->arena, sizeof(thrift_value_t) * count);
            if (THRIFT_UNLIKELY(!items))
                return thrift__reader_fail(r, THRIFT_NOMEM, "out of memory");
        }
        v->u.c.items = items;
        v->u.c.cap = count;
        v->count = 0;
        if (THRIFT_UNLIKELY(++r->depth > r->opts->max_depth))
            return thrift__reader_fail(r, THRIFT_LIMIT, "nesting deeper than %u",
                                       r->opts->max_depth);
        for (uint32_t i = 0; i < count; i++) {
            items[i].flags = 0;
            st = dec_value(r, &items[i], et);
            if (THRIFT_UNLIKELY(st != THRIFT_OK)) {
                thrift__path_index(r, i);
                return st;
            }
            v->count = i + 1;
        }
        r->depth--;
        return THRIFT_OK;
    }
    case THRIFT_KIND_MAP: {
        const uint8_t *start = r->p;
        const thrift_type_def_t *kt = t->key->resolved, *vt = t->value->resolved;
        unsigned kw, vw;
        uint32_t count = 0;
        st = read_map_header(r, &kw, &vw, &count);
        if (st != THRIFT_OK)
            return st;
        if (THRIFT_UNLIKELY(count && (kw != kt->wire_type || vw != vt->wire_type))) {
            r->p = start;
            return thrift__reader_fail(r, THRIFT_TYPE,
                                       "expected map<%s,%s>, got wire types %u,%u",
                                       kt->name, vt->name, kw, vw);
        }
        thrift_value_t *items = NULL;
        if (count) {
            items = thrift__arena_alloc(r->arena,
                                        sizeof(thrift_value_t) * 2 * (size_t)count);
            if (THRIFT_UNLIKELY(!items))
                return thrift__reader_fail(r, THRIFT_NOMEM, "out of memory");
        }
        v->u.c.items = items;
        v->u.c.cap = count;
        v->count = 0;
        if (THRIFT_UNLIKELY(++r->depth > r->opts->max_depth))
            return thrift__reader_fail(r, THRIFT_LIMIT, "nesting deeper than %u",
                                       r->opts->max_depth);
        for (uint32_t i = 0; i < count; i++) {
            items[2 * i].flags = items[2 * i + 1].flags = 0;
            st = dec_value(r, &items[2 * i], kt);
            if (st == THRIFT_OK)
                st = dec_value(r, &items[2 * i + 1], vt);
            if (THRIFT_UNLIKELY(st != THRIFT_OK)) {
                thrift__path_index(r, i);
                return st;
            }
            v->count = i + 1;
        }
        r->depth--;
        return THRIFT_OK;
    }
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION:
        return dec_struct(r, v, t);
    default:
        return thrift__reader_fail(r, THRIFT_TYPE, "cannot decode a %s",
                                   thrift__kind_name(t->kind));
    }
}

thrift_status_t thrift__compact_decode_value(thrift__reader_t *r,
                                             thrift_value_t *v,
                                             const thrift_type_def_t *t) {
    v->flags = 0;
    return dec_value(r, v, t->resolved);
}

/* ---- skip ------------------------------------------------------------------ */

static thrift_status_t skip_value(thrift__reader_t *r, unsigned wire) {
    uint64_t u = 0;
    thrift_status_t st;
    switch (wire) {
    case THRIFT_TYPE_BOOL: /* an element: one byte (a field: none) */
    case THRIFT_TYPE_BYTE:
        NEED(r, 1);
        r->p += 1;
        return THRIFT_OK;
    case THRIFT_TYPE_I16:
    case THRIFT_TYPE_I32:
    case THRIFT_TYPE_I64:
        return read_varint(r, &u);
    case THRIFT_TYPE_DOUBLE:
        NEED(r, 8);
        r->p += 8;
        return THRIFT_OK;
    case THRIFT_TYPE_UUID:
        NEED(r, 16);
        r->p += 16;
        return THRIFT_OK;
    case THRIFT_TYPE_STRING: {
        uint32_t len;
        st = read_size(r, &len, "string");
        if (st != THRIFT_OK)
            return st;
        st = thrift__reader_check_len(r, len, r->opts->max_string_size, "string");
        if (st != THRIFT_OK)
            return st;
        r->p += len;
        return THRIFT_OK;
    }
    case THRIFT_TYPE_STRUCT: {
        if (++r->depth > r->opts->max_depth)
            return thrift__reader_fail(r, THRIFT_LIMIT, "nesting deeper than %u",
                                       r->opts->max_depth);
        int last = 0;
        for (;;) {
            NEED(r, 1);
            unsigned b = *r->p++;
            if (b == CT_STOP)
                break;
            unsigned fw = ctype_wire[b & 0x0f];
            st = read_field_header(r, b, &last);
            if (st != THRIFT_OK)
                return st;
            if (!fw) {
                return thrift__reader_fail(r, THRIFT_INVALID,
                                           "invalid compact type %u", b & 0x0f);
            }
            if (fw == THRIFT_TYPE_BOOL)
                continue;
            st = skip_value(r, fw);
            if (st != THRIFT_OK)
                return st;
        }
        r->depth--;
        return THRIFT_OK;
    }
    case THRIFT_TYPE_LIST:
    case THRIFT_TYPE_SET:
    case THRIFT_TYPE_MAP: {
        unsigned kw, vw = 0;
        uint32_t count = 0;
        if (wire == THRIFT_TYPE_MAP)
            st = read_map_header(r, &kw, &vw, &count);
        else
            st = read_list_header(r, &kw, &count);
        if (st != THRIFT_OK)
            return st;
        if (++r->depth > r->opts->max_depth)
            return thrift__reader_fail(r, THRIFT_LIMIT, "nesting deeper than %u",
                                       r->opts->max_depth);
        for (uint32_t i = 0; i < count; i++) {
            st = skip_value(r, kw);
            if (st == THRIFT_OK && wire == THRIFT_TYPE_MAP)
                st = skip_value(r, vw);
            if (st != THRIFT_OK)
                return st;
        }
        r->depth--;
        return THRIFT_OK;
    }
    default:
        return thrift__reader_fail(r, THRIFT_INVALID, "invalid wire type %u",
                                   wire);
    }
}

thrift_status_t thrift__compact_skip(thrift__reader_t *r, unsigned wire) {
    return skip_value(r, wire);
}

/* ---- messages -------------------------------------------------------------- */

thrift_status_t thrift__compact_write_message_begin(thrift__writer_t *w,
                                                    const char *name,
                                                    size_t name_len,
                                                    unsigned type,
                                                    int32_t seqid,
                                                    bool strict) {
    (void)strict;
    if (name_len > INT32_MAX)
        return thrift__error_set(w->err, THRIFT_LIMIT, "method name too long");
    if (!thrift__ensure(w, 2 + 5 + 5 + name_len))
        return THRIFT_NOMEM;
    uint8_t *p = w->p;
    *p++ = PROTOCOL_ID;
    *p++ = (uint8_t)(VERSION | (type << 5));
    /* The seqid goes out as an unsigned varint of its 32 bits. */
    p = put_varint(p, (uint32_t)seqid);
    p = put_varint(p, name_len);
    memcpy(p, name, name_len);
    w->p = p + name_len;
    return THRIFT_OK;
}

thrift_status_t thrift__compact_write_message_end(thrift__writer_t *w) {
    (void)w;
    return THRIFT_OK;
}

thrift_status_t thrift__compact_read_message_begin(thrift__reader_t *r,
                                                   thrift_message_header_t *hdr) {
    NEED(r, 2);
    if (r->p[0] != PROTOCOL_ID)
        return thrift__reader_fail(r, THRIFT_INVALID,
                                   "bad compact protocol id 0x%02x", r->p[0]);
    unsigned vt = r->p[1];
    if ((vt & 0x1f) != VERSION)
        return thrift__reader_fail(r, THRIFT_INVALID,
                                   "bad compact protocol version %u", vt & 0x1f);
    unsigned type = (vt >> 5) & 0x07;
    if (type < THRIFT_MSG_CALL || type > THRIFT_MSG_ONEWAY)
        return thrift__reader_fail(r, THRIFT_INVALID, "bad message type %u", type);
    r->p += 2;
    uint64_t seq = 0;
    thrift_status_t st = read_varint(r, &seq);
    if (st != THRIFT_OK)
        return st;
    if (seq > UINT32_MAX)
        return thrift__reader_fail(r, THRIFT_INVALID, "seqid out of range");
    uint32_t len;
    st = read_size(r, &len, "method name");
    if (st != THRIFT_OK)
        return st;
    st = thrift__reader_check_len(r, len, r->opts->max_string_size,
                                  "method name");
    if (st != THRIFT_OK)
        return st;
    hdr->name = (const char *)r->p;
    hdr->name_len = len;
    hdr->type = (thrift_message_type_t)type;
    hdr->seqid = (int32_t)(uint32_t)seq;
    r->p += len;
    return THRIFT_OK;
}

thrift_status_t thrift__compact_read_message_end(thrift__reader_t *r) {
    (void)r;
    return THRIFT_OK;
}
