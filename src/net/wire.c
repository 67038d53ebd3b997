/* The I/O-free wire core: framing, message boundaries, addresses, options,
 * and the few socket calls both client and server make. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/net_impl.h"
#include "proto/proto_impl.h"
#ifdef DYNTHRIFT_HAVE_ZLIB
#include <zlib.h>
#endif

/* ---- options ------------------------------------------------------------ */

void thrift__conn_options_defaults(thrift_conn_options_t *o) {
    memset(o, 0, sizeof *o);
    o->proto = THRIFT_PROTO_BINARY;
    o->framing = THRIFT_FRAMING_FRAMED;
    o->connect_timeout_ms = 5000;
    o->read_timeout_ms = THRIFT_READ_TIMEOUT_DEFAULT_MS;
    o->max_frame_size = 16384000;
    o->tls_verify = true;
    o->handshake_timeout_ms = 10000;
    o->zlib_level = -1;
    o->busy_poll_us = THRIFT_BUSY_POLL_DEFAULT_US;
}

static thrift_status_t set_text(char *dst, const char *value) {
    size_t n = value ? strlen(value) : 0;
    if (n > THRIFT_OPTION_TEXT_MAX)
        return THRIFT_LIMIT;
    memcpy(dst, value ? value : "", n);
    dst[n] = 0;
    return THRIFT_OK;
}

void thrift_conn_options_set_tls(thrift_conn_options_t *o, bool on) { o->tls = on; }
thrift_status_t thrift_conn_options_set_tls_ca_file(thrift_conn_options_t *o, const char *path) {
    return o ? set_text(o->tls_ca, path) : THRIFT_MISUSE;
}
thrift_status_t thrift_conn_options_set_tls_cert_file(thrift_conn_options_t *o, const char *path) {
    return o ? set_text(o->tls_cert, path) : THRIFT_MISUSE;
}
thrift_status_t thrift_conn_options_set_tls_key_file(thrift_conn_options_t *o, const char *path) {
    return o ? set_text(o->tls_key, path) : THRIFT_MISUSE;
}
thrift_status_t thrift_conn_options_set_tls_server_name(thrift_conn_options_t *o, const char *name) {
    return o ? set_text(o->tls_server_name, name) : THRIFT_MISUSE;
}
void thrift_conn_options_set_tls_verify(thrift_conn_options_t *o, bool on) { o->tls_verify = on; }
void thrift_conn_options_set_handshake_timeout_ms(thrift_conn_options_t *o, uint32_t ms) {
    o->handshake_timeout_ms = ms;
}
thrift_status_t thrift_conn_options_set_http_path(thrift_conn_options_t *o, const char *path) {
    if (!o)
        return THRIFT_MISUSE;
    if (path && *path && (*path != '/' || strpbrk(path, " \r\n")))
        return THRIFT_INVALID;
    return set_text(o->http_path, path);
}

thrift_status_t thrift_conn_options_add_http_header(thrift_conn_options_t *o, const char *name,
                                                    const char *value) {
    if (!o || !name || !*name || !value)
        return THRIFT_MISUSE;
    // A CR or LF would let the header end the request early (injection).
    if (strpbrk(name, "\r\n: ") || strpbrk(value, "\r\n"))
        return THRIFT_INVALID;
    size_t used = strlen(o->http_headers);
    size_t need = strlen(name) + 2 + strlen(value) + 2;
    if (used + need >= sizeof o->http_headers)
        return THRIFT_LIMIT;
    snprintf(o->http_headers + used, sizeof o->http_headers - used, "%s: %s\r\n", name, value);
    return THRIFT_OK;
}

void thrift_conn_options_set_zlib(thrift_conn_options_t *o, bool on, int level) {
    o->zlib = on;
    o->zlib_level = level >= 0 && level <= 9 ? level : -1;
}

thrift_conn_options_t *thrift_conn_options_new(void) {
    thrift_conn_options_t *o = malloc(sizeof *o);
    if (o)
        thrift__conn_options_defaults(o);
    return o;
}

void thrift_conn_options_free(thrift_conn_options_t *opts) { free(opts); }

void thrift_conn_options_set_protocol(thrift_conn_options_t *o, thrift_protocol_t p) {
    if (p == THRIFT_PROTO_BINARY || p == THRIFT_PROTO_COMPACT || p == THRIFT_PROTO_JSON)
        o->proto = p;
}
void thrift_conn_options_set_framing(thrift_conn_options_t *o, thrift_framing_t f) {
    o->framing = f == THRIFT_FRAMING_BUFFERED || f == THRIFT_FRAMING_HEADER || f == THRIFT_FRAMING_AUTO
                     ? f
                     : THRIFT_FRAMING_FRAMED;
    o->framing_set = true;
}
void thrift_conn_options_set_connect_timeout_ms(thrift_conn_options_t *o, uint32_t ms) {
    o->connect_timeout_ms = ms;
}
void thrift_conn_options_set_call_timeout_ms(thrift_conn_options_t *o, uint32_t ms) {
    o->call_timeout_ms = ms;
}
void thrift_conn_options_set_max_frame_size(thrift_conn_options_t *o, size_t bytes) {
    // A frame length is a signed 32-bit number on the wire.
    if (bytes < 64)
        bytes = 64;
    if (bytes > 0x7fffffff)
        bytes = 0x7fffffff;
    o->max_frame_size = bytes;
}
void thrift_conn_options_set_multiplexed(thrift_conn_options_t *o, bool on) { o->multiplexed = on; }
thrift_status_t thrift_conn_options_set_multiplexed_name(thrift_conn_options_t *o, const char *name) {
    if (!o)
        return THRIFT_MISUSE;
    size_t n = name ? strlen(name) : 0;
    if (n > THRIFT_MULTIPLEXED_NAME_MAX)
        return THRIFT_LIMIT;
    // A ':' would split differently on the server.
    if (name && memchr(name, ':', n))
        return THRIFT_INVALID;
    memcpy(o->multiplexed_name, name ? name : "", n);
    o->multiplexed_name[n] = 0;
    if (n)
        o->multiplexed = true;
    return THRIFT_OK;
}
void thrift_conn_options_set_idle_timeout_ms(thrift_conn_options_t *o, uint32_t ms) {
    o->idle_timeout_ms = ms;
}
void thrift_conn_options_set_read_timeout_ms(thrift_conn_options_t *o, uint32_t ms) {
    o->read_timeout_ms = ms;
}
void thrift_conn_options_set_busy_poll_us(thrift_conn_options_t *o, uint32_t us) {
    o->busy_poll_us = us < THRIFT_BUSY_POLL_MAX_US ? us : THRIFT_BUSY_POLL_MAX_US;
}

