/* The streaming writer (thrift_writer_*): binary and compact bytes written
 * piece by piece, the same bytes thrift_encode writes from a value tree. */
#include "proto/proto_impl.h"

#include <stdlib.h>

struct thrift_writer {
    thrift__buf_t *buf; /* borrowed: the thrift_buffer_t's */
    thrift_protocol_t proto;
    unsigned depth;     /* structs open */
    /* compact: the previous field id of each open struct (Apache's
     * lastFieldId stack), and a bool field waiting for its value */
    int16_t last_id[THRIFT_WRITER_MAX_DEPTH + 1];
    bool bool_pending;
    int16_t bool_id;
};

/* Room for `n` more bytes; the write position. */
static inline uint8_t *room(thrift_writer_t *w, size_t n) {
    if (THRIFT_UNLIKELY(!thrift__buf_reserve(w->buf, n)))
        return NULL;
    return w->buf->data + w->buf->len;
}

static inline thrift_status_t done(thrift_writer_t *w, uint8_t *end) {
    w->buf->len = (size_t)(end - w->buf->data);
    return THRIFT_OK;
}

thrift_writer_t *thrift_writer_new(thrift_protocol_t proto, thrift_buffer_t *out) {
    if (!out || (proto != THRIFT_PROTO_BINARY && proto != THRIFT_PROTO_COMPACT))
        return NULL;
    thrift_writer_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->buf = &out->buf;
    w->proto = proto;
    return w;
}

void thrift_writer_free(thrift_writer_t *w) {
    free(w);
}

void thrift_writer_reset(thrift_writer_t *w) {
    w->depth = 0;
    w->last_id[0] = 0;
    w->bool_pending = false;
}

thrift_status_t thrift_writer_struct_begin(thrift_writer_t *w) {
    if (THRIFT_UNLIKELY(w->bool_pending))
        return THRIFT_MISUSE;
    if (THRIFT_UNLIKELY(w->depth >= THRIFT_WRITER_MAX_DEPTH))
        return THRIFT_LIMIT;
    w->last_id[++w->depth] = 0;
    return THRIFT_OK;
}

thrift_status_t thrift_writer_struct_end(thrift_writer_t *w) {
    if (THRIFT_UNLIKELY(w->depth == 0 || w->bool_pending))
        return THRIFT_MISUSE;
    w->depth--;
    uint8_t *p = room(w, 1);
    if (!p)
        return THRIFT_NOMEM;
    *p = 0; /* STOP, in both protocols */
    return done(w, p + 1);
}

/* A compact field header: the id's delta from the previous field and the
 * type code in one byte when the delta is 1..15, else the type code and
 * the id as a zigzag varint. */
static thrift_status_t compact_field(thrift_writer_t *w, unsigned ct, int16_t id) {
    uint8_t *p = room(w, 4);
    if (!p)
        return THRIFT_NOMEM;
    int delta = id - w->last_id[w->depth];
    if (delta > 0 && delta <= 15) {
        *p++ = (uint8_t)(delta << 4 | ct);
    } else {
        *p++ = (uint8_t)ct;
        p = thrift__put_varint(p, thrift__zigzag32(id));
    }
    w->last_id[w->depth] = id;
    return done(w, p);
}

thrift_status_t thrift_writer_field_begin(thrift_writer_t *w, thrift_wire_type_t type,
                                          int16_t id) {
    if (THRIFT_UNLIKELY(w->depth == 0 || w->bool_pending || !thrift__compact_ctype(type)))
        return THRIFT_MISUSE;
    if (w->proto == THRIFT_PROTO_COMPACT) {
        if (type == THRIFT_TYPE_BOOL) {
            w->bool_pending = true;
            w->bool_id = id;
            return THRIFT_OK;
        }
        return compact_field(w, thrift__compact_ctype(type), id);
    }
    uint8_t *p = room(w, 3);
    if (!p)
        return THRIFT_NOMEM;
    p[0] = (uint8_t)type;
    thrift__put_be16(p + 1, (uint16_t)id);
    return done(w, p + 3);
}

static thrift_status_t seq_begin(thrift_writer_t *w, thrift_wire_type_t elem, uint32_t n) {
    if (THRIFT_UNLIKELY(w->bool_pending || !thrift__compact_ctype(elem)))
        return THRIFT_MISUSE;
    uint8_t *p = room(w, 6);
    if (!p)
        return THRIFT_NOMEM;
    if (w->proto == THRIFT_PROTO_COMPACT) {
        if (n <= 14) {
            *p++ = (uint8_t)(n << 4 | thrift__compact_ctype(elem));
        } else {
            *p++ = (uint8_t)(0xf0 | thrift__compact_ctype(elem));
            p = thrift__put_varint(p, n);
        }
        return done(w, p);
    }
    p[0] = (uint8_t)elem;
    thrift__put_be32(p + 1, n);
    return done(w, p + 5);
}

