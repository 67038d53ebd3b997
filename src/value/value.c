/* Dynamically typed values: construction, access, equality, clone. */
#include <math.h>
#include <stdio.h>

#include "value/value_impl.h"

/* ---- types --------------------------------------------------------------- */

static bool is_struct_kind(unsigned kind) {
    return kind == THRIFT_KIND_STRUCT || kind == THRIFT_KIND_UNION ||
           kind == THRIFT_KIND_EXCEPTION;
}

bool thrift__type_compatible(const thrift_type_def_t *a,
                             const thrift_type_def_t *b) {
    a = a->resolved;
    b = b->resolved;
    if (a == b)
        return true;
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case THRIFT_KIND_ENUM:
        return a->enum_def == b->enum_def;
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION:
        return a->struct_def == b->struct_def;
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET:
        return thrift__type_compatible(a->elem, b->elem);
    case THRIFT_KIND_MAP:
        return thrift__type_compatible(a->key, b->key) &&
               thrift__type_compatible(a->value, b->value);
    default:
        return true; /* base types: the kind says it all */
    }
}

const char *thrift__kind_name(unsigned kind) {
    static const char *const names[] = {
        "void",   "bool", "i8",   "i16",  "i32", "i64",    "double",
        "string", "binary", "uuid", "enum", "list", "set", "map",
        "struct", "union", "exception", "typedef"};
    return kind < sizeof names / sizeof names[0] ? names[kind] : "?";
}

/* ---- defaults from IDL constants ---------------------------------------- */

bool thrift__uuid_parse(const char *s, size_t len, uint8_t out[16]) {
    /* Accepts 8-4-4-4-12 (36 chars), optionally in braces, or 32 hex. */
    if (len == 38 && s[0] == '{' && s[37] == '}') {
        s++;
        len -= 2;
    }
    if (len != 36 && len != 32)
        return false;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (len == 36 && (i == 8 || i == 13 || i == 18 || i == 23)) {
            if (s[i] != '-')
                return false;
            continue;
        }
        int hi = i + 1 < len ? thrift__hex_digit((unsigned char)s[i]) : -1;
        int lo = hi >= 0 ? thrift__hex_digit((unsigned char)s[i + 1]) : -1;
        if (lo < 0)
            return false;
        out[n++] = (uint8_t)(hi << 4 | lo);
        i++;
    }
    return n == 16;
}

bool thrift_uuid_parse(const char *text, size_t len, uint8_t out[16]) {
    return text && out && thrift__uuid_parse(text, len, out);
}

void thrift_uuid_format(const uint8_t uuid[16], char out[37]) {
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[uuid[i] >> 4];
        out[o++] = hex[uuid[i] & 15];
    }
    out[o] = '\0';
}

#define value_from_const thrift__value_from_const

static bool struct_apply_defaults(thrift_arena_t *arena, thrift_value_t *v) {
    const thrift_struct_def_t *sd = v->type->struct_def;
    for (uint32_t i = 0; i < sd->field_count; i++) {
        const thrift_field_def_t *f = &sd->fields[i];
        if (!f->default_value)
            continue;
        if (!value_from_const(arena, &v->u.s.slots[i], f->type,
                              f->default_value))
            return false;
        v->u.s.slots[i].flags |= THRIFT__VALUE_SET;
    }
    return true;
}

