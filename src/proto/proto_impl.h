/* Internals shared by the protocol codecs: the output writer, the input
 * reader with its limits, and per-protocol entry points. */
#ifndef DYNTHRIFT_PROTO_IMPL_H
#define DYNTHRIFT_PROTO_IMPL_H

#include "dynthrift/proto.h"
#include "value/value_impl.h"

struct thrift_buffer {
    thrift__buf_t buf;
};

/* ---- writer ---------------------------------------------------------------
 * The cursor lives in registers during an encode; the buffer's len is only
 * synced when it grows and at the end. */
typedef struct thrift__writer {
    uint8_t *p;
    uint8_t *end;
    thrift__buf_t *buf;
    thrift_error_t *err;
} thrift__writer_t;

bool thrift__writer_grow(thrift__writer_t *w, size_t n);

static inline void thrift__writer_begin(thrift__writer_t *w, thrift__buf_t *b,
                                        thrift_error_t *err) {
    static uint8_t no_room; /* stands in for a buffer never allocated:
                               NULL + 0 is undefined behaviour */
    w->buf = b;
    if (b->data) {
        w->p = b->data + b->len;
        w->end = b->data + b->cap;
    } else {
        w->p = w->end = &no_room;
    }
    w->err = err;
}

static inline void thrift__writer_end(thrift__writer_t *w) {
    if (w->buf->data)
        w->buf->len = (size_t)(w->p - w->buf->data);
}

static inline bool thrift__ensure(thrift__writer_t *w, size_t n) {
    if (THRIFT_LIKELY((size_t)(w->end - w->p) >= n))
        return true;
    return thrift__writer_grow(w, n);
}

static inline void thrift__put_be16(uint8_t *p, uint16_t v) {
    v = __builtin_bswap16(v);
    memcpy(p, &v, 2);
}
static inline void thrift__put_be32(uint8_t *p, uint32_t v) {
    v = __builtin_bswap32(v);
    memcpy(p, &v, 4);
}
static inline void thrift__put_be64(uint8_t *p, uint64_t v) {
    v = __builtin_bswap64(v);
    memcpy(p, &v, 8);
}
static inline uint16_t thrift__get_be16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return __builtin_bswap16(v);
}
static inline uint32_t thrift__get_be32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}
static inline uint64_t thrift__get_be64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}

/* ---- reader ---------------------------------------------------------------- */
typedef struct thrift__reader {
    const uint8_t *p;
    const uint8_t *end;
    const uint8_t *start;
    thrift_arena_t *arena; /* NULL when only skipping/probing */
    const thrift_codec_options_t *opts;
    uint32_t depth;
    thrift_error_t *err;
    const char *source; /* "<binary>", "<compact>", "<json>" */
} thrift__reader_t;

/* Records an error at the reader's position (first error wins) and returns
 * `code`. */
thrift_status_t thrift__reader_fail(thrift__reader_t *r, thrift_status_t code,
                                    const char *fmt, ...) THRIFT_PRINTF(3, 4);
/* A NEED_MORE error: truncated input. */
thrift_status_t thrift__reader_need_more(thrift__reader_t *r);
/* Checks a declared length against the limit and the bytes left. */
thrift_status_t thrift__reader_check_len(thrift__reader_t *r, uint64_t need,
                                         size_t limit, const char *what);

/* Fills defaults and checks required fields / unions of a just-decoded
 * struct, whose `seen` slots were present on the wire. */
thrift_status_t thrift__finish_struct(thrift__reader_t *r, thrift_value_t *v,
                                      uint32_t seen);
/* Prepends "name" or "[i]" to the error path while unwinding. */
void thrift__path_field(thrift__reader_t *r, const thrift_field_def_t *f);
void thrift__path_index(thrift__reader_t *r, uint32_t i);
void thrift__wpath_field(thrift_error_t *err, const thrift_field_def_t *f);
void thrift__wpath_index(thrift_error_t *err, uint32_t i);

/* The binary wire type a value is written as (enums as i32...). */
extern const uint8_t thrift__kind_wire[THRIFT_KIND_TYPEDEF + 1];

static inline bool thrift__is_struct_kind(unsigned kind) {
    return kind == THRIFT_KIND_STRUCT || kind == THRIFT_KIND_UNION ||
           kind == THRIFT_KIND_EXCEPTION;
}

/* Visits a struct's field indexes in ascending id order: Apache's generated
 * writers emit fields sorted by id, whatever the declaration order. */
typedef struct thrift__field_order {
    const uint32_t *dense;               /* index_by_id, or NULL */
    thrift_field_def_t *const *sparse;   /* sparse_ids, or NULL */
    uint32_t span;
} thrift__field_order_t;

static inline thrift__field_order_t
thrift__field_order(const thrift_struct_def_t *sd) {
    thrift__field_order_t o;
    o.dense = sd->field_count ? sd->index_by_id : NULL;
    o.sparse = sd->sparse_ids;
    o.span = o.dense ? (uint32_t)(sd->max_id - sd->min_id + 1) : sd->field_count;
    return o;
}

/* The field index at step k, or UINT32_MAX for a gap in the dense table. */
static inline uint32_t thrift__field_order_at(const thrift__field_order_t *o,
                                              uint32_t k) {
    if (o->dense)
        return o->dense[k] - 1; /* 0 (no field) wraps to UINT32_MAX */
    return o->sparse ? o->sparse[k]->index : k;
}

/* ---- per protocol ---------------------------------------------------------- */
/* encode_value writes the bare value; decode_value decodes a value of
 * resolved type `t` into *v; skip passes over one value of `wire` type. */
#define THRIFT__PROTO_DECLARE(name)                                                 \
    thrift_status_t thrift__##name##_encode_value(thrift__writer_t *w,               \
                                                  const thrift_value_t *v);         \
    thrift_status_t thrift__##name##_decode_value(                                  \
        thrift__reader_t *r, thrift_value_t *v, const thrift_type_def_t *t);        \
    thrift_status_t thrift__##name##_skip(thrift__reader_t *r, unsigned wire);     \
    thrift_status_t thrift__##name##_write_message_begin(                           \
        thrift__writer_t *w, const char *name, size_t name_len, unsigned type,     \
        int32_t seqid, bool strict);                                                \
    thrift_status_t thrift__##name##_write_message_end(thrift__writer_t *w);        \
    thrift_status_t thrift__##name##_read_message_begin(                            \
        thrift__reader_t *r, thrift_message_header_t *hdr);                         \
    thrift_status_t thrift__##name##_read_message_end(thrift__reader_t *r);

THRIFT__PROTO_DECLARE(binary)
THRIFT__PROTO_DECLARE(compact)
THRIFT__PROTO_DECLARE(json)

#endif
