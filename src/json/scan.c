/* The direct JSON text -> value loader: a schema-guided scanner that builds
 * the value tree straight into the arena, with no jansson tree in between
 * (the tree costs ~10x the scan: a malloc per node, a hash table per
 * object).
 *
 * Contract (tested on the same cases as the tree path, see test_json.c): it
 * accepts exactly the texts that json_loadb(JSON_DECODE_ANY | JSON_ALLOW_NUL
 * | JSON_REJECT_DUPLICATES) + thrift_json_to_value accept, and builds an
 * equal value.  So the lexical rules are jansson's: RFC 8259 grammar, UTF-8
 * checked inside strings (no overlongs, no surrogates, nothing past
 * U+10FFFF), \u escapes with surrogate pairs and no lone surrogates, \u0000
 * allowed in values but not in object keys, duplicate keys refused
 * (compared after unescaping), integers must fit int64, reals must not
 * overflow, nesting deeper than jansson's 2048 refused.  Mapping errors are
 * produced by the same helpers as the tree path, in the same (text) order.
 * Syntax errors are only flagged: thrift_json_loads has jansson describe
 * them, so messages, lines and columns stay byte-for-byte what they were.
 *
 * Containers are collected on a scratch stack of 32-byte slots and copied
 * into one exact-size arena array when they close (nested containers push
 * above their parent's items and pop before the parent continues).  The
 * scanner recurses only along mapped values, whose depth is bounded by
 * THRIFT__JSON_MAX_DEPTH_IN; values it skips (unknown keys) are walked
 * iteratively. */
#include <errno.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>

#include "dynthrift/json.h"
#include "json/json_internal.h"
#include "value/value_impl.h"

/* jansson's JSON_PARSER_MAX_DEPTH: values nested deeper are a syntax error
 * there, so they are here too. */
#define JANSSON_MAX_DEPTH 2048

/* A struct slot already given in this object (duplicate-key check for known
 * fields).  value_impl.h uses only bit 0; the scanner clears this bit from
 * every slot before it returns a struct. */
#define SLOT_SEEN 0x80

#define INLINE_ITEMS 64
#define INLINE_KEYS 32

typedef struct key_ref {
    const uint8_t *ptr;
    size_t len;
} key_ref_t;

typedef struct scan {
    const uint8_t *p, *end;
    thrift_arena_t *arena;
    unsigned flags;
    thrift_error_t *err;
    unsigned depth; /* mapping depth, counted as the tree path counts it */
    unsigned level; /* JSON nesting level of the value being read (top: 1) */
    bool syntax;
    size_t budget; /* bytes the arena and the item stack may each take */

    /* items of open containers */
    thrift_value_t *items;
    size_t n_items, cap_items;
    /* keys of open objects that need a duplicate check at the close */
    key_ref_t *keys;
    size_t n_keys, cap_keys;
    /* unescaped text of a string used only for a moment */
    uint8_t *tmp;
    size_t cap_tmp;
    /* the iterative skipper's stack: 1 = object, 0 = array, per level, and
     * where each object's keys start */
    uint8_t *skip_kind;
    size_t *skip_kbase;

    thrift_value_t inline_items[INLINE_ITEMS];
    key_ref_t inline_keys[INLINE_KEYS];
} scan_t;

/* ---- errors --------------------------------------------------------------- */

static bool syn(scan_t *s) {
    s->syntax = true;
    thrift__error_set(s->err, THRIFT_SYNTAX, "syntax error");
    return false;
}

static bool oom(scan_t *s) {
    thrift__json_alloc_failed(s->err, s->arena);
    return false;
}

static bool failed_on_syntax(const scan_t *s) { return s->syntax; }

/* ---- character classes ----------------------------------------------------- */

