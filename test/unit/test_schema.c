/* Schema descriptor tests: base types, lookups (qualified names, field ids
 * dense and sparse, names), refcounting across threads, NULL safety. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/schema_impl.h"
#include "tap.h"

static thrift_schema_t *load(const char *name, const char *text) {
    thrift_error_t e;
    thrift_error_clear(&e);
    thrift_schema_t *s = thrift_load_string(name, text, strlen(text), NULL, &e);
    if (!s) {
        char buf[600];
        thrift_error_render(&e, true, buf, sizeof buf);
        printf("# load failed: %s\n", buf);
    }
    return s;
}

static void test_base_types(void) {
    static const struct {
        thrift_kind_t kind;
        thrift_wire_type_t wire;
        const char *name;
    } want[] = {
        {THRIFT_KIND_VOID, THRIFT_TYPE_VOID, "void"},
        {THRIFT_KIND_BOOL, THRIFT_TYPE_BOOL, "bool"},
        {THRIFT_KIND_I8, THRIFT_TYPE_BYTE, "i8"},
        {THRIFT_KIND_I16, THRIFT_TYPE_I16, "i16"},
        {THRIFT_KIND_I32, THRIFT_TYPE_I32, "i32"},
        {THRIFT_KIND_I64, THRIFT_TYPE_I64, "i64"},
        {THRIFT_KIND_DOUBLE, THRIFT_TYPE_DOUBLE, "double"},
        {THRIFT_KIND_STRING, THRIFT_TYPE_STRING, "string"},
        {THRIFT_KIND_BINARY, THRIFT_TYPE_STRING, "binary"},
        {THRIFT_KIND_UUID, THRIFT_TYPE_UUID, "uuid"},
    };
    bool ok = true;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const thrift_type_def_t *t = thrift__base_type(want[i].kind);
        ok &= t && thrift_type_def_kind(t) == want[i].kind &&
              thrift_type_def_wire_type(t) == want[i].wire &&
              strcmp(thrift_type_def_name(t), want[i].name) == 0 &&
              thrift_type_def_resolved(t) == t;
    }
    TAP_CHECK(ok, "base types: kind, wire type, name, resolved to self");
    TAP_CHECK(thrift__base_type(THRIFT_KIND_STRUCT) == NULL,
              "no base type for struct");
    TAP_STREQ(thrift_kind_name(THRIFT_KIND_MAP), "map", "kind name map");
    TAP_STREQ(thrift_kind_name(THRIFT_KIND_EXCEPTION), "exception",
              "kind name exception");
    TAP_STREQ(thrift_kind_name((thrift_kind_t)99), "unknown", "bad kind name");
}

static void test_lookups(void) {
    thrift_schema_t *s = load(
        "dir/pingpong.thrift",
        "typedef i64 Id\n"
        "enum E { A = 1, B = 2, ALIAS = 2 }\n"
        "struct Dense { 1: i32 a, 2: i32 b, 5: i32 c }\n"
        "struct Sparse { 1: i32 a, 1000: i32 b, 7: i32 c, 30000: i32 d }\n"
        "struct Empty {}\n"
        "const Id X = 5\n"
        "service PingPong { string ping(), i64 add(1: i32 a, 2: i64 b) }\n");
    TAP_CHECK(s != NULL, "sample loads");
    if (!s)
        return;
    TAP_STREQ(thrift_module_def_name(thrift_schema_main_module(s)), "pingpong",
              "module name from file base name");
    TAP_STREQ(thrift_module_def_path(thrift_schema_main_module(s)),
              "dir/pingpong.thrift", "module path as given");
    TAP_CHECK(thrift_schema_find_struct(s, "Dense") ==
                  thrift_schema_find_struct(s, "pingpong.Dense"),
              "Name and module.Name find the same struct");
    TAP_CHECK(thrift_schema_find_struct(s, "Nope") == NULL, "absent struct");
    TAP_CHECK(thrift_schema_find_struct(s, "PingPong") == NULL,
              "a service is not a struct");
    TAP_CHECK(thrift_schema_find_type(s, "i32") == thrift__base_type(THRIFT_KIND_I32),
              "find_type of a base type");
    TAP_CHECK(thrift_type_def_kind(thrift_schema_find_type(s, "Id")) ==
                  THRIFT_KIND_TYPEDEF,
              "find_type of a typedef");
    TAP_CHECK(thrift_type_def_wire_type(thrift_schema_find_type(s, "Id")) ==
                  THRIFT_TYPE_I64,
              "typedef answers its target's wire type");
    TAP_CHECK(thrift_type_def_kind(thrift_type_def_resolved(
                  thrift_schema_find_type(s, "Id"))) == THRIFT_KIND_I64,
              "typedef resolved");
    TAP_CHECK(thrift_schema_find_typedef(s, "pingpong.Id") != NULL,
              "find_typedef qualified");
    TAP_CHECK(thrift_schema_find_const(s, "X") != NULL, "find_const");

    const thrift_struct_def_t *d = thrift_schema_find_struct(s, "Dense");
    const thrift_struct_def_t *sp = thrift_schema_find_struct(s, "Sparse");
    TAP_CHECK(d->index_by_id != NULL, "small id range gets a dense table");
    TAP_CHECK(sp->index_by_id == NULL && sp->sparse_ids != NULL,
              "wide id range falls back to the sorted array");
    bool ok = true;
    int ids[] = {1, 1000, 7, 30000};
    for (int i = 0; i < 4; i++) {
        const thrift_field_def_t *f = thrift_struct_def_find_field_by_id(sp, ids[i]);
        ok &= f && thrift_field_def_id(f) == ids[i] && thrift_field_def_index(f) == (size_t)i;
    }
    TAP_CHECK(ok, "sparse lookups by id");
    TAP_CHECK(thrift_struct_def_find_field_by_id(sp, 2) == NULL &&
                  thrift_struct_def_find_field_by_id(d, 3) == NULL &&
                  thrift_struct_def_find_field_by_id(d, 6) == NULL &&
                  thrift_struct_def_find_field_by_id(d, -1) == NULL,
              "absent ids");
    TAP_CHECK(thrift_struct_def_find_field_by_id(d, 5) ==
                  thrift_struct_def_find_field(d, "c"),
              "by id and by name agree");
    TAP_CHECK(thrift_struct_def_find_field_n(d, "cx", 1) ==
                  thrift_struct_def_find_field(d, "c"),
              "find_field_n uses the length");
    const thrift_struct_def_t *em = thrift_schema_find_struct(s, "Empty");
    TAP_CHECK(thrift_struct_def_field_count(em) == 0 &&
                  thrift_struct_def_find_field_by_id(em, 0) == NULL,
              "empty struct");
    TAP_STREQ(thrift_struct_def_full_name(d), "pingpong.Dense", "full name");

    const thrift_enum_def_t *e = thrift_schema_find_enum(s, "E");
    TAP_STREQ(thrift_enum_value_def_name(thrift_enum_def_find_number(e, 2)), "B",
              "find_number answers the first name of a number");
    TAP_CHECK(thrift_enum_def_find_number(e, 3) == NULL, "absent number");
    TAP_CHECK(thrift_enum_def_find_value(e, "ALIAS") != NULL, "find_value");

    const thrift_service_def_t *svc = thrift_schema_find_service(s, "PingPong");
    const thrift_function_def_t *add = thrift_service_def_find_function(svc, "add");
    TAP_CHECK(add && thrift_type_def_kind(thrift_function_def_return_type(add)) ==
                         THRIFT_KIND_I64,
              "function return type");
    const thrift_struct_def_t *args = thrift_function_def_args(add);
    TAP_CHECK(thrift_struct_def_field_count(args) == 2 &&
                  thrift_field_def_id(thrift_struct_def_field_at(args, 1)) == 2,
              "args struct fields");
    const thrift_function_def_t *ping = thrift_service_def_find_function(svc, "ping");
    TAP_CHECK(thrift_type_def_kind(thrift_field_def_type(thrift_struct_def_field_at(
                  thrift_function_def_result(ping), 0))) == THRIFT_KIND_STRING,
              "result success has the return type");
    TAP_CHECK(thrift_service_def_find_function_n(svc, "pingx", 4) == ping,
              "find_function_n");
    thrift_schema_unref(s);
}

static void *unref_worker(void *arg) {
    thrift_schema_t *s = arg;
    for (int i = 0; i < 1000; i++)
        thrift_schema_unref(thrift_schema_ref(s));
    thrift_schema_unref(s);
    return NULL;
}

static void test_refcount(void) {
    thrift_schema_t *s = load("r.thrift", "struct S { 1: i32 a }");
    if (!s)
        return;
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        thrift_schema_ref(s);
        pthread_create(&th[i], NULL, unref_worker, s);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    TAP_CHECK(s->refcount == 1, "refs from threads balance");
    thrift_schema_unref(s); /* frees; ASan/valgrind see any leak */
    TAP_CHECK(thrift_schema_ref(NULL) == NULL, "ref(NULL)");
    thrift_schema_unref(NULL);
}

static void test_null_safety(void) {
    TAP_CHECK(thrift_schema_main_module(NULL) == NULL &&
                  thrift_schema_module_count(NULL) == 0 &&
                  thrift_schema_find_struct(NULL, "x") == NULL &&
                  thrift_module_def_name(NULL) == NULL &&
                  thrift_struct_def_field_count(NULL) == 0 &&
                  thrift_struct_def_find_field(NULL, "a") == NULL &&
                  thrift_struct_def_find_field_by_id(NULL, 1) == NULL &&
                  thrift_enum_def_find_number(NULL, 1) == NULL &&
                  thrift_service_def_find_function(NULL, "f") == NULL &&
                  thrift_annotations_count(NULL) == 0 &&
                  thrift_annotations_find(NULL, "k") == NULL &&
                  thrift_const_value_count(NULL) == 0 &&
                  thrift_type_def_name(NULL) == NULL,
              "accessors are NULL-safe");
}

int main(void) {
    test_base_types();
    test_lookups();
    test_refcount();
    test_null_safety();
    return tap_done();
}
