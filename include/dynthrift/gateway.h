/* dynthrift — the JSON/HTTP gateway: any Thrift service reached with a JSON
 * body over HTTP, as grpc-gateway does for gRPC.
 *
 * The gateway is I/O-free on its HTTP side: an HTTP server (the transport
 * stack's, or any other) hands it a request line's method and path plus the
 * body, and writes back what thrift_gateway_handle answers.  Its Thrift side
 * is a thrift_conn_t per service on the caller's loop (pipelined: many calls
 * in flight on one upstream connection), or a cluster per service
 * (thrift_gateway_set_cluster: several servers, balanced or hashed, static or
 * followed in ZooKeeper).
 *
 * Routes:
 *   POST /SERVICE/METHOD   body: a JSON object (arguments by name), an array
 *                          (by position) or nothing (no arguments)
 *   GET  /schema           services, methods, argument types, docs (JSON)
 *   GET  /openapi.json     an OpenAPI 3.0 document of every method
 *
 * Answers (all JSON, content type application/json):
 *   200  {"result": VALUE}               (null for void methods)
 *   200  {"exception": "Name", "value": {...}}   a declared exception; the
 *        exception is part of the method's contract, so it is a successful
 *        HTTP exchange (as a Thrift client sees it: a typed answer); the
 *        header X-Thrift-Exception names it for clients that only look at
 *        headers (thrift_gateway_response_t.exception)
 *   202  {}                              oneway: the request was written
 *   400  {"error": {...}}                bad JSON or arguments: "path" names
 *                                        the value ("add_args.a"), "line"
 *                                        and "column" a syntax error
 *   404  unknown service, method or path; 405 wrong HTTP method
 *   502  a TApplicationException ("type", "type_id", "message") or a reply
 *        that could not be read (protocol error)
 *   503  the upstream cannot be reached (connect failed, connection closed;
 *        with a cluster: the server the call went to, which is then marked
 *        down so that the next calls go to the others, or no server up)
 *   504  the upstream did not answer within the deadline
 * Every error body is {"error": {"status": "THRIFT_TIMEOUT", "message":
 * "...", ...}} with "status" the thrift_status_name of the failure.  Bodies
 * are compact JSON (no spaces), as the direct writer makes them.
 *
 * Thread-safety: a gateway belongs to the thread running its loop. */
#ifndef DYNTHRIFT_GATEWAY_H
#define DYNTHRIFT_GATEWAY_H

#include "dynthrift/common.h"
#include "dynthrift/net.h"
#include "dynthrift/pool.h"
#include "dynthrift/proto.h"
#include "dynthrift/schema.h"
#include "dynthrift/value.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ev_loop;

typedef struct thrift_gateway thrift_gateway_t;

/* A THeader info header forwarded through the gateway (borrowed text). */
typedef struct thrift_gateway_header {
    const char *key, *value;
} thrift_gateway_header_t;

/* What to send back for one HTTP request.  Everything is borrowed: for an
 * answer given at once (thrift_gateway_handle returned 1) until the next
 * thrift_gateway_handle or thrift_gateway_free; for one handed to a
 * callback, for the callback's duration. */
typedef struct thrift_gateway_response {
    int status;               /* the HTTP status code */
    const char *content_type; /* static, "application/json" */
    const char *exception;    /* the declared exception's type name, or NULL */
    const uint8_t *body;
    size_t body_len;
    /* The reply's THeader info headers (upstream framing
     * THRIFT_FRAMING_HEADER), in the order received; none otherwise. */
    const thrift_gateway_header_t *headers;
    size_t header_count;
} thrift_gateway_response_t;

/* Runs once per request answered later, on the loop thread, never inside
 * thrift_gateway_handle. */
typedef void (*thrift_gateway_cb)(const thrift_gateway_response_t *resp, void *ud);

/* A gateway to the services of `schema` served at `upstream` (any address
 * thrift_conn_new takes; NULL: only the services given a cluster with
 * thrift_gateway_set_cluster are served, the others answer 503), on `loop`.  `opts` (may be NULL: defaults) set
 * the upstream protocol, framing and limits; it is copied.  The upstream
 * connections are made on first use, one per service.  Takes a reference on
 * `schema`.  Returns owned; free with thrift_gateway_free.  NULL on failure
 * (a malformed address, out of memory) with err set. */
THRIFT_API thrift_gateway_t *thrift_gateway_new(struct ev_loop *loop, thrift_schema_t *schema,
                                                const char *upstream,
                                                const thrift_conn_options_t *opts,
                                                thrift_error_t *err);
