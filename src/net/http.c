/* HTTP as a message framing, as Apache's THttpClient and THttpServer use
 * it: one Thrift message per POST body (Content-Type
 * application/x-thrift), bodies by Content-Length (chunked accepted on
 * read), HTTP/1.1 keep-alive, pipelined requests answered in order (the
 * server takes the next request once the last is answered), CORS
 * preflight (OPTIONS) answered as Apache's C++ THttpServer does.
 *
 * I/O-free like the rest of the wire reader: it parses what the reader
 * holds and says need-more; every size is bounded (headers by
 * THRIFT__HTTP_MAX_HEADER, bodies by the frame limit) before anything is
 * allocated, and a request that breaks the rules is answered with a status
 * (400, 405, 413, 431, 501) and the connection closed. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#include "net/net_impl.h"
#include "proto/proto_impl.h"

#define CRLF "\r\n"

/* Case-insensitive "does the header line start with name:". */
static const char *header_value(const char *line, size_t len, const char *name) {
    size_t n = strlen(name);
    if (len <= n || line[n] != ':' || strncasecmp(line, name, n))
        return NULL;
    const char *v = line + n + 1;
    while (v < line + len && (*v == ' ' || *v == '\t'))
        v++;
    return v;
}

static bool token_in(const char *v, size_t len, const char *token) {
    size_t n = strlen(token);
    for (size_t i = 0; i + n <= len; i++)
        if (!strncasecmp(v + i, token, n))
            return true;
    return false;
}

/* Parses a decimal length of at most 19 digits. */
static bool parse_length(const char *v, const char *end, uint64_t *out) {
    uint64_t n = 0;
    int digits = 0;
    while (v < end && *v >= '0' && *v <= '9') {
        if (++digits > 19)
            return false;
        n = n * 10 + (uint64_t)(*v++ - '0');
    }
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    if (!digits || v != end)
        return false;
    *out = n;
    return true;
}

/* A request the server answers with `status` (and then closes). */
static thrift_status_t fail(thrift__wire_reader_t *r, int status, thrift_error_t *err,
                            const char *why) {
    r->http.status = status;
    return thrift__error_set(err, status == 413 || status == 431 ? THRIFT_LIMIT : THRIFT_INVALID,
                             "HTTP %d: %s", status, why);
}

/* De-chunks a chunked body starting at p[0, have): THRIFT_OK with the body
 * in r->http.body and *used bytes consumed, THRIFT_NEED_MORE, or an error. */
static thrift_status_t dechunk(thrift__wire_reader_t *r, const uint8_t *p, size_t have,
                               size_t *used, thrift_error_t *err) {
    thrift__buf_t *b = &r->http.body;
    b->len = 0;
    size_t pos = 0;
    for (;;) {
        const uint8_t *eol = memchr(p + pos, '\n', have - pos);
        if (!eol)
            return have - pos > 64 ? fail(r, 400, err, "bad chunk size line")
                                   : THRIFT_NEED_MORE;
        uint64_t n = 0;
        int digits = 0;
        const uint8_t *q = p + pos;
        for (; q < eol && isxdigit(*q); q++) {
            if (++digits > 15)
                return fail(r, 413, err, "chunk too large");
            n = n * 16 + (uint64_t)(isdigit(*q) ? *q - '0' : (tolower(*q) - 'a' + 10));
        }
        if (!digits)
            return fail(r, 400, err, "bad chunk size line");
        pos = (size_t)(eol - p) + 1;
        if (n == 0) {
            // Trailers, then an empty line.
            for (;;) {
                const uint8_t *e = memchr(p + pos, '\n', have - pos);
                if (!e)
                    return have - pos > THRIFT__HTTP_MAX_HEADER
                               ? fail(r, 431, err, "trailers too large")
                               : THRIFT_NEED_MORE;
                size_t l = (size_t)(e - (p + pos));
                pos = (size_t)(e - p) + 1;
                if (l == 0 || (l == 1 && p[pos - 2] == '\r'))
                    break;
            }
            *used = pos;
            return THRIFT_OK;
        }
        if (n > r->max_frame_size || b->len + n > r->max_frame_size)
            return fail(r, 413, err, "chunked body exceeds the frame limit");
        if (have - pos < n + 2)
            return THRIFT_NEED_MORE;
        if (!thrift__buf_append(b, p + pos, (size_t)n))
            return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        pos += (size_t)n;
        if (p[pos] == '\r')
            pos++;
        if (p[pos] != '\n')
            return fail(r, 400, err, "chunk not followed by CRLF");
        pos++;
    }
}

