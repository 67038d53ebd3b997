/* The general HTTP/1.1 server (see http_server.h). */
#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/http_server.h"
#include "net/stream.h"
#include "proto/proto_impl.h"

#define CRLF "\r\n"
/* Bytes read per callback before yielding to the loop's other watchers. */
#define HCONN_READ_BUDGET (64 * 1024)

typedef struct hconn hconn_t;

struct thrift__http_exchange {
    hconn_t *conn; /* NULL once the connection is gone (orphan) */
    thrift__http_exchange_t *next;
    bool done;
    bool keep_alive; /* the client allows another request after this one */
    bool head_only;  /* HEAD: no body goes out */
    char *response;  /* done: the whole response, owned */
    size_t response_len;
};

typedef struct hlistener {
    ev_io w;
    int fd;
    thrift__http_server_t *srv;
    thrift__tls_ctx_t *tls; /* https:// listeners: the server's TLS context (shared) */
    struct hlistener *next;
} hlistener_t;

struct hconn {
    thrift__http_server_t *srv;
    int fd;
    thrift__stream_t stream;
    thrift__wire_reader_t reader;
    ev_io rio, wio;
    ev_timer timer;
    thrift_buffer_t *out;
    size_t out_off;
    thrift__http_exchange_t *head, *tail; /* answers owed, in request order */
    unsigned outstanding;
    ev_tstamp partial_since; /* a request's first byte arrived; 0: none */
    ev_tstamp idle_since;
    bool no_more_requests;   /* Connection: close or an error: read no further */
    bool peer_eof;           /* the peer sent all it will: answer what it asked, close */
    bool read_paused;
    bool handshaking;        /* TLS: the handshake is not done yet */
    int busy;                /* inside a callback: close later */
    bool kill_pending;
    hconn_t *prev, *next;
};

struct thrift__http_server {
    struct ev_loop *loop;
    thrift__http_server_limits_t lim;
    thrift__http_request_cb cb;
    void *ud;
    thrift_conn_options_t opts;
    thrift__tls_ctx_t *tls; /* set by thrift__http_server_set_tls, owned */
    hlistener_t *listeners;
    hconn_t *conns;
    size_t conn_count;
};

const char *thrift__http_reason(int status) {
    switch (status) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
    }
}

static void conn_kill(hconn_t *c);
static void conn_flush(hconn_t *c);
static void conn_process(hconn_t *c);
static void conn_rearm(hconn_t *c);

/* Called where a busy section (a callback of ours) ends: closes the
 * connection when it is broken or has nothing left to do.  Returns false
 * when `c` is gone. */
static bool conn_settle(hconn_t *c) {
    if (c->busy)
        return true;
    if (c->kill_pending || ((c->no_more_requests || c->peer_eof) && c->outstanding == 0 &&
                            !c->read_paused && thrift_buffer_len(c->out) == c->out_off)) {
        conn_kill(c);
        return false;
    }
    conn_rearm(c);
    return true;
}

static void conn_rearm(hconn_t *c) {
    struct ev_loop *loop = c->srv->loop;
    ev_timer_stop(loop, &c->timer);
    ev_tstamp now = ev_now(loop), at;
    if (c->partial_since > 0)
        at = c->partial_since + c->srv->lim.request_timeout_ms / 1000.0;
    else if (c->outstanding == 0 && thrift_buffer_len(c->out) == 0)
        at = c->idle_since + c->srv->lim.idle_timeout_ms / 1000.0;
    else
        return; // answers owed or bytes to write: the handler's deadline rules
    ev_timer_set(&c->timer, at > now ? at - now : 0., 0.);
    ev_timer_start(loop, &c->timer);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    hconn_t *c = (hconn_t *)((char *)w - offsetof(hconn_t, timer));
    if (c->partial_since > 0) {
        // A slow or stalled client: say so, best effort, and hang up.
        static const char timeout[] = "HTTP/1.1 408 Request Timeout" CRLF "Connection: close" CRLF
                                      "Content-Length: 0" CRLF CRLF;
        size_t taken;
        thrift_error_t err;
        thrift__error_reset(&err);
        // Through the stream, so a TLS client gets it encrypted; not while
        // the handshake is still under way (no channel to say it on).
        if (c->outstanding == 0 && thrift_buffer_len(c->out) == 0 && !c->handshaking)
            (void)thrift__stream_send(&c->stream, (const uint8_t *)timeout, sizeof timeout - 1,
                                      &taken, &err);
    }
    conn_kill(c);
}

