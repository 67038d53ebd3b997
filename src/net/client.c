/* The pipelined client connection on a caller-owned libev loop, and the
 * blocking API as the same code driven by a private loop. */
#include <errno.h>
#include <ev.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net/net_impl.h"
#include "net/stream.h"
#include "schema/schema_impl.h"
#include "value/value_impl.h"

struct thrift_result {
    thrift_status_t status;
    thrift_error_t err;
    thrift_value_t *value;
    const char *exception_name;
    int app_type;
    const char *method;
    thrift_arena_t *arena;
    const thrift__kv_t *headers; /* THeader info headers of the reply, in `arena` */
};

typedef struct pcall {
    struct pcall *prev, *next; /* in seqid order */
    thrift_conn_t *conn;
    int32_t seqid;
    bool oneway;
    bool has_timer;
    uint64_t write_end; /* its last byte's place in the stream (oneway: done once written) */
    const thrift_function_def_t *fn;
    thrift_call_cb cb;
    void *ud;
    ev_timer timer;
} pcall_t;

/* A call handed over by another thread: its args cloned into its own arena. */
typedef struct submitted {
    struct submitted *next;
    thrift_arena_t *arena;
    thrift_value_t *args;
    const thrift_function_def_t *fn;
    thrift_call_cb cb;
    void *ud;
    thrift__kv_t *headers; /* THeader info headers for this call only (malloc) */
} submitted_t;

/* ST_HANDSHAKE: the socket is connected, the stream's layers (TLS) are
 * opening; the connect timeout still runs. */
enum { ST_IDLE, ST_CONNECTING, ST_HANDSHAKE, ST_CONNECTED };

struct thrift_conn {
    struct ev_loop *loop;
    bool own_loop;
    thrift_schema_t *schema;
    const thrift_service_def_t *service;
    thrift__addr_t addr;
    thrift_conn_options_t opts;
    char address[280];

    int fd;
    int state;
    thrift__stream_t stream;  /* the layers over fd (stream.h) */
    thrift__tls_ctx_t *tls;   /* owned; NULL without TLS */
    bool read_wants_write;    /* a TLS read waits for the socket to drain */
    bool write_wants_read;    /* a TLS write waits for bytes to arrive */
    ev_io rio, wio;
    ev_timer connect_timer;
    ev_timer partial; /* the read timeout, while inside a partial reply */
    ev_prepare flush;
    ev_timer kick; /* defers failures detected inside a submitting call */
    thrift_error_t kick_err;
    bool kick_pending;

    thrift__wire_reader_t reader;
    thrift_buffer_t *out;
    size_t out_off;           /* bytes of `out` already written */
    uint64_t written_total;   /* bytes written since creation */
    thrift_conn_trace_cb trace_cb; /* sees every byte written and read */
    void *trace_ud;
    uint64_t sent_total;      /* bytes written, over all reconnects */
    uint64_t read_total;      /* bytes received, over all reconnects */
    /* The last failure that broke the connection (or its connect), kept
     * for thrift_connect, which has no call to report it through. */
    thrift_error_t last_break;
    uint64_t queued_total;    /* bytes queued since creation */

    pcall_t *head, *tail;     /* two-way calls awaiting replies */
    pcall_t *ow_head, *ow_tail; /* oneway calls awaiting their write */
    pcall_t *free_calls;
    size_t npending;
    int32_t next_seqid;
    bool seqid_wrapped;

    thrift_arena_t *reply_arena; /* reused while no callback takes it */
    thrift_arena_t *scratch;     /* empty args structs */
    thrift__kv_t *headers;       /* THeader info headers sent with every call */
    bool http;                   /* http:// or https://: every call is a POST */
    bool http_persistent;        /* the server answered with keep-alive: pipeline */
    /* Before that: a oneway request is out and its (empty) HTTP response
     * not yet read; nothing else goes out until it is, as a server that
     * closes after each response reads no further request. */
    bool http_oneway_unanswered;
    thrift__http_out_t http_out; /* its Host, path and extra headers (in opts, http_host) */
    char http_host[280];
    thrift__kv_t *call_headers;  /* ... with the next call only */

    int depth;         /* callbacks running */
    bool free_requested;
    uint64_t breaks;   /* times the connection failed (see thrift_conn_break_count) */

    /* blocking mode */
    thrift_result_t last;
    bool last_done;
    thrift__busy_poll_t busy_poll; /* its wait's spin policy (wait.c) */

    /* thread-safe submission */
    ev_async async;
    pthread_mutex_t qlock;
    submitted_t *qhead, *qtail;
};

static void conn_destroy(thrift_conn_t *c);
static void start_connect(thrift_conn_t *c);
static void conn_break(thrift_conn_t *c, thrift_status_t code, const char *fmt, const char *why);

/* ---- results ------------------------------------------------------------ */

thrift_status_t thrift_result_status(const thrift_result_t *r) { return r ? r->status : THRIFT_MISUSE; }
const thrift_error_t *thrift_result_error(const thrift_result_t *r) { return r ? &r->err : NULL; }
const thrift_value_t *thrift_result_value(const thrift_result_t *r) { return r ? r->value : NULL; }
const char *thrift_result_exception_name(const thrift_result_t *r) {
    return r ? r->exception_name : NULL;
}
int thrift_result_app_type(const thrift_result_t *r) { return r ? r->app_type : -1; }
const char *thrift_result_method(const thrift_result_t *r) { return r ? r->method : NULL; }
const char *thrift_result_header(const thrift_result_t *r, const char *key) {
    return r ? thrift__kv_find(r->headers, key) : NULL;
}
bool thrift_result_header_at(const thrift_result_t *r, size_t i, const char **key,
                             const char **value) {
    const thrift__kv_t *kv = r ? r->headers : NULL;
    for (; kv && i; i--)
        kv = kv->next;
    if (!kv)
        return false;
    *key = kv->key;
    *value = kv->value;
    return true;
}
thrift_arena_t *thrift_result_take_arena(thrift_result_t *r) {
    if (!r)
        return NULL;
    thrift_arena_t *a = r->arena;
    r->arena = NULL;
    return a;
}

static void result_init(thrift_result_t *r, const thrift_function_def_t *fn) {
    r->status = THRIFT_OK;
    thrift__error_reset(&r->err); // per reply: not the 900-byte memset
    r->value = NULL;
    r->exception_name = NULL;
    r->app_type = -1;
    r->method = fn ? fn->name : NULL;
    r->arena = NULL;
    r->headers = NULL;
}

static thrift_value_t *void_value(thrift_arena_t *arena, const thrift_function_def_t *fn) {
    thrift_value_t *v = arena ? thrift__arena_zalloc(arena, sizeof *v) : NULL;
    if (v) {
        v->type = fn->return_type ? fn->return_type->resolved : NULL;
        v->kind = THRIFT_KIND_VOID;
    }
    return v;
}

/* ---- call bookkeeping ---------------------------------------------------- */

static pcall_t *pcall_get(thrift_conn_t *c) {
    pcall_t *p = c->free_calls;
    if (p) {
        c->free_calls = p->next;
    } else {
        p = malloc(sizeof *p);
        if (!p)
            return NULL;
    }
    memset(p, 0, sizeof *p);
    p->conn = c;
    return p;
}

