/* Values: constructors, getters/setters, struct fields by name and id,
 * containers, equality, clone, IDL defaults, validation paths. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "dynthrift/value.h"
#include "value/value_impl.h"
#include "tap.h"

static const char idl[] =
    "enum Status { ACTIVE = 1, SUSPENDED = 2 }\n"
    "struct Address { 1: required string street, 3: i32 zip = 10000 }\n"
    "struct User {\n"
    "  1: required i64 id, 2: string name = \"anon\", 3: Status status = Status.ACTIVE,\n"
    "  4: optional Address address, 5: list<string> tags = [\"a\", \"b\"],\n"
    "  6: map<string,i32> counts = {\"x\": 1}, 7: double score = 1.5,\n"
    "  8: i8 level, 9: set<i16> groups, 10: uuid key,\n"
    "  11: Address home = {\"street\": \"Main\"}\n"
    "}\n"
    "union Pick { 1: i32 n, 2: string s }\n"
    "struct Payload { 1: list<User> users, 2: optional Pick pick }\n";

static thrift_schema_t *schema;
static thrift_arena_t *arena;

static const thrift_struct_def_t *def(const char *name) {
    return thrift_schema_find_struct(schema, name);
}

static void test_scalars(void) {
    thrift_value_t *b = thrift_value_new_bool(arena, true);
    TAP_CHECK(b && thrift_value_kind(b) == THRIFT_KIND_BOOL && thrift_value_bool(b),
              "bool");
    thrift_value_t *i = thrift_value_new_i8(arena, -128);
    TAP_CHECK(thrift_value_int(i) == -128, "i8");
    TAP_CHECK(thrift_value_set_int(i, 128) == THRIFT_RANGE, "i8 range checked");
    TAP_CHECK(thrift_value_set_int(i, 127) == THRIFT_OK &&
                  thrift_value_int(i) == 127,
              "i8 set");
    TAP_CHECK(thrift_value_set_bool(i, true) == THRIFT_TYPE, "kind checked");
    thrift_value_t *l = thrift_value_new_i64(arena, INT64_MIN);
    TAP_CHECK(thrift_value_int(l) == INT64_MIN, "i64 extreme");
    thrift_value_t *d = thrift_value_new_double(arena, -0.0);
    TAP_CHECK(signbit(thrift_value_double(d)), "-0.0 kept");
    thrift_value_t *s = thrift_value_new_string(arena, "a\0b", 3);
    size_t n;
    const uint8_t *p = thrift_value_bytes(s, &n);
    TAP_CHECK(n == 3 && memcmp(p, "a\0b", 3) == 0, "string with NUL");
    thrift_value_t *e = thrift_value_new_string(arena, "", 0);
    TAP_CHECK(thrift_value_bytes(e, &n) != NULL && n == 0, "empty string");
    uint8_t raw[16];
    for (int k = 0; k < 16; k++)
        raw[k] = (uint8_t)k;
    thrift_value_t *u = thrift_value_new_uuid(arena, raw);
    TAP_CHECK(memcmp(thrift_value_uuid(u), raw, 16) == 0, "uuid");
    raw[0] = 0xab;
    TAP_CHECK(thrift_value_set_uuid(u, raw) == THRIFT_OK && thrift_value_uuid(u)[0] == 0xab,
              "set_uuid");
    TAP_CHECK(thrift_value_set_uuid(b, raw) == THRIFT_TYPE, "set_uuid on a bool: TYPE");
    const thrift_enum_def_t *st = thrift_schema_find_enum(schema, "Status");
    thrift_value_t *en = thrift_value_new_enum(arena, st, 99);
    TAP_CHECK(thrift_value_int(en) == 99 && thrift_value_kind(en) == THRIFT_KIND_ENUM,
              "enum keeps unknown numbers");

    thrift_value_t *nan1 = thrift_value_new_double(arena, NAN);
    thrift_value_t *nan2 = thrift_value_new_double(arena, NAN);
    TAP_CHECK(thrift_value_equal(nan1, nan2), "NaN equals the same NaN");
    TAP_CHECK(!thrift_value_equal(d, thrift_value_new_double(arena, 0.0)),
              "-0.0 differs from 0.0");
    TAP_CHECK(!thrift_value_equal(thrift_value_new_i32(arena, 1),
                                  thrift_value_new_i64(arena, 1)),
              "different kinds differ");
}

static void test_structs(void) {
    thrift_value_t *u = thrift_value_new_struct(arena, def("User"));
    TAP_CHECK(u != NULL, "new User");
    size_t n;
    const uint8_t *name = thrift_value_bytes(thrift_value_get(u, "name"), &n);
    TAP_CHECK(name && n == 4 && memcmp(name, "anon", 4) == 0, "string default");
    TAP_CHECK(thrift_value_int(thrift_value_get(u, "status")) == 1,
              "enum default");
    thrift_value_t *tags = thrift_value_get(u, "tags");
    TAP_CHECK(thrift_value_count(tags) == 2, "list default");
    thrift_value_t *counts = thrift_value_get(u, "counts");
    thrift_value_t *x = thrift_value_new_string(arena, "x", 1);
    TAP_CHECK(thrift_value_int(thrift_value_map_find(counts, x)) == 1,
              "map default");
    TAP_CHECK(thrift_value_double(thrift_value_get(u, "score")) == 1.5,
              "double default");
    thrift_value_t *home = thrift_value_get(u, "home");
    TAP_CHECK(home && thrift_value_has(home, "street") &&
                  thrift_value_int(thrift_value_get(home, "zip")) == 10000,
              "struct default, with the nested struct's own defaults");
    TAP_CHECK(!thrift_value_has(u, "id") && !thrift_value_get(u, "level"),
              "fields without defaults start unset");

    TAP_CHECK(thrift_value_set(u, "id", thrift_value_new_i64(arena, 7)) == THRIFT_OK &&
                  thrift_value_int(thrift_value_get_by_id(u, 1)) == 7,
              "set by name, get by id");
    TAP_CHECK(thrift_value_set_by_id(u, 8, thrift_value_new_i8(arena, 3)) == THRIFT_OK &&
                  thrift_value_int(thrift_value_get(u, "level")) == 3,
              "set by id, get by name");
    TAP_CHECK(thrift_value_set(u, "id", thrift_value_new_string(arena, "x", 1)) ==
                  THRIFT_TYPE,
              "type mismatch refused");
    TAP_CHECK(thrift_value_set(u, "nope", x) == THRIFT_NOT_FOUND, "unknown field");
    TAP_CHECK(thrift_value_set_by_id(u, 99, x) == THRIFT_NOT_FOUND, "unknown id");
    thrift_value_t *addr = thrift_value_field(arena, u, "address");
    TAP_CHECK(addr && thrift_value_has(u, "address") &&
                  thrift_value_int(thrift_value_get(addr, "zip")) == 10000,
              "field() makes a nested struct present with defaults");
    thrift_value_unset(u, "address");
    TAP_CHECK(!thrift_value_has(u, "address"), "unset");
    TAP_CHECK(thrift_value_struct_def(u) == def("User"), "struct_def");
    TAP_CHECK(thrift_value_get_at(u, 0) == thrift_value_get(u, "id"), "get_at");

    thrift_value_t *pick = thrift_value_new_struct(arena, def("Pick"));
    thrift_value_set(pick, "n", thrift_value_new_i32(arena, 1));
    thrift_value_set(pick, "s", thrift_value_new_string(arena, "z", 1));
    TAP_CHECK(!thrift_value_has(pick, "n") && thrift_value_has(pick, "s"),
              "setting a union field clears the others");
}

static void test_containers(void) {
    thrift_value_t *u = thrift_value_new_struct(arena, def("User"));
    thrift_value_t *groups = thrift_value_field(arena, u, "groups");
    for (int i = 0; i < 100; i++)
        thrift_value_append(arena, groups, thrift_value_new_i16(arena, (int16_t)i));
    TAP_CHECK(thrift_value_count(groups) == 100 &&
                  thrift_value_int(thrift_value_at(groups, 99)) == 99,
              "append grows");
    TAP_CHECK(thrift_value_contains(groups, thrift_value_new_i16(arena, 42)) &&
                  !thrift_value_contains(groups, thrift_value_new_i16(arena, 420)),
              "contains");
    TAP_CHECK(thrift_value_append(arena, groups, thrift_value_new_i32(arena, 1)) ==
                  THRIFT_TYPE,
              "element type checked");
    TAP_CHECK(thrift_value_at(groups, 100) == NULL, "at out of range");
    /* appending an element of the same list to itself */
    TAP_CHECK(thrift_value_append(arena, groups, thrift_value_at(groups, 0)) ==
                      THRIFT_OK &&
                  thrift_value_int(thrift_value_at(groups, 100)) == 0,
              "append of an own element survives the regrow");

    thrift_value_t *counts = thrift_value_get(u, "counts");
    thrift_value_t *k = thrift_value_new_string(arena, "y", 1);
    thrift_value_map_put(arena, counts, k, thrift_value_new_i32(arena, 2));
    thrift_value_map_put(arena, counts, k, thrift_value_new_i32(arena, 3));
    TAP_CHECK(thrift_value_count(counts) == 2 &&
                  thrift_value_int(thrift_value_map_find(counts, k)) == 3,
              "map put replaces by key");
    TAP_CHECK(thrift_value_map_key(counts, 1) &&
                  thrift_value_equal(thrift_value_map_key(counts, 1), k),
              "map key at");
    TAP_CHECK(thrift_value_map_put(arena, counts, thrift_value_new_i32(arena, 1),
                                   k) == THRIFT_TYPE,
              "map key type checked");
    /* map_append keeps duplicates and order (no equality search) */
    size_t before = thrift_value_count(counts);
    TAP_CHECK(thrift_value_map_append(arena, counts, k, thrift_value_new_i32(arena, 4)) ==
                      THRIFT_OK &&
                  thrift_value_count(counts) == before + 1 &&
                  thrift_value_int(thrift_value_map_value(counts, before)) == 4 &&
                  thrift_value_int(thrift_value_map_find(counts, k)) == 3,
              "map append adds an entry after the existing ones, duplicates kept");
    TAP_CHECK(thrift_value_map_append(arena, counts, k, k) == THRIFT_TYPE &&
                  thrift_value_map_append(arena, thrift_value_get(u, "tags"), k, k) == THRIFT_TYPE &&
                  thrift_value_count(counts) == before + 1,
              "map append checks the value type and the container kind");
    thrift_value_t *tags = thrift_value_get(u, "tags");
    thrift_value_t *t = thrift_value_append_new(arena, tags);
    TAP_CHECK(t && thrift_value_kind(t) == THRIFT_KIND_STRING &&
                  thrift_value_count(tags) == 3,
              "append_new");
}

