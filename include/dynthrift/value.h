/* dynthrift — dynamically typed Thrift values.
 *
 * A value tree lives in one arena (thrift_arena_t): every constructor takes
 * the arena, and freeing the arena frees the whole tree.  Values are typed by
 * the schema's type defs (borrowed from a schema that must outlive them).
 * Struct values hold one slot per field, in declaration order; an unset field
 * is an empty slot.  Strings and binaries are (pointer, length), not
 * NUL-terminated, and may point into a decoded input buffer (zero-copy).
 *
 * Not thread-safe: a value tree belongs to the thread that owns its arena. */
#ifndef DYNTHRIFT_VALUE_H
#define DYNTHRIFT_VALUE_H

#include "dynthrift/common.h"
#include "dynthrift/schema.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct thrift_value thrift_value_t;

/* ---- construction (all allocated in `arena`; NULL on out of memory) ---- */

/* A value of `type` (typedefs followed): zero / empty for scalars and
 * containers; a struct starts with the IDL's default values, other fields
 * unset. */
THRIFT_API thrift_value_t *thrift_value_new(thrift_arena_t *arena, const thrift_type_def_t *type);
THRIFT_API thrift_value_t *thrift_value_new_struct(thrift_arena_t *arena, const thrift_struct_def_t *def);
THRIFT_API thrift_value_t *thrift_value_new_bool(thrift_arena_t *arena, bool b);
THRIFT_API thrift_value_t *thrift_value_new_i8(thrift_arena_t *arena, int8_t i);
THRIFT_API thrift_value_t *thrift_value_new_i16(thrift_arena_t *arena, int16_t i);
THRIFT_API thrift_value_t *thrift_value_new_i32(thrift_arena_t *arena, int32_t i);
THRIFT_API thrift_value_t *thrift_value_new_i64(thrift_arena_t *arena, int64_t i);
THRIFT_API thrift_value_t *thrift_value_new_double(thrift_arena_t *arena, double d);
/* Copies `len` bytes into the arena. */
THRIFT_API thrift_value_t *thrift_value_new_string(thrift_arena_t *arena, const char *s, size_t len);
THRIFT_API thrift_value_t *thrift_value_new_binary(thrift_arena_t *arena, const void *p, size_t len);
THRIFT_API thrift_value_t *thrift_value_new_uuid(thrift_arena_t *arena, const uint8_t bytes[16]);
/* An enum value; `number` need not be a declared value. */
THRIFT_API thrift_value_t *thrift_value_new_enum(thrift_arena_t *arena, const thrift_enum_def_t *def, int32_t number);

/* uuid text, as the JSON mapping and the bindings spell it.  Parse accepts
 * 8-4-4-4-12 hex (either case), the same in braces, or 32 hex digits, and
 * returns false for anything else.  Format writes the lowercase 8-4-4-4-12
 * form and a NUL (37 bytes). */
THRIFT_API bool thrift_uuid_parse(const char *text, size_t len, uint8_t out[16]);
THRIFT_API void thrift_uuid_format(const uint8_t uuid[16], char out[37]);

/* ---- inspection ------------------------------------------------------- */

/* The value's resolved type (never a typedef). */
THRIFT_API const thrift_type_def_t *thrift_value_type(const thrift_value_t *v);
THRIFT_API thrift_kind_t thrift_value_kind(const thrift_value_t *v);
THRIFT_API bool thrift_value_bool(const thrift_value_t *v);
/* i8, i16, i32, i64 and enum values, widened. */
THRIFT_API int64_t thrift_value_int(const thrift_value_t *v);
THRIFT_API double thrift_value_double(const thrift_value_t *v);
/* string and binary: borrowed bytes, valid while the arena lives. */
THRIFT_API const uint8_t *thrift_value_bytes(const thrift_value_t *v, size_t *len);
/* uuid: 16 bytes. */
THRIFT_API const uint8_t *thrift_value_uuid(const thrift_value_t *v);

/* ---- scalar setters (THRIFT_TYPE on a kind mismatch, THRIFT_RANGE when the
 * number does not fit the value's integer type) ------------------------- */
THRIFT_API thrift_status_t thrift_value_set_bool(thrift_value_t *v, bool b);
THRIFT_API thrift_status_t thrift_value_set_int(thrift_value_t *v, int64_t i);
THRIFT_API thrift_status_t thrift_value_set_double(thrift_value_t *v, double d);
THRIFT_API thrift_status_t thrift_value_set_uuid(thrift_value_t *v, const uint8_t bytes[16]);
/* Copies into `arena`. */
THRIFT_API thrift_status_t thrift_value_set_bytes(thrift_arena_t *arena, thrift_value_t *v, const void *p, size_t len);

/* ---- structs, unions, exceptions -------------------------------------- */

THRIFT_API const thrift_struct_def_t *thrift_value_struct_def(const thrift_value_t *v);
/* Borrowed field value, or NULL when unset / no such field.  `v` is a
 * struct, union or exception; get_at takes the field's position
 * (thrift_field_def_index).  A field of any type, containers included, is
 * returned once set (by a decoder, thrift_value_set*, thrift_value_field*);
 * a new struct holds only the fields with an IDL default, so a set, list
 * or map field without one is NULL until set (thrift_value_field_at makes
 * it in place).  On a container these return NULL: a list's or set's
 * elements are thrift_value_at, a map's entries thrift_value_map_key and
 * thrift_value_map_value. */
THRIFT_API thrift_value_t *thrift_value_get(const thrift_value_t *v, const char *name);
THRIFT_API thrift_value_t *thrift_value_get_by_id(const thrift_value_t *v, int id);
THRIFT_API thrift_value_t *thrift_value_get_at(const thrift_value_t *v, size_t index);
/* Stores a copy of `field_value` (its children are shared, not copied) in
 * the field's slot.  THRIFT_NOT_FOUND for an unknown field, THRIFT_TYPE when
 * the value's type does not match the field's.  Setting a union field
 * clears the union's other fields. */
