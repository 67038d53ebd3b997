/* dynthrift — loading .thrift files and reflecting over the loaded schema.
 *
 * A schema is immutable once loaded, reference counted, and safe to share
 * between threads.  Every *_def pointer it hands out is borrowed: valid while
 * the schema lives.  Lookups by qualified name, field id and field name are
 * O(1). */
#ifndef DYNTHRIFT_SCHEMA_H
#define DYNTHRIFT_SCHEMA_H

#include "dynthrift/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Wire type ids, as Thrift's binary protocol writes them. */
typedef enum thrift_wire_type {
    THRIFT_TYPE_STOP = 0,
    THRIFT_TYPE_VOID = 1,
    THRIFT_TYPE_BOOL = 2,
    THRIFT_TYPE_BYTE = 3, /* also i8 */
    THRIFT_TYPE_DOUBLE = 4,
    THRIFT_TYPE_I16 = 6,
    THRIFT_TYPE_I32 = 8,
    THRIFT_TYPE_I64 = 10,
    THRIFT_TYPE_STRING = 11, /* also binary */
    THRIFT_TYPE_STRUCT = 12,
    THRIFT_TYPE_MAP = 13,
    THRIFT_TYPE_SET = 14,
    THRIFT_TYPE_LIST = 15,
    THRIFT_TYPE_UUID = 16
} thrift_wire_type_t;

/* What a type is in the IDL (finer than the wire type). */
typedef enum thrift_kind {
    THRIFT_KIND_VOID,
    THRIFT_KIND_BOOL,
    THRIFT_KIND_I8,
    THRIFT_KIND_I16,
    THRIFT_KIND_I32,
    THRIFT_KIND_I64,
    THRIFT_KIND_DOUBLE,
    THRIFT_KIND_STRING,
    THRIFT_KIND_BINARY,
    THRIFT_KIND_UUID,
    THRIFT_KIND_ENUM,
    THRIFT_KIND_LIST,
    THRIFT_KIND_SET,
    THRIFT_KIND_MAP,
    THRIFT_KIND_STRUCT,
    THRIFT_KIND_UNION,
    THRIFT_KIND_EXCEPTION,
    THRIFT_KIND_TYPEDEF
} thrift_kind_t;

typedef enum thrift_requiredness {
    THRIFT_REQ_DEFAULT,  /* neither keyword: Apache's "req_out" */
    THRIFT_REQ_REQUIRED,
    THRIFT_REQ_OPTIONAL
} thrift_requiredness_t;

typedef struct thrift_schema thrift_schema_t;
typedef struct thrift_module_def thrift_module_def_t;
typedef struct thrift_type_def thrift_type_def_t;
typedef struct thrift_typedef_def thrift_typedef_def_t;
typedef struct thrift_struct_def thrift_struct_def_t;
typedef struct thrift_field_def thrift_field_def_t;
typedef struct thrift_enum_def thrift_enum_def_t;
typedef struct thrift_enum_value_def thrift_enum_value_def_t;
typedef struct thrift_const_def thrift_const_def_t;
typedef struct thrift_const_value thrift_const_value_t;
typedef struct thrift_service_def thrift_service_def_t;
typedef struct thrift_function_def thrift_function_def_t;
typedef struct thrift_annotations thrift_annotations_t;

/* ---- loading ------------------------------------------------------------ */

/* Handed to an include callback; the callback answers with
 * thrift_include_provide(). */
typedef struct thrift_include_request thrift_include_request_t;

/* Asked for `include "path"` seen in `includer` (the including file's name as
 * given or provided).  Return true after calling thrift_include_provide(),
 * false if the file does not exist (the loader then reports the include as
 * missing). */
typedef bool (*thrift_include_cb)(thrift_include_request_t *req,
                                  const char *includer, const char *path,
                                  void *ud);

/* Supplies the included file: `name` identifies it (used in error messages,
 * for cycle detection, and as the includer of its own includes); `text` is
 * copied. */
THRIFT_API void thrift_include_provide(thrift_include_request_t *req,
                                       const char *name, const char *text,
                                       size_t len);

typedef struct thrift_load_options {
    /* Searched, in order, after the including file's own directory. */
    const char *const *include_dirs;
    size_t include_dir_count;
    /* When set, includes come from here instead of the filesystem. */
    thrift_include_cb include_cb;
    void *include_ud;
    /* Where the loader and the schema take their memory (NULL: malloc).
     * Borrowed: it must outlive the schema, which frees through it. */
    const thrift_allocator_t *allocator;
} thrift_load_options_t;

