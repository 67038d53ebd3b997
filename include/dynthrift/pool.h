/* dynthrift — connection pools and multi-server clients, built on the
 * connections of dynthrift/net.h.
 *
 * A pool (thrift_pool_t) holds connections to one address.  A cluster
 * (thrift_cluster_t) holds one pool per named server and routes each call:
 * by a hash of chosen arguments (modulo or consistent hashing), or by a
 * balancing policy (random, round-robin, least outstanding calls); it can
 * also run a call on every server at once (replicated calls), and routes
 * around servers whose connections fail until a probe finds them back.
 *
 * Same rules as net.h: the caller owns the libev loop (the blocking flavours
 * run a private one); every handle is opaque; every callback takes `void *ud`
 * last and runs exactly once, on the loop thread, never inside the function
 * that registered it; a function that returns an error never runs its
 * callback; errors come as thrift_error_t.  Pools and clusters belong to the
 * thread running their loop.
 *
 * Pipelining and maxsize.  A dynthrift connection pipelines, so a pool hands
 * out *leases*, not whole connections: `maxsize` bounds the connections and
 * `max_inflight` bounds the leases one connection carries at once.  An
 * acquire takes a connection with no lease first, then opens a new one while
 * the pool is below maxsize, then shares the least-loaded connection that is
 * below max_inflight; otherwise it waits in a FIFO queue (up to the acquire
 * timeout).  So at most maxsize × max_inflight calls are in flight through
 * thrift_pool_call*; with the default max_inflight of 1 a lease is exclusive,
 * as in aiothrift.  Raise max_inflight (e.g. 16) to pipeline many calls over
 * a few connections. */
#ifndef DYNTHRIFT_POOL_H
#define DYNTHRIFT_POOL_H

#include "dynthrift/net.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- pool options ----------------------------------------------------------
 * Connection settings (protocol, framing, connect and call timeouts) come
 * from the thrift_conn_options_t given next to these. */
typedef struct thrift_pool_options thrift_pool_options_t;

/* Returns owned; free with thrift_pool_options_free.  Defaults: minsize 1,
 * maxsize 10, max_inflight 1, acquire timeout 0 (wait forever).  NULL on out
 * of memory. */
THRIFT_API thrift_pool_options_t *thrift_pool_options_new(void);
/* NULL-safe. */
THRIFT_API void thrift_pool_options_free(thrift_pool_options_t *opts);
/* Connections opened as soon as the pool is used (clamped to maxsize). */
THRIFT_API void thrift_pool_options_set_minsize(thrift_pool_options_t *opts, size_t n);
/* Most connections open at once; at least 1. */
THRIFT_API void thrift_pool_options_set_maxsize(thrift_pool_options_t *opts, size_t n);
/* Most leases (calls, for thrift_pool_call*) one connection carries; at least 1. */
THRIFT_API void thrift_pool_options_set_max_inflight(thrift_pool_options_t *opts, size_t n);
/* Longest wait in the acquire queue; 0: forever. */
THRIFT_API void thrift_pool_options_set_acquire_timeout_ms(thrift_pool_options_t *opts, uint32_t ms);
/* Text setter for hosts and command lines: "minsize", "maxsize",
 * "max_inflight", "acquire_timeout_ms".  THRIFT_NOT_FOUND for an unknown
 * key, THRIFT_INVALID for a bad value. */
THRIFT_API thrift_status_t thrift_pool_options_set(thrift_pool_options_t *opts, const char *key,
                                                   const char *value, thrift_error_t *err);

/* ---- responses --------------------------------------------------------------
 * What one server answered, like thrift_client's ThriftResponse: the value or
 * the error, which server (name and address) and how long it took.  Borrowed
 * unless a function says otherwise. */
typedef struct thrift_response thrift_response_t;

THRIFT_API bool thrift_response_is_error(const thrift_response_t *r);
/* THRIFT_OK, THRIFT_DECLARED_EXCEPTION, THRIFT_APP_EXCEPTION, THRIFT_TIMEOUT,
 * THRIFT_CLOSED, THRIFT_TRANSPORT, THRIFT_NOT_FOUND (no server up)... */
