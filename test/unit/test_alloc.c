/* Failed-allocation sweep ("chaos" test, as jansson's suite has): the loader
 * and the codecs are run again and again, failing the 1st, 2nd, 3rd ...
 * allocation until the call succeeds.  Every failure must come back as
 * THRIFT_NOMEM (NULL + err->code == THRIFT_NOMEM for constructors), nothing
 * may leak (counted here for the allocator hooks; ASan's leak checker and
 * valgrind cover the rest) and nothing may crash.
 *
 * Allocation points are reached three ways:
 *  - a thrift_allocator_t, where the API takes one (arenas, the loader's
 *    thrift_load_options_t.allocator);
 *  - jansson's json_set_alloc_funcs, for the jansson trees of the JSON paths;
 *  - when built with TEST_WRAP_MALLOC (test/meson.build links this test with
 *    -Wl,--wrap=malloc,calloc,realloc), every malloc/calloc/realloc the
 *    library itself makes (growable buffers, scanner stacks), so no
 *    allocation point escapes the sweep.
 * Each sweep runs twice: failing only the n-th allocation, and failing the
 * n-th and every one after it (the error path must not itself need memory). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "dynthrift/dynthrift.h"
#include "dynthrift/json.h"
#include "tap.h"

/* ---- the failing allocator ------------------------------------------------ */

static struct {
    bool armed;
    bool sticky;     /* fail every allocation from fail_at on */
    long fail_at;    /* 1-based; 0: never */
    long count;      /* allocation attempts while armed */
    long failed;     /* attempts that were failed */
    long hook_live;  /* blocks from the thrift_allocator_t not yet freed */
    long json_live;  /* blocks from jansson's hooks not yet freed */
    long wrapped;    /* attempts seen through the malloc wrappers */
} chaos;

static bool chaos_fail(void) {
    if (!chaos.armed)
        return false;
    chaos.count++;
    if (chaos.fail_at &&
        (chaos.count == chaos.fail_at || (chaos.sticky && chaos.count > chaos.fail_at))) {
        chaos.failed++;
        return true;
    }
    return false;
}

#ifdef TEST_WRAP_MALLOC
void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);

void *__wrap_malloc(size_t size) {
    if (chaos.armed)
        chaos.wrapped++;
    return chaos_fail() ? NULL : __real_malloc(size);
}
void *__wrap_calloc(size_t n, size_t size) {
    if (chaos.armed)
        chaos.wrapped++;
    return chaos_fail() ? NULL : __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t size) {
    if (chaos.armed)
        chaos.wrapped++;
    return chaos_fail() ? NULL : __real_realloc(p, size);
}
#define RAW_MALLOC __real_malloc
#else
#define RAW_MALLOC malloc
#endif

static void *hook_alloc(size_t size, void *ud) {
    (void)ud;
    if (chaos_fail())
        return NULL;
    void *p = RAW_MALLOC(size);
    if (p)
        chaos.hook_live++;
    return p;
}

static void hook_free(void *p, void *ud) {
    (void)ud;
    if (p)
        chaos.hook_live--;
    free(p);
}

static const thrift_allocator_t hook = {hook_alloc, hook_free, NULL};

static void *json_alloc(size_t size) {
    if (chaos_fail())
        return NULL;
    void *p = RAW_MALLOC(size);
    if (p)
        chaos.json_live++;
    return p;
}

static void json_free(void *p) {
    if (p)
        chaos.json_live--;
    free(p);
}

/* ---- the sweep -------------------------------------------------------------- */

/* Runs the operation once; returns true on success.  On failure `err` must
 * say why.  `cleanup` frees whatever a successful run produced. */
typedef struct sweep_op {
    const char *name;
    bool (*run)(void *ctx, thrift_error_t *err);
    void (*cleanup)(void *ctx);
    void *ctx;
} sweep_op_t;

enum { SWEEP_MAX = 200000 };

