/* Calls per second with N calls kept in flight (default 64) through:
 * a pool of 4 connections (max_inflight 16, and 1 for an exclusive-lease
 * pool), one pipelined connection, and 4 independent connections used
 * round-robin.  The server runs on its own thread and loop.
 *
 *   bench_pool [seconds-per-mode] [in-flight]      (defaults: 2 64) */
#include <ev.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynthrift/dynthrift.h"
#include "dynthrift/net.h"
#include "dynthrift/pool.h"

static const char idl[] = "service Calc { i64 add(1: i32 a, 2: i64 b) }\n";

static thrift_status_t h_add(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)ud;
    int64_t r = thrift_value_int(thrift_value_get(args, "a")) +
                thrift_value_int(thrift_value_get(args, "b"));
    return thrift_reply(req, thrift_value_new_i64(thrift_request_arena(req), r));
}

static struct ev_loop *server_loop;
static ev_async server_stop;
static void stop_cb(struct ev_loop *l, ev_async *w, int revents) {
    (void)w;
    (void)revents;
    ev_break(l, EVBREAK_ALL);
}
static void *server_main(void *arg) {
    (void)arg;
    ev_run(server_loop, 0);
    return NULL;
}

typedef struct bench {
    struct ev_loop *loop;
    thrift_pool_t *pool;
    thrift_conn_t *conns[4];
    size_t nconns, rr;
    thrift_value_t *args;
    long done, failed;
    double until;
    int inflight;
} bench_t;

static void issue(bench_t *b);

static void finish(bench_t *b, bool error) {
    b->done++;
    b->failed += error;
    b->inflight--;
    if (ev_now(b->loop) < b->until)
        issue(b);
    else if (!b->inflight)
        ev_break(b->loop, EVBREAK_ALL);
}
static void pool_cb(thrift_pool_t *p, thrift_response_t *r, void *ud) {
    (void)p;
    finish(ud, thrift_response_is_error(r));
}
static void conn_cb(thrift_conn_t *c, thrift_result_t *r, void *ud) {
    (void)c;
    finish(ud, thrift_result_status(r) != THRIFT_OK);
}
static void issue(bench_t *b) {
    thrift_status_t st;
    if (b->pool)
        st = thrift_pool_call_async(b->pool, "add", b->args, pool_cb, b, NULL);
    else
        st = thrift_call_async(b->conns[b->rr++ % b->nconns], "add", b->args, conn_cb, b);
    if (st == THRIFT_OK)
        b->inflight++;
    else
        b->failed++;
}

static double run(bench_t *b, int n, double seconds) {
    // Warm up: one round so connections are open before timing.
    b->until = ev_now(b->loop) + 0.2;
    for (int i = 0; i < n; i++)
        issue(b);
    ev_run(b->loop, 0);
    b->done = b->failed = 0;
    ev_now_update(b->loop);
    double t0 = ev_time();
    b->until = ev_now(b->loop) + seconds;
    for (int i = 0; i < n; i++)
        issue(b);
    ev_run(b->loop, 0);
    return (double)b->done / (ev_time() - t0);
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    int n = argc > 2 ? atoi(argv[2]) : 64;
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_schema_t *schema = thrift_load_string("calc.thrift", idl, strlen(idl), NULL, &err);
    server_loop = ev_loop_new(EVFLAG_AUTO);
    thrift_rpc_server_t *srv = thrift_rpc_server_new(server_loop, schema, NULL, &err);
    thrift_rpc_server_handle(srv, "Calc", "add", h_add, NULL, &err);
    if (thrift_rpc_server_listen(srv, "127.0.0.1:0", &err)) {
        fprintf(stderr, "listen: %s\n", err.text);
        return 1;
    }
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", thrift_rpc_server_port(srv));
    ev_async_init(&server_stop, stop_cb);
    ev_async_start(server_loop, &server_stop);
    pthread_t th;
    pthread_create(&th, NULL, server_main, NULL);

    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    thrift_arena_t *arena = thrift_arena_new(NULL);
    printf("calls/s, %d calls in flight, %.1f s per mode, framed binary, loopback\n", n, seconds);
    const char *names[] = {"pool: 4 connections, max_inflight 16", "pool: 4 connections, max_inflight 1",
                           "one pipelined connection", "4 independent connections (round-robin)"};
    for (int mode = 0; mode < 4; mode++) {
        bench_t b;
        memset(&b, 0, sizeof b);
        b.loop = loop;
        if (mode < 2) {
            thrift_pool_options_t *po = thrift_pool_options_new();
            thrift_pool_options_set_minsize(po, 4);
            thrift_pool_options_set_maxsize(po, 4);
            thrift_pool_options_set_max_inflight(po, mode == 0 ? 16 : 1);
            b.pool = thrift_pool_new(loop, schema, "Calc", addr, NULL, po, &err);
            thrift_pool_options_free(po);
        } else {
            b.nconns = mode == 2 ? 1 : 4;
            for (size_t i = 0; i < b.nconns; i++)
                b.conns[i] = thrift_conn_new(loop, schema, "Calc", addr, NULL, &err);
        }
        thrift_arena_reset(arena);
        b.args = b.pool ? thrift_value_new_struct(arena, thrift_function_def_args(thrift_service_def_find_function(
                                                             thrift_pool_service(b.pool), "add")))
                        : thrift_conn_new_args(b.conns[0], arena, "add", &err);
        thrift_value_set(b.args, "a", thrift_value_new_i32(arena, 1));
        thrift_value_set(b.args, "b", thrift_value_new_i64(arena, 2));
        double rate = run(&b, n, seconds);
        printf("%-42s %10.0f calls/s  (%ld calls, %ld failed)\n", names[mode], rate, b.done, b.failed);
        thrift_pool_free(b.pool);
        for (size_t i = 0; i < b.nconns; i++)
            thrift_conn_free(b.conns[i]);
    }
    thrift_arena_free(arena);
    ev_loop_destroy(loop);
    ev_async_send(server_loop, &server_stop);
    pthread_join(th, NULL);
    thrift_rpc_server_free(srv);
    ev_loop_destroy(server_loop);
    thrift_schema_unref(schema);
    return 0;
}
