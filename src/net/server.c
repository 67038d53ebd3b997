/* The by-name server on a caller-owned libev loop: accept, read requests,
 * dispatch to handlers by method name, write replies in any order.
 *
 * Several threads: the caller's loop is worker 0 and the only acceptor; it
 * hands every accepted socket, in turn, to a worker (itself included).
 * Other workers each run a private loop on their own thread and receive
 * sockets and commands through a mutex-guarded queue and an ev_async, which
 * they drain in full on each wake-up.  A connection lives and dies on the
 * worker that received it, and so do its requests and handlers.  An
 * acceptor rather than SO_REUSEPORT listeners: it balances connections
 * exactly, works for Unix sockets, and needs no listener per worker. */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net_impl.h"
#include "net/stream.h"
#include "schema/schema_impl.h"
#include "value/value_impl.h"

typedef struct handler {
    const thrift_service_def_t *service;
    const thrift_function_def_t *fn;
    thrift_handler_cb cb;
    thrift_json_handler_cb json_cb;
    void *ud;
} handler_t;

typedef struct listener {
    ev_io io;
    int fd;
    int port;
    bool tls;  /* its connections speak TLS (srv->tls) */
    bool http; /* its connections speak HTTP (http:// and https:// addresses) */
    char unix_path[108];
    thrift_rpc_server_t *srv;
} listener_t;

typedef struct sconn sconn_t;

/* How a reply is written: in the kind of the request it answers (THeader
 * with its protocol, transform and flags, or plain). */
typedef struct reply_kind {
    thrift_protocol_t proto;
    bool header;
    bool zlib;
    uint16_t flags;
    thrift__kv_t *kv; /* info headers to send (the handler's), in its arena */
} reply_kind_t;

#define SPARE_ARENAS 64
#define SPARE_REQUESTS 64
/* "unix:" and a sun_path, or "[v6]:port" */
#define THRIFT_PEER_MAX 116

enum { CMD_STOP = 1, CMD_EXIT = 2 };

/* One loop and the connections it owns. */
typedef struct worker {
    thrift_rpc_server_t *srv;
    struct ev_loop *loop;
    unsigned index;
    sconn_t *conns;
    size_t nconns;
    bool stopping;
    bool exiting;
    thrift_arena_t *spare_arenas[SPARE_ARENAS];
    size_t nspare;
    thrift_request_t *cur_req; /* recycled request struct, first choice */
    thrift_request_t *spare_reqs; /* recycled request structs */
    size_t nspare_reqs;
    thrift_request_t *tombstones; /* cancelled, waiting for their handlers */
    /* One prepare watcher flushes every connection with replies queued in
     * this loop iteration: one send each, and no watcher start/stop per
     * connection.  Each listed connection holds a reference. */
    ev_prepare flush;
    sconn_t *dirty;
    /* The busy-poll after replies (busy_poll_us): while `spin` is active
     * the loop polls without sleeping, so a client's next request is read
     * without the tens of microseconds a sleeping thread takes to wake.
     * The policy (wait.c) learns how soon requests follow replies. */
    thrift__busy_poll_t spin_policy;
    ev_idle spin;
    ev_tstamp spin_start, spin_budget; /* ev_now seconds */
    atomic_uint_fast64_t spins, spins_caught; /* for thrift_rpc_server_busy_poll_stats */
    /* workers 1..n-1 only: the thread and its inbox */
    pthread_t thread;
    bool started;
    ev_async wake;
    pthread_mutex_t mu;
    struct handoff {
        int fd;
        int family;
        uint64_t id;
        char peer[THRIFT_PEER_MAX];
        bool tls;
        bool http;
        bool sniff_tls; /* a plain listener of a server with a certificate */
    } *inbox; /* accepted sockets waiting to be adopted */
    size_t ninbox, capinbox;
    unsigned cmds;
    atomic_bool drained; /* stopping and no connection left */
} worker_t;

/* A read buffer that requests answered later still point into (their args
 * were decoded zero-copy).  `data` is NULL while the buffer is still the
 * reader's; once the reader moves on it owns the old buffer.  Freed with
 * the last such request. */
typedef struct rpin {
    uint8_t *data;
    size_t bytes; /* capacity of `data`, counted in the server's buffer bytes */
    size_t refs;
} rpin_t;

/* A request outside the arena it decodes into, so that cancelling it can
 * free everything heavy (arena, read buffer, connection) and keep only
 * this small struct, the tombstone, until the handler lets go.  Structs
 * are recycled per worker. */
struct thrift_request {
    /* In the connection's list of requests answered later, then (once
     * cancelled) in the worker's list of tombstones; `next` also links the
     * worker's spare structs. */
    thrift_request_t *prev, *next;
    sconn_t *conn;  /* NULL once cancelled */
    worker_t *w;
    rpin_t *pin;
    const thrift_function_def_t *fn;
    thrift_arena_t *arena; /* NULL once cancelled */
    const char *method;    /* the function's name (schema-owned) */
    thrift_error_t *err;   /* in `arena`, made by thrift_request_error */
    thrift_request_cancel_cb cancel_cb;
    void *cancel_ud;
    int32_t seqid;
    reply_kind_t kind;          /* how to answer; kind.kv in `arena` */
    const thrift__kv_t *headers; /* THeader info headers received, in `arena` */
    bool replied;
    bool deferred;  /* in conn->deferred: the handler returned unanswered */
    bool cancelled;
    bool in_cancel; /* its cancel callback is running */
    bool released;  /* let go of from inside its cancel callback */
};

struct sconn {
    sconn_t *prev, *next;
    thrift_rpc_server_t *srv;
    worker_t *w;
    int fd;
    thrift__stream_t stream; /* the layers over fd (stream.h) */
    bool handshaking;        /* TLS: not yet open; the idle timer is its deadline */
    bool sniff_tls;          /* the first byte decides: 0x16 (a ClientHello) means TLS */
    bool read_wants_write;   /* a TLS read waits for the socket to drain */
    bool write_wants_read;   /* a TLS write waits for bytes to arrive */
    ev_io rio, wio;
    sconn_t *dirty_next; /* in the worker's list of connections to flush */
    bool dirty;
    ev_timer idle;
    ev_timer partial; /* the read timeout, while inside a partial message */
    /* Complete messages left in the read buffer (a read budget ran out, or
     * reading resumed after output back-pressure): handled on the next loop
     * iteration without waiting for the socket to become readable again. */
    ev_timer backlog;
    thrift__wire_reader_t reader;
    reply_kind_t kind; /* of the message being answered (set before each append) */
    rpin_t *pin; /* pins the reader's current buffer, if any */
    size_t rbuf_bytes; /* the reader's capacity as counted in srv->buf_bytes */
    thrift_request_t *deferred; /* requests answered later (cancelled on close) */
    thrift_buffer_t *out;
    size_t out_off;
    size_t inflight;   /* two-way requests not yet answered */
    int refs;          /* requests alive + 1 while open */
    bool closed;
    bool reading_stopped;
    /* Not reading now (the read watcher and the read timeout are off):
     * more than SCONN_OUTPUT_HIGH_WATER reply bytes wait to be written,
     * SCONN_HELD_HIGH_WATER requests wait for their handlers, or, over
     * HTTP, the request in flight is not answered yet (responses go in
     * request order).  sconn_resume_reading ends it. */
    bool reading_paused;
    /* Input may wait where readability will not announce it: complete
     * messages in the read buffer (budget spent, or paused) or bytes a
     * layer (TLS, zlib) holds.  The next read handles them first. */
    bool backlog_pending;
    size_t out_bytes; /* `out` as counted in srv->buf_bytes */
    bool close_after_flush;
    thrift_close_reason_t close_reason; /* for a close after the flush */
    /* What went wrong, for the connection callback (a protocol error's
     * text); NULL when nothing is said or no callback is set.  Owned. */
    char *close_detail;
    uint64_t id;
    char peer[THRIFT_PEER_MAX]; /* only with a connection callback */
};

#define MAX_LISTENERS 8

struct thrift_rpc_server {
    struct ev_loop *loop;
    /* runs once, first thing in a stop or free (a ServerSet announcement
     * withdraws itself before the listeners close) */
    void (*stop_hook)(void *ud);
    void *stop_hook_ud;
    thrift_schema_t *schema;
    thrift_conn_options_t opts;
    thrift_arena_t *arena; /* handler table */
    thrift__strmap_t handlers;
    listener_t listeners[MAX_LISTENERS];
    size_t nlisteners;
    atomic_size_t nconns; /* over all workers */
    uint64_t next_conn_id; /* on the acceptor */
    thrift_rpc_server_conn_cb conn_cb; /* set whenever a callback is */
    thrift_rpc_server_conn_detail_cb conn_detail_cb; /* conn_cb then passes to it */
    void *conn_ud;
    atomic_size_t buf_bytes; /* read buffers, kept ones included, and queued replies */
    atomic_size_t nheld; /* requests answered later, not yet answered */
    atomic_size_t ntombstones; /* cancelled, not yet let go by handlers */
    size_t max_conns;
    unsigned threads;
    worker_t *workers; /* [threads]; workers[0] runs on `loop` */
    unsigned nworkers;  /* running (worker 0 included) */
    bool workers_started; /* threads are fixed from the first listen on */
    unsigned next_worker;
    ev_async drained; /* on `loop`: a worker finished draining */
    bool stopping;
    /* accept(2) ran out of descriptors: the listeners are stopped until
     * the timer retries; reported once per pause */
    ev_timer accept_retry;
    bool accept_paused;
    thrift_rpc_server_done_cb done_cb;
    void *done_ud;
    ev_timer done_timer;
    thrift__tls_ctx_t *tls; /* made by the first TLS listener; shared by workers */
};

static void sconn_close(sconn_t *c, thrift_close_reason_t why);
static void sconn_unref(sconn_t *c);

/* The closing connection's detail, while its CLOSED event runs. */
static _Thread_local const char *tls_close_detail;

/* Keeps the first reason given for closing, for the connection callback. */
static void sconn_set_close_detail(sconn_t *c, const char *text) {
    if (c->srv->conn_cb && !c->close_detail && text && *text)
        c->close_detail = strdup(text); // NULL on OOM: the event then says less
}
static void worker_check_stopped(worker_t *w);

/* ---- arenas: one per request, recycled per worker ---------------------- */

static thrift_arena_t *arena_get(worker_t *w) {
    if (w->nspare)
        return w->spare_arenas[--w->nspare];
    return thrift_arena_new(NULL);
}

