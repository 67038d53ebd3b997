/* Internal pieces of the connection layer: the I/O-free wire reader/writer,
 * address parsing and socket helpers.  Only src/net includes <ev.h>, and only
 * in the .c files that drive sockets. */
#ifndef DYNTHRIFT_NET_IMPL_H
#define DYNTHRIFT_NET_IMPL_H

#include <sys/socket.h>

#include "base/base.h"
#include "dynthrift/net.h"

/* The largest HTTP head accepted (request or response line and headers). */
#define THRIFT__HTTP_MAX_HEADER 16384

struct thrift_conn_options {
    thrift_protocol_t proto;
    thrift_framing_t framing;
    bool framing_set; /* set explicitly: a server then pins it instead of detecting */
    uint32_t connect_timeout_ms;
    uint32_t call_timeout_ms;
    uint32_t idle_timeout_ms;
    uint32_t read_timeout_ms;
    size_t max_frame_size;
    bool multiplexed;
    /* The name before ':' when multiplexed; "" means the IDL service's
     * name.  Held inline so the options copy by assignment. */
    char multiplexed_name[THRIFT_MULTIPLEXED_NAME_MAX + 1];
    /* Transport stack (stream.h).  Paths and names inline, as above. */
    bool tls;        /* also turned on by a tls:// address */
    bool tls_verify; /* client: check the server's certificate (default on) */
    char tls_ca[THRIFT_OPTION_TEXT_MAX + 1];   /* client: trusted CAs; server: require client certs */
    char tls_cert[THRIFT_OPTION_TEXT_MAX + 1]; /* PEM chain: the server's, or a client cert */
    char tls_key[THRIFT_OPTION_TEXT_MAX + 1];
    char tls_server_name[THRIFT_OPTION_TEXT_MAX + 1]; /* SNI and host check; "" = address host */
    uint32_t handshake_timeout_ms; /* server: TLS handshake deadline */
    bool zlib;
    int zlib_level; /* -1: zlib's default */
    char http_path[THRIFT_OPTION_TEXT_MAX + 1];  /* "" = the address's path */
    char http_headers[THRIFT__HTTP_MAX_HEADER / 4]; /* "Key: value\r\n" lines */
    uint32_t busy_poll_us; /* blocking calls: the longest busy-poll before sleeping; 0 = never */
};

/* How messages are delimited in the bytes the wire reader sees: with zlib,
 * frames (if any) are a stream layer under the compression and the
 * decompressed bytes are unframed messages.  THeader keeps its frames and
 * makes zlib a per-message transform instead. */
static inline thrift_framing_t thrift__message_framing(const thrift_conn_options_t *o) {
    if (o->framing == THRIFT_FRAMING_HEADER)
        return THRIFT_FRAMING_HEADER;
    if (o->framing == THRIFT_FRAMING_AUTO && !o->zlib)
        return THRIFT_FRAMING_FRAMED; // a client's
    return o->zlib ? THRIFT_FRAMING_BUFFERED : o->framing;
}

/* A server's: detect each connection's kind unless one is pinned. */
static inline thrift_framing_t thrift__server_framing(const thrift_conn_options_t *o) {
    if (!o->zlib && (!o->framing_set || o->framing == THRIFT_FRAMING_AUTO))
        return THRIFT_FRAMING_AUTO;
    return o->framing == THRIFT_FRAMING_AUTO ? THRIFT_FRAMING_FRAMED : thrift__message_framing(o);
}

/* ---- THeader info headers ------------------------------------------------
 * A list of NUL-terminated key/value pairs; who owns the nodes says where
 * they are made (an arena, or malloc for a connection's own). */
typedef struct thrift__kv {
    struct thrift__kv *next;
    const char *key;
    const char *value;
} thrift__kv_t;

/* The value of `key` in the list (the first match), or NULL. */
const char *thrift__kv_find(const thrift__kv_t *list, const char *key);
/* Sets, replaces or (value NULL) removes `key` in a malloc-owned list;
 * THRIFT_LIMIT for a key or value over THRIFT_HEADER_TEXT_MAX bytes. */
thrift_status_t thrift__kv_set(thrift__kv_t **list, const char *key, const char *value);
void thrift__kv_free(thrift__kv_t *list);

/* What the last THeader frame handed out by the reader said.  Keys and
 * values point into the reader's buffer: valid as long as the message. */
