/* `dynthrift bench`: a wrk for Thrift.  C connections on one libev loop,
 * each keeping P calls in flight (or following a fixed --rate), latencies
 * in a log-bucketed histogram.
 *
 * The per-call path is kept tiny on purpose: the request is encoded once;
 * each call writes a small per-seqid header (binary, compact and JSON) in
 * front of the same body bytes, and a reply is read only as far as its
 * header and the first field id of the result (success or exception)
 * unless --verify asks for a full decode.  Sockets are driven directly (not
 * through thrift_conn), so the bench measures the server, not a client
 * library. */
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <linux/tcp.h> /* TCP_NODELAY; tcp_info with the byte counters */
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#include "cli.h"
#include "cli_cluster.h"
#include "cli_latency.h"
#include "cli_net.h"
#include "cli_util.h"
#include "dynthrift/json.h"
#include "dynthrift/net.h"
#include "net/net_impl.h" /* the library's address parser and transport stack */
#include "net/stream.h"

static const char bench_usage[] =
    "usage: dynthrift bench [-I DIR]... FILE SERVICE.METHOD [ARGS_JSON] --addr ADDR [options]\n"
    "\n"
    "Load-tests METHOD on the Thrift server at ADDR (any server: Apache's, thriftpy's,\n"
    "dynthrift's) and reports calls/s, latency percentiles, bytes and errors.\n"
    "ARGS_JSON (by name or position, '-' for stdin, @FILE) is encoded once and sent for\n"
    "every call.\n"
    "\n"
    "options:\n"
    "  --addr HOST:PORT | unix:PATH   the server (required); also tls://HOST:PORT and\n"
    "                                 http(s)://HOST:PORT/PATH (a POST per call, keep-alive,\n"
    "                                 -p calls pipelined once the server keeps the\n"
    "                                 connection open; HTTP/1.0 servers: one call per\n"
    "                                 connection, reconnecting)\n"
    "  -c, --connections N            connections (default 1)\n"
    "  -p, --pipeline N               calls in flight per connection (default 1)\n"
    "  -d, --duration SECONDS         measure this long (default 10)\n"
    "  -n, --calls N                  or: measure exactly N calls\n"
    "  --rate N                       send N calls/s in all (open loop; latency counts\n"
    "                                 from when each call was due, so a stalled server\n"
    "                                 shows up in the percentiles)\n"
    "  --warmup SECONDS               run this long first without measuring\n"
    "  --timeout MS                   a call unanswered this long is an error\n"
    "  --verify                       decode every reply in full (slower)\n"
    "  --framed | --buffered          transport (default framed)\n"
    "  --protocol binary|compact|json protocol (default binary)\n"
    "  --multiplex NAME               TMultiplexedProtocol service name\n"
    "  --ignore-unknown               skip ARGS_JSON names that are no argument\n"
    "  --json                         print the report as JSON (one line)\n"
    "  --pretty                       --json: indented\n"
    "  --latency                      add the latency distribution (as wrk --latency)\n"
    "  --fail-on-error                exit 1 when any call failed\n"
    "  --max-p99 MS                   exit 1 when the p99 latency is above MS\n"
    "  -I DIR                         add an include directory\n"
    "\n"
    "Progress goes to stderr when it is a terminal; the report to stdout.  Ctrl-C\n"
    "(SIGINT) stops the run and prints the report of what was measured so far.\n"
    "A oneway method's call is done when written (no reply comes); its latency is\n"
    "the time to write it.\n"
    "Latencies: an HDR-style histogram (log buckets, 128 per power of two: < 0.8%\n"
    "error).  calls = successes + errors; errors by kind: app_exception,\n"
    "declared_exception, timeout, closed, protocol; failed connects are counted\n"
    "apart (connect_errors).  The first error message of each kind is shown.\n"
    "bytes: what bench wrote and read at the top of the transport stack (before\n"
    "zlib and TLS); wire_bytes (TCP only): what TCP carried, acknowledged and\n"
    "received (TCP_INFO), where zlib's saving and TLS's overhead show.\n"
    "exit codes: 0 report printed and some call succeeded, 1 no call succeeded or a\n"
    "--fail-on-error / --max-p99 check failed, 3 the server could not be reached\n"
    "(nothing succeeded), 64 bad usage, 65 bad input.\n";

/* ---- state ------------------------------------------------------------------ */

enum {
    ERR_APP,
    ERR_DECLARED,
    ERR_TIMEOUT,
    ERR_CLOSED,
    ERR_PROTOCOL,
    ERR_KINDS
};
static const char *const err_names[ERR_KINDS] = {"app_exception", "declared_exception",
                                                 "timeout", "closed", "protocol"};

typedef struct bench bench_t;

typedef struct slot {
    int32_t seqid;
    bool busy;
    bool measured;
    uint64_t t0; /* ns: sent (or due, with --rate) */
} slot_t;

typedef struct bconn {
    bench_t *b;
    int fd;
    bool connected;
    bool opened; /* the stream's layers (TLS) are open */
    thrift__stream_t stream;
    ev_io rio, wio;
    ev_timer retry;
    uint8_t *out;
    size_t outlen, outoff, outcap;
    uint8_t *in;
    size_t inlen, instart, incap;
    int32_t next_seqid;
    slot_t *slots; /* ring, indexed by seqid & mask */
    uint32_t mask;
    uint32_t inflight;
    /* oneway: calls queued in `out` and not yet written; done when written */
    uint32_t ow_batch;
    bool ow_measured;
    uint64_t ow_t0;
    /* HTTP: replies go through the library's reader (http.c: status,
     * chunked bodies, 100 Continue, keep-alive) instead of `in` */
    thrift__wire_reader_t reader;
    bool http_persistent; /* the server kept the connection open: pipeline */
    /* the kernel's byte counts of this socket when measuring began (0 for
     * a socket connected since) */
    uint64_t wire_base_sent, wire_base_received;
} bconn_t;

struct bench {
    struct ev_loop *loop;
    cli_net_opts_t net;
    thrift_protocol_t proto;
    bool framed;
    bool header; /* THeader frames (framed is then true too) */
    bool http;   /* http:// or https://: each call a POST (http.c dresses it) */
    thrift__http_out_t http_out;
    char http_host[280];
    uint8_t *http_head; /* the head http.c wrote for a body of http_head_body bytes */
    size_t http_head_len, http_head_body;
    thrift_buffer_t *http_scratch;
    bool oneway;
    bool verify;
    const thrift_function_def_t *fn;
    thrift_codec_options_t codec;
    /* the request */
    char name[300];
    size_t name_len;
    uint8_t *body; /* encoded args + message end */
    size_t body_len;
    bool fast_header; /* our header writer matches the library's */
    const thrift_value_t *args;
    thrift_buffer_t *scratch;
    thrift_arena_t *verify_arena;
    /* connection set-up */
    struct sockaddr_storage sa;
    socklen_t salen;
    thrift__addr_t addr;
    thrift_conn_options_t *co; /* the transport stack's options */
    thrift__tls_ctx_t *tls;
    bconn_t *conns;
    unsigned nconns;
    unsigned pipeline;
    unsigned rr;
    /* schedule */
    double duration_s, warmup_s;
    uint64_t ncalls; /* 0: by duration */
    double rate;
    uint64_t t_start, t_measure, t_end; /* ns */
    uint64_t issued_total;              /* calls sent (rate schedule) */
    uint64_t issued_measured;
    bool measuring, sending, finished;
    ev_timer phase_timer, tick, progress;
    ev_signal sigint;
    bool interrupted;
    bool tty;
    uint32_t timeout_ms;
    /* results */
    cli_hist_t hist;
    uint64_t successes, errors[ERR_KINDS];
    uint64_t bytes_sent, bytes_received;
    /* bytes on the wire, after TLS and zlib, as TCP counted them (acked
     * and received; TCP_INFO); wire_ok false for Unix sockets */
    uint64_t wire_sent, wire_received;
    bool wire_ok;
    uint64_t connect_errors; /* failed connects: not calls, counted apart */
    char first_error[ERR_KINDS][200]; /* the first message of each kind */
    char first_connect_error[200];
    uint64_t prog_last_calls;
    uint64_t t_last_progress;
    bool ever_connected;
};

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t completed(const bench_t *b) {
    uint64_t n = b->successes;
    for (int k = 0; k < ERR_KINDS; k++)
        n += b->errors[k];
    return n;
}