static void pcall_put(thrift_conn_t *c, pcall_t *p) {
    p->next = c->free_calls;
    c->free_calls = p;
}

static void list_unlink(pcall_t **head, pcall_t **tail, pcall_t *p) {
    if (p->prev)
        p->prev->next = p->next;
    else
        *head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        *tail = p->prev;
    p->prev = p->next = NULL;
}

static void list_append(pcall_t **head, pcall_t **tail, pcall_t *p) {
    p->prev = *tail;
    p->next = NULL;
    if (*tail)
        (*tail)->next = p;
    else
        *head = p;
    *tail = p;
}

/* Removes the call from its list, runs its callback once, recycles it. */
static void pcall_finish(thrift_conn_t *c, pcall_t *p, thrift_result_t *r) {
    if (p->oneway)
        list_unlink(&c->ow_head, &c->ow_tail, p);
    else
        list_unlink(&c->head, &c->tail, p);
    if (p->has_timer)
        ev_timer_stop(c->loop, &p->timer);
    c->npending--;
    thrift_call_cb cb = p->cb;
    void *ud = p->ud;
    pcall_put(c, p);
    if (cb) {
        c->depth++;
        cb(c, r, ud);
        c->depth--;
    }
}

static void pcall_fail(thrift_conn_t *c, pcall_t *p, const thrift_error_t *err) {
    thrift_result_t r;
    result_init(&r, p->fn);
    r.err = *err;
    r.status = err->code;
    pcall_finish(c, p, &r);
}

/* Fails every pending call with `err`; `app_type` is what
 * thrift_result_app_type reports (-1: no TApplicationException). */
static void fail_all_typed(thrift_conn_t *c, const thrift_error_t *err, int app_type) {
    // Detach both lists first: a callback may submit new calls, which must
    // not be failed by this break.
    pcall_t *lists[2] = {c->head, c->ow_head};
    c->last_break = *err;
    c->head = c->tail = c->ow_head = c->ow_tail = NULL;
    for (int i = 0; i < 2; i++) {
        pcall_t *p = lists[i];
        while (p) {
            pcall_t *next = p->next;
            if (p->has_timer)
                ev_timer_stop(c->loop, &p->timer);
            c->npending--;
            thrift_result_t r;
            result_init(&r, p->fn);
            r.err = *err;
            r.status = err->code;
            r.app_type = app_type;
            thrift_call_cb cb = p->cb;
            void *ud = p->ud;
            pcall_put(c, p);
            if (cb) {
                c->depth++;
                cb(c, &r, ud);
                c->depth--;
            }
            p = next;
        }
    }
}

static void fail_all(thrift_conn_t *c, const thrift_error_t *err) { fail_all_typed(c, err, -1); }

/* Runs at the end of every event callback: completes a free requested from
 * inside a user callback.  Returns true when the connection is gone. */
static bool maybe_destroy(thrift_conn_t *c) {
    if (c->free_requested && c->depth == 0) {
        conn_destroy(c);
        return true;
    }
    return false;
}

/* ---- output -------------------------------------------------------------- */

static void out_compact(thrift_conn_t *c) {
    size_t len = thrift_buffer_len(c->out);
    if (c->out_off == len) {
        thrift_buffer_clear(c->out);
        c->out_off = 0;
    }
}

static void complete_oneways(thrift_conn_t *c) {
    while (c->ow_head && c->ow_head->write_end <= c->written_total) {
        // Done for its caller once written; on HTTP its answer still holds
        // the connection until read (do_write, do_read).
        if (c->http && !c->http_persistent)
            c->http_oneway_unanswered = true;
        thrift_result_t r;
        result_init(&r, c->ow_head->fn);
        thrift_arena_t *a = c->scratch;
        r.value = void_value(a, c->ow_head->fn);
        pcall_finish(c, c->ow_head, &r);
        if (c->free_requested)
            return;
    }
}

/* Writes what is queued; one send per call in the common case.  Returns
 * false when the connection broke. */
/* Bytes one write takes from the queue before the loop moves on (the rest
 * goes when the socket is reported writable): a large request must not
 * hold up the loop's deadlines and other connections. */
#define CONN_WRITE_BUDGET (1024 * 1024)

static bool do_write(thrift_conn_t *c) {
    if (c->state != ST_CONNECTED)
        return true;
    size_t len = thrift_buffer_len(c->out);
    // HTTP before the server has shown it keeps connections open: one
    // request at a time, so that an HTTP/1.0 server closing after its
    // response has read no request it will not answer (those are sent
    // again on a new connection).
    if (c->http && !c->http_persistent && (c->head || c->ow_head || c->http_oneway_unanswered)) {
        // The next request's end: the oldest two-way or oneway call,
        // whichever was queued first.
        uint64_t upto = c->head ? c->head->write_end : UINT64_MAX;
        if (c->ow_head && c->ow_head->write_end < upto)
            upto = c->ow_head->write_end;
        if (c->http_oneway_unanswered || upto <= c->written_total)
            len = c->out_off; // a request is out: wait for its answer
        else if (upto - c->written_total < len - c->out_off)
            len = c->out_off + (size_t)(upto - c->written_total);
    }
    // A bounded amount per callback (main's write budget): the rest goes on
    // the next writable event.
    bool over_budget = false;
    if (len - c->out_off > CONN_WRITE_BUDGET) {
        len = c->out_off + CONN_WRITE_BUDGET;
        over_budget = true;
    }
    size_t taken = 0;
    thrift_error_t err;
    thrift__error_reset(&err);
    // Also with nothing new queued: a layer may still hold bytes.
    const uint8_t *p = thrift_buffer_data(c->out) + c->out_off;
    thrift_status_t st = thrift__stream_send(&c->stream, p, len - c->out_off, &taken, &err);
    // The trace sees the bytes of the messages, before TLS or zlib.
    if (c->trace_cb && taken)
        c->trace_cb(c, true, p, taken, c->trace_ud);
    c->out_off += taken;
    c->written_total += taken;
    c->sent_total += taken;
    c->write_wants_read = false;
    if (st == THRIFT_OK && over_budget) {
        if (!ev_is_active(&c->wio))
            ev_io_start(c->loop, &c->wio);
        return true;
    }
    if (st == THRIFT_NEED_MORE) {
        if (c->stream.want == THRIFT__WANT_READ)
            c->write_wants_read = true; // the read watcher runs us again
        else if (!ev_is_active(&c->wio))
            ev_io_start(c->loop, &c->wio);
        return true;
    }
    if (st) {
        conn_break(c, st == THRIFT_CLOSED || st == THRIFT_TRANSPORT ? THRIFT_CLOSED : st,
                   "connection to %s lost: %s", err.text);
        return false;
    }
    if (ev_is_active(&c->wio) && !c->read_wants_write)
        ev_io_stop(c->loop, &c->wio);
    out_compact(c);
    if (c->ow_head)
        complete_oneways(c);
    return true;
}

static void flush_cb(struct ev_loop *loop, ev_prepare *w, int revents) {
    (void)revents;
    thrift_conn_t *c = w->data;
    ev_prepare_stop(loop, w);
    c->depth++;
    do_write(c);
    c->depth--;
    maybe_destroy(c);
}

static void handshake_step(thrift_conn_t *c);
static void do_read(thrift_conn_t *c);

