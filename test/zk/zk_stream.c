/* A client for the ServerSet interop test (test/interop/zk_serverset.py):
 * follows a ServerSet with a dynthrift cluster and keeps DEPTH pipelined
 * calls in flight for SECONDS, while the test starts, stops, kills and
 * re-registers servers and restarts ZooKeeper underneath.
 *
 *   zk_stream URL IDL SERVICE METHOD SECONDS [--depth N] [--buffered]
 *             [--idempotent] [--session-ms MS] [--servers N]
 *
 * stderr: "ready N" once the set is read with at least --servers servers,
 * then one line per membership change, "change +|-SERVER WALLTIME".
 * SIGTERM ends the run before SECONDS.
 * stdout at the end, one JSON object: ok, failed, per_server, errors (the
 * first 20), calls_per_s, changes, sessions. */
#include <ev.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "dynthrift/dynthrift.h"
#include "dynthrift/pool.h"

typedef struct stream {
    struct ev_loop *loop;
    thrift_cluster_t *cl;
    const char *method;
    unsigned depth, inflight;
    bool sending;
    long ok, failed;
    json_t *per_server, *errors, *changes;
} stream_t;

static double wall(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

static void on_change(thrift_serverset_t *ss, const char *server, bool added, void *ud) {
    (void)ss;
    stream_t *s = ud;
    double t = wall();
    fprintf(stderr, "change %c%s %.6f\n", added ? '+' : '-', server, t);
    fflush(stderr);
    json_array_append_new(s->changes,
                          json_pack("{s:s,s:b,s:f}", "server", server, "added", added, "t", t));
}

static void send_one(stream_t *s);

static void call_cb(thrift_cluster_t *cl, thrift_response_t *r, void *ud) {
    (void)cl;
    stream_t *s = ud;
    s->inflight--;
    if (thrift_response_is_error(r)) {
        s->failed++;
        if (json_array_size(s->errors) < 20) {
            char line[400];
            snprintf(line, sizeof line, "%s: %s",
                     thrift_response_server(r) ? thrift_response_server(r) : "?",
                     thrift_response_error(r)->text);
            json_array_append_new(s->errors, json_string(line));
        }
    } else {
        s->ok++;
        const char *srv = thrift_response_server(r);
        json_t *n = json_object_get(s->per_server, srv);
        json_object_set_new(s->per_server, srv, json_integer(n ? json_integer_value(n) + 1 : 1));
    }
    if (s->sending)
        send_one(s);
}

static void send_one(stream_t *s) {
    thrift_error_t err;
    thrift_error_clear(&err);
    if (thrift_cluster_call_async(s->cl, s->method, NULL, call_cb, s, &err) != THRIFT_OK) {
        // Refused up front (no server up): counts as a failure, try later.
        s->failed++;
        if (json_array_size(s->errors) < 20)
            json_array_append_new(s->errors, json_string(err.text));
        return;
    }
    s->inflight++;
}

static void refill_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    stream_t *s = w->data;
    while (s->sending && s->inflight < s->depth)
        send_one(s);
}

static void stop_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    ((stream_t *)w->data)->sending = false;
}