THRIFT_API thrift_status_t thrift_response_status(const thrift_response_t *r);
THRIFT_API const thrift_error_t *thrift_response_error(const thrift_response_t *r);
/* The returned value (THRIFT_KIND_VOID for void methods) or the declared
 * exception; NULL otherwise.  Lives as long as the response. */
THRIFT_API const thrift_value_t *thrift_response_value(const thrift_response_t *r);
/* The declared exception's type name, or NULL. */
THRIFT_API const char *thrift_response_exception_name(const thrift_response_t *r);
/* The server that answered: its name (NULL for a plain pool) and address
 * (NULL when no server was tried). */
THRIFT_API const char *thrift_response_server(const thrift_response_t *r);
THRIFT_API const char *thrift_response_address(const thrift_response_t *r);
/* The TApplicationException type when the status is THRIFT_APP_EXCEPTION;
 * -1 otherwise. */
THRIFT_API int thrift_response_app_type(const thrift_response_t *r);
/* The i-th THeader info header of the reply (from 0; framing
 * THRIFT_FRAMING_HEADER): false past the last, and always for a response
 * kept past its callback (a blocking call's, a replicated call's).
 * Borrowed for the callback's duration. */
THRIFT_API bool thrift_response_header_at(const thrift_response_t *r, size_t i, const char **key,
                                          const char **value);
/* Takes the arena holding the value, so the value outlives a callback:
 * returns owned (free with thrift_arena_free) or NULL when there is none. */
THRIFT_API thrift_arena_t *thrift_response_take_arena(thrift_response_t *r);
/* From the call's submission to its answer, in microseconds (time waiting
 * for a connection and retries included). */
THRIFT_API uint64_t thrift_response_elapsed_us(const thrift_response_t *r);
/* Servers tried (1 + retries). */
THRIFT_API unsigned thrift_response_attempts(const thrift_response_t *r);

/* One response per server, from a replicated call. */
typedef struct thrift_responses thrift_responses_t;
THRIFT_API size_t thrift_responses_count(const thrift_responses_t *rs);
/* Borrowed, as long as `rs`; in the order the servers were added. */
THRIFT_API const thrift_response_t *thrift_responses_at(const thrift_responses_t *rs, size_t i);
/* Responses that carry no error. */
THRIFT_API size_t thrift_responses_ok_count(const thrift_responses_t *rs);
/* Only for responses handed out as owned (thrift_cluster_call_all).  NULL-safe. */
THRIFT_API void thrift_responses_free(thrift_responses_t *rs);

/* ---- pool ------------------------------------------------------------------ */
typedef struct thrift_pool thrift_pool_t;

/* A pool of connections to `service` of `schema` at `address` (as for
 * thrift_conn_new), on the caller's `loop`.  Connections are created when
 * the pool is first used and connect on their first call.  Takes a
 * reference on `schema`; both option objects may be NULL and are copied.
 * Returns owned; free with thrift_pool_free.  NULL on a bad address, an
 * unknown service or out of memory. */
THRIFT_API thrift_pool_t *thrift_pool_new(struct ev_loop *loop, thrift_schema_t *schema,
                                          const char *service, const char *address,
                                          const thrift_conn_options_t *conn_opts,
                                          const thrift_pool_options_t *pool_opts,
                                          thrift_error_t *err);
/* The blocking flavour: a pool on a private loop, for thrift_pool_call.
 * Returns owned; free with thrift_pool_free. */
THRIFT_API thrift_pool_t *thrift_pool_open(thrift_schema_t *schema, const char *service,
                                           const char *address,
                                           const thrift_conn_options_t *conn_opts,
                                           const thrift_pool_options_t *pool_opts,
                                           thrift_error_t *err);

/* Runs once per acquire: with a leased connection (borrowed until
 * thrift_pool_release) and `err` NULL, or with `conn` NULL and `err` set
 * (THRIFT_TIMEOUT: the acquire timeout passed; THRIFT_CLOSED: the pool was
 * closed or freed). */