static void write_cb(struct ev_loop *loop, ev_io *w, int revents) {
    (void)loop;
    (void)revents;
    thrift_conn_t *c = w->data;
    c->depth++;
    if (c->state == ST_HANDSHAKE) {
        handshake_step(c);
    } else {
        bool reader_waits = c->read_wants_write;
        if (do_write(c) && reader_waits && c->state == ST_CONNECTED) {
            c->read_wants_write = false;
            do_read(c);
        }
    }
    c->depth--;
    maybe_destroy(c);
}

static void schedule_flush(thrift_conn_t *c) {
    if (c->state == ST_CONNECTED && !ev_is_active(&c->flush) && !ev_is_active(&c->wio))
        ev_prepare_start(c->loop, &c->flush);
}

/* ---- connection state ---------------------------------------------------- */

static void conn_close_fd(thrift_conn_t *c) {
    // Every failure path (and only the final free besides) closes through
    // here, so pools can tell a broken connection by this count.
    c->breaks++;
    if (c->fd >= 0) {
        // Stop watchers before close(): libev must not poll a reused fd.
        ev_io_stop(c->loop, &c->rio);
        ev_io_stop(c->loop, &c->wio);
        thrift__stream_free(&c->stream);
        close(c->fd);
        c->fd = -1;
    }
    c->read_wants_write = c->write_wants_read = false;
    ev_timer_stop(c->loop, &c->connect_timer);
    ev_timer_stop(c->loop, &c->partial);
    ev_prepare_stop(c->loop, &c->flush);
    c->state = ST_IDLE;
    thrift_buffer_clear(c->out);
    c->out_off = 0;
    c->written_total = c->queued_total = 0;
    c->http_oneway_unanswered = false;
    thrift__wire_reader_reset(&c->reader);
}

static void conn_break(thrift_conn_t *c, thrift_status_t code, const char *fmt, const char *why) {
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift__error_set(&err, code, fmt, c->address, why);
    conn_close_fd(c);
    fail_all(c, &err);
}

static void kick_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    thrift_conn_t *c = w->data;
    if (!c->kick_pending)
        return;
    c->kick_pending = false;
    thrift_error_t err = c->kick_err;
    c->depth++;
    conn_close_fd(c);
    fail_all(c, &err);
    c->depth--;
    maybe_destroy(c);
}

/* A failure found while the user's call is still on the stack: report it
 * from the loop instead, so no callback runs inside the call. */
static void defer_failure(thrift_conn_t *c, const thrift_error_t *err) {
    if (!c->kick_pending) {
        c->kick_err = *err;
        c->kick_pending = true;
    }
    ev_timer_set(&c->kick, 0., 0.);
    ev_timer_start(c->loop, &c->kick);
}

static void connected(thrift_conn_t *c) {
    ev_timer_stop(c->loop, &c->connect_timer);
    ev_io_stop(c->loop, &c->wio);
    c->state = ST_CONNECTED;
    ev_io_start(c->loop, &c->rio);
    do_write(c);
}

/* The socket is connected: open the stream's layers (a TLS handshake),
 * waiting for whichever socket event they ask for. */
static void handshake_step(thrift_conn_t *c) {
    thrift_error_t err;
    thrift__error_reset(&err);
    c->state = ST_HANDSHAKE;
    thrift_status_t st = thrift__stream_open(&c->stream, &err);
    if (st == THRIFT_OK) {
        connected(c);
        return;
    }
    if (st == THRIFT_NEED_MORE) {
        bool want_write = c->stream.want == THRIFT__WANT_WRITE;
        if (want_write) {
            ev_io_stop(c->loop, &c->rio);
            ev_io_start(c->loop, &c->wio);
        } else {
            ev_io_stop(c->loop, &c->wio);
            ev_io_start(c->loop, &c->rio);
        }
        return;
    }
    conn_break(c, st == THRIFT_NOMEM ? THRIFT_NOMEM : THRIFT_TRANSPORT, "connection to %s: %s",
               err.text);
}

static void connect_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    thrift_conn_t *c = w->data;
    c->depth++;
    conn_break(c, THRIFT_TIMEOUT, "connect to %s timed out%s",
               c->state == ST_HANDSHAKE ? " in the TLS handshake" : "");
    c->depth--;
    maybe_destroy(c);
}

static void handle_reply(thrift_conn_t *c, const uint8_t *msg, size_t len);

/* The HTTP server closes after its response (HTTP/1.0, Connection: close):
 * close our end too, keeping the calls not yet sent (whole requests, see
 * do_write) for a new connection. */
static void http_reconnect(thrift_conn_t *c) {
    ev_io_stop(c->loop, &c->rio);
    ev_io_stop(c->loop, &c->wio);
    ev_prepare_stop(c->loop, &c->flush);
    ev_timer_stop(c->loop, &c->partial);
    thrift__stream_free(&c->stream);
    close(c->fd);
    c->fd = -1;
    c->state = ST_IDLE;
    c->http_persistent = false;
    c->http_oneway_unanswered = false;
    c->read_wants_write = c->write_wants_read = false;
    thrift__wire_reader_reset(&c->reader);
    size_t len = thrift_buffer_len(c->out);
    if (c->out_off) {
        thrift_buffer_t *nb = thrift_buffer_new();
        if (!nb || thrift_buffer_append(nb, thrift_buffer_data(c->out) + c->out_off,
                                        len - c->out_off) != THRIFT_OK) {
            thrift_buffer_free(nb);
            conn_break(c, THRIFT_NOMEM, "connection to %s: %s", "out of memory");
            return;
        }
        thrift_buffer_free(c->out);
        c->out = nb;
        c->out_off = 0;
    }
    if (c->head || c->ow_head)
        start_connect(c);
}

/* Bytes one read callback takes from the socket before it returns to the
 * loop: a server that keeps the socket full must not hold off the call
 * deadlines, the other connections and the timers of the loop.  libev calls
 * again while the socket stays readable; every complete reply among the
 * bytes read is handled first, so none waits for more input. */
#define CONN_READ_BUDGET (64 * 1024)

static void partial_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    thrift_conn_t *c = w->data;
    c->depth++;
    conn_break(c, THRIFT_TIMEOUT, "connection to %s: %s",
               "a reply begun did not complete within the read timeout");
    c->depth--;
    maybe_destroy(c);
}

/* Arms, re-arms or stops the read timeout after a read: armed while a
 * partial reply is buffered, counted from when the last reply completed
 * (`completed`: some did in this callback) or its first byte came in. */
static void conn_watch_partial(thrift_conn_t *c, bool completed) {
    if (!c->opts.read_timeout_ms || c->state != ST_CONNECTED || c->free_requested)
        return;
    if (thrift__wire_buffered(&c->reader) == 0)
        ev_timer_stop(c->loop, &c->partial);
    else if (completed || !ev_is_active(&c->partial))
        ev_timer_again(c->loop, &c->partial);
}

static void read_cb(struct ev_loop *loop, ev_io *w, int revents) {
    (void)loop;
    (void)revents;
    thrift_conn_t *c = w->data;
    c->depth++;
    if (c->state == ST_HANDSHAKE) {
        handshake_step(c);
    } else {
        if (c->write_wants_read && !do_write(c)) {
            c->depth--;
            maybe_destroy(c);
            return;
        }
        if (c->state == ST_CONNECTED)
            do_read(c);
    }
    c->depth--;
    maybe_destroy(c);
}