static inline bool is_ws(uint8_t c) {
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline void skip_ws(scan_t *s) {
    const uint8_t *p = s->p, *end = s->end;
    while (p < end && is_ws(*p))
        p++;
    s->p = p;
}

static inline bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

/* Bytes that end the plain run of a string: '"', '\\', controls, non-ASCII. */
static const uint8_t str_special[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, // 0x00
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, // 0x10
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // 0x20 '"'
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, // 0x50 '\\'
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, // 0x80..0xff
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/* Four hex digits at p (p + 4 <= end checked by the caller); -1 if not. */
static int32_t hex4(const uint8_t *p) {
    int32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = thrift__hex_digit(p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

/* ---- strings --------------------------------------------------------------- */

typedef struct str {
    const uint8_t *raw; /* between the quotes */
    size_t len;         /* raw length; the unescaped text is never longer */
    bool escaped;       /* has backslash escapes (raw != text) */
    bool nul;           /* the text holds a NUL (from \u0000) */
} str_t;

/* Checks a string token at s->p (a '"') and moves past it. */
static bool scan_string(scan_t *s, str_t *out) {
    const uint8_t *p = s->p + 1, *end = s->end;
    bool escaped = false, nul = false;
    out->raw = p;
    for (;;) {
        while (p < end && !str_special[*p])
            p++;
        if (p == end)
            return syn(s);
        uint8_t c = *p;
        if (c == '"')
            break;
        if (c == '\\') {
            escaped = true;
            if (end - p < 2)
                return syn(s);
            switch (p[1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n':
            case 'r': case 't':
                p += 2;
                continue;
            case 'u':
                break;
            default:
                return syn(s);
            }
            if (end - p < 6)
                return syn(s);
            int32_t cp = hex4(p + 2);
            if (cp < 0)
                return syn(s);
            p += 6;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                // a high surrogate needs a low one right after it
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u')
                    return syn(s);
                int32_t lo = hex4(p + 2);
                if (lo < 0xdc00 || lo > 0xdfff)
                    return syn(s);
                p += 6;
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                return syn(s);
            } else if (cp == 0) {
                nul = true;
            }
            continue;
        }
        if (c < 0x20)
            return syn(s);
        size_t n = thrift__utf8_seq(p, (size_t)(end - p));
        if (!n)
            return syn(s);
        p += n;
    }
    out->len = (size_t)(p - out->raw);
    out->escaped = escaped;
    out->nul = nul;
    s->p = p + 1;
    return true;
}

/* Unescapes a checked string into out (room for in->len bytes); returns the
 * text length. */
static size_t unescape(const str_t *in, uint8_t *out) {
    const uint8_t *p = in->raw, *end = in->raw + in->len;
    uint8_t *o = out;
    while (p < end) {
        if (*p != '\\') {
            *o++ = *p++;
            continue;
        }
        uint8_t e = p[1];
        p += 2;
        switch (e) {
        case 'b': *o++ = '\b'; continue;
        case 'f': *o++ = '\f'; continue;
        case 'n': *o++ = '\n'; continue;
        case 'r': *o++ = '\r'; continue;
        case 't': *o++ = '\t'; continue;
        case 'u': break;
        default: *o++ = e; continue; // '"', '\\', '/'
        }
        uint32_t cp = (uint32_t)hex4(p);
        p += 4;
        if (cp >= 0xd800 && cp <= 0xdbff) {
            uint32_t lo = (uint32_t)hex4(p + 2);
            p += 6;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        if (cp < 0x80) {
            *o++ = (uint8_t)cp;
        } else if (cp < 0x800) {
            *o++ = (uint8_t)(0xc0 | cp >> 6);
            *o++ = (uint8_t)(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            *o++ = (uint8_t)(0xe0 | cp >> 12);
            *o++ = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
            *o++ = (uint8_t)(0x80 | (cp & 0x3f));
        } else {
            *o++ = (uint8_t)(0xf0 | cp >> 18);
            *o++ = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
            *o++ = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
            *o++ = (uint8_t)(0x80 | (cp & 0x3f));
        }
    }
    return (size_t)(o - out);
}

/* The text of a string for immediate use: the raw bytes when there is no
 * escape, else unescaped into the scratch buffer (valid until the next
 * call). */
static bool str_text(scan_t *s, const str_t *st, const char **text,
                     size_t *len) {
    if (!st->escaped) {
        *text = (const char *)st->raw;
        *len = st->len;
        return true;
    }
    if (st->len > s->cap_tmp) {
        size_t cap = st->len < 256 ? 256 : st->len;
        uint8_t *t = realloc(s->tmp, cap);
        if (!t)
            return oom(s);
        s->tmp = t;
        s->cap_tmp = cap;
    }
    *text = (const char *)s->tmp;
    *len = unescape(st, s->tmp);
    return true;
}

/* The text of a string that must outlive the scan (object keys kept for
 * the duplicate check): raw bytes, or unescaped into the arena. */
static bool str_text_kept(scan_t *s, const str_t *st, const char **text,
                          size_t *len) {
    if (!st->escaped) {
        *text = (const char *)st->raw;
        *len = st->len;
        return true;
    }
    uint8_t *t = thrift__arena_alloc(s->arena, st->len ? st->len : 1);
    if (!t)
        return oom(s);
    *text = (const char *)t;
    *len = unescape(st, t);
    return true;
}

/* ---- numbers --------------------------------------------------------------- */

typedef struct num {
    bool real;
    int64_t i;
    double d;
} num_t;

static const double pow10_exact[] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* strtod of text[0..len) through a NUL-terminated copy, with the decimal
 * point of the current locale (as jansson does); false on overflow. */
static bool slow_strtod(scan_t *s, const uint8_t *text, size_t len,
                        double *out) {
    char small[128];
    char *buf = len < sizeof small ? small : malloc(len + 1);
    if (!buf)
        return oom(s);
    memcpy(buf, text, len);
    buf[len] = '\0';
    const char *point = localeconv()->decimal_point;
    if (point && *point && *point != '.') {
        char *dot = memchr(buf, '.', len);
        if (dot)
            *dot = *point;
    }
    errno = 0;
    double d = strtod(buf, NULL);
    bool overflow = (d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE;
    if (buf != small)
        free(buf);
    if (overflow)
        return syn(s);
    *out = d;
    return true;
}

/* A number token at s->p: jansson's grammar (no leading zeros, no '+', a
 * digit on both sides of '.', digits after 'e'); integers exact and within
 * int64, reals correctly rounded. */
static bool scan_number(scan_t *s, num_t *out) {
    const uint8_t *start = s->p, *p = start, *end = s->end;
    bool neg = false;
    if (*p == '-') {
        neg = true;
        p++;
    }
    if (p == end || !is_digit(*p))
        return syn(s);
    uint64_t mant = 0;  // the first 19 significant digits
    int sig = 0;        // significant digits seen (capped past 19)
    int dropped = 0;    // integer digits beyond the 19 kept
    bool int_overflow = false;
    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p))
            return syn(s);
    } else {
        while (p < end && is_digit(*p)) {
            unsigned d = (unsigned)(*p - '0');
            if (sig < 19) {
                mant = mant * 10 + d;
                sig++;
            } else {
                int_overflow = true;
                dropped++;
                sig = 20;
            }
            p++;
        }
    }
    if (p == end || (*p != '.' && *p != 'e' && *p != 'E')) {
        // integer: 19 digits always fit uint64; one more may not fit int64
        uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        if (int_overflow) {
            // 20+ digits: exact only when it is 1e19..: always > INT64_MAX
            return syn(s);
        }
        if (mant > limit)
            return syn(s);
        out->real = false;
        out->i = neg ? (mant == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mant)
                     : (int64_t)mant;
        s->p = p;
        return true;
    }
    int frac_digits = 0;
    bool inexact = int_overflow; // digits were dropped from the mantissa
    if (*p == '.') {
        p++;
        if (p == end || !is_digit(*p))
            return syn(s);
        while (p < end && is_digit(*p)) {
            unsigned d = (unsigned)(*p - '0');
            if (sig == 0 && d == 0) {
                frac_digits++; // leading zeros of 0.000x are not significant
            } else if (sig < 19) {
                mant = mant * 10 + d;
                sig++;
                frac_digits++;
            } else if (d != 0) {
                inexact = true;
            }
            p++;
        }
    }
    long exp10 = 0;
    bool exp_huge = false;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        bool eneg = false;
        if (p < end && (*p == '+' || *p == '-')) {
            eneg = *p == '-';
            p++;
        }
        if (p == end || !is_digit(*p))
            return syn(s);
        while (p < end && is_digit(*p)) {
            if (exp10 < 100000)
                exp10 = exp10 * 10 + (*p - '0');
            else
                exp_huge = true;
            p++;
        }
        if (eneg)
            exp10 = -exp10;
    }
    s->p = p;
    out->real = true;
    // Exact fast path (Clinger): a mantissa below 2^53 and a power of ten
    // that is itself exact make one correctly rounded IEEE operation, the
    // same double strtod returns.  Needs double evaluation (SSE2, not x87).
    long e = exp10 + dropped - frac_digits;
#if FLT_EVAL_METHOD == 0
    if (!inexact && !exp_huge && mant <= (1ull << 53) && e >= -22 && e <= 22) {
        double d = (double)mant;
        d = e >= 0 ? d * pow10_exact[e] : d / pow10_exact[-e];
        out->d = neg ? -d : d;
        return true;
    }
#else
    (void)e;
    (void)inexact;
    (void)exp_huge;
#endif
    return slow_strtod(s, start, (size_t)(p - start), &out->d);
}

/* ---- what the next token is, for type errors -------------------------------- */

/* jansson's name for the kind of the value at s->p (as json.c's json_kind
 * says it), or NULL when no value can start there. */
static const char *token_kind(scan_t *s) {
    if (s->p == s->end)
        return NULL;
    switch (*s->p) {
    case '{': return "object";
    case '[': return "array";
    case '"': return "string";
    case 't':
    case 'f': return "bool";
    case 'n': return "null";
    case '-':
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9': {
        const uint8_t *p = s->p;
        if (*p == '-')
            p++;
        while (p < s->end && is_digit(*p))
            p++;
        return p < s->end && (*p == '.' || *p == 'e' || *p == 'E') ? "real"
                                                                   : "integer";
    }
    default: return NULL;
    }
}

static bool type_error(scan_t *s, const thrift_type_def_t *t) {
    const char *kind = token_kind(s);
    if (!kind)
        return syn(s);
    thrift__error_set(s->err, THRIFT_TYPE, "expected %s, got %s",
                      thrift__json_type_name(t), kind);
    return false;
}

static bool literal(scan_t *s, const char *word, size_t n) {
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return syn(s);
    s->p += n;
    return true;
}

/* ---- scratch stacks ----------------------------------------------------------- */

static bool push_item(scan_t *s, const thrift_value_t *v) {
    if (s->n_items == s->cap_items) {
        size_t cap = s->cap_items * 2;
        thrift_value_t *items;
        // The scratch stack holds the items of open containers until they
        // are copied into the arena: it counts against the same budget.
        if (cap > s->budget / sizeof *items) {
            s->arena->over_limit = true;
            return oom(s);
        }
        if (s->items == s->inline_items) {
            items = malloc(cap * sizeof *items);
            if (items)
                memcpy(items, s->items, s->n_items * sizeof *items);
        } else {
            items = realloc(s->items, cap * sizeof *items);
        }
        if (!items)
            return oom(s);
        s->items = items;
        s->cap_items = cap;
    }
    s->items[s->n_items++] = *v;
    return true;
}

/* Moves the items above `base` into one arena array owned by container v. */
static bool pop_items(scan_t *s, thrift_value_t *v, size_t base, uint32_t per) {
    size_t n = s->n_items - base;
    if (n / per > UINT32_MAX / 2)
        return oom(s);
    if (n) {
        thrift_value_t *items = thrift__arena_alloc(s->arena, n * sizeof *items);
        if (!items)
            return oom(s);
        memcpy(items, s->items + base, n * sizeof *items);
        v->u.c.items = items;
    }
    v->count = (uint32_t)(n / per);
    v->u.c.cap = (uint32_t)(n / per);
    s->n_items = base;
    return true;
}

static bool push_key(scan_t *s, const char *ptr, size_t len) {
    if (s->n_keys == s->cap_keys) {
        size_t cap = s->cap_keys * 2;
        key_ref_t *keys;
        if (s->keys == s->inline_keys) {
            keys = malloc(cap * sizeof *keys);
            if (keys)
                memcpy(keys, s->keys, s->n_keys * sizeof *keys);
        } else {
            keys = realloc(s->keys, cap * sizeof *keys);
        }
        if (!keys)
            return oom(s);
        s->keys = keys;
        s->cap_keys = cap;
    }
    s->keys[s->n_keys++] = (key_ref_t){(const uint8_t *)ptr, len};
    return true;
}

/* An object key at s->p (which must be '"'), kept and recorded for the
 * duplicate-key check, then the ':' after it; leaves s->p past the ':'. */
static bool scan_pushed_key(scan_t *s, const char **key, size_t *len) {
    if (s->p == s->end || *s->p != '"')
        return syn(s);
    str_t k;
    if (!scan_string(s, &k))
        return false;
    if (k.nul)
        return syn(s);
    if (!str_text_kept(s, &k, key, len) || !push_key(s, *key, *len))
        return false;
    skip_ws(s);
    if (s->p == s->end || *s->p != ':')
        return syn(s);
    s->p++;
    return true;
}

static int key_cmp(const void *a, const void *b) {
    const key_ref_t *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->len ? memcmp(x->ptr, y->ptr, x->len) : 0;
}

/* The keys one object pushed since `base`: a duplicate is a syntax error
 * (jansson's JSON_REJECT_DUPLICATES).  Few keys: compared pairwise; many:
 * sorted, so hostile input cannot make it quadratic.  Pops them. */
static bool check_keys(scan_t *s, size_t base) {
    key_ref_t *k = s->keys + base;
    size_t n = s->n_keys - base;
    s->n_keys = base;
    if (n < 2)
        return true;
    if (n <= 8) {
        for (size_t i = 1; i < n; i++)
            for (size_t j = 0; j < i; j++)
                if (key_cmp(&k[i], &k[j]) == 0)
                    return syn(s);
        return true;
    }
    qsort(k, n, sizeof *k, key_cmp);
    for (size_t i = 1; i < n; i++)
        if (key_cmp(&k[i], &k[i - 1]) == 0)
            return syn(s);
    return true;
}

/* ---- skipping (unknown keys, pair shapes) --------------------------------------- */

/* Walks one value without building it, checking it as jansson would; the
 * value sits at JSON level s->level.  Iterative, so deep nesting costs no
 * stack.  *count (may be NULL) gets the element count when the value is an
 * array. */
static bool skip_value(scan_t *s, size_t *count) {
    if (!s->skip_kind) {
        s->skip_kind = malloc(JANSSON_MAX_DEPTH + 1);
        s->skip_kbase = malloc((JANSSON_MAX_DEPTH + 1) * sizeof *s->skip_kbase);
        if (!s->skip_kind || !s->skip_kbase)
            return oom(s);
    }
    size_t top = 0, elems = 0;
    if (count)
        *count = 0;
    for (;;) {
        // a value
        if (s->level + top > JANSSON_MAX_DEPTH)
            return syn(s);
        skip_ws(s);
        if (s->p == s->end)
            return syn(s);
        bool closed = false;
        switch (*s->p) {
        case '{':
        case '[': {
            bool obj = *s->p == '{';
            s->p++;
            s->skip_kind[top] = obj;
            s->skip_kbase[top] = s->n_keys;
            top++;
            skip_ws(s);
            if (s->p < s->end && *s->p == (obj ? '}' : ']')) {
                s->p++;
                top--;
                closed = true;
            } else if (!obj) {
                continue; // first element
            }
            break;
        }
        case '"': {
            str_t st;
            if (!scan_string(s, &st))
                return false;
            closed = true;
            break;
        }
        case 't': if (!literal(s, "true", 4)) return false; closed = true; break;
        case 'f': if (!literal(s, "false", 5)) return false; closed = true; break;
        case 'n': if (!literal(s, "null", 4)) return false; closed = true; break;
        default: {
            num_t n;
            if (!scan_number(s, &n))
                return false;
            closed = true;
            break;
        }
        }
        // After a complete value (closed) or an opened object: next key,
        // separator or closing brackets.
        for (;;) {
            if (closed) {
                if (top == 0)
                    return true;
                if (top == 1 && !s->skip_kind[0])
                    elems++;
                skip_ws(s);
                if (s->p == s->end)
                    return syn(s);
                uint8_t c = *s->p;
                bool obj = s->skip_kind[top - 1];
                if (c == ',') {
                    s->p++;
                    if (!obj)
                        break; // next element
                } else if (c == (obj ? '}' : ']')) {
                    s->p++;
                    top--;
                    if (obj && !check_keys(s, s->skip_kbase[top]))
                        return false;
                    if (top == 0 && count)
                        *count = obj ? 0 : elems;
                    continue; // that closed a value too
                } else {
                    return syn(s);
                }
            }
            // an object key and ':'
            skip_ws(s);
            const char *kt;
            size_t kl;
            if (!scan_pushed_key(s, &kt, &kl))
                return false;
            break;
        }
    }
}

/* ---- values -------------------------------------------------------------------- */

static bool parse_value(scan_t *s, thrift_value_t *v,
                        const thrift_type_def_t *type);

/* A string value's text into the arena, NUL-terminated like the tree path
 * makes it. */
static bool string_value(scan_t *s, thrift_value_t *v, const str_t *st) {
    uint8_t *copy = thrift__arena_alloc(s->arena, st->len + 1);
    if (!copy)
        return oom(s);
    size_t len;
    if (!st->escaped) {
        memcpy(copy, st->raw, st->len);
        len = st->len;
    } else {
        len = unescape(st, copy);
    }
    copy[len] = '\0';
    v->u.bytes.ptr = copy;
    v->u.bytes.len = len;
    return true;
}

static bool parse_list(scan_t *s, thrift_value_t *v,
                       const thrift_type_def_t *t) {
    s->p++; // '['
    skip_ws(s);
    size_t base = s->n_items;
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return true;
    }
    for (size_t i = 0;; i++) {
        thrift_value_t item;
        item.flags = 0;
        if (!parse_value(s, &item, t->elem)) {
            if (!failed_on_syntax(s))
                thrift__json_path_index(s->err, i);
            return false;
        }
        if (!push_item(s, &item))
            return false;
        skip_ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            skip_ws(s);
            continue;
        }
        if (s->p < s->end && *s->p == ']') {
            s->p++;
            break;
        }
        return syn(s);
    }
    return pop_items(s, v, base, 1);
}

