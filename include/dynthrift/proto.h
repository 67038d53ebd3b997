/* dynthrift — Thrift protocols: binary, compact and JSON (TJSONProtocol).
 *
 * Encoding appends to a thrift_buffer_t; decoding is schema-guided into an
 * arena.  Every length read from the input is checked against the bytes left
 * and the configured limits before anything is allocated.  Truncated input
 * fails with THRIFT_NEED_MORE, malformed input with THRIFT_INVALID (or
 * THRIFT_LIMIT, THRIFT_TYPE, THRIFT_MISSING), and err->offset says where. */
#ifndef DYNTHRIFT_PROTO_H
#define DYNTHRIFT_PROTO_H

#include "dynthrift/common.h"
#include "dynthrift/schema.h"
#include "dynthrift/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum thrift_protocol {
    THRIFT_PROTO_BINARY = 0,
    THRIFT_PROTO_COMPACT = 1,
    THRIFT_PROTO_JSON = 2
} thrift_protocol_t;

/* "binary", "compact", "json"; parse returns false for other names. */
THRIFT_API const char *thrift_protocol_name(thrift_protocol_t proto);
THRIFT_API bool thrift_protocol_parse(const char *name, thrift_protocol_t *out);

typedef enum thrift_message_type {
    THRIFT_MSG_CALL = 1,
    THRIFT_MSG_REPLY = 2,
    THRIFT_MSG_EXCEPTION = 3,
    THRIFT_MSG_ONEWAY = 4
} thrift_message_type_t;

/* Decoder limits and switches.  Start from thrift_codec_options_init(); NULL
 * anywhere an options pointer is taken means these defaults. */
typedef struct thrift_codec_options {
    size_t max_message_size;   /* 100 MiB (Apache's default) */
    size_t max_frame_size;     /* 16,384,000 bytes (Apache's default) */
    size_t max_string_size;    /* bytes in one string/binary; default: no
                                  limit beyond max_message_size */
    size_t max_container_size; /* elements in one list/set/map; default:
                                  no limit beyond the bytes present */
    uint32_t max_depth;        /* nesting of structs/containers: 64 */
    bool strict_read;          /* binary: require versioned headers (true) */
    bool strict_write;         /* binary: write versioned headers (true) */
    bool zero_copy;            /* strings alias the input (false) */
    bool skip_mismatched;      /* a known field with another wire type is
                                  skipped instead of failing (false) */
    bool check_required;       /* required fields and unions (true) */
    /* What one decode may allocate in its arena (values, slot arrays,
     * copied strings, filled-in defaults), as a budget tied to the input:
     * max_memory_base + max_memory_per_byte x input bytes, by default
     * 64 MiB + 8 x input.  Beyond it the decode fails with THRIFT_LIMIT
     * and the value path where it stopped.  A value takes 32 bytes, so a
     * wire byte can stand for more than 8 of them (a 1-byte empty struct or
     * compact list element); the base lets any message whose values fit
     * in 64 MiB through.  SIZE_MAX in either field: no budget. */
    size_t max_memory_base;
    size_t max_memory_per_byte;
} thrift_codec_options_t;

THRIFT_API void thrift_codec_options_init(thrift_codec_options_t *opts);

/* A growable byte buffer, reused across messages. */
typedef struct thrift_buffer thrift_buffer_t;
THRIFT_API thrift_buffer_t *thrift_buffer_new(void);
THRIFT_API void thrift_buffer_free(thrift_buffer_t *b);
THRIFT_API const uint8_t *thrift_buffer_data(const thrift_buffer_t *b);
THRIFT_API size_t thrift_buffer_len(const thrift_buffer_t *b);
THRIFT_API void thrift_buffer_clear(thrift_buffer_t *b);
THRIFT_API thrift_status_t thrift_buffer_append(thrift_buffer_t *b, const void *p, size_t n);

/* Encodes a struct/union/exception value (or, for containers and scalars, the
 * bare value) and appends it to `out`. */
THRIFT_API thrift_status_t thrift_encode(thrift_protocol_t proto,
                                         const thrift_value_t *v,
                                         thrift_buffer_t *out,
                                         thrift_error_t *err);

/* Decodes one value of `type` from data[0..len).  Returns the value,
 * allocated in `arena`; NULL on failure.  *consumed (may be NULL) gets the
 * bytes read. */
