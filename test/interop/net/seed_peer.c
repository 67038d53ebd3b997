/* A dynthrift peer for the interop tests, compiled by net_peers.py against
 * the build's static library.
 *
 *   seed_peer serve IDL ADDR PROTO FRAMING
 *       serves PingPong, KV and Sleep (whichever the IDL has); prints
 *       "port N" once listening.
 *   seed_peer call IDL SERVICE ADDR PROTO FRAMING METHOD JSON [METHOD JSON...]
 *       calls each method on one connection and prints one line per call:
 *       "ok <result JSON>", or "error <STATUS> <text>"; then "elapsed <s>". */
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dynthrift/dynthrift.h"
#include "dynthrift/json.h"
#include "dynthrift/net.h"

static thrift_value_t *str(thrift_request_t *req, const char *s, size_t n) {
    return thrift_value_new_string(thrift_request_arena(req), s, n);
}

static thrift_status_t pp_ping(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)args;
    (void)ud;
    return thrift_reply(req, str(req, "pong", 4));
}

static thrift_status_t pp_add(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)ud;
    int64_t r = thrift_value_int(thrift_value_get(args, "a")) + thrift_value_int(thrift_value_get(args, "b"));
    return thrift_reply(req, thrift_value_new_i64(thrift_request_arena(req), r));
}

/* The KV store: a small array is plenty for a test. */
static struct {
    char *k, *v;
} kv[256];
static size_t nkv;

static char *dup_bytes(const thrift_value_t *v) {
    size_t n;
    const uint8_t *p = thrift_value_bytes(v, &n);
    char *s = malloc(n + 1);
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

static thrift_status_t kv_setk(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)ud;
    char *k = dup_bytes(thrift_value_get(args, "key")), *v = dup_bytes(thrift_value_get(args, "value"));
    for (size_t i = 0; i < nkv; i++)
        if (!strcmp(kv[i].k, k)) {
            free(kv[i].v);
            kv[i].v = v;
            free(k);
            return thrift_reply(req, NULL);
        }
    if (nkv < 256) {
        kv[nkv].k = k;
        kv[nkv++].v = v;
    }
    return thrift_reply(req, NULL);
}

static thrift_status_t kv_getk(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)ud;
    char *k = dup_bytes(thrift_value_get(args, "key"));
    const char *v = "";
    for (size_t i = 0; i < nkv; i++)
        if (!strcmp(kv[i].k, k))
            v = kv[i].v;
    free(k);
    return thrift_reply(req, str(req, v, strlen(v)));
}

static thrift_status_t kv_keys(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)args;
    (void)ud;
    const thrift_type_def_t *t = thrift_function_def_return_type(thrift_request_function(req));
    thrift_arena_t *a = thrift_request_arena(req);
    thrift_value_t *list = thrift_value_new(a, t);
    for (size_t i = 0; i < nkv; i++)
        thrift_value_append(a, list, thrift_value_new_string(a, kv[i].k, strlen(kv[i].k)));
    return thrift_reply(req, list);
}

static thrift_status_t sl_sleep(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)req;
    (void)ud;
    // Blocks the loop on purpose, as a naive server would: the client of a
    // oneway call must not notice.
    sleep((unsigned)thrift_value_int(thrift_value_get(args, "seconds")));
    return THRIFT_OK;
}

static int opts_from(thrift_conn_options_t *o, const char *proto, const char *framing) {
    thrift_error_t err;
    thrift_error_clear(&err);
    if (thrift_conn_options_set(o, "protocol", proto, &err) ||
        thrift_conn_options_set(o, "transport", framing, &err)) {
        fprintf(stderr, "%s\n", err.text);
        return -1;
    }
    return 0;
}

static int serve(int argc, char **argv) {
    if (argc < 6)
        return 64;
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_schema_t *s = thrift_load(argv[2], &err);
    if (!s) {
        fprintf(stderr, "%s\n", err.text);
        return 65;
    }
    thrift_conn_options_t *o = thrift_conn_options_new();
    if (opts_from(o, argv[4], argv[5]))
        return 64;
    struct ev_loop *loop = ev_default_loop(0);
    thrift_rpc_server_t *srv = thrift_rpc_server_new(loop, s, o, &err);
    struct {
        const char *svc, *m;
        thrift_handler_cb cb;
    } hs[] = {{"PingPong", "ping", pp_ping}, {"PingPong", "add", pp_add}, {"KV", "ping", pp_ping},
              {"KV", "setk", kv_setk},       {"KV", "getk", kv_getk},     {"KV", "keys", kv_keys},
              {"Sleep", "sleep", sl_sleep}};
    for (size_t i = 0; i < sizeof hs / sizeof *hs; i++)
        if (thrift_schema_find_service(s, hs[i].svc))
            thrift_rpc_server_handle(srv, hs[i].svc, hs[i].m, hs[i].cb, NULL, NULL);
    if (thrift_rpc_server_listen(srv, argv[3], &err)) {
        fprintf(stderr, "%s\n", err.text);
        return 70;
    }
    printf("port %d\n", thrift_rpc_server_port(srv));
    fflush(stdout);
    ev_run(loop, 0);
    return 0;
}

static int call(int argc, char **argv) {
    if (argc < 9 || (argc - 7) % 2)
        return 64;
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_schema_t *s = thrift_load(argv[2], &err);
    if (!s) {
        fprintf(stderr, "%s\n", err.text);
        return 65;
    }
    thrift_conn_options_t *o = thrift_conn_options_new();
    if (opts_from(o, argv[5], argv[6])) {
        thrift_conn_options_free(o);
        thrift_schema_unref(s);
        return 64;
    }
    thrift_conn_options_set_call_timeout_ms(o, 10000);
    if (getenv("SEED_MULTIPLEXED"))
        thrift_conn_options_set_multiplexed(o, true);
    thrift_conn_t *c = thrift_connect(s, argv[3], argv[4], o, &err);
    if (!c) {
        printf("error %s %s\n", thrift_status_name(err.code), err.text);
        // Free before exiting: a sanitizer's leak report would otherwise
        // end the process before stdout is flushed.
        thrift_conn_options_free(o);
        thrift_schema_unref(s);
        return 3;
    }
    double t0 = ev_time();
    for (int i = 7; i + 1 < argc; i += 2) {
        thrift_error_clear(&err);
        char *r = thrift_call_json(c, argv[i], argv[i + 1], &err);
        if (r)
            printf("ok %s\n", r);
        else
            printf("error %s %s\n", thrift_status_name(err.code), err.text);
        thrift_json_text_free(r);
    }
    printf("elapsed %.3f\n", ev_time() - t0);
    thrift_conn_free(c);
    thrift_conn_options_free(o);
    thrift_schema_unref(s);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "serve"))
        return serve(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "call"))
        return call(argc, argv);
    fprintf(stderr, "usage: seed_peer serve|call ...\n");
    return 64;
}
