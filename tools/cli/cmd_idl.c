/* dynthrift idl: load a .thrift file and print its schema, either as a
 * readable text dump or as exactly what Apache's `thrift --gen json` writes
 * for the same file (so Apache's compiler can serve as an oracle). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "cli_util.h"

/* ---- a growable string for the text dump ------------------------------- */

typedef struct sbuf {
    char *data;
    size_t len;
    size_t cap;
    bool oom;
} sbuf_t;

static void sb_reserve(sbuf_t *b, size_t extra) {
    if (b->oom || b->cap - b->len > extra)
        return;
    size_t ncap = b->cap ? b->cap : 4096;
    while (ncap - b->len <= extra)
        ncap *= 2;
    char *nd = realloc(b->data, ncap);
    if (!nd) {
        b->oom = true;
        return;
    }
    b->data = nd;
    b->cap = ncap;
}

static void sb_putn(sbuf_t *b, const char *s, size_t n) {
    sb_reserve(b, n);
    if (b->oom)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void sb_puts(sbuf_t *b, const char *s) { sb_putn(b, s, strlen(s)); }

__attribute__((format(printf, 2, 3))) static void sb_printf(sbuf_t *b,
                                                            const char *fmt,
                                                            ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        sb_putn(b, small, (size_t)n);
        return;
    }
    sb_reserve(b, (size_t)n + 1);
    if (b->oom)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void sb_indent(sbuf_t *b, int depth) {
    for (int i = 0; i < depth; i++)
        sb_puts(b, "  ");
}

/* A string literal as the dump shows it: double-quoted, JSON-style escapes,
 * other control bytes as \xNN; non-ASCII bytes pass through. */
static void sb_quoted(sbuf_t *b, const char *s, size_t n) {
    sb_putn(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': sb_puts(b, "\\\""); break;
        case '\\': sb_puts(b, "\\\\"); break;
        case '\n': sb_puts(b, "\\n"); break;
        case '\r': sb_puts(b, "\\r"); break;
        case '\t': sb_puts(b, "\\t"); break;
        default:
            if (c < 0x20 || c == 0x7f)
                sb_printf(b, "\\x%02x", c);
            else
                sb_putn(b, (const char *)&c, 1);
        }
    }
    sb_putn(b, "\"", 1);
}

/* The shortest %g form that reads back as the same double. */
static void format_double(char *out, size_t size, double d) {
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, size, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            return;
    }
}

/* ---- names -------------------------------------------------------------- */

/* The name of a definition as seen from module `from`: "Name" inside its own
 * module, "module.Name" elsewhere (Apache's get_qualified_name). */
static void qualified(sbuf_t *b, const thrift_module_def_t *def_module,
                      const char *name, const thrift_module_def_t *from) {
    if (def_module && def_module != from)
        sb_printf(b, "%s.", thrift_module_def_name(def_module));
    sb_puts(b, name);
}

static const thrift_module_def_t *named_type_module(const thrift_type_def_t *t,
                                                    const char **name) {
    const thrift_struct_def_t *s;
    const thrift_enum_def_t *e;
    const thrift_typedef_def_t *d;
    if ((d = thrift_type_def_typedef(t)) != NULL &&
        thrift_type_def_kind(t) == THRIFT_KIND_TYPEDEF) {
        *name = thrift_typedef_def_name(d);
        return thrift_typedef_def_module(d);
    }
    if ((s = thrift_type_def_struct(t)) != NULL) {
        *name = thrift_struct_def_name(s);
        return thrift_struct_def_module(s);
    }
    if ((e = thrift_type_def_enum(t)) != NULL) {
        *name = thrift_enum_def_name(e);
        return thrift_enum_def_module(e);
    }
    *name = thrift_type_def_name(t);
    return NULL;
}

/* ---- text dump ----------------------------------------------------------- */

static void text_annotations(sbuf_t *b, const thrift_annotations_t *a) {
    size_t n = thrift_annotations_count(a);
    if (!n)
        return;
    sb_puts(b, " (");
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_puts(b, ", ");
        const char *v = thrift_annotations_value_at(a, i);
        sb_printf(b, "%s = ", thrift_annotations_key_at(a, i));
        sb_quoted(b, v ? v : "", v ? strlen(v) : 0);
    }
    sb_puts(b, ")");
}

static void text_type(sbuf_t *b, const thrift_type_def_t *t,
                      const thrift_module_def_t *from) {
    if (!t) {
        sb_puts(b, "?");
        return;
    }
    thrift_kind_t kind = thrift_type_def_kind(t);
    switch (kind) {
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET:
        sb_puts(b, kind == THRIFT_KIND_LIST ? "list<" : "set<");
        text_type(b, thrift_type_def_elem(t), from);
        sb_puts(b, ">");
        break;
    case THRIFT_KIND_MAP:
        sb_puts(b, "map<");
        text_type(b, thrift_type_def_key(t), from);
        sb_puts(b, ", ");
        text_type(b, thrift_type_def_value(t), from);
        sb_puts(b, ">");
        break;
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION:
    case THRIFT_KIND_ENUM:
    case THRIFT_KIND_TYPEDEF: {
        const char *name = NULL;
        const thrift_module_def_t *m = named_type_module(t, &name);
        qualified(b, m, name ? name : "?", from);
        // A named type's annotations belong to its definition, which the
        // dump shows where it is defined.
        return;
    }
    default:
        sb_puts(b, thrift_type_def_name(t));
        break;
    }
    text_annotations(b, thrift_type_def_annotations(t));
}