static void arena_put(worker_t *w, thrift_arena_t *a) {
    // A server that outlives its requests (free with handlers still holding
    // them) has no pool left: free outright.
    if (w && w->nspare < SPARE_ARENAS && thrift_arena_footprint(a) <= (1u << 20)) {
        thrift_arena_reset(a);
        w->spare_arenas[w->nspare++] = a;
    } else {
        thrift_arena_free(a);
    }
}

/* ---- output -------------------------------------------------------------- */

/* Bytes one write takes from a connection's queue before the loop moves
 * on (the rest goes when libev reports the socket writable again): a fast
 * reader of a large reply must not hold up the loop's other connections. */
#define SCONN_WRITE_BUDGET (1024 * 1024)

/* Output back-pressure.  A client that pipelines requests and never reads
 * the replies would grow the reply queue without bound: past the high-water
 * mark of unwritten reply bytes the connection stops reading (requests stay
 * in the socket and in the client's send buffer), and it reads again once
 * the queue drained below the low-water mark.  One reply may exceed the
 * mark on its own; the mark only stops further requests. */
#define SCONN_OUTPUT_HIGH_WATER (1024 * 1024)
#define SCONN_OUTPUT_LOW_WATER (256 * 1024)
/* The same for two-way requests not yet answered (each holds its arena
 * and pins its read buffer): a client pipelining into handlers that answer
 * later would otherwise hold any number of them. */
#define SCONN_HELD_HIGH_WATER 1024
#define SCONN_HELD_LOW_WATER 512

static size_t sconn_unwritten(const sconn_t *c) {
    return thrift_buffer_len(c->out) - c->out_off;
}

/* The reasons to stop reading (checked after a dispatch, the only thing
 * that adds requests in flight or, but for late replies, reply bytes).
 * HTTP takes one request at a time: its response goes before the next. */
static bool sconn_must_pause(const sconn_t *c) {
    return sconn_unwritten(c) > SCONN_OUTPUT_HIGH_WATER || c->inflight >= SCONN_HELD_HIGH_WATER ||
           (c->reader.http.role && c->inflight);
}

/* ... and to read again: every reason gone, with some hysteresis. */
static bool sconn_may_resume(const sconn_t *c) {
    return sconn_unwritten(c) <= SCONN_OUTPUT_LOW_WATER && c->inflight <= SCONN_HELD_LOW_WATER &&
           !(c->reader.http.role && c->inflight);
}

static void sconn_resume_reading(sconn_t *c);

/* Keeps srv->buf_bytes in step with the reply queue's size while it waits
 * for the socket (a queue written at once is not counted: no atomics on
 * the common path). */
static inline void sconn_count_output(sconn_t *c, size_t bytes) {
    if (bytes == c->out_bytes)
        return;
    if (bytes > c->out_bytes)
        atomic_fetch_add(&c->srv->buf_bytes, bytes - c->out_bytes);
    else
        atomic_fetch_sub(&c->srv->buf_bytes, c->out_bytes - bytes);
    c->out_bytes = bytes;
}

static bool sconn_write(sconn_t *c) {
    if (c->handshaking)
        return true; // flushed once the stream is open
    size_t len = thrift_buffer_len(c->out);
    // A bounded amount per callback (SCONN_WRITE_BUDGET); the rest goes
    // on the next writable event.
    bool over_budget = len - c->out_off > SCONN_WRITE_BUDGET;
    size_t end = over_budget ? c->out_off + SCONN_WRITE_BUDGET : len;
    size_t taken = 0;
    thrift_error_t err;
    thrift__error_reset(&err);
    // Also with nothing new queued: a layer may still hold bytes.
    thrift_status_t st = thrift__stream_send(&c->stream, thrift_buffer_data(c->out) + c->out_off,
                                             end - c->out_off, &taken, &err);
    c->out_off += taken;
    c->write_wants_read = false;
    if (st == THRIFT_NEED_MORE || (st == THRIFT_OK && over_budget)) {
        if (st == THRIFT_NEED_MORE && c->stream.want == THRIFT__WANT_READ) {
            // The read watcher writes on, also while reading is paused.
            c->write_wants_read = true;
            ev_io_start(c->w->loop, &c->rio);
        } else if (!ev_is_active(&c->wio)) {
            ev_io_start(c->w->loop, &c->wio);
        }
        sconn_count_output(c, len);
        if (c->reading_paused && sconn_may_resume(c))
            sconn_resume_reading(c);
        return true;
    }
    if (st) {
        sconn_close(c, st == THRIFT_CLOSED ? THRIFT_CLOSE_PEER : THRIFT_CLOSE_ERROR);
        return false;
    }
    if (ev_is_active(&c->wio) && !c->read_wants_write)
        ev_io_stop(c->w->loop, &c->wio);
    thrift_buffer_clear(c->out);
    c->out_off = 0;
    sconn_count_output(c, 0);
    if (c->reading_paused && sconn_may_resume(c))
        sconn_resume_reading(c);
    if (c->close_after_flush || (c->reading_stopped && c->inflight == 0)) {
        sconn_close(c, c->close_reason);
        return false;
    }
    return true;
}

/* Ends the busy-poll: a request came in (`caught`) or the budget passed. */
static void worker_spin_end(worker_t *w, bool caught) {
    ev_idle_stop(w->loop, &w->spin);
    ev_tstamp elapsed = ev_now(w->loop) - w->spin_start;
    thrift__busy_poll_record(&w->spin_policy, caught,
                             elapsed > 0 ? (uint64_t)(elapsed * 1e9) : 0);
    if (caught)
        atomic_fetch_add_explicit(&w->spins_caught, 1, memory_order_relaxed);
}

/* Runs in the loop's idle phase: no event came in this iteration. */
static void worker_spin_cb(struct ev_loop *loop, ev_idle *idle, int revents) {
    (void)revents;
    worker_t *w = idle->data;
    if (ev_now(loop) - w->spin_start >= w->spin_budget)
        worker_spin_end(w, false);
}

/* Replies went out: poll for the next request for a while (as the policy
 * decides) before the loop may sleep again. */
static void worker_spin_start(worker_t *w) {
    if (ev_is_active(&w->spin) || w->stopping || w->exiting)
        return;
    uint64_t budget = thrift__busy_poll_budget(&w->spin_policy);
    if (!budget)
        return;
    ev_now_update(w->loop); // the replies' handling took time since the poll
    w->spin_start = ev_now(w->loop);
    w->spin_budget = (ev_tstamp)budget * 1e-9;
    atomic_fetch_add_explicit(&w->spins, 1, memory_order_relaxed);
    ev_idle_start(w->loop, &w->spin);
}

static void worker_flush_cb(struct ev_loop *loop, ev_prepare *p, int revents) {
    (void)revents;
    worker_t *w = p->data;
    ev_prepare_stop(loop, p);
    sconn_t *c = w->dirty;
    w->dirty = NULL;
    bool wrote = false;
    while (c) {
        sconn_t *next = c->dirty_next;
        c->dirty = false;
        if (!c->closed)
            wrote |= sconn_write(c);
        sconn_unref(c);
        c = next;
    }
    if (wrote)
        worker_spin_start(w);
}

/* Forgets the pending flushes (the connections are closed) and stops the
 * busy-poll. */
static void worker_drop_dirty(worker_t *w) {
    if (ev_is_active(&w->spin))
        ev_idle_stop(w->loop, &w->spin);
    if (ev_is_active(&w->flush))
        ev_prepare_stop(w->loop, &w->flush);
    while (w->dirty) {
        sconn_t *c = w->dirty;
        w->dirty = c->dirty_next;
        c->dirty = false;
        sconn_unref(c);
    }
}

/* Sets up the flush and the busy-poll watchers (`w->srv` set). */
static void worker_init_flush(worker_t *w) {
    ev_prepare_init(&w->flush, worker_flush_cb);
    w->flush.data = w;
    thrift__busy_poll_init(&w->spin_policy, w->srv->opts.busy_poll_us);
    ev_idle_init(&w->spin, worker_spin_cb);
    w->spin.data = w;
}

static void sconn_read_cb(struct ev_loop *loop, ev_io *w, int revents);

static void sconn_write_cb(struct ev_loop *loop, ev_io *w, int revents) {
    sconn_t *c = w->data;
    if (c->closed)
        return;
    if (c->handshaking) {
        sconn_read_cb(loop, &c->rio, revents); // the handshake waits for this event
        return;
    }
    // The socket had filled and drains again: a peer that reads, however
    // slowly, is not idle (a paused connection reads nothing meanwhile).
    if (c->srv->opts.idle_timeout_ms)
        ev_timer_again(loop, &c->idle);
    bool reader_waits = c->read_wants_write;
    c->read_wants_write = false;
    if (sconn_write(c) && reader_waits)
        sconn_read_cb(loop, &c->rio, revents); // a TLS read waited for it
}

static void schedule_flush(sconn_t *c) {
    if (c->closed || c->dirty || ev_is_active(&c->wio))
        return; // already listed, or waiting for the socket to drain
    worker_t *w = c->w;
    c->dirty = true;
    c->refs++;
    c->dirty_next = w->dirty;
    w->dirty = c;
    if (!ev_is_active(&w->flush))
        ev_prepare_start(w->loop, &w->flush);
}

/* Bytes were queued: flush them at the end of this loop iteration.  While
 * the socket is full the queue may grow over several iterations without a
 * write: it counts in srv->buf_bytes now (otherwise the next write counts
 * it). */
static void output_queued(sconn_t *c) {
    schedule_flush(c);
    if (ev_is_active(&c->wio))
        sconn_count_output(c, thrift_buffer_len(c->out));
}

/* Appends one message; on an encoding failure the partial bytes are cut off
 * by rebuilding the buffer up to where the message began. */
static thrift_status_t append_message(sconn_t *c, const char *name, size_t name_len,
                                      thrift_message_type_t type, int32_t seqid,
                                      const thrift_value_t *body, thrift_error_t *err) {
    const thrift_conn_options_t *o = &c->srv->opts;
    thrift_protocol_t proto = c->kind.proto;
    size_t before = thrift_buffer_len(c->out);
    thrift__http_out_t ho = {false, NULL, NULL, NULL, c->reader.http.keep_alive, false, 200};
    thrift__header_out_t h = {proto, seqid, c->kind.flags, c->kind.zlib, {c->kind.kv, NULL},
                              c->reader.http.role ? &ho : NULL};
    thrift__wire_mark_t mark;
    thrift_status_t st = thrift__wire_begin(
        c->out, c->reader.framing, c->kind.header || c->reader.http.role ? &h : NULL, &mark, err);
    if (!st)
        st = thrift_encode_message(proto, name, name_len, type, seqid, body, c->out, err);
    if (!st)
        st = thrift__wire_end(c->out, c->reader.framing, &mark, o->max_frame_size, err);
    if (st && thrift_buffer_len(c->out) != before) {
        thrift_buffer_t *nb = thrift_buffer_new();
        if (nb && thrift_buffer_append(nb, thrift_buffer_data(c->out), before) == THRIFT_OK) {
            thrift_buffer_free(c->out);
            c->out = nb;
        } else {
            thrift_buffer_free(nb);
        }
    }
    if (!st && c->reader.http.role && !c->reader.http.keep_alive) {
        c->close_after_flush = true; // "Connection: close", or HTTP/1.0
        c->close_reason = THRIFT_CLOSE_PEER;
    }
    if (!st)
        output_queued(c);
    return st;
}