typedef void (*thrift_pool_acquire_cb)(thrift_pool_t *pool, thrift_conn_t *conn,
                                       const thrift_error_t *err, void *ud);
/* Leases a connection.  `timeout_ms` 0: the pool's acquire timeout.  Fails
 * up front with THRIFT_CLOSED on a closed pool. */
THRIFT_API thrift_status_t thrift_pool_acquire(thrift_pool_t *pool, uint32_t timeout_ms,
                                               thrift_pool_acquire_cb cb, void *ud,
                                               thrift_error_t *err);
/* Returns a lease.  A connection that broke while leased (or whose pool is
 * closed) is freed here once its last lease comes back, and never handed out
 * again; waiters get a fresh one.  Legal inside the connection's callbacks. */
THRIFT_API void thrift_pool_release(thrift_pool_t *pool, thrift_conn_t *conn);

/* Connections open, leased or not. */
THRIFT_API size_t thrift_pool_size(const thrift_pool_t *pool);
/* Connections with no lease. */
THRIFT_API size_t thrift_pool_freesize(const thrift_pool_t *pool);
/* Acquires waiting in the queue. */
THRIFT_API size_t thrift_pool_waiting(const thrift_pool_t *pool);
/* Calls in flight through the pool (thrift_pool_call* and those on leased
 * connections). */
THRIFT_API size_t thrift_pool_pending(const thrift_pool_t *pool);
/* "host:port" as given.  Borrowed, valid while the pool lives. */
THRIFT_API const char *thrift_pool_address(const thrift_pool_t *pool);
THRIFT_API const thrift_service_def_t *thrift_pool_service(const thrift_pool_t *pool);
/* Closes the connections that hold no lease (they are reopened on demand). */
THRIFT_API void thrift_pool_clear(thrift_pool_t *pool);
/* After this, every acquire and call fails with THRIFT_CLOSED ("pool is
 * closed"); waiting acquires fail the same way (later, on the loop); calls in
 * flight finish normally and their connections are freed on release. */
THRIFT_API void thrift_pool_close(thrift_pool_t *pool);
THRIFT_API bool thrift_pool_is_closed(const thrift_pool_t *pool);
/* Closes the pool and frees it with every connection: calls still in flight
 * fail with THRIFT_CLOSED, leased connections must not be used afterwards.
 * NULL-safe; legal inside the pool's callbacks (deferred). */
THRIFT_API void thrift_pool_free(thrift_pool_t *pool);

/* Response of a pool call: borrowed for the callback's duration (take the
 * value's arena with thrift_response_take_arena to keep it). */
typedef void (*thrift_pool_call_cb)(thrift_pool_t *pool, thrift_response_t *resp, void *ud);
/* acquire → call → release in one function.  `args` as for
 * thrift_call_async (NULL: no arguments); it is copied when the call has to
 * wait, so it may be freed right away.  Fails up front on a closed pool, an
 * unknown method or a type error; otherwise `cb` (may be NULL) runs once:
 * with the reply, or THRIFT_TIMEOUT when the acquire or call timed out. */
THRIFT_API thrift_status_t thrift_pool_call_async(thrift_pool_t *pool, const char *method,
                                                  const thrift_value_t *args,
                                                  thrift_pool_call_cb cb, void *ud,
                                                  thrift_error_t *err);
/* As thrift_pool_call_async, with this call's own settings:
 * `timeout_ms`, the deadline from this function to the reply, waiting for
 * a connection included (0: the pool's acquire timeout for the wait and
 * the connection options' call timeout for the call); `headers`, THeader
 * info headers sent with this call only (framing THRIFT_FRAMING_HEADER;
 * ignored otherwise): `header_count` pairs laid out key, value, key,
 * value... (may be NULL when the count is 0), copied.  Up front
 * THRIFT_MISUSE for an empty key, THRIFT_LIMIT for one over
 * THRIFT_HEADER_TEXT_MAX bytes.  The reply's info headers:
 * thrift_response_header_at in the callback. */
