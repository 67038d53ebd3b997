/* dynthrift — calling and serving Thrift methods by name over libev.
 *
 * The caller owns the event loop: async functions take a `struct ev_loop *`
 * and the library never touches ev_default_loop.  The blocking client API
 * (thrift_connect + thrift_call) is the async one driven by a private loop.
 * This header does not include <ev.h>; `struct ev_loop` is only named.
 *
 * Everything here is an opaque handle created and freed by functions, so a
 * scripting host (Lua, Python ctypes/cffi) can bind it without struct
 * layouts.  Every callback takes `void *ud` last.  Errors are reported
 * through a caller-owned thrift_error_t (render it with
 * thrift_error_render) or a thrift_status_t (thrift_status_str).
 *
 * Rules for callbacks (as in hiredis and libuv):
 *  - a function that returns an error never runs its callback;
 *  - otherwise the callback runs exactly once, on the loop thread, never
 *    inside the call that registered it (also on timeout, close and free);
 *  - everything a callback receives is borrowed for the callback's duration
 *    unless it says otherwise;
 *  - freeing a connection or server from inside its own callback is legal
 *    (the free is deferred until the callback returns).
 *
 * Threads: a schema may be shared between threads.  A connection or server
 * belongs to the thread running its loop; the only exception is
 * thrift_call_submit, which any thread may call. */
#ifndef DYNTHRIFT_NET_H
#define DYNTHRIFT_NET_H

#include "dynthrift/common.h"
#include "dynthrift/proto.h"
#include "dynthrift/schema.h"
#include "dynthrift/value.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ev_loop;

/* ---- options -------------------------------------------------------------
 * One options object configures both a client connection and the
 * connections a server accepts.  Setters never fail (but for the multiplexed
 * name, which may be too long): a value out of range is
 * clamped.  Options are copied by the functions that take them, so an
 * options object may be freed right after use. */

typedef enum thrift_framing {
    THRIFT_FRAMING_BUFFERED = 0, /* unframed: message ends found by parsing */
    THRIFT_FRAMING_FRAMED = 1,   /* 4-byte big-endian length before each */
    /* THeader (Apache's doc/specs/HeaderFormat.md): a frame with flags,
     * sequence id, protocol id (binary or compact: the protocol option),
     * transforms (zlib when the zlib option is on) and key/value info
     * headers.  A THeader server also answers framed and unframed binary
     * and compact clients, each in its own kind. */
    THRIFT_FRAMING_HEADER = 2,
    /* Servers: recognize each connection's kind from its first bytes --
     * framed, buffered (strict or old-style binary, compact, JSON), THeader,
     * HTTP, and TLS (a ClientHello, when the server has a certificate and
     * key) -- and answer it in kind.  What a server does unless a framing
     * is set (which pins that one kind) or zlib is on.  Clients: framed. */
    THRIFT_FRAMING_AUTO = 3
} thrift_framing_t;

typedef struct thrift_conn_options thrift_conn_options_t;

/* Returns owned; free with thrift_conn_options_free.  Defaults: binary,
 * framed, connect timeout 5000 ms, no call timeout, max frame 16,384,000
 * bytes, not multiplexed, idle timeout 0 (none).  NULL on out of memory. */
THRIFT_API thrift_conn_options_t *thrift_conn_options_new(void);
/* NULL-safe. */
THRIFT_API void thrift_conn_options_free(thrift_conn_options_t *opts);
THRIFT_API void thrift_conn_options_set_protocol(thrift_conn_options_t *opts, thrift_protocol_t proto);
THRIFT_API void thrift_conn_options_set_framing(thrift_conn_options_t *opts, thrift_framing_t framing);
/* 0: wait forever. */
THRIFT_API void thrift_conn_options_set_connect_timeout_ms(thrift_conn_options_t *opts, uint32_t ms);
/* Default deadline of each call, from submission to reply; 0: none. */
THRIFT_API void thrift_conn_options_set_call_timeout_ms(thrift_conn_options_t *opts, uint32_t ms);
/* Largest frame (framed) or message (buffered) accepted or sent. */
THRIFT_API void thrift_conn_options_set_max_frame_size(thrift_conn_options_t *opts, size_t bytes);
/* Client: prefix method names with "Service:" (Apache's TMultiplexedProtocol).
 * Server: ignored (a server accepts both forms). */
THRIFT_API void thrift_conn_options_set_multiplexed(thrift_conn_options_t *opts, bool on);
#define THRIFT_MULTIPLEXED_NAME_MAX 255
/* Client: the name a multiplexing server registered the service under,
 * when it is not the IDL service's name (Apache's
 * TMultiplexedProcessor.registerProcessor("Calc", ...)): method names are
 * sent as "NAME:method".  Turns multiplexing on; NULL or "" goes back to
 * the IDL service's name.  Copied.  The one setter that can fail:
 * THRIFT_LIMIT over THRIFT_MULTIPLEXED_NAME_MAX bytes, THRIFT_INVALID for
 * a name with ':' (the option is then unchanged). */
THRIFT_API thrift_status_t thrift_conn_options_set_multiplexed_name(thrift_conn_options_t *opts,
                                                                    const char *name);
/* Server connections: close after this long without a byte read (nor,
 * while replies wait for a full socket, a byte written: a peer that reads
 * its replies slowly is not idle); 0: never.  A connection under output
 * back-pressure (see thrift_rpc_server_buffer_bytes) reads nothing, so a
 * peer that never reads its replies is closed by this timeout. */
