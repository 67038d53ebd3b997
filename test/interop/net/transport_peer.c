/* The C server for transport_peers.py: serves PingPong with any transport
 * the conn option text keys name (the path the bindings take).
 *
 *   transport_peer IDL ADDR [KEY=VALUE]...
 *
 * ping answers "pong" and, when the request carried a THeader info header
 * "who", " " and its value; every THeader reply carries the info header
 * "served-by: dynthrift".  add(a, b) answers a + b.  Prints "port N" once
 * listening; runs until killed. */
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynthrift/dynthrift.h"
#include "dynthrift/net.h"

static thrift_status_t ping(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)args;
    (void)ud;
    const char *who = thrift_request_header(req, "who");
    char buf[300];
    int n = snprintf(buf, sizeof buf, "pong%s%.200s", who ? " " : "", who ? who : "");
    thrift_request_set_reply_header(req, "served-by", "dynthrift");
    return thrift_reply(req, thrift_value_new_string(thrift_request_arena(req), buf, (size_t)n));
}

static thrift_status_t add(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)ud;
    int64_t r = thrift_value_int(thrift_value_get(args, "a")) +
                thrift_value_int(thrift_value_get(args, "b"));
    return thrift_reply(req, thrift_value_new_i64(thrift_request_arena(req), r));
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: transport_peer IDL ADDR [KEY=VALUE]...\n");
        return 2;
    }
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_schema_t *s = thrift_load(argv[1], &err);
    thrift_conn_options_t *o = thrift_conn_options_new();
    for (int i = 3; s && i < argc; i++) {
        char key[64];
        const char *eq = strchr(argv[i], '=');
        if (!eq || (size_t)(eq - argv[i]) >= sizeof key) {
            fprintf(stderr, "transport_peer: expected KEY=VALUE, not '%s'\n", argv[i]);
            return 2;
        }
        memcpy(key, argv[i], (size_t)(eq - argv[i]));
        key[eq - argv[i]] = 0;
        if (thrift_conn_options_set(o, key, eq + 1, &err)) {
            fprintf(stderr, "transport_peer: %s\n", err.text);
            return 2;
        }
    }
    struct ev_loop *loop = ev_default_loop(0);
    thrift_rpc_server_t *srv = s ? thrift_rpc_server_new(loop, s, o, &err) : NULL;
    if (!srv || thrift_rpc_server_handle(srv, "PingPong", "ping", ping, NULL, &err) ||
        thrift_rpc_server_handle(srv, "PingPong", "add", add, NULL, &err) ||
        thrift_rpc_server_listen(srv, argv[2], &err)) {
        fprintf(stderr, "transport_peer: %s\n", err.text);
        return 1;
    }
    printf("port %d\n", thrift_rpc_server_port(srv));
    fflush(stdout);
    ev_run(loop, 0);
    thrift_rpc_server_free(srv);
    thrift_conn_options_free(o);
    thrift_schema_unref(s);
    return 0;
}
