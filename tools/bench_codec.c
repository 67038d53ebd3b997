/* bench_codec: encode/decode speed of the bench Payload in the binary,
 * compact and JSON protocols.
 *
 *   bench_codec [--idl FILE] [--json FILE] [--seconds S]
 *       times every codec, prints ns/op and MB/s (of encoded bytes)
 *   bench_codec ... --callgrind OP [--ops N]
 *       runs one warm-up OP then N more inside bench_measured() (for
 *       `valgrind --tool=callgrind --toggle-collect=bench_measured`);
 *       OP is encode-binary, decode-binary, encode-compact, decode-compact,
 *       encode-json, decode-json
 *   bench_codec ... --dump PROTO FILE
 *       writes the Payload encoded in PROTO to FILE (for the C++ reference)
 *
 * The Payload comes from payload.json through a small schema-guided jansson
 * walker kept here, so the benchmark does not depend on src/json. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynthrift/proto.h"
#include "dynthrift/schema.h"
#include "dynthrift/value.h"

#include "bench_common.h"

/* ---- JSON -> value (only what the bench schema needs, plus a bit) ------- */

static int b64val(int c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

static bool from_json(thrift_arena_t *a, thrift_value_t *v, json_t *j,
                      const char *path);

static bool scalar_from_json(thrift_arena_t *a, thrift_value_t *v, json_t *j,
                             const char *path) {
    const thrift_type_def_t *t = thrift_value_type(v);
    switch (thrift_type_def_kind(t)) {
    case THRIFT_KIND_BOOL:
        return thrift_value_set_bool(v, json_is_true(j)) == THRIFT_OK;
    case THRIFT_KIND_I8:
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
    case THRIFT_KIND_I64:
        return json_is_integer(j) &&
               thrift_value_set_int(v, json_integer_value(j)) == THRIFT_OK;
    case THRIFT_KIND_ENUM: {
        if (json_is_integer(j))
            return thrift_value_set_int(v, json_integer_value(j)) == THRIFT_OK;
        const thrift_enum_value_def_t *ev = thrift_enum_def_find_value(
            thrift_type_def_enum(t), json_string_value(j) ? json_string_value(j) : "");
        return ev && thrift_value_set_int(v, thrift_enum_value_def_number(ev)) ==
                         THRIFT_OK;
    }
    case THRIFT_KIND_DOUBLE:
        return json_is_number(j) &&
               thrift_value_set_double(v, json_number_value(j)) == THRIFT_OK;
    case THRIFT_KIND_STRING:
        return json_is_string(j) &&
               thrift_value_set_bytes(a, v, json_string_value(j),
                                      json_string_length(j)) == THRIFT_OK;
    case THRIFT_KIND_BINARY: {
        if (!json_is_string(j))
            return false;
        const char *s = json_string_value(j);
        size_t n = json_string_length(j);
        uint8_t *out = malloc(n + 1);
        size_t o = 0;
        unsigned acc = 0, bits = 0;
        for (size_t i = 0; i < n && s[i] != '='; i++) {
            int x = b64val((unsigned char)s[i]);
            if (x < 0) {
                free(out);
                return false;
            }
            acc = acc << 6 | (unsigned)x;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                out[o++] = (uint8_t)(acc >> bits);
            }
        }
        bool ok = thrift_value_set_bytes(a, v, out, o) == THRIFT_OK;
        free(out);
        return ok;
    }
    default:
        fprintf(stderr, "%s: unsupported type %s\n", path, thrift_type_def_name(t));
        return false;
    }
}

