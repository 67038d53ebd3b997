/* dynthrift — the Lua binding: `local dt = require "dynthrift"`.
 *
 * One C module over the public C API (include/dynthrift), built for Lua 5.4
 * and for LuaJIT 2.1 (the Lua 5.1 C API).  Lua values are converted to and
 * from thrift_value_t trees in C, guided by the schema, without a JSON
 * detour.  The README's "Lua binding" section is the user's manual; the
 * comments here say why.
 *
 * Ownership: every C resource (schema, connection, server, loop, arena,
 * buffer) belongs to a full userdata whose __gc frees it, so nothing leaks
 * when a Lua error unwinds past a half-built object: the userdata is made
 * first, then filled.  No C library frame is ever crossed by a Lua error:
 * Lua code reached from a library callback (an include resolver, a server
 * handler, an async callback) runs under lua_pcall and its error is carried
 * out by hand.  No globals: each lua_State gets its own module state. */
#include <dynthrift/dynthrift.h>

#include <ev.h>
#include <lauxlib.h>
#include <lua.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#define DT_EXPORT __attribute__((visibility("default")))
#else
#define DT_EXPORT
#endif

/* ---- Lua 5.4 / LuaJIT (5.1 API) differences ------------------------------ */

#if LUA_VERSION_NUM >= 503
#define DT_HAS_INTEGERS 1
#else
#define DT_HAS_INTEGERS 0
#endif

#if LUA_VERSION_NUM >= 504
static void *dt_newudata(lua_State *L, size_t n) { return lua_newuserdatauv(L, n, 1); }
static void dt_getuv(lua_State *L, int i) { lua_getiuservalue(L, i, 1); }
static void dt_setuv(lua_State *L, int i) { lua_setiuservalue(L, i, 1); }
#define dt_rawlen lua_rawlen
#elif LUA_VERSION_NUM >= 502
static void *dt_newudata(lua_State *L, size_t n) { return lua_newuserdata(L, n); }
static void dt_getuv(lua_State *L, int i) { lua_getuservalue(L, i); }
static void dt_setuv(lua_State *L, int i) { lua_setuservalue(L, i); }
#define dt_rawlen lua_rawlen
#else
static void *dt_newudata(lua_State *L, size_t n) { return lua_newuserdata(L, n); }
/* A 5.1 userdata's environment table serves as its user value. */
static void dt_getuv(lua_State *L, int i) { lua_getfenv(L, i); }
static void dt_setuv(lua_State *L, int i) { lua_setfenv(L, i); }
#define dt_rawlen lua_objlen
#endif

/* LuaJIT's type tag for FFI cdata (not in lua.h). */
#define DT_LUAJIT_TCDATA 10

static int dt_absindex(lua_State *L, int idx) {
    return idx > 0 || idx <= LUA_REGISTRYINDEX ? idx : lua_gettop(L) + idx + 1;
}

/* tostring(v) through the global function, so __tostring and __name work
 * on both VMs (LuaJIT has no luaL_tolstring).  Pushes the string. */
static const char *dt_tostring(lua_State *L, int idx, size_t *len) {
    idx = dt_absindex(L, idx);
    lua_getglobal(L, "tostring");
    lua_pushvalue(L, idx);
    lua_call(L, 1, 1);
    const char *s = lua_tolstring(L, -1, len);
    return s ? s : "?";
}

/* ---- names of metatables ---------------------------------------------- */

static const char SCHEMA_MT[] = "dynthrift.schema";
static const char CLIENT_MT[] = "dynthrift.client";
static const char SERVER_MT[] = "dynthrift.server";
static const char STATE_MT[] = "dynthrift.state";
static const char ERROR_MT[] = "dynthrift.error";
/* Keys in a typed struct's metatable. */
static const char MT_STRUCT_KEY[] = "__dynthrift_struct";
static const char MT_SCHEMA_KEY[] = "__dynthrift_schema";

/* Deepest Lua table nesting converted (cycles end here too); the decoder's
 * own default is 64. */
#define DT_MAX_DEPTH 64

/* ---- module state (one per lua_State that required the module) -------- */

typedef struct dt_state {
    thrift_arena_t *scratch; /* values built for encode, s:new, call args */
    thrift_buffer_t *buf;    /* encode output */
    struct ev_loop *loop;    /* the async loop (dt.poll), made on first use */
    lua_State *L;            /* set while the async loop may run callbacks */
    int callbacks_run;       /* by the current dt.poll */
    int first_error;         /* registry ref of a callback's error, or LUA_NOREF */
    struct pending_call *pending; /* async calls in flight (dt.next_timeout) */
} dt_state_t;

static dt_state_t *state_of(lua_State *L) {
    return (dt_state_t *)lua_touserdata(L, lua_upvalueindex(1));
}

static thrift_arena_t *scratch_arena(lua_State *L, dt_state_t *st) {
    if (!st->scratch)
        st->scratch = thrift_arena_new(NULL);
    if (!st->scratch)
        luaL_error(L, "dynthrift: out of memory");
    thrift_arena_reset(st->scratch);
    return st->scratch;
}

static int state_gc(lua_State *L) {
    dt_state_t *st = (dt_state_t *)luaL_checkudata(L, 1, STATE_MT);
    thrift_arena_free(st->scratch);
    st->scratch = NULL;
    thrift_buffer_free(st->buf);
    st->buf = NULL;
    if (st->loop)
        ev_loop_destroy(st->loop);
    st->loop = NULL;
    return 0;
}

/* ---- errors ------------------------------------------------------------- */

/* An error table {kind=, message=, code=, [type=]} whose tostring is
 * "kind: message".  kind is the status name in lower case ("timeout",
 * "closed", "transport", "app_exception", ...); `type` is the
 * TApplicationException type when there is one. */
static void push_error_table(lua_State *L, const thrift_error_t *err, int app_type) {
    char msg[1024];
    thrift_error_render(err, false, msg, sizeof msg);
    char kind[64];
    const char *name = thrift_status_name(err->code);
    if (strncmp(name, "THRIFT_", 7) == 0)
        name += 7;
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof kind; i++)
        kind[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
    kind[i] = '\0';
    lua_createtable(L, 0, 4);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, msg);
    lua_setfield(L, -2, "message");
    lua_pushinteger(L, (lua_Integer)err->code);
    lua_setfield(L, -2, "code");
    if (app_type >= 0) {
        lua_pushinteger(L, app_type);
        lua_setfield(L, -2, "type");
    }
    luaL_getmetatable(L, ERROR_MT);
    lua_setmetatable(L, -2);
}

static int raise_error_table(lua_State *L, const thrift_error_t *err, int app_type) {
    push_error_table(L, err, app_type);
    return lua_error(L);
}

static int error_tostring(lua_State *L) {
    lua_getfield(L, 1, "kind");
    lua_getfield(L, 1, "message");
    lua_pushfstring(L, "%s: %s", luaL_optstring(L, -2, "error"), luaL_optstring(L, -1, ""));
    return 1;
}

/* Raises the rendered error as a string (with the Lua caller's position
 * when `where`); for codec and value errors. */
static int raise_rendered(lua_State *L, const thrift_error_t *err, bool where) {
    char msg[1024];
    thrift_error_render(err, false, msg, sizeof msg);
    if (where)
        return luaL_error(L, "%s", msg);
    lua_pushstring(L, msg);
    return lua_error(L);
}

/* ---- THeader info headers ----------------------------------------------- */

/* Enumerates the info headers of a reply or a request (the C API has one
 * accessor each, with the same shape). */
typedef bool (*header_at_fn)(const void *from, size_t i, const char **key, const char **value);

static bool result_header_at(const void *r, size_t i, const char **key, const char **value) {
    return thrift_result_header_at((const thrift_result_t *)r, i, key, value);
}

static bool request_header_at(const void *r, size_t i, const char **key, const char **value) {
    return thrift_request_header_at((const thrift_request_t *)r, i, key, value);
}

/* Pushes {key = value, ...}: empty when `from` is NULL or carried none
 * (every framing but THeader). */
static void push_headers(lua_State *L, header_at_fn at, const void *from) {
    lua_newtable(L);
    const char *key, *value;
    for (size_t i = 0; from && at(from, i, &key, &value); i++) {
        lua_pushstring(L, value);
        lua_setfield(L, -2, key);
    }
}

/* A header key or value: the C API takes NUL-terminated text, so a Lua
 * string with a NUL inside would be cut short on the wire; refused. */
static const char *check_header_text(lua_State *L, int idx, const char *what) {
    size_t len;
    const char *s = luaL_checklstring(L, idx, &len);
    if (strlen(s) != len)
        luaL_error(L, "dynthrift: a header %s cannot contain a NUL byte", what);
    return s;
}

static void check_header_status(lua_State *L, thrift_status_t rc, const char *key) {
    if (rc == THRIFT_OK)
        return;
    char msg[200]; /* luaL_error has no precision: the key is cut here */
    if (rc == THRIFT_LIMIT)
        snprintf(msg, sizeof msg, "header '%.60s': key or value longer than %d bytes", key,
                 THRIFT_HEADER_TEXT_MAX);
    else
        snprintf(msg, sizeof msg, "header '%.60s': %s", key, thrift_status_str(rc));
    luaL_error(L, "dynthrift: %s", msg);
}

/* ---- converting Lua values to thrift values ----------------------------- */

/* The value path ("Payload.users[3].name") is kept as segments pointing
 * at names and Lua strings that live during the conversion, and rendered
 * only when an error is raised: building text for every field would cost
 * more than converting it. */
typedef struct path_seg {
    const char *s; /* field name or string key; NULL for an index */
    size_t len;
    long long index;
    char kind; /* 'f' field, 'i' [index], 'k' ["key"], 't' [type name] */
} path_seg_t;

#define DT_MAX_SEGS (2 * DT_MAX_DEPTH + 16)

typedef struct conv {
    lua_State *L;
    thrift_arena_t *arena;
    int fields; /* stack index of the schema's field cache, 0 when none */
    int depth;
    const char *root; /* borrowed for the conversion */
    int nseg;
    path_seg_t seg[DT_MAX_SEGS];
} conv_t;

static void conv_init(conv_t *c, lua_State *L, thrift_arena_t *arena, const char *root) {
    c->L = L;
    c->arena = arena;
    c->fields = 0;
    c->depth = 0;
    c->root = root;
    c->nseg = 0;
}

/* Each returns the count to restore with path_pop. */
static int path_push(conv_t *c, char kind, const char *s, size_t len, long long index) {
    int old = c->nseg;
    if (c->nseg < DT_MAX_SEGS) {
        path_seg_t *g = &c->seg[c->nseg++];
        g->kind = kind;
        g->s = s;
        g->len = len;
        g->index = index;
    }
    return old;
}

static int path_field(conv_t *c, const char *name) { return path_push(c, 'f', name, strlen(name), 0); }

static int path_index(conv_t *c, long long i) { return path_push(c, 'i', NULL, 0, i); }

static void path_pop(conv_t *c, int old) { c->nseg = old; }

