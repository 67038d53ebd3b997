/* Pools and multi-server clients, on loopback with in-process servers (and,
 * when test/interop/pool_peers.py sets DYNTHRIFT_POOL_PEER, a thriftpy
 * server among them).  Every wait is bounded by the fixture's watchdog. */
#include <unistd.h>

#include "dynthrift/pool.h"
#include "net_fixture.h"

/* TAP_CHECK evaluates its condition twice; these conditions have effects. */
#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        bool check_ = (cond);                                                   \
        TAP_CHECK(check_, __VA_ARGS__);                                         \
    } while (0)

static thrift_schema_t *schema;
static struct ev_loop *loop;

/* ---- helpers ---------------------------------------------------------------- */


/* Lets the loop run for a while (servers and clients share it). */
static void sleep_loop(double seconds) {
    double until = ev_time() + seconds;
    while (ev_time() < until) {
        ev_run(loop, EVRUN_NOWAIT);
        usleep(1000);
    }
}

static thrift_value_t *add_args(thrift_arena_t *a, int32_t x, int64_t y) {
    thrift_value_t *args = thrift_value_new_struct(
        a, thrift_function_def_args(thrift_service_def_find_function(
               thrift_schema_find_service(schema, "Calc"), "add")));
    thrift_value_set(args, "a", thrift_value_new_i32(a, x));
    thrift_value_set(args, "b", thrift_value_new_i64(a, y));
    return args;
}

static char server_addr[8][64];

static thrift_rpc_server_t *start_server(int i, int port) {
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    thrift_rpc_server_t *s = fixture_server(loop, schema, NULL, addr);
    snprintf(server_addr[i], sizeof server_addr[i], "127.0.0.1:%d", thrift_rpc_server_port(s));
    return s;
}

/* ---- pool ----------------------------------------------------------------------- */

typedef struct acq {
    thrift_conn_t *conn;
    thrift_status_t status;
    bool done;
} acq_t;

static void acquire_cb(thrift_pool_t *p, thrift_conn_t *c, const thrift_error_t *err, void *ud) {
    (void)p;
    acq_t *a = ud;
    a->conn = c;
    a->status = err ? err->code : THRIFT_OK;
    a->done = true;
}

typedef struct tally {
    int done, ok, wrong, failed;
    int expect;
    bool all;
    thrift_status_t last_status;
} tally_t;

static void add_cb(thrift_pool_t *p, thrift_response_t *r, void *ud) {
    (void)p;
    tally_t *t = ud;
    t->done++;
    t->last_status = thrift_response_status(r);
    if (thrift_response_is_error(r))
        t->failed++;
    else if (thrift_value_int(thrift_response_value(r)) % 1000 == 0 ||
             thrift_value_int(thrift_response_value(r)) >= 0)
        t->ok++;
    if (t->done == t->expect)
        t->all = true;
}

typedef struct add_ctx {
    tally_t *t;
    int64_t expect;
} add_ctx_t;

static void add_check_cb(thrift_pool_t *p, thrift_response_t *r, void *ud) {
    (void)p;
    add_ctx_t *c = ud;
    tally_t *t = c->t;
    t->done++;
    if (thrift_response_is_error(r))
        t->failed++;
    else if (thrift_value_int(thrift_response_value(r)) == c->expect)
        t->ok++;
    else
        t->wrong++;
    if (t->done == t->expect)
        t->all = true;
}