/* ---- request bytes ------------------------------------------------------------- */

static size_t put_varint(uint8_t *p, uint32_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Writes the message header for `seqid` into p (room: name_len + 32). */
static size_t write_header(const bench_t *b, int32_t seqid, uint8_t *p) {
    uint32_t type = b->oneway ? THRIFT_MSG_ONEWAY : THRIFT_MSG_CALL;
    size_t n = 0;
    switch (b->proto) {
    case THRIFT_PROTO_BINARY: {
        uint32_t w = 0x80010000u | type;
        uint32_t l = (uint32_t)b->name_len, s = (uint32_t)seqid;
        uint8_t h[8] = {(uint8_t)(w >> 24), (uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w,
                        (uint8_t)(l >> 24), (uint8_t)(l >> 16), (uint8_t)(l >> 8), (uint8_t)l};
        memcpy(p, h, 8);
        memcpy(p + 8, b->name, b->name_len);
        n = 8 + b->name_len;
        p[n++] = (uint8_t)(s >> 24);
        p[n++] = (uint8_t)(s >> 16);
        p[n++] = (uint8_t)(s >> 8);
        p[n++] = (uint8_t)s;
        return n;
    }
    case THRIFT_PROTO_COMPACT:
        p[n++] = 0x82;
        p[n++] = (uint8_t)((type << 5) | 1);
        n += put_varint(p + n, (uint32_t)seqid);
        n += put_varint(p + n, (uint32_t)b->name_len);
        memcpy(p + n, b->name, b->name_len);
        return n + b->name_len;
    default:
        return (size_t)sprintf((char *)p, "[1,\"%s\",%u,%ld,", b->name, type, (long)seqid);
    }
}

/* Encodes the request once; checks our header writer against the
 * library's for two seqids, so a mismatch falls back to full encoding. */
static int prepare_request(bench_t *b, thrift_error_t *err) {
    thrift_buffer_t *buf = thrift_buffer_new();
    if (!buf)
        return CLI_EXIT_SOFTWARE;
    thrift_message_type_t type = b->oneway ? THRIFT_MSG_ONEWAY : THRIFT_MSG_CALL;
    if (thrift_encode_message(b->proto, b->name, b->name_len, type, 0, b->args, buf, err)) {
        thrift_buffer_free(buf);
        return CLI_EXIT_DATA;
    }
    thrift_message_header_t hdr;
    size_t hlen = 0;
    if (thrift_decode_message_header(b->proto, thrift_buffer_data(buf), thrift_buffer_len(buf),
                                     &b->codec, &hdr, &hlen, err)) {
        thrift_buffer_free(buf);
        return CLI_EXIT_SOFTWARE;
    }
    b->body_len = thrift_buffer_len(buf) - hlen;
    b->body = malloc(b->body_len ? b->body_len : 1);
    if (!b->body) {
        thrift_buffer_free(buf);
        return CLI_EXIT_SOFTWARE;
    }
    memcpy(b->body, thrift_buffer_data(buf) + hlen, b->body_len);
    b->fast_header = true;
    const int32_t probes[] = {0, 1234567, -5};
    for (size_t i = 0; i < 3 && b->fast_header; i++) {
        thrift_buffer_clear(buf);
        uint8_t h[400];
        size_t n = write_header(b, probes[i], h);
        if (thrift_encode_message(b->proto, b->name, b->name_len, type, probes[i], b->args, buf,
                                  err) ||
            thrift_buffer_len(buf) != n + b->body_len ||
            memcmp(thrift_buffer_data(buf), h, n) ||
            memcmp(thrift_buffer_data(buf) + n, b->body, b->body_len))
            b->fast_header = false;
    }
    thrift_error_clear(err);
    thrift_buffer_free(buf);
    return 0;
}

/* ---- connections ----------------------------------------------------------------- */

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents);
static void fill(bench_t *b, bconn_t *c);
static void issue(bench_t *b);
static void finish(bench_t *b);
static void maybe_done(bench_t *b);

static bool budget_left(const bench_t *b);

static void count_error(bench_t *b, bool measured, int kind) {
    if (measured)
        b->errors[kind]++;
}

/* Keeps the first message of each kind of error for the report (errors in
 * the warm-up count too: they say the same thing). */
static void note_error(bench_t *b, int kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void note_error(bench_t *b, int kind, const char *fmt, ...) {
    if (b->first_error[kind][0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->first_error[kind], sizeof b->first_error[kind], fmt, ap);
    va_end(ap);
}

/* A oneway batch is done once all of it has been written. */
static void oneway_written(bconn_t *c) {
    bench_t *b = c->b;
    if (!c->ow_batch)
        return;
    if (c->ow_measured) {
        uint64_t t = now_ns(), lat = t > c->ow_t0 ? t - c->ow_t0 : 0;
        b->successes += c->ow_batch;
        for (uint32_t i = 0; i < c->ow_batch; i++)
            cli_hist_add(&b->hist, lat);
    }
    c->ow_batch = 0;
}

/* The kernel's counts of bytes sent (and acknowledged) and received on fd. */
static bool wire_bytes(int fd, uint64_t *sent, uint64_t *received) {
    struct tcp_info ti;
    socklen_t l = sizeof ti;
    memset(&ti, 0, sizeof ti);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0 ||
        l < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof ti.tcpi_bytes_received)
        return false;
    *sent = ti.tcpi_bytes_acked;
    *received = ti.tcpi_bytes_received;
    return true;
}

/* Adds what `c`'s socket carried since measuring began (or since it
 * connected) to the wire totals. */
static void wire_account(bconn_t *c) {
    bench_t *b = c->b;
    uint64_t s = 0, r = 0;
    if (!b->wire_ok || c->fd < 0 || !c->connected || !wire_bytes(c->fd, &s, &r))
        return;
    b->wire_sent += s - c->wire_base_sent;
    b->wire_received += r - c->wire_base_received;
    c->wire_base_sent = s;
    c->wire_base_received = r;
}

static void conn_break(bconn_t *c, int kind) {
    bench_t *b = c->b;
    if (b->measuring)
        wire_account(c);
    if (c->fd >= 0) {
        ev_io_stop(b->loop, &c->rio);
        ev_io_stop(b->loop, &c->wio);
        thrift__stream_free(&c->stream);
        close(c->fd);
        c->fd = -1;
    }
    c->connected = c->opened = false;
    c->http_persistent = false;
    thrift__wire_reader_reset(&c->reader);
    for (uint32_t i = 0; i <= c->mask; i++)
        if (c->slots[i].busy) {
            c->slots[i].busy = false;
            count_error(b, c->slots[i].measured, kind);
        }
    if (c->ow_batch && c->ow_measured)
        b->errors[kind] += c->ow_batch;
    c->ow_batch = 0;
    c->inflight = 0;
    c->outlen = c->outoff = 0;
    c->inlen = c->instart = 0;
    if (!b->finished && b->sending) {
        ev_timer_set(&c->retry, 0.1, 0.);
        ev_timer_start(b->loop, &c->retry);
    }
    maybe_done(b);
}

static bool conn_flush(bconn_t *c) {
    bench_t *b = c->b;
    if (!c->opened)
        return true;
    size_t n = 0;
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_status_t st = thrift__stream_send(&c->stream, c->out + c->outoff, c->outlen - c->outoff,
                                             &n, &err);
    c->outoff += n;
    if (b->measuring)
        b->bytes_sent += (uint64_t)n;
    if (st == THRIFT_NEED_MORE) {
        // A TLS write that waits for input is retried by the next read.
        if (c->stream.want == THRIFT__WANT_WRITE)
            ev_io_start(b->loop, &c->wio);
        return true;
    }
    if (st) {
        note_error(b, ERR_CLOSED, "sending to %s: %s", b->net.addr, err.text);
        conn_break(c, ERR_CLOSED);
        return false;
    }
    c->outlen = c->outoff = 0;
    ev_io_stop(b->loop, &c->wio);
    oneway_written(c);
    return true;
}

static void conn_connect(bconn_t *c) {
    bench_t *b = c->b;
    int fd = socket(b->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        b->connect_errors++;
        conn_break(c, ERR_CLOSED);
        return;
    }
    if (b->sa.ss_family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (thrift__stream_init(&c->stream, fd, b->co, b->tls, b->addr.host, NULL)) {
        close(fd);
        b->connect_errors++;
        conn_break(c, ERR_CLOSED);
        return;
    }
    c->fd = fd;
    c->wire_base_sent = c->wire_base_received = 0;
    int r = connect(fd, (struct sockaddr *)&b->sa, b->salen);
    if (r < 0 && errno != EINPROGRESS) {
        b->connect_errors++;
        conn_break(c, ERR_CLOSED);
        return;
    }
    ev_io_set(&c->rio, fd, EV_READ);
    ev_io_set(&c->wio, fd, EV_WRITE);
    ev_io_start(b->loop, &c->rio);
    // Writability says the connect finished (or failed: SO_ERROR).
    ev_io_start(b->loop, &c->wio);
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    bconn_t *c = w->data;
    if (!c->b->finished && c->b->sending)
        conn_connect(c);
}

/* Opens the stream (a TLS handshake) on a connected socket: true once open
 * (and the first calls are queued). */
static bool conn_open(bconn_t *c) {
    bench_t *b = c->b;
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_status_t st = thrift__stream_open(&c->stream, &err);
    if (st == THRIFT_NEED_MORE) {
        if (c->stream.want == THRIFT__WANT_WRITE)
            ev_io_start(b->loop, &c->wio);
        else
            ev_io_stop(b->loop, &c->wio);
        return false;
    }
    if (st) {
        // A refused certificate will be refused again: no point retrying.
        bool settled = !b->ever_connected && strstr(err.text, "certificate");
        if (b->connect_errors++ == 0)
            fprintf(stderr, "dynthrift bench: %s: %s%s\n", b->net.addr, err.text,
                    settled ? "" : " (retrying every 0.1 s)");
        if (settled)
            finish(b);
        conn_break(c, ERR_CLOSED);
        return false;
    }
    c->opened = true;
    b->ever_connected = true;
    ev_io_stop(b->loop, &c->wio);
    if (b->rate > 0)
        issue(b);
    else
        fill(b, c);
    if (b->http && !budget_left(b) && c->inflight == 0 && c->outlen == 0) {
        // Made again after an HTTP/1.0 response while another connection
        // took the last call: an idle connection would hold up a
        // single-threaded server (Apache's Python THttpServer).
        conn_break(c, ERR_CLOSED);
        ev_timer_stop(b->loop, &c->retry);
        return false;
    }
    return true;
}

/* The non-blocking connect finished: true when it worked.  Either watcher
 * may see it first (a refused connect is readable and writable). */
static bool conn_check_connect(bconn_t *c) {
    bench_t *b = c->b;
    int e = 0;
    socklen_t l = sizeof e;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &l) < 0)
        e = errno;
    if (e) {
        if (b->connect_errors++ == 0) {
            fprintf(stderr, "dynthrift bench: connect to %s: %s (retrying every 0.1 s)\n",
                    b->net.addr, strerror(e));
            snprintf(b->first_connect_error, sizeof b->first_connect_error, "connect to %s: %s",
                     b->net.addr, strerror(e));
        }
        conn_break(c, ERR_CLOSED);
        return false;
    }
    c->connected = true;
    ev_io_stop(b->loop, &c->wio);
    return conn_open(c);
}

static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents) {
    (void)loop;
    (void)revents;
    bconn_t *c = w->data;
    bench_t *b = c->b;
    if (!c->connected) {
        conn_check_connect(c);
        return;
    }
    if (!c->opened) {
        conn_open(c);
        return;
    }
    conn_flush(c);
    if (b->oneway && c->fd >= 0 && c->outlen == 0)
        fill(b, c);
    maybe_done(b);
}