/* An HTTP response without a Thrift message: the answer to a CORS
 * preflight or to a oneway call (status 200), or an error status, after
 * which the connection closes. */
static void append_http_control(sconn_t *c, bool cors, int status) {
    if (c->closed)
        return;
    thrift__http_out_t ho = {false, NULL, NULL, NULL, status == 200 && c->reader.http.keep_alive,
                             cors, status};
    if (thrift__http_wrap(c->out, thrift_buffer_len(c->out), &ho, NULL) != THRIFT_OK) {
        sconn_close(c, THRIFT_CLOSE_ERROR);
        return;
    }
    if (!ho.keep_alive) {
        c->close_after_flush = true;
        if (!c->close_reason)
            c->close_reason = status == 200 ? THRIFT_CLOSE_PEER : THRIFT_CLOSE_PROTOCOL;
    }
    output_queued(c);
}

static void send_app_error(sconn_t *c, const char *name, size_t name_len, int32_t seqid,
                           int type, const char *message) {
    if (c->closed)
        return;
    thrift_arena_t *a = arena_get(c->w);
    if (!a)
        return;
    thrift_value_t *ex = thrift_app_exception_new(a, (thrift_app_exception_type_t)type, message);
    if (ex)
        (void)append_message(c, name, name_len, THRIFT_MSG_EXCEPTION, seqid, ex, NULL);
    arena_put(c->w, a);
}

/* ---- requests -------------------------------------------------------------- */

/* Set while a handler runs, so a reply made inside it leaves the request to
 * dispatch (which still reads it) instead of freeing it. */
static _Thread_local thrift_request_t *tls_in_handler;

static thrift_request_t *request_get(worker_t *w) {
    // Most requests are answered inside their handler: the struct of the
    // last one is kept at hand (taken, so a nested dispatch gets another).
    thrift_request_t *r = w->cur_req;
    if (r) {
        w->cur_req = NULL;
        return r;
    }
    r = w->spare_reqs;
    if (r) {
        w->spare_reqs = r->next;
        w->nspare_reqs--;
        return r;
    }
    return malloc(sizeof *r);
}

static void request_put(worker_t *w, thrift_request_t *r) {
    if (w->nspare_reqs < SPARE_REQUESTS) {
        r->next = w->spare_reqs;
        w->spare_reqs = r;
        w->nspare_reqs++;
    } else {
        free(r);
    }
}

static void req_list_push(thrift_request_t **head, thrift_request_t *r) {
    r->prev = NULL;
    r->next = *head;
    if (*head)
        (*head)->prev = r;
    *head = r;
}

static void req_list_unlink(thrift_request_t **head, thrift_request_t *r) {
    if (r->prev)
        r->prev->next = r->next;
    else
        *head = r->next;
    if (r->next)
        r->next->prev = r->prev;
}

static void pin_release(sconn_t *c, rpin_t *pin) {
    if (!pin || --pin->refs)
        return;
    if (pin == c->pin)
        c->pin = NULL; // the reader still owns the buffer
    if (pin->data)
        atomic_fetch_sub(&c->srv->buf_bytes, pin->bytes);
    free(pin->data);
    free(pin);
}

/* A request of a live connection is finished: answered, or oneway. */
static void request_finish(sconn_t *c, thrift_request_t *req) {
    arena_put(req->w, req->arena);
    if (!req->fn->oneway)
        c->inflight--;
    if (c->reading_paused && !c->closed && sconn_may_resume(c))
        sconn_resume_reading(c);
    if (!c->closed && c->reading_stopped && c->inflight == 0 && !ev_is_active(&c->wio))
        schedule_flush(c); // the flush closes the drained connection
    sconn_unref(c);
}

/* Answered after its handler returned. */
static void request_done(thrift_request_t *req) {
    sconn_t *c = req->conn;
    worker_t *w = req->w;
    if (req->deferred) {
        req_list_unlink(&c->deferred, req);
        atomic_fetch_sub(&c->srv->nheld, 1);
    }
    pin_release(c, req->pin);
    request_finish(c, req);
    request_put(w, req);
}

/* Answered inside its handler (or oneway): never listed nor pinned. */
static void request_done_inline(sconn_t *c, thrift_request_t *req) {
    worker_t *w = req->w;
    request_finish(c, req);
    if (!w->cur_req)
        w->cur_req = req;
    else
        request_put(w, req);
}

/* The connection of a request answered later closed (or the server is
 * being freed): as gRPC cancels a call, tell the handler, then free what
 * is heavy (args arena, read buffer, the connection itself) and keep a
 * tombstone until the handler replies or abandons the request. */
static void request_cancel(thrift_request_t *req) {
    sconn_t *c = req->conn;
    worker_t *w = req->w;
    thrift_rpc_server_t *srv = c->srv;
    if (req->deferred) {
        req_list_unlink(&c->deferred, req);
        atomic_fetch_sub(&srv->nheld, 1);
        req->deferred = false;
    }
    req->cancelled = true;
    if (req->cancel_cb) {
        // Before the args go: the callback may still read them.
        req->in_cancel = true;
        req->cancel_cb(req, req->cancel_ud);
        req->in_cancel = false;
    }
    pin_release(c, req->pin);
    req->pin = NULL;
    arena_put(w, req->arena);
    req->arena = NULL;
    req->err = NULL;
    req->conn = NULL;
    c->inflight--; // only two-way requests are answered later
    sconn_unref(c);
    if (req->released) {
        request_put(w, req); // the callback already let go
        return;
    }
    req_list_push(&w->tombstones, req);
    atomic_fetch_add(&srv->ntombstones, 1);
}

/* The handler lets go of a cancelled request. */
static thrift_status_t tombstone_release(thrift_request_t *req) {
    if (req->in_cancel) {
        req->released = true; // request_cancel frees it when the callback returns
        return THRIFT_CLOSED;
    }
    if (req->released)
        return THRIFT_CLOSED;
    worker_t *w = req->w;
    req_list_unlink(&w->tombstones, req);
    atomic_fetch_sub(&w->srv->ntombstones, 1);
    request_put(w, req);
    return THRIFT_CLOSED;
}

static void free_tombstones(worker_t *w) {
    while (w->tombstones) {
        thrift_request_t *r = w->tombstones;
        w->tombstones = r->next;
        atomic_fetch_sub(&w->srv->ntombstones, 1);
        free(r);
    }
    free(w->cur_req);
    w->cur_req = NULL;
    while (w->spare_reqs) {
        thrift_request_t *r = w->spare_reqs;
        w->spare_reqs = r->next;
        free(r);
    }
    w->nspare_reqs = 0;
}

static thrift_status_t finish_reply(thrift_request_t *req, thrift_message_type_t type,
                                    const thrift_value_t *body, thrift_error_t *err) {
    sconn_t *c = req->conn;
    thrift_status_t st = THRIFT_OK;
    if (!c->closed) {
        c->kind = req->kind;
        st = append_message(c, req->method, req->fn->name_len, type, req->seqid, body, err);
        if (st) {
            char msg[400];
            snprintf(msg, sizeof msg, "%s: cannot encode the reply: %s", req->method,
                     err && err->code ? err->text : thrift_status_str(st));
            send_app_error(c, req->method, req->fn->name_len, req->seqid,
                           THRIFT_APPEX_INTERNAL_ERROR, msg);
        }
    }
    req->replied = true;
    return st;
}

/* THRIFT_OK when `req` may be answered; a cancelled request is let go of
 * here (THRIFT_CLOSED). */
static thrift_status_t reply_begin(thrift_request_t *req) {
    if (!req || req->replied || req->fn->oneway)
        return THRIFT_MISUSE;
    if (req->cancelled)
        return tombstone_release(req);
    return THRIFT_OK;
}

/* Handlers reply inside or after the handler; `in_handler` requests are
 * finished by dispatch once the handler returns. */
static void reply_end(thrift_request_t *req, bool in_handler) {
    if (!in_handler)
        request_done(req);
}

thrift_status_t thrift_reply(thrift_request_t *req, const thrift_value_t *value) {
    thrift_status_t st = reply_begin(req);
    if (st)
        return st;
    thrift_error_t err;
    thrift__error_reset(&err);
    thrift_value_t *res = thrift_value_new_struct(req->arena, req->fn->result);
    st = res ? THRIFT_OK : THRIFT_NOMEM;
    if (!st && value && req->fn->return_type->resolved->kind != THRIFT_KIND_VOID)
        st = thrift_value_set_by_id(res, 0, value);
    if (st) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s: reply value does not match the return type (%s)",
                 req->method, thrift_status_str(st));
        req->conn->kind = req->kind;
        send_app_error(req->conn, req->method, req->fn->name_len, req->seqid,
                       THRIFT_APPEX_INTERNAL_ERROR, msg);
        req->replied = true;
    } else {
        st = finish_reply(req, THRIFT_MSG_REPLY, res, &err);
    }
    reply_end(req, tls_in_handler == req);
    return st;
}

thrift_status_t thrift_reply_exception(thrift_request_t *req, const char *name,
                                       const thrift_value_t *ex) {
    thrift_status_t st = reply_begin(req);
    if (st)
        return st;
    const thrift_struct_def_t *rd = req->fn->result;
    const thrift_struct_def_t *xd = ex ? thrift_value_struct_def(ex) : NULL;
    const thrift_field_def_t *field = NULL;
    for (uint32_t i = 0; i < rd->field_count && !field; i++) {
        const thrift_field_def_t *f = &rd->fields[i];
        if (f->id == 0)
            continue;
        const thrift_struct_def_t *fd = f->type->resolved->struct_def;
        if (name ? (!strcmp(f->name, name) || (fd && !strcmp(fd->name, name))) : fd == xd)
            field = f;
    }
    thrift_error_t err;
    thrift__error_reset(&err);
    thrift_value_t *res = field && ex ? thrift_value_new_struct(req->arena, rd) : NULL;
    if (!field || !ex || !res || thrift_value_set_at(res, field->index, ex) != THRIFT_OK) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s: '%s' is not a declared exception of this method",
                 req->method, name ? name : xd ? xd->name : "(null)");
        req->conn->kind = req->kind;
        send_app_error(req->conn, req->method, req->fn->name_len, req->seqid,
                       THRIFT_APPEX_INTERNAL_ERROR, msg);
        req->replied = true;
        st = THRIFT_NOT_FOUND;
    } else {
        st = finish_reply(req, THRIFT_MSG_REPLY, res, &err);
    }
    reply_end(req, tls_in_handler == req);
    return st;
}