static void path_render(const conv_t *c, char *out, size_t size) {
    size_t n = 0;
    int w = snprintf(out, size, "%s", c->root ? c->root : "");
    n = w > 0 ? (size_t)w : 0;
    for (int k = 0; k < c->nseg && n < size; k++) {
        const path_seg_t *g = &c->seg[k];
        int len = g->len > 80 ? 80 : (int)g->len;
        switch (g->kind) {
        case 'f': w = snprintf(out + n, size - n, "%s%.*s", n ? "." : "", len, g->s); break;
        case 'i': w = snprintf(out + n, size - n, "[%lld]", g->index); break;
        case 'k': w = snprintf(out + n, size - n, "[\"%.*s\"]", len, g->s); break;
        default: w = snprintf(out + n, size - n, "[%.*s]", len, g->s); break;
        }
        if (w > 0)
            n += (size_t)w;
    }
    if (n == 0)
        snprintf(out, size, "value");
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int conv_fail(conv_t *c, const char *fmt, ...) {
    char msg[512], path[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    path_render(c, path, sizeof path);
    return luaL_error(c->L, "%s: %s", path, msg);
}

static void *conv_check(conv_t *c, void *p) {
    if (!p)
        luaL_error(c->L, "dynthrift: out of memory");
    return p;
}

/* A decimal integer, whole string; "LL"/"ULL" suffixes when `cdata` (what
 * LuaJIT's tostring gives for int64_t / uint64_t cdata). */
static bool parse_decimal(const char *s, size_t len, bool cdata, int64_t *out) {
    char tmp[32];
    if (len == 0 || len >= sizeof tmp)
        return false;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    if (!(tmp[0] == '-' || (tmp[0] >= '0' && tmp[0] <= '9')))
        return false;
    char *end;
    errno = 0;
    if (tmp[0] != '-') {
        unsigned long long u = strtoull(tmp, &end, 10);
        if (errno || u > (unsigned long long)INT64_MAX)
            return false;
        *out = (int64_t)u;
    } else {
        long long v = strtoll(tmp, &end, 10);
        if (errno)
            return false;
        *out = (int64_t)v;
    }
    if (end == tmp + 1 && tmp[0] == '-')
        return false;
    if (*end == '\0')
        return true;
    return cdata && (strcmp(end, "LL") == 0 || strcmp(end, "ULL") == 0);
}

/* An integer of the given range from a Lua number (integral), a decimal
 * string (i64 only: the exact form on LuaJIT) or, on LuaJIT, an int64_t or
 * uint64_t cdata. */
static int64_t conv_int(conv_t *c, int idx, int64_t lo, int64_t hi, const char *tname,
                        bool allow_string) {
    lua_State *L = c->L;
    int64_t v = 0;
    switch (lua_type(L, idx)) {
    case LUA_TNUMBER: {
#if DT_HAS_INTEGERS
        if (lua_isinteger(L, idx)) {
            v = (int64_t)lua_tointeger(L, idx);
            break;
        }
#endif
        double d = (double)lua_tonumber(L, idx);
        if (!isfinite(d) || d != floor(d))
            conv_fail(c, "expected %s, got non-integral number %.17g", tname, d);
#if DT_HAS_INTEGERS
        if (d < -9223372036854775808.0 || d >= 9223372036854775808.0)
            conv_fail(c, "%.17g out of range for %s", d, tname);
#else
        /* Beyond 2^53 a double may already be a rounded neighbour of what
         * the program meant: refuse rather than send a different number. */
        if (fabs(d) > 9007199254740992.0)
            conv_fail(c, "%.17g is beyond 2^53 and may be rounded: give %s as a decimal "
                         "string or an int64_t cdata", d, tname);
#endif
        v = (int64_t)d;
        break;
    }
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (!allow_string)
            conv_fail(c, "expected %s, got string", tname);
        if (!parse_decimal(s, len, false, &v))
            conv_fail(c, "expected %s, got string '%.40s' (not a decimal integer in range)",
                      tname, s);
        break;
    }
    case DT_LUAJIT_TCDATA: {
        size_t len;
        const char *s = dt_tostring(L, idx, &len);
        bool ok = parse_decimal(s, len, true, &v);
        lua_pop(L, 1);
        if (!ok)
            conv_fail(c, "expected %s, got cdata that is not an integer in range", tname);
        break;
    }
    default:
        conv_fail(c, "expected %s, got %s", tname, luaL_typename(L, idx));
    }
    if (v < lo || v > hi)
        conv_fail(c, "%lld out of range for %s", (long long)v, tname);
    return v;
}

static thrift_value_t *to_value(conv_t *c, int idx, const thrift_type_def_t *type);
static void push_value(lua_State *L, int fields, const thrift_value_t *v);

static void conv_enter(conv_t *c, int idx, const char *what) {
    if (lua_type(c->L, idx) != LUA_TTABLE)
        conv_fail(c, "expected %s (a table), got %s", what, luaL_typename(c->L, idx));
    if (++c->depth > DT_MAX_DEPTH)
        conv_fail(c, "nesting deeper than %d (a cycle?)", DT_MAX_DEPTH);
    luaL_checkstack(c->L, 8, "dynthrift: value too deep");
}

/* ---- the per-schema field cache --------------------------------------------
 * Each schema keeps, per struct, a Lua table {"name1", "name2", ...,
 * [0] = the names' addresses}: the field names as Lua strings, made once,
 * and a C array of what lua_tolstring gives for each.  Building a table
 * pushes a name with lua_rawgeti instead of re-interning a C string per
 * field.  Reading one compares each key's address with the cached ones:
 * Lua interns short strings (LuaJIT every string), so a key spelled like
 * a field is, as long as the cache holds that string, the very same
 * object; a key that matches no address (a long name in Lua 5.4, an
 * unknown key) is looked up by text as before.  The cache lives in the
 * schema userdata's user value, freed with the schema: a struct def's
 * address is only unique while its schema lives. */
#define FIELD_CACHE_SLOT 1 /* in the schema's user value */

typedef struct field_names {
    size_t n;
    size_t mask;        /* slots - 1: a power of two at least 2n */
    const char **name;  /* [n]: lua_tolstring of field i's cached name */
    uint32_t *slot;     /* [mask + 1]: open addressing by address, i + 1 (0: empty) */
} field_names_t;

static size_t address_hash(const char *p, size_t mask) {
    uint64_t h = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 40) & mask;
}

/* Pushes the field cache of the schema userdata at `schema_idx`. */
static void push_field_cache(lua_State *L, int schema_idx) {
    dt_getuv(L, schema_idx);
    lua_rawgeti(L, -1, FIELD_CACHE_SLOT);
    lua_remove(L, -2);
}

/* Pushes the cached names table of `sd`, made on first use. */
static void push_struct_fields(lua_State *L, int cache_idx, const thrift_struct_def_t *sd) {
    lua_pushlightuserdata(L, (void *)sd);
    lua_rawget(L, cache_idx);
    if (!lua_isnil(L, -1))
        return;
    lua_pop(L, 1);
    size_t n = thrift_struct_def_field_count(sd);
    if (n >= INT32_MAX)
        luaL_error(L, "dynthrift: too many fields");
    luaL_checkstack(L, 4, "dynthrift");
    size_t slots = 8;
    while (slots < 2 * n)
        slots *= 2;
    lua_createtable(L, (int)n, 1);
    /* One block: the header, the names, the slots (aligned after the
     * pointers). */
    field_names_t *fn = (field_names_t *)dt_newudata(
        L, sizeof *fn + n * sizeof(const char *) + slots * sizeof(uint32_t));
    fn->n = n;
    fn->mask = slots - 1;
    fn->name = (const char **)(void *)(fn + 1);
    fn->slot = (uint32_t *)(void *)(fn->name + n);
    memset(fn->slot, 0, slots * sizeof(uint32_t));
    lua_rawseti(L, -2, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, thrift_field_def_name(thrift_struct_def_field_at(sd, i)));
        fn->name[i] = lua_tostring(L, -1);
        size_t h = address_hash(fn->name[i], fn->mask);
        while (fn->slot[h])
            h = (h + 1) & fn->mask;
        fn->slot[h] = (uint32_t)(i + 1);
        lua_rawseti(L, -2, (int)(i + 1));
    }
    lua_pushlightuserdata(L, (void *)sd);
    lua_pushvalue(L, -2);
    lua_rawset(L, cache_idx);
}

/* The field whose cached name is the string `key` itself, or -1. */
static long cached_field(const field_names_t *fn, const char *key) {
    for (size_t h = address_hash(key, fn->mask); fn->slot[h]; h = (h + 1) & fn->mask)
        if (fn->name[fn->slot[h] - 1] == key)
            return (long)fn->slot[h] - 1;
    return -1;
}

/* Fields of a struct, union or exception, from a table keyed by field name;
 * absent fields keep their IDL default (thrift_value_new_struct). */
static thrift_value_t *conv_struct(conv_t *c, int idx, const thrift_struct_def_t *sd) {
    lua_State *L = c->L;
    idx = dt_absindex(L, idx);
    conv_enter(c, idx, thrift_struct_def_name(sd));
    thrift_value_t *v = conv_check(c, thrift_value_new_struct(c->arena, sd));
    bool is_union = thrift_struct_def_kind(sd) == THRIFT_KIND_UNION;
    int given = 0;
    int fields = 0;
    const field_names_t *cached = NULL;
    if (c->fields) {
        push_struct_fields(L, c->fields, sd);
        fields = lua_gettop(L);
        lua_rawgeti(L, fields, 0);
        cached = (const field_names_t *)lua_touserdata(L, -1);
        lua_pop(L, 1); /* the names table holds it */
    }
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            conv_fail(c, "field names are strings, got a %s key", luaL_typename(L, -2));
        size_t len;
        const char *name = lua_tolstring(L, -2, &len);
        long i = cached ? cached_field(cached, name) : -1;
        const thrift_field_def_t *f = i >= 0 ? thrift_struct_def_field_at(sd, (size_t)i)
                                             : thrift_struct_def_find_field_n(sd, name, len);
        if (!f)
            conv_fail(c, "no field '%s' in %s", name, thrift_struct_def_name(sd));
        int old = path_push(c, 'f', name, len, 0);
        thrift_value_t *fv = to_value(c, lua_gettop(L), thrift_field_def_type(f));
        if (thrift_value_set_at(v, thrift_field_def_index(f), fv) != THRIFT_OK)
            conv_fail(c, "cannot store field");
        path_pop(c, old);
        lua_pop(L, 1);
        given++;
    }
    if (is_union && given > 1)
        conv_fail(c, "union %s takes one field, got %d", thrift_struct_def_name(sd), given);
    if (fields)
        lua_remove(L, fields);
    c->depth--;
    return v;
}

static bool table_keyed_map(const thrift_type_def_t *key_type) {
    switch (thrift_type_def_kind(thrift_type_def_resolved(key_type))) {
    case THRIFT_KIND_STRING: case THRIFT_KIND_BINARY: case THRIFT_KIND_I8:
    case THRIFT_KIND_I16: case THRIFT_KIND_I32: case THRIFT_KIND_I64:
    case THRIFT_KIND_ENUM:
        return true;
    default:
        return false;
    }
}

typedef struct map_entry {
    const thrift_value_t *key;
    const thrift_value_t *value;
} map_entry_t;

static int compare_entries(const void *pa, const void *pb) {
    const thrift_value_t *a = ((const map_entry_t *)pa)->key;
    const thrift_value_t *b = ((const map_entry_t *)pb)->key;
    thrift_kind_t k = thrift_value_kind(a);
    if (k == THRIFT_KIND_STRING || k == THRIFT_KIND_BINARY) {
        size_t la, lb;
        const uint8_t *sa = thrift_value_bytes(a, &la);
        const uint8_t *sb = thrift_value_bytes(b, &lb);
        int r = memcmp(sa, sb, la < lb ? la : lb);
        return r ? r : (la > lb) - (la < lb);
    }
    int64_t ia = thrift_value_int(a), ib = thrift_value_int(b);
    return (ia > ib) - (ia < ib);
}

/* A map with string/integer/enum keys is a table; any other map a sequence
 * of {key, value} pairs.  A Lua table has no order, so entries are written
 * in key order (bytes, or numbers): the same table always encodes to the
 * same bytes. */