THRIFT_API thrift_status_t thrift_pool_call_async_ex(thrift_pool_t *pool, const char *method,
                                                     const thrift_value_t *args,
                                                     uint32_t timeout_ms,
                                                     const char *const *headers,
                                                     size_t header_count,
                                                     thrift_pool_call_cb cb, void *ud,
                                                     thrift_error_t *err);
/* Blocking (thrift_pool_open pools; THRIFT_MISUSE otherwise).  Returns the
 * value, borrowed until the next call on the pool or its free; NULL on
 * failure with `err` filled (thrift_pool_last_response tells more, e.g. the
 * declared exception). */
THRIFT_API thrift_value_t *thrift_pool_call(thrift_pool_t *pool, const char *method,
                                            const thrift_value_t *args, thrift_error_t *err);
/* The last blocking call's response.  Borrowed, as thrift_pool_call's value. */
THRIFT_API const thrift_response_t *thrift_pool_last_response(const thrift_pool_t *pool);

/* ---- cluster (multi-server client) ----------------------------------------- */
typedef struct thrift_cluster thrift_cluster_t;

typedef enum thrift_balance {
    THRIFT_BALANCE_ROUND_ROBIN = 0,
    THRIFT_BALANCE_RANDOM = 1,
    THRIFT_BALANCE_LEAST_OUTSTANDING = 2 /* fewest calls in flight; ties: round-robin */
} thrift_balance_t;

typedef enum thrift_hash_scheme {
    /* hash % number of servers, over the servers in the order they were
     * added; a down server passes the key to the next one. */
    THRIFT_HASH_MODULO = 0,
    /* ketama-style ring: each server gets `points` virtual points (default
     * 160) at a 64-bit hash of "name-i"; a key goes to the first point at or
     * after its hash, skipping down servers.  Adding a server to N moves
     * about 1/(N+1) of the keys. */
    THRIFT_HASH_CONSISTENT = 1
} thrift_hash_scheme_t;

/* Writes the routing key of a call into `key` (thrift_buffer_append);
 * return false for "no key" (the call is balanced instead).  `args` is the
 * method's args struct, borrowed for the callback. */
typedef bool (*thrift_cluster_key_cb)(const char *method, const thrift_value_t *args,
                                      thrift_buffer_t *key, void *ud);

/* Runs once per routed call with its response (borrowed for the callback). */
typedef void (*thrift_cluster_call_cb)(thrift_cluster_t *cluster, thrift_response_t *resp,
                                       void *ud);
/* Runs once per replicated call with one response per server (borrowed for
 * the callback). */
typedef void (*thrift_cluster_all_cb)(thrift_cluster_t *cluster, const thrift_responses_t *rs,
                                      void *ud);

/* A client of `service` over named servers, on the caller's loop.  Each
 * server gets a pool made with the two option objects (may be NULL; copied).
 * Takes a reference on `schema`.  Returns owned; free with
 * thrift_cluster_free.  NULL on an unknown service or out of memory. */
THRIFT_API thrift_cluster_t *thrift_cluster_new(struct ev_loop *loop, thrift_schema_t *schema,
                                                const char *service,
                                                const thrift_conn_options_t *conn_opts,
                                                const thrift_pool_options_t *pool_opts,
                                                thrift_error_t *err);
/* The blocking flavour (private loop), for thrift_cluster_call and
 * thrift_cluster_call_all. */
THRIFT_API thrift_cluster_t *thrift_cluster_open(thrift_schema_t *schema, const char *service,
                                                 const thrift_conn_options_t *conn_opts,
                                                 const thrift_pool_options_t *pool_opts,
                                                 thrift_error_t *err);
/* Calls in flight fail with THRIFT_CLOSED (their callbacks run).  NULL-safe;
 * legal inside the cluster's callbacks (deferred). */
THRIFT_API void thrift_cluster_free(thrift_cluster_t *cluster);

/* Adds a server; `name` must be unique (THRIFT_MISUSE otherwise) and is what
 * consistent hashing places on the ring.  Both strings are copied. */
THRIFT_API thrift_status_t thrift_cluster_add_server(thrift_cluster_t *cluster, const char *name,
                                                     const char *address, thrift_error_t *err);