static bool map_object(scan_t *s, thrift_value_t *v,
                       const thrift_type_def_t *kt,
                       const thrift_type_def_t *vt) {
    s->p++; // '{'
    skip_ws(s);
    size_t base = s->n_items, kbase = s->n_keys;
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return true;
    }
    for (;;) {
        const char *key;
        size_t klen;
        if (!scan_pushed_key(s, &key, &klen))
            return false;
        skip_ws(s);
        thrift_value_t kv[2];
        kv[1].flags = 0;
        if (!thrift__json_key_from_string(s->arena, s->err, &kv[0], kt, key,
                                          klen) ||
            !parse_value(s, &kv[1], vt)) {
            if (!failed_on_syntax(s) && s->err && s->err->code != THRIFT_NOMEM)
                thrift__json_path_key(s->err, key, klen);
            return false;
        }
        if (!push_item(s, &kv[0]) || !push_item(s, &kv[1]))
            return false;
        skip_ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            skip_ws(s);
            continue;
        }
        if (s->p < s->end && *s->p == '}') {
            s->p++;
            break;
        }
        return syn(s);
    }
    return check_keys(s, kbase) && pop_items(s, v, base, 2);
}

/* A pair that is an array of the wrong size. */
static bool pair_shape_error(scan_t *s) {
    thrift__error_set(s->err, THRIFT_TYPE,
                      "expected a [key, value] pair, got another array");
    return false;
}

