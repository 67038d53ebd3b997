/* The server: bad input, limits, idle timeout, graceful stop, Unix sockets
 * and JSON handlers.  In process, loopback port 0, with a watchdog. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net_fixture.h"

static int raw_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

/* Turns the loop until the socket reports EOF (returns bytes read before
 * it) or `seconds` pass (returns -1). */
static ssize_t read_until_eof(struct ev_loop *loop, int fd, uint8_t *buf, size_t cap, double seconds) {
    size_t got = 0;
    double until = ev_time() + seconds;
    while (ev_time() < until) {
        ev_run(loop, EVRUN_NOWAIT);
        ssize_t n = recv(fd, buf + got, cap - got, 0);
        if (n == 0)
            return (ssize_t)got;
        if (n > 0)
            got += (size_t)n;
        else
            ev_sleep(0.002);
    }
    return -1;
}

static void spin(struct ev_loop *loop, double seconds) {
    double until = ev_time() + seconds;
    while (ev_time() < until) {
        ev_run(loop, EVRUN_NOWAIT);
        ev_sleep(0.002);
    }
}

static void test_bad_input(thrift_schema_t *s) {
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    thrift_conn_options_t *o = thrift_conn_options_new();
    thrift_conn_options_set_max_frame_size(o, 1024);
    thrift_rpc_server_t *srv = fixture_server(loop, s, o, NULL);
    int port = thrift_rpc_server_port(srv);
    TAP_CHECK(port > 0, "listening on port 0 gives a port (%d)", port);

    // A frame whose body is not a Thrift message.
    int fd = raw_connect(port);
    const uint8_t junk[] = {0, 0, 0, 6, 0x80, 0x01, 0x00, 0x01, 0xff, 0xff};
    send(fd, junk, sizeof junk, 0);
    uint8_t buf[4096];
    ssize_t n = read_until_eof(loop, fd, buf, sizeof buf, 3.0);
    thrift_arena_t *a = thrift_arena_new(NULL);
    bool is_protocol_error = false;
    if (n > 4) {
        thrift_message_header_t h;
        size_t hl;
        if (!thrift_decode_message_header(THRIFT_PROTO_BINARY, buf + 4, (size_t)n - 4, NULL, &h, &hl, NULL) &&
            h.type == THRIFT_MSG_EXCEPTION) {
            thrift_value_t *ex = thrift_decode_message_body(THRIFT_PROTO_BINARY, thrift_app_exception_def(),
                                                            buf + 4 + hl, (size_t)n - 4 - hl, a, NULL, NULL, NULL);
            thrift_value_t *t = ex ? thrift_value_get_by_id(ex, 2) : NULL;
            is_protocol_error = t && thrift_value_int(t) == THRIFT_APPEX_PROTOCOL_ERROR;
        }
    }
    TAP_CHECK(is_protocol_error, "undecodable input: PROTOCOL_ERROR, then the server closes (%zd bytes)", n);
    close(fd);

    // Arguments of the wrong type for a known method.
    fd = raw_connect(port);
    thrift_buffer_t *out = thrift_buffer_new();
    thrift_value_t *body = thrift_app_exception_new(a, THRIFT_APPEX_UNKNOWN, "not args");
    // TApplicationException's field 1 is a string; add's field 1 is an i32.
    uint8_t len[4] = {0};
    thrift_buffer_append(out, len, 4);
    thrift_encode_message(THRIFT_PROTO_BINARY, "add", 3, THRIFT_MSG_CALL, 9, body, out, NULL);
    uint8_t *d = (uint8_t *)thrift_buffer_data(out);
    uint32_t bl = (uint32_t)thrift_buffer_len(out) - 4;
    d[0] = (uint8_t)(bl >> 24), d[1] = (uint8_t)(bl >> 16), d[2] = (uint8_t)(bl >> 8), d[3] = (uint8_t)bl;
    send(fd, d, thrift_buffer_len(out), 0);
    n = read_until_eof(loop, fd, buf, sizeof buf, 3.0);
    TAP_CHECK(n > 0, "args that do not decode: an answer, then close (%zd bytes)", n);
    close(fd);
    thrift_buffer_free(out);

    // A frame larger than the limit: closed without reading it.
    fd = raw_connect(port);
    const uint8_t huge[] = {0, 1, 0, 0};
    send(fd, huge, sizeof huge, 0);
    n = read_until_eof(loop, fd, buf, sizeof buf, 3.0);
    TAP_CHECK(n == 0, "frame over max_frame_size: connection closed");
    close(fd);

    spin(loop, 0.05);
    TAP_CHECK(thrift_rpc_server_connection_count(srv) == 0, "no connection left open");
    thrift_arena_free(a);
    thrift_rpc_server_free(srv);
    thrift_conn_options_free(o);
    ev_loop_destroy(loop);
}

static void test_limits(thrift_schema_t *s) {
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    thrift_conn_options_t *o = thrift_conn_options_new();
    thrift_conn_options_set_idle_timeout_ms(o, 150);
    thrift_rpc_server_t *srv = fixture_server(loop, s, o, NULL);
    thrift_rpc_server_set_max_connections(srv, 2);
    int port = thrift_rpc_server_port(srv);
    int f1 = raw_connect(port), f2 = raw_connect(port);
    spin(loop, 0.05);
    int f3 = raw_connect(port);
    uint8_t buf[64];
    ssize_t n = read_until_eof(loop, f3, buf, sizeof buf, 1.0);
    TAP_CHECK(n == 0 && thrift_rpc_server_connection_count(srv) == 2,
              "max connections: the third is closed at once");
    close(f3);
    n = read_until_eof(loop, f1, buf, sizeof buf, 2.0);
    TAP_CHECK(n == 0, "idle timeout closes a silent connection");
    spin(loop, 0.05);
    TAP_CHECK(thrift_rpc_server_connection_count(srv) == 0, "both idle connections closed");
    close(f1);
    close(f2);
    thrift_rpc_server_free(srv);
    thrift_conn_options_free(o);
    ev_loop_destroy(loop);
}

static int stop_done;
static void on_stopped(thrift_rpc_server_t *srv, void *ud) {
    (void)srv;
    (void)ud;
    stop_done++;
}

typedef struct got {
    int calls;
    thrift_status_t st;
    int64_t v;
} got_t;

