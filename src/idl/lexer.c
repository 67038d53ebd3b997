/* The IDL lexer: one pass over the source buffer, no allocation per token
 * (only decoded strings with escapes and doc comments are copied).  Token
 * rules follow Apache Thrift's compiler (thriftl.ll). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "idl/idl_impl.h"

/* ---- errors ----------------------------------------------------------------- */

void thrift__idl_verror(thrift_error_t *err, const idl_source_t *src, int line,
                        int column, thrift_status_t code, const char *fmt,
                        va_list ap) {
    if (!err || err->code != THRIFT_OK)
        return;
    thrift__error_vset(err, code, fmt, ap);
    err->line = line;
    err->column = column;
    err->line_text[0] = '\0';
    if (!src)
        return;
    thrift__error_set_source(err, src->name);
    if (line <= 0 || !src->text)
        return;
    /* Errors are rare: finding the line by scanning is fine. */
    const char *p = src->text, *end = src->text + src->len;
    for (int l = 1; l < line && p < end; p++)
        if (*p == '\n')
            l++;
    const char *e = p;
    while (e < end && *e != '\n' && *e != '\r')
        e++;
    size_t n = (size_t)(e - p);
    if (n >= sizeof err->line_text)
        n = sizeof err->line_text - 1;
    memcpy(err->line_text, p, n);
    err->line_text[n] = '\0';
    err->offset = (size_t)(p - src->text) + (size_t)(column > 0 ? column - 1 : 0);
    err->has_offset = true;
}

void thrift__idl_error(thrift_error_t *err, const idl_source_t *src, int line,
                       int column, thrift_status_t code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    thrift__idl_verror(err, src, line, column, code, fmt, ap);
    va_end(ap);
}

THRIFT_PRINTF(4, 5)
static void lex_fail(idl_lexer_t *lx, const char *at, thrift_status_t code,
                     const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    thrift__idl_verror(lx->err, lx->src, lx->line,
                       (int)(at - lx->line_start) + 1, code, fmt, ap);
    va_end(ap);
    longjmp(*lx->fail, 1);
}

/* ---- doc comments ------------------------------------------------------------ */

typedef struct {
    const char *s;
    size_t len;
} span_t;

static size_t first_not_blank(span_t l) {
    size_t i = 0;
    while (i < l.len && (l.s[i] == ' ' || l.s[i] == '\t'))
        i++;
    return i; /* == len: blank */
}

static void erase_front(span_t *l, size_t n) {
    if (n > l->len)
        n = l->len;
    l->s += n;
    l->len -= n;
}

/* A doc comment on one line: only the blanks around it go. */
static char *clean_one_line(thrift_arena_t *arena, const char *text,
                            size_t len, bool *oom) {
    const char *b = text, *e = text + len;
    while (b < e && (*b == ' ' || *b == '\t'))
        b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    if (b == e)
        return NULL;
    size_t n = (size_t)(e - b);
    char *out = thrift__arena_alloc(arena, n + 2);
    if (!out) {
        *oom = true;
        return NULL;
    }
    memcpy(out, b, n);
    out[n] = '\n';
    out[n + 1] = '\0';
    return out;
}