typedef struct sweep_result {
    long points;     /* allocations failed one by one before a clean run */
    long wrong_code; /* failures reported with another code than NOMEM */
    long spurious;   /* failures with no allocation failed */
    long leaks;      /* runs after which hook or jansson blocks were live */
    long absorbed;   /* runs that succeeded although an allocation failed */
    bool finished;   /* reached a run with no failure */
    char first_bad[400];
} sweep_result_t;

static sweep_result_t sweep(const sweep_op_t *op, bool sticky) {
    sweep_result_t r;
    memset(&r, 0, sizeof r);
    for (long n = 1; n <= SWEEP_MAX; n++) {
        thrift_error_t err;
        thrift_error_clear(&err);
        long hook_before = chaos.hook_live, json_before = chaos.json_live;
        chaos.count = chaos.failed = 0;
        chaos.fail_at = n;
        chaos.sticky = sticky;
        chaos.armed = true;
        bool ok = op->run(op->ctx, &err);
        chaos.armed = false;
        long failed = chaos.failed;
        if (ok)
            op->cleanup(op->ctx);
        if (chaos.hook_live != hook_before || chaos.json_live != json_before) {
            if (!r.leaks++)
                snprintf(r.first_bad, sizeof r.first_bad,
                         "%s: run %ld left %ld allocator / %ld jansson blocks", op->name, n,
                         chaos.hook_live - hook_before, chaos.json_live - json_before);
            chaos.hook_live = hook_before;
            chaos.json_live = json_before;
        }
        if (ok) {
            if (failed == 0) {
                r.finished = true;
                r.points = n - 1;
                break;
            }
            r.absorbed++;
            continue;
        }
        if (failed == 0) {
            r.spurious++;
            if (!r.first_bad[0])
                snprintf(r.first_bad, sizeof r.first_bad, "%s: run %ld failed with no "
                         "allocation failed: %s: %s", op->name, n,
                         thrift_status_name(err.code), err.text);
        } else if (err.code != THRIFT_NOMEM) {
            r.wrong_code++;
            if (!r.first_bad[0])
                snprintf(r.first_bad, sizeof r.first_bad, "%s: failing allocation %ld gave %s: %s",
                         op->name, n, thrift_status_name(err.code), err.text);
        }
    }
    return r;
}

static void check_sweep(const sweep_op_t *op) {
    for (int sticky = 0; sticky <= 1; sticky++) {
        sweep_result_t r = sweep(op, sticky);
        const char *mode = sticky ? "n-th and later" : "n-th";
        TAP_CHECK(r.finished, "%s (%s): sweep ends with a clean run after %ld failure points",
                  op->name, mode, r.points);
        TAP_CHECK(r.wrong_code == 0 && r.spurious == 0,
                  "%s (%s): every failure is THRIFT_NOMEM (%ld wrong, %ld spurious)", op->name,
                  mode, r.wrong_code, r.spurious);
        TAP_CHECK(r.leaks == 0, "%s (%s): no blocks left behind by a failed run", op->name, mode);
        if (r.first_bad[0])
            printf("#   %s\n", r.first_bad);
        if (!sticky)
            printf("# sweep %-28s %5ld allocation points failed one by one (%ld absorbed)\n",
                   op->name, r.points, r.absorbed);
    }
}

/* ---- the inputs ------------------------------------------------------------- */

static const char shared_idl[] =
    "namespace * shared\n"
    "typedef i64 Id\n"
    "/** Colours. */\n"
    "enum Color { RED = 1, GREEN = 2, BLUE = 4 (hex = \"0x4\") }\n"
    "const list<Color> ALL_COLORS = [Color.RED, Color.GREEN, Color.BLUE]\n"
    "const i32 LIMIT = 100\n"
    "struct Point { 1: double x = 0.5, 2: double y, 3: optional string label = \"p\" }\n"
    "exception NotFound { 1: string what, 2: Id id }\n"
    "service Base { string version() }\n";

static const char types_idl[] =
    "include \"shared.thrift\"\n"
    "namespace py types\n"
    "typedef map<string, list<shared.Point>> Layers\n"
    "typedef set<shared.Color> Palette\n"
    "union Shape { 1: shared.Point point, 2: list<shared.Point> polygon, 3: string svg }\n"
    "const map<string, shared.Point> ORIGINS = {\"a\": {\"x\": 1.0, \"y\": 2.0}, "
    "\"b\": {\"x\": -1, \"y\": 0, \"label\": \"bee\"}}\n"
    "const i32 TWICE = shared.LIMIT\n";

