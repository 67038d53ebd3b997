/* Internal layouts of the schema descriptors.  Layers above (value, proto,
 * json, net) read these structs directly on hot paths; only the loader
 * (src/idl) and src/schema write them.  Everything lives in the schema's
 * arena; a schema never changes after thrift_load returns. */
#ifndef DYNTHRIFT_SCHEMA_IMPL_H
#define DYNTHRIFT_SCHEMA_IMPL_H

#include "base/base.h"
#include "dynthrift/schema.h"

typedef struct thrift__loc {
    const char *file; /* path of the file as loaded */
    int line;         /* 1-based */
    int column;       /* 1-based */
} thrift__loc_t;

struct thrift_annotations {
    uint32_t count;
    const char **keys;
    const char **values;
};

struct thrift_type_def {
    uint8_t kind;      /* thrift_kind_t */
    uint8_t wire_type; /* thrift_wire_type_t; a typedef: its target's */
    /* Every typedef followed; points to itself for non-typedefs.  The codec
     * reads elem/key/value/struct_def through `resolved` once per value. */
    const thrift_type_def_t *resolved;
    const thrift_type_def_t *elem;  /* list, set */
    const thrift_type_def_t *key;   /* map */
    const thrift_type_def_t *value; /* map */
    thrift_struct_def_t *struct_def;   /* struct, union, exception */
    thrift_enum_def_t *enum_def;       /* enum */
    thrift_typedef_def_t *typedef_def; /* typedef */
    const char *name;                  /* IDL spelling */
    thrift_annotations_t annotations;
};

struct thrift_field_def {
    int16_t id;
    bool id_implicit;
    bool reference; /* declared with & */
    uint8_t req;    /* thrift_requiredness_t */
    uint32_t index; /* position in the struct */
    const char *name;
    size_t name_len;
    const thrift_type_def_t *type; /* as written (may be a typedef) */
    const thrift_const_value_t *default_value; /* NULL: none */
    thrift_struct_def_t *owner;
    thrift_annotations_t annotations;
    const char *doc;
    thrift__loc_t loc;
};

struct thrift_struct_def {
    thrift_type_def_t type; /* this struct as a type; kind says which */
    const char *name;
    const char *full_name; /* module.Name */
    thrift_module_def_t *module;
    thrift_field_def_t *fields; /* declaration order */
    uint32_t field_count;
    uint32_t required_count;
    /* Field lookup by id: when the ids span a small range, a dense table
     * index_by_id[id - min_id] = field index + 1 (0: no such field);
     * otherwise NULL and by_id_map is used. */
    int32_t min_id;
    int32_t max_id;
    uint32_t *index_by_id;
    /* name -> field; structs of at most THRIFT__STRUCT_SCAN_MAX fields have
     * no table (slots NULL) and are searched field by field, which is as
     * fast for so few and spares most args/result structs a table. */
    thrift__strmap_t by_name;
    thrift_field_def_t **sparse_ids; /* sorted by id when index_by_id==NULL */
    thrift_function_def_t *function; /* set on synthesized args/result */
    thrift_annotations_t annotations;
    const char *doc;
    thrift__loc_t loc;
};

/* O(1) field lookup by id; NULL when absent.  The hot path of every decoder. */
const thrift_field_def_t *thrift__struct_field_by_id_sparse(
    const thrift_struct_def_t *s, int id);
static inline const thrift_field_def_t *
thrift__struct_field_by_id(const thrift_struct_def_t *s, int id) {
    if (THRIFT_LIKELY(s->index_by_id != NULL)) {
        if (id < s->min_id || id > s->max_id)
            return NULL;
        uint32_t ix = s->index_by_id[id - s->min_id];
        return ix ? &s->fields[ix - 1] : NULL;
    }
    return thrift__struct_field_by_id_sparse(s, id);
}

enum { THRIFT__STRUCT_SCAN_MAX = 8 };

/* A field by name, with or without a by_name table. */
static inline const thrift_field_def_t *
thrift__struct_field_named(const thrift_struct_def_t *s, const char *name,
                           size_t len) {
    if (s->by_name.slots)
        return (const thrift_field_def_t *)thrift__strmap_get(&s->by_name,
                                                              name, len);
    for (uint32_t i = 0; i < s->field_count; i++)
        if (s->fields[i].name_len == len &&
            memcmp(s->fields[i].name, name, len) == 0)
            return &s->fields[i];
    return NULL;
}

struct thrift_enum_value_def {
    const char *name;
    int32_t number;
    thrift_enum_def_t *owner;
    thrift_annotations_t annotations;
    const char *doc;
    thrift__loc_t loc;
};

struct thrift_enum_def {
    thrift_type_def_t type; /* kind THRIFT_KIND_ENUM, wire I32 */
    const char *name;
    const char *full_name;
    thrift_module_def_t *module;
    thrift_enum_value_def_t *values; /* declaration order */
    uint32_t value_count;
    thrift__strmap_t by_name;
    /* values sorted by number, for binary search by number */
    thrift_enum_value_def_t **by_number;
    thrift_annotations_t annotations;
    const char *doc;
    thrift__loc_t loc;
};

struct thrift_typedef_def {
    thrift_type_def_t type; /* kind THRIFT_KIND_TYPEDEF */
    const char *name;
    thrift_module_def_t *module;
    const thrift_type_def_t *target;
    thrift_annotations_t annotations;
    const char *doc;
    thrift__loc_t loc;
};

