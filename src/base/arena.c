#include <stdio.h>
#include <stdlib.h>

#include "base.h"

struct thrift__arena_block {
    thrift__arena_block_t *next;
    size_t size; /* bytes after the header */
};

enum { FIRST_BLOCK = 2048, MAX_BLOCK = 1 << 20 };

void *thrift__alloc(const thrift_allocator_t *a, size_t size) {
    if (a && a->alloc)
        return a->alloc(size, a->ud);
    return malloc(size);
}

void thrift__free(const thrift_allocator_t *a, void *ptr) {
    if (!ptr)
        return;
    if (a && a->alloc)
        a->free(ptr, a->ud);
    else
        free(ptr);
}

void *thrift__realloc(const thrift_allocator_t *a, void *ptr, size_t old_size,
                      size_t new_size) {
    if (!a || !a->alloc)
        return realloc(ptr, new_size);
    void *p = a->alloc(new_size, a->ud);
    if (!p)
        return NULL;
    if (ptr) {
        memcpy(p, ptr, old_size < new_size ? old_size : new_size);
        a->free(ptr, a->ud);
    }
    return p;
}

thrift_arena_t *thrift_arena_new(const thrift_allocator_t *allocator) {
    thrift_arena_t *arena = thrift__alloc(allocator, sizeof *arena);
    if (!arena)
        return NULL;
    memset(arena, 0, sizeof *arena);
    if (allocator)
        arena->allocator = *allocator;
    arena->next_block_size = FIRST_BLOCK;
    arena->footprint = sizeof *arena;
    return arena;
}

void thrift_arena_free(thrift_arena_t *arena) {
    if (!arena)
        return;
    thrift__arena_block_t *b = arena->blocks;
    while (b) {
        thrift__arena_block_t *next = b->next;
        thrift__free(&arena->allocator, b);
        b = next;
    }
    thrift_allocator_t a = arena->allocator;
    thrift__free(&a, arena);
}

void thrift_arena_reset(thrift_arena_t *arena) {
    if (!arena || !arena->blocks)
        return;
    /* Keep the newest block: it is the largest, so a steady-state message
     * loop ends up allocating nothing. */
    thrift__arena_block_t *keep = arena->blocks;
    thrift__arena_block_t *b = keep->next;
    while (b) {
        thrift__arena_block_t *next = b->next;
        arena->footprint -= sizeof *b + b->size;
        thrift__free(&arena->allocator, b);
        b = next;
    }
    keep->next = NULL;
    arena->ptr = (char *)(keep + 1);
    arena->end = arena->ptr + keep->size;
}

size_t thrift__arena_budget(thrift_arena_t *arena, size_t budget) {
    size_t previous = arena->limit;
    size_t limit = arena->footprint > SIZE_MAX - budget
                       ? SIZE_MAX
                       : arena->footprint + budget;
    if (!previous || limit < previous)
        arena->limit = limit;
    return previous;
}

void thrift__arena_unbudget(thrift_arena_t *arena, size_t previous) {
    arena->limit = previous;
    if (!previous)
        arena->over_limit = false;
}

// True (and noted) when growing by `more` bytes would pass the limit.
static bool over_limit(thrift_arena_t *arena, size_t more) {
    if (!arena->limit || (arena->footprint <= arena->limit &&
                          more <= arena->limit - arena->footprint))
        return false;
    arena->over_limit = true;
    return true;
}

void *thrift__arena_alloc_slow(thrift_arena_t *arena, size_t size) {
    size_t block_size = arena->next_block_size;
    if (size > block_size / 4) {
        /* A large request gets a block of its own, linked behind the current
         * one so the current block's free tail is not wasted. */
        if (size > SIZE_MAX - sizeof(thrift__arena_block_t) ||
            over_limit(arena, sizeof(thrift__arena_block_t) + size))
            return NULL;
        thrift__arena_block_t *b =
            thrift__alloc(&arena->allocator, sizeof *b + size);
        if (!b)
            return NULL;
        b->size = size;
        arena->footprint += sizeof *b + size;
        if (arena->blocks) {
            b->next = arena->blocks->next;
            arena->blocks->next = b;
        } else {
            b->next = NULL;
            arena->blocks = b;
            arena->ptr = arena->end = (char *)(b + 1) + size;
        }
        return b + 1;
    }
    if (over_limit(arena, sizeof(thrift__arena_block_t) + block_size))
        return NULL;
    thrift__arena_block_t *b =
        thrift__alloc(&arena->allocator, sizeof *b + block_size);
    if (!b)
        return NULL;
    b->size = block_size;
    b->next = arena->blocks;
    arena->blocks = b;
    arena->footprint += sizeof *b + block_size;
    if (arena->next_block_size < MAX_BLOCK)
        arena->next_block_size *= 2;
    arena->ptr = (char *)(b + 1) + size;
    arena->end = (char *)(b + 1) + block_size;
    return b + 1;
}

void *thrift_arena_alloc(thrift_arena_t *arena, size_t size) {
    return thrift__arena_alloc(arena, size);
}

size_t thrift_arena_footprint(const thrift_arena_t *arena) {
    return arena ? arena->footprint : 0;
}

char *thrift__arena_strndup(thrift_arena_t *arena, const char *s, size_t len) {
    char *p = thrift__arena_alloc(arena, len + 1);
    if (!p)
        return NULL;
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *thrift__arena_strdup(thrift_arena_t *arena, const char *s) {
    return thrift__arena_strndup(arena, s, strlen(s));
}

char *thrift__arena_printf(thrift_arena_t *arena, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *p = thrift__arena_alloc(arena, (size_t)n + 1);
    if (!p)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

/* ---- buffer ------------------------------------------------------------- */

void thrift__buf_init(thrift__buf_t *b, const thrift_allocator_t *allocator) {
    b->data = NULL;
    b->len = b->cap = 0;
    b->allocator = allocator;
}

void thrift__buf_free(thrift__buf_t *b) {
    thrift__free(b->allocator, b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

bool thrift__buf_grow(thrift__buf_t *b, size_t extra) {
    if (extra > SIZE_MAX / 2 - b->len)
        return false;
    size_t need = b->len + extra;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    uint8_t *p = thrift__realloc(b->allocator, b->data, b->len, cap);
    if (!p)
        return false;
    b->data = p;
    b->cap = cap;
    return true;
}