static bool parse_u64(const char *s, uint64_t *out) {
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || *s == '-')
        return false;
    *out = v;
    return true;
}

thrift_status_t thrift_conn_options_set(thrift_conn_options_t *o, const char *key,
                                        const char *value, thrift_error_t *err) {
    if (!o || !key || !value)
        return thrift__error_set(err, THRIFT_MISUSE, "option key and value required");
    uint64_t n = 0;
    bool num = parse_u64(value, &n);
    if (!strcmp(key, "protocol")) {
        thrift_protocol_t p;
        if (!thrift_protocol_parse(value, &p))
            return thrift__error_set(err, THRIFT_INVALID, "unknown protocol '%s'", value);
        o->proto = p;
    } else if (!strcmp(key, "transport") || !strcmp(key, "framing")) {
        if (!strcmp(value, "framed"))
            o->framing = THRIFT_FRAMING_FRAMED;
        else if (!strcmp(value, "buffered"))
            o->framing = THRIFT_FRAMING_BUFFERED;
        else if (!strcmp(value, "header"))
            o->framing = THRIFT_FRAMING_HEADER;
        else if (!strcmp(value, "auto"))
            o->framing = THRIFT_FRAMING_AUTO;
        else
            return thrift__error_set(err, THRIFT_INVALID,
                                     "unknown transport '%s' (framed, buffered, header, auto)",
                                     value);
        o->framing_set = true;
    } else if (!strcmp(key, "multiplexed")) {
        if (!num || n > 1)
            return thrift__error_set(err, THRIFT_INVALID, "multiplexed: expected 0 or 1");
        o->multiplexed = n == 1;
    } else if (!strcmp(key, "multiplex_name") || !strcmp(key, "multiplexed_name")) {
        thrift_status_t st = thrift_conn_options_set_multiplexed_name(o, value);
        if (st)
            return thrift__error_set(err, st,
                                     "%s: expected a service name without ':' of at most %d bytes",
                                     key, THRIFT_MULTIPLEXED_NAME_MAX);
    } else if (!strcmp(key, "connect_timeout_ms") || !strcmp(key, "call_timeout_ms") ||
               !strcmp(key, "idle_timeout_ms") || !strcmp(key, "read_timeout_ms")) {
        if (!num || n > UINT32_MAX)
            return thrift__error_set(err, THRIFT_INVALID, "%s: expected milliseconds", key);
        if (key[0] == 'c' && key[1] == 'o')
            o->connect_timeout_ms = (uint32_t)n;
        else if (key[0] == 'c')
            o->call_timeout_ms = (uint32_t)n;
        else if (key[0] == 'r')
            o->read_timeout_ms = (uint32_t)n;
        else
            o->idle_timeout_ms = (uint32_t)n;
    } else if (!strcmp(key, "tls") || !strcmp(key, "tls_verify") || !strcmp(key, "zlib")) {
        if (!num || n > 1)
            return thrift__error_set(err, THRIFT_INVALID, "%s: expected 0 or 1", key);
#ifndef DYNTHRIFT_HAVE_TLS
        if (key[0] == 't' && !strcmp(key, "tls") && n)
            return thrift__error_set(err, THRIFT_UNSUPPORTED,
                                     "tls: this dynthrift was built without OpenSSL");
#endif
#ifndef DYNTHRIFT_HAVE_ZLIB
        if (key[0] == 'z' && n)
            return thrift__error_set(err, THRIFT_UNSUPPORTED,
                                     "zlib: this dynthrift was built without zlib");
#endif
        if (!strcmp(key, "tls"))
            o->tls = n == 1;
        else if (!strcmp(key, "tls_verify"))
            o->tls_verify = n == 1;
        else
            o->zlib = n == 1;
    } else if (!strcmp(key, "zlib_level")) {
        if (strcmp(value, "-1") && (!num || n > 9))
            return thrift__error_set(err, THRIFT_INVALID, "zlib_level: expected -1 to 9");
        o->zlib_level = strcmp(value, "-1") ? (int)n : -1;
    } else if (!strcmp(key, "tls_ca") || !strcmp(key, "tls_cert") || !strcmp(key, "tls_key") ||
               !strcmp(key, "tls_server_name")) {
        char *dst = !strcmp(key, "tls_ca")     ? o->tls_ca
                    : !strcmp(key, "tls_cert") ? o->tls_cert
                    : !strcmp(key, "tls_key")  ? o->tls_key
                                               : o->tls_server_name;
        if (set_text(dst, value))
            return thrift__error_set(err, THRIFT_LIMIT, "%s: longer than %d bytes", key,
                                     THRIFT_OPTION_TEXT_MAX);
    } else if (!strcmp(key, "http_path")) {
        thrift_status_t st = thrift_conn_options_set_http_path(o, value);
        if (st)
            return thrift__error_set(err, st, "http_path: a path starting with '/' of at most %d bytes",
                                     THRIFT_OPTION_TEXT_MAX);
    } else if (!strcmp(key, "http_header")) {
        const char *colon = strchr(value, ':');
        char name[256];
        size_t nl = colon ? (size_t)(colon - value) : 0;
        while (nl && value[nl - 1] == ' ')
            nl--;
        thrift_status_t st = THRIFT_INVALID;
        if (nl && nl < sizeof name) {
            memcpy(name, value, nl);
            name[nl] = 0;
            const char *v = colon + 1;
            while (*v == ' ')
                v++;
            st = thrift_conn_options_add_http_header(o, name, v);
        }
        if (st)
            return thrift__error_set(err, st, "http_header: expected 'Name: value' without CR/LF, "
                                     "all headers within %zu bytes",
                                     sizeof o->http_headers - 1);
    } else if (!strcmp(key, "handshake_timeout_ms")) {
        if (!num || n > UINT32_MAX)
            return thrift__error_set(err, THRIFT_INVALID, "%s: expected milliseconds", key);
        o->handshake_timeout_ms = (uint32_t)n;
    } else if (!strcmp(key, "busy_poll_us")) {
        if (!num || n > THRIFT_BUSY_POLL_MAX_US)
            return thrift__error_set(err, THRIFT_INVALID,
                                     "busy_poll_us: expected microseconds from 0 to %d",
                                     THRIFT_BUSY_POLL_MAX_US);
        o->busy_poll_us = (uint32_t)n;
    } else if (!strcmp(key, "max_frame_size")) {
        if (!num)
            return thrift__error_set(err, THRIFT_INVALID, "max_frame_size: expected bytes");
        thrift_conn_options_set_max_frame_size(o, (size_t)n);
    } else {
        return thrift__error_set(err, THRIFT_NOT_FOUND, "unknown option '%s'", key);
    }
    return THRIFT_OK;
}