static void got_cb(thrift_conn_t *c, thrift_result_t *r, void *ud) {
    (void)c;
    got_t *g = ud;
    g->calls++;
    g->st = thrift_result_status(r);
    if (g->st == THRIFT_OK && thrift_result_value(r) &&
        thrift_value_kind(thrift_result_value(r)) != THRIFT_KIND_STRING)
        g->v = thrift_value_int(thrift_result_value(r));
}

static void test_graceful_stop(thrift_schema_t *s) {
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    thrift_rpc_server_t *srv = fixture_server(loop, s, NULL, NULL);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", thrift_rpc_server_port(srv));
    thrift_conn_t *c = thrift_conn_new(loop, s, "Calc", addr, NULL, NULL);
    thrift_arena_t *a = thrift_arena_new(NULL);
    thrift_value_t *args = thrift_conn_new_args(c, a, "slow", NULL);
    thrift_value_set(args, "ms", thrift_value_new_i32(a, 200));
    got_t g = {0};
    thrift_call_async(c, "slow", args, got_cb, &g);
    spin(loop, 0.05);
    stop_done = 0;
    thrift_rpc_server_stop(srv, on_stopped, NULL);
    TAP_CHECK(stop_done == 0, "stop: done callback not run inside stop");
    double until = ev_time() + 3;
    while ((!stop_done || !g.calls) && ev_time() < until)
        ev_run(loop, EVRUN_ONCE);
    TAP_CHECK(g.calls == 1 && g.st == THRIFT_OK && g.v == 200,
              "graceful stop: the in-flight call is answered");
    TAP_CHECK(stop_done == 1 && thrift_rpc_server_connection_count(srv) == 0,
              "graceful stop: done once everything is closed");
    got_t g2 = {0};
    thrift_call_async(c, "ping", NULL, got_cb, &g2);
    until = ev_time() + 3;
    while (!g2.calls && ev_time() < until)
        ev_run(loop, EVRUN_ONCE);
    TAP_CHECK(g2.calls == 1 && g2.st != THRIFT_OK, "after stop: new calls fail (%s)",
              thrift_status_name(g2.st));
    thrift_conn_free(c);
    thrift_rpc_server_free(srv);
    thrift_arena_free(a);
    ev_loop_destroy(loop);
}

static thrift_status_t jh_add(thrift_request_t *req, const char *args_json, void *ud) {
    (void)ud;
    // {"a":1,"b":2} -> crude parse is enough for a fixed test input.
    long a = 0, b = 0;
    sscanf(strstr(args_json, "\"a\":") + 4, "%ld", &a);
    sscanf(strstr(args_json, "\"b\":") + 4, "%ld", &b);
    char out[64];
    snprintf(out, sizeof out, "%ld", a + b);
    return thrift_reply_json(req, out);
}

static thrift_status_t jh_fail(thrift_request_t *req, const char *args_json, void *ud) {
    (void)args_json;
    (void)ud;
    return thrift_reply_exception_json(req, "BenchError", "{\"code\": 7, \"message\": \"json\"}");
}

static void test_unix_and_json(thrift_schema_t *s) {
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_rpc_server_t *srv = thrift_rpc_server_new(loop, s, NULL, &err);
    thrift_rpc_server_handle_json(srv, "Calc", "add", jh_add, NULL, &err);
    thrift_rpc_server_handle_json(srv, "Calc", "fail", jh_fail, NULL, &err);
    char path[64];
    snprintf(path, sizeof path, "unix:/tmp/dynthrift-test-%d.sock", (int)getpid());
    thrift_status_t st = thrift_rpc_server_listen(srv, path, &err);
    TAP_CHECK(st == THRIFT_OK, "listen on %s (%s)", path, err.text);
    TAP_CHECK(thrift_rpc_server_handle(srv, "Calc", "nosuch", h_ping, NULL, NULL) == THRIFT_NOT_FOUND,
              "registering an unknown method fails");
    thrift_conn_t *c = thrift_conn_new(loop, s, "Calc", path, NULL, &err);
    thrift_arena_t *a = thrift_arena_new(NULL);
    thrift_value_t *args = thrift_conn_new_args(c, a, "add", NULL);
    thrift_value_set(args, "a", thrift_value_new_i32(a, 4));
    thrift_value_set(args, "b", thrift_value_new_i64(a, 5));
    got_t g = {0}, g2 = {0};
    thrift_call_async(c, "add", args, got_cb, &g);
    thrift_call_async_json(c, "fail", "{\"code\": 1}", got_cb, &g2, NULL);
    double until = ev_time() + 3;
    while ((!g.calls || !g2.calls) && ev_time() < until)
        ev_run(loop, EVRUN_ONCE);
    TAP_CHECK(g.calls == 1 && g.st == THRIFT_OK && g.v == 9, "unix socket + JSON handler: add -> 9");
    TAP_CHECK(g2.st == THRIFT_DECLARED_EXCEPTION, "JSON handler: declared exception from JSON");
    thrift_conn_free(c);
    thrift_rpc_server_free(srv);
    TAP_CHECK(access(path + 5, F_OK) != 0, "unix socket file removed on free");
    thrift_arena_free(a);
    ev_loop_destroy(loop);
}

/* ---- several loops on several threads ------------------------------------ */

static struct ev_loop *main_loop;
static atomic_int calls_on_main, calls_on_workers;

static thrift_status_t th_add(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)ud;
    atomic_fetch_add(thrift_request_loop(req) == main_loop ? &calls_on_main : &calls_on_workers, 1);
    int64_t r = thrift_value_int(thrift_value_get(args, "a")) + thrift_value_int(thrift_value_get(args, "b"));
    return thrift_reply(req, thrift_value_new_i64(thrift_request_arena(req), r));
}

/* "reply later" on the worker's own loop: a timer per request, no shared
 * state between threads. */
typedef struct tlater {
    ev_timer t;
    thrift_request_t *req;
    int ms;
    struct tlater *prev, *next;
} tlater_t;

/* Requests waiting on timers, over all threads, so the test can answer
 * those whose loop went away with their server (no leak under ASan). */
static pthread_mutex_t tlater_mu = PTHREAD_MUTEX_INITIALIZER;
static tlater_t *tlaters;

