/* bench_server: the dynthrift side of tools/bench_net.sh.  Serves the Bench
 * service of idl-samples/bench.thrift (ping, add, echo, fire, fail) on a
 * thrift_rpc_server with the handlers a user would write.
 *
 *   bench_server [-t THREADS] [-p binary|compact|json] [--buffered] IDL ADDRESS
 *
 * Prints "listening PORT" on stdout once ready; stops on SIGINT/SIGTERM
 * (graceful stop, then exit 0). */
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynthrift/dynthrift.h"
#include "dynthrift/net.h"

static thrift_status_t h_ping(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)args;
    (void)ud;
    return thrift_reply(req, NULL);
}

static thrift_status_t h_add(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)ud;
    // Fields by id: what a user who cares about speed would write.
    int64_t a = thrift_value_int(thrift_value_get_by_id(args, 1));
    int64_t b = thrift_value_int(thrift_value_get_by_id(args, 2));
    return thrift_reply(req, thrift_value_new_i64(thrift_request_arena(req), a + b));
}

static thrift_status_t h_echo(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)ud;
    return thrift_reply(req, thrift_value_get_by_id(args, 1));
}

static thrift_status_t h_fire(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)req;
    (void)args;
    (void)ud;
    return THRIFT_OK;
}

static thrift_status_t h_fail(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)ud;
    thrift_arena_t *a = thrift_request_arena(req);
    const thrift_struct_def_t *rd = thrift_function_def_result(thrift_request_function(req));
    const thrift_field_def_t *f = thrift_struct_def_find_field(rd, "err");
    thrift_value_t *ex = thrift_value_new(a, thrift_field_def_type(f));
    thrift_value_set(ex, "code", thrift_value_get_by_id(args, 1));
    thrift_value_set(ex, "message", thrift_value_new_string(a, "failed", 6));
    return thrift_reply_exception(req, "err", ex);
}

static void stopped_cb(thrift_rpc_server_t *srv, void *ud) {
    (void)srv;
    ev_break((struct ev_loop *)ud, EVBREAK_ALL);
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents) {
    (void)revents;
    (void)loop;
    thrift_rpc_server_t *srv = w->data;
    thrift_rpc_server_stop(srv, stopped_cb, loop);
}

static int usage(void) {
    fprintf(stderr, "usage: bench_server [-t THREADS] [-p binary|compact|json] [--buffered] "
                    "[-o KEY=VALUE]... IDL ADDRESS\n"
                    "  -o: a conn option by its text key (tls_cert=FILE, transport=header, "
                    "zlib=1...)\n");
    return 2;
}

int main(int argc, char **argv) {
    unsigned threads = 1;
    const char *proto = "binary";
    bool buffered = false;
    const char *kv[32];
    int nkv = 0;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc)
            threads = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "-p") && i + 1 < argc)
            proto = argv[++i];
        else if (!strcmp(argv[i], "--buffered"))
            buffered = true;
        else if (!strcmp(argv[i], "-o") && i + 1 < argc && nkv < 32)
            kv[nkv++] = argv[++i];
        else
            return usage();
    }
    if (argc - i != 2)
        return usage();
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_schema_t *schema = thrift_load(argv[i], &err);
    if (!schema) {
        fprintf(stderr, "bench_server: %s\n", err.text);
        return 1;
    }
    struct ev_loop *loop = ev_default_loop(0);
    thrift_conn_options_t *opts = thrift_conn_options_new();
    if (thrift_conn_options_set(opts, "protocol", proto, &err) ||
        (buffered && thrift_conn_options_set(opts, "transport", "buffered", &err))) {
        fprintf(stderr, "bench_server: %s\n", err.text);
        return 2;
    }
    for (int k = 0; k < nkv; k++) {
        char key[64];
        const char *eq = strchr(kv[k], '=');
        if (!eq || (size_t)(eq - kv[k]) >= sizeof key)
            return usage();
        memcpy(key, kv[k], (size_t)(eq - kv[k]));
        key[eq - kv[k]] = 0;
        if (thrift_conn_options_set(opts, key, eq + 1, &err)) {
            fprintf(stderr, "bench_server: -o %s: %s\n", kv[k], err.text);
            return 2;
        }
    }
    thrift_rpc_server_t *srv = thrift_rpc_server_new(loop, schema, opts, &err);
    thrift_conn_options_free(opts);
    if (!srv) {
        fprintf(stderr, "bench_server: %s\n", err.text);
        return 1;
    }
    thrift_rpc_server_set_threads(srv, threads);
    static const struct {
        const char *name;
        thrift_handler_cb cb;
    } handlers[] = {{"ping", h_ping}, {"add", h_add}, {"echo", h_echo},
                    {"fire", h_fire}, {"fail", h_fail}};
    for (size_t k = 0; k < sizeof handlers / sizeof handlers[0]; k++)
        if (thrift_rpc_server_handle(srv, "Bench", handlers[k].name, handlers[k].cb, NULL, &err)) {
            fprintf(stderr, "bench_server: %s\n", err.text);
            return 1;
        }
    if (thrift_rpc_server_listen(srv, argv[i + 1], &err)) {
        fprintf(stderr, "bench_server: %s\n", err.text);
        return 1;
    }
    printf("listening %d\n", thrift_rpc_server_port(srv));
    fflush(stdout);
    ev_signal sigint, sigterm;
    ev_signal_init(&sigint, signal_cb, SIGINT);
    ev_signal_init(&sigterm, signal_cb, SIGTERM);
    sigint.data = sigterm.data = srv;
    ev_signal_start(loop, &sigint);
    ev_signal_start(loop, &sigterm);
    ev_unref(loop); // the signal watchers alone do not keep the loop alive
    ev_unref(loop);
    ev_run(loop, 0);
    thrift_rpc_server_free(srv);
    thrift_schema_unref(schema);
    return 0;
}