typedef struct thrift__header_in {
    bool present; /* the last message came in a THeader frame */
    uint16_t flags;
    int32_t seqid;
    bool zlib;
    size_t nkv, kvcap;
    struct thrift__header_kv {
        const uint8_t *key, *value;
        uint32_t klen, vlen;
    } *kv;
    thrift__buf_t inflated; /* the payload, when the zlib transform was on */
} thrift__header_in_t;

/* The info headers of `h` as a list in `arena` (NULL when none, or out of
 * memory: *oom then says which). */
thrift__kv_t *thrift__header_copy(const thrift__header_in_t *h, thrift_arena_t *arena, bool *oom);

/* ---- HTTP (http.c) --------------------------------------------------------- */
/* SERVER reads Thrift-over-HTTP requests (POST bodies, CORS preflights
 * answered); SERVER_ANY reads any request (any method, empty bodies and
 * OPTIONS handed out as messages, with the method, target and head kept
 * for the caller): the gateway's HTTP server. */
enum { THRIFT__HTTP_NONE = 0, THRIFT__HTTP_SERVER, THRIFT__HTTP_CLIENT, THRIFT__HTTP_SERVER_ANY };

/* The reader's HTTP state: what the last request or response said. */
typedef struct thrift__http {
    int role;          /* THRIFT__HTTP_*: NONE for every other framing */
    bool keep_alive;   /* the peer allows another message on the connection */
    bool cors;         /* server: the last request was a CORS preflight (no message) */
    int status;        /* server: the status a malformed request gets (400, 413...) */
    thrift__buf_t body; /* a chunked body, joined */
    /* CLIENT: hand out empty bodies (the answer to a oneway) as messages,
     * for a client that waits for them; otherwise they are skipped. */
    bool empty_answers;
    /* CLIENT: the response being read has neither Content-Length nor
     * chunked encoding: its body ends where the connection does, at
     * until_close_at bytes past the reader's start (thrift__http_eof). */
    bool until_close;
    size_t until_close_at;
    /* SERVER_ANY: the last request's method, target and whole head (request
     * line and headers), pointing into the reader's buffer: valid as the
     * message is (until the next thrift__wire_space/feed). */
    const char *method, *target, *head;
    size_t method_len, target_len, head_len;
} thrift__http_t;

/* The value of header `name` (case-insensitive) in the last request's head
 * (SERVER_ANY), without surrounding blanks: a pointer into the head with
 * its length in *len, or NULL when absent. */
const char *thrift__http_header(const thrift__http_t *h, const char *name, size_t *len);

/* How thrift__http_wrap dresses a message (or an empty control response). */
typedef struct thrift__http_out {
    bool request;      /* client: POST; server: a response */
    const char *host;  /* request: the Host header */
    const char *path;  /* request: the target */
    const char *extra; /* request: more header lines, each ending in CRLF */
    bool keep_alive;   /* response: "Connection: close" when false */
    bool cors;         /* response: the answer to a preflight */
    int status;        /* response: 200, or an error status (no body) */
} thrift__http_out_t;

struct thrift__wire_reader;
struct thrift__addr;
thrift_status_t thrift__http_next(struct thrift__wire_reader *r, const uint8_t **msg, size_t *len,
                                  thrift_error_t *err);
/* The peer closed the connection: a response whose body runs to the close
 * (HTTP/1.0 without Content-Length) is complete now.  THRIFT_OK with the
 * body in *msg and *len (possibly empty), THRIFT_NEED_MORE when no such
 * response is being read (the close is then an ordinary one). */
thrift_status_t thrift__http_eof(struct thrift__wire_reader *r, const uint8_t **msg, size_t *len);
/* A client's request dressing for `address` (http:// or https://): Host
 * is what the address says between "//" and the path, written into
 * host[hostsize]; path and extra headers are borrowed from `opts` (the
 * http_path option, else addr->path) and must outlive `out`. */
void thrift__http_client_out(thrift__http_out_t *out, char *host, size_t hostsize,
                             const char *address, const thrift_conn_options_t *opts,
                             const struct thrift__addr *addr);
/* Puts the HTTP head in front of the body that begins at `start`. */
thrift_status_t thrift__http_wrap(thrift_buffer_t *out, size_t start, const thrift__http_out_t *o,
                                  thrift_error_t *err);

/* What a THeader frame written by thrift__wire_begin carries. */
typedef struct thrift__header_out {
    thrift_protocol_t proto;
    int32_t seqid;
    uint16_t flags;
    bool zlib;
    const thrift__kv_t *kv[2]; /* both lists are sent (a key in both: twice) */
    const thrift__http_out_t *http; /* set: the message goes out as HTTP instead */
} thrift__header_out_t;