THRIFT_API void thrift_conn_options_set_idle_timeout_ms(thrift_conn_options_t *opts, uint32_t ms);

/* ---- transport stack: socket -> TLS -> framing -> zlib -> protocol ----
 * Text options are copied; THRIFT_LIMIT beyond THRIFT_OPTION_TEXT_MAX bytes
 * (the option is then unchanged).  An address "tls://host:port" turns TLS
 * on by itself. */
#define THRIFT_OPTION_TEXT_MAX 511
/* THeader info header keys and values: at most this many bytes each. */
#define THRIFT_HEADER_TEXT_MAX 4096
/* TLS on the connection (client) or on every listener (server).  Default off. */
THRIFT_API void thrift_conn_options_set_tls(thrift_conn_options_t *opts, bool on);
/* PEM file of trusted CAs.  Client: verifies the server against it (the
 * system's CAs when unset).  Server: requires client certificates signed by
 * it (mTLS).  NULL or "" unsets. */
THRIFT_API thrift_status_t thrift_conn_options_set_tls_ca_file(thrift_conn_options_t *opts,
                                                               const char *path);
/* PEM certificate (chain) and its key: required by a TLS server; a client
 * certificate on a client. */
THRIFT_API thrift_status_t thrift_conn_options_set_tls_cert_file(thrift_conn_options_t *opts,
                                                                 const char *path);
THRIFT_API thrift_status_t thrift_conn_options_set_tls_key_file(thrift_conn_options_t *opts,
                                                                const char *path);
/* Client: the name sent in SNI and checked against the certificate;
 * default the address's host (an IP address is checked as an address). */
THRIFT_API thrift_status_t thrift_conn_options_set_tls_server_name(thrift_conn_options_t *opts,
                                                                   const char *name);
/* Client: verify the server's certificate and name (default true); false is
 * curl's --insecure. */
THRIFT_API void thrift_conn_options_set_tls_verify(thrift_conn_options_t *opts, bool on);
/* Server: close a connection whose TLS handshake takes longer (default
 * 10000; 0 = no limit).  A client's handshake counts in its connect timeout. */
THRIFT_API void thrift_conn_options_set_handshake_timeout_ms(thrift_conn_options_t *opts,
                                                             uint32_t ms);
/* Apache's TZlibTransport around the framing (default off); level 0-9, or
 * -1 for zlib's default. */
THRIFT_API void thrift_conn_options_set_zlib(thrift_conn_options_t *opts, bool on, int level);
/* HTTP clients (addresses http://host:port/path, https://...): the request
 * path, overriding the address's ("/..."; THRIFT_INVALID otherwise), and
 * extra request headers ("Name", "value"; CR/LF refused as THRIFT_INVALID,
 * THRIFT_LIMIT past 4 KB in all).  A server listening on http:// answers
 * any path. */
THRIFT_API thrift_status_t thrift_conn_options_set_http_path(thrift_conn_options_t *opts,
                                                             const char *path);
THRIFT_API thrift_status_t thrift_conn_options_add_http_header(thrift_conn_options_t *opts,
                                                               const char *name,
                                                               const char *value);

/* How long a message may take to arrive once its first byte is in (more
 * exactly: since the previous message on the connection completed, or the
 * first byte of this one arrived).  A connection stuck inside a partial
 * message for longer is closed and its read buffer freed, so a slow or
 * stalled peer (a slowloris announcing a 16 MB frame) cannot hold memory
 * for good.  A server closes the connection (THRIFT_CLOSE_READ_TIMEOUT); a
 * client fails its pending calls with THRIFT_TIMEOUT.  An idle connection,
 * between messages, is not affected (see the idle timeout).  Default
 * THRIFT_READ_TIMEOUT_DEFAULT_MS (30 s), for servers and clients alike;
 * 0: none. */
#define THRIFT_READ_TIMEOUT_DEFAULT_MS 30000
THRIFT_API void thrift_conn_options_set_read_timeout_ms(thrift_conn_options_t *opts, uint32_t ms);
/* Blocking calls (thrift_call, thrift_pool_call, thrift_cluster_call*, the
 * bindings' blocking clients): the longest time, in microseconds, a wait for
 * a reply polls the connection without sleeping before it sleeps in
 * poll(2) as usual; 0: never (always sleep).  A thread that sleeps takes
 * tens of microseconds to wake up -- on a VM often longer than a loopback or
 * same-rack peer takes to answer -- so a short busy-poll can double the rate
 * of one-call-at-a-time clients (2.45x measured across two cores of this
 * project's VM, README "Blocking clients: busy-poll").  The cost: while a
 * reply from a fast peer is due, the thread spins instead of sleeping, so
 * back-to-back calls keep its core busy (CPU time per call stays about the
 * same: the wake-ups saved cost CPU too).  The poll adapts per connection
 * (pool, cluster), lasting about twice the usual reply time plus 5 us;
 * once replies keep coming later than this cap, it polls only once every
 * few calls, backing off to one call in 256, so a peer answering in
 * milliseconds costs well under 1% of a core.  Async connections on a
 * caller's loop never busy-poll.  Servers (thrift_rpc_server_new's
 * options) read it too: after a loop iteration that wrote replies, each
 * server loop (every worker thread's) keeps polling without sleeping for
 * the same adaptive window, so the next request of a one-call-at-a-time
 * client is read without a wake-up (about 1.5-2x the 1-connection rate
 * with client and server on two cores, README "Transports"); it lasts
 * about twice the usual gap from a reply to the next request plus 5 us,
 * backs off the same way when requests come later, and never runs on an
 * idle server; 0 turns it off.  Values over THRIFT_BUSY_POLL_MAX_US are
 * clamped.  See thrift_conn_busy_poll_stats and
 * thrift_rpc_server_busy_poll_stats. */