THRIFT_API thrift_value_t *thrift_decode(thrift_protocol_t proto,
                                         const thrift_type_def_t *type,
                                         const uint8_t *data, size_t len,
                                         thrift_arena_t *arena,
                                         const thrift_codec_options_t *opts,
                                         size_t *consumed,
                                         thrift_error_t *err);

/* Skips one value of wire type `wire_type` without building it (how unknown
 * fields are passed over). *consumed gets its size. */
THRIFT_API thrift_status_t thrift_skip(thrift_protocol_t proto,
                                       thrift_wire_type_t wire_type,
                                       const uint8_t *data, size_t len,
                                       const thrift_codec_options_t *opts,
                                       size_t *consumed, thrift_error_t *err);

/* ---- streaming writer ----------------------------------------------------
 * Writes binary or compact bytes piece by piece, without a value tree: for
 * hosts that hold their data in their own objects (the Python binding
 * encodes straight from Python objects).  The caller writes what the
 * schema says -- a struct is struct_begin, for each field field_begin and
 * its value, then struct_end; a list or set is list_begin/set_begin with
 * the element count, then that many elements; a map is map_begin, then
 * key, value, key, value... -- and checks its own types: the writer does
 * not know the schema.  Fields go in the order written (Apache's writers
 * sort them by id; do the same for identical bytes).  Strings are binary
 * on the wire (UTF-8 is the caller's business).
 *
 * Every function appends to the buffer given to thrift_writer_new and
 * returns THRIFT_OK, THRIFT_NOMEM (the buffer could not grow), THRIFT_LIMIT
 * (a string longer than INT32_MAX bytes, structs nested deeper than
 * THRIFT_WRITER_MAX_DEPTH) or THRIFT_MISUSE (struct_end without
 * struct_begin, a compact bool field's value not written with
 * thrift_writer_bool).  After an error the buffer's content is unspecified.
 * A writer belongs to one thread at a time. */
typedef struct thrift_writer thrift_writer_t;

#define THRIFT_WRITER_MAX_DEPTH 128

/* A writer appending to `out` (borrowed: it must outlive the writer) in
 * `proto`, binary or compact (JSON: NULL).  Returns owned; free with
 * thrift_writer_free.  NULL on out of memory. */
THRIFT_API thrift_writer_t *thrift_writer_new(thrift_protocol_t proto, thrift_buffer_t *out);
/* NULL-safe. */
THRIFT_API void thrift_writer_free(thrift_writer_t *w);
/* Forgets any unfinished structs (after an error), so the writer can start
 * a new value; the buffer is not touched. */
THRIFT_API void thrift_writer_reset(thrift_writer_t *w);

THRIFT_API thrift_status_t thrift_writer_struct_begin(thrift_writer_t *w);
/* Writes the field stop marker and leaves the struct. */
THRIFT_API thrift_status_t thrift_writer_struct_end(thrift_writer_t *w);
/* A field header of wire type `type` (THRIFT_TYPE_BOOL ... UUID) and `id`;
 * its value follows.  Compact folds a bool field's value into its header:
 * the header is written by the thrift_writer_bool that must follow. */
THRIFT_API thrift_status_t thrift_writer_field_begin(thrift_writer_t *w,
                                                     thrift_wire_type_t type, int16_t id);
THRIFT_API thrift_status_t thrift_writer_list_begin(thrift_writer_t *w,
                                                    thrift_wire_type_t elem_type, uint32_t n);
THRIFT_API thrift_status_t thrift_writer_set_begin(thrift_writer_t *w,
                                                   thrift_wire_type_t elem_type, uint32_t n);
THRIFT_API thrift_status_t thrift_writer_map_begin(thrift_writer_t *w, thrift_wire_type_t key_type,
                                                   thrift_wire_type_t value_type, uint32_t n);
THRIFT_API thrift_status_t thrift_writer_bool(thrift_writer_t *w, bool v);
THRIFT_API thrift_status_t thrift_writer_i8(thrift_writer_t *w, int8_t v);
THRIFT_API thrift_status_t thrift_writer_i16(thrift_writer_t *w, int16_t v);
THRIFT_API thrift_status_t thrift_writer_i32(thrift_writer_t *w, int32_t v);
THRIFT_API thrift_status_t thrift_writer_i64(thrift_writer_t *w, int64_t v);
THRIFT_API thrift_status_t thrift_writer_double(thrift_writer_t *w, double v);
/* A string or binary: `n` bytes at `p` (p may be NULL when n is 0). */
THRIFT_API thrift_status_t thrift_writer_binary(thrift_writer_t *w, const void *p, size_t n);
THRIFT_API thrift_status_t thrift_writer_uuid(thrift_writer_t *w, const uint8_t uuid[16]);