/* The tree path checks a pair's shape before mapping its key and value: when
 * one of those fails, the shape (found by skipping the pair) may be the
 * error to report instead. */
static bool pair_failed(scan_t *s, const uint8_t *pair_start) {
    if (failed_on_syntax(s) || !s->err || s->err->code == THRIFT_NOMEM)
        return false;
    thrift_error_t saved = *s->err;
    thrift_error_clear(s->err);
    s->p = pair_start;
    size_t n = 0;
    s->level--; // the pair's own level
    bool ok = skip_value(s, &n);
    s->level++;
    if (!ok)
        return false; // a syntax error after all
    if (n != 2)
        return pair_shape_error(s);
    *s->err = saved;
    return false;
}

static bool map_pairs(scan_t *s, thrift_value_t *v, const thrift_type_def_t *kt,
                      const thrift_type_def_t *vt) {
    s->p++; // '['
    skip_ws(s);
    size_t base = s->n_items;
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return true;
    }
    for (size_t i = 0;; i++) { // s->level: the pairs' level
        const uint8_t *pair_start = s->p;
        thrift_value_t kv[2];
        kv[0].flags = kv[1].flags = 0;
        bool ok;
        if (s->p == s->end || *s->p != '[') {
            const char *kind = token_kind(s);
            if (!kind)
                return syn(s);
            thrift__error_set(s->err, THRIFT_TYPE,
                              "expected a [key, value] pair, got %s", kind);
            ok = false;
        } else {
            s->p++;
            skip_ws(s);
            s->level++; // key and value
            if (s->p < s->end && *s->p == ']') {
                ok = pair_shape_error(s);
            } else if (!parse_value(s, &kv[0], kt)) {
                ok = pair_failed(s, pair_start);
            } else {
                skip_ws(s);
                if (s->p < s->end && *s->p == ']')
                    ok = pair_shape_error(s);
                else if (s->p == s->end || *s->p != ',')
                    return syn(s);
                else {
                    s->p++;
                    skip_ws(s);
                    if (!parse_value(s, &kv[1], vt))
                        ok = pair_failed(s, pair_start);
                    else {
                        skip_ws(s);
                        if (s->p < s->end && *s->p == ',')
                            ok = pair_shape_error(s);
                        else if (s->p == s->end || *s->p != ']')
                            return syn(s);
                        else {
                            s->p++;
                            ok = true;
                        }
                    }
                }
            }
            s->level--;
        }
        if (!ok) {
            if (!failed_on_syntax(s))
                thrift__json_path_index(s->err, i);
            return false;
        }
        if (!push_item(s, &kv[0]) || !push_item(s, &kv[1]))
            return false;
        skip_ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            skip_ws(s);
            continue;
        }
        if (s->p < s->end && *s->p == ']') {
            s->p++;
            break;
        }
        return syn(s);
    }
    return pop_items(s, v, base, 2);
}

