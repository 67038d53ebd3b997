/* Shared by test_client.c and test_server.c: a schema, a server with
 * handlers on a loop, and a watchdog so a hung test fails instead of
 * blocking the suite. */
#ifndef NET_FIXTURE_H
#define NET_FIXTURE_H

#include <ev.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "dynthrift/dynthrift.h"
#include "dynthrift/json.h"
#include "dynthrift/net.h"
#include "tap.h"

static const char fixture_idl[] =
    "exception BenchError { 1: i32 code, 2: string message }\n"
    "exception OtherError { 1: string why }\n"
    "service Calc {\n"
    "  string ping(),\n"
    "  i64 add(1: i32 a, 2: i64 b),\n"
    "  void nothing(),\n"
    "  oneway void fire(1: i32 n),\n"
    "  i32 fail(1: i32 code) throws (1: BenchError err, 2: OtherError other),\n"
    "  i32 slow(1: i32 ms),\n"
    "  i32 need(1: required i32 x),\n"
    "  i32 boom(),\n"
    "  string unimplemented(),\n"
    "}\n"
    "service Other { string hello(1: string name) }\n";

static thrift_schema_t *fixture_schema(void) {
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_schema_t *s = thrift_load_string("calc.thrift", fixture_idl, strlen(fixture_idl), NULL, &err);
    if (!s) {
        printf("Bail out! cannot load the fixture IDL: %s\n", err.text);
        exit(1);
    }
    return s;
}

static int fired_total;
static int fire_last;

static thrift_status_t h_ping(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)args;
    (void)ud;
    return thrift_reply(req, thrift_value_new_string(thrift_request_arena(req), "pong", 4));
}

static thrift_status_t h_add(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)ud;
    thrift_value_t *a = thrift_value_get(args, "a"), *b = thrift_value_get(args, "b");
    int64_t r = (a ? thrift_value_int(a) : 0) + (b ? thrift_value_int(b) : 0);
    return thrift_reply(req, thrift_value_new_i64(thrift_request_arena(req), r));
}

static thrift_status_t h_nothing(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)args;
    (void)ud;
    return thrift_reply(req, NULL);
}

static thrift_status_t h_fire(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)req;
    (void)ud;
    fired_total++;
    fire_last = (int)thrift_value_int(thrift_value_get(args, "n"));
    return THRIFT_OK;
}

static thrift_status_t h_fail(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)ud;
    int code = (int)thrift_value_int(thrift_value_get(args, "code"));
    thrift_arena_t *a = thrift_request_arena(req);
    const thrift_function_def_t *fn = thrift_request_function(req);
    const thrift_struct_def_t *rd = thrift_function_def_result(fn);
    if (code == 1) {
        const thrift_type_def_t *t = thrift_field_def_type(thrift_struct_def_find_field(rd, "err"));
        thrift_value_t *ex = thrift_value_new(a, t);
        thrift_value_set(ex, "code", thrift_value_new_i32(a, 42));
        thrift_value_set(ex, "message", thrift_value_new_string(a, "bad", 3));
        return thrift_reply_exception(req, "BenchError", ex);
    }
    if (code == 2) {
        const thrift_type_def_t *t = thrift_field_def_type(thrift_struct_def_find_field(rd, "other"));
        thrift_value_t *ex = thrift_value_new(a, t);
        thrift_value_set(ex, "why", thrift_value_new_string(a, "because", 7));
        return thrift_reply_exception(req, NULL, ex);
    }
    if (code == 3)
        return thrift_reply_error(req, THRIFT_APPEX_INTERNAL_ERROR, "custom failure");
    return thrift_reply(req, thrift_value_new_i32(a, code));
}

/* Replies after `ms` milliseconds from a timer: the "reply later" path. */
typedef struct later {
    ev_timer t;
    thrift_request_t *req;
    int ms;
    struct ev_loop *loop;
    struct later *prev, *next;
} later_t;

/* Servers on several threads (test_pool's cluster) share the list. */
static later_t *laters;
static pthread_mutex_t laters_lock = PTHREAD_MUTEX_INITIALIZER;

static void later_unlink(later_t *l) {
    pthread_mutex_lock(&laters_lock);
    if (l->prev)
        l->prev->next = l->next;
    else
        laters = l->next;
    if (l->next)
        l->next->prev = l->prev;
    pthread_mutex_unlock(&laters_lock);
}

static void later_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    later_t *l = (later_t *)w;
    later_unlink(l);
    thrift_reply(l->req, thrift_value_new_i32(thrift_request_arena(l->req), l->ms));
    free(l);
}

/* The request was cancelled (its connection closed or its server is
 * being freed): stop the timer and let go of it. */
static void later_cancel_cb(thrift_request_t *req, void *ud) {
    later_t *l = ud;
    ev_timer_stop(l->loop, &l->t);
    later_unlink(l);
    thrift_request_abandon(req);
    free(l);
}

/* Answers every request still waiting on a timer at once (those of a freed
 * server were already let go of by later_cancel_cb). */
static inline void fixture_flush_later(void) {
    for (;;) {
        pthread_mutex_lock(&laters_lock);
        later_t *l = laters;
        pthread_mutex_unlock(&laters_lock);
        if (!l)
            break;
        ev_timer_stop(l->loop, &l->t);
        later_cb(l->loop, &l->t, 0);
    }
}