#define THRIFT_BUSY_POLL_DEFAULT_US 50
#define THRIFT_BUSY_POLL_MAX_US 10000
THRIFT_API void thrift_conn_options_set_busy_poll_us(thrift_conn_options_t *opts, uint32_t us);
/* Sets an option from text, for hosts and command lines: "protocol"
 * (binary|compact|json), "transport"/"framing" (framed|buffered),
 * "connect_timeout_ms", "call_timeout_ms", "max_frame_size",
 * "multiplexed" (0|1), "multiplex_name" (a service name: implies
 * multiplexed), "idle_timeout_ms", "read_timeout_ms", "tls" (0|1), "tls_ca",
 * "tls_cert", "tls_key", "tls_server_name", "tls_verify" (0|1),
 * "handshake_timeout_ms", "zlib" (0|1), "zlib_level" (-1..9), "http_path",
 * "http_header" ("Name: value", added to those set before), "busy_poll_us"
 * (0..THRIFT_BUSY_POLL_MAX_US).
 * THRIFT_NOT_FOUND for an unknown key, THRIFT_INVALID for a bad value,
 * THRIFT_UNSUPPORTED for a transport this build lacks (TLS without
 * OpenSSL, zlib without zlib). */
THRIFT_API thrift_status_t thrift_conn_options_set(thrift_conn_options_t *opts, const char *key,
                                                   const char *value, thrift_error_t *err);

/* ---- call results ----------------------------------------------------------
 * What a call produced.  Borrowed: valid during the callback it is handed to
 * (async) or until the next call on the connection (blocking). */
typedef struct thrift_result thrift_result_t;

/* THRIFT_OK: success (void methods and oneway calls included);
 * THRIFT_DECLARED_EXCEPTION: the server threw an exception named in the
 * method's `throws` (thrift_result_value is that exception);
 * THRIFT_APP_EXCEPTION: a TApplicationException (see thrift_result_app_type);
 * THRIFT_TIMEOUT, THRIFT_CLOSED, THRIFT_TRANSPORT, THRIFT_PROTOCOL, ... */
THRIFT_API thrift_status_t thrift_result_status(const thrift_result_t *r);
/* The error details (code == thrift_result_status).  Borrowed. */
THRIFT_API const thrift_error_t *thrift_result_error(const thrift_result_t *r);
/* On success: the returned value, a value of kind THRIFT_KIND_VOID for void
 * methods and oneway calls.  On a declared exception: the exception struct.
 * Otherwise NULL.  Borrowed (lives in the result's arena). */
THRIFT_API const thrift_value_t *thrift_result_value(const thrift_result_t *r);
/* The declared exception's type name ("BenchError") or NULL. */
THRIFT_API const char *thrift_result_exception_name(const thrift_result_t *r);
/* The TApplicationException type (thrift_app_exception_type_t) when the status
 * is THRIFT_APP_EXCEPTION; -1 otherwise. */
THRIFT_API int thrift_result_app_type(const thrift_result_t *r);
/* The method this result answers. */
THRIFT_API const char *thrift_result_method(const thrift_result_t *r);
/* THeader info headers the reply carried: the value of `key`, or NULL;
 * borrowed like the result. */
THRIFT_API const char *thrift_result_header(const thrift_result_t *r, const char *key);
/* The i-th info header of the reply (from 0): false past the last. */
THRIFT_API bool thrift_result_header_at(const thrift_result_t *r, size_t i, const char **key,
                                        const char **value);
/* Takes ownership of the arena holding the value, so the value outlives the
 * callback: returns owned (free with thrift_arena_free), or NULL when the
 * result has no arena.  Afterwards the result has no arena. */
THRIFT_API thrift_arena_t *thrift_result_take_arena(thrift_result_t *r);

/* ---- client ---------------------------------------------------------------- */

typedef struct thrift_conn thrift_conn_t;

/* Runs once per call with its result (borrowed for the callback).
 * `conn` may be freed inside the callback. */
typedef void (*thrift_call_cb)(thrift_conn_t *conn, thrift_result_t *result, void *ud);

/* A connection to `service` of `schema` at `address` ("host:port",
 * "[::1]:port", "name:port" resolved with getaddrinfo, or "unix:/path"),
 * driven by the caller's `loop`.  Connects asynchronously on first use (and
 * again after a break).  Once open, the connection's watchers keep `loop`
 * alive: ev_run returns only after thrift_conn_free (or an ev_break), not
 * when the last call is answered -- as a server's listening socket and
 * connections do until thrift_rpc_server_stop's callback.  Returns owned; free with thrift_conn_free.  Takes a
 * reference on `schema`.  `opts` may be NULL (defaults); it is copied.  NULL
 * on a bad address, an unknown service or out of memory. */
