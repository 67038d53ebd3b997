/* TCompactProtocol: zigzag varints, field-id deltas folded with the type
 * into one byte, bools folded into field headers, little-endian doubles. */
#include "proto/proto_impl.h"

#define PROTOCOL_ID 0x82
#define VERSION 1

/* Compact type code of a value kind (bools: TRUE, as in containers). */
static const uint8_t kind_ctype[THRIFT_KIND_TYPEDEF + 1] = {
    [THRIFT_KIND_BOOL] = THRIFT__CT_TRUE,     [THRIFT_KIND_I8] = THRIFT__CT_BYTE,
    [THRIFT_KIND_I16] = THRIFT__CT_I16,       [THRIFT_KIND_I32] = THRIFT__CT_I32,
    [THRIFT_KIND_I64] = THRIFT__CT_I64,       [THRIFT_KIND_DOUBLE] = THRIFT__CT_DOUBLE,
    [THRIFT_KIND_STRING] = THRIFT__CT_BINARY, [THRIFT_KIND_BINARY] = THRIFT__CT_BINARY,
    [THRIFT_KIND_UUID] = THRIFT__CT_UUID,     [THRIFT_KIND_ENUM] = THRIFT__CT_I32,
    [THRIFT_KIND_LIST] = THRIFT__CT_LIST,     [THRIFT_KIND_SET] = THRIFT__CT_SET,
    [THRIFT_KIND_MAP] = THRIFT__CT_MAP,       [THRIFT_KIND_STRUCT] = THRIFT__CT_STRUCT,
    [THRIFT_KIND_UNION] = THRIFT__CT_STRUCT,  [THRIFT_KIND_EXCEPTION] = THRIFT__CT_STRUCT,
};

/* Wire type of a compact type code; STOP (0) for codes that are not types. */
static const uint8_t ctype_wire[16] = {
    [THRIFT__CT_TRUE] = THRIFT_TYPE_BOOL,     [THRIFT__CT_FALSE] = THRIFT_TYPE_BOOL,
    [THRIFT__CT_BYTE] = THRIFT_TYPE_BYTE,     [THRIFT__CT_I16] = THRIFT_TYPE_I16,
    [THRIFT__CT_I32] = THRIFT_TYPE_I32,       [THRIFT__CT_I64] = THRIFT_TYPE_I64,
    [THRIFT__CT_DOUBLE] = THRIFT_TYPE_DOUBLE, [THRIFT__CT_BINARY] = THRIFT_TYPE_STRING,
    [THRIFT__CT_LIST] = THRIFT_TYPE_LIST,     [THRIFT__CT_SET] = THRIFT_TYPE_SET,
    [THRIFT__CT_MAP] = THRIFT_TYPE_MAP,       [THRIFT__CT_STRUCT] = THRIFT_TYPE_STRUCT,
    [THRIFT__CT_UUID] = THRIFT_TYPE_UUID,
};