static void text_value(sbuf_t *b, const thrift_const_value_t *v,
                       const thrift_module_def_t *from) {
    if (!v) {
        sb_puts(b, "?");
        return;
    }
    const thrift_type_def_t *t = thrift_const_value_type(v);
    const thrift_type_def_t *r = t ? thrift_type_def_resolved(t) : NULL;
    thrift_kind_t kind = r ? thrift_type_def_kind(r) : THRIFT_KIND_VOID;
    switch (kind) {
    case THRIFT_KIND_BOOL:
        sb_puts(b, thrift_const_value_int(v) ? "true" : "false");
        break;
    case THRIFT_KIND_I8:
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
    case THRIFT_KIND_I64:
        sb_printf(b, "%" PRId64, thrift_const_value_int(v));
        break;
    case THRIFT_KIND_ENUM: {
        int64_t n = thrift_const_value_int(v);
        const thrift_enum_def_t *e = thrift_type_def_enum(r);
        const thrift_enum_value_def_t *ev =
            e && n >= INT32_MIN && n <= INT32_MAX
                ? thrift_enum_def_find_number(e, (int32_t)n)
                : NULL;
        if (ev) {
            qualified(b, thrift_enum_def_module(e), thrift_enum_def_name(e), from);
            sb_printf(b, ".%s(%" PRId64 ")", thrift_enum_value_def_name(ev), n);
        } else {
            sb_printf(b, "%" PRId64, n);
        }
        break;
    }
    case THRIFT_KIND_DOUBLE: {
        char num[64];
        format_double(num, sizeof num, thrift_const_value_double(v));
        sb_puts(b, num);
        break;
    }
    case THRIFT_KIND_STRING:
    case THRIFT_KIND_BINARY:
    case THRIFT_KIND_UUID: {
        size_t len = 0;
        const char *s = thrift_const_value_string(v, &len);
        sb_quoted(b, s ? s : "", s ? len : 0);
        break;
    }
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET: {
        size_t n = thrift_const_value_count(v);
        sb_puts(b, "[");
        for (size_t i = 0; i < n; i++) {
            if (i)
                sb_puts(b, ", ");
            text_value(b, thrift_const_value_item(v, i), from);
        }
        sb_puts(b, "]");
        break;
    }
    case THRIFT_KIND_MAP: {
        size_t n = thrift_const_value_count(v);
        sb_puts(b, "{");
        for (size_t i = 0; i < n; i++) {
            if (i)
                sb_puts(b, ", ");
            text_value(b, thrift_const_value_map_key(v, i), from);
            sb_puts(b, ": ");
            text_value(b, thrift_const_value_map_value(v, i), from);
        }
        sb_puts(b, "}");
        break;
    }
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION: {
        const thrift_struct_def_t *s = thrift_type_def_struct(r);
        if (s)
            qualified(b, thrift_struct_def_module(s), thrift_struct_def_name(s), from);
        size_t n = thrift_const_value_count(v);
        sb_puts(b, "{");
        for (size_t i = 0; i < n; i++) {
            if (i)
                sb_puts(b, ", ");
            const thrift_field_def_t *f = thrift_const_value_struct_field(v, i);
            sb_printf(b, "%s: ", f ? thrift_field_def_name(f) : "?");
            text_value(b, thrift_const_value_struct_value(v, i), from);
        }
        sb_puts(b, "}");
        break;
    }
    default:
        sb_puts(b, "?");
        break;
    }
}

static void text_doc(sbuf_t *b, int depth, const char *doc) {
    if (!doc)
        return;
    sb_indent(b, depth);
    sb_puts(b, "doc ");
    sb_quoted(b, doc, strlen(doc));
    sb_puts(b, "\n");
}

static const char *req_word(thrift_requiredness_t r) {
    switch (r) {
    case THRIFT_REQ_REQUIRED: return "required";
    case THRIFT_REQ_OPTIONAL: return "optional";
    default: return "default";
    }
}

/* "1: required i32 x = 3 (a = "b")" */
static void text_field(sbuf_t *b, const thrift_field_def_t *f,
                       const thrift_module_def_t *from) {
    sb_printf(b, "%d: %s ", thrift_field_def_id(f),
              req_word(thrift_field_def_requiredness(f)));
    text_type(b, thrift_field_def_type(f), from);
    if (thrift_field_def_is_reference(f))
        sb_puts(b, "&");
    sb_printf(b, " %s", thrift_field_def_name(f));
    const thrift_const_value_t *dv = thrift_field_def_default(f);
    if (dv) {
        sb_puts(b, " = ");
        text_value(b, dv, from);
    }
    text_annotations(b, thrift_field_def_annotations(f));
    if (thrift_field_def_id_is_implicit(f))
        sb_puts(b, " [implicit id]");
}

static void text_field_list(sbuf_t *b, const thrift_struct_def_t *s,
                            const thrift_module_def_t *from) {
    size_t n = s ? thrift_struct_def_field_count(s) : 0;
    sb_puts(b, "(");
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_puts(b, ", ");
        text_field(b, thrift_struct_def_field_at(s, i), from);
    }
    sb_puts(b, ")");
}

static const char *struct_word(thrift_kind_t k) {
    return k == THRIFT_KIND_UNION ? "union"
           : k == THRIFT_KIND_EXCEPTION ? "exception"
                                        : "struct";
}

