/* Internal pieces shared by pool.c and cluster.c: the response layout and
 * the pool hooks a cluster needs. */
#ifndef DYNTHRIFT_POOL_IMPL_H
#define DYNTHRIFT_POOL_IMPL_H

#include "base/base.h"
#include "dynthrift/pool.h"

struct thrift_response {
    thrift_status_t status;
    thrift_error_t err;
    const thrift_value_t *value;
    const char *exception_name; /* borrowed from the schema */
    int app_type;
    const char *server;  /* borrowed, or in `arena` once kept */
    const char *address;
    uint64_t elapsed_us;
    unsigned attempts;
    bool server_failure; /* the server (connection), not the call, failed */
    thrift_arena_t *arena; /* owned when the response holds its value */
    thrift_result_t *result; /* borrowed source, while in its callback */
};

struct thrift_responses {
    size_t count;
    size_t ok;
    thrift_response_t *items;
};

/* Monotonic clock in microseconds. */
uint64_t thrift__now_us(void);
/* Fills `dst` from a connection's result.  With `keep`, the value is moved
 * (or copied) into dst->arena so it outlives the result. */
void thrift__response_set(thrift_response_t *dst, thrift_result_t *r, bool keep);
/* An error response (no value). */
void thrift__response_set_error(thrift_response_t *dst, const thrift_error_t *err);
/* Frees what dst owns and empties it. */
void thrift__response_reset(thrift_response_t *dst);
/* Copies server name and address into dst->arena (creating it). */
void thrift__response_keep_names(thrift_response_t *dst);
/* Replaces `dst` (reset first) by the response `r` handed to a callback,
 * taking its arena (or cloning the value) so it outlives the callback: the
 * last response of a blocking call. */
void thrift__response_keep(thrift_response_t *dst, thrift_response_t *r);

void thrift__pool_options_copy(thrift_pool_options_t *dst, const thrift_pool_options_t *src);

/* ---- per-call settings (thrift_pool_call_async_ex, thrift_cluster_call_async_ex) */
struct thrift__kv;
/* `count` key/value pairs (laid out key, value, ...) appended to *list as
 * copies: THRIFT_OK, or THRIFT_MISUSE/THRIFT_LIMIT/THRIFT_NOMEM with err
 * set and *list freed. */
thrift_status_t thrift__kv_from_pairs(struct thrift__kv **list, const char *const *pairs,
                                      size_t count, thrift_error_t *err);
/* The pool call behind both _ex functions: `headers` (may be NULL) is
 * copied. */
thrift_status_t thrift__pool_call(thrift_pool_t *pool, const char *method,
                                  const thrift_value_t *args, uint32_t timeout_ms,
                                  const struct thrift__kv *headers, thrift_pool_call_cb cb,
                                  void *ud, thrift_error_t *err);
struct ev_loop *thrift__pool_loop(const thrift_pool_t *pool);
struct ev_loop *thrift__cluster_loop(const thrift_cluster_t *cluster);
/* True when the last response's failure means the server, not the call,
 * failed: the connection broke, a connect failed or timed out, the call
 * timed out. */
bool thrift__response_is_server_failure(const thrift_response_t *r);

/* For tests (discovery.c): the current ZooKeeper session's id and password,
 * so a test can expire it by closing a second handle on the same session.
 * False when there is no session (or no ZooKeeper support). */
bool thrift__serverset_session(const thrift_serverset_t *ss, int64_t *id, char passwd[16]);
bool thrift__announcement_session(const thrift_announcement_t *a, int64_t *id, char passwd[16]);
/* For tests and figures: from the moment ZooKeeper's thread delivered the
 * last member deletion watch to its server leaving the ring (the hand-off to
 * the loop thread and the removal), in microseconds; 0 before any. */
uint64_t thrift__serverset_watch_to_removal_us(const thrift_serverset_t *ss);

#endif