thrift_status_t thrift_reply_error(thrift_request_t *req, int type, const char *message) {
    thrift_status_t st = reply_begin(req);
    if (st)
        return st;
    req->conn->kind = req->kind;
    if (!req->conn->closed)
        send_app_error(req->conn, req->method, req->fn->name_len, req->seqid, type,
                       message ? message : "");
    req->replied = true;
    reply_end(req, tls_in_handler == req);
    return THRIFT_OK;
}

thrift_status_t thrift_request_abandon(thrift_request_t *req) {
    thrift_status_t st = reply_begin(req);
    if (st)
        return st;
    // Still live: the client is owed an answer rather than a timeout.
    return thrift_reply_error(req, THRIFT_APPEX_INTERNAL_ERROR,
                              "the handler abandoned the request");
}

thrift_status_t thrift_request_set_cancel_cb(thrift_request_t *req, thrift_request_cancel_cb cb,
                                             void *ud) {
    if (!req || req->replied || req->released)
        return THRIFT_MISUSE;
    if (req->cancelled)
        return THRIFT_CLOSED; // too late: it would never run
    req->cancel_cb = cb;
    req->cancel_ud = ud;
    return THRIFT_OK;
}

bool thrift_request_is_cancelled(const thrift_request_t *r) { return r && r->cancelled; }
const char *thrift_request_method(const thrift_request_t *r) { return r ? r->method : NULL; }
const thrift_function_def_t *thrift_request_function(const thrift_request_t *r) {
    return r ? r->fn : NULL;
}
bool thrift_request_is_oneway(const thrift_request_t *r) { return r && r->fn->oneway; }
int32_t thrift_request_seqid(const thrift_request_t *r) { return r ? r->seqid : 0; }

const char *thrift_request_header(const thrift_request_t *r, const char *key) {
    return r && !r->cancelled ? thrift__kv_find(r->headers, key) : NULL;
}

bool thrift_request_header_at(const thrift_request_t *r, size_t i, const char **key,
                              const char **value) {
    const thrift__kv_t *kv = r && !r->cancelled ? r->headers : NULL;
    for (; kv && i; i--)
        kv = kv->next;
    if (!kv)
        return false;
    *key = kv->key;
    *value = kv->value;
    return true;
}

thrift_status_t thrift_request_set_reply_header(thrift_request_t *r, const char *key,
                                                const char *value) {
    if (!r || r->replied || r->cancelled || !key || !*key || !value)
        return THRIFT_MISUSE;
    if (strlen(key) > THRIFT_HEADER_TEXT_MAX || strlen(value) > THRIFT_HEADER_TEXT_MAX)
        return THRIFT_LIMIT;
    thrift__kv_t *n = thrift__arena_alloc(r->arena, sizeof *n);
    char *k = thrift__arena_strdup(r->arena, key);
    char *v = thrift__arena_strdup(r->arena, value);
    if (!n || !k || !v)
        return THRIFT_NOMEM;
    n->key = k;
    n->value = v;
    n->next = NULL;
    // Appended, so headers go out in the order they were set.
    thrift__kv_t **pp = &r->kind.kv;
    while (*pp)
        pp = &(*pp)->next;
    *pp = n;
    return THRIFT_OK;
}
thrift_arena_t *thrift_request_arena(thrift_request_t *r) { return r ? r->arena : NULL; }
thrift_error_t *thrift_request_error(thrift_request_t *r) {
    if (!r || !r->arena)
        return NULL;
    // Made on first use: most requests never need its ~1 KB.
    if (!r->err) {
        r->err = thrift__arena_alloc(r->arena, sizeof *r->err);
        if (r->err)
            thrift__error_reset(r->err);
    }
    return r->err;
}
struct ev_loop *thrift_request_loop(const thrift_request_t *r) {
    return r ? r->w->loop : NULL;
}

/* JSON handlers are run by the JSON glue (json_glue.c). */
thrift_status_t thrift__run_json_handler(thrift_request_t *req, thrift_json_handler_cb cb,
                                         const thrift_value_t *args, void *ud);

/* Answers in the kind of the message the reader handed out last. */
static void kind_from_reader(sconn_t *c) {
    const thrift__header_in_t *h = &c->reader.header;
    bool header = c->reader.framing == THRIFT_FRAMING_HEADER && h->present;
    c->kind.proto = c->reader.proto;
    c->kind.header = header;
    c->kind.zlib = header && h->zlib;
    c->kind.flags = header ? h->flags : 0;
    c->kind.kv = NULL;
}

static void dispatch(sconn_t *c, const uint8_t *msg, size_t len) {
    thrift_rpc_server_t *srv = c->srv;
    thrift_message_header_t hdr;
    size_t hlen = 0;
    thrift_error_t err;
    thrift__error_reset(&err);
    kind_from_reader(c);
    if (thrift_decode_message_header(c->reader.proto, msg, len, &c->reader.codec, &hdr, &hlen,
                                     &err)) {
        send_app_error(c, "", 0, 0, THRIFT_APPEX_PROTOCOL_ERROR, err.text);
        sconn_set_close_detail(c, err.text);
        c->close_after_flush = true;
        c->close_reason = THRIFT_CLOSE_PROTOCOL;
        return;
    }
    if (hdr.type != THRIFT_MSG_CALL && hdr.type != THRIFT_MSG_ONEWAY) {
        send_app_error(c, hdr.name, hdr.name_len, hdr.seqid, THRIFT_APPEX_INVALID_MESSAGE_TYPE,
                       "expected a call");
        return;
    }
    const handler_t *h = thrift__strmap_get(&srv->handlers, hdr.name, hdr.name_len);
    // Replies carry the bare method name, as Apache's multiplexed processor
    // answers.
    const char *bare = hdr.name;
    size_t bare_len = hdr.name_len;
    const char *colon = memchr(hdr.name, ':', hdr.name_len);
    if (colon) {
        bare = colon + 1;
        bare_len = hdr.name_len - (size_t)(bare - hdr.name);
    }
    if (!h) {
        if (hdr.type == THRIFT_MSG_ONEWAY)
            return;
        char text[300];
        snprintf(text, sizeof text, "Invalid method name: '%.*s'", (int)hdr.name_len, hdr.name);
        send_app_error(c, bare, bare_len, hdr.seqid, THRIFT_APPEX_UNKNOWN_METHOD, text);
        return;
    }
    thrift_arena_t *arena = arena_get(c->w);
    thrift_request_t *req = arena ? request_get(c->w) : NULL;
    // The handler was found by this name (bare or "Service:"-prefixed), so
    // the bare name is the function's own: no copy.
    const char *method = h->fn->name;
    if (!req) {
        if (arena)
            arena_put(c->w, arena);
        send_app_error(c, bare, bare_len, hdr.seqid, THRIFT_APPEX_INTERNAL_ERROR, "out of memory");
        return;
    }
    // Args decoded zero-copy alias the read buffer, which pins keep alive
    // for requests answered later; a THeader payload inflated into the
    // reader's scratch buffer (or an HTTP body joined from chunks) is
    // reused by the next message, so those are copied.
    thrift_codec_options_t copy_codec;
    const thrift_codec_options_t *codec = &c->reader.codec;
    if ((c->reader.header.present && c->reader.header.zlib) ||
        (c->reader.http.role && msg == c->reader.http.body.data)) {
        copy_codec = c->reader.codec;
        copy_codec.zero_copy = false;
        codec = &copy_codec;
    }
    thrift_value_t *args = thrift_decode_message_body(c->reader.proto, h->fn->args, msg + hlen,
                                                      len - hlen, arena, codec, NULL, &err);
    if (!args) {
        char text[400];
        snprintf(text, sizeof text, "%s: cannot decode the arguments: %s", method, err.text);
        arena_put(c->w, arena);
        request_put(c->w, req);
        if (hdr.type != THRIFT_MSG_ONEWAY)
            send_app_error(c, bare, bare_len, hdr.seqid, THRIFT_APPEX_PROTOCOL_ERROR, text);
        sconn_set_close_detail(c, text);
        c->close_after_flush = true;
        c->close_reason = THRIFT_CLOSE_PROTOCOL;
        schedule_flush(c);
        return;
    }
    req->conn = c;
    req->w = c->w;
    req->pin = NULL;
    req->fn = h->fn;
    req->arena = arena;
    req->method = method;
    req->err = NULL;
    req->cancel_cb = NULL;
    req->seqid = hdr.seqid;
    req->kind = c->kind;
    bool oom = false;
    req->headers = thrift__header_copy(&c->reader.header, arena, &oom);
    req->replied = false;
    req->deferred = false;
    req->cancelled = false;
    req->in_cancel = false;
    req->released = false;
    if (!h->fn->oneway)
        c->inflight++;
    c->refs++;
    thrift_request_t *outer = tls_in_handler;
    tls_in_handler = req;
    thrift_status_t st = h->json_cb ? thrift__run_json_handler(req, h->json_cb, args, h->ud)
                                    : h->cb(req, args, h->ud);
    if (!h->fn->oneway && st != THRIFT_OK && !req->replied) {
        char text[400];
        snprintf(text, sizeof text, "%s",
                 req->err && req->err->code ? req->err->text : thrift_status_str(st));
        thrift_reply_error(req, THRIFT_APPEX_INTERNAL_ERROR, text);
    }
    tls_in_handler = outer;
    if (h->fn->oneway && c->reader.http.role)
        append_http_control(c, false, 200); // HTTP answers every POST
    if (h->fn->oneway || req->replied) {
        request_done_inline(c, req);
        return;
    }
    if (c->closed) {
        request_cancel(req); // the connection went while its handler ran
        return;
    }
    // Answered later: listed, so that closing the connection cancels it.
    req->deferred = true;
    req_list_push(&c->deferred, req);
    atomic_fetch_add(&srv->nheld, 1);
    // Its args alias the read buffer (zero-copy), which must then outlive
    // the next read.
    if (!c->pin) {
        c->pin = calloc(1, sizeof *c->pin);
        if (!c->pin) {
            // Without a pin the buffer must not move: read no more.
            c->reading_stopped = true;
            c->close_reason = THRIFT_CLOSE_ERROR;
            ev_io_stop(c->w->loop, &c->rio);
            ev_timer_stop(c->w->loop, &c->backlog);
            return;
        }
    }
    c->pin->refs++;
    req->pin = c->pin;
}

