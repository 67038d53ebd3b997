/* bench_json: JSON text <-> binary speed for the bench Payload, the jansson
 * tree path and the direct path side by side, in one run.
 *
 *   bench_json [--idl FILE] [--json FILE] [--type NAME] [--seconds S]
 *   bench_json ... --callgrind OP [--ops N]
 *       OP is one of the row names printed (e.g. text-to-binary-direct);
 *       runs one warm-up op then N more inside bench_measured()
 *
 * Rows (MB/s are of BINARY bytes produced or consumed, as issue 3 counts):
 *   text -> binary  tree:    json_loadb + thrift_json_to_value + encode
 *                   direct:  thrift_json_loads + encode
 *   binary -> text  tree:    decode + thrift_json_from_value + json_dumps
 *                   direct:  decode + thrift_json_dumps
 * Text -> binary is timed for the file as given (pretty) and for the compact
 * text thrift_json_dumps writes. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynthrift/json.h"
#include "dynthrift/proto.h"
#include "dynthrift/schema.h"
#include "dynthrift/value.h"

#include "bench_common.h"

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf)
            break;
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        char *bigger = realloc(buf, cap * 2);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    fclose(f);
    *len = n;
    return buf;
}

typedef enum {
    OP_TEXT_TREE,
    OP_TEXT_DIRECT,
    OP_BIN_TREE,
    OP_BIN_DIRECT,
} op_t;

typedef struct bench_ctx {
    op_t op;
    const thrift_type_def_t *type;
    const char *text;
    size_t text_len;
    const uint8_t *bin;
    size_t bin_len;
    thrift_arena_t *arena;
    thrift_buffer_t *out;
} bench_ctx_t;

static volatile size_t sink;

static void one_op(bench_ctx_t *c) {
    thrift_arena_reset(c->arena);
    switch (c->op) {
    case OP_TEXT_TREE: {
        json_t *j = json_loadb(c->text, c->text_len,
                               JSON_DECODE_ANY | JSON_ALLOW_NUL |
                                   JSON_REJECT_DUPLICATES,
                               NULL);
        thrift_value_t *v = j ? thrift_json_to_value(c->arena, c->type, j, 0, NULL)
                              : NULL;
        json_decref(j);
        thrift_buffer_clear(c->out);
        if (!v || thrift_encode(THRIFT_PROTO_BINARY, v, c->out, NULL) != THRIFT_OK)
            abort();
        sink = thrift_buffer_len(c->out);
        break;
    }
    case OP_TEXT_DIRECT: {
        thrift_value_t *v =
            thrift_json_loads(c->arena, c->type, c->text, c->text_len, 0, NULL);
        thrift_buffer_clear(c->out);
        if (!v || thrift_encode(THRIFT_PROTO_BINARY, v, c->out, NULL) != THRIFT_OK)
            abort();
        sink = thrift_buffer_len(c->out);
        break;
    }
    case OP_BIN_TREE: {
        thrift_value_t *v = thrift_decode(THRIFT_PROTO_BINARY, c->type, c->bin,
                                          c->bin_len, c->arena, NULL, NULL, NULL);
        json_t *j = v ? thrift_json_from_value(v, 0, NULL) : NULL;
        char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        if (!s)
            abort();
        sink = strlen(s);
        free(s);
        json_decref(j);
        break;
    }
    case OP_BIN_DIRECT: {
        thrift_value_t *v = thrift_decode(THRIFT_PROTO_BINARY, c->type, c->bin,
                                          c->bin_len, c->arena, NULL, NULL, NULL);
        size_t n = 0;
        char *s = v ? thrift_json_dumps(v, 0, &n, NULL) : NULL;
        if (!s)
            abort();
        sink = n;
        thrift_json_text_free(s);
        break;
    }
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
            "usage: bench_json [--idl FILE] [--json FILE] [--type NAME] [--seconds S]\n"
            "                  [--callgrind OP [--ops N]]\n");
    return 64;
}

int main(int argc, char **argv) {
    const char *idl = NULL, *json = NULL, *tname = "Payload", *cg = NULL;
    double seconds = 1.0;
    long cg_ops = 10;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--idl") && i + 1 < argc)
            idl = argv[++i];
        else if (!strcmp(argv[i], "--json") && i + 1 < argc)
            json = argv[++i];
        else if (!strcmp(argv[i], "--type") && i + 1 < argc)
            tname = argv[++i];
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--callgrind") && i + 1 < argc)
            cg = argv[++i];
        else if (!strcmp(argv[i], "--ops") && i + 1 < argc)
            cg_ops = atol(argv[++i]);
        else
            return usage();
    }
    if (!idl)
        idl = bench_first_existing(bench_idl_candidates);
    if (!json)
        json = bench_first_existing(bench_json_candidates);
    if (!idl || !json) {
        fprintf(stderr, "bench_json: cannot find bench.thrift / payload.json "
                        "(use --idl and --json)\n");
        return 66;
    }
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_schema_t *schema = thrift_load(idl, &err);
    const thrift_struct_def_t *def =
        schema ? thrift_schema_find_struct(schema, tname) : NULL;
    if (!def) {
        fprintf(stderr, "bench_json: %s: %s\n", idl, schema ? "no such struct" : err.text);
        return 65;
    }
    const thrift_type_def_t *type = thrift_struct_def_type(def);
    size_t pretty_len = 0;
    char *pretty = read_file(json, &pretty_len);
    if (!pretty) {
        perror(json);
        return 66;
    }
    thrift_arena_t *arena = thrift_arena_new(NULL);
    thrift_value_t *v = thrift_json_loads(arena, type, pretty, pretty_len, 0, &err);
    if (!v) {
        fprintf(stderr, "bench_json: %s: %s: %s\n", json, err.path, err.text);
        return 65;
    }
    size_t compact_len = 0;
    char *compact = thrift_json_dumps(v, 0, &compact_len, &err);
    thrift_buffer_t *bin = thrift_buffer_new();
    if (!compact || thrift_encode(THRIFT_PROTO_BINARY, v, bin, &err) != THRIFT_OK) {
        fprintf(stderr, "bench_json: %s\n", err.text);
        return 70;
    }

    // Both paths must build the same value before their speed means much.
    json_t *j = json_loadb(pretty, pretty_len, 0, NULL);
    thrift_value_t *v2 = j ? thrift_json_to_value(arena, type, j, 0, &err) : NULL;
    json_decref(j);
    if (!v2 || !thrift_value_equal(v, v2)) {
        fprintf(stderr, "bench_json: tree and direct paths disagree\n");
        return 70;
    }

    bench_ctx_t base = {0};
    base.type = type;
    base.bin = thrift_buffer_data(bin);
    base.bin_len = thrift_buffer_len(bin);
    base.arena = thrift_arena_new(NULL);
    base.out = thrift_buffer_new();

    static const struct {
        const char *name;
        op_t op;
        int text; /* 0 pretty, 1 compact, -1 none */
    } rows[] = {
        {"text-to-binary-tree", OP_TEXT_TREE, 0},
        {"text-to-binary-direct", OP_TEXT_DIRECT, 0},
        {"compact-text-to-binary-tree", OP_TEXT_TREE, 1},
        {"compact-text-to-binary-direct", OP_TEXT_DIRECT, 1},
        {"binary-to-text-tree", OP_BIN_TREE, -1},
        {"binary-to-text-direct", OP_BIN_DIRECT, -1},
    };
    size_t nrows = sizeof rows / sizeof rows[0];

    if (cg) {
        for (size_t i = 0; i < nrows; i++) {
            if (strcmp(cg, rows[i].name))
                continue;
            bench_ctx_t c = base;
            c.op = rows[i].op;
            c.text = rows[i].text == 1 ? compact : pretty;
            c.text_len = rows[i].text == 1 ? compact_len : pretty_len;
            one_op(&c);
            bench_measured(&c, cg_ops);
            return 0;
        }
        return usage();
    }

    printf("bench_json: %s %s, %zu bytes binary, %zu bytes JSON text as given, "
           "%zu compact\n",
           json, tname, base.bin_len, pretty_len, compact_len);
    printf("%-32s %10s %12s %12s\n", "path", "us/op", "MB/s binary", "MB/s text");
    for (size_t i = 0; i < nrows; i++) {
        bench_ctx_t c = base;
        c.op = rows[i].op;
        c.text = rows[i].text == 1 ? compact : pretty;
        c.text_len = rows[i].text == 1 ? compact_len : pretty_len;
        double ns = bench_time_op(measured_cb, &c, seconds);
        size_t tlen = rows[i].text == 0 ? pretty_len : compact_len;
        printf("%-32s %10.2f %12.1f %12.1f\n", rows[i].name, ns / 1e3,
               (double)base.bin_len / ns * 1e3, (double)tlen / ns * 1e3);
    }

    thrift_buffer_free(base.out);
    thrift_arena_free(base.arena);
    thrift_buffer_free(bin);
    thrift_json_text_free(compact);
    free(pretty);
    thrift_arena_free(arena);
    thrift_schema_unref(schema);
    return 0;
}