static thrift_value_t *conv_map(conv_t *c, int idx, const thrift_type_def_t *t) {
    lua_State *L = c->L;
    conv_enter(c, idx, "map");
    thrift_value_t *v = conv_check(c, thrift_value_new(c->arena, t));
    const thrift_type_def_t *kt = thrift_type_def_key(t), *vt = thrift_type_def_value(t);
    if (table_keyed_map(kt)) {
        size_t n = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            n++;
            lua_pop(L, 1);
        }
        if (n > SIZE_MAX / sizeof(map_entry_t))
            conv_fail(c, "map too large");
        map_entry_t *e = n ? conv_check(c, thrift_arena_alloc(c->arena, n * sizeof *e)) : NULL;
        size_t i = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            int old;
            if (lua_type(L, -2) == LUA_TSTRING) {
                size_t klen;
                const char *k = lua_tolstring(L, -2, &klen);
                old = path_push(c, 'k', k, klen, 0);
            } else if (lua_type(L, -2) == LUA_TNUMBER) {
                old = path_index(c, (long long)lua_tonumber(L, -2));
            } else {
                const char *tn = luaL_typename(L, -2);
                old = path_push(c, 't', tn, strlen(tn), 0);
            }
            if (i >= n)
                conv_fail(c, "table changed during conversion");
            e[i].key = to_value(c, lua_gettop(L) - 1, kt);
            e[i].value = to_value(c, lua_gettop(L), vt);
            i++;
            path_pop(c, old);
            lua_pop(L, 1);
        }
        if (i > 1)
            qsort(e, i, sizeof *e, compare_entries);
        for (size_t j = 0; j < i; j++)
            if (thrift_value_map_append(c->arena, v, e[j].key, e[j].value) != THRIFT_OK)
                conv_fail(c, "cannot store map entry");
    } else {
        size_t n = dt_rawlen(L, idx);
        for (size_t i = 1; i <= n; i++) {
            int old = path_index(c, (long long)i);
            lua_rawgeti(L, idx, (int)i);
            if (lua_type(L, -1) != LUA_TTABLE)
                conv_fail(c, "expected a {key, value} pair, got %s", luaL_typename(L, -1));
            lua_rawgeti(L, -1, 1);
            lua_rawgeti(L, -2, 2);
            thrift_value_t *k = to_value(c, lua_gettop(L) - 1, kt);
            thrift_value_t *val = to_value(c, lua_gettop(L), vt);
            if (thrift_value_map_append(c->arena, v, k, val) != THRIFT_OK)
                conv_fail(c, "cannot store map entry");
            lua_pop(L, 3);
            path_pop(c, old);
        }
    }
    c->depth--;
    return v;
}

static thrift_value_t *conv_list(conv_t *c, int idx, const thrift_type_def_t *t) {
    lua_State *L = c->L;
    conv_enter(c, idx, thrift_type_def_kind(t) == THRIFT_KIND_SET ? "set" : "list");
    thrift_value_t *v = conv_check(c, thrift_value_new(c->arena, t));
    const thrift_type_def_t *et = thrift_type_def_elem(t);
    size_t n = dt_rawlen(L, idx);
    for (size_t i = 1; i <= n; i++) {
        int old = path_index(c, (long long)i);
        lua_rawgeti(L, idx, (int)i);
        thrift_value_t *item = to_value(c, lua_gettop(L), et);
        if (thrift_value_append(c->arena, v, item) != THRIFT_OK)
            conv_fail(c, "cannot append");
        lua_pop(L, 1);
        path_pop(c, old);
    }
    c->depth--;
    return v;
}

static thrift_value_t *to_value(conv_t *c, int idx, const thrift_type_def_t *type) {
    lua_State *L = c->L;
    idx = dt_absindex(L, idx);
    const thrift_type_def_t *t = thrift_type_def_resolved(type);
    thrift_arena_t *a = c->arena;
    switch (thrift_type_def_kind(t)) {
    case THRIFT_KIND_BOOL:
        if (!lua_isboolean(L, idx))
            conv_fail(c, "expected bool, got %s", luaL_typename(L, idx));
        return conv_check(c, thrift_value_new_bool(a, lua_toboolean(L, idx)));
    case THRIFT_KIND_I8:
        return conv_check(c, thrift_value_new_i8(a, (int8_t)conv_int(c, idx, INT8_MIN, INT8_MAX, "i8", false)));
    case THRIFT_KIND_I16:
        return conv_check(c, thrift_value_new_i16(a, (int16_t)conv_int(c, idx, INT16_MIN, INT16_MAX, "i16", false)));
    case THRIFT_KIND_I32:
        return conv_check(c, thrift_value_new_i32(a, (int32_t)conv_int(c, idx, INT32_MIN, INT32_MAX, "i32", false)));
    case THRIFT_KIND_I64:
        return conv_check(c, thrift_value_new_i64(a, conv_int(c, idx, INT64_MIN, INT64_MAX, "i64", true)));
    case THRIFT_KIND_DOUBLE:
        if (lua_type(L, idx) != LUA_TNUMBER)
            conv_fail(c, "expected double, got %s", luaL_typename(L, idx));
        return conv_check(c, thrift_value_new_double(a, (double)lua_tonumber(L, idx)));
    case THRIFT_KIND_STRING:
    case THRIFT_KIND_BINARY: {
        bool bin = thrift_type_def_kind(t) == THRIFT_KIND_BINARY;
        if (lua_type(L, idx) != LUA_TSTRING)
            conv_fail(c, "expected %s, got %s", bin ? "binary" : "string", luaL_typename(L, idx));
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        return conv_check(c, bin ? thrift_value_new_binary(a, s, len) : thrift_value_new_string(a, s, len));
    }
    case THRIFT_KIND_UUID: {
        uint8_t raw[16];
        size_t len;
        if (lua_type(L, idx) != LUA_TSTRING)
            conv_fail(c, "expected uuid, got %s", luaL_typename(L, idx));
        const char *s = lua_tolstring(L, idx, &len);
        if (!thrift_uuid_parse(s, len, raw))
            conv_fail(c, "expected uuid (8-4-4-4-12 hex), got '%.40s'", s);
        return conv_check(c, thrift_value_new_uuid(a, raw));
    }
    case THRIFT_KIND_ENUM: {
        const thrift_enum_def_t *e = thrift_type_def_enum(t);
        int32_t number;
        if (lua_type(L, idx) == LUA_TSTRING) {
            const char *name = lua_tostring(L, idx);
            const thrift_enum_value_def_t *ev = thrift_enum_def_find_value(e, name);
            if (!ev)
                conv_fail(c, "no value '%.60s' in enum %s", name, thrift_enum_def_name(e));
            number = thrift_enum_value_def_number(ev);
        } else {
            number = (int32_t)conv_int(c, idx, INT32_MIN, INT32_MAX, thrift_enum_def_name(e), false);
        }
        return conv_check(c, thrift_value_new_enum(a, e, number));
    }
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET:
        return conv_list(c, idx, t);
    case THRIFT_KIND_MAP:
        return conv_map(c, idx, t);
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION:
        return conv_struct(c, idx, thrift_type_def_struct(t));
    default:
        conv_fail(c, "cannot convert to %s", thrift_type_def_name(t));
    }
    return NULL;
}

/* ---- converting thrift values to Lua ----------------------------------- */

static void push_i64(lua_State *L, int64_t v) {
#if DT_HAS_INTEGERS
    lua_pushinteger(L, (lua_Integer)v);
#else
    /* A double holds every integer up to 2^53 exactly; beyond, the exact
     * decimal string (the README's LuaJIT i64 rule). */
    if (v >= -9007199254740992LL && v <= 9007199254740992LL) {
        lua_pushnumber(L, (lua_Number)v);
    } else {
        char tmp[24];
        int n = snprintf(tmp, sizeof tmp, "%lld", (long long)v);
        lua_pushlstring(L, tmp, (size_t)n);
    }
#endif
}

/* Pushes `v` as a Lua value.  `fields`: the stack index of the schema's
 * field cache (push_field_cache), or 0 to push field names as C strings
 * (for one-off values).  Containers make room on the stack for what they
 * push; a scalar takes the one slot its caller has. */
static void push_value(lua_State *L, int fields, const thrift_value_t *v) {
    if (!v) {
        lua_pushnil(L);
        return;
    }
    switch (thrift_value_kind(v)) {
    case THRIFT_KIND_BOOL:
        lua_pushboolean(L, thrift_value_bool(v));
        return;
    case THRIFT_KIND_I8:
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
        lua_pushinteger(L, (lua_Integer)thrift_value_int(v));
        return;
    case THRIFT_KIND_I64:
        push_i64(L, thrift_value_int(v));
        return;
    case THRIFT_KIND_DOUBLE:
        lua_pushnumber(L, (lua_Number)thrift_value_double(v));
        return;
    case THRIFT_KIND_STRING:
    case THRIFT_KIND_BINARY: {
        size_t len;
        const uint8_t *p = thrift_value_bytes(v, &len);
        lua_pushlstring(L, (const char *)p, len);
        return;
    }
    case THRIFT_KIND_UUID: {
        char text[37];
        thrift_uuid_format(thrift_value_uuid(v), text);
        lua_pushlstring(L, text, 36);
        return;
    }
    case THRIFT_KIND_ENUM: {
        const thrift_enum_def_t *e = thrift_type_def_enum(thrift_value_type(v));
        int64_t n = thrift_value_int(v);
        const thrift_enum_value_def_t *ev = e ? thrift_enum_def_find_number(e, (int32_t)n) : NULL;
        if (ev)
            lua_pushstring(L, thrift_enum_value_def_name(ev));
        else
            lua_pushinteger(L, (lua_Integer)n); /* undeclared: kept as its number */
        return;
    }
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET: {
        luaL_checkstack(L, 6, "dynthrift: value too deep");
        size_t n = thrift_value_count(v);
        lua_createtable(L, n < INT32_MAX ? (int)n : 0, 0);
        for (size_t i = 0; i < n; i++) {
            push_value(L, fields, thrift_value_at(v, i));
            lua_rawseti(L, -2, (int)(i + 1));
        }
        return;
    }
    case THRIFT_KIND_MAP: {
        luaL_checkstack(L, 6, "dynthrift: value too deep");
        size_t n = thrift_value_count(v);
        if (table_keyed_map(thrift_type_def_key(thrift_value_type(v)))) {
            lua_createtable(L, 0, n < INT32_MAX ? (int)n : 0);
            for (size_t i = 0; i < n; i++) {
                push_value(L, fields, thrift_value_map_key(v, i));
                push_value(L, fields, thrift_value_map_value(v, i));
                lua_rawset(L, -3);
            }
        } else {
            lua_createtable(L, n < INT32_MAX ? (int)n : 0, 0);
            for (size_t i = 0; i < n; i++) {
                lua_createtable(L, 2, 0);
                push_value(L, fields, thrift_value_map_key(v, i));
                lua_rawseti(L, -2, 1);
                push_value(L, fields, thrift_value_map_value(v, i));
                lua_rawseti(L, -2, 2);
                lua_rawseti(L, -2, (int)(i + 1));
            }
        }
        return;
    }
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION: {
        luaL_checkstack(L, 8, "dynthrift: value too deep");
        const thrift_struct_def_t *sd = thrift_value_struct_def(v);
        size_t n = thrift_struct_def_field_count(sd);
        int set = 0; /* the table's exact size: only set fields become keys */
        for (size_t i = 0; i < n; i++)
            set += thrift_value_get_at(v, i) != NULL;
        int names = 0;
        if (fields) {
            push_struct_fields(L, fields, sd);
            names = lua_gettop(L);
        }
        lua_createtable(L, 0, set);
        for (size_t i = 0; i < n; i++) {
            const thrift_value_t *fv = thrift_value_get_at(v, i);
            if (!fv)
                continue;
            if (names) {
                lua_rawgeti(L, names, (int)(i + 1));
                push_value(L, fields, fv);
                lua_rawset(L, -3);
            } else {
                push_value(L, fields, fv);
                lua_setfield(L, -2, thrift_field_def_name(thrift_struct_def_field_at(sd, i)));
            }
        }
        if (names)
            lua_remove(L, names);
        return;
    }
    default:
        lua_pushnil(L); /* void */
        return;
    }
}

/* ---- typed struct tables (s:new, exceptions) --------------------------- */

static int struct_tostring(lua_State *L);

/* Pushes the metatable of struct `sd` of the schema userdata at
 * `schema_idx`: {__name, __tostring, __dynthrift_struct, __dynthrift_schema},
 * cached in the schema's user value (which keeps the def valid as long as a
 * typed table lives). */