char *thrift__idl_clean_doc(thrift_arena_t *arena, thrift_arena_t *scratch,
                            const char *text, size_t len, bool trailing_blank,
                            bool *oom) {
    *oom = false;
    if (!memchr(text, '\n', len) && !memchr(text, '\r', len))
        return clean_one_line(arena, text, len, oom); /* (the blank trims) */
    /* Apache drops carriage returns before anything else. */
    char *buf = thrift__arena_alloc(scratch, len + 2);
    size_t n = 0, nlines = 1;
    if (!buf) {
        *oom = true;
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\r')
            continue;
        if (text[i] == '\n')
            nlines++;
        buf[n++] = text[i];
    }
    if (trailing_blank)
        buf[n++] = ' ';
    span_t *lines = thrift__arena_alloc(scratch, sizeof *lines * nlines);
    if (!lines) {
        *oom = true;
        return NULL;
    }
    size_t count = 0, last = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && buf[i] != '\n')
            continue;
        span_t l = {buf + last, i - last};
        /* The last line is kept only when it has something on it. */
        if (i < n || first_not_blank(l) < l.len)
            lines[count++] = l;
        last = i + 1;
    }
    if (count == 0)
        return NULL;
    erase_front(&lines[0], first_not_blank(lines[0]));

    /* A common "   *" prefix on every non-blank line after the first. */
    bool have_prefix = true, found_prefix = false;
    size_t prefix_len = 0;
    for (size_t i = 1; i < count; i++) {
        span_t *l = &lines[i];
        if (l->len == 0)
            continue;
        size_t pos = first_not_blank(*l);
        if (!found_prefix) {
            if (pos < l->len) {
                if (l->s[pos] == '*') {
                    found_prefix = true;
                    prefix_len = pos;
                } else {
                    have_prefix = false;
                    break;
                }
            } else {
                l->len = 0;
            }
        } else if (pos < l->len && l->s[pos] == '*' && pos == prefix_len) {
            /* as expected */
        } else if (pos == l->len) {
            l->len = 0;
        } else {
            have_prefix = false;
            break;
        }
    }
    if (have_prefix)
        for (size_t i = 1; i < count; i++)
            erase_front(&lines[i], prefix_len + 1);

    /* Then the smallest indentation. */
    size_t indent = SIZE_MAX;
    for (size_t i = 1; i < count; i++) {
        if (lines[i].len == 0)
            continue;
        size_t pos = first_not_blank(lines[i]);
        if (pos < lines[i].len && pos < indent)
            indent = pos;
    }
    if (indent != SIZE_MAX)
        for (size_t i = 1; i < count; i++)
            erase_front(&lines[i], indent);

    /* Trailing blanks go, except on lines that are all blank (as Apache). */
    for (size_t i = 0; i < count; i++) {
        span_t *l = &lines[i];
        size_t e = l->len;
        while (e > 0 && (l->s[e - 1] == ' ' || l->s[e - 1] == '\t'))
            e--;
        if (e > 0)
            l->len = e;
    }
    size_t first = lines[0].len == 0 ? 1 : 0;
    size_t total = 0;
    for (size_t i = first; i < count; i++)
        total += lines[i].len + 1;
    char *out = thrift__arena_alloc(arena, total + 1);
    if (!out) {
        *oom = true;
        return NULL;
    }
    char *o = out;
    for (size_t i = first; i < count; i++) {
        memcpy(o, lines[i].s, lines[i].len);
        o += lines[i].len;
        *o++ = '\n';
    }
    *o = '\0';
    return out;
}

/* ---- tokens ------------------------------------------------------------------ */

static const char *const tok_names[TK_COUNT_] = {
    [TK_EOF] = "end of file",
    [TK_IDENT] = "identifier",
    [TK_INT] = "integer",
    [TK_DOUBLE] = "double",
    [TK_STRING] = "string literal",
    [TK_SYM] = "symbol",
    [KW_NAMESPACE] = "namespace",
    [KW_CPP_INCLUDE] = "cpp_include",
    [KW_CPP_TYPE] = "cpp_type",
    [KW_XSD_ALL] = "xsd_all",
    [KW_XSD_OPTIONAL] = "xsd_optional",
    [KW_XSD_NILLABLE] = "xsd_nillable",
    [KW_XSD_ATTRS] = "xsd_attrs",
    [KW_INCLUDE] = "include",
    [KW_VOID] = "void",
    [KW_BOOL] = "bool",
    [KW_BYTE] = "byte",
    [KW_I8] = "i8",
    [KW_I16] = "i16",
    [KW_I32] = "i32",
    [KW_I64] = "i64",
    [KW_DOUBLE] = "double",
    [KW_STRING] = "string",
    [KW_BINARY] = "binary",
    [KW_UUID] = "uuid",
    [KW_MAP] = "map",
    [KW_LIST] = "list",
    [KW_SET] = "set",
    [KW_ONEWAY] = "oneway",
    [KW_ASYNC] = "async",
    [KW_TYPEDEF] = "typedef",
    [KW_STRUCT] = "struct",
    [KW_UNION] = "union",
    [KW_EXCEPTION] = "exception",
    [KW_EXTENDS] = "extends",
    [KW_THROWS] = "throws",
    [KW_SERVICE] = "service",
    [KW_ENUM] = "enum",
    [KW_CONST] = "const",
    [KW_REQUIRED] = "required",
    [KW_OPTIONAL] = "optional",
};