static void tlater_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    tlater_t *l = (tlater_t *)w;
    pthread_mutex_lock(&tlater_mu);
    if (l->prev)
        l->prev->next = l->next;
    else
        tlaters = l->next;
    if (l->next)
        l->next->prev = l->prev;
    pthread_mutex_unlock(&tlater_mu);
    thrift_reply(l->req, thrift_value_new_i32(thrift_request_arena(l->req), l->ms));
    free(l);
}

/* Cancelled (the server is freed): on the request's own loop thread. */
static void tlater_cancel_cb(thrift_request_t *req, void *ud) {
    tlater_t *l = ud;
    ev_timer_stop(thrift_request_loop(req), &l->t);
    pthread_mutex_lock(&tlater_mu);
    if (l->prev)
        l->prev->next = l->next;
    else
        tlaters = l->next;
    if (l->next)
        l->next->prev = l->prev;
    pthread_mutex_unlock(&tlater_mu);
    thrift_request_abandon(req);
    free(l);
}

/* Requests still waiting (none once their server is freed). */
static void tlater_flush(void) {
    while (tlaters)
        tlater_cb(NULL, &tlaters->t, 0);
}

static thrift_status_t th_slow(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)ud;
    tlater_t *l = malloc(sizeof *l);
    l->req = req;
    l->ms = (int)thrift_value_int(thrift_value_get(args, "ms"));
    pthread_mutex_lock(&tlater_mu);
    l->prev = NULL;
    l->next = tlaters;
    if (tlaters)
        tlaters->prev = l;
    tlaters = l;
    pthread_mutex_unlock(&tlater_mu);
    ev_timer_init(&l->t, tlater_cb, l->ms / 1000.0, 0.);
    ev_timer_start(thrift_request_loop(req), &l->t);
    thrift_request_set_cancel_cb(req, tlater_cancel_cb, l);
    return THRIFT_OK;
}

typedef struct tcall {
    int64_t expect;
    int *ok, *answered;
} tcall_t;

static void tcall_cb(thrift_conn_t *conn, thrift_result_t *r, void *ud) {
    (void)conn;
    tcall_t *t = ud;
    (*t->answered)++;
    if (thrift_result_status(r) == THRIFT_OK && thrift_value_int(thrift_result_value(r)) == t->expect)
        (*t->ok)++;
}

static thrift_rpc_server_t *threaded_server(struct ev_loop *loop, thrift_schema_t *s, unsigned n) {
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_rpc_server_t *srv = thrift_rpc_server_new(loop, s, NULL, &err);
    thrift_rpc_server_set_threads(srv, n);
    thrift_rpc_server_handle(srv, "Calc", "add", th_add, NULL, &err);
    thrift_rpc_server_handle(srv, "Calc", "slow", th_slow, NULL, &err);
    thrift_rpc_server_handle(srv, "Calc", "ping", h_ping, NULL, &err);
    if (thrift_rpc_server_listen(srv, "127.0.0.1:0", &err)) {
        printf("Bail out! listen: %s\n", err.text);
        exit(1);
    }
    return srv;
}

#define TCONNS 40
#define TCALLS 25

static void test_threads(thrift_schema_t *s) {
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    main_loop = loop;
    atomic_store(&calls_on_main, 0);
    atomic_store(&calls_on_workers, 0);
    thrift_rpc_server_t *srv = threaded_server(loop, s, 2);
    TAP_CHECK(thrift_rpc_server_threads(srv) == 2, "two loops serving");
    thrift_error_t err;
    thrift_error_clear(&err);
    TAP_CHECK(thrift_rpc_server_handle(srv, "Calc", "nothing", h_nothing, NULL, &err) == THRIFT_MISUSE,
              "registering a handler after listen on threads is refused");
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", thrift_rpc_server_port(srv));
    thrift_conn_t *cs[TCONNS];
    static tcall_t calls[TCONNS][TCALLS];
    int ok = 0, answered = 0;
    thrift_arena_t *a = thrift_arena_new(NULL);
    for (int i = 0; i < TCONNS; i++) {
        cs[i] = thrift_conn_new(loop, s, "Calc", addr, NULL, NULL);
        for (int k = 0; k < TCALLS; k++) {
            thrift_value_t *args = thrift_conn_new_args(cs[i], a, "add", NULL);
            thrift_value_set(args, "a", thrift_value_new_i32(a, i));
            thrift_value_set(args, "b", thrift_value_new_i64(a, 1000 * k));
            calls[i][k] = (tcall_t){i + 1000 * k, &ok, &answered};
            thrift_call_async(cs[i], "add", args, tcall_cb, &calls[i][k]);
        }
    }
    double until = ev_time() + 10;
    while (answered < TCONNS * TCALLS && ev_time() < until)
        ev_run(loop, EVRUN_ONCE);
    TAP_CHECK(ok == TCONNS * TCALLS, "N=2: %d connections x %d pipelined calls, all answered right (%d/%d)",
              TCONNS, TCALLS, ok, answered);
    TAP_CHECK(atomic_load(&calls_on_main) == TCONNS * TCALLS / 2 &&
                  atomic_load(&calls_on_workers) == TCONNS * TCALLS / 2,
              "connections spread evenly over both loops (%d on the caller's, %d on the worker)",
              atomic_load(&calls_on_main), atomic_load(&calls_on_workers));
    TAP_CHECK(thrift_rpc_server_connection_count(srv) == TCONNS, "connection count over threads (%zu)",
              thrift_rpc_server_connection_count(srv));

    // Graceful stop with a deferred reply in flight on every connection.
    int slow_ok = 0, slow_answered = 0;
    tcall_t slow = {30, &slow_ok, &slow_answered};
    for (int i = 0; i < TCONNS; i++) {
        thrift_value_t *args = thrift_conn_new_args(cs[i], a, "slow", NULL);
        thrift_value_set(args, "ms", thrift_value_new_i32(a, 30));
        thrift_call_async(cs[i], "slow", args, tcall_cb, &slow);
    }
    spin(loop, 0.01);
    stop_done = 0;
    thrift_rpc_server_stop(srv, on_stopped, NULL);
    until = ev_time() + 10;
    while ((!stop_done || slow_answered < TCONNS) && ev_time() < until)
        ev_run(loop, EVRUN_ONCE);
    TAP_CHECK(slow_ok == TCONNS, "graceful stop on 2 loops: every in-flight reply written (%d/%d)",
              slow_ok, TCONNS);
    TAP_CHECK(stop_done == 1 && thrift_rpc_server_connection_count(srv) == 0,
              "graceful stop on 2 loops: done once every loop closed its connections");
    for (int i = 0; i < TCONNS; i++)
        thrift_conn_free(cs[i]);
    thrift_rpc_server_free(srv);

    // Free with connections open on 3 loops and no stop: threads joined,
    // clients see the connections close.
    srv = threaded_server(loop, s, 3);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", thrift_rpc_server_port(srv));
    char upath[80];
    snprintf(upath, sizeof upath, "unix:/tmp/dynthrift-threads-%d.sock", (int)getpid());
    TAP_CHECK(thrift_rpc_server_listen(srv, upath, &err) == THRIFT_OK,
              "a second listener (Unix socket) on a threaded server");
    ok = answered = 0;
    for (int i = 0; i < 9; i++) {
        // Every third connection over the Unix socket.
        cs[i] = thrift_conn_new(loop, s, "Calc", i % 3 == 2 ? upath : addr, NULL, NULL);
        thrift_value_t *args = thrift_conn_new_args(cs[i], a, "add", NULL);
        thrift_value_set(args, "a", thrift_value_new_i32(a, 1));
        thrift_value_set(args, "b", thrift_value_new_i64(a, 2));
        calls[i][0] = (tcall_t){3, &ok, &answered};
        thrift_call_async(cs[i], "add", args, tcall_cb, &calls[i][0]);
    }
    until = ev_time() + 10;
    while (answered < 9 && ev_time() < until)
        ev_run(loop, EVRUN_ONCE);
    TAP_CHECK(ok == 9 && thrift_rpc_server_connection_count(srv) == 9,
              "N=3: 9 connections (TCP and Unix) answered");
    // One call left hanging on every loop when the server goes away.
    slow_ok = slow_answered = 0;
    for (int i = 0; i < 9; i++) {
        thrift_value_t *args = thrift_conn_new_args(cs[i], a, "slow", NULL);
        thrift_value_set(args, "ms", thrift_value_new_i32(a, 5000));
        thrift_call_async(cs[i], "slow", args, tcall_cb, &slow);
    }
    spin(loop, 0.05);
    pthread_mutex_lock(&tlater_mu);
    bool held = tlaters != NULL;
    pthread_mutex_unlock(&tlater_mu);
    TAP_CHECK(held, "slow requests are held on the worker loops");
    thrift_rpc_server_free(srv);
    TAP_CHECK(tlaters == NULL, "freeing the server cancelled every held request on its loop");
    tlater_flush();
    until = ev_time() + 10;
    while (slow_answered < 9 && ev_time() < until)
        ev_run(loop, EVRUN_ONCE);
    TAP_CHECK(slow_answered == 9 && slow_ok == 0, "free on 3 loops: pending calls fail with the closed connections");
    for (int i = 0; i < 9; i++)
        thrift_conn_free(cs[i]);
    thrift_arena_free(a);
    ev_loop_destroy(loop);
}