/* Puts the HTTP request head in front of the n message bytes queued at
 * c->out + c->outlen.  The head comes from http.c (thrift__http_wrap) and is
 * kept for the next call with a body of the same length. */
static bool http_dress(bench_t *b, bconn_t *c, size_t n) {
    uint8_t *p = c->out + c->outlen;
    if (!b->http_head || b->http_head_body != n) {
        thrift_error_t err;
        thrift__error_reset(&err);
        thrift_buffer_clear(b->http_scratch);
        if (thrift_buffer_append(b->http_scratch, p, n) ||
            thrift__http_wrap(b->http_scratch, 0, &b->http_out, &err))
            return false;
        size_t hl = thrift_buffer_len(b->http_scratch) - n;
        uint8_t *h = realloc(b->http_head, hl);
        if (!h)
            return false;
        memcpy(h, thrift_buffer_data(b->http_scratch), hl);
        b->http_head = h;
        b->http_head_len = hl;
        b->http_head_body = n;
    }
    if (c->outcap - c->outlen < n + b->http_head_len) {
        uint8_t *nb = realloc(c->out, c->outlen + n + b->http_head_len);
        if (!nb)
            return false;
        c->out = nb;
        c->outcap = c->outlen + n + b->http_head_len;
        p = c->out + c->outlen;
    }
    memmove(p + b->http_head_len, p, n);
    memcpy(p, b->http_head, b->http_head_len);
    return true;
}

/* Calls `c` may have in flight now: over HTTP one until the server has
 * shown it keeps the connection open (an HTTP/1.0 server such as Apache's
 * Python THttpServer closes after each response and would never read the
 * rest). */
static uint32_t conn_room(const bench_t *b, const bconn_t *c) {
    return b->http && !c->http_persistent ? 1 : b->pipeline;
}

/* Queues one call on `c`, due at `due` (ns). */
static bool send_call(bench_t *b, bconn_t *c, uint64_t due) {
    int32_t seqid = c->next_seqid++;
    if (c->next_seqid == INT32_MAX)
        c->next_seqid = 1;
    slot_t *s = &c->slots[(uint32_t)seqid & c->mask];
    if (s->busy) { // an old call still waits in this slot: count it lost
        note_error(b, ERR_TIMEOUT, "no reply while %u newer calls were answered", c->mask + 1);
        count_error(b, s->measured, ERR_TIMEOUT);
        c->inflight--;
    }
    size_t need = b->body_len + b->name_len + 64;
    if (c->outcap - c->outlen < need) {
        size_t cap = c->outcap ? c->outcap : 4096;
        while (cap - c->outlen < need)
            cap *= 2;
        uint8_t *nb = realloc(c->out, cap);
        if (!nb)
            return false;
        c->out = nb;
        c->outcap = cap;
    }
    uint8_t *p = c->out + c->outlen;
    // THeader: length, magic, flags, seqid, one header word (protocol id,
    // no transforms, padding), then the message.
    size_t frame = b->framed ? (b->header ? 18 : 4) : 0;
    size_t n;
    if (b->fast_header) {
        n = write_header(b, seqid, p + frame);
        memcpy(p + frame + n, b->body, b->body_len);
        n += b->body_len;
    } else {
        thrift_buffer_clear(b->scratch);
        if (thrift_encode_message(b->proto, b->name, b->name_len,
                                  b->oneway ? THRIFT_MSG_ONEWAY : THRIFT_MSG_CALL, seqid, b->args,
                                  b->scratch, NULL))
            return false;
        n = thrift_buffer_len(b->scratch);
        if (c->outcap - c->outlen < n + frame) {
            uint8_t *nb = realloc(c->out, c->outlen + n + frame);
            if (!nb)
                return false;
            c->out = nb;
            c->outcap = c->outlen + n + frame;
            p = c->out + c->outlen;
        }
        memcpy(p + frame, thrift_buffer_data(b->scratch), n);
    }
    if (b->http) {
        if (!http_dress(b, c, n))
            return false;
        p = c->out + c->outlen;
        n += b->http_head_len;
    }
    if (b->header) {
        uint8_t h[14] = {0x0f, 0xff, 0, 0, (uint8_t)((uint32_t)seqid >> 24),
                         (uint8_t)((uint32_t)seqid >> 16), (uint8_t)((uint32_t)seqid >> 8),
                         (uint8_t)seqid, 0, 1, b->proto == THRIFT_PROTO_COMPACT ? 2 : 0, 0, 0, 0};
        memcpy(p + 4, h, sizeof h);
        n += sizeof h; // the frame length counts the header
    }
    if (b->framed) {
        p[0] = (uint8_t)(n >> 24);
        p[1] = (uint8_t)(n >> 16);
        p[2] = (uint8_t)(n >> 8);
        p[3] = (uint8_t)n;
    }
    c->outlen += n + (b->framed ? 4 : 0);
    b->issued_total++;
    if (b->measuring)
        b->issued_measured++;
    if (b->oneway) {
        // No reply will come: a oneway call is done once written
        // (oneway_written), its latency the time that took.
        if (!c->ow_batch) {
            c->ow_t0 = due ? due : now_ns();
            c->ow_measured = b->measuring;
        }
        c->ow_batch++;
        return true;
    }
    s->busy = true;
    s->seqid = seqid;
    s->measured = b->measuring;
    s->t0 = due ? due : now_ns();
    c->inflight++;
    return true;
}

