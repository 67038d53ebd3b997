#include <stdlib.h>

#include "base/base.h"
#include "tap.h"

static void test_arena(void) {
    thrift_arena_t *a = thrift_arena_new(NULL);
    TAP_CHECK(a != NULL, "arena_new");
    char *p = thrift_arena_alloc(a, 3);
    char *q = thrift_arena_alloc(a, 5);
    TAP_CHECK(((uintptr_t)p & 7) == 0 && ((uintptr_t)q & 7) == 0,
              "allocations are 8-aligned");
    TAP_CHECK(q - p == 8, "small allocations bump in one block");
    void *big = thrift_arena_alloc(a, 1 << 20);
    TAP_CHECK(big != NULL, "large allocation gets its own block");
    memset(big, 1, 1 << 20);
    char *r = thrift_arena_alloc(a, 8);
    TAP_CHECK(r == q + 8, "after a large block, bumping resumes in the block");
    size_t fp = thrift_arena_footprint(a);
    TAP_CHECK(fp > (1u << 20), "footprint counts blocks");
    thrift_arena_reset(a);
    TAP_CHECK(thrift_arena_footprint(a) < fp, "reset frees all but one block");
    char *s = thrift__arena_printf(a, "%s-%d", "x", 42);
    TAP_STREQ(s, "x-42", "arena_printf");
    thrift_arena_free(a);
    thrift_arena_free(NULL);
}

static void test_strmap(void) {
    thrift_arena_t *a = thrift_arena_new(NULL);
    thrift__strmap_t m;
    thrift__strmap_init(&m, a);
    char keys[200][8];
    bool ok = true;
    for (int i = 0; i < 200; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        ok &= thrift__strmap_put(&m, keys[i], strlen(keys[i]),
                                 (void *)(intptr_t)(i + 1), NULL, NULL);
    }
    TAP_CHECK(ok && m.count == 200, "strmap holds 200 keys");
    bool found = true;
    for (int i = 0; i < 200; i++)
        found &= thrift__strmap_get(&m, keys[i], strlen(keys[i])) ==
                 (void *)(intptr_t)(i + 1);
    TAP_CHECK(found, "every key found with its value");
    void *old = NULL;
    TAP_CHECK(!thrift__strmap_put(&m, "k7", 2, NULL, &old, NULL) &&
                  old == (void *)(intptr_t)8,
              "duplicate put refused and reports the existing value");
    TAP_CHECK(thrift__strmap_get(&m, "k200", 4) == NULL, "absent key");
    thrift_arena_free(a);
}

static void test_error(void) {
    thrift_error_t e;
    thrift_error_clear(&e);
    thrift__error_set_source(&e, "user.thrift");
    e.line = 12;
    e.column = 7;
    snprintf(e.line_text, sizeof e.line_text, "  1: Usr u");
    thrift__error_set(&e, THRIFT_SEMANTIC, "unknown type '%s'", "Usr");
    thrift__error_set(&e, THRIFT_NOMEM, "second error must not win");
    char buf[256];
    thrift_error_render(&e, false, buf, sizeof buf);
    TAP_STREQ(buf, "user.thrift:12:7: unknown type 'Usr'", "render with location");
    thrift_error_render(&e, true, buf, sizeof buf);
    TAP_STREQ(buf, "user.thrift:12:7: unknown type 'Usr'\n  1: Usr u\n      ^",
              "render with caret");
    thrift_error_clear(&e);
    thrift__error_set_source(&e, "<compact>");
    e.has_offset = true;
    e.offset = 37;
    thrift__error_set(&e, THRIFT_TYPE, "expected i64, got string");
    thrift__error_path_prepend(&e, "id", false);
    thrift__error_path_prepend(&e, "user", false);
    thrift__error_path_prepend(&e, "3", true);
    thrift__error_path_prepend(&e, "args", false);
    thrift_error_render(&e, false, buf, sizeof buf);
    TAP_STREQ(buf, "<compact>@37: args[3].user.id: expected i64, got string",
              "render with offset and path");
    size_t n = thrift_error_render(&e, false, buf, 10);
    TAP_CHECK(n > 10 && strlen(buf) == 9, "render truncates like snprintf");
    TAP_STREQ(thrift_status_name(THRIFT_NOMEM), "THRIFT_NOMEM", "status name");
    TAP_STREQ(thrift_status_str(THRIFT_OK), "success", "status text");
}

int main(void) {
    test_arena();
    test_strmap();
    test_error();
    return tap_done();
}