/* Queues a finished answer of our own (an error status) as the next one. */
static thrift__http_exchange_t *exchange_new(hconn_t *c) {
    thrift__http_exchange_t *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->conn = c;
    x->keep_alive = true;
    if (c->tail)
        c->tail->next = x;
    else
        c->head = x;
    c->tail = x;
    c->outstanding++;
    return x;
}

static void conn_fail_request(hconn_t *c, int status) {
    c->no_more_requests = true;
    thrift__http_exchange_t *x = exchange_new(c);
    if (!x) {
        conn_kill(c);
        return;
    }
    x->keep_alive = false;
    char body[64];
    int n = snprintf(body, sizeof body, "%d %s\n", status, thrift__http_reason(status));
    thrift__http_respond(x, status, "text/plain", NULL, (const uint8_t *)body, (size_t)n);
}

static void do_write(hconn_t *c) {
    size_t len = thrift_buffer_len(c->out);
    size_t taken = 0;
    thrift_error_t err;
    thrift__error_reset(&err);
    thrift_status_t st = thrift__stream_send(&c->stream, thrift_buffer_data(c->out) + c->out_off,
                                             len - c->out_off, &taken, &err);
    c->out_off += taken;
    if (st == THRIFT_NEED_MORE) {
        if (!ev_is_active(&c->wio))
            ev_io_start(c->srv->loop, &c->wio);
        return;
    }
    if (st) {
        conn_kill(c);
        return;
    }
    ev_io_stop(c->srv->loop, &c->wio);
    thrift_buffer_clear(c->out);
    c->out_off = 0;
    c->idle_since = ev_now(c->srv->loop);
    conn_settle(c);
}

/* Reading again after a pause: the socket wakes the reader, but bytes a
 * TLS layer already decrypted would not, so they are handed in at once. */
static void conn_read_again(hconn_t *c) {
    ev_io_start(c->srv->loop, &c->rio);
    if (thrift__stream_buffered(&c->stream))
        ev_feed_event(c->srv->loop, &c->rio, EV_READ);
}

/* Runs the TLS handshake while `handshaking`: true once done (reading may
 * go on), false while it waits for the socket or after it failed (then
 * the connection is closed, or will be). */
static bool conn_handshake(hconn_t *c) {
    thrift_error_t err;
    thrift__error_reset(&err);
    thrift_status_t st = thrift__stream_open(&c->stream, &err);
    if (st == THRIFT_NEED_MORE) {
        if (c->stream.want == THRIFT__WANT_WRITE)
            ev_io_start(c->srv->loop, &c->wio);
        else
            ev_io_stop(c->srv->loop, &c->wio);
        return false;
    }
    ev_io_stop(c->srv->loop, &c->wio);
    if (st != THRIFT_OK) {
        // Not TLS (a plain-HTTP client on an https:// port) or a refused
        // client certificate: nothing can be said to it.
        conn_kill(c);
        return false;
    }
    c->handshaking = false;
    c->partial_since = 0; // the handshake's deadline is over
    c->idle_since = ev_now(c->srv->loop);
    return true;
}

static void wio_cb(struct ev_loop *loop, ev_io *w, int revents) {
    (void)revents;
    hconn_t *c = (hconn_t *)((char *)w - offsetof(hconn_t, wio));
    if (c->handshaking) {
        if (conn_handshake(c)) {
            ev_feed_event(loop, &c->rio, EV_READ); // the request may be in already
            conn_rearm(c);
        }
        return;
    }
    do_write(c);
}