thrift_status_t thrift__http_next(thrift__wire_reader_t *r, const uint8_t **msg, size_t *len,
                                  thrift_error_t *err) {
    thrift__http_t *h = &r->http;
    for (;;) {
        const uint8_t *p = r->buf.data + r->start;
        size_t have = r->buf.len - r->start;
        h->cors = false;
        h->until_close = false;
        bool any = h->role == THRIFT__HTTP_SERVER_ANY;
        bool server = h->role == THRIFT__HTTP_SERVER || any;
        if (have == 0)
            return THRIFT_NEED_MORE;
        // The head: up to the empty line.
        size_t scan = have < THRIFT__HTTP_MAX_HEADER + 4 ? have : THRIFT__HTTP_MAX_HEADER + 4;
        // From CR to CR with memchr (vectorized), not byte by byte: the
        // scan was a fifth of a server's instructions per HTTP call.
        const uint8_t *end = NULL;
        for (size_t i = 0; scan >= 4 && i < scan - 3;) {
            const uint8_t *cr = memchr(p + i, '\r', scan - 3 - i);
            if (!cr)
                break;
            if (cr[1] == '\n' && cr[2] == '\r' && cr[3] == '\n') {
                end = cr;
                break;
            }
            i = (size_t)(cr - p) + 1;
        }
        if (!end) {
            if (have > THRIFT__HTTP_MAX_HEADER)
                return fail(r, 431, err, "header larger than 16384 bytes");
            // Not even a request line that could be HTTP: say so early.
            if (server && have >= 1 && !isupper(p[0]))
                return fail(r, 400, err, "not an HTTP request");
            return THRIFT_NEED_MORE;
        }
        const char *line = (const char *)p;
        const char *eol = memchr(line, '\r', (size_t)((const char *)end - line) + 1);
        size_t llen = (size_t)(eol - line);
        bool http10 = false;
        int status = 200;
        bool options = false;
        if (server) {
            // "POST /path HTTP/1.1"
            const char *sp1 = memchr(line, ' ', llen);
            const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', llen - (size_t)(sp1 + 1 - line)) : NULL;
            if (!sp1 || !sp2 || (size_t)(line + llen - (sp2 + 1)) != 8 || strncmp(sp2 + 1, "HTTP/1.", 7))
                return fail(r, 400, err, "bad request line");
            http10 = sp2[8] == '0';
            size_t mlen = (size_t)(sp1 - line);
            if (any) {
                // Any method token; the caller routes on it and the target.
                bool token = mlen > 0 && mlen < 16 && sp2 > sp1 + 1 && sp1[1] == '/';
                for (size_t i = 0; token && i < mlen; i++)
                    token = isupper((unsigned char)line[i]);
                if (!token)
                    return fail(r, 400, err, "bad request line");
                h->method = line;
                h->method_len = mlen;
                h->target = sp1 + 1;
                h->target_len = (size_t)(sp2 - (sp1 + 1));
            } else if (mlen == 7 && !strncmp(line, "OPTIONS", 7))
                options = true;
            else if (!(mlen == 4 && !strncmp(line, "POST", 4)))
                return fail(r, 405, err, "method not allowed (only POST and OPTIONS)");
        } else {
            // "HTTP/1.1 200 OK"
            if (llen < 12 || strncmp(line, "HTTP/1.", 7) || line[8] != ' ' || !isdigit(line[9]) ||
                !isdigit(line[10]) || !isdigit(line[11]))
                return thrift__error_set(err, THRIFT_PROTOCOL, "HTTP: bad status line");
            http10 = line[7] == '0';
            status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
        }
        // Headers.
        uint64_t clen = 0;
        bool has_len = false, chunked = false, close = http10, keep = false;
        const char *hl = eol + 2;
        while (hl < (const char *)end + 2) {
            const char *e = memchr(hl, '\r', (size_t)((const char *)end + 2 - hl));
            if (!e)
                break;
            size_t n = (size_t)(e - hl);
            const char *v;
            if ((v = header_value(hl, n, "Content-Length"))) {
                uint64_t again = 0;
                // Two different lengths are a request smuggling attempt.
                if (!parse_length(v, e, has_len ? &again : &clen) || (has_len && again != clen))
                    return server
                               ? fail(r, 400, err, "bad Content-Length")
                               : thrift__error_set(err, THRIFT_PROTOCOL, "HTTP: bad Content-Length");
                has_len = true;
            } else if ((v = header_value(hl, n, "Transfer-Encoding"))) {
                if (!token_in(v, (size_t)(e - v), "chunked"))
                    return server
                               ? fail(r, 501, err, "unsupported transfer encoding")
                               : thrift__error_set(err, THRIFT_PROTOCOL,
                                                   "HTTP: unsupported transfer encoding");
                chunked = true;
            } else if ((v = header_value(hl, n, "Connection"))) {
                if (token_in(v, (size_t)(e - v), "close"))
                    close = true;
                if (token_in(v, (size_t)(e - v), "keep-alive"))
                    keep = true;
            }
            hl = e + 2;
        }
        size_t head = (size_t)(end - p) + 4;
        if (any) {
            h->head = (const char *)p;
            h->head_len = head;
        }
        h->keep_alive = !close || (http10 && keep);
        if (h->role == THRIFT__HTTP_CLIENT && status >= 100 && status < 200) {
            r->start += head; // 100 Continue and friends: skipped
            continue;
        }
        if (h->role == THRIFT__HTTP_CLIENT && status != 200) {
            // Name the status as the server wrote it.
            const char *reason = line + 12;
            int rl = (int)(llen > 13 ? llen - 13 : 0);
            if (reason < line + llen)
                reason++;
            return thrift__error_set(err, THRIFT_PROTOCOL, "HTTP status %d%s%.*s", status,
                                     rl ? " " : "", rl > 80 ? 80 : rl, reason);
        }
        if (options) {
            if (has_len && clen > THRIFT__HTTP_MAX_HEADER)
                return fail(r, 413, err, "OPTIONS with a body");
            if (has_len && have - head < clen)
                return THRIFT_NEED_MORE;
            r->start += head + (has_len ? (size_t)clen : 0);
            h->cors = true;
            *msg = NULL;
            *len = 0;
            return THRIFT_OK;
        }
        if (chunked) {
            size_t used = 0;
            thrift_status_t st = dechunk(r, p + head, have - head, &used, err);
            if (st == THRIFT_NEED_MORE && have > r->max_frame_size + THRIFT__HTTP_MAX_HEADER * 2)
                return fail(r, 413, err, "chunked body exceeds the frame limit");
            if (st)
                return st;
            r->start += head + used;
            if (h->body.len == 0 && !any && !h->empty_answers)
                continue; // an empty body: nothing to hand out
            *msg = h->body.data;
            *len = h->body.len;
            return THRIFT_OK;
        }
        if (!has_len && any) {
            has_len = true; // a request without a body (GET, HEAD...)
            clen = 0;
        }
        if (!has_len) {
            if (server)
                return fail(r, 411, err, "Content-Length required");
            // RFC 9112 6.3: a response without either is delimited by the
            // close (Apache's HTTP/1.0 THttpServer answers oneways so).
            if (have - head > r->max_frame_size)
                return thrift__error_set(err, THRIFT_LIMIT,
                                         "HTTP: body up to the close exceeds the limit of %zu",
                                         r->max_frame_size);
            h->keep_alive = false;
            h->until_close = true;
            h->until_close_at = head;
            return THRIFT_NEED_MORE;
        }
        if (clen > r->max_frame_size)
            return server
                       ? fail(r, 413, err, "body larger than the frame limit")
                       : thrift__error_set(err, THRIFT_LIMIT,
                                           "HTTP: body of %llu bytes exceeds the limit of %zu",
                                           (unsigned long long)clen, r->max_frame_size);
        if (have - head < clen)
            return THRIFT_NEED_MORE;
        r->start += head + (size_t)clen;
        if (clen == 0 && !any && !h->empty_answers)
            continue; // e.g. the answer to a oneway call
        *msg = p + head;
        *len = (size_t)clen;
        return THRIFT_OK;
    }
}

