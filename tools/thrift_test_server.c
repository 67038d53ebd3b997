/* thrift_test_server — the ThriftTest server of Apache Thrift's cross-test
 * contract (apache/thrift test/README.md), written against dynthrift's
 * dynamic API: ThriftTest.thrift is loaded at run time, nothing is
 * generated.
 *
 *   thrift_test_server [--idl FILE] [--port N | --domain-socket PATH]
 *                      [--transport buffered|framed|http|zlib|header] [--zlib]
 *                      [--protocol binary|compact|json|header] [--multiplex]
 *                      [--ssl [--ssl-cert FILE --ssl-key FILE]] [--http-path PATH]
 *
 * Each method answers as Apache's reference servers (test/cpp TestServer,
 * test/py TestServer.py) do.  Extensions: `--port 0` picks a free port;
 * the line "listening on port N" (or "listening on unix:PATH") is printed
 * once the server accepts connections; `--bind HOST` (default 0.0.0.0);
 * `--port-file FILE` writes the port there.  SIGINT/SIGTERM stop the server
 * gracefully. */
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynthrift/dynthrift.h"
#include "dynthrift/json.h"
#include "dynthrift/net.h"

#include "thrift_test_common.h"

static int verbose;

/* ---- helpers --------------------------------------------------------------- */

static const thrift_type_def_t *return_type(thrift_request_t *req) {
    return thrift_function_def_return_type(thrift_request_function(req));
}

/* The struct type of one of the method's declared exceptions (`field` is
 * the throws field's name, as in `throws (1: Xception err1)`). */
static thrift_value_t *new_exception(thrift_request_t *req, const char *field) {
    const thrift_struct_def_t *throws = thrift_function_def_throws(thrift_request_function(req));
    const thrift_field_def_t *f = throws ? thrift_struct_def_find_field(throws, field) : NULL;
    return f ? thrift_value_new(thrift_request_arena(req), thrift_field_def_type(f)) : NULL;
}

/* Sets a scalar or string field of a freshly built struct by name. */
static bool set_int(thrift_value_t *s, const char *name, int64_t i, thrift_arena_t *a) {
    thrift_value_t *f = thrift_value_field(a, s, name);
    return f && thrift_value_set_int(f, i) == THRIFT_OK;
}

static bool set_str(thrift_value_t *s, const char *name, const char *text, size_t len,
                    thrift_arena_t *a) {
    thrift_value_t *f = thrift_value_field(a, s, name);
    return f && thrift_value_set_bytes(a, f, text, len) == THRIFT_OK;
}

static bool str_is(const thrift_value_t *v, const char *text) {
    size_t n = 0;
    const uint8_t *p = v ? thrift_value_bytes(v, &n) : NULL;
    return p && n == strlen(text) && !memcmp(p, text, n);
}

static thrift_status_t fail(thrift_request_t *req, const char *what) {
    thrift_error_t *e = thrift_request_error(req);
    snprintf(e->text, sizeof e->text, "%s: %s", thrift_request_method(req), what);
    e->code = THRIFT_NOMEM;
    return THRIFT_NOMEM;
}

static void trace(thrift_request_t *req, const thrift_value_t *args) {
    if (!verbose)
        return;
    char *text = thrift_json_dumps(args, THRIFT_JSON_DEFAULT, NULL, NULL);
    printf("%s(%s)\n", thrift_request_method(req), text ? text : "?");
    fflush(stdout);
    thrift_json_text_free(text);
}

/* ---- ThriftTest ------------------------------------------------------------ */

/* testString, testBool, testByte, testI32, testI64, testDouble, testBinary,
 * testUuid, testStruct, testNest, testMap, testStringMap, testSet, testList,
 * testEnum, testTypedef: the argument comes back as it came. */
static thrift_status_t h_echo(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)ud;
    trace(req, args);
    return thrift_reply(req, thrift_value_get_by_id(args, 1));
}

static thrift_status_t h_void(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)ud;
    trace(req, args);
    return thrift_reply(req, NULL);
}

/* {4: {1: 1, 2: 2, 3: 3, 4: 4}, -4: {-4: -4, -3: -3, -2: -2, -1: -1}},
 * whatever `hello` is. */