/* ---- reader ------------------------------------------------------------- */

void thrift__wire_reader_init(thrift__wire_reader_t *r, thrift_protocol_t proto,
                              thrift_framing_t framing, size_t max_frame_size) {
    memset(r, 0, sizeof *r);
    thrift__buf_init(&r->buf, NULL);
    r->proto = proto;
    r->framing = framing;
    r->max_frame_size = max_frame_size;
    thrift_codec_options_init(&r->codec);
    // Apache's binary protocol reads old-style (unversioned) message headers
    // by default (strictRead=false) while writing versioned ones; a peer
    // must accept both to talk to every Apache client and server.
    r->codec.strict_read = false;
    // An unframed message is bounded by the same limit as a frame.
    r->codec.max_message_size = max_frame_size;
    r->codec.max_frame_size = max_frame_size;
}

void thrift__wire_reader_free(thrift__wire_reader_t *r) {
    thrift__buf_free(&r->buf);
    thrift__buf_free(&r->header.inflated);
    thrift__buf_free(&r->http.body);
    free(r->header.kv);
    r->header.kv = NULL;
    r->header.kvcap = r->header.nkv = 0;
}

void thrift__wire_reader_reset(thrift__wire_reader_t *r) {
    r->buf.len = 0;
    r->start = 0;
    r->probed = 0;
    r->http.until_close = false;
}

uint8_t *thrift__wire_space(thrift__wire_reader_t *r, size_t min, size_t *avail) {
    // Slide the unconsumed tail to the front so the buffer does not grow
    // without bound on a long-lived connection.
    if (r->start) {
        size_t rest = r->buf.len - r->start;
        if (rest)
            memmove(r->buf.data, r->buf.data + r->start, rest);
        r->buf.len = rest;
        r->start = 0;
    }
    if (!thrift__buf_reserve(&r->buf, min))
        return NULL;
    *avail = r->buf.cap - r->buf.len;
    return r->buf.data + r->buf.len;
}

void thrift__wire_commit(thrift__wire_reader_t *r, size_t n) { r->buf.len += n; }

uint8_t *thrift__wire_detach(thrift__wire_reader_t *r) {
    size_t rest = r->buf.len - r->start;
    thrift__buf_t nb;
    thrift__buf_init(&nb, r->buf.allocator);
    // Keep the old capacity: the next read wants as much room.
    if (!thrift__buf_reserve(&nb, rest > r->buf.cap ? rest : r->buf.cap ? r->buf.cap : 1))
        return NULL;
    if (rest)
        memcpy(nb.data, r->buf.data + r->start, rest);
    nb.len = rest;
    uint8_t *old = r->buf.data;
    r->buf = nb;
    r->start = 0; // `probed` counts from start, so it stays right
    return old;
}

thrift_status_t thrift__wire_feed(thrift__wire_reader_t *r, const void *data, size_t len) {
    size_t avail;
    uint8_t *p = thrift__wire_space(r, len, &avail);
    if (!p)
        return THRIFT_NOMEM;
    if (len)
        memcpy(p, data, len);
    thrift__wire_commit(r, len);
    return THRIFT_OK;
}

/* What the first bytes of a stream that failed to parse look like, when
 * they plainly belong to another framing or protocol: the usual day-one
 * mistake (a framed client against Apache's buffered default) otherwise
 * reads as "frame of 2147549186 bytes" or as silence.  NULL when nothing is
 * recognized.  Static strings. */
static const char *wire_guess(const thrift__wire_reader_t *r, const uint8_t *p, size_t have) {
    if (have >= 5 && (!memcmp(p, "HTTP/", 5) || !memcmp(p, "POST ", 5) || !memcmp(p, "GET /", 5)))
        return "the peer speaks HTTP, not a raw Thrift transport";
    if (r->framing == THRIFT_FRAMING_FRAMED && have >= 1) {
        // A frame length was expected: a message header came instead.
        if (have >= 2 && p[0] == 0x80 && p[1] == 0x01)
            return "the peer seems to use buffered (unframed) transport with the binary protocol";
        if (p[0] == 0x82)
            return "the peer seems to use buffered (unframed) transport with the compact protocol";
        if (p[0] == '[')
            return "the peer seems to use buffered (unframed) transport with the JSON protocol";
        return NULL;
    }
    // A bare message was expected: a frame length and then a message header.
    if (have >= 5 && p[0] == 0 && p[1] == 0) {
        if (have >= 6 && p[4] == 0x80 && p[5] == 0x01)
            return "the peer seems to use framed transport (with the binary protocol)";
        if (p[4] == 0x82)
            return "the peer seems to use framed transport (with the compact protocol)";
        if (p[4] == '[')
            return "the peer seems to use framed transport (with the JSON protocol)";
    }
    if (r->proto != THRIFT_PROTO_BINARY && have >= 2 && p[0] == 0x80 && p[1] == 0x01)
        return "the peer seems to use the binary protocol";
    if (r->proto != THRIFT_PROTO_COMPACT && p[0] == 0x82)
        return "the peer seems to use the compact protocol";
    if (r->proto != THRIFT_PROTO_JSON && p[0] == '[' && have >= 2 && p[1] == '1')
        return "the peer seems to use the JSON protocol";
    return NULL;
}