/* ---- connections ------------------------------------------------------------ */

static void reader_release(sconn_t *c) {
    if (c->rbuf_bytes)
        atomic_fetch_sub(&c->srv->buf_bytes, c->rbuf_bytes);
    c->rbuf_bytes = 0;
    thrift__wire_reader_free(&c->reader);
    thrift__wire_reader_reset(&c->reader);
}

static void sconn_unref(sconn_t *c) {
    if (--c->refs > 0)
        return;
    reader_release(c);
    thrift_buffer_free(c->out);
    free(c->close_detail);
    free(c);
}

static void sconn_close(sconn_t *c, thrift_close_reason_t why) {
    if (c->closed)
        return;
    worker_t *w = c->w;
    thrift_rpc_server_t *srv = c->srv;
    c->closed = true;
    ev_io_stop(w->loop, &c->rio);
    ev_io_stop(w->loop, &c->wio);
    ev_timer_stop(w->loop, &c->idle);
    thrift__stream_free(&c->stream);
    ev_timer_stop(w->loop, &c->partial);
    ev_timer_stop(w->loop, &c->backlog);
    sconn_count_output(c, 0); // the queue is dropped
    close(c->fd);
    c->fd = -1;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
    atomic_fetch_sub(&srv->nconns, 1);
    if (srv->conn_cb) {
        tls_close_detail = c->close_detail;
        srv->conn_cb(srv, THRIFT_CONN_EVENT_CLOSED, c->id, c->peer, why, srv->conn_ud);
        tls_close_detail = NULL;
    }
    while (c->deferred)
        request_cancel(c->deferred);
    // The buffers go now, not with the last reference (a flush or a read
    // callback may hold one a little longer), unless a handler of this
    // connection is running and reads its args from the read buffer.
    if (!c->pin && !(tls_in_handler && tls_in_handler->conn == c)) {
        reader_release(c);
        thrift_buffer_free(c->out);
        c->out = NULL;
    }
    sconn_unref(c);
    if (w->stopping)
        worker_check_stopped(w);
}

/* Opens the stream (the TLS handshake) while `handshaking`; false while it
 * is not open yet or the connection closed. */
static bool sconn_handshake(sconn_t *c) {
    thrift_error_t err;
    thrift__error_reset(&err);
    thrift_status_t st = thrift__stream_open(&c->stream, &err);
    worker_t *w = c->w;
    if (st == THRIFT_NEED_MORE) {
        if (c->stream.want == THRIFT__WANT_WRITE)
            ev_io_start(w->loop, &c->wio);
        else
            ev_io_stop(w->loop, &c->wio);
        return false;
    }
    if (st != THRIFT_OK) {
        sconn_set_close_detail(c, err.text);
        sconn_close(c, THRIFT_CLOSE_HANDSHAKE);
        return false;
    }
    c->handshaking = false;
    ev_io_stop(w->loop, &c->wio);
    // From here on the timer is the idle timeout, if any.
    ev_timer_stop(w->loop, &c->idle);
    if (c->srv->opts.idle_timeout_ms) {
        c->idle.repeat = c->srv->opts.idle_timeout_ms / 1000.0;
        ev_timer_again(w->loop, &c->idle);
    }
    return true;
}

/* Bytes one read callback takes from a socket before it returns to the
 * loop.  A peer that keeps its socket full must not starve the loop's other
 * connections, its acceptor and its timers: the socket stays readable, so
 * libev calls again on the next iteration, after the others had their turn. */
#define SCONN_READ_BUDGET (64 * 1024)
/* Messages one read callback dispatches: one 64 KiB read can carry ~2,300
 * tiny oneway calls.  The complete messages left over are handled on the
 * next loop iteration (the backlog timer), readable socket or not. */
#define SCONN_READ_MESSAGES 256

/* Arms, re-arms or stops the read timeout after a read: armed while a
 * partial message is buffered, counted from when the last message completed
 * (`completed`: some did in this callback) or the first byte came in. */
static void sconn_watch_partial(sconn_t *c, bool completed) {
    if (!c->srv->opts.read_timeout_ms || c->closed)
        return;
    // An HTTP connection waiting on its handler holds whole requests, not
    // a partial one: no read timeout meanwhile.
    if (thrift__wire_buffered(&c->reader) == 0 || (c->reader.http.role && c->inflight))
        ev_timer_stop(c->w->loop, &c->partial);
    else if (completed || !ev_is_active(&c->partial))
        ev_timer_again(c->w->loop, &c->partial);
}

static void sconn_partial_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    sconn_close(w->data, THRIFT_CLOSE_READ_TIMEOUT);
}

/* Handles the input left on the next loop iteration (sconn_read), without
 * waiting for the socket to become readable again. */
static void sconn_schedule_backlog(sconn_t *c) {
    c->backlog_pending = true;
    if (!ev_is_active(&c->backlog)) {
        ev_timer_set(&c->backlog, 0., 0.);
        ev_timer_start(c->w->loop, &c->backlog);
    }
}

/* Stops reading until sconn_may_resume (see reading_paused).  The read
 * timeout stops too (the wait is the server's, not the peer's); the idle
 * timeout keeps running and is re-armed by write progress, so a peer that
 * reads nothing is closed as idle and one that reads slowly goes on. */
static void sconn_pause_reading(sconn_t *c) {
    c->reading_paused = true;
    c->backlog_pending = true;
    if (!c->write_wants_read) // else sconn_read_cb stops it after the write
        ev_io_stop(c->w->loop, &c->rio);
    ev_timer_stop(c->w->loop, &c->partial);
    ev_timer_stop(c->w->loop, &c->backlog);
}

static void sconn_resume_reading(sconn_t *c) {
    c->reading_paused = false;
    if (c->closed || c->reading_stopped || c->close_after_flush)
        return;
    ev_io_start(c->w->loop, &c->rio);
    // Requests already buffered, here or in a TLS layer, go first: the
    // socket may stay quiet.
    sconn_schedule_backlog(c);
}

/* Dispatches the complete messages buffered, at most *messages of them.
 * False when this callback must read no more: the connection closed or
 * stopped reading, the message budget ran out (the backlog timer then
 * takes over) or reading paused. */
static bool sconn_dispatch_buffered(sconn_t *c, size_t *messages, bool *completed) {
    for (;;) {
        if (*messages == 0) {
            sconn_schedule_backlog(c);
            return false;
        }
        const uint8_t *m;
        size_t mlen;
        thrift_error_t err;
        thrift__error_reset(&err);
        thrift_status_t st = thrift__wire_next(&c->reader, &m, &mlen, &err);
        if (st == THRIFT_NEED_MORE)
            return true;
        if (st != THRIFT_OK) {
            if (c->reader.http.role) {
                // A malformed request: its status, then close.
                append_http_control(c, false,
                                    c->reader.http.status ? c->reader.http.status : 400);
            } else {
                // Framing is lost: nothing more can be read from this stream.
                kind_from_reader(c);
                if (st == THRIFT_UNSUPPORTED) // as Apache: an unknown THeader transform
                    send_app_error(c, "", 0, c->reader.header.seqid,
                                   THRIFT_APPEX_INVALID_TRANSFORM, err.text);
                else if (st != THRIFT_LIMIT)
                    send_app_error(c, "", 0, 0, THRIFT_APPEX_PROTOCOL_ERROR, err.text);
            }
            sconn_set_close_detail(c, err.text);
            c->close_after_flush = true;
            c->close_reason = THRIFT_CLOSE_PROTOCOL;
            return false;
        }
        *completed = true;
        (*messages)--;
        if (c->reader.http.cors)
            append_http_control(c, true, 200); // a CORS preflight
        else
            dispatch(c, m, mlen);
        if (c->closed || c->close_after_flush || c->reading_stopped)
            return false;
        // Only a dispatch adds requests in flight and grows the queue (but
        // for a late reply, which the next dispatch then sees): checked
        // here, not per message read.
        if (sconn_must_pause(c)) {
            sconn_pause_reading(c);
            return false;
        }
    }
}

/* One turn of a connection's input: the backlog first, then reads through
 * the stream within the byte and message budgets. */
static void sconn_read(sconn_t *c) {
    struct ev_loop *loop = c->w->loop;
    if (c->closed || c->reading_stopped || c->close_after_flush || c->reading_paused)
        return;
    if (c->srv->opts.idle_timeout_ms)
        ev_timer_again(loop, &c->idle);
    c->refs++; // keep `c` alive while handlers run
    size_t budget = SCONN_READ_BUDGET;
    size_t messages = SCONN_READ_MESSAGES;
    bool completed = false;
    bool more = true;
    if (c->backlog_pending) {
        c->backlog_pending = false;
        ev_timer_stop(loop, &c->backlog);
        more = sconn_dispatch_buffered(c, &messages, &completed);
    }
    while (more) {
        if (c->pin) {
            // Requests answered later point into this buffer: leave it to
            // them and read on into a new one.
            uint8_t *old = thrift__wire_detach(&c->reader);
            if (!old) {
                sconn_close(c, THRIFT_CLOSE_ERROR);
                break;
            }
            c->pin->data = old;
            c->pin->bytes = c->rbuf_bytes;
            c->rbuf_bytes = 0;
            c->pin = NULL;
        }
        size_t avail;
        uint8_t *p = thrift__wire_space(&c->reader, 65536, &avail);
        if (!p) {
            sconn_close(c, THRIFT_CLOSE_ERROR);
            break;
        }
        if (c->reader.buf.cap != c->rbuf_bytes) {
            atomic_fetch_add(&c->srv->buf_bytes, c->reader.buf.cap - c->rbuf_bytes);
            c->rbuf_bytes = c->reader.buf.cap;
        }
        if (avail > budget)
            avail = budget;
        thrift_error_t rerr;
        thrift__error_reset(&rerr);
        ssize_t n = thrift__stream_read(&c->stream, p, avail, &rerr);
        if (n == THRIFT__IO_AGAIN) {
            if (c->stream.want == THRIFT__WANT_WRITE) {
                c->read_wants_write = true; // TLS: the write watcher reads on
                ev_io_start(c->w->loop, &c->wio);
            }
            break;
        }
        if (n <= 0) {
            sconn_set_close_detail(c, rerr.text);
            sconn_close(c, n == 0 || rerr.code == THRIFT_CLOSED ? THRIFT_CLOSE_PEER
                           : rerr.code == THRIFT_LIMIT || rerr.code == THRIFT_PROTOCOL
                               ? THRIFT_CLOSE_PROTOCOL
                               : THRIFT_CLOSE_ERROR);
            break;
        }
        thrift__wire_commit(&c->reader, (size_t)n);
        if (ev_is_active(&c->w->spin))
            worker_spin_end(c->w, true); // the busy-poll caught a request
        more = sconn_dispatch_buffered(c, &messages, &completed);
        budget -= (size_t)n;
        if (!more)
            break;
        if (budget == 0) {
            // Bytes a layer (TLS, zlib) holds will not wake the socket
            // watcher: the backlog timer reads them.
            if (thrift__stream_buffered(&c->stream))
                sconn_schedule_backlog(c);
            break;
        }
        if ((size_t)n < avail && !thrift__stream_buffered(&c->stream))
            break;
    }
    if (!c->closed && c->close_after_flush) {
        ev_io_stop(loop, &c->rio);
        ev_timer_stop(loop, &c->backlog);
        schedule_flush(c);
    }
    if (!c->reading_paused)
        sconn_watch_partial(c, completed);
    sconn_unref(c);
}

