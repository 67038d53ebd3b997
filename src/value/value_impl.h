/* Internal layout of values.  The codecs (src/proto, src/json) build and read
 * these directly; everything else goes through dynthrift/value.h. */
#ifndef DYNTHRIFT_VALUE_IMPL_H
#define DYNTHRIFT_VALUE_IMPL_H

#include "dynthrift/value.h"
#include "schema/schema_impl.h"

/* flags */
enum {
    THRIFT__VALUE_SET = 1 << 0, /* a struct slot that holds a value */
};

/* 32 bytes.  A struct's slots, a list's items and a map's entries are
 * contiguous arrays of these (not arrays of pointers), so decoding a struct
 * is one allocation for all its fields.  Presence is a flag in each slot
 * rather than a separate bitmap: the encoder reads the slot anyway, and it
 * saves an allocation per struct. */
struct thrift_value {
    const thrift_type_def_t *type; /* resolved (never a typedef) */
    uint8_t kind;                  /* thrift_kind_t, == type->kind */
    uint8_t flags;
    uint16_t reserved;
    uint32_t count; /* list/set: items; map: entries; struct: slots */
    union {
        bool b;
        int64_t i; /* i8..i64 and enum */
        double d;
        struct {
            const uint8_t *ptr;
            size_t len;
        } bytes; /* string, binary */
        uint8_t uuid[16];
        struct {
            thrift_value_t *items; /* list/set: count items; map: 2*count,
                                      key then value */
            uint32_t cap;          /* allocated items (map: entries) */
        } c;
        struct {
            thrift_value_t *slots; /* one per field, declaration order */
        } s;
    } u;
};

/* Initializes *v in place as a default value of `type` (resolved here);
 * structs get their slot array and IDL defaults.  False on out of memory. */
bool thrift__value_init(thrift_arena_t *arena, thrift_value_t *v,
                        const thrift_type_def_t *type);

/* Makes room for `extra` more items (map: entries) in a container. */
bool thrift__value_reserve(thrift_arena_t *arena, thrift_value_t *v,
                           uint32_t extra);

/* ---- helpers shared by the value, proto and json layers ---------------- */

/* Same kind and, for enums/structs, the same definition; containers
 * compare their element types.  Typedefs are followed. */
bool thrift__type_compatible(const thrift_type_def_t *a,
                             const thrift_type_def_t *b);
/* "i32", "string", "list"...: the name of a thrift_kind_t. */
const char *thrift__kind_name(unsigned kind);
/* True when `i` fits the integer kind (i8, i16, i32, enum; i64 always). */
bool thrift__int_fits(unsigned kind, int64_t i);
/* Parses 8-4-4-4-12 hex (or 32 hex digits, or {braced}) into 16 bytes. */
bool thrift__uuid_parse(const char *s, size_t len, uint8_t out[16]);
/* Field lookup by name (hash table, or a scan for static definitions). */
const thrift_field_def_t *thrift__struct_field_by_name(
    const thrift_struct_def_t *sd, const char *name, size_t len);
/* Initializes *v as the evaluated IDL constant `cv` of `type` (strings
 * borrowed from the schema).  False on out of memory. */
bool thrift__value_from_const(thrift_arena_t *arena, thrift_value_t *v,
                              const thrift_type_def_t *type,
                              const thrift_const_value_t *cv);
/* Deep copy of *src into *dst, allocating in `arena`. */
bool thrift__value_copy(thrift_arena_t *arena, thrift_value_t *dst,
                        const thrift_value_t *src);

#endif