/* One HTTP response body: an empty one answers the oneway request that is
 * out (or a oneway sent while pipelining: nothing to do), any other is a
 * reply. */
static void http_answer(thrift_conn_t *c, const uint8_t *msg, size_t len) {
    if (len == 0) {
        c->http_oneway_unanswered = false;
        return;
    }
    handle_reply(c, msg, len);
}

static void do_read(thrift_conn_t *c) {
    size_t budget = CONN_READ_BUDGET;
    bool completed = false;
    for (;;) {
        size_t avail;
        uint8_t *p = thrift__wire_space(&c->reader, 65536, &avail);
        if (!p) {
            conn_break(c, THRIFT_NOMEM, "connection to %s: %s", "out of memory");
            break;
        }
        if (avail > budget)
            avail = budget;
        thrift_error_t rerr;
        thrift__error_reset(&rerr);
        ssize_t n = thrift__stream_read(&c->stream, p, avail, &rerr);
        if (n == THRIFT__IO_AGAIN) {
            if (c->stream.want == THRIFT__WANT_WRITE) {
                c->read_wants_write = true; // TLS: the write watcher reads on
                ev_io_start(c->loop, &c->wio);
            }
            break;
        }
        if (n == 0) {
            // HTTP/1.0 without Content-Length: the close ends the response.
            const uint8_t *m;
            size_t mlen;
            if (c->http && thrift__http_eof(&c->reader, &m, &mlen) == THRIFT_OK) {
                int fd_before = c->fd;
                completed = true;
                http_answer(c, m, mlen);
                if (!c->free_requested && c->fd == fd_before && c->state == ST_CONNECTED)
                    http_reconnect(c);
                break;
            }
            conn_break(c, THRIFT_CLOSED, "connection to %s closed%s", " by the peer");
            break;
        }
        if (n < 0) {
            conn_break(c, rerr.code == THRIFT_LIMIT || rerr.code == THRIFT_PROTOCOL
                              ? THRIFT_PROTOCOL
                              : THRIFT_CLOSED,
                       "connection to %s: %s", rerr.text);
            break;
        }
        thrift__wire_commit(&c->reader, (size_t)n);
        c->read_total += (uint64_t)n;
        if (c->trace_cb)
            c->trace_cb(c, false, p, (size_t)n, c->trace_ud);
        bool broke = false;
        for (;;) {
            const uint8_t *m;
            size_t mlen;
            thrift_error_t err;
            thrift__error_reset(&err);
            thrift_status_t st = thrift__wire_next(&c->reader, &m, &mlen, &err);
            if (st == THRIFT_NEED_MORE)
                break;
            if (st != THRIFT_OK) {
                conn_break(c, THRIFT_PROTOCOL,
                           c->http ? "connection to %s: %s" : "connection to %s: bad reply stream: %s",
                           err.text);
                broke = true;
                break;
            }
            int fd_before = c->fd;
            completed = true;
            if (c->http)
                http_answer(c, m, mlen);
            else
                handle_reply(c, m, mlen);
            // A callback may have freed or broken the connection.
            if (c->free_requested || c->fd != fd_before || c->state != ST_CONNECTED) {
                broke = true;
                break;
            }
            // An HTTP/1.0 server (Apache's Python THttpServer) closes after
            // each response: close first, so the next call reconnects
            // instead of writing into a closing socket.
            if (c->http && !c->reader.http.keep_alive) {
                http_reconnect(c);
                broke = true;
                break;
            }
            if (c->http && !c->http_persistent) {
                c->http_persistent = true;
                schedule_flush(c); // the calls held back may go now
            } else if (c->http && c->head) {
                schedule_flush(c);
            }
        }
        budget -= (size_t)n;
        if (broke || budget == 0 || ((size_t)n < avail && !thrift__stream_buffered(&c->stream)))
            break;
    }
    conn_watch_partial(c, completed);
    // Bytes a layer (TLS, zlib) holds will not wake the socket watcher.
    if (budget == 0 && c->state == ST_CONNECTED && thrift__stream_buffered(&c->stream))
        ev_feed_event(c->loop, &c->rio, EV_READ);
}

static void connect_io_cb(struct ev_loop *loop, ev_io *w, int revents) {
    (void)loop;
    (void)revents;
    thrift_conn_t *c = w->data;
    c->depth++;
    if (c->state == ST_CONNECTING) {
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            soerr = errno;
        if (soerr) {
            thrift_error_t err;
            thrift_error_clear(&err);
            thrift__error_set(&err, THRIFT_TRANSPORT, "connect to %s: %s", c->address, strerror(soerr));
            conn_close_fd(c);
            fail_all(c, &err);
        } else {
            ev_io_stop(c->loop, &c->wio);
            ev_io_init(&c->wio, write_cb, c->fd, EV_WRITE);
            c->wio.data = c;
            handshake_step(c);
        }
    }
    c->depth--;
    maybe_destroy(c);
}

static void start_connect(thrift_conn_t *c) {
    thrift_error_t err;
    thrift_error_clear(&err);
    bool in_progress;
    int fd = thrift__sock_connect(&c->addr, &in_progress, &err);
    if (fd < 0) {
        char why[sizeof err.text];
        memcpy(why, err.text, sizeof why);
        thrift_error_clear(&err);
        thrift__error_set(&err, THRIFT_TRANSPORT, "%s: %s", c->address, why);
        defer_failure(c, &err);
        return;
    }
    if (thrift__stream_init(&c->stream, fd, &c->opts, c->tls, c->addr.host, &err)) {
        close(fd);
        char why[sizeof err.text];
        memcpy(why, err.text, sizeof why);
        thrift_error_clear(&err);
        thrift__error_set(&err, THRIFT_TRANSPORT, "%s: %s", c->address, why);
        defer_failure(c, &err);
        return;
    }
    c->fd = fd;
    ev_io_init(&c->rio, read_cb, fd, EV_READ);
    c->rio.data = c;
    if (c->opts.connect_timeout_ms) {
        // Covers the TCP connect and the TLS handshake.
        ev_timer_set(&c->connect_timer, c->opts.connect_timeout_ms / 1000.0, 0.);
        ev_timer_start(c->loop, &c->connect_timer);
    }
    if (in_progress) {
        c->state = ST_CONNECTING;
        ev_io_init(&c->wio, connect_io_cb, fd, EV_WRITE);
        c->wio.data = c;
        ev_io_start(c->loop, &c->wio);
    } else {
        ev_io_init(&c->wio, write_cb, fd, EV_WRITE);
        c->wio.data = c;
        handshake_step(c);
        if (c->state == ST_CONNECTED)
            schedule_flush(c);
    }
}

/* ---- replies -------------------------------------------------------------- */

static pcall_t *find_call(thrift_conn_t *c, int32_t seqid) {
    // Replies mostly come back in order: the head is the usual hit.
    for (pcall_t *p = c->head; p; p = p->next)
        if (p->seqid == seqid)
            return p;
    return NULL;
}

