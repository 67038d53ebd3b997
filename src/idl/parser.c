/* The IDL loader: a recursive-descent parser for the Thrift grammar (as
 * Apache Thrift's compiler accepts it, thrifty.yy), include handling, and
 * the link step that resolves names, checks the definitions and evaluates
 * constants.  A load builds everything in a fresh arena and frees it on any
 * error, so a failed load leaves nothing behind.  Errors unwind with
 * longjmp: every allocation lives in one of the two arenas, so unwinding
 * cannot leak. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "idl/idl_impl.h"

/* A named type not yet resolved: after linking it becomes a copy of the
 * definition's type (with `resolved` pointing at the definition's own). */
#define KIND_UNRESOLVED 0xff

enum { MAX_DEPTH = 64, MAX_FILE_SIZE = 256u << 20, MAX_INCLUDE_DEPTH = 64 };

/* ---- constant expressions as written ---------------------------------------- */

typedef enum { CV_INT, CV_DOUBLE, CV_STRING, CV_IDENT, CV_LIST, CV_MAP } cv_kind_t;

typedef struct cv_node cv_node_t;
struct cv_node {
    cv_kind_t kind;
    thrift__loc_t loc;
    int64_t i;
    double d;
    const char *s; /* string (decoded) or identifier */
    size_t len;
    uint32_t count;    /* list items, or map pairs */
    cv_node_t **items; /* list: count; map: key0 val0 key1 val1 ... */
};

typedef struct pending_type {
    thrift_type_def_t *ph;
    thrift_module_def_t *module;
    thrift__loc_t loc;
    struct pending_type *next;
} pending_type_t;

typedef struct const_info {
    thrift_const_def_t *def;
    cv_node_t *ast;
    int state; /* 0 not evaluated, 1 evaluating, 2 done */
    struct const_info *next;
} const_info_t;

typedef struct default_info {
    thrift_field_def_t *field;
    thrift_module_def_t *module;
    cv_node_t *ast;
    struct default_info *next;
} default_info_t;

typedef struct service_info {
    thrift_service_def_t *svc;
    const char *extends; /* NULL: none */
    thrift__loc_t extends_loc;
    int state;
    uint32_t depth; /* ancestors, once linked */
    struct service_info *next;
} service_info_t;

/* Every function of the load, chained by name, so that checking a service
 * against its ancestors costs one lookup per own function however deep the
 * `extends` chain is (copying each parent's table into every child was
 * quadratic in the depth). */
typedef struct fn_node {
    thrift_function_def_t *fn;
    service_info_t *si;
    struct fn_node *next; /* another function with the same name */
} fn_node_t;

typedef struct loader {
    thrift_arena_t *arena;   /* the schema's */
    thrift_arena_t *scratch; /* freed when the load ends */
    thrift_schema_t *schema;
    thrift_error_t *err;
    thrift_error_t own_err; /* when the caller passed NULL */
    jmp_buf fail;
    const thrift_load_options_t *opts;
    /* The main input, kept here because locals do not survive longjmp. */
    const char *main_name;
    const char *main_text;
    size_t main_len;
    bool main_from_file;
    THRIFT__VEC(idl_source_t *) sources;
    THRIFT__VEC(const char *) open_files; /* identities being parsed */
    thrift__strmap_t modules_by_id;       /* identity -> module */
    thrift__strmap_t const_by_def;        /* def pointer bytes -> info */
    pending_type_t *pending;
    const_info_t *consts, **consts_tail;
    default_info_t *defaults, **defaults_tail;
    service_info_t *services, **services_tail;
    thrift__strmap_t service_info_by_def;
    thrift__strmap_t fns_by_name; /* name -> fn_node_t chain */
    /* Fields being parsed, as a stack shared by every struct of the load:
     * a struct's fields are copied into the schema when it is made, so one
     * buffer as large as the largest struct serves them all (a growing
     * vector per struct left ~2x the fields' size behind in scratch). */
    THRIFT__VEC(struct tmp_field) tmp_fields;
    THRIFT__VEC(thrift_enum_value_def_t) tmp_values; /* same, for enums */
} loader_t;

struct thrift_include_request {
    loader_t *L;
    const char *name;
    const char *text;
    size_t len;
    bool provided;
    bool oom;
};

/* ---- small helpers ------------------------------------------------------------ */

THRIFT_PRINTF(4, 5)
static void fail_loc(loader_t *L, const thrift__loc_t *loc, thrift_status_t code,
                     const char *fmt, ...) {
    const idl_source_t *src = NULL;
    if (loc)
        for (uint32_t i = 0; i < L->sources.count; i++)
            if (L->sources.items[i]->name == loc->file)
                src = L->sources.items[i];
    va_list ap;
    va_start(ap, fmt);
    if (src)
        thrift__idl_verror(L->err, src, loc->line, loc->column, code, fmt, ap);
    else
        thrift__error_vset(L->err, code, fmt, ap);
    va_end(ap);
    longjmp(L->fail, 1);
}

static void oom(loader_t *L) {
    thrift__error_set(L->err, THRIFT_NOMEM, "out of memory");
    longjmp(L->fail, 1);
}

static void *alloc(loader_t *L, size_t n) {
    void *p = thrift__arena_zalloc(L->arena, n);
    if (!p)
        oom(L);
    return p;
}

static void *salloc(loader_t *L, size_t n) {
    void *p = thrift__arena_zalloc(L->scratch, n);
    if (!p)
        oom(L);
    return p;
}

static char *dupn(loader_t *L, const char *s, size_t n) {
    char *p = thrift__arena_strndup(L->arena, s, n);
    if (!p)
        oom(L);
    return p;
}

/* a + b + c in `arena` (printf is too slow for names made per definition). */
static char *cat3(loader_t *L, const char *a, const char *b, const char *c) {
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *p = thrift__arena_alloc(L->arena, la + lb + lc + 1);
    if (!p)
        oom(L);
    memcpy(p, a, la);
    memcpy(p + la, b, lb);
    memcpy(p + la + lb, c, lc + 1);
    return p;
}

/* Grows a THRIFT__VEC in `arena`. */
static void vec_grow(loader_t *L, thrift_arena_t *arena, void **items,
                     uint32_t *cap, size_t elem, uint32_t count) {
    uint32_t ncap = *cap ? *cap * 2 : 8;
    void *n = thrift__arena_alloc(arena, elem * ncap);
    if (!n)
        oom(L);
    if (count)
        memcpy(n, *items, elem * count);
    *items = n;
    *cap = ncap;
}

#define VEC_PUSH(L, arena, vec, val)                                          \
    do {                                                                      \
        if ((vec).count == (vec).cap)                                         \
            vec_grow((L), (arena), (void **)&(vec).items, &(vec).cap,         \
                     sizeof *(vec).items, (vec).count);                       \
        (vec).items[(vec).count++] = (val);                                   \
    } while (0)

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Apache's program name: the base name without its last extension. */
static char *module_name_of(loader_t *L, const char *path) {
    const char *b = base_name(path);
    const char *dot = strrchr(b, '.');
    return dupn(L, b, dot ? (size_t)(dot - b) : strlen(b));
}

/* ---- the parser ---------------------------------------------------------------- */

typedef struct parser {
    loader_t *L;
    idl_lexer_t lx;
    idl_token_t tok;
    const idl_source_t *src;
    thrift_module_def_t *m;
    /* Named types referred to in this module, by spelling: every mention
     * of one name shares one placeholder (the link step makes it a copy of
     * what the name resolves to, the same for every mention). */
    thrift__strmap_t named_types;
    int32_t next_implicit; /* Apache's y_field_val */
    bool in_service;       /* Apache's g_arglist */
    int depth;
} parser_t;

typedef struct tmp_field {
    thrift_field_def_t f;
    cv_node_t *dflt;
} tmp_field_t;

static void next(parser_t *P) { thrift__idl_next(&P->lx, &P->tok); }

static thrift__loc_t tok_loc(const parser_t *P) {
    thrift__loc_t l = {P->src->name, P->tok.line, P->tok.column};
    return l;
}

static void describe(const idl_token_t *t, char *buf, size_t size) {
    switch (t->kind) {
    case TK_EOF:
        snprintf(buf, size, "end of file");
        break;
    case TK_SYM:
        snprintf(buf, size, "'%c'", t->sym);
        break;
    case TK_IDENT:
        snprintf(buf, size, "identifier '%.*s'", (int)(t->len > 60 ? 60 : t->len),
                 t->start);
        break;
    case TK_STRING:
        snprintf(buf, size, "string literal");
        break;
    case TK_INT:
    case TK_DOUBLE:
        snprintf(buf, size, "number '%.*s'", (int)(t->len > 40 ? 40 : t->len),
                 t->start);
        break;
    default:
        snprintf(buf, size, "'%s'", thrift__idl_tok_name(t->kind));
        break;
    }
}

static void syntax_error(parser_t *P, const char *expected) {
    char got[96];
    describe(&P->tok, got, sizeof got);
    thrift__loc_t loc = tok_loc(P);
    fail_loc(P->L, &loc, THRIFT_SYNTAX, "syntax error: unexpected %s, expected %s",
             got, expected);
}

static bool is_sym(const parser_t *P, char c) {
    return P->tok.kind == TK_SYM && P->tok.sym == c;
}

static bool accept_sym(parser_t *P, char c) {
    if (!is_sym(P, c))
        return false;
    next(P);
    return true;
}

static void expect_sym(parser_t *P, char c) {
    if (!accept_sym(P, c)) {
        char want[8] = {'\'', c, '\'', 0};
        syntax_error(P, want);
    }
}

static void accept_separator(parser_t *P) {
    if (is_sym(P, ',') || is_sym(P, ';'))
        next(P);
}

static const char *capture_doc(parser_t *P) {
    const char *d = P->lx.doc;
    P->lx.doc = NULL;
    return d;
}

/* Apache's t_doc::set_doc side effect: a definition that takes the file's
 * first doc comment (with no header in between) keeps it from becoming the
 * program's doc.  Called where Apache attaches a doc: at the item's end. */