static thrift_status_t h_map_map(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)ud;
    trace(req, args);
    static const char text[] = "{\"-4\": {\"-4\": -4, \"-3\": -3, \"-2\": -2, \"-1\": -1},"
                               " \"4\": {\"1\": 1, \"2\": 2, \"3\": 3, \"4\": 4}}";
    thrift_value_t *v = thrift_json_loads(thrift_request_arena(req), return_type(req), text,
                                          sizeof text - 1, THRIFT_JSON_DEFAULT,
                                          thrift_request_error(req));
    return v ? thrift_reply(req, v) : THRIFT_INVALID;
}

/* {1: {TWO: argument, THREE: argument}, 2: {SIX: Insanity()}}. */
static thrift_status_t h_insanity(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)ud;
    trace(req, args);
    thrift_arena_t *a = thrift_request_arena(req);
    const thrift_type_def_t *outer_t = thrift_type_def_resolved(return_type(req));
    const thrift_type_def_t *inner_t = thrift_type_def_resolved(thrift_type_def_value(outer_t));
    const thrift_type_def_t *key_t = thrift_type_def_key(outer_t);
    const thrift_enum_def_t *numberz = thrift_type_def_enum(thrift_type_def_key(inner_t));
    const thrift_type_def_t *insanity_t = thrift_type_def_value(inner_t);
    if (!numberz)
        return fail(req, "unexpected return type");
    const thrift_value_t *arg = thrift_value_get(args, "argument");
    thrift_value_t *empty = thrift_value_new(a, insanity_t);
    if (!arg)
        arg = empty;
    thrift_value_t *out = thrift_value_new(a, outer_t);
    thrift_value_t *first = thrift_value_new(a, inner_t);
    thrift_value_t *second = thrift_value_new(a, inner_t);
    thrift_value_t *k1 = thrift_value_new(a, key_t), *k2 = thrift_value_new(a, key_t);
    if (!out || !first || !second || !k1 || !k2 || !empty || thrift_value_set_int(k1, 1) ||
        thrift_value_set_int(k2, 2) ||
        thrift_value_map_put(a, first, thrift_value_new_enum(a, numberz, 2), arg) ||
        thrift_value_map_put(a, first, thrift_value_new_enum(a, numberz, 3), arg) ||
        thrift_value_map_put(a, second, thrift_value_new_enum(a, numberz, 6), empty) ||
        thrift_value_map_put(a, out, k1, first) || thrift_value_map_put(a, out, k2, second))
        return fail(req, "cannot build the result");
    return thrift_reply(req, out);
}

/* Xtruct{"Hello2", arg0, arg1, arg2}; arg3..arg5 are ignored. */
static thrift_status_t h_multi(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)ud;
    trace(req, args);
    thrift_arena_t *a = thrift_request_arena(req);
    thrift_value_t *x = thrift_value_new(a, return_type(req));
    if (!x || !set_str(x, "string_thing", "Hello2", 6, a))
        return fail(req, "cannot build the result");
    static const char *const map[][2] = {
        {"arg0", "byte_thing"}, {"arg1", "i32_thing"}, {"arg2", "i64_thing"}};
    for (size_t i = 0; i < 3; i++) {
        const thrift_value_t *v = thrift_value_get(args, map[i][0]);
        if (v && thrift_value_set(x, map[i][1], v))
            return fail(req, "argument type does not match Xtruct");
    }
    return thrift_reply(req, x);
}

/* "Xception" -> Xception{1001, arg}; "TException" -> an application error
 * (Apache's servers throw a plain TException, which their processors turn
 * into a TApplicationException); anything else -> void. */
static thrift_status_t h_exception(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)ud;
    trace(req, args);
    const thrift_value_t *arg = thrift_value_get(args, "arg");
    thrift_arena_t *a = thrift_request_arena(req);
    if (str_is(arg, "Xception")) {
        thrift_value_t *x = new_exception(req, "err1");
        size_t n = 0;
        const uint8_t *p = thrift_value_bytes(arg, &n);
        if (!x || !set_int(x, "errorCode", 1001, a) || !set_str(x, "message", (const char *)p, n, a))
            return fail(req, "cannot build Xception");
        return thrift_reply_exception(req, "err1", x);
    }
    if (str_is(arg, "TException"))
        return thrift_reply_error(req, THRIFT_APPEX_INTERNAL_ERROR, "This is a TException");
    return thrift_reply(req, NULL);
}

