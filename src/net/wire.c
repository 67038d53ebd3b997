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

/* ---- options ------------------------------------------------------------ */

void thrift__conn_options_defaults(thrift_conn_options_t *o) {
    memset(o, 0, sizeof *o);
    o->proto = THRIFT_PROTO_BINARY;
    o->framing = THRIFT_FRAMING_FRAMED;
    o->connect_timeout_ms = 5000;
    o->read_timeout_ms = THRIFT_READ_TIMEOUT_DEFAULT_MS;
    o->max_frame_size = 16384000;
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
    o->framing = f == THRIFT_FRAMING_BUFFERED ? THRIFT_FRAMING_BUFFERED : THRIFT_FRAMING_FRAMED;
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
        else
            return thrift__error_set(err, THRIFT_INVALID, "unknown transport '%s'", value);
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

void thrift__wire_reader_free(thrift__wire_reader_t *r) { thrift__buf_free(&r->buf); }

void thrift__wire_reader_reset(thrift__wire_reader_t *r) {
    r->buf.len = 0;
    r->start = 0;
    r->probed = 0;
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

thrift_status_t thrift__wire_next(thrift__wire_reader_t *r, const uint8_t **msg, size_t *len,
                                  thrift_error_t *err) {
    const uint8_t *p = r->buf.data + r->start;
    size_t have = r->buf.len - r->start;
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

size_t thrift__wire_begin(thrift_buffer_t *out, thrift_framing_t framing) {
    size_t mark = thrift_buffer_len(out);
    if (framing == THRIFT_FRAMING_FRAMED) {
        static const uint8_t zero[4];
        if (thrift_buffer_append(out, zero, 4) != THRIFT_OK)
            return SIZE_MAX;
    }
    return mark;
}

thrift_status_t thrift__wire_end(thrift_buffer_t *out, thrift_framing_t framing, size_t mark,
                                 size_t max_frame_size, thrift_error_t *err) {
    size_t total = thrift_buffer_len(out) - mark;
    size_t body = framing == THRIFT_FRAMING_FRAMED ? total - 4 : total;
    if (body > max_frame_size)
        return thrift__error_set(err, THRIFT_LIMIT, "message of %zu bytes exceeds the limit of %zu",
                                 body, max_frame_size);
    if (framing == THRIFT_FRAMING_FRAMED) {
        // The buffer belongs to us; its public accessor is read-only only to
        // keep callers from resizing it under the encoder.
        uint8_t *p = (uint8_t *)thrift_buffer_data(out) + mark;
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

thrift_status_t thrift__addr_parse(const char *text, bool passive, thrift__addr_t *out,
                                   thrift_error_t *err) {
    char host[256];
    int port;
    bool is_unix;
    thrift_status_t st = thrift__addr_split(text, host, sizeof host, &port, &is_unix, err);
    if (st)
        return st;
    memset(out, 0, sizeof *out);
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