/* ---- messages ----------------------------------------------------------- */

typedef struct thrift_message_header {
    const char *name; /* borrowed from the input; not NUL-terminated */
    size_t name_len;
    thrift_message_type_t type;
    int32_t seqid;
} thrift_message_header_t;

/* Appends a whole message: header, body (a struct value: the args, the
 * result, or a TApplicationException), and the end marker. */
THRIFT_API thrift_status_t thrift_encode_message(thrift_protocol_t proto,
                                                 const char *name, size_t name_len,
                                                 thrift_message_type_t type,
                                                 int32_t seqid,
                                                 const thrift_value_t *body,
                                                 thrift_buffer_t *out,
                                                 thrift_error_t *err);

/* As thrift_encode_message, honouring opts->strict_write (binary: false
 * writes the old-style header without a version); `opts` may be NULL. */
THRIFT_API thrift_status_t thrift_encode_message_ex(thrift_protocol_t proto,
                                                    const char *name, size_t name_len,
                                                    thrift_message_type_t type,
                                                    int32_t seqid,
                                                    const thrift_value_t *body,
                                                    const thrift_codec_options_t *opts,
                                                    thrift_buffer_t *out,
                                                    thrift_error_t *err);

/* Reads a message header; *consumed gets its size (the body starts there). */
THRIFT_API thrift_status_t thrift_decode_message_header(thrift_protocol_t proto,
                                                        const uint8_t *data, size_t len,
                                                        const thrift_codec_options_t *opts,
                                                        thrift_message_header_t *hdr,
                                                        size_t *consumed,
                                                        thrift_error_t *err);

/* Reads the body of the message whose header ended at data+0 and the message
 * end marker: a struct of `body_type`.  *consumed covers both. */
THRIFT_API thrift_value_t *thrift_decode_message_body(thrift_protocol_t proto,
                                                      const thrift_struct_def_t *body_type,
                                                      const uint8_t *data, size_t len,
                                                      thrift_arena_t *arena,
                                                      const thrift_codec_options_t *opts,
                                                      size_t *consumed,
                                                      thrift_error_t *err);

/* Frame-less length probe: is there one complete message at the start of
 * data[0..len)?  THRIFT_OK with *message_len set, THRIFT_NEED_MORE, or
 * THRIFT_INVALID / THRIFT_LIMIT.  Builds no values. */
THRIFT_API thrift_status_t thrift_probe_message(thrift_protocol_t proto,
                                                const uint8_t *data, size_t len,
                                                const thrift_codec_options_t *opts,
                                                size_t *message_len,
                                                thrift_error_t *err);

/* ---- TApplicationException ---------------------------------------------- */

typedef enum thrift_app_exception_type {
    THRIFT_APPEX_UNKNOWN = 0,
    THRIFT_APPEX_UNKNOWN_METHOD = 1,
    THRIFT_APPEX_INVALID_MESSAGE_TYPE = 2,
    THRIFT_APPEX_WRONG_METHOD_NAME = 3,
    THRIFT_APPEX_BAD_SEQUENCE_ID = 4,
    THRIFT_APPEX_MISSING_RESULT = 5,
    THRIFT_APPEX_INTERNAL_ERROR = 6,
    THRIFT_APPEX_PROTOCOL_ERROR = 7,
    THRIFT_APPEX_INVALID_TRANSFORM = 8,
    THRIFT_APPEX_INVALID_PROTOCOL = 9,
    THRIFT_APPEX_UNSUPPORTED_CLIENT_TYPE = 10
} thrift_app_exception_type_t;

/* The built-in struct TApplicationException { 1: string message,
 * 2: i32 type }: a static definition, valid for the process lifetime. */
THRIFT_API const thrift_struct_def_t *thrift_app_exception_def(void);
/* "UNKNOWN_METHOD" for THRIFT_APPEX_UNKNOWN_METHOD, the names Apache's
 * libraries give the types (without a prefix); NULL for a type outside the
 * table (a newer peer's), so a caller can print the number.  Static
 * strings. */
THRIFT_API const char *thrift_app_exception_type_name(int type);
/* A TApplicationException value in `arena`. */
THRIFT_API thrift_value_t *thrift_app_exception_new(thrift_arena_t *arena,
                                                    thrift_app_exception_type_t type,
                                                    const char *message);

#ifdef __cplusplus
}
#endif
#endif