/* proto_impl.h declares it: the streaming writer uses it too. */
const uint8_t thrift__wire_ctype[17] = {
    [THRIFT_TYPE_BOOL] = THRIFT__CT_TRUE,     [THRIFT_TYPE_BYTE] = THRIFT__CT_BYTE,
    [THRIFT_TYPE_I16] = THRIFT__CT_I16,       [THRIFT_TYPE_I32] = THRIFT__CT_I32,
    [THRIFT_TYPE_I64] = THRIFT__CT_I64,       [THRIFT_TYPE_DOUBLE] = THRIFT__CT_DOUBLE,
    [THRIFT_TYPE_STRING] = THRIFT__CT_BINARY, [THRIFT_TYPE_LIST] = THRIFT__CT_LIST,
    [THRIFT_TYPE_SET] = THRIFT__CT_SET,       [THRIFT_TYPE_MAP] = THRIFT__CT_MAP,
    [THRIFT_TYPE_STRUCT] = THRIFT__CT_STRUCT, [THRIFT_TYPE_UUID] = THRIFT__CT_UUID,
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

/* enc_value is inlined where values occur, like dec_value: scalars cost no
 * call; structs, lists and maps have one out-of-line function each. */
static thrift_status_t enc_struct(thrift__writer_t *w, const thrift_value_t *v);
static thrift_status_t enc_list(thrift__writer_t *w, const thrift_value_t *v);
static thrift_status_t enc_map(thrift__writer_t *w, const thrift_value_t *v);

THRIFT__INLINE thrift_status_t enc_value(thrift__writer_t *w,
                                         const thrift_value_t *v) {
    /* 16 bytes cover every fixed-size value and every container header. */
    if (THRIFT_UNLIKELY(!thrift__ensure(w, 16)))
        return THRIFT_NOMEM;
    uint8_t *p = w->p;
    switch (v->kind) {
    case THRIFT_KIND_BOOL:
        *p = v->u.b ? THRIFT__CT_TRUE : THRIFT__CT_FALSE;
        w->p = p + 1;
        return THRIFT_OK;
    case THRIFT_KIND_I8:
        *p = (uint8_t)v->u.i;
        w->p = p + 1;
        return THRIFT_OK;
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
    case THRIFT_KIND_ENUM:
        w->p = thrift__put_varint(p, thrift__zigzag32((int32_t)v->u.i));
        return THRIFT_OK;
    case THRIFT_KIND_I64:
        w->p = thrift__put_varint(p, thrift__zigzag64(v->u.i));
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
        p = thrift__put_varint(p, len);
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
    case THRIFT_KIND_SET:
        return enc_list(w, v);
    case THRIFT_KIND_MAP:
        return enc_map(w, v);
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION:
        return enc_struct(w, v);
    default:
        return thrift__wfail_kind(w, v->kind);
    }
}

/* A field header: the id's delta from the previous field (*last) and the
 * type code in one byte when the delta is 1..15, else the type code then the
 * id as a zigzag varint.  A bool's value is its type code. */
static inline thrift_status_t put_field_hdr(thrift__writer_t *w,
                                            const thrift_value_t *slot,
                                            const thrift_field_def_t *f,
                                            int *last) {
    if (THRIFT_UNLIKELY(!thrift__ensure(w, 4)))
        return THRIFT_NOMEM;
    unsigned ct = kind_ctype[slot->kind];
    if (slot->kind == THRIFT_KIND_BOOL)
        ct = slot->u.b ? THRIFT__CT_TRUE : THRIFT__CT_FALSE;
    int id = f->id;
    int delta = id - *last;
    uint8_t *p = w->p;
    if (delta > 0 && delta <= 15) {
        *p++ = (uint8_t)(delta << 4 | ct);
    } else {
        *p++ = (uint8_t)ct;
        p = thrift__put_varint(p, thrift__zigzag32((int16_t)id));
    }
    w->p = p;
    *last = id;
    return THRIFT_OK;
}

static thrift_status_t enc_field(thrift__writer_t *w, const thrift_value_t *v) {
    if (v->kind == THRIFT_KIND_BOOL) /* written with the header */
        return THRIFT_OK;
    return enc_value(w, v);
}

static THRIFT__NOINLINE thrift_status_t enc_struct(thrift__writer_t *w,
                                                   const thrift_value_t *v) {
    return thrift__enc_fields_stop(w, v, put_field_hdr, enc_field);
}

/* Lists and maps: enc_value made room for their header. */
static THRIFT__NOINLINE thrift_status_t enc_list(thrift__writer_t *w,
                                                 const thrift_value_t *v) {
    uint8_t *p = w->p;
    unsigned et = thrift__wire_ctype[v->type->elem->resolved->wire_type];
    uint32_t n = v->count;
    if (n <= 14) {
        *p++ = (uint8_t)(n << 4 | et);
    } else {
        *p++ = (uint8_t)(0xf0 | et);
        p = thrift__put_varint(p, n);
    }
    w->p = p;
    return thrift__enc_items(w, v->u.c.items, n, 1, enc_value);
}

static THRIFT__NOINLINE thrift_status_t enc_map(thrift__writer_t *w,
                                                const thrift_value_t *v) {
    uint8_t *p = w->p;
    uint32_t n = v->count;
    if (n == 0) {
        *p = 0;
        w->p = p + 1;
        return THRIFT_OK;
    }
    p = thrift__put_varint(p, n);
    *p++ = (uint8_t)(thrift__wire_ctype[v->type->key->resolved->wire_type] << 4 |
                     thrift__wire_ctype[v->type->value->resolved->wire_type]);
    w->p = p;
    return thrift__enc_items(w, v->u.c.items, n, 2, enc_value);
}

thrift_status_t thrift__compact_encode_value(thrift__writer_t *w,
                                             const thrift_value_t *v) {
    return enc_value(w, v);
}

/* ---- decode ----------------------------------------------------------------
 * dec_value is inlined where values occur (struct fields, container
 * elements): scalars cost no call.  Structs and containers get one
 * out-of-line function each, the only places that pay for a call. */

static thrift_status_t read_varint_long(thrift__reader_t *r, uint64_t *out) {
    const uint8_t *p = r->p;
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

/* Most varints are one byte: that case inline, the rest out of line. */
static inline thrift_status_t read_varint(thrift__reader_t *r, uint64_t *out) {
    const uint8_t *p = r->p;
    if (THRIFT_LIKELY(r->end - p >= 1 && p[0] < 0x80)) {
        *out = p[0];
        r->p = p + 1;
        return THRIFT_OK;
    }
    return read_varint_long(r, out);
}

static inline thrift_status_t read_size(thrift__reader_t *r, uint32_t *out,
                                        const char *what) {
    uint64_t n = 0;
    thrift_status_t st = read_varint(r, &n);
    if (st != THRIFT_OK)
        return st;
    if (n > INT32_MAX)
        return thrift__reader_fail(r, THRIFT_INVALID,
                                   "%s size %llu is invalid (larger than "
                                   "2147483647)",
                                   what, (unsigned long long)n);
    *out = (uint32_t)n;
    return THRIFT_OK;
}

static thrift_status_t dec_struct(thrift__reader_t *r, thrift_value_t *v,
                                  const thrift_type_def_t *t);
static thrift_status_t dec_list(thrift__reader_t *r, thrift_value_t *v,
                                const thrift_type_def_t *t);
static thrift_status_t dec_map(thrift__reader_t *r, thrift_value_t *v,
                               const thrift_type_def_t *t);
static thrift_status_t skip_value(thrift__reader_t *r, unsigned wire);

THRIFT__INLINE thrift_status_t dec_value(thrift__reader_t *r, thrift_value_t *v,
                                         const thrift_type_def_t *t) {
    v->type = t;
    v->kind = t->kind;
    thrift_status_t st;
    uint64_t u = 0;
    switch (t->kind) {
    case THRIFT_KIND_BOOL:
        THRIFT__NEED(r, 1);
        v->u.i = 0;
        v->u.b = *r->p++ == THRIFT__CT_TRUE;
        return THRIFT_OK;
    case THRIFT_KIND_I8:
        THRIFT__NEED(r, 1);
        v->u.i = (int8_t)*r->p++;
        return THRIFT_OK;
    case THRIFT_KIND_I64:
        st = read_varint(r, &u);
        if (THRIFT_UNLIKELY(st != THRIFT_OK))
            return st;
        v->u.i = thrift__unzigzag(u);
        return THRIFT_OK;
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
    case THRIFT_KIND_ENUM:
        st = read_varint(r, &u);
        if (THRIFT_UNLIKELY(st != THRIFT_OK))
            return st;
        v->u.i = thrift__unzigzag(u);
        /* in range when narrowing to the declared width keeps the value */
        if (THRIFT_UNLIKELY(v->u.i != (t->kind == THRIFT_KIND_I16
                                           ? (int16_t)v->u.i
                                           : (int32_t)v->u.i)))
            return thrift__reader_fail(r, THRIFT_INVALID,
                                       "%lld out of range for %s",
                                       (long long)v->u.i,
                                       thrift__kind_name(t->kind));
        return THRIFT_OK;
    case THRIFT_KIND_DOUBLE: {
        THRIFT__NEED(r, 8);
        uint64_t bits = get_le64(r->p);
        memcpy(&v->u.d, &bits, 8);
        r->p += 8;
        return THRIFT_OK;
    }
    case THRIFT_KIND_STRING:
    case THRIFT_KIND_BINARY: {
        uint32_t len = 0;
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
                return thrift__fail_nomem(r);
            memcpy(copy, r->p, len);
            v->u.bytes.ptr = copy;
        }
        v->u.bytes.len = len;
        r->p += len;
        return THRIFT_OK;
    }
    case THRIFT_KIND_UUID:
        THRIFT__NEED(r, 16);
        memcpy(v->u.uuid, r->p, 16);
        r->p += 16;
        return THRIFT_OK;
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET:
        return dec_list(r, v, t);
    case THRIFT_KIND_MAP:
        return dec_map(r, v, t);
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION:
        return dec_struct(r, v, t);
    default:
        return thrift__fail_kind(r, t);
    }
}

/* A field header: one byte with the type code and, when it fits, the id's
 * delta from the previous field (h->id); else the id follows as a zigzag
 * varint. */
static inline thrift_status_t read_field_hdr(thrift__reader_t *r,
                                             thrift__field_hdr_t *h) {
    THRIFT__NEED(r, 1);
    h->at = r->p;
    unsigned b = *r->p++;
    if (b == THRIFT__CT_STOP) {
        h->wire = THRIFT_TYPE_STOP;
        return THRIFT_OK;
    }
    h->aux = b & 0x0f;
    h->wire = ctype_wire[h->aux];
    if (b >> 4) {
        h->id += (int)(b >> 4);
    } else {
        uint64_t z = 0;
        thrift_status_t st = read_varint(r, &z);
        if (st != THRIFT_OK)
            return st;
        int64_t id = thrift__unzigzag(z);
        if (id < INT16_MIN || id > INT16_MAX)
            return thrift__reader_fail(r, THRIFT_INVALID,
                                       "field id %lld out of range",
                                       (long long)id);
        h->id = (int)id;
    }
    if (THRIFT_UNLIKELY(h->wire == 0)) {
        r->p = h->at;
        return thrift__reader_fail(r, THRIFT_INVALID, "invalid compact type %u",
                                   h->aux);
    }
    return THRIFT_OK;
}

/* A field: a bool's value is its header's type code (aux). */
static thrift_status_t dec_field(thrift__reader_t *r, thrift_value_t *slot,
                                 const thrift_type_def_t *ft, unsigned aux) {
    if (ft->kind == THRIFT_KIND_BOOL) {
        slot->type = ft;
        slot->kind = ft->kind;
        slot->u.i = 0;
        slot->u.b = aux == THRIFT__CT_TRUE;
        return THRIFT_OK;
    }
    return dec_value(r, slot, ft);
}

static thrift_status_t skip_field(thrift__reader_t *r, unsigned wire) {
    /* A bool field's value is in its header: nothing to skip. */
    if (wire == THRIFT_TYPE_BOOL)
        return THRIFT_OK;
    return skip_value(r, wire);
}

static thrift_status_t dec_elem(thrift__reader_t *r, thrift_value_t *item,
                                const thrift_type_def_t *t, unsigned aux) {
    (void)aux;
    return dec_value(r, item, t);
}

static THRIFT__NOINLINE thrift_status_t dec_struct(thrift__reader_t *r,
                                                   thrift_value_t *v,
                                                   const thrift_type_def_t *t) {
    return thrift__dec_struct(r, v, t, read_field_hdr, dec_field, skip_field);
}

/* Reads a list/set header: element wire type and count. */
static thrift_status_t read_list_header(thrift__reader_t *r, unsigned *wire,
                                        uint32_t *count) {
    THRIFT__NEED(r, 1);
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
    return thrift__check_count(r, *count,
                               wire_min(*wire) ? wire_min(*wire) : 1);
}

static thrift_status_t read_map_header(thrift__reader_t *r, unsigned *kw,
                                       unsigned *vw, uint32_t *count) {
    thrift_status_t st = read_size(r, count, "map");
    if (st != THRIFT_OK)
        return st;
    *kw = *vw = 0;
    if (*count == 0)
        return THRIFT_OK;
    THRIFT__NEED(r, 1);
    unsigned b = *r->p++;
    *kw = ctype_wire[b >> 4];
    *vw = ctype_wire[b & 0x0f];
    if (!*kw || !*vw) {
        r->p--;
        return thrift__reader_fail(r, THRIFT_INVALID,
                                   "invalid compact map types 0x%02x", b);
    }
    return thrift__check_count(r, *count, wire_min(*kw) + wire_min(*vw));
}

static THRIFT__NOINLINE thrift_status_t dec_list(thrift__reader_t *r,
                                                 thrift_value_t *v,
                                                 const thrift_type_def_t *t) {
    const uint8_t *start = r->p;
    unsigned wire;
    uint32_t count = 0;
    thrift_status_t st = read_list_header(r, &wire, &count);
    if (st != THRIFT_OK)
        return st;
    return thrift__dec_list(r, v, t, start, wire, count, dec_elem);
}

static THRIFT__NOINLINE thrift_status_t dec_map(thrift__reader_t *r,
                                                thrift_value_t *v,
                                                const thrift_type_def_t *t) {
    const uint8_t *start = r->p;
    unsigned kw, vw;
    uint32_t count = 0;
    thrift_status_t st = read_map_header(r, &kw, &vw, &count);
    if (st != THRIFT_OK)
        return st;
    return thrift__dec_map(r, v, t, start, kw, vw, count, dec_elem, dec_elem);
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
    case THRIFT_TYPE_DOUBLE:
    case THRIFT_TYPE_UUID:
        /* fixed widths: their smallest size is their size */
        return thrift__skip_bytes(r, min_size[wire]);
    case THRIFT_TYPE_I16:
    case THRIFT_TYPE_I32:
    case THRIFT_TYPE_I64:
        return read_varint(r, &u);
    case THRIFT_TYPE_STRING: {
        uint32_t len = 0;
        st = read_size(r, &len, "string");
        if (st != THRIFT_OK)
            return st;
        st = thrift__reader_check_len(r, len, r->opts->max_string_size, "string");
        if (st != THRIFT_OK)
            return st;
        r->p += len;
        return THRIFT_OK;
    }
    case THRIFT_TYPE_STRUCT:
        return thrift__skip_struct(r, read_field_hdr, skip_field);
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
        return thrift__skip_items(r, count, kw, vw, skip_value);
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
    p = thrift__put_varint(p, (uint32_t)seqid);
    p = thrift__put_varint(p, name_len);
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
    THRIFT__NEED(r, 2);
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
    uint32_t len = 0;
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

/* ---- the streaming reader's pieces (reader.c) ------------------------------- */

thrift_status_t thrift__compact_read_field_hdr(thrift__reader_t *r, thrift__field_hdr_t *h) {
    return read_field_hdr(r, h);
}

bool thrift__compact_bool_code(unsigned aux) {
    return aux == THRIFT__CT_TRUE;
}

thrift_status_t thrift__compact_read_list_hdr(thrift__reader_t *r, unsigned *wire,
                                              uint32_t *count) {
    return read_list_header(r, wire, count);
}

thrift_status_t thrift__compact_read_map_hdr(thrift__reader_t *r, unsigned *kw, unsigned *vw,
                                             uint32_t *count) {
    return read_map_header(r, kw, vw, count);
}

thrift_status_t thrift__compact_read_varint(thrift__reader_t *r, uint64_t *out) {
    return read_varint(r, out);
}

thrift_status_t thrift__compact_read_size(thrift__reader_t *r, uint32_t *out) {
    return read_size(r, out, "string");
}

double thrift__compact_double(const uint8_t *p) {
    uint64_t bits = get_le64(p);
    double d;
    memcpy(&d, &bits, 8);
    return d;
}