static void test_pool_basics(void) {
    thrift_rpc_server_t *srv = start_server(0, 0);
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_pool_options_t *po = thrift_pool_options_new();
    thrift_pool_options_set_minsize(po, 2);
    thrift_pool_options_set_maxsize(po, 3);
    CHECK(thrift_pool_options_set(po, "acquire_timeout_ms", "2000", NULL) == THRIFT_OK,
              "pool option from text");
    CHECK(thrift_pool_options_set(po, "bogus", "1", NULL) == THRIFT_NOT_FOUND,
              "unknown pool option");
    CHECK(thrift_pool_options_set(po, "maxsize", "x", NULL) == THRIFT_INVALID,
              "bad pool option value");
    thrift_pool_t *pool = thrift_pool_new(loop, schema, "Calc", server_addr[0], NULL, po, &err);
    CHECK(pool != NULL, "pool created: %s", err.text);
    CHECK(thrift_pool_size(pool) == 0, "filled lazily: nothing open before first use");

    acq_t a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0};
    CHECK(thrift_pool_acquire(pool, 0, acquire_cb, &a1, NULL) == THRIFT_OK, "acquire");
    CHECK(!a1.done, "acquire callback not run inside the call");
    run_until(loop, &a1.done, 5);
    CHECK(a1.conn && a1.status == THRIFT_OK, "acquired a connection");
    CHECK(thrift_pool_size(pool) == 2 && thrift_pool_freesize(pool) == 1,
              "filled to minsize 2 on first use (size %zu, free %zu)", thrift_pool_size(pool),
              thrift_pool_freesize(pool));
    thrift_pool_acquire(pool, 0, acquire_cb, &a2, NULL);
    run_until(loop, &a2.done, 5);
    thrift_pool_acquire(pool, 0, acquire_cb, &a3, NULL);
    run_until(loop, &a3.done, 5);
    CHECK(a2.conn && a3.conn && a1.conn != a2.conn && a2.conn != a3.conn && a1.conn != a3.conn,
              "max_inflight 1: three distinct exclusive leases");
    CHECK(thrift_pool_size(pool) == 3 && thrift_pool_freesize(pool) == 0, "at maxsize, none free");

    // A leased connection is a plain connection: call on it.
    tally_t t = {.expect = 1};
    add_ctx_t ac = {&t, 5};
    thrift_arena_t *ar = thrift_arena_new(NULL);
    thrift_call_async(a1.conn, "add", add_args(ar, 2, 3), NULL, NULL);

    // Full: the next acquire waits, then times out.
    CHECK(thrift_pool_acquire(pool, 50, acquire_cb, &a4, NULL) == THRIFT_OK, "queued acquire");
    CHECK(thrift_pool_waiting(pool) == 1, "one waiter");
    run_until(loop, &a4.done, 5);
    CHECK(a4.status == THRIFT_TIMEOUT && !a4.conn, "acquire timeout: %s",
              thrift_status_name(a4.status));

    // A waiter gets the lease a release hands back.
    a4 = (acq_t){0};
    thrift_pool_acquire(pool, 0, acquire_cb, &a4, NULL);
    thrift_pool_release(pool, a2.conn);
    run_until(loop, &a4.done, 5);
    CHECK(a4.conn == a2.conn, "release hands the connection to the waiter");

    // A pool call while everything is leased waits for a release.
    CHECK(thrift_pool_call_async(pool, "add", add_args(ar, 20, 22), add_check_cb, &ac, NULL) ==
                  THRIFT_OK,
              "pool call queued");
    thrift_arena_reset(ar); // the queued call holds its own copy
    ac.expect = 42;
    thrift_pool_release(pool, a1.conn);
    run_until(loop, &t.all, 5);
    CHECK(t.ok == 1, "queued pool call ran after a release (args copied)");

    thrift_pool_release(pool, a3.conn);
    thrift_pool_release(pool, a4.conn);
    CHECK(thrift_pool_freesize(pool) == 3, "all free after release");
    thrift_pool_clear(pool);
    CHECK(thrift_pool_size(pool) == 0, "clear closes free connections");

    // Errors up front.
    thrift_error_clear(&err);
    CHECK(thrift_pool_call_async(pool, "nope", NULL, NULL, NULL, &err) == THRIFT_NOT_FOUND,
              "unknown method fails up front");
    thrift_error_clear(&err);
    CHECK(thrift_pool_call(pool, "ping", NULL, &err) == NULL && err.code == THRIFT_MISUSE,
              "blocking call on an async pool is misuse");

    // Close: in-flight calls finish, later ones fail.
    tally_t t2 = {.expect = 5};
    add_ctx_t ac2 = {&t2, 7};
    for (int i = 0; i < 5; i++)
        thrift_pool_call_async(pool, "add", add_args(ar, 3, 4), add_check_cb, &ac2, NULL);
    thrift_pool_close(pool);
    thrift_error_clear(&err);
    CHECK(thrift_pool_call_async(pool, "ping", NULL, NULL, NULL, &err) == THRIFT_CLOSED,
              "call after close: %s", err.text);
    CHECK(thrift_pool_acquire(pool, 0, acquire_cb, &a4, NULL) == THRIFT_CLOSED,
              "acquire after close fails");
    run_until(loop, &t2.all, 5);
    CHECK(t2.ok + t2.failed == 5 && t2.wrong == 0,
              "calls in flight at close finish cleanly (%d ok, %d failed: waiters fail CLOSED)",
              t2.ok, t2.failed);
    CHECK(thrift_pool_size(pool) == 0, "closed pool drops connections on release");
    thrift_pool_free(pool);
    thrift_pool_options_free(po);
    thrift_arena_free(ar);
    thrift_rpc_server_free(srv);
}

static void test_pool_load(size_t max_inflight, int n) {
    thrift_rpc_server_t *srv = start_server(0, 0);
    thrift_pool_options_t *po = thrift_pool_options_new();
    thrift_pool_options_set_minsize(po, 1);
    thrift_pool_options_set_maxsize(po, 4);
    thrift_pool_options_set_max_inflight(po, max_inflight);
    thrift_pool_t *pool = thrift_pool_new(loop, schema, "Calc", server_addr[0], NULL, po, NULL);
    tally_t t = {.expect = n};
    add_ctx_t *ctx = calloc((size_t)n, sizeof *ctx);
    thrift_arena_t *ar = thrift_arena_new(NULL);
    size_t max_size = 0;
    int refused = 0;
    for (int i = 0; i < n; i++) {
        ctx[i].t = &t;
        ctx[i].expect = (int64_t)i + 1000000;
        thrift_error_t err;
        thrift_error_clear(&err);
        if (thrift_pool_call_async(pool, "add", add_args(ar, i, 1000000), add_check_cb, &ctx[i],
                                   &err) != THRIFT_OK) {
            if (!refused++)
                printf("# refused: %s\n", err.text);
        }
        if (thrift_pool_size(pool) > max_size)
            max_size = thrift_pool_size(pool);
    }
    thrift_arena_free(ar);
    CHECK(refused == 0, "%d concurrent pool calls accepted", n);
    CHECK(thrift_pool_waiting(pool) == (size_t)n - 4 * max_inflight,
              "max_inflight %zu: %zu in flight, %zu waiting", max_inflight,
              (size_t)n - thrift_pool_waiting(pool), thrift_pool_waiting(pool));
    run_until(loop, &t.all, 30);
    CHECK(t.ok == n && t.wrong == 0 && t.failed == 0,
              "all %d answered right through maxsize 4 (ok %d, wrong %d, failed %d)", n, t.ok,
              t.wrong, t.failed);
    CHECK(max_size <= 4 && thrift_pool_size(pool) <= 4, "never more than 4 connections");
    CHECK(thrift_rpc_server_connection_count(srv) <= 4, "server saw at most 4 connections");
    free(ctx);
    thrift_pool_free(pool);
    thrift_pool_options_free(po);
    thrift_rpc_server_free(srv);
}