bool thrift__value_from_const(thrift_arena_t *arena, thrift_value_t *v,
                             const thrift_type_def_t *type,
                             const thrift_const_value_t *cv) {
    const thrift_type_def_t *t = type->resolved;
    const thrift_type_def_t *ct = cv->type ? cv->type->resolved : t;
    if (!thrift__value_init(arena, v, t))
        return false;
    switch (t->kind) {
    case THRIFT_KIND_BOOL:
        v->u.b = cv->u.i != 0;
        break;
    case THRIFT_KIND_I8:
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
    case THRIFT_KIND_I64:
    case THRIFT_KIND_ENUM:
        v->u.i = ct->kind == THRIFT_KIND_DOUBLE ? (int64_t)cv->u.d : cv->u.i;
        break;
    case THRIFT_KIND_DOUBLE:
        /* An integer literal given for a double field is widened. */
        v->u.d = ct->kind == THRIFT_KIND_DOUBLE ? cv->u.d : (double)cv->u.i;
        break;
    case THRIFT_KIND_STRING:
    case THRIFT_KIND_BINARY:
        /* Borrowed from the schema, which outlives every value of it. */
        v->u.bytes.ptr = (const uint8_t *)cv->u.str.ptr;
        v->u.bytes.len = cv->u.str.len;
        break;
    case THRIFT_KIND_UUID:
        if (!thrift__uuid_parse(cv->u.str.ptr, cv->u.str.len, v->u.uuid))
            memset(v->u.uuid, 0, 16);
        break;
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET:
        if (cv->count && !thrift__value_reserve(arena, v, cv->count))
            return false;
        for (uint32_t i = 0; i < cv->count; i++)
            if (!value_from_const(arena, &v->u.c.items[i], t->elem,
                                  cv->items[i]))
                return false;
        v->count = cv->count;
        break;
    case THRIFT_KIND_MAP:
        if (cv->count && !thrift__value_reserve(arena, v, cv->count))
            return false;
        for (uint32_t i = 0; i < cv->count; i++)
            if (!value_from_const(arena, &v->u.c.items[2 * i], t->key,
                                  cv->keys[i]) ||
                !value_from_const(arena, &v->u.c.items[2 * i + 1], t->value,
                                  cv->items[i]))
                return false;
        v->count = cv->count;
        break;
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION:
        for (uint32_t i = 0; i < cv->count; i++) {
            const thrift_field_def_t *f = cv->fields[i];
            if (!f || f->index >= v->count)
                continue;
            if (t->kind == THRIFT_KIND_UNION)
                for (uint32_t j = 0; j < v->count; j++)
                    v->u.s.slots[j].flags &= (uint8_t)~THRIFT__VALUE_SET;
            thrift_value_t *slot = &v->u.s.slots[f->index];
            if (!value_from_const(arena, slot, f->type, cv->items[i]))
                return false;
            slot->flags |= THRIFT__VALUE_SET;
        }
        break;
    default:
        break;
    }
    return true;
}

/* ---- construction -------------------------------------------------------- */

bool thrift__value_init(thrift_arena_t *arena, thrift_value_t *v,
                        const thrift_type_def_t *type) {
    const thrift_type_def_t *t = type->resolved;
    memset(v, 0, sizeof *v);
    v->type = t;
    v->kind = t->kind;
    if (is_struct_kind(t->kind)) {
        const thrift_struct_def_t *sd = t->struct_def;
        v->count = sd->field_count;
        if (sd->field_count) {
            v->u.s.slots = thrift__arena_zalloc(
                arena, sizeof(thrift_value_t) * sd->field_count);
            if (!v->u.s.slots)
                return false;
        }
        /* A union starts empty even if a field has a default: which one
         * would win is not for us to guess. */
        if (t->kind != THRIFT_KIND_UNION && !struct_apply_defaults(arena, v))
            return false;
    }
    return true;
}

bool thrift__value_reserve(thrift_arena_t *arena, thrift_value_t *v,
                           uint32_t extra) {
    uint32_t per = v->kind == THRIFT_KIND_MAP ? 2 : 1;
    if (v->u.c.cap - v->count >= extra)
        return true;
    uint64_t need = (uint64_t)v->count + extra;
    uint64_t cap = v->u.c.cap ? (uint64_t)v->u.c.cap * 2 : 4;
    while (cap < need)
        cap *= 2;
    if (cap > UINT32_MAX / 2 || cap * per > SIZE_MAX / sizeof(thrift_value_t))
        return false;
    thrift_value_t *items =
        thrift__arena_alloc(arena, (size_t)(cap * per) * sizeof *items);
    if (!items)
        return false;
    if (v->count)
        memcpy(items, v->u.c.items,
               (size_t)v->count * per * sizeof *items);
    v->u.c.items = items;
    v->u.c.cap = (uint32_t)cap;
    return true;
}