static bool name_matches(const thrift_function_def_t *fn, const char *name, size_t len) {
    // A multiplexing server may answer with "Service:method".
    const char *colon = memchr(name, ':', len);
    if (colon) {
        len -= (size_t)(colon + 1 - name);
        name = colon + 1;
    }
    return len == fn->name_len && !memcmp(name, fn->name, len);
}

/* Whether a call on this connection was ever sent with `seqid`: seqids run
 * from 1 up, and once they wrapped every positive one was. */
static bool seqid_was_issued(const thrift_conn_t *c, int32_t seqid) {
    return seqid > 0 && (c->seqid_wrapped || seqid < c->next_seqid);
}

/* A reply to a call never made: the peer answers some other stream, or
 * lost count.  Nothing that arrives later can be trusted to match, so, as
 * Apache's clients raise BAD_SEQUENCE_ID, every pending call fails with what
 * arrived and the connection is closed (the next call reconnects). */
static void reply_out_of_sequence(thrift_conn_t *c, const thrift_message_header_t *hdr,
                                  const uint8_t *body, size_t body_len) {
    // A server that could not read a request answers with an exception and
    // often seqid 0: its text says why.
    char why[200] = "";
    thrift_arena_t *a = hdr->type == THRIFT_MSG_EXCEPTION ? thrift_arena_new(NULL) : NULL;
    thrift_value_t *ex = a ? thrift_decode_message_body(c->opts.proto, thrift_app_exception_def(),
                                                        body, body_len, a, &c->reader.codec,
                                                        NULL, NULL)
                           : NULL;
    thrift_value_t *m = ex ? thrift_value_get_by_id(ex, 1) : NULL;
    size_t ml = 0;
    const uint8_t *mp = m ? thrift_value_bytes(m, &ml) : NULL;
    if (mp)
        snprintf(why, sizeof why, ": TApplicationException: %.*s", (int)(ml > 150 ? 150 : ml),
                 (const char *)mp);
    thrift_arena_free(a);
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift__error_set(&err, THRIFT_APP_EXCEPTION,
                      "connection to %s: out of sequence reply: seqid %d (method '%.*s', message "
                      "type %d) was never sent on this connection%s",
                      c->address, (int)hdr->seqid, (int)(hdr->name_len > 200 ? 200 : hdr->name_len),
                      hdr->name, (int)hdr->type, why);
    thrift__error_set_source(&err, "TApplicationException");
    conn_close_fd(c);
    fail_all_typed(c, &err, THRIFT_APPEX_BAD_SEQUENCE_ID);
}

static void handle_reply(thrift_conn_t *c, const uint8_t *msg, size_t len) {
    thrift_message_header_t hdr;
    size_t hlen = 0;
    thrift_error_t err;
    thrift__error_reset(&err);
    if (thrift_decode_message_header(c->reader.proto, msg, len, &c->reader.codec, &hdr, &hlen, &err)) {
        conn_break(c, THRIFT_PROTOCOL, "connection to %s: undecodable reply: %s", err.text);
        return;
    }
    pcall_t *p = find_call(c, hdr.seqid);
    if (!p) {
        if (seqid_was_issued(c, hdr.seqid))
            return; // a late reply to a call that timed out: dropped by seqid
        reply_out_of_sequence(c, &hdr, msg + hlen, len - hlen);
        return;
    }
    thrift_result_t r;
    result_init(&r, p->fn);
    if (!c->reply_arena)
        c->reply_arena = thrift_arena_new(NULL);
    else
        thrift_arena_reset(c->reply_arena);
    thrift_arena_t *arena = c->reply_arena;
    r.arena = arena;
    if (arena && c->reader.header.present) {
        bool oom = false;
        r.headers = thrift__header_copy(&c->reader.header, arena, &oom);
    }
    if (!arena) {
        thrift__error_set(&r.err, THRIFT_NOMEM, "out of memory");
    } else if (!name_matches(p->fn, hdr.name, hdr.name_len)) {
        thrift__error_set(&r.err, THRIFT_APP_EXCEPTION, "reply names method '%.*s', expected '%s'",
                          (int)hdr.name_len, hdr.name, p->fn->name);
        r.app_type = THRIFT_APPEX_WRONG_METHOD_NAME;
    } else if (hdr.type == THRIFT_MSG_EXCEPTION) {
        thrift_value_t *ex =
            thrift_decode_message_body(c->reader.proto, thrift_app_exception_def(), msg + hlen,
                                       len - hlen, arena, &c->reader.codec, NULL, &r.err);
        if (ex) {
            thrift_value_t *m = thrift_value_get_by_id(ex, 1);
            thrift_value_t *t = thrift_value_get_by_id(ex, 2);
            size_t ml = 0;
            const uint8_t *mp = m ? thrift_value_bytes(m, &ml) : NULL;
            r.app_type = t ? (int)thrift_value_int(t) : 0;
            thrift__error_set(&r.err, THRIFT_APP_EXCEPTION, "%.*s", (int)ml,
                              mp ? (const char *)mp : "");
            // The type goes into the source so every renderer shows it:
            // "TApplicationException UNKNOWN_METHOD: Invalid method name".
            const char *tn = thrift_app_exception_type_name(r.app_type);
            char src[64];
            if (tn)
                snprintf(src, sizeof src, "TApplicationException %s", tn);
            else
                snprintf(src, sizeof src, "TApplicationException type %d", r.app_type);
            thrift__error_set_source(&r.err, src);
            r.value = ex;
        }
    } else if (hdr.type != THRIFT_MSG_REPLY) {
        thrift__error_set(&r.err, THRIFT_APP_EXCEPTION, "reply has message type %d", (int)hdr.type);
        r.app_type = THRIFT_APPEX_INVALID_MESSAGE_TYPE;
    } else {
        thrift_value_t *res =
            thrift_decode_message_body(c->reader.proto, p->fn->result, msg + hlen, len - hlen, arena,
                                       &c->reader.codec, NULL, &r.err);
        if (res) {
            const thrift_struct_def_t *rd = p->fn->result;
            bool found = false;
            for (uint32_t i = 0; i < rd->field_count && !found; i++) {
                thrift_value_t *slot = &res->u.s.slots[i];
                if (!(slot->flags & THRIFT__VALUE_SET))
                    continue;
                found = true;
                r.value = slot;
                if (rd->fields[i].id != 0) {
                    const thrift_struct_def_t *xd = rd->fields[i].type->resolved->struct_def;
                    r.exception_name = xd ? xd->name : rd->fields[i].name;
                    thrift__error_set(&r.err, THRIFT_DECLARED_EXCEPTION, "%s raised %s",
                                      p->fn->name, r.exception_name);
                    thrift__error_set_source(&r.err, r.exception_name);
                }
            }
            if (!found) {
                if (p->fn->return_type->resolved->kind == THRIFT_KIND_VOID) {
                    r.value = void_value(arena, p->fn);
                } else {
                    thrift__error_set(&r.err, THRIFT_APP_EXCEPTION, "%s failed: unknown result",
                                      p->fn->name);
                    r.app_type = THRIFT_APPEX_MISSING_RESULT;
                }
            }
        } else if (r.err.code == THRIFT_NEED_MORE) {
            r.err.code = THRIFT_PROTOCOL;
        }
    }
    r.status = r.err.code;
    pcall_finish(c, p, &r);
    // A callback that took the arena owns it now.
    if (!r.arena)
        c->reply_arena = NULL;
}