/* Loads a .thrift file and everything it includes.  Returns owned (refcount
 * 1); release with thrift_schema_unref.  NULL on failure, with err filled as
 * "file:line:col: message" plus the source line; nothing half-built remains. */
THRIFT_API thrift_schema_t *thrift_load(const char *path, thrift_error_t *err);
/* As thrift_load; `opts` may be NULL. */
THRIFT_API thrift_schema_t *thrift_load_ex(const char *path,
                                           const thrift_load_options_t *opts,
                                           thrift_error_t *err);
/* Loads IDL text held in memory; `name` is its file name (for errors and for
 * the module name: "x/pingpong.thrift" -> module "pingpong").  Includes go
 * through opts->include_cb when set, else the filesystem relative to `name`
 * and opts->include_dirs. */
THRIFT_API thrift_schema_t *thrift_load_string(const char *name,
                                               const char *text, size_t len,
                                               const thrift_load_options_t *opts,
                                               thrift_error_t *err);

/* Reference counting; atomic, so any thread may ref/unref. NULL-safe. */
THRIFT_API thrift_schema_t *thrift_schema_ref(thrift_schema_t *schema);
THRIFT_API void thrift_schema_unref(thrift_schema_t *schema);

/* ---- schema ------------------------------------------------------------- */

/* The module of the file that was loaded. */
THRIFT_API const thrift_module_def_t *
thrift_schema_main_module(const thrift_schema_t *schema);
/* Every module, the main one first, then included ones in load order. */
THRIFT_API size_t thrift_schema_module_count(const thrift_schema_t *schema);
THRIFT_API const thrift_module_def_t *
thrift_schema_module_at(const thrift_schema_t *schema, size_t i);
THRIFT_API const thrift_module_def_t *
thrift_schema_find_module(const thrift_schema_t *schema, const char *name);

/* Lookups by name: "Name" in the main module, or "module.Name".  NULL when
 * absent.  find_type also takes base types ("i32") and containers are not
 * parsed here. */
THRIFT_API const thrift_type_def_t *
thrift_schema_find_type(const thrift_schema_t *schema, const char *name);
THRIFT_API const thrift_struct_def_t *
thrift_schema_find_struct(const thrift_schema_t *schema, const char *name);
THRIFT_API const thrift_enum_def_t *
thrift_schema_find_enum(const thrift_schema_t *schema, const char *name);
THRIFT_API const thrift_typedef_def_t *
thrift_schema_find_typedef(const thrift_schema_t *schema, const char *name);
THRIFT_API const thrift_const_def_t *
thrift_schema_find_const(const thrift_schema_t *schema, const char *name);
THRIFT_API const thrift_service_def_t *
thrift_schema_find_service(const thrift_schema_t *schema, const char *name);

/* ---- modules (one per file) -------------------------------------------- */

THRIFT_API const char *thrift_module_def_name(const thrift_module_def_t *m);
THRIFT_API const char *thrift_module_def_path(const thrift_module_def_t *m);
THRIFT_API const char *thrift_module_def_doc(const thrift_module_def_t *m);
/* Namespaces in declaration order: `namespace py foo` -> ("py", "foo"). */
THRIFT_API size_t thrift_module_def_namespace_count(const thrift_module_def_t *m);
THRIFT_API const char *thrift_module_def_namespace_scope(const thrift_module_def_t *m, size_t i);
THRIFT_API const char *thrift_module_def_namespace_name(const thrift_module_def_t *m, size_t i);
/* The namespace for `scope`, falling back to "*"; NULL when none. */
THRIFT_API const char *thrift_module_def_find_namespace(const thrift_module_def_t *m, const char *scope);
THRIFT_API size_t thrift_module_def_include_count(const thrift_module_def_t *m);
THRIFT_API const thrift_module_def_t *thrift_module_def_include_at(const thrift_module_def_t *m, size_t i);
THRIFT_API size_t thrift_module_def_cpp_include_count(const thrift_module_def_t *m);
THRIFT_API const char *thrift_module_def_cpp_include_at(const thrift_module_def_t *m, size_t i);
/* Definitions in declaration order.  Structs include unions and exceptions. */
THRIFT_API size_t thrift_module_def_typedef_count(const thrift_module_def_t *m);
THRIFT_API const thrift_typedef_def_t *thrift_module_def_typedef_at(const thrift_module_def_t *m, size_t i);
THRIFT_API size_t thrift_module_def_const_count(const thrift_module_def_t *m);
THRIFT_API const thrift_const_def_t *thrift_module_def_const_at(const thrift_module_def_t *m, size_t i);
THRIFT_API size_t thrift_module_def_enum_count(const thrift_module_def_t *m);
THRIFT_API const thrift_enum_def_t *thrift_module_def_enum_at(const thrift_module_def_t *m, size_t i);
THRIFT_API size_t thrift_module_def_struct_count(const thrift_module_def_t *m);
THRIFT_API const thrift_struct_def_t *thrift_module_def_struct_at(const thrift_module_def_t *m, size_t i);
THRIFT_API size_t thrift_module_def_service_count(const thrift_module_def_t *m);
THRIFT_API const thrift_service_def_t *thrift_module_def_service_at(const thrift_module_def_t *m, size_t i);

