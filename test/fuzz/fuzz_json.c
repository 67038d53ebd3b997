/* The JSON mapping on arbitrary text: JSON -> value of a bench/ThriftTest
 * struct (first byte picks it) -> JSON again must load to an equal value.
 * Also the schema-less raw dumper over the same bytes as binary input. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const fuzz_schemas_t *fs = fuzz_schemas();
    if (size < 1)
        return 0;
    const thrift_type_def_t *type = fs->types[data[0] % fs->type_count];
    data++;
    size--;
    thrift_arena_t *arena = thrift_arena_new(NULL);
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_value_t *v = thrift_json_loads(arena, type, (const char *)data, size,
                                          THRIFT_JSON_NO_REQUIRED, &err);
    if (v) {
        thrift_error_clear(&err);
        size_t text_len = 0;
        char *text = thrift_json_dumps(v, 0, &text_len, &err);
        if (!text)
            abort(); /* a loaded value always dumps */
        thrift_error_clear(&err);
        thrift_value_t *again = thrift_json_loads(arena, type, text, text_len,
                                                  THRIFT_JSON_NO_REQUIRED, &err);
        if (!again || !thrift_value_equal(v, again))
            abort(); /* loads(dumps(x)) == x */
        thrift_json_text_free(text);
    } else if (err.code == THRIFT_OK) {
        abort();
    }
    for (int proto = 0; proto < 2; proto++) {
        char *raw = thrift_json_raw_dumps((thrift_protocol_t)proto, data, size,
                                          size > 0 && (data[0] & 1), 0, NULL, NULL);
        thrift_json_text_free(raw);
    }
    thrift_arena_free(arena);
    return 0;
}
