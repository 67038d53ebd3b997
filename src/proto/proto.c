/* Protocol-independent parts: options, buffers, error helpers, dispatch,
 * messages, the length probe and TApplicationException. */
#include <stdio.h>
#include <stdlib.h>

#include "proto/proto_impl.h"

const uint8_t thrift__kind_wire[THRIFT_KIND_TYPEDEF + 1] = {
    [THRIFT_KIND_VOID] = THRIFT_TYPE_VOID,     [THRIFT_KIND_BOOL] = THRIFT_TYPE_BOOL,
    [THRIFT_KIND_I8] = THRIFT_TYPE_BYTE,       [THRIFT_KIND_I16] = THRIFT_TYPE_I16,
    [THRIFT_KIND_I32] = THRIFT_TYPE_I32,       [THRIFT_KIND_I64] = THRIFT_TYPE_I64,
    [THRIFT_KIND_DOUBLE] = THRIFT_TYPE_DOUBLE, [THRIFT_KIND_STRING] = THRIFT_TYPE_STRING,
    [THRIFT_KIND_BINARY] = THRIFT_TYPE_STRING, [THRIFT_KIND_UUID] = THRIFT_TYPE_UUID,
    [THRIFT_KIND_ENUM] = THRIFT_TYPE_I32,      [THRIFT_KIND_LIST] = THRIFT_TYPE_LIST,
    [THRIFT_KIND_SET] = THRIFT_TYPE_SET,       [THRIFT_KIND_MAP] = THRIFT_TYPE_MAP,
    [THRIFT_KIND_STRUCT] = THRIFT_TYPE_STRUCT, [THRIFT_KIND_UNION] = THRIFT_TYPE_STRUCT,
    [THRIFT_KIND_EXCEPTION] = THRIFT_TYPE_STRUCT,
};

/* ---- names and options --------------------------------------------------------- */

const char *thrift_protocol_name(thrift_protocol_t proto) {
    switch (proto) {
    case THRIFT_PROTO_BINARY:
        return "binary";
    case THRIFT_PROTO_COMPACT:
        return "compact";
    case THRIFT_PROTO_JSON:
        return "json";
    }
    return "unknown";
}

bool thrift_protocol_parse(const char *name, thrift_protocol_t *out) {
    if (!name)
        return false;
    thrift_protocol_t p;
    if (strcmp(name, "binary") == 0)
        p = THRIFT_PROTO_BINARY;
    else if (strcmp(name, "compact") == 0)
        p = THRIFT_PROTO_COMPACT;
    else if (strcmp(name, "json") == 0)
        p = THRIFT_PROTO_JSON;
    else
        return false;
    if (out)
        *out = p;
    return true;
}

static const thrift_codec_options_t default_options = {
    .max_message_size = 100u * 1024 * 1024,
    .max_frame_size = 16384000,
    .max_string_size = SIZE_MAX,
    .max_container_size = SIZE_MAX,
    .max_depth = 64,
    .strict_read = true,
    .strict_write = true,
    .zero_copy = false,
    .skip_mismatched = false,
    .check_required = true,
    .max_memory_base = THRIFT__DECODE_MEMORY_BASE,
    .max_memory_per_byte = THRIFT__DECODE_MEMORY_PER_BYTE,
};

size_t thrift__decode_budget(const thrift_codec_options_t *opts,
                             size_t input_len) {
    size_t base = opts->max_memory_base, per = opts->max_memory_per_byte;
    if (base == SIZE_MAX || per == SIZE_MAX)
        return SIZE_MAX;
    if (per && input_len > (SIZE_MAX - base) / per)
        return SIZE_MAX;
    return base + per * input_len;
}

void thrift_codec_options_init(thrift_codec_options_t *opts) {
    if (opts)
        *opts = default_options;
}

static const thrift_codec_options_t *
options_or_default(const thrift_codec_options_t *opts) {
    return opts ? opts : &default_options;
}

