/* Pieces shared by the JSON mapping (json.c) and the raw field-id dumper
 * (raw.c): text output helpers, base64, UTF-8 and number formatting. */
#ifndef DYNTHRIFT_JSON_INTERNAL_H
#define DYNTHRIFT_JSON_INTERNAL_H

#include "base/base.h"
#include "value/value_impl.h" /* thrift__uuid_parse */

/* True when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates). */
bool thrift__utf8_valid(const uint8_t *s, size_t len);

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
/* Lowercase 8-4-4-4-12; writes 36 chars plus a NUL. */
void thrift__uuid_format(const uint8_t uuid[16], char out[37]);

/* Base64 (standard alphabet): encoded length with padding. */
static inline size_t thrift__base64_len(size_t n) { return (n + 2) / 3 * 4; }
/* Writes thrift__base64_len(n) chars to out. */
void thrift__base64_encode(const uint8_t *in, size_t n, char *out);
/* Decodes with optional padding; out needs len/4*3+2 bytes.  False on a
 * character outside the alphabet, misplaced padding or a bad length. */
bool thrift__base64_decode(const char *in, size_t len, uint8_t *out,
                           size_t *out_len);

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