/* Fails the calls in flight (their callbacks run during this call with a 503)
 * and frees the gateway.  Free the clusters given to
 * thrift_gateway_set_cluster first (that answers their calls in flight).
 * NULL-safe. */
THRIFT_API void thrift_gateway_free(thrift_gateway_t *gw);

/* Sends the calls of `service` through `cluster` instead of a connection to
 * the gateway's upstream address: a cluster of that service made on the
 * gateway's schema and loop (thrift_cluster_new), borrowed, freed by the
 * caller before the gateway.  Call before the first request of the
 * service.  A cluster's calls take the request's deadline and info headers
 * as a single connection's do (thrift_cluster_call_async_ex), and their
 * replies' info headers come back in the response.  THRIFT_NOT_FOUND for an unknown service,
 * THRIFT_MISUSE when the service has its upstream already. */
THRIFT_API thrift_status_t thrift_gateway_set_cluster(thrift_gateway_t *gw, const char *service,
                                                      thrift_cluster_t *cluster,
                                                      thrift_error_t *err);

/* Handles one request: `method` is the HTTP method ("POST"), `path` the
 * request target (a query string is ignored), `body` (may be NULL when
 * `len` is 0) is borrowed for the call.  `timeout_ms` is the deadline of
 * the upstream call (0: the connection options' call timeout).  Returns 1
 * when the answer is ready now (in *resp, and `cb` never runs), 0 when the
 * upstream call is in flight and `cb` runs once later with the answer. */
THRIFT_API int thrift_gateway_handle(thrift_gateway_t *gw, const char *method, const char *path,
                                     const uint8_t *body, size_t len, uint32_t timeout_ms,
                                     thrift_gateway_response_t *resp, thrift_gateway_cb cb,
                                     void *ud);

/* As thrift_gateway_handle, with THeader info headers for the upstream
 * call (`headers`, `count`: borrowed for the call; sent when the upstream
 * framing is THRIFT_FRAMING_HEADER).  A key or value holding a control
 * character is not forwarded. */
THRIFT_API int thrift_gateway_handle_ex(thrift_gateway_t *gw, const char *method, const char *path,
                                        const uint8_t *body, size_t len, uint32_t timeout_ms,
                                        const thrift_gateway_header_t *headers, size_t count,
                                        thrift_gateway_response_t *resp, thrift_gateway_cb cb,
                                        void *ud);

/* Upstream calls in flight. */
THRIFT_API size_t thrift_gateway_pending(const thrift_gateway_t *gw);

/* ---- the pieces, I/O-free (also used by the gateway itself) -------------- */

/* A request body -> `fn`'s args struct, allocated in `arena`.  An object is
 * read by the direct (treeless) JSON scanner; an array by position; an
 * empty or all-blank body (or null) means no arguments.  NULL on failure
 * with err set (path, line and column as thrift_json_loads sets them). */
THRIFT_API thrift_value_t *thrift_gateway_args_from_json(const thrift_function_def_t *fn,
                                                         thrift_arena_t *arena, const char *body,
                                                         size_t len, thrift_error_t *err);

/* A call's outcome -> the HTTP status and body appended to `out` (see the
 * table above).  `status` is the call's status; `value` the result value
 * (THRIFT_OK) or the exception (THRIFT_DECLARED_EXCEPTION, then
 * `exception_name` names its type); `app_type` the TApplicationException
 * type (THRIFT_APP_EXCEPTION); `err` the details of any failure (may be
 * NULL).  Returns the HTTP status, or 0 with *out unchanged when the value
 * cannot be written (its text set in `werr`, may be NULL). */
THRIFT_API int thrift_gateway_reply_json(const thrift_function_def_t *fn, thrift_status_t status,
                                         const thrift_value_t *value, const char *exception_name,
                                         int app_type, const thrift_error_t *err,
                                         thrift_buffer_t *out, thrift_error_t *werr);

/* The body of a failure answer: {"error": {"status": ..., "message": ...,
 * "path"?, "line"?, "column"?}}; returns the HTTP status it goes with. */
THRIFT_API int thrift_gateway_error_json(thrift_status_t status, const thrift_error_t *err,
                                         thrift_buffer_t *out);

/* GET /schema and GET /openapi.json of `schema` (every service of every
 * module).  Return owned, NUL-terminated text (free with
 * thrift_json_text_free), NULL on out of memory. */
THRIFT_API char *thrift_gateway_schema_json(const thrift_schema_t *schema, thrift_error_t *err);
THRIFT_API char *thrift_gateway_openapi_json(const thrift_schema_t *schema, thrift_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