/* ---- types --------------------------------------------------------------- */

THRIFT_API thrift_kind_t thrift_type_def_kind(const thrift_type_def_t *t);
/* The wire type id (a typedef answers for its target). */
THRIFT_API thrift_wire_type_t thrift_type_def_wire_type(const thrift_type_def_t *t);
/* The IDL spelling: "i32", "list<string>", "Payload", "other.Name". */
THRIFT_API const char *thrift_type_def_name(const thrift_type_def_t *t);
/* The type with every typedef followed (the type itself if not a typedef). */
THRIFT_API const thrift_type_def_t *thrift_type_def_resolved(const thrift_type_def_t *t);
/* list/set element; map key and value; NULL for other kinds. */
THRIFT_API const thrift_type_def_t *thrift_type_def_elem(const thrift_type_def_t *t);
THRIFT_API const thrift_type_def_t *thrift_type_def_key(const thrift_type_def_t *t);
THRIFT_API const thrift_type_def_t *thrift_type_def_value(const thrift_type_def_t *t);
/* The definition behind a named type; NULL when it is of another kind. */
THRIFT_API const thrift_struct_def_t *thrift_type_def_struct(const thrift_type_def_t *t);
THRIFT_API const thrift_enum_def_t *thrift_type_def_enum(const thrift_type_def_t *t);
THRIFT_API const thrift_typedef_def_t *thrift_type_def_typedef(const thrift_type_def_t *t);
/* Annotations written on the type itself: `list<i32> (cpp.template = "x")`. */
THRIFT_API const thrift_annotations_t *thrift_type_def_annotations(const thrift_type_def_t *t);
/* "i32", "list", "struct"...: the kind's name. */
THRIFT_API const char *thrift_kind_name(thrift_kind_t kind);

/* ---- typedefs ------------------------------------------------------------ */

THRIFT_API const char *thrift_typedef_def_name(const thrift_typedef_def_t *d);
THRIFT_API const thrift_module_def_t *thrift_typedef_def_module(const thrift_typedef_def_t *d);
/* The type as written (may itself be a typedef). */
THRIFT_API const thrift_type_def_t *thrift_typedef_def_target(const thrift_typedef_def_t *d);
/* The typedef as a type (kind THRIFT_KIND_TYPEDEF). */
THRIFT_API const thrift_type_def_t *thrift_typedef_def_type(const thrift_typedef_def_t *d);
THRIFT_API const thrift_annotations_t *thrift_typedef_def_annotations(const thrift_typedef_def_t *d);
THRIFT_API const char *thrift_typedef_def_doc(const thrift_typedef_def_t *d);

/* ---- structs, unions, exceptions ---------------------------------------- */