/* "Xception" -> Xception{1001, "This is an Xception"}; "Xception2" ->
 * Xception2{2002, Xtruct{"This is an Xception2"}}; else Xtruct{arg1}. */
static thrift_status_t h_multi_exception(thrift_request_t *req, const thrift_value_t *args,
                                         void *ud) {
    (void)ud;
    trace(req, args);
    const thrift_value_t *arg0 = thrift_value_get(args, "arg0");
    thrift_arena_t *a = thrift_request_arena(req);
    if (str_is(arg0, "Xception")) {
        static const char msg[] = "This is an Xception";
        thrift_value_t *x = new_exception(req, "err1");
        if (!x || !set_int(x, "errorCode", 1001, a) || !set_str(x, "message", msg, sizeof msg - 1, a))
            return fail(req, "cannot build Xception");
        return thrift_reply_exception(req, "err1", x);
    }
    if (str_is(arg0, "Xception2")) {
        static const char msg[] = "This is an Xception2";
        thrift_value_t *x = new_exception(req, "err2");
        thrift_value_t *inner = x ? thrift_value_field(a, x, "struct_thing") : NULL;
        if (!inner || !set_int(x, "errorCode", 2002, a) ||
            !set_str(inner, "string_thing", msg, sizeof msg - 1, a))
            return fail(req, "cannot build Xception2");
        return thrift_reply_exception(req, "err2", x);
    }
    thrift_value_t *x = thrift_value_new(a, return_type(req));
    const thrift_value_t *arg1 = thrift_value_get(args, "arg1");
    if (!x || (arg1 && thrift_value_set(x, "string_thing", arg1)))
        return fail(req, "cannot build Xtruct");
    return thrift_reply(req, x);
}

/* testOneway(seconds): Apache's Python server sleeps seconds/3 before
 * returning; here a timer stands for the sleep, so other calls on the
 * connection (and other connections) are served meanwhile. */
typedef struct sleeper {
    ev_timer timer;
    struct sleeper *prev, *next;
    int32_t seconds;
} sleeper_t;

static sleeper_t *sleepers;

static void sleeper_unlink(sleeper_t *s) {
    if (s->prev)
        s->prev->next = s->next;
    else
        sleepers = s->next;
    if (s->next)
        s->next->prev = s->prev;
}

static void sleeper_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    sleeper_t *s = (sleeper_t *)w;
    if (verbose) {
        printf("testOneway(%d): done sleeping\n", (int)s->seconds);
        fflush(stdout);
    }
    sleeper_unlink(s);
    free(s);
}

static thrift_status_t h_oneway(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)ud;
    trace(req, args);
    const thrift_value_t *v = thrift_value_get(args, "secondsToSleep");
    int64_t seconds = v ? thrift_value_int(v) : 0;
    if (seconds <= 0)
        return THRIFT_OK;
    sleeper_t *s = calloc(1, sizeof *s);
    if (!s)
        return THRIFT_OK; // nobody waits for a oneway call: skip the nap
    s->seconds = (int32_t)seconds;
    ev_timer_init(&s->timer, sleeper_cb, (double)seconds / 3.0, 0.);
    ev_timer_start(thrift_request_loop(req), &s->timer);
    s->next = sleepers;
    if (sleepers)
        sleepers->prev = s;
    sleepers = s;
    return THRIFT_OK;
}

/* ---- SecondService ---------------------------------------------------------- */

static thrift_status_t h_second(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)ud;
    trace(req, args);
    size_t n = 0;
    const thrift_value_t *thing = thrift_value_get(args, "thing");
    const uint8_t *p = thing ? thrift_value_bytes(thing, &n) : NULL;
    thrift_arena_t *a = thrift_request_arena(req);
    char *out = thrift_arena_alloc(a, n + 16);
    if (!out)
        return fail(req, "out of memory");
    memcpy(out, "testString(\"", 12);
    if (n)
        memcpy(out + 12, p, n);
    memcpy(out + 12 + n, "\")", 2);
    return thrift_reply(req, thrift_value_new_string(a, out, n + 14));
}

/* ---- main -------------------------------------------------------------------- */