/* Removes a server: new calls no longer go to it, calls in flight on it
 * finish.  THRIFT_NOT_FOUND for an unknown name. */
THRIFT_API thrift_status_t thrift_cluster_remove_server(thrift_cluster_t *cluster,
                                                        const char *name, thrift_error_t *err);
/* The pool of one server: a client for that server alone.  Borrowed, valid
 * until the server is removed or the cluster freed.  NULL when unknown. */
THRIFT_API thrift_pool_t *thrift_cluster_get_server(thrift_cluster_t *cluster, const char *name);
THRIFT_API size_t thrift_cluster_server_count(const thrift_cluster_t *cluster);
/* The i-th server's name, in the order added.  Borrowed, as get_server. */
THRIFT_API const char *thrift_cluster_server_name(const thrift_cluster_t *cluster, size_t i);
/* False while the server is marked down (unknown names: false). */
THRIFT_API bool thrift_cluster_server_is_up(const thrift_cluster_t *cluster, const char *name);

/* Routing of `method` (NULL: the default for every method without its own
 * setting).  A method with no key routing is balanced. */
/* Route by a hash of the argument named `arg` (strings and binaries by their
 * bytes, integers, enums and bools by their decimal text, anything else by its
 * binary-protocol encoding).  THRIFT_NOT_FOUND when `method` has no such
 * argument.  A call whose argument is unset is balanced. */
THRIFT_API thrift_status_t thrift_cluster_route_by_arg(thrift_cluster_t *cluster,
                                                       const char *method, const char *arg,
                                                       thrift_error_t *err);
/* Route by a key the callback writes. */
THRIFT_API thrift_status_t thrift_cluster_route_by_key(thrift_cluster_t *cluster,
                                                       const char *method,
                                                       thrift_cluster_key_cb cb, void *ud,
                                                       thrift_error_t *err);
/* Default THRIFT_HASH_CONSISTENT.  Changing it rebuilds nothing costly. */
THRIFT_API void thrift_cluster_set_hash_scheme(thrift_cluster_t *cluster, thrift_hash_scheme_t scheme);
/* Virtual points per server on the ring (default 160, 1..4096). */
THRIFT_API void thrift_cluster_set_ring_points(thrift_cluster_t *cluster, unsigned points);
/* Default THRIFT_BALANCE_ROUND_ROBIN (starting at a random server, so that
 * many short-lived clients spread too). */
THRIFT_API void thrift_cluster_set_balance(thrift_cluster_t *cluster, thrift_balance_t balance);
/* Marks `method` idempotent: a call that fails for a server reason
 * (connection lost, connect failure, timeout) is retried on the next server,
 * up to the retry count.  Never for other methods.  THRIFT_NOT_FOUND for an
 * unknown method. */
THRIFT_API thrift_status_t thrift_cluster_set_idempotent(thrift_cluster_t *cluster,
                                                         const char *method, bool idempotent,
                                                         thrift_error_t *err);
/* Retries of an idempotent call (default 2). */
THRIFT_API void thrift_cluster_set_retries(thrift_cluster_t *cluster, unsigned retries);
/* A server failing for a server reason is marked down for `initial_ms`
 * (default 1000), doubling after each failed probe up to `max_ms` (default
 * 30000); once the back-off has passed the next routing decision starts a
 * probe (a TCP connect), and a probe that connects brings it back. */
THRIFT_API void thrift_cluster_set_backoff_ms(thrift_cluster_t *cluster, uint32_t initial_ms,
                                              uint32_t max_ms);

/* Routes one call.  `args` as for thrift_call_async (copied when needed).
 * Fails up front on an unknown method or a type error; otherwise `cb` runs
 * once with the response (THRIFT_NOT_FOUND when no server is up). */
THRIFT_API thrift_status_t thrift_cluster_call_async(thrift_cluster_t *cluster, const char *method,
                                                     const thrift_value_t *args,
                                                     thrift_cluster_call_cb cb, void *ud,
                                                     thrift_error_t *err);