/* ---- submission ------------------------------------------------------------ */

static void call_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    pcall_t *p = w->data;
    thrift_conn_t *c = p->conn;
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift__error_set(&err, THRIFT_TIMEOUT, "%s: call timed out", p->fn->name);
    c->depth++;
    pcall_fail(c, p, &err);
    c->depth--;
    maybe_destroy(c);
}

static int32_t next_seqid(thrift_conn_t *c) {
    for (;;) {
        int32_t s = c->next_seqid;
        if (s == INT32_MAX) {
            c->next_seqid = 1;
            c->seqid_wrapped = true;
        } else {
            c->next_seqid = s + 1;
        }
        // After a wrap, skip ids still waiting for their replies.
        if (!c->seqid_wrapped || !find_call(c, s))
            return s;
    }
}

static bool check_required(const thrift_value_t *args, thrift_error_t *err) {
    const thrift_struct_def_t *d = args->type->struct_def;
    if (!d->required_count)
        return true;
    for (uint32_t i = 0; i < d->field_count; i++)
        if (d->fields[i].req == THRIFT_REQ_REQUIRED && !(args->u.s.slots[i].flags & THRIFT__VALUE_SET)) {
            thrift__error_set(err, THRIFT_MISSING, "%s: required argument '%s' missing", d->name,
                              d->fields[i].name);
            return false;
        }
    return true;
}

/* Requests queued and not yet written, past which a new call fails up
 * front with THRIFT_LIMIT.  A server that reads none of our requests (or a
 * connect that takes long) would otherwise let callers that keep submitting
 * -- with deadlines that fail their calls but cannot take back bytes
 * queued -- grow the queue without bound.  One request larger than this
 * is still queued whole when the queue is below the mark. */
#define CONN_OUTPUT_LIMIT ((size_t)64 << 20)

static thrift_status_t enqueue_call(thrift_conn_t *c, const thrift_function_def_t *fn,
                                    const thrift_value_t *args, uint32_t timeout_ms,
                                    thrift_call_cb cb, void *ud, thrift_error_t *err) {
    size_t unwritten = thrift_buffer_len(c->out) - c->out_off;
    if (unwritten > CONN_OUTPUT_LIMIT)
        return thrift__error_set(err, THRIFT_LIMIT,
                                 "%s: not sent: %zu bytes of earlier requests to %s are still "
                                 "unwritten (the server is not reading them)",
                                 fn->name, unwritten, c->address);
    if (!args) {
        thrift_arena_reset(c->scratch);
        args = thrift_value_new_struct(c->scratch, fn->args);
        if (!args)
            return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
    }
    if (args->type->struct_def != fn->args)
        return thrift__error_set(err, THRIFT_TYPE, "%s: args must be a %s struct", fn->name,
                                 fn->args->name);
    if (!check_required(args, err))
        return THRIFT_MISSING;
    pcall_t *p = pcall_get(c);
    if (!p)
        return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
    p->seqid = next_seqid(c);
    p->fn = fn;
    p->cb = cb;
    p->ud = ud;
    p->oneway = fn->oneway;

    char namebuf[512];
    const char *name = fn->name;
    size_t name_len = fn->name_len;
    if (c->opts.multiplexed) {
        const char *mux = c->opts.multiplexed_name[0] ? c->opts.multiplexed_name : c->service->name;
        int n = snprintf(namebuf, sizeof namebuf, "%s:%s", mux, fn->name);
        if (n < 0 || (size_t)n >= sizeof namebuf) {
            pcall_put(c, p);
            return thrift__error_set(err, THRIFT_LIMIT, "method name too long");
        }
        name = namebuf;
        name_len = (size_t)n;
    }
    size_t before = thrift_buffer_len(c->out);
    thrift__header_out_t h = {c->opts.proto, p->seqid, 0, c->opts.zlib,
                              {c->headers, c->call_headers}, c->http ? &c->http_out : NULL};
    thrift__wire_mark_t mark;
    thrift_status_t st = thrift__wire_begin(c->out, c->reader.framing, &h, &mark, err);
    // The next call's headers go with this call, whatever becomes of it.
    thrift__kv_free(c->call_headers);
    c->call_headers = NULL;
    if (!st)
        st = thrift_encode_message(c->opts.proto, name, name_len,
                                   fn->oneway ? THRIFT_MSG_ONEWAY : THRIFT_MSG_CALL, p->seqid, args,
                                   c->out, err);
    if (!st)
        st = thrift__wire_end(c->out, c->reader.framing, &mark, c->opts.max_frame_size, err);
    if (st) {
        // Drop the partial message: rebuild the buffer up to `before`.
        if (thrift_buffer_len(c->out) != before) {
            thrift_buffer_t *nb = thrift_buffer_new();
            if (nb && thrift_buffer_append(nb, thrift_buffer_data(c->out), before) == THRIFT_OK) {
                thrift_buffer_free(c->out);
                c->out = nb;
            } else {
                thrift_buffer_free(nb);
            }
        }
        pcall_put(c, p);
        if (st == THRIFT_NOMEM)
            thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        return st;
    }
    c->queued_total += thrift_buffer_len(c->out) - before;
    c->npending++;
    p->write_end = c->queued_total;
    if (p->oneway) {
        list_append(&c->ow_head, &c->ow_tail, p);
    } else {
        list_append(&c->head, &c->tail, p);
        if (!timeout_ms)
            timeout_ms = c->opts.call_timeout_ms;
        if (timeout_ms) {
            ev_timer_init(&p->timer, call_timeout_cb, timeout_ms / 1000.0, 0.);
            p->timer.data = p;
            p->has_timer = true;
            ev_timer_start(c->loop, &p->timer);
        }
    }
    if (c->state == ST_IDLE && !c->kick_pending)
        start_connect(c);
    else
        schedule_flush(c);
    return THRIFT_OK;
}

static const thrift_function_def_t *find_fn(thrift_conn_t *c, const char *method, thrift_error_t *err) {
    const thrift_function_def_t *fn =
        method ? thrift_service_def_find_function(c->service, method) : NULL;
    if (!fn)
        thrift__error_set(err, THRIFT_NOT_FOUND, "service %s has no method '%s'", c->service->name,
                          method ? method : "(null)");
    return fn;
}

thrift_status_t thrift_call_async_ex(thrift_conn_t *c, const char *method, const thrift_value_t *args,
                                     uint32_t timeout_ms, thrift_call_cb cb, void *ud,
                                     thrift_error_t *err) {
    if (!c || c->free_requested)
        return thrift__error_set(err, THRIFT_MISUSE, "connection is closed");
    const thrift_function_def_t *fn = find_fn(c, method, err);
    if (!fn)
        return THRIFT_NOT_FOUND;
    return enqueue_call(c, fn, args, timeout_ms, cb, ud, err);
}

thrift_status_t thrift_call_async(thrift_conn_t *c, const char *method, const thrift_value_t *args,
                                  thrift_call_cb cb, void *ud) {
    return thrift_call_async_ex(c, method, args, 0, cb, ud, NULL);
}

