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

static thrift_status_t enc_value(thrift__writer_t *w, const thrift_value_t *v);

static thrift_status_t enc_struct(thrift__writer_t *w,
                                  const thrift_value_t *v) {
    const thrift_struct_def_t *sd = v->type->struct_def;
    const thrift_field_def_t *fields = sd->fields;
    const thrift_value_t *slots = v->u.s.slots;
    uint32_t n = v->count;
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
        if (THRIFT_UNLIKELY(!thrift__ensure(w, 3)))
            return THRIFT_NOMEM;
        w->p[0] = thrift__kind_wire[slot->kind];
        thrift__put_be16(w->p + 1, (uint16_t)fields[i].id);
        w->p += 3;
        thrift_status_t st = enc_value(w, slot);
        if (THRIFT_UNLIKELY(st != THRIFT_OK)) {
            thrift__wpath_field(w->err, &fields[i]);
            return st;
        }
    }
    if (THRIFT_UNLIKELY(!thrift__ensure(w, 1)))
        return THRIFT_NOMEM;
    *w->p++ = THRIFT_TYPE_STOP;
    return THRIFT_OK;
}

static thrift_status_t enc_value(thrift__writer_t *w, const thrift_value_t *v) {
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
    case THRIFT_KIND_SET: {
        const thrift_type_def_t *et = v->type->elem->resolved;
        p[0] = et->wire_type;
        thrift__put_be32(p + 1, v->count);
        w->p = p + 5;
        const thrift_value_t *items = v->u.c.items;
        for (uint32_t i = 0; i < v->count; i++) {
            thrift_status_t st = enc_value(w, &items[i]);
            if (THRIFT_UNLIKELY(st != THRIFT_OK)) {
                thrift__wpath_index(w->err, i);
                return st;
            }
        }
        return THRIFT_OK;
    }
    case THRIFT_KIND_MAP: {
        p[0] = v->type->key->resolved->wire_type;
        p[1] = v->type->value->resolved->wire_type;
        thrift__put_be32(p + 2, v->count);
        w->p = p + 6;
        const thrift_value_t *items = v->u.c.items;
        for (uint32_t i = 0; i < 2 * v->count; i++) {
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

thrift_status_t thrift__binary_encode_value(thrift__writer_t *w,
                                            const thrift_value_t *v) {
    return enc_value(w, v);
}

/* ---- decode ---------------------------------------------------------------- */

#define NEED(r, n)                                                            \
    do {                                                                      \
        if (THRIFT_UNLIKELY((size_t)((r)->end - (r)->p) < (size_t)(n)))       \
            return thrift__reader_need_more(r);                               \
    } while (0)

static thrift_status_t dec_value(thrift__reader_t *r, thrift_value_t *v,
                                 const thrift_type_def_t *t);

static thrift_status_t skip_value(thrift__reader_t *r, unsigned wire);

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
    for (;;) {
        NEED(r, 1);
        unsigned wire = *r->p;
        if (wire == THRIFT_TYPE_STOP) {
            r->p++;
            break;
        }
        NEED(r, 3);
        int id = (int16_t)thrift__get_be16(r->p + 1);
        r->p += 3;
        const thrift_field_def_t *f = thrift__struct_field_by_id(sd, id);
        if (!f) {
            thrift_status_t st = skip_value(r, wire);
            if (st != THRIFT_OK)
                return st;
            continue;
        }
        const thrift_type_def_t *ft = f->type->resolved;
        if (THRIFT_UNLIKELY(ft->wire_type != wire)) {
            if (r->opts->skip_mismatched && wire_min(wire)) {
                thrift_status_t st = skip_value(r, wire);
                if (st != THRIFT_OK)
                    return st;
                continue;
            }
            r->p -= 3;
            thrift_status_t st = thrift__reader_fail(
                r, THRIFT_TYPE, "expected %s, got wire type %u",
                ft->name ? ft->name : thrift__kind_name(ft->kind), wire);
            thrift__path_field(r, f);
            return st;
        }
        thrift_value_t *slot = &slots[f->index];
        seen += !(slot->flags & THRIFT__VALUE_SET);
        thrift_status_t st = dec_value(r, slot, ft);
        if (THRIFT_UNLIKELY(st != THRIFT_OK)) {
            thrift__path_field(r, f);
            return st;
        }
        slot->flags = THRIFT__VALUE_SET;
    }
    r->depth--;
    if (seen != n || t->kind == THRIFT_KIND_UNION)
        return thrift__finish_struct(r, v, seen);
    return THRIFT_OK;
}

static thrift_status_t dec_items(thrift__reader_t *r, thrift_value_t *v,
                                 const thrift_type_def_t *et, uint32_t count) {
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
        return thrift__reader_fail(r, THRIFT_LIMIT,
                                   "nesting deeper than %u", r->opts->max_depth);
    for (uint32_t i = 0; i < count; i++) {
        items[i].flags = 0;
        thrift_status_t st = dec_value(r, &items[i], et);
        if (THRIFT_UNLIKELY(st != THRIFT_OK)) {
            thrift__path_index(r, i);
            return st;
        }
        v->count = i + 1;
    }
    r->depth--;
    return THRIFT_OK;
}

static thrift_status_t read_count(thrift__reader_t *r, uint32_t *out,
                                  unsigned elem_min) {
    int32_t n = (int32_t)thrift__get_be32(r->p);
    if (THRIFT_UNLIKELY(n < 0))
        return thrift__reader_fail(r, THRIFT_INVALID,
                                   "negative container size %d", (int)n);
    if (THRIFT_UNLIKELY((size_t)n > r->opts->max_container_size))
        return thrift__reader_fail(r, THRIFT_LIMIT,
                                   "container of %d elements exceeds the limit",
                                   (int)n);
    r->p += 4;
    thrift_status_t st =
        thrift__reader_check_len(r, (uint64_t)n * elem_min,
                                 r->opts->max_message_size, "container");
    if (st != THRIFT_OK)
        return st;
    *out = (uint32_t)n;
    return THRIFT_OK;
}

static thrift_status_t dec_value(thrift__reader_t *r, thrift_value_t *v,
                                 const thrift_type_def_t *t) {
    v->type = t;
    v->kind = t->kind;
    const uint8_t *p = r->p;
    switch (t->kind) {
    case THRIFT_KIND_BOOL:
        NEED(r, 1);
        v->u.i = 0;
        v->u.b = *p != 0;
        r->p = p + 1;
        return THRIFT_OK;
    case THRIFT_KIND_I8:
        NEED(r, 1);
        v->u.i = (int8_t)*p;
        r->p = p + 1;
        return THRIFT_OK;
    case THRIFT_KIND_I16:
        NEED(r, 2);
        v->u.i = (int16_t)thrift__get_be16(p);
        r->p = p + 2;
        return THRIFT_OK;
    case THRIFT_KIND_I32:
    case THRIFT_KIND_ENUM:
        NEED(r, 4);
        v->u.i = (int32_t)thrift__get_be32(p);
        r->p = p + 4;
        return THRIFT_OK;
    case THRIFT_KIND_I64:
        NEED(r, 8);
        v->u.i = (int64_t)thrift__get_be64(p);
        r->p = p + 8;
        return THRIFT_OK;
    case THRIFT_KIND_DOUBLE: {
        NEED(r, 8);
        uint64_t bits = thrift__get_be64(p);
        memcpy(&v->u.d, &bits, 8);
        r->p = p + 8;
        return THRIFT_OK;
    }
    case THRIFT_KIND_STRING:
    case THRIFT_KIND_BINARY: {
        NEED(r, 4);
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
                return thrift__reader_fail(r, THRIFT_NOMEM, "out of memory");
            memcpy(copy, r->p, (size_t)len);
            v->u.bytes.ptr = copy;
        }
        v->u.bytes.len = (size_t)len;
        r->p += len;
        return THRIFT_OK;
    }
    case THRIFT_KIND_UUID:
        NEED(r, 16);
        memcpy(v->u.uuid, p, 16);
        r->p = p + 16;
        return THRIFT_OK;
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET: {
        NEED(r, 5);
        const thrift_type_def_t *et = t->elem->resolved;
        unsigned wire = p[0];
        r->p = p + 1;
        uint32_t count = 0;
        thrift_status_t st = read_count(r, &count, wire_min(wire) ? wire_min(wire) : 1);
        if (st != THRIFT_OK)
            return st;
        if (THRIFT_UNLIKELY(count && wire != et->wire_type)) {
            r->p = p;
            return thrift__reader_fail(r, THRIFT_TYPE,
                                       "expected %s elements, got wire type %u",
                                       et->name, wire);
        }
        return dec_items(r, v, et, count);
    }
    case THRIFT_KIND_MAP: {
        NEED(r, 6);
        const thrift_type_def_t *kt = t->key->resolved, *vt = t->value->resolved;
        unsigned kw = p[0], vw = p[1];
        r->p = p + 2;
        unsigned m = (wire_min(kw) ? wire_min(kw) : 1) + (wire_min(vw) ? wire_min(vw) : 1);
        uint32_t count = 0;
        thrift_status_t st = read_count(r, &count, m);
        if (st != THRIFT_OK)
            return st;
        if (THRIFT_UNLIKELY(count && (kw != kt->wire_type || vw != vt->wire_type))) {
            r->p = p;
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
        NEED(r, 1);
        r->p += 1;
        return THRIFT_OK;
    case THRIFT_TYPE_I16:
        NEED(r, 2);
        r->p += 2;
        return THRIFT_OK;
    case THRIFT_TYPE_I32:
        NEED(r, 4);
        r->p += 4;
        return THRIFT_OK;
    case THRIFT_TYPE_I64:
    case THRIFT_TYPE_DOUBLE:
        NEED(r, 8);
        r->p += 8;
        return THRIFT_OK;
    case THRIFT_TYPE_UUID:
        NEED(r, 16);
        r->p += 16;
        return THRIFT_OK;
    case THRIFT_TYPE_STRING: {
        NEED(r, 4);
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
    case THRIFT_TYPE_STRUCT: {
        if (++r->depth > r->opts->max_depth)
            return thrift__reader_fail(r, THRIFT_LIMIT, "nesting deeper than %u",
                                       r->opts->max_depth);
        for (;;) {
            NEED(r, 1);
            unsigned fw = *r->p;
            if (fw == THRIFT_TYPE_STOP) {
                r->p++;
                break;
            }
            NEED(r, 3);
            r->p += 3;
            thrift_status_t st = skip_value(r, fw);
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
        if (wire == THRIFT_TYPE_MAP) {
            NEED(r, 6);
            kw = r->p[0];
            vw = r->p[1];
            r->p += 2;
        } else {
            NEED(r, 5);
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

thrift_status_t thrift__binary_read_message_begin(thrift__reader_t *r,
                                                  thrift_message_header_t *hdr) {
    NEED(r, 4);
    uint32_t first = thrift__get_be32(r->p);
    if (first & 0x80000000u) {
        if ((first & VERSION_MASK) != VERSION_1)
            return thrift__reader_fail(r, THRIFT_INVALID,
                                       "bad protocol version 0x%08x", first);
        r->p += 4;
        NEED(r, 4);
        int32_t len = (int32_t)thrift__get_be32(r->p);
        if (len < 0)
            return thrift__reader_fail(r, THRIFT_INVALID,
                                       "negative name length %d", (int)len);
        r->p += 4;
        thrift_status_t st = thrift__reader_check_len(
            r, (uint64_t)len + 4, r->opts->max_string_size, "method name");
        if (st != THRIFT_OK)
            return st;
        hdr->name = (const char *)r->p;
        hdr->name_len = (size_t)len;
        r->p += len;
        hdr->type = (thrift_message_type_t)(first & 0xff);
        hdr->seqid = (int32_t)thrift__get_be32(r->p);
        r->p += 4;
    } else {
        if (r->opts->strict_read)
            return thrift__reader_fail(r, THRIFT_INVALID,
                                       "missing version in message header "
                                       "(old-style header, strict_read is on)");
        int32_t len = (int32_t)first;
        r->p += 4;
        thrift_status_t st = thrift__reader_check_len(
            r, (uint64_t)len + 5, r->opts->max_string_size, "method name");
        if (st != THRIFT_OK)
            return st;
        hdr->name = (const char *)r->p;
        hdr->name_len = (size_t)len;
        r->p += len;
        hdr->type = (thrift_message_type_t)r->p[0];
        hdr->seqid = (int32_t)thrift__get_be32(r->p + 1);
        r->p += 5;
    }
    if (hdr->type < THRIFT_MSG_CALL || hdr->type > THRIFT_MSG_ONEWAY)
        return thrift__reader_fail(r, THRIFT_INVALID, "bad message type %d",
                                   (int)hdr->type);
    return THRIFT_OK;
}

thrift_status_t thrift__binary_read_message_end(thrift__reader_t *r) {
    (void)r;
    return THRIFT_OK;
}