THRIFT_API const char *thrift_struct_def_name(const thrift_struct_def_t *s);
/* "module.Name". */
THRIFT_API const char *thrift_struct_def_full_name(const thrift_struct_def_t *s);
THRIFT_API const thrift_module_def_t *thrift_struct_def_module(const thrift_struct_def_t *s);
/* THRIFT_KIND_STRUCT, _UNION or _EXCEPTION. */
THRIFT_API thrift_kind_t thrift_struct_def_kind(const thrift_struct_def_t *s);
THRIFT_API const thrift_type_def_t *thrift_struct_def_type(const thrift_struct_def_t *s);
/* Fields in declaration order; a field's position is its index here. */
THRIFT_API size_t thrift_struct_def_field_count(const thrift_struct_def_t *s);
THRIFT_API const thrift_field_def_t *thrift_struct_def_field_at(const thrift_struct_def_t *s, size_t i);
/* O(1) lookups; NULL when absent. */
THRIFT_API const thrift_field_def_t *thrift_struct_def_find_field_by_id(const thrift_struct_def_t *s, int id);
THRIFT_API const thrift_field_def_t *thrift_struct_def_find_field(const thrift_struct_def_t *s, const char *name);
THRIFT_API const thrift_field_def_t *thrift_struct_def_find_field_n(const thrift_struct_def_t *s, const char *name, size_t len);
THRIFT_API const thrift_annotations_t *thrift_struct_def_annotations(const thrift_struct_def_t *s);
THRIFT_API const char *thrift_struct_def_doc(const thrift_struct_def_t *s);
/* For a function's synthesized args/result struct: that function; else NULL. */
THRIFT_API const thrift_function_def_t *thrift_struct_def_function(const thrift_struct_def_t *s);

THRIFT_API int thrift_field_def_id(const thrift_field_def_t *f);
THRIFT_API const char *thrift_field_def_name(const thrift_field_def_t *f);
/* Position in its struct (slot index in struct values). */
THRIFT_API size_t thrift_field_def_index(const thrift_field_def_t *f);
THRIFT_API const thrift_type_def_t *thrift_field_def_type(const thrift_field_def_t *f);
THRIFT_API thrift_requiredness_t thrift_field_def_requiredness(const thrift_field_def_t *f);
/* The evaluated default value, or NULL when none was written. */
THRIFT_API const thrift_const_value_t *thrift_field_def_default(const thrift_field_def_t *f);
/* True when declared with `&` (a C++ reference: recursive structs). */
THRIFT_API bool thrift_field_def_is_reference(const thrift_field_def_t *f);
/* True when the id was not written and the loader numbered it (negative). */
THRIFT_API bool thrift_field_def_id_is_implicit(const thrift_field_def_t *f);
THRIFT_API const thrift_annotations_t *thrift_field_def_annotations(const thrift_field_def_t *f);
THRIFT_API const char *thrift_field_def_doc(const thrift_field_def_t *f);

/* ---- enums --------------------------------------------------------------- */

THRIFT_API const char *thrift_enum_def_name(const thrift_enum_def_t *e);
THRIFT_API const char *thrift_enum_def_full_name(const thrift_enum_def_t *e);
THRIFT_API const thrift_module_def_t *thrift_enum_def_module(const thrift_enum_def_t *e);
THRIFT_API const thrift_type_def_t *thrift_enum_def_type(const thrift_enum_def_t *e);
THRIFT_API size_t thrift_enum_def_value_count(const thrift_enum_def_t *e);
THRIFT_API const thrift_enum_value_def_t *thrift_enum_def_value_at(const thrift_enum_def_t *e, size_t i);
THRIFT_API const thrift_enum_value_def_t *thrift_enum_def_find_value(const thrift_enum_def_t *e, const char *name);
THRIFT_API const thrift_enum_value_def_t *thrift_enum_def_find_number(const thrift_enum_def_t *e, int32_t number);
THRIFT_API const thrift_annotations_t *thrift_enum_def_annotations(const thrift_enum_def_t *e);
THRIFT_API const char *thrift_enum_def_doc(const thrift_enum_def_t *e);

THRIFT_API const char *thrift_enum_value_def_name(const thrift_enum_value_def_t *v);
THRIFT_API int32_t thrift_enum_value_def_number(const thrift_enum_value_def_t *v);
THRIFT_API const thrift_annotations_t *thrift_enum_value_def_annotations(const thrift_enum_value_def_t *v);
THRIFT_API const char *thrift_enum_value_def_doc(const thrift_enum_value_def_t *v);

/* ---- constants ----------------------------------------------------------- */

THRIFT_API const char *thrift_const_def_name(const thrift_const_def_t *c);
THRIFT_API const thrift_module_def_t *thrift_const_def_module(const thrift_const_def_t *c);
THRIFT_API const thrift_type_def_t *thrift_const_def_type(const thrift_const_def_t *c);
THRIFT_API const thrift_const_value_t *thrift_const_def_value(const thrift_const_def_t *c);
THRIFT_API const char *thrift_const_def_doc(const thrift_const_def_t *c);