/* Fails the stream with `err` (already set) plus what its bytes look like. */
static thrift_status_t wire_fail(const thrift__wire_reader_t *r, const uint8_t *p, size_t have,
                                 thrift_status_t code, thrift_error_t *err) {
    const char *guess = wire_guess(r, p, have);
    if (guess && err) {
        size_t used = strnlen(err->text, sizeof err->text - 1);
        snprintf(err->text + used, sizeof err->text - used, ": %s", guess);
    }
    return code;
}

/* ---- THeader (Apache's doc/specs/HeaderFormat.md) --------------------------- */

#define HEADER_MAGIC 0x0FFFu
/* Protocol ids of HeaderFormat.md (Apache's T_*_PROTOCOL): JSON is 1. */
enum { HEADER_PROTO_BINARY = 0, HEADER_PROTO_JSON = 1, HEADER_PROTO_COMPACT = 2 };
enum { HEADER_TRANSFORM_ZLIB = 1 };
enum { HEADER_INFO_KEYVALUE = 1 };

/* A varint inside [*p, end): false when it runs past the end or past 32 bits. */
static bool header_varint(const uint8_t **p, const uint8_t *end, uint32_t *out) {
    uint32_t v = 0;
    for (int shift = 0; shift < 35; shift += 7) {
        if (*p >= end)
            return false;
        uint8_t b = *(*p)++;
        v |= (uint32_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

static bool header_string(const uint8_t **p, const uint8_t *end, const uint8_t **s, uint32_t *n) {
    if (!header_varint(p, end, n) || *n > (size_t)(end - *p))
        return false;
    *s = *p;
    *p += *n;
    return true;
}

/* Inflates a zlib-transformed payload into h->inflated, never beyond max. */
static thrift_status_t header_inflate(thrift__header_in_t *h, const uint8_t *in, size_t n,
                                      size_t max, thrift_error_t *err) {
#ifdef DYNTHRIFT_HAVE_ZLIB
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK)
        return thrift__error_set(err, THRIFT_NOMEM, "zlib: cannot initialize");
    h->inflated.len = 0;
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    int rc = Z_OK;
    thrift_status_t st = THRIFT_OK;
    while (rc != Z_STREAM_END) {
        size_t room = n * 4 + 256;
        if (h->inflated.len + room > max + 1)
            room = max + 1 - h->inflated.len; // one byte over says "too big"
        if (room == 0) {
            st = thrift__error_set(err, THRIFT_LIMIT,
                                   "THeader zlib payload inflates beyond the limit of %zu bytes", max);
            break;
        }
        if (!thrift__buf_reserve(&h->inflated, room)) {
            st = thrift__error_set(err, THRIFT_NOMEM, "out of memory");
            break;
        }
        z.next_out = h->inflated.data + h->inflated.len;
        z.avail_out = (uInt)room;
        rc = inflate(&z, Z_FINISH);
        h->inflated.len += room - z.avail_out;
        if (rc != Z_STREAM_END && rc != Z_OK && rc != Z_BUF_ERROR) {
            st = thrift__error_set(err, THRIFT_INVALID, "THeader zlib payload: %s",
                                   z.msg ? z.msg : "corrupt");
            break;
        }
        if (rc == Z_BUF_ERROR && z.avail_in == 0) {
            st = thrift__error_set(err, THRIFT_INVALID, "THeader zlib payload is truncated");
            break;
        }
    }
    inflateEnd(&z);
    if (!st && h->inflated.len > max)
        st = thrift__error_set(err, THRIFT_LIMIT,
                               "THeader zlib payload inflates beyond the limit of %zu bytes", max);
    return st;
#else
    (void)h;
    (void)in;
    (void)n;
    (void)max;
    return thrift__error_set(err, THRIFT_UNSUPPORTED,
                             "THeader zlib transform: this dynthrift was built without zlib");
#endif
}

/* Parses the THeader frame f[0, n) (after its length): the message in
 * msg/len, the rest in r->header. */
static thrift_status_t header_parse(thrift__wire_reader_t *r, const uint8_t *f, size_t n,
                                    const uint8_t **msg, size_t *len, thrift_error_t *err) {
    thrift__header_in_t *h = &r->header;
    h->present = true;
    h->nkv = 0;
    h->zlib = false;
    if (n < 10)
        return thrift__error_set(err, THRIFT_INVALID, "THeader frame of %zu bytes is too short", n);
    h->flags = (uint16_t)(f[2] << 8 | f[3]);
    h->seqid = (int32_t)((uint32_t)f[4] << 24 | (uint32_t)f[5] << 16 | (uint32_t)f[6] << 8 | f[7]);
    size_t hlen = (size_t)(f[8] << 8 | f[9]) * 4;
    if (hlen > n - 10)
        return thrift__error_set(err, THRIFT_LIMIT,
                                 "THeader header of %zu bytes goes beyond its %zu-byte frame", hlen,
                                 n);
    const uint8_t *p = f + 10, *end = f + 10 + hlen;
    uint32_t proto, ntrans;
    if (!header_varint(&p, end, &proto) || !header_varint(&p, end, &ntrans))
        return thrift__error_set(err, THRIFT_INVALID, "THeader header is truncated");
    if (proto == HEADER_PROTO_BINARY)
        r->proto = THRIFT_PROTO_BINARY;
    else if (proto == HEADER_PROTO_COMPACT)
        r->proto = THRIFT_PROTO_COMPACT;
    else if (proto == HEADER_PROTO_JSON)
        r->proto = THRIFT_PROTO_JSON;
    else
        return thrift__error_set(err, THRIFT_UNSUPPORTED, "THeader protocol id %u is not supported",
                                 proto);
    if (ntrans > hlen)
        return thrift__error_set(err, THRIFT_INVALID, "THeader header is truncated");
    for (uint32_t i = 0; i < ntrans; i++) {
        uint32_t id;
        if (!header_varint(&p, end, &id))
            return thrift__error_set(err, THRIFT_INVALID, "THeader header is truncated");
        if (id != HEADER_TRANSFORM_ZLIB)
            return thrift__error_set(err, THRIFT_UNSUPPORTED, "unknown THeader transform %u", id);
        h->zlib = true;
    }
    while (p < end) {
        uint32_t type, count;
        if (!header_varint(&p, end, &type))
            return thrift__error_set(err, THRIFT_INVALID, "THeader header is truncated");
        if (type != HEADER_INFO_KEYVALUE)
            break; // padding (0), or a kind we do not know: skipped, as Apache does
        if (!header_varint(&p, end, &count) || count > hlen)
            return thrift__error_set(err, THRIFT_INVALID, "THeader info headers are truncated");
        for (uint32_t i = 0; i < count; i++) {
            struct thrift__header_kv kv;
            if (!header_string(&p, end, &kv.key, &kv.klen) ||
                !header_string(&p, end, &kv.value, &kv.vlen))
                return thrift__error_set(err, THRIFT_INVALID, "THeader info headers are truncated");
            if (h->nkv == h->kvcap) {
                size_t cap = h->kvcap ? h->kvcap * 2 : 8;
                void *nk = realloc(h->kv, cap * sizeof *h->kv);
                if (!nk)
                    return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
                h->kv = nk;
                h->kvcap = cap;
            }
            h->kv[h->nkv++] = kv;
        }
    }
    const uint8_t *payload = f + 10 + hlen;
    size_t plen = n - 10 - hlen;
    if (h->zlib) {
        thrift_status_t st = header_inflate(h, payload, plen, r->max_frame_size, err);
        if (st)
            return st;
        payload = h->inflated.data;
        plen = h->inflated.len;
    }
    if (plen == 0)
        return thrift__error_set(err, THRIFT_INVALID, "THeader frame without a message");
    *msg = payload;
    *len = plen;
    return THRIFT_OK;
}

const char *thrift__kv_find(const thrift__kv_t *l, const char *key) {
    for (; l && key; l = l->next)
        if (!strcmp(l->key, key))
            return l->value;
    return NULL;
}

thrift_status_t thrift__kv_set(thrift__kv_t **list, const char *key, const char *value) {
    if (!key || !*key)
        return THRIFT_MISUSE;
    if (strlen(key) > THRIFT_HEADER_TEXT_MAX || (value && strlen(value) > THRIFT_HEADER_TEXT_MAX))
        return THRIFT_LIMIT;
    for (thrift__kv_t **pp = list; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->key, key)) {
            thrift__kv_t *old = *pp;
            *pp = old->next;
            free(old);
            break;
        }
    if (!value)
        return THRIFT_OK;
    size_t kl = strlen(key), vl = strlen(value);
    thrift__kv_t *n = malloc(sizeof *n + kl + vl + 2);
    if (!n)
        return THRIFT_NOMEM;
    char *k = (char *)(n + 1);
    memcpy(k, key, kl + 1);
    memcpy(k + kl + 1, value, vl + 1);
    n->key = k;
    n->value = k + kl + 1;
    // Appended: headers go out in the order they were set.
    n->next = NULL;
    thrift__kv_t **pp = list;
    while (*pp)
        pp = &(*pp)->next;
    *pp = n;
    return THRIFT_OK;
}

void thrift__kv_free(thrift__kv_t *l) {
    while (l) {
        thrift__kv_t *n = l->next;
        free(l);
        l = n;
    }
}

thrift__kv_t *thrift__header_copy(const thrift__header_in_t *h, thrift_arena_t *arena, bool *oom) {
    *oom = false;
    thrift__kv_t *head = NULL, **tail = &head;
    if (!h->present)
        return NULL;
    for (size_t i = 0; i < h->nkv; i++) {
        const struct thrift__header_kv *kv = &h->kv[i];
        thrift__kv_t *n = thrift__arena_alloc(arena, sizeof *n + kv->klen + kv->vlen + 2);
        if (!n) {
            *oom = true;
            return head;
        }
        char *k = (char *)(n + 1);
        memcpy(k, kv->key, kv->klen);
        k[kv->klen] = 0;
        memcpy(k + kv->klen + 1, kv->value, kv->vlen);
        k[kv->klen + 1 + kv->vlen] = 0;
        n->key = k;
        n->value = k + kv->klen + 1;
        n->next = NULL;
        *tail = n;
        tail = &n->next;
    }
    return head;
}

/* One port, many kinds (a server's THRIFT_FRAMING_AUTO): what the first
 * bytes of a connection are.  Decides r->framing, r->proto or r->http once;
 * THRIFT_NEED_MORE until it can. */
static thrift_status_t wire_detect(thrift__wire_reader_t *r) {
    const uint8_t *p = r->buf.data + r->start;
    size_t have = r->buf.len - r->start;
    if (have < 1)
        return THRIFT_NEED_MORE;
    thrift_framing_t framing = THRIFT_FRAMING_BUFFERED;
    thrift_protocol_t proto = THRIFT_PROTO_BINARY;
    if (p[0] >= 'A' && p[0] <= 'Z') {
        // "POST /", "OPTIONS /": no Thrift stream starts with a capital.
        r->http.role = THRIFT__HTTP_SERVER;
        r->http.keep_alive = true;
    } else if (p[0] == 0x80) {
        proto = THRIFT_PROTO_BINARY; // strict binary, unframed
    } else if (p[0] == 0x82) {
        proto = THRIFT_PROTO_COMPACT;
    } else if (p[0] == '[') {
        proto = THRIFT_PROTO_JSON;
    } else {
        // A frame length (or an old-style binary name length): the byte
        // after it tells -- unless it is already too large to be either.
        framing = THRIFT_FRAMING_FRAMED;
        if (have >= 4 && ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]) >
                             r->max_frame_size) {
            r->framing = framing;
            return THRIFT_OK; // framed: its limit check fails it
        }
        if (have < 6)
            return THRIFT_NEED_MORE;
        if (p[4] == 0x0f && p[5] == 0xff)
            framing = THRIFT_FRAMING_HEADER;
        else if (p[4] == 0x82)
            proto = THRIFT_PROTO_COMPACT;
        else if (p[4] == '[')
            proto = THRIFT_PROTO_JSON;
        else if (p[4] != 0x80 && p[4] != 0)
            framing = THRIFT_FRAMING_BUFFERED; // old-style binary: a name follows its length
    }
    r->framing = framing;
    r->proto = proto;
    return THRIFT_OK;
}