static void doc_used(parser_t *P, const char *doc) {
    if (doc && P->lx.last_doc_is_first &&
        P->lx.first_doc_state == IDL_DOC_CANDIDATE)
        P->lx.first_doc_state = IDL_DOC_PROCESSED;
}

static void header_seen(parser_t *P) {
    P->lx.first_doc_state = P->lx.first_doc && P->lx.first_doc_state ==
                                                   IDL_DOC_CANDIDATE
                                ? IDL_DOC_SURE
                                : IDL_DOC_NONE;
}

static char *tok_text(parser_t *P) {
    return dupn(P->L, P->tok.start, P->tok.len);
}

/* A definition's own name: an identifier without dots. */
static char *def_name(parser_t *P, thrift__loc_t *loc) {
    if (P->tok.kind != TK_IDENT)
        syntax_error(P, "identifier");
    *loc = tok_loc(P);
    if (memchr(P->tok.start, '.', P->tok.len))
        fail_loc(P->L, loc, THRIFT_SYNTAX, "Identifier %.*s can't have a dot.",
                 (int)P->tok.len, P->tok.start);
    char *s = tok_text(P);
    next(P);
    return s;
}

static char *string_literal(parser_t *P) {
    if (P->tok.kind != TK_STRING)
        syntax_error(P, "string literal");
    char *s = dupn(P->L, P->tok.str, P->tok.str_len);
    next(P);
    return s;
}

static void enter(parser_t *P) {
    if (++P->depth > MAX_DEPTH) {
        thrift__loc_t loc = tok_loc(P);
        fail_loc(P->L, &loc, THRIFT_LIMIT, "nesting deeper than %d levels",
                 MAX_DEPTH);
    }
}

/* `( key = "value", flag )`; nothing when the next token is not '('. */
static void parse_annotations(parser_t *P, thrift_annotations_t *out) {
    if (!is_sym(P, '('))
        return;
    next(P);
    THRIFT__VEC(const char *) keys = {0};
    THRIFT__VEC(const char *) values = {0};
    while (!is_sym(P, ')')) {
        if (P->tok.kind != TK_IDENT)
            syntax_error(P, "annotation name or ')'");
        const char *k = tok_text(P);
        next(P);
        const char *v = "1";
        if (accept_sym(P, '='))
            v = string_literal(P);
        VEC_PUSH(P->L, P->L->scratch, keys, k);
        VEC_PUSH(P->L, P->L->scratch, values, v);
        accept_separator(P);
    }
    next(P);
    uint32_t base = out->count;
    uint32_t n = base + keys.count;
    const char **k2 = alloc(P->L, sizeof *k2 * (n ? n : 1));
    const char **v2 = alloc(P->L, sizeof *v2 * (n ? n : 1));
    for (uint32_t i = 0; i < base; i++) {
        k2[i] = out->keys[i];
        v2[i] = out->values[i];
    }
    for (uint32_t i = 0; i < keys.count; i++) {
        k2[base + i] = keys.items[i];
        v2[base + i] = values.items[i];
    }
    out->keys = k2;
    out->values = v2;
    out->count = n;
}

static thrift_type_def_t *parse_type(parser_t *P);

static void skip_cpp_type(parser_t *P) {
    if (P->tok.kind == KW_CPP_TYPE) {
        next(P);
        (void)string_literal(P);
    }
}

static thrift_type_def_t *parse_type(parser_t *P) {
    loader_t *L = P->L;
    thrift_type_def_t *t;
    thrift_kind_t base;
    switch (P->tok.kind) {
    case KW_BOOL: base = THRIFT_KIND_BOOL; goto base_type;
    case KW_BYTE:
    case KW_I8: base = THRIFT_KIND_I8; goto base_type;
    case KW_I16: base = THRIFT_KIND_I16; goto base_type;
    case KW_I32: base = THRIFT_KIND_I32; goto base_type;
    case KW_I64: base = THRIFT_KIND_I64; goto base_type;
    case KW_DOUBLE: base = THRIFT_KIND_DOUBLE; goto base_type;
    case KW_STRING: base = THRIFT_KIND_STRING; goto base_type;
    case KW_BINARY: base = THRIFT_KIND_BINARY; goto base_type;
    case KW_UUID: base = THRIFT_KIND_UUID; goto base_type;
    base_type:
        next(P);
        if (!is_sym(P, '('))
            return (thrift_type_def_t *)thrift__base_type(base);
        /* Annotated base types get their own descriptor. */
        t = alloc(L, sizeof *t);
        *t = *thrift__base_type(base);
        t->resolved = t;
        parse_annotations(P, &t->annotations);
        return t;
    case TK_IDENT: {
        t = thrift__strmap_get(&P->named_types, P->tok.start, P->tok.len);
        if (!t) {
            t = alloc(L, sizeof *t);
            t->kind = KIND_UNRESOLVED;
            t->name = tok_text(P);
            bool no_mem = false;
            if (!thrift__strmap_put(&P->named_types, t->name, P->tok.len, t,
                                    NULL, &no_mem))
                oom(L);
        }
        /* One entry per mention, so errors name the same mention as
         * before (the link step walks this list). */
        pending_type_t *pt = salloc(L, sizeof *pt);
        pt->ph = t;
        pt->module = P->m;
        pt->loc = tok_loc(P);
        pt->next = L->pending;
        L->pending = pt;
        next(P);
        return t;
    }
    case KW_MAP:
    case KW_SET:
    case KW_LIST: {
        idl_tok_t which = P->tok.kind;
        enter(P);
        next(P);
        skip_cpp_type(P);
        expect_sym(P, '<');
        t = alloc(L, sizeof *t);
        t->resolved = t;
        if (which == KW_MAP) {
            t->kind = THRIFT_KIND_MAP;
            t->wire_type = THRIFT_TYPE_MAP;
            t->key = parse_type(P);
            expect_sym(P, ',');
            t->value = parse_type(P);
            t->name = cat3(L, "map<", t->key->name, ",");
            t->name = cat3(L, t->name, t->value->name, ">");
        } else {
            t->kind = which == KW_SET ? THRIFT_KIND_SET : THRIFT_KIND_LIST;
            t->wire_type = which == KW_SET ? THRIFT_TYPE_SET : THRIFT_TYPE_LIST;
            t->elem = parse_type(P);
            t->name = cat3(L, which == KW_SET ? "set<" : "list<",
                           t->elem->name, ">");
        }
        if (!t->name)
            oom(L);
        expect_sym(P, '>');
        if (which == KW_LIST)
            skip_cpp_type(P); /* the deprecated trailing form */
        parse_annotations(P, &t->annotations);
        P->depth--;
        return t;
    }
    default:
        syntax_error(P, "type");
        return NULL;
    }
}

static cv_node_t *parse_const_value(parser_t *P) {
    loader_t *L = P->L;
    cv_node_t *n = salloc(L, sizeof *n);
    n->loc = tok_loc(P);
    switch (P->tok.kind) {
    case TK_INT:
        n->kind = CV_INT;
        n->i = P->tok.i;
        next(P);
        return n;
    case TK_DOUBLE:
        n->kind = CV_DOUBLE;
        n->d = P->tok.d;
        next(P);
        return n;
    case TK_STRING:
        n->kind = CV_STRING;
        n->s = P->tok.str;
        n->len = P->tok.str_len;
        next(P);
        return n;
    case TK_IDENT:
        n->kind = CV_IDENT;
        n->s = P->tok.start;
        n->len = P->tok.len;
        next(P);
        return n;
    case TK_SYM:
        if (P->tok.sym == '[' || P->tok.sym == '{') {
            bool is_map = P->tok.sym == '{';
            char close = is_map ? '}' : ']';
            enter(P);
            next(P);
            THRIFT__VEC(cv_node_t *) items = {0};
            while (!is_sym(P, close)) {
                VEC_PUSH(L, L->scratch, items, parse_const_value(P));
                if (is_map) {
                    expect_sym(P, ':');
                    VEC_PUSH(L, L->scratch, items, parse_const_value(P));
                }
                accept_separator(P);
            }
            next(P);
            P->depth--;
            n->kind = is_map ? CV_MAP : CV_LIST;
            n->items = items.items;
            n->count = is_map ? items.count / 2 : items.count;
            return n;
        }
        break;
    default:
        break;
    }
    syntax_error(P, "constant value");
    return NULL;
}

static bool is_field_name_token(idl_tok_t k) {
    if (k == TK_IDENT)
        return true;
    /* Apache's FieldName: every keyword but cpp_type and the xsd ones. */
    return k >= KW_NAMESPACE && k != KW_CPP_TYPE && k != KW_XSD_ALL &&
           k != KW_XSD_OPTIONAL && k != KW_XSD_NILLABLE && k != KW_XSD_ATTRS;
}

/* Fields up to (not including) `close`, pushed on L->tmp_fields; the
 * caller pops them (fields_pop) once it has copied them.  The pointer is
 * good until the next push. */