static void async_cb(struct ev_loop *loop, ev_async *w, int revents) {
    (void)loop;
    (void)revents;
    thrift_conn_t *c = w->data;
    pthread_mutex_lock(&c->qlock);
    submitted_t *q = c->qhead;
    c->qhead = c->qtail = NULL;
    pthread_mutex_unlock(&c->qlock);
    c->depth++;
    // Drain everything: ev_async_send coalesces wake-ups.
    while (q) {
        submitted_t *next = q->next;
        thrift_error_t err;
        thrift__error_reset(&err);
        bool queued = false;
        if (!c->free_requested) {
            // The call's own headers join those set for the next call on
            // this (the loop) thread; enqueue_call sends and clears them.
            thrift_status_t hst = THRIFT_OK;
            for (const thrift__kv_t *h = q->headers; h && !hst; h = h->next)
                hst = thrift__kv_set(&c->call_headers, h->key, h->value);
            if (hst)
                thrift__error_set(&err, hst, "out of memory");
            else
                queued = enqueue_call(c, q->fn, q->args, 0, q->cb, q->ud, &err) == THRIFT_OK;
        }
        if (!queued) {
            if (!err.code)
                thrift__error_set(&err, THRIFT_CLOSED, "connection is closed");
            thrift_result_t r;
            result_init(&r, q->fn);
            r.err = err;
            r.status = err.code;
            if (q->cb) {
                c->depth++;
                q->cb(c, &r, q->ud);
                c->depth--;
            }
        }
        thrift__kv_free(q->headers);
        thrift_arena_free(q->arena);
        free(q);
        q = next;
    }
    c->depth--;
    maybe_destroy(c);
}

thrift_status_t thrift_call_submit(thrift_conn_t *c, const char *method, const thrift_value_t *args,
                                   thrift_call_cb cb, void *ud, thrift_error_t *err) {
    return thrift_call_submit_headers(c, method, args, NULL, 0, cb, ud, err);
}

thrift_status_t thrift_call_submit_headers(thrift_conn_t *c, const char *method,
                                           const thrift_value_t *args,
                                           const char *const *headers, size_t nheaders,
                                           thrift_call_cb cb, void *ud, thrift_error_t *err) {
    if (!c)
        return thrift__error_set(err, THRIFT_MISUSE, "no connection");
    // Only immutable parts of the connection are read here.
    const thrift_function_def_t *fn = find_fn(c, method, err);
    if (!fn)
        return THRIFT_NOT_FOUND;
    if (args && args->type->struct_def != fn->args)
        return thrift__error_set(err, THRIFT_TYPE, "%s: args must be a %s struct", fn->name,
                                 fn->args->name);
    if (args && !check_required(args, err))
        return THRIFT_MISSING;
    submitted_t *s = calloc(1, sizeof *s);
    thrift_arena_t *a = thrift_arena_new(NULL);
    thrift_value_t *copy = args && a ? thrift_value_clone(a, args) : NULL;
    if (!s || !a || (args && !copy)) {
        free(s);
        thrift_arena_free(a);
        return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < nheaders; i++) {
        thrift_status_t hst = thrift__kv_set(&s->headers, headers[2 * i], headers[2 * i + 1]);
        if (hst) {
            thrift__kv_free(s->headers);
            free(s);
            thrift_arena_free(a);
            if (hst == THRIFT_LIMIT)
                return thrift__error_set(err, hst, "info header over %d bytes",
                                         THRIFT_HEADER_TEXT_MAX);
            return thrift__error_set(err, hst, hst == THRIFT_MISUSE ? "empty info header key"
                                                                    : "out of memory");
        }
    }
    s->arena = a;
    s->args = copy;
    s->fn = fn;
    s->cb = cb;
    s->ud = ud;
    pthread_mutex_lock(&c->qlock);
    if (c->qtail)
        c->qtail->next = s;
    else
        c->qhead = s;
    c->qtail = s;
    pthread_mutex_unlock(&c->qlock);
    ev_async_send(c->loop, &c->async);
    return THRIFT_OK;
}

/* ---- lifecycle ------------------------------------------------------------- */

thrift_conn_t *thrift_conn_new(struct ev_loop *loop, thrift_schema_t *schema, const char *service,
                               const char *address, const thrift_conn_options_t *opts,
                               thrift_error_t *err) {
    if (!loop || !schema || !address) {
        thrift__error_set(err, THRIFT_MISUSE, "loop, schema and address are required");
        return NULL;
    }
    const thrift_service_def_t *svc = thrift__schema_service_or_default(schema, service, err);
    if (!svc)
        return NULL;
    thrift_conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        return NULL;
    }
    if (opts)
        c->opts = *opts;
    else
        thrift__conn_options_defaults(&c->opts);
    if (thrift__addr_parse(address, false, &c->addr, err)) {
        free(c);
        return NULL;
    }
    if (c->addr.scheme == THRIFT__SCHEME_TLS || c->addr.scheme == THRIFT__SCHEME_HTTPS)
        c->opts.tls = true;
    if (c->addr.scheme == THRIFT__SCHEME_HTTP || c->addr.scheme == THRIFT__SCHEME_HTTPS) {
        c->http = true;
        // Borrows from c->opts and c->addr, which live as long as c.
        thrift__http_client_out(&c->http_out, c->http_host, sizeof c->http_host, address,
                                &c->opts, &c->addr);
    }
    if (c->opts.tls && !(c->tls = thrift__tls_ctx_new(&c->opts, false, err))) {
        free(c);
        return NULL;
    }
    snprintf(c->address, sizeof c->address, "%s", address);
    c->out = thrift_buffer_new();
    c->scratch = thrift_arena_new(NULL);
    if (!c->out || !c->scratch) {
        thrift_buffer_free(c->out);
        thrift_arena_free(c->scratch);
        thrift__tls_ctx_free(c->tls);
        free(c);
        thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        return NULL;
    }
    c->loop = loop;
    c->schema = thrift_schema_ref(schema);
    c->service = svc;
    c->fd = -1;
    c->next_seqid = 1;
    thrift__wire_reader_init(&c->reader, c->opts.proto, thrift__message_framing(&c->opts),
                             c->opts.max_frame_size);
    if (c->http)
        c->reader.http.role = THRIFT__HTTP_CLIENT;
    c->reader.http.empty_answers = c->http; // see http_answer
    ev_timer_init(&c->connect_timer, connect_timeout_cb, 1., 0.);
    c->connect_timer.data = c;
    ev_init(&c->partial, partial_timeout_cb);
    c->partial.data = c;
    c->partial.repeat = c->opts.read_timeout_ms / 1000.0;
    ev_prepare_init(&c->flush, flush_cb);
    c->flush.data = c;
    ev_timer_init(&c->kick, kick_cb, 0., 0.);
    c->kick.data = c;
    ev_io_init(&c->rio, read_cb, -1, EV_READ);
    ev_io_init(&c->wio, write_cb, -1, EV_WRITE);
    pthread_mutex_init(&c->qlock, NULL);
    ev_async_init(&c->async, async_cb);
    c->async.data = c;
    ev_async_start(loop, &c->async);
    // The hand-off watcher alone must not keep the caller's loop running.
    ev_unref(loop);
    return c;
}