void thrift__conn_options_defaults(thrift_conn_options_t *o);

/* ---- blocking waits (wait.c) ---------------------------------------------
 * A blocking call waits for its reply by polling its private loop without
 * sleeping for a while first: a thread asleep in epoll_wait takes tens of
 * microseconds to wake, longer than a loopback peer takes to answer.  The
 * policy is per waiter (a blocking connection, pool or cluster): spin for
 * about twice the average time of the replies the spin caught (plus a
 * margin), at most the cap (the busy_poll_us option); after a miss, probe
 * once more with the full cap; after misses in a row, sleep through a
 * growing number of waits (up to 255) between probes, so a peer slower than
 * the cap costs one spin in 256 calls. */
typedef struct thrift__busy_poll {
    uint64_t cap_ns;   /* 0: never spin */
    uint64_t avg_ns;   /* EWMA of the waits a spin caught; 0 before the first */
    unsigned misses;   /* spins in a row that ended before the reply */
    unsigned skip;     /* waits left to sleep through before the next probe */
    uint64_t spun, caught; /* waits that spun; of them, those the spin answered */
} thrift__busy_poll_t;

void thrift__busy_poll_init(thrift__busy_poll_t *bp, uint32_t cap_us);
/* How long the next wait spins (ns; 0: sleep at once).  Counts down the
 * backoff: call once per wait. */
uint64_t thrift__busy_poll_budget(thrift__busy_poll_t *bp);
/* What the spin of a wait saw: the reply `caught` after `elapsed_ns`, or
 * not within its budget. */
void thrift__busy_poll_record(thrift__busy_poll_t *bp, bool caught, uint64_t elapsed_ns);
/* Runs `loop` until *done (set by a callback): busy-polling as `bp`
 * decides (NULL: never), then sleeping in ev_run(EVRUN_ONCE). */
void thrift__wait_done(struct ev_loop *loop, const bool *done, thrift__busy_poll_t *bp);

/* ---- wire reader: bytes in, messages out -------------------------------
 * Feed bytes (or read(2) straight into thrift__wire_space), then pull
 * messages with thrift__wire_next until it says THRIFT_NEED_MORE.  A
 * message handed out points into the reader's buffer and stays valid until
 * the next thrift__wire_space/feed call. */
typedef struct thrift__wire_reader {
    thrift__buf_t buf;
    size_t start; /* first unconsumed byte */
    size_t probed; /* buffered: bytes known to hold no complete message */
    thrift_protocol_t proto;
    thrift_framing_t framing;
    size_t max_frame_size;
    thrift_codec_options_t codec;
    thrift__header_in_t header; /* framing HEADER: the last frame's header */
    thrift__http_t http;        /* http.role set: HTTP messages (http.c) */
} thrift__wire_reader_t;

void thrift__wire_reader_init(thrift__wire_reader_t *r, thrift_protocol_t proto,
                              thrift_framing_t framing, size_t max_frame_size);
void thrift__wire_reader_free(thrift__wire_reader_t *r);
void thrift__wire_reader_reset(thrift__wire_reader_t *r);
/* At least `min` writable bytes at *p (*avail says how many); NULL on OOM.
 * Call thrift__wire_commit with the number written. */
uint8_t *thrift__wire_space(thrift__wire_reader_t *r, size_t min, size_t *avail);
void thrift__wire_commit(thrift__wire_reader_t *r, size_t n);
/* Gives up the buffer messages were handed out from, so values decoded
 * zero-copy from it stay valid while the reader goes on: the unconsumed
 * bytes move to a new buffer and the old one is returned, owned by the
 * caller (free with free()).  NULL on out of memory (the reader is then
 * unchanged). */
uint8_t *thrift__wire_detach(thrift__wire_reader_t *r);
thrift_status_t thrift__wire_feed(thrift__wire_reader_t *r, const void *data, size_t len);
/* THRIFT_OK with the next message (frame header stripped) in msg/len,
 * THRIFT_NEED_MORE, or an error (THRIFT_LIMIT for an oversized frame,
 * THRIFT_INVALID...) after which the stream is unusable.  THeader: r->proto
 * becomes the frame's protocol and r->header says the rest;
 * THRIFT_UNSUPPORTED for an unknown transform (Apache answers
 * INVALID_TRANSFORM) with r->header.seqid set. */
thrift_status_t thrift__wire_next(thrift__wire_reader_t *r, const uint8_t **msg, size_t *len,
                                  thrift_error_t *err);