static tmp_field_t *parse_fields(parser_t *P, char close, uint32_t *count_out) {
    loader_t *L = P->L;
    uint32_t base = L->tmp_fields.count;
    P->next_implicit = -1;
    enter(P);
    while (!is_sym(P, close)) {
        tmp_field_t tf;
        memset(&tf, 0, sizeof tf);
        thrift_field_def_t *f = &tf.f;
        f->doc = capture_doc(P);
        f->loc = tok_loc(P);
        int64_t id = 0;
        bool implicit = true;
        if (P->tok.kind == TK_INT) {
            id = P->tok.i;
            thrift__loc_t id_loc = tok_loc(P);
            next(P);
            expect_sym(P, ':');
            /* Apache numbers non-positive ids as if none was written. */
            if (id > 0) {
                implicit = false;
                if (id > INT16_MAX)
                    fail_loc(L, &id_loc, THRIFT_RANGE,
                             "Field key (%lld) exceeds allowed range (1..%d).",
                             (long long)id, INT16_MAX);
            }
        }
        if (implicit) {
            id = P->next_implicit--;
            if (id < INT16_MIN)
                fail_loc(L, &f->loc, THRIFT_RANGE,
                         "too many fields without an explicit id");
        }
        f->id = (int16_t)id;
        f->id_implicit = implicit;
        if (P->tok.kind == KW_REQUIRED) {
            f->req = THRIFT_REQ_REQUIRED;
            next(P);
        } else if (P->tok.kind == KW_OPTIONAL) {
            /* "optional" is ignored in argument lists, as in Apache. */
            f->req = P->in_service ? THRIFT_REQ_DEFAULT : THRIFT_REQ_OPTIONAL;
            next(P);
        }
        f->type = parse_type(P);
        if (accept_sym(P, '&'))
            f->reference = true;
        if (!is_field_name_token(P->tok.kind))
            syntax_error(P, "field name");
        if (memchr(P->tok.start, '.', P->tok.len)) {
            thrift__loc_t nl = tok_loc(P);
            fail_loc(L, &nl, THRIFT_SYNTAX, "Identifier %.*s can't have a dot.",
                     (int)P->tok.len, P->tok.start);
        }
        f->name = tok_text(P);
        f->name_len = P->tok.len;
        next(P);
        if (accept_sym(P, '='))
            tf.dflt = parse_const_value(P);
        if (P->tok.kind == KW_XSD_OPTIONAL)
            next(P);
        if (P->tok.kind == KW_XSD_NILLABLE)
            next(P);
        if (P->tok.kind == KW_XSD_ATTRS) {
            next(P);
            expect_sym(P, '{');
            uint32_t ignored;
            (void)parse_fields(P, '}', &ignored);
            L->tmp_fields.count -= ignored;
            next(P);
        }
        parse_annotations(P, &f->annotations);
        accept_separator(P);
        doc_used(P, f->doc);
        VEC_PUSH(L, L->scratch, L->tmp_fields, tf);
    }
    P->depth--;
    *count_out = L->tmp_fields.count - base;
    // No field parsed yet in this load: the stack was never allocated, and
    // NULL + 0 is undefined behaviour (fuzz_idl: "union e{}").
    return L->tmp_fields.items ? L->tmp_fields.items + base : NULL;
}

static void register_def(parser_t *P, const char *name, thrift__def_kind_t kind,
                         void *def, const thrift__loc_t *loc) {
    thrift__def_ref_t *ref = alloc(P->L, sizeof *ref);
    ref->kind = kind;
    ref->def = def;
    bool no_mem = false;
    if (!thrift__strmap_put(&P->m->defs, name, strlen(name), ref, NULL,
                            &no_mem)) {
        if (no_mem)
            oom(P->L);
        fail_loc(P->L, loc, THRIFT_SEMANTIC, "Type \"%s\" is already defined.",
                 name);
    }
}

/* Makes the struct from parsed fields (the top `n` of L->tmp_fields, which
 * it pops) and checks ids and names. */
static thrift_struct_def_t *make_struct(parser_t *P, const char *name,
                                        thrift_kind_t kind, tmp_field_t *tf,
                                        uint32_t n, const thrift__loc_t *loc) {
    loader_t *L = P->L;
    thrift_struct_def_t *s = alloc(L, sizeof *s);
    s->name = name;
    s->module = P->m;
    s->loc = *loc;
    s->type.kind = (uint8_t)kind;
    s->type.wire_type = THRIFT_TYPE_STRUCT;
    s->type.resolved = &s->type;
    s->type.struct_def = s;
    s->type.name = name;
    s->fields = alloc(L, sizeof *s->fields * (n ? n : 1));
    s->field_count = n;
    for (uint32_t i = 0; i < n; i++)
        s->fields[i] = tf[i].f;
    uint32_t dup = 0;
    thrift_status_t st = thrift__struct_build_index(s, L->arena, &dup);
    if (st == THRIFT_NOMEM)
        oom(L);
    if (st != THRIFT_OK)
        fail_loc(L, &s->fields[dup].loc, THRIFT_SEMANTIC,
                 "\"%d: %s\" - field identifier/name has already been used",
                 s->fields[dup].id, s->fields[dup].name);
    for (uint32_t i = 0; i < n; i++) {
        if (!tf[i].dflt)
            continue;
        default_info_t *d = salloc(L, sizeof *d);
        d->field = &s->fields[i];
        d->module = P->m;
        d->ast = tf[i].dflt;
        *L->defaults_tail = d;
        L->defaults_tail = &d->next;
    }
    L->tmp_fields.count -= n; /* tf is the top of the stack: pop it */
    return s;
}

static void parse_struct(parser_t *P, const char *doc) {
    loader_t *L = P->L;
    thrift_kind_t kind = P->tok.kind == KW_UNION       ? THRIFT_KIND_UNION
                         : P->tok.kind == KW_EXCEPTION ? THRIFT_KIND_EXCEPTION
                                                       : THRIFT_KIND_STRUCT;
    next(P);
    thrift__loc_t loc;
    char *name = def_name(P, &loc);
    if (kind != THRIFT_KIND_EXCEPTION && P->tok.kind == KW_XSD_ALL)
        next(P);
    expect_sym(P, '{');
    uint32_t n;
    tmp_field_t *tf = parse_fields(P, '}', &n);
    next(P);
    thrift_struct_def_t *s = make_struct(P, name, kind, tf, n, &loc);
    s->doc = doc;
    s->full_name = cat3(L, P->m->name, ".", name);
    if (!s->full_name)
        oom(L);
    parse_annotations(P, &s->annotations);
    s->type.annotations = s->annotations;
    if (kind == THRIFT_KIND_UNION)
        for (uint32_t i = 0; i < n; i++)
            if (s->fields[i].req == THRIFT_REQ_REQUIRED)
                fail_loc(L, &s->fields[i].loc, THRIFT_SEMANTIC,
                         "union \"%s\" cannot have the required field \"%s\"",
                         name, s->fields[i].name);
    register_def(P, name, THRIFT__DEF_STRUCT, s, &loc);
    VEC_PUSH(L, L->arena, P->m->structs, s);
}

static void parse_enum(parser_t *P, const char *doc) {
    loader_t *L = P->L;
    next(P);
    thrift__loc_t loc;
    char *name = def_name(P, &loc);
    expect_sym(P, '{');
    L->tmp_values.count = 0; /* enums do not nest */
    int64_t last = -1;
    while (!is_sym(P, '}')) {
        thrift_enum_value_def_t v;
        memset(&v, 0, sizeof v);
        v.doc = capture_doc(P);
        v.name = def_name(P, &v.loc);
        if (accept_sym(P, '=')) {
            if (P->tok.kind != TK_INT)
                syntax_error(P, "integer");
            if (P->tok.i < INT32_MIN || P->tok.i > INT32_MAX) {
                thrift__loc_t il = tok_loc(P);
                fail_loc(L, &il, THRIFT_RANGE,
                         "64-bit value supplied for enum %s will be truncated.",
                         v.name);
            }
            last = P->tok.i;
            next(P);
        } else {
            if (last == INT32_MAX)
                fail_loc(L, &v.loc, THRIFT_RANGE, "enum value overflow at enum %s",
                         v.name);
            last++;
        }
        v.number = (int32_t)last;
        parse_annotations(P, &v.annotations);
        accept_separator(P);
        doc_used(P, v.doc);
        VEC_PUSH(L, L->scratch, L->tmp_values, v);
    }
    next(P);
    thrift_enum_def_t *e = alloc(L, sizeof *e);
    e->name = name;
    e->full_name = cat3(L, P->m->name, ".", name);
    if (!e->full_name)
        oom(L);
    e->module = P->m;
    e->doc = doc;
    e->loc = loc;
    e->type.kind = THRIFT_KIND_ENUM;
    e->type.wire_type = THRIFT_TYPE_I32;
    e->type.resolved = &e->type;
    e->type.enum_def = e;
    e->type.name = name;
    uint32_t nv = L->tmp_values.count;
    e->value_count = nv;
    e->values = alloc(L, sizeof *e->values * (nv ? nv : 1));
    if (nv)
        memcpy(e->values, L->tmp_values.items, sizeof *e->values * nv);
    uint32_t dup = 0;
    thrift_status_t st = thrift__enum_build_index(e, L->arena, &dup);
    if (st == THRIFT_NOMEM)
        oom(L);
    if (st != THRIFT_OK)
        fail_loc(L, &e->values[dup].loc, THRIFT_SEMANTIC,
                 "enum value \"%s\" is already defined in enum %s",
                 e->values[dup].name, name);
    parse_annotations(P, &e->annotations);
    e->type.annotations = e->annotations;
    register_def(P, name, THRIFT__DEF_ENUM, e, &loc);
    VEC_PUSH(L, L->arena, P->m->enums, e);
}

static thrift_typedef_def_t *new_typedef(parser_t *P, const char *name,
                                         const thrift_type_def_t *target,
                                         const char *doc,
                                         const thrift__loc_t *loc) {
    thrift_typedef_def_t *d = alloc(P->L, sizeof *d);
    d->name = name;
    d->module = P->m;
    d->target = target;
    d->doc = doc;
    d->loc = *loc;
    d->type.kind = THRIFT_KIND_TYPEDEF;
    d->type.typedef_def = d;
    d->type.name = name;
    return d;
}

static void parse_typedef(parser_t *P, const char *doc) {
    next(P);
    const thrift_type_def_t *target = parse_type(P);
    thrift__loc_t loc;
    char *name = def_name(P, &loc);
    thrift_typedef_def_t *d = new_typedef(P, name, target, doc, &loc);
    parse_annotations(P, &d->annotations);
    d->type.annotations = d->annotations;
    accept_separator(P);
    register_def(P, name, THRIFT__DEF_TYPEDEF, d, &loc);
    VEC_PUSH(P->L, P->L->arena, P->m->typedefs, d);
}

/* senum: a legacy enum of strings, kept as a typedef of string. */
static void parse_senum(parser_t *P, const char *doc) {
    next(P);
    thrift__loc_t loc;
    char *name = def_name(P, &loc);
    expect_sym(P, '{');
    while (!is_sym(P, '}')) {
        (void)string_literal(P);
        accept_separator(P);
    }
    next(P);
    thrift_typedef_def_t *d = new_typedef(
        P, name, thrift__base_type(THRIFT_KIND_STRING), doc, &loc);
    parse_annotations(P, &d->annotations);
    d->type.annotations = d->annotations;
    register_def(P, name, THRIFT__DEF_TYPEDEF, d, &loc);
    VEC_PUSH(P->L, P->L->arena, P->m->typedefs, d);
}