static void text_struct(sbuf_t *b, const thrift_struct_def_t *s,
                        const thrift_module_def_t *m) {
    sb_printf(b, "  %s %s", struct_word(thrift_struct_def_kind(s)),
              thrift_struct_def_name(s));
    text_annotations(b, thrift_struct_def_annotations(s));
    sb_puts(b, "\n");
    text_doc(b, 2, thrift_struct_def_doc(s));
    size_t n = thrift_struct_def_field_count(s);
    for (size_t i = 0; i < n; i++) {
        const thrift_field_def_t *f = thrift_struct_def_field_at(s, i);
        sb_indent(b, 2);
        text_field(b, f, m);
        sb_puts(b, "\n");
        text_doc(b, 3, thrift_field_def_doc(f));
    }
}

static bool function_is_overridden(const thrift_service_def_t *svc,
                                   const thrift_service_def_t *upto,
                                   const char *name) {
    // True when a service between `svc` (inclusive) and `upto` (exclusive)
    // in the extends chain declares `name` itself.
    for (const thrift_service_def_t *s = svc; s && s != upto;
         s = thrift_service_def_parent(s)) {
        size_t n = thrift_service_def_function_count(s);
        for (size_t i = 0; i < n; i++)
            if (!strcmp(thrift_function_def_name(thrift_service_def_function_at(s, i)),
                        name))
                return true;
    }
    return false;
}

static void text_service(sbuf_t *b, const thrift_service_def_t *svc,
                         const thrift_module_def_t *m, bool synthesized) {
    sb_printf(b, "  service %s", thrift_service_def_name(svc));
    const thrift_service_def_t *parent = thrift_service_def_parent(svc);
    if (parent) {
        sb_puts(b, " extends ");
        qualified(b, thrift_service_def_module(parent),
                  thrift_service_def_name(parent), m);
    }
    text_annotations(b, thrift_service_def_annotations(svc));
    sb_puts(b, "\n");
    text_doc(b, 2, thrift_service_def_doc(svc));
    size_t n = thrift_service_def_function_count(svc);
    for (size_t i = 0; i < n; i++) {
        const thrift_function_def_t *f = thrift_service_def_function_at(svc, i);
        sb_indent(b, 2);
        if (thrift_function_def_is_oneway(f))
            sb_puts(b, "oneway ");
        text_type(b, thrift_function_def_return_type(f), m);
        sb_printf(b, " %s", thrift_function_def_name(f));
        text_field_list(b, thrift_function_def_args(f), m);
        const thrift_struct_def_t *throws = thrift_function_def_throws(f);
        if (throws && thrift_struct_def_field_count(throws)) {
            sb_puts(b, " throws ");
            text_field_list(b, throws, m);
        }
        text_annotations(b, thrift_function_def_annotations(f));
        sb_puts(b, "\n");
        text_doc(b, 3, thrift_function_def_doc(f));
        const thrift_struct_def_t *args = thrift_function_def_args(f);
        const thrift_struct_def_t *result = thrift_function_def_result(f);
        // The _args/_result structs are the wire's, not the user's: shown
        // only when asked (--synthesized).
        if (args && synthesized) {
            sb_printf(b, "      args %s", thrift_struct_def_name(args));
            text_field_list(b, args, m);
            sb_puts(b, "\n");
        }
        if (result && synthesized) {
            sb_printf(b, "      result %s", thrift_struct_def_name(result));
            text_field_list(b, result, m);
            sb_puts(b, "\n");
        }
    }
    // Functions reachable through `extends`, nearest definition first, so
    // the dump shows what a caller of this service can call by name.
    for (const thrift_service_def_t *p = parent; p; p = thrift_service_def_parent(p)) {
        size_t pn = thrift_service_def_function_count(p);
        for (size_t i = 0; i < pn; i++) {
            const char *name = thrift_function_def_name(thrift_service_def_function_at(p, i));
            if (function_is_overridden(svc, p, name))
                continue;
            sb_printf(b, "    inherited %s from ", name);
            qualified(b, thrift_service_def_module(p), thrift_service_def_name(p), m);
            sb_puts(b, "\n");
        }
    }
}