static void push_struct_mt(lua_State *L, int schema_idx, const thrift_struct_def_t *sd) {
    schema_idx = dt_absindex(L, schema_idx);
    luaL_checkstack(L, 6, "dynthrift");
    dt_getuv(L, schema_idx);
    lua_pushlightuserdata(L, (void *)sd);
    lua_rawget(L, -2);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_createtable(L, 0, 4);
        lua_pushstring(L, thrift_struct_def_name(sd));
        lua_setfield(L, -2, "__name");
        lua_pushcfunction(L, struct_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushlightuserdata(L, (void *)sd);
        lua_setfield(L, -2, MT_STRUCT_KEY);
        lua_pushvalue(L, schema_idx);
        lua_setfield(L, -2, MT_SCHEMA_KEY);
        lua_pushlightuserdata(L, (void *)sd);
        lua_pushvalue(L, -2);
        lua_rawset(L, -4);
    }
    lua_remove(L, -2);
}

/* The struct def of a typed table made by this module, or NULL. */
static const thrift_struct_def_t *typed_struct(lua_State *L, int idx) {
    if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx))
        return NULL;
    lua_getfield(L, -1, MT_STRUCT_KEY);
    const thrift_struct_def_t *sd = (const thrift_struct_def_t *)lua_touserdata(L, -1);
    lua_pop(L, 2);
    return sd;
}

/* "Oops{code=7, message="x"}": fields in declaration order. */
static int struct_tostring(lua_State *L) {
    const thrift_struct_def_t *sd = typed_struct(L, 1);
    if (!sd)
        return luaL_error(L, "not a dynthrift struct");
    size_t n = thrift_struct_def_field_count(sd);
    int parts = 0;
    luaL_checkstack(L, 8, "dynthrift");
    lua_pushstring(L, thrift_struct_def_name(sd));
    lua_pushliteral(L, "{");
    parts = 2;
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        const char *name = thrift_field_def_name(thrift_struct_def_field_at(sd, i));
        lua_getfield(L, 1, name);
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            continue;
        }
        if (lua_type(L, -1) == LUA_TSTRING) {
            lua_pushfstring(L, "%s%s=\"%s\"", first ? "" : ", ", name, lua_tostring(L, -1));
        } else {
            const char *s = dt_tostring(L, -1, NULL);
            lua_pushfstring(L, "%s%s=%s", first ? "" : ", ", name, s);
            lua_remove(L, -2);
        }
        lua_remove(L, -2);
        first = false;
        /* Keep the stack short: fold every few parts. */
        if (++parts >= 6) {
            lua_concat(L, parts);
            parts = 1;
        }
    }
    lua_pushliteral(L, "}");
    lua_concat(L, parts + 1);
    return 1;
}

/* ---- schemas ------------------------------------------------------------ */

typedef struct schema_ud {
    thrift_schema_t *schema;
} schema_ud_t;

static schema_ud_t *check_schema(lua_State *L, int idx) {
    schema_ud_t *s = (schema_ud_t *)luaL_checkudata(L, idx, SCHEMA_MT);
    if (!s->schema)
        luaL_error(L, "dynthrift: schema is not loaded");
    return s;
}

/* A new schema userdata, empty: the caller stores the schema in it. */
static schema_ud_t *new_schema_ud(lua_State *L) {
    schema_ud_t *s = (schema_ud_t *)dt_newudata(L, sizeof *s);
    s->schema = NULL;
    luaL_getmetatable(L, SCHEMA_MT);
    lua_setmetatable(L, -2);
    lua_newtable(L); /* typed-struct metatables by struct def, and the field cache */
    lua_newtable(L);
    lua_rawseti(L, -2, FIELD_CACHE_SLOT);
    dt_setuv(L, -2);
    return s;
}

static int schema_gc(lua_State *L) {
    schema_ud_t *s = (schema_ud_t *)luaL_checkudata(L, 1, SCHEMA_MT);
    thrift_schema_unref(s->schema);
    s->schema = NULL;
    return 0;
}

static int schema_tostring(lua_State *L) {
    schema_ud_t *s = (schema_ud_t *)luaL_checkudata(L, 1, SCHEMA_MT);
    const thrift_module_def_t *m = s->schema ? thrift_schema_main_module(s->schema) : NULL;
    lua_pushfstring(L, "dynthrift.schema(%s)", m ? thrift_module_def_path(m) : "?");
    return 1;
}

/* include_dirs from an options table at `opts` (strings kept alive on the
 * stack by the table itself). */
static size_t collect_include_dirs(lua_State *L, int opts, const char **dirs, size_t max) {
    size_t n = 0;
    if (lua_isnoneornil(L, opts))
        return 0;
    luaL_checktype(L, opts, LUA_TTABLE);
    lua_getfield(L, opts, "include_dirs");
    if (lua_istable(L, -1)) {
        size_t len = dt_rawlen(L, -1);
        if (len > max)
            luaL_error(L, "dynthrift: more than %d include_dirs", (int)max);
        for (size_t i = 1; i <= len; i++) {
            lua_rawgeti(L, -1, (int)i);
            if (lua_type(L, -1) != LUA_TSTRING)
                luaL_error(L, "dynthrift: include_dirs[%d] is not a string", (int)i);
            dirs[n++] = lua_tostring(L, -1);
            lua_pop(L, 1); /* still referenced by the table */
        }
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "dynthrift: include_dirs must be a list of strings");
    }
    lua_pop(L, 1);
    return n;
}

/* dt.load(path [, {include_dirs = {...}}]) -> schema */
static int dt_load(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    const char *dirs[64];
    thrift_load_options_t o;
    memset(&o, 0, sizeof o);
    o.include_dirs = dirs;
    o.include_dir_count = collect_include_dirs(L, 2, dirs, 64);
    schema_ud_t *s = new_schema_ud(L);
    thrift_error_t err;
    thrift_error_clear(&err);
    s->schema = thrift_load_ex(path, &o, &err);
    if (!s->schema)
        return raise_rendered(L, &err, false);
    return 1;
}

typedef struct include_ctx {
    lua_State *L;
    int resolver;   /* stack index of the resolver function */
    int error_slot; /* stack index holding the resolver's error (or nil) */
    bool failed;
} include_ctx_t;

/* Asks the Lua resolver for an included file, under lua_pcall: this runs
 * inside thrift_load_string, which a Lua error must not unwind. */
static bool lua_include_cb(thrift_include_request_t *req, const char *includer,
                           const char *path, void *ud) {
    include_ctx_t *ic = (include_ctx_t *)ud;
    lua_State *L = ic->L;
    if (ic->failed || !lua_checkstack(L, 4))
        return false;
    lua_pushvalue(L, ic->resolver);
    lua_pushstring(L, path);
    lua_pushstring(L, includer ? includer : "");
    if (lua_pcall(L, 2, 1, 0) != 0) {
        ic->failed = true;
        lua_replace(L, ic->error_slot);
        return false;
    }
    bool ok = false;
    if (lua_type(L, -1) == LUA_TSTRING) {
        size_t len;
        const char *text = lua_tolstring(L, -1, &len);
        thrift_include_provide(req, path, text, len);
        ok = true;
    }
    lua_pop(L, 1);
    return ok;
}

/* dt.load_string(text, name [, {resolver = function(path, includer) ... end,
 * include_dirs = {...}}]) -> schema */
static int dt_load_string(lua_State *L) {
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, "<string>.thrift");
    const char *dirs[64];
    thrift_load_options_t o;
    memset(&o, 0, sizeof o);
    o.include_dirs = dirs;
    o.include_dir_count = collect_include_dirs(L, 3, dirs, 64);
    include_ctx_t ic = {L, 0, 0, false};
    if (!lua_isnoneornil(L, 3)) {
        lua_getfield(L, 3, "resolver");
        if (lua_isfunction(L, -1)) {
            ic.resolver = lua_gettop(L);
            lua_pushnil(L);
            ic.error_slot = lua_gettop(L);
            o.include_cb = lua_include_cb;
            o.include_ud = &ic;
        } else if (!lua_isnil(L, -1)) {
            return luaL_error(L, "dynthrift: resolver must be a function");
        }
    }
    schema_ud_t *s = new_schema_ud(L);
    thrift_error_t err;
    thrift_error_clear(&err);
    s->schema = thrift_load_string(name, text, len, &o, &err);
    if (ic.failed) {
        lua_pushvalue(L, ic.error_slot);
        return lua_error(L);
    }
    if (!s->schema)
        return raise_rendered(L, &err, false);
    return 1;
}

static const thrift_struct_def_t *find_struct(lua_State *L, thrift_schema_t *schema,
                                              const char *name) {
    const thrift_struct_def_t *sd = thrift_schema_find_struct(schema, name);
    if (!sd)
        luaL_error(L, "dynthrift: no struct, union or exception named '%s'", name);
    return sd;
}

/* s:new("Type" [, fields]) -> a typed table with the IDL defaults filled. */
static int schema_new(lua_State *L) {
    schema_ud_t *s = check_schema(L, 1);
    const char *name = luaL_checkstring(L, 2);
    const thrift_struct_def_t *sd = find_struct(L, s->schema, name);
    lua_settop(L, 3);
    push_field_cache(L, 1);
    conv_t c;
    conv_init(&c, L, scratch_arena(L, state_of(L)), thrift_struct_def_name(sd));
    c.fields = 4;
    thrift_value_t *v;
    if (lua_isnil(L, 3))
        v = conv_check(&c, thrift_value_new_struct(c.arena, sd));
    else
        v = conv_struct(&c, 3, sd);
    push_value(L, 4, v);
    push_struct_mt(L, 1, sd);
    lua_setmetatable(L, -2);
    return 1;
}

/* s:type_of(table) -> the type name of a typed table, or nil. */
static int schema_type_of(lua_State *L) {
    check_schema(L, 1);
    const thrift_struct_def_t *sd = typed_struct(L, 2);
    if (!sd)
        return 0;
    lua_pushstring(L, thrift_struct_def_name(sd));
    return 1;
}

/* ---- codec -------------------------------------------------------------- */

static thrift_protocol_t check_protocol(lua_State *L, int idx) {
    thrift_protocol_t p = THRIFT_PROTO_BINARY;
    if (!lua_isnoneornil(L, idx) && !thrift_protocol_parse(luaL_checkstring(L, idx), &p))
        luaL_error(L, "dynthrift: unknown protocol '%s' (binary, compact, json)",
                   lua_tostring(L, idx));
    return p;
}

static const thrift_type_def_t *find_type(lua_State *L, thrift_schema_t *schema,
                                          const char *name) {
    const thrift_type_def_t *t = thrift_schema_find_type(schema, name);
    if (!t)
        luaL_error(L, "dynthrift: no type named '%s'", name);
    return t;
}

/* dt.encode(s, "Type", value [, protocol]) -> bytes */
static int dt_encode(lua_State *L) {
    dt_state_t *st = state_of(L);
    schema_ud_t *s = check_schema(L, 1);
    const char *name = luaL_checkstring(L, 2);
    luaL_checkany(L, 3);
    thrift_protocol_t proto = check_protocol(L, 4);
    const thrift_type_def_t *t = find_type(L, s->schema, name);
    lua_settop(L, 4);
    push_field_cache(L, 1);
    conv_t c;
    conv_init(&c, L, scratch_arena(L, st), name);
    c.fields = 5;
    thrift_value_t *v = to_value(&c, 3, t);
    if (!st->buf && !(st->buf = thrift_buffer_new()))
        return luaL_error(L, "dynthrift: out of memory");
    thrift_buffer_clear(st->buf);
    thrift_error_t err;
    thrift_error_clear(&err);
    if (thrift_encode(proto, v, st->buf, &err) != THRIFT_OK)
        return raise_rendered(L, &err, true);
    lua_pushlstring(L, (const char *)thrift_buffer_data(st->buf), thrift_buffer_len(st->buf));
    return 1;
}

/* dt.decode(s, "Type", bytes [, protocol]) -> value.  The whole string must
 * be one value: trailing bytes are an error. */