/* Moves the answers that are ready, in order, to the output. */
static void conn_flush(hconn_t *c) {
    bool last = false;
    while (c->head && c->head->done) {
        thrift__http_exchange_t *x = c->head;
        c->head = x->next;
        if (!c->head)
            c->tail = NULL;
        c->outstanding--;
        if (thrift_buffer_append(c->out, x->response, x->response_len))
            last = true;
        if (!x->keep_alive)
            last = true;
        free(x->response);
        free(x);
        if (last)
            break;
    }
    if (last) {
        // Nothing after an answer that ends the connection.
        c->no_more_requests = true;
        while (c->head) {
            thrift__http_exchange_t *x = c->head;
            c->head = x->next;
            x->conn = NULL;
            if (x->done) {
                free(x->response);
                free(x);
            }
        }
        c->tail = NULL;
        c->outstanding = 0;
    }
    if (thrift_buffer_len(c->out) > c->out_off)
        do_write(c);
}

void thrift__http_respond(thrift__http_exchange_t *x, int status, const char *content_type,
                          const char *extra_headers, const uint8_t *body, size_t len) {
    if (!x || x->done)
        return;
    hconn_t *c = x->conn;
    if (!c) {
        free(x); // the connection went away: the answer has nowhere to go
        return;
    }
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s" CRLF "Content-Type: %s" CRLF "Content-Length: %zu" CRLF
                     "%s%s" CRLF,
                     status, thrift__http_reason(status), content_type ? content_type : "text/plain",
                     len, x->keep_alive ? "" : "Connection: close" CRLF,
                     extra_headers ? extra_headers : "");
    if (n < 0 || (size_t)n >= sizeof head) {
        n = snprintf(head, sizeof head,
                     "HTTP/1.1 500 Internal Server Error" CRLF "Content-Length: 0" CRLF
                     "Connection: close" CRLF CRLF);
        len = 0;
        x->keep_alive = false;
    }
    size_t blen = x->head_only ? 0 : len;
    x->response = malloc((size_t)n + blen + 1);
    if (!x->response) {
        x->done = true;
        x->response_len = 0;
        x->keep_alive = false;
    } else {
        memcpy(x->response, head, (size_t)n);
        if (blen)
            memcpy(x->response + n, body, blen);
        x->response_len = (size_t)n + blen;
        x->done = true;
    }
    c->busy++;
    conn_flush(c);
    // Room again for requests already read but not yet handed out.
    if (!c->kill_pending && !c->no_more_requests && c->read_paused &&
        c->outstanding < c->srv->lim.max_pipelined) {
        c->read_paused = false;
        if (!c->peer_eof)
            conn_read_again(c);
        conn_process(c);
    }
    c->busy--;
    conn_settle(c);
}

/* Hands out the complete requests the reader holds. */
static void conn_process(hconn_t *c) {
    c->busy++;
    bool incomplete = false;
    while (!c->no_more_requests && !c->kill_pending) {
        if (c->outstanding >= c->srv->lim.max_pipelined) {
            c->read_paused = true;
            ev_io_stop(c->srv->loop, &c->rio);
            break;
        }
        const uint8_t *msg;
        size_t len;
        thrift_error_t err;
        thrift__error_reset(&err);
        thrift_status_t st = thrift__wire_next(&c->reader, &msg, &len, &err);
        if (st == THRIFT_NEED_MORE) {
            incomplete = thrift__wire_buffered(&c->reader) > 0;
            break;
        }
        if (st) {
            int status = c->reader.http.status ? c->reader.http.status : 400;
            conn_fail_request(c, status);
            break;
        }
        thrift__http_exchange_t *x = exchange_new(c);
        if (!x) {
            c->kill_pending = true;
            break;
        }
        const thrift__http_t *h = &c->reader.http;
        x->keep_alive = h->keep_alive;
        x->head_only = h->method_len == 4 && !memcmp(h->method, "HEAD", 4);
        if (!x->keep_alive)
            c->no_more_requests = true;
        thrift__http_request_t req = {h->method, h->target, h->method_len, h->target_len,
                                      len ? msg : (const uint8_t *)"", len, h};
        c->srv->cb(x, &req, c->srv->ud);
    }
    c->busy--;
    // A request begun but not complete starts the slow-client clock (not
    // complete requests waiting for room in the pipeline).
    if (incomplete) {
        if (c->partial_since == 0)
            c->partial_since = ev_now(c->srv->loop);
    } else {
        c->partial_since = 0;
    }
    conn_settle(c);
}