static void text_module(sbuf_t *b, const thrift_module_def_t *m, bool synthesized) {
    sb_printf(b, "module %s ", thrift_module_def_name(m));
    const char *path = thrift_module_def_path(m);
    sb_quoted(b, path ? path : "", path ? strlen(path) : 0);
    sb_puts(b, "\n");
    text_doc(b, 1, thrift_module_def_doc(m));
    size_t n = thrift_module_def_namespace_count(m);
    for (size_t i = 0; i < n; i++)
        sb_printf(b, "  namespace %s %s\n", thrift_module_def_namespace_scope(m, i),
                  thrift_module_def_namespace_name(m, i));
    n = thrift_module_def_include_count(m);
    for (size_t i = 0; i < n; i++)
        sb_printf(b, "  include %s\n",
                  thrift_module_def_name(thrift_module_def_include_at(m, i)));
    n = thrift_module_def_cpp_include_count(m);
    for (size_t i = 0; i < n; i++) {
        const char *ci = thrift_module_def_cpp_include_at(m, i);
        sb_puts(b, "  cpp_include ");
        sb_quoted(b, ci, strlen(ci));
        sb_puts(b, "\n");
    }
    n = thrift_module_def_typedef_count(m);
    for (size_t i = 0; i < n; i++) {
        const thrift_typedef_def_t *d = thrift_module_def_typedef_at(m, i);
        // The typedef's own annotations go by its name, the target type's
        // after the type, so the two never read as one list.
        sb_printf(b, "  typedef %s", thrift_typedef_def_name(d));
        text_annotations(b, thrift_typedef_def_annotations(d));
        sb_puts(b, " = ");
        text_type(b, thrift_typedef_def_target(d), m);
        const thrift_type_def_t *target = thrift_typedef_def_target(d);
        if (target && thrift_type_def_kind(target) == THRIFT_KIND_TYPEDEF) {
            sb_puts(b, " -> ");
            text_type(b, thrift_type_def_resolved(target), m);
        }
        sb_puts(b, "\n");
        text_doc(b, 2, thrift_typedef_def_doc(d));
    }
    n = thrift_module_def_const_count(m);
    for (size_t i = 0; i < n; i++) {
        const thrift_const_def_t *c = thrift_module_def_const_at(m, i);
        sb_puts(b, "  const ");
        text_type(b, thrift_const_def_type(c), m);
        sb_printf(b, " %s = ", thrift_const_def_name(c));
        text_value(b, thrift_const_def_value(c), m);
        sb_puts(b, "\n");
        text_doc(b, 2, thrift_const_def_doc(c));
    }
    n = thrift_module_def_enum_count(m);
    for (size_t i = 0; i < n; i++) {
        const thrift_enum_def_t *e = thrift_module_def_enum_at(m, i);
        sb_printf(b, "  enum %s", thrift_enum_def_name(e));
        text_annotations(b, thrift_enum_def_annotations(e));
        sb_puts(b, "\n");
        text_doc(b, 2, thrift_enum_def_doc(e));
        size_t vn = thrift_enum_def_value_count(e);
        for (size_t j = 0; j < vn; j++) {
            const thrift_enum_value_def_t *v = thrift_enum_def_value_at(e, j);
            sb_printf(b, "    %s = %" PRId32, thrift_enum_value_def_name(v),
                      thrift_enum_value_def_number(v));
            text_annotations(b, thrift_enum_value_def_annotations(v));
            sb_puts(b, "\n");
            text_doc(b, 3, thrift_enum_value_def_doc(v));
        }
    }
    n = thrift_module_def_struct_count(m);
    for (size_t i = 0; i < n; i++)
        text_struct(b, thrift_module_def_struct_at(m, i), m);
    n = thrift_module_def_service_count(m);
    for (size_t i = 0; i < n; i++)
        text_service(b, thrift_module_def_service_at(m, i), m, synthesized);
}

static int dump_text(const thrift_schema_t *schema, bool synthesized) {
    sbuf_t b = {0};
    size_t n = thrift_schema_module_count(schema);
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_puts(&b, "\n");
        text_module(&b, thrift_schema_module_at(schema, i), synthesized);
    }
    if (b.oom) {
        free(b.data);
        fprintf(stderr, "dynthrift idl: out of memory\n");
        return CLI_EXIT_SOFTWARE;
    }
    if (b.len)
        fwrite(b.data, 1, b.len, stdout);
    free(b.data);
    return CLI_EXIT_OK;
}

/* ---- Apache `thrift --gen json` ------------------------------------------ */

typedef struct json_ctx {
    const thrift_module_def_t *main; /* Apache's program_ */
    bool oom;
    bool not_utf8; /* a text JSON cannot carry was met */
} json_ctx_t;

static json_t *jstrn(json_ctx_t *cx, const char *s, size_t n) {
    json_t *j = json_stringn(s ? s : "", s ? n : 0);
    // Apache copies bytes through untouched, which makes a file no JSON
    // reader accepts.  JSON cannot carry bytes that are not UTF-8, so that
    // is an input error here (string constants are UTF-8 once loaded; a
    // binary constant, a doc comment or an annotation may not be).
    json_t *raw = j || !s ? NULL : json_stringn_nocheck(s, n);
    if (raw) {
        json_decref(raw);
        cx->not_utf8 = true;
        j = json_string("");
    }
    if (!j)
        cx->oom = true;
    return j;
}

static json_t *jstr(json_ctx_t *cx, const char *s) {
    return jstrn(cx, s, s ? strlen(s) : 0);
}

static void jset(json_ctx_t *cx, json_t *obj, const char *key, json_t *v) {
    if (!v || json_object_set_new(obj, key, v) != 0)
        cx->oom = true;
}

static void jappend(json_ctx_t *cx, json_t *arr, json_t *v) {
    if (!v || json_array_append_new(arr, v) != 0)
        cx->oom = true;
}

static json_t *jobj(json_ctx_t *cx) {
    json_t *j = json_object();
    if (!j)
        cx->oom = true;
    return j;
}

static json_t *jarr(json_ctx_t *cx) {
    json_t *j = json_array();
    if (!j)
        cx->oom = true;
    return j;
}

/* Apache's get_qualified_name: "Name" in the main program, else
 * "program.Name". */
static json_t *jqualified(json_ctx_t *cx, const thrift_module_def_t *m,
                          const char *name) {
    if (!m || m == cx->main)
        return jstr(cx, name);
    sbuf_t b = {0};
    qualified(&b, m, name, cx->main);
    json_t *j = b.oom ? NULL : jstr(cx, b.data);
    if (!j)
        cx->oom = true;
    free(b.data);
    return j;
}

/* Apache's get_type_name, as the 0.17 generator spells it: enums are "i32",
 * byte is "i8", binary is "binary". */