thrift_status_t thrift_writer_list_begin(thrift_writer_t *w, thrift_wire_type_t elem_type,
                                         uint32_t n) {
    return seq_begin(w, elem_type, n);
}

thrift_status_t thrift_writer_set_begin(thrift_writer_t *w, thrift_wire_type_t elem_type,
                                        uint32_t n) {
    return seq_begin(w, elem_type, n);
}

thrift_status_t thrift_writer_map_begin(thrift_writer_t *w, thrift_wire_type_t key_type,
                                        thrift_wire_type_t value_type, uint32_t n) {
    if (THRIFT_UNLIKELY(w->bool_pending || !thrift__compact_ctype(key_type) || !thrift__compact_ctype(value_type)))
        return THRIFT_MISUSE;
    uint8_t *p = room(w, 7);
    if (!p)
        return THRIFT_NOMEM;
    if (w->proto == THRIFT_PROTO_COMPACT) {
        if (n == 0) {
            *p = 0;
            return done(w, p + 1);
        }
        p = thrift__put_varint(p, n);
        *p++ = (uint8_t)(thrift__compact_ctype(key_type) << 4 | thrift__compact_ctype(value_type));
        return done(w, p);
    }
    p[0] = (uint8_t)key_type;
    p[1] = (uint8_t)value_type;
    thrift__put_be32(p + 2, n);
    return done(w, p + 6);
}

thrift_status_t thrift_writer_bool(thrift_writer_t *w, bool v) {
    if (w->bool_pending) { /* compact: the value is the field header's type */
        w->bool_pending = false;
        return compact_field(w, v ? THRIFT__CT_TRUE : THRIFT__CT_FALSE, w->bool_id);
    }
    uint8_t *p = room(w, 1);
    if (!p)
        return THRIFT_NOMEM;
    *p = w->proto == THRIFT_PROTO_COMPACT ? (v ? THRIFT__CT_TRUE : THRIFT__CT_FALSE) : (uint8_t)v;
    return done(w, p + 1);
}

/* Every scalar but bool: a pending compact bool field is a misuse. */
#define SCALAR_ROOM(w, n)                                                                 \
    if (THRIFT_UNLIKELY((w)->bool_pending))                                               \
        return THRIFT_MISUSE;                                                             \
    uint8_t *p = room((w), (n));                                                          \
    if (!p)                                                                               \
        return THRIFT_NOMEM

thrift_status_t thrift_writer_i8(thrift_writer_t *w, int8_t v) {
    SCALAR_ROOM(w, 1);
    *p = (uint8_t)v;
    return done(w, p + 1);
}

/* An integer of `size` bytes: big-endian in binary; in compact a zigzag
 * varint, the same bytes for every width (zigzag64 of a value that fits 32
 * bits equals its zigzag32). */
static inline thrift_status_t write_int(thrift_writer_t *w, int64_t v, unsigned size) {
    SCALAR_ROOM(w, 10);
    if (w->proto == THRIFT_PROTO_COMPACT)
        return done(w, thrift__put_varint(p, thrift__zigzag64(v)));
    if (size == 2)
        thrift__put_be16(p, (uint16_t)v);
    else if (size == 4)
        thrift__put_be32(p, (uint32_t)v);
    else
        thrift__put_be64(p, (uint64_t)v);
    return done(w, p + size);
}

thrift_status_t thrift_writer_i16(thrift_writer_t *w, int16_t v) {
    return write_int(w, v, 2);
}

thrift_status_t thrift_writer_i32(thrift_writer_t *w, int32_t v) {
    return write_int(w, v, 4);
}

thrift_status_t thrift_writer_i64(thrift_writer_t *w, int64_t v) {
    return write_int(w, v, 8);
}

thrift_status_t thrift_writer_double(thrift_writer_t *w, double v) {
    SCALAR_ROOM(w, 8);
    uint64_t bits;
    memcpy(&bits, &v, 8);
    if (w->proto == THRIFT_PROTO_COMPACT) {
        for (int i = 0; i < 8; i++)
            p[i] = (uint8_t)(bits >> (8 * i)); /* little-endian */
        return done(w, p + 8);
    }
    thrift__put_be64(p, bits);
    return done(w, p + 8);
}

thrift_status_t thrift_writer_binary(thrift_writer_t *w, const void *data, size_t n) {
    if (THRIFT_UNLIKELY(n > INT32_MAX))
        return THRIFT_LIMIT;
    SCALAR_ROOM(w, 5 + n);
    if (w->proto == THRIFT_PROTO_COMPACT) {
        p = thrift__put_varint(p, n);
    } else {
        thrift__put_be32(p, (uint32_t)n);
        p += 4;
    }
    if (n)
        memcpy(p, data, n);
    return done(w, p + n);
}

thrift_status_t thrift_writer_uuid(thrift_writer_t *w, const uint8_t uuid[16]) {
    SCALAR_ROOM(w, 16);
    memcpy(p, uuid, 16);
    return done(w, p + 16);
}