/* Field by name: the next field in declaration order first (keys usually
 * come in that order), then the hash table. */
static const thrift_field_def_t *field_by_name(const thrift_struct_def_t *sd,
                                               uint32_t guess,
                                               const char *name, size_t len) {
    if (guess < sd->field_count) {
        const thrift_field_def_t *f = &sd->fields[guess];
        if (f->name_len == len && memcmp(f->name, name, len) == 0)
            return f;
    }
    return thrift__struct_field_by_name(sd, name, len);
}

static bool parse_struct(scan_t *s, thrift_value_t *v,
                         const thrift_type_def_t *t) {
    const thrift_struct_def_t *sd = t->struct_def;
    thrift_value_t *slots = v->u.s.slots;
    bool is_union = t->kind == THRIFT_KIND_UNION;
    if (is_union) // the JSON names the one field; IDL defaults do not count
        for (uint32_t i = 0; i < sd->field_count; i++)
            slots[i].flags &= (uint8_t)~THRIFT__VALUE_SET;
    size_t given = 0, kbase = s->n_keys;
    uint32_t guess = 0;
    s->p++; // '{'
    skip_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
    } else {
        for (;;) {
            if (s->p == s->end || *s->p != '"')
                return syn(s);
            str_t k;
            const char *key;
            size_t klen;
            if (!scan_string(s, &k))
                return false;
            if (k.nul)
                return syn(s);
            if (!str_text(s, &k, &key, &klen))
                return false;
            const thrift_field_def_t *f = field_by_name(sd, guess, key, klen);
            skip_ws(s);
            if (s->p == s->end || *s->p != ':')
                return syn(s);
            s->p++;
            skip_ws(s);
            if (!f) {
                if (!(s->flags & THRIFT_JSON_IGNORE_UNKNOWN)) {
                    thrift__json_unknown_field(s->err, sd, key, klen);
                    return false;
                }
                // skipped, but still checked, duplicates included
                if (!str_text_kept(s, &k, &key, &klen) ||
                    !push_key(s, key, klen) || !skip_value(s, NULL))
                    return false;
            } else {
                thrift_value_t *slot = &slots[f->index];
                if (slot->flags & SLOT_SEEN)
                    return syn(s); // duplicate key
                if (s->p < s->end && *s->p == 'n') {
                    if (!literal(s, "null", 4))
                        return false;
                    slot->flags &= (uint8_t)~THRIFT__VALUE_SET;
                } else {
                    if (!parse_value(s, slot, f->type)) {
                        if (!failed_on_syntax(s))
                            thrift__error_path_prepend(s->err, f->name, false);
                        return false;
                    }
                    slot->flags |= THRIFT__VALUE_SET;
                    given++;
                }
                slot->flags |= SLOT_SEEN;
                guess = f->index + 1;
            }
            skip_ws(s);
            if (s->p < s->end && *s->p == ',') {
                s->p++;
                skip_ws(s);
                continue;
            }
            if (s->p < s->end && *s->p == '}') {
                s->p++;
                break;
            }
            return syn(s);
        }
    }
    if (!check_keys(s, kbase))
        return false;
    for (uint32_t i = 0; i < sd->field_count; i++)
        slots[i].flags &= (uint8_t)~SLOT_SEEN;
    if (is_union && given != 1) {
        thrift__error_set(s->err, THRIFT_TYPE,
                          "union %s needs exactly one field, got %zu",
                          sd->name, given);
        return false;
    }
    if (!(s->flags & THRIFT_JSON_NO_REQUIRED) && sd->required_count) {
        for (uint32_t i = 0; i < sd->field_count; i++) {
            const thrift_field_def_t *f = &sd->fields[i];
            if (f->req == THRIFT_REQ_REQUIRED &&
                !(slots[i].flags & THRIFT__VALUE_SET)) {
                thrift__error_set(s->err, THRIFT_MISSING,
                                  "required field missing");
                thrift__error_path_prepend(s->err, f->name, false);
                return false;
            }
        }
    }
    return true;
}

