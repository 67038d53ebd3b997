/* A general HTTP/1.1 server on the transport stack (stream.c for the
 * socket, http.c's request reader in its SERVER_ANY role): any method and
 * path, handed to one callback; answers written in request order, so
 * pipelined requests may be answered out of order by the handler (each is
 * held until those before it are out).  The gateway's listener.
 *
 * Limits, each closing the connection after an error status: a head over
 * THRIFT__HTTP_MAX_HEADER (431), a body over max_body (413), a request not
 * complete within request_timeout_ms of its first byte (408: slowloris),
 * malformed requests (400, 501).  Idle keep-alive connections close after
 * idle_timeout_ms.  Reading pauses while max_pipelined requests wait for
 * their answers.
 *
 * One loop, one thread.  Internal to the library and its tools (thrift__). */
#ifndef DYNTHRIFT_NET_HTTP_SERVER_H
#define DYNTHRIFT_NET_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "net/net_impl.h"

struct ev_loop;

typedef struct thrift__http_server thrift__http_server_t;
/* One request awaiting its answer; gone after thrift__http_respond. */
typedef struct thrift__http_exchange thrift__http_exchange_t;

typedef struct thrift__http_request {
    const char *method, *target; /* not NUL-terminated */
    size_t method_len, target_len;
    const uint8_t *body;
    size_t body_len;
    const thrift__http_t *http; /* headers: thrift__http_header(req->http, ...) */
} thrift__http_request_t;

/* Runs once per request, in arrival order.  `req` is borrowed for the call
 * only; the handler answers `x` exactly once, now or later, with
 * thrift__http_respond (also when the connection has gone meanwhile: the
 * answer is then dropped). */
typedef void (*thrift__http_request_cb)(thrift__http_exchange_t *x,
                                        const thrift__http_request_t *req, void *ud);

typedef struct thrift__http_server_limits {
    size_t max_body;             /* bytes (413 above); 0: 16,384,000 */
    uint32_t request_timeout_ms; /* first byte to complete request; 0: 10,000 */
    uint32_t idle_timeout_ms;    /* between requests; 0: 60,000 */
    unsigned max_pipelined;      /* answers outstanding per connection; 0: 64 */
    size_t max_connections;      /* more are closed at once; 0: no limit */
} thrift__http_server_limits_t;

/* Returns owned (free with thrift__http_server_free), NULL on out of memory.
 * `limits` may be NULL (defaults). */
thrift__http_server_t *thrift__http_server_new(struct ev_loop *loop,
                                               const thrift__http_server_limits_t *limits,
                                               thrift__http_request_cb cb, void *ud,
                                               thrift_error_t *err);
/* TLS for the https:// listeners (listen after this): the server context
 * of the stream stack (stream_tls.c) from `opts`' TLS settings -- its
 * certificate and key, and a CA file to require client certificates signed
 * by it.  A connection's handshake must finish within the request timeout;
 * one that fails (a plain-HTTP client, a refused certificate) is closed.
 * THRIFT_UNSUPPORTED without TLS in the build, a file or key error
 * otherwise; THRIFT_MISUSE when called twice. */
thrift_status_t thrift__http_server_set_tls(thrift__http_server_t *s,
                                            const thrift_conn_options_t *opts,
                                            thrift_error_t *err);
/* Listens on "host:port" (port 0: a free one), "[v6]:port" or "unix:/path",
 * plain; on "https://host:port" (or "tls://") with TLS, after
 * thrift__http_server_set_tls. */
thrift_status_t thrift__http_server_listen(thrift__http_server_t *s, const char *address,
                                           thrift_error_t *err);
/* The first listener's TCP port (0 when none). */
int thrift__http_server_port(const thrift__http_server_t *s);
size_t thrift__http_server_connection_count(const thrift__http_server_t *s);
/* Closes every connection (exchanges still held are orphaned: their
 * answers are dropped) and frees the server.  NULL-safe. */
void thrift__http_server_free(thrift__http_server_t *s);

/* Answers `x`: `status` with `content_type`, `extra_headers` ("Name:
 * value\r\n" lines, may be NULL) and `body` (copied; not sent for HEAD). */
void thrift__http_respond(thrift__http_exchange_t *x, int status, const char *content_type,
                          const char *extra_headers, const uint8_t *body, size_t len);

/* "OK", "Not Found"...: the reason phrase of `status` (static). */
const char *thrift__http_reason(int status);

#endif