static void rio_cb(struct ev_loop *loop, ev_io *w, int revents) {
    (void)loop;
    (void)revents;
    hconn_t *c = (hconn_t *)((char *)w - offsetof(hconn_t, rio));
    if (c->handshaking && !conn_handshake(c))
        return;
    size_t budget = HCONN_READ_BUDGET;
    c->busy++;
    while (budget > 0 && !c->no_more_requests && !c->peer_eof && !c->kill_pending &&
           !c->read_paused) {
        size_t avail;
        uint8_t *p = thrift__wire_space(&c->reader, 16384, &avail);
        if (!p) {
            c->kill_pending = true;
            break;
        }
        if (avail > budget)
            avail = budget;
        thrift_error_t err;
        thrift__error_reset(&err);
        ssize_t n = thrift__stream_read(&c->stream, p, avail, &err);
        if (n == THRIFT__IO_AGAIN)
            break;
        if (n <= 0) {
            // The peer is done sending (or broke): answer what it asked, then close.
            c->peer_eof = true;
            if (n < 0)
                c->kill_pending = true;
            break;
        }
        thrift__wire_commit(&c->reader, (size_t)n);
        budget -= (size_t)n;
        // Hand requests out as they complete, so reading never buffers more
        // than the pipelining limit allows.
        conn_process(c);
    }
    if (c->no_more_requests || c->peer_eof)
        ev_io_stop(c->srv->loop, &c->rio);
    else if (budget == 0 && !c->read_paused && thrift__stream_buffered(&c->stream))
        ev_feed_event(c->srv->loop, &c->rio, EV_READ); // decrypted bytes wait in TLS
    c->busy--;
    conn_settle(c);
}

static void conn_kill(hconn_t *c) {
    if (c->busy) {
        c->kill_pending = true;
        return;
    }
    thrift__http_server_t *s = c->srv;
    ev_io_stop(s->loop, &c->rio);
    ev_io_stop(s->loop, &c->wio);
    ev_timer_stop(s->loop, &c->timer);
    for (thrift__http_exchange_t *x = c->head, *next; x; x = next) {
        next = x->next;
        x->conn = NULL;
        if (x->done) {
            free(x->response);
            free(x);
        }
    }
    thrift__stream_free(&c->stream);
    close(c->fd);
    thrift__wire_reader_free(&c->reader);
    thrift_buffer_free(c->out);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->conn_count--;
    free(c);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents) {
    (void)revents;
    hlistener_t *l = (hlistener_t *)w;
    thrift__http_server_t *s = l->srv;
    for (int i = 0; i < 64; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; // EAGAIN, or out of descriptors: the next readiness retries
        if (s->lim.max_connections && s->conn_count >= s->lim.max_connections) {
            close(fd);
            continue;
        }
        hconn_t *c = calloc(1, sizeof *c);
        thrift_error_t err;
        thrift__error_reset(&err);
        if (!c || !(c->out = thrift_buffer_new()) ||
            thrift__stream_init(&c->stream, fd, &s->opts, l->tls, NULL, &err)) {
            if (c)
                thrift_buffer_free(c->out);
            free(c);
            close(fd);
            continue;
        }
        thrift__sock_tune(fd, AF_INET);
        c->srv = s;
        c->fd = fd;
        thrift__wire_reader_init(&c->reader, THRIFT_PROTO_BINARY, THRIFT_FRAMING_BUFFERED,
                                 s->lim.max_body);
        c->reader.http.role = THRIFT__HTTP_SERVER_ANY;
        ev_io_init(&c->rio, rio_cb, fd, EV_READ);
        ev_io_init(&c->wio, wio_cb, fd, EV_WRITE);
        ev_init(&c->timer, timer_cb);
        c->idle_since = ev_now(loop);
        c->next = s->conns;
        if (s->conns)
            s->conns->prev = c;
        s->conns = c;
        s->conn_count++;
        if (l->tls) {
            // The request deadline covers the handshake: a client that
            // connects and says nothing is closed as a slow request is.
            c->handshaking = true;
            c->partial_since = ev_now(loop);
        }
        ev_io_start(loop, &c->rio);
        conn_rearm(c);
    }
}