static bool parse_double(scan_t *s, thrift_value_t *v,
                         const thrift_type_def_t *t) {
    uint8_t c = *s->p;
    if (c == '-' || is_digit(c)) {
        num_t n;
        if (!scan_number(s, &n))
            return false;
        v->u.d = n.real ? n.d : (double)n.i;
        return true;
    }
    if (c != '"')
        return type_error(s, t);
    str_t st;
    const char *text;
    size_t len;
    if (!scan_string(s, &st) || !str_text(s, &st, &text, &len))
        return false;
    // The tree path compares with strcmp: the text up to a NUL counts.
    const char *nul = memchr(text, '\0', len);
    if (nul)
        len = (size_t)(nul - text);
    if (len == 3 && !memcmp(text, "NaN", 3))
        v->u.d = NAN;
    else if (len == 8 && !memcmp(text, "Infinity", 8))
        v->u.d = INFINITY;
    else if (len == 9 && !memcmp(text, "-Infinity", 9))
        v->u.d = -INFINITY;
    else {
        thrift__error_set(s->err, THRIFT_TYPE,
                          "expected double, got string (only \"NaN\", "
                          "\"Infinity\" and \"-Infinity\" are numbers)");
        return false;
    }
    return true;
}

static bool parse_value(scan_t *s, thrift_value_t *v,
                        const thrift_type_def_t *type) {
    const thrift_type_def_t *t = type->resolved;
    if (s->depth >= THRIFT__JSON_MAX_DEPTH_IN) {
        thrift__error_set(s->err, THRIFT_LIMIT, "nested deeper than %d",
                          THRIFT__JSON_MAX_DEPTH_IN);
        return false;
    }
    uint8_t keep = v->flags & THRIFT__VALUE_SET;
    if (!thrift__value_init(s->arena, v, t))
        return oom(s);
    v->flags |= keep;
    if (s->p == s->end)
        return syn(s);
    uint8_t c = *s->p;
    switch (t->kind) {
    case THRIFT_KIND_BOOL:
        if (c == 't') {
            v->u.b = true;
            return literal(s, "true", 4);
        }
        if (c == 'f') {
            v->u.b = false;
            return literal(s, "false", 5);
        }
        return type_error(s, t);
    case THRIFT_KIND_I8:
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
    case THRIFT_KIND_I64:
    case THRIFT_KIND_ENUM: {
        if (c == '"' && t->kind == THRIFT_KIND_ENUM) {
            str_t st;
            const char *text;
            size_t len;
            return scan_string(s, &st) && str_text(s, &st, &text, &len) &&
                   thrift__json_enum_by_name(s->err, v, t, text, len);
        }
        if (c != '-' && !is_digit(c))
            return type_error(s, t);
        const uint8_t *start = s->p;
        num_t n;
        if (!scan_number(s, &n))
            return false;
        if (n.real) {
            s->p = start;
            return type_error(s, t);
        }
        unsigned range = t->kind == THRIFT_KIND_ENUM ? THRIFT_KIND_I32 : t->kind;
        if (!thrift__json_int_in_range(range, n.i)) {
            thrift__error_set(s->err, THRIFT_RANGE, "%lld out of range for %s",
                              (long long)n.i, thrift__json_type_name(t));
            return false;
        }
        v->u.i = n.i;
        return true;
    }
    case THRIFT_KIND_DOUBLE:
        return parse_double(s, v, t);
    case THRIFT_KIND_STRING: {
        if (c != '"')
            return type_error(s, t);
        str_t st;
        return scan_string(s, &st) && string_value(s, v, &st);
    }
    case THRIFT_KIND_BINARY: {
        if (c != '"')
            return type_error(s, t);
        str_t st;
        const char *text;
        size_t len;
        if (!scan_string(s, &st) || !str_text(s, &st, &text, &len))
            return false;
        uint8_t *out = thrift__arena_alloc(s->arena, len / 4 * 3 + 3);
        if (!out)
            return oom(s);
        size_t n;
        if (!thrift__base64_decode(text, len, out, &n)) {
            thrift__error_set(s->err, THRIFT_TYPE,
                              "expected binary, got a string that is not base64");
            return false;
        }
        v->u.bytes.ptr = out;
        v->u.bytes.len = n;
        return true;
    }
    case THRIFT_KIND_UUID: {
        if (c != '"')
            return type_error(s, t);
        str_t st;
        const char *text;
        size_t len;
        if (!scan_string(s, &st) || !str_text(s, &st, &text, &len))
            return false;
        if (!thrift__uuid_parse(text, len, v->u.uuid)) {
            // as "%.40s" of the NUL-terminated text says it
            const char *nul = memchr(text, '\0', len);
            size_t shown = nul ? (size_t)(nul - text) : len;
            thrift__error_set(s->err, THRIFT_TYPE,
                              "expected uuid (8-4-4-4-12 hex), got '%.*s'",
                              (int)(shown > 40 ? 40 : shown), text);
            return false;
        }
        return true;
    }
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET: {
        if (c != '[')
            return type_error(s, t);
        s->depth++;
        s->level++;
        bool ok = parse_list(s, v, t);
        s->level--;
        s->depth--;
        return ok;
    }
    case THRIFT_KIND_MAP: {
        const thrift_type_def_t *kt = t->key->resolved;
        bool ok;
        s->depth++;
        s->level++;
        if (c == '{' && thrift__json_is_object_key_kind(kt->kind))
            ok = map_object(s, v, kt, t->value);
        else if (c == '[')
            ok = map_pairs(s, v, kt, t->value);
        else
            ok = type_error(s, t);
        s->level--;
        s->depth--;
        return ok;
    }
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION: {
        if (c != '{')
            return type_error(s, t);
        s->depth++;
        s->level++;
        bool ok = parse_struct(s, v, t);
        s->level--;
        s->depth--;
        return ok;
    }
    default:
        thrift__error_set(s->err, THRIFT_UNSUPPORTED, "no JSON form for %s",
                          thrift__json_type_name(t));
        return false;
    }
}