/* ---- args decoded zero-copy, answered later -------------------------------- */

typedef struct hlater {
    ev_timer t;
    thrift_request_t *req;
    const thrift_value_t *args;
} hlater_t;

static void hlater_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    hlater_t *l = (hlater_t *)w;
    // The args are read only now, after more requests arrived on the
    // connection: their strings must still be there.
    size_t n;
    const uint8_t *p = thrift_value_bytes(thrift_value_get(l->args, "name"), &n);
    thrift_arena_t *a = thrift_request_arena(l->req);
    char out[3100];
    if (n > sizeof out - 6)
        n = sizeof out - 6;
    memcpy(out, "hello ", 6);
    memcpy(out + 6, p, n);
    thrift_reply(l->req, thrift_value_new_string(a, out, n + 6));
    free(l);
}

static int hello_delay_ms;

static thrift_status_t h_hello_later(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)ud;
    hlater_t *l = malloc(sizeof *l);
    l->req = req;
    l->args = args;
    ev_timer_init(&l->t, hlater_cb, hello_delay_ms / 1000.0, 0.);
    hello_delay_ms = (hello_delay_ms + 7) % 40; // answer out of order
    ev_timer_start(thrift_request_loop(req), &l->t);
    return THRIFT_OK;
}

typedef struct hcall {
    char name[3000];
    int *ok, *answered;
} hcall_t;

static void hcall_cb(thrift_conn_t *conn, thrift_result_t *r, void *ud) {
    (void)conn;
    hcall_t *h = ud;
    (*h->answered)++;
    size_t n;
    const uint8_t *p = thrift_result_status(r) == THRIFT_OK ? thrift_value_bytes(thrift_result_value(r), &n) : NULL;
    if (p && n == strlen(h->name) + 6 && !memcmp(p, "hello ", 6) && !memcmp(p + 6, h->name, n - 6))
        (*h->ok)++;
}

#define HCALLS 60

static void test_zero_copy_later(thrift_schema_t *s) {
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_rpc_server_t *srv = thrift_rpc_server_new(loop, s, NULL, &err);
    thrift_rpc_server_handle(srv, "Other", "hello", h_hello_later, NULL, &err);
    thrift_rpc_server_handle(srv, "Calc", "ping", h_ping, NULL, &err);
    thrift_rpc_server_listen(srv, "127.0.0.1:0", &err);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", thrift_rpc_server_port(srv));
    thrift_conn_t *c = thrift_conn_new(loop, s, "Other", addr, NULL, NULL);
    thrift_arena_t *a = thrift_arena_new(NULL);
    static hcall_t calls[HCALLS];
    int ok = 0, answered = 0;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < HCALLS / 3; i++) {
            hcall_t *h = &calls[round * (HCALLS / 3) + i];
            // Names of 1..2900 bytes, so requests straddle read buffers.
            size_t n = 1 + (size_t)((i * 977 + round * 131) % 2900);
            for (size_t k = 0; k < n; k++)
                h->name[k] = (char)('a' + (k + (size_t)i) % 26);
            h->name[n] = 0;
            h->ok = &ok;
            h->answered = &answered;
            thrift_value_t *args = thrift_conn_new_args(c, a, "hello", NULL);
            thrift_value_set(args, "name", thrift_value_new_string(a, h->name, n));
            thrift_call_async(c, "hello", args, hcall_cb, h);
        }
        spin(loop, 0.01); // more requests arrive while earlier ones wait
    }
    double until = ev_time() + 10;
    while (answered < HCALLS && ev_time() < until)
        ev_run(loop, EVRUN_ONCE);
    TAP_CHECK(ok == HCALLS, "zero-copy args answered later, after more reads: %d/%d right", ok, answered);
    thrift_conn_free(c);
    thrift_rpc_server_free(srv);
    thrift_arena_free(a);
    ev_loop_destroy(loop);
}