thrift_status_t thrift__wire_next(thrift__wire_reader_t *r, const uint8_t **msg, size_t *len,
                                  thrift_error_t *err) {
    if (r->framing == THRIFT_FRAMING_AUTO) {
        thrift_status_t st = wire_detect(r);
        if (st)
            return st;
    }
    if (r->http.role) {
        thrift_status_t st = thrift__http_next(r, msg, len, err);
        // A server answers each body in its own protocol: TJSONProtocol
        // starts with '[', compact with 0x82, binary with anything else.
        if (st == THRIFT_OK && *len && r->http.role == THRIFT__HTTP_SERVER)
            r->proto = (*msg)[0] == '[' ? THRIFT_PROTO_JSON
                       : (*msg)[0] == 0x82 ? THRIFT_PROTO_COMPACT
                                           : THRIFT_PROTO_BINARY;
        return st;
    }
    const uint8_t *p = r->buf.data + r->start;
    size_t have = r->buf.len - r->start;
    if (r->framing == THRIFT_FRAMING_HEADER) {
        if (have < 4)
            return THRIFT_NEED_MORE;
        uint32_t n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (n & 0x80000000u)
            return thrift__error_set(err, THRIFT_INVALID, "negative frame size %d", (int32_t)n);
        if (n > r->max_frame_size)
            return thrift__error_set(err, THRIFT_LIMIT, "frame of %u bytes exceeds the limit of %zu",
                                     n, r->max_frame_size);
        if (have - 4 < n)
            return THRIFT_NEED_MORE;
        r->start += 4 + (size_t)n;
        if (n >= 2 && ((uint32_t)p[4] << 8 | p[5]) == HEADER_MAGIC)
            return header_parse(r, p + 4, n, msg, len, err);
        // A plain framed message on a THeader connection: Apache's THeader
        // peers answer those too, in kind.
        r->header.present = false;
        if (n == 0)
            return thrift__error_set(err, THRIFT_INVALID, "empty frame");
        // Compact messages start with 0x82; binary ones with 0x80 (strict)
        // or a name length (old style).
        r->proto = p[4] == 0x82 ? THRIFT_PROTO_COMPACT : THRIFT_PROTO_BINARY;
        *msg = p + 4;
        *len = n;
        return THRIFT_OK;
    }
    if (r->framing == THRIFT_FRAMING_FRAMED) {
        if (have < 4)
            return THRIFT_NEED_MORE;
        uint32_t n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (n & 0x80000000u)
            return wire_fail(r, p, have,
                             thrift__error_set(err, THRIFT_INVALID, "negative frame size %d",
                                               (int32_t)n),
                             err);
        if (n > r->max_frame_size)
            return wire_fail(r, p, have,
                             thrift__error_set(err, THRIFT_LIMIT,
                                               "frame of %u bytes exceeds the limit of %zu", n,
                                               r->max_frame_size),
                             err);
        if (n == 0)
            return thrift__error_set(err, THRIFT_INVALID, "empty frame");
        if (have - 4 < n)
            return THRIFT_NEED_MORE;
        *msg = p + 4;
        *len = n;
        r->start += 4 + (size_t)n;
        return THRIFT_OK;
    }
    if (have == 0 || have <= r->probed)
        return THRIFT_NEED_MORE;
    // A framed or HTTP peer's first bytes may parse as the start of an
    // old-style binary message whose end never comes: look before probing.
    const char *guess = r->probed == 0 ? wire_guess(r, p, have) : NULL;
    if (guess)
        return thrift__error_set(err, THRIFT_INVALID, "unexpected bytes %02x %02x %02x %02x: %s",
                                 p[0], p[1], p[2], p[3], guess);
    size_t mlen = 0;
    thrift_error_t perr;
    thrift_error_clear(&perr);
    thrift_status_t st = thrift_probe_message(r->proto, p, have, &r->codec, &mlen, &perr);
    if (st == THRIFT_NEED_MORE) {
        if (have > r->max_frame_size)
            return thrift__error_set(err, THRIFT_LIMIT,
                                     "message exceeds the limit of %zu bytes", r->max_frame_size);
        r->probed = have;
        return THRIFT_NEED_MORE;
    }
    if (st != THRIFT_OK) {
        if (err && !thrift__error_is_set(err))
            *err = perr;
        return wire_fail(r, p, have, st, err);
    }
    *msg = p;
    *len = mlen;
    r->start += mlen;
    r->probed = 0;
    return THRIFT_OK;
}