static const char *apache_type_name(const thrift_type_def_t *t) {
    if (!t)
        return "(unknown)";
    const thrift_type_def_t *r = thrift_type_def_resolved(t);
    switch (thrift_type_def_kind(r)) {
    case THRIFT_KIND_VOID: return "void";
    case THRIFT_KIND_BOOL: return "bool";
    case THRIFT_KIND_I8: return "i8";
    case THRIFT_KIND_I16: return "i16";
    case THRIFT_KIND_I32: return "i32";
    case THRIFT_KIND_I64: return "i64";
    case THRIFT_KIND_DOUBLE: return "double";
    case THRIFT_KIND_STRING: return "string";
    case THRIFT_KIND_BINARY: return "binary";
    case THRIFT_KIND_UUID: return "uuid";
    case THRIFT_KIND_ENUM: return "i32";
    case THRIFT_KIND_LIST: return "list";
    case THRIFT_KIND_SET: return "set";
    case THRIFT_KIND_MAP: return "map";
    case THRIFT_KIND_STRUCT: return "struct";
    case THRIFT_KIND_UNION: return "union";
    case THRIFT_KIND_EXCEPTION: return "exception";
    default: return "(unknown)";
    }
}

static bool is_struct_kind(thrift_kind_t k) {
    return k == THRIFT_KIND_STRUCT || k == THRIFT_KIND_UNION ||
           k == THRIFT_KIND_EXCEPTION;
}

static bool is_container_kind(thrift_kind_t k) {
    return k == THRIFT_KIND_LIST || k == THRIFT_KIND_SET || k == THRIFT_KIND_MAP;
}

static json_t *jannotations(json_ctx_t *cx, const thrift_annotations_t *a) {
    size_t n = thrift_annotations_count(a);
    if (!n)
        return NULL;
    json_t *o = jobj(cx);
    if (!o)
        return NULL;
    // Later duplicates overwrite earlier ones, as they do when Apache's
    // output (which repeats the key) is parsed.
    for (size_t i = 0; i < n; i++) {
        const char *v = thrift_annotations_value_at(a, i);
        jset(cx, o, thrift_annotations_key_at(a, i), jstr(cx, v ? v : ""));
    }
    return o;
}

static void jtype_spec_object(json_ctx_t *cx, json_t *into, const char *key,
                              const thrift_type_def_t *t);

/* Apache's write_type_spec: the members of a "type" object. */
static void jtype_spec(json_ctx_t *cx, json_t *o, const thrift_type_def_t *t) {
    const thrift_type_def_t *r = thrift_type_def_resolved(t);
    thrift_kind_t kind = thrift_type_def_kind(r);
    jset(cx, o, "typeId", jstr(cx, apache_type_name(r)));
    const thrift_annotations_t *ann = thrift_type_def_annotations(r);
    if (is_struct_kind(kind) && thrift_type_def_struct(r))
        ann = thrift_struct_def_annotations(thrift_type_def_struct(r));
    json_t *ja = jannotations(cx, ann);
    if (ja)
        jset(cx, o, "annotations", ja);
    if (is_struct_kind(kind)) {
        const thrift_struct_def_t *s = thrift_type_def_struct(r);
        if (s)
            jset(cx, o, "class",
                 jqualified(cx, thrift_struct_def_module(s), thrift_struct_def_name(s)));
    } else if (kind == THRIFT_KIND_MAP) {
        jset(cx, o, "keyTypeId", jstr(cx, apache_type_name(thrift_type_def_key(r))));
        jset(cx, o, "valueTypeId", jstr(cx, apache_type_name(thrift_type_def_value(r))));
        jtype_spec_object(cx, o, "keyType", thrift_type_def_key(r));
        jtype_spec_object(cx, o, "valueType", thrift_type_def_value(r));
    } else if (kind == THRIFT_KIND_LIST || kind == THRIFT_KIND_SET) {
        jset(cx, o, "elemTypeId", jstr(cx, apache_type_name(thrift_type_def_elem(r))));
        jtype_spec_object(cx, o, "elemType", thrift_type_def_elem(r));
    }
}

/* Apache's write_type_spec_object: only structs and containers get one. */
static void jtype_spec_object(json_ctx_t *cx, json_t *into, const char *key,
                              const thrift_type_def_t *t) {
    if (!t)
        return;
    thrift_kind_t kind = thrift_type_def_kind(thrift_type_def_resolved(t));
    if (!is_struct_kind(kind) && !is_container_kind(kind))
        return;
    json_t *o = jobj(cx);
    if (!o)
        return;
    jtype_spec(cx, o, t);
    jset(cx, into, key, o);
}

static json_t *jconst_value(json_ctx_t *cx, const thrift_const_value_t *v);

/* A map key as Apache writes it (write_const_value with force_string):
 * numbers become their decimal text. NULL when the key is a container or
 * struct, which Apache writes as invalid JSON. */
static json_t *jmap_key_string(json_ctx_t *cx, const thrift_const_value_t *k) {
    const thrift_type_def_t *t = thrift_const_value_type(k);
    thrift_kind_t kind = t ? thrift_type_def_kind(thrift_type_def_resolved(t))
                           : THRIFT_KIND_VOID;
    char num[64];
    switch (kind) {
    case THRIFT_KIND_BOOL:
    case THRIFT_KIND_I8:
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
    case THRIFT_KIND_I64:
    case THRIFT_KIND_ENUM:
        snprintf(num, sizeof num, "%" PRId64, thrift_const_value_int(k));
        return jstr(cx, num);
    case THRIFT_KIND_DOUBLE:
        // C++ ostream with precision(digits10 = 15), default float format.
        snprintf(num, sizeof num, "%.15g", thrift_const_value_double(k));
        return jstr(cx, num);
    case THRIFT_KIND_STRING:
    case THRIFT_KIND_BINARY:
    case THRIFT_KIND_UUID: {
        size_t len = 0;
        const char *s = thrift_const_value_string(k, &len);
        return jstrn(cx, s, len);
    }
    default:
        return NULL;
    }
}