/* May another call start now? */
static bool budget_left(const bench_t *b) {
    if (!b->sending)
        return false;
    if (b->ncalls && b->measuring && b->issued_measured >= b->ncalls)
        return false;
    return true;
}

/* Closed loop: keep `pipeline` calls in flight on `c`. */
static void fill(bench_t *b, bconn_t *c) {
    if (b->rate > 0 || !c->opened || c->fd < 0)
        return;
    if (b->oneway) {
        // A batch of `pipeline` calls at a time, the next one once the
        // last is written: the socket stays busy, the buffer bounded.
        if (c->outlen)
            return; // still writing; the write watcher comes back here
        for (unsigned i = 0; i < b->pipeline && budget_left(b); i++)
            if (!send_call(b, c, 0))
                break;
        if (!conn_flush(c))
            return;
        // All written at once: send the next batch from the loop, so that
        // timers (the end of the run) and other connections get their turn.
        if (c->outlen == 0 && budget_left(b))
            ev_io_start(b->loop, &c->wio);
        return;
    }
    bool any = false;
    while (c->inflight < conn_room(b, c) && budget_left(b)) {
        if (!send_call(b, c, 0))
            break;
        any = true;
    }
    if (any)
        conn_flush(c);
}

/* Open loop (--rate): send the calls that are due, on any connection with
 * room; latency counts from when each call was due. */
static void issue(bench_t *b) {
    if (b->rate <= 0 || !b->sending)
        return;
    uint64_t now = now_ns();
    for (;;) {
        uint64_t due = b->t_start + (uint64_t)((double)b->issued_total * 1e9 / b->rate);
        if (due > now || !budget_left(b))
            break;
        bconn_t *c = NULL;
        for (unsigned k = 0; k < b->nconns && !c; k++) {
            bconn_t *cand = &b->conns[(b->rr + k) % b->nconns];
            if (cand->opened && cand->fd >= 0 && cand->inflight < conn_room(b, cand))
                c = cand;
        }
        if (!c)
            break; // all full: the backlog waits (and its latency grows)
        b->rr++;
        if (!send_call(b, c, due))
            break;
    }
    for (unsigned k = 0; k < b->nconns; k++)
        if (b->conns[k].outlen && b->conns[k].fd >= 0)
            conn_flush(&b->conns[k]);
}

/* Reads the first field id of the reply body: 0 success (or void), > 0 a
 * declared exception, -1 malformed. */
static int first_field(const bench_t *b, const uint8_t *p, size_t len) {
    if (!len)
        return -1;
    switch (b->proto) {
    case THRIFT_PROTO_BINARY:
        if (p[0] == 0)
            return 0;
        if (len < 3)
            return -1;
        return (int16_t)((p[1] << 8) | p[2]);
    case THRIFT_PROTO_COMPACT: {
        if (p[0] == 0)
            return 0;
        unsigned delta = p[0] >> 4;
        if (delta)
            return (int)delta;
        uint32_t v = 0;
        for (size_t i = 1, shift = 0; i < len && shift < 32; i++, shift += 7) {
            v |= (uint32_t)(p[i] & 0x7f) << shift;
            if (!(p[i] & 0x80))
                return (int)((v >> 1) ^ -(v & 1));
        }
        return -1;
    }
    default: {
        size_t i = 0;
        while (i < len && (p[i] == ' ' || p[i] == '\n'))
            i++;
        if (i >= len || p[i] != '{')
            return -1;
        i++;
        if (i < len && p[i] == '}')
            return 0;
        if (i >= len || p[i] != '"')
            return -1;
        return atoi((const char *)p + i + 1);
    }
    }
}

/* The first TApplicationException's type and message, for the report. */
static void note_app_exception(bench_t *b, const uint8_t *body, size_t len) {
    thrift_arena_reset(b->verify_arena);
    const thrift_value_t *ex = thrift_decode_message_body(
        b->proto, thrift_app_exception_def(), body, len, b->verify_arena, &b->codec, NULL, NULL);
    const thrift_value_t *m = ex ? thrift_value_get_by_id(ex, 1) : NULL;
    const thrift_value_t *t = ex ? thrift_value_get_by_id(ex, 2) : NULL;
    size_t ml = 0;
    const uint8_t *mp = m ? thrift_value_bytes(m, &ml) : NULL;
    int type = t ? (int)thrift_value_int(t) : 0;
    note_error(b, ERR_APP, "TApplicationException %s: %.*s", cli_app_exception_name(type),
               (int)(ml > 150 ? 150 : ml), mp ? (const char *)mp : "");
}

/* The first declared exception as JSON, for the report. */
static void note_declared(bench_t *b, const uint8_t *body, size_t len) {
    thrift_arena_reset(b->verify_arena);
    const thrift_struct_def_t *rd = thrift_function_def_result(b->fn);
    const thrift_value_t *r = thrift_decode_message_body(b->proto, rd, body, len,
                                                         b->verify_arena, &b->codec, NULL, NULL);
    for (size_t i = 0; r && i < thrift_struct_def_field_count(rd); i++) {
        const thrift_field_def_t *f = thrift_struct_def_field_at(rd, i);
        const thrift_value_t *v = thrift_value_get_at(r, i);
        if (thrift_field_def_id(f) == 0 || !v)
            continue;
        json_t *j = thrift_json_from_value(v, 0, NULL);
        char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        note_error(b, ERR_DECLARED, "%s %s", thrift_field_def_name(f), text ? text : "");
        free(text);
        json_decref(j);
        return;
    }
    note_error(b, ERR_DECLARED, "a declared exception");
}

static void on_reply(bench_t *b, bconn_t *c, const uint8_t *msg, size_t len) {
    thrift_message_header_t hdr;
    size_t hlen = 0;
    thrift_error_t herr;
    thrift_error_clear(&herr);
    if (thrift_decode_message_header(b->proto, msg, len, &b->codec, &hdr, &hlen, &herr)) {
        note_error(b, ERR_PROTOCOL, "bad reply header: %s", herr.text);
        count_error(b, b->measuring, ERR_PROTOCOL);
        conn_break(c, ERR_CLOSED);
        return;
    }
    slot_t *s = &c->slots[(uint32_t)hdr.seqid & c->mask];
    if (!s->busy || s->seqid != hdr.seqid)
        return; // a call already counted as timed out
    s->busy = false;
    c->inflight--;
    uint64_t t = now_ns();
    int kind = -1;
    if (hdr.type == THRIFT_MSG_EXCEPTION) {
        kind = ERR_APP;
        if (!b->first_error[ERR_APP][0])
            note_app_exception(b, msg + hlen, len - hlen);
    } else if (hdr.type != THRIFT_MSG_REPLY) {
        kind = ERR_PROTOCOL;
        note_error(b, ERR_PROTOCOL, "reply of message type %d", (int)hdr.type);
    } else if (b->verify) {
        thrift_arena_reset(b->verify_arena);
        const thrift_value_t *r = thrift_decode_message_body(
            b->proto, thrift_function_def_result(b->fn), msg + hlen, len - hlen, b->verify_arena,
            &b->codec, NULL, NULL);
        if (!r) {
            kind = ERR_PROTOCOL;
        } else {
            const thrift_struct_def_t *rd = thrift_function_def_result(b->fn);
            for (size_t i = 0; i < thrift_struct_def_field_count(rd); i++)
                if (thrift_field_def_id(thrift_struct_def_field_at(rd, i)) != 0 &&
                    thrift_value_get_at(r, i))
                    kind = ERR_DECLARED;
        }
    } else {
        int f = first_field(b, msg + hlen, len - hlen);
        kind = f < 0 ? ERR_PROTOCOL : f > 0 ? ERR_DECLARED : -1;
    }
    if (kind == ERR_DECLARED && !b->first_error[ERR_DECLARED][0])
        note_declared(b, msg + hlen, len - hlen);
    if (kind == ERR_PROTOCOL)
        note_error(b, ERR_PROTOCOL, "a reply that does not decode as %s's result",
                   thrift_function_def_name(b->fn));
    if (!s->measured)
        return;
    if (kind >= 0) {
        b->errors[kind]++;
    } else {
        b->successes++;
        cli_hist_add(&b->hist, t > s->t0 ? t - s->t0 : 0);
    }
}