thrift_value_t *thrift_value_new(thrift_arena_t *arena,
                                 const thrift_type_def_t *type) {
    if (!arena || !type)
        return NULL;
    thrift_value_t *v = thrift__arena_alloc(arena, sizeof *v);
    if (!v || !thrift__value_init(arena, v, type))
        return NULL;
    return v;
}

thrift_value_t *thrift_value_new_struct(thrift_arena_t *arena,
                                        const thrift_struct_def_t *def) {
    return def ? thrift_value_new(arena, &def->type) : NULL;
}

static thrift_value_t *new_base(thrift_arena_t *arena, thrift_kind_t kind) {
    if (!arena)
        return NULL;
    thrift_value_t *v = thrift__arena_zalloc(arena, sizeof *v);
    if (!v)
        return NULL;
    v->type = thrift__base_type(kind);
    v->kind = (uint8_t)kind;
    return v;
}

thrift_value_t *thrift_value_new_bool(thrift_arena_t *arena, bool b) {
    thrift_value_t *v = new_base(arena, THRIFT_KIND_BOOL);
    if (v)
        v->u.b = b;
    return v;
}

#define NEW_INT_(fn, ctype, kind)                                             \
    thrift_value_t *fn(thrift_arena_t *arena, ctype i) {                      \
        thrift_value_t *v = new_base(arena, kind);                            \
        if (v)                                                                \
            v->u.i = i;                                                       \
        return v;                                                             \
    }
NEW_INT_(thrift_value_new_i8, int8_t, THRIFT_KIND_I8)
NEW_INT_(thrift_value_new_i16, int16_t, THRIFT_KIND_I16)
NEW_INT_(thrift_value_new_i32, int32_t, THRIFT_KIND_I32)
NEW_INT_(thrift_value_new_i64, int64_t, THRIFT_KIND_I64)
#undef NEW_INT_

thrift_value_t *thrift_value_new_double(thrift_arena_t *arena, double d) {
    thrift_value_t *v = new_base(arena, THRIFT_KIND_DOUBLE);
    if (v)
        v->u.d = d;
    return v;
}

static thrift_value_t *new_bytes(thrift_arena_t *arena, thrift_kind_t kind,
                                 const void *p, size_t len) {
    thrift_value_t *v = new_base(arena, kind);
    if (!v)
        return NULL;
    if (thrift_value_set_bytes(arena, v, p, len) != THRIFT_OK)
        return NULL;
    return v;
}

thrift_value_t *thrift_value_new_string(thrift_arena_t *arena, const char *s,
                                        size_t len) {
    return new_bytes(arena, THRIFT_KIND_STRING, s, len);
}

thrift_value_t *thrift_value_new_binary(thrift_arena_t *arena, const void *p,
                                        size_t len) {
    return new_bytes(arena, THRIFT_KIND_BINARY, p, len);
}

thrift_value_t *thrift_value_new_uuid(thrift_arena_t *arena,
                                      const uint8_t bytes[16]) {
    thrift_value_t *v = new_base(arena, THRIFT_KIND_UUID);
    if (v && bytes)
        memcpy(v->u.uuid, bytes, 16);
    return v;
}

thrift_value_t *thrift_value_new_enum(thrift_arena_t *arena,
                                      const thrift_enum_def_t *def,
                                      int32_t number) {
    if (!arena || !def)
        return NULL;
    thrift_value_t *v = thrift__arena_zalloc(arena, sizeof *v);
    if (!v)
        return NULL;
    v->type = &def->type;
    v->kind = THRIFT_KIND_ENUM;
    v->u.i = number;
    return v;
}

/* ---- inspection ---------------------------------------------------------- */

const thrift_type_def_t *thrift_value_type(const thrift_value_t *v) {
    return v ? v->type : NULL;
}

thrift_kind_t thrift_value_kind(const thrift_value_t *v) {
    return v ? (thrift_kind_t)v->kind : THRIFT_KIND_VOID;
}

