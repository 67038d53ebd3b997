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

/* TCompactProtocol's integers: zigzag maps small magnitudes of either sign
 * to small unsigned numbers (0, -1, 1, -2 -> 0, 1, 2, 3), then a varint of
 * 7 bits a byte, low group first, the high bit set on all but the last. */
static inline uint32_t thrift__zigzag32(int32_t n) {
    return ((uint32_t)n << 1) ^ (uint32_t)(n >> 31);
}
static inline uint64_t thrift__zigzag64(int64_t n) {
    return ((uint64_t)n << 1) ^ (uint64_t)(n >> 63);
}
static inline int64_t thrift__unzigzag(uint64_t n) {
    return (int64_t)(n >> 1) ^ -(int64_t)(n & 1);
}
/* Writes `n` at p (at most 10 bytes); returns the end. */
static inline uint8_t *thrift__put_varint(uint8_t *p, uint64_t n) {
    while (n >= 0x80) {
        *p++ = (uint8_t)(n | 0x80);
        n >>= 7;
    }
    *p++ = (uint8_t)n;
    return p;
}

/* TCompactProtocol's type codes (compact.c and the streaming writer). */
enum {
    THRIFT__CT_STOP = 0,
    THRIFT__CT_TRUE = 1,
    THRIFT__CT_FALSE = 2,
    THRIFT__CT_BYTE = 3,
    THRIFT__CT_I16 = 4,
    THRIFT__CT_I32 = 5,
    THRIFT__CT_I64 = 6,
    THRIFT__CT_DOUBLE = 7,
    THRIFT__CT_BINARY = 8,
    THRIFT__CT_LIST = 9,
    THRIFT__CT_SET = 10,
    THRIFT__CT_MAP = 11,
    THRIFT__CT_STRUCT = 12,
    THRIFT__CT_UUID = 13,
};

/* The compact type code of each wire type (bools: TRUE, as in container
 * headers); 0 for a number that is no wire type.  Defined in compact.c. */
extern const uint8_t thrift__wire_ctype[17];

