/* Shared set-up for the libFuzzer targets: the schemas they decode against,
 * loaded once.  bench.thrift is always there (idl-samples); ThriftTest.thrift
 * comes from the shared IDL corpus when it is present beside the checkout. */
#ifndef DYNTHRIFT_FUZZ_COMMON_H
#define DYNTHRIFT_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynthrift/dynthrift.h"

#ifndef FUZZ_SOURCE_ROOT
#error "FUZZ_SOURCE_ROOT must name the source tree"
#endif

typedef struct fuzz_schemas {
    thrift_schema_t *bench;
    thrift_schema_t *thrift_test; /* NULL when the corpus is absent */
    /* The struct types a decoder target picks from with the first byte. */
    const thrift_type_def_t *types[64];
    size_t type_count;
} fuzz_schemas_t;

static inline void fuzz_add_types(fuzz_schemas_t *fs, const thrift_schema_t *s) {
    const thrift_module_def_t *m = thrift_schema_main_module(s);
    for (size_t i = 0; i < thrift_module_def_struct_count(m) && fs->type_count < 64; i++)
        fs->types[fs->type_count++] =
            thrift_struct_def_type(thrift_module_def_struct_at(m, i));
}

static inline const fuzz_schemas_t *fuzz_schemas(void) {
    static fuzz_schemas_t fs;
    static int loaded;
    if (loaded)
        return &fs;
    loaded = 1;
    thrift_error_t err;
    thrift_error_clear(&err);
    fs.bench = thrift_load(FUZZ_SOURCE_ROOT "/idl-samples/bench.thrift", &err);
    if (!fs.bench) {
        fprintf(stderr, "fuzz: cannot load bench.thrift: %s\n", err.text);
        abort();
    }
    fuzz_add_types(&fs, fs.bench);
    thrift_error_clear(&err);
    fs.thrift_test = thrift_load(
        FUZZ_SOURCE_ROOT "/../shared/idl-corpus/apache-thrift/test/ThriftTest.thrift", &err);
    if (fs.thrift_test)
        fuzz_add_types(&fs, fs.thrift_test);
    return &fs;
}

#endif