static json_t *jconst_value(json_ctx_t *cx, const thrift_const_value_t *v) {
    if (!v)
        return json_null();
    const thrift_type_def_t *t = thrift_const_value_type(v);
    thrift_kind_t kind = t ? thrift_type_def_kind(thrift_type_def_resolved(t))
                           : THRIFT_KIND_VOID;
    json_t *j = NULL;
    switch (kind) {
    case THRIFT_KIND_BOOL:
    case THRIFT_KIND_I8:
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
    case THRIFT_KIND_I64:
    case THRIFT_KIND_ENUM:
        j = json_integer((json_int_t)thrift_const_value_int(v));
        break;
    case THRIFT_KIND_DOUBLE:
        j = json_real(thrift_const_value_double(v));
        break;
    case THRIFT_KIND_STRING:
    case THRIFT_KIND_BINARY:
    case THRIFT_KIND_UUID: {
        size_t len = 0;
        const char *s = thrift_const_value_string(v, &len);
        return jstrn(cx, s, len);
    }
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET: {
        j = jarr(cx);
        size_t n = thrift_const_value_count(v);
        for (size_t i = 0; j && i < n; i++)
            jappend(cx, j, jconst_value(cx, thrift_const_value_item(v, i)));
        return j;
    }
    case THRIFT_KIND_MAP: {
        size_t n = thrift_const_value_count(v);
        const thrift_type_def_t *kt = thrift_type_def_key(thrift_type_def_resolved(t));
        thrift_kind_t kk = kt ? thrift_type_def_kind(thrift_type_def_resolved(kt))
                              : THRIFT_KIND_VOID;
        if (is_struct_kind(kk) || is_container_kind(kk)) {
            // Apache writes such keys as bare arrays/objects, which is not
            // JSON; an array of [key, value] pairs keeps the data valid.
            j = jarr(cx);
            for (size_t i = 0; j && i < n; i++) {
                json_t *pair = jarr(cx);
                if (!pair)
                    break;
                jappend(cx, pair, jconst_value(cx, thrift_const_value_map_key(v, i)));
                jappend(cx, pair, jconst_value(cx, thrift_const_value_map_value(v, i)));
                jappend(cx, j, pair);
            }
            return j;
        }
        j = jobj(cx);
        for (size_t i = 0; j && i < n; i++) {
            json_t *key = jmap_key_string(cx, thrift_const_value_map_key(v, i));
            if (!key)
                continue;
            jset(cx, j, json_string_value(key),
                 jconst_value(cx, thrift_const_value_map_value(v, i)));
            json_decref(key);
        }
        return j;
    }
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION: {
        j = jobj(cx);
        size_t n = thrift_const_value_count(v);
        for (size_t i = 0; j && i < n; i++) {
            const thrift_field_def_t *f = thrift_const_value_struct_field(v, i);
            if (f)
                jset(cx, j, thrift_field_def_name(f),
                     jconst_value(cx, thrift_const_value_struct_value(v, i)));
        }
        return j;
    }
    default:
        j = json_null();
        break;
    }
    if (!j)
        cx->oom = true;
    return j;
}

static void jdoc(json_ctx_t *cx, json_t *o, const char *doc) {
    if (doc)
        jset(cx, o, "doc", jstr(cx, doc));
}

static void jset_annotations(json_ctx_t *cx, json_t *o,
                             const thrift_annotations_t *a) {
    json_t *ja = jannotations(cx, a);
    if (ja)
        jset(cx, o, "annotations", ja);
}

static json_t *jfield(json_ctx_t *cx, const thrift_field_def_t *f,
                      bool in_union) {
    json_t *o = jobj(cx);
    if (!o)
        return NULL;
    jset(cx, o, "key", json_integer(thrift_field_def_id(f)));
    jset(cx, o, "name", jstr(cx, thrift_field_def_name(f)));
    jset(cx, o, "typeId", jstr(cx, apache_type_name(thrift_field_def_type(f))));
    jtype_spec_object(cx, o, "type", thrift_field_def_type(f));
    jdoc(cx, o, thrift_field_def_doc(f));
    jset_annotations(cx, o, thrift_field_def_annotations(f));
    const char *req;
    switch (thrift_field_def_requiredness(f)) {
    case THRIFT_REQ_REQUIRED: req = "required"; break;
    case THRIFT_REQ_OPTIONAL: req = "optional"; break;
    // Apache makes every union member optional.
    default: req = in_union ? "optional" : "req_out"; break;
    }
    jset(cx, o, "required", jstr(cx, req));
    const thrift_const_value_t *dv = thrift_field_def_default(f);
    if (dv)
        jset(cx, o, "default", jconst_value(cx, dv));
    return o;
}

static json_t *jfields(json_ctx_t *cx, const thrift_struct_def_t *s) {
    json_t *a = jarr(cx);
    size_t n = s ? thrift_struct_def_field_count(s) : 0;
    bool in_union = s && thrift_struct_def_kind(s) == THRIFT_KIND_UNION;
    for (size_t i = 0; a && i < n; i++)
        jappend(cx, a, jfield(cx, thrift_struct_def_field_at(s, i), in_union));
    return a;
}

static json_t *jstruct(json_ctx_t *cx, const thrift_struct_def_t *s) {
    json_t *o = jobj(cx);
    if (!o)
        return NULL;
    thrift_kind_t kind = thrift_struct_def_kind(s);
    jset(cx, o, "name", jstr(cx, thrift_struct_def_name(s)));
    jdoc(cx, o, thrift_struct_def_doc(s));
    jset_annotations(cx, o, thrift_struct_def_annotations(s));
    jset(cx, o, "isException", json_boolean(kind == THRIFT_KIND_EXCEPTION));
    jset(cx, o, "isUnion", json_boolean(kind == THRIFT_KIND_UNION));
    jset(cx, o, "fields", jfields(cx, s));
    return o;
}