static thrift_status_t h_slow(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)ud;
    later_t *l = malloc(sizeof *l);
    l->req = req;
    l->ms = (int)thrift_value_int(thrift_value_get(args, "ms"));
    l->loop = thrift_request_loop(req);
    l->prev = NULL;
    pthread_mutex_lock(&laters_lock);
    l->next = laters;
    if (laters)
        laters->prev = l;
    laters = l;
    pthread_mutex_unlock(&laters_lock);
    ev_timer_init(&l->t, later_cb, l->ms / 1000.0, 0.);
    ev_timer_start(thrift_request_loop(req), &l->t);
    thrift_request_set_cancel_cb(req, later_cancel_cb, l);
    return THRIFT_OK;
}

static thrift_status_t h_need(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)ud;
    return thrift_reply(req, thrift_value_new_i32(thrift_request_arena(req),
                                                  (int32_t)thrift_value_int(thrift_value_get(args, "x"))));
}

static thrift_status_t h_boom(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)args;
    (void)ud;
    snprintf(thrift_request_error(req)->text, sizeof thrift_request_error(req)->text, "kaboom");
    thrift_request_error(req)->code = THRIFT_INVALID;
    return THRIFT_INVALID;
}

static thrift_status_t h_hello(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)ud;
    size_t n;
    const uint8_t *p = thrift_value_bytes(thrift_value_get(args, "name"), &n);
    // Any length of name: the greeting is built on the heap, not in a fixed
    // buffer snprintf would truncate (and whose full length it returns).
    char *buf = malloc(n + 7);
    if (!buf)
        return THRIFT_NOMEM;
    memcpy(buf, "hello ", 6);
    if (n)
        memcpy(buf + 6, p, n);
    thrift_status_t st =
        thrift_reply(req, thrift_value_new_string(thrift_request_arena(req), buf, n + 6));
    free(buf);
    return st;
}

static thrift_rpc_server_t *fixture_server(struct ev_loop *loop, thrift_schema_t *s,
                                           const thrift_conn_options_t *opts, const char *addr) {
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_rpc_server_t *srv = thrift_rpc_server_new(loop, s, opts, &err);
    struct {
        const char *svc, *name;
        thrift_handler_cb cb;
    } hs[] = {{"Calc", "ping", h_ping},   {"Calc", "add", h_add},   {"Calc", "nothing", h_nothing},
              {"Calc", "fire", h_fire},   {"Calc", "fail", h_fail}, {"Calc", "slow", h_slow},
              {"Calc", "need", h_need},   {"Calc", "boom", h_boom}, {"Other", "hello", h_hello}};
    for (size_t i = 0; i < sizeof hs / sizeof *hs; i++)
        if (thrift_rpc_server_handle(srv, hs[i].svc, hs[i].name, hs[i].cb, NULL, &err)) {
            printf("Bail out! handle %s: %s\n", hs[i].name, err.text);
            exit(1);
        }
    if (thrift_rpc_server_listen(srv, addr ? addr : "127.0.0.1:0", &err)) {
        printf("Bail out! listen: %s\n", err.text);
        exit(1);
    }
    return srv;
}

static void watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)w;
    (void)revents;
    printf("Bail out! watchdog: test hung\n");
    fflush(stdout);
    _exit(1);
}

/* CPU time of the calling thread: what a blocking wait costs. */
static inline double thread_cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs `loop` until *done or the watchdog fires. */
static inline void run_until(struct ev_loop *loop, const bool *done, double seconds) {
    ev_timer wd;
    ev_timer_init(&wd, watchdog_cb, seconds, 0.);
    ev_timer_start(loop, &wd);
    while (!*done)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &wd);
}

/* The fixture's server on a thread of its own: for the blocking API, and
 * to measure the server's CPU apart from the client's. */
typedef struct fixture_thread {
    struct ev_loop *loop;
    thrift_rpc_server_t *srv;
    ev_async stop;
    thrift_schema_t *s;
    const thrift_conn_options_t *opts;
} fixture_thread_t;

static inline void fixture_thread_stop_cb(struct ev_loop *loop, ev_async *w, int revents) {
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static inline void *fixture_thread_main(void *p) {
    fixture_thread_t *t = p;
    ev_run(t->loop, 0);
    return NULL;
}

/* The fixture's server on a thread of its own, until fixture_thread_stop. */
static inline void fixture_thread_start(fixture_thread_t *t, thrift_schema_t *s,
                                        const thrift_conn_options_t *o, pthread_t *th) {
    memset(t, 0, sizeof *t);
    t->loop = ev_loop_new(EVFLAG_AUTO);
    t->srv = fixture_server(t->loop, s, o, NULL);
    ev_async_init(&t->stop, fixture_thread_stop_cb);
    ev_async_start(t->loop, &t->stop);
    pthread_create(th, NULL, fixture_thread_main, t);
}

static inline void fixture_thread_stop(fixture_thread_t *t, pthread_t th) {
    ev_async_send(t->loop, &t->stop);
    pthread_join(th, NULL);
    thrift_rpc_server_free(t->srv);
    ev_loop_destroy(t->loop);
}

#endif