/* ---- cancellation: the client leaves while a handler holds its request ------ */

typedef struct held {
    thrift_request_t *req;
    const thrift_value_t *args;
    bool with_cb, let_go_in_cb;
    int cancels;
    bool cb_on_loop, cb_saw_cancelled;
    char name_in_cb[64];
    thrift_arena_t *arena_after;
} held_t;

static held_t held_req;
static struct ev_loop *held_loop;

static void held_cancel_cb(thrift_request_t *req, void *ud) {
    held_t *h = ud;
    h->cancels++;
    h->cb_on_loop = thrift_request_loop(req) == held_loop;
    h->cb_saw_cancelled = thrift_request_is_cancelled(req);
    // The args are still valid inside the callback.
    size_t n = 0;
    const uint8_t *p = thrift_value_bytes(thrift_value_get(h->args, "name"), &n);
    snprintf(h->name_in_cb, sizeof h->name_in_cb, "%.*s", (int)n, (const char *)p);
    if (h->let_go_in_cb) {
        thrift_request_abandon(req);
        h->req = NULL;
    }
}

static thrift_status_t h_hold(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)ud;
    held_req.req = req;
    held_req.args = args;
    if (held_req.with_cb)
        thrift_request_set_cancel_cb(req, held_cancel_cb, &held_req);
    return THRIFT_OK;
}

static thrift_rpc_server_t *hold_server(struct ev_loop *loop, thrift_schema_t *s, char *addr,
                                        size_t addrsize) {
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_rpc_server_t *srv = thrift_rpc_server_new(loop, s, NULL, &err);
    thrift_rpc_server_handle(srv, "Other", "hello", h_hold, NULL, &err);
    thrift_rpc_server_listen(srv, "127.0.0.1:0", &err);
    snprintf(addr, addrsize, "127.0.0.1:%d", thrift_rpc_server_port(srv));
    return srv;
}

/* Sends hello(name) and turns the loop until the handler holds it. */
static thrift_conn_t *hold_one(struct ev_loop *loop, thrift_schema_t *s, const char *addr,
                               thrift_arena_t *a, got_t *g) {
    thrift_conn_t *c = thrift_conn_new(loop, s, "Other", addr, NULL, NULL);
    thrift_value_t *args = thrift_conn_new_args(c, a, "hello", NULL);
    thrift_value_set(args, "name", thrift_value_new_string(a, "zed", 3));
    held_req.req = NULL;
    thrift_call_async(c, "hello", args, got_cb, g);
    double until = ev_time() + 5;
    while (!held_req.req && ev_time() < until)
        ev_run(loop, EVRUN_NOWAIT);
    return c;
}

static void wait_cancelled(struct ev_loop *loop, thrift_rpc_server_t *srv, size_t n) {
    double until = ev_time() + 5;
    while ((thrift_rpc_server_connection_count(srv) || thrift_rpc_server_held_requests(srv)) &&
           ev_time() < until)
        ev_run(loop, EVRUN_NOWAIT);
    (void)n;
}