/* Bytes buffered but not yet returned as messages. */
static inline size_t thrift__wire_buffered(const thrift__wire_reader_t *r) {
    return r->buf.len - r->start;
}

/* An error struct made empty without writing its ~900 bytes: what
 * thrift_error_clear guarantees (code OK, empty strings) for a struct filled
 * only through thrift__error_set.  For per-message paths. */
static inline void thrift__error_reset(thrift_error_t *e) {
    e->code = THRIFT_OK;
    e->line = e->column = 0;
    e->offset = 0;
    e->has_offset = false;
    e->source[0] = e->path[0] = e->text[0] = e->line_text[0] = 0;
}

/* ---- wire writer -------------------------------------------------------
 * Appends one message to `out`: for framed transports a 4-byte length is
 * reserved first and patched after encoding; THeader writes its whole
 * header first (`h`, unused otherwise) and transforms the payload at the
 * end. */
typedef struct thrift__wire_mark {
    size_t start;   /* where the message begins in `out` */
    size_t payload; /* where its encoded body begins */
    bool zlib;
    const thrift__http_out_t *http;
} thrift__wire_mark_t;
thrift_status_t thrift__wire_begin(thrift_buffer_t *out, thrift_framing_t framing,
                                   const thrift__header_out_t *h, thrift__wire_mark_t *m,
                                   thrift_error_t *err);
/* Finishes the message begun at `m`; THRIFT_LIMIT when it is larger than
 * max_frame_size.  On an error the caller cuts `out` back to m->start. */
thrift_status_t thrift__wire_end(thrift_buffer_t *out, thrift_framing_t framing,
                                 const thrift__wire_mark_t *m, size_t max_frame_size,
                                 thrift_error_t *err);

/* ---- addresses ---------------------------------------------------------- */
typedef enum thrift__scheme {
    THRIFT__SCHEME_PLAIN = 0, /* host:port, [v6]:port, unix:/path */
    THRIFT__SCHEME_TLS,       /* tls://host:port */
    THRIFT__SCHEME_HTTP,      /* http://host:port/path */
    THRIFT__SCHEME_HTTPS      /* https://host:port/path */
} thrift__scheme_t;

typedef struct thrift__addr {
    struct sockaddr_storage sa;
    socklen_t len;
    int family; /* AF_INET, AF_INET6, AF_UNIX */
    thrift__scheme_t scheme;
    char host[256]; /* as written (no brackets): TLS server name */
    char path[256]; /* http(s): the request path, "/" by default */
} thrift__addr_t;

/* Parses "host:port", "[v6]:port", "unix:/path", optionally behind
 * "tls://", "http://" or "https://" (then "/path" may follow the port),
 * names resolved with getaddrinfo (the first address wins).  `passive`: an
 * empty host or "*" means any address. */
thrift_status_t thrift__addr_parse(const char *text, bool passive, thrift__addr_t *out,
                                   thrift_error_t *err);
/* Splits "host:port" without resolving (for tests and messages): host into
 * host[hostsize]; *is_unix for "unix:" (host then holds the path). */
thrift_status_t thrift__addr_split(const char *text, char *host, size_t hostsize, int *port,
                                   bool *is_unix, thrift_error_t *err);

/* ---- sockets (non-blocking, close-on-exec) ------------------------------ */
/* Starts a non-blocking connect; *in_progress when EINPROGRESS.  -1 on error. */
int thrift__sock_connect(const thrift__addr_t *addr, bool *in_progress, thrift_error_t *err);
int thrift__sock_listen(const thrift__addr_t *addr, bool reuseport, thrift_error_t *err);
void thrift__sock_tune(int fd, int family);
/* The bound port of a TCP socket, 0 otherwise. */
int thrift__sock_port(int fd);

/* A function run once, first thing in thrift_rpc_server_stop or _free (or
 * when replaced by another): discovery.c withdraws a server's ServerSet
 * member with it before the listeners close.  Loop thread. */
void thrift__rpc_server_set_stop_hook(thrift_rpc_server_t *srv, void (*hook)(void *ud), void *ud);
struct ev_loop *thrift__rpc_server_loop(const thrift_rpc_server_t *srv);

/* Arguments from JSON text (json_glue.c): an object by name or an array by
 * position; a blank text or "null" gives an empty args struct.  Allocated
 * in `arena`; NULL with err set.  The gateway reads arrays with it. */
thrift_value_t *thrift__args_from_json(const thrift_function_def_t *fn, thrift_arena_t *arena,
                                       const char *text, thrift_error_t *err);

#endif