thrift_status_t thrift__http_eof(thrift__wire_reader_t *r, const uint8_t **msg, size_t *len) {
    thrift__http_t *h = &r->http;
    if (h->role != THRIFT__HTTP_CLIENT || !h->until_close)
        return THRIFT_NEED_MORE;
    h->until_close = false;
    const uint8_t *p = r->buf.data + r->start + h->until_close_at;
    *len = r->buf.len - r->start - h->until_close_at;
    *msg = p;
    r->start = r->buf.len;
    return THRIFT_OK;
}

const char *thrift__http_header(const thrift__http_t *h, const char *name, size_t *len) {
    if (!h->head)
        return NULL;
    const char *hl = memchr(h->head, '\n', h->head_len);
    const char *end = h->head + h->head_len;
    while (hl && ++hl < end) {
        const char *e = memchr(hl, '\n', (size_t)(end - hl));
        if (!e)
            break;
        size_t n = (size_t)(e - hl);
        if (n && hl[n - 1] == '\r')
            n--;
        const char *v = header_value(hl, n, name);
        if (v) {
            size_t vl = (size_t)(hl + n - v);
            while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                vl--;
            *len = vl;
            return v;
        }
        hl = e;
    }
    return NULL;
}

/* Inserts `text` at `at` in `out`, moving what follows. */
static thrift_status_t insert(thrift_buffer_t *out, size_t at, const char *text, size_t n) {
    size_t tail = out->buf.len - at;
    if (!thrift__buf_reserve(&out->buf, n))
        return THRIFT_NOMEM;
    memmove(out->buf.data + at + n, out->buf.data + at, tail);
    memcpy(out->buf.data + at, text, n);
    out->buf.len += n;
    return THRIFT_OK;
}