static int dt_decode(lua_State *L) {
    dt_state_t *st = state_of(L);
    schema_ud_t *s = check_schema(L, 1);
    const char *name = luaL_checkstring(L, 2);
    size_t len;
    const char *data = luaL_checklstring(L, 3, &len);
    thrift_protocol_t proto = check_protocol(L, 4);
    const thrift_type_def_t *t = find_type(L, s->schema, name);
    thrift_arena_t *arena = scratch_arena(L, st);
    thrift_error_t err;
    thrift_error_clear(&err);
    size_t used = 0;
    thrift_value_t *v = thrift_decode(proto, t, (const uint8_t *)data, len, arena, NULL, &used, &err);
    if (!v)
        return raise_rendered(L, &err, true);
    if (used != len)
        return luaL_error(L, "<%s>@%d: %d trailing bytes after the %s value",
                          thrift_protocol_name(proto), (int)used, (int)(len - used), name);
    lua_settop(L, 4);
    push_field_cache(L, 1);
    push_value(L, 5, v);
    return 1;
}

/* ---- connection options -------------------------------------------------- */

/* Builds options from a Lua table: protocol, transport, timeout_ms (the
 * call deadline), multiplex (a name, or true), and any other key passed as
 * text to thrift_conn_options_set, so options the C library gains (TLS,
 * HTTP, THeader...) work without binding changes.  Keys the binding
 * consumes itself are skipped here (`async`).  On error frees and raises. */
static thrift_conn_options_t *build_options(lua_State *L, int idx, bool *async) {
    thrift_conn_options_t *o = thrift_conn_options_new();
    if (!o)
        luaL_error(L, "dynthrift: out of memory");
    if (async)
        *async = false;
    if (lua_isnoneornil(L, idx))
        return o;
    if (lua_type(L, idx) != LUA_TTABLE) {
        thrift_conn_options_free(o);
        luaL_error(L, "dynthrift: options must be a table");
    }
    idx = dt_absindex(L, idx);
    char msg[600] = "";
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            snprintf(msg, sizeof msg, "option keys are strings");
            lua_pop(L, 2);
            break;
        }
        const char *key = lua_tostring(L, -2);
        char text[64];
        const char *value = NULL;
        if (strcmp(key, "async") == 0) {
            if (async)
                *async = lua_toboolean(L, -1);
            lua_pop(L, 1);
            continue;
        }
        if (strcmp(key, "headers") == 0) { /* dt.client sets them on the connection */
            lua_pop(L, 1);
            continue;
        }
        if (strcmp(key, "timeout_ms") == 0)
            key = "call_timeout_ms";
        if (strcmp(key, "multiplex") == 0)
            key = lua_type(L, -1) == LUA_TBOOLEAN ? "multiplexed" : "multiplex_name";
        switch (lua_type(L, -1)) {
        case LUA_TBOOLEAN:
            value = lua_toboolean(L, -1) ? "1" : "0";
            break;
        case LUA_TNUMBER: {
            double d = (double)lua_tonumber(L, -1);
            if (d == floor(d) && fabs(d) < 1e18)
                snprintf(text, sizeof text, "%lld", (long long)d);
            else
                snprintf(text, sizeof text, "%.17g", d);
            value = text;
            break;
        }
        case LUA_TSTRING:
            value = lua_tostring(L, -1);
            break;
        default:
            snprintf(msg, sizeof msg, "option '%s': expected a string, number or boolean, got %s",
                     key, luaL_typename(L, -1));
            break;
        }
        if (value) {
            thrift_error_t err;
            thrift_error_clear(&err);
            thrift_status_t rc = thrift_conn_options_set(o, key, value, &err);
            if (rc == THRIFT_NOT_FOUND)
                snprintf(msg, sizeof msg, "unknown option '%s'", key);
            else if (rc != THRIFT_OK)
                snprintf(msg, sizeof msg, "option '%s' = '%.60s': %s", key, value,
                         err.text[0] ? err.text : thrift_status_str(rc));
        }
        lua_pop(L, 1);
        if (msg[0]) {
            lua_pop(L, 1);
            break;
        }
    }
    if (msg[0]) {
        thrift_conn_options_free(o);
        luaL_error(L, "dynthrift: %s", msg);
    }
    return o;
}

/* ---- clients ----------------------------------------------------------- */

typedef struct client {
    thrift_conn_t *conn;
    lua_Integer call_timeout_ms; /* the client's timeout_ms option, 0 if none */
    thrift_arena_t *arena; /* args of the current call */
    dt_state_t *st;
    bool async;
    bool in_gc;
} client_t;

/* User value of a client: [1] schema userdata, [2] state userdata, and the
 * method closures cached by name. */

static client_t *check_client(lua_State *L, int idx) {
    client_t *c = (client_t *)luaL_checkudata(L, idx, CLIENT_MT);
    if (!c->conn) {
        thrift_error_t err;
        thrift_error_clear(&err);
        err.code = THRIFT_CLOSED;
        snprintf(err.text, sizeof err.text, "the client is closed");
        raise_error_table(L, &err, -1);
    }
    return c;
}

static void push_client_schema(lua_State *L, int client_idx) {
    dt_getuv(L, client_idx);
    lua_rawgeti(L, -1, 1);
    lua_remove(L, -2);
}

static void client_free_conn(lua_State *L, client_t *c) {
    if (!c->conn)
        return;
    thrift_conn_t *conn = c->conn;
    c->conn = NULL;
    /* Pending async calls fail here (CLOSED); their callbacks need L. */
    lua_State *saved = c->st ? c->st->L : NULL;
    if (c->st)
        c->st->L = L;
    thrift_conn_free(conn);
    if (c->st)
        c->st->L = saved;
}

static int client_gc(lua_State *L) {
    client_t *c = (client_t *)luaL_checkudata(L, 1, CLIENT_MT);
    c->in_gc = true;
    client_free_conn(L, c);
    thrift_arena_free(c->arena);
    c->arena = NULL;
    return 0;
}

static int client_close(lua_State *L) {
    client_t *c = (client_t *)luaL_checkudata(L, 1, CLIENT_MT);
    client_free_conn(L, c);
    return 0;
}

static thrift_arena_t *client_arena(lua_State *L, client_t *c) {
    if (!c->arena && !(c->arena = thrift_arena_new(NULL)))
        luaL_error(L, "dynthrift: out of memory");
    thrift_arena_reset(c->arena);
    return c->arena;
}

/* Raises what a failed blocking call left: the declared exception as a
 * typed table, anything else as an error table. */
static int raise_call_error(lua_State *L, int client_idx, client_t *c, const thrift_error_t *err) {
    thrift_result_t *r = thrift_conn_last_result(c->conn);
    if (err->code == THRIFT_DECLARED_EXCEPTION && r && thrift_result_value(r)) {
        const thrift_value_t *ex = thrift_result_value(r);
        push_value(L, 0, ex);
        push_client_schema(L, client_idx);
        push_struct_mt(L, -1, thrift_value_struct_def(ex));
        lua_remove(L, -2);
        lua_setmetatable(L, -2);
        return lua_error(L);
    }
    int app = err->code == THRIFT_APP_EXCEPTION && r ? thrift_result_app_type(r) : -1;
    return raise_error_table(L, err, app);
}

/* Pushes a call's result value; a container or struct through the field
 * cache of the schema of the client at `client_idx` (a scalar directly,
 * which is cheaper than finding the cache).  Leaves only the value. */
static void push_call_result(lua_State *L, int client_idx, const thrift_value_t *v) {
    switch (thrift_value_kind(v)) {
    case THRIFT_KIND_STRUCT: case THRIFT_KIND_UNION: case THRIFT_KIND_EXCEPTION:
    case THRIFT_KIND_LIST: case THRIFT_KIND_SET: case THRIFT_KIND_MAP: {
        client_idx = dt_absindex(L, client_idx);
        push_client_schema(L, client_idx);
        push_field_cache(L, -1);
        push_value(L, lua_gettop(L), v);
        lua_replace(L, -3); /* over the schema; then the cache goes */
        lua_pop(L, 1);
        return;
    }
    default:
        push_value(L, 0, v);
        return;
    }
}

static int do_call(lua_State *L, client_t *c, const thrift_function_def_t *fn,
                   const thrift_value_t *args) {
    if (c->async)
        return luaL_error(L, "dynthrift: blocking call on an async client (use call_async)");
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_value_t *r = thrift_call(c->conn, thrift_function_def_name(fn), args, &err);
    if (!r)
        return raise_call_error(L, 1, c, &err);
    if (thrift_value_kind(r) == THRIFT_KIND_VOID)
        return 0;
    push_call_result(L, 1, r);
    return 1;
}

static const thrift_function_def_t *client_function(lua_State *L, client_t *c, const char *name) {
    const thrift_service_def_t *svc = thrift_conn_service(c->conn);
    const thrift_function_def_t *fn = thrift_service_def_find_function(svc, name);
    if (!fn)
        luaL_error(L, "dynthrift: no method '%s' in service %s", name, thrift_service_def_name(svc));
    return fn;
}

/* The args struct of `fn` from a table keyed by argument name at `idx`. */
static thrift_value_t *args_by_name(lua_State *L, client_t *c, thrift_arena_t *arena,
                                    const thrift_function_def_t *fn, int idx) {
    const thrift_struct_def_t *ad = thrift_function_def_args(fn);
    conv_t cv;
    conv_init(&cv, L, arena, thrift_function_def_name(fn));
    (void)c;
    if (lua_isnoneornil(L, idx))
        return conv_check(&cv, thrift_value_new_struct(arena, ad));
    return conv_struct(&cv, idx, ad);
}

/* A method closure: c:add(2, 40), arguments positional in IDL order. */
static int client_method(lua_State *L) {
    client_t *c = check_client(L, 1);
    const thrift_function_def_t *fn =
        (const thrift_function_def_t *)lua_touserdata(L, lua_upvalueindex(1));
    const thrift_struct_def_t *ad = thrift_function_def_args(fn);
    size_t nfields = thrift_struct_def_field_count(ad);
    int nargs = lua_gettop(L) - 1;
    if ((size_t)nargs > nfields)
        return luaL_error(L, "dynthrift: %s takes %d argument%s, got %d", thrift_function_def_name(fn),
                          (int)nfields, nfields == 1 ? "" : "s", nargs);
    thrift_arena_t *arena = client_arena(L, c);
    conv_t cv;
    conv_init(&cv, L, arena, thrift_function_def_name(fn));
    thrift_value_t *args = conv_check(&cv, thrift_value_new_struct(arena, ad));
    for (int i = 0; i < nargs; i++) {
        if (lua_isnil(L, 2 + i))
            continue;
        const thrift_field_def_t *f = thrift_struct_def_field_at(ad, (size_t)i);
        int old = path_field(&cv, thrift_field_def_name(f));
        thrift_value_t *v = to_value(&cv, 2 + i, thrift_field_def_type(f));
        if (thrift_value_set_at(args, (size_t)i, v) != THRIFT_OK)
            conv_fail(&cv, "cannot store argument");
        path_pop(&cv, old);
    }
    return do_call(L, c, fn, args);
}

/* c:call("add", {a = 2, b = 40}) */
static int client_call(lua_State *L) {
    client_t *c = check_client(L, 1);
    const thrift_function_def_t *fn = client_function(L, c, luaL_checkstring(L, 2));
    thrift_value_t *args = args_by_name(L, c, client_arena(L, c), fn, 3);
    return do_call(L, c, fn, args);
}

/* c:set_header(key, value): sent with every call from now on;
 * c:set_call_header(key, value): with the next call only (blocking or
 * call_async).  nil removes the key.  THeader connections only (others
 * send no headers). */
static int client_header(lua_State *L, bool every_call) {
    client_t *c = check_client(L, 1);
    const char *key = check_header_text(L, 2, "key");
    const char *value = lua_isnoneornil(L, 3) ? NULL : check_header_text(L, 3, "value");
    thrift_status_t rc = every_call ? thrift_conn_set_header(c->conn, key, value)
                                    : thrift_conn_set_call_header(c->conn, key, value);
    check_header_status(L, rc, key);
    return 0;
}

