/* Per-call deadlines and THeader info headers through pools and clusters
 * (thrift_pool_call_async_ex, thrift_cluster_call_async_ex) and the
 * reply's info headers in their callbacks (thrift_response_header_at), on
 * loopback with in-process servers whose handler answers headers computed
 * from the request's.  Every wait is bounded by the fixture's watchdog. */
#include <stdio.h>
#include <string.h>

#include "dynthrift/pool.h"
#include "net_fixture.h"

static thrift_schema_t *schema;
static struct ev_loop *loop;

/* add: replies a + b with "x-server" (which server) and, when the request
 * carried "trace", "x-trace" = its value followed by "!". */
static thrift_status_t h_add_headers(thrift_request_t *req, const thrift_value_t *args,
                                     void *ud) {
    const char *trace = thrift_request_header(req, "trace");
    if (trace) {
        char echo[64];
        snprintf(echo, sizeof echo, "%s!", trace);
        thrift_request_set_reply_header(req, "x-trace", echo);
    }
    thrift_request_set_reply_header(req, "x-server", ud);
    thrift_value_t *a = thrift_value_get(args, "a"), *b = thrift_value_get(args, "b");
    return thrift_reply(req, thrift_value_new_i64(thrift_request_arena(req),
                                                  thrift_value_int(a) + thrift_value_int(b)));
}

static thrift_rpc_server_t *header_server(const char *name, char *addr, size_t cap) {
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_rpc_server_t *srv = thrift_rpc_server_new(loop, schema, NULL, &err);
    if (!srv || thrift_rpc_server_handle(srv, "Calc", "add", h_add_headers, (void *)name, &err) ||
        thrift_rpc_server_handle(srv, "Calc", "slow", h_slow, NULL, &err) ||
        thrift_rpc_server_listen(srv, "127.0.0.1:0", &err)) {
        printf("Bail out! server: %s\n", err.text);
        exit(1);
    }
    snprintf(addr, cap, "127.0.0.1:%d", thrift_rpc_server_port(srv));
    return srv;
}

static thrift_value_t *calc_args(thrift_arena_t *a, const char *method) {
    return thrift_value_new_struct(
        a, thrift_function_def_args(
               thrift_service_def_find_function(thrift_schema_find_service(schema, "Calc"), method)));
}

static thrift_value_t *add_args(thrift_arena_t *a, int32_t x, int64_t y) {
    thrift_value_t *args = calc_args(a, "add");
    thrift_value_set(args, "a", thrift_value_new_i32(a, x));
    thrift_value_set(args, "b", thrift_value_new_i64(a, y));
    return args;
}

static thrift_value_t *slow_args(thrift_arena_t *a, int32_t ms) {
    thrift_value_t *args = calc_args(a, "slow");
    thrift_value_set(args, "ms", thrift_value_new_i32(a, ms));
    return args;
}

/* What one callback saw, copied out of the borrowed response. */
typedef struct seen {
    bool done;
    thrift_status_t status;
    int64_t value;
    char trace[64], server[64];
    size_t nheaders;
    double at; /* ev_time() when it ran */
} seen_t;

static void record(seen_t *s, thrift_response_t *r) {
    s->done = true;
    s->at = ev_time();
    s->status = thrift_response_status(r);
    if (s->status == THRIFT_OK)
        s->value = thrift_value_int(thrift_response_value(r));
    const char *k, *v;
    for (size_t i = 0; thrift_response_header_at(r, i, &k, &v); i++) {
        s->nheaders++;
        if (!strcmp(k, "x-trace"))
            snprintf(s->trace, sizeof s->trace, "%s", v);
        if (!strcmp(k, "x-server"))
            snprintf(s->server, sizeof s->server, "%s", v);
    }
}

static void pool_cb(thrift_pool_t *p, thrift_response_t *r, void *ud) {
    (void)p;
    record(ud, r);
}

static void cluster_cb(thrift_cluster_t *c, thrift_response_t *r, void *ud) {
    (void)c;
    record(ud, r);
}

static thrift_conn_options_t *header_options(void) {
    thrift_conn_options_t *co = thrift_conn_options_new();
    thrift_conn_options_set_framing(co, THRIFT_FRAMING_HEADER);
    // A long default deadline: the per-call ones below must be what fires.
    thrift_conn_options_set_call_timeout_ms(co, 10000);
    return co;
}