const char *thrift__idl_tok_name(idl_tok_t kind) {
    return (unsigned)kind < TK_COUNT_ ? tok_names[kind] : "token";
}

void thrift__idl_lexer_init(idl_lexer_t *lx, const idl_source_t *src,
                            thrift_arena_t *arena, thrift_arena_t *scratch,
                            thrift_error_t *err, jmp_buf *fail) {
    memset(lx, 0, sizeof *lx);
    lx->src = src;
    lx->p = src->text;
    lx->end = src->text + src->len;
    /* A UTF-8 byte order mark is skipped, as Apache does. */
    if (src->len >= 3 && memcmp(src->text, "\xEF\xBB\xBF", 3) == 0)
        lx->p += 3;
    lx->line_start = lx->p;
    lx->line = 1;
    lx->arena = arena;
    lx->scratch = scratch;
    lx->err = err;
    lx->fail = fail;
}

/* Character classes, one table lookup per byte on the hot loops. */
enum { C_BLANK = 1, C_NL = 2, C_ISTART = 4, C_IDENT = 8, C_DIGIT = 16 };

#define R2_(c) [c] = C_ISTART | C_IDENT, [c + 1] = C_ISTART | C_IDENT
#define R8_(c) R2_(c), R2_(c + 2), R2_(c + 4), R2_(c + 6)
#define D2_(c) [c] = C_IDENT | C_DIGIT, [c + 1] = C_IDENT | C_DIGIT
static const uint8_t char_class[256] = {
    [' '] = C_BLANK, ['\t'] = C_BLANK, ['\r'] = C_BLANK, ['\n'] = C_NL,
    R8_('a'), R8_('i'), R8_('q'), R2_('y'),
    R8_('A'), R8_('I'), R8_('Q'), R2_('Y'),
    ['_'] = C_ISTART | C_IDENT,
    D2_('0'), D2_('2'), D2_('4'), D2_('6'), D2_('8'),
};
#undef R2_
#undef R8_
#undef D2_