/* As thrift_cluster_call_async, with this call's deadline and THeader info
 * headers as thrift_pool_call_async_ex takes them (each attempt of an
 * idempotent call gets the whole `timeout_ms` and the same headers). */
THRIFT_API thrift_status_t thrift_cluster_call_async_ex(thrift_cluster_t *cluster,
                                                        const char *method,
                                                        const thrift_value_t *args,
                                                        uint32_t timeout_ms,
                                                        const char *const *headers,
                                                        size_t header_count,
                                                        thrift_cluster_call_cb cb, void *ud,
                                                        thrift_error_t *err);
/* Runs `method` on every server (down ones included: they answer with their
 * error) concurrently; `cb` runs once when all have answered. */
THRIFT_API thrift_status_t thrift_cluster_call_all_async(thrift_cluster_t *cluster,
                                                         const char *method,
                                                         const thrift_value_t *args,
                                                         thrift_cluster_all_cb cb, void *ud,
                                                         thrift_error_t *err);
/* Blocking (thrift_cluster_open clusters).  Returns the response, borrowed
 * until the next blocking call or the free; NULL only when the call could not
 * start (err filled); a response may still carry an error. */
THRIFT_API const thrift_response_t *thrift_cluster_call(thrift_cluster_t *cluster,
                                                        const char *method,
                                                        const thrift_value_t *args,
                                                        thrift_error_t *err);
/* Blocking replicated call.  Returns owned; free with thrift_responses_free.
 * NULL when the call could not start. */
THRIFT_API thrift_responses_t *thrift_cluster_call_all(thrift_cluster_t *cluster,
                                                       const char *method,
                                                       const thrift_value_t *args,
                                                       thrift_error_t *err);
/* Which server a call with these args would go to now (NULL when none is up
 * or the method is balanced), for tests and tooling.  Borrowed. */
THRIFT_API const char *thrift_cluster_route(thrift_cluster_t *cluster, const char *method,
                                            const thrift_value_t *args);
/* The server a routing key maps to under the current scheme (skipping down
 * servers); NULL when none is up.  Borrowed. */
THRIFT_API const char *thrift_cluster_route_key(thrift_cluster_t *cluster, const void *key,
                                                size_t len);

/* ---- ServerSets on ZooKeeper (discovery and announcement) --------------------
 * The ServerSet format of Finagle and Aurora: a service is a ZooKeeper path;
 * each live server is an ephemeral sequential child "member_<10 digits>"
 * whose data is a JSON ServiceInstance:
 *   {"serviceEndpoint": {"host": "10.0.0.3", "port": 9090},
 *    "additionalEndpoints": {"http": {"host": ..., "port": ...}},
 *    "status": "ALIVE", "shard": 0}
 * ("serviceEndpoint" and "status" required).  Only ALIVE members take
 * calls; children not named member_* are ignored.
 *
 * URLs: "zk://host1:2181,host2:2181/path/to/service", optionally
 * "#name" to use the additional endpoint `name` instead of serviceEndpoint.
 *
 * Built on ZooKeeper's multi-threaded C client: its threads keep the session
 * alive even while the caller's loop is busy or not running; everything they
 * report is handed to the loop thread (mutex queue + ev_async), so every
 * callback below runs on the loop thread.  Without ZooKeeper at build time
 * the constructors fail with THRIFT_UNSUPPORTED. */
typedef struct thrift_serverset thrift_serverset_t;

/* Keeps `cluster`'s servers equal to the ALIVE members of the ServerSet at
 * `url`, on the cluster's loop.  Servers are named and addressed
 * "host:port" (so a server that re-registers lands on the same ring points
 * and consistent hashing moves only the keys of servers that come or go);
 * two members with the same endpoint make one server.  A member that
 * disappears or stops being ALIVE is removed with
 * thrift_cluster_remove_server (its calls in flight finish).  Session
 * expiry and ZooKeeper restarts are survived (re-connect, re-read,
 * re-watch); while ZooKeeper is unreachable the last known set stays.
 * `session_timeout_ms` 0: 10000.  Do not add or remove servers of `cluster`
 * yourself while it is followed.  Returns owned; free with
 * thrift_serverset_free before the cluster.  NULL on a bad URL
 * (THRIFT_INVALID), without ZooKeeper support (THRIFT_UNSUPPORTED) or when
 * the client cannot start. */