static void conn_destroy(thrift_conn_t *c) {
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift__error_set(&err, THRIFT_CLOSED, "connection to %s freed", c->address);
    c->depth++;
    conn_close_fd(c);
    ev_timer_stop(c->loop, &c->kick);
    fail_all(c, &err);
    // Submissions that never reached the loop fail too.
    async_cb(c->loop, &c->async, 0);
    c->depth--;
    ev_ref(c->loop);
    ev_async_stop(c->loop, &c->async);
    pthread_mutex_destroy(&c->qlock);
    while (c->free_calls) {
        pcall_t *n = c->free_calls->next;
        free(c->free_calls);
        c->free_calls = n;
    }
    thrift__wire_reader_free(&c->reader);
    thrift_buffer_free(c->out);
    thrift_arena_free(c->reply_arena);
    thrift_arena_free(c->scratch);
    thrift_arena_free(c->last.arena);
    thrift__kv_free(c->headers);
    thrift__kv_free(c->call_headers);
    thrift_schema_unref(c->schema);
    thrift__tls_ctx_free(c->tls);
    struct ev_loop *own = c->own_loop ? c->loop : NULL;
    free(c);
    if (own)
        ev_loop_destroy(own);
}

void thrift_conn_free(thrift_conn_t *c) {
    if (!c || c->free_requested)
        return;
    c->free_requested = true;
    if (c->depth == 0)
        conn_destroy(c);
}

size_t thrift_conn_pending(const thrift_conn_t *c) { return c ? c->npending : 0; }

thrift_status_t thrift_conn_set_header(thrift_conn_t *c, const char *key, const char *value) {
    return c ? thrift__kv_set(&c->headers, key, value) : THRIFT_MISUSE;
}

thrift_status_t thrift_conn_set_call_header(thrift_conn_t *c, const char *key, const char *value) {
    return c ? thrift__kv_set(&c->call_headers, key, value) : THRIFT_MISUSE;
}
uint64_t thrift_conn_break_count(const thrift_conn_t *c) { return c ? c->breaks : 0; }
const thrift_service_def_t *thrift_conn_service(const thrift_conn_t *c) { return c ? c->service : NULL; }

thrift_value_t *thrift_conn_new_args(thrift_conn_t *c, thrift_arena_t *arena, const char *method,
                                     thrift_error_t *err) {
    const thrift_function_def_t *fn = find_fn(c, method, err);
    if (!fn)
        return NULL;
    thrift_value_t *v = thrift_value_new_struct(arena, fn->args);
    if (!v)
        thrift__error_set(err, THRIFT_NOMEM, "out of memory");
    return v;
}

/* ---- blocking ------------------------------------------------------------- */

static void blocking_cb(thrift_conn_t *c, thrift_result_t *r, void *ud) {
    (void)ud;
    thrift_arena_free(c->last.arena);
    c->last = *r;
    // Keep the value past the callback: it is the caller's until next call.
    if (r->arena)
        c->last.arena = thrift_result_take_arena(r);
    else if (r->value) {
        thrift_arena_t *a = thrift_arena_new(NULL);
        c->last.arena = a;
        c->last.value = a ? thrift_value_clone(a, r->value) : NULL;
    }
    c->last_done = true;
    // A oneway completes inside the flush (an ev_prepare, just before the
    // loop would block in poll): stop there instead of waiting for an event.
    ev_break(c->loop, EVBREAK_ONE);
}

thrift_conn_t *thrift_connect(thrift_schema_t *schema, const char *service, const char *address,
                              const thrift_conn_options_t *opts, thrift_error_t *err) {
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    if (!loop) {
        thrift__error_set(err, THRIFT_NOMEM, "cannot create an event loop");
        return NULL;
    }
    thrift_conn_t *c = thrift_conn_new(loop, schema, service, address, opts, err);
    if (!c) {
        ev_loop_destroy(loop);
        return NULL;
    }
    c->own_loop = true;
    thrift__busy_poll_init(&c->busy_poll, c->opts.busy_poll_us);
    start_connect(c);
    while (c->state == ST_CONNECTING || c->state == ST_HANDSHAKE)
        ev_run(loop, EVRUN_ONCE);
    if (c->kick_pending) {
        thrift__error_set(err, c->kick_err.code, "%s", c->kick_err.text);
        thrift_conn_free(c);
        return NULL;
    }
    if (c->state != ST_CONNECTED) {
        // The reason (refused, timed out...) as the async path reports it.
        if (c->last_break.code)
            thrift__error_set(err, c->last_break.code, "%s", c->last_break.text);
        else
            thrift__error_set(err, THRIFT_TRANSPORT, "cannot connect to %s", address);
        thrift_conn_free(c);
        return NULL;
    }
    return c;
}

void thrift_conn_set_trace_cb(thrift_conn_t *c, thrift_conn_trace_cb cb, void *ud) {
    if (!c)
        return;
    c->trace_cb = cb;
    c->trace_ud = ud;
}

uint64_t thrift_conn_bytes_sent(const thrift_conn_t *c) { return c ? c->sent_total : 0; }
uint64_t thrift_conn_bytes_received(const thrift_conn_t *c) { return c ? c->read_total : 0; }

void thrift_conn_busy_poll_stats(const thrift_conn_t *c, uint64_t *spun, uint64_t *caught) {
    if (spun)
        *spun = c ? c->busy_poll.spun : 0;
    if (caught)
        *caught = c ? c->busy_poll.caught : 0;
}

thrift_result_t *thrift_conn_last_result(thrift_conn_t *c) { return c ? &c->last : NULL; }

static thrift_value_t *run_blocking(thrift_conn_t *c, thrift_error_t *err) {
    thrift__wait_done(c->loop, &c->last_done, &c->busy_poll);
    if (c->last.status != THRIFT_OK) {
        if (err && !thrift__error_is_set(err))
            *err = c->last.err;
        return NULL;
    }
    return c->last.value;
}

static bool blocking_begin(thrift_conn_t *c, thrift_error_t *err) {
    if (!c || !c->own_loop)
        return thrift__error_set(err, THRIFT_MISUSE, "thrift_call needs a thrift_connect connection"),
               false;
    thrift_arena_free(c->last.arena);
    result_init(&c->last, NULL);
    c->last_done = false;
    // The private loop sleeps between blocking calls, so its cached time is
    // that of the last call: a call timer started from it could be already
    // expired and fail the call at once.
    ev_now_update(c->loop);
    return true;
}

thrift_value_t *thrift_call(thrift_conn_t *c, const char *method, const thrift_value_t *args,
                            thrift_error_t *err) {
    if (!blocking_begin(c, err))
        return NULL;
    if (thrift_call_async_ex(c, method, args, 0, blocking_cb, NULL, err) != THRIFT_OK)
        return NULL;
    return run_blocking(c, err);
}

/* Used by the JSON glue. */
thrift_value_t *thrift__call_blocking_fn(thrift_conn_t *c, const thrift_function_def_t *fn,
                                         const thrift_value_t *args, thrift_error_t *err);
thrift_value_t *thrift__call_blocking_fn(thrift_conn_t *c, const thrift_function_def_t *fn,
                                         const thrift_value_t *args, thrift_error_t *err) {
    if (!blocking_begin(c, err))
        return NULL;
    if (enqueue_call(c, fn, args, 0, blocking_cb, NULL, err) != THRIFT_OK)
        return NULL;
    return run_blocking(c, err);
}