THRIFT_API thrift_conn_t *thrift_conn_new(struct ev_loop *loop, thrift_schema_t *schema,
                                          const char *service, const char *address,
                                          const thrift_conn_options_t *opts, thrift_error_t *err);

/* The blocking flavour: a connection with its own private loop, connected
 * before returning (within the connect timeout).  Use it with thrift_call*.
 * Returns owned; free with thrift_conn_free.  NULL on failure, with err
 * saying why as the async path does ("connect to HOST:PORT: Connection
 * refused", "... timed out").
 *
 * Defaults (thrift_conn_options_new): binary protocol, framed transport,
 * 5000 ms connect timeout, NO call timeout (a call waits as long as the
 * connection lives; set thrift_conn_options_set_call_timeout_ms for a
 * deadline, which the dynthrift CLI always does), 16384000-byte frames.  A
 * peer answering in another framing or protocol is recognized from its
 * first bytes and the error says so ("... the peer seems to use buffered
 * (unframed) transport"); a peer that reads our request as something else
 * may say nothing at all, which only a call timeout catches. */
THRIFT_API thrift_conn_t *thrift_connect(thrift_schema_t *schema, const char *service,
                                         const char *address, const thrift_conn_options_t *opts,
                                         thrift_error_t *err);

/* Fails every pending call with THRIFT_CLOSED (their callbacks run during
 * this call, as hiredis's redisAsyncFree does; they must not submit new
 * calls) and frees the connection.  NULL-safe.  Legal inside the
 * connection's own callback: the free then happens when it returns. */
THRIFT_API void thrift_conn_free(thrift_conn_t *conn);

/* Calls outstanding (sent or queued, not yet answered). */
THRIFT_API size_t thrift_conn_pending(const thrift_conn_t *conn);
/* THeader info headers (framing THRIFT_FRAMING_HEADER; ignored otherwise).
 * Copied.  thrift_conn_set_header: sent with every call from now on;
 * thrift_conn_set_call_header: with the next call submitted on this thread
 * (thrift_call, thrift_call_async...) only.  A NULL value removes the key.
 * THRIFT_LIMIT over THRIFT_HEADER_TEXT_MAX bytes, THRIFT_MISUSE for an
 * empty key.  Not for thrift_call_submit from other threads. */
THRIFT_API thrift_status_t thrift_conn_set_header(thrift_conn_t *conn, const char *key,
                                                  const char *value);
THRIFT_API thrift_status_t thrift_conn_set_call_header(thrift_conn_t *conn, const char *key,
                                                       const char *value);
/* Times the connection broke since it was created (connect failure or
 * timeout, peer close, bad reply stream): pools compare it before and after
 * a call to tell a dead connection from a failed call. */
THRIFT_API uint64_t thrift_conn_break_count(const thrift_conn_t *conn);
/* Bytes written to and received from the peer since the connection was
 * created (over all reconnects; read them inside a failed call's callback
 * to judge that call's connection): with no byte
 * received after a request went out, a timeout or close points at a
 * transport or protocol mismatch rather than a slow server. */
THRIFT_API uint64_t thrift_conn_bytes_sent(const thrift_conn_t *conn);
THRIFT_API uint64_t thrift_conn_bytes_received(const thrift_conn_t *conn);
/* Blocking calls on a thrift_connect connection so far (busy_poll_us):
 * *spun: waits that busy-polled; *caught: those whose reply arrived during
 * the poll (the others then slept).  A low caught/spun ratio says the peer
 * answers later than the cap: the poll then backs off by itself, and
 * busy_poll_us=0 saves the rest.  Either pointer may be NULL. */
THRIFT_API void thrift_conn_busy_poll_stats(const thrift_conn_t *conn, uint64_t *spun,
                                            uint64_t *caught);
/* Sees the bytes of every send() (`sent`) and recv() on the connection, as
 * they go: for traces such as `dynthrift call -v` and debugging.  `bytes`
 * is borrowed for the callback's duration.  Runs on the loop thread inside
 * the connection's I/O; it must not call into the connection.  NULL turns
 * it off. */
typedef void (*thrift_conn_trace_cb)(thrift_conn_t *conn, bool sent, const uint8_t *bytes,
                                     size_t len, void *ud);
THRIFT_API void thrift_conn_set_trace_cb(thrift_conn_t *conn, thrift_conn_trace_cb cb, void *ud);
/* The service definition the connection talks to.  Borrowed. */
THRIFT_API const thrift_service_def_t *thrift_conn_service(const thrift_conn_t *conn);
/* An empty args struct for `method`, allocated in `arena`, to fill by name
 * with thrift_value_set/thrift_value_field.  NULL for an unknown method. */
THRIFT_API thrift_value_t *thrift_conn_new_args(thrift_conn_t *conn, thrift_arena_t *arena,
                                                const char *method, thrift_error_t *err);

/* Async call on the connection's loop.  `args` is the method's args struct
 * (from thrift_conn_new_args) or NULL for no arguments; it is encoded before
 * this returns, so it may be freed right away.  Fails up front (callback
 * never runs) on an unknown method, missing required arguments, a type error
 * or out of memory; otherwise `cb` (may be NULL) runs once, later.  Must be
 * called on the loop thread.  Requests wait in the connection's queue until
 * the socket takes them, and a deadline that fails a call cannot take back
 * its bytes: so while more than 64 MiB of requests are queued unwritten (a
 * server that reads none of them), new calls fail up front with
 * THRIFT_LIMIT.  The queue holds at most that plus one request. */