static const struct {
    const char *name;
    thrift_handler_cb cb;
} thrift_test_handlers[] = {
    {"testVoid", h_void},
    {"testString", h_echo},
    {"testBool", h_echo},
    {"testByte", h_echo},
    {"testI16", h_echo},
    {"testI32", h_echo},
    {"testI64", h_echo},
    {"testDouble", h_echo},
    {"testBinary", h_echo},
    {"testUuid", h_echo},
    {"testStruct", h_echo},
    {"testNest", h_echo},
    {"testMap", h_echo},
    {"testStringMap", h_echo},
    {"testSet", h_echo},
    {"testList", h_echo},
    {"testEnum", h_echo},
    {"testTypedef", h_echo},
    {"testMapMap", h_map_map},
    {"testInsanity", h_insanity},
    {"testMulti", h_multi},
    {"testException", h_exception},
    {"testMultiException", h_multi_exception},
    {"testOneway", h_oneway},
};

static void usage(FILE *f) {
    fputs("usage: thrift_test_server [options]\n"
          "  --idl FILE                 ThriftTest.thrift (default: the shared corpus's)\n"
          "  --port N (9090)            TCP port to listen on; 0 picks a free one\n"
          "  --bind HOST (0.0.0.0)      address to listen on\n"
          "  --domain-socket PATH       listen on a Unix socket instead\n"
          "  --transport buffered|framed|http|zlib|header (buffered)\n"
          "  --protocol binary|compact|json|header (binary); multi, multic, multij imply\n"
          "                             --multiplex; header = THeader with binary inside\n"
          "  --zlib                     TZlibTransport around buffered or framed\n"
          "  --ssl                      TLS (https:// with --transport http)\n"
          "  --ssl-ca FILE              accepted, not used by the server\n"
          "  --ssl-cert FILE, --ssl-key FILE  the certificate ($THRIFT_TEST_SSL_CERT, keys/server.crt)\n"
          "                             and key ($THRIFT_TEST_SSL_KEY, keys/server.key)\n"
          "  --http-path PATH (/)       the path of --transport http\n"
          "  --multiplex                also serve SecondService (TMultiplexedProtocol)\n"
          "  --server-type TYPE         accepted and ignored (one event loop)\n"
          "  --port-file FILE           write the listening port to FILE\n"
          "  -v, --verbose              print each call\n",
          f);
}

static thrift_rpc_server_t *server;
static int stopping;

static void stopped_cb(thrift_rpc_server_t *srv, void *ud) {
    (void)srv;
    ev_break((struct ev_loop *)ud, EVBREAK_ALL);
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents) {
    (void)w;
    (void)revents;
    if (stopping++)
        ev_break(loop, EVBREAK_ALL); // a second signal: stop now
    else
        thrift_rpc_server_stop(server, stopped_cb, loop);
}