static int client_set_header(lua_State *L) { return client_header(L, true); }
static int client_set_call_header(lua_State *L) { return client_header(L, false); }

/* c:reply_headers() -> {key = value} of the last blocking call's reply
 * (its declared exception or error included); async calls get theirs as
 * the callback's third argument. */
static int client_reply_headers(lua_State *L) {
    client_t *c = check_client(L, 1);
    push_headers(L, result_header_at, c->async ? NULL : thrift_conn_last_result(c->conn));
    return 1;
}

static int client_pending(lua_State *L) {
    client_t *c = (client_t *)luaL_checkudata(L, 1, CLIENT_MT);
    lua_pushinteger(L, c->conn ? (lua_Integer)thrift_conn_pending(c->conn) : 0);
    return 1;
}

static int client_tostring(lua_State *L) {
    client_t *c = (client_t *)luaL_checkudata(L, 1, CLIENT_MT);
    lua_pushfstring(L, "dynthrift.client(%s%s)",
                    c->conn ? thrift_service_def_name(thrift_conn_service(c->conn)) : "closed",
                    c->async ? ", async" : "");
    return 1;
}

/* ---- async calls ------------------------------------------------------- */

typedef struct pending_call {
    dt_state_t *st;
    client_t *client;
    int cb_ref;     /* the Lua callback */
    int client_ref; /* the client userdata, kept alive while the call runs */
    double deadline; /* ev_time() when the call times out; 0: no timeout */
    struct pending_call *prev, *next; /* st->pending, for dt.next_timeout */
} pending_call_t;

static void pending_unlink(pending_call_t *p) {
    if (p->prev)
        p->prev->next = p->next;
    else
        p->st->pending = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->prev = p->next = NULL;
}

typedef struct delivery {
    pending_call_t *p;
    thrift_result_t *result;
} delivery_t;

/* Under lua_pcall: callback(value, nil, headers) on success,
 * callback(nil, err, headers) on a declared exception (a typed table) or
 * any other error (an error table); headers: the reply's info headers. */
static int deliver(lua_State *L) {
    delivery_t *d = (delivery_t *)lua_touserdata(L, 1);
    thrift_result_t *r = d->result;
    lua_rawgeti(L, LUA_REGISTRYINDEX, d->p->cb_ref);
    thrift_status_t status = thrift_result_status(r);
    if (status == THRIFT_OK) {
        const thrift_value_t *v = thrift_result_value(r);
        if (v && thrift_value_kind(v) != THRIFT_KIND_VOID) {
            lua_rawgeti(L, LUA_REGISTRYINDEX, d->p->client_ref);
            push_call_result(L, -1, v);
            lua_remove(L, -2);
        } else {
            lua_pushnil(L);
        }
        lua_pushnil(L);
        push_headers(L, result_header_at, r);
        lua_call(L, 3, 0);
        return 0;
    }
    lua_pushnil(L);
    if (status == THRIFT_DECLARED_EXCEPTION && thrift_result_value(r)) {
        const thrift_value_t *ex = thrift_result_value(r);
        push_value(L, 0, ex);
        lua_rawgeti(L, LUA_REGISTRYINDEX, d->p->client_ref);
        push_client_schema(L, lua_gettop(L));
        push_struct_mt(L, -1, thrift_value_struct_def(ex));
        lua_setmetatable(L, -4);
        lua_pop(L, 2);
    } else {
        push_error_table(L, thrift_result_error(r),
                         status == THRIFT_APP_EXCEPTION ? thrift_result_app_type(r) : -1);
    }
    push_headers(L, result_header_at, r);
    lua_call(L, 3, 0);
    return 0;
}

static void on_async_result(thrift_conn_t *conn, thrift_result_t *result, void *ud) {
    (void)conn;
    pending_call_t *p = (pending_call_t *)ud;
    dt_state_t *st = p->st;
    lua_State *L = st->L;
    if (L && !p->client->in_gc && lua_checkstack(L, 4)) {
        delivery_t d = {p, result};
        lua_pushcfunction(L, deliver);
        lua_pushlightuserdata(L, &d);
        if (lua_pcall(L, 1, 0, 0) != 0) {
            if (st->first_error == LUA_NOREF)
                st->first_error = luaL_ref(L, LUA_REGISTRYINDEX);
            else
                lua_pop(L, 1);
        }
        st->callbacks_run++;
    }
    if (L) {
        luaL_unref(L, LUA_REGISTRYINDEX, p->cb_ref);
        luaL_unref(L, LUA_REGISTRYINDEX, p->client_ref);
    }
    pending_unlink(p);
    free(p);
}

/* c:call_async("add", {a = 2, b = 40}, function(result, err) ... end [, timeout_ms])
 * The callback runs later, from dt.poll. */
static int client_call_async(lua_State *L) {
    client_t *c = check_client(L, 1);
    if (!c->async)
        return luaL_error(L, "dynthrift: call_async needs a client made with {async = true}");
    const thrift_function_def_t *fn = client_function(L, c, luaL_checkstring(L, 2));
    luaL_checktype(L, 4, LUA_TFUNCTION);
    lua_Integer timeout = luaL_optinteger(L, 5, 0);
    thrift_value_t *args = args_by_name(L, c, client_arena(L, c), fn, 3);
    pending_call_t *p = (pending_call_t *)malloc(sizeof *p);
    if (!p)
        return luaL_error(L, "dynthrift: out of memory");
    p->st = c->st;
    p->client = c;
    lua_Integer effective = timeout > 0 ? timeout : c->call_timeout_ms;
    p->deadline = effective > 0 ? ev_time() + (double)effective / 1000.0 : 0.0;
    p->prev = NULL;
    p->next = c->st->pending;
    if (p->next)
        p->next->prev = p;
    c->st->pending = p;
    lua_pushvalue(L, 4);
    p->cb_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, 1);
    p->client_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_status_t rc = thrift_call_async_ex(c->conn, thrift_function_def_name(fn), args,
                                              timeout > 0 ? (uint32_t)timeout : 0,
                                              on_async_result, p, &err);
    if (rc != THRIFT_OK) {
        luaL_unref(L, LUA_REGISTRYINDEX, p->cb_ref);
        luaL_unref(L, LUA_REGISTRYINDEX, p->client_ref);
        pending_unlink(p);
        free(p);
        if (!err.code)
            err.code = rc;
        return raise_error_table(L, &err, -1);
    }
    return 0;
}

static void on_poll_timeout(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ONE);
}

/* dt.poll([timeout_ms]) -> number of callbacks run.  Runs the async loop
 * until at least one callback ran, the timeout passed (0: only what is
 * ready; negative or nil: until a callback ran or nothing is pending), or
 * nothing is left to wait for.  A callback's error is raised after the
 * loop stops. */
static int dt_poll(lua_State *L) {
    dt_state_t *st = state_of(L);
    lua_Number ms = luaL_optnumber(L, 1, -1);
    if (!st->loop) {
        lua_pushinteger(L, 0);
        return 1;
    }
    st->L = L;
    st->callbacks_run = 0;
    if (ms == 0) {
        ev_run(st->loop, EVRUN_NOWAIT);
    } else {
        ev_timer timer;
        ev_timer_init(&timer, on_poll_timeout, ms > 0 ? (double)ms / 1000.0 : 0.0, 0.0);
        if (ms > 0)
            ev_timer_start(st->loop, &timer);
        /* A fired one-shot timer is inactive: the loop then ends. */
        while (st->callbacks_run == 0 && (ms < 0 || ev_is_active(&timer)))
            if (!ev_run(st->loop, EVRUN_ONCE))
                break;
        if (ms > 0)
            ev_timer_stop(st->loop, &timer);
    }
    st->L = NULL;
    if (st->first_error != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, st->first_error);
        luaL_unref(L, LUA_REGISTRYINDEX, st->first_error);
        st->first_error = LUA_NOREF;
        return lua_error(L);
    }
    lua_pushinteger(L, st->callbacks_run);
    return 1;
}

/* The async loop, made on first use: pollable (thrift_loop_new_pollable)
 * where the system allows, so that dt.fd() can give the host its
 * descriptor. */
static struct ev_loop *async_loop(dt_state_t *st) {
    if (!st->loop)
        st->loop = thrift_loop_new_pollable();
    return st->loop;
}

/* dt.fd() -> a descriptor the host's own loop (poll, epoll, an OpenResty
 * or game-loop fd watcher) waits on for readability; when it is readable,
 * call dt.poll(0).  nil where the loop's backend has no such descriptor.
 * The module owns it: never read or close it. */
static int dt_fd(lua_State *L) {
    dt_state_t *st = state_of(L);
    struct ev_loop *loop = async_loop(st);
    if (!loop)
        return luaL_error(L, "dynthrift: out of memory");
    int fd = thrift_loop_pollable_fd(loop);
    if (fd < 0)
        lua_pushnil(L);
    else
        lua_pushinteger(L, fd);
    return 1;
}

/* dt.next_timeout() -> milliseconds until the nearest async call deadline
 * (0 when one has passed: call dt.poll(0) now), or nil when no pending call
 * has a timeout.  Timers do not make dt.fd() readable: a host waits on the
 * descriptor for at most this long. */
static int dt_next_timeout(lua_State *L) {
    dt_state_t *st = state_of(L);
    double nearest = 0.0;
    for (const pending_call_t *p = st->pending; p; p = p->next)
        if (p->deadline > 0.0 && (nearest == 0.0 || p->deadline < nearest))
            nearest = p->deadline;
    if (nearest == 0.0) {
        lua_pushnil(L);
        return 1;
    }
    double ms = (nearest - ev_time()) * 1000.0;
    /* Rounded up, so that a host waking at that time finds it expired. */
    lua_pushinteger(L, ms <= 0.0 ? 0 : (lua_Integer)ms + 1);
    return 1;
}

/* ---- dt.client --------------------------------------------------------- */

/* The `headers = {key = value}` option: info headers sent with every call. */
static void set_option_headers(lua_State *L, int opts, thrift_conn_t *conn) {
    lua_getfield(L, opts, "headers");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    if (!lua_istable(L, -1))
        luaL_error(L, "dynthrift: option 'headers' must be a table {key = value}");
    int t = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "dynthrift: option 'headers' maps strings to strings");
        const char *key = check_header_text(L, -2, "key");
        check_header_status(L, thrift_conn_set_header(conn, key, check_header_text(L, -1, "value")),
                            key);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* dt.client(s, "Service", "host:port" | "unix:/path" [, opts]) */
static int dt_client(lua_State *L) {
    dt_state_t *st = state_of(L);
    schema_ud_t *s = check_schema(L, 1);
    const char *service = luaL_optstring(L, 2, NULL);
    const char *address = luaL_checkstring(L, 3);
    lua_settop(L, 4); /* options at 4 (or nil) before anything is pushed */
    client_t *c = (client_t *)dt_newudata(L, sizeof *c);
    memset(c, 0, sizeof *c);
    c->st = st;
    luaL_getmetatable(L, CLIENT_MT);
    lua_setmetatable(L, -2);
    lua_createtable(L, 2, 4);
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_rawseti(L, -2, 2);
    dt_setuv(L, -2);
    int client_idx = lua_gettop(L);
    bool async = false;
    thrift_conn_options_t *o = build_options(L, 4, &async);
    thrift_error_t err;
    thrift_error_clear(&err);
    if (async) {
        if (async_loop(st))
            c->conn = thrift_conn_new(st->loop, s->schema, service, address, o, &err);
        else
            err.code = THRIFT_NOMEM;
    } else {
        c->conn = thrift_connect(s->schema, service, address, o, &err);
    }
    thrift_conn_options_free(o);
    c->async = async;
    if (!c->conn)
        return raise_error_table(L, &err, -1);
    if (lua_istable(L, 4)) {
        lua_getfield(L, 4, "timeout_ms");
        c->call_timeout_ms = lua_isnumber(L, -1) ? lua_tointeger(L, -1) : 0;
        lua_pop(L, 1);
        set_option_headers(L, 4, c->conn);
    }
    lua_settop(L, client_idx);
    return 1;
}