static bool from_json(thrift_arena_t *a, thrift_value_t *v, json_t *j,
                      const char *path) {
    const thrift_type_def_t *t = thrift_value_type(v);
    switch (thrift_type_def_kind(t)) {
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION: {
        const char *key;
        json_t *item;
        json_object_foreach(j, key, item) {
            thrift_value_t *f = thrift_value_field(a, v, key);
            if (!f) {
                fprintf(stderr, "%s: unknown field %s\n", path, key);
                return false;
            }
            if (!from_json(a, f, item, key))
                return false;
        }
        return true;
    }
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET: {
        size_t i;
        json_t *item;
        json_array_foreach(j, i, item) {
            thrift_value_t *e = thrift_value_append_new(a, v);
            if (!e || !from_json(a, e, item, path))
                return false;
        }
        return true;
    }
    case THRIFT_KIND_MAP: {
        const char *key;
        json_t *item;
        json_object_foreach(j, key, item) {
            thrift_value_t *k = thrift_value_new(a, thrift_type_def_key(t));
            thrift_value_t *val = thrift_value_new(a, thrift_type_def_value(t));
            json_t *jk = json_string(key);
            bool ok = k && val && scalar_from_json(a, k, jk, path) &&
                      from_json(a, val, item, path) &&
                      thrift_value_map_put(a, v, k, val) == THRIFT_OK;
            json_decref(jk);
            if (!ok)
                return false;
        }
        return true;
    }
    default:
        return scalar_from_json(a, v, j, path);
    }
}

/* ---- timing ------------------------------------------------------------------ */

typedef enum { OP_ENCODE, OP_DECODE } op_kind_t;

typedef struct bench_ctx {
    thrift_protocol_t proto;
    op_kind_t kind;
    const thrift_value_t *payload;
    const thrift_struct_def_t *def;
    thrift_buffer_t *out;
    const uint8_t *bytes; /* for decode */
    size_t len;
    thrift_arena_t *arena;
} bench_ctx_t;

static volatile size_t sink;

static void one_op(bench_ctx_t *c) {
    if (c->kind == OP_ENCODE) {
        thrift_buffer_clear(c->out);
        if (thrift_encode(c->proto, c->payload, c->out, NULL) != THRIFT_OK)
            abort();
        sink = thrift_buffer_len(c->out);
    } else {
        thrift_arena_reset(c->arena);
        thrift_value_t *v = thrift_decode(c->proto, thrift_struct_def_type(c->def),
                                          c->bytes, c->len, c->arena, NULL, NULL,
                                          NULL);
        if (!v)
            abort();
        sink = (size_t)v;
    }
}

/* Everything callgrind counts happens in here. */
__attribute__((noinline)) void bench_measured(bench_ctx_t *c, long ops);
__attribute__((noinline)) void bench_measured(bench_ctx_t *c, long ops) {
    for (long i = 0; i < ops; i++)
        one_op(c);
}

/* bench_time_op() takes the measured loop untyped. */
static void measured_cb(void *c, long ops) { bench_measured(c, ops); }

static int usage(void) {
    fprintf(stderr,
            "usage: bench_codec [--idl FILE] [--json FILE] [--seconds S]\n"
            "                   [--callgrind OP [--ops N]] [--dump PROTO FILE]\n");
    return 64;
}