static void test_cancel(thrift_schema_t *s) {
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    held_loop = loop;
    char addr[64];
    thrift_rpc_server_t *srv = hold_server(loop, s, addr, sizeof addr);
    thrift_arena_t *a = thrift_arena_new(NULL);

    /* 1. A cancel callback: runs once when the client leaves, on the loop,
     * with the args still readable; the late reply then gets CLOSED. */
    memset(&held_req, 0, sizeof held_req);
    held_req.with_cb = true;
    got_t g = {0};
    thrift_conn_t *c = hold_one(loop, s, addr, a, &g);
    thrift_request_t *req = held_req.req;
    TAP_CHECK(req && !thrift_request_is_cancelled(req) && thrift_rpc_server_held_requests(srv) == 1,
              "cancel: the handler holds the request");
    spin(loop, 0.02);
    TAP_CHECK(held_req.cancels == 0, "cancel: no cancel callback while the client is connected");
    thrift_conn_free(c);
    wait_cancelled(loop, srv, 1);
    TAP_CHECK(held_req.cancels == 1 && held_req.cb_on_loop && held_req.cb_saw_cancelled,
              "cancel: the client leaves: the cancel callback runs once, on the request's loop");
    TAP_CHECK(!strcmp(held_req.name_in_cb, "zed"),
              "cancel: the args are still valid inside the callback ('%s')", held_req.name_in_cb);
    TAP_CHECK(thrift_request_is_cancelled(req) && thrift_request_arena(req) == NULL &&
                  thrift_request_error(req) == NULL && thrift_rpc_server_cancelled_requests(srv) == 1 &&
                  thrift_rpc_server_buffer_bytes(srv) == 0,
              "cancel: afterwards only a tombstone stays (no arena, no buffers)");
    TAP_CHECK(thrift_request_set_cancel_cb(req, held_cancel_cb, &held_req) == THRIFT_CLOSED,
              "cancel: setting a cancel callback on a cancelled request says THRIFT_CLOSED");
    TAP_CHECK(!strcmp(thrift_request_method(req), "hello") && thrift_request_seqid(req) > 0 &&
                  thrift_request_loop(req) == loop,
              "cancel: the tombstone still names its method, seqid and loop");
    thrift_status_t st = thrift_reply_json(req, "\"late\"");
    TAP_CHECK(st == THRIFT_CLOSED && thrift_rpc_server_cancelled_requests(srv) == 0,
              "reply after close: thrift_reply_json returns THRIFT_CLOSED and frees the tombstone");
    TAP_CHECK(held_req.cancels == 1 && g.calls == 1 && g.st == THRIFT_CLOSED,
              "cancel: callback ran once; the client's call failed with CLOSED (%s)",
              thrift_status_name(g.st));

    /* 2. Let go of from inside the cancel callback. */
    memset(&held_req, 0, sizeof held_req);
    held_req.with_cb = true;
    held_req.let_go_in_cb = true;
    memset(&g, 0, sizeof g);
    c = hold_one(loop, s, addr, a, &g);
    thrift_conn_free(c);
    wait_cancelled(loop, srv, 1);
    TAP_CHECK(held_req.cancels == 1 && held_req.req == NULL &&
                  thrift_rpc_server_cancelled_requests(srv) == 0,
              "cancel: abandoning inside the cancel callback frees the tombstone at once");

    /* 3. No cancel callback: every reply function says CLOSED after close. */
    const char *names[] = {"thrift_reply", "thrift_reply_error", "thrift_reply_exception_json",
                           "thrift_request_abandon"};
    for (int k = 0; k < 4; k++) {
        memset(&held_req, 0, sizeof held_req);
        memset(&g, 0, sizeof g);
        c = hold_one(loop, s, addr, a, &g);
        req = held_req.req;
        thrift_conn_free(c);
        wait_cancelled(loop, srv, 1);
        bool tomb = thrift_rpc_server_cancelled_requests(srv) == 1;
        st = k == 0   ? thrift_reply(req, thrift_value_new_string(a, "x", 1))
             : k == 1 ? thrift_reply_error(req, THRIFT_APPEX_INTERNAL_ERROR, "late")
             : k == 2 ? thrift_reply_exception_json(req, "nope", "{}")
                      : thrift_request_abandon(req);
        TAP_CHECK(tomb && st == THRIFT_CLOSED && thrift_rpc_server_cancelled_requests(srv) == 0,
                  "reply after close: %s returns THRIFT_CLOSED and frees the tombstone (%s)",
                  names[k], thrift_status_name(st));
    }

    /* 4. Abandoning a live request answers INTERNAL_ERROR at once. */
    memset(&held_req, 0, sizeof held_req);
    memset(&g, 0, sizeof g);
    c = hold_one(loop, s, addr, a, &g);
    st = thrift_request_abandon(held_req.req);
    double until = ev_time() + 5;
    while (!g.calls && ev_time() < until)
        ev_run(loop, EVRUN_NOWAIT);
    TAP_CHECK(st == THRIFT_OK && g.calls == 1 && g.st == THRIFT_APP_EXCEPTION &&
                  thrift_rpc_server_held_requests(srv) == 0,
              "abandon on a live request: the client gets an application exception (%s)",
              thrift_status_name(g.st));

    /* 5. Freeing the server cancels what handlers hold (callback inside the
     * free) and frees the tombstones. */
    memset(&held_req, 0, sizeof held_req);
    held_req.with_cb = true;
    memset(&g, 0, sizeof g);
    thrift_conn_t *c2 = hold_one(loop, s, addr, a, &g);
    thrift_rpc_server_free(srv);
    TAP_CHECK(held_req.cancels == 1,
              "server free: the held request's cancel callback runs during the free");
    until = ev_time() + 5;
    while (!g.calls && ev_time() < until)
        ev_run(loop, EVRUN_NOWAIT);
    TAP_CHECK(g.calls == 1 && g.st == THRIFT_CLOSED, "server free: the client's call fails (%s)",
              thrift_status_name(g.st));
    thrift_conn_free(c2);
    thrift_conn_free(c);
    thrift_arena_free(a);
    ev_loop_destroy(loop);
}

/* ---- connection events ------------------------------------------------------- */

typedef struct cev {
    thrift_conn_event_t ev;
    uint64_t id;
    char peer[128];
    thrift_close_reason_t why;
} cev_t;

static cev_t cevs[64];
static int ncev;

static void conn_event_cb(thrift_rpc_server_t *srv, thrift_conn_event_t ev, uint64_t id,
                          const char *peer, thrift_close_reason_t why, void *ud) {
    (void)srv;
    (void)ud;
    if (ncev < 64) {
        cevs[ncev] = (cev_t){ev, id, "", why};
        snprintf(cevs[ncev].peer, sizeof cevs[ncev].peer, "%s", peer);
        ncev++;
    }
}

static const cev_t *find_cev(thrift_conn_event_t ev, thrift_close_reason_t why) {
    for (int i = 0; i < ncev; i++)
        if (cevs[i].ev == ev && cevs[i].why == why)
            return &cevs[i];
    return NULL;
}

static void wait_cevs(struct ev_loop *loop, int n) {
    double until = ev_time() + 5;
    while (ncev < n && ev_time() < until) {
        ev_run(loop, EVRUN_NOWAIT);
        ev_sleep(0.002);
    }
}


/* The detail callback: a protocol-error close says what was seen. */
static char last_detail[512];
static int ndetail_closed;

static void conn_detail_cb(thrift_rpc_server_t *srv, thrift_conn_event_t ev, uint64_t id,
                           const char *peer, thrift_close_reason_t why, const char *detail,
                           void *ud) {
    (void)srv;
    (void)id;
    (void)peer;
    (void)ud;
    if (ev == THRIFT_CONN_EVENT_CLOSED) {
        ndetail_closed++;
        snprintf(last_detail, sizeof last_detail, "%s: %s", thrift_close_reason_str(why),
                 detail ? detail : "(null)");
    }
}

static bool wait_detail(struct ev_loop *loop, int n) {
    double until = ev_time() + 5;
    while (ndetail_closed < n && ev_time() < until) {
        ev_run(loop, EVRUN_NOWAIT);
        ev_sleep(0.002);
    }
    return ndetail_closed >= n;
}