bool thrift_value_bool(const thrift_value_t *v) {
    return v && v->kind == THRIFT_KIND_BOOL && v->u.b;
}

int64_t thrift_value_int(const thrift_value_t *v) {
    if (!v)
        return 0;
    switch (v->kind) {
    case THRIFT_KIND_I8:
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
    case THRIFT_KIND_I64:
    case THRIFT_KIND_ENUM:
        return v->u.i;
    case THRIFT_KIND_BOOL:
        return v->u.b;
    default:
        return 0;
    }
}

double thrift_value_double(const thrift_value_t *v) {
    if (!v)
        return 0;
    if (v->kind == THRIFT_KIND_DOUBLE)
        return v->u.d;
    return (double)thrift_value_int(v);
}

const uint8_t *thrift_value_bytes(const thrift_value_t *v, size_t *len) {
    if (!v || (v->kind != THRIFT_KIND_STRING && v->kind != THRIFT_KIND_BINARY)) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = v->u.bytes.len;
    /* Never NULL for a string value, even an empty one. */
    return v->u.bytes.ptr ? v->u.bytes.ptr : (const uint8_t *)"";
}

const uint8_t *thrift_value_uuid(const thrift_value_t *v) {
    return v && v->kind == THRIFT_KIND_UUID ? v->u.uuid : NULL;
}

/* ---- scalar setters ------------------------------------------------------ */

bool thrift__int_fits(unsigned kind, int64_t i) {
    switch (kind) {
    case THRIFT_KIND_I8:
        return i >= INT8_MIN && i <= INT8_MAX;
    case THRIFT_KIND_I16:
        return i >= INT16_MIN && i <= INT16_MAX;
    case THRIFT_KIND_I32:
    case THRIFT_KIND_ENUM:
        return i >= INT32_MIN && i <= INT32_MAX;
    default:
        return true;
    }
}

thrift_status_t thrift_value_set_bool(thrift_value_t *v, bool b) {
    if (!v)
        return THRIFT_MISUSE;
    if (v->kind != THRIFT_KIND_BOOL)
        return THRIFT_TYPE;
    v->u.b = b;
    return THRIFT_OK;
}

thrift_status_t thrift_value_set_int(thrift_value_t *v, int64_t i) {
    if (!v)
        return THRIFT_MISUSE;
    switch (v->kind) {
    case THRIFT_KIND_I8:
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
    case THRIFT_KIND_I64:
    case THRIFT_KIND_ENUM:
        if (!thrift__int_fits(v->kind, i))
            return THRIFT_RANGE;
        v->u.i = i;
        return THRIFT_OK;
    default:
        return THRIFT_TYPE;
    }
}

thrift_status_t thrift_value_set_double(thrift_value_t *v, double d) {
    if (!v)
        return THRIFT_MISUSE;
    if (v->kind != THRIFT_KIND_DOUBLE)
        return THRIFT_TYPE;
    v->u.d = d;
    return THRIFT_OK;
}

thrift_status_t thrift_value_set_uuid(thrift_value_t *v, const uint8_t bytes[16]) {
    if (!v || !bytes)
        return THRIFT_MISUSE;
    if (v->kind != THRIFT_KIND_UUID)
        return THRIFT_TYPE;
    memcpy(v->u.uuid, bytes, 16);
    return THRIFT_OK;
}

thrift_status_t thrift_value_set_bytes(thrift_arena_t *arena, thrift_value_t *v,
                                       const void *p, size_t len) {
    if (!v || !arena || (!p && len))
        return THRIFT_MISUSE;
    if (v->kind != THRIFT_KIND_STRING && v->kind != THRIFT_KIND_BINARY)
        return THRIFT_TYPE;
    uint8_t *copy = thrift__arena_alloc(arena, len ? len : 1);
    if (!copy)
        return THRIFT_NOMEM;
    if (len)
        memcpy(copy, p, len);
    v->u.bytes.ptr = copy;
    v->u.bytes.len = len;
    return THRIFT_OK;
}

/* ---- structs ------------------------------------------------------------- */