thrift__http_server_t *thrift__http_server_new(struct ev_loop *loop,
                                               const thrift__http_server_limits_t *limits,
                                               thrift__http_request_cb cb, void *ud,
                                               thrift_error_t *err) {
    thrift__http_server_t *s = calloc(1, sizeof *s);
    if (!s) {
        thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->cb = cb;
    s->ud = ud;
    if (limits)
        s->lim = *limits;
    if (!s->lim.max_body)
        s->lim.max_body = 16384000;
    if (!s->lim.request_timeout_ms)
        s->lim.request_timeout_ms = 10000;
    if (!s->lim.idle_timeout_ms)
        s->lim.idle_timeout_ms = 60000;
    if (!s->lim.max_pipelined)
        s->lim.max_pipelined = 64;
    thrift__conn_options_defaults(&s->opts);
    return s;
}

thrift_status_t thrift__http_server_listen(thrift__http_server_t *s, const char *address,
                                           thrift_error_t *err) {
    thrift__addr_t addr;
    thrift_status_t st = thrift__addr_parse(address, true, &addr, err);
    if (st)
        return st;
    bool https = addr.scheme == THRIFT__SCHEME_HTTPS || addr.scheme == THRIFT__SCHEME_TLS;
    if (https && !s->tls)
        return thrift__error_set(err, THRIFT_MISUSE,
                                 "listen %s: TLS needs a certificate and key first", address);
    int fd = thrift__sock_listen(&addr, false, err);
    if (fd < 0)
        return err && err->code ? err->code : THRIFT_TRANSPORT;
    hlistener_t *l = calloc(1, sizeof *l);
    if (!l) {
        close(fd);
        return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
    }
    l->fd = fd;
    l->srv = s;
    l->tls = https ? s->tls : NULL;
    ev_io_init(&l->w, accept_cb, fd, EV_READ);
    ev_io_start(s->loop, &l->w);
    // Appended, so the first listener stays first (its port is reported).
    hlistener_t **tail = &s->listeners;
    while (*tail)
        tail = &(*tail)->next;
    *tail = l;
    return THRIFT_OK;
}

thrift_status_t thrift__http_server_set_tls(thrift__http_server_t *s,
                                            const thrift_conn_options_t *opts,
                                            thrift_error_t *err) {
    if (s->tls)
        return thrift__error_set(err, THRIFT_MISUSE, "the HTTP server's TLS is set already");
    s->tls = thrift__tls_ctx_new(opts, true, err);
    return s->tls ? THRIFT_OK : (err && err->code ? err->code : THRIFT_TRANSPORT);
}

int thrift__http_server_port(const thrift__http_server_t *s) {
    return s && s->listeners ? thrift__sock_port(s->listeners->fd) : 0;
}

size_t thrift__http_server_connection_count(const thrift__http_server_t *s) {
    return s ? s->conn_count : 0;
}

void thrift__http_server_free(thrift__http_server_t *s) {
    if (!s)
        return;
    while (s->conns)
        conn_kill(s->conns);
    for (hlistener_t *l = s->listeners, *next; l; l = next) {
        next = l->next;
        ev_io_stop(s->loop, &l->w);
        close(l->fd);
        free(l);
    }
    thrift__tls_ctx_free(s->tls);
    free(s);
}
