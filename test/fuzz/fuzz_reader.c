/* The streaming reader for FUZZ_PROTO: arbitrary bytes read as a struct by
 * two readers at once, one with thrift_reader_field (a field's header and a
 * scalar's value in one call) and one piece by piece (field_begin, then the
 * scalar's own call, or skip).  Invariants: both agree on every status, wire
 * type, id, value and offset, the header offset thrift_reader_field reports
 * is where the other reader's header starts, and neither reads past the
 * input. */
#include "fuzz_common.h"

static thrift_status_t scalar_by_pieces(thrift_reader_t *rd, thrift_wire_type_t type,
                                        thrift_reader_field_t *out) {
    switch (type) {
    case THRIFT_TYPE_BOOL:
        return thrift_reader_bool(rd, &out->value.b);
    case THRIFT_TYPE_BYTE: {
        int8_t v = 0;
        thrift_status_t st = thrift_reader_i8(rd, &v);
        out->value.i = v;
        return st;
    }
    case THRIFT_TYPE_I16: {
        int16_t v = 0;
        thrift_status_t st = thrift_reader_i16(rd, &v);
        out->value.i = v;
        return st;
    }
    case THRIFT_TYPE_I32: {
        int32_t v = 0;
        thrift_status_t st = thrift_reader_i32(rd, &v);
        out->value.i = v;
        return st;
    }
    case THRIFT_TYPE_I64:
        return thrift_reader_i64(rd, &out->value.i);
    case THRIFT_TYPE_DOUBLE:
        return thrift_reader_double(rd, &out->value.d);
    default: /* STRING */
        return thrift_reader_binary(rd, &out->value.bytes.p, &out->value.bytes.n);
    }
}

static bool is_scalar(thrift_wire_type_t type) {
    switch (type) {
    case THRIFT_TYPE_BOOL:
    case THRIFT_TYPE_BYTE:
    case THRIFT_TYPE_I16:
    case THRIFT_TYPE_I32:
    case THRIFT_TYPE_I64:
    case THRIFT_TYPE_DOUBLE:
    case THRIFT_TYPE_STRING:
        return true;
    default:
        return false;
    }
}

static bool same_value(thrift_wire_type_t type, const thrift_reader_field_t *a,
                       const thrift_reader_field_t *b) {
    switch (type) {
    case THRIFT_TYPE_BOOL:
        return a->value.b == b->value.b;
    case THRIFT_TYPE_DOUBLE:
        return memcmp(&a->value.d, &b->value.d, sizeof a->value.d) == 0;
    case THRIFT_TYPE_STRING:
        return a->value.bytes.p == b->value.bytes.p && a->value.bytes.n == b->value.bytes.n;
    default:
        return a->value.i == b->value.i;
    }
}

/* One struct's fields by both readers; nested values skipped by both. */
static thrift_status_t walk(thrift_reader_t *whole, thrift_reader_t *pieces) {
    thrift_status_t st = thrift_reader_struct_begin(whole);
    if (thrift_reader_struct_begin(pieces) != st)
        abort();
    while (st == THRIFT_OK) {
        thrift_reader_field_t f, g;
        size_t at = thrift_reader_offset(pieces);
        st = thrift_reader_field(whole, &f);
        thrift_status_t st2 = thrift_reader_field_begin(pieces, &g.type, &g.id);
        bool scalar = st2 == THRIFT_OK && is_scalar(g.type);
        if (scalar)
            st2 = scalar_by_pieces(pieces, g.type, &g);
        if (st != st2 || f.offset != at)
            abort();
        if (st != THRIFT_OK)
            break;
        if (f.type != g.type || (f.type != THRIFT_TYPE_STOP && f.id != g.id) ||
            f.has_value != scalar || (scalar && !same_value(f.type, &f, &g)))
            abort();
        if (f.type == THRIFT_TYPE_STOP) {
            st = thrift_reader_struct_end(whole);
            if (thrift_reader_struct_end(pieces) != st)
                abort();
            return st;
        }
        if (!scalar) {
            st = thrift_reader_skip(whole, f.type);
            if (thrift_reader_skip(pieces, g.type) != st)
                abort();
        }
        if (thrift_reader_offset(whole) != thrift_reader_offset(pieces))
            abort();
    }
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    thrift_codec_options_t opts;
    thrift_codec_options_init(&opts);
    opts.max_string_size = 1 << 16;
    opts.max_container_size = 1 << 16;
    thrift_reader_t *whole = thrift_reader_new(FUZZ_PROTO, &opts);
    thrift_reader_t *pieces = thrift_reader_new(FUZZ_PROTO, &opts);
    if (!whole || !pieces)
        abort();
    thrift_error_t e1, e2;
    thrift_reader_begin(whole, data, size, &e1);
    thrift_reader_begin(pieces, data, size, &e2);
    thrift_status_t st = walk(whole, pieces);
    if (thrift_reader_offset(whole) > size || thrift_reader_offset(pieces) > size ||
        (st != THRIFT_OK && (e1.code != e2.code || e1.offset != e2.offset)))
        abort();
    thrift_reader_free(whole);
    thrift_reader_free(pieces);
    return 0;
}