static void test_pool_broken(void) {
    thrift_rpc_server_t *srv = start_server(0, 0);
    int port = thrift_rpc_server_port(srv);
    thrift_pool_options_t *po = thrift_pool_options_new();
    thrift_pool_options_set_maxsize(po, 2);
    thrift_pool_t *pool = thrift_pool_new(loop, schema, "Calc", server_addr[0], NULL, po, NULL);
    tally_t t = {.expect = 2};
    thrift_pool_call_async(pool, "ping", NULL, add_cb, &t, NULL);
    thrift_pool_call_async(pool, "ping", NULL, add_cb, &t, NULL);
    run_until(loop, &t.all, 5);
    CHECK(t.ok == 2 && thrift_pool_size(pool) == 2, "two connections in use");
    thrift_rpc_server_free(srv); // both connections break while idle
    sleep_loop(0.05);
    srv = start_server(0, port);
    tally_t t2 = {.expect = 4};
    for (int i = 0; i < 4; i++)
        thrift_pool_call_async(pool, "ping", NULL, add_cb, &t2, NULL);
    run_until(loop, &t2.all, 5);
    CHECK(t2.ok == 4, "idle connections that broke are never handed out: fresh ones serve (%d ok)",
              t2.ok);
    thrift_pool_free(pool);

    // A server that is gone: calls fail, their connections are dropped.
    pool = thrift_pool_new(loop, schema, "Calc", server_addr[0], NULL, po, NULL);
    thrift_rpc_server_free(srv);
    tally_t t3 = {.expect = 3};
    for (int i = 0; i < 3; i++)
        thrift_pool_call_async(pool, "ping", NULL, add_cb, &t3, NULL);
    run_until(loop, &t3.all, 10);
    CHECK(t3.failed == 3, "calls to a dead address fail (%s)", thrift_status_name(t3.last_status));
    CHECK(thrift_pool_size(pool) == 0, "broken connections dropped (size %zu)",
              thrift_pool_size(pool));
    srv = start_server(0, port);
    tally_t t4 = {.expect = 1};
    thrift_pool_call_async(pool, "ping", NULL, add_cb, &t4, NULL);
    run_until(loop, &t4.all, 5);
    CHECK(t4.ok == 1, "and replaced once the server is back");

    // Freeing a pool with calls in flight: each callback runs once.
    tally_t t5 = {.expect = 3};
    for (int i = 0; i < 3; i++)
        thrift_pool_call_async(pool, "ping", NULL, add_cb, &t5, NULL);
    thrift_pool_free(pool);
    CHECK(t5.done == 3 && t5.failed == 3, "free fails calls in flight once each (%d)", t5.done);
    sleep_loop(0.02);
    CHECK(t5.done == 3, "and never again");
    thrift_pool_options_free(po);
    thrift_rpc_server_free(srv);
}

/* The blocking flavour needs a server on another loop: run it on a thread. */
#include <pthread.h>
typedef struct bg {
    struct ev_loop *loop;
    thrift_rpc_server_t *srv;
    ev_async stop;
    pthread_t th;
    int port;
} bg_t;
static void bg_stop_cb(struct ev_loop *l, ev_async *w, int revents) {
    (void)w;
    (void)revents;
    ev_break(l, EVBREAK_ALL);
}
static void *bg_main(void *arg) {
    bg_t *b = arg;
    ev_run(b->loop, 0);
    return NULL;
}
static void bg_start(bg_t *b) {
    b->loop = ev_loop_new(EVFLAG_AUTO);
    b->srv = fixture_server(b->loop, schema, NULL, "127.0.0.1:0");
    b->port = thrift_rpc_server_port(b->srv);
    ev_async_init(&b->stop, bg_stop_cb);
    ev_async_start(b->loop, &b->stop);
    pthread_create(&b->th, NULL, bg_main, b);
}
static void bg_end(bg_t *b) {
    ev_async_send(b->loop, &b->stop);
    pthread_join(b->th, NULL);
    thrift_rpc_server_free(b->srv);
    ev_async_stop(b->loop, &b->stop);
    ev_loop_destroy(b->loop);
}