const thrift_struct_def_t *thrift_value_struct_def(const thrift_value_t *v) {
    return v && is_struct_kind(v->kind) ? v->type->struct_def : NULL;
}

const thrift_field_def_t *thrift__struct_field_by_name(
    const thrift_struct_def_t *sd, const char *name, size_t len) {
    if (sd->by_name.slots)
        return thrift__strmap_get(&sd->by_name, name, len);
    /* Static definitions (TApplicationException) have no table. */
    for (uint32_t i = 0; i < sd->field_count; i++)
        if (sd->fields[i].name_len == len &&
            memcmp(sd->fields[i].name, name, len) == 0)
            return &sd->fields[i];
    return NULL;
}

static const thrift_field_def_t *field_named(const thrift_value_t *v,
                                             const char *name) {
    if (!v || !name || !is_struct_kind(v->kind))
        return NULL;
    return thrift__struct_field_by_name(v->type->struct_def, name,
                                        strlen(name));
}

static const thrift_field_def_t *field_numbered(const thrift_value_t *v,
                                                int id) {
    if (!v || !is_struct_kind(v->kind))
        return NULL;
    return thrift__struct_field_by_id(v->type->struct_def, id);
}

thrift_value_t *thrift_value_get_at(const thrift_value_t *v, size_t index) {
    if (!v || !is_struct_kind(v->kind) || index >= v->count)
        return NULL;
    thrift_value_t *slot = &v->u.s.slots[index];
    return (slot->flags & THRIFT__VALUE_SET) ? slot : NULL;
}

thrift_value_t *thrift_value_get(const thrift_value_t *v, const char *name) {
    const thrift_field_def_t *f = field_named(v, name);
    return f ? thrift_value_get_at(v, f->index) : NULL;
}

thrift_value_t *thrift_value_get_by_id(const thrift_value_t *v, int id) {
    const thrift_field_def_t *f = field_numbered(v, id);
    return f ? thrift_value_get_at(v, f->index) : NULL;
}

thrift_status_t thrift_value_set_at(thrift_value_t *v, size_t index,
                                    const thrift_value_t *field_value) {
    if (!v || !field_value)
        return THRIFT_MISUSE;
    if (!is_struct_kind(v->kind))
        return THRIFT_TYPE;
    if (index >= v->count)
        return THRIFT_NOT_FOUND;
    const thrift_field_def_t *f = &v->type->struct_def->fields[index];
    if (!thrift__type_compatible(f->type, field_value->type))
        return THRIFT_TYPE;
    if (v->kind == THRIFT_KIND_UNION)
        for (uint32_t j = 0; j < v->count; j++)
            v->u.s.slots[j].flags &= (uint8_t)~THRIFT__VALUE_SET;
    thrift_value_t *slot = &v->u.s.slots[index];
    if (slot != field_value)
        *slot = *field_value;
    slot->flags |= THRIFT__VALUE_SET;
    return THRIFT_OK;
}

thrift_status_t thrift_value_set(thrift_value_t *v, const char *name,
                                 const thrift_value_t *field_value) {
    if (!v || !name)
        return THRIFT_MISUSE;
    if (!is_struct_kind(v->kind))
        return THRIFT_TYPE;
    const thrift_field_def_t *f = field_named(v, name);
    return f ? thrift_value_set_at(v, f->index, field_value) : THRIFT_NOT_FOUND;
}

thrift_status_t thrift_value_set_by_id(thrift_value_t *v, int id,
                                       const thrift_value_t *field_value) {
    if (!v)
        return THRIFT_MISUSE;
    if (!is_struct_kind(v->kind))
        return THRIFT_TYPE;
    const thrift_field_def_t *f = field_numbered(v, id);
    return f ? thrift_value_set_at(v, f->index, field_value) : THRIFT_NOT_FOUND;
}

thrift_value_t *thrift_value_field(thrift_arena_t *arena, thrift_value_t *v,
                                   const char *name) {
    const thrift_field_def_t *f = field_named(v, name);
    return f ? thrift_value_field_at(arena, v, f->index) : NULL;
}

