/* dynthrift — common definitions: export macro, status codes, the error
 * struct, and arenas.  Every other public header includes this one. */
#ifndef DYNTHRIFT_COMMON_H
#define DYNTHRIFT_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(DYNTHRIFT_BUILDING) && defined(__GNUC__)
#define THRIFT_API __attribute__((visibility("default")))
#else
#define THRIFT_API
#endif

/* One table makes the status enum, thrift_status_name() and
 * thrift_status_str().  THRIFT_OK is 0. */
#define THRIFT_STATUS_MAP(X)                                                  \
    X(OK, "success")                                                          \
    X(NOMEM, "out of memory")                                                 \
    X(IO, "i/o error")                                                        \
    X(SYNTAX, "syntax error")                                                 \
    X(SEMANTIC, "invalid definition")                                         \
    X(NOT_FOUND, "not found")                                                 \
    X(TYPE, "type mismatch")                                                  \
    X(RANGE, "value out of range")                                            \
    X(MISSING, "required value missing")                                      \
    X(UNKNOWN_FIELD, "unknown field")                                         \
    X(LIMIT, "limit exceeded")                                                \
    X(NEED_MORE, "need more bytes")                                           \
    X(INVALID, "invalid input")                                               \
    X(UNSUPPORTED, "unsupported")                                             \
    X(MISUSE, "invalid argument")                                             \
    X(TIMEOUT, "timed out")                                                   \
    X(CLOSED, "connection closed")                                            \
    X(TRANSPORT, "transport error")                                           \
    X(PROTOCOL, "protocol error")                                             \
    X(APP_EXCEPTION, "application exception")                                 \
    X(DECLARED_EXCEPTION, "declared exception")

typedef enum thrift_status {
#define THRIFT_STATUS_ENUM_(name, text) THRIFT_##name,
    THRIFT_STATUS_MAP(THRIFT_STATUS_ENUM_)
#undef THRIFT_STATUS_ENUM_
    THRIFT_STATUS_COUNT_
} thrift_status_t;

/* The enumerator's own name: THRIFT_NOMEM -> "THRIFT_NOMEM" (for logs and
 * tests); "THRIFT_UNKNOWN_STATUS" outside the enum.  Never NULL. */
THRIFT_API const char *thrift_status_name(thrift_status_t status);
/* A short English description; never NULL. */
THRIFT_API const char *thrift_status_str(thrift_status_t status);

/* Details of a failure, filled by the callee, owned by the caller.  Holds no
 * heap memory, so an out-of-memory failure can still be described.  Every
 * fallible function takes a `thrift_error_t *err` last; it may be NULL.  The
 * first error wins: a filled error is not overwritten until cleared. */
typedef struct thrift_error {
    thrift_status_t code;
    int line;          /* 1-based source line; 0 when not about a text */
    int column;        /* 1-based column (bytes); 0 when unknown */
    size_t offset;     /* byte offset in the input, when meaningful */
    bool has_offset;
    char source[128];  /* "pingpong.thrift", "<compact>", "<json>"... */
    char path[256];    /* value path: "Payload.users[3].address.zip" */
    char text[320];    /* the message */
    char line_text[160]; /* for IDL errors: the offending source line */
} thrift_error_t;

/* Resets `err` to THRIFT_OK (NULL-safe). */
THRIFT_API void thrift_error_clear(thrift_error_t *err);

/* Renders `err` as one line, e.g. "user.thrift:12:7: unknown type 'Usr'" or
 * "<compact>@37: args.user.id: expected i64, got string".  A call's
 * TApplicationException renders with its type, from the source the client
 * sets: "TApplicationException UNKNOWN_METHOD: Invalid method name: 'x'".  With `caret`,
 * IDL errors get the source line and a caret under the column on two more
 * lines.  Writes at most `size` bytes including the NUL; returns the length
 * the full text has (like snprintf). */
THRIFT_API size_t thrift_error_render(const thrift_error_t *err, bool caret,
                                      char *out, size_t size);

/* ---- allocation ---------------------------------------------------------
 * Allocator hooks belong to an object, never to the process.  NULL means
 * malloc/free. */
typedef struct thrift_allocator {
    void *(*alloc)(size_t size, void *ud);
    void (*free)(void *ptr, void *ud);
    void *ud;
} thrift_allocator_t;

/* A bump allocator: everything allocated in it is freed at once.  Values and
 * decoded messages live in arenas. Not thread-safe: one arena, one thread. */
typedef struct thrift_arena thrift_arena_t;

/* Returns owned; free with thrift_arena_free.  `allocator` may be NULL; it is
 * copied.  NULL on out of memory. */
THRIFT_API thrift_arena_t *thrift_arena_new(const thrift_allocator_t *allocator);
/* Frees the arena and everything allocated in it (NULL-safe). */
THRIFT_API void thrift_arena_free(thrift_arena_t *arena);
/* Frees everything allocated in it but keeps its first block for reuse. */
THRIFT_API void thrift_arena_reset(thrift_arena_t *arena);
/* `size` bytes aligned to 8, allocated in `arena`; NULL on out of memory. */
THRIFT_API void *thrift_arena_alloc(thrift_arena_t *arena, size_t size);
/* Bytes the arena holds from its allocator (blocks, not just used bytes). */
THRIFT_API size_t thrift_arena_footprint(const thrift_arena_t *arena);

#ifdef __cplusplus
}
#endif
#endif
