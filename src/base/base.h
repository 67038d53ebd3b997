/* Internal base layer: arena fast path, growable buffer, error helpers,
 * hashing and a string-keyed table.  Used by every layer above. */
#ifndef DYNTHRIFT_BASE_H
#define DYNTHRIFT_BASE_H

#include <stdarg.h>
#include <string.h>

#include "dynthrift/common.h"

#if defined(__GNUC__)
#define THRIFT_LIKELY(x) __builtin_expect(!!(x), 1)
#define THRIFT_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define THRIFT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define THRIFT_LIKELY(x) (x)
#define THRIFT_UNLIKELY(x) (x)
#define THRIFT_PRINTF(f, a)
#endif

/* ---- allocator ---------------------------------------------------------- */
void *thrift__alloc(const thrift_allocator_t *a, size_t size);
void thrift__free(const thrift_allocator_t *a, void *ptr);
/* realloc through alloc+copy+free, since hooks have no realloc. */
void *thrift__realloc(const thrift_allocator_t *a, void *ptr, size_t old_size,
                      size_t new_size);

/* ---- arena -------------------------------------------------------------- */
typedef struct thrift__arena_block thrift__arena_block_t;
struct thrift_arena {
    char *ptr; /* next free byte of the current block */
    char *end; /* end of the current block */
    thrift__arena_block_t *blocks;
    size_t footprint;
    size_t next_block_size;
    thrift_allocator_t allocator;
    /* While a decoder fills the arena: the footprint it may grow to (0: no
     * limit), and whether an allocation was refused for it.  Checked only
     * when a new block is needed, so the fast path pays nothing. */
    size_t limit;
    bool over_limit;
};

void *thrift__arena_alloc_slow(thrift_arena_t *arena, size_t size);

static inline void *thrift__arena_alloc(thrift_arena_t *arena, size_t size) {
    size = (size + 7u) & ~(size_t)7u;
    if (THRIFT_LIKELY((size_t)(arena->end - arena->ptr) >= size)) {
        void *p = arena->ptr;
        arena->ptr += size;
        return p;
    }
    return thrift__arena_alloc_slow(arena, size);
}

static inline void *thrift__arena_zalloc(thrift_arena_t *arena, size_t size) {
    void *p = thrift__arena_alloc(arena, size);
    if (p)
        memset(p, 0, size);
    return p;
}

/* Lets `arena` grow by at most `budget` more bytes (blocks included) until
 * thrift__arena_unbudget(arena, returned value); an allocation beyond it
 * fails as if memory ran out, with arena->over_limit set.  A tighter limit
 * already in place stays. */
size_t thrift__arena_budget(thrift_arena_t *arena, size_t budget);
void thrift__arena_unbudget(thrift_arena_t *arena, size_t previous);

/* Copies `len` bytes and appends a NUL; NULL on out of memory. */
char *thrift__arena_strndup(thrift_arena_t *arena, const char *s, size_t len);
char *thrift__arena_strdup(thrift_arena_t *arena, const char *s);
/* printf into the arena. */
char *thrift__arena_printf(thrift_arena_t *arena, const char *fmt, ...)
    THRIFT_PRINTF(2, 3);

/* ---- growable byte buffer ---------------------------------------------- */
typedef struct thrift__buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    const thrift_allocator_t *allocator; /* NULL: malloc */
} thrift__buf_t;

void thrift__buf_init(thrift__buf_t *b, const thrift_allocator_t *allocator);
void thrift__buf_free(thrift__buf_t *b);
/* Makes room for `extra` more bytes; false on out of memory. */
bool thrift__buf_grow(thrift__buf_t *b, size_t extra);

static inline bool thrift__buf_reserve(thrift__buf_t *b, size_t extra) {
    if (THRIFT_LIKELY(b->cap - b->len >= extra))
        return true;
    return thrift__buf_grow(b, extra);
}

static inline bool thrift__buf_append(thrift__buf_t *b, const void *p,
                                      size_t n) {
    if (!thrift__buf_reserve(b, n))
        return false;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return true;
}

/* ---- errors ------------------------------------------------------------- */
/* Fills `err` unless it is NULL or already holds an error (first error wins).
 * Returns `code` so callers can `return thrift__error_set(...)`. */
thrift_status_t thrift__error_set(thrift_error_t *err, thrift_status_t code,
                                  const char *fmt, ...) THRIFT_PRINTF(3, 4);
thrift_status_t thrift__error_vset(thrift_error_t *err, thrift_status_t code,
                                   const char *fmt, va_list ap);
/* Sets err->source (truncating) when err is non-NULL. */
void thrift__error_set_source(thrift_error_t *err, const char *source);
/* Prepends a path component to err->path: "users[3]" + "address.zip" ->
 * "users[3].address.zip"; `sep` is "." or "" (for "[3]"). */
void thrift__error_path_prepend(thrift_error_t *err, const char *component,
                                bool is_index);
static inline bool thrift__error_is_set(const thrift_error_t *err) {
    return err && err->code != THRIFT_OK;
}

/* ---- text ---------------------------------------------------------------- */
/* The value of one hex digit, either case; -1 for anything else. */
static inline int thrift__hex_digit(unsigned char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Length (2 to 4) of the well-formed UTF-8 sequence that starts p[0..len)
 * with a byte >= 0x80, or 0: no overlongs, no surrogates, nothing past
 * U+10FFFF (jansson's utf8_check_first/utf8_check_full, so what we write
 * jansson reads back).  Inline: the JSON scanner calls it per non-ASCII
 * character. */
static inline size_t thrift__utf8_seq(const uint8_t *p, size_t len) {
    uint8_t c = p[0];
    size_t n;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t k = 1; k < n; k++) {
        if ((p[k] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[k] & 0x3f);
    }
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || (n == 3 && cp < 0x800) ||
        (n == 4 && cp < 0x10000))
        return 0;
    return n;
}

/* True when s[0..len) is well-formed UTF-8 (thrift__utf8_seq's rules):
 * what jansson and every JSON reader accept. */
bool thrift__utf8_valid(const uint8_t *s, size_t len);

/* ---- hashing ------------------------------------------------------------ */
static inline uint64_t thrift__hash_bytes(const void *data, size_t len) {
    /* FNV-1a, 64 bit: names are short; this is run once per lookup. */
    const uint8_t *p = (const uint8_t *)data;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* An open-addressing table from byte-string keys to pointers, allocated in
 * an arena, built once and then read-only (so it is safe to share). */
typedef struct thrift__strmap_entry {
    const char *key;
    size_t key_len;
    uint64_t hash;
    void *value;
} thrift__strmap_entry_t;

typedef struct thrift__strmap {
    thrift__strmap_entry_t *slots;
    uint32_t mask; /* capacity - 1; capacity is a power of two */
    uint32_t count;
    thrift_arena_t *arena;
} thrift__strmap_t;

void thrift__strmap_init(thrift__strmap_t *m, thrift_arena_t *arena);
/* Inserts; if the key exists, returns false and stores the existing value in
 * *existing (when non-NULL).  Sets *oom on allocation failure. The key is
 * not copied: it must live as long as the map. */
bool thrift__strmap_put(thrift__strmap_t *m, const char *key, size_t key_len,
                        void *value, void **existing, bool *oom);
void *thrift__strmap_get(const thrift__strmap_t *m, const char *key,
                         size_t key_len);
/* Makes room for `count` entries in all (allocating the table at once, so
 * filling it leaves no outgrown tables in the arena); false on out of
 * memory. */
bool thrift__strmap_reserve(thrift__strmap_t *m, uint32_t count);

#endif