THRIFT_API thrift_serverset_t *thrift_serverset_follow(thrift_cluster_t *cluster, const char *url,
                                                       uint32_t session_timeout_ms,
                                                       thrift_error_t *err);
/* Stops following (the cluster keeps its current servers).  NULL-safe;
 * not from inside the serverset's own callback. */
THRIFT_API void thrift_serverset_free(thrift_serverset_t *ss);

/* Runs on the loop thread after each change applied to the cluster:
 * `added` true when `server` ("host:port", borrowed for the call) joined,
 * false when it left. */
typedef void (*thrift_serverset_change_cb)(thrift_serverset_t *ss, const char *server, bool added,
                                           void *ud);
THRIFT_API void thrift_serverset_set_change_cb(thrift_serverset_t *ss,
                                               thrift_serverset_change_cb cb, void *ud);
/* Runs the cluster's loop (EVRUN_ONCE; call on the loop thread, outside the
 * loop) until the set has been read once: connected, the children listed
 * and every member's data read.  THRIFT_TIMEOUT after `timeout_ms`. */
THRIFT_API thrift_status_t thrift_serverset_wait(thrift_serverset_t *ss, uint32_t timeout_ms,
                                                 thrift_error_t *err);
/* True while the ZooKeeper session is connected. */
THRIFT_API bool thrift_serverset_is_connected(const thrift_serverset_t *ss);
/* Members seen (every status) and sessions started (1 + expiries). */
THRIFT_API size_t thrift_serverset_member_count(const thrift_serverset_t *ss);
THRIFT_API unsigned thrift_serverset_sessions(const thrift_serverset_t *ss);

/* Announces a server: once connected, creates an ephemeral sequential
 * "member_" child of the ServerSet at `url` (creating the path's missing
 * parents) with {"serviceEndpoint": {"host": host, "port": port},
 * "additionalEndpoints": {}, "status": "ALIVE"}, and re-creates it after a
 * session expiry.  Call once the server listens; `host` is the address
 * clients should dial (not 0.0.0.0).  Runs on `loop` (the caller's, as for a
 * server).  Returns owned; free with thrift_announcement_free.  NULL on a
 * bad URL, host or port (THRIFT_INVALID), or without ZooKeeper support. */
typedef struct thrift_announcement thrift_announcement_t;
THRIFT_API thrift_announcement_t *thrift_announce(struct ev_loop *loop, const char *url,
                                                  const char *host, int port,
                                                  uint32_t session_timeout_ms,
                                                  thrift_error_t *err);
/* Runs the loop (as thrift_serverset_wait) until the member node exists.
 * THRIFT_TIMEOUT after `timeout_ms`. */
THRIFT_API thrift_status_t thrift_announcement_wait(thrift_announcement_t *a, uint32_t timeout_ms,
                                                    thrift_error_t *err);
/* The member's full path once created ("/svc/member_0000000003"), else
 * NULL.  Borrowed until the next loop iteration. */
THRIFT_API const char *thrift_announcement_path(const thrift_announcement_t *a);
/* Graceful withdrawal: deletes the member node (waiting for ZooKeeper's
 * answer, at most the session timeout) and closes the session, so clients
 * stop routing here; call it before stopping the server's listeners.
 * NULL-safe. */
THRIFT_API void thrift_announcement_free(thrift_announcement_t *a);
/* The same, owned by a server: announces `srv` (which must listen on TCP
 * already; its first listener's port) as `host`, on the server's loop, and
 * withdraws the member first thing in thrift_rpc_server_stop or
 * thrift_rpc_server_free, before the listeners close.  Calling it again
 * replaces the announcement.  Loop thread. */
THRIFT_API thrift_status_t thrift_rpc_server_announce(thrift_rpc_server_t *srv, const char *url,
                                                      const char *host, uint32_t session_timeout_ms,
                                                      thrift_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