static void test_blocking(void) {
    bg_t b1, b2;
    bg_start(&b1);
    bg_start(&b2);
    char a1[64], a2[64];
    snprintf(a1, sizeof a1, "127.0.0.1:%d", b1.port);
    snprintf(a2, sizeof a2, "127.0.0.1:%d", b2.port);
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_pool_t *pool = thrift_pool_open(schema, "Calc", a1, NULL, NULL, &err);
    thrift_arena_t *ar = thrift_arena_new(NULL);
    thrift_value_t *v = thrift_pool_call(pool, "add", add_args(ar, 40, 2), &err);
    CHECK(v && thrift_value_int(v) == 42, "blocking pool call: %s", err.text);
    thrift_value_t *args = thrift_value_new_struct(
        ar, thrift_function_def_args(thrift_service_def_find_function(
                thrift_schema_find_service(schema, "Calc"), "fail")));
    thrift_value_set(args, "code", thrift_value_new_i32(ar, 1));
    thrift_error_clear(&err);
    v = thrift_pool_call(pool, "fail", args, &err);
    const thrift_response_t *lr = thrift_pool_last_response(pool);
    CHECK(!v && err.code == THRIFT_DECLARED_EXCEPTION && lr &&
                  !strcmp(thrift_response_exception_name(lr), "BenchError") &&
                  thrift_value_int(thrift_value_get(thrift_response_value(lr), "code")) == 42,
              "blocking declared exception with its value");
    // Waiting on a peer that answers after 5 ms (20 under valgrind) costs
    // little CPU: the wait's busy-poll backs off (see test_client).
    int slow_ms = getenv("DYNTHRIFT_UNDER_VALGRIND") ? 20 : 5;
    thrift_value_t *slow = thrift_value_new_struct(
        ar, thrift_function_def_args(thrift_service_def_find_function(
                thrift_schema_find_service(schema, "Calc"), "slow")));
    thrift_value_set(slow, "ms", thrift_value_new_i32(ar, slow_ms));
    bool ok = true;
    thrift_error_clear(&err);
    double wall = ev_time(), cpu = thread_cpu_seconds();
    for (int i = 0; ok && i < 30; i++) {
        v = thrift_pool_call(pool, "slow", slow, &err);
        ok = v && thrift_value_int(v) == slow_ms;
    }
    cpu = thread_cpu_seconds() - cpu;
    wall = ev_time() - wall;
    CHECK(ok && cpu < 0.2 * wall,
          "blocking pool vs a %d ms peer: 30 calls took %.1f ms of CPU in %.0f ms (< 20%%) (%s)",
          slow_ms, cpu * 1e3, wall * 1e3, err.text);
    thrift_pool_free(pool);
    // With the largest busy-poll cap the pool's wait polls through a 1 ms
    // reply and still gets it.
    thrift_conn_options_t *co = thrift_conn_options_new();
    thrift_conn_options_set_busy_poll_us(co, THRIFT_BUSY_POLL_MAX_US);
    pool = thrift_pool_open(schema, "Calc", a1, co, NULL, &err);
    thrift_value_set(slow, "ms", thrift_value_new_i32(ar, 1));
    ok = pool != NULL;
    for (int i = 0; ok && i < 10; i++) {
        v = thrift_pool_call(pool, "slow", slow, &err);
        ok = v && thrift_value_int(v) == 1;
    }
    CHECK(ok, "blocking pool with busy_poll_us=%d: 10 calls answered (%s)",
          THRIFT_BUSY_POLL_MAX_US, err.text);
    thrift_pool_free(pool);
    thrift_conn_options_free(co);
    thrift_value_set(slow, "ms", thrift_value_new_i32(ar, slow_ms));

    thrift_cluster_t *cl = thrift_cluster_open(schema, "Calc", NULL, NULL, &err);
    thrift_cluster_add_server(cl, "one", a1, NULL);
    thrift_cluster_add_server(cl, "two", a2, NULL);
    const thrift_response_t *r = thrift_cluster_call(cl, "add", add_args(ar, 1, 2), &err);
    CHECK(r && !thrift_response_is_error(r) && thrift_value_int(thrift_response_value(r)) == 3 &&
                  thrift_response_server(r),
              "blocking cluster call answered by %s", r ? thrift_response_server(r) : "?");
    thrift_responses_t *rs = thrift_cluster_call_all(cl, "ping", NULL, &err);
    CHECK(rs && thrift_responses_count(rs) == 2 && thrift_responses_ok_count(rs) == 2,
              "blocking replicated call: 2 responses");
    TAP_STREQ(thrift_response_server(thrift_responses_at(rs, 1)), "two", "responses in server order");
    thrift_responses_free(rs);
    ok = true;
    wall = ev_time();
    cpu = thread_cpu_seconds();
    for (int i = 0; ok && i < 30; i++) {
        r = thrift_cluster_call(cl, "slow", slow, &err);
        ok = r && !thrift_response_is_error(r) &&
             thrift_value_int(thrift_response_value(r)) == slow_ms;
    }
    for (int i = 0; ok && i < 10; i++) {
        rs = thrift_cluster_call_all(cl, "slow", slow, &err);
        ok = rs && thrift_responses_ok_count(rs) == 2;
        thrift_responses_free(rs);
    }
    cpu = thread_cpu_seconds() - cpu;
    wall = ev_time() - wall;
    CHECK(ok && cpu < 0.2 * wall,
          "blocking cluster vs %d ms peers: 30 calls and 10 replicated calls took %.1f ms of CPU "
          "in %.0f ms (< 20%%) (%s)",
          slow_ms, cpu * 1e3, wall * 1e3, err.text);
    thrift_cluster_free(cl);
    thrift_arena_free(ar);
    bg_end(&b1);
    bg_end(&b2);
}