/* __index: built-in methods first, then a cached closure per IDL method. */
static int client_index(lua_State *L) {
    luaL_checkudata(L, 1, CLIENT_MT);
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1)); /* built-in methods */
    if (!lua_isnil(L, -1))
        return 1;
    lua_pop(L, 1);
    if (lua_type(L, 2) != LUA_TSTRING)
        return 0;
    dt_getuv(L, 1);
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    if (!lua_isnil(L, -1))
        return 1;
    lua_pop(L, 1);
    client_t *c = (client_t *)lua_touserdata(L, 1);
    if (!c->conn)
        return 0;
    const thrift_function_def_t *fn =
        thrift_service_def_find_function(thrift_conn_service(c->conn), lua_tostring(L, 2));
    if (!fn)
        return 0;
    lua_pushlightuserdata(L, (void *)fn);
    lua_pushcclosure(L, client_method, 1);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
    return 1;
}

/* ---- servers ------------------------------------------------------------ */

typedef struct server {
    thrift_rpc_server_t *srv;
    struct ev_loop *loop; /* its own, or (async) the module's dt.poll loop */
    lua_State *L;     /* during run() */
    int handlers_idx; /* during run(): stack index of {fn def -> function} */
    ev_signal sigint, sigterm;
    bool stopping, stopped;
    /* {async = true}: served by dt.poll on the module's loop, and kept
     * alive (self_ref, a registry reference to the userdata) until
     * srv:close(), as a listening socket should not vanish with the last
     * Lua reference. */
    bool async;
    dt_state_t *st;
    int self_ref;
    int in_handler; /* handlers running: the server cannot be freed under them */
} server_t;

static server_t *check_server(lua_State *L, int idx) {
    server_t *s = (server_t *)luaL_checkudata(L, idx, SERVER_MT);
    if (!s->srv)
        luaL_error(L, "dynthrift: the server is closed");
    return s;
}

static void server_free(lua_State *L, server_t *s) {
    if (s->srv)
        thrift_rpc_server_free(s->srv);
    s->srv = NULL;
    if (s->loop && !s->async)
        ev_loop_destroy(s->loop);
    s->loop = NULL;
    luaL_unref(L, LUA_REGISTRYINDEX, s->self_ref);
    s->self_ref = LUA_NOREF;
}

static int server_gc(lua_State *L) {
    server_t *s = (server_t *)luaL_checkudata(L, 1, SERVER_MT);
    if (s->L) /* collected while running cannot happen: run holds it */
        return 0;
    server_free(L, s);
    return 0;
}

/* ---- requests: a handler's last argument --------------------------------- */

/* A request a handler keeps to answer later (req:defer()).  Shared by the
 * Lua object and the library's cancel callback: the library may cancel the
 * request (its connection closed, the server freed) while Lua holds the
 * object; the object's __gc lets go of a request still held.  Freed by the
 * __gc, after which the cancel callback cannot run (the request is
 * answered or abandoned by then). */
typedef struct deferral {
    thrift_request_t *req; /* NULL once answered or cancelled */
    bool cancelled;
} deferral_t;

typedef struct request_ud {
    thrift_request_t *req; /* while the handler runs */
    deferral_t *def;       /* after req:defer() */
} request_ud_t;

static const char REQUEST_MT[] = "dynthrift.request";

/* The request behind the object, or raises: over (the handler returned
 * without deferring, or it was answered) or cancelled. */
static thrift_request_t *check_request(lua_State *L, int idx) {
    request_ud_t *r = (request_ud_t *)luaL_checkudata(L, idx, REQUEST_MT);
    thrift_request_t *req = r->def ? r->def->req : r->req;
    if (req)
        return req;
    if (r->def && r->def->cancelled)
        luaL_error(L, "dynthrift: the request was cancelled (its connection closed or the "
                      "server was closed)");
    luaL_error(L, "dynthrift: the request is over (answered, or its handler returned without "
                  "req:defer())");
    return NULL;
}

/* req:header(key) -> the request's info header, or nil. */
static int request_header(lua_State *L) {
    thrift_request_t *req = check_request(L, 1);
    const char *v = thrift_request_header(req, luaL_checkstring(L, 2));
    if (!v)
        return 0;
    lua_pushstring(L, v);
    return 1;
}

/* req:headers() -> {key = value} (empty for framings other than THeader). */
static int request_headers(lua_State *L) {
    push_headers(L, request_header_at, check_request(L, 1));
    return 1;
}

/* req:set_reply_header(key, value): an info header for the reply. */
static int request_set_reply_header(lua_State *L) {
    thrift_request_t *req = check_request(L, 1);
    const char *key = check_header_text(L, 2, "key");
    check_header_status(L, thrift_request_set_reply_header(req, key, check_header_text(L, 3, "value")),
                        key);
    return 0;
}

static int request_method(lua_State *L) {
    lua_pushstring(L, thrift_request_method(check_request(L, 1)));
    return 1;
}

/* req:cancelled() -> true once a deferred request's connection closed. */
static int request_cancelled(lua_State *L) {
    request_ud_t *r = (request_ud_t *)luaL_checkudata(L, 1, REQUEST_MT);
    lua_pushboolean(L, r->def && r->def->cancelled);
    return 1;
}

static void on_request_cancelled(thrift_request_t *req, void *ud) {
    deferral_t *def = (deferral_t *)ud;
    thrift_request_abandon(req); /* frees the tombstone: nothing is sent */
    def->req = NULL;
    def->cancelled = true;
}

/* req:defer() -> req.  In a handler: the handler's return value is
 * ignored, and the request is answered later with req:reply(value) or
 * req:fail(err), from any later handler or dt.poll callback. */
static int request_defer(lua_State *L) {
    request_ud_t *r = (request_ud_t *)luaL_checkudata(L, 1, REQUEST_MT);
    if (!r->req || r->def)
        return luaL_error(L, "dynthrift: req:defer() is for a handler that is running, once");
    if (thrift_request_is_oneway(r->req))
        return luaL_error(L, "dynthrift: a oneway request has no reply to defer");
    deferral_t *def = (deferral_t *)malloc(sizeof *def);
    if (!def)
        return luaL_error(L, "dynthrift: out of memory");
    def->req = r->req;
    def->cancelled = false;
    if (thrift_request_set_cancel_cb(r->req, on_request_cancelled, def) != THRIFT_OK) {
        free(def);
        return luaL_error(L, "dynthrift: the request was cancelled");
    }
    r->def = def;
    lua_settop(L, 1);
    return 1;
}

/* Answers `req` with the Lua value at `idx`: the method's result when
 * `ok`, otherwise what a handler raised -- a typed exception (the library
 * answers INTERNAL_ERROR for one the method does not declare), or any
 * other value as INTERNAL_ERROR carrying its text.  A value that does not
 * convert raises before anything is sent (`req` stays unanswered). */
static thrift_status_t reply_from_lua(lua_State *L, thrift_request_t *req, int idx, bool ok) {
    idx = dt_absindex(L, idx);
    const thrift_function_def_t *fn = thrift_request_function(req);
    conv_t c;
    if (ok) {
        char root[300];
        snprintf(root, sizeof root, "%s.result", thrift_function_def_name(fn));
        conv_init(&c, L, thrift_request_arena(req), root);
        const thrift_type_def_t *rt = thrift_function_def_return_type(fn);
        thrift_value_t *v = NULL;
        if (thrift_type_def_kind(thrift_type_def_resolved(rt)) != THRIFT_KIND_VOID)
            v = to_value(&c, idx, rt);
        return thrift_reply(req, v);
    }
    const thrift_struct_def_t *ex = typed_struct(L, idx);
    if (ex && thrift_struct_def_kind(ex) == THRIFT_KIND_EXCEPTION) {
        conv_init(&c, L, thrift_request_arena(req), thrift_struct_def_name(ex));
        thrift_value_t *v = conv_struct(&c, idx, ex);
        return thrift_reply_exception(req, thrift_struct_def_name(ex), v);
    }
    const char *msg = dt_tostring(L, idx, NULL);
    thrift_status_t rc = thrift_reply_error(req, THRIFT_APPEX_INTERNAL_ERROR, msg);
    lua_pop(L, 1);
    return rc;
}

/* req:reply(value) / req:fail(err) on a deferred request: true when
 * answered, false (and the reason) when the client is gone. */
static int request_answer(lua_State *L, bool ok) {
    request_ud_t *r = (request_ud_t *)luaL_checkudata(L, 1, REQUEST_MT);
    if (!r->def)
        return luaL_error(L, "dynthrift: req:reply and req:fail answer a deferred request "
                             "(req:defer()); a handler otherwise returns its result");
    if (r->def->cancelled) {
        lua_pushboolean(L, 0);
        lua_pushliteral(L, "cancelled");
        return 2;
    }
    thrift_request_t *req = check_request(L, 1);
    if (ok && lua_isnone(L, 2))
        lua_pushnil(L);
    else if (!ok)
        luaL_checkany(L, 2);
    thrift_status_t rc = reply_from_lua(L, req, 2, ok);
    r->def->req = NULL; /* answered (or, on an error, answered INTERNAL_ERROR) */
    if (rc == THRIFT_CLOSED) {
        lua_pushboolean(L, 0);
        lua_pushliteral(L, "cancelled");
        return 2;
    }
    if (rc != THRIFT_OK)
        return luaL_error(L, "dynthrift: the reply failed (%s); the client got INTERNAL_ERROR",
                          thrift_status_str(rc));
    lua_pushboolean(L, 1);
    return 1;
}

static int request_reply(lua_State *L) { return request_answer(L, true); }
static int request_fail(lua_State *L) { return request_answer(L, false); }

static int request_gc(lua_State *L) {
    request_ud_t *r = (request_ud_t *)luaL_checkudata(L, 1, REQUEST_MT);
    if (r->def) {
        /* Never answered: the client gets INTERNAL_ERROR, not silence. */
        if (r->def->req)
            thrift_request_abandon(r->def->req);
        free(r->def);
        r->def = NULL;
    }
    return 0;
}

static int request_tostring(lua_State *L) {
    request_ud_t *r = (request_ud_t *)luaL_checkudata(L, 1, REQUEST_MT);
    thrift_request_t *req = r->def ? r->def->req : r->req;
    lua_pushfstring(L, "dynthrift.request(%s%s)", req ? thrift_request_method(req) : "over",
                    r->def ? (r->def->cancelled ? ", cancelled" : ", deferred") : "");
    return 1;
}

typedef struct dispatch {
    server_t *server;
    thrift_request_t *req;
    const thrift_value_t *args;
    bool replied;
} dispatch_t;

/* Under lua_pcall: calls the Lua handler with the arguments positionally
 * and the request object last, and replies with its result, its declared
 * exception, or INTERNAL_ERROR -- unless it deferred the request. */
static int dispatch(lua_State *L) {
    dispatch_t *d = (dispatch_t *)lua_touserdata(L, 1);
    thrift_request_t *req = d->req;
    const thrift_function_def_t *fn = thrift_request_function(req);
    const thrift_struct_def_t *ad = thrift_function_def_args(fn);
    size_t n = thrift_struct_def_field_count(ad);
    luaL_checkstack(L, (int)n + 8, "dynthrift: too many arguments");
    request_ud_t *r = (request_ud_t *)dt_newudata(L, sizeof *r);
    r->req = NULL;
    r->def = NULL;
    luaL_getmetatable(L, REQUEST_MT);
    lua_setmetatable(L, -2);
    int req_idx = lua_gettop(L);
    lua_pushlightuserdata(L, (void *)fn);
    lua_rawget(L, 2); /* the handlers table, argument 2 */
    for (size_t i = 0; i < n; i++)
        push_value(L, 0, thrift_value_get_at(d->args, i));
    lua_pushvalue(L, req_idx);
    r->req = req;
    int rc = lua_pcall(L, (int)n + 1, 1, 0);
    r->req = NULL; /* the object now reaches the request only if deferred */
    if (thrift_request_is_oneway(req))
        return 0;
    if (r->def) {
        if (rc == 0 || !r->def->req) {
            d->replied = true; /* by req:reply / req:fail, later (or already) */
            return 0;
        }
        /* Raised after deferring: answered now, as any handler error (and
         * by lua_handler's INTERNAL_ERROR if even that raises). */
        r->def->req = NULL;
        thrift_request_set_cancel_cb(req, NULL, NULL);
    }
    /* d->replied only once answered: a result that does not convert raises
     * here, and lua_handler then answers INTERNAL_ERROR. */
    reply_from_lua(L, req, -1, rc == 0);
    d->replied = true;
    return 0;
}