void thrift_value_unset(thrift_value_t *v, const char *name) {
    const thrift_field_def_t *f = field_named(v, name);
    if (f)
        v->u.s.slots[f->index].flags &= (uint8_t)~THRIFT__VALUE_SET;
}

thrift_value_t *thrift_value_field_at(thrift_arena_t *arena, thrift_value_t *v,
                                      size_t index) {
    if (!arena || !v || !is_struct_kind(v->kind) || index >= v->count)
        return NULL;
    const thrift_field_def_t *f = &v->type->struct_def->fields[index];
    thrift_value_t *slot = &v->u.s.slots[index];
    if (!(slot->flags & THRIFT__VALUE_SET)) {
        if (!thrift__value_init(arena, slot, f->type))
            return NULL;
    }
    if (v->kind == THRIFT_KIND_UNION)
        for (uint32_t j = 0; j < v->count; j++)
            v->u.s.slots[j].flags &= (uint8_t)~THRIFT__VALUE_SET;
    slot->flags |= THRIFT__VALUE_SET;
    return slot;
}

void thrift_value_unset_at(thrift_value_t *v, size_t index) {
    if (v && is_struct_kind(v->kind) && index < v->count)
        v->u.s.slots[index].flags &= (uint8_t)~THRIFT__VALUE_SET;
}

bool thrift_value_has(const thrift_value_t *v, const char *name) {
    const thrift_field_def_t *f = field_named(v, name);
    return f && (v->u.s.slots[f->index].flags & THRIFT__VALUE_SET);
}

/* ---- containers ------------------------------------------------------------ */

static bool is_container_kind(unsigned kind) {
    return kind == THRIFT_KIND_LIST || kind == THRIFT_KIND_SET ||
           kind == THRIFT_KIND_MAP;
}

size_t thrift_value_count(const thrift_value_t *v) {
    return v && is_container_kind(v->kind) ? v->count : 0;
}

thrift_value_t *thrift_value_at(const thrift_value_t *v, size_t i) {
    if (!v || (v->kind != THRIFT_KIND_LIST && v->kind != THRIFT_KIND_SET) ||
        i >= v->count)
        return NULL;
    return &v->u.c.items[i];
}

static void store_item(thrift_value_t *dst, const thrift_value_t *src) {
    *dst = *src;
    dst->flags = 0;
}

thrift_status_t thrift_value_append(thrift_arena_t *arena, thrift_value_t *v,
                                    const thrift_value_t *item) {
    if (!arena || !v || !item)
        return THRIFT_MISUSE;
    if (v->kind != THRIFT_KIND_LIST && v->kind != THRIFT_KIND_SET)
        return THRIFT_TYPE;
    if (!thrift__type_compatible(v->type->elem, item->type))
        return THRIFT_TYPE;
    /* Copy first: `item` may live in the array that reserve replaces. */
    thrift_value_t copy = *item;
    if (!thrift__value_reserve(arena, v, 1))
        return THRIFT_NOMEM;
    store_item(&v->u.c.items[v->count++], &copy);
    return THRIFT_OK;
}

thrift_value_t *thrift_value_append_new(thrift_arena_t *arena,
                                        thrift_value_t *v) {
    if (!arena || !v ||
        (v->kind != THRIFT_KIND_LIST && v->kind != THRIFT_KIND_SET))
        return NULL;
    if (!thrift__value_reserve(arena, v, 1))
        return NULL;
    thrift_value_t *item = &v->u.c.items[v->count];
    if (!thrift__value_init(arena, item, v->type->elem))
        return NULL;
    v->count++;
    return item;
}

thrift_status_t thrift_value_reserve(thrift_arena_t *arena, thrift_value_t *v,
                                     size_t n) {
    if (!arena || !v)
        return THRIFT_MISUSE;
    if (!is_container_kind(v->kind))
        return THRIFT_TYPE;
    if (n > INT32_MAX || (uint64_t)v->count + n > INT32_MAX)
        return THRIFT_LIMIT;
    return thrift__value_reserve(arena, v, (uint32_t)n) ? THRIFT_OK
                                                         : THRIFT_NOMEM;
}