static const char main_idl[] =
    "include \"shared.thrift\"\n"
    "include \"types.thrift\"\n"
    "namespace cpp rich\n"
    "/** Every kind of field. */\n"
    "struct Everything {\n"
    "  1: required bool b,\n"
    "  2: byte i8v,\n"
    "  3: i16 i16v,\n"
    "  4: i32 i32v = 7,\n"
    "  5: i64 i64v,\n"
    "  6: double dv,\n"
    "  7: string s = \"hi\",\n"
    "  8: binary bin,\n"
    "  9: uuid u,\n"
    "  10: shared.Color color = shared.Color.GREEN,\n"
    "  11: list<i32> li = [1, 2, 3],\n"
    "  12: set<string> ss,\n"
    "  13: map<i32, list<set<string>>> deep,\n"
    "  14: optional types.Shape shape,\n"
    "  15: optional types.Layers layers,\n"
    "  16: map<shared.Color, shared.Point> by_color,\n"
    "  17: list<Everything> children,\n"
    "  18: optional types.Palette palette,\n"
    "  19: map<string, string> meta = {\"k\": \"v\"} (cpp.template = \"std::map\")\n"
    "} (annot = \"x\", flag)\n"
    "service Main extends shared.Base {\n"
    "  Everything get(1: shared.Id id) throws (1: shared.NotFound nf),\n"
    "  oneway void poke(1: list<types.Shape> shapes),\n"
    "  map<string, Everything> all(1: i32 limit = 10) (note = \"all\")\n"
    "}\n"
    "const Everything SAMPLE = {\"b\": true, \"li\": [4, 5], \"color\": shared.Color.BLUE,\n"
    "  \"by_color\": {shared.Color.RED: {\"x\": 1.5}}}\n";

static bool include_cb(thrift_include_request_t *req, const char *includer, const char *path,
                       void *ud) {
    (void)includer;
    (void)ud;
    if (strcmp(path, "shared.thrift") == 0)
        thrift_include_provide(req, "shared.thrift", shared_idl, strlen(shared_idl));
    else if (strcmp(path, "types.thrift") == 0)
        thrift_include_provide(req, "types.thrift", types_idl, strlen(types_idl));
    else
        return false;
    return true;
}

/* A value with every kind of field, nested children (so the decoders need
 * several arena blocks) and strings to copy. */
static char *everything_json(void) {
    size_t cap = 1 << 16, len = 0;
    char *s = malloc(cap);
    len += (size_t)snprintf(s + len, cap - len,
        "{\"b\": true, \"i8v\": -128, \"i16v\": 32767, \"i32v\": -5, \"i64v\": 9007199254740993,"
        " \"dv\": 0.1, \"s\": \"h\\u00e9llo\", \"bin\": \"AAEC/w==\","
        " \"u\": \"00112233-4455-6677-8899-aabbccddeeff\", \"color\": \"BLUE\","
        " \"li\": [1, -1, 2147483647], \"ss\": [\"a\", \"b\", \"\"],"
        " \"deep\": {\"1\": [[\"x\"], [\"y\", \"z\"]], \"-2\": []},"
        " \"shape\": {\"polygon\": [{\"x\": 1, \"y\": 2}, {\"x\": 3, \"y\": 4, \"label\": \"q\"}]},"
        " \"layers\": {\"base\": [{\"x\": 0, \"y\": 0}]},"
        " \"by_color\": {\"RED\": {\"x\": 1.5, \"y\": -2.5}},"
        " \"palette\": [\"RED\", \"GREEN\"], \"meta\": {\"a\": \"1\", \"b\": \"2\"},"
        " \"children\": [");
    for (int i = 0; i < 40; i++)
        len += (size_t)snprintf(s + len, cap - len,
            "%s{\"b\": false, \"i64v\": %d, \"s\": \"child number %d with some text\","
            " \"li\": [%d, %d], \"deep\": {\"%d\": [[\"c\"]]},"
            " \"shape\": {\"svg\": \"<svg>%d</svg>\"}, \"children\": [{\"b\": true}]}",
            i ? ", " : "", i, i, i, -i, i, i);
    snprintf(s + len, cap - len, "]}");
    return s;
}