static void parse_const(parser_t *P, const char *doc) {
    loader_t *L = P->L;
    next(P);
    thrift_const_def_t *c = alloc(L, sizeof *c);
    c->type = parse_type(P);
    c->name = def_name(P, &c->loc);
    c->module = P->m;
    c->doc = doc;
    expect_sym(P, '=');
    const_info_t *ci = salloc(L, sizeof *ci);
    ci->def = c;
    ci->ast = parse_const_value(P);
    accept_separator(P);
    *L->consts_tail = ci;
    L->consts_tail = &ci->next;
    bool no_mem = false;
    if (!thrift__strmap_put(&L->const_by_def, (const char *)&ci->def,
                            sizeof ci->def, ci, NULL, &no_mem) &&
        no_mem)
        oom(L);
    register_def(P, c->name, THRIFT__DEF_CONST, c, &c->loc);
    VEC_PUSH(L, L->arena, P->m->consts, c);
}

static void parse_service(parser_t *P, const char *doc) {
    loader_t *L = P->L;
    next(P);
    thrift_service_def_t *s = alloc(L, sizeof *s);
    s->name = def_name(P, &s->loc);
    s->full_name = cat3(L, P->m->name, ".", s->name);
    if (!s->full_name)
        oom(L);
    s->module = P->m;
    s->doc = doc;
    thrift__strmap_init(&s->by_name, L->arena);
    service_info_t *si = salloc(L, sizeof *si);
    si->svc = s;
    if (P->tok.kind == KW_EXTENDS) {
        next(P);
        if (P->tok.kind != TK_IDENT)
            syntax_error(P, "service name");
        si->extends = tok_text(P);
        si->extends_loc = tok_loc(P);
        next(P);
    }
    expect_sym(P, '{');
    P->in_service = true;
    THRIFT__VEC(thrift_function_def_t *) fns = {0};
    while (!is_sym(P, '}')) {
        thrift_function_def_t *f = alloc(L, sizeof *f);
        f->doc = capture_doc(P);
        f->service = s;
        if (P->tok.kind == KW_ONEWAY || P->tok.kind == KW_ASYNC) {
            f->oneway = true;
            next(P);
        }
        if (P->tok.kind == KW_VOID) {
            f->return_type = thrift__base_type(THRIFT_KIND_VOID);
            next(P);
        } else {
            f->return_type = parse_type(P);
        }
        f->name = def_name(P, &f->loc);
        f->name_len = strlen(f->name);
        expect_sym(P, '(');
        uint32_t n;
        tmp_field_t *args = parse_fields(P, ')', &n);
        next(P);
        const char *args_name = cat3(L, f->name, "_args", "");
        if (!args_name)
            oom(L);
        f->args = make_struct(P, args_name, THRIFT_KIND_STRUCT, args, n, &f->loc);
        f->args->function = f;
        tmp_field_t *xs = NULL;
        n = 0;
        thrift__loc_t throws_loc = tok_loc(P);
        if (P->tok.kind == KW_THROWS) {
            next(P);
            expect_sym(P, '(');
            xs = parse_fields(P, ')', &n);
            next(P);
        }
        const char *throws_name =
            cat3(L, f->name, "_throws", "");
        if (!throws_name)
            oom(L);
        f->throws = make_struct(P, throws_name, THRIFT_KIND_STRUCT, xs, n,
                                &throws_loc);
        f->throws->function = f;
        if (f->oneway && f->return_type->kind != THRIFT_KIND_VOID)
            fail_loc(L, &f->loc, THRIFT_SEMANTIC,
                     "Oneway method \"%s\" must return void", f->name);
        if (f->oneway && n)
            fail_loc(L, &throws_loc, THRIFT_SEMANTIC,
                     "Oneway methods can't throw exceptions.");
        parse_annotations(P, &f->annotations);
        accept_separator(P);
        doc_used(P, f->doc);
        bool no_mem = false;
        if (!thrift__strmap_put(&s->by_name, f->name, f->name_len, f, NULL,
                                &no_mem)) {
            if (no_mem)
                oom(L);
            fail_loc(L, &f->loc, THRIFT_SEMANTIC,
                     "Function \"%s\" is already defined in service %s", f->name,
                     s->name);
        }
        VEC_PUSH(L, L->scratch, fns, f);
    }
    next(P);
    P->in_service = false;
    s->functions = alloc(L, sizeof *s->functions * (fns.count ? fns.count : 1));
    for (uint32_t i = 0; i < fns.count; i++)
        s->functions[i] = fns.items[i];
    s->function_count = fns.count;
    parse_annotations(P, &s->annotations);
    register_def(P, s->name, THRIFT__DEF_SERVICE, s, &s->loc);
    VEC_PUSH(L, L->arena, P->m->services, s);
    *L->services_tail = si;
    L->services_tail = &si->next;
    bool no_mem = false;
    if (!thrift__strmap_put(&L->service_info_by_def, (const char *)&si->svc,
                            sizeof si->svc, si, NULL, &no_mem) &&
        no_mem)
        oom(L);
}

static thrift_module_def_t *load_file(loader_t *L, const char *identity,
                                      const char *name, const char *text,
                                      size_t len);
static thrift_module_def_t *load_include(parser_t *P, const char *path,
                                         const thrift__loc_t *loc);

/* Pre-namespace declarations that old Apache releases accepted. */
static const char *legacy_namespace(const char *s, size_t n) {
    static const char *const forms[][2] = {
        {"cpp_namespace", "cpp"},        {"java_package", "java"},
        {"cocoa_prefix", "cocoa"},       {"csharp_namespace", "csharp"},
        {"delphi_namespace", "delphi"},  {"php_namespace", "php"},
        {"py_module", "py"},             {"perl_package", "perl"},
        {"ruby_namespace", "rb"},        {"xsd_namespace", "xsd"},
        {"smalltalk_category", "smalltalk.category"},
        {"smalltalk.category", "smalltalk.category"},
        {"smalltalk_prefix", "smalltalk.prefix"},
        {"smalltalk.prefix", "smalltalk.prefix"},
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
        if (strlen(forms[i][0]) == n && memcmp(forms[i][0], s, n) == 0)
            return forms[i][1];
    return NULL;
}

static bool tok_is(const parser_t *P, const char *word) {
    size_t n = strlen(word);
    return P->tok.kind == TK_IDENT && P->tok.len == n &&
           memcmp(P->tok.start, word, n) == 0;
}

static void add_namespace(parser_t *P, const char *scope, const char *name) {
    VEC_PUSH(P->L, P->L->arena, P->m->namespace_scopes, scope);
    VEC_PUSH(P->L, P->L->arena, P->m->namespace_names, name);
}

/* Headers (include, cpp_include, namespace) come before definitions. */
static bool parse_header(parser_t *P) {
    loader_t *L = P->L;
    const char *legacy;
    switch (P->tok.kind) {
    case KW_INCLUDE: {
        P->lx.doc = NULL;
        header_seen(P);
        next(P);
        thrift__loc_t loc = tok_loc(P);
        char *path = string_literal(P);
        thrift_module_def_t *inc = load_include(P, path, &loc);
        for (uint32_t i = 0; i < P->m->includes.count; i++)
            if (P->m->includes.items[i] == inc)
                return true;
        VEC_PUSH(L, L->arena, P->m->includes, inc);
        return true;
    }
    case KW_CPP_INCLUDE:
        P->lx.doc = NULL;
        header_seen(P);
        next(P);
        VEC_PUSH(L, L->arena, P->m->cpp_includes, string_literal(P));
        return true;
    case KW_NAMESPACE: {
        P->lx.doc = NULL;
        header_seen(P);
        next(P);
        if (accept_sym(P, '*')) {
            if (P->tok.kind != TK_IDENT)
                syntax_error(P, "namespace");
            add_namespace(P, "*", tok_text(P));
            next(P);
            return true;
        }
        if (P->tok.kind != TK_IDENT)
            syntax_error(P, "namespace scope");
        char *scope = tok_text(P);
        next(P);
        if (P->tok.kind != TK_IDENT)
            syntax_error(P, "namespace");
        add_namespace(P, scope, tok_text(P));
        next(P);
        thrift_annotations_t ignored = {0};
        parse_annotations(P, &ignored);
        return true;
    }
    case TK_IDENT:
        legacy = legacy_namespace(P->tok.start, P->tok.len);
        if (!legacy)
            return false;
        P->lx.doc = NULL;
        header_seen(P);
        next(P);
        if (P->tok.kind == TK_IDENT) {
            add_namespace(P, legacy, tok_text(P));
            next(P);
        } else {
            add_namespace(P, legacy, string_literal(P));
        }
        return true;
    default:
        return false;
    }
}

static void parse_program(parser_t *P) {
    next(P);
    while (parse_header(P))
        ;
    for (;;) {
        const char *doc = capture_doc(P);
        switch (P->tok.kind) {
        case TK_EOF:
            return;
        case KW_CONST:
            parse_const(P, doc);
            doc_used(P, doc);
            break;
        case KW_TYPEDEF:
            parse_typedef(P, doc);
            doc_used(P, doc);
            break;
        case KW_ENUM:
            parse_enum(P, doc);
            doc_used(P, doc);
            break;
        case KW_STRUCT:
        case KW_UNION:
        case KW_EXCEPTION:
            parse_struct(P, doc);
            doc_used(P, doc);
            break;
        case KW_SERVICE:
            parse_service(P, doc);
            doc_used(P, doc);
            break;
        default:
            if (tok_is(P, "senum")) {
                parse_senum(P, doc);
            doc_used(P, doc);
                break;
            }
            if (P->tok.kind == KW_INCLUDE || P->tok.kind == KW_NAMESPACE ||
                P->tok.kind == KW_CPP_INCLUDE) {
                thrift__loc_t loc = tok_loc(P);
                fail_loc(P->L, &loc, THRIFT_SYNTAX,
                         "syntax error: '%s' must come before the first "
                         "definition",
                         thrift__idl_tok_name(P->tok.kind));
            }
            syntax_error(P, "a definition (const, typedef, enum, struct, "
                            "union, exception or service)");
        }
    }
}

/* ---- files and includes ------------------------------------------------------- */

static bool read_file(loader_t *L, const char *path, char **text, size_t *len,
                      const thrift__loc_t *loc) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return false;
    }
    if ((uint64_t)st.st_size > MAX_FILE_SIZE) {
        fclose(f);
        fail_loc(L, loc, THRIFT_LIMIT, "\"%s\" is larger than %u bytes", path,
                 MAX_FILE_SIZE);
    }
    size_t size = (size_t)st.st_size;
    char *buf = thrift__arena_alloc(L->scratch, size + 1);
    if (!buf) {
        fclose(f);
        oom(L);
    }
    size_t got = fread(buf, 1, size, f);
    fclose(f);
    buf[got] = '\0';
    *text = buf;
    *len = got;
    return true;
}