/* ---- writer ------------------------------------------------------------- */

static size_t put_varint(uint8_t *p, uint32_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static bool append_varint(thrift_buffer_t *out, uint32_t v) {
    uint8_t tmp[5];
    return thrift_buffer_append(out, tmp, put_varint(tmp, v)) == THRIFT_OK;
}

static bool append_string(thrift_buffer_t *out, const char *s) {
    size_t n = strlen(s);
    return append_varint(out, (uint32_t)n) && thrift_buffer_append(out, s, n) == THRIFT_OK;
}

static uint8_t header_proto_id(thrift_protocol_t proto) {
    return proto == THRIFT_PROTO_COMPACT ? HEADER_PROTO_COMPACT
           : proto == THRIFT_PROTO_JSON  ? HEADER_PROTO_JSON
                                         : HEADER_PROTO_BINARY;
}

/* Writes a THeader frame's header: length (patched at the end), magic,
 * flags, sequence id, header size, protocol, transforms, info headers. */
static thrift_status_t header_begin(thrift_buffer_t *out, const thrift__header_out_t *h,
                                    thrift__wire_mark_t *m, thrift_error_t *err) {
    // Fixed part, then (when no info header follows) the whole variable
    // header in the same append: protocol, transform count and id, padding.
    uint8_t fixed[14 + 4] = {0, 0, 0, 0, 0x0f, 0xff, (uint8_t)(h->flags >> 8), (uint8_t)h->flags,
                             (uint8_t)((uint32_t)h->seqid >> 24),
                             (uint8_t)((uint32_t)h->seqid >> 16),
                             (uint8_t)((uint32_t)h->seqid >> 8), (uint8_t)h->seqid, 0, 0,
                             header_proto_id(h->proto),
                             h->zlib ? 1 : 0, h->zlib ? HEADER_TRANSFORM_ZLIB : 0, 0};
    if (!h->kv[0] && !h->kv[1]) {
        fixed[13] = 1; // 4 header bytes (at most 3 used, then padding)
        if (thrift_buffer_append(out, fixed, sizeof fixed))
            return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        m->payload = out->buf.len;
        m->zlib = h->zlib;
        return THRIFT_OK;
    }
    if (thrift_buffer_append(out, fixed, 14))
        return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
    size_t hstart = thrift_buffer_len(out);
    bool ok = append_varint(out, header_proto_id(h->proto));
    ok = ok && append_varint(out, h->zlib ? 1 : 0);
    if (h->zlib)
        ok = ok && append_varint(out, HEADER_TRANSFORM_ZLIB);
    uint32_t count = 0;
    for (int l = 0; l < 2; l++)
        for (const thrift__kv_t *kv = h->kv[l]; kv; kv = kv->next)
            count++;
    if (count) {
        ok = ok && append_varint(out, HEADER_INFO_KEYVALUE) && append_varint(out, count);
        for (int l = 0; l < 2; l++)
            for (const thrift__kv_t *kv = h->kv[l]; ok && kv; kv = kv->next)
                ok = append_string(out, kv->key) && append_string(out, kv->value);
    }
    static const uint8_t pad[3];
    size_t hlen = thrift_buffer_len(out) - hstart;
    ok = ok && thrift_buffer_append(out, pad, (4 - hlen % 4) % 4) == THRIFT_OK;
    if (!ok)
        return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
    hlen = thrift_buffer_len(out) - hstart;
    if (hlen / 4 > 0xffff)
        return thrift__error_set(err, THRIFT_LIMIT, "THeader info headers of %zu bytes: at most %u",
                                 hlen, 0xffffu * 4);
    uint8_t *p = out->buf.data + hstart - 2;
    p[0] = (uint8_t)(hlen / 4 >> 8);
    p[1] = (uint8_t)(hlen / 4);
    m->payload = thrift_buffer_len(out);
    m->zlib = h->zlib;
    return THRIFT_OK;
}

thrift_status_t thrift__wire_begin(thrift_buffer_t *out, thrift_framing_t framing,
                                   const thrift__header_out_t *h, thrift__wire_mark_t *m,
                                   thrift_error_t *err) {
    m->start = m->payload = thrift_buffer_len(out);
    m->zlib = false;
    m->http = h ? h->http : NULL;
    if (m->http)
        return THRIFT_OK; // the head goes in front at the end
    if (framing == THRIFT_FRAMING_HEADER && h)
        return header_begin(out, h, m, err);
    if (framing == THRIFT_FRAMING_FRAMED || framing == THRIFT_FRAMING_HEADER) {
        static const uint8_t zero[4];
        if (thrift_buffer_append(out, zero, 4) != THRIFT_OK)
            return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        m->payload = m->start + 4;
    }
    return THRIFT_OK;
}

/* Replaces the payload from m->payload on by its zlib compression. */
static thrift_status_t header_deflate(thrift_buffer_t *out, const thrift__wire_mark_t *m,
                                      thrift_error_t *err) {
#ifdef DYNTHRIFT_HAVE_ZLIB
    size_t n = thrift_buffer_len(out) - m->payload;
    uLongf zn = compressBound((uLong)n);
    uint8_t *tmp = malloc(zn);
    if (!tmp)
        return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
    if (compress2(tmp, &zn, out->buf.data + m->payload, (uLong)n, Z_DEFAULT_COMPRESSION) != Z_OK) {
        free(tmp);
        return thrift__error_set(err, THRIFT_NOMEM, "zlib: cannot compress");
    }
    out->buf.len = m->payload;
    thrift_status_t st = thrift_buffer_append(out, tmp, zn);
    free(tmp);
    return st ? thrift__error_set(err, THRIFT_NOMEM, "out of memory") : THRIFT_OK;
#else
    (void)out;
    (void)m;
    return thrift__error_set(err, THRIFT_UNSUPPORTED,
                             "THeader zlib transform: this dynthrift was built without zlib");
#endif
}

thrift_status_t thrift__wire_end(thrift_buffer_t *out, thrift_framing_t framing,
                                 const thrift__wire_mark_t *m, size_t max_frame_size,
                                 thrift_error_t *err) {
    if (m->zlib) {
        thrift_status_t st = header_deflate(out, m, err);
        if (st)
            return st;
    }
    size_t total = thrift_buffer_len(out) - m->start;
    bool framed = m->payload != m->start; // framed and THeader carry a length
    size_t body = framed ? total - 4 : total;
    (void)framing;
    if (body > max_frame_size)
        return thrift__error_set(err, THRIFT_LIMIT, "message of %zu bytes exceeds the limit of %zu",
                                 body, max_frame_size);
    if (m->http)
        return thrift__http_wrap(out, m->start, m->http, err);
    if (framed) {
        uint8_t *p = out->buf.data + m->start;
        p[0] = (uint8_t)(body >> 24);
        p[1] = (uint8_t)(body >> 16);
        p[2] = (uint8_t)(body >> 8);
        p[3] = (uint8_t)body;
    }
    return THRIFT_OK;
}

/* ---- addresses ---------------------------------------------------------- */

thrift_status_t thrift__addr_split(const char *text, char *host, size_t hostsize, int *port,
                                   bool *is_unix, thrift_error_t *err) {
    *is_unix = false;
    *port = 0;
    if (!text || !*text)
        return thrift__error_set(err, THRIFT_INVALID, "empty address");
    if (!strncmp(text, "unix:", 5)) {
        const char *path = text + 5;
        if (!*path)
            return thrift__error_set(err, THRIFT_INVALID, "address '%s': empty unix path", text);
        if (strlen(path) >= hostsize || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
            return thrift__error_set(err, THRIFT_INVALID, "address '%s': unix path too long", text);
        strcpy(host, path);
        *is_unix = true;
        return THRIFT_OK;
    }
    const char *colon;
    const char *h = text;
    size_t hlen;
    if (*text == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':')
            return thrift__error_set(err, THRIFT_INVALID,
                                     "address '%s': expected [ipv6]:port", text);
        h = text + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (!colon)
            return thrift__error_set(err, THRIFT_INVALID, "address '%s': expected host:port", text);
        if (memchr(text, ':', (size_t)(colon - text)))
            return thrift__error_set(err, THRIFT_INVALID,
                                     "address '%s': write IPv6 addresses as [addr]:port", text);
        hlen = (size_t)(colon - text);
    }
    if (hlen >= hostsize)
        return thrift__error_set(err, THRIFT_INVALID, "address '%s': host too long", text);
    memcpy(host, h, hlen);
    host[hlen] = 0;
    const char *ps = colon + 1;
    char *end;
    errno = 0;
    long pv = strtol(ps, &end, 10);
    if (!*ps || *end || errno || pv < 0 || pv > 65535)
        return thrift__error_set(err, THRIFT_INVALID, "address '%s': bad port '%s'", text, ps);
    *port = (int)pv;
    return THRIFT_OK;
}

/* "tls://", "http://", "https://" in front of an address: the scheme,
 * and how many bytes it takes. */
static thrift__scheme_t scheme_of(const char *text, size_t *skip) {
    static const struct {
        const char *prefix;
        thrift__scheme_t scheme;
    } schemes[] = {{"tls://", THRIFT__SCHEME_TLS},
                   {"http://", THRIFT__SCHEME_HTTP},
                   {"https://", THRIFT__SCHEME_HTTPS}};
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t n = strlen(schemes[i].prefix);
        if (!strncmp(text, schemes[i].prefix, n)) {
            *skip = n;
            return schemes[i].scheme;
        }
    }
    *skip = 0;
    return THRIFT__SCHEME_PLAIN;
}