thrift_value_t *thrift__json_scan(thrift_arena_t *arena,
                                  const thrift_type_def_t *type,
                                  const char *text, size_t len, unsigned flags,
                                  thrift_error_t *err, bool *syntax) {
    if (syntax)
        *syntax = false;
    if (!arena || !type || (!text && len)) {
        thrift__error_set(err, THRIFT_MISUSE, "NULL argument");
        return NULL;
    }
    if (!text)
        text = ""; // len is 0: an empty text, without arithmetic on NULL
    scan_t state, *s = &state;
    s->p = (const uint8_t *)text;
    s->end = s->p + len;
    s->arena = arena;
    s->flags = flags;
    s->err = err;
    s->depth = 0;
    s->level = 1;
    s->syntax = false;
    s->items = s->inline_items;
    s->n_items = 0;
    s->cap_items = INLINE_ITEMS;
    s->keys = s->inline_keys;
    s->n_keys = 0;
    s->cap_keys = INLINE_KEYS;
    s->tmp = NULL;
    s->cap_tmp = 0;
    s->skip_kind = NULL;
    s->skip_kbase = NULL;
    s->budget = thrift__json_text_budget(len);
    size_t outer_limit = thrift__arena_budget(arena, s->budget);

    thrift_value_t *v = thrift__arena_alloc(arena, sizeof *v);
    bool ok;
    if (!v) {
        ok = oom(s);
    } else {
        v->flags = 0;
        skip_ws(s);
        ok = parse_value(s, v, type);
        if (ok) {
            skip_ws(s);
            if (s->p != s->end)
                ok = syn(s);
        }
    }
    if (!ok) {
        const thrift_type_def_t *t = type->resolved;
        bool struct_kind = t->kind == THRIFT_KIND_STRUCT ||
                           t->kind == THRIFT_KIND_UNION ||
                           t->kind == THRIFT_KIND_EXCEPTION;
        if (err && struct_kind && !s->syntax && err->code != THRIFT_NOMEM)
            thrift__error_path_prepend(err, t->struct_def->name, false);
        if (syntax)
            *syntax = s->syntax;
        v = NULL;
    }
    thrift__arena_unbudget(arena, outer_limit);
    if (s->items != s->inline_items)
        free(s->items);
    if (s->keys != s->inline_keys)
        free(s->keys);
    free(s->tmp);
    free(s->skip_kind);
    free(s->skip_kbase);
    return v;
}