static void test_conn_event_detail(thrift_schema_t *s) {
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    thrift_error_t err;
    thrift_error_clear(&err);
    /* framed, pinned: an unpinned server would recognize the unframed client */
    thrift_conn_options_t *o = thrift_conn_options_new();
    thrift_conn_options_set_framing(o, THRIFT_FRAMING_FRAMED);
    thrift_rpc_server_t *srv = thrift_rpc_server_new(loop, s, o, &err);
    thrift_conn_options_free(o);
    thrift_rpc_server_set_conn_detail_cb(srv, conn_detail_cb, NULL);
    thrift_rpc_server_handle(srv, "Calc", "ping", h_ping, NULL, &err);
    thrift_rpc_server_listen(srv, "127.0.0.1:0", &err);
    int port = thrift_rpc_server_port(srv);

    /* a buffered (unframed) binary client against a framed server */
    int fd = raw_connect(port);
    static const uint8_t unframed[] = {0x80, 0x01, 0x00, 0x01, 0, 0, 0, 4, 'p', 'i', 'n', 'g',
                                       0, 0, 0, 1, 0};
    (void)!write(fd, unframed, sizeof unframed);
    bool got = wait_detail(loop, 1);
    TAP_CHECK(got && strstr(last_detail, "protocol error: ") &&
                  strstr(last_detail, "the peer seems to use buffered (unframed) transport "
                                      "with the binary protocol"),
              "conn detail: an unframed client's close says what was seen (%s)", last_detail);
    close(fd);

    /* undecodable arguments name the method */
    fd = raw_connect(port);
    static const uint8_t badargs[] = {0, 0, 0, 21, 0x80, 0x01, 0x00, 0x01, 0, 0, 0, 4,
                                      'p', 'i', 'n', 'g', 0, 0, 0, 2, 0x0b, 0, 1, 0xff, 0xff};
    (void)!write(fd, badargs, sizeof badargs);
    got = wait_detail(loop, 2);
    TAP_CHECK(got && strstr(last_detail, "protocol error: ping: cannot decode the arguments"),
              "conn detail: undecodable arguments (%s)", last_detail);
    close(fd);

    /* a plain close has nothing to add */
    fd = raw_connect(port);
    spin(loop, 0.02);
    close(fd);
    got = wait_detail(loop, 3);
    TAP_CHECK(got && !strcmp(last_detail, "closed by the peer: "),
              "conn detail: \"\" for a peer's close (%s)", last_detail);
    thrift_rpc_server_free(srv);
    ev_loop_destroy(loop);
}

static void test_conn_events(thrift_schema_t *s) {
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    thrift_conn_options_t *o = thrift_conn_options_new();
    thrift_conn_options_set_idle_timeout_ms(o, 150);
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_rpc_server_t *srv = thrift_rpc_server_new(loop, s, o, &err);
    thrift_conn_options_free(o);
    thrift_rpc_server_set_conn_cb(srv, conn_event_cb, NULL);
    thrift_rpc_server_handle(srv, "Calc", "ping", h_ping, NULL, &err);
    thrift_rpc_server_set_max_connections(srv, 2);
    thrift_rpc_server_listen(srv, "127.0.0.1:0", &err);
    int port = thrift_rpc_server_port(srv);
    ncev = 0;

    /* accepted, then closed by the peer, with the peer's address */
    int fd = raw_connect(port);
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    getsockname(fd, (struct sockaddr *)&me, &ml);
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%u", (unsigned)ntohs(me.sin_port));
    wait_cevs(loop, 1);
    TAP_CHECK(ncev == 1 && cevs[0].ev == THRIFT_CONN_EVENT_ACCEPTED && cevs[0].id == 1 &&
                  !strcmp(cevs[0].peer, want) && cevs[0].why == THRIFT_CLOSE_NONE,
              "conn events: accepted, with the peer address (%s)", ncev ? cevs[0].peer : "-");
    close(fd);
    wait_cevs(loop, 2);
    TAP_CHECK(ncev == 2 && cevs[1].ev == THRIFT_CONN_EVENT_CLOSED && cevs[1].id == 1 &&
                  cevs[1].why == THRIFT_CLOSE_PEER && !strcmp(cevs[1].peer, want),
              "conn events: closed by the peer, same id and address (%s)",
              ncev > 1 ? thrift_close_reason_str(cevs[1].why) : "-");

    /* idle timeout */
    ncev = 0;
    fd = raw_connect(port);
    wait_cevs(loop, 2);
    TAP_CHECK(find_cev(THRIFT_CONN_EVENT_CLOSED, THRIFT_CLOSE_IDLE) != NULL,
              "conn events: closed by the idle timeout");
    close(fd);

    /* protocol error */
    ncev = 0;
    fd = raw_connect(port);
    static const uint8_t junk[] = {0x80, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff};
    (void)!write(fd, junk, sizeof junk);
    wait_cevs(loop, 2);
    TAP_CHECK(find_cev(THRIFT_CONN_EVENT_CLOSED, THRIFT_CLOSE_PROTOCOL) != NULL,
              "conn events: closed after a protocol error (%s)",
              ncev > 1 ? thrift_close_reason_str(cevs[1].why) : "-");
    close(fd);
    spin(loop, 0.02);

    /* the connection limit, then a stop */
    ncev = 0;
    int f1 = raw_connect(port), f2 = raw_connect(port);
    wait_cevs(loop, 2);
    int f3 = raw_connect(port);
    wait_cevs(loop, 3);
    const cev_t *rej = find_cev(THRIFT_CONN_EVENT_REJECTED, THRIFT_CLOSE_MAX_CONNECTIONS);
    TAP_CHECK(ncev == 3 && rej && rej->peer[0] && rej->id == 6,
              "conn events: a connection over the limit is rejected (%s, id %llu)",
              rej ? rej->peer : "-", rej ? (unsigned long long)rej->id : 0ULL);
    thrift_rpc_server_stop(srv, NULL, NULL);
    wait_cevs(loop, 5);
    int stops = 0;
    for (int i = 0; i < ncev; i++)
        stops += cevs[i].ev == THRIFT_CONN_EVENT_CLOSED && cevs[i].why == THRIFT_CLOSE_STOP;
    TAP_CHECK(stops == 2, "conn events: stop closes both with reason '%s'",
              thrift_close_reason_str(THRIFT_CLOSE_STOP));
    close(f1);
    close(f2);
    close(f3);
    thrift_rpc_server_free(srv);
    ev_loop_destroy(loop);
}