/* The server closed its end after a response (HTTP/1.0, Connection:
 * close): not an error; the connection is made again at once, but only
 * when another call is to be sent: a single-threaded server (Apache's
 * Python THttpServer) would wait on an idle connection while the calls of
 * the others wait behind it. */
static void http_reconnect(bconn_t *c) {
    bench_t *b = c->b;
    conn_break(c, ERR_CLOSED); // counts calls still waiting (none for HTTP/1.0)
    ev_timer_stop(b->loop, &c->retry);
    if (c->fd < 0 && !b->finished && budget_left(b))
        conn_connect(c);
}

/* One read from the connection's stream into buf: the bytes read (counted
 * when measuring), THRIFT__IO_AGAIN when nothing is there (waiting for
 * writability if TLS asked for it), or 0 once the connection is broken
 * (closed by the peer or failed; noted and torn down here). */
static ssize_t conn_stream_read(bconn_t *c, uint8_t *buf, size_t cap) {
    bench_t *b = c->b;
    ssize_t n = thrift__stream_read(&c->stream, buf, cap, NULL);
    if (n == THRIFT__IO_AGAIN) {
        if (c->stream.want == THRIFT__WANT_WRITE)
            ev_io_start(b->loop, &c->wio);
        return n;
    }
    if (n <= 0) {
        note_error(b, ERR_CLOSED, "connection to %s closed%s%s", b->net.addr,
                   n == 0 ? " by the peer" : ": ", n == 0 ? "" : strerror(errno));
        conn_break(c, ERR_CLOSED);
        return 0;
    }
    if (b->measuring)
        b->bytes_received += (uint64_t)n;
    return n;
}

/* Reads HTTP responses with the library's reader: each is one reply. */
static void conn_read_http(bconn_t *c) {
    bench_t *b = c->b;
    for (;;) {
        size_t avail = 0;
        uint8_t *space = thrift__wire_space(&c->reader, 16384, &avail);
        if (!space) {
            note_error(b, ERR_CLOSED, "out of memory");
            conn_break(c, ERR_CLOSED);
            return;
        }
        ssize_t n = conn_stream_read(c, space, avail);
        if (n == THRIFT__IO_AGAIN)
            break;
        if (n == 0)
            return;
        thrift__wire_commit(&c->reader, (size_t)n);
        for (;;) {
            const uint8_t *msg;
            size_t mlen;
            thrift_error_t err;
            thrift__error_reset(&err);
            thrift_status_t st = thrift__wire_next(&c->reader, &msg, &mlen, &err);
            if (st == THRIFT_NEED_MORE)
                break;
            if (st) {
                // A non-200 status, a malformed or oversized response: the
                // calls waiting on this connection fail with it.
                note_error(b, ERR_PROTOCOL, "%s: %s", b->net.addr, err.text);
                conn_break(c, ERR_PROTOCOL);
                return;
            }
            on_reply(b, c, msg, mlen);
            if (c->fd < 0)
                return;
            if (!c->reader.http.keep_alive) {
                http_reconnect(c);
                return;
            }
            c->http_persistent = true;
        }
        if ((size_t)n < avail && !thrift__stream_buffered(&c->stream))
            break;
    }
    if (b->rate > 0)
        issue(b);
    else
        fill(b, c);
    maybe_done(b);
}

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents) {
    (void)loop;
    (void)revents;
    bconn_t *c = w->data;
    bench_t *b = c->b;
    if (!c->connected && !conn_check_connect(c))
        return;
    if (!c->opened && !conn_open(c))
        return;
    if (c->outoff < c->outlen && !conn_flush(c))
        return;
    if (b->http) {
        conn_read_http(c);
        return;
    }
    for (;;) {
        if (c->incap - c->inlen < 16384) {
            if (c->instart) {
                memmove(c->in, c->in + c->instart, c->inlen - c->instart);
                c->inlen -= c->instart;
                c->instart = 0;
            }
            if (c->incap - c->inlen < 16384) {
                size_t cap = c->incap ? c->incap * 2 : 65536;
                if (cap > ((size_t)256 << 20)) {
                    count_error(b, b->measuring, ERR_PROTOCOL);
                    conn_break(c, ERR_CLOSED);
                    return;
                }
                uint8_t *nb = realloc(c->in, cap);
                if (!nb) {
                    conn_break(c, ERR_CLOSED);
                    return;
                }
                c->in = nb;
                c->incap = cap;
            }
        }
        ssize_t n = conn_stream_read(c, c->in + c->inlen, c->incap - c->inlen);
        if (n == THRIFT__IO_AGAIN)
            break;
        if (n == 0)
            return;
        c->inlen += (size_t)n;
        for (;;) {
            const uint8_t *p = c->in + c->instart;
            size_t avail = c->inlen - c->instart, mlen, skip = 0;
            if (b->framed) {
                if (avail < 4)
                    break;
                mlen = ((size_t)p[0] << 24) | ((size_t)p[1] << 16) | ((size_t)p[2] << 8) | p[3];
                if (mlen > b->codec.max_frame_size) {
                    note_error(b, ERR_PROTOCOL, "frame of %zu bytes exceeds the limit of %zu",
                               mlen, b->codec.max_frame_size);
                    count_error(b, b->measuring, ERR_PROTOCOL);
                    conn_break(c, ERR_CLOSED);
                    return;
                }
                if (avail < 4 + mlen)
                    break;
                skip = 4;
                if (b->header && mlen >= 10 && p[4] == 0x0f && p[5] == 0xff) {
                    // THeader: skip its header (its size in 4-byte words).
                    size_t h = 10 + ((size_t)p[12] << 8 | p[13]) * 4;
                    if (h >= mlen) {
                        count_error(b, b->measuring, ERR_PROTOCOL);
                        conn_break(c, ERR_CLOSED);
                        return;
                    }
                    skip += h;
                    mlen -= h;
                }
            } else {
                thrift_status_t ps = thrift_probe_message(b->proto, p, avail, &b->codec, &mlen,
                                                          NULL);
                if (ps == THRIFT_NEED_MORE)
                    break;
                if (ps != THRIFT_OK) {
                    note_error(b, ERR_PROTOCOL, "bad reply stream: %s", thrift_status_str(ps));
                    count_error(b, b->measuring, ERR_PROTOCOL);
                    conn_break(c, ERR_CLOSED);
                    return;
                }
            }
            on_reply(b, c, p + skip, mlen);
            if (c->fd < 0)
                return;
            c->instart += skip + mlen;
        }
        if (c->instart == c->inlen)
            c->instart = c->inlen = 0;
        if ((size_t)n < c->incap - c->inlen && !thrift__stream_buffered(&c->stream))
            break;
    }
    if (b->rate > 0)
        issue(b);
    else
        fill(b, c);
    maybe_done(b);
}

/* ---- phases ------------------------------------------------------------------ */

static void finish(bench_t *b) {
    if (b->finished)
        return;
    b->finished = true;
    b->sending = false;
    ev_break(b->loop, EVBREAK_ALL);
}

static uint64_t inflight_total(const bench_t *b) {
    uint64_t n = 0;
    for (unsigned i = 0; i < b->nconns; i++)
        n += b->conns[i].inflight;
    return n;
}

static void maybe_done(bench_t *b) {
    if (b->finished)
        return;
    if (b->ncalls && b->measuring && completed(b) >= b->ncalls)
        finish(b);
    else if (!b->sending && inflight_total(b) == 0)
        finish(b);
}

static void start_measuring(bench_t *b) {
    for (unsigned i = 0; i < b->nconns; i++) {
        bconn_t *c = &b->conns[i];
        if (c->fd >= 0 && c->connected)
            wire_bytes(c->fd, &c->wire_base_sent, &c->wire_base_received);
    }
    b->measuring = true;
    b->t_measure = now_ns();
}