THRIFT_API thrift_status_t thrift_call_async(thrift_conn_t *conn, const char *method,
                                             const thrift_value_t *args,
                                             thrift_call_cb cb, void *ud);
/* As thrift_call_async with a deadline for this call (0: the connection's
 * default) and error details. */
THRIFT_API thrift_status_t thrift_call_async_ex(thrift_conn_t *conn, const char *method,
                                                const thrift_value_t *args, uint32_t timeout_ms,
                                                thrift_call_cb cb, void *ud, thrift_error_t *err);
/* Thread-safe: any thread may submit a call; it is encoded here and handed to
 * the loop thread through an ev_async; `cb` runs on the loop thread.  The
 * connection must not be freed while submissions may still arrive. */
THRIFT_API thrift_status_t thrift_call_submit(thrift_conn_t *conn, const char *method,
                                              const thrift_value_t *args,
                                              thrift_call_cb cb, void *ud, thrift_error_t *err);
/* As thrift_call_submit, with THeader info headers for this call only
 * (sent with the connection's own, THRIFT_FRAMING_HEADER only):
 * `headers` holds `nheaders` key/value pairs, key at [2i] and value at
 * [2i+1], copied here.  THRIFT_MISUSE for an empty key, THRIFT_LIMIT for
 * a key or value over THRIFT_HEADER_TEXT_MAX bytes (nothing is sent). */
THRIFT_API thrift_status_t thrift_call_submit_headers(thrift_conn_t *conn, const char *method,
                                                      const thrift_value_t *args,
                                                      const char *const *headers,
                                                      size_t nheaders, thrift_call_cb cb,
                                                      void *ud, thrift_error_t *err);

/* Blocking call (thrift_connect connections only; on an async connection it
 * fails with THRIFT_MISUSE).  Returns the result value, borrowed until the
 * next call on `conn` or its free: a THRIFT_KIND_VOID value for void and
 * oneway methods (oneway returns once the request is written).  NULL on
 * failure: err->code is THRIFT_DECLARED_EXCEPTION (thrift_conn_last_result
 * holds the exception value and name), THRIFT_APP_EXCEPTION, THRIFT_TIMEOUT,
 * THRIFT_CLOSED, ... */
THRIFT_API thrift_value_t *thrift_call(thrift_conn_t *conn, const char *method,
                                       const thrift_value_t *args, thrift_error_t *err);
/* The result of the last blocking call.  Borrowed, as thrift_call's value. */
THRIFT_API thrift_result_t *thrift_conn_last_result(thrift_conn_t *conn);

/* ---- JSON paths (jansson-backed mapping of dynthrift/json.h) ---------------
 * Arguments as JSON text: an object keyed by argument name, an array by
 * position, or NULL/"" for none.  Results as JSON text: the success value
 * (null for void), or for a declared exception the exception object.  Text
 * returned as owned is freed with thrift_json_text_free (dynthrift/json.h;
 * the name thrift_string_free is taken by Apache's c_glib). */

/* Blocking.  Returns owned JSON text (free with thrift_json_text_free); NULL on
 * failure with err filled; on a declared exception err->code is
 * THRIFT_DECLARED_EXCEPTION and thrift_result_json(thrift_conn_last_result())
 * gives the exception. */
THRIFT_API char *thrift_call_json(thrift_conn_t *conn, const char *method, const char *args_json,
                                  thrift_error_t *err);
/* Async, as thrift_call_async. */
THRIFT_API thrift_status_t thrift_call_async_json(thrift_conn_t *conn, const char *method,
                                                  const char *args_json, thrift_call_cb cb,
                                                  void *ud, thrift_error_t *err);
/* The result's value as JSON text: returns owned (thrift_json_text_free); NULL
 * when the result has no value. */
THRIFT_API char *thrift_result_json(const thrift_result_t *r, thrift_error_t *err);

/* ---- server -----------------------------------------------------------------
 * Named thrift_rpc_server_* because Apache's c_glib library exports
 * thrift_server_*.  A server serves one or more services of a schema on the
 * caller's loop, on TCP and/or Unix sockets.  Requests name a method either
 * plainly ("add") or multiplexed ("PingPong:add"); both are accepted. */

typedef struct thrift_rpc_server thrift_rpc_server_t;
/* One request being handled.  Valid from the handler's start until a reply
 * function (or thrift_request_abandon) is called on it, or, for oneway
 * methods, until the handler returns -- and never after
 * thrift_rpc_server_free.
 *
 * Cancellation (as in gRPC): when the connection of a request that a
 * handler keeps to answer later closes (the client left, idle timeout,
 * protocol error) or the server is freed, the request is cancelled: its
 * cancel callback (thrift_request_set_cancel_cb) runs, then its args, its
 * arena and the connection's buffers are freed at once.  Only a small
 * tombstone stays, until the handler calls a reply function (which then
 * returns THRIFT_CLOSED and sends nothing) or thrift_request_abandon: a
 * handler that never lets go leaks the tombstone until the server is
 * freed, nothing more.  After cancellation the args, thrift_request_arena
 * (NULL) and thrift_request_error (NULL) are gone; the method, function,
 * seqid and loop stay readable until the handler lets go. */
typedef struct thrift_request thrift_request_t;