int main(int argc, char **argv) {
    const char *idl = NULL, *json = NULL, *cg = NULL, *dump_proto = NULL,
               *dump_file = NULL;
    double seconds = 1.0;
    long cg_ops = 10;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--idl") && i + 1 < argc)
            idl = argv[++i];
        else if (!strcmp(argv[i], "--json") && i + 1 < argc)
            json = argv[++i];
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--callgrind") && i + 1 < argc)
            cg = argv[++i];
        else if (!strcmp(argv[i], "--ops") && i + 1 < argc)
            cg_ops = atol(argv[++i]);
        else if (!strcmp(argv[i], "--dump") && i + 2 < argc) {
            dump_proto = argv[++i];
            dump_file = argv[++i];
        } else
            return usage();
    }
    if (!idl)
        idl = bench_first_existing(bench_idl_candidates);
    if (!json)
        json = bench_first_existing(bench_json_candidates);
    if (!idl || !json) {
        fprintf(stderr, "bench_codec: cannot find bench.thrift / payload.json "
                        "(use --idl and --json)\n");
        return 66;
    }
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_schema_t *schema = thrift_load(idl, &err);
    if (!schema) {
        char line[512];
        thrift_error_render(&err, true, line, sizeof line);
        fprintf(stderr, "%s\n", line);
        return 65;
    }
    const thrift_struct_def_t *def = thrift_schema_find_struct(schema, "Payload");
    json_error_t jerr;
    json_t *root = json_load_file(json, 0, &jerr);
    if (!def || !root) {
        fprintf(stderr, "bench_codec: %s: %s\n", json, root ? "no Payload" : jerr.text);
        return 65;
    }
    thrift_arena_t *value_arena = thrift_arena_new(NULL);
    thrift_value_t *payload = thrift_value_new_struct(value_arena, def);
    if (!from_json(value_arena, payload, root, "Payload")) {
        fprintf(stderr, "bench_codec: payload.json does not fit Payload\n");
        return 65;
    }
    json_decref(root);
    if (thrift_value_validate(payload, 0, &err) != THRIFT_OK) {
        fprintf(stderr, "bench_codec: %s: %s\n", err.path, err.text);
        return 65;
    }

    if (dump_proto) {
        thrift_protocol_t p;
        if (!thrift_protocol_parse(dump_proto, &p))
            return usage();
        thrift_buffer_t *b = thrift_buffer_new();
        thrift_encode(p, payload, b, NULL);
        FILE *f = fopen(dump_file, "wb");
        if (!f || fwrite(thrift_buffer_data(b), 1, thrift_buffer_len(b), f) !=
                      thrift_buffer_len(b)) {
            perror(dump_file);
            return 73;
        }
        fclose(f);
        thrift_buffer_free(b);
        return 0;
    }

    static const struct {
        const char *name;
        thrift_protocol_t proto;
        op_kind_t kind;
    } ops[] = {
        {"encode-binary", THRIFT_PROTO_BINARY, OP_ENCODE},
        {"decode-binary", THRIFT_PROTO_BINARY, OP_DECODE},
        {"encode-compact", THRIFT_PROTO_COMPACT, OP_ENCODE},
        {"decode-compact", THRIFT_PROTO_COMPACT, OP_DECODE},
        {"encode-json", THRIFT_PROTO_JSON, OP_ENCODE},
        {"decode-json", THRIFT_PROTO_JSON, OP_DECODE},
    };
    thrift_buffer_t *encoded[3];
    for (int p = 0; p < 3; p++) {
        encoded[p] = thrift_buffer_new();
        if (thrift_encode((thrift_protocol_t)p, payload, encoded[p], &err) !=
            THRIFT_OK) {
            fprintf(stderr, "bench_codec: encode: %s\n", err.text);
            return 70;
        }
    }
    bench_ctx_t ctx = {0};
    ctx.payload = payload;
    ctx.def = def;
    ctx.out = thrift_buffer_new();
    ctx.arena = thrift_arena_new(NULL);

    if (cg) {
        for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
            if (strcmp(ops[i].name, cg) != 0)
                continue;
            ctx.proto = ops[i].proto;
            ctx.kind = ops[i].kind;
            ctx.bytes = thrift_buffer_data(encoded[ctx.proto]);
            ctx.len = thrift_buffer_len(encoded[ctx.proto]);
            one_op(&ctx); /* warm-up: buffer and arena reach steady size */
            bench_measured(&ctx, cg_ops);
            return 0;
        }
        return usage();
    }

    printf("Payload: %zu bytes binary, %zu compact, %zu json (%s)\n",
           thrift_buffer_len(encoded[0]), thrift_buffer_len(encoded[1]),
           thrift_buffer_len(encoded[2]), idl);
    printf("%-16s %10s %10s\n", "op", "ns/op", "MB/s");
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        ctx.proto = ops[i].proto;
        ctx.kind = ops[i].kind;
        ctx.bytes = thrift_buffer_data(encoded[ctx.proto]);
        ctx.len = thrift_buffer_len(encoded[ctx.proto]);
        double ns = bench_time_op(measured_cb, &ctx, seconds);
        printf("%-16s %10.0f %10.1f\n", ops[i].name, ns,
               (double)ctx.len / ns * 1e3);
    }
    for (int p = 0; p < 3; p++)
        thrift_buffer_free(encoded[p]);
    thrift_buffer_free(ctx.out);
    thrift_arena_free(ctx.arena);
    thrift_arena_free(value_arena);
    thrift_schema_unref(schema);
    return 0;
}
