/* Pieces shared by the JSON mapping (json.c) and the raw field-id dumper
 * (raw.c): text output helpers, base64, UTF-8 and number formatting. */
#ifndef DYNTHRIFT_JSON_INTERNAL_H
#define DYNTHRIFT_JSON_INTERNAL_H

#include "base/base.h"
#include "value/value_impl.h" /* thrift__uuid_parse */

/* What reading `len` bytes of JSON text may allocate in its arena: the
 * codec's default budget (thrift_codec_options_t.max_memory_base and
 * max_memory_per_byte), so the text paths bound memory as the wire
 * decoders do. */
size_t thrift__json_text_budget(size_t len);
/* Records why an arena allocation failed: THRIFT_LIMIT when the budget
 * refused it, else THRIFT_NOMEM.  Returns false. */
bool thrift__json_alloc_failed(thrift_error_t *err, const thrift_arena_t *arena);

/* Appends a quoted, escaped JSON string; the bytes must be valid UTF-8. */
bool thrift__json_put_string(thrift__buf_t *b, const uint8_t *s, size_t len);
/* Appends "<base64>" (quoted, padded). */
bool thrift__json_put_base64(thrift__buf_t *b, const uint8_t *s, size_t len);
/* Appends a decimal integer. */
bool thrift__json_put_int(thrift__buf_t *b, int64_t i);
/* Appends a double as its shortest round-trip text, or "NaN" /
 * "Infinity" / "-Infinity" as quoted strings. */
bool thrift__json_put_double(thrift__buf_t *b, double d);
/* Writes the shortest %g text of a finite double that reads back to the
 * same bits, with ".0" added when it would read as an integer; returns the
 * length (< 32). */
size_t thrift__json_format_double(double d, char out[32]);

/* Base64 (standard alphabet): encoded length with padding. */
static inline size_t thrift__base64_len(size_t n) { return (n + 2) / 3 * 4; }
/* Writes thrift__base64_len(n) chars to out. */
void thrift__base64_encode(const uint8_t *in, size_t n, char *out);
/* Decodes with optional padding; out needs len/4*3+2 bytes.  False on a
 * character outside the alphabet, misplaced padding or a bad length. */
bool thrift__base64_decode(const char *in, size_t len, uint8_t *out,
                           size_t *out_len);

/* ---- JSON -> value: pieces shared by the jansson-tree path (json.c) and
 * the direct text scanner (scan.c), so both say exactly the same thing ---- */

/* Input nested deeper than this (structs and containers) is refused with
 * THRIFT_LIMIT, as Apache's protocols refuse depth beyond 64; it also bounds
 * the recursion of both input paths. */
#define THRIFT__JSON_MAX_DEPTH_IN 64

const char *thrift__json_type_name(const thrift_type_def_t *t);
/* Map keys that have a natural JSON object key (string, enum, integers). */
bool thrift__json_is_object_key_kind(unsigned kind);
/* i8/i16/i32 (and enum, as i32) range; i64 always fits. */
bool thrift__json_int_in_range(unsigned kind, int64_t n);
/* Sets v->u.i from an enum name; THRIFT_RANGE error when unknown. */
bool thrift__json_enum_by_name(thrift_error_t *err, thrift_value_t *v,
                               const thrift_type_def_t *t, const char *s,
                               size_t len);
/* Initializes *v as map key of type t from its object-key text. */
bool thrift__json_key_from_string(thrift_arena_t *arena, thrift_error_t *err,
                                  thrift_value_t *v, const thrift_type_def_t *t,
                                  const char *s, size_t len);
/* Path components: "[key]" and "[3]". */
void thrift__json_path_key(thrift_error_t *err, const char *key, size_t len);
void thrift__json_path_index(thrift_error_t *err, size_t i);
/* "unknown field of S" with the key as path. */
void thrift__json_unknown_field(thrift_error_t *err,
                                const thrift_struct_def_t *sd, const char *key,
                                size_t len);

/* The direct loader: JSON text -> value in one pass, no jansson tree.  It
 * accepts exactly what jansson (with JSON_DECODE_ANY | JSON_ALLOW_NUL |
 * JSON_REJECT_DUPLICATES) plus thrift_json_to_value accept, and builds the
 * same value.  On a mapping error err says what thrift_json_to_value would;
 * on a syntax error *syntax is set and err only says "syntax error" (the
 * public thrift_json_loads then has jansson describe it, with the exact
 * message, line and column). */
thrift_value_t *thrift__json_scan(thrift_arena_t *arena,
                                  const thrift_type_def_t *type,
                                  const char *text, size_t len, unsigned flags,
                                  thrift_error_t *err, bool *syntax);

/* The jansson path for text: json_loadb + thrift_json_to_value, with the
 * syntax error (message, line, column) of thrift_json_loads. */
thrift_value_t *thrift__json_loads_tree(thrift_arena_t *arena,
                                        const thrift_type_def_t *type,
                                        const char *text, size_t len,
                                        unsigned flags, thrift_error_t *err);

static inline bool thrift__buf_putc(thrift__buf_t *b, char c) {
    if (!thrift__buf_reserve(b, 1))
        return false;
    b->data[b->len++] = (uint8_t)c;
    return true;
}
static inline bool thrift__buf_puts(thrift__buf_t *b, const char *s) {
    return thrift__buf_append(b, s, strlen(s));
}

#endif
