/* Differential target for JSON text input: the direct scanner
 * (thrift__json_scan), the jansson tree path (json_loadb +
 * thrift_json_to_value) and the public thrift_json_loads must give the same
 * verdict on any text; accepted texts the same value; mapping errors the
 * same code, path and text; the public function exactly the tree path's
 * error.  The first byte picks the struct type, as in fuzz_json; each input
 * runs with no flags and with IGNORE_UNKNOWN | NO_REQUIRED. */
#include "fuzz_common.h"
#include "json/json_internal.h"

static void check(const thrift_type_def_t *type, const char *text, size_t len,
                  unsigned flags) {
    thrift_arena_t *arena = thrift_arena_new(NULL);
    thrift_error_t et, es, ep;
    thrift_error_clear(&et);
    thrift_error_clear(&es);
    thrift_error_clear(&ep);
    bool syntax = false;
    thrift_value_t *vt = thrift__json_loads_tree(arena, type, text, len, flags, &et);
    thrift_value_t *vs = thrift__json_scan(arena, type, text, len, flags, &es, &syntax);
    thrift_value_t *vp = thrift_json_loads(arena, type, text, len, flags, &ep);
    if (!vt != !vs || !vt != !vp)
        abort(); /* different verdicts */
    if (vt) {
        if (!thrift_value_equal(vt, vs) || !thrift_value_equal(vt, vp))
            abort();
        thrift_error_t e;
        thrift_error_clear(&e);
        char *a = thrift_json_dumps(vt, 0, NULL, &e);
        char *b = thrift_json_dumps(vs, 0, NULL, &e);
        if (!a || !b || strcmp(a, b) != 0)
            abort(); /* same bits (NaN, -0.0) as the text shows them */
        thrift_json_text_free(a);
        thrift_json_text_free(b);
    } else {
        if (et.code != THRIFT_SYNTAX &&
            (syntax || es.code != et.code || strcmp(es.path, et.path) ||
             strcmp(es.text, et.text)))
            abort(); /* the scanner's own mapping error differs */
        if (ep.code != et.code || strcmp(ep.path, et.path) ||
            strcmp(ep.text, et.text) || ep.line != et.line || ep.column != et.column)
            abort(); /* the public error differs */
    }
    thrift_arena_free(arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const fuzz_schemas_t *fs = fuzz_schemas();
    if (size < 1)
        return 0;
    const thrift_type_def_t *type = fs->types[data[0] % fs->type_count];
    check(type, (const char *)data + 1, size - 1, 0);
    check(type, (const char *)data + 1, size - 1,
          THRIFT_JSON_IGNORE_UNKNOWN | THRIFT_JSON_NO_REQUIRED);
    return 0;
}