static inline uint8_t thrift__compact_ctype(unsigned wire) {
    return wire < sizeof thrift__wire_ctype ? thrift__wire_ctype[wire] : 0;
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

/* ---- the decode skeleton every protocol shares -------------------------------
 * Each protocol keeps its own primitive reads (big-endian ints, varints, JSON
 * tokens) and its own headers; the steps they all take the same way live
 * here.  The element decoders handed to these helpers are the protocols'
 * own static functions, constant at every call site: once a helper is
 * inlined the compiler calls them directly (or inlines them), so the hot
 * paths pay no indirect call per element. */
#if defined(__GNUC__)
#define THRIFT__INLINE static inline __attribute__((always_inline))
#define THRIFT__COLD __attribute__((cold, noinline))
#define THRIFT__NOINLINE __attribute__((noinline))
#else
#define THRIFT__NOINLINE
#define THRIFT__INLINE static inline
#define THRIFT__COLD
#endif

/* Returns NEED_MORE from the calling function unless `n` bytes are left. */
#define THRIFT__NEED(r, n)                                                     \
    do {                                                                       \
        if (THRIFT_UNLIKELY((size_t)((r)->end - (r)->p) < (size_t)(n)))        \
            return thrift__reader_need_more(r);                                \
    } while (0)

/* Cold error builders (proto.c): each records the error and returns its
 * code.  The type mismatches point the error at `at`, where the header that
 * declared the wrong type starts. */
thrift_status_t thrift__fail_nomem(thrift__reader_t *r) THRIFT__COLD;
/* The arena bytes a decode of `input_len` bytes may take (SIZE_MAX: no
 * limit); the defaults are thrift_codec_options_t's. */
#define THRIFT__DECODE_MEMORY_BASE ((size_t)64 << 20)
#define THRIFT__DECODE_MEMORY_PER_BYTE ((size_t)8)
size_t thrift__decode_budget(const thrift_codec_options_t *opts,
                             size_t input_len);
thrift_status_t thrift__fail_depth(thrift__reader_t *r) THRIFT__COLD;
thrift_status_t thrift__fail_count(thrift__reader_t *r, uint64_t n) THRIFT__COLD;
thrift_status_t thrift__fail_kind(thrift__reader_t *r,
                                  const thrift_type_def_t *t) THRIFT__COLD;
thrift_status_t thrift__fail_elem_type(thrift__reader_t *r, const uint8_t *at,
                                       const thrift_type_def_t *et,
                                       unsigned wire) THRIFT__COLD;
thrift_status_t thrift__fail_map_types(thrift__reader_t *r, const uint8_t *at,
                                       const thrift_type_def_t *kt,
                                       const thrift_type_def_t *vt, unsigned kw,
                                       unsigned vw) THRIFT__COLD;
/* ...and adds the field to the error path. */
thrift_status_t thrift__fail_field_type(thrift__reader_t *r, const uint8_t *at,
                                        const thrift_field_def_t *f,
                                        unsigned wire) THRIFT__COLD;

/* One more level of nesting: structs, containers, skipped ones too. */
static inline thrift_status_t thrift__reader_enter(thrift__reader_t *r) {
    if (THRIFT_UNLIKELY(++r->depth > r->opts->max_depth))
        return thrift__fail_depth(r);
    return THRIFT_OK;
}

/* Whether `wire` names a type (any of them can be skipped). */
static inline bool thrift__wire_is_type(unsigned wire) {
    return wire <= THRIFT_TYPE_UUID &&
           ((1u << wire) & ~((1u << THRIFT_TYPE_STOP) | (1u << THRIFT_TYPE_VOID) |
                             (1u << 5) | (1u << 7) | (1u << 9)));
}

/* A declared element count against the container limit, then its smallest
 * encoding (`elem_min` bytes an element) against the bytes left. */
static inline thrift_status_t thrift__check_count(thrift__reader_t *r,
                                                  uint64_t n,
                                                  unsigned elem_min) {
    if (THRIFT_UNLIKELY(n > r->opts->max_container_size))
        return thrift__fail_count(r, n);
    return thrift__reader_check_len(r, n * elem_min, r->opts->max_message_size,
                                    "container");
}

/* Decodes one value of type `t` into `v`: a struct field, a list item, a map
 * key or value.  `aux` is the field header's aux for a field, the index for
 * an element (protocols with separators need it). */
typedef thrift_status_t (*thrift__dec_fn)(thrift__reader_t *r, thrift_value_t *v,
                                          const thrift_type_def_t *t,
                                          unsigned aux);
/* Passes over one value of wire type `wire`. */
typedef thrift_status_t (*thrift__skip_fn)(thrift__reader_t *r, unsigned wire);

/* Allocates room for `count` elements (`per` values each) in the arena,
 * then enters one level of nesting. */
static inline thrift_status_t thrift__begin_container(thrift__reader_t *r,
                                                      thrift_value_t *v,
                                                      uint32_t count,
                                                      size_t per) {
    thrift_value_t *items = NULL;
    if (count) {
        items = thrift__arena_alloc(r->arena,
                                    sizeof(thrift_value_t) * per * count);
        if (THRIFT_UNLIKELY(!items))
            return thrift__fail_nomem(r);
    }
    v->u.c.items = items;
    v->u.c.cap = count;
    v->count = 0;
    return thrift__reader_enter(r);
}

/* Decodes `count` entries of `per` values (lists: 1, maps: 2: key, value)
 * into arena items, naming the failing entry in the error path. */
THRIFT__INLINE thrift_status_t
thrift__dec_entries(thrift__reader_t *r, thrift_value_t *v, uint32_t count,
                    unsigned per, const thrift_type_def_t *kt,
                    const thrift_type_def_t *vt, thrift__dec_fn key,
                    thrift__dec_fn val) {
    thrift_status_t st = thrift__begin_container(r, v, count, per);
    if (THRIFT_UNLIKELY(st != THRIFT_OK))
        return st;
    thrift_value_t *items = v->u.c.items;
    for (uint32_t i = 0; i < count; i++) {
        thrift_value_t *e = &items[per * i];
        e[0].flags = 0;
        if (per == 2)
            e[1].flags = 0;
        st = key(r, &e[0], kt, i);
        if (per == 2 && st == THRIFT_OK)
            st = val(r, &e[1], vt, i);
        if (THRIFT_UNLIKELY(st != THRIFT_OK)) {
            thrift__path_index(r, i);
            return st;
        }
        v->count = i + 1;
    }
    r->depth--;
    return THRIFT_OK;
}

/* A list or set whose header (at `at`) declared `count` elements of wire
 * type `wire`: checks the type, then decodes the elements with `elem`. */
THRIFT__INLINE thrift_status_t thrift__dec_list(thrift__reader_t *r,
                                                thrift_value_t *v,
                                                const thrift_type_def_t *t,
                                                const uint8_t *at, unsigned wire,
                                                uint32_t count,
                                                thrift__dec_fn elem) {
    const thrift_type_def_t *et = t->elem->resolved;
    if (THRIFT_UNLIKELY(count && wire != et->wire_type))
        return thrift__fail_elem_type(r, at, et, wire);
    return thrift__dec_entries(r, v, count, 1, et, NULL, elem, elem);
}

/* The same for a map: keys with `key`, values with `val`. */
THRIFT__INLINE thrift_status_t
thrift__dec_map(thrift__reader_t *r, thrift_value_t *v,
                const thrift_type_def_t *t, const uint8_t *at, unsigned kw,
                unsigned vw, uint32_t count, thrift__dec_fn key,
                thrift__dec_fn val) {
    const thrift_type_def_t *kt = t->key->resolved, *vt = t->value->resolved;
    if (THRIFT_UNLIKELY(count && (kw != kt->wire_type || vw != vt->wire_type)))
        return thrift__fail_map_types(r, at, kt, vt, kw, vw);
    return thrift__dec_entries(r, v, count, 2, kt, vt, key, val);
}

/* A struct field's header, as a protocol reads it. */
typedef struct thrift__field_hdr {
    const uint8_t *at; /* where it starts: type mismatches point here */
    int id;            /* compact: also the base of the next id delta */
    unsigned wire;     /* THRIFT_TYPE_STOP after the last field */
    unsigned aux;      /* the protocol's own (compact: the type code, which
                          holds a bool field's value; JSON: fields read) */
} thrift__field_hdr_t;

/* Reads the next field header into *h (which keeps its contents between
 * calls). */
typedef thrift_status_t (*thrift__field_hdr_fn)(thrift__reader_t *r,
                                                thrift__field_hdr_t *h);
/* A struct's fields up to its STOP: the protocols differ only in how they
 * read a field header and its value.  Unknown fields are skipped, and so are
 * fields of another type when skip_mismatched is on; required fields,
 * defaults and unions are checked at the end. */
THRIFT__INLINE thrift_status_t
thrift__dec_struct(thrift__reader_t *r, thrift_value_t *v,
                   const thrift_type_def_t *t, thrift__field_hdr_fn read_hdr,
                   thrift__dec_fn dec, thrift__skip_fn skip) {
    const thrift_struct_def_t *sd = t->struct_def;
    thrift_status_t st = thrift__reader_enter(r);
    if (THRIFT_UNLIKELY(st != THRIFT_OK))
        return st;
    uint32_t n = sd->field_count;
    thrift_value_t *slots = NULL;
    if (n) {
        slots = thrift__arena_zalloc(r->arena, sizeof(thrift_value_t) * n);
        if (THRIFT_UNLIKELY(!slots))
            return thrift__fail_nomem(r);
    }
    v->u.s.slots = slots;
    v->count = n;
    uint32_t seen = 0;
    thrift__field_hdr_t h = {NULL, 0, 0, 0};
    for (;;) {
        st = read_hdr(r, &h);
        if (THRIFT_UNLIKELY(st != THRIFT_OK))
            return st;
        if (h.wire == THRIFT_TYPE_STOP)
            break;
        const thrift_field_def_t *f = thrift__struct_field_by_id(sd, h.id);
        const thrift_type_def_t *ft = f ? f->type->resolved : NULL;
        if (!f || THRIFT_UNLIKELY(ft->wire_type != h.wire)) {
            if (f && !(r->opts->skip_mismatched && thrift__wire_is_type(h.wire)))
                return thrift__fail_field_type(r, h.at, f, h.wire);
            st = skip(r, h.wire);
            if (st != THRIFT_OK)
                return st;
            continue;
        }
        thrift_value_t *slot = &slots[f->index];
        seen += !(slot->flags & THRIFT__VALUE_SET);
        st = dec(r, slot, ft, h.aux);
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

/* Passes over a fixed-size value of `n` bytes. */
static inline thrift_status_t thrift__skip_bytes(thrift__reader_t *r,
                                                 size_t n) {
    THRIFT__NEED(r, n);
    r->p += n;
    return THRIFT_OK;
}

/* Passes over a struct's fields up to its STOP. */
THRIFT__INLINE thrift_status_t thrift__skip_struct(thrift__reader_t *r,
                                                   thrift__field_hdr_fn read_hdr,
                                                   thrift__skip_fn skip) {
    thrift_status_t st = thrift__reader_enter(r);
    if (st != THRIFT_OK)
        return st;
    thrift__field_hdr_t h = {NULL, 0, 0, 0};
    for (;;) {
        st = read_hdr(r, &h);
        if (st != THRIFT_OK)
            return st;
        if (h.wire == THRIFT_TYPE_STOP)
            break;
        st = skip(r, h.wire);
        if (st != THRIFT_OK)
            return st;
    }
    r->depth--;
    return THRIFT_OK;
}

/* Passes over `count` elements of wire type `kw` (a map's: key `kw`, value
 * `vw`; lists: vw 0) with the protocol's `skip`. */
THRIFT__INLINE thrift_status_t
thrift__skip_items(thrift__reader_t *r, uint32_t count, unsigned kw,
                   unsigned vw, thrift__skip_fn skip) {
    thrift_status_t st = thrift__reader_enter(r);
    if (st != THRIFT_OK)
        return st;
    for (uint32_t i = 0; i < count; i++) {
        st = skip(r, kw);
        if (st == THRIFT_OK && vw)
            st = skip(r, vw);
        if (st != THRIFT_OK)
            return st;
    }
    r->depth--;
    return THRIFT_OK;
}

/* ---- the encode skeleton -------------------------------------------------- */

/* Cold error builders (proto.c). */
thrift_status_t thrift__wfail_required(thrift__writer_t *w,
                                       const thrift_field_def_t *f) THRIFT__COLD;
thrift_status_t thrift__wfail_kind(thrift__writer_t *w,
                                   unsigned kind) THRIFT__COLD;

/* Encodes one value (bare, without a field header). */
typedef thrift_status_t (*thrift__enc_fn)(thrift__writer_t *w,
                                          const thrift_value_t *v);
/* Writes the header of field `f`, whose value `slot` follows; *state is the
 * protocol's own, 0 before the first field (compact: the previous id; JSON:
 * whether a field was written). */
typedef thrift_status_t (*thrift__put_field_fn)(thrift__writer_t *w,
                                                const thrift_value_t *slot,
                                                const thrift_field_def_t *f,
                                                int *state);

/* A struct's set fields in ascending id order (thrift__field_order), each
 * as put_hdr's header then enc's value; an unset required field fails.  The
 * protocol writes what opens and closes the struct; returns the final
 * state in *state. */
THRIFT__INLINE thrift_status_t thrift__enc_fields(thrift__writer_t *w,
                                                  const thrift_value_t *v,
                                                  thrift__put_field_fn put_hdr,
                                                  thrift__enc_fn enc,
                                                  int *state) {
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
            if (THRIFT_UNLIKELY(fields[i].req == THRIFT_REQ_REQUIRED))
                return thrift__wfail_required(w, &fields[i]);
            continue;
        }
        thrift_status_t st = put_hdr(w, slot, &fields[i], state);
        if (THRIFT_UNLIKELY(st != THRIFT_OK))
            return st;
        st = enc(w, slot);
        if (THRIFT_UNLIKELY(st != THRIFT_OK)) {
            thrift__wpath_field(w->err, &fields[i]);
            return st;
        }
    }
    return THRIFT_OK;
}

/* A struct in binary or compact: its fields, then a STOP byte (0 in both). */
THRIFT__INLINE thrift_status_t thrift__enc_fields_stop(
    thrift__writer_t *w, const thrift_value_t *v, thrift__put_field_fn put_hdr,
    thrift__enc_fn enc) {
    int state = 0;
    thrift_status_t st = thrift__enc_fields(w, v, put_hdr, enc, &state);
    if (THRIFT_UNLIKELY(st != THRIFT_OK))
        return st;
    if (THRIFT_UNLIKELY(!thrift__ensure(w, 1)))
        return THRIFT_NOMEM;
    *w->p++ = THRIFT_TYPE_STOP;
    return THRIFT_OK;
}

/* Encodes `n` values of a container (a map: 2n, keys and values in turn)
 * with `enc`, naming the failing index in the error path. */
THRIFT__INLINE thrift_status_t
thrift__enc_items(thrift__writer_t *w, const thrift_value_t *items, uint32_t n,
                  unsigned per, thrift__enc_fn enc) {
    for (uint32_t i = 0; i < per * n; i++) {
        thrift_status_t st = enc(w, &items[i]);
        if (THRIFT_UNLIKELY(st != THRIFT_OK)) {
            thrift__wpath_index(w->err, i / per);
            return st;
        }
    }
    return THRIFT_OK;
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

/* The streaming reader's protocol pieces (reader.c), on top of each
 * protocol's own header readers.  List/map headers check the count against
 * the limits and the bytes left, and reject a bad element type when the
 * count is not 0. */
thrift_status_t thrift__binary_read_field_hdr(thrift__reader_t *r, thrift__field_hdr_t *h);
thrift_status_t thrift__binary_read_list_hdr(thrift__reader_t *r, unsigned *wire,
                                             uint32_t *count);
thrift_status_t thrift__binary_read_map_hdr(thrift__reader_t *r, unsigned *kw, unsigned *vw,
                                            uint32_t *count);
thrift_status_t thrift__compact_read_field_hdr(thrift__reader_t *r, thrift__field_hdr_t *h);
/* The value of a compact bool field whose header had type code `aux`. */
bool thrift__compact_bool_code(unsigned aux);
thrift_status_t thrift__compact_read_list_hdr(thrift__reader_t *r, unsigned *wire,
                                              uint32_t *count);
thrift_status_t thrift__compact_read_map_hdr(thrift__reader_t *r, unsigned *kw, unsigned *vw,
                                             uint32_t *count);
thrift_status_t thrift__compact_read_varint(thrift__reader_t *r, uint64_t *out);
/* A string's varint length, at most INT32_MAX. */
thrift_status_t thrift__compact_read_size(thrift__reader_t *r, uint32_t *out);
/* The little-endian double at p[0..8). */
double thrift__compact_double(const uint8_t *p);

#endif
