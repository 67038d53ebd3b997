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

#endif
