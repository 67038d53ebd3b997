/* The streaming reader (thrift_reader_*): binary and compact values read
 * piece by piece on the protocols' own header readers and limits, for hosts
 * that build their own objects (the Python binding). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "proto_impl.h"

/* What one value read is charged against the decode memory budget: the
 * size of a decoded thrift_value_t, so a host building one object per
 * value is bounded as thrift_decode is. */
#define VALUE_CHARGE 32

struct thrift_reader {
    thrift__reader_t r;
    thrift_codec_options_t opts;
    thrift_protocol_t proto;
    size_t budget;  /* bytes the values read so far may take */
    size_t charged;
    /* compact: the last field id of each open struct (the next header's
     * delta counts from it) */
    int16_t *last_ids;
    uint32_t structs, ids_cap;
    int16_t last_id;
    bool bool_pending; /* compact: a bool field's value sits in its header */
    bool bool_value;
};

thrift_reader_t *thrift_reader_new(thrift_protocol_t proto, const thrift_codec_options_t *opts) {
    if (proto != THRIFT_PROTO_BINARY && proto != THRIFT_PROTO_COMPACT)
        return NULL;
    thrift_reader_t *rd = calloc(1, sizeof *rd);
    if (!rd)
        return NULL;
    if (opts)
        rd->opts = *opts;
    else
        thrift_codec_options_init(&rd->opts);
    rd->proto = proto;
    thrift_reader_begin(rd, NULL, 0, NULL);
    return rd;
}

void thrift_reader_free(thrift_reader_t *rd) {
    if (!rd)
        return;
    free(rd->last_ids);
    free(rd);
}

void thrift_reader_begin(thrift_reader_t *rd, const uint8_t *data, size_t len,
                         thrift_error_t *err) {
    thrift__reader_t *r = &rd->r;
    r->p = r->start = data ? data : (const uint8_t *)"";
    r->end = r->start + (data ? len : 0);
    r->arena = NULL;
    r->opts = &rd->opts;
    r->depth = 0;
    r->err = err;
    r->source = rd->proto == THRIFT_PROTO_BINARY ? "<binary>" : "<compact>";
    thrift_error_clear(err);
    rd->budget = thrift__decode_budget(&rd->opts, data ? len : 0);
    rd->charged = 0;
    rd->structs = 0;
    rd->last_id = 0;
    rd->bool_pending = false;
}

size_t thrift_reader_offset(const thrift_reader_t *rd) {
    return (size_t)(rd->r.p - rd->r.start);
}

thrift_status_t thrift_reader_fail(thrift_reader_t *rd, thrift_status_t code, size_t offset,
                                   const char *fmt, ...) {
    thrift_error_t *err = rd->r.err;
    if (err && err->code == THRIFT_OK) {
        va_list ap;
        va_start(ap, fmt);
        thrift__error_vset(err, code, fmt, ap);
        va_end(ap);
        thrift__error_set_source(err, rd->r.source);
        err->offset = offset;
        err->has_offset = true;
    }
    return code;
}

/* Charges `n` values against the budget (n * VALUE_CHARGE cannot overflow:
 * n is a count already bounded by the bytes left). */
static thrift_status_t charge(thrift_reader_t *rd, uint64_t n) {
    uint64_t add = n * VALUE_CHARGE;
    if (THRIFT_UNLIKELY(add > rd->budget - rd->charged)) {
        size_t len = (size_t)(rd->r.end - rd->r.start);
        return thrift__reader_fail(&rd->r, THRIFT_LIMIT,
                                   "decoding %zu bytes needs more than the memory budget of %zu "
                                   "bytes (max_memory_base + max_memory_per_byte x input)",
                                   len, rd->budget);
    }
    rd->charged += (size_t)add;
    return THRIFT_OK;
}

thrift_status_t thrift_reader_struct_begin(thrift_reader_t *rd) {
    thrift_status_t st = thrift__reader_enter(&rd->r);
    if (st != THRIFT_OK)
        return st;
    st = charge(rd, 1);
    if (st != THRIFT_OK)
        return st;
    if (rd->proto == THRIFT_PROTO_COMPACT) {
        if (rd->structs == rd->ids_cap) {
            uint32_t cap = rd->ids_cap ? rd->ids_cap * 2 : 16;
            int16_t *ids = realloc(rd->last_ids, cap * sizeof *ids);
            if (!ids)
                return thrift__reader_fail(&rd->r, THRIFT_NOMEM, "out of memory");
            rd->last_ids = ids;
            rd->ids_cap = cap;
        }
        rd->last_ids[rd->structs] = rd->last_id;
        rd->last_id = 0;
    }
    rd->structs++;
    return THRIFT_OK;
}