thrift_value_t *thrift_value_map_append_new(thrift_arena_t *arena,
                                            thrift_value_t *v,
                                            thrift_value_t **value_out) {
    if (!arena || !v || !value_out || v->kind != THRIFT_KIND_MAP)
        return NULL;
    if (!thrift__value_reserve(arena, v, 1))
        return NULL;
    thrift_value_t *key = &v->u.c.items[2 * v->count];
    if (!thrift__value_init(arena, key, v->type->key) ||
        !thrift__value_init(arena, key + 1, v->type->value))
        return NULL;
    v->count++;
    *value_out = key + 1;
    return key;
}

thrift_value_t *thrift_value_map_key(const thrift_value_t *v, size_t i) {
    if (!v || v->kind != THRIFT_KIND_MAP || i >= v->count)
        return NULL;
    return &v->u.c.items[2 * i];
}

thrift_value_t *thrift_value_map_value(const thrift_value_t *v, size_t i) {
    if (!v || v->kind != THRIFT_KIND_MAP || i >= v->count)
        return NULL;
    return &v->u.c.items[2 * i + 1];
}

thrift_value_t *thrift_value_map_find(const thrift_value_t *v,
                                      const thrift_value_t *key) {
    if (!v || !key || v->kind != THRIFT_KIND_MAP)
        return NULL;
    for (uint32_t i = 0; i < v->count; i++)
        if (thrift_value_equal(&v->u.c.items[2 * i], key))
            return &v->u.c.items[2 * i + 1];
    return NULL;
}

/* What map_put and map_append refuse: missing arguments, a non-map, a key
 * or value of another type. */
static thrift_status_t check_map_entry(const thrift_arena_t *arena, const thrift_value_t *v,
                                       const thrift_value_t *key, const thrift_value_t *value) {
    if (!arena || !v || !key || !value)
        return THRIFT_MISUSE;
    if (v->kind != THRIFT_KIND_MAP)
        return THRIFT_TYPE;
    if (!thrift__type_compatible(v->type->key, key->type) ||
        !thrift__type_compatible(v->type->value, value->type))
        return THRIFT_TYPE;
    return THRIFT_OK;
}

thrift_status_t thrift_value_map_put(thrift_arena_t *arena, thrift_value_t *v,
                                     const thrift_value_t *key,
                                     const thrift_value_t *value) {
    /* An equal key's value is replaced; else map_append adds the entry (or
     * says what is wrong with the arguments). */
    thrift_value_t *existing = NULL;
    if (check_map_entry(arena, v, key, value) == THRIFT_OK)
        existing = thrift_value_map_find(v, key);
    if (!existing)
        return thrift_value_map_append(arena, v, key, value);
    store_item(existing, value);
    return THRIFT_OK;
}

thrift_status_t thrift_value_map_append(thrift_arena_t *arena, thrift_value_t *v,
                                        const thrift_value_t *key,
                                        const thrift_value_t *value) {
    thrift_status_t st = check_map_entry(arena, v, key, value);
    if (st != THRIFT_OK)
        return st;
    /* Copies first: key or value may live in the array reserve replaces. */
    thrift_value_t k = *key, val = *value;
    if (!thrift__value_reserve(arena, v, 1))
        return THRIFT_NOMEM;
    store_item(&v->u.c.items[2 * v->count], &k);
    store_item(&v->u.c.items[2 * v->count + 1], &val);
    v->count++;
    return THRIFT_OK;
}

bool thrift_value_contains(const thrift_value_t *v,
                           const thrift_value_t *item) {
    if (!v || !item ||
        (v->kind != THRIFT_KIND_LIST && v->kind != THRIFT_KIND_SET))
        return false;
    for (uint32_t i = 0; i < v->count; i++)
        if (thrift_value_equal(&v->u.c.items[i], item))
            return true;
    return false;
}

/* ---- whole trees ----------------------------------------------------------- */