/* CPU seconds `th` has used. */
static double thread_cpu_s(pthread_t th) {
    clockid_t cid;
    struct timespec ts;
    if (pthread_getcpuclockid(th, &cid) || clock_gettime(cid, &ts))
        return -1;
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* `calls` blocking adds 1 + 2 on `c`, `gap_ms` apart; true if all came back
 * right. */
static bool blocking_adds(thrift_conn_t *c, thrift_arena_t *a, int calls, int gap_ms) {
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_value_t *args = thrift_conn_new_args(c, a, "add", &err);
    thrift_value_set(args, "a", thrift_value_new_i32(a, 1));
    thrift_value_set(args, "b", thrift_value_new_i64(a, 2));
    for (int i = 0; i < calls; i++) {
        thrift_value_t *r = thrift_call(c, "add", args, &err);
        if (!r || thrift_value_int(r) != 3) {
            printf("# call %d: %s\n", i, err.text);
            return false;
        }
        if (gap_ms)
            ev_sleep(gap_ms / 1000.0);
    }
    return true;
}

/* The fixture's server with busy_poll_us = `us` on a thread of its own, and
 * a blocking client of it (options `co`). */
static thrift_conn_t *poll_server_start(fixture_thread_t *t, pthread_t *th, thrift_schema_t *s,
                                        thrift_conn_options_t *o, uint32_t us,
                                        const thrift_conn_options_t *co) {
    thrift_conn_options_set_busy_poll_us(o, us);
    fixture_thread_start(t, s, o, th);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", thrift_rpc_server_port(t->srv));
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_conn_t *c = thrift_connect(s, "Calc", addr, co, &err);
    if (!c)
        printf("# connect %s: %s\n", addr, err.text);
    return c;
}

static void poll_server_stop(fixture_thread_t *t, pthread_t th, thrift_conn_t *c) {
    thrift_conn_free(c);
    fixture_thread_stop(t, th);
}

/* The busy-poll after replies (busy_poll_us on the server's options): the
 * option parses; 0 never starts it; a client calling back to back is
 * caught by it; an idle client and one calling every 5 ms cost the server
 * next to no CPU (the poll ends within its cap and backs off). */
static void test_busy_poll(thrift_schema_t *s) {
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_conn_options_t *o = thrift_conn_options_new();
    TAP_CHECK(thrift_conn_options_set(o, "busy_poll_us", "0", &err) == THRIFT_OK &&
                  thrift_conn_options_set(o, "busy_poll_us", "x", &err) == THRIFT_INVALID &&
                  thrift_conn_options_set(o, "busy_poll_us", "10001", &err) == THRIFT_INVALID,
              "busy_poll_us parses 0, refuses a word and more than THRIFT_BUSY_POLL_MAX_US");
    thrift_arena_t *a = thrift_arena_new(NULL);
    // The clients' own waits sleep: the server's poll alone is measured.
    thrift_conn_options_t *co = thrift_conn_options_new();
    thrift_conn_options_set_busy_poll_us(co, 0);
    bool valgrind = getenv("DYNTHRIFT_UNDER_VALGRIND") != NULL;

    // Off: no poll ever starts, however close together the calls come.
    fixture_thread_t t;
    pthread_t th;
    thrift_conn_t *c = poll_server_start(&t, &th, s, o, 0, co);
    bool ok = c && blocking_adds(c, a, 50, 0);
    uint64_t spun = 1, caught = 1;
    thrift_rpc_server_busy_poll_stats(t.srv, &spun, &caught);
    TAP_CHECK(ok && spun == 0 && caught == 0,
              "busy_poll_us=0: 50 calls answered, the server never busy-polled (%llu)",
              (unsigned long long)spun);
    poll_server_stop(&t, th, c);

    // The largest cap (10 ms): requests that follow replies within
    // microseconds (milliseconds under valgrind) are caught.
    c = poll_server_start(&t, &th, s, o, THRIFT_BUSY_POLL_MAX_US, co);
    ok = c && blocking_adds(c, a, 50, 0);
    thrift_rpc_server_busy_poll_stats(t.srv, &spun, &caught);
    TAP_CHECK(ok && spun >= 40 && caught >= spun / 2 && caught <= spun,
              "busy_poll_us=%d, back-to-back calls: %llu of %llu polls caught the next request",
              THRIFT_BUSY_POLL_MAX_US, (unsigned long long)caught, (unsigned long long)spun);

    // Then the client stays connected and idle for 300 ms: the poll ends
    // within its cap (10 ms), after which the server sleeps.
    double cpu0 = thread_cpu_s(th);
    ev_sleep(0.3);
    double idle_cpu = thread_cpu_s(th) - cpu0;
    TAP_CHECK(cpu0 >= 0 && idle_cpu < 0.03,
              "an idle client for 300 ms costs the server %.1f ms of CPU (< 30; the poll stops)",
              idle_cpu * 1e3);
    poll_server_stop(&t, th, c);

    // The default cap (50 us) against a client calling every 5 ms: the
    // probes miss, the poll backs off, and the server's CPU stays a small
    // part of the wall time.
    c = poll_server_start(&t, &th, s, o, THRIFT_BUSY_POLL_DEFAULT_US, co);
    cpu0 = thread_cpu_s(th);
    double wall0 = ev_time();
    ok = c && blocking_adds(c, a, 60, 5);
    double cpu = thread_cpu_s(th) - cpu0, wall = ev_time() - wall0;
    thrift_rpc_server_busy_poll_stats(t.srv, &spun, &caught);
    // Probes at replies 1, 2, 4, 8, 16, 32 of 60 (a few more if one catches
    // a request by luck); valgrind's slower handling gets a looser CPU bound.
    TAP_CHECK(ok && spun <= 15 && cpu < wall * (valgrind ? 0.5 : 0.1),
              "a call every 5 ms: the server polled after %llu of 60 replies, %.1f ms CPU in %.0f ms",
              (unsigned long long)spun, cpu * 1e3, wall * 1e3);
    poll_server_stop(&t, th, c);

    thrift_conn_options_free(co);
    thrift_conn_options_free(o);
    thrift_arena_free(a);
}

int main(void) {
    thrift_schema_t *s = fixture_schema();
    test_bad_input(s);
    test_limits(s);
    test_graceful_stop(s);
    test_unix_and_json(s);
    test_threads(s);
    test_zero_copy_later(s);
    test_cancel(s);
    test_conn_events(s);
    test_conn_event_detail(s);
    test_busy_poll(s);
    thrift_schema_unref(s);
    return tap_done();
}