/* ---- operations ------------------------------------------------------------- */

typedef struct load_ctx {
    const char *name, *text;
    thrift_schema_t *out;
} load_ctx_t;

static bool op_load(void *ctx, thrift_error_t *err) {
    load_ctx_t *c = ctx;
    thrift_load_options_t o;
    memset(&o, 0, sizeof o);
    o.include_cb = include_cb;
    o.allocator = &hook;
    c->out = thrift_load_string(c->name, c->text, strlen(c->text), &o, err);
    return c->out != NULL;
}

static bool op_load_file(void *ctx, thrift_error_t *err) {
    load_ctx_t *c = ctx;
    thrift_load_options_t o;
    memset(&o, 0, sizeof o);
    o.allocator = &hook;
    c->out = thrift_load_ex(c->name, &o, err);
    return c->out != NULL;
}

static void cleanup_load(void *ctx) {
    load_ctx_t *c = ctx;
    thrift_schema_unref(c->out);
    c->out = NULL;
}

typedef struct codec_ctx {
    thrift_protocol_t proto;
    const thrift_value_t *value; /* the reference value */
    const thrift_type_def_t *type;
    const uint8_t *wire; /* its encoding in `proto` */
    size_t wire_len;
    const char *json; /* its JSON text */
    thrift_arena_t *arena;
    char *text;
    bool zero_copy;
} codec_ctx_t;

static bool op_decode(void *ctx, thrift_error_t *err) {
    codec_ctx_t *c = ctx;
    thrift_codec_options_t o;
    thrift_codec_options_init(&o);
    o.zero_copy = c->zero_copy;
    thrift_arena_t *a = thrift_arena_new(&hook);
    if (!a) {
        err->code = THRIFT_NOMEM; // thrift_arena_new has no err: NULL means out of memory
        return false;
    }
    size_t used = 0;
    thrift_value_t *v = thrift_decode(c->proto, c->type, c->wire, c->wire_len, a, &o, &used, err);
    bool ok = v && used == c->wire_len && thrift_value_equal(v, c->value);
    if (v && !ok)
        snprintf(err->text, sizeof err->text, "decoded a different value");
    thrift_arena_free(a);
    return ok;
}

/* A fresh buffer per run, so every run grows it from empty. */
static thrift_buffer_t *new_buffer(thrift_error_t *err) {
    thrift_buffer_t *b = thrift_buffer_new();
    if (!b)
        err->code = THRIFT_NOMEM; // documented: NULL on out of memory
    return b;
}

static bool op_encode(void *ctx, thrift_error_t *err) {
    codec_ctx_t *c = ctx;
    thrift_buffer_t *b = new_buffer(err);
    if (!b)
        return false;
    bool ok = thrift_encode(c->proto, c->value, b, err) == THRIFT_OK;
    if (ok && (thrift_buffer_len(b) != c->wire_len ||
               memcmp(thrift_buffer_data(b), c->wire, c->wire_len) != 0)) {
        snprintf(err->text, sizeof err->text, "encoded different bytes");
        err->code = THRIFT_INVALID;
        ok = false;
    }
    thrift_buffer_free(b);
    return ok;
}

static bool op_encode_message(void *ctx, thrift_error_t *err) {
    codec_ctx_t *c = ctx;
    thrift_buffer_t *b = new_buffer(err);
    if (!b)
        return false;
    bool ok = thrift_encode_message(c->proto, "get", 3, THRIFT_MSG_REPLY, 7, c->value, b,
                                    err) == THRIFT_OK;
    thrift_buffer_free(b);
    return ok;
}