static void test_uuid_text(void) {
    uint8_t raw[16];
    char text[37];
    TAP_CHECK(thrift_uuid_parse("00112233-4455-6677-8899-AABBCCDDEEFF", 36, raw) &&
                  raw[0] == 0x00 && raw[15] == 0xff,
              "uuid parse 8-4-4-4-12, upper case");
    thrift_uuid_format(raw, text);
    TAP_STREQ(text, "00112233-4455-6677-8899-aabbccddeeff", "uuid format is lowercase");
    TAP_CHECK(thrift_uuid_parse("{00112233-4455-6677-8899-aabbccddeeff}", 38, raw) &&
                  thrift_uuid_parse("00112233445566778899aabbccddeeff", 32, raw),
              "uuid parse braces and 32 hex");
    TAP_CHECK(!thrift_uuid_parse("00112233-4455-6677-8899-aabbccddeefg", 36, raw) &&
                  !thrift_uuid_parse("0011223-34455-6677-8899-aabbccddeeff", 36, raw) &&
                  !thrift_uuid_parse("", 0, raw) && !thrift_uuid_parse(NULL, 0, raw),
              "uuid parse rejects bad digits, misplaced dashes, empty and NULL");
}

static void test_clone_equal(void) {
    thrift_value_t *p = thrift_value_new_struct(arena, def("Payload"));
    thrift_value_t *users = thrift_value_field(arena, p, "users");
    for (int i = 0; i < 3; i++) {
        thrift_value_t *u = thrift_value_append_new(arena, users);
        thrift_value_set_int(thrift_value_field(arena, u, "id"), i);
    }
    thrift_arena_t *other = thrift_arena_new(NULL);
    thrift_value_t *c = thrift_value_clone(other, p);
    TAP_CHECK(c && thrift_value_equal(c, p), "clone is equal");
    thrift_value_set_int(thrift_value_get(thrift_value_at(thrift_value_get(c, "users"), 1),
                                          "id"),
                         9);
    TAP_CHECK(!thrift_value_equal(c, p), "clone is deep");
    thrift_value_t *u0 = thrift_value_at(thrift_value_get(c, "users"), 0);
    size_t n;
    const uint8_t *cs = thrift_value_bytes(thrift_value_get(u0, "name"), &n);
    const uint8_t *ps = thrift_value_bytes(
        thrift_value_get(thrift_value_at(users, 0), "name"), &n);
    TAP_CHECK(cs != ps, "clone copies strings");
    thrift_arena_free(other);
}

