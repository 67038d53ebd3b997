/* Text-level helpers of the JSON layer: string escaping,
 * base64, uuid and number formatting.  No jansson here: the text writer
 * produces its output directly, so integers never pass through a double and
 * doubles get their shortest round-trip form. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "json/json_internal.h"

bool thrift__json_put_string(thrift__buf_t *b, const uint8_t *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    // Worst case every byte becomes \u00XX.
    if (len > (SIZE_MAX - 2) / 6 || !thrift__buf_reserve(b, len * 6 + 2))
        return false;
    uint8_t *o = b->data + b->len;
    *o++ = '"';
    for (size_t i = 0; i < len; i++) {
        uint8_t c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = c;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    return true;
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void thrift__base64_encode(const uint8_t *in, size_t n, char *out) {
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *out++ = b64_alphabet[v >> 18];
        *out++ = b64_alphabet[(v >> 12) & 63];
        *out++ = b64_alphabet[(v >> 6) & 63];
        *out++ = b64_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        *out++ = b64_alphabet[v >> 18];
        *out++ = b64_alphabet[(v >> 12) & 63];
        *out++ = '=';
        *out++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        *out++ = b64_alphabet[v >> 18];
        *out++ = b64_alphabet[(v >> 12) & 63];
        *out++ = b64_alphabet[(v >> 6) & 63];
        *out++ = '=';
    }
}

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

bool thrift__base64_decode(const char *in, size_t len, uint8_t *out,
                           size_t *out_len) {
    // Padding is optional (Apache's readers accept both), but when present
    // it must complete the last quantum.
    size_t pad = 0;
    while (pad < 2 && len > 0 && in[len - 1] == '=') {
        len--;
        pad++;
    }
    if (len % 4 == 1 || (pad && (len + pad) % 4 != 0))
        return false;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)in[i]);
        if (v < 0)
            return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    *out_len = o;
    return true;
}

bool thrift__json_put_base64(thrift__buf_t *b, const uint8_t *s, size_t len) {
    size_t n = thrift__base64_len(len);
    if (!thrift__buf_reserve(b, n + 2))
        return false;
    b->data[b->len++] = '"';
    thrift__base64_encode(s, len, (char *)b->data + b->len);
    b->len += n;
    b->data[b->len++] = '"';
    return true;
}

bool thrift__json_put_int(thrift__buf_t *b, int64_t i) {
    char tmp[24];
    char *p = tmp + sizeof tmp;
    // Through uint64_t so INT64_MIN negates without overflow.
    uint64_t u = i < 0 ? 0 - (uint64_t)i : (uint64_t)i;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (i < 0)
        *--p = '-';
    return thrift__buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}

/* Doubles that are short decimals in fixed notation (40.5, -73.25, 0.1):
 * the first k where round(d * 10^k) / 10^k gives d back.  Both operands are
 * exact (|m| < 2^53, 10^k <= 10^22), so the IEEE division is correctly
 * rounded exactly like strtod of the decimal: the check is exact.  The range
 * is where %g also writes fixed notation, so both paths agree on format.
 * Returns 0 when d is not such a number. */
static size_t format_double_fixed(double d, char out[32]) {
    static const double p10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7,
                                 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14,
                                 1e15, 1e16, 1e17, 1e18, 1e19};
    double a = fabs(d);
    if (!(a >= 1e-4 && a < 1e15))
        return 0;
    for (int k = 0; k < 20; k++) {
        double scaled = a * p10[k];
        if (scaled >= 9007199254740992.0) // 2^53: m no longer exact
            return 0;
        double m = nearbyint(scaled);
        if (m / p10[k] != a)
            continue;
        // digits of m, with a decimal point k places from the right
        char digits[24];
        int nd = 0;
        uint64_t u = (uint64_t)m;
        do {
            digits[nd++] = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        while (nd <= k) // 0.001: leading zeros
            digits[nd++] = '0';
        size_t o = 0;
        if (d < 0)
            out[o++] = '-';
        for (int i = nd - 1; i >= k; i--)
            out[o++] = digits[i];
        out[o++] = '.';
        if (k == 0)
            out[o++] = '0';
        for (int i = k - 1; i >= 0; i--)
            out[o++] = digits[i];
        out[o] = '\0';
        return o;
    }
    return 0;
}

size_t thrift__json_format_double(double d, char out[32]) {
    size_t fixed = format_double_fixed(d, out);
    if (fixed)
        return fixed;
    int n = 0;
    // %.17g always round-trips; the shorter forms are tried first so that
    // 0.1 is written "0.1", not "0.10000000000000001".  For a normal double,
    // %.15g already drops every digit a shorter form would drop (%g strips
    // trailing zeros); subnormals carry fewer bits, so for them the search
    // starts at one digit (5e-324, not 4.94065645841247e-324).
    int first = fabs(d) < DBL_MIN ? 1 : 15;
    for (int prec = first; prec <= 17; prec++) {
        n = snprintf(out, 32, "%.*g", prec, d);
        if (prec == 17 || strtod(out, NULL) == d)
            break;
    }
    // strtod compares -0.0 == 0.0, but %g keeps the sign, so "-0" is right.
    bool has_mark = false;
    for (int i = 0; i < n; i++)
        if (out[i] == '.' || out[i] == 'e' || out[i] == 'E')
            has_mark = true;
    if (!has_mark && n < 30) {
        out[n++] = '.';
        out[n++] = '0';
        out[n] = '\0';
    }
    return (size_t)n;
}

bool thrift__json_put_double(thrift__buf_t *b, double d) {
    if (isnan(d))
        return thrift__buf_puts(b, "\"NaN\"");
    if (isinf(d))
        return thrift__buf_puts(b, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    char tmp[32];
    size_t n = thrift__json_format_double(d, tmp);
    return thrift__buf_append(b, tmp, n);
}