static void phase_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)revents;
    bench_t *b = w->data;
    if (!b->measuring) {
        start_measuring(b);
        if (!b->ncalls) {
            ev_timer_set(w, b->duration_s, 0.);
            ev_timer_start(loop, w);
        }
        for (unsigned i = 0; i < b->nconns; i++)
            fill(b, &b->conns[i]);
        return;
    }
    if (b->sending) {
        // Time is up: stop sending, give the calls in flight a moment.
        b->sending = false;
        b->t_end = now_ns();
        double grace = b->timeout_ms ? b->timeout_ms / 1000.0 : 2.0;
        ev_timer_set(w, grace, 0.);
        ev_timer_start(loop, w);
        maybe_done(b);
        return;
    }
    finish(b);
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    bench_t *b = w->data;
    issue(b);
    if (b->timeout_ms) {
        uint64_t now = now_ns(), limit = (uint64_t)b->timeout_ms * 1000000u;
        for (unsigned i = 0; i < b->nconns; i++) {
            bconn_t *c = &b->conns[i];
            for (uint32_t k = 0; k <= c->mask && c->inflight; k++) {
                slot_t *s = &c->slots[k];
                if (s->busy && now - s->t0 > limit) {
                    note_error(b, ERR_TIMEOUT, "no reply within %u ms", b->timeout_ms);
                    s->busy = false;
                    c->inflight--;
                    count_error(b, s->measured, ERR_TIMEOUT);
                }
            }
            if (b->rate <= 0)
                fill(b, c);
        }
    }
    maybe_done(b);
}

static void sigint_cb(struct ev_loop *loop, ev_signal *w, int revents);

static void progress_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    bench_t *b = w->data;
    uint64_t now = now_ns();
    uint64_t done = completed(b);
    double dt = (double)(now - b->t_last_progress) / 1e9;
    uint64_t errs = done - b->successes;
    double elapsed = (double)(now - b->t_start) / 1e9;
    fprintf(stderr, "\r\033[K%s %6.1fs  %10.0f calls/s  %llu calls  %llu errors",
            b->measuring ? "[bench] " : "[warmup]", elapsed,
            dt > 0 ? (double)(done - b->prog_last_calls) / dt : 0.0, (unsigned long long)done,
            (unsigned long long)errs);
    b->prog_last_calls = done;
    b->t_last_progress = now;
}

static void sigint_cb(struct ev_loop *loop, ev_signal *w, int revents) {
    (void)loop;
    (void)revents;
    bench_t *b = w->data;
    b->interrupted = true;
    if (!b->t_end)
        b->t_end = now_ns();
    finish(b);
}

/* ---- address ------------------------------------------------------------------- */