static inline bool is_ident_start(unsigned char c) {
    return char_class[c] & C_ISTART;
}
static inline bool is_ident_char(unsigned char c) {
    return char_class[c] & C_IDENT;
}
static inline bool is_digit(unsigned char c) { return char_class[c] & C_DIGIT; }
static inline bool is_hex(unsigned char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static idl_tok_t keyword(const char *s, size_t n) {
#define KW_(text, tok)                                                        \
    if (n == sizeof(text) - 1 && memcmp(s, text, n) == 0)                     \
        return tok;
    switch (s[0]) {
    case 'a':
        KW_("async", KW_ASYNC);
        break;
    case 'b':
        KW_("bool", KW_BOOL);
        KW_("byte", KW_BYTE);
        KW_("binary", KW_BINARY);
        break;
    case 'c':
        KW_("const", KW_CONST);
        KW_("cpp_include", KW_CPP_INCLUDE);
        KW_("cpp_type", KW_CPP_TYPE);
        break;
    case 'd':
        KW_("double", KW_DOUBLE);
        break;
    case 'e':
        KW_("enum", KW_ENUM);
        KW_("exception", KW_EXCEPTION);
        KW_("extends", KW_EXTENDS);
        break;
    case 'f':
        KW_("false", TK_INT);
        break;
    case 'i':
        KW_("i8", KW_I8);
        KW_("i16", KW_I16);
        KW_("i32", KW_I32);
        KW_("i64", KW_I64);
        KW_("include", KW_INCLUDE);
        break;
    case 'l':
        KW_("list", KW_LIST);
        break;
    case 'm':
        KW_("map", KW_MAP);
        break;
    case 'n':
        KW_("namespace", KW_NAMESPACE);
        break;
    case 'o':
        KW_("oneway", KW_ONEWAY);
        KW_("optional", KW_OPTIONAL);
        break;
    case 'r':
        KW_("required", KW_REQUIRED);
        break;
    case 's':
        KW_("string", KW_STRING);
        KW_("struct", KW_STRUCT);
        KW_("set", KW_SET);
        KW_("service", KW_SERVICE);
        break;
    case 't':
        KW_("true", TK_INT);
        KW_("typedef", KW_TYPEDEF);
        KW_("throws", KW_THROWS);
        break;
    case 'u':
        KW_("union", KW_UNION);
        KW_("uuid", KW_UUID);
        break;
    case 'v':
        KW_("void", KW_VOID);
        break;
    case 'x':
        KW_("xsd_all", KW_XSD_ALL);
        KW_("xsd_optional", KW_XSD_OPTIONAL);
        KW_("xsd_nillable", KW_XSD_NILLABLE);
        KW_("xsd_attrs", KW_XSD_ATTRS);
        break;
    default:
        break;
    }
#undef KW_
    return TK_IDENT;
}

/* Skips a block comment whose body starts at `p`; returns the position
 * after its closing star-slash. */
static const char *skip_block(idl_lexer_t *lx, const char *open,
                              const char *p, const char *what) {
    int open_line = lx->line;
    int open_col = (int)(open - lx->line_start) + 1;
    while (p + 1 < lx->end && !(p[0] == '*' && p[1] == '/')) {
        if (*p == '\n') {
            lx->line++;
            lx->line_start = p + 1;
        }
        p++;
    }
    if (p + 1 >= lx->end) {
        /* Report where the comment opened. */
        thrift__idl_error(lx->err, lx->src, open_line, open_col, THRIFT_SYNTAX,
                          "unexpected end of file in %s", what);
        longjmp(*lx->fail, 1);
    }
    return p + 2;
}

__attribute__((noinline)) static void lex_string(idl_lexer_t *lx, idl_token_t *tok) {
    const char *p = lx->p + 1;
    char mark = lx->p[0];
    const char *body = p;
    bool escapes = false;
    while (p < lx->end && *p != mark) {
        if (*p == '\n')
            lex_fail(lx, lx->p, THRIFT_SYNTAX, "end of line inside a string");
        if (*p == '\\') {
            escapes = true;
            p++;
            if (p >= lx->end)
                break;
            switch (*p) {
            case 'r': case 'n': case 't': case '"': case '\'': case '\\':
                break;
            default:
                lex_fail(lx, p - 1, THRIFT_SYNTAX,
                         "bad escape character '\\%c'", *p);
            }
        }
        p++;
    }
    if (p >= lx->end)
        lex_fail(lx, lx->p, THRIFT_SYNTAX, "end of file inside a string");
    size_t n = (size_t)(p - body);
    tok->kind = TK_STRING;
    if (!escapes) {
        /* No escapes: a NUL-terminated copy is still needed because names
         * and values handed out are C strings. */
        char *s = thrift__arena_strndup(lx->scratch, body, n);
        if (!s)
            lex_fail(lx, lx->p, THRIFT_NOMEM, "out of memory");
        tok->str = s;
        tok->str_len = n;
    } else {
        char *s = thrift__arena_alloc(lx->scratch, n + 1);
        if (!s)
            lex_fail(lx, lx->p, THRIFT_NOMEM, "out of memory");
        size_t o = 0;
        for (const char *q = body; q < p; q++) {
            if (*q != '\\') {
                s[o++] = *q;
                continue;
            }
            q++;
            switch (*q) {
            case 'r': s[o++] = '\r'; break;
            case 'n': s[o++] = '\n'; break;
            case 't': s[o++] = '\t'; break;
            default: s[o++] = *q; break;
            }
        }
        s[o] = '\0';
        tok->str = s;
        tok->str_len = o;
    }
    lx->p = p + 1;
}

/* Numbers: the longest of Apache's int, hex and double patterns. */
__attribute__((noinline)) static void lex_number(idl_lexer_t *lx, idl_token_t *tok) {
    const char *s = lx->p, *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (p + 1 < lx->end && p[0] == '0' && (p[1] == 'x' || p[1] == 'X') &&
        p + 2 < lx->end && is_hex((unsigned char)p[2])) {
        /* Apache's pattern is "0x" only; 0X is not a hex prefix there.  We
         * accept lower case x only, to reject what Apache rejects. */
        if (p[1] == 'x') {
            const char *h = p + 2;
            while (h < lx->end && is_hex((unsigned char)*h))
                h++;
            char buf[80];
            size_t n = (size_t)(h - (p + 2));
            if (n >= sizeof buf)
                lex_fail(lx, s, THRIFT_RANGE, "This integer is too big: \"%.*s\"",
                         (int)(h - s), s);
            memcpy(buf, p + 2, n);
            buf[n] = '\0';
            errno = 0;
            long long v = strtoll(buf, NULL, 16);
            if (errno == ERANGE)
                lex_fail(lx, s, THRIFT_RANGE, "This integer is too big: \"%.*s\"",
                         (int)(h - s), s);
            tok->kind = TK_INT;
            tok->i = s[0] == '-' ? -(int64_t)v : (int64_t)v;
            lx->p = h;
            return;
        }
    }
    const char *d = p;
    while (d < lx->end && is_digit((unsigned char)*d))
        d++;
    const char *int_end = d;
    bool is_double = false;
    if (d + 1 < lx->end && *d == '.' && is_digit((unsigned char)d[1])) {
        d++;
        while (d < lx->end && is_digit((unsigned char)*d))
            d++;
        is_double = true;
    }
    if (d < lx->end && (*d == 'e' || *d == 'E')) {
        const char *e = d + 1;
        if (e < lx->end && (*e == '+' || *e == '-'))
            e++;
        if (e < lx->end && is_digit((unsigned char)*e)) {
            while (e < lx->end && is_digit((unsigned char)*e))
                e++;
            d = e;
            is_double = true;
        }
    }
    if (!is_double && int_end == p)
        lex_fail(lx, s, THRIFT_SYNTAX, "unexpected character '%c'", *s);
    size_t n = (size_t)((is_double ? d : int_end) - s);
    if (n >= 128)
        lex_fail(lx, s, THRIFT_RANGE, "This integer is too big: \"%.*s\"",
                 (int)n, s);
    if (!is_double) {
        /* Decimal integers by hand (strtoll needs a copy and is slow for
         * the many small numbers of an IDL): the same range, -2^63 ..
         * 2^63-1, and the same error beyond it. */
        uint64_t v = 0;
        bool over = false;
        for (const char *q = p; q < int_end; q++) {
            unsigned digit = (unsigned)(*q - '0');
            if (v > (UINT64_MAX - digit) / 10)
                over = true;
            v = v * 10 + digit;
        }
        bool neg = s[0] == '-';
        if (over || v > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX))
            lex_fail(lx, s, THRIFT_RANGE, "This integer is too big: \"%.*s\"",
                     (int)n, s);
        tok->kind = TK_INT;
        tok->i = neg ? (int64_t)(0 - v) : (int64_t)v;
        lx->p = int_end;
        return;
    }
    char buf[128];
    memcpy(buf, s, n);
    buf[n] = '\0';
    tok->kind = TK_DOUBLE;
    tok->d = strtod(buf, NULL);
    // Apache lets 1e999 through as infinity and then writes `inf` into
    // its generated code and JSON, which neither compiles nor parses; no
    // literal can mean infinity, so say so where it is written.
    if (isinf(tok->d))
        lex_fail(lx, s, THRIFT_RANGE, "This double is too big: \"%.*s\"",
                 (int)n, s);
    lx->p = d;
}