THRIFT_API thrift_status_t thrift_value_set(thrift_value_t *v, const char *name, const thrift_value_t *field_value);
THRIFT_API thrift_status_t thrift_value_set_by_id(thrift_value_t *v, int id, const thrift_value_t *field_value);
THRIFT_API thrift_status_t thrift_value_set_at(thrift_value_t *v, size_t index, const thrift_value_t *field_value);
/* The field's slot, made present (a new default value of the field's type if
 * it was unset), for building a tree in place; NULL if no such field or out
 * of memory. */
THRIFT_API thrift_value_t *thrift_value_field(thrift_arena_t *arena, thrift_value_t *v, const char *name);
THRIFT_API void thrift_value_unset(thrift_value_t *v, const char *name);
THRIFT_API bool thrift_value_has(const thrift_value_t *v, const char *name);
/* By position (thrift_field_def_index) instead of name, for bindings that
 * walk every field and should not hash a name per field: as
 * thrift_value_field (NULL when `index` is out of range) and
 * thrift_value_unset (no effect when out of range).  Unset first to get a
 * fresh default in place of a value the slot already holds (e.g. an IDL
 * default list). */
THRIFT_API thrift_value_t *thrift_value_field_at(thrift_arena_t *arena, thrift_value_t *v, size_t index);
THRIFT_API void thrift_value_unset_at(thrift_value_t *v, size_t index);

/* ---- containers ------------------------------------------------------- */

/* Elements of a list or set, entries of a map. */
THRIFT_API size_t thrift_value_count(const thrift_value_t *v);
/* list/set element i (borrowed), NULL when out of range. */
THRIFT_API thrift_value_t *thrift_value_at(const thrift_value_t *v, size_t i);
/* Appends a copy of `item` to a list or set (sets are not de-duplicated:
 * the wire keeps order and duplicates, as Apache's decoders read them).
 * THRIFT_TYPE when `item` is not of the element type. */
THRIFT_API thrift_status_t thrift_value_append(thrift_arena_t *arena, thrift_value_t *v, const thrift_value_t *item);
/* A new default element appended in place; NULL on error. */
THRIFT_API thrift_value_t *thrift_value_append_new(thrift_arena_t *arena, thrift_value_t *v);
/* Makes room for `n` more elements (map: entries) in a list, set or map,
 * so that the next `n` appends do not reallocate.  THRIFT_TYPE for other
 * kinds, THRIFT_LIMIT past 2^31 elements, THRIFT_NOMEM. */
THRIFT_API thrift_status_t thrift_value_reserve(thrift_arena_t *arena, thrift_value_t *v, size_t n);
/* Appends a map entry with a new default key and value, built in place
 * through the returned key and *value_out; NULL on error.  Unlike
 * thrift_value_map_put it does not look for an equal key (O(1) instead of
 * O(n)): for a caller whose keys are already distinct (a host language's
 * dictionary); equal keys would go on the wire twice. */
THRIFT_API thrift_value_t *thrift_value_map_append_new(thrift_arena_t *arena, thrift_value_t *v,
                                                       thrift_value_t **value_out);
THRIFT_API thrift_value_t *thrift_value_map_key(const thrift_value_t *v, size_t i);
THRIFT_API thrift_value_t *thrift_value_map_value(const thrift_value_t *v, size_t i);
/* Inserts or replaces (by deep equality of keys). */
THRIFT_API thrift_status_t thrift_value_map_put(thrift_arena_t *arena, thrift_value_t *v, const thrift_value_t *key, const thrift_value_t *value);
/* Appends a copy of the (key, value) entry to a map without looking for an
 * equal key (O(1), as decoders read maps: the wire keeps order and
 * duplicates).  For a caller that knows its keys are distinct, e.g. a
 * binding converting a host's hash table; thrift_value_map_put otherwise.
 * THRIFT_TYPE when key or value is not of the map's types. */
THRIFT_API thrift_status_t thrift_value_map_append(thrift_arena_t *arena, thrift_value_t *v, const thrift_value_t *key, const thrift_value_t *value);
/* The value stored under `key` (deep equality), or NULL. */
THRIFT_API thrift_value_t *thrift_value_map_find(const thrift_value_t *v, const thrift_value_t *key);
/* True when the list/set contains `item` (deep equality). */
THRIFT_API bool thrift_value_contains(const thrift_value_t *v, const thrift_value_t *item);

/* ---- whole trees -------------------------------------------------------- */

/* Deep equality: same type and same contents.  Doubles compare by bits, so
 * NaN equals the same NaN and -0.0 differs from 0.0 (round trips are exact).
 * Sets and maps compare in order. */
THRIFT_API bool thrift_value_equal(const thrift_value_t *a, const thrift_value_t *b);
/* A deep copy allocated in `arena` (strings copied too). */
THRIFT_API thrift_value_t *thrift_value_clone(thrift_arena_t *arena, const thrift_value_t *v);

typedef enum thrift_validate_flags {
    THRIFT_VALIDATE_DEFAULT = 0,
    THRIFT_VALIDATE_ALLOW_UNKNOWN_ENUM = 1 << 0
} thrift_validate_flags_t;

/* Checks the tree against its types: required fields present, exactly one
 * field set in a union, enum values declared (unless allowed).  The error
 * names the path: "Payload.users[3].address.zip: required field missing". */
THRIFT_API thrift_status_t thrift_value_validate(const thrift_value_t *v, unsigned flags, thrift_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