thrift_status_t thrift_reader_struct_end(thrift_reader_t *rd) {
    if (!rd->structs || !rd->r.depth)
        return thrift__reader_fail(&rd->r, THRIFT_MISUSE, "struct_end without struct_begin");
    rd->structs--;
    rd->r.depth--;
    if (rd->proto == THRIFT_PROTO_COMPACT)
        rd->last_id = rd->last_ids[rd->structs];
    return THRIFT_OK;
}

static inline thrift_status_t field_begin(thrift_reader_t *rd, thrift_wire_type_t *type,
                                         int16_t *id) {
    rd->bool_pending = false; /* an unread bool field's value is dropped */
    thrift__reader_t *r = &rd->r;
    if (rd->proto == THRIFT_PROTO_BINARY && THRIFT_LIKELY(r->end - r->p >= 3)) {
        /* the common case inline: a whole binary header */
        unsigned wire = r->p[0];
        if (wire == THRIFT_TYPE_STOP) {
            r->p++;
            *type = THRIFT_TYPE_STOP;
            *id = 0;
            return THRIFT_OK;
        }
        if (THRIFT_LIKELY(wire <= THRIFT_TYPE_UUID)) {
            *type = (thrift_wire_type_t)wire;
            *id = (int16_t)thrift__get_be16(r->p + 1);
            r->p += 3;
            return charge(rd, 1);
        }
    }
    thrift__field_hdr_t h = {NULL, rd->last_id, 0, 0};
    thrift_status_t st = rd->proto == THRIFT_PROTO_BINARY
                             ? thrift__binary_read_field_hdr(&rd->r, &h)
                             : thrift__compact_read_field_hdr(&rd->r, &h);
    if (st != THRIFT_OK)
        return st;
    *type = (thrift_wire_type_t)h.wire;
    if (h.wire == THRIFT_TYPE_STOP) {
        *id = 0;
        return THRIFT_OK;
    }
    if (h.wire > THRIFT_TYPE_UUID) {
        rd->r.p = h.at;
        return thrift__reader_fail(&rd->r, THRIFT_INVALID, "invalid wire type %u", h.wire);
    }
    *id = (int16_t)h.id;
    if (rd->proto == THRIFT_PROTO_COMPACT) {
        rd->last_id = (int16_t)h.id;
        if (h.wire == THRIFT_TYPE_BOOL) {
            rd->bool_pending = true;
            rd->bool_value = thrift__compact_bool_code(h.aux);
        }
    }
    return charge(rd, 1);
}

thrift_status_t thrift_reader_list_begin(thrift_reader_t *rd, thrift_wire_type_t *elem_type,
                                         uint32_t *n) {
    thrift_status_t st = thrift__reader_enter(&rd->r);
    if (st != THRIFT_OK)
        return st;
    unsigned wire = 0;
    st = rd->proto == THRIFT_PROTO_BINARY ? thrift__binary_read_list_hdr(&rd->r, &wire, n)
                                          : thrift__compact_read_list_hdr(&rd->r, &wire, n);
    if (st != THRIFT_OK)
        return st;
    *elem_type = (thrift_wire_type_t)wire;
    return charge(rd, *n);
}

thrift_status_t thrift_reader_map_begin(thrift_reader_t *rd, thrift_wire_type_t *key_type,
                                        thrift_wire_type_t *value_type, uint32_t *n) {
    thrift_status_t st = thrift__reader_enter(&rd->r);
    if (st != THRIFT_OK)
        return st;
    unsigned kw = 0, vw = 0;
    st = rd->proto == THRIFT_PROTO_BINARY ? thrift__binary_read_map_hdr(&rd->r, &kw, &vw, n)
                                          : thrift__compact_read_map_hdr(&rd->r, &kw, &vw, n);
    if (st != THRIFT_OK)
        return st;
    *key_type = (thrift_wire_type_t)kw;
    *value_type = (thrift_wire_type_t)vw;
    return charge(rd, 2 * (uint64_t)*n);
}

