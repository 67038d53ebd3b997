/* Schema-guided decoding of arbitrary bytes, for the protocol FUZZ_PROTO, and
 * the round trip: whatever decodes must encode and decode again to an equal
 * value.  The first input byte picks the struct type. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const fuzz_schemas_t *fs = fuzz_schemas();
    if (size < 1)
        return 0;
    const thrift_type_def_t *type = fs->types[data[0] % fs->type_count];
    data++;
    size--;
    thrift_codec_options_t opts;
    thrift_codec_options_init(&opts);
    opts.max_string_size = 1 << 16;
    opts.max_container_size = 1 << 16;
    thrift_arena_t *arena = thrift_arena_new(NULL);
    thrift_error_t err;
    thrift_error_clear(&err);
    size_t used = 0;
    thrift_value_t *v = thrift_decode(FUZZ_PROTO, type, data, size, arena, &opts, &used, &err);
    if (v) {
        if (used > size)
            abort();
        thrift_buffer_t *out = thrift_buffer_new();
        thrift_error_clear(&err);
        if (thrift_encode(FUZZ_PROTO, v, out, &err) != THRIFT_OK)
            abort(); /* a decoded value always encodes */
        thrift_error_clear(&err);
        thrift_value_t *again = thrift_decode(FUZZ_PROTO, type, thrift_buffer_data(out),
                                              thrift_buffer_len(out), arena, &opts, NULL, &err);
        if (!again || !thrift_value_equal(v, again))
            abort(); /* decode(encode(x)) == x */
        thrift_buffer_free(out);
    } else if (err.code == THRIFT_OK) {
        abort();
    }
    /* Skipping the same bytes schema-less must not crash either. */
    size_t skipped;
    thrift_skip(FUZZ_PROTO, THRIFT_TYPE_STRUCT, data, size, &opts, &skipped, NULL);
    thrift_arena_free(arena);
    return 0;
}