int main(int argc, char **argv) {
    const char *idl = NULL, *port = "9090", *bind_host = "0.0.0.0", *domain_socket = NULL;
    tt_stack_t stack;
    tt_stack_init(&stack);
    const char *port_file = NULL;
    bool multiplex = false;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--multiplex")) {
            multiplex = true;
        } else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
            verbose = 1;
        } else if ((v = tt_opt_value(argc, argv, &i, "--idl"))) {
            idl = v;
        } else if ((v = tt_opt_value(argc, argv, &i, "--port"))) {
            port = v;
        } else if ((v = tt_opt_value(argc, argv, &i, "--bind"))) {
            bind_host = v;
        } else if ((v = tt_opt_value(argc, argv, &i, "--domain-socket"))) {
            domain_socket = v;
        } else if (tt_stack_flag(&stack, argc, argv, &i)) {
            continue;
        } else if ((v = tt_opt_value(argc, argv, &i, "--port-file"))) {
            port_file = v;
        } else if ((v = tt_opt_value(argc, argv, &i, "--server-type")) ||
                   (v = tt_opt_value(argc, argv, &i, "--workers")) ||
                   (v = tt_opt_value(argc, argv, &i, "-n"))) {
            (void)v; // one event loop serves every "server type"
        } else {
            fprintf(stderr, "thrift_test_server: unsupported option '%s'\n", argv[i]);
            usage(stderr);
            return 1;
        }
    }
    // Apache's Python test scripts name the multiplexed protocols multi,
    // multic, multij.
    if (tt_multiplexed_protocol(&stack.protocol))
        multiplex = true;
    if (!idl) {
        idl = tt_default_idl();
        if (!idl) {
            fprintf(stderr, "thrift_test_server: no ThriftTest.thrift found; use --idl FILE\n");
            return 1;
        }
    }

    thrift_error_t err;
    thrift_error_clear(&err);
    char text[1024];
    thrift_schema_t *schema = thrift_load(idl, &err);
    if (!schema) {
        thrift_error_render(&err, true, text, sizeof text);
        fprintf(stderr, "thrift_test_server: %s\n", text);
        return 1;
    }
    thrift_conn_options_t *opts = thrift_conn_options_new();
    if (!opts || tt_stack_options(&stack, true, opts, &err)) {
        fprintf(stderr, "thrift_test_server: %s\n", err.code ? err.text : "out of memory");
        thrift_conn_options_free(opts);
        thrift_schema_unref(schema);
        return 1;
    }
    struct ev_loop *loop = ev_default_loop(0);
    server = thrift_rpc_server_new(loop, schema, opts, &err);
    thrift_conn_options_free(opts);
    int rc = 1;
    if (!server)
        goto done;
    const thrift_service_def_t *svc = thrift_schema_find_service(schema, "ThriftTest");
    if (!svc) {
        fprintf(stderr, "thrift_test_server: %s has no service ThriftTest\n", idl);
        goto done;
    }
    // Serve exactly the methods this IDL declares (testUuid only from 0.17
    // on), each with its reference semantics.
    for (size_t i = 0; i < thrift_service_def_function_count(svc); i++) {
        const char *name = thrift_function_def_name(thrift_service_def_function_at(svc, i));
        thrift_handler_cb cb = NULL;
        for (size_t j = 0; j < sizeof thrift_test_handlers / sizeof *thrift_test_handlers; j++)
            if (!strcmp(thrift_test_handlers[j].name, name))
                cb = thrift_test_handlers[j].cb;
        if (!cb) {
            fprintf(stderr, "thrift_test_server: warning: no handler for ThriftTest.%s\n", name);
            continue;
        }
        if (thrift_rpc_server_handle(server, "ThriftTest", name, cb, NULL, &err))
            goto done;
    }
    if (multiplex && thrift_rpc_server_handle(server, "SecondService", "secondtestString",
                                              h_second, NULL, &err))
        goto done;

    char addr[1200];
    if (domain_socket)
        snprintf(addr, sizeof addr, "unix:%s", domain_socket);
    else
        snprintf(addr, sizeof addr, strchr(bind_host, ':') ? "%s[%s]:%s%s" : "%s%s:%s%s",
                 tt_stack_scheme(&stack), bind_host, port, tt_stack_path(&stack));
    if (thrift_rpc_server_listen(server, addr, &err))
        goto done;

    ev_signal sigint, sigterm;
    ev_signal_init(&sigint, signal_cb, SIGINT);
    ev_signal_init(&sigterm, signal_cb, SIGTERM);
    ev_signal_start(loop, &sigint);
    ev_signal_start(loop, &sigterm);
    ev_unref(loop);
    ev_unref(loop);

    if (domain_socket) {
        printf("Starting \"nonblocking\" server (%s/%s%s) listen on: unix:%s\n", stack.transport, stack.protocol,
               multiplex ? ", multiplexed" : "", domain_socket);
        printf("listening on unix:%s\n", domain_socket);
    } else {
        int p = thrift_rpc_server_port(server);
        printf("Starting \"nonblocking\" server (%s/%s%s) listen on: %d\n", stack.transport, stack.protocol,
               multiplex ? ", multiplexed" : "", p);
        printf("listening on port %d\n", p);
        if (port_file) {
            FILE *f = fopen(port_file, "w");
            if (!f || fprintf(f, "%d\n", p) < 0 || fclose(f)) {
                fprintf(stderr, "thrift_test_server: cannot write %s\n", port_file);
                goto done;
            }
        }
    }
    fflush(stdout);
    ev_run(loop, 0);
    ev_ref(loop);
    ev_ref(loop);
    ev_signal_stop(loop, &sigint);
    ev_signal_stop(loop, &sigterm);
    rc = 0;
done:
    if (err.code) {
        thrift_error_render(&err, false, text, sizeof text);
        fprintf(stderr, "thrift_test_server: %s\n", text);
    }
    while (sleepers) {
        sleeper_t *s = sleepers;
        ev_timer_stop(loop, &s->timer);
        sleeper_unlink(s);
        free(s);
    }
    thrift_rpc_server_free(server);
    thrift_schema_unref(schema);
    ev_loop_destroy(loop);
    return rc;
}