static void test_validate(void) {
    thrift_error_t err;
    thrift_status_t st;
    thrift_value_t *p = thrift_value_new_struct(arena, def("Payload"));
    thrift_value_t *users = thrift_value_field(arena, p, "users");
    for (int i = 0; i < 5; i++) {
        thrift_value_t *u = thrift_value_append_new(arena, users);
        thrift_value_set_int(thrift_value_field(arena, u, "id"), i);
        thrift_value_t *a = thrift_value_field(arena, u, "address");
        thrift_value_set_bytes(arena, thrift_value_field(arena, a, "street"), "s", 1);
    }
    thrift_error_clear(&err);
    st = thrift_value_validate(p, 0, &err);
    TAP_CHECK(st == THRIFT_OK, "valid: %s", err.text);

    /* A slot holding the wrong kind (as a careless binding might build). */
    thrift_value_t *u3 = thrift_value_at(users, 3);
    thrift_value_t *zip = thrift_value_get(thrift_value_get(u3, "address"), "zip");
    thrift_value_t *str = thrift_value_new_string(arena, "x", 1);
    thrift_value_t saved = *zip;
    zip->type = str->type;
    zip->kind = str->kind;
    zip->u.bytes.ptr = (const uint8_t *)"x";
    zip->u.bytes.len = 1;
    thrift_error_clear(&err);
    st = thrift_value_validate(p, 0, &err);
    TAP_CHECK(st == THRIFT_TYPE, "type error found");
    char line[512];
    thrift_error_render(&err, false, line, sizeof line);
    TAP_STREQ(line, "Payload.users[3].address.zip: expected i32, got string",
              "type error path");
    *zip = saved;

    thrift_value_unset(thrift_value_get(u3, "address"), "street");
    thrift_error_clear(&err);
    st = thrift_value_validate(p, 0, &err);
    TAP_CHECK(st == THRIFT_MISSING, "required missing");
    thrift_error_render(&err, false, line, sizeof line);
    TAP_STREQ(line, "Payload.users[3].address.street: required field missing",
              "required path");
    thrift_value_set_bytes(arena, thrift_value_field(arena, thrift_value_get(u3, "address"), "street"), "s", 1);

    thrift_value_t *lvl = thrift_value_field(arena, thrift_value_at(users, 1), "level");
    lvl->u.i = 300; /* bypassing the setter's range check */
    thrift_error_clear(&err);
    st = thrift_value_validate(p, 0, &err);
    TAP_CHECK(st == THRIFT_RANGE &&
                  strcmp(err.path, "Payload.users[1].level") == 0,
              "integer range: %s", err.path);
    lvl->u.i = 3;

    thrift_value_set_int(thrift_value_field(arena, thrift_value_at(users, 2), "status"), 77);
    thrift_error_clear(&err);
    st = thrift_value_validate(p, 0, &err);
    TAP_CHECK(st == THRIFT_RANGE,
              "unknown enum value: %s", err.text);
    thrift_error_clear(&err);
    st = thrift_value_validate(p, THRIFT_VALIDATE_ALLOW_UNKNOWN_ENUM, &err);
    TAP_CHECK(st ==
                  THRIFT_OK,
              "unknown enum allowed by flag");
    thrift_value_set_int(thrift_value_field(arena, thrift_value_at(users, 2), "status"), 2);

    thrift_value_t *pick = thrift_value_field(arena, p, "pick");
    thrift_error_clear(&err);
    st = thrift_value_validate(p, 0, &err);
    TAP_CHECK(st == THRIFT_INVALID &&
                  strcmp(err.path, "Payload.pick") == 0,
              "empty union: %s: %s", err.path, err.text);
    thrift_value_set(pick, "n", thrift_value_new_i32(arena, 1));
    /* force a second member behind the API's back */
    pick->u.s.slots[1] = *thrift_value_new_string(arena, "s", 1);
    pick->u.s.slots[1].flags = THRIFT__VALUE_SET;
    thrift_error_clear(&err);
    st = thrift_value_validate(p, 0, &err);
    TAP_CHECK(st == THRIFT_INVALID,
              "union with two members");
    pick->u.s.slots[1].flags = 0;
    thrift_error_clear(&err);
    st = thrift_value_validate(p, 0, &err);
    TAP_CHECK(st == THRIFT_OK, "valid again");
}