/* The file's identity for cycle detection and sharing: its real path. */
static const char *identity_of(loader_t *L, const char *path) {
    char *rp = realpath(path, NULL);
    if (!rp)
        return dupn(L, path, strlen(path));
    char *s = dupn(L, rp, strlen(rp));
    free(rp);
    return s;
}

static bool is_open(loader_t *L, const char *identity) {
    for (uint32_t i = 0; i < L->open_files.count; i++)
        if (strcmp(L->open_files.items[i], identity) == 0)
            return true;
    return false;
}

static thrift_module_def_t *load_include(parser_t *P, const char *path,
                                         const thrift__loc_t *loc) {
    loader_t *L = P->L;
    const char *identity = NULL, *name = NULL;
    const char *text = NULL;
    size_t len = 0;
    if (L->open_files.count >= MAX_INCLUDE_DEPTH)
        fail_loc(L, loc, THRIFT_LIMIT, "includes nested deeper than %d files",
                 MAX_INCLUDE_DEPTH);
    if (L->opts && L->opts->include_cb) {
        thrift_include_request_t req = {.L = L};
        if (!L->opts->include_cb(&req, P->src->name, path, L->opts->include_ud) ||
            !req.provided) {
            if (req.oom)
                oom(L);
            fail_loc(L, loc, THRIFT_NOT_FOUND, "Could not find include file %s",
                     path);
        }
        if (req.oom)
            oom(L);
        identity = name = req.name;
        text = req.text;
        len = req.len;
    } else {
        /* Relative to the including file, then each include dir. */
        char *buf = NULL;
        size_t ndirs = L->opts ? L->opts->include_dir_count : 0;
        for (size_t i = 0; i <= ndirs && !text; i++) {
            char *candidate;
            if (path[0] == '/') {
                if (i > 0)
                    break;
                candidate = dupn(L, path, strlen(path));
            } else if (i == 0) {
                const char *inc = P->src->name;
                const char *slash = strrchr(inc, '/');
                candidate =
                    slash ? thrift__arena_printf(L->arena, "%.*s/%s",
                                                 (int)(slash - inc), inc, path)
                          : dupn(L, path, strlen(path));
            } else {
                candidate = thrift__arena_printf(
                    L->arena, "%s/%s", L->opts->include_dirs[i - 1], path);
            }
            if (!candidate)
                oom(L);
            if (read_file(L, candidate, &buf, &len, loc)) {
                text = buf;
                name = candidate;
            }
        }
        if (!text)
            fail_loc(L, loc, THRIFT_NOT_FOUND, "Could not find include file %s",
                     path);
        identity = identity_of(L, name);
    }
    if (is_open(L, identity))
        fail_loc(L, loc, THRIFT_SEMANTIC, "cyclic include of \"%s\"", path);
    thrift_module_def_t *m =
        thrift__strmap_get(&L->modules_by_id, identity, strlen(identity));
    if (m)
        return m;
    return load_file(L, identity, name, text, len);
}

static thrift_module_def_t *load_file(loader_t *L, const char *identity,
                                      const char *name, const char *text,
                                      size_t len) {
    idl_source_t *src = salloc(L, sizeof *src);
    src->name = name;
    src->text = text;
    src->len = len;
    VEC_PUSH(L, L->scratch, L->sources, src);

    thrift_module_def_t *m = alloc(L, sizeof *m);
    m->name = module_name_of(L, name);
    m->path = name;
    thrift__strmap_init(&m->defs, L->arena);
    bool no_mem = false;
    if (!thrift__strmap_put(&L->modules_by_id, identity, strlen(identity), m,
                            NULL, &no_mem) &&
        no_mem)
        oom(L);
    VEC_PUSH(L, L->arena, L->schema->modules, m);
    (void)thrift__strmap_put(&L->schema->modules_by_name, m->name,
                             strlen(m->name), m, NULL, &no_mem);
    if (no_mem)
        oom(L);

    VEC_PUSH(L, L->scratch, L->open_files, identity);
    parser_t *P = salloc(L, sizeof *P);
    P->L = L;
    P->src = src;
    P->m = m;
    thrift__strmap_init(&P->named_types, L->scratch);
    thrift__idl_lexer_init(&P->lx, src, L->arena, L->scratch, L->err, &L->fail);
    parse_program(P);
    if (P->lx.first_doc && P->lx.first_doc_state != IDL_DOC_PROCESSED)
        m->doc = P->lx.first_doc;
    L->open_files.count--;
    return m;
}

void thrift_include_provide(thrift_include_request_t *req, const char *name,
                            const char *text, size_t len) {
    if (!req || !name || (!text && len))
        return;
    loader_t *L = req->L;
    char *n = thrift__arena_strdup(L->arena, name);
    char *t = len <= MAX_FILE_SIZE ? thrift__arena_alloc(L->scratch, len + 1)
                                   : NULL;
    if (!n || !t) {
        req->oom = true;
        return;
    }
    if (len)
        memcpy(t, text, len);
    t[len] = '\0';
    req->name = n;
    req->text = t;
    req->len = len;
    req->provided = true;
}

/* ---- link: names ----------------------------------------------------------------- */

static thrift_module_def_t *included_module(const thrift_module_def_t *m,
                                            const char *name, size_t len) {
    for (uint32_t i = 0; i < m->includes.count; i++) {
        thrift_module_def_t *inc = m->includes.items[i];
        if (strlen(inc->name) == len && memcmp(inc->name, name, len) == 0)
            return inc;
    }
    return NULL;
}

/* "Name" in `m`, or "inc.Name" in a module `m` includes (Apache puts only
 * direct includes in scope). */
static const thrift__def_ref_t *lookup_def(const thrift_module_def_t *m,
                                           const char *name, size_t len) {
    const thrift__def_ref_t *ref = thrift__strmap_get(&m->defs, name, len);
    if (ref)
        return ref;
    for (size_t i = 0; i < len; i++) {
        if (name[i] != '.')
            continue;
        thrift_module_def_t *inc = included_module(m, name, i);
        if (inc) {
            ref = thrift__strmap_get(&inc->defs, name + i + 1, len - i - 1);
            if (ref)
                return ref;
        }
    }
    return NULL;
}

static const thrift_type_def_t in_progress_marker;

static const thrift_type_def_t *resolve_typedef(loader_t *L,
                                                thrift_typedef_def_t *d);

/* The type with typedefs and placeholders followed. */
static const thrift_type_def_t *final_type(loader_t *L,
                                           const thrift_type_def_t *t) {
    if (t->kind == KIND_UNRESOLVED)
        t = t->resolved; /* the definition's own type (pass A) */
    if (t->kind == THRIFT_KIND_TYPEDEF)
        return resolve_typedef(L, t->typedef_def);
    return t->resolved;
}

static const thrift_type_def_t *resolve_typedef(loader_t *L,
                                                thrift_typedef_def_t *d) {
    if (d->type.resolved == &in_progress_marker)
        fail_loc(L, &d->loc, THRIFT_SEMANTIC, "typedef \"%s\" refers to itself",
                 d->name);
    if (d->type.resolved)
        return d->type.resolved;
    d->type.resolved = &in_progress_marker;
    const thrift_type_def_t *r = final_type(L, d->target);
    d->type.resolved = r;
    d->type.wire_type = r->wire_type;
    return r;
}

static void link_types(loader_t *L) {
    /* A: find each named type's definition. */
    for (pending_type_t *p = L->pending; p; p = p->next) {
        if (p->ph->resolved)
            continue; /* a shared placeholder, already found */
        const char *name = p->ph->name;
        size_t len = strlen(name);
        const thrift__def_ref_t *ref = lookup_def(p->module, name, len);
        const thrift_type_def_t *t = ref ? thrift__def_ref_type(ref) : NULL;
        if (!t && !ref && strcmp(name, "slist") == 0)
            t = thrift__base_type(THRIFT_KIND_STRING); /* legacy alias */
        if (!t) {
            if (ref)
                fail_loc(L, &p->loc, THRIFT_SEMANTIC,
                         "\"%s\" is not a type", name);
            fail_loc(L, &p->loc, THRIFT_NOT_FOUND, "Type \"%s\" not defined",
                     name);
        }
        p->ph->resolved = t;
    }
    /* B: typedef chains, with cycles reported. */
    for (uint32_t mi = 0; mi < L->schema->modules.count; mi++) {
        thrift_module_def_t *m = L->schema->modules.items[mi];
        for (uint32_t i = 0; i < m->typedefs.count; i++)
            resolve_typedef(L, m->typedefs.items[i]);
    }
    /* C: placeholders become copies of what they name. */
    for (pending_type_t *p = L->pending; p; p = p->next) {
        thrift_type_def_t *ph = p->ph;
        if (ph->kind != KIND_UNRESOLVED)
            continue; /* a shared placeholder, already copied */
        const thrift_type_def_t *def = ph->resolved;
        const char *name = ph->name;
        *ph = *def;
        ph->name = name;
        ph->resolved = def->kind == THRIFT_KIND_TYPEDEF ? def->resolved : def;
    }
}