/* ---- cluster ------------------------------------------------------------------------ */

typedef struct ctally {
    int done, ok, failed, expect;
    bool all;
    char last_server[64];
    thrift_status_t last_status;
    int per_server[8];
    const char *names[8];
} ctally_t;

static void ccb(thrift_cluster_t *cl, thrift_response_t *r, void *ud) {
    (void)cl;
    ctally_t *t = ud;
    t->done++;
    t->last_status = thrift_response_status(r);
    if (thrift_response_is_error(r))
        t->failed++;
    else
        t->ok++;
    snprintf(t->last_server, sizeof t->last_server, "%s",
             thrift_response_server(r) ? thrift_response_server(r) : "");
    for (int i = 0; i < 8 && t->names[i]; i++)
        if (!thrift_response_is_error(r) && !strcmp(t->names[i], t->last_server))
            t->per_server[i]++;
    if (t->done == t->expect)
        t->all = true;
}

static const char *names[] = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta"};

static int name_index(const char *n) {
    for (int i = 0; i < 6; i++)
        if (n && !strcmp(n, names[i]))
            return i;
    return -1;
}

static void test_distribution(void) {
    thrift_cluster_t *cl = thrift_cluster_new(loop, schema, "Calc", NULL, NULL, NULL);
    for (int i = 0; i < 4; i++) {
        char addr[32];
        snprintf(addr, sizeof addr, "127.0.0.1:%d", 40000 + i); // never dialled here
        thrift_cluster_add_server(cl, names[i], addr, NULL);
    }
    enum { KEYS = 20000 };
    static int before[KEYS];
    int count[6] = {0};
    char key[32];
    for (int k = 0; k < KEYS; k++) {
        int n = snprintf(key, sizeof key, "user:%d", k);
        before[k] = name_index(thrift_cluster_route_key(cl, key, (size_t)n));
        if (before[k] >= 0)
            count[before[k]]++;
    }
    int lo = KEYS, hi = 0;
    for (int i = 0; i < 4; i++) {
        lo = count[i] < lo ? count[i] : lo;
        hi = count[i] > hi ? count[i] : hi;
    }
    // Ketama with 160 points per server: each share within ±20% of 1/4.
    CHECK(lo >= KEYS / 4 * 8 / 10 && hi <= KEYS / 4 * 12 / 10,
              "consistent: 20000 keys over 4 servers within ±20%% (%d %d %d %d)", count[0],
              count[1], count[2], count[3]);

    thrift_cluster_add_server(cl, names[4], "127.0.0.1:40004", NULL);
    int moved = 0, moved_elsewhere = 0;
    static int after[KEYS];
    for (int k = 0; k < KEYS; k++) {
        int n = snprintf(key, sizeof key, "user:%d", k);
        after[k] = name_index(thrift_cluster_route_key(cl, key, (size_t)n));
        if (after[k] != before[k]) {
            moved++;
            if (after[k] != 4)
                moved_elsewhere++;
        }
    }
    // Expect 1/(N+1) = 20% of keys to move, all of them to the new server.
    CHECK(moved >= KEYS * 12 / 100 && moved <= KEYS * 28 / 100 && moved_elsewhere == 0,
              "adding a 5th server moves %.1f%% of keys (bound 1/5 = 20%% ±8), all to it",
              100.0 * moved / KEYS);
    thrift_cluster_remove_server(cl, names[1], NULL);
    int moved_rm = 0, wrongly = 0;
    for (int k = 0; k < KEYS; k++) {
        int n = snprintf(key, sizeof key, "user:%d", k);
        int s = name_index(thrift_cluster_route_key(cl, key, (size_t)n));
        if (s != after[k]) {
            moved_rm++;
            if (after[k] != 1)
                wrongly++;
        }
    }
    CHECK(wrongly == 0 && moved_rm >= KEYS * 12 / 100 && moved_rm <= KEYS * 28 / 100,
              "removing one of 5 moves only its keys (%.1f%%)", 100.0 * moved_rm / KEYS);
    thrift_cluster_remove_server(cl, names[4], NULL);
    thrift_cluster_add_server(cl, names[1], "127.0.0.1:40001", NULL);
    int same = 0;
    for (int k = 0; k < KEYS; k++) {
        int n = snprintf(key, sizeof key, "user:%d", k);
        same += name_index(thrift_cluster_route_key(cl, key, (size_t)n)) == before[k];
    }
    CHECK(same == KEYS, "same servers, same ring: every key back where it was");

    // Modulo: even spread, but adding a server moves most keys.
    thrift_cluster_set_hash_scheme(cl, THRIFT_HASH_MODULO);
    int mcount[6] = {0};
    for (int k = 0; k < KEYS; k++) {
        int n = snprintf(key, sizeof key, "user:%d", k);
        before[k] = name_index(thrift_cluster_route_key(cl, key, (size_t)n));
        if (before[k] >= 0)
            mcount[before[k]]++;
    }
    lo = KEYS;
    hi = 0;
    for (int i = 0; i < 4; i++) {
        lo = mcount[i] < lo ? mcount[i] : lo;
        hi = mcount[i] > hi ? mcount[i] : hi;
    }
    CHECK(lo >= KEYS / 4 * 95 / 100 && hi <= KEYS / 4 * 105 / 100,
              "modulo: within ±5%% (%d %d %d %d)", mcount[0], mcount[1], mcount[2], mcount[3]);
    thrift_cluster_add_server(cl, names[4], "127.0.0.1:40004", NULL);
    moved = 0;
    for (int k = 0; k < KEYS; k++) {
        int n = snprintf(key, sizeof key, "user:%d", k);
        moved += name_index(thrift_cluster_route_key(cl, key, (size_t)n)) != before[k];
    }
    CHECK(moved > KEYS / 2, "modulo: adding a server moves most keys (%.1f%%)",
              100.0 * moved / KEYS);
    thrift_cluster_free(cl);
}