bool thrift_value_equal(const thrift_value_t *a, const thrift_value_t *b) {
    if (a == b)
        return true;
    if (!a || !b || a->kind != b->kind)
        return false;
    switch (a->kind) {
    case THRIFT_KIND_VOID:
        return true;
    case THRIFT_KIND_BOOL:
        return a->u.b == b->u.b;
    case THRIFT_KIND_ENUM:
        if (a->type->enum_def != b->type->enum_def)
            return false;
        return a->u.i == b->u.i;
    case THRIFT_KIND_I8:
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
    case THRIFT_KIND_I64:
        return a->u.i == b->u.i;
    case THRIFT_KIND_DOUBLE:
        return memcmp(&a->u.d, &b->u.d, sizeof(double)) == 0;
    case THRIFT_KIND_STRING:
    case THRIFT_KIND_BINARY:
        return a->u.bytes.len == b->u.bytes.len &&
               (a->u.bytes.len == 0 ||
                memcmp(a->u.bytes.ptr, b->u.bytes.ptr, a->u.bytes.len) == 0);
    case THRIFT_KIND_UUID:
        return memcmp(a->u.uuid, b->u.uuid, 16) == 0;
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET:
    case THRIFT_KIND_MAP: {
        if (a->count != b->count)
            return false;
        uint32_t n = a->count * (a->kind == THRIFT_KIND_MAP ? 2 : 1);
        for (uint32_t i = 0; i < n; i++)
            if (!thrift_value_equal(&a->u.c.items[i], &b->u.c.items[i]))
                return false;
        return true;
    }
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION:
        if (a->type->struct_def != b->type->struct_def || a->count != b->count)
            return false;
        for (uint32_t i = 0; i < a->count; i++) {
            const thrift_value_t *x = &a->u.s.slots[i], *y = &b->u.s.slots[i];
            bool xs = x->flags & THRIFT__VALUE_SET, ys = y->flags & THRIFT__VALUE_SET;
            if (xs != ys)
                return false;
            if (xs && !thrift_value_equal(x, y))
                return false;
        }
        return true;
    default:
        return false;
    }
}

bool thrift__value_copy(thrift_arena_t *arena, thrift_value_t *dst,
                        const thrift_value_t *src) {
    *dst = *src;
    switch (src->kind) {
    case THRIFT_KIND_STRING:
    case THRIFT_KIND_BINARY:
        if (src->u.bytes.len) {
            uint8_t *p = thrift__arena_alloc(arena, src->u.bytes.len);
            if (!p)
                return false;
            memcpy(p, src->u.bytes.ptr, src->u.bytes.len);
            dst->u.bytes.ptr = p;
        }
        return true;
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET:
    case THRIFT_KIND_MAP: {
        uint32_t n = src->count * (src->kind == THRIFT_KIND_MAP ? 2 : 1);
        dst->u.c.items = NULL;
        dst->u.c.cap = src->count;
        if (!n)
            return true;
        dst->u.c.items = thrift__arena_alloc(arena, sizeof(thrift_value_t) * n);
        if (!dst->u.c.items)
            return false;
        for (uint32_t i = 0; i < n; i++)
            if (!thrift__value_copy(arena, &dst->u.c.items[i],
                                    &src->u.c.items[i]))
                return false;
        return true;
    }
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION:
        dst->u.s.slots = NULL;
        if (!src->count)
            return true;
        dst->u.s.slots =
            thrift__arena_zalloc(arena, sizeof(thrift_value_t) * src->count);
        if (!dst->u.s.slots)
            return false;
        for (uint32_t i = 0; i < src->count; i++)
            if ((src->u.s.slots[i].flags & THRIFT__VALUE_SET) &&
                !thrift__value_copy(arena, &dst->u.s.slots[i],
                                    &src->u.s.slots[i]))
                return false;
        return true;
    default:
        return true;
    }
}

thrift_value_t *thrift_value_clone(thrift_arena_t *arena,
                                   const thrift_value_t *v) {
    if (!arena || !v)
        return NULL;
    thrift_value_t *c = thrift__arena_alloc(arena, sizeof *c);
    if (!c || !thrift__value_copy(arena, c, v))
        return NULL;
    c->flags = 0;
    return c;
}
