/* dynthrift — the JSON mapping: Thrift values <-> natural JSON, guided by
 * the schema.  Works on jansson trees (json_t) and on text, so a binding can
 * pass strings without linking jansson itself.
 *
 * The mapping (the same both ways unless noted):
 *
 *   bool                 true / false
 *   i8, i16, i32, i64    JSON integers, exact over the whole range (i64 never
 *                        goes through a double); input outside the type's
 *                        range is an error
 *   double               a JSON number, written in the shortest text that
 *                        reads back to the same bits ("0.1", "1e+300",
 *                        "-0.0", "5e-324"; integral values get ".0");
 *                        NaN and infinities as the strings "NaN",
 *                        "Infinity", "-Infinity"; integers accepted on input
 *   string               a JSON string (must be valid UTF-8; NUL allowed,
 *                        written as \u0000)
 *   binary               base64, standard alphabet, padded on output; the
 *                        padding is optional on input
 *   uuid                 "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", lowercase on
 *                        output, either case on input
 *   enum                 the value's name; a number is accepted on input;
 *                        a value the IDL does not declare is kept and
 *                        written as its number
 *   list, set            an array
 *   map                  with string, enum or integer (i8..i64) keys: an
 *                        object (integer keys as decimal strings, enum keys
 *                        by name); any other key type: an array of
 *                        [key, value] pairs.  On input the pair form is
 *                        accepted for every map.
 *   struct, exception    an object keyed by field name, fields in
 *                        declaration order; unset fields are omitted.  On
 *                        input, fields not given keep the IDL default (as a
 *                        freshly built struct would), null means "unset".
 *   union                an object with exactly one key
 *
 * Input errors carry the value path and say what was expected:
 * "Payload.users[3].address.zip: expected i32, got string" (THRIFT_TYPE),
 * "Payload.request_id: 3000000000 out of range for i32" (THRIFT_RANGE),
 * "Payload.users[0].nick: unknown field" (THRIFT_UNKNOWN_FIELD),
 * "Payload.users[0].id: required field missing" (THRIFT_MISSING).
 * THRIFT_JSON_IGNORE_UNKNOWN skips unknown keys; THRIFT_JSON_NO_REQUIRED
 * skips the required-field check.
 *
 * Thread-safety: the functions keep no state; a value tree or json_t must
 * not be used from two threads at once. */
#ifndef DYNTHRIFT_JSON_H
#define DYNTHRIFT_JSON_H

#include "dynthrift/common.h"
#include "dynthrift/proto.h"
#include "dynthrift/schema.h"
#include "dynthrift/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* jansson's tree type; include <jansson.h> to use the json_t functions. */
struct json_t;

typedef enum thrift_json_flags {
    THRIFT_JSON_DEFAULT = 0,
    /* input: keys that name no field are skipped instead of failing */
    THRIFT_JSON_IGNORE_UNKNOWN = 1 << 0,
    /* input: do not check that required fields are present */
    THRIFT_JSON_NO_REQUIRED = 1 << 1,
    /* text output: newlines and two-space indentation */
    THRIFT_JSON_PRETTY = 1 << 2
} thrift_json_flags_t;

/* value -> jansson tree.  Returns a new reference (json_decref it); NULL on
 * failure (a string that is not valid UTF-8, out of memory) with err set.
 * Doubles become json_real (exact bits), except NaN/Infinity (strings). */
THRIFT_API struct json_t *thrift_json_from_value(const thrift_value_t *v,
                                                 unsigned flags,
                                                 thrift_error_t *err);

/* jansson tree -> value of `type` (typedefs followed), allocated in `arena`.
 * `json` is borrowed.  NULL on failure, with err->path and err->text set. */
THRIFT_API thrift_value_t *thrift_json_to_value(thrift_arena_t *arena,
                                                const thrift_type_def_t *type,
                                                const struct json_t *json,
                                                unsigned flags,
                                                thrift_error_t *err);

/* value -> JSON text, without a trailing newline.  Returns owned,
 * NUL-terminated text (free with thrift_json_text_free); *len (may be NULL)
 * gets its length.  NULL on failure with err set. */
THRIFT_API char *thrift_json_dumps(const thrift_value_t *v, unsigned flags,
                                   size_t *len, thrift_error_t *err);
/* Appends the same text to `out`. */
THRIFT_API thrift_status_t thrift_json_dump_buffer(const thrift_value_t *v,
                                                   unsigned flags,
                                                   thrift_buffer_t *out,
                                                   thrift_error_t *err);
THRIFT_API void thrift_json_text_free(char *text);

/* JSON text -> value of `type`, allocated in `arena`.  Syntax errors carry
 * line and column with source "<json>".  The text is read in one pass by a
 * schema-guided scanner straight into the arena (no json_t tree); it
 * accepts exactly what json_loadb + thrift_json_to_value accept (jansson's
 * lexical rules: strict RFC 8259, UTF-8 checked, \u0000 allowed in strings
 * but not in keys, duplicate keys refused, integers within int64) and gives
 * the same errors.  Input nested deeper than 64 structs/containers fails
 * with THRIFT_LIMIT (also in thrift_json_to_value).  Stack: a text that
 * fails is re-read by jansson to describe the error, and jansson recurses
 * once per nesting level up to 2048, so a pathological text can take a few
 * hundred KiB of stack: call it on a thread with at least 1 MiB. */
THRIFT_API thrift_value_t *thrift_json_loads(thrift_arena_t *arena,
                                             const thrift_type_def_t *type,
                                             const char *text, size_t len,
                                             unsigned flags,
                                             thrift_error_t *err);

/* The field-id tree of any Thrift struct (or, with `message`, of a whole
 * message) in `proto`, read without a schema.  Returns owned JSON text (free
 * with thrift_json_text_free).  The format, one tagged object per value,
 * tags named as in Apache's TJSONProtocol:
 *   struct          {"1": {"i64": 42}, "2": {"str": "x"}}  (ids as keys)
 *   scalars         {"tf": true} {"i8": 1} {"i16": 1} {"i32": 1} {"i64": 1}
 *                   {"dbl": 0.5} {"uid": "..."}
 *   string/binary   {"str": "text"} when the bytes are valid UTF-8, else
 *                   {"bin": "base64"} (binary and compact cannot tell them
 *                   apart; TJSONProtocol input keeps what the wire says)
 *   nested struct   {"rec": {...}}
 *   list, set       {"lst": ["i32", [1, 2]]}  {"set": ["str", ["a"]]}:
 *                   element type, then the items without tags
 *   map             {"map": ["str", "i64", [["a", 1], ["b", 2]]]}
 *   items           (inside lst/set/map) untagged: scalars bare, strings
 *                   as "text" or {"bin": ...}, structs as {"1": ...},
 *                   containers as ["i32", [...]] / ["str", "i64", [...]]
 *   empty compact map  {"map": [null, null, []]} (the wire has no types)
 *   message         {"method": "add", "type": "call", "seqid": 1,
 *                    "body": {"1": {"i64": 2}}}
 * Unknown wire types, truncation (THRIFT_NEED_MORE) and nesting beyond 64
 * fail with err set.  TJSONProtocol input is parsed with jansson, so maps
 * keyed by structs or containers (written by Apache as objects keyed by
 * objects, which is not JSON) cannot be dumped raw. */
THRIFT_API char *thrift_json_raw_dumps(thrift_protocol_t proto,
                                       const uint8_t *data, size_t len,
                                       bool message, unsigned flags,
                                       size_t *consumed, thrift_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
