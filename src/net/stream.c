/* The transport stack: the socket layer at its bottom, and the stream the
 * connection code drives (see stream.h). */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net_impl.h"
#include "net/stream.h"

/* ---- socket layer ---------------------------------------------------------- */

static ssize_t sock_read(thrift__layer_t *l, uint8_t *buf, size_t cap, thrift_error_t *err) {
    for (;;) {
        ssize_t n = recv(l->stream->fd, buf, cap, 0);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            l->stream->want = THRIFT__WANT_READ;
            return THRIFT__IO_AGAIN;
        }
        thrift__error_set(err, errno == ECONNRESET ? THRIFT_CLOSED : THRIFT_TRANSPORT, "recv: %s",
                          strerror(errno));
        return THRIFT__IO_ERROR;
    }
}

static ssize_t sock_write(thrift__layer_t *l, const uint8_t *buf, size_t len, thrift_error_t *err) {
    for (;;) {
        ssize_t n = send(l->stream->fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            l->stream->want = THRIFT__WANT_WRITE;
            return THRIFT__IO_AGAIN;
        }
        thrift__error_set(err, errno == EPIPE || errno == ECONNRESET ? THRIFT_CLOSED
                                                                      : THRIFT_TRANSPORT,
                          "send: %s", strerror(errno));
        return THRIFT__IO_ERROR;
    }
}

static void sock_free(thrift__layer_t *l) { (void)l; /* embedded in the stream; fd not ours */ }

static const thrift__layer_ops_t sock_ops = {
    .name = "socket", .read = sock_read, .write = sock_write, .free = sock_free};

/* ---- the stack ------------------------------------------------------------- */

static void push_layer(thrift__stream_t *s, thrift__layer_t *l) {
    l->below = s->top;
    l->stream = s;
    s->top = l;
}

thrift_status_t thrift__stream_init(thrift__stream_t *s, int fd, const thrift_conn_options_t *o,
                                    thrift__tls_ctx_t *tls, const char *host, thrift_error_t *err) {
    memset(s, 0, sizeof *s);
    s->fd = fd;
    s->sock.ops = &sock_ops;
    s->sock.stream = s;
    s->top = &s->sock;
    if (tls) {
        thrift__layer_t *l = thrift__tls_layer_new(tls, host, err);
        if (!l)
            return err && err->code ? err->code : THRIFT_NOMEM;
        push_layer(s, l);
    }
    // THeader compresses per message (a transform), not the stream.
    if (o->zlib && o->framing != THRIFT_FRAMING_HEADER) {
        // Apache's TZlibTransport wraps the framing: with framed, every
        // flushed compressed chunk travels in a frame of its own.
        if (o->framing == THRIFT_FRAMING_FRAMED) {
            thrift__layer_t *l = thrift__frame_layer_new(o->max_frame_size, err);
            if (!l) {
                thrift__stream_free(s);
                return err && err->code ? err->code : THRIFT_NOMEM;
            }
            push_layer(s, l);
        }
        thrift__layer_t *l = thrift__zlib_layer_new(o, err);
        if (!l) {
            thrift__stream_free(s);
            return err && err->code ? err->code : THRIFT_NOMEM;
        }
        push_layer(s, l);
    }
    return THRIFT_OK;
}

void thrift__stream_free(thrift__stream_t *s) {
    thrift__layer_t *l = s->top;
    while (l && l != &s->sock) {
        thrift__layer_t *below = l->below;
        l->ops->free(l);
        l = below;
    }
    s->top = &s->sock;
    s->opened = false;
}

/* Opens layer l after everything below it. */
static thrift_status_t open_from(thrift__layer_t *l, thrift_error_t *err) {
    if (!l)
        return THRIFT_OK;
    thrift_status_t st = open_from(l->below, err);
    if (st || !l->ops->open)
        return st;
    return l->ops->open(l, err);
}

thrift_status_t thrift__stream_open(thrift__stream_t *s, thrift_error_t *err) {
    if (s->opened)
        return THRIFT_OK;
    thrift_status_t st = open_from(s->top, err);
    if (st == THRIFT_OK)
        s->opened = true;
    return st;
}

ssize_t thrift__stream_read(thrift__stream_t *s, uint8_t *buf, size_t cap, thrift_error_t *err) {
    return s->top->ops->read(s->top, buf, cap, err);
}

/* Flushes l and everything below it, top down. */
static thrift_status_t flush_from(thrift__layer_t *l, thrift_error_t *err) {
    for (; l; l = l->below) {
        if (!l->ops->flush)
            continue;
        thrift_status_t st = l->ops->flush(l, err);
        if (st)
            return st;
    }
    return THRIFT_OK;
}

thrift_status_t thrift__stream_send(thrift__stream_t *s, const uint8_t *buf, size_t len,
                                    size_t *taken, thrift_error_t *err) {
    *taken = 0;
    while (*taken < len) {
        ssize_t n = s->top->ops->write(s->top, buf + *taken, len - *taken, err);
        if (n == THRIFT__IO_AGAIN)
            return THRIFT_NEED_MORE;
        if (n < 0)
            return err && err->code ? err->code : THRIFT_TRANSPORT;
        *taken += (size_t)n;
    }
    return flush_from(s->top, err);
}

bool thrift__stream_buffered(const thrift__stream_t *s) {
    for (const thrift__layer_t *l = s->top; l; l = l->below)
        if (l->ops->buffered && l->ops->buffered(l))
            return true;
    return false;
}

/* ---- built without a library ------------------------------------------------ */

#ifndef DYNTHRIFT_HAVE_TLS
thrift__tls_ctx_t *thrift__tls_ctx_new(const thrift_conn_options_t *o, bool server,
                                       thrift_error_t *err) {
    (void)o;
    (void)server;
    thrift__error_set(err, THRIFT_UNSUPPORTED,
                      "TLS is not available: dynthrift was built without OpenSSL (meson -Dtls)");
    return NULL;
}
void thrift__tls_ctx_free(thrift__tls_ctx_t *ctx) { (void)ctx; }
size_t thrift__tls_client_ctx_count(void) { return 0; }
bool thrift__tls_ctx_same_ssl_ctx(const thrift__tls_ctx_t *a, const thrift__tls_ctx_t *b) {
    (void)a;
    (void)b;
    return false;
}
thrift__layer_t *thrift__tls_layer_new(thrift__tls_ctx_t *ctx, const char *host,
                                       thrift_error_t *err) {
    (void)ctx;
    (void)host;
    thrift__error_set(err, THRIFT_UNSUPPORTED, "TLS is not available in this build");
    return NULL;
}
#endif

#ifndef DYNTHRIFT_HAVE_ZLIB
thrift__layer_t *thrift__zlib_layer_new(const thrift_conn_options_t *o, thrift_error_t *err) {
    (void)o;
    thrift__error_set(err, THRIFT_UNSUPPORTED,
                      "zlib is not available: dynthrift was built without zlib (meson -Dzlib)");
    return NULL;
}
#endif