/* SIGTERM ends the run early (the test says when), reporting as usual. */
static void term_cb(struct ev_loop *loop, ev_signal *w, int revents) {
    (void)loop;
    (void)revents;
    ((stream_t *)w->data)->sending = false;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: zk_stream URL IDL SERVICE METHOD SECONDS [--depth N] [--buffered] "
                        "[--idempotent] [--session-ms MS] [--servers N]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    const char *url = argv[1], *idl = argv[2], *service = argv[3];
    double seconds = atof(argv[5]);
    unsigned depth = 16, session_ms = 2000, want = 1;
    bool buffered = false, idempotent = false;
    for (int i = 6; i < argc; i++) {
        if (!strcmp(argv[i], "--depth") && i + 1 < argc)
            depth = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--session-ms") && i + 1 < argc)
            session_ms = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--servers") && i + 1 < argc)
            want = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--buffered"))
            buffered = true;
        else if (!strcmp(argv[i], "--idempotent"))
            idempotent = true;
        else {
            fprintf(stderr, "zk_stream: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_schema_t *schema = thrift_load(idl, &err);
    if (!schema) {
        fprintf(stderr, "zk_stream: %s\n", err.text);
        return 1;
    }
    stream_t s;
    memset(&s, 0, sizeof s);
    s.loop = ev_loop_new(EVFLAG_AUTO);
    s.method = argv[4];
    s.depth = depth ? depth : 1;
    s.per_server = json_object();
    s.errors = json_array();
    s.changes = json_array();
    thrift_conn_options_t *co = thrift_conn_options_new();
    thrift_conn_options_set_framing(co, buffered ? THRIFT_FRAMING_BUFFERED : THRIFT_FRAMING_FRAMED);
    thrift_conn_options_set_connect_timeout_ms(co, 1000);
    thrift_conn_options_set_call_timeout_ms(co, 5000);
    thrift_pool_options_t *po = thrift_pool_options_new();
    thrift_pool_options_set_max_inflight(po, 16);
    thrift_pool_options_set_maxsize(po, 4);
    s.cl = thrift_cluster_new(s.loop, schema, service, co, po, &err);
    if (!s.cl) {
        fprintf(stderr, "zk_stream: %s\n", err.text);
        return 1;
    }
    thrift_cluster_set_balance(s.cl, THRIFT_BALANCE_ROUND_ROBIN);
    thrift_cluster_set_backoff_ms(s.cl, 200, 2000);
    if (idempotent) {
        thrift_cluster_set_idempotent(s.cl, s.method, true, NULL);
        thrift_cluster_set_retries(s.cl, 4);
    }
    thrift_serverset_t *ss = thrift_serverset_follow(s.cl, url, session_ms, &err);
    if (!ss) {
        fprintf(stderr, "zk_stream: %s\n", err.text);
        return 1;
    }
    thrift_serverset_set_change_cb(ss, on_change, &s);
    double until = ev_time() + 15;
    while ((thrift_serverset_wait(ss, 1000, NULL) != THRIFT_OK ||
            thrift_cluster_server_count(s.cl) < want) &&
           ev_time() < until)
        ev_run(s.loop, EVRUN_NOWAIT);
    if (thrift_cluster_server_count(s.cl) < want) {
        fprintf(stderr, "zk_stream: only %zu servers after 15 s\n",
                thrift_cluster_server_count(s.cl));
        return 1;
    }
    fprintf(stderr, "ready %zu\n", thrift_cluster_server_count(s.cl));
    fflush(stderr);

    s.sending = true;
    ev_timer refill, stop;
    ev_timer_init(&refill, refill_cb, 0., 0.01); // refills after refusals
    refill.data = &s;
    ev_timer_start(s.loop, &refill);
    ev_timer_init(&stop, stop_cb, seconds, 0.);
    stop.data = &s;
    ev_timer_start(s.loop, &stop);
    ev_signal term;
    ev_signal_init(&term, term_cb, SIGTERM);
    term.data = &s;
    ev_signal_start(s.loop, &term);
    double t0 = ev_time();
    while (s.sending || s.inflight)
        ev_run(s.loop, EVRUN_ONCE);
    double elapsed = ev_time() - t0;
    ev_timer_stop(s.loop, &refill);
    ev_timer_stop(s.loop, &stop);
    ev_signal_stop(s.loop, &term);

    json_t *out = json_pack("{s:I,s:I,s:O,s:O,s:f,s:O,s:i}", "ok", (json_int_t)s.ok, "failed",
                            (json_int_t)s.failed, "per_server", s.per_server, "errors", s.errors,
                            "calls_per_s", elapsed > 0 ? s.ok / elapsed : 0.0, "changes", s.changes,
                            "sessions", (int)thrift_serverset_sessions(ss));
    char *text = json_dumps(out, JSON_COMPACT);
    printf("%s\n", text);
    free(text);
    json_decref(out);
    json_decref(s.per_server);
    json_decref(s.errors);
    json_decref(s.changes);
    thrift_serverset_free(ss);
    thrift_cluster_free(s.cl);
    thrift_pool_options_free(po);
    thrift_conn_options_free(co);
    thrift_schema_unref(schema);
    ev_loop_destroy(s.loop);
    return 0;
}