/* ---- link: constants ---------------------------------------------------------- */

typedef struct name_path name_path_t;

typedef struct eval_ctx {
    loader_t *L;
    int depth;
} eval_ctx_t;

static const thrift_const_value_t *eval(eval_ctx_t *E, thrift_module_def_t *m,
                                        const thrift_type_def_t *type,
                                        const cv_node_t *n,
                                        const name_path_t *np);

/* The name of the value being checked, for error messages only: built
 * lazily, since nearly every constant is fine. */
struct name_path {
    const struct name_path *parent;
    const char *part; /* "x", ".field", "<elem>", "<key>", "<val>" */
};

static size_t path_len(const name_path_t *np) {
    return np ? path_len(np->parent) + strlen(np->part) : 0;
}

static const char *render_path(loader_t *L, const name_path_t *np) {
    size_t n = path_len(np);
    char *buf = thrift__arena_alloc(L->scratch, n + 1);
    if (!buf)
        return "?";
    buf[n] = '\0';
    for (; np; np = np->parent) {
        size_t l = strlen(np->part);
        n -= l;
        memcpy(buf + n, np->part, l);
    }
    return buf;
}

/* What an identifier in a constant names: a constant or an enum value. */
typedef struct named_value {
    const_info_t *ci;
    const thrift_enum_value_def_t *ev;
} named_value_t;

static bool lookup_value_in(loader_t *L, const thrift_module_def_t *m,
                            const char *s, size_t len, named_value_t *out) {
    const thrift__def_ref_t *ref = thrift__strmap_get(&m->defs, s, len);
    if (ref && ref->kind == THRIFT__DEF_CONST) {
        out->ci = thrift__strmap_get(&L->const_by_def, (const char *)&ref->def,
                                     sizeof(void *));
        return out->ci != NULL;
    }
    const char *dot = NULL;
    for (size_t i = len; i-- > 0;)
        if (s[i] == '.') {
            dot = s + i;
            break;
        }
    if (!dot)
        return false;
    ref = thrift__strmap_get(&m->defs, s, (size_t)(dot - s));
    if (ref && ref->kind == THRIFT__DEF_ENUM) {
        const thrift_enum_def_t *e = ref->def;
        out->ev = thrift__strmap_get(&e->by_name, dot + 1,
                                     len - (size_t)(dot + 1 - s));
        return out->ev != NULL;
    }
    return false;
}

static bool lookup_value(loader_t *L, const thrift_module_def_t *m,
                         const char *s, size_t len, named_value_t *out) {
    memset(out, 0, sizeof *out);
    if (lookup_value_in(L, m, s, len, out))
        return true;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '.')
            continue;
        thrift_module_def_t *inc = included_module(m, s, i);
        if (inc && lookup_value_in(L, inc, s + i + 1, len - i - 1, out))
            return true;
    }
    return false;
}

static thrift_const_value_t *new_value(loader_t *L,
                                       const thrift_type_def_t *type) {
    thrift_const_value_t *v = alloc(L, sizeof *v);
    v->type = type;
    return v;
}

THRIFT_PRINTF(3, 4)
static void type_error(loader_t *L, const cv_node_t *n, const char *fmt, ...) {
    char buf[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fail_loc(L, &n->loc, THRIFT_TYPE, "%s", buf);
}

static bool valid_uuid(const char *s, size_t len) {
    if (len != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                     (c >= 'A' && c <= 'F'))) {
            return false;
        }
    }
    return true;
}

/* Evaluates a referenced constant's expression for the type wanted here, the
 * way Apache copies the referenced value and then checks it. */
static const thrift_const_value_t *eval_ref(eval_ctx_t *E,
                                            thrift_module_def_t *m,
                                            const thrift_type_def_t *type,
                                            const cv_node_t *n,
                                            const name_path_t *np) {
    loader_t *L = E->L;
    named_value_t nv;
    if (!lookup_value(L, m, n->s, n->len, &nv))
        fail_loc(L, &n->loc, THRIFT_NOT_FOUND,
                 "No enum value or constant found named \"%.*s\"!", (int)n->len,
                 n->s);
    if (nv.ev) {
        cv_node_t tmp = *n;
        tmp.kind = CV_INT;
        tmp.i = nv.ev->number;
        return eval(E, m, type, &tmp, np);
    }
    if (nv.ci->state == 1)
        fail_loc(L, &n->loc, THRIFT_SEMANTIC, "constant \"%s\" refers to itself",
                 nv.ci->def->name);
    int saved = nv.ci->state;
    nv.ci->state = 1;
    const thrift_const_value_t *v =
        eval(E, nv.ci->def->module, type, nv.ci->ast, np);
    nv.ci->state = saved;
    return v;
}

static const thrift_const_value_t *eval(eval_ctx_t *E, thrift_module_def_t *m,
                                        const thrift_type_def_t *type,
                                        const cv_node_t *n,
                                        const name_path_t *np) {
#define NAME render_path(L, np)
    loader_t *L = E->L;
    const thrift_type_def_t *rt = type->resolved;
    if (++E->depth > 4 * MAX_DEPTH)
        fail_loc(L, &n->loc, THRIFT_LIMIT, "constant nested too deeply");
    thrift_const_value_t *v = NULL;
    switch ((thrift_kind_t)rt->kind) {
    case THRIFT_KIND_VOID:
        type_error(L, n, "type error: cannot declare a void const: %s", NAME);
        break;
    case THRIFT_KIND_STRING:
    case THRIFT_KIND_BINARY:
    case THRIFT_KIND_UUID:
        if (n->kind == CV_IDENT) {
            E->depth--;
            return eval_ref(E, m, type, n, np);
        }
        if (n->kind != CV_STRING)
            type_error(L, n, "type error: const \"%s\" was declared as %s", NAME,
                       rt->kind == THRIFT_KIND_UUID ? "uuid" : "string");
        v = new_value(L, rt);
        if (rt->kind == THRIFT_KIND_UUID) {
            const char *s = n->s;
            size_t len = n->len;
            if (len == 38 && s[0] == '{' && s[37] == '}') {
                s++;
                len = 36;
            }
            if (!valid_uuid(s, len))
                type_error(L, n, "invalid uuid constant \"%s\" for \"%s\"", n->s,
                           NAME);
            v->u.str.ptr = dupn(L, s, len);
            v->u.str.len = len;
        } else {
            // A string is UTF-8 on every wire and in JSON; only binary may
            // hold any bytes.
            if (rt->kind == THRIFT_KIND_STRING &&
                !thrift__utf8_valid((const uint8_t *)n->s, n->len))
                type_error(L, n,
                           "type error: const \"%s\" was declared as string, "
                           "but its bytes are not valid UTF-8 (binary may hold "
                           "any bytes)",
                           NAME);
            v->u.str.ptr = dupn(L, n->s, n->len);
            v->u.str.len = n->len;
        }
        break;
    case THRIFT_KIND_BOOL:
    case THRIFT_KIND_I8:
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
    case THRIFT_KIND_I64: {
        if (n->kind == CV_IDENT) {
            E->depth--;
            return eval_ref(E, m, type, n, np);
        }
        const char *tn = rt->kind == THRIFT_KIND_I8 ? "byte" : rt->name;
        if (n->kind != CV_INT)
            type_error(L, n, "type error: const \"%s\" was declared as %s", NAME,
                       tn);
        int64_t lo = INT64_MIN, hi = INT64_MAX;
        if (rt->kind == THRIFT_KIND_I8)
            lo = INT8_MIN, hi = INT8_MAX;
        else if (rt->kind == THRIFT_KIND_I16)
            lo = INT16_MIN, hi = INT16_MAX;
        else if (rt->kind == THRIFT_KIND_I32)
            lo = INT32_MIN, hi = INT32_MAX;
        if (n->i < lo || n->i > hi)
            type_error(L, n, "type error: const \"%s\" was declared as %s, "
                             "and %lld does not fit",
                       NAME, tn, (long long)n->i);
        v = new_value(L, rt);
        v->u.i = n->i;
        break;
    }
    case THRIFT_KIND_DOUBLE:
        if (n->kind == CV_IDENT) {
            E->depth--;
            return eval_ref(E, m, type, n, np);
        }
        if (n->kind != CV_INT && n->kind != CV_DOUBLE)
            type_error(L, n, "type error: const \"%s\" was declared as double",
                       NAME);
        v = new_value(L, rt);
        v->u.d = n->kind == CV_INT ? (double)n->i : n->d;
        break;
    case THRIFT_KIND_ENUM: {
        const thrift_enum_def_t *e = rt->enum_def;
        int64_t number;
        if (n->kind == CV_IDENT) {
            /* Apache takes the part after the last dot as the value name. */
            const char *vn = n->s;
            for (size_t i = 0; i < n->len; i++)
                if (n->s[i] == '.')
                    vn = n->s + i + 1;
            const thrift_enum_value_def_t *ev = thrift__strmap_get(
                &e->by_name, vn, n->len - (size_t)(vn - n->s));
            if (ev) {
                number = ev->number;
            } else {
                named_value_t nv;
                /* A value of another enum is a type error, not its number
                 * reinterpreted in this enum. */
                if (!lookup_value(L, m, n->s, n->len, &nv) ||
                    (nv.ev && nv.ev->owner != e))
                    type_error(L, n,
                               "type error: const %s was declared as type %s "
                               "which is an enum, but %.*s is not a valid value "
                               "for that enum",
                               NAME, e->name, (int)n->len, n->s);
                E->depth--;
                const thrift_const_value_t *r = eval_ref(E, m, type, n, np);
                return r;
            }
        } else if (n->kind == CV_INT) {
            number = n->i;
            if (number < INT32_MIN || number > INT32_MAX ||
                !thrift_enum_def_find_number(e, (int32_t)number))
                type_error(L, n,
                           "Couldn't find a named value in enum %s for value %lld",
                           e->name, (long long)number);
        } else {
            type_error(L, n, "type error: const \"%s\" was declared as enum",
                       NAME);
            number = 0;
        }
        v = new_value(L, rt);
        v->u.i = number;
        break;
    }
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION: {
        if (n->kind == CV_IDENT) {
            E->depth--;
            return eval_ref(E, m, type, n, np);
        }
        const thrift_struct_def_t *s = rt->struct_def;
        if (n->kind != CV_MAP)
            type_error(L, n, "type error: const \"%s\" was declared as "
                             "struct/xception",
                       NAME);
        v = new_value(L, rt);
        v->count = n->count;
        v->items = alloc(L, sizeof *v->items * (n->count ? n->count : 1));
        v->fields = alloc(L, sizeof *v->fields * (n->count ? n->count : 1));
        uint32_t required_seen = 0;
        for (uint32_t i = 0; i < n->count; i++) {
            const cv_node_t *k = n->items[2 * i];
            if (k->kind != CV_STRING)
                type_error(L, k, "type error: %s struct key must be string", NAME);
            const thrift_field_def_t *f =
                thrift__struct_field_named(s, k->s, k->len);
            if (!f)
                type_error(L, k,
                           "No field named \"%s\" was found in struct of type "
                           "\"%s\"",
                           k->s, s->name);
            for (uint32_t j = 0; j < i; j++)
                if (v->fields[j] == f)
                    type_error(L, k, "field \"%s\" is given twice in \"%s\"",
                               k->s, NAME);
            if (f->req == THRIFT_REQ_REQUIRED)
                required_seen++;
            v->fields[i] = f;
            char *part = thrift__arena_alloc(L->scratch, f->name_len + 2);
            if (!part)
                oom(L);
            part[0] = '.';
            memcpy(part + 1, f->name, f->name_len + 1);
            name_path_t fp = {np, part};
            v->items[i] = eval(E, m, f->type, n->items[2 * i + 1], &fp);
        }
        if (required_seen < s->required_count)
            for (uint32_t j = 0; j < s->field_count; j++) {
                const thrift_field_def_t *f = &s->fields[j];
                if (f->req != THRIFT_REQ_REQUIRED)
                    continue;
                bool given = false;
                for (uint32_t i = 0; i < v->count; i++)
                    given |= v->fields[i] == f;
                if (!given)
                    type_error(L, n,
                               "Field \"%s\" was required to create constant "
                               "for type \"%s\"",
                               f->name, s->name);
            }
        break;
    }
    case THRIFT_KIND_MAP:
        if (n->kind == CV_IDENT) {
            E->depth--;
            return eval_ref(E, m, type, n, np);
        }
        /* Apache reads an empty list as an empty map (and vice versa). */
        if (n->kind != CV_MAP && !(n->kind == CV_LIST && n->count == 0))
            type_error(L, n, "type error: const \"%s\" was declared as map", NAME);
        v = new_value(L, rt);
        v->count = n->count;
        v->keys = alloc(L, sizeof *v->keys * (n->count ? n->count : 1));
        v->items = alloc(L, sizeof *v->items * (n->count ? n->count : 1));
        {
            name_path_t kn_ = {np, "<key>"}, vn_ = {np, "<val>"};
            const name_path_t *kn = &kn_, *vn = &vn_;
            for (uint32_t i = 0; i < n->count; i++) {
                v->keys[i] = eval(E, m, rt->key, n->items[2 * i], kn);
                v->items[i] = eval(E, m, rt->value, n->items[2 * i + 1], vn);
            }
        }
        break;
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET:
        if (n->kind == CV_IDENT) {
            E->depth--;
            return eval_ref(E, m, type, n, np);
        }
        if (n->kind != CV_LIST && !(n->kind == CV_MAP && n->count == 0))
            type_error(L, n, "type error: const \"%s\" was declared as %s", NAME,
                       rt->kind == THRIFT_KIND_SET ? "set" : "list");
        v = new_value(L, rt);
        v->count = n->count;
        v->items = alloc(L, sizeof *v->items * (n->count ? n->count : 1));
        {
            name_path_t en_ = {np, "<elem>"};
            const name_path_t *en = &en_;
            for (uint32_t i = 0; i < n->count; i++)
                v->items[i] = eval(E, m, rt->elem, n->items[i], en);
        }
        break;
    default:
        type_error(L, n, "type error: const \"%s\" has an unusable type", NAME);
        break;
    }
    E->depth--;
    return v;
}
#undef NAME