/* The head of every successful response, built without snprintf (its
 * format parsing was a tenth of a server's instructions per HTTP call);
 * head has room for THRIFT__HTTP_MAX_HEADER bytes.  Returns its length. */
static int ok_head(char *head, size_t body, bool keep_alive) {
    static const char fixed[] = "HTTP/1.1 200 OK" CRLF "Content-Type: application/x-thrift" CRLF
                                "Access-Control-Allow-Origin: *" CRLF "Content-Length: ";
    static const char close_line[] = CRLF "Connection: close";
    char *p = head;
    memcpy(p, fixed, sizeof fixed - 1);
    p += sizeof fixed - 1;
    char digits[24];
    size_t nd = 0;
    do {
        digits[nd++] = (char)('0' + body % 10);
        body /= 10;
    } while (body);
    while (nd)
        *p++ = digits[--nd];
    if (!keep_alive) {
        memcpy(p, close_line, sizeof close_line - 1);
        p += sizeof close_line - 1;
    }
    memcpy(p, CRLF CRLF, 4);
    return (int)(p + 4 - head);
}

thrift_status_t thrift__http_wrap(thrift_buffer_t *out, size_t start, const thrift__http_out_t *o,
                                  thrift_error_t *err) {
    size_t body = out->buf.len - start;
    char head[THRIFT__HTTP_MAX_HEADER];
    int n;
    if (o->request)
        n = snprintf(head, sizeof head,
                     "POST %s HTTP/1.1" CRLF "Host: %s" CRLF
                     "Content-Type: application/x-thrift" CRLF "Accept: application/x-thrift" CRLF
                     "User-Agent: dynthrift" CRLF "Content-Length: %zu" CRLF "%s" CRLF,
                     o->path, o->host, body, o->extra ? o->extra : "");
    else if (o->cors)
        n = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK" CRLF "Access-Control-Allow-Origin: *" CRLF
                     "Access-Control-Allow-Methods: POST, OPTIONS" CRLF
                     "Access-Control-Allow-Headers: Content-Type" CRLF "Content-Length: 0" CRLF
                     "%s" CRLF,
                     o->keep_alive ? "" : "Connection: close" CRLF);
    else if (o->status != 200)
        n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s" CRLF "Content-Length: 0" CRLF "Connection: close" CRLF CRLF,
                     o->status,
                     o->status == 400   ? "Bad Request"
                     : o->status == 405 ? "Method Not Allowed"
                     : o->status == 411 ? "Length Required"
                     : o->status == 413 ? "Payload Too Large"
                     : o->status == 431 ? "Request Header Fields Too Large"
                     : o->status == 501 ? "Not Implemented"
                                        : "Error");
    else
        n = ok_head(head, body, o->keep_alive);
    if (n < 0 || (size_t)n >= sizeof head)
        return thrift__error_set(err, THRIFT_LIMIT, "HTTP: request header too large");
    if (insert(out, start, head, (size_t)n))
        return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
    return THRIFT_OK;
}

void thrift__http_client_out(thrift__http_out_t *out, char *host, size_t hostsize,
                             const char *address, const thrift_conn_options_t *opts,
                             const thrift__addr_t *addr) {
    const char *scheme = strstr(address, "://");
    const char *hp = scheme ? scheme + 3 : address;
    size_t hn = strcspn(hp, "/");
    snprintf(host, hostsize, "%.*s", (int)(hn < hostsize ? hn : hostsize - 1), hp);
    memset(out, 0, sizeof *out);
    out->request = true;
    out->host = host;
    out->path = opts->http_path[0] ? opts->http_path : addr->path;
    out->extra = opts->http_headers;
}