static bool op_json_loads(void *ctx, thrift_error_t *err) {
    codec_ctx_t *c = ctx;
    thrift_arena_t *a = thrift_arena_new(&hook);
    if (!a) {
        err->code = THRIFT_NOMEM;
        return false;
    }
    thrift_value_t *v = thrift_json_loads(a, c->type, c->json, strlen(c->json), 0, err);
    bool ok = v && thrift_value_equal(v, c->value);
    if (v && !ok)
        snprintf(err->text, sizeof err->text, "loaded a different value");
    thrift_arena_free(a);
    return ok;
}

static bool op_json_dumps(void *ctx, thrift_error_t *err) {
    codec_ctx_t *c = ctx;
    c->text = thrift_json_dumps(c->value, 0, NULL, err);
    return c->text != NULL;
}

static void cleanup_text(void *ctx) {
    codec_ctx_t *c = ctx;
    thrift_json_text_free(c->text);
    c->text = NULL;
}

static bool op_json_tree(void *ctx, thrift_error_t *err) {
    codec_ctx_t *c = ctx;
    json_t *j = thrift_json_from_value(c->value, 0, err);
    if (!j)
        return false;
    thrift_arena_t *a = thrift_arena_new(&hook);
    if (!a) {
        json_decref(j);
        err->code = THRIFT_NOMEM;
        return false;
    }
    thrift_value_t *v = thrift_json_to_value(a, c->type, j, 0, err);
    bool ok = v && thrift_value_equal(v, c->value);
    json_decref(j);
    thrift_arena_free(a);
    return ok;
}

static bool op_raw_dumps(void *ctx, thrift_error_t *err) {
    codec_ctx_t *c = ctx;
    c->text = thrift_json_raw_dumps(c->proto, c->wire, c->wire_len, false, 0, NULL, err);
    return c->text != NULL;
}

static bool op_clone(void *ctx, thrift_error_t *err) {
    codec_ctx_t *c = ctx;
    thrift_arena_t *a = thrift_arena_new(&hook);
    if (!a) {
        err->code = THRIFT_NOMEM;
        return false;
    }
    thrift_value_t *v = thrift_value_clone(a, c->value);
    bool ok = v && thrift_value_equal(v, c->value);
    if (!v)
        err->code = THRIFT_NOMEM; // documented: NULL on out of memory
    thrift_arena_free(a);
    return ok;
}

static void cleanup_none(void *ctx) { (void)ctx; }