static json_t *jenum(json_ctx_t *cx, const thrift_enum_def_t *e) {
    json_t *o = jobj(cx);
    if (!o)
        return NULL;
    jset(cx, o, "name", jstr(cx, thrift_enum_def_name(e)));
    jdoc(cx, o, thrift_enum_def_doc(e));
    jset_annotations(cx, o, thrift_enum_def_annotations(e));
    json_t *members = jarr(cx);
    size_t n = thrift_enum_def_value_count(e);
    for (size_t i = 0; members && i < n; i++) {
        const thrift_enum_value_def_t *v = thrift_enum_def_value_at(e, i);
        json_t *m = jobj(cx);
        if (!m)
            break;
        jset(cx, m, "name", jstr(cx, thrift_enum_value_def_name(v)));
        jset(cx, m, "value", json_integer(thrift_enum_value_def_number(v)));
        jdoc(cx, m, thrift_enum_value_def_doc(v));
        jappend(cx, members, m);
    }
    jset(cx, o, "members", members);
    return o;
}

static json_t *jtypedef(json_ctx_t *cx, const thrift_typedef_def_t *d) {
    json_t *o = jobj(cx);
    if (!o)
        return NULL;
    const thrift_type_def_t *t = thrift_typedef_def_type(d);
    if (!t)
        t = thrift_typedef_def_target(d);
    jset(cx, o, "name", jqualified(cx, thrift_typedef_def_module(d),
                                   thrift_typedef_def_name(d)));
    jset(cx, o, "typeId", jstr(cx, apache_type_name(t)));
    jtype_spec_object(cx, o, "type", t);
    jdoc(cx, o, thrift_typedef_def_doc(d));
    jset_annotations(cx, o, thrift_typedef_def_annotations(d));
    return o;
}

static json_t *jconst(json_ctx_t *cx, const thrift_const_def_t *c) {
    json_t *o = jobj(cx);
    if (!o)
        return NULL;
    jset(cx, o, "name", jstr(cx, thrift_const_def_name(c)));
    jset(cx, o, "typeId", jstr(cx, apache_type_name(thrift_const_def_type(c))));
    jtype_spec_object(cx, o, "type", thrift_const_def_type(c));
    jdoc(cx, o, thrift_const_def_doc(c));
    jset(cx, o, "value", jconst_value(cx, thrift_const_def_value(c)));
    return o;
}

static json_t *jfunction(json_ctx_t *cx, const thrift_function_def_t *f) {
    json_t *o = jobj(cx);
    if (!o)
        return NULL;
    const thrift_type_def_t *rt = thrift_function_def_return_type(f);
    jset(cx, o, "name", jstr(cx, thrift_function_def_name(f)));
    jset(cx, o, "returnTypeId", jstr(cx, apache_type_name(rt)));
    jtype_spec_object(cx, o, "returnType", rt);
    jset(cx, o, "oneway", json_boolean(thrift_function_def_is_oneway(f)));
    jdoc(cx, o, thrift_function_def_doc(f));
    jset_annotations(cx, o, thrift_function_def_annotations(f));
    jset(cx, o, "arguments", jfields(cx, thrift_function_def_args(f)));
    jset(cx, o, "exceptions", jfields(cx, thrift_function_def_throws(f)));
    return o;
}

static json_t *jservice(json_ctx_t *cx, const thrift_service_def_t *s) {
    json_t *o = jobj(cx);
    if (!o)
        return NULL;
    jset(cx, o, "name", jqualified(cx, thrift_service_def_module(s),
                                   thrift_service_def_name(s)));
    const thrift_service_def_t *parent = thrift_service_def_parent(s);
    if (parent)
        jset(cx, o, "extends", jqualified(cx, thrift_service_def_module(parent),
                                          thrift_service_def_name(parent)));
    jdoc(cx, o, thrift_service_def_doc(s));
    jset_annotations(cx, o, thrift_service_def_annotations(s));
    json_t *fns = jarr(cx);
    size_t n = thrift_service_def_function_count(s);
    for (size_t i = 0; fns && i < n; i++)
        jappend(cx, fns, jfunction(cx, thrift_service_def_function_at(s, i)));
    jset(cx, o, "functions", fns);
    return o;
}

