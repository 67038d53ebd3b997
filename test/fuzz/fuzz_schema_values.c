/* IDL text -> load -> for every struct, union and exception it declares (and
 * every function's synthesized args and result struct): a value made with
 * its IDL defaults, encoded in binary, compact and TJSONProtocol, decoded,
 * compared; the empty message decoded (which fills the defaults again); and
 * the natural JSON mapping printed and read back.  A default that holds its
 * own struct type once recursed without end here (issue 10, item 1). */
#include "fuzz_common.h"

static bool include_cb(thrift_include_request_t *req, const char *includer,
                       const char *path, void *ud) {
    (void)includer;
    (void)ud;
    static const char shared[] =
        "struct Shared { 1: i32 a = 1, 2: optional Shared next }\nenum E { A, B }\n";
    if (strcmp(path, "shared.thrift") != 0)
        return false;
    thrift_include_provide(req, "shared.thrift", shared, sizeof shared - 1);
    return true;
}

/* A failure must say why. */
static void must_explain(const thrift_error_t *err) {
    if (err->code == THRIFT_OK)
        abort();
}

static void round_trip(const thrift_struct_def_t *sd) {
    const thrift_type_def_t *type = thrift_struct_def_type(sd);
    thrift_arena_t *arena = thrift_arena_new(NULL);
    thrift_buffer_t *buf = thrift_buffer_new();
    if (!arena || !buf)
        abort();
    thrift_value_t *v = thrift_value_new_struct(arena, sd);
    if (!v)
        abort(); /* only out of memory may fail, and nothing is limited here */
    static const char *const empty[] = {"\0", "\0", "{}"};
    static const size_t empty_len[] = {1, 1, 2};
    for (int p = 0; p < 3; p++) {
        thrift_protocol_t proto = (thrift_protocol_t)p;
        thrift_error_t err;
        thrift_error_clear(&err);
        thrift_buffer_clear(buf);
        // Encoding may refuse (a required field without a default, a union
        // with no default member): with a reason.
        if (thrift_encode(proto, v, buf, &err) == THRIFT_OK) {
            thrift_error_clear(&err);
            size_t used = 0;
            // The encoder writes what it is given, as Apache's generated
            // write() does; the decoder checks required fields and unions,
            // which defaults need not satisfy: read back without that check.
            thrift_codec_options_t o;
            thrift_codec_options_init(&o);
            o.check_required = false;
            thrift_value_t *back =
                thrift_decode(proto, type, thrift_buffer_data(buf),
                              thrift_buffer_len(buf), arena, &o, &used, &err);
            if (!back) {
                must_explain(&err);
                // Defaults may nest deeper than the decoder's depth limit.
                if (err.code != THRIFT_LIMIT)
                    abort();
            } else if (used != thrift_buffer_len(buf) ||
                       !thrift_value_equal(back, v)) {
                abort();
            }
        } else {
            must_explain(&err);
        }
        thrift_error_clear(&err);
        if (!thrift_decode(proto, type, (const uint8_t *)empty[p], empty_len[p],
                           arena, NULL, NULL, &err))
            must_explain(&err);
    }
    // The natural JSON mapping: what is printed reads back to the same value.
    thrift_error_t err;
    thrift_error_clear(&err);
    size_t len = 0;
    char *text = thrift_json_dumps(v, 0, &len, &err);
    if (!text) {
        must_explain(&err);
    } else {
        thrift_error_clear(&err);
        thrift_value_t *back =
            thrift_json_loads(arena, type, text, len, THRIFT_JSON_NO_REQUIRED, &err);
        // A union with no default member prints as {}, which reads back as
        // an error: accepted with a reason, never as another value.
        if (!back)
            must_explain(&err);
        else if (!thrift_value_equal(back, v))
            abort();
        thrift_json_text_free(text);
    }
    thrift_buffer_free(buf);
    thrift_arena_free(arena);
}

static void all_values(const thrift_module_def_t *m) {
    for (size_t i = 0; i < thrift_module_def_struct_count(m); i++)
        round_trip(thrift_module_def_struct_at(m, i));
    for (size_t i = 0; i < thrift_module_def_service_count(m); i++) {
        const thrift_service_def_t *svc = thrift_module_def_service_at(m, i);
        for (size_t j = 0; j < thrift_service_def_function_count(svc); j++) {
            const thrift_function_def_t *f = thrift_service_def_function_at(svc, j);
            round_trip(thrift_function_def_args(f));
            round_trip(thrift_function_def_result(f));
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    thrift_load_options_t opts = {0};
    opts.include_cb = include_cb;
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_schema_t *s =
        thrift_load_string("fuzz.thrift", (const char *)data, size, &opts, &err);
    if (!s) {
        must_explain(&err);
        return 0;
    }
    for (size_t i = 0; i < thrift_schema_module_count(s); i++)
        all_values(thrift_schema_module_at(s, i));
    thrift_schema_unref(s);
    return 0;
}