/* The by-position and in-place building calls that bindings use. */
static void test_in_place(void) {
    const thrift_struct_def_t *ud = def("User");
    thrift_value_t *u = thrift_value_new_struct(arena, ud);
    size_t tags = thrift_field_def_index(thrift_struct_def_find_field(ud, "tags"));
    TAP_CHECK(thrift_value_count(thrift_value_get_at(u, tags)) == 2,
              "field_at: IDL default list present");
    thrift_value_t *same = thrift_value_field_at(arena, u, tags);
    TAP_CHECK(same && thrift_value_count(same) == 2,
              "field_at keeps a value the slot holds");
    thrift_value_unset_at(u, tags);
    TAP_CHECK(!thrift_value_has(u, "tags"), "unset_at clears presence");
    thrift_value_t *fresh = thrift_value_field_at(arena, u, tags);
    TAP_CHECK(fresh && thrift_value_count(fresh) == 0 && thrift_value_has(u, "tags"),
              "field_at after unset_at: a fresh empty list, present");
    TAP_CHECK(thrift_value_field_at(arena, u, 99) == NULL, "field_at out of range: NULL");
    thrift_value_unset_at(u, 99); /* no effect, no crash */
    TAP_CHECK(thrift_value_reserve(arena, fresh, 3) == THRIFT_OK, "reserve on a list");
    for (int i = 0; i < 3; i++)
        thrift_value_set_bytes(arena, thrift_value_append_new(arena, fresh), "t", 1);
    TAP_CHECK(thrift_value_count(fresh) == 3, "appends after reserve");
    TAP_CHECK(thrift_value_reserve(arena, u, 1) == THRIFT_TYPE, "reserve on a struct: TYPE");
    TAP_CHECK(thrift_value_reserve(arena, fresh, (size_t)1 << 40) == THRIFT_LIMIT,
              "reserve past 2^31: LIMIT");

    const thrift_struct_def_t *pd = def("Pick");
    thrift_value_t *pick = thrift_value_new_struct(arena, pd);
    thrift_value_set_int(thrift_value_field_at(arena, pick, 0), 5);
    thrift_value_set_bytes(arena, thrift_value_field_at(arena, pick, 1), "x", 1);
    TAP_CHECK(!thrift_value_has(pick, "n") && thrift_value_has(pick, "s"),
              "field_at on a union clears the other fields");

    thrift_value_t *counts = thrift_value_field(arena, u, "counts");
    thrift_value_unset(u, "counts");
    counts = thrift_value_field(arena, u, "counts");
    thrift_value_t *val = NULL;
    thrift_value_t *key = thrift_value_map_append_new(arena, counts, &val);
    TAP_CHECK(key && val && thrift_value_count(counts) == 1, "map_append_new adds one entry");
    thrift_value_set_bytes(arena, key, "k", 1);
    thrift_value_set_int(val, 7);
    thrift_value_t *probe = thrift_value_new_string(arena, "k", 1);
    thrift_value_t *found = thrift_value_map_find(counts, probe);
    TAP_CHECK(found && thrift_value_int(found) == 7, "the entry is built in place");
    TAP_CHECK(thrift_value_map_append_new(arena, fresh, &val) == NULL,
              "map_append_new on a list: NULL");
}

