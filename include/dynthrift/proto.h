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

/* ---- streaming reader ----------------------------------------------------
 * Reads binary or compact bytes piece by piece, without a value tree: the
 * mirror of thrift_writer_* (the Python binding builds its objects straight
 * from the wire).  The caller reads what it expects -- a struct is
 * struct_begin, then field_begin until it yields THRIFT_TYPE_STOP, each
 * field's value read (or skipped) in between, then struct_end; a list or set
 * is list_begin/set_begin giving the element type and count, that many
 * elements, then container_end; a map is map_begin, key, value, key,
 * value..., container_end -- and checks the wire types it is given against
 * its schema: the reader does not know one.
 *
 * The limits are thrift_decode's: nesting (structs and containers) beyond
 * max_depth, a string longer than max_string_size or than the bytes left, a
 * container larger than max_container_size or than its elements' smallest
 * size allows in the bytes left, all fail before anything is read.  The
 * decode memory budget (max_memory_base + max_memory_per_byte x input) is
 * kept in spirit: every field, struct and container element read is charged
 * 32 bytes (what a decoded value takes), so a caller building one object per
 * value is bounded as thrift_decode is.
 *
 * Every function returns THRIFT_OK or the failure, which is also recorded
 * (the first one only) in the thrift_error_t given to thrift_reader_begin
 * with the byte offset: THRIFT_NEED_MORE (truncated), THRIFT_INVALID
 * (malformed), THRIFT_LIMIT.  After a failure the reader must be begun
 * again.  A reader belongs to one thread at a time. */
typedef struct thrift_reader thrift_reader_t;

/* A reader of `proto`, binary or compact (JSON: NULL), with `opts` copied
 * (NULL: the defaults).  Returns owned; free with thrift_reader_free.  NULL
 * on out of memory. */
THRIFT_API thrift_reader_t *thrift_reader_new(thrift_protocol_t proto,
                                              const thrift_codec_options_t *opts);
/* NULL-safe. */
THRIFT_API void thrift_reader_free(thrift_reader_t *r);
/* Starts reading data[0..len) (borrowed: it must outlive the reading),
 * forgetting any earlier input and nesting.  `err` (borrowed, may be NULL)
 * is cleared and gets the first failure. */
THRIFT_API void thrift_reader_begin(thrift_reader_t *r, const uint8_t *data, size_t len,
                                    thrift_error_t *err);
/* Bytes read so far. */
THRIFT_API size_t thrift_reader_offset(const thrift_reader_t *r);
/* Records a caller's own failure (a wire type its schema does not allow...)
 * at byte `offset`, printf-style; returns `code`.  The first failure wins. */
THRIFT_API thrift_status_t thrift_reader_fail(thrift_reader_t *r, thrift_status_t code,
                                              size_t offset, const char *fmt, ...);

THRIFT_API thrift_status_t thrift_reader_struct_begin(thrift_reader_t *r);
/* Leaves the struct whose THRIFT_TYPE_STOP field_begin has returned. */
THRIFT_API thrift_status_t thrift_reader_struct_end(thrift_reader_t *r);
/* The next field header: its wire type (THRIFT_TYPE_STOP after the last
 * field, and then no id) and id.  A compact bool field's value is in its
 * header; read it with thrift_reader_bool (or skip it) as any other. */
THRIFT_API thrift_status_t thrift_reader_field_begin(thrift_reader_t *r,
                                                     thrift_wire_type_t *type, int16_t *id);
/* A list or set header: element wire type and count (a set's reads as a
 * list's: the wire does not tell them apart). */
THRIFT_API thrift_status_t thrift_reader_list_begin(thrift_reader_t *r,
                                                    thrift_wire_type_t *elem_type, uint32_t *n);
/* A map header.  Compact writes no types for an empty map: both are then
 * THRIFT_TYPE_STOP. */
THRIFT_API thrift_status_t thrift_reader_map_begin(thrift_reader_t *r,
                                                   thrift_wire_type_t *key_type,
                                                   thrift_wire_type_t *value_type, uint32_t *n);
/* After a list's, set's or map's last element. */
THRIFT_API thrift_status_t thrift_reader_container_end(thrift_reader_t *r);
THRIFT_API thrift_status_t thrift_reader_bool(thrift_reader_t *r, bool *out);
THRIFT_API thrift_status_t thrift_reader_i8(thrift_reader_t *r, int8_t *out);
/* i16 and i32 fail with THRIFT_INVALID on a compact value out of range. */
THRIFT_API thrift_status_t thrift_reader_i16(thrift_reader_t *r, int16_t *out);
THRIFT_API thrift_status_t thrift_reader_i32(thrift_reader_t *r, int32_t *out);
THRIFT_API thrift_status_t thrift_reader_i64(thrift_reader_t *r, int64_t *out);
THRIFT_API thrift_status_t thrift_reader_double(thrift_reader_t *r, double *out);
/* A string or binary: *p points into the input (borrowed), *n bytes. */
THRIFT_API thrift_status_t thrift_reader_binary(thrift_reader_t *r, const uint8_t **p,
                                                size_t *n);
THRIFT_API thrift_status_t thrift_reader_uuid(thrift_reader_t *r, uint8_t out[16]);
/* Passes over one value of wire type `type` (an unknown field's). */
THRIFT_API thrift_status_t thrift_reader_skip(thrift_reader_t *r, thrift_wire_type_t type);

/* A field read in one call: its header and, when its wire type is a scalar
 * (bool, byte, i16, i32, i64, double, string/binary), its value, read as
 * thrift_reader_bool ... thrift_reader_binary would (same limits and
 * errors).  Saves a host the per-call cost of the common case; the caller
 * still checks the wire type against its schema, before using the value. */
typedef struct thrift_reader_field {
    size_t offset;           /* where the header starts (for the caller's errors) */
    thrift_wire_type_t type; /* THRIFT_TYPE_STOP after the last field (then no id) */
    int16_t id;
    bool has_value; /* a scalar: `value` holds it, and it has been read */
    union {
        bool b;
        int64_t i; /* byte, i16, i32, i64 (sign-extended) */
        double d;
        struct {
            const uint8_t *p; /* into the input (borrowed) */
            size_t n;
        } bytes; /* string/binary */
    } value;
} thrift_reader_field_t;

/* Reads the next field into `f`; a struct, container or uuid value is left
 * for the caller to read (or skip) as after thrift_reader_field_begin.  On
 * a failure f->type is THRIFT_TYPE_STOP when the header itself did not
 * read, else the header's type and id (the scalar value failed: a caller
 * can name the field in its error). */
THRIFT_API thrift_status_t thrift_reader_field(thrift_reader_t *r, thrift_reader_field_t *f);

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