int main(void) {
    json_set_alloc_funcs(json_alloc, json_free);
#ifdef TEST_WRAP_MALLOC
    printf("# library malloc/calloc/realloc are wrapped: every allocation point is swept\n");
#else
    printf("# built without malloc wrapping: only allocator hooks and jansson are swept\n");
#endif

    /* The loader. */
    load_ctx_t lc = {"main.thrift", main_idl, NULL};
    sweep_op_t load_op = {"thrift_load_string(rich+includes)", op_load, cleanup_load, &lc};
    check_sweep(&load_op);
    load_ctx_t lc_bad = {"bad.thrift", "include \"shared.thrift\"\nstruct X { 1: shared.Nope n }\n",
                         NULL};
    thrift_error_t err;
    thrift_error_clear(&err);
    TAP_CHECK(!op_load(&lc_bad, &err) && err.code == THRIFT_NOT_FOUND && chaos.hook_live == 0,
              "a load that fails for a bad type frees everything it took (%s)",
              thrift_status_name(err.code));

    const char *root = getenv("DYNTHRIFT_SOURCE_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/idl-samples/bench.thrift", root ? root : ".");
    FILE *f = fopen(path, "rb");
    if (f) {
        static char bench[1 << 16];
        size_t n = fread(bench, 1, sizeof bench - 1, f);
        fclose(f);
        bench[n] = '\0';
        load_ctx_t bc = {"bench.thrift", bench, NULL};
        sweep_op_t bench_op = {"thrift_load_string(bench)", op_load, cleanup_load, &bc};
        check_sweep(&bench_op);
        // From the filesystem: file reading and realpath() are swept too.
        load_ctx_t fc = {path, NULL, NULL};
        sweep_op_t file_op = {"thrift_load_ex(bench file)", op_load_file, cleanup_load, &fc};
        check_sweep(&file_op);
    } else {
        printf("ok %d # SKIP bench.thrift not found at %s\n", ++tap_count_, path);
    }

    /* The codecs, on a schema loaded normally (it must outlive the values). */
    thrift_error_clear(&err);
    thrift_load_options_t lo;
    memset(&lo, 0, sizeof lo);
    lo.include_cb = include_cb;
    thrift_schema_t *schema = thrift_load_string("main.thrift", main_idl, strlen(main_idl), &lo, &err);
    if (!schema) {
        printf("Bail out! cannot load the rich IDL: %s\n", err.text);
        return 1;
    }
    const thrift_type_def_t *type =
        thrift_struct_def_type(thrift_schema_find_struct(schema, "Everything"));
    char *json = everything_json();
    thrift_arena_t *ref_arena = thrift_arena_new(NULL);
    thrift_value_t *value = thrift_json_loads(ref_arena, type, json, strlen(json), 0, &err);
    if (!value) {
        printf("Bail out! cannot build the reference value: %s\n", err.text);
        return 1;
    }
    char *canonical = thrift_json_dumps(value, 0, NULL, &err);

    static const thrift_protocol_t protos[] = {THRIFT_PROTO_BINARY, THRIFT_PROTO_COMPACT,
                                               THRIFT_PROTO_JSON};
    for (size_t i = 0; i < 3; i++) {
        thrift_buffer_t *wire = thrift_buffer_new();
        thrift_error_clear(&err);
        if (thrift_encode(protos[i], value, wire, &err) != THRIFT_OK) {
            printf("Bail out! cannot encode the reference value: %s\n", err.text);
            return 1;
        }
        codec_ctx_t c;
        memset(&c, 0, sizeof c);
        c.proto = protos[i];
        c.value = value;
        c.type = type;
        c.wire = thrift_buffer_data(wire);
        c.wire_len = thrift_buffer_len(wire);
        c.json = canonical;
        char name[64];
        const char *pn = thrift_protocol_name(protos[i]);

        snprintf(name, sizeof name, "thrift_decode(%s)", pn);
        sweep_op_t dec = {name, op_decode, cleanup_none, &c};
        check_sweep(&dec);
        c.zero_copy = true;
        snprintf(name, sizeof name, "thrift_decode(%s,zero-copy)", pn);
        check_sweep(&dec);

        snprintf(name, sizeof name, "thrift_encode(%s)", pn);
        sweep_op_t enc = {name, op_encode, cleanup_none, &c};
        check_sweep(&enc);
        snprintf(name, sizeof name, "thrift_encode_message(%s)", pn);
        sweep_op_t encm = {name, op_encode_message, cleanup_none, &c};
        check_sweep(&encm);

        if (protos[i] != THRIFT_PROTO_JSON) {
            snprintf(name, sizeof name, "thrift_json_raw_dumps(%s)", pn);
            sweep_op_t raw = {name, op_raw_dumps, cleanup_text, &c};
            check_sweep(&raw);
        }
        if (i == 0) {
            sweep_op_t loads = {"thrift_json_loads", op_json_loads, cleanup_none, &c};
            check_sweep(&loads);
            sweep_op_t dumps = {"thrift_json_dumps", op_json_dumps, cleanup_text, &c};
            check_sweep(&dumps);
            sweep_op_t tree = {"thrift_json_from/to_value", op_json_tree, cleanup_none, &c};
            check_sweep(&tree);
            sweep_op_t clone = {"thrift_value_clone", op_clone, cleanup_none, &c};
            check_sweep(&clone);
        }
        thrift_buffer_free(wire);
    }

    thrift_json_text_free(canonical);
    free(json);
    thrift_arena_free(ref_arena);
    thrift_schema_unref(schema);
    TAP_CHECK(chaos.hook_live == 0 && chaos.json_live == 0,
              "every hooked block is freed at the end (%ld allocator, %ld jansson)",
              chaos.hook_live, chaos.json_live);
    return tap_done();
}