static const char *source_name(thrift_protocol_t proto) {
    switch (proto) {
    case THRIFT_PROTO_BINARY:
        return "<binary>";
    case THRIFT_PROTO_COMPACT:
        return "<compact>";
    case THRIFT_PROTO_JSON:
        return "<json>";
    }
    return "<unknown>";
}

/* ---- buffers ----------------------------------------------------------------- */

thrift_buffer_t *thrift_buffer_new(void) {
    thrift_buffer_t *b = malloc(sizeof *b);
    if (b)
        thrift__buf_init(&b->buf, NULL);
    return b;
}

void thrift_buffer_free(thrift_buffer_t *b) {
    if (!b)
        return;
    thrift__buf_free(&b->buf);
    free(b);
}

const uint8_t *thrift_buffer_data(const thrift_buffer_t *b) {
    return b && b->buf.data ? b->buf.data : (const uint8_t *)"";
}

size_t thrift_buffer_len(const thrift_buffer_t *b) {
    return b ? b->buf.len : 0;
}

void thrift_buffer_clear(thrift_buffer_t *b) {
    if (b)
        b->buf.len = 0;
}

thrift_status_t thrift_buffer_append(thrift_buffer_t *b, const void *p,
                                     size_t n) {
    if (!b || (!p && n))
        return THRIFT_MISUSE;
    return thrift__buf_append(&b->buf, p, n) ? THRIFT_OK : THRIFT_NOMEM;
}

bool thrift__writer_grow(thrift__writer_t *w, size_t n) {
    thrift__buf_t *b = w->buf;
    if (b->data)
        b->len = (size_t)(w->p - b->data);
    if (!thrift__buf_grow(b, n)) {
        thrift__error_set(w->err, THRIFT_NOMEM, "out of memory");
        return false;
    }
    w->p = b->data + b->len;
    w->end = b->data + b->cap;
    return true;
}

/* ---- reader errors --------------------------------------------------------------- */

thrift_status_t thrift__reader_fail(thrift__reader_t *r, thrift_status_t code,
                                    const char *fmt, ...) {
    thrift_error_t *err = r->err;
    if (err && err->code == THRIFT_OK) {
        va_list ap;
        va_start(ap, fmt);
        thrift__error_vset(err, code, fmt, ap);
        va_end(ap);
        thrift__error_set_source(err, r->source);
        err->offset = (size_t)(r->p - r->start);
        err->has_offset = true;
    }
    return code;
}

thrift_status_t thrift__reader_need_more(thrift__reader_t *r) {
    return thrift__reader_fail(r, THRIFT_NEED_MORE,
                               "need more bytes (input ends after %zu)",
                               (size_t)(r->end - r->start));
}

thrift_status_t thrift__reader_check_len(thrift__reader_t *r, uint64_t need,
                                         size_t limit, const char *what) {
    if (need > limit)
        return thrift__reader_fail(r, THRIFT_LIMIT,
                                   "%s of %llu bytes exceeds the limit of %zu",
                                   what, (unsigned long long)need, limit);
    if (need > r->opts->max_message_size)
        return thrift__reader_fail(r, THRIFT_LIMIT,
                                   "%s of %llu bytes exceeds the message size "
                                   "limit of %zu",
                                   what, (unsigned long long)need,
                                   r->opts->max_message_size);
    if (need > (uint64_t)(r->end - r->p))
        return thrift__reader_need_more(r);
    return THRIFT_OK;
}

thrift_status_t thrift__fail_nomem(thrift__reader_t *r) {
    if (r->arena && r->arena->over_limit) {
        size_t len = (size_t)(r->end - r->start);
        return thrift__reader_fail(
            r, THRIFT_LIMIT,
            "decoding %zu bytes needs more than the memory budget of %zu "
            "bytes (max_memory_base + max_memory_per_byte x input)",
            len, thrift__decode_budget(r->opts, len));
    }
    return thrift__reader_fail(r, THRIFT_NOMEM, "out of memory");
}

thrift_status_t thrift__fail_depth(thrift__reader_t *r) {
    return thrift__reader_fail(r, THRIFT_LIMIT, "nesting deeper than %u",
                               r->opts->max_depth);
}