/* thrift_value_get_at on set-, list- and map-typed fields: NULL while
 * unset (a new struct holds only the IDL defaults), the container once
 * set, in place or by a decoder; NULL on a container itself, whose
 * elements are thrift_value_at / thrift_value_map_key. */
static void test_get_at_containers(void) {
    const thrift_struct_def_t *ud = def("User");
    size_t groups = thrift_field_def_index(thrift_struct_def_find_field(ud, "groups"));
    size_t tags = thrift_field_def_index(thrift_struct_def_find_field(ud, "tags"));
    size_t counts = thrift_field_def_index(thrift_struct_def_find_field(ud, "counts"));
    thrift_value_t *u = thrift_value_new_struct(arena, ud);
    TAP_CHECK(thrift_value_get_at(u, groups) == NULL && thrift_value_get(u, "groups") == NULL,
              "get_at: a set field without an IDL default is unset in a new struct");
    TAP_CHECK(thrift_value_count(thrift_value_get_at(u, tags)) == 2 &&
                  thrift_value_count(thrift_value_get_at(u, counts)) == 1,
              "get_at: list and map fields with an IDL default are present");
    thrift_value_t *set = thrift_value_field_at(arena, u, groups);
    thrift_value_t *one = thrift_value_new_i16(arena, 7);
    TAP_CHECK(set && thrift_value_append(arena, set, one) == THRIFT_OK &&
                  thrift_value_get_at(u, groups) == set &&
                  thrift_value_get_by_id(u, 9) == set && thrift_value_count(set) == 1,
              "get_at: the set field once made in place");
    TAP_CHECK(thrift_value_get_at(set, 0) == NULL && thrift_value_at(set, 0) &&
                  thrift_value_int(thrift_value_at(set, 0)) == 7 &&
                  thrift_value_at(set, 1) == NULL,
              "get_at on the set itself is NULL; thrift_value_at gives its elements");
    thrift_value_t *map = thrift_value_get_at(u, counts);
    TAP_CHECK(thrift_value_get_at(map, 0) == NULL && thrift_value_at(map, 0) == NULL &&
                  thrift_value_map_key(map, 0) && thrift_value_map_value(map, 0),
              "a map's entries: thrift_value_map_key/_value, not get_at or thrift_value_at");
}

int main(void) {
    thrift_error_t err;
    thrift_error_clear(&err);
    schema = thrift_load_string("v.thrift", idl, sizeof idl - 1, NULL, &err);
    TAP_CHECK(schema != NULL, "test schema loads: %s", err.text);
    if (!schema)
        return tap_done();
    arena = thrift_arena_new(NULL);
    test_scalars();
    test_structs();
    test_containers();
    test_uuid_text();
    test_clone_equal();
    test_validate();
    test_in_place();
    test_get_at_containers();
    thrift_arena_free(arena);
    thrift_schema_unref(schema);
    return tap_done();
}