/* Called with the decoded args struct (borrowed until the request is
 * answered or cancelled; its strings point into the connection's read
 * buffer, which the server keeps for requests answered after the handler
 * returns).  Reply now (call a thrift_reply* function before returning) or
 * later (keep `req` and reply from any callback on the same loop).  Return
 * THRIFT_OK; any other status, when no reply was made, answers the request
 * with TApplicationException INTERNAL_ERROR carrying `thrift_request_error`'s
 * text. */
typedef thrift_status_t (*thrift_handler_cb)(thrift_request_t *req, const thrift_value_t *args,
                                             void *ud);
/* The JSON flavour: `args_json` is an object keyed by argument name
 * (borrowed for the handler's duration). */
typedef thrift_status_t (*thrift_json_handler_cb)(thrift_request_t *req, const char *args_json,
                                                  void *ud);

/* Returns owned; free with thrift_rpc_server_free.  Takes a reference on
 * `schema`.  `opts` may be NULL; it is copied.  NULL on out of memory. */
THRIFT_API thrift_rpc_server_t *thrift_rpc_server_new(struct ev_loop *loop, thrift_schema_t *schema,
                                                      const thrift_conn_options_t *opts,
                                                      thrift_error_t *err);
/* Registers a handler for `method` of `service` (NULL: the schema's main
 * module's only/last service).  THRIFT_NOT_FOUND for an unknown service or
 * method. */
THRIFT_API thrift_status_t thrift_rpc_server_handle(thrift_rpc_server_t *srv, const char *service,
                                                    const char *method, thrift_handler_cb cb,
                                                    void *ud, thrift_error_t *err);
/* As thrift_rpc_server_handle, answering multiplexed calls named
 * "mux_name:method" (thriftpy's and Apache's TMultiplexedProcessor register
 * a processor under any name) instead of "Service:method"; mux_name NULL
 * is the service's name.  THRIFT_MISUSE for an empty name or one with ':'. */
THRIFT_API thrift_status_t thrift_rpc_server_handle_as(thrift_rpc_server_t *srv,
                                                      const char *service, const char *mux_name,
                                                      const char *method, thrift_handler_cb cb,
                                                      void *ud, thrift_error_t *err);
THRIFT_API thrift_status_t thrift_rpc_server_handle_json(thrift_rpc_server_t *srv,
                                                         const char *service, const char *method,
                                                         thrift_json_handler_cb cb, void *ud,
                                                         thrift_error_t *err);
/* Limits: connections beyond `max` are accepted and closed at once (0: no
 * limit). */
THRIFT_API void thrift_rpc_server_set_max_connections(thrift_rpc_server_t *srv, size_t max);
/* Connection events, for logs and metrics. */
typedef enum thrift_conn_event {
    THRIFT_CONN_EVENT_ACCEPTED = 0, /* a connection was accepted and adopted */
    THRIFT_CONN_EVENT_CLOSED = 1,   /* an accepted connection closed (see the reason) */
    THRIFT_CONN_EVENT_REJECTED = 2  /* accepted and closed at once (see the reason) */
} thrift_conn_event_t;

/* Why a connection closed or was rejected. */
typedef enum thrift_close_reason {
    THRIFT_CLOSE_NONE = 0,     /* (ACCEPTED) */
    THRIFT_CLOSE_PEER = 1,     /* the peer closed or reset it */
    THRIFT_CLOSE_IDLE = 2,     /* the idle timeout */
    THRIFT_CLOSE_PROTOCOL = 3, /* undecodable input or an oversized frame */
    THRIFT_CLOSE_STOP = 4,     /* thrift_rpc_server_stop or _free */
    THRIFT_CLOSE_ERROR = 5,    /* a socket error or out of memory */
    THRIFT_CLOSE_MAX_CONNECTIONS = 6, /* (REJECTED) the connection limit */
    /* (REJECTED, id 0, peer "?") accept(2) failed for want of file
     * descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM): no connection
     * was taken.  Accepting pauses and is retried every 100 ms; waiting
     * clients stay in the listen backlog until descriptors free up.
     * Reported once per pause, not per retry. */
    THRIFT_CLOSE_NO_DESCRIPTORS = 7,
    /* a message begun did not complete within the read timeout */
    THRIFT_CLOSE_READ_TIMEOUT = 8,
    THRIFT_CLOSE_HANDSHAKE = 9 /* the TLS handshake failed or timed out */
} thrift_close_reason_t;

/* A short English text for `why` ("idle timeout"); static. */
THRIFT_API const char *thrift_close_reason_str(thrift_close_reason_t why);

/* `id` numbers the server's connections from 1 (an ACCEPTED and its CLOSED
 * share it); `peer` is the client's address ("127.0.0.1:50312",
 * "[::1]:50312", or "unix:" and the listener's path), borrowed for the
 * callback.  ACCEPTED and CLOSED run on the loop (thread) that owns the
 * connection -- with several threads, concurrently from each, so the
 * callback must be thread-safe; REJECTED runs on the accepting loop (the
 * caller's) or the worker that could not adopt the socket.  CLOSED also
 * runs during thrift_rpc_server_free.  The callback must not free the
 * server. */
typedef void (*thrift_rpc_server_conn_cb)(thrift_rpc_server_t *srv, thrift_conn_event_t event,
                                          uint64_t id, const char *peer,
                                          thrift_close_reason_t why, void *ud);