thrift_status_t thrift__fail_count(thrift__reader_t *r, uint64_t n) {
    return thrift__reader_fail(r, THRIFT_LIMIT,
                               "container of %llu elements exceeds the limit",
                               (unsigned long long)n);
}

thrift_status_t thrift__fail_kind(thrift__reader_t *r,
                                  const thrift_type_def_t *t) {
    return thrift__reader_fail(r, THRIFT_TYPE, "cannot decode a %s",
                               thrift__kind_name(t->kind));
}

thrift_status_t thrift__fail_elem_type(thrift__reader_t *r, const uint8_t *at,
                                       const thrift_type_def_t *et,
                                       unsigned wire) {
    r->p = at;
    return thrift__reader_fail(r, THRIFT_TYPE,
                               "expected %s elements, got wire type %u",
                               et->name, wire);
}

thrift_status_t thrift__fail_map_types(thrift__reader_t *r, const uint8_t *at,
                                       const thrift_type_def_t *kt,
                                       const thrift_type_def_t *vt, unsigned kw,
                                       unsigned vw) {
    r->p = at;
    return thrift__reader_fail(r, THRIFT_TYPE,
                               "expected map<%s,%s>, got wire types %u,%u",
                               kt->name, vt->name, kw, vw);
}

thrift_status_t thrift__fail_field_type(thrift__reader_t *r, const uint8_t *at,
                                        const thrift_field_def_t *f,
                                        unsigned wire) {
    const thrift_type_def_t *ft = f->type->resolved;
    r->p = at;
    thrift_status_t st = thrift__reader_fail(
        r, THRIFT_TYPE, "expected %s, got wire type %u",
        ft->name ? ft->name : thrift__kind_name(ft->kind), wire);
    thrift__path_field(r, f);
    return st;
}

thrift_status_t thrift__wfail_required(thrift__writer_t *w,
                                       const thrift_field_def_t *f) {
    thrift__error_set(w->err, THRIFT_MISSING, "required field missing");
    thrift__wpath_field(w->err, f);
    return THRIFT_MISSING;
}

thrift_status_t thrift__wfail_kind(thrift__writer_t *w, unsigned kind) {
    return thrift__error_set(w->err, THRIFT_TYPE, "cannot encode a %s",
                             thrift__kind_name(kind));
}

void thrift__path_field(thrift__reader_t *r, const thrift_field_def_t *f) {
    thrift__wpath_field(r->err, f);
}

void thrift__path_index(thrift__reader_t *r, uint32_t i) {
    thrift__wpath_index(r->err, i);
}

void thrift__wpath_field(thrift_error_t *err, const thrift_field_def_t *f) {
    if (err)
        thrift__error_path_prepend(err, f->name, false);
}

void thrift__wpath_index(thrift_error_t *err, uint32_t i) {
    if (err) {
        char ix[16];
        snprintf(ix, sizeof ix, "%u", i);
        thrift__error_path_prepend(err, ix, true);
    }
}

thrift_status_t thrift__finish_struct(thrift__reader_t *r, thrift_value_t *v,
                                      uint32_t seen) {
    const thrift_struct_def_t *sd = v->type->struct_def;
    bool check = r->opts->check_required;
    if (v->kind == THRIFT_KIND_UNION) {
        if (check && seen != 1)
            return thrift__reader_fail(
                r, seen ? THRIFT_INVALID : THRIFT_MISSING,
                "union %s has %u fields set, expected exactly one", sd->name,
                seen);
        return THRIFT_OK;
    }
    for (uint32_t i = 0; i < sd->field_count; i++) {
        thrift_value_t *slot = &v->u.s.slots[i];
        if (slot->flags & THRIFT__VALUE_SET)
            continue;
        const thrift_field_def_t *f = &sd->fields[i];
        if (f->req == THRIFT_REQ_REQUIRED && check) {
            thrift_status_t st = thrift__reader_fail(r, THRIFT_MISSING,
                                                     "required field missing");
            thrift__path_field(r, f);
            return st;
        }
        /* Absent fields read as their IDL default, as Apache's generated
         * constructors leave them. */
        if (f->default_value) {
            if (!thrift__value_from_const(r->arena, slot, f->type,
                                          f->default_value)) {
                thrift_status_t st = thrift__fail_nomem(r);
                thrift__path_field(r, f);
                return st;
            }
            slot->flags |= THRIFT__VALUE_SET;
        }
    }
    return THRIFT_OK;
}