static void sconn_read_cb(struct ev_loop *loop, ev_io *w, int revents) {
    (void)revents;
    sconn_t *c = w->data;
    if (c->sniff_tls) {
        // One port for TLS and plain clients: a TLS record starts with 0x16,
        // which no Thrift stream nor HTTP request does.
        uint8_t first;
        ssize_t n = recv(c->fd, &first, 1, MSG_PEEK);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        c->sniff_tls = false;
        if (n == 1 && first == 0x16) {
            thrift__stream_free(&c->stream);
            if (thrift__stream_init(&c->stream, c->fd, &c->srv->opts, c->srv->tls, NULL, NULL)) {
                sconn_close(c, THRIFT_CLOSE_ERROR);
                return;
            }
            c->handshaking = true;
            ev_timer_stop(loop, &c->idle);
            if (c->srv->opts.handshake_timeout_ms) {
                c->idle.repeat = c->srv->opts.handshake_timeout_ms / 1000.0;
                ev_timer_again(loop, &c->idle);
            }
        } else if (n == 1 && c->srv->opts.tls_ca[0]) {
            // A server that requires client certificates takes no plaintext:
            // it would let any client around the check.
            sconn_close(c, THRIFT_CLOSE_HANDSHAKE);
            return;
        }
    }
    if (c->handshaking && !sconn_handshake(c))
        return;
    if (c->write_wants_read && !sconn_write(c))
        return;
    if (!c->write_wants_read &&
        (c->reading_paused || c->reading_stopped || c->close_after_flush)) {
        ev_io_stop(loop, &c->rio); // it was on for a TLS write only
        return;
    }
    sconn_read(c);
}

static void sconn_backlog_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    sconn_read(w->data);
}

static void sconn_idle_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    sconn_t *c = w->data;
    if (c->handshaking) {
        sconn_close(c, THRIFT_CLOSE_HANDSHAKE); // the handshake deadline
        return;
    }
    // A connection waiting on its own handlers is not idle.
    if (c->inflight) {
        ev_timer_again(loop, w);
        return;
    }
    sconn_close(c, THRIFT_CLOSE_IDLE);
}

/* Adopts an accepted socket on the worker that will own it. */
static void sconn_open(worker_t *w, const struct handoff *h) {
    thrift_rpc_server_t *srv = w->srv;
    int fd = h->fd;
    sconn_t *c = NULL;
    thrift_buffer_t *out = NULL;
    if (!w->stopping) {
        thrift__sock_tune(fd, h->family);
        c = calloc(1, sizeof *c);
        out = c ? thrift_buffer_new() : NULL;
    }
    if (out && thrift__stream_init(&c->stream, fd, &srv->opts, h->tls ? srv->tls : NULL, NULL,
                                   NULL) != THRIFT_OK) {
        thrift_buffer_free(out);
        out = NULL;
    }
    if (!out) {
        free(c);
        close(fd);
        atomic_fetch_sub(&srv->nconns, 1);
        if (srv->conn_cb)
            srv->conn_cb(srv, THRIFT_CONN_EVENT_REJECTED, h->id, h->peer,
                         w->stopping ? THRIFT_CLOSE_STOP : THRIFT_CLOSE_ERROR, srv->conn_ud);
        return;
    }
    c->srv = srv;
    c->w = w;
    c->fd = fd;
    c->out = out;
    c->refs = 1;
    c->id = h->id;
    memcpy(c->peer, h->peer, sizeof c->peer);
    thrift__wire_reader_init(&c->reader, srv->opts.proto,
                             h->http ? THRIFT_FRAMING_BUFFERED : thrift__server_framing(&srv->opts),
                             srv->opts.max_frame_size);
    c->kind.proto = srv->opts.proto;
    if (h->http) {
        c->reader.http.role = THRIFT__HTTP_SERVER;
        c->reader.http.keep_alive = true;
    }
    // Strings of the args point into the read buffer; see rpin_t for
    // requests answered after the handler returns.
    c->reader.codec.zero_copy = true;
    ev_io_init(&c->rio, sconn_read_cb, fd, EV_READ);
    c->rio.data = c;
    ev_io_init(&c->wio, sconn_write_cb, fd, EV_WRITE);
    c->wio.data = c;
    ev_init(&c->idle, sconn_idle_cb);
    c->idle.data = c;
    ev_init(&c->partial, sconn_partial_cb);
    c->partial.data = c;
    ev_init(&c->backlog, sconn_backlog_cb);
    c->backlog.data = c;
    c->partial.repeat = srv->opts.read_timeout_ms / 1000.0;
    c->handshaking = h->tls;
    c->sniff_tls = h->sniff_tls;
    uint32_t first_ms = c->handshaking ? srv->opts.handshake_timeout_ms : srv->opts.idle_timeout_ms;
    if (first_ms) {
        c->idle.repeat = first_ms / 1000.0;
        ev_timer_again(w->loop, &c->idle);
    }
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    ev_io_start(w->loop, &c->rio);
    if (srv->conn_cb)
        srv->conn_cb(srv, THRIFT_CONN_EVENT_ACCEPTED, c->id, c->peer, THRIFT_CLOSE_NONE,
                     srv->conn_ud);
}

/* "127.0.0.1:5000", "[::1]:5000", or for a Unix socket "unix:" and the
 * listener's path (its clients are unnamed). */
static void format_peer(const struct sockaddr_storage *ss, const listener_t *l, char *out,
                        size_t n) {
    char host[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        snprintf(out, n, "%s:%u", host, (unsigned)ntohs(a->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        snprintf(out, n, "[%s]:%u", host, (unsigned)ntohs(a->sin6_port));
    } else if (ss->ss_family == AF_UNIX) {
        snprintf(out, n, "unix:%s", l->unix_path);
    } else {
        snprintf(out, n, "?");
    }
}

/* How long accepting pauses when accept(2) finds no descriptor or memory
 * for the new socket.  The pending connection stays in the backlog and the
 * listening socket stays readable, so retrying at once would spin the loop
 * at full CPU until a descriptor frees up. */
#define ACCEPT_RETRY_SECONDS 0.1

static void accept_retry_cb(struct ev_loop *loop, ev_timer *t, int revents) {
    (void)revents;
    thrift_rpc_server_t *srv = t->data;
    for (size_t i = 0; i < srv->nlisteners; i++)
        if (srv->listeners[i].fd >= 0 && !ev_is_active(&srv->listeners[i].io))
            ev_io_start(loop, &srv->listeners[i].io);
}

static void accept_pause(thrift_rpc_server_t *srv) {
    for (size_t i = 0; i < srv->nlisteners; i++)
        ev_io_stop(srv->loop, &srv->listeners[i].io);
    ev_timer_stop(srv->loop, &srv->accept_retry);
    ev_timer_set(&srv->accept_retry, ACCEPT_RETRY_SECONDS, 0.);
    ev_timer_start(srv->loop, &srv->accept_retry);
    if (!srv->accept_paused) {
        srv->accept_paused = true;
        if (srv->conn_cb)
            srv->conn_cb(srv, THRIFT_CONN_EVENT_REJECTED, 0, "?", THRIFT_CLOSE_NO_DESCRIPTORS,
                         srv->conn_ud);
    }
}

static void accept_cb(struct ev_loop *loop, ev_io *io, int revents) {
    (void)loop;
    (void)revents;
    listener_t *l = (listener_t *)io;
    thrift_rpc_server_t *srv = l->srv;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue; // this connection is gone; the next may be fine
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                accept_pause(srv); // EMFILE, ENFILE, ENOBUFS, ENOMEM, ...
            return;
        }
        srv->accept_paused = false;
        struct handoff h = {fd,     ss.ss_family, ++srv->next_conn_id, "", l->tls, l->http,
                            !l->tls && !l->http && srv->tls &&
                                thrift__server_framing(&srv->opts) == THRIFT_FRAMING_AUTO};
        if (srv->conn_cb)
            format_peer(&ss, l, h.peer, sizeof h.peer);
        if (srv->stopping || (srv->max_conns && atomic_load(&srv->nconns) >= srv->max_conns)) {
            close(fd);
            if (srv->conn_cb)
                srv->conn_cb(srv, THRIFT_CONN_EVENT_REJECTED, h.id, h.peer,
                             srv->stopping ? THRIFT_CLOSE_STOP : THRIFT_CLOSE_MAX_CONNECTIONS,
                             srv->conn_ud);
            continue;
        }
        atomic_fetch_add(&srv->nconns, 1);
        worker_t *w = &srv->workers[srv->next_worker];
        srv->next_worker = (srv->next_worker + 1) % srv->nworkers;
        if (w->index == 0) {
            sconn_open(w, &h);
            continue;
        }
        pthread_mutex_lock(&w->mu);
        bool ok = true;
        if (w->ninbox == w->capinbox) {
            size_t cap = w->capinbox ? w->capinbox * 2 : 16;
            struct handoff *p = realloc(w->inbox, cap * sizeof *p);
            if (p) {
                w->inbox = p;
                w->capinbox = cap;
            } else {
                ok = false;
            }
        }
        if (ok)
            w->inbox[w->ninbox++] = h;
        pthread_mutex_unlock(&w->mu);
        if (!ok) {
            close(fd);
            atomic_fetch_sub(&srv->nconns, 1);
            if (srv->conn_cb)
                srv->conn_cb(srv, THRIFT_CONN_EVENT_REJECTED, h.id, h.peer, THRIFT_CLOSE_ERROR,
                             srv->conn_ud);
            continue;
        }
        ev_async_send(w->loop, &w->wake);
    }
}

/* ---- workers ------------------------------------------------------------------ */