static void link_consts(loader_t *L) {
    eval_ctx_t E = {L, 0};
    for (const_info_t *ci = L->consts; ci; ci = ci->next) {
        ci->state = 1;
        name_path_t np = {NULL, ci->def->name};
        ci->def->value = eval(&E, ci->def->module, ci->def->type, ci->ast, &np);
        ci->state = 2;
    }
    for (default_info_t *d = L->defaults; d; d = d->next) {
        name_path_t np = {NULL, d->field->name};
        d->field->default_value =
            eval(&E, d->module, d->field->type, d->ast, &np);
    }
}

/* ---- link: what a default expands into ----------------------------------- */

// Making a struct value fills in its fields' defaults, and a default that
// holds a struct makes that struct with its own defaults in turn.  This walks
// that expansion once per struct at load, so that a default which contains
// its own struct (directly, through other structs, optional fields or
// containers) is an error here, with the field's location, instead of an
// endless recursion in every later encode, decode or call; and so that what
// one empty value expands into is bounded in depth and in size (two struct
// defaults per level would otherwise double it at every level).
enum { MAX_DEFAULT_DEPTH = 4 * MAX_DEPTH, MAX_DEFAULT_VALUES = 1u << 20 };

typedef struct expansion {
    uint64_t values; /* value slots made, saturating at the limit */
    uint32_t depth;  /* nesting levels below the value itself */
} expansion_t;

typedef struct struct_expansion {
    const thrift_struct_def_t *sd; /* the key's bytes */
    int state;                     /* 1 being expanded, 2 done */
    expansion_t result;
} struct_expansion_t;

typedef struct defaults_walk {
    loader_t *L;
    thrift__strmap_t by_struct; /* struct def pointer bytes -> expansion */
    const thrift_field_def_t *field; /* whose default is being walked */
} defaults_walk_t;

static expansion_t expand_struct(defaults_walk_t *W,
                                 const thrift_struct_def_t *sd, uint32_t depth);

static void check_expansion(defaults_walk_t *W, expansion_t e, uint32_t depth) {
    const thrift_field_def_t *f = W->field;
    if (e.values > MAX_DEFAULT_VALUES)
        fail_loc(W->L, &f->loc, THRIFT_LIMIT,
                 "the default of \"%s.%s\" expands to more than %u values",
                 f->owner->name, f->name, MAX_DEFAULT_VALUES);
    if (depth + e.depth > MAX_DEFAULT_DEPTH)
        fail_loc(W->L, &f->loc, THRIFT_LIMIT,
                 "the default of \"%s.%s\" nests more than %u levels deep",
                 f->owner->name, f->name, (unsigned)MAX_DEFAULT_DEPTH);
}

static void add_expansion(defaults_walk_t *W, expansion_t *into,
                          expansion_t part, uint32_t depth) {
    into->values += part.values;
    if (part.depth + 1 > into->depth)
        into->depth = part.depth + 1;
    check_expansion(W, *into, depth);
}

// `depth` is where the value sits below the struct whose defaults started
// the walk; it bounds this recursion as it bounds the one it predicts.
static expansion_t expand_const(defaults_walk_t *W, const thrift_type_def_t *type,
                                const thrift_const_value_t *cv, uint32_t depth) {
    const thrift_type_def_t *t = type->resolved;
    expansion_t e = {0, 0};
    switch (t->kind) {
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_EXCEPTION:
    case THRIFT_KIND_UNION:
        if (t->kind == THRIFT_KIND_UNION) /* a union gets no defaults */
            e.values = t->struct_def->field_count;
        else
            e = expand_struct(W, t->struct_def, depth);
        for (uint32_t i = 0; i < cv->count; i++)
            if (cv->fields[i])
                add_expansion(W, &e,
                              expand_const(W, cv->fields[i]->type, cv->items[i],
                                           depth + 1),
                              depth);
        break;
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET:
        e.values = cv->count;
        for (uint32_t i = 0; i < cv->count; i++)
            add_expansion(W, &e, expand_const(W, t->elem, cv->items[i], depth + 1),
                          depth);
        break;
    case THRIFT_KIND_MAP:
        e.values = 2 * (uint64_t)cv->count;
        for (uint32_t i = 0; i < cv->count; i++) {
            add_expansion(W, &e, expand_const(W, t->key, cv->keys[i], depth + 1),
                          depth);
            add_expansion(W, &e,
                          expand_const(W, t->value, cv->items[i], depth + 1),
                          depth);
        }
        break;
    default:
        break; /* a scalar lives in its parent's slot */
    }
    return e;
}

static expansion_t expand_struct(defaults_walk_t *W,
                                 const thrift_struct_def_t *sd, uint32_t depth) {
    loader_t *L = W->L;
    struct_expansion_t *se =
        thrift__strmap_get(&W->by_struct, (const char *)&sd, sizeof sd);
    if (se && se->state == 1) {
        const thrift_field_def_t *f = W->field;
        fail_loc(L, &f->loc, THRIFT_SEMANTIC,
                 "cyclic default: the default of \"%s.%s\" contains a \"%s\", "
                 "whose own defaults contain it again",
                 f->owner->name, f->name, sd->name);
    }
    if (se) {
        check_expansion(W, se->result, depth);
        return se->result;
    }
    se = salloc(L, sizeof *se);
    se->sd = sd;
    se->state = 1;
    bool no_mem = false;
    if (!thrift__strmap_put(&W->by_struct, (const char *)&se->sd, sizeof se->sd,
                            se, NULL, &no_mem) &&
        no_mem)
        oom(L);
    const thrift_field_def_t *outer = W->field;
    expansion_t e = {sd->field_count, 0};
    for (uint32_t i = 0; i < sd->field_count; i++) {
        const thrift_field_def_t *f = &sd->fields[i];
        if (!f->default_value)
            continue;
        W->field = f;
        add_expansion(W, &e, expand_const(W, f->type, f->default_value, depth + 1),
                      depth);
    }
    W->field = outer;
    se->state = 2;
    se->result = e;
    return e;
}