/* Sets the connection event callback (NULL: none).  Call before the first
 * listen (later calls are ignored). */
THRIFT_API void thrift_rpc_server_set_conn_cb(thrift_rpc_server_t *srv,
                                              thrift_rpc_server_conn_cb cb, void *ud);
/* As thrift_rpc_server_conn_cb, with `detail`: what went wrong, in
 * English, when the library knows more than `why` says -- for a
 * THRIFT_CLOSE_PROTOCOL close the decoder's text, e.g. "frame size
 * 2147549185 is negative or over the limit: the peer seems to use buffered
 * (unframed) transport with the binary protocol", or "add: cannot decode
 * the arguments: ...".  Never NULL: "" when there is nothing to add.
 * Borrowed for the callback. */
typedef void (*thrift_rpc_server_conn_detail_cb)(thrift_rpc_server_t *srv,
                                                 thrift_conn_event_t event, uint64_t id,
                                                 const char *peer, thrift_close_reason_t why,
                                                 const char *detail, void *ud);
/* Sets the connection event callback with details (NULL: none); it
 * replaces one set with thrift_rpc_server_set_conn_cb, and the other way
 * round.  Call before the first listen (later calls are ignored). */
THRIFT_API void thrift_rpc_server_set_conn_detail_cb(thrift_rpc_server_t *srv,
                                                     thrift_rpc_server_conn_detail_cb cb,
                                                     void *ud);
/* Serve on `n` loops on `n` threads (default 1, at most 256).  The caller's
 * loop is the first and the only one that accepts; it hands each new
 * connection, in turn, to a loop (itself included).  Each other loop runs
 * on a thread the server starts at the first thrift_rpc_server_listen and
 * joins in thrift_rpc_server_free.  A connection stays on the loop that
 * received it: its handlers run on that loop's thread (thrift_request_loop
 * gives the loop), so with n > 1 handlers run concurrently and must be
 * thread-safe, and a handler replying later must do so from that loop.
 * Call before the first listen (later calls are ignored) and register every
 * handler before it too.  Worker threads block all signals. */
THRIFT_API void thrift_rpc_server_set_threads(thrift_rpc_server_t *srv, unsigned n);
/* Starts listening on `address` ("host:port", port 0 picks a free one,
 * "[::]:port", "unix:/path").  May be called several times. */
THRIFT_API thrift_status_t thrift_rpc_server_listen(thrift_rpc_server_t *srv, const char *address,
                                                    thrift_error_t *err);
/* The TCP port of the first listener (useful after listening on port 0);
 * 0 when none. */
/* Serves a listening socket the caller made (bound, listen() called: a
 * framework's, such as tornado's bind_sockets), TCP or Unix, as a plain
 * listener (TLS recognized by its first byte when the server has a
 * certificate and key and no framing is pinned).  On THRIFT_OK it owns
 * `fd` (closed with the server) and has made it non-blocking; on failure
 * `fd` stays the caller's.  THRIFT_MISUSE when `fd` is not a listening
 * socket. */
THRIFT_API thrift_status_t thrift_rpc_server_listen_fd(thrift_rpc_server_t *srv, int fd,
                                                       thrift_error_t *err);
THRIFT_API int thrift_rpc_server_port(const thrift_rpc_server_t *srv);
/* Connections currently open, over all threads. */
THRIFT_API size_t thrift_rpc_server_connection_count(const thrift_rpc_server_t *srv);
/* The server's busy-poll after replies (its options' busy_poll_us), over
 * all threads: *spun: loop iterations that wrote replies and then polled
 * without sleeping; *caught: those in which a request came in during the
 * poll.  Either pointer may be NULL. */
THRIFT_API void thrift_rpc_server_busy_poll_stats(const thrift_rpc_server_t *srv, uint64_t *spun,
                                                  uint64_t *caught);
/* Bytes reserved by the connections' read buffers, over all threads,
 * buffers kept for requests answered later included (what a slow or stuck
 * handler costs in memory), and their queued replies.  Output
 * back-pressure bounds the replies: a connection with more than 1 MiB of
 * replies unwritten (a client that pipelines requests and does not read
 * the replies) stops reading requests until less than 256 KiB wait; one
 * reply larger than that is still queued whole.  Likewise while 1024 of a
 * connection's two-way requests wait for their handlers, until 512 do. */
THRIFT_API size_t thrift_rpc_server_buffer_bytes(const thrift_rpc_server_t *srv);
/* Two-way requests that handlers kept to answer later, not yet answered
 * nor cancelled. */
THRIFT_API size_t thrift_rpc_server_held_requests(const thrift_rpc_server_t *srv);
/* Cancelled requests whose handlers have not yet let go (tombstones). */
THRIFT_API size_t thrift_rpc_server_cancelled_requests(const thrift_rpc_server_t *srv);
/* The number of loops serving (after the first listen: those that
 * started). */
THRIFT_API unsigned thrift_rpc_server_threads(const thrift_rpc_server_t *srv);
/* Graceful stop: stops accepting, stops reading new requests, lets in-flight
 * requests be answered and written, then closes each connection, on every
 * thread.  `done` (may be NULL) runs once, later, on the caller's loop, when
 * every connection of every thread is closed.  Call on the caller's loop
 * thread.  Worker threads keep running (idle) until thrift_rpc_server_free. */
