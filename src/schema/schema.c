/* Schema descriptors: base types, lookups and the reflection accessors.
 * Everything here reads an immutable schema, so it is thread-safe. */
#include <stdlib.h>

#include "schema/schema_impl.h"

/* ---- base types ----------------------------------------------------------- */

#define BASE_(k, w, n)                                                        \
    [THRIFT_KIND_##k] = {.kind = THRIFT_KIND_##k,                             \
                         .wire_type = THRIFT_TYPE_##w,                        \
                         .resolved = &base_types[THRIFT_KIND_##k],            \
                         .name = n}

static const thrift_type_def_t base_types[THRIFT_KIND_UUID + 1] = {
    BASE_(VOID, VOID, "void"),       BASE_(BOOL, BOOL, "bool"),
    BASE_(I8, BYTE, "i8"),           BASE_(I16, I16, "i16"),
    BASE_(I32, I32, "i32"),          BASE_(I64, I64, "i64"),
    BASE_(DOUBLE, DOUBLE, "double"), BASE_(STRING, STRING, "string"),
    BASE_(BINARY, STRING, "binary"), BASE_(UUID, UUID, "uuid"),
};
#undef BASE_

const thrift_type_def_t *thrift__base_type(thrift_kind_t kind) {
    if ((unsigned)kind > THRIFT_KIND_UUID)
        return NULL;
    return &base_types[kind];
}

const char *thrift_kind_name(thrift_kind_t kind) {
    static const char *const names[] = {
        [THRIFT_KIND_VOID] = "void",       [THRIFT_KIND_BOOL] = "bool",
        [THRIFT_KIND_I8] = "i8",           [THRIFT_KIND_I16] = "i16",
        [THRIFT_KIND_I32] = "i32",         [THRIFT_KIND_I64] = "i64",
        [THRIFT_KIND_DOUBLE] = "double",   [THRIFT_KIND_STRING] = "string",
        [THRIFT_KIND_BINARY] = "binary",   [THRIFT_KIND_UUID] = "uuid",
        [THRIFT_KIND_ENUM] = "enum",       [THRIFT_KIND_LIST] = "list",
        [THRIFT_KIND_SET] = "set",         [THRIFT_KIND_MAP] = "map",
        [THRIFT_KIND_STRUCT] = "struct",   [THRIFT_KIND_UNION] = "union",
        [THRIFT_KIND_EXCEPTION] = "exception",
        [THRIFT_KIND_TYPEDEF] = "typedef",
    };
    if ((unsigned)kind >= sizeof names / sizeof names[0])
        return "unknown";
    return names[kind];
}

/* ---- schema lifetime -------------------------------------------------------- */

thrift_schema_t *thrift__schema_new(thrift_arena_t *arena) {
    thrift_schema_t *s = thrift__arena_zalloc(arena, sizeof *s);
    if (!s)
        return NULL;
    s->refcount = 1;
    s->arena = arena;
    thrift__strmap_init(&s->modules_by_name, arena);
    return s;
}

thrift_schema_t *thrift_schema_ref(thrift_schema_t *schema) {
    if (schema)
        __atomic_add_fetch(&schema->refcount, 1, __ATOMIC_RELAXED);
    return schema;
}

void thrift_schema_unref(thrift_schema_t *schema) {
    if (!schema)
        return;
    /* acq_rel: the thread that frees must see every other thread's reads
     * finished before their unref. */
    if (__atomic_sub_fetch(&schema->refcount, 1, __ATOMIC_ACQ_REL) == 0)
        thrift_arena_free(schema->arena); /* the schema lives in its arena */
}

/* ---- indexes ---------------------------------------------------------------- */

static int cmp_field_id(const void *a, const void *b) {
    const thrift_field_def_t *x = *(thrift_field_def_t *const *)a;
    const thrift_field_def_t *y = *(thrift_field_def_t *const *)b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

thrift_status_t thrift__struct_build_index(thrift_struct_def_t *s,
                                           thrift_arena_t *arena,
                                           uint32_t *dup_index) {
    uint32_t n = s->field_count;
    uint32_t dup = UINT32_MAX;
    thrift__strmap_init(&s->by_name, arena);
    s->required_count = 0;
    s->index_by_id = NULL;
    s->sparse_ids = NULL;
    s->min_id = 0;
    s->max_id = -1;
    bool table = n > THRIFT__STRUCT_SCAN_MAX;
    if (table && !thrift__strmap_reserve(&s->by_name, n))
        return THRIFT_NOMEM;
    for (uint32_t i = 0; i < n; i++) {
        thrift_field_def_t *f = &s->fields[i];
        f->index = i;
        f->owner = s;
        if (f->req == THRIFT_REQ_REQUIRED)
            s->required_count++;
        if (table) {
            bool oom = false;
            if (!thrift__strmap_put(&s->by_name, f->name, f->name_len, f, NULL,
                                    &oom)) {
                if (oom)
                    return THRIFT_NOMEM;
                if (i < dup)
                    dup = i;
            }
        } else if (dup == UINT32_MAX) {
            for (uint32_t j = 0; j < i; j++)
                if (s->fields[j].name_len == f->name_len &&
                    memcmp(s->fields[j].name, f->name, f->name_len) == 0) {
                    dup = i;
                    break;
                }
        }
        if (i == 0 || f->id < s->min_id)
            s->min_id = f->id;
        if (i == 0 || f->id > s->max_id)
            s->max_id = f->id;
    }
    if (n == 0) {
        if (dup != UINT32_MAX) {
            if (dup_index)
                *dup_index = dup;
            return THRIFT_SEMANTIC;
        }
        return THRIFT_OK;
    }
    /* A dense table when it costs at most a few slots per field; filling it
     * finds repeated ids on the way (the first field to hit a taken slot is
     * the first repeat), so only a sparse index needs sorting. */
    uint32_t span = (uint32_t)(s->max_id - s->min_id) + 1;
    if (span <= 4 * n + 16) {
        uint32_t *table = thrift__arena_zalloc(arena, sizeof *table * span);
        if (!table)
            return THRIFT_NOMEM;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t *slot = &table[s->fields[i].id - s->min_id];
            if (*slot) {
                if (i < dup)
                    dup = i;
                break;
            }
            *slot = i + 1;
        }
        if (dup == UINT32_MAX)
            s->index_by_id = table;
    } else {
        /* Sorting by id finds repeated ids and is the sparse index at once. */
        thrift_field_def_t **sorted =
            thrift__arena_alloc(arena, sizeof *sorted * n);
        if (!sorted)
            return THRIFT_NOMEM;
        for (uint32_t i = 0; i < n; i++)
            sorted[i] = &s->fields[i];
        qsort(sorted, n, sizeof *sorted, cmp_field_id);
        for (uint32_t i = 1; i < n; i++)
            if (sorted[i]->id == sorted[i - 1]->id && sorted[i]->index < dup)
                dup = sorted[i]->index;
        if (dup == UINT32_MAX)
            s->sparse_ids = sorted;
    }
    if (dup != UINT32_MAX) {
        if (dup_index)
            *dup_index = dup;
        return THRIFT_SEMANTIC;
    }
    return THRIFT_OK;
}

const thrift_field_def_t *
thrift__struct_field_by_id_sparse(const thrift_struct_def_t *s, int id) {
    if (!s->sparse_ids)
        return NULL;
    uint32_t lo = 0, hi = s->field_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int mid_id = s->sparse_ids[mid]->id;
        if (mid_id == id)
            return s->sparse_ids[mid];
        if (mid_id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int cmp_enum_number(const void *a, const void *b) {
    const thrift_enum_value_def_t *x = *(thrift_enum_value_def_t *const *)a;
    const thrift_enum_value_def_t *y = *(thrift_enum_value_def_t *const *)b;
    if (x->number != y->number)
        return x->number < y->number ? -1 : 1;
    /* Equal numbers keep declaration order, so the first name wins. */
    return x < y ? -1 : x > y;
}

thrift_status_t thrift__enum_build_index(thrift_enum_def_t *e,
                                         thrift_arena_t *arena,
                                         uint32_t *dup_index) {
    thrift__strmap_init(&e->by_name, arena);
    if (!thrift__strmap_reserve(&e->by_name, e->value_count))
        return THRIFT_NOMEM;
    for (uint32_t i = 0; i < e->value_count; i++) {
        thrift_enum_value_def_t *v = &e->values[i];
        v->owner = e;
        bool oom = false;
        if (!thrift__strmap_put(&e->by_name, v->name, strlen(v->name), v, NULL,
                                &oom)) {
            if (oom)
                return THRIFT_NOMEM;
            if (dup_index)
                *dup_index = i;
            return THRIFT_SEMANTIC;
        }
    }
    e->by_number = NULL;
    if (e->value_count) {
        e->by_number =
            thrift__arena_alloc(arena, sizeof *e->by_number * e->value_count);
        if (!e->by_number)
            return THRIFT_NOMEM;
        bool in_order = true;
        for (uint32_t i = 0; i < e->value_count; i++) {
            e->by_number[i] = &e->values[i];
            if (i && e->values[i].number < e->values[i - 1].number)
                in_order = false;
        }
        /* Values are nearly always declared in increasing order. */
        if (!in_order)
            qsort(e->by_number, e->value_count, sizeof *e->by_number,
                  cmp_enum_number);
    }
    return THRIFT_OK;
}

/* ---- schema lookups ------------------------------------------------------- */

const thrift_module_def_t *
thrift_schema_main_module(const thrift_schema_t *schema) {
    return schema ? schema->main : NULL;
}

size_t thrift_schema_module_count(const thrift_schema_t *schema) {
    return schema ? schema->modules.count : 0;
}

const thrift_module_def_t *thrift_schema_module_at(const thrift_schema_t *schema,
                                                   size_t i) {
    if (!schema || i >= schema->modules.count)
        return NULL;
    return schema->modules.items[i];
}

const thrift_module_def_t *
thrift_schema_find_module(const thrift_schema_t *schema, const char *name) {
    if (!schema || !name)
        return NULL;
    return thrift__strmap_get(&schema->modules_by_name, name, strlen(name));
}

/* "Name" in the main module, "module.Name" in that module.  Module names may
 * themselves hold dots (foo.bar.thrift), so every split is tried, the main
 * module's own name first. */
static const thrift__def_ref_t *find_def(const thrift_schema_t *schema,
                                         const char *name) {
    if (!schema || !name || !schema->main)
        return NULL;
    size_t len = strlen(name);
    const thrift__def_ref_t *ref =
        thrift__strmap_get(&schema->main->defs, name, len);
    if (ref)
        return ref;
    for (size_t i = 0; i < len; i++) {
        if (name[i] != '.')
            continue;
        const thrift_module_def_t *m =
            thrift__strmap_get(&schema->modules_by_name, name, i);
        if (!m)
            continue;
        ref = thrift__strmap_get(&m->defs, name + i + 1, len - i - 1);
        if (ref)
            return ref;
    }
    return NULL;
}

static const void *find_kind(const thrift_schema_t *schema, const char *name,
                             thrift__def_kind_t kind) {
    const thrift__def_ref_t *ref = find_def(schema, name);
    return ref && ref->kind == kind ? ref->def : NULL;
}

const thrift_type_def_t *thrift_schema_find_type(const thrift_schema_t *schema,
                                                 const char *name) {
    if (!name)
        return NULL;
    for (int k = THRIFT_KIND_VOID; k <= THRIFT_KIND_UUID; k++)
        if (strcmp(base_types[k].name, name) == 0)
            return &base_types[k];
    if (strcmp(name, "byte") == 0)
        return &base_types[THRIFT_KIND_I8];
    const thrift__def_ref_t *ref = find_def(schema, name);
    return ref ? thrift__def_ref_type(ref) : NULL;
}

const thrift_struct_def_t *
thrift_schema_find_struct(const thrift_schema_t *schema, const char *name) {
    return find_kind(schema, name, THRIFT__DEF_STRUCT);
}
const thrift_enum_def_t *thrift_schema_find_enum(const thrift_schema_t *schema,
                                                 const char *name) {
    return find_kind(schema, name, THRIFT__DEF_ENUM);
}
const thrift_typedef_def_t *
thrift_schema_find_typedef(const thrift_schema_t *schema, const char *name) {
    return find_kind(schema, name, THRIFT__DEF_TYPEDEF);
}
const thrift_const_def_t *
thrift_schema_find_const(const thrift_schema_t *schema, const char *name) {
    return find_kind(schema, name, THRIFT__DEF_CONST);
}
const thrift_service_def_t *
thrift_schema_find_service(const thrift_schema_t *schema, const char *name) {
    return find_kind(schema, name, THRIFT__DEF_SERVICE);
}

const thrift_service_def_t *thrift__schema_service_or_default(const thrift_schema_t *schema,
                                                              const char *name,
                                                              thrift_error_t *err) {
    const thrift_service_def_t *svc = NULL;
    if (name) {
        svc = thrift_schema_find_service(schema, name);
    } else {
        const thrift_module_def_t *m = thrift_schema_main_module(schema);
        size_t n = thrift_module_def_service_count(m);
        svc = n ? thrift_module_def_service_at(m, n - 1) : NULL;
    }
    if (!svc)
        thrift__error_set(err, THRIFT_NOT_FOUND, "no service '%s' in the schema",
                          name ? name : "(any)");
    return svc;
}

/* ---- modules ------------------------------------------------------------- */

#define VEC_AT_(vec, i) ((i) < (vec).count ? (vec).items[i] : NULL)

const char *thrift_module_def_name(const thrift_module_def_t *m) {
    return m ? m->name : NULL;
}
const char *thrift_module_def_path(const thrift_module_def_t *m) {
    return m ? m->path : NULL;
}
const char *thrift_module_def_doc(const thrift_module_def_t *m) {
    return m ? m->doc : NULL;
}
size_t thrift_module_def_namespace_count(const thrift_module_def_t *m) {
    return m ? m->namespace_scopes.count : 0;
}
const char *thrift_module_def_namespace_scope(const thrift_module_def_t *m,
                                              size_t i) {
    return m ? VEC_AT_(m->namespace_scopes, i) : NULL;
}
const char *thrift_module_def_namespace_name(const thrift_module_def_t *m,
                                             size_t i) {
    return m ? VEC_AT_(m->namespace_names, i) : NULL;
}
const char *thrift_module_def_find_namespace(const thrift_module_def_t *m,
                                             const char *scope) {
    if (!m || !scope)
        return NULL;
    const char *star = NULL;
    /* The last declaration for a scope wins, as in Apache. */
    const char *found = NULL;
    for (uint32_t i = 0; i < m->namespace_scopes.count; i++) {
        if (strcmp(m->namespace_scopes.items[i], scope) == 0)
            found = m->namespace_names.items[i];
        else if (strcmp(m->namespace_scopes.items[i], "*") == 0)
            star = m->namespace_names.items[i];
    }
    return found ? found : star;
}
size_t thrift_module_def_include_count(const thrift_module_def_t *m) {
    return m ? m->includes.count : 0;
}
const thrift_module_def_t *
thrift_module_def_include_at(const thrift_module_def_t *m, size_t i) {
    return m ? VEC_AT_(m->includes, i) : NULL;
}
size_t thrift_module_def_cpp_include_count(const thrift_module_def_t *m) {
    return m ? m->cpp_includes.count : 0;
}
const char *thrift_module_def_cpp_include_at(const thrift_module_def_t *m,
                                             size_t i) {
    return m ? VEC_AT_(m->cpp_includes, i) : NULL;
}
size_t thrift_module_def_typedef_count(const thrift_module_def_t *m) {
    return m ? m->typedefs.count : 0;
}
const thrift_typedef_def_t *
thrift_module_def_typedef_at(const thrift_module_def_t *m, size_t i) {
    return m ? VEC_AT_(m->typedefs, i) : NULL;
}
size_t thrift_module_def_const_count(const thrift_module_def_t *m) {
    return m ? m->consts.count : 0;
}
const thrift_const_def_t *thrift_module_def_const_at(const thrift_module_def_t *m,
                                                     size_t i) {
    return m ? VEC_AT_(m->consts, i) : NULL;
}
size_t thrift_module_def_enum_count(const thrift_module_def_t *m) {
    return m ? m->enums.count : 0;
}
const thrift_enum_def_t *thrift_module_def_enum_at(const thrift_module_def_t *m,
                                                   size_t i) {
    return m ? VEC_AT_(m->enums, i) : NULL;
}
size_t thrift_module_def_struct_count(const thrift_module_def_t *m) {
    return m ? m->structs.count : 0;
}
const thrift_struct_def_t *
thrift_module_def_struct_at(const thrift_module_def_t *m, size_t i) {
    return m ? VEC_AT_(m->structs, i) : NULL;
}
size_t thrift_module_def_service_count(const thrift_module_def_t *m) {
    return m ? m->services.count : 0;
}
const thrift_service_def_t *
thrift_module_def_service_at(const thrift_module_def_t *m, size_t i) {
    return m ? VEC_AT_(m->services, i) : NULL;
}

/* ---- types ----------------------------------------------------------------- */

thrift_kind_t thrift_type_def_kind(const thrift_type_def_t *t) {
    return t ? (thrift_kind_t)t->kind : THRIFT_KIND_VOID;
}
thrift_wire_type_t thrift_type_def_wire_type(const thrift_type_def_t *t) {
    return t ? (thrift_wire_type_t)t->wire_type : THRIFT_TYPE_STOP;
}
const char *thrift_type_def_name(const thrift_type_def_t *t) {
    return t ? t->name : NULL;
}
const thrift_type_def_t *thrift_type_def_resolved(const thrift_type_def_t *t) {
    return t ? t->resolved : NULL;
}
const thrift_type_def_t *thrift_type_def_elem(const thrift_type_def_t *t) {
    return t ? t->elem : NULL;
}
const thrift_type_def_t *thrift_type_def_key(const thrift_type_def_t *t) {
    return t ? t->key : NULL;
}
const thrift_type_def_t *thrift_type_def_value(const thrift_type_def_t *t) {
    return t ? t->value : NULL;
}
const thrift_struct_def_t *thrift_type_def_struct(const thrift_type_def_t *t) {
    return t ? t->struct_def : NULL;
}
const thrift_enum_def_t *thrift_type_def_enum(const thrift_type_def_t *t) {
    return t ? t->enum_def : NULL;
}
const thrift_typedef_def_t *thrift_type_def_typedef(const thrift_type_def_t *t) {
    return t ? t->typedef_def : NULL;
}
const thrift_annotations_t *
thrift_type_def_annotations(const thrift_type_def_t *t) {
    return t ? &t->annotations : NULL;
}

/* ---- typedefs ---------------------------------------------------------------- */

const char *thrift_typedef_def_name(const thrift_typedef_def_t *d) {
    return d ? d->name : NULL;
}
const thrift_module_def_t *thrift_typedef_def_module(const thrift_typedef_def_t *d) {
    return d ? d->module : NULL;
}
const thrift_type_def_t *thrift_typedef_def_target(const thrift_typedef_def_t *d) {
    return d ? d->target : NULL;
}
const thrift_type_def_t *thrift_typedef_def_type(const thrift_typedef_def_t *d) {
    return d ? &d->type : NULL;
}
const thrift_annotations_t *
thrift_typedef_def_annotations(const thrift_typedef_def_t *d) {
    return d ? &d->annotations : NULL;
}
const char *thrift_typedef_def_doc(const thrift_typedef_def_t *d) {
    return d ? d->doc : NULL;
}

/* ---- structs ----------------------------------------------------------------- */

const char *thrift_struct_def_name(const thrift_struct_def_t *s) {
    return s ? s->name : NULL;
}
const char *thrift_struct_def_full_name(const thrift_struct_def_t *s) {
    return s ? s->full_name : NULL;
}
const thrift_module_def_t *thrift_struct_def_module(const thrift_struct_def_t *s) {
    return s ? s->module : NULL;
}
thrift_kind_t thrift_struct_def_kind(const thrift_struct_def_t *s) {
    return s ? (thrift_kind_t)s->type.kind : THRIFT_KIND_STRUCT;
}
const thrift_type_def_t *thrift_struct_def_type(const thrift_struct_def_t *s) {
    return s ? &s->type : NULL;
}
size_t thrift_struct_def_field_count(const thrift_struct_def_t *s) {
    return s ? s->field_count : 0;
}
const thrift_field_def_t *thrift_struct_def_field_at(const thrift_struct_def_t *s,
                                                     size_t i) {
    return s && i < s->field_count ? &s->fields[i] : NULL;
}
const thrift_field_def_t *
thrift_struct_def_find_field_by_id(const thrift_struct_def_t *s, int id) {
    return s ? thrift__struct_field_by_id(s, id) : NULL;
}
const thrift_field_def_t *thrift_struct_def_find_field(const thrift_struct_def_t *s,
                                                       const char *name) {
    return s && name ? thrift__struct_field_named(s, name, strlen(name)) : NULL;
}
const thrift_field_def_t *
thrift_struct_def_find_field_n(const thrift_struct_def_t *s, const char *name,
                               size_t len) {
    return s && name ? thrift__struct_field_named(s, name, len) : NULL;
}
const thrift_annotations_t *
thrift_struct_def_annotations(const thrift_struct_def_t *s) {
    return s ? &s->annotations : NULL;
}
const char *thrift_struct_def_doc(const thrift_struct_def_t *s) {
    return s ? s->doc : NULL;
}
const thrift_function_def_t *
thrift_struct_def_function(const thrift_struct_def_t *s) {
    return s ? s->function : NULL;
}

int thrift_field_def_id(const thrift_field_def_t *f) { return f ? f->id : 0; }
const char *thrift_field_def_name(const thrift_field_def_t *f) {
    return f ? f->name : NULL;
}
size_t thrift_field_def_index(const thrift_field_def_t *f) {
    return f ? f->index : 0;
}
const thrift_type_def_t *thrift_field_def_type(const thrift_field_def_t *f) {
    return f ? f->type : NULL;
}
thrift_requiredness_t thrift_field_def_requiredness(const thrift_field_def_t *f) {
    return f ? (thrift_requiredness_t)f->req : THRIFT_REQ_DEFAULT;
}
const thrift_const_value_t *thrift_field_def_default(const thrift_field_def_t *f) {
    return f ? f->default_value : NULL;
}
bool thrift_field_def_is_reference(const thrift_field_def_t *f) {
    return f && f->reference;
}
bool thrift_field_def_id_is_implicit(const thrift_field_def_t *f) {
    return f && f->id_implicit;
}
const thrift_annotations_t *
thrift_field_def_annotations(const thrift_field_def_t *f) {
    return f ? &f->annotations : NULL;
}
const char *thrift_field_def_doc(const thrift_field_def_t *f) {
    return f ? f->doc : NULL;
}

/* ---- enums ------------------------------------------------------------------- */

const char *thrift_enum_def_name(const thrift_enum_def_t *e) {
    return e ? e->name : NULL;
}
const char *thrift_enum_def_full_name(const thrift_enum_def_t *e) {
    return e ? e->full_name : NULL;
}
const thrift_module_def_t *thrift_enum_def_module(const thrift_enum_def_t *e) {
    return e ? e->module : NULL;
}
const thrift_type_def_t *thrift_enum_def_type(const thrift_enum_def_t *e) {
    return e ? &e->type : NULL;
}
size_t thrift_enum_def_value_count(const thrift_enum_def_t *e) {
    return e ? e->value_count : 0;
}
const thrift_enum_value_def_t *thrift_enum_def_value_at(const thrift_enum_def_t *e,
                                                        size_t i) {
    return e && i < e->value_count ? &e->values[i] : NULL;
}
const thrift_enum_value_def_t *
thrift_enum_def_find_value(const thrift_enum_def_t *e, const char *name) {
    return e && name ? thrift__strmap_get(&e->by_name, name, strlen(name))
                     : NULL;
}
const thrift_enum_value_def_t *
thrift_enum_def_find_number(const thrift_enum_def_t *e, int32_t number) {
    if (!e || !e->by_number)
        return NULL;
    /* Lower bound, so that of several names for one number the first
     * declared is answered. */
    uint32_t lo = 0, hi = e->value_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (e->by_number[mid]->number < number)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < e->value_count && e->by_number[lo]->number == number)
        return e->by_number[lo];
    return NULL;
}
const thrift_annotations_t *thrift_enum_def_annotations(const thrift_enum_def_t *e) {
    return e ? &e->annotations : NULL;
}
const char *thrift_enum_def_doc(const thrift_enum_def_t *e) {
    return e ? e->doc : NULL;
}
const char *thrift_enum_value_def_name(const thrift_enum_value_def_t *v) {
    return v ? v->name : NULL;
}
int32_t thrift_enum_value_def_number(const thrift_enum_value_def_t *v) {
    return v ? v->number : 0;
}
const thrift_annotations_t *
thrift_enum_value_def_annotations(const thrift_enum_value_def_t *v) {
    return v ? &v->annotations : NULL;
}
const char *thrift_enum_value_def_doc(const thrift_enum_value_def_t *v) {
    return v ? v->doc : NULL;
}

/* ---- consts ------------------------------------------------------------------ */

const char *thrift_const_def_name(const thrift_const_def_t *c) {
    return c ? c->name : NULL;
}
const thrift_module_def_t *thrift_const_def_module(const thrift_const_def_t *c) {
    return c ? c->module : NULL;
}
const thrift_type_def_t *thrift_const_def_type(const thrift_const_def_t *c) {
    return c ? c->type : NULL;
}
const thrift_const_value_t *thrift_const_def_value(const thrift_const_def_t *c) {
    return c ? c->value : NULL;
}
const char *thrift_const_def_doc(const thrift_const_def_t *c) {
    return c ? c->doc : NULL;
}

const thrift_type_def_t *thrift_const_value_type(const thrift_const_value_t *v) {
    return v ? v->type : NULL;
}
int64_t thrift_const_value_int(const thrift_const_value_t *v) {
    return v ? v->u.i : 0;
}
double thrift_const_value_double(const thrift_const_value_t *v) {
    return v ? v->u.d : 0.0;
}
const char *thrift_const_value_string(const thrift_const_value_t *v,
                                      size_t *len) {
    if (!v || !v->type ||
        (v->type->kind != THRIFT_KIND_STRING &&
         v->type->kind != THRIFT_KIND_BINARY &&
         v->type->kind != THRIFT_KIND_UUID)) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = v->u.str.len;
    return v->u.str.ptr;
}
size_t thrift_const_value_count(const thrift_const_value_t *v) {
    return v ? v->count : 0;
}
const thrift_const_value_t *thrift_const_value_item(const thrift_const_value_t *v,
                                                    size_t i) {
    return v && v->items && i < v->count ? v->items[i] : NULL;
}
const thrift_const_value_t *
thrift_const_value_map_key(const thrift_const_value_t *v, size_t i) {
    return v && v->keys && i < v->count ? v->keys[i] : NULL;
}
const thrift_const_value_t *
thrift_const_value_map_value(const thrift_const_value_t *v, size_t i) {
    return v && v->keys && i < v->count ? v->items[i] : NULL;
}
const thrift_field_def_t *
thrift_const_value_struct_field(const thrift_const_value_t *v, size_t i) {
    return v && v->fields && i < v->count ? v->fields[i] : NULL;
}
const thrift_const_value_t *
thrift_const_value_struct_value(const thrift_const_value_t *v, size_t i) {
    return v && v->fields && i < v->count ? v->items[i] : NULL;
}

/* ---- services ------------------------------------------------------------------ */

const char *thrift_service_def_name(const thrift_service_def_t *s) {
    return s ? s->name : NULL;
}
const char *thrift_service_def_full_name(const thrift_service_def_t *s) {
    return s ? s->full_name : NULL;
}
const thrift_module_def_t *thrift_service_def_module(const thrift_service_def_t *s) {
    return s ? s->module : NULL;
}
const thrift_service_def_t *thrift_service_def_parent(const thrift_service_def_t *s) {
    return s ? s->parent : NULL;
}
size_t thrift_service_def_function_count(const thrift_service_def_t *s) {
    return s ? s->function_count : 0;
}
const thrift_function_def_t *
thrift_service_def_function_at(const thrift_service_def_t *s, size_t i) {
    return s && i < s->function_count ? s->functions[i] : NULL;
}
const thrift_function_def_t *
thrift_service_def_find_function_n(const thrift_service_def_t *s,
                                   const char *name, size_t len) {
    if (!name)
        return NULL;
    /* Own functions first, then each ancestor's: the nearest definition
     * wins (a redefinition is rejected at load time anyway). */
    for (; s; s = s->parent) {
        const thrift_function_def_t *f = thrift__strmap_get(&s->by_name, name, len);
        if (f)
            return f;
    }
    return NULL;
}
const thrift_function_def_t *
thrift_service_def_find_function(const thrift_service_def_t *s,
                                 const char *name) {
    return name ? thrift_service_def_find_function_n(s, name, strlen(name))
                : NULL;
}
const thrift_annotations_t *
thrift_service_def_annotations(const thrift_service_def_t *s) {
    return s ? &s->annotations : NULL;
}
const char *thrift_service_def_doc(const thrift_service_def_t *s) {
    return s ? s->doc : NULL;
}

const char *thrift_function_def_name(const thrift_function_def_t *f) {
    return f ? f->name : NULL;
}
const thrift_service_def_t *
thrift_function_def_service(const thrift_function_def_t *f) {
    return f ? f->service : NULL;
}
bool thrift_function_def_is_oneway(const thrift_function_def_t *f) {
    return f && f->oneway;
}
const thrift_type_def_t *
thrift_function_def_return_type(const thrift_function_def_t *f) {
    return f ? f->return_type : NULL;
}
const thrift_struct_def_t *thrift_function_def_args(const thrift_function_def_t *f) {
    return f ? f->args : NULL;
}
const thrift_struct_def_t *
thrift_function_def_result(const thrift_function_def_t *f) {
    return f ? f->result : NULL;
}
const thrift_struct_def_t *
thrift_function_def_throws(const thrift_function_def_t *f) {
    return f ? f->throws : NULL;
}
const thrift_annotations_t *
thrift_function_def_annotations(const thrift_function_def_t *f) {
    return f ? &f->annotations : NULL;
}
const char *thrift_function_def_doc(const thrift_function_def_t *f) {
    return f ? f->doc : NULL;
}

/* ---- annotations ------------------------------------------------------------ */

size_t thrift_annotations_count(const thrift_annotations_t *a) {
    return a ? a->count : 0;
}
const char *thrift_annotations_key_at(const thrift_annotations_t *a, size_t i) {
    return a && i < a->count ? a->keys[i] : NULL;
}
const char *thrift_annotations_value_at(const thrift_annotations_t *a,
                                        size_t i) {
    return a && i < a->count ? a->values[i] : NULL;
}
const char *thrift_annotations_find(const thrift_annotations_t *a,
                                    const char *key) {
    if (!a || !key)
        return NULL;
    for (uint32_t i = a->count; i-- > 0;)
        if (strcmp(a->keys[i], key) == 0)
            return a->values[i];
    return NULL;
}