static void check_defaults(loader_t *L) {
    defaults_walk_t W = {L, {0}, NULL};
    thrift__strmap_init(&W.by_struct, L->scratch);
    for (default_info_t *d = L->defaults; d; d = d->next) {
        const thrift_struct_def_t *sd = d->field->owner;
        if (sd->type.kind == THRIFT_KIND_UNION)
            continue; /* a union's defaults are never filled in */
        W.field = d->field;
        expand_struct(&W, sd, 0);
    }
}

/* ---- link: services ------------------------------------------------------------- */

static void build_result(loader_t *L, thrift_function_def_t *f) {
    const thrift_struct_def_t *xs = f->throws;
    bool has_success = f->return_type->kind != THRIFT_KIND_VOID;
    uint32_t n = xs->field_count + (has_success ? 1u : 0u);
    thrift_struct_def_t *r = alloc(L, sizeof *r);
    r->name = cat3(L, f->name, "_result", "");
    /* module.Service.name_result, without printf (once per function). */
    r->full_name = cat3(L, f->service->full_name, ".", r->name);
    r->module = f->service->module;
    r->loc = f->loc;
    r->type.kind = THRIFT_KIND_STRUCT;
    r->type.wire_type = THRIFT_TYPE_STRUCT;
    r->type.resolved = &r->type;
    r->type.struct_def = r;
    r->type.name = r->name;
    r->function = f;
    r->fields = alloc(L, sizeof *r->fields * (n ? n : 1));
    r->field_count = n;
    uint32_t o = 0;
    if (has_success) {
        thrift_field_def_t *s = &r->fields[o++];
        s->id = 0;
        s->name = "success";
        s->name_len = 7;
        s->type = f->return_type;
        s->req = THRIFT_REQ_OPTIONAL;
        s->loc = f->loc;
    }
    for (uint32_t i = 0; i < xs->field_count; i++) {
        r->fields[o] = xs->fields[i];
        r->fields[o].req = THRIFT_REQ_OPTIONAL;
        o++;
    }
    uint32_t dup = 0;
    thrift_status_t st = thrift__struct_build_index(r, L->arena, &dup);
    if (st == THRIFT_NOMEM)
        oom(L);
    if (st != THRIFT_OK)
        fail_loc(L, &r->fields[dup].loc, THRIFT_SEMANTIC,
                 "\"%d: %s\" - field identifier/name has already been used",
                 r->fields[dup].id, r->fields[dup].name);
    f->result = r;
}

/* L->fns_by_name, made when the first service with a parent is linked
 * (every service is parsed by then), sized once for all functions. */
static void index_functions(loader_t *L) {
    uint32_t total = 0;
    for (service_info_t *si = L->services; si; si = si->next)
        total += si->svc->function_count;
    if (!thrift__strmap_reserve(&L->fns_by_name, total ? total : 1))
        oom(L);
    fn_node_t *nodes = salloc(L, sizeof *nodes * (total ? total : 1));
    uint32_t k = 0;
    for (service_info_t *si = L->services; si; si = si->next) {
        for (uint32_t i = 0; i < si->svc->function_count; i++) {
            thrift_function_def_t *f = si->svc->functions[i];
            fn_node_t *node = &nodes[k++];
            node->fn = f;
            node->si = si;
            node->next = NULL;
            void *head = NULL;
            bool no_mem = false;
            if (!thrift__strmap_put(&L->fns_by_name, f->name, f->name_len, node,
                                    &head, &no_mem)) {
                if (no_mem)
                    oom(L);
                fn_node_t *h = head;
                node->next = h->next;
                h->next = node;
            }
        }
    }
}

static void link_service(loader_t *L, service_info_t *si) {
    if (si->state == 2)
        return;
    thrift_service_def_t *s = si->svc;
    if (si->state == 1)
        fail_loc(L, &s->loc, THRIFT_SEMANTIC, "service \"%s\" extends itself",
                 s->name);
    si->state = 1;
    if (si->extends) {
        const thrift__def_ref_t *ref =
            lookup_def(s->module, si->extends, strlen(si->extends));
        if (!ref || ref->kind != THRIFT__DEF_SERVICE)
            fail_loc(L, &si->extends_loc, THRIFT_NOT_FOUND,
                     "Service \"%s\" has not been defined.", si->extends);
        thrift_service_def_t *parent = ref->def;
        service_info_t *pi = thrift__strmap_get(
            &L->service_info_by_def, (const char *)&parent, sizeof parent);
        if (pi) {
            link_service(L, pi);
            si->depth = pi->depth + 1;
        }
        s->parent = parent;
    }
    for (uint32_t i = 0; i < s->function_count; i++) {
        thrift_function_def_t *f = s->functions[i];
        for (uint32_t j = 0; j < f->throws->field_count; j++) {
            const thrift_field_def_t *x = &f->throws->fields[j];
            if (x->type->resolved->kind != THRIFT_KIND_EXCEPTION)
                fail_loc(L, &x->loc, THRIFT_SEMANTIC,
                         "Throws clause may not contain non-exception types "
                         "(\"%s\" is %s)",
                         x->name, x->type->name);
        }
        build_result(L, f);
    }
    /* Inherited functions are found by walking the parents (see
     * thrift_service_def_find_function_n); here only check that no own
     * function redefines an inherited one, as Apache does (a client of the
     * parent would call the wrong signature).  Functions of one name are
     * few, and a service defining one is an ancestor only if it sits the
     * right number of steps up the chain. */
    if (s->parent) {
        if (!L->fns_by_name.slots)
            index_functions(L);
        for (uint32_t i = 0; i < s->function_count; i++) {
            const thrift_function_def_t *f = s->functions[i];
            const fn_node_t *n =
                thrift__strmap_get(&L->fns_by_name, f->name, f->name_len);
            for (; n; n = n->next) {
                if (n->si->state != 2 || n->si->depth >= si->depth)
                    continue; /* not linked yet, so not an ancestor */
                const thrift_service_def_t *a = s;
                for (uint32_t up = si->depth - n->si->depth; up; up--)
                    a = a->parent;
                if (a == n->si->svc)
                    fail_loc(L, &f->loc, THRIFT_SEMANTIC,
                             "Function \"%s\" is already defined in service %s "
                             "(inherited from %s)",
                             f->name, s->name, n->si->svc->name);
            }
        }
    }
    si->state = 2;
}

/* ---- entry points ------------------------------------------------------------- */

/* The part of a load that may longjmp out. */
static void load_all(loader_t *L) {
    L->schema = thrift__schema_new(L->arena);
    if (!L->schema)
        oom(L);
    thrift__strmap_init(&L->modules_by_id, L->scratch);
    thrift__strmap_init(&L->const_by_def, L->scratch);
    thrift__strmap_init(&L->service_info_by_def, L->scratch);
    thrift__strmap_init(&L->fns_by_name, L->scratch);
    L->consts_tail = &L->consts;
    L->defaults_tail = &L->defaults;
    L->services_tail = &L->services;
    const char *path = dupn(L, L->main_name, strlen(L->main_name));
    const char *identity = path;
    const char *text = L->main_text;
    size_t len = L->main_len;
    if (L->main_from_file) {
        char *buf;
        if (!read_file(L, path, &buf, &len, NULL)) {
            thrift__error_set_source(L->err, path);
            fail_loc(L, NULL, THRIFT_IO, "Could not open input file: \"%s\"",
                     path);
        }
        text = buf;
        identity = identity_of(L, path);
    } else if (!(L->opts && L->opts->include_cb)) {
        identity = identity_of(L, path);
    }
    L->schema->main = load_file(L, identity, path, text, len);
    link_types(L);
    for (service_info_t *si = L->services; si; si = si->next)
        link_service(L, si);
    link_consts(L);
    check_defaults(L);
}

static thrift_schema_t *load(const char *name, const char *text, size_t len,
                             bool from_file, const thrift_load_options_t *opts,
                             thrift_error_t *err) {
    // Every allocation of a load, the loader itself included, goes through
    // the caller's allocator so a failed-allocation sweep reaches them all.
    const thrift_allocator_t *allocator = opts ? opts->allocator : NULL;
    loader_t *L = thrift__alloc(allocator, sizeof *L);
    if (L)
        memset(L, 0, sizeof *L);
    if (!L) {
        thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        return NULL;
    }
    L->err = err ? err : &L->own_err;
    L->opts = opts;
    L->main_name = name;
    L->main_text = text;
    L->main_len = len;
    L->main_from_file = from_file;
    L->arena = thrift_arena_new(allocator);
    L->scratch = thrift_arena_new(allocator);
    if (!L->arena || !L->scratch) {
        thrift_arena_free(L->arena);
        thrift_arena_free(L->scratch);
        thrift__free(allocator, L);
        thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        return NULL;
    }
    thrift_schema_t *result = NULL;
    if (setjmp(L->fail) == 0) {
        load_all(L);
        result = L->schema;
    }
    thrift_arena_free(L->scratch);
    if (!result)
        thrift_arena_free(L->arena);
    thrift__free(allocator, L);
    return result;
}

thrift_schema_t *thrift_load_ex(const char *path,
                                const thrift_load_options_t *opts,
                                thrift_error_t *err) {
    if (!path) {
        thrift__error_set(err, THRIFT_MISUSE, "no path given");
        return NULL;
    }
    return load(path, NULL, 0, true, opts, err);
}

thrift_schema_t *thrift_load(const char *path, thrift_error_t *err) {
    return thrift_load_ex(path, NULL, err);
}

thrift_schema_t *thrift_load_string(const char *name, const char *text,
                                    size_t len,
                                    const thrift_load_options_t *opts,
                                    thrift_error_t *err) {
    if (!text && len) {
        thrift__error_set(err, THRIFT_MISUSE, "no text given");
        return NULL;
    }
    if (len > MAX_FILE_SIZE) {
        thrift__error_set(err, THRIFT_LIMIT, "IDL text larger than %u bytes",
                          MAX_FILE_SIZE);
        return NULL;
    }
    return load(name ? name : "<string>", text ? text : "", len, false, opts,
                err);
}