static void test_pool_headers(void) {
    char addr[64];
    thrift_rpc_server_t *srv = header_server("s1", addr, sizeof addr);
    thrift_conn_options_t *co = header_options();
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_pool_t *pool = thrift_pool_new(loop, schema, "Calc", addr, co, NULL, &err);
    TAP_CHECK(pool != NULL, "pool: %s", err.text);
    thrift_arena_t *a = thrift_arena_new(NULL);

    const char *trace[] = {"trace", "abc"};
    seen_t s1 = {0};
    TAP_CHECK(thrift_pool_call_async_ex(pool, "add", add_args(a, 2, 40), 0, trace, 1, pool_cb,
                                        &s1, &err) == THRIFT_OK,
              "pool call with an info header submitted: %s", err.text);
    run_until(loop, &s1.done, 10);
    TAP_CHECK(s1.status == THRIFT_OK && s1.value == 42, "pool call answered 42");
    TAP_CHECK(!strcmp(s1.trace, "abc!") && !strcmp(s1.server, "s1") && s1.nheaders == 2,
              "the reply's headers in the callback: x-trace '%s', x-server '%s' (%zu)",
              s1.trace, s1.server, s1.nheaders);

    seen_t s2 = {0};
    TAP_CHECK(thrift_pool_call_async(pool, "add", add_args(a, 1, 1), pool_cb, &s2, &err) ==
                  THRIFT_OK,
              "plain pool call submitted");
    run_until(loop, &s2.done, 10);
    TAP_CHECK(s2.status == THRIFT_OK && s2.trace[0] == 0 && !strcmp(s2.server, "s1"),
              "the header went with its call only: the next one carries none");

    double t0 = ev_time();
    seen_t s3 = {0};
    TAP_CHECK(thrift_pool_call_async_ex(pool, "slow", slow_args(a, 3000), 200, NULL, 0, pool_cb,
                                        &s3, &err) == THRIFT_OK,
              "pool call with a 200 ms deadline submitted");
    run_until(loop, &s3.done, 10);
    TAP_CHECK(s3.status == THRIFT_TIMEOUT && s3.at - t0 < 2.0,
              "its deadline, not the options' 10 s, failed it: %s after %.2f s",
              thrift_status_name(s3.status), s3.at - t0);

    const char *empty_key[] = {"", "x"};
    seen_t never = {0};
    TAP_CHECK(thrift_pool_call_async_ex(pool, "add", add_args(a, 1, 1), 0, empty_key, 1, pool_cb,
                                        &never, &err) == THRIFT_MISUSE,
              "an empty key fails up front (THRIFT_MISUSE)");
    char long_value[THRIFT_HEADER_TEXT_MAX + 2];
    memset(long_value, 'v', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = 0;
    const char *too_long[] = {"k", long_value};
    TAP_CHECK(thrift_pool_call_async_ex(pool, "add", add_args(a, 1, 1), 0, too_long, 1, pool_cb,
                                        &never, &err) == THRIFT_LIMIT,
              "a value over THRIFT_HEADER_TEXT_MAX fails up front (THRIFT_LIMIT)");
    ev_run(loop, EVRUN_NOWAIT);
    TAP_CHECK(!never.done, "no callback for calls refused up front");
    TAP_CHECK(!thrift_response_header_at(NULL, 0, NULL, NULL), "header_at(NULL) is false");

    thrift_pool_free(pool);
    thrift_arena_free(a);
    thrift_conn_options_free(co);
    fixture_flush_later();
    thrift_rpc_server_free(srv);
}

/* One connection carrying one call at a time: later calls wait for it. */
static void test_pool_wait(void) {
    char addr[64];
    thrift_rpc_server_t *srv = header_server("s1", addr, sizeof addr);
    thrift_conn_options_t *co = header_options();
    thrift_pool_options_t *po = thrift_pool_options_new();
    thrift_pool_options_set_maxsize(po, 1);
    thrift_pool_options_set_max_inflight(po, 1);
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_pool_t *pool = thrift_pool_new(loop, schema, "Calc", addr, co, po, &err);
    thrift_arena_t *a = thrift_arena_new(NULL);
    seen_t busy = {0}, waited = {0}, kept = {0};
    double t0 = ev_time();
    thrift_pool_call_async(pool, "slow", slow_args(a, 600), pool_cb, &busy, &err);
    TAP_CHECK(thrift_pool_call_async_ex(pool, "add", add_args(a, 1, 2), 150, NULL, 0, pool_cb,
                                        &waited, &err) == THRIFT_OK,
              "a call with a 150 ms deadline queued behind a 600 ms one");
    const char *trace[] = {"trace", "queued"};
    TAP_CHECK(thrift_pool_call_async_ex(pool, "add", add_args(a, 3, 4), 5000, trace, 1, pool_cb,
                                        &kept, &err) == THRIFT_OK,
              "a call with a header queued too");
    run_until(loop, &kept.done, 10);
    TAP_CHECK(waited.status == THRIFT_TIMEOUT && waited.at - t0 < 0.5,
              "the deadline covers the wait for a connection: %s after %.2f s",
              thrift_status_name(waited.status), waited.at - t0);
    TAP_CHECK(busy.status == THRIFT_OK, "the slow call was answered");
    TAP_CHECK(kept.status == THRIFT_OK && kept.value == 7 && !strcmp(kept.trace, "queued!"),
              "a queued call keeps its header until it is sent (x-trace '%s')", kept.trace);
    thrift_pool_free(pool);
    thrift_pool_options_free(po);
    thrift_arena_free(a);
    thrift_conn_options_free(co);
    fixture_flush_later();
    thrift_rpc_server_free(srv);
}

static void test_cluster(void) {
    char a1[64], a2[64];
    thrift_rpc_server_t *s1 = header_server("one", a1, sizeof a1);
    thrift_rpc_server_t *s2 = header_server("two", a2, sizeof a2);
    thrift_conn_options_t *co = header_options();
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_cluster_t *cl = thrift_cluster_new(loop, schema, "Calc", co, NULL, &err);
    thrift_cluster_add_server(cl, "one", a1, &err);
    thrift_cluster_add_server(cl, "two", a2, &err);
    thrift_arena_t *a = thrift_arena_new(NULL);
    bool saw_one = false, saw_two = false, traces_ok = true;
    for (int i = 0; i < 4; i++) {
        char value[16];
        snprintf(value, sizeof value, "t%d", i);
        const char *trace[] = {"trace", value};
        seen_t s = {0};
        TAP_CHECK(thrift_cluster_call_async_ex(cl, "add", add_args(a, i, 1), 0, trace, 1,
                                               cluster_cb, &s, &err) == THRIFT_OK,
                  "cluster call %d with a header submitted: %s", i, err.text);
        run_until(loop, &s.done, 10);
        char want[20];
        snprintf(want, sizeof want, "t%d!", i);
        traces_ok = traces_ok && s.status == THRIFT_OK && s.value == i + 1 &&
                    !strcmp(s.trace, want);
        saw_one = saw_one || !strcmp(s.server, "one");
        saw_two = saw_two || !strcmp(s.server, "two");
    }
    TAP_CHECK(traces_ok, "each cluster call's header reached its server and came back");
    TAP_CHECK(saw_one && saw_two, "reply headers name both servers (round-robin)");

    double t0 = ev_time();
    seen_t s = {0};
    TAP_CHECK(thrift_cluster_call_async_ex(cl, "slow", slow_args(a, 3000), 200, NULL, 0,
                                           cluster_cb, &s, &err) == THRIFT_OK,
              "cluster call with a 200 ms deadline submitted");
    run_until(loop, &s.done, 10);
    TAP_CHECK(s.status == THRIFT_TIMEOUT && s.at - t0 < 2.0,
              "the cluster call's own deadline failed it: %s after %.2f s",
              thrift_status_name(s.status), s.at - t0);
    const char *no_value[] = {"k", NULL};
    TAP_CHECK(thrift_cluster_call_async_ex(cl, "add", add_args(a, 1, 1), 0, no_value, 1,
                                           cluster_cb, &s, &err) == THRIFT_MISUSE,
              "a header without a value fails up front");
    thrift_cluster_free(cl);
    thrift_arena_free(a);
    thrift_conn_options_free(co);
    fixture_flush_later();
    thrift_rpc_server_free(s1);
    thrift_rpc_server_free(s2);
}

/* Framed: the headers are not sent (no place for them), the call works. */
static void test_framed(void) {
    thrift_rpc_server_t *srv = fixture_server(loop, schema, NULL, "127.0.0.1:0");
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", thrift_rpc_server_port(srv));
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_pool_t *pool = thrift_pool_new(loop, schema, "Calc", addr, NULL, NULL, &err);
    thrift_arena_t *a = thrift_arena_new(NULL);
    const char *trace[] = {"trace", "x"};
    seen_t s = {0};
    TAP_CHECK(thrift_pool_call_async_ex(pool, "add", add_args(a, 5, 5), 2000, trace, 1, pool_cb,
                                        &s, &err) == THRIFT_OK,
              "framed pool call with a header submitted");
    run_until(loop, &s.done, 10);
    TAP_CHECK(s.status == THRIFT_OK && s.value == 10 && s.nheaders == 0,
              "framed: answered 10, no reply headers");
    thrift_pool_free(pool);
    thrift_arena_free(a);
    thrift_rpc_server_free(srv);
}

int main(void) {
    schema = fixture_schema();
    loop = ev_loop_new(EVFLAG_AUTO);
    test_pool_headers();
    test_pool_wait();
    test_cluster();
    test_framed();
    ev_loop_destroy(loop);
    thrift_schema_unref(schema);
    return tap_done();
}