static int dump_json(const thrift_schema_t *schema) {
    json_ctx_t cx = {thrift_schema_main_module(schema), false, false};
    const thrift_module_def_t *m = cx.main;
    json_t *root = jobj(&cx);
    if (!root) {
        fprintf(stderr, "dynthrift idl: out of memory\n");
        return CLI_EXIT_SOFTWARE;
    }
    jset(&cx, root, "name", jstr(&cx, thrift_module_def_name(m)));
    jdoc(&cx, root, thrift_module_def_doc(m));

    // Apache keeps namespaces in a std::map: one value per scope, the
    // last declaration winning.
    json_t *ns = jobj(&cx);
    size_t n = thrift_module_def_namespace_count(m);
    for (size_t i = 0; ns && i < n; i++)
        jset(&cx, ns, thrift_module_def_namespace_scope(m, i),
             jstr(&cx, thrift_module_def_namespace_name(m, i)));
    jset(&cx, root, "namespaces", ns);

    json_t *inc = jarr(&cx);
    n = thrift_module_def_include_count(m);
    for (size_t i = 0; inc && i < n; i++)
        jappend(&cx, inc, jstr(&cx, thrift_module_def_name(thrift_module_def_include_at(m, i))));
    jset(&cx, root, "includes", inc);

    json_t *a = jarr(&cx);
    n = thrift_module_def_enum_count(m);
    for (size_t i = 0; a && i < n; i++)
        jappend(&cx, a, jenum(&cx, thrift_module_def_enum_at(m, i)));
    jset(&cx, root, "enums", a);

    a = jarr(&cx);
    n = thrift_module_def_typedef_count(m);
    for (size_t i = 0; a && i < n; i++)
        jappend(&cx, a, jtypedef(&cx, thrift_module_def_typedef_at(m, i)));
    jset(&cx, root, "typedefs", a);

    a = jarr(&cx);
    n = thrift_module_def_struct_count(m);
    for (size_t i = 0; a && i < n; i++)
        jappend(&cx, a, jstruct(&cx, thrift_module_def_struct_at(m, i)));
    jset(&cx, root, "structs", a);

    a = jarr(&cx);
    n = thrift_module_def_const_count(m);
    for (size_t i = 0; a && i < n; i++)
        jappend(&cx, a, jconst(&cx, thrift_module_def_const_at(m, i)));
    jset(&cx, root, "constants", a);

    a = jarr(&cx);
    n = thrift_module_def_service_count(m);
    for (size_t i = 0; a && i < n; i++)
        jappend(&cx, a, jservice(&cx, thrift_module_def_service_at(m, i)));
    jset(&cx, root, "services", a);

    // Apache prints doubles with 15 significant digits (digits10).
    if (cx.not_utf8 && !cx.oom) {
        json_decref(root);
        fprintf(stderr,
                "dynthrift idl: %s: a binary constant, doc comment or "
                "annotation holds bytes that are not valid UTF-8, which JSON "
                "cannot carry\n",
                thrift_module_def_path(m));
        return CLI_EXIT_DATA;
    }
    char *text = cx.oom ? NULL
                        : json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
                                               JSON_REAL_PRECISION(15));
    json_decref(root);
    if (!text) {
        fprintf(stderr, "dynthrift idl: out of memory\n");
        return CLI_EXIT_SOFTWARE;
    }
    fputs(text, stdout);
    fputc('\n', stdout);
    free(text);
    return CLI_EXIT_OK;
}

/* ---- command ------------------------------------------------------------ */

static void usage(FILE *out) {
    fprintf(out,
            "usage: dynthrift idl [-I DIR]... FILE [--format text|json]\n"
            "\n"
            "Loads FILE (\"-\" reads IDL from stdin) and everything it includes,\n"
            "then prints the schema.\n"
            "\n"
            "  -I DIR, --include DIR   search DIR for includes (after the\n"
            "                          including file's own directory); repeatable\n"
            "  --format text           a readable dump of every module (default)\n"
            "  --synthesized           text: also each method's synthesized\n"
            "                          METHOD_args and METHOD_result structs\n"
            "  --format json           what Apache's `thrift --gen json` prints\n"
            "                          for FILE (const maps with struct or\n"
            "                          container keys become [key, value] pairs)\n"
            "  -h, --help              this help\n"
            "\n"
            "exit codes: 0 ok, 64 bad usage, 65 the IDL does not load (the error\n"
            "is printed as file:line:col: message, with the line and a caret)\n");
}

int cmd_idl(int argc, char **argv) {
    cli_include_dirs_t inc = {0};
    const char *file = NULL;
    const char *format = "text";
    int rc = CLI_EXIT_USAGE;
    bool only_files = false, synthesized = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int r;
        if (!only_files && (!strcmp(arg, "-h") || !strcmp(arg, "--help"))) {
            usage(stdout);
            cli_include_dirs_free(&inc);
            return CLI_EXIT_OK;
        }
        if (!only_files && !strcmp(arg, "--")) {
            only_files = true;
            continue;
        }
        if (!only_files && arg[0] == '-' && arg[1] != '\0') {
            if ((r = cli_take_include_opt(argc, argv, &i, "idl", &inc)) != 0) {
                if (r < 0)
                    goto done;
                continue;
            }
            if (!strcmp(arg, "--synthesized")) {
                synthesized = true;
                continue;
            }
            if ((r = cli_take_value_opt(argc, argv, &i, "idl", "--format", &format)) != 0) {
                if (r < 0)
                    goto done;
                continue;
            }
            fprintf(stderr, "dynthrift idl: unknown option '%s'\n", arg);
            usage(stderr);
            goto done;
        }
        if (file) {
            fprintf(stderr, "dynthrift idl: more than one FILE ('%s', '%s')\n", file, arg);
            usage(stderr);
            goto done;
        }
        file = arg;
    }
    if (!file) {
        fprintf(stderr, "dynthrift idl: missing FILE\n");
        usage(stderr);
        goto done;
    }
    if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0) {
        fprintf(stderr, "dynthrift idl: unknown format '%s' (text or json)\n", format);
        goto done;
    }

    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_schema_t *schema = cli_load_schema(file, &inc, &err);
    if (!schema) {
        cli_print_error(stderr, &err);
        rc = cli_exit_code(err.code != THRIFT_OK ? err.code : THRIFT_INVALID);
        goto done;
    }
    rc = !strcmp(format, "json") ? dump_json(schema) : dump_text(schema, synthesized);
    thrift_schema_unref(schema);
    if (fflush(stdout) != 0 && rc == CLI_EXIT_OK)
        rc = CLI_EXIT_SOFTWARE;
done:
    cli_include_dirs_free(&inc);
    return rc;
}