/* An evaluated constant, shaped by its type: enum references and const
 * references are already replaced by what they name. */
THRIFT_API const thrift_type_def_t *thrift_const_value_type(const thrift_const_value_t *v);
/* bool, integers and enums. */
THRIFT_API int64_t thrift_const_value_int(const thrift_const_value_t *v);
THRIFT_API double thrift_const_value_double(const thrift_const_value_t *v);
/* string, binary and uuid (as written: 36 characters). */
THRIFT_API const char *thrift_const_value_string(const thrift_const_value_t *v, size_t *len);
/* list and set: items; map: pairs; struct: the fields that were given. */
THRIFT_API size_t thrift_const_value_count(const thrift_const_value_t *v);
THRIFT_API const thrift_const_value_t *thrift_const_value_item(const thrift_const_value_t *v, size_t i);
THRIFT_API const thrift_const_value_t *thrift_const_value_map_key(const thrift_const_value_t *v, size_t i);
THRIFT_API const thrift_const_value_t *thrift_const_value_map_value(const thrift_const_value_t *v, size_t i);
THRIFT_API const thrift_field_def_t *thrift_const_value_struct_field(const thrift_const_value_t *v, size_t i);
THRIFT_API const thrift_const_value_t *thrift_const_value_struct_value(const thrift_const_value_t *v, size_t i);

/* ---- services ------------------------------------------------------------ */

THRIFT_API const char *thrift_service_def_name(const thrift_service_def_t *s);
THRIFT_API const char *thrift_service_def_full_name(const thrift_service_def_t *s);
THRIFT_API const thrift_module_def_t *thrift_service_def_module(const thrift_service_def_t *s);
/* The service it extends, or NULL. */
THRIFT_API const thrift_service_def_t *thrift_service_def_parent(const thrift_service_def_t *s);
/* Its own functions in declaration order. */
THRIFT_API size_t thrift_service_def_function_count(const thrift_service_def_t *s);
THRIFT_API const thrift_function_def_t *thrift_service_def_function_at(const thrift_service_def_t *s, size_t i);
/* A function of this service or of the services it extends (nearest wins). */
THRIFT_API const thrift_function_def_t *thrift_service_def_find_function(const thrift_service_def_t *s, const char *name);
THRIFT_API const thrift_function_def_t *thrift_service_def_find_function_n(const thrift_service_def_t *s, const char *name, size_t len);
THRIFT_API const thrift_annotations_t *thrift_service_def_annotations(const thrift_service_def_t *s);
THRIFT_API const char *thrift_service_def_doc(const thrift_service_def_t *s);

THRIFT_API const char *thrift_function_def_name(const thrift_function_def_t *f);
THRIFT_API const thrift_service_def_t *thrift_function_def_service(const thrift_function_def_t *f);
THRIFT_API bool thrift_function_def_is_oneway(const thrift_function_def_t *f);
/* The return type (kind THRIFT_KIND_VOID for void). */
THRIFT_API const thrift_type_def_t *thrift_function_def_return_type(const thrift_function_def_t *f);
/* "<name>_args": the arguments as a struct, as Apache puts them on the wire. */
THRIFT_API const thrift_struct_def_t *thrift_function_def_args(const thrift_function_def_t *f);
/* "<name>_result": field 0 "success" (unless void) then the declared
 * exceptions with their ids. */
THRIFT_API const thrift_struct_def_t *thrift_function_def_result(const thrift_function_def_t *f);
/* The `throws (...)` list as a struct of exception fields. */
THRIFT_API const thrift_struct_def_t *thrift_function_def_throws(const thrift_function_def_t *f);
THRIFT_API const thrift_annotations_t *thrift_function_def_annotations(const thrift_function_def_t *f);
THRIFT_API const char *thrift_function_def_doc(const thrift_function_def_t *f);

/* ---- annotations --------------------------------------------------------- */
/* `( key = "value", flag )`: a flag has the value "1", as in Apache. */
THRIFT_API size_t thrift_annotations_count(const thrift_annotations_t *a);
THRIFT_API const char *thrift_annotations_key_at(const thrift_annotations_t *a, size_t i);
THRIFT_API const char *thrift_annotations_value_at(const thrift_annotations_t *a, size_t i);
/* The value of the last annotation named `key`, or NULL. */
THRIFT_API const char *thrift_annotations_find(const thrift_annotations_t *a, const char *key);

#ifdef __cplusplus
}
#endif
#endif