/* ---- dispatch ------------------------------------------------------------------- */

/* Each protocol's entry points (THRIFT__PROTO_DECLARE), by thrift_protocol_t.
 * One indirect call per encode/decode, none per value. */
typedef struct proto_entry {
    thrift_status_t (*encode_value)(thrift__writer_t *w, const thrift_value_t *v);
    thrift_status_t (*decode_value)(thrift__reader_t *r, thrift_value_t *v,
                                    const thrift_type_def_t *t);
    thrift_status_t (*skip)(thrift__reader_t *r, unsigned wire);
    thrift_status_t (*write_message_begin)(thrift__writer_t *w, const char *name,
                                           size_t name_len, unsigned type,
                                           int32_t seqid, bool strict);
    thrift_status_t (*write_message_end)(thrift__writer_t *w);
    thrift_status_t (*read_message_begin)(thrift__reader_t *r,
                                          thrift_message_header_t *hdr);
    thrift_status_t (*read_message_end)(thrift__reader_t *r);
} proto_entry_t;

#define PROTO_ENTRY(name)                                                      \
    {thrift__##name##_encode_value,        thrift__##name##_decode_value,     \
     thrift__##name##_skip,                thrift__##name##_write_message_begin, \
     thrift__##name##_write_message_end,   thrift__##name##_read_message_begin, \
     thrift__##name##_read_message_end}

static const proto_entry_t protocols[] = {
    [THRIFT_PROTO_BINARY] = PROTO_ENTRY(binary),
    [THRIFT_PROTO_COMPACT] = PROTO_ENTRY(compact),
    [THRIFT_PROTO_JSON] = PROTO_ENTRY(json),
};

/* The protocol's entry points, or NULL (and a MISUSE error) when unknown. */
static const proto_entry_t *protocol(thrift_protocol_t proto,
                                     thrift_error_t *err) {
    if ((unsigned)proto < sizeof protocols / sizeof protocols[0])
        return &protocols[proto];
    thrift__error_set(err, THRIFT_MISUSE, "unknown protocol %d", (int)proto);
    return NULL;
}

static void root_path(thrift_error_t *err, const thrift_type_def_t *t) {
    if (!err || !t)
        return;
    const char *root = t->name ? t->name : thrift__kind_name(t->kind);
    if (err->path[0])
        thrift__error_path_prepend(err, root, false);
    else
        snprintf(err->path, sizeof err->path, "%s", root);
}

/* What a message adds around its body. */
typedef struct message_frame {
    const char *name;
    size_t name_len;
    unsigned type;
    int32_t seqid;
    bool strict;
} message_frame_t;

/* Encodes `v` (framed as a message when `msg` is not NULL) at the end of
 * `out`; on failure `out` is left as it was and the error path starts at
 * v's type. */
static thrift_status_t encode_into(thrift_protocol_t proto,
                                   const thrift_value_t *v,
                                   const message_frame_t *msg,
                                   thrift_buffer_t *out, thrift_error_t *err) {
    thrift__writer_t w;
    size_t mark = out->buf.len;
    thrift__writer_begin(&w, &out->buf, err);
    const proto_entry_t *pe = protocol(proto, err);
    thrift_status_t st = pe ? THRIFT_OK : THRIFT_MISUSE;
    if (st == THRIFT_OK && msg)
        st = pe->write_message_begin(&w, msg->name, msg->name_len, msg->type,
                                     msg->seqid, msg->strict);
    if (st == THRIFT_OK)
        st = pe->encode_value(&w, v);
    if (st == THRIFT_OK && msg)
        st = pe->write_message_end(&w);
    thrift__writer_end(&w);
    if (st != THRIFT_OK) {
        out->buf.len = mark;
        root_path(err, v->type);
    }
    return st;
}

thrift_status_t thrift_encode(thrift_protocol_t proto, const thrift_value_t *v,
                              thrift_buffer_t *out, thrift_error_t *err) {
    if (!v || !out)
        return thrift__error_set(err, THRIFT_MISUSE, "no value or buffer");
    return encode_into(proto, v, NULL, out, err);
}

/* Sets up a reader over data[0..len) and returns the protocol's entry
 * points, or NULL (a MISUSE error) when the protocol is unknown. */
static const proto_entry_t *reader_open(thrift__reader_t *r,
                                        thrift_protocol_t proto,
                                        const uint8_t *data, size_t len,
                                        thrift_arena_t *arena,
                                        const thrift_codec_options_t *opts,
                                        thrift_error_t *err) {
    r->p = r->start = data ? data : (const uint8_t *)"";
    r->end = r->start + len;
    r->arena = arena;
    r->opts = options_or_default(opts);
    r->depth = 0;
    r->err = err;
    r->source = source_name(proto);
    return protocol(proto, err);
}

/* Decodes a value of `type` from the start of data (then, for a message
 * body, the message's end) into `arena`; NULL on error, with the error path
 * starting at the type. */
static thrift_value_t *decode_from(thrift_protocol_t proto,
                                   const thrift_type_def_t *type,
                                   bool message_end, const uint8_t *data,
                                   size_t len, thrift_arena_t *arena,
                                   const thrift_codec_options_t *opts,
                                   size_t *consumed, thrift_error_t *err) {
    thrift_value_t *v = thrift__arena_alloc(arena, sizeof *v);
    if (!v) {
        thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        return NULL;
    }
    thrift__reader_t r;
    const proto_entry_t *pe =
        reader_open(&r, proto, data, len, arena, opts, err);
    size_t budget = thrift__decode_budget(r.opts, len);
    size_t outer = budget == SIZE_MAX ? arena->limit
                                      : thrift__arena_budget(arena, budget);
    thrift_status_t st = pe ? pe->decode_value(&r, v, type) : THRIFT_MISUSE;
    thrift__arena_unbudget(arena, outer);
    if (st != THRIFT_OK) {
        root_path(err, type->resolved);
        return NULL;
    }
    if (message_end && pe->read_message_end(&r) != THRIFT_OK)
        return NULL;
    if (consumed)
        *consumed = (size_t)(r.p - r.start);
    return v;
}

thrift_value_t *thrift_decode(thrift_protocol_t proto,
                              const thrift_type_def_t *type,
                              const uint8_t *data, size_t len,
                              thrift_arena_t *arena,
                              const thrift_codec_options_t *opts,
                              size_t *consumed, thrift_error_t *err) {
    if (!type || !arena || (!data && len)) {
        thrift__error_set(err, THRIFT_MISUSE, "no type, arena or data");
        return NULL;
    }
    return decode_from(proto, type, false, data, len, arena, opts, consumed,
                       err);
}

thrift_status_t thrift_skip(thrift_protocol_t proto,
                            thrift_wire_type_t wire_type, const uint8_t *data,
                            size_t len, const thrift_codec_options_t *opts,
                            size_t *consumed, thrift_error_t *err) {
    if (!data && len)
        return thrift__error_set(err, THRIFT_MISUSE, "no data");
    thrift__reader_t r;
    const proto_entry_t *pe = reader_open(&r, proto, data, len, NULL, opts, err);
    if (!pe)
        return THRIFT_MISUSE;
    thrift_status_t st = pe->skip(&r, wire_type);
    if (st == THRIFT_OK && consumed)
        *consumed = (size_t)(r.p - r.start);
    return st;
}

/* ---- messages ------------------------------------------------------------------- */

thrift_status_t thrift_encode_message_ex(thrift_protocol_t proto,
                                         const char *name, size_t name_len,
                                         thrift_message_type_t type,
                                         int32_t seqid,
                                         const thrift_value_t *body,
                                         const thrift_codec_options_t *opts,
                                         thrift_buffer_t *out,
                                         thrift_error_t *err) {
    bool strict = options_or_default(opts)->strict_write;
    if (!out || !body || (!name && name_len))
        return thrift__error_set(err, THRIFT_MISUSE, "no body or buffer");
    if (!thrift__is_struct_kind(body->kind))
        return thrift__error_set(err, THRIFT_MISUSE,
                                 "a message body must be a struct, not a %s",
                                 thrift__kind_name(body->kind));
    if (type < THRIFT_MSG_CALL || type > THRIFT_MSG_ONEWAY)
        return thrift__error_set(err, THRIFT_MISUSE, "bad message type %d",
                                 (int)type);
    /* Only binary has an unversioned header; the others ignore `strict`. */
    message_frame_t msg = {name, name_len, type, seqid, strict};
    return encode_into(proto, body, &msg, out, err);
}

thrift_status_t thrift_encode_message(thrift_protocol_t proto,
                                      const char *name, size_t name_len,
                                      thrift_message_type_t type,
                                      int32_t seqid,
                                      const thrift_value_t *body,
                                      thrift_buffer_t *out,
                                      thrift_error_t *err) {
    return thrift_encode_message_ex(proto, name, name_len, type, seqid, body,
                                    NULL, out, err);
}

thrift_status_t thrift_decode_message_header(thrift_protocol_t proto,
                                             const uint8_t *data, size_t len,
                                             const thrift_codec_options_t *opts,
                                             thrift_message_header_t *hdr,
                                             size_t *consumed,
                                             thrift_error_t *err) {
    if (!hdr || (!data && len))
        return thrift__error_set(err, THRIFT_MISUSE, "no header or data");
    thrift__reader_t r;
    const proto_entry_t *pe = reader_open(&r, proto, data, len, NULL, opts, err);
    if (!pe)
        return THRIFT_MISUSE;
    thrift_status_t st = pe->read_message_begin(&r, hdr);
    if (st == THRIFT_OK && consumed)
        *consumed = (size_t)(r.p - r.start);
    return st;
}

thrift_value_t *thrift_decode_message_body(thrift_protocol_t proto,
                                           const thrift_struct_def_t *body_type,
                                           const uint8_t *data, size_t len,
                                           thrift_arena_t *arena,
                                           const thrift_codec_options_t *opts,
                                           size_t *consumed,
                                           thrift_error_t *err) {
    if (!body_type || !arena || (!data && len)) {
        thrift__error_set(err, THRIFT_MISUSE, "no body type, arena or data");
        return NULL;
    }
    return decode_from(proto, &body_type->type, true, data, len, arena, opts,
                       consumed, err);
}

thrift_status_t thrift_probe_message(thrift_protocol_t proto,
                                     const uint8_t *data, size_t len,
                                     const thrift_codec_options_t *opts,
                                     size_t *message_len, thrift_error_t *err) {
    if (!data && len)
        return thrift__error_set(err, THRIFT_MISUSE, "no data");
    thrift__reader_t r;
    const proto_entry_t *pe = reader_open(&r, proto, data, len, NULL, opts, err);
    if (!pe)
        return THRIFT_MISUSE;
    thrift_message_header_t hdr;
    thrift_status_t st = pe->read_message_begin(&r, &hdr);
    if (st == THRIFT_OK)
        st = pe->skip(&r, THRIFT_TYPE_STRUCT);
    if (st == THRIFT_OK)
        st = pe->read_message_end(&r);
    size_t used = (size_t)(r.p - r.start);
    if (st == THRIFT_NEED_MORE && len > r.opts->max_message_size) {
        /* A peer that never finishes its message must not make us buffer
         * forever. */
        if (err)
            err->code = THRIFT_OK;
        return thrift__reader_fail(&r, THRIFT_LIMIT,
                                   "message larger than %zu bytes",
                                   r.opts->max_message_size);
    }
    if (st != THRIFT_OK)
        return st;
    if (used > r.opts->max_message_size)
        return thrift__reader_fail(&r, THRIFT_LIMIT,
                                   "message of %zu bytes exceeds the limit of %zu",
                                   used, r.opts->max_message_size);
    if (message_len)
        *message_len = used;
    return THRIFT_OK;
}

/* ---- TApplicationException ------------------------------------------------------- */

static const thrift_type_def_t appex_string = {
    .kind = THRIFT_KIND_STRING, .wire_type = THRIFT_TYPE_STRING,
    .resolved = &appex_string, .name = "string"};
static const thrift_type_def_t appex_i32 = {
    .kind = THRIFT_KIND_I32, .wire_type = THRIFT_TYPE_I32,
    .resolved = &appex_i32, .name = "i32"};

extern thrift_struct_def_t thrift__appex_def;
static thrift_field_def_t appex_fields[2] = {
    {.id = 1, .index = 0, .name = "message", .name_len = 7,
     .type = &appex_string, .owner = &thrift__appex_def},
    {.id = 2, .index = 1, .name = "type", .name_len = 4, .type = &appex_i32,
     .owner = &thrift__appex_def},
};
static uint32_t appex_index_by_id[2] = {1, 2};

thrift_struct_def_t thrift__appex_def = {
    .type = {.kind = THRIFT_KIND_EXCEPTION,
             .wire_type = THRIFT_TYPE_STRUCT,
             .resolved = &thrift__appex_def.type,
             .struct_def = &thrift__appex_def,
             .name = "TApplicationException"},
    .name = "TApplicationException",
    .full_name = "TApplicationException",
    .fields = appex_fields,
    .field_count = 2,
    .min_id = 1,
    .max_id = 2,
    .index_by_id = appex_index_by_id,
};

const thrift_struct_def_t *thrift_app_exception_def(void) {
    return &thrift__appex_def;
}

const char *thrift_app_exception_type_name(int type) {
    static const char *const names[] = {
        [THRIFT_APPEX_UNKNOWN] = "UNKNOWN",
        [THRIFT_APPEX_UNKNOWN_METHOD] = "UNKNOWN_METHOD",
        [THRIFT_APPEX_INVALID_MESSAGE_TYPE] = "INVALID_MESSAGE_TYPE",
        [THRIFT_APPEX_WRONG_METHOD_NAME] = "WRONG_METHOD_NAME",
        [THRIFT_APPEX_BAD_SEQUENCE_ID] = "BAD_SEQUENCE_ID",
        [THRIFT_APPEX_MISSING_RESULT] = "MISSING_RESULT",
        [THRIFT_APPEX_INTERNAL_ERROR] = "INTERNAL_ERROR",
        [THRIFT_APPEX_PROTOCOL_ERROR] = "PROTOCOL_ERROR",
        [THRIFT_APPEX_INVALID_TRANSFORM] = "INVALID_TRANSFORM",
        [THRIFT_APPEX_INVALID_PROTOCOL] = "INVALID_PROTOCOL",
        [THRIFT_APPEX_UNSUPPORTED_CLIENT_TYPE] = "UNSUPPORTED_CLIENT_TYPE",
    };
    if (type < 0 || (size_t)type >= sizeof names / sizeof names[0])
        return NULL;
    return names[type];
}

thrift_value_t *thrift_app_exception_new(thrift_arena_t *arena,
                                         thrift_app_exception_type_t type,
                                         const char *message) {
    thrift_value_t *v = thrift_value_new_struct(arena, &thrift__appex_def);
    if (!v)
        return NULL;
    thrift_value_t *slot = &v->u.s.slots[0];
    if (message) {
        if (!thrift__value_init(arena, slot, &appex_string) ||
            thrift_value_set_bytes(arena, slot, message, strlen(message)) !=
                THRIFT_OK)
            return NULL;
        slot->flags |= THRIFT__VALUE_SET;
    }
    slot = &v->u.s.slots[1];
    thrift__value_init(arena, slot, &appex_i32);
    slot->u.i = (int32_t)type;
    slot->flags |= THRIFT__VALUE_SET;
    return v;
}
