/* TBinaryProtocol: big-endian fixed-width integers, i32 length prefixes,
 * one type byte and an i16 id per field. */
#include "proto/proto_impl.h"

#define VERSION_1 0x80010000u
#define VERSION_MASK 0xffff0000u

/* The fewest bytes one element of a wire type takes; 0: not a type. */
static const uint8_t min_size[17] = {
    [THRIFT_TYPE_BOOL] = 1,   [THRIFT_TYPE_BYTE] = 1,  [THRIFT_TYPE_DOUBLE] = 8,
    [THRIFT_TYPE_I16] = 2,    [THRIFT_TYPE_I32] = 4,   [THRIFT_TYPE_I64] = 8,
    [THRIFT_TYPE_STRING] = 4, [THRIFT_TYPE_STRUCT] = 1, [THRIFT_TYPE_MAP] = 6,
    [THRIFT_TYPE_SET] = 5,    [THRIFT_TYPE_LIST] = 5,  [THRIFT_TYPE_UUID] = 16,
};

static inline unsigned wire_min(unsigned wire) {
    return wire < sizeof min_size ? min_size[wire] : 0;
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
        *p = v->u.b ? 1 : 0;
        w->p = p + 1;
        return THRIFT_OK;
    case THRIFT_KIND_I8:
        *p = (uint8_t)v->u.i;
        w->p = p + 1;
        return THRIFT_OK;
    case THRIFT_KIND_I16:
        thrift__put_be16(p, (uint16_t)v->u.i);
        w->p = p + 2;
        return THRIFT_OK;
    case THRIFT_KIND_I32:
    case THRIFT_KIND_ENUM:
        thrift__put_be32(p, (uint32_t)v->u.i);
        w->p = p + 4;
        return THRIFT_OK;
    case THRIFT_KIND_I64:
        thrift__put_be64(p, (uint64_t)v->u.i);
        w->p = p + 8;
        return THRIFT_OK;
    case THRIFT_KIND_DOUBLE: {
        uint64_t bits;
        memcpy(&bits, &v->u.d, 8);
        thrift__put_be64(p, bits);
        w->p = p + 8;
        return THRIFT_OK;
    }
    case THRIFT_KIND_STRING:
    case THRIFT_KIND_BINARY: {
        size_t len = v->u.bytes.len;
        if (THRIFT_UNLIKELY(len > INT32_MAX))
            return thrift__error_set(w->err, THRIFT_LIMIT,
                                     "string of %zu bytes is too long", len);
        if (len > 12) {
            if (THRIFT_UNLIKELY(!thrift__ensure(w, 4 + len)))
                return THRIFT_NOMEM;
            p = w->p;
        }
        thrift__put_be32(p, (uint32_t)len);
        if (len)
            memcpy(p + 4, v->u.bytes.ptr, len);
        w->p = p + 4 + len;
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

/* A field header: the type byte, the i16 id. */
static inline thrift_status_t put_field_hdr(thrift__writer_t *w,
                                            const thrift_value_t *slot,
                                            const thrift_field_def_t *f,
                                            int *state) {
    (void)state;
    if (THRIFT_UNLIKELY(!thrift__ensure(w, 3)))
        return THRIFT_NOMEM;
    w->p[0] = thrift__kind_wire[slot->kind];
    thrift__put_be16(w->p + 1, (uint16_t)f->id);
    w->p += 3;
    return THRIFT_OK;
}

static THRIFT__NOINLINE thrift_status_t enc_struct(thrift__writer_t *w,
                                                   const thrift_value_t *v) {
    return thrift__enc_fields_stop(w, v, put_field_hdr, enc_value);
}

/* Lists and maps: enc_value made room for their header. */
static THRIFT__NOINLINE thrift_status_t enc_list(thrift__writer_t *w,
                                                 const thrift_value_t *v) {
    uint8_t *p = w->p;
    const thrift_type_def_t *et = v->type->elem->resolved;
    p[0] = et->wire_type;
    thrift__put_be32(p + 1, v->count);
    w->p = p + 5;
    return thrift__enc_items(w, v->u.c.items, v->count, 1, enc_value);
}

static THRIFT__NOINLINE thrift_status_t enc_map(thrift__writer_t *w,
                                                const thrift_value_t *v) {
    uint8_t *p = w->p;
    p[0] = v->type->key->resolved->wire_type;
    p[1] = v->type->value->resolved->wire_type;
    thrift__put_be32(p + 2, v->count);
    w->p = p + 6;
    return thrift__enc_items(w, v->u.c.items, v->count, 2, enc_value);
}

thrift_status_t thrift__binary_encode_value(thrift__writer_t *w,
                                            const thrift_value_t *v) {
    return enc_value(w, v);
}

/* ---- decode ----------------------------------------------------------------
 * dec_value is inlined where values occur (struct fields, container
 * elements): scalars cost no call.  Structs and containers get one
 * out-of-line function each, the only places that pay for a call. */

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
    const uint8_t *p = r->p;
    switch (t->kind) {
    case THRIFT_KIND_BOOL:
        THRIFT__NEED(r, 1);
        v->u.i = 0;
        v->u.b = *p != 0;
        r->p = p + 1;
        return THRIFT_OK;
    case THRIFT_KIND_I8:
        THRIFT__NEED(r, 1);
        v->u.i = (int8_t)*p;
        r->p = p + 1;
        return THRIFT_OK;
    case THRIFT_KIND_I16:
        THRIFT__NEED(r, 2);
        v->u.i = (int16_t)thrift__get_be16(p);
        r->p = p + 2;
        return THRIFT_OK;
    case THRIFT_KIND_I32:
    case THRIFT_KIND_ENUM:
        THRIFT__NEED(r, 4);
        v->u.i = (int32_t)thrift__get_be32(p);
        r->p = p + 4;
        return THRIFT_OK;
    case THRIFT_KIND_I64:
        THRIFT__NEED(r, 8);
        v->u.i = (int64_t)thrift__get_be64(p);
        r->p = p + 8;
        return THRIFT_OK;
    case THRIFT_KIND_DOUBLE: {
        THRIFT__NEED(r, 8);
        uint64_t bits = thrift__get_be64(p);
        memcpy(&v->u.d, &bits, 8);
        r->p = p + 8;
        return THRIFT_OK;
    }
    case THRIFT_KIND_STRING:
    case THRIFT_KIND_BINARY: {
        THRIFT__NEED(r, 4);
        int32_t len = (int32_t)thrift__get_be32(p);
        if (THRIFT_UNLIKELY(len < 0))
            return thrift__reader_fail(r, THRIFT_INVALID,
                                       "negative string length %d", (int)len);
        r->p = p + 4;
        if (THRIFT_UNLIKELY((size_t)len > r->opts->max_string_size ||
                            (size_t)(r->end - r->p) < (size_t)len)) {
            thrift_status_t st = thrift__reader_check_len(
                r, (uint64_t)len, r->opts->max_string_size, "string");
            if (st != THRIFT_OK)
                return st;
        }
        if (r->opts->zero_copy || len == 0) {
            v->u.bytes.ptr = r->p;
        } else {
            uint8_t *copy = thrift__arena_alloc(r->arena, (size_t)len);
            if (THRIFT_UNLIKELY(!copy))
                return thrift__fail_nomem(r);
            memcpy(copy, r->p, (size_t)len);
            v->u.bytes.ptr = copy;
        }
        v->u.bytes.len = (size_t)len;
        r->p += len;
        return THRIFT_OK;
    }
    case THRIFT_KIND_UUID:
        THRIFT__NEED(r, 16);
        memcpy(v->u.uuid, p, 16);
        r->p = p + 16;
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

/* A field header: the type byte, then (but after STOP) the i16 id. */
static inline thrift_status_t read_field_hdr(thrift__reader_t *r,
                                             thrift__field_hdr_t *h) {
    THRIFT__NEED(r, 1);
    h->at = r->p;
    h->wire = *r->p;
    if (h->wire == THRIFT_TYPE_STOP) {
        r->p++;
        return THRIFT_OK;
    }
    THRIFT__NEED(r, 3);
    h->id = (int16_t)thrift__get_be16(r->p + 1);
    r->p += 3;
    return THRIFT_OK;
}

static thrift_status_t dec_item(thrift__reader_t *r, thrift_value_t *v,
                                const thrift_type_def_t *t, unsigned aux) {
    (void)aux;
    return dec_value(r, v, t);
}

static THRIFT__NOINLINE thrift_status_t dec_struct(thrift__reader_t *r,
                                                   thrift_value_t *v,
                                                   const thrift_type_def_t *t) {
    return thrift__dec_struct(r, v, t, read_field_hdr, dec_item, skip_value);
}

/* The i32 element count of a container header, bounded by the limits and
 * by `elem_min` bytes an element against the bytes left. */
static thrift_status_t read_count(thrift__reader_t *r, uint32_t *out,
                                  unsigned elem_min) {
    int32_t n = (int32_t)thrift__get_be32(r->p);
    if (THRIFT_UNLIKELY(n < 0))
        return thrift__reader_fail(r, THRIFT_INVALID,
                                   "negative container size %d", (int)n);
    if (THRIFT_UNLIKELY((size_t)n > r->opts->max_container_size))
        return thrift__fail_count(r, (uint64_t)n);
    r->p += 4;
    thrift_status_t st =
        thrift__reader_check_len(r, (uint64_t)n * elem_min,
                                 r->opts->max_message_size, "container");
    if (st != THRIFT_OK)
        return st;
    *out = (uint32_t)n;
    return THRIFT_OK;
}

/* Bytes an element of `wire` takes at least, counting a bad type as 1 (the
 * type is checked once the count is known not to be 0). */
static inline unsigned elem_min(unsigned wire) {
    return wire_min(wire) ? wire_min(wire) : 1;
}

/* A list or set: element type byte, i32 count. */
static THRIFT__NOINLINE thrift_status_t dec_list(thrift__reader_t *r,
                                                 thrift_value_t *v,
                                                 const thrift_type_def_t *t) {
    const uint8_t *p = r->p;
    THRIFT__NEED(r, 5);
    unsigned wire = p[0];
    r->p = p + 1;
    uint32_t count = 0;
    thrift_status_t st = read_count(r, &count, elem_min(wire));
    if (st != THRIFT_OK)
        return st;
    return thrift__dec_list(r, v, t, p, wire, count, dec_item);
}

/* A map: key and value type bytes, i32 count. */
static THRIFT__NOINLINE thrift_status_t dec_map(thrift__reader_t *r,
                                                thrift_value_t *v,
                                                const thrift_type_def_t *t) {
    const uint8_t *p = r->p;
    THRIFT__NEED(r, 6);
    unsigned kw = p[0], vw = p[1];
    r->p = p + 2;
    uint32_t count = 0;
    thrift_status_t st = read_count(r, &count, elem_min(kw) + elem_min(vw));
    if (st != THRIFT_OK)
        return st;
    return thrift__dec_map(r, v, t, p, kw, vw, count, dec_item, dec_item);
}

thrift_status_t thrift__binary_decode_value(thrift__reader_t *r,
                                            thrift_value_t *v,
                                            const thrift_type_def_t *t) {
    v->flags = 0;
    return dec_value(r, v, t->resolved);
}

/* ---- skip ------------------------------------------------------------------ */

static thrift_status_t skip_value(thrift__reader_t *r, unsigned wire) {
    switch (wire) {
    case THRIFT_TYPE_BOOL:
    case THRIFT_TYPE_BYTE:
    case THRIFT_TYPE_I16:
    case THRIFT_TYPE_I32:
    case THRIFT_TYPE_I64:
    case THRIFT_TYPE_DOUBLE:
    case THRIFT_TYPE_UUID:
        /* fixed widths: their smallest size is their size */
        return thrift__skip_bytes(r, min_size[wire]);
    case THRIFT_TYPE_STRING: {
        THRIFT__NEED(r, 4);
        int32_t len = (int32_t)thrift__get_be32(r->p);
        if (len < 0)
            return thrift__reader_fail(r, THRIFT_INVALID,
                                       "negative string length %d", (int)len);
        r->p += 4;
        thrift_status_t st = thrift__reader_check_len(
            r, (uint64_t)len, r->opts->max_string_size, "string");
        if (st != THRIFT_OK)
            return st;
        r->p += len;
        return THRIFT_OK;
    }
    case THRIFT_TYPE_STRUCT:
        return thrift__skip_struct(r, read_field_hdr, skip_value);
    case THRIFT_TYPE_LIST:
    case THRIFT_TYPE_SET:
    case THRIFT_TYPE_MAP: {
        unsigned kw, vw = 0;
        if (wire == THRIFT_TYPE_MAP) {
            THRIFT__NEED(r, 6);
            kw = r->p[0];
            vw = r->p[1];
            r->p += 2;
        } else {
            THRIFT__NEED(r, 5);
            kw = r->p[0];
            r->p += 1;
        }
        unsigned km = wire_min(kw), vm = wire == THRIFT_TYPE_MAP ? wire_min(vw) : 0;
        uint32_t count = 0;
        thrift_status_t st = read_count(r, &count, (km ? km : 1) + vm);
        if (st != THRIFT_OK)
            return st;
        if (count && (!km || (wire == THRIFT_TYPE_MAP && !vm)))
            return thrift__reader_fail(r, THRIFT_INVALID,
                                       "invalid element type %u", km ? vw : kw);
        return thrift__skip_items(r, count, kw, vw, skip_value);
    }
    default:
        return thrift__reader_fail(r, THRIFT_INVALID, "invalid wire type %u",
                                   wire);
    }
}

thrift_status_t thrift__binary_skip(thrift__reader_t *r, unsigned wire) {
    return skip_value(r, wire);
}

/* ---- messages -------------------------------------------------------------- */

thrift_status_t thrift__binary_write_message_begin(thrift__writer_t *w,
                                                   const char *name,
                                                   size_t name_len,
                                                   unsigned type, int32_t seqid,
                                                   bool strict) {
    if (name_len > INT32_MAX)
        return thrift__error_set(w->err, THRIFT_LIMIT, "method name too long");
    if (!thrift__ensure(w, 13 + name_len))
        return THRIFT_NOMEM;
    uint8_t *p = w->p;
    if (strict) {
        thrift__put_be32(p, VERSION_1 | type);
        thrift__put_be32(p + 4, (uint32_t)name_len);
        memcpy(p + 8, name, name_len);
        thrift__put_be32(p + 8 + name_len, (uint32_t)seqid);
        w->p = p + 12 + name_len;
    } else {
        thrift__put_be32(p, (uint32_t)name_len);
        memcpy(p + 4, name, name_len);
        p[4 + name_len] = (uint8_t)type;
        thrift__put_be32(p + 5 + name_len, (uint32_t)seqid);
        w->p = p + 9 + name_len;
    }
    return THRIFT_OK;
}

thrift_status_t thrift__binary_write_message_end(thrift__writer_t *w) {
    (void)w;
    return THRIFT_OK;
}

/* The method name: `len` bytes at r->p, then `tail` more header bytes. */
static thrift_status_t read_name(thrift__reader_t *r, int32_t len,
                                 unsigned tail, thrift_message_header_t *hdr) {
    thrift_status_t st = thrift__reader_check_len(
        r, (uint64_t)len + tail, r->opts->max_string_size, "method name");
    if (st != THRIFT_OK)
        return st;
    hdr->name = (const char *)r->p;
    hdr->name_len = (size_t)len;
    r->p += len;
    return THRIFT_OK;
}

/* Versioned: [version|type][name length][name][seqid]; old-style (Apache's
 * strictRead=false): [name length][name][type byte][seqid]. */
thrift_status_t thrift__binary_read_message_begin(thrift__reader_t *r,
                                                  thrift_message_header_t *hdr) {
    THRIFT__NEED(r, 4);
    uint32_t first = thrift__get_be32(r->p);
    thrift_status_t st;
    if (first & 0x80000000u) {
        if ((first & VERSION_MASK) != VERSION_1)
            return thrift__reader_fail(r, THRIFT_INVALID,
                                       "bad protocol version 0x%08x", first);
        r->p += 4;
        THRIFT__NEED(r, 4);
        int32_t len = (int32_t)thrift__get_be32(r->p);
        if (len < 0)
            return thrift__reader_fail(r, THRIFT_INVALID,
                                       "negative name length %d", (int)len);
        r->p += 4;
        if ((st = read_name(r, len, 4, hdr)) != THRIFT_OK)
            return st;
        hdr->type = (thrift_message_type_t)(first & 0xff);
    } else {
        if (r->opts->strict_read)
            return thrift__reader_fail(r, THRIFT_INVALID,
                                       "missing version in message header "
                                       "(old-style header, strict_read is on)");
        r->p += 4;
        if ((st = read_name(r, (int32_t)first, 5, hdr)) != THRIFT_OK)
            return st;
        hdr->type = (thrift_message_type_t)*r->p++;
    }
    hdr->seqid = (int32_t)thrift__get_be32(r->p);
    r->p += 4;
    if (hdr->type < THRIFT_MSG_CALL || hdr->type > THRIFT_MSG_ONEWAY)
        return thrift__reader_fail(r, THRIFT_INVALID, "bad message type %d",
                                   (int)hdr->type);
    return THRIFT_OK;
}

thrift_status_t thrift__binary_read_message_end(thrift__reader_t *r) {
    (void)r;
    return THRIFT_OK;
}

/* ---- the streaming reader's headers (reader.c) ------------------------------ */

thrift_status_t thrift__binary_read_field_hdr(thrift__reader_t *r, thrift__field_hdr_t *h) {
    return read_field_hdr(r, h);
}

thrift_status_t thrift__binary_read_list_hdr(thrift__reader_t *r, unsigned *wire,
                                             uint32_t *count) {
    THRIFT__NEED(r, 5);
    *wire = r->p[0];
    r->p += 1;
    thrift_status_t st = read_count(r, count, elem_min(*wire));
    if (st != THRIFT_OK)
        return st;
    if (*count && !wire_min(*wire)) {
        r->p -= 5;
        return thrift__reader_fail(r, THRIFT_INVALID, "invalid element type %u", *wire);
    }
    return THRIFT_OK;
}

thrift_status_t thrift__binary_read_map_hdr(thrift__reader_t *r, unsigned *kw, unsigned *vw,
                                            uint32_t *count) {
    THRIFT__NEED(r, 6);
    *kw = r->p[0];
    *vw = r->p[1];
    r->p += 2;
    thrift_status_t st = read_count(r, count, elem_min(*kw) + elem_min(*vw));
    if (st != THRIFT_OK)
        return st;
    if (*count && (!wire_min(*kw) || !wire_min(*vw))) {
        r->p -= 6;
        return thrift__reader_fail(r, THRIFT_INVALID, "invalid map types %u,%u", *kw, *vw);
    }
    return THRIFT_OK;
}