thrift_status_t thrift__addr_parse(const char *text, bool passive, thrift__addr_t *out,
                                   thrift_error_t *err) {
    char host[256];
    int port;
    bool is_unix;
    memset(out, 0, sizeof *out);
    size_t skip = 0;
    out->scheme = text ? scheme_of(text, &skip) : THRIFT__SCHEME_PLAIN;
    char hostport[512];
    const char *hp = text;
    if (out->scheme != THRIFT__SCHEME_PLAIN) {
        const char *rest = text + skip;
        const char *slash = strchr(rest, '/');
        if (slash && (out->scheme == THRIFT__SCHEME_TLS))
            return thrift__error_set(err, THRIFT_INVALID, "address '%s': tls:// takes no path",
                                     text);
        size_t hn = slash ? (size_t)(slash - rest) : strlen(rest);
        if (hn >= sizeof hostport)
            return thrift__error_set(err, THRIFT_INVALID, "address '%s': too long", text);
        memcpy(hostport, rest, hn);
        hostport[hn] = 0;
        if (!strncmp(hostport, "unix:", 5))
            return thrift__error_set(err, THRIFT_INVALID,
                                     "address '%s': write a scheme before host:port only", text);
        if (snprintf(out->path, sizeof out->path, "%s", slash ? slash : "/") >=
            (int)sizeof out->path)
            return thrift__error_set(err, THRIFT_INVALID, "address '%s': path too long", text);
        hp = hostport;
    }
    thrift_status_t st = thrift__addr_split(hp, host, sizeof host, &port, &is_unix, err);
    if (st)
        return st;
    snprintf(out->host, sizeof out->host, "%s", is_unix ? "" : host);
    if (is_unix) {
        struct sockaddr_un *un = (struct sockaddr_un *)&out->sa;
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, host);
        out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(host) + 1);
        out->family = AF_UNIX;
        return THRIFT_OK;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    const char *node = host;
    if (passive && (!*host || !strcmp(host, "*")))
        node = NULL;
    else if (!*host)
        node = "localhost";
    int rc = getaddrinfo(node, portstr, &hints, &res);
    if (rc != 0 || !res)
        return thrift__error_set(err, THRIFT_NOT_FOUND, "cannot resolve '%s': %s", text,
                                 rc ? gai_strerror(rc) : "no address");
    // Prefer IPv4 when a name has both, as most peers listen there.
    struct addrinfo *pick = res;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
        if (ai->ai_family == AF_INET) {
            pick = ai;
            break;
        }
    if (pick->ai_addrlen > sizeof out->sa) {
        freeaddrinfo(res);
        return thrift__error_set(err, THRIFT_INVALID, "address '%s': unsupported family", text);
    }
    memcpy(&out->sa, pick->ai_addr, pick->ai_addrlen);
    out->len = (socklen_t)pick->ai_addrlen;
    out->family = pick->ai_family;
    freeaddrinfo(res);
    return THRIFT_OK;
}

