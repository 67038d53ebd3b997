/* The IDL loader on arbitrary bytes as a .thrift file.  Includes resolve to
 * a fixed small module so include handling is exercised without files. */
#include "fuzz_common.h"

static bool include_cb(thrift_include_request_t *req, const char *includer,
                       const char *path, void *ud) {
    (void)includer;
    (void)ud;
    static const char shared[] = "struct Shared { 1: i32 a }\nenum E { A, B }\n";
    if (strcmp(path, "shared.thrift") != 0)
        return false;
    thrift_include_provide(req, "shared.thrift", shared, sizeof shared - 1);
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    thrift_load_options_t opts = {0};
    opts.include_cb = include_cb;
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_schema_t *s =
        thrift_load_string("fuzz.thrift", (const char *)data, size, &opts, &err);
    if (s) {
        /* Walk what was loaded so reflection is fuzzed too. */
        const thrift_module_def_t *m = thrift_schema_main_module(s);
        for (size_t i = 0; i < thrift_module_def_struct_count(m); i++) {
            const thrift_struct_def_t *sd = thrift_module_def_struct_at(m, i);
            for (size_t j = 0; j < thrift_struct_def_field_count(sd); j++) {
                const thrift_field_def_t *f = thrift_struct_def_field_at(sd, j);
                if (thrift_struct_def_find_field_by_id(sd, thrift_field_def_id(f)) == NULL)
                    abort();
            }
        }
        thrift_schema_unref(s);
    } else if (err.code == THRIFT_OK) {
        abort(); /* a failed load must say why */
    }
    return 0;
}