/* A block comment opening at `p` (slash, star); returns the position after
 * it and keeps a doc comment's cleaned text in lx->doc.  Out of line: it is
 * rare next to tokens, and keeping it out of thrift__idl_next spares every
 * token the register saves it would need. */
__attribute__((noinline)) static const char *block_comment(idl_lexer_t *lx,
                                                           const char *p) {
    const char *end = lx->end;
    const char *open = p;
    // Slash, stars, slash ("/**/", "/***/") is an empty comment,
    // not a doc comment.
    const char *q = p + 2;
    while (q < end && *q == '*')
        q++;
    if (q > p + 2 && q < end && *q == '/')
        return q + 1;
    bool is_doc = p + 2 < end && p[2] == '*';
    const char *body = p + (is_doc ? 3 : 2);
    p = skip_block(lx, open, body,
                   is_doc ? "doc comment" : "multiline comment");
    if (is_doc) {
        /* Apache keeps the body and turns the closing star into a
         * blank before cleaning it up. */
        size_t n = (size_t)(p - 2 - body);
        bool no_mem;
        lx->doc = thrift__idl_clean_doc(lx->arena, lx->scratch, body, n,
                                        true, &no_mem);
        if (no_mem)
            lex_fail(lx, open, THRIFT_NOMEM, "out of memory");
        lx->last_doc_is_first = false;
        if (lx->first_doc_state == IDL_DOC_INVALID && lx->doc) {
            lx->first_doc = lx->doc;
            lx->first_doc_state = IDL_DOC_CANDIDATE;
            lx->last_doc_is_first = true;
        }
    }
    return p;
}