typedef void (*thrift_rpc_server_done_cb)(thrift_rpc_server_t *srv, void *ud);
THRIFT_API void thrift_rpc_server_stop(thrift_rpc_server_t *srv, thrift_rpc_server_done_cb done,
                                       void *ud);
/* Closes everything at once (worker threads close their connections, then
 * are joined) and frees the server.  Requests still held by handlers are
 * cancelled (their cancel callbacks run during this call, each on its own
 * loop's thread) and then freed, tombstones included: afterwards no
 * request of this server may be touched, so a handler that answers later
 * must drop its `req` in a cancel callback (or be done before the free).
 * Call on the caller's loop thread, not from a handler.  NULL-safe. */
THRIFT_API void thrift_rpc_server_free(thrift_rpc_server_t *srv);

/* ---- replying ---------------------------------------------------------------
 * Exactly one reply per two-way request; after it `req` is gone.  Each
 * returns THRIFT_OK, or an error (e.g. THRIFT_TYPE when the value does not
 * match the return type) in which case the client gets INTERNAL_ERROR and
 * `req` is gone too.  On a cancelled request each sends nothing, frees the
 * tombstone and returns THRIFT_CLOSED.  Values are encoded at once: they
 * may be freed after. */

/* The success value (NULL for void methods). */
THRIFT_API thrift_status_t thrift_reply(thrift_request_t *req, const thrift_value_t *value);
/* A declared exception: `name` is the exception type's name ("BenchError")
 * or the result field's name ("err"); NULL picks by the value's type. */
THRIFT_API thrift_status_t thrift_reply_exception(thrift_request_t *req, const char *name,
                                                  const thrift_value_t *exception);
/* A TApplicationException of `type` (thrift_app_exception_type_t). */
THRIFT_API thrift_status_t thrift_reply_error(thrift_request_t *req, int type, const char *message);
/* JSON flavours of the first two. */
THRIFT_API thrift_status_t thrift_reply_json(thrift_request_t *req, const char *value_json);
THRIFT_API thrift_status_t thrift_reply_exception_json(thrift_request_t *req, const char *name,
                                                       const char *exception_json);

/* Lets go of a request without answering it normally: on a cancelled
 * request it frees the tombstone (THRIFT_CLOSED); on a live two-way one it
 * answers TApplicationException INTERNAL_ERROR (THRIFT_OK), so the client
 * is not left waiting.  THRIFT_MISUSE for oneway or answered requests.
 * After it `req` is gone. */
THRIFT_API thrift_status_t thrift_request_abandon(thrift_request_t *req);

/* Runs when `req` is cancelled (see thrift_request_t), on the loop thread
 * of the request, at most once, never for oneway requests: a handler doing
 * async work for `req` learns there that it can stop.  The args are still
 * valid during the callback and freed right after it.  The callback may
 * call a reply function or thrift_request_abandon at once (which frees the
 * tombstone); otherwise the handler must call one of them later.  `req`
 * must not be kept past that.  A second call replaces the callback (cb
 * NULL removes it).  THRIFT_CLOSED (and the callback is not kept) when
 * `req` is already cancelled; THRIFT_MISUSE when it was answered. */
typedef void (*thrift_request_cancel_cb)(thrift_request_t *req, void *ud);
THRIFT_API thrift_status_t thrift_request_set_cancel_cb(thrift_request_t *req,
                                                        thrift_request_cancel_cb cb, void *ud);
/* True once `req` is cancelled (its connection closed or its server is
 * being freed) and until the handler lets go of it. */
THRIFT_API bool thrift_request_is_cancelled(const thrift_request_t *req);

/* The method being called (NUL-terminated, borrowed like `req`). */
THRIFT_API const char *thrift_request_method(const thrift_request_t *req);
THRIFT_API const thrift_function_def_t *thrift_request_function(const thrift_request_t *req);
THRIFT_API bool thrift_request_is_oneway(const thrift_request_t *req);
THRIFT_API int32_t thrift_request_seqid(const thrift_request_t *req);
/* THeader info headers of the request: the value of `key` or NULL;
 * borrowed until the request is answered.  NULL for other framings. */
THRIFT_API const char *thrift_request_header(const thrift_request_t *req, const char *key);
/* The i-th info header of the request (from 0): false past the last. */
THRIFT_API bool thrift_request_header_at(const thrift_request_t *req, size_t i, const char **key,
                                         const char **value);
/* An info header for the reply (THeader requests; ignored for others),
 * copied into the request's arena; call before replying. */
THRIFT_API thrift_status_t thrift_request_set_reply_header(thrift_request_t *req, const char *key,
                                                           const char *value);
/* An arena living as long as `req`, for building the reply.  NULL once
 * `req` is cancelled. */
THRIFT_API thrift_arena_t *thrift_request_arena(thrift_request_t *req);
/* An error struct the handler may fill before returning a failure status
 * (made on first use, in the request's arena).  NULL once `req` is
 * cancelled or on out of memory. */
THRIFT_API thrift_error_t *thrift_request_error(thrift_request_t *req);
/* The loop the request arrived on and its handler runs on (with several
 * threads: that worker's loop, not the one given to thrift_rpc_server_new).
 * Timers and watchers for a deferred reply belong on it. */
THRIFT_API struct ev_loop *thrift_request_loop(const thrift_request_t *req);

#ifdef __cplusplus
}
#endif
#endif