thrift_status_t thrift_reader_container_end(thrift_reader_t *rd) {
    if (!rd->r.depth)
        return thrift__reader_fail(&rd->r, THRIFT_MISUSE, "container_end without a container");
    rd->r.depth--;
    return THRIFT_OK;
}

/* ---- scalars ------------------------------------------------------------------- */

static inline thrift_status_t read_bool(thrift_reader_t *rd, bool *out) {
    if (rd->bool_pending) {
        rd->bool_pending = false;
        *out = rd->bool_value;
        return THRIFT_OK;
    }
    thrift__reader_t *r = &rd->r;
    THRIFT__NEED(r, 1);
    /* compact elements: 1 is true (CT_TRUE); binary: any non-zero */
    *out = rd->proto == THRIFT_PROTO_BINARY ? *r->p != 0 : *r->p == 1;
    r->p++;
    return THRIFT_OK;
}

static inline thrift_status_t read_i8(thrift_reader_t *rd, int8_t *out) {
    thrift__reader_t *r = &rd->r;
    THRIFT__NEED(r, 1);
    *out = (int8_t)*r->p++;
    return THRIFT_OK;
}

/* A compact integer of at most `bits` bits (zigzag varint). */
static thrift_status_t compact_int(thrift_reader_t *rd, int64_t *out, unsigned bits) {
    uint64_t u = 0;
    thrift_status_t st = thrift__compact_read_varint(&rd->r, &u);
    if (st != THRIFT_OK)
        return st;
    int64_t v = thrift__unzigzag(u);
    if (bits < 64 && (bits == 16 ? v != (int16_t)v : v != (int32_t)v))
        return thrift__reader_fail(&rd->r, THRIFT_INVALID, "%lld out of range for %s",
                                   (long long)v, bits == 16 ? "i16" : "i32");
    *out = v;
    return THRIFT_OK;
}

/* An integer of `bits` bits: big-endian in binary, a zigzag varint in
 * range in compact.  `out` is written only on success. */
static inline thrift_status_t read_int(thrift_reader_t *rd, int64_t *out, unsigned bits) {
    thrift__reader_t *r = &rd->r;
    if (rd->proto != THRIFT_PROTO_BINARY)
        return compact_int(rd, out, bits);
    THRIFT__NEED(r, bits / 8);
    if (bits == 16)
        *out = (int16_t)thrift__get_be16(r->p);
    else if (bits == 32)
        *out = (int32_t)thrift__get_be32(r->p);
    else
        *out = (int64_t)thrift__get_be64(r->p);
    r->p += bits / 8;
    return THRIFT_OK;
}

static inline thrift_status_t read_i16(thrift_reader_t *rd, int16_t *out) {
    int64_t v = 0;
    thrift_status_t st = read_int(rd, &v, 16);
    if (st == THRIFT_OK)
        *out = (int16_t)v;
    return st;
}

static inline thrift_status_t read_i32(thrift_reader_t *rd, int32_t *out) {
    int64_t v = 0;
    thrift_status_t st = read_int(rd, &v, 32);
    if (st == THRIFT_OK)
        *out = (int32_t)v;
    return st;
}

static inline thrift_status_t read_i64(thrift_reader_t *rd, int64_t *out) {
    return read_int(rd, out, 64);
}

static inline thrift_status_t read_double(thrift_reader_t *rd, double *out) {
    thrift__reader_t *r = &rd->r;
    THRIFT__NEED(r, 8);
    if (rd->proto == THRIFT_PROTO_BINARY) {
        uint64_t bits = thrift__get_be64(r->p);
        memcpy(out, &bits, 8);
    } else {
        *out = thrift__compact_double(r->p);
    }
    r->p += 8;
    return THRIFT_OK;
}