static void worker_drain(worker_t *w) {
    w->stopping = true;
    for (sconn_t *c = w->conns, *next; c; c = next) {
        next = c->next;
        if (c->handshaking) {
            // No request read yet, nothing to answer: a flush would wait
            // for the handshake (never finished with reading stopped) and
            // hold the stop until the handshake timeout.
            sconn_close(c, THRIFT_CLOSE_STOP);
            continue;
        }
        c->reading_stopped = true;
        c->close_reason = THRIFT_CLOSE_STOP;
        ev_io_stop(w->loop, &c->rio);
        ev_timer_stop(w->loop, &c->backlog);
        if (c->inflight == 0)
            schedule_flush(c); // writes what is queued, then closes
    }
    worker_check_stopped(w);
}

static void server_check_stopped(thrift_rpc_server_t *srv);

static void worker_check_stopped(worker_t *w) {
    if (!w->stopping || w->nconns)
        return;
    if (w->index == 0) {
        server_check_stopped(w->srv);
    } else if (!atomic_exchange(&w->drained, true) && !w->exiting) {
        ev_async_send(w->srv->loop, &w->srv->drained);
    }
}

static void worker_wake_cb(struct ev_loop *loop, ev_async *a, int revents) {
    (void)revents;
    worker_t *w = a->data;
    // Drain the whole inbox: one wake-up may stand for many sends.
    for (;;) {
        struct handoff h = {-1, 0, 0, "", false, false, false};
        pthread_mutex_lock(&w->mu);
        if (w->ninbox)
            h = w->inbox[--w->ninbox];
        unsigned cmds = h.fd < 0 ? w->cmds : 0;
        if (h.fd < 0)
            w->cmds = 0;
        pthread_mutex_unlock(&w->mu);
        if (h.fd >= 0) {
            sconn_open(w, &h);
            continue;
        }
        if (cmds & CMD_EXIT) {
            w->exiting = true;
            while (w->conns)
                sconn_close(w->conns, THRIFT_CLOSE_STOP);
            worker_drop_dirty(w);
            ev_async_stop(loop, &w->wake);
            ev_break(loop, EVBREAK_ALL);
        } else if (cmds & CMD_STOP) {
            worker_drain(w);
        }
        return;
    }
}

static void *worker_main(void *arg) {
    worker_t *w = arg;
    ev_run(w->loop, 0);
    return NULL;
}

static void worker_send(worker_t *w, unsigned cmd) {
    pthread_mutex_lock(&w->mu);
    w->cmds |= cmd;
    pthread_mutex_unlock(&w->mu);
    ev_async_send(w->loop, &w->wake);
}

static void drained_cb(struct ev_loop *loop, ev_async *a, int revents) {
    (void)loop;
    (void)revents;
    server_check_stopped(a->data);
}

/* Starts workers 1..threads-1 (on the first listen). */
static thrift_status_t start_workers(thrift_rpc_server_t *srv, thrift_error_t *err) {
    unsigned n = srv->threads;
    srv->workers_started = true;
    if (n == 1)
        return THRIFT_OK;
    // Worker 0 has no connection yet (this is the first listen), so the
    // array may move.
    worker_t *ws = calloc(n, sizeof *ws);
    if (!ws)
        return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
    ws[0] = *srv->workers;
    free(srv->workers);
    srv->workers = ws;
    worker_init_flush(&ws[0]); // its watcher pointed at the old copy
    ev_async_init(&srv->drained, drained_cb);
    srv->drained.data = srv;
    ev_async_start(srv->loop, &srv->drained);
    ev_unref(srv->loop); // it alone must not keep the caller's loop running
    // Workers take no signals: those belong to the caller's thread.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    thrift_status_t st = THRIFT_OK;
    for (unsigned i = 1; i < n; i++) {
        worker_t *w = &ws[i];
        w->srv = srv;
        w->index = i;
        w->loop = ev_loop_new(EVFLAG_AUTO);
        if (!w->loop) {
            st = thrift__error_set(err, THRIFT_NOMEM, "cannot create a loop for worker %u", i);
            break;
        }
        pthread_mutex_init(&w->mu, NULL);
        worker_init_flush(w);
        ev_async_init(&w->wake, worker_wake_cb);
        w->wake.data = w;
        ev_async_start(w->loop, &w->wake);
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            pthread_mutex_destroy(&w->mu);
            ev_loop_destroy(w->loop);
            w->loop = NULL;
            st = thrift__error_set(err, THRIFT_NOMEM, "cannot start worker thread %u", i);
            break;
        }
        w->started = true;
        srv->nworkers = i + 1;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return st;
}

static void worker_free(worker_t *w) {
    if (w->started) {
        worker_send(w, CMD_EXIT);
        pthread_join(w->thread, NULL);
        for (size_t i = 0; i < w->ninbox; i++) {
            close(w->inbox[i].fd);
            atomic_fetch_sub(&w->srv->nconns, 1);
        }
        free(w->inbox);
        pthread_mutex_destroy(&w->mu);
        ev_loop_destroy(w->loop);
    }
    free_tombstones(w);
    for (size_t i = 0; i < w->nspare; i++)
        thrift_arena_free(w->spare_arenas[i]);
}

/* ---- server ------------------------------------------------------------------ */

thrift_rpc_server_t *thrift_rpc_server_new(struct ev_loop *loop, thrift_schema_t *schema,
                                           const thrift_conn_options_t *opts, thrift_error_t *err) {
    if (!loop || !schema) {
        thrift__error_set(err, THRIFT_MISUSE, "loop and schema are required");
        return NULL;
    }
    thrift_rpc_server_t *srv = calloc(1, sizeof *srv);
    thrift_arena_t *a = srv ? thrift_arena_new(NULL) : NULL;
    if (!a) {
        free(srv);
        thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        return NULL;
    }
    srv->loop = loop;
    srv->schema = thrift_schema_ref(schema);
    srv->arena = a;
    thrift__strmap_init(&srv->handlers, a);
    if (opts)
        srv->opts = *opts;
    else
        thrift__conn_options_defaults(&srv->opts);
    srv->threads = 1;
    srv->workers = calloc(1, sizeof *srv->workers);
    if (!srv->workers) {
        thrift_rpc_server_free(srv);
        thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        return NULL;
    }
    ev_timer_init(&srv->accept_retry, accept_retry_cb, ACCEPT_RETRY_SECONDS, 0.);
    srv->accept_retry.data = srv;
    srv->workers[0].srv = srv;
    srv->workers[0].loop = loop;
    worker_init_flush(&srv->workers[0]);
    srv->nworkers = 1;
    return srv;
}

static thrift_status_t add_handler(thrift_rpc_server_t *srv, const char *service,
                                   const char *mux_name, const char *method, thrift_handler_cb cb,
                                   thrift_json_handler_cb json_cb, void *ud, thrift_error_t *err) {
    if (!srv || !method || (!cb && !json_cb))
        return thrift__error_set(err, THRIFT_MISUSE, "server, method and handler are required");
    // Worker threads read the handler table without a lock.
    if (srv->nworkers > 1)
        return thrift__error_set(err, THRIFT_MISUSE,
                                 "register handlers before listening when serving on threads");
    const thrift_service_def_t *svc = thrift__schema_service_or_default(srv->schema, service, err);
    if (!svc)
        return THRIFT_NOT_FOUND;
    const thrift_function_def_t *fn = thrift_service_def_find_function(svc, method);
    if (!fn)
        return thrift__error_set(err, THRIFT_NOT_FOUND, "service %s has no method '%s'", svc->name,
                                 method);
    handler_t *h = thrift__arena_zalloc(srv->arena, sizeof *h);
    char *full = thrift__arena_printf(srv->arena, "%s:%s", mux_name ? mux_name : svc->name,
                                      fn->name);
    if (!h || !full)
        return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
    h->service = svc;
    h->fn = fn;
    h->cb = cb;
    h->json_cb = json_cb;
    h->ud = ud;
    bool oom = false;
    void *old = NULL;
    if (!thrift__strmap_put(&srv->handlers, full, strlen(full), h, &old, &oom)) {
        if (oom)
            return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        *(handler_t *)old = *h; // re-registering replaces
    }
    // The bare name goes to the first service that registers it, so a
    // plain (non-multiplexed) client reaches it too.
    (void)thrift__strmap_put(&srv->handlers, fn->name, fn->name_len, h, NULL, &oom);
    if (oom)
        return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
    return THRIFT_OK;
}

thrift_status_t thrift_rpc_server_handle(thrift_rpc_server_t *srv, const char *service,
                                         const char *method, thrift_handler_cb cb, void *ud,
                                         thrift_error_t *err) {
    return add_handler(srv, service, NULL, method, cb, NULL, ud, err);
}

thrift_status_t thrift_rpc_server_handle_as(thrift_rpc_server_t *srv, const char *service,
                                            const char *mux_name, const char *method,
                                            thrift_handler_cb cb, void *ud, thrift_error_t *err) {
    if (mux_name && (!*mux_name || strchr(mux_name, ':')))
        return thrift__error_set(err, THRIFT_MISUSE,
                                 "a multiplexed name is not empty and has no ':'");
    return add_handler(srv, service, mux_name, method, cb, NULL, ud, err);
}

thrift_status_t thrift_rpc_server_handle_json(thrift_rpc_server_t *srv, const char *service,
                                              const char *method, thrift_json_handler_cb cb,
                                              void *ud, thrift_error_t *err) {
    return add_handler(srv, service, NULL, method, NULL, cb, ud, err);
}

void thrift_rpc_server_set_max_connections(thrift_rpc_server_t *srv, size_t max) {
    if (srv)
        srv->max_conns = max;
}

void thrift_rpc_server_set_threads(thrift_rpc_server_t *srv, unsigned n) {
    // Fixed once the first listen has started the workers.
    if (srv && !srv->workers_started)
        srv->threads = n == 0 ? 1 : n > 256 ? 256 : n;
}

/* Serves the listening socket `fd`, owned from here on success (closed
 * with the server; `unix_path`, or NULL, is unlinked then). */
static thrift_status_t add_listener(thrift_rpc_server_t *srv, int fd, bool tls, bool http,
                                    const char *unix_path, thrift_error_t *err) {
    thrift_status_t st;
    if (!srv->workers_started && (st = start_workers(srv, err)) != THRIFT_OK)
        return st;
    listener_t *l = &srv->listeners[srv->nlisteners++];
    memset(l, 0, sizeof *l);
    l->fd = fd;
    l->srv = srv;
    l->port = thrift__sock_port(fd);
    l->tls = tls;
    l->http = http;
    if (unix_path)
        snprintf(l->unix_path, sizeof l->unix_path, "%s", unix_path);
    ev_io_init(&l->io, accept_cb, fd, EV_READ);
    ev_io_start(srv->loop, &l->io);
    return THRIFT_OK;
}