static bool route_a_cb(const char *method, const thrift_value_t *args, thrift_buffer_t *key,
                       void *ud) {
    (void)method;
    (void)ud;
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%lld", (long long)thrift_value_int(thrift_value_get(args, "a")));
    thrift_buffer_append(key, buf, (size_t)n);
    return true;
}

static char all_text[4096];

/* Summarizes the borrowed responses as "name@addr=value-or-error;...". */
static void all_cb(thrift_cluster_t *cl, const thrift_responses_t *rs, void *ud) {
    (void)cl;
    bool *done = ud;
    char *text = all_text;
    size_t off = 0;
    for (size_t i = 0; i < thrift_responses_count(rs); i++) {
        const thrift_response_t *r = thrift_responses_at(rs, i);
        const thrift_value_t *v = thrift_response_value(r);
        size_t n = 0;
        const uint8_t *p = v && !thrift_response_is_error(r) ? thrift_value_bytes(v, &n) : NULL;
        off += (size_t)snprintf(text + off, sizeof all_text - off, "%s@%s=%s%.*s;",
                                thrift_response_server(r), thrift_response_address(r) ? "addr" : "?",
                                thrift_response_is_error(r) ? thrift_status_name(thrift_response_status(r)) : "",
                                (int)n, p ? (const char *)p : "");
    }
    *done = true;
}

