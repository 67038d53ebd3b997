/* A complete server for PingPong, schema loaded at run time: IDL ADDRESS */
#include <dynthrift/dynthrift.h>
#include <ev.h>
#include <signal.h>
#include <stdio.h>

static thrift_status_t ping(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)args, (void)ud;
    thrift_value_t *pong = thrift_value_new_string(thrift_request_arena(req), "pong", 4);
    return thrift_reply(req, pong);
}

static thrift_status_t add(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)ud;
    int64_t sum = thrift_value_int(thrift_value_get(args, "a")) +
                  thrift_value_int(thrift_value_get(args, "b"));
    return thrift_reply(req, thrift_value_new_i64(thrift_request_arena(req), sum));
}

/* SIGINT/SIGTERM: stop accepting, answer the calls in flight, then the
 * stopped callback breaks the loop (an open connection keeps it alive). */
static void stopped(thrift_rpc_server_t *srv, void *ud) {
    (void)srv;
    ev_break(ud, EVBREAK_ALL);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents) {
    (void)revents;
    thrift_rpc_server_stop(w->data, stopped, loop);
}

int main(int argc, char **argv) {
    if (argc != 3)
        return fprintf(stderr, "usage: %s IDL ADDRESS\n", argv[0]), 2;
    thrift_error_t err = {0};
    char msg[512];
    thrift_schema_t *schema = thrift_load(argv[1], &err);
    struct ev_loop *loop = ev_default_loop(0);
    thrift_rpc_server_t *srv = schema ? thrift_rpc_server_new(loop, schema, NULL, &err) : NULL;
    if (!srv || thrift_rpc_server_handle(srv, "PingPong", "ping", ping, NULL, &err) ||
        thrift_rpc_server_handle(srv, "PingPong", "add", add, NULL, &err) ||
        thrift_rpc_server_listen(srv, argv[2], &err)) {
        thrift_error_render(&err, true, msg, sizeof msg);
        fprintf(stderr, "pingpong_server: %s\n", msg);
        return 1;
    }
    ev_signal sigint, sigterm;
    ev_signal_init(&sigint, on_signal, SIGINT);
    ev_signal_init(&sigterm, on_signal, SIGTERM);
    sigint.data = sigterm.data = srv;
    ev_signal_start(loop, &sigint);
    ev_signal_start(loop, &sigterm);
    printf("listening on port %d\n", thrift_rpc_server_port(srv)), fflush(stdout);
    ev_run(loop, 0);
    printf("stopped\n");
    thrift_rpc_server_free(srv);
    thrift_schema_unref(schema);
    return 0;
}