static thrift_status_t lua_handler(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    server_t *s = (server_t *)ud;
    /* An async server's loop runs inside dt.poll, which sets st->L. */
    lua_State *L = s->async ? s->st->L : s->L;
    if (!L || !lua_checkstack(L, 8)) {
        if (!thrift_request_is_oneway(req))
            thrift_reply_error(req, THRIFT_APPEX_INTERNAL_ERROR, "the Lua server is not running");
        return THRIFT_OK;
    }
    int top = lua_gettop(L);
    int handlers = s->handlers_idx;
    if (s->async) {
        /* No run() frame: the handlers come from the user value. */
        lua_rawgeti(L, LUA_REGISTRYINDEX, s->self_ref);
        dt_getuv(L, -1);
        lua_rawgeti(L, -1, 2);
        handlers = lua_gettop(L);
        s->st->callbacks_run++; /* a handler counts as a callback for dt.poll */
    }
    dispatch_t d = {s, req, args, false};
    lua_pushcfunction(L, dispatch);
    lua_pushlightuserdata(L, &d);
    /* handlers_idx is an index in run()'s frame, current here (the loop
     * runs inside run); dispatch gets the table as an argument. */
    lua_pushvalue(L, handlers);
    s->in_handler++;
    int rc = lua_pcall(L, 2, 0, 0);
    s->in_handler--;
    if (rc != 0 && !d.replied && !thrift_request_is_oneway(req)) {
        const char *msg = lua_tostring(L, -1);
        thrift_reply_error(req, THRIFT_APPEX_INTERNAL_ERROR, msg ? msg : "error in the Lua handler");
    }
    lua_settop(L, top);
    return THRIFT_OK;
}

static void on_server_stopped(thrift_rpc_server_t *srv, void *ud) {
    (void)srv;
    server_t *s = (server_t *)ud;
    s->stopped = true;
    if (!s->async) /* dt.poll's loop serves others too */
        ev_break(s->loop, EVBREAK_ALL);
}

static void server_begin_stop(server_t *s) {
    if (s->stopping || !s->srv)
        return;
    s->stopping = true;
    thrift_rpc_server_stop(s->srv, on_server_stopped, s);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents) {
    (void)loop;
    (void)revents;
    server_begin_stop((server_t *)w->data);
}

/* srv:run(): serves until srv:stop() (from a handler) or SIGINT/SIGTERM. */
static int server_run(lua_State *L) {
    server_t *s = check_server(L, 1);
    if (s->async)
        return luaL_error(L, "dynthrift: an async server is served by dt.poll, not run()");
    if (s->L)
        return luaL_error(L, "dynthrift: the server is already running");
    if (s->stopped)
        return 0;
    lua_settop(L, 1);
    dt_getuv(L, 1);
    lua_rawgeti(L, 2, 2); /* handlers, index 3 */
    s->L = L;
    s->handlers_idx = 3;
    ev_signal_init(&s->sigint, on_signal, SIGINT);
    ev_signal_init(&s->sigterm, on_signal, SIGTERM);
    s->sigint.data = s->sigterm.data = s;
    ev_signal_start(s->loop, &s->sigint);
    ev_signal_start(s->loop, &s->sigterm);
    ev_unref(s->loop);
    ev_unref(s->loop);
    ev_run(s->loop, 0);
    ev_ref(s->loop);
    ev_ref(s->loop);
    ev_signal_stop(s->loop, &s->sigint);
    ev_signal_stop(s->loop, &s->sigterm);
    s->L = NULL;
    return 0;
}

static int server_stop(lua_State *L) {
    server_t *s = check_server(L, 1);
    server_begin_stop(s);
    return 0;
}

static int server_port(lua_State *L) {
    server_t *s = check_server(L, 1);
    lua_pushinteger(L, thrift_rpc_server_port(s->srv));
    return 1;
}

static int server_close(lua_State *L) {
    server_t *s = (server_t *)luaL_checkudata(L, 1, SERVER_MT);
    if (s->L || s->in_handler)
        return luaL_error(L, "dynthrift: close the server after run() returns or outside its "
                             "handlers (use stop())");
    server_free(L, s);
    return 0;
}

static const thrift_service_def_t *find_service(lua_State *L, thrift_schema_t *schema,
                                                const char *name) {
    const thrift_service_def_t *svc = NULL;
    if (name) {
        svc = thrift_schema_find_service(schema, name);
    } else {
        const thrift_module_def_t *m = thrift_schema_main_module(schema);
        size_t n = thrift_module_def_service_count(m);
        svc = n ? thrift_module_def_service_at(m, n - 1) : NULL;
    }
    if (!svc)
        luaL_error(L, "dynthrift: no service '%s'", name ? name : "(none in the main module)");
    return svc;
}

/* dt.server(s, "Service", "host:port", {method = function(...) end} [, opts]) */
static int dt_server(lua_State *L) {
    schema_ud_t *sch = check_schema(L, 1);
    const char *service = luaL_optstring(L, 2, NULL);
    const char *address = luaL_checkstring(L, 3);
    luaL_checktype(L, 4, LUA_TTABLE);
    lua_settop(L, 5); /* options at 5 (or nil) before anything is pushed */
    const thrift_service_def_t *svc = find_service(L, sch->schema, service);
    server_t *s = (server_t *)dt_newudata(L, sizeof *s);
    memset(s, 0, sizeof *s);
    s->st = state_of(L);
    s->self_ref = LUA_NOREF;
    luaL_getmetatable(L, SERVER_MT);
    lua_setmetatable(L, -2);
    int server_idx = lua_gettop(L);
    /* user value: [1] schema, [2] {fn def -> handler function} */
    lua_createtable(L, 2, 0);
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, 1);
    lua_newtable(L);
    int handlers = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, 4)) {
        if (lua_type(L, -2) != LUA_TSTRING || !lua_isfunction(L, -1))
            return luaL_error(L, "dynthrift: handlers map method names to functions");
        const char *name = lua_tostring(L, -2);
        const thrift_function_def_t *fn = thrift_service_def_find_function(svc, name);
        if (!fn)
            return luaL_error(L, "dynthrift: no method '%s' in service %s", name,
                              thrift_service_def_name(svc));
        lua_pushlightuserdata(L, (void *)fn);
        lua_pushvalue(L, -2);
        lua_rawset(L, handlers);
        lua_pop(L, 1);
    }
    lua_rawseti(L, -2, 2);
    dt_setuv(L, server_idx);
    if (lua_istable(L, 5)) {
        lua_getfield(L, 5, "headers");
        if (!lua_isnil(L, -1))
            return luaL_error(L, "dynthrift: 'headers' is a client option (a handler sets "
                                 "req:set_reply_header)");
        lua_pop(L, 1);
    }
    bool async = false;
    thrift_conn_options_t *o = build_options(L, 5, &async);
    thrift_error_t err;
    thrift_error_clear(&err);
    s->async = async;
    s->loop = async ? async_loop(s->st) : ev_loop_new(EVFLAG_AUTO);
    if (s->loop)
        s->srv = thrift_rpc_server_new(s->loop, sch->schema, o, &err);
    thrift_conn_options_free(o);
    if (!s->srv) {
        if (!err.code)
            err.code = THRIFT_NOMEM;
        return raise_error_table(L, &err, -1);
    }
    lua_pushnil(L);
    while (lua_next(L, 4)) {
        thrift_status_t rc = thrift_rpc_server_handle(s->srv, thrift_service_def_name(svc),
                                                      lua_tostring(L, -2), lua_handler, s, &err);
        lua_pop(L, 1);
        if (rc != THRIFT_OK) {
            lua_pop(L, 1);
            return raise_error_table(L, &err, -1);
        }
    }
    if (thrift_rpc_server_listen(s->srv, address, &err) != THRIFT_OK)
        return raise_error_table(L, &err, -1);
    if (async) {
        lua_pushvalue(L, server_idx);
        s->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    lua_settop(L, server_idx);
    return 1;
}

/* ---- module -------------------------------------------------------------- */

static const luaL_Reg module_functions[] = {
    {"load", dt_load},       {"load_string", dt_load_string},
    {"encode", dt_encode},   {"decode", dt_decode},
    {"client", dt_client},   {"server", dt_server},
    {"poll", dt_poll},       {"fd", dt_fd},
    {"next_timeout", dt_next_timeout}, {NULL, NULL}};

static const luaL_Reg schema_methods[] = {
    {"new", schema_new}, {"type_of", schema_type_of}, {"encode", dt_encode},
    {"decode", dt_decode}, {NULL, NULL}};

static const luaL_Reg client_methods[] = {
    {"call", client_call},   {"call_async", client_call_async},
    {"close", client_close}, {"pending", client_pending},
    {"set_header", client_set_header}, {"set_call_header", client_set_call_header},
    {"reply_headers", client_reply_headers},
    {NULL, NULL}};

static const luaL_Reg request_methods[] = {
    {"header", request_header}, {"headers", request_headers},
    {"set_reply_header", request_set_reply_header}, {"method", request_method},
    {"defer", request_defer}, {"reply", request_reply}, {"fail", request_fail},
    {"cancelled", request_cancelled}, {NULL, NULL}};

static const luaL_Reg server_methods[] = {
    {"run", server_run},   {"stop", server_stop},
    {"port", server_port}, {"close", server_close},
    {NULL, NULL}};

/* A metatable named `name` with the given methods as __index (each with
 * the state as upvalue 1) and `gc`. */
static void make_class(lua_State *L, const char *name, const luaL_Reg *methods,
                       lua_CFunction gc, lua_CFunction tostring_fn, int state_idx) {
    luaL_newmetatable(L, name);
    lua_newtable(L);
    lua_pushvalue(L, state_idx);
    luaL_setfuncs(L, methods, 1);
    lua_setfield(L, -2, "__index");
    if (gc) {
        lua_pushcfunction(L, gc);
        lua_setfield(L, -2, "__gc");
    }
    if (tostring_fn) {
        lua_pushcfunction(L, tostring_fn);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
}

DT_EXPORT int luaopen_dynthrift(lua_State *L) {
    dt_state_t *st = (dt_state_t *)dt_newudata(L, sizeof *st);
    memset(st, 0, sizeof *st);
    st->first_error = LUA_NOREF;
    luaL_newmetatable(L, STATE_MT);
    lua_pushcfunction(L, state_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    int state_idx = lua_gettop(L);

    make_class(L, SCHEMA_MT, schema_methods, schema_gc, schema_tostring, state_idx);
    make_class(L, SERVER_MT, server_methods, server_gc, NULL, state_idx);
    make_class(L, REQUEST_MT, request_methods, request_gc, request_tostring, state_idx);

    /* The client's __index is a function (IDL methods by name), with the
     * built-in methods as its upvalue. */
    luaL_newmetatable(L, CLIENT_MT);
    lua_newtable(L);
    lua_pushvalue(L, state_idx);
    luaL_setfuncs(L, client_methods, 1);
    lua_pushcclosure(L, client_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, client_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, client_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);

    luaL_newmetatable(L, ERROR_MT);
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);

    lua_newtable(L);
    lua_pushvalue(L, state_idx);
    luaL_setfuncs(L, module_functions, 1);
    lua_pushliteral(L, THRIFT_VERSION_STRING);
    lua_setfield(L, -2, "version");
    /* Keeps the state alive as long as the module table. */
    lua_pushvalue(L, state_idx);
    lua_setfield(L, -2, "_state");
    return 1;
}