/* ---- sockets ------------------------------------------------------------ */

void thrift__sock_tune(int fd, int family) {
    if (family == AF_INET || family == AF_INET6) {
        int one = 1;
        // Small request/reply messages: do not let Nagle hold them back.
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
}

int thrift__sock_connect(const thrift__addr_t *addr, bool *in_progress, thrift_error_t *err) {
    *in_progress = false;
    int fd = socket(addr->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        thrift__error_set(err, THRIFT_TRANSPORT, "socket: %s", strerror(errno));
        return -1;
    }
    thrift__sock_tune(fd, addr->family);
    if (connect(fd, (const struct sockaddr *)&addr->sa, addr->len) < 0) {
        if (errno == EINPROGRESS || errno == EAGAIN) {
            *in_progress = true;
            return fd;
        }
        thrift__error_set(err, THRIFT_TRANSPORT, "connect: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int thrift__sock_listen(const thrift__addr_t *addr, bool reuseport, thrift_error_t *err) {
    int fd = socket(addr->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        thrift__error_set(err, THRIFT_TRANSPORT, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    if (addr->family != AF_UNIX) {
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (reuseport)
            (void)setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    } else {
        // A stale socket file from an earlier run would make bind fail.
        const struct sockaddr_un *un = (const struct sockaddr_un *)&addr->sa;
        (void)unlink(un->sun_path);
    }
    if (bind(fd, (const struct sockaddr *)&addr->sa, addr->len) < 0 || listen(fd, 1024) < 0) {
        thrift__error_set(err, THRIFT_TRANSPORT, "bind/listen: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int thrift__sock_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