static int resolve(bench_t *b, const char *addr) {
    thrift_error_t err;
    thrift_error_clear(&err);
    if (thrift__addr_parse(addr, false, &b->addr, &err)) {
        fprintf(stderr, "dynthrift bench: --addr %s: %s\n", addr, err.text);
        // A name that does not resolve is a transport failure, as in `call`.
        return err.code == THRIFT_NOT_FOUND ? CLI_EXIT_TRANSPORT : CLI_EXIT_USAGE;
    }
    b->http = b->addr.scheme == THRIFT__SCHEME_HTTP || b->addr.scheme == THRIFT__SCHEME_HTTPS;
    if (b->http && (b->net.framing_set || b->net.zlib)) {
        fprintf(stderr, "dynthrift bench: --addr %s: HTTP carries each message as a POST body "
                        "(no --framed, --buffered, --header or --zlib)\n",
                addr);
        return CLI_EXIT_USAGE;
    }
    if (b->net.framing == THRIFT_FRAMING_HEADER &&
        (b->net.zlib || b->net.proto == THRIFT_PROTO_JSON)) {
        fprintf(stderr, "dynthrift bench: --addr %s: bench speaks framed, buffered and THeader "
                        "(binary, compact; no transforms), with TLS and zlib\n",
                addr);
        return CLI_EXIT_USAGE;
    }
    memcpy(&b->sa, &b->addr.sa, b->addr.len);
    b->wire_ok = b->addr.family != AF_UNIX;
    b->salen = b->addr.len;
    b->co = cli_net_conn_options(&b->net);
    if (!b->co)
        return CLI_EXIT_USAGE;
    if (b->addr.scheme == THRIFT__SCHEME_TLS || b->addr.scheme == THRIFT__SCHEME_HTTPS)
        thrift_conn_options_set_tls(b->co, true);
    if (b->http)
        // Borrows from b->co and b->addr, which live as long as b.
        thrift__http_client_out(&b->http_out, b->http_host, sizeof b->http_host, addr, b->co,
                                &b->addr);
    if (b->co->tls && !(b->tls = thrift__tls_ctx_new(b->co, false, &err))) {
        fprintf(stderr, "dynthrift bench: %s\n", err.text);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

/* ---- report ---------------------------------------------------------------------- */

typedef struct report_opts {
    bool json, pretty, latency_dist;
} report_opts_t;

static void report(bench_t *b, const report_opts_t *ro, const char *spec) {
    bool as_json = ro->json;
    // Interrupted during the warm-up: nothing was measured.
    double secs = b->t_measure
                      ? (double)((b->t_end ? b->t_end : now_ns()) - b->t_measure) / 1e9
                      : 0.0;
    uint64_t calls = completed(b), errs = calls - b->successes;
    double cps = secs > 0 ? (double)calls / secs : 0;
    uint64_t unfinished = inflight_total(b);
    if (as_json) {
        json_t *o = json_object();
        json_object_set_new(o, "target", json_string(b->net.addr));
        json_object_set_new(o, "method", json_string(spec));
        json_object_set_new(o, "protocol", json_string(thrift_protocol_name(b->proto)));
        json_object_set_new(o, "transport", json_string(b->http ? "http" : b->header ? "header" : b->net.framing == THRIFT_FRAMING_FRAMED ? "framed" : "buffered"));
        json_object_set_new(o, "connections", json_integer(b->nconns));
        json_object_set_new(o, "pipeline", json_integer(b->pipeline));
        if (b->rate > 0)
            json_object_set_new(o, "rate", json_real(b->rate));
        json_object_set_new(o, "duration_s", json_real(secs));
        json_object_set_new(o, "calls", json_integer((json_int_t)calls));
        json_object_set_new(o, "successes", json_integer((json_int_t)b->successes));
        json_object_set_new(o, "errors", json_integer((json_int_t)errs));
        json_t *ek = json_object();
        for (int k = 0; k < ERR_KINDS; k++)
            json_object_set_new(ek, err_names[k], json_integer((json_int_t)b->errors[k]));
        json_object_set_new(o, "errors_by_kind", ek);
        json_object_set_new(o, "unfinished", json_integer((json_int_t)unfinished));
        json_object_set_new(o, "connect_errors", json_integer((json_int_t)b->connect_errors));
        json_object_set_new(o, "calls_per_s", json_real(cps));
        if (b->interrupted)
            json_object_set_new(o, "interrupted", json_true());
        json_t *fe = json_object();
        for (int k = 0; k < ERR_KINDS; k++)
            if (b->first_error[k][0])
                json_object_set_new(fe, err_names[k], json_string(b->first_error[k]));
        if (b->first_connect_error[0])
            json_object_set_new(fe, "connect", json_string(b->first_connect_error));
        json_object_set_new(o, "first_errors", fe);
        json_object_set_new(o, "latency_us", cli_hist_summary_json(&b->hist));
        if (ro->latency_dist && b->hist.total)
            json_object_set_new(o, "latency_distribution", cli_hist_distribution_json(&b->hist));
        json_object_set_new(o, "bytes_sent", json_integer((json_int_t)b->bytes_sent));
        json_object_set_new(o, "bytes_received", json_integer((json_int_t)b->bytes_received));
        if (b->wire_ok) {
            json_object_set_new(o, "wire_bytes_sent", json_integer((json_int_t)b->wire_sent));
            json_object_set_new(o, "wire_bytes_received",
                                json_integer((json_int_t)b->wire_received));
        }
        json_object_set_new(o, "request_encoded_once", json_boolean(b->fast_header));
        char *text = json_dumps(o, (ro->pretty ? JSON_INDENT(2) : JSON_COMPACT) |
                                       JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
        if (text)
            puts(text);
        free(text);
        json_decref(o);
        return;
    }
    printf("dynthrift bench %s @ %s (%s, %s)\n", spec, b->net.addr,
           thrift_protocol_name(b->proto),
           b->http ? "http" : b->header ? "header" : b->net.framing == THRIFT_FRAMING_FRAMED ? "framed" : "buffered");
    printf("  %u connection%s x %u in flight%s, %.2f s%s\n", b->nconns,
           b->nconns == 1 ? "" : "s", b->pipeline, b->rate > 0 ? " (open loop)" : "", secs,
           b->interrupted ? " (interrupted)" : "");
    printf("  calls       %llu (%llu ok, %llu errors)\n", (unsigned long long)calls,
           (unsigned long long)b->successes, (unsigned long long)errs);
    printf("  calls/s     %.1f\n", cps);
    cli_hist_print_summary(&b->hist);
    if (ro->latency_dist && b->hist.total)
        cli_hist_print_distribution(&b->hist);
    printf("  bytes       %llu sent, %llu received (%.1f MB/s in)\n",
           (unsigned long long)b->bytes_sent, (unsigned long long)b->bytes_received,
           secs > 0 ? (double)b->bytes_received / secs / 1e6 : 0);
    if (b->wire_ok)
        printf("  on the wire %llu sent, %llu received (after TLS, zlib: TCP's counts)\n",
               (unsigned long long)b->wire_sent, (unsigned long long)b->wire_received);
    if (errs) {
        printf("  errors     ");
        for (int k = 0; k < ERR_KINDS; k++)
            if (b->errors[k])
                printf(" %s %llu", err_names[k], (unsigned long long)b->errors[k]);
        printf("\n");
        for (int k = 0; k < ERR_KINDS; k++)
            if (b->errors[k] && b->first_error[k][0])
                printf("    first %s: %s\n", err_names[k], b->first_error[k]);
    }
    if (b->connect_errors)
        printf("  connects    %llu failed (first: %s)\n", (unsigned long long)b->connect_errors,
               b->first_connect_error);
    if (unfinished)
        printf("  unfinished  %llu calls still in flight at the end\n",
               (unsigned long long)unfinished);
}

/* ---- main ------------------------------------------------------------------------ */

int cmd_bench(int argc, char **argv) {
    // Several servers (a list, zk://, --balance, --all): the cluster flavour.
    if (cli_cluster_wanted(argc, argv))
        return cli_cluster_bench(argc, argv);
    const char *cmd = "bench";
    cli_include_dirs_t inc = {0};
    const char *pos[3] = {0};
    int npos = 0;
    bool verify = false, fail_on_error = false, ignore_unknown = false;
    report_opts_t ro = {0};
    unsigned long long max_p99_ms = 0;
    bool have_max_p99 = false;
    unsigned long long conns = 1, pipeline = 1, ncalls = 0;
    double duration = 10, warmup = 0, rate = 0;
    bool have_d = false;
    bench_t *b = calloc(1, sizeof *b);
    if (!b)
        return CLI_EXIT_SOFTWARE;
    cli_net_opts_init(&b->net);

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v;
        int r;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(bench_usage, stdout);
            fputs(cli_net_transport_help, stdout);
            cli_cluster_usage(stdout);
            free(b);
            cli_include_dirs_free(&inc);
            return CLI_EXIT_OK;
        }
        if ((r = cli_take_include_opt(argc, argv, &i, cmd, &inc)) != 0 ||
            (r = cli_net_take_opt(argc, argv, &i, cmd, &b->net)) != 0) {
            if (r < 0)
                goto usage;
            continue;
        }
        if ((r = cli_take_value_opt(argc, argv, &i, cmd, "-c", &v)) != 0 ||
            (r = cli_take_value_opt(argc, argv, &i, cmd, "--connections", &v)) != 0) {
            if (r < 0)
                goto usage;
            if (!cli_parse_uint(v, 10000, &conns) || !conns) {
                fprintf(stderr, "dynthrift bench: -c takes 1..10000 connections, not '%s'\n", v);
                goto usage;
            }
            continue;
        }
        if ((r = cli_take_value_opt(argc, argv, &i, cmd, "-p", &v)) != 0 ||
            (r = cli_take_value_opt(argc, argv, &i, cmd, "--pipeline", &v)) != 0) {
            if (r < 0)
                goto usage;
            if (!cli_parse_uint(v, 65536, &pipeline) || !pipeline) {
                fprintf(stderr, "dynthrift bench: -p takes 1..65536 calls in flight, not '%s'\n", v);
                goto usage;
            }
            continue;
        }
        if ((r = cli_take_value_opt(argc, argv, &i, cmd, "-n", &v)) != 0 ||
            (r = cli_take_value_opt(argc, argv, &i, cmd, "--calls", &v)) != 0) {
            if (r < 0)
                goto usage;
            if (!cli_parse_uint(v, UINT64_MAX / 2, &ncalls) || !ncalls) {
                fprintf(stderr, "dynthrift bench: -n takes a number of calls from 1, not '%s'\n", v);
                goto usage;
            }
            continue;
        }
        if ((r = cli_take_value_opt(argc, argv, &i, cmd, "-d", &v)) != 0 ||
            (r = cli_take_value_opt(argc, argv, &i, cmd, "--duration", &v)) != 0) {
            if (r < 0)
                goto usage;
            if (!cli_parse_seconds(v, &duration) || duration <= 0) {
                fprintf(stderr, "dynthrift bench: -d takes seconds (e.g. 10 or 0.5), not '%s'\n", v);
                goto usage;
            }
            have_d = true;
            continue;
        }
        if ((r = cli_take_value_opt(argc, argv, &i, cmd, "--warmup", &v)) != 0) {
            if (r < 0)
                goto usage;
            if (!cli_parse_seconds(v, &warmup)) {
                fprintf(stderr, "dynthrift bench: --warmup takes seconds, not '%s'\n", v);
                goto usage;
            }
            continue;
        }
        if ((r = cli_take_value_opt(argc, argv, &i, cmd, "--rate", &v)) != 0) {
            if (r < 0)
                goto usage;
            char *end;
            rate = strtod(v, &end);
            if (*end || !(rate > 0) || rate > 1e9) {
                fprintf(stderr, "dynthrift bench: --rate takes calls per second (> 0), not '%s'\n", v);
                goto usage;
            }
            continue;
        }
        if (!strcmp(a, "--json")) {
            ro.json = true;
            continue;
        }
        if (!strcmp(a, "--pretty")) {
            ro.pretty = true;
            continue;
        }
        if (!strcmp(a, "--latency")) {
            ro.latency_dist = true;
            continue;
        }
        if (!strcmp(a, "--ignore-unknown")) {
            ignore_unknown = true;
            continue;
        }
        if (!strcmp(a, "--fail-on-error")) {
            fail_on_error = true;
            continue;
        }
        if ((r = cli_take_value_opt(argc, argv, &i, cmd, "--max-p99", &v)) != 0) {
            if (r < 0)
                goto usage;
            if (!cli_parse_uint(v, 86400000, &max_p99_ms)) {
                fprintf(stderr, "dynthrift bench: --max-p99 takes milliseconds, not '%s'\n", v);
                goto usage;
            }
            have_max_p99 = true;
            continue;
        }
        if (!strcmp(a, "--verify")) {
            verify = true;
            continue;
        }
        if (cli_net_take_positional(cmd, a, pos, &npos))
            goto usage;
    }
    if (cli_net_check_required(cmd, npos, &b->net))
        goto usage;
    if (ro.pretty && !ro.json) {
        fprintf(stderr, "dynthrift bench: --pretty goes with --json\n");
        goto usage;
    }
    if (have_d && ncalls) {
        fprintf(stderr, "dynthrift bench: give -d SECONDS or -n CALLS, not both\n");
        goto usage;
    }

    int code = 0;
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_schema_t *schema = NULL;
    thrift_arena_t *arena = NULL;
    json_t *argsj = NULL;
    const thrift_service_def_t *svc = NULL;

    schema = cli_load_schema(pos[0], &inc, &err);
    if (!schema) {
        fprintf(stderr, "dynthrift bench: ");
        cli_print_error(stderr, &err);
        code = CLI_EXIT_DATA;
        goto done;
    }
    code = cli_split_service_method(cmd, schema, pos[1], false, &svc, &b->fn);
    if (code)
        goto done;
    if (npos == 3) {
        argsj = cli_net_load_args("bench", pos[2]);
        if (!argsj) {
            code = CLI_EXIT_DATA;
            goto done;
        }
    }
    arena = thrift_arena_new(NULL);
    b->args = arena ? cli_args_from_json(b->fn, arena, argsj,
                                         ignore_unknown ? THRIFT_JSON_IGNORE_UNKNOWN : 0, &err)
                    : NULL;
    if (!b->args) {
        fprintf(stderr, "dynthrift bench: arguments: ");
        cli_print_error(stderr, &err);
        code = CLI_EXIT_DATA;
        goto done;
    }
    if ((code = resolve(b, b->net.addr)))
        goto done;

    b->proto = b->net.proto;
    // With zlib the frames are a stream layer under the compression.
    b->header = b->net.framing == THRIFT_FRAMING_HEADER;
    b->framed = !b->http && (b->header || thrift__message_framing(b->co) == THRIFT_FRAMING_FRAMED);
    b->oneway = thrift_function_def_is_oneway(b->fn);
    if (b->oneway && b->http) {
        // Its empty response would be the only sign it was taken.
        fprintf(stderr, "dynthrift bench: oneway methods over HTTP are not supported\n");
        code = CLI_EXIT_USAGE;
        goto done;
    }
    b->verify = verify;
    thrift_codec_options_init(&b->codec);
    b->codec.zero_copy = true;
    int nl = snprintf(b->name, sizeof b->name, "%s%s%s", b->net.multiplex ? b->net.multiplex : "",
                      b->net.multiplex ? ":" : "", thrift_function_def_name(b->fn));
    if (nl < 0 || (size_t)nl >= sizeof b->name) {
        fprintf(stderr, "dynthrift bench: method name too long\n");
        code = CLI_EXIT_USAGE;
        goto done;
    }
    b->name_len = (size_t)nl;
    b->scratch = thrift_buffer_new();
    b->http_scratch = thrift_buffer_new();
    b->verify_arena = thrift_arena_new(NULL);
    if (!b->scratch || !b->http_scratch || !b->verify_arena) {
        code = CLI_EXIT_SOFTWARE;
        goto done;
    }
    if ((code = prepare_request(b, &err))) {
        fprintf(stderr, "dynthrift bench: arguments: ");
        cli_print_error(stderr, &err);
        goto done;
    }
    b->nconns = (unsigned)conns;
    b->pipeline = (unsigned)pipeline;
    b->duration_s = duration;
    b->warmup_s = warmup;
    b->ncalls = ncalls;
    b->rate = rate;
    b->timeout_ms = b->net.timeout_ms;
    b->tty = isatty(2);

    signal(SIGPIPE, SIG_IGN);
    b->loop = ev_loop_new(EVFLAG_AUTO);
    b->conns = calloc(b->nconns, sizeof *b->conns);
    if (!b->loop || !b->conns) {
        code = CLI_EXIT_SOFTWARE;
        goto done;
    }
    uint32_t ring = 1;
    while (ring < 2 * b->pipeline)
        ring <<= 1;
    for (unsigned i = 0; i < b->nconns; i++) {
        bconn_t *c = &b->conns[i];
        c->b = b;
        c->fd = -1;
        c->next_seqid = 1;
        c->mask = ring - 1;
        thrift__wire_reader_init(&c->reader, b->proto, THRIFT_FRAMING_BUFFERED,
                                 b->codec.max_frame_size);
        c->reader.http.role = b->http ? THRIFT__HTTP_CLIENT : THRIFT__HTTP_NONE;
        c->slots = calloc(ring, sizeof *c->slots);
        if (!c->slots) {
            code = CLI_EXIT_SOFTWARE;
            goto done;
        }
        ev_init(&c->rio, conn_read_cb);
        c->rio.data = c;
        ev_init(&c->wio, conn_write_cb);
        c->wio.data = c;
        ev_init(&c->retry, retry_cb);
        c->retry.data = c;
    }
    b->t_start = b->t_last_progress = now_ns();
    b->sending = true;
    ev_init(&b->phase_timer, phase_cb);
    b->phase_timer.data = b;
    if (warmup > 0) {
        ev_timer_set(&b->phase_timer, warmup, 0.);
        ev_timer_start(b->loop, &b->phase_timer);
    } else {
        start_measuring(b);
        if (!ncalls) {
            ev_timer_set(&b->phase_timer, duration, 0.);
            ev_timer_start(b->loop, &b->phase_timer);
        }
    }
    if (rate > 0 || b->timeout_ms) {
        ev_timer_init(&b->tick, tick_cb, 0.001, 0.001);
        b->tick.data = b;
        ev_timer_start(b->loop, &b->tick);
    }
    // Ctrl-C ends the run early with the report so far, as wrk and ghz do.
    ev_signal_init(&b->sigint, sigint_cb, SIGINT);
    b->sigint.data = b;
    ev_signal_start(b->loop, &b->sigint);
    if (b->tty) {
        ev_timer_init(&b->progress, progress_cb, 1.0, 1.0);
        b->progress.data = b;
        ev_timer_start(b->loop, &b->progress);
    }
    for (unsigned i = 0; i < b->nconns; i++)
        conn_connect(&b->conns[i]);
    ev_run(b->loop, 0);
    if (!b->t_end)
        b->t_end = now_ns();
    for (unsigned i = 0; b->measuring && i < b->nconns; i++)
        wire_account(&b->conns[i]);
    if (b->tty)
        fprintf(stderr, "\r\033[K");
    ev_signal_stop(b->loop, &b->sigint);
    report(b, &ro, pos[1]);
    if (b->successes == 0) {
        code = b->ever_connected ? CLI_EXIT_BENCH_FAILED : CLI_EXIT_TRANSPORT;
        fprintf(stderr, "dynthrift bench: no call succeeded\n");
        // Requests went out and not a byte came back: as with `call`, most
        // likely another framing or protocol.
        const char *hint = b->oneway || !b->ever_connected
                               ? NULL
                               : cli_net_hint(&b->net, THRIFT_TIMEOUT, NULL, b->bytes_sent,
                                              b->bytes_received);
        if (hint)
            fprintf(stderr, "dynthrift bench: hint: %s\n", hint);
    } else if (fail_on_error && completed(b) > b->successes) {
        code = CLI_EXIT_BENCH_FAILED;
        fprintf(stderr, "dynthrift bench: --fail-on-error: %llu calls failed\n",
                (unsigned long long)(completed(b) - b->successes));
    } else if (have_max_p99 && cli_hist_percentile(&b->hist, 99) > max_p99_ms * 1000000u) {
        code = CLI_EXIT_BENCH_FAILED;
        fprintf(stderr, "dynthrift bench: --max-p99: p99 %.3f ms is above %llu ms\n",
                (double)cli_hist_percentile(&b->hist, 99) / 1e6, max_p99_ms);
    }

done:
    if (b->conns) {
        for (unsigned i = 0; i < b->nconns; i++) {
            bconn_t *c = &b->conns[i];
            if (b->loop) {
                ev_io_stop(b->loop, &c->rio);
                ev_io_stop(b->loop, &c->wio);
                ev_timer_stop(b->loop, &c->retry);
            }
            if (c->fd >= 0) {
                thrift__stream_free(&c->stream);
                close(c->fd);
            }
            free(c->slots);
            thrift__wire_reader_free(&c->reader);
            free(c->in);
            free(c->out);
        }
        free(b->conns);
    }
    if (b->loop)
        ev_loop_destroy(b->loop);
    free(b->body);
    thrift__tls_ctx_free(b->tls);
    thrift_conn_options_free(b->co);
    thrift_buffer_free(b->scratch);
    thrift_buffer_free(b->http_scratch);
    free(b->http_head);
    thrift_arena_free(b->verify_arena);
    thrift_arena_free(arena);
    json_decref(argsj);
    thrift_schema_unref(schema);
    cli_include_dirs_free(&inc);
    free(b);
    return code;

usage:
    fputs("try 'dynthrift bench --help'\n", stderr);
    cli_include_dirs_free(&inc);
    free(b);
    return CLI_EXIT_USAGE;
}