thrift_status_t thrift_rpc_server_listen(thrift_rpc_server_t *srv, const char *address,
                                         thrift_error_t *err) {
    if (!srv || !address)
        return thrift__error_set(err, THRIFT_MISUSE, "server and address are required");
    if (srv->nlisteners == MAX_LISTENERS)
        return thrift__error_set(err, THRIFT_LIMIT, "too many listeners");
    if (srv->stopping)
        return thrift__error_set(err, THRIFT_MISUSE, "the server is stopping");
    thrift__addr_t addr;
    thrift_status_t st = thrift__addr_parse(address, true, &addr, err);
    if (st)
        return st;
    bool http = addr.scheme == THRIFT__SCHEME_HTTP || addr.scheme == THRIFT__SCHEME_HTTPS;
    bool tls = srv->opts.tls || addr.scheme == THRIFT__SCHEME_TLS ||
               addr.scheme == THRIFT__SCHEME_HTTPS;
    // Workers read srv->tls without a lock: it is made before the first
    // listener hands out a connection, and never changes after.  A server
    // with a certificate and key also takes TLS on its plain listeners
    // (recognized by the first byte) unless a framing is pinned.
    bool sniff = !tls && !http && srv->opts.tls_cert[0] && srv->opts.tls_key[0] &&
                 thrift__server_framing(&srv->opts) == THRIFT_FRAMING_AUTO;
    if ((tls || sniff) && !srv->tls && !(srv->tls = thrift__tls_ctx_new(&srv->opts, true, err)))
        return err && err->code ? err->code : THRIFT_TRANSPORT;
    int fd = thrift__sock_listen(&addr, false, err);
    if (fd < 0)
        return THRIFT_TRANSPORT;
    st = add_listener(srv, fd, tls, http, addr.family == AF_UNIX ? address + 5 : NULL, err);
    if (st != THRIFT_OK)
        close(fd);
    return st;
}

thrift_status_t thrift_rpc_server_listen_fd(thrift_rpc_server_t *srv, int fd, thrift_error_t *err) {
    if (!srv || fd < 0)
        return thrift__error_set(err, THRIFT_MISUSE, "server and socket are required");
    if (srv->nlisteners == MAX_LISTENERS)
        return thrift__error_set(err, THRIFT_LIMIT, "too many listeners");
    if (srv->stopping)
        return thrift__error_set(err, THRIFT_MISUSE, "the server is stopping");
    int listening = 0;
    socklen_t len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || !listening)
        return thrift__error_set(err, THRIFT_MISUSE, "fd %d is not a listening socket", fd);
    // As thrift_rpc_server_listen's plain listeners: TLS recognized by its
    // first byte when the server has a certificate and key.
    bool sniff = srv->opts.tls_cert[0] && srv->opts.tls_key[0] &&
                 thrift__server_framing(&srv->opts) == THRIFT_FRAMING_AUTO;
    if (sniff && !srv->tls && !(srv->tls = thrift__tls_ctx_new(&srv->opts, true, err)))
        return err && err->code ? err->code : THRIFT_TRANSPORT;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return thrift__error_set(err, THRIFT_TRANSPORT, "fd %d: %s", fd, strerror(errno));
    return add_listener(srv, fd, false, false, NULL, err);
}

int thrift_rpc_server_port(const thrift_rpc_server_t *srv) {
    if (!srv)
        return 0;
    for (size_t i = 0; i < srv->nlisteners; i++)
        if (srv->listeners[i].port)
            return srv->listeners[i].port;
    return 0;
}

size_t thrift_rpc_server_connection_count(const thrift_rpc_server_t *srv) {
    return srv ? atomic_load(&((thrift_rpc_server_t *)srv)->nconns) : 0;
}

void thrift_rpc_server_busy_poll_stats(const thrift_rpc_server_t *srv, uint64_t *spun,
                                       uint64_t *caught) {
    uint64_t s = 0, c = 0;
    for (unsigned i = 0; srv && i < srv->nworkers; i++) {
        worker_t *w = &srv->workers[i];
        s += atomic_load_explicit(&w->spins, memory_order_relaxed);
        c += atomic_load_explicit(&w->spins_caught, memory_order_relaxed);
    }
    if (spun)
        *spun = s;
    if (caught)
        *caught = c;
}

void thrift_rpc_server_set_conn_cb(thrift_rpc_server_t *srv, thrift_rpc_server_conn_cb cb,
                                   void *ud) {
    // Worker threads read it without a lock: fixed once they run.
    if (srv && !srv->workers_started) {
        srv->conn_cb = cb;
        srv->conn_detail_cb = NULL;
        srv->conn_ud = ud;
    }
}

/* The detail callback rides on the plain one, so the event sites stay as
 * they are: the closing connection's detail reaches it through
 * tls_close_detail, set around the call on the connection's thread. */
static void conn_cb_with_detail(thrift_rpc_server_t *srv, thrift_conn_event_t event, uint64_t id,
                                const char *peer, thrift_close_reason_t why, void *ud) {
    srv->conn_detail_cb(srv, event, id, peer, why, tls_close_detail ? tls_close_detail : "",
                        ud);
}

void thrift_rpc_server_set_conn_detail_cb(thrift_rpc_server_t *srv,
                                          thrift_rpc_server_conn_detail_cb cb, void *ud) {
    if (srv && !srv->workers_started) {
        srv->conn_cb = cb ? conn_cb_with_detail : NULL;
        srv->conn_detail_cb = cb;
        srv->conn_ud = ud;
    }
}

const char *thrift_close_reason_str(thrift_close_reason_t why) {
    switch (why) {
    case THRIFT_CLOSE_NONE: return "open";
    case THRIFT_CLOSE_PEER: return "closed by the peer";
    case THRIFT_CLOSE_IDLE: return "idle timeout";
    case THRIFT_CLOSE_PROTOCOL: return "protocol error";
    case THRIFT_CLOSE_STOP: return "server stopping";
    case THRIFT_CLOSE_ERROR: return "socket error or out of memory";
    case THRIFT_CLOSE_MAX_CONNECTIONS: return "too many connections";
    case THRIFT_CLOSE_READ_TIMEOUT: return "read timeout inside a partial message";
    case THRIFT_CLOSE_NO_DESCRIPTORS:
        return "accept failed: out of file descriptors or memory; accepting paused";
    case THRIFT_CLOSE_HANDSHAKE: return "TLS handshake failed or timed out";
    }
    return "unknown";
}

size_t thrift_rpc_server_buffer_bytes(const thrift_rpc_server_t *srv) {
    return srv ? atomic_load(&((thrift_rpc_server_t *)srv)->buf_bytes) : 0;
}

size_t thrift_rpc_server_held_requests(const thrift_rpc_server_t *srv) {
    return srv ? atomic_load(&((thrift_rpc_server_t *)srv)->nheld) : 0;
}

size_t thrift_rpc_server_cancelled_requests(const thrift_rpc_server_t *srv) {
    return srv ? atomic_load(&((thrift_rpc_server_t *)srv)->ntombstones) : 0;
}

unsigned thrift_rpc_server_threads(const thrift_rpc_server_t *srv) {
    return srv ? (srv->workers_started ? srv->nworkers : srv->threads) : 0;
}

static void close_listeners(thrift_rpc_server_t *srv) {
    ev_timer_stop(srv->loop, &srv->accept_retry);
    for (size_t i = 0; i < srv->nlisteners; i++) {
        listener_t *l = &srv->listeners[i];
        if (l->fd >= 0) {
            ev_io_stop(srv->loop, &l->io);
            close(l->fd);
            l->fd = -1;
            if (l->unix_path[0])
                (void)unlink(l->unix_path);
        }
    }
}

static void done_timer_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    thrift_rpc_server_t *srv = w->data;
    thrift_rpc_server_done_cb cb = srv->done_cb;
    srv->done_cb = NULL;
    if (cb)
        cb(srv, srv->done_ud);
}

/* On the caller's loop: done once every worker has drained. */
static void server_check_stopped(thrift_rpc_server_t *srv) {
    if (!srv->stopping || srv->workers[0].nconns)
        return;
    for (unsigned i = 1; i < srv->nworkers; i++)
        if (!atomic_load(&srv->workers[i].drained))
            return;
    if (srv->done_cb && !ev_is_active(&srv->done_timer)) {
        ev_timer_init(&srv->done_timer, done_timer_cb, 0., 0.);
        srv->done_timer.data = srv;
        ev_timer_start(srv->loop, &srv->done_timer);
    }
}

static void run_stop_hook(thrift_rpc_server_t *srv) {
    void (*hook)(void *) = srv->stop_hook;
    srv->stop_hook = NULL;
    if (hook)
        hook(srv->stop_hook_ud);
}

void thrift__rpc_server_set_stop_hook(thrift_rpc_server_t *srv, void (*hook)(void *ud), void *ud) {
    run_stop_hook(srv); // a replaced hook still runs: what it guards ends here
    srv->stop_hook = hook;
    srv->stop_hook_ud = ud;
}

struct ev_loop *thrift__rpc_server_loop(const thrift_rpc_server_t *srv) { return srv->loop; }

void thrift_rpc_server_stop(thrift_rpc_server_t *srv, thrift_rpc_server_done_cb done, void *ud) {
    if (!srv)
        return;
    run_stop_hook(srv);
    srv->done_cb = done;
    srv->done_ud = ud;
    if (srv->stopping) {
        server_check_stopped(srv);
        return;
    }
    srv->stopping = true;
    close_listeners(srv);
    for (unsigned i = 1; i < srv->nworkers; i++)
        worker_send(&srv->workers[i], CMD_STOP);
    worker_drain(&srv->workers[0]);
}

void thrift_rpc_server_free(thrift_rpc_server_t *srv) {
    if (!srv)
        return;
    run_stop_hook(srv);
    close_listeners(srv);
    srv->done_cb = NULL;
    if (srv->workers) {
        // Worker threads close their own connections, then exit.
        for (unsigned i = 1; i < srv->nworkers; i++)
            worker_free(&srv->workers[i]);
        worker_t *w0 = &srv->workers[0];
        w0->stopping = false;
        while (w0->conns)
            sconn_close(w0->conns, THRIFT_CLOSE_STOP);
        worker_drop_dirty(w0);
        worker_free(w0);
        if (ev_is_active(&srv->drained)) {
            ev_ref(srv->loop);
            ev_async_stop(srv->loop, &srv->drained);
        }
        free(srv->workers);
    }
    if (ev_is_active(&srv->done_timer))
        ev_timer_stop(srv->loop, &srv->done_timer);
    thrift__tls_ctx_free(srv->tls);
    thrift_arena_free(srv->arena);
    thrift_schema_unref(srv->schema);
    free(srv);
}