void thrift__idl_next(idl_lexer_t *lx, idl_token_t *tok) {
    const char *p = lx->p;
    const char *end = lx->end;
    for (;;) {
        while (p < end) {
            uint8_t k = char_class[(unsigned char)*p];
            if (k & C_BLANK) {
                p++;
            } else if (k & C_NL) {
                lx->line++;
                lx->line_start = ++p;
            } else {
                break;
            }
        }
        if (p >= end)
            break;
        if (*p == '#' || (*p == '/' && p + 1 < end && p[1] == '/')) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            p = nl ? nl : end;
            continue;
        }
        if (*p == '/' && p + 1 < end && p[1] == '*') {
            p = block_comment(lx, p);
            continue;
        }
        break;
    }
    lx->p = p;
    tok->start = p;
    tok->line = lx->line;
    tok->column = (int)(p - lx->line_start) + 1;
    if (p >= end) {
        tok->kind = TK_EOF;
        tok->len = 0;
        return;
    }
    unsigned char c = (unsigned char)*p;
    if (is_ident_start(c)) {
        const char *q = p + 1;
        bool dotted = false;
        for (;;) {
            while (q < end && is_ident_char((unsigned char)*q))
                q++;
            if (q + 1 < end && *q == '.' && is_ident_char((unsigned char)q[1])) {
                dotted = true;
                q += 2;
            } else {
                break;
            }
        }
        size_t n = (size_t)(q - p);
        tok->kind = dotted ? TK_IDENT : keyword(p, n);
        if (tok->kind == TK_INT)
            tok->i = p[0] == 't'; /* true / false */
        tok->len = n;
        lx->p = q;
        return;
    }
    if (is_digit(c) || c == '+' || c == '-' ||
        (c == '.' && p + 1 < end && is_digit((unsigned char)p[1]))) {
        lex_number(lx, tok);
        tok->len = (size_t)(lx->p - p);
        return;
    }
    switch (c) {
    case ':': case ';': case ',': case '{': case '}': case '(': case ')':
    case '=': case '<': case '>': case '[': case ']': case '*': case '&':
        tok->kind = TK_SYM;
        tok->sym = (char)c;
        tok->len = 1;
        lx->p = p + 1;
        return;
    case '"': case '\'':
        lex_string(lx, tok);
        tok->len = (size_t)(lx->p - p);
        return;
    default:
        break;
    }
    if (c >= 0x20 && c < 0x7f)
        lex_fail(lx, p, THRIFT_SYNTAX, "unexpected character '%c'", c);
    lex_fail(lx, p, THRIFT_SYNTAX, "unexpected byte 0x%02x", c);
}