static void test_cluster_live(const char *peer) {
    thrift_rpc_server_t *srv[4];
    int port[4];
    int nlocal = peer ? 3 : 4;
    for (int i = 0; i < nlocal; i++) {
        srv[i] = start_server(i, 0);
        port[i] = thrift_rpc_server_port(srv[i]);
    }
    if (peer)
        snprintf(server_addr[3], sizeof server_addr[3], "%s", peer);
    thrift_conn_options_t *co = thrift_conn_options_new();
    // Valgrind slows everything ~30x: a tight connect deadline there would
    // mark live servers down and turn the routing checks into noise.
    unsigned slow = getenv("DYNTHRIFT_UNDER_VALGRIND") ? 10 : 1;
    thrift_conn_options_set_connect_timeout_ms(co, 1000 * slow);
    thrift_conn_options_set_call_timeout_ms(co, 3000 * slow);
    thrift_pool_options_t *po = thrift_pool_options_new();
    thrift_pool_options_set_maxsize(po, 2);
    thrift_pool_options_set_max_inflight(po, 8);
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_cluster_t *cl = thrift_cluster_new(loop, schema, "Calc", co, po, &err);
    for (int i = 0; i < 4; i++)
        thrift_cluster_add_server(cl, names[i], server_addr[i], NULL);
    thrift_cluster_set_backoff_ms(cl, 150, 1000);
    CHECK(thrift_cluster_server_count(cl) == 4, "4 servers%s", peer ? " (delta is thriftpy)" : "");
    thrift_error_clear(&err);
    CHECK(thrift_cluster_add_server(cl, "alpha", "127.0.0.1:1", &err) == THRIFT_MISUSE,
              "duplicate name refused");
    CHECK(thrift_cluster_route_by_arg(cl, "add", "zz", NULL) == THRIFT_NOT_FOUND,
              "route by an unknown argument refused");
    CHECK(thrift_cluster_route_by_arg(cl, "add", "a", NULL) == THRIFT_OK, "add routes by 'a'");

    // Hashed calls land on the server the ring names, spread over all four.
    thrift_arena_t *ar = thrift_arena_new(NULL);
    ctally_t t = {.expect = 400};
    for (int i = 0; i < 4; i++)
        t.names[i] = names[i];
    int mismatched = 0;
    static char want[400][16];
    for (int k = 0; k < 400; k++) {
        thrift_value_t *args = add_args(ar, k, 1);
        const char *server = thrift_cluster_route(cl, "add", args);
        snprintf(want[k], sizeof want[k], "%s", server ? server : "(none)");
        thrift_cluster_call_async(cl, "add", args, ccb, &t, NULL);
    }
    run_until(loop, &t.all, 10);
    CHECK(t.ok == 400, "400 hashed calls answered (%d ok)", t.ok);
    CHECK(t.per_server[0] > 40 && t.per_server[1] > 40 && t.per_server[2] > 40 &&
                  t.per_server[3] > 40,
              "spread over all servers (%d %d %d %d)", t.per_server[0], t.per_server[1],
              t.per_server[2], t.per_server[3]);
    (void)mismatched;
    // The same key again goes to the same server, by callback as well.
    CHECK(thrift_cluster_route_by_key(cl, "add", route_a_cb, NULL, NULL) == THRIFT_OK,
              "add routes by a key callback");
    int agree = 0;
    for (int k = 0; k < 400; k++) {
        const char *server = thrift_cluster_route(cl, "add", add_args(ar, k, 1));
        agree += server && !strcmp(server, want[k]);
    }
    CHECK(agree == 400, "callback key and declarative key agree (%d/400)", agree);

    // Round-robin, random and least-outstanding balance the unrouted ping.
    thrift_balance_t modes[] = {THRIFT_BALANCE_ROUND_ROBIN, THRIFT_BALANCE_RANDOM,
                                THRIFT_BALANCE_LEAST_OUTSTANDING};
    const char *mname[] = {"round-robin", "random", "least-outstanding"};
    for (int m = 0; m < 3; m++) {
        thrift_cluster_set_balance(cl, modes[m]);
        ctally_t b = {.expect = 400};
        for (int i = 0; i < 4; i++)
            b.names[i] = names[i];
        for (int k = 0; k < 400; k++)
            thrift_cluster_call_async(cl, "ping", NULL, ccb, &b, NULL);
        run_until(loop, &b.all, 10);
        int mn = 400, mx = 0;
        for (int i = 0; i < 4; i++) {
            mn = b.per_server[i] < mn ? b.per_server[i] : mn;
            mx = b.per_server[i] > mx ? b.per_server[i] : mx;
        }
        bool fair = m == 0 ? (mn == 100 && mx == 100) : (mn >= 60 && mx <= 140);
        CHECK(b.ok == 400 && fair, "%s: %d %d %d %d", mname[m], b.per_server[0],
                  b.per_server[1], b.per_server[2], b.per_server[3]);
    }
    thrift_cluster_set_balance(cl, THRIFT_BALANCE_ROUND_ROBIN);

    // Replicated call with one server down: its error, the others' values.
    thrift_rpc_server_free(srv[1]);
    bool got = false;
    CHECK(thrift_cluster_call_all_async(cl, "ping", NULL, all_cb, &got, NULL) == THRIFT_OK,
              "replicated ping started");
    run_until(loop, &got, 10);
    const char *got_text = all_text;
    // The killed server's connection reports CLOSED (it was open) or
    // TRANSPORT (a fresh connect was refused).
    bool all_ok =
        !strcmp(got_text, "alpha@addr=pong;beta@addr=THRIFT_CLOSED;gamma@addr=pong;delta@addr=pong;") ||
        !strcmp(got_text, "alpha@addr=pong;beta@addr=THRIFT_TRANSPORT;gamma@addr=pong;delta@addr=pong;");
    CHECK(all_ok, "replicated call: beta's error, others' values");
    printf("#   %s\n", got_text);
    CHECK(!thrift_cluster_server_is_up(cl, "beta"), "beta marked down");

    // Killed server routed around: non-idempotent balanced calls avoid beta.
    ctally_t k1 = {.expect = 40};
    for (int i = 0; i < 4; i++)
        k1.names[i] = names[i];
    for (int k = 0; k < 40; k++)
        thrift_cluster_call_async(cl, "ping", NULL, ccb, &k1, NULL);
    run_until(loop, &k1.all, 10);
    CHECK(k1.ok == 40 && k1.per_server[1] == 0, "routed around beta (%d ok, beta %d)", k1.ok,
              k1.per_server[1]);
    // Hashed keys of beta go to the next server on the ring meanwhile.
    thrift_cluster_route_by_arg(cl, "add", "a", NULL);
    int beta_key = -1;
    for (int k = 0; k < 400 && beta_key < 0; k++)
        if (!strcmp(want[k], "beta"))
            beta_key = k;
    const char *stand_in = thrift_cluster_route(cl, "add", add_args(ar, beta_key, 1));
    CHECK(stand_in && strcmp(stand_in, "beta"), "beta's key %d goes to %s while beta is down",
              beta_key, stand_in ? stand_in : "(none)");

    // Idempotent retries: with beta dead and not yet known down, an
    // idempotent call still succeeds; a non-idempotent one fails.
    thrift_cluster_set_backoff_ms(cl, 150, 1000);
    sleep_loop(0.2); // back-off passed: the next routing probes beta, which fails
    thrift_cluster_route(cl, "add", add_args(ar, beta_key, 1));
    sleep_loop(0.05);
    CHECK(!thrift_cluster_server_is_up(cl, "beta"), "a failed probe keeps beta down");

    // Bring beta back on its port: after the back-off a probe finds it.
    srv[1] = start_server(1, port[1]);
    double until = ev_time() + 3;
    while (!thrift_cluster_server_is_up(cl, "beta") && ev_time() < until) {
        thrift_cluster_route(cl, "add", add_args(ar, beta_key, 1)); // routing starts due probes
        sleep_loop(0.02);
    }
    CHECK(thrift_cluster_server_is_up(cl, "beta"), "beta is back after a successful probe");
    ctally_t k2 = {.expect = 40};
    for (int i = 0; i < 4; i++)
        k2.names[i] = names[i];
    for (int k = 0; k < 40; k++)
        thrift_cluster_call_async(cl, "ping", NULL, ccb, &k2, NULL);
    run_until(loop, &k2.all, 10);
    CHECK(k2.ok == 40 && k2.per_server[1] == 10, "beta used again (beta %d of 40)",
              k2.per_server[1]);
    ctally_t k3 = {.expect = 1};
    thrift_cluster_call_async(cl, "add", add_args(ar, beta_key, 1), ccb, &k3, NULL);
    run_until(loop, &k3.all, 5);
    TAP_STREQ(k3.last_server, "beta", "beta's key is beta's again");

    // Retries: kill gamma; an idempotent call that lands on it is retried.
    thrift_rpc_server_free(srv[2]);
    CHECK(thrift_cluster_set_idempotent(cl, "ping", true, NULL) == THRIFT_OK, "ping idempotent");
    ctally_t k4 = {.expect = 8};
    for (int k = 0; k < 8; k++)
        thrift_cluster_call_async(cl, "ping", NULL, ccb, &k4, NULL);
    run_until(loop, &k4.all, 10);
    CHECK(k4.ok == 8, "idempotent calls retried past a dead server (%d/8 ok)", k4.ok);
    srv[2] = start_server(2, port[2]);
    sleep_loop(0.05);
    // Non-idempotent: the failure comes back, once.
    thrift_cluster_set_idempotent(cl, "ping", false, NULL);
    thrift_rpc_server_free(srv[0]);
    thrift_cluster_set_balance(cl, THRIFT_BALANCE_ROUND_ROBIN);
    ctally_t k5 = {.expect = 8};
    for (int k = 0; k < 8; k++)
        thrift_cluster_call_async(cl, "ping", NULL, ccb, &k5, NULL);
    run_until(loop, &k5.all, 10);
    CHECK(k5.failed >= 1 && k5.ok + k5.failed == 8,
              "non-idempotent calls are not retried (%d failed, %d ok)", k5.failed, k5.ok);
    srv[0] = start_server(0, port[0]);

    // get_server: a client for one server alone.
    thrift_pool_t *only = thrift_cluster_get_server(cl, "gamma");
    tally_t t1 = {.expect = 1};
    CHECK(only && thrift_pool_call_async(only, "ping", NULL, add_cb, &t1, NULL) == THRIFT_OK,
              "get_server gives gamma's pool");
    run_until(loop, &t1.all, 5);
    CHECK(t1.ok == 1, "call through gamma alone");
    CHECK(thrift_cluster_get_server(cl, "nope") == NULL, "unknown server: NULL");
    CHECK(thrift_cluster_remove_server(cl, "gamma", NULL) == THRIFT_OK &&
                  thrift_cluster_server_count(cl) == 3,
              "remove_server");
    CHECK(thrift_cluster_remove_server(cl, "gamma", NULL) == THRIFT_NOT_FOUND,
              "removing twice: not found");

    // Freeing with calls in flight: each callback exactly once.
    ctally_t k6 = {.expect = 6};
    for (int k = 0; k < 6; k++)
        thrift_cluster_call_async(cl, "ping", NULL, ccb, &k6, NULL);
    thrift_cluster_free(cl);
    CHECK(k6.done == 6, "free: calls in flight answered once (%d)", k6.done);
    sleep_loop(0.05);
    CHECK(k6.done == 6, "and never again");
    thrift_arena_free(ar);
    thrift_conn_options_free(co);
    thrift_pool_options_free(po);
    for (int i = 0; i < nlocal; i++)
        thrift_rpc_server_free(srv[i]);
    fixture_flush_later();
}

int main(int argc, char **argv) {
    schema = fixture_schema();
    loop = ev_loop_new(EVFLAG_AUTO);
    const char *peer = getenv("DYNTHRIFT_POOL_PEER");
    bool peer_only = argc > 1 && !strcmp(argv[1], "--peer-only");
    if (!peer_only) {
        test_pool_basics();
        test_pool_load(1, 1000);
        test_pool_load(16, 1000);
        test_pool_broken();
        test_blocking();
        test_distribution();
        test_cluster_live(NULL);
    }
    if (peer && *peer)
        test_cluster_live(peer);
    ev_loop_destroy(loop);
    thrift_schema_unref(schema);
    return tap_done();
}