static inline thrift_status_t read_binary(thrift_reader_t *rd, const uint8_t **p, size_t *n) {
    thrift__reader_t *r = &rd->r;
    uint32_t len = 0;
    if (rd->proto == THRIFT_PROTO_BINARY) {
        THRIFT__NEED(r, 4);
        int32_t slen = (int32_t)thrift__get_be32(r->p);
        if (THRIFT_UNLIKELY(slen < 0))
            return thrift__reader_fail(r, THRIFT_INVALID, "negative string length %d",
                                       (int)slen);
        r->p += 4;
        len = (uint32_t)slen;
    } else {
        thrift_status_t st = thrift__compact_read_size(r, &len);
        if (st != THRIFT_OK)
            return st;
    }
    if (THRIFT_UNLIKELY((size_t)len > r->opts->max_string_size ||
                        (size_t)(r->end - r->p) < (size_t)len)) {
        thrift_status_t st =
            thrift__reader_check_len(r, len, r->opts->max_string_size, "string");
        if (st != THRIFT_OK)
            return st;
    }
    *p = r->p;
    *n = len;
    r->p += len;
    return THRIFT_OK;
}

/* The public entry points of the helpers above, which thrift_reader_field
 * also inlines. */
thrift_status_t thrift_reader_field_begin(thrift_reader_t *rd, thrift_wire_type_t *type,
                                          int16_t *id) {
    return field_begin(rd, type, id);
}

thrift_status_t thrift_reader_bool(thrift_reader_t *rd, bool *out) {
    return read_bool(rd, out);
}

thrift_status_t thrift_reader_i8(thrift_reader_t *rd, int8_t *out) {
    return read_i8(rd, out);
}

thrift_status_t thrift_reader_i16(thrift_reader_t *rd, int16_t *out) {
    return read_i16(rd, out);
}

thrift_status_t thrift_reader_i32(thrift_reader_t *rd, int32_t *out) {
    return read_i32(rd, out);
}

thrift_status_t thrift_reader_i64(thrift_reader_t *rd, int64_t *out) {
    return read_i64(rd, out);
}

thrift_status_t thrift_reader_double(thrift_reader_t *rd, double *out) {
    return read_double(rd, out);
}

thrift_status_t thrift_reader_binary(thrift_reader_t *rd, const uint8_t **p, size_t *n) {
    return read_binary(rd, p, n);
}

thrift_status_t thrift_reader_field(thrift_reader_t *rd, thrift_reader_field_t *f) {
    f->offset = (size_t)(rd->r.p - rd->r.start);
    f->has_value = false;
    thrift_status_t st = field_begin(rd, &f->type, &f->id);
    if (THRIFT_UNLIKELY(st != THRIFT_OK)) {
        f->type = THRIFT_TYPE_STOP; /* no header */
        f->id = 0;
        return st;
    }
    switch (f->type) {
    case THRIFT_TYPE_BOOL:
        st = read_bool(rd, &f->value.b);
        break;
    case THRIFT_TYPE_BYTE: {
        int8_t v = 0;
        st = read_i8(rd, &v);
        f->value.i = v;
        break;
    }
    case THRIFT_TYPE_I16: {
        int16_t v = 0;
        st = read_i16(rd, &v);
        f->value.i = v;
        break;
    }
    case THRIFT_TYPE_I32: {
        int32_t v = 0;
        st = read_i32(rd, &v);
        f->value.i = v;
        break;
    }
    case THRIFT_TYPE_I64:
        st = read_i64(rd, &f->value.i);
        break;
    case THRIFT_TYPE_DOUBLE:
        st = read_double(rd, &f->value.d);
        break;
    case THRIFT_TYPE_STRING:
        st = read_binary(rd, &f->value.bytes.p, &f->value.bytes.n);
        break;
    default:
        return THRIFT_OK; /* STOP, or a value the caller reads */
    }
    f->has_value = st == THRIFT_OK;
    return st;
}

thrift_status_t thrift_reader_uuid(thrift_reader_t *rd, uint8_t out[16]) {
    thrift__reader_t *r = &rd->r;
    THRIFT__NEED(r, 16);
    memcpy(out, r->p, 16);
    r->p += 16;
    return THRIFT_OK;
}

thrift_status_t thrift_reader_skip(thrift_reader_t *rd, thrift_wire_type_t type) {
    if (rd->bool_pending && type == THRIFT_TYPE_BOOL) {
        rd->bool_pending = false; /* a compact bool field: its header held it */
        return THRIFT_OK;
    }
    rd->bool_pending = false;
    return rd->proto == THRIFT_PROTO_BINARY ? thrift__binary_skip(&rd->r, type)
                                            : thrift__compact_skip(&rd->r, type);
}