/* An evaluated constant.  Shaped by its (resolved) type: bool/ints/enums in
 * `i`, double in `d`, string/binary/uuid in `str`; list/set in `items`;
 * map in `keys`+`items`; struct in `fields`+`items`. */
struct thrift_const_value {
    const thrift_type_def_t *type; /* resolved type */
    union {
        int64_t i;
        double d;
        struct {
            const char *ptr;
            size_t len;
        } str;
    } u;
    uint32_t count;
    const thrift_const_value_t **items;
    const thrift_const_value_t **keys;
    const thrift_field_def_t **fields;
};

struct thrift_const_def {
    const char *name;
    thrift_module_def_t *module;
    const thrift_type_def_t *type; /* as written */
    const thrift_const_value_t *value;
    const char *doc;
    thrift__loc_t loc;
};

struct thrift_function_def {
    const char *name;
    size_t name_len;
    thrift_service_def_t *service;
    bool oneway;
    const thrift_type_def_t *return_type; /* kind VOID for void */
    thrift_struct_def_t *args;            /* "<name>_args" */
    thrift_struct_def_t *result;          /* "<name>_result" */
    thrift_struct_def_t *throws;          /* the throws list */
    thrift_annotations_t annotations;
    const char *doc;
    thrift__loc_t loc;
};

struct thrift_service_def {
    const char *name;
    const char *full_name;
    thrift_module_def_t *module;
    const thrift_service_def_t *parent;
    thrift_function_def_t **functions; /* own, declaration order */
    uint32_t function_count;
    /* name -> own function; inherited ones are found through `parent` */
    thrift__strmap_t by_name;
    thrift_annotations_t annotations;
    const char *doc;
    thrift__loc_t loc;
};

/* A pointer array that grows in the schema arena while loading. */
#define THRIFT__VEC(T)                                                        \
    struct {                                                                  \
        T *items;                                                             \
        uint32_t count;                                                       \
        uint32_t cap;                                                         \
    }

struct thrift_module_def {
    const char *name; /* file base name without .thrift */
    const char *path;
    const char *doc;
    THRIFT__VEC(const char *) namespace_scopes;
    THRIFT__VEC(const char *) namespace_names;
    THRIFT__VEC(thrift_module_def_t *) includes;
    THRIFT__VEC(const char *) cpp_includes;
    THRIFT__VEC(thrift_typedef_def_t *) typedefs;
    THRIFT__VEC(thrift_const_def_t *) consts;
    THRIFT__VEC(thrift_enum_def_t *) enums;
    THRIFT__VEC(thrift_struct_def_t *) structs;
    THRIFT__VEC(thrift_service_def_t *) services;
    /* every named definition of this module -> thrift__def_ref_t */
    thrift__strmap_t defs;
};

typedef enum thrift__def_kind {
    THRIFT__DEF_TYPEDEF,
    THRIFT__DEF_CONST,
    THRIFT__DEF_ENUM,
    THRIFT__DEF_STRUCT,
    THRIFT__DEF_SERVICE
} thrift__def_kind_t;

typedef struct thrift__def_ref {
    thrift__def_kind_t kind;
    void *def;
} thrift__def_ref_t;

/* The type a named definition stands for; NULL for consts and services. */
static inline const thrift_type_def_t *
thrift__def_ref_type(const thrift__def_ref_t *ref) {
    switch (ref->kind) {
    case THRIFT__DEF_TYPEDEF:
        return &((thrift_typedef_def_t *)ref->def)->type;
    case THRIFT__DEF_ENUM:
        return &((thrift_enum_def_t *)ref->def)->type;
    case THRIFT__DEF_STRUCT:
        return &((thrift_struct_def_t *)ref->def)->type;
    default:
        return NULL;
    }
}

struct thrift_schema {
    int refcount; /* atomic (__atomic builtins) */
    thrift_arena_t *arena;
    thrift_module_def_t *main;
    THRIFT__VEC(thrift_module_def_t *) modules;
    thrift__strmap_t modules_by_name;
};

/* The shared, static base types (void, bool, i8 ... uuid). */
const thrift_type_def_t *thrift__base_type(thrift_kind_t kind);

/* ---- helpers shared by the loader (src/idl) and src/schema -------------- */

/* Builds the by-id and by-name lookups of `s` from s->fields (also sets
 * index, owner and required_count).  On a duplicate id or name returns
 * THRIFT_SEMANTIC and stores the position of the first field that repeats an
 * earlier one in *dup_index; THRIFT_NOMEM on allocation failure. */
thrift_status_t thrift__struct_build_index(thrift_struct_def_t *s,
                                           thrift_arena_t *arena,
                                           uint32_t *dup_index);
/* Builds by_name and by_number of `e` from e->values; a repeated name makes
 * THRIFT_SEMANTIC with *dup_index set. */
thrift_status_t thrift__enum_build_index(thrift_enum_def_t *e,
                                         thrift_arena_t *arena,
                                         uint32_t *dup_index);
/* Allocates an empty schema owning `arena` (refcount 1). */
thrift_schema_t *thrift__schema_new(thrift_arena_t *arena);

/* The service `name` (qualified or not), or for NULL the main module's
 * last service: the default of every connection-layer constructor.  NULL
 * with THRIFT_NOT_FOUND in `err` when there is none. */
const thrift_service_def_t *thrift__schema_service_or_default(const thrift_schema_t *schema,
                                                              const char *name,
                                                              thrift_error_t *err);

#endif
