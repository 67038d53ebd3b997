/* The JSON/HTTP gateway (dynthrift/gateway.h): the request and reply
 * mapping without sockets, the /schema and /openapi.json documents, and
 * whole calls through a gateway to an in-process server on loopback. */
#include <arpa/inet.h>
#include <ev.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dynthrift/gateway.h"
#include "net/net_impl.h"
#include "net_fixture.h"
#include "tap.h"

static const char docs_idl[] =
    "/** Statuses. */\n"
    "enum Status { ACTIVE = 1, GONE = 2 }\n"
    "struct Inner { 1: list<i64> ids, 2: map<string, Status> by_name }\n"
    "/** An outer struct. */\n"
    "struct Outer {\n"
    "  1: required i64 id,\n"
    "  2: optional binary blob,\n"
    "  /** nested */\n"
    "  3: Inner inner,\n"
    "  4: Status status = Status.GONE,\n"
    "  5: set<string> tags,\n"
    "  6: map<Inner, i32> weird,\n"
    "  7: i32 count = 7,\n"
    "}\n"
    "union Choice { 1: string s, 2: i32 n }\n"
    "exception Nope { 1: string why }\n"
    "service Base { void hello() }\n"
    "service Store extends Base {\n"
    "  /** Puts it. */\n"
    "  Outer put(1: Outer o, 2: Choice c) throws (1: Nope nope),\n"
    "  oneway void poke(1: i8 n),\n"
    "}\n";

static const thrift_function_def_t *calc_fn(thrift_schema_t *s, const char *name) {
    return thrift_service_def_find_function(thrift_schema_find_service(s, "Calc"), name);
}

static const char *buf_text(thrift_buffer_t *b) {
    thrift_buffer_append(b, "", 1);
    return (const char *)thrift_buffer_data(b);
}

static void test_args(thrift_schema_t *s) {
    const thrift_function_def_t *add = calc_fn(s, "add");
    thrift_arena_t *a = thrift_arena_new(NULL);
    thrift_error_t err;

    thrift_error_clear(&err);
    const char *by_name = "{\"a\": 2, \"b\": 40}";
    thrift_value_t *v = thrift_gateway_args_from_json(add, a, by_name, strlen(by_name), &err);
    TAP_CHECK(v && thrift_value_int(thrift_value_get(v, "a")) == 2 &&
                  thrift_value_int(thrift_value_get(v, "b")) == 40,
              "args by name");

    thrift_error_clear(&err);
    const char *by_pos = " [2, 9007199254740993]";
    v = thrift_gateway_args_from_json(add, a, by_pos, strlen(by_pos), &err);
    TAP_CHECK(v && thrift_value_int(thrift_value_get(v, "a")) == 2 &&
                  thrift_value_int(thrift_value_get(v, "b")) == 9007199254740993LL,
              "args by position, i64 exact beyond 2^53");

    thrift_error_clear(&err);
    v = thrift_gateway_args_from_json(add, a, "", 0, &err);
    TAP_CHECK(v && !thrift_value_has(v, "a"), "empty body: no arguments");
    v = thrift_gateway_args_from_json(add, a, " null\n", 6, &err);
    TAP_CHECK(v && !thrift_value_has(v, "a"), "null body: no arguments");

    thrift_error_clear(&err);
    const char *bad = "{\"a\": 2,\n \"b\": }";
    v = thrift_gateway_args_from_json(add, a, bad, strlen(bad), &err);
    TAP_CHECK(!v && err.code == THRIFT_SYNTAX && err.line == 2, "bad JSON: syntax error at line 2 (%s)",
              err.text);

    thrift_error_clear(&err);
    const char *wrong = "{\"a\": \"two\"}";
    v = thrift_gateway_args_from_json(add, a, wrong, strlen(wrong), &err);
    TAP_CHECK(!v && err.code == THRIFT_TYPE && strstr(err.path, "a"),
              "wrong type names the path (%s: %s)", err.path, err.text);

    thrift_error_clear(&err);
    const char *big = "{\"a\": 3000000000}";
    v = thrift_gateway_args_from_json(add, a, big, strlen(big), &err);
    TAP_CHECK(!v && err.code == THRIFT_RANGE, "i32 out of range refused (%s)", err.text);

    thrift_error_clear(&err);
    const char *unknown = "{\"zz\": 1}";
    v = thrift_gateway_args_from_json(add, a, unknown, strlen(unknown), &err);
    TAP_CHECK(!v && err.code == THRIFT_UNKNOWN_FIELD, "unknown argument refused (%s)", err.text);

    thrift_error_clear(&err);
    v = thrift_gateway_args_from_json(add, a, "5", 1, &err);
    TAP_CHECK(!v && err.code == THRIFT_TYPE && strstr(err.text, "object"),
              "a scalar body says what is accepted (%s)", err.text);

    thrift_error_clear(&err);
    v = thrift_gateway_args_from_json(add, a, "[1, 2, 3]", 9, &err);
    TAP_CHECK(!v && err.code == THRIFT_RANGE, "too many positional arguments (%s)", err.text);

    thrift_error_clear(&err);
    v = thrift_gateway_args_from_json(calc_fn(s, "need"), a, "{}", 2, &err);
    TAP_CHECK(!v && err.code == THRIFT_MISSING, "required argument missing (%s)", err.text);
    thrift_arena_free(a);
}

static void test_replies(thrift_schema_t *s) {
    thrift_arena_t *a = thrift_arena_new(NULL);
    thrift_buffer_t *out = thrift_buffer_new();
    thrift_error_t err;

    int st = thrift_gateway_reply_json(calc_fn(s, "add"), THRIFT_OK, thrift_value_new_i64(a, -5000000000LL),
                                       NULL, -1, NULL, out, NULL);
    TAP_CHECK(st == 200, "success is 200");
    TAP_STREQ(buf_text(out), "{\"result\":-5000000000}", "success body");

    thrift_buffer_clear(out);
    st = thrift_gateway_reply_json(calc_fn(s, "nothing"), THRIFT_OK, NULL, NULL, -1, NULL, out, NULL);
    TAP_CHECK(st == 200, "void is 200");
    TAP_STREQ(buf_text(out), "{\"result\":null}", "void body");

    thrift_buffer_clear(out);
    st = thrift_gateway_reply_json(calc_fn(s, "fire"), THRIFT_OK, NULL, NULL, -1, NULL, out, NULL);
    TAP_CHECK(st == 202, "oneway is 202");
    TAP_STREQ(buf_text(out), "{}", "oneway body");

    thrift_buffer_clear(out);
    const thrift_struct_def_t *be = thrift_schema_find_struct(s, "BenchError");
    thrift_value_t *ex = thrift_value_new_struct(a, be);
    thrift_value_set(ex, "code", thrift_value_new_i32(a, 7));
    st = thrift_gateway_reply_json(calc_fn(s, "fail"), THRIFT_DECLARED_EXCEPTION, ex, "BenchError", -1,
                                   NULL, out, NULL);
    TAP_CHECK(st == 200, "declared exception is 200");
    TAP_STREQ(buf_text(out), "{\"exception\":\"BenchError\",\"value\":{\"code\":7}}",
              "declared exception body");

    thrift_buffer_clear(out);
    thrift_error_clear(&err);
    snprintf(err.text, sizeof err.text, "Invalid method name: 'x\"y'");
    err.code = THRIFT_APP_EXCEPTION;
    st = thrift_gateway_reply_json(calc_fn(s, "add"), THRIFT_APP_EXCEPTION, NULL, NULL,
                                   THRIFT_APPEX_UNKNOWN_METHOD, &err, out, NULL);
    TAP_CHECK(st == 502, "TApplicationException is 502");
    TAP_STREQ(buf_text(out),
              "{\"error\":{\"status\":\"THRIFT_APP_EXCEPTION\",\"type\":\"UNKNOWN_METHOD\","
              "\"type_id\":1,\"message\":\"Invalid method name: 'x\\\"y'\"}}",
              "TApplicationException body, quotes escaped");

    struct {
        thrift_status_t status;
        const char *text;
        int http;
    } cases[] = {
        {THRIFT_TIMEOUT, "add: call timed out", 504},
        {THRIFT_TIMEOUT, "connect to 10.0.0.1:9 timed out", 503},
        {THRIFT_TRANSPORT, "connect to 127.0.0.1:1: Connection refused", 503},
        {THRIFT_CLOSED, "connection to 127.0.0.1:1 closed", 503},
        {THRIFT_PROTOCOL, "bad reply", 502},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        thrift_buffer_clear(out);
        thrift_error_clear(&err);
        err.code = cases[i].status;
        snprintf(err.text, sizeof err.text, "%s", cases[i].text);
        st = thrift_gateway_reply_json(calc_fn(s, "add"), cases[i].status, NULL, NULL, -1, &err, out,
                                       NULL);
        json_t *j = json_loads(buf_text(out), 0, NULL);
        TAP_CHECK(st == cases[i].http && j &&
                      !strcmp(json_string_value(json_object_get(json_object_get(j, "error"), "status")),
                              thrift_status_name(cases[i].status)),
                  "%s '%s' -> %d", thrift_status_name(cases[i].status), cases[i].text, cases[i].http);
        json_decref(j);
    }

    // An error message with bytes that are not UTF-8 still makes valid JSON.
    thrift_buffer_clear(out);
    thrift_error_clear(&err);
    err.code = THRIFT_TYPE;
    snprintf(err.text, sizeof err.text, "bad \xff\xfe bytes\n");
    snprintf(err.path, sizeof err.path, "add_args.a");
    st = thrift_gateway_error_json(THRIFT_TYPE, &err, out);
    json_t *j = json_loads(buf_text(out), 0, NULL);
    TAP_CHECK(st == 400 && j &&
                  !strcmp(json_string_value(json_object_get(json_object_get(j, "error"), "path")),
                          "add_args.a"),
              "400 body is valid JSON with the path");
    json_decref(j);
    thrift_buffer_free(out);
    thrift_arena_free(a);
}

/* Every "$ref" in `node` resolves within `root` (local refs only). */
static int bad_refs(json_t *root, json_t *node, int *count) {
    int bad = 0;
    if (json_is_object(node)) {
        const char *k;
        json_t *v;
        json_object_foreach(node, k, v) {
            if (!strcmp(k, "$ref")) {
                ++*count;
                const char *ref = json_string_value(v);
                if (!ref || strncmp(ref, "#/", 2)) {
                    bad++;
                    continue;
                }
                json_t *at = root;
                char part[256];
                const char *p = ref + 2;
                while (at && *p) {
                    size_t n = strcspn(p, "/");
                    snprintf(part, sizeof part, "%.*s", (int)n, p);
                    at = json_object_get(at, part);
                    p += n + (p[n] == '/');
                }
                if (!at) {
                    printf("# unresolved %s\n", ref);
                    bad++;
                }
            } else {
                bad += bad_refs(root, v, count);
            }
        }
    } else if (json_is_array(node)) {
        for (size_t i = 0; i < json_array_size(node); i++)
            bad += bad_refs(root, json_array_get(node, i), count);
    }
    return bad;
}

static void test_docs(void) {
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_schema_t *s = thrift_load_string("store.thrift", docs_idl, strlen(docs_idl), NULL, &err);
    TAP_CHECK(s != NULL, "docs IDL loads (%s)", err.text);
    if (!s)
        return;

    char *text = thrift_gateway_schema_json(s, &err);
    json_t *sj = text ? json_loads(text, 0, NULL) : NULL;
    TAP_CHECK(sj != NULL, "/schema is JSON");
    json_t *store = json_array_get(json_object_get(sj, "services"), 1);
    TAP_STREQ(json_string_value(json_object_get(store, "name")), "Store", "second service is Store");
    TAP_STREQ(json_string_value(json_object_get(store, "extends")), "store.Base", "Store extends Base");
    json_t *methods = json_object_get(store, "methods");
    TAP_CHECK(json_array_size(methods) == 3 &&
                  !strcmp(json_string_value(json_object_get(json_array_get(methods, 2), "name")), "hello"),
              "inherited method listed after its own");
    json_t *put = json_array_get(methods, 0);
    TAP_STREQ(json_string_value(json_object_get(put, "doc")), "Puts it.", "method doc");
    json_t *arg0 = json_array_get(json_object_get(put, "args"), 0);
    TAP_STREQ(json_string_value(json_object_get(json_object_get(arg0, "type"), "ref")), "store.Outer",
              "struct argument refers to its definition");
    TAP_STREQ(json_string_value(json_object_get(json_object_get(json_array_get(json_object_get(put, "throws"), 0),
                                                              "type"), "ref")),
              "store.Nope", "throws listed");
    json_t *outer = json_object_get(json_object_get(sj, "structs"), "store.Outer");
    json_t *status_field = json_array_get(json_object_get(outer, "fields"), 3);
    TAP_STREQ(json_string_value(json_object_get(status_field, "default")), "GONE",
              "enum default as its name");
    TAP_STREQ(json_string_value(json_object_get(json_array_get(json_object_get(outer, "fields"), 1),
                                                "required")),
              "optional", "requiredness");
    TAP_CHECK(json_array_size(json_object_get(json_object_get(json_object_get(sj, "enums"), "store.Status"),
                                              "values")) == 2,
              "enum values listed");
    json_decref(sj);
    thrift_json_text_free(text);

    text = thrift_gateway_openapi_json(s, &err);
    json_t *oa = text ? json_loads(text, 0, NULL) : NULL;
    TAP_CHECK(oa && !strcmp(json_string_value(json_object_get(oa, "openapi")), "3.0.3"), "OpenAPI 3 document");
    json_t *paths = json_object_get(oa, "paths");
    TAP_CHECK(json_object_size(paths) == 4 && json_object_get(paths, "/Store/put") &&
                  json_object_get(paths, "/Store/hello") && json_object_get(paths, "/Base/hello"),
              "every method of every service is a path");
    json_t *put_op = json_object_get(json_object_get(paths, "/Store/put"), "post");
    TAP_STREQ(json_string_value(json_object_get(put_op, "operationId")), "Store_put", "operationId");
    json_t *ok = json_object_get(json_object_get(json_object_get(json_object_get(put_op, "responses"), "200"),
                                                 "content"), "application/json");
    TAP_CHECK(json_array_size(json_object_get(json_object_get(ok, "schema"), "oneOf")) == 2,
              "200 is the result or the declared exception");
    json_t *poke = json_object_get(json_object_get(paths, "/Store/poke"), "post");
    TAP_CHECK(json_object_get(json_object_get(poke, "responses"), "202") &&
                  !json_object_get(json_object_get(poke, "responses"), "200"),
              "oneway answers 202");
    json_t *schemas = json_object_get(json_object_get(oa, "components"), "schemas");
    json_t *props = json_object_get(json_object_get(schemas, "store.Outer"), "properties");
    json_t *id = json_object_get(props, "id");
    TAP_CHECK(!strcmp(json_string_value(json_object_get(id, "type")), "integer") &&
                  !strcmp(json_string_value(json_object_get(id, "format")), "int64"),
              "i64 is integer/int64");
    json_t *blob = json_object_get(props, "blob");
    TAP_CHECK(!strcmp(json_string_value(json_object_get(blob, "format")), "byte"), "binary is string/byte");
    json_t *want_required = json_pack("[s]", "id");
    TAP_CHECK(json_equal(json_object_get(json_object_get(schemas, "store.Outer"), "required"),
                         want_required),
              "required fields listed");
    json_decref(want_required);
    TAP_CHECK(json_object_get(json_object_get(schemas, "store.Choice"), "maxProperties") != NULL,
              "a union takes one property");
    TAP_CHECK(json_is_true(json_object_get(json_object_get(props, "tags"), "uniqueItems")),
              "a set is an array of unique items");
    TAP_CHECK(json_integer_value(json_object_get(json_object_get(props, "count"), "default")) == 7,
              "defaults carried");
    int refs = 0;
    int bad = bad_refs(oa, oa, &refs);
    TAP_CHECK(bad == 0 && refs > 10, "every $ref resolves (%d refs, %d unresolved)", refs, bad);
    json_decref(oa);
    thrift_json_text_free(text);
    thrift_schema_unref(s);
}

/* ---- whole calls, in process ------------------------------------------------- */

typedef struct answer {
    bool done;
    int status;
    char body[512];
    char exception[64];
    char headers[256]; /* "key=value;" per reply info header */
} answer_t;

static void answer_cb(const thrift_gateway_response_t *resp, void *ud) {
    answer_t *a = ud;
    a->done = true;
    a->status = resp->status;
    snprintf(a->body, sizeof a->body, "%.*s", (int)resp->body_len, (const char *)resp->body);
    snprintf(a->exception, sizeof a->exception, "%s", resp->exception ? resp->exception : "");
    a->headers[0] = 0;
    for (size_t i = 0; i < resp->header_count; i++) {
        size_t n = strlen(a->headers);
        snprintf(a->headers + n, sizeof a->headers - n, "%s=%s;", resp->headers[i].key,
                 resp->headers[i].value);
    }
}

/* One request; waits for the answer when it comes later. */
static answer_t request(struct ev_loop *loop, thrift_gateway_t *gw, const char *method,
                        const char *path, const char *body, uint32_t timeout_ms) {
    answer_t a = {0};
    thrift_gateway_response_t now;
    if (thrift_gateway_handle(gw, method, path, (const uint8_t *)body, body ? strlen(body) : 0,
                              timeout_ms, &now, answer_cb, &a)) {
        answer_cb(&now, &a);
        a.done = true;
        return a;
    }
    run_until(loop, &a.done, 10);
    return a;
}

static int closed_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);
    return ntohs(sa.sin_port);
}

static void test_calls(thrift_schema_t *s) {
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    thrift_rpc_server_t *srv = fixture_server(loop, s, NULL, NULL);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", thrift_rpc_server_port(srv));
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_gateway_t *gw = thrift_gateway_new(loop, s, addr, NULL, &err);
    TAP_CHECK(gw != NULL, "gateway made (%s)", err.text);

    answer_t a = request(loop, gw, "POST", "/Calc/add", "{\"a\": 2, \"b\": 40}", 0);
    TAP_CHECK(a.status == 200, "POST /Calc/add: 200");
    TAP_STREQ(a.body, "{\"result\":42}", "2 + 40 = 42");

    a = request(loop, gw, "POST", "/Calc/add?x=1", "[1, 9007199254740992]", 0);
    TAP_STREQ(a.body, "{\"result\":9007199254740993}", "by position, i64 exact, query ignored");

    a = request(loop, gw, "POST", "/Calc/ping", "", 0);
    TAP_STREQ(a.body, "{\"result\":\"pong\"}", "empty body, no arguments");

    a = request(loop, gw, "POST", "/Calc/nothing", NULL, 0);
    TAP_CHECK(a.status == 200 && !strcmp(a.body, "{\"result\":null}"), "void method: result null");

    a = request(loop, gw, "POST", "/Calc/fail", "{\"code\": 1}", 0);
    TAP_CHECK(a.status == 200 && !strcmp(a.exception, "BenchError"), "declared exception: 200, named");
    TAP_STREQ(a.body, "{\"exception\":\"BenchError\",\"value\":{\"code\":42,\"message\":\"bad\"}}",
              "declared exception body");

    a = request(loop, gw, "POST", "/Calc/fail", "{\"code\": 3}", 0);
    TAP_CHECK(a.status == 502 && strstr(a.body, "\"INTERNAL_ERROR\"") && strstr(a.body, "custom failure"),
              "TApplicationException: 502 with type and message (%s)", a.body);

    a = request(loop, gw, "POST", "/Calc/unimplemented", "{}", 0);
    TAP_CHECK(a.status == 502 && strstr(a.body, "\"UNKNOWN_METHOD\""),
              "method the server lacks: 502 UNKNOWN_METHOD (%s)", a.body);

    ev_tstamp t0 = ev_time();
    a = request(loop, gw, "POST", "/Calc/slow", "{\"ms\": 3000}", 150);
    double took = ev_time() - t0;
    TAP_CHECK(a.status == 504 && took < 1.5, "deadline 150 ms on a 3 s call: 504 after %.0f ms", took * 1000);

    int before = fired_total;
    a = request(loop, gw, "POST", "/Calc/fire", "{\"n\": 5}", 0);
    TAP_CHECK(a.status == 202 && !strcmp(a.body, "{}"), "oneway: 202");
    bool fired = false;
    for (int i = 0; i < 500 && !fired; i++) {
        ev_run(loop, EVRUN_NOWAIT);
        usleep(2000);
        fired = fired_total > before;
    }
    TAP_CHECK(fired && fire_last == 5, "oneway call reached the server");

    a = request(loop, gw, "POST", "/Calc/add", "{\"a\": \"x\"}", 0);
    TAP_CHECK(a.status == 400 && strstr(a.body, "\"path\""), "bad argument: 400 with a path (%s)", a.body);
    a = request(loop, gw, "POST", "/Calc/add", "{\"a\": 1,", 0);
    TAP_CHECK(a.status == 400 && strstr(a.body, "\"line\":1"), "bad JSON: 400 with line (%s)", a.body);
    a = request(loop, gw, "POST", "/Calc/nope", "{}", 0);
    TAP_CHECK(a.status == 404, "unknown method: 404");
    a = request(loop, gw, "POST", "/Nope/add", "{}", 0);
    TAP_CHECK(a.status == 404, "unknown service: 404");
    a = request(loop, gw, "GET", "/Calc/add", NULL, 0);
    TAP_CHECK(a.status == 405, "GET on a method: 405");
    a = request(loop, gw, "GET", "/elsewhere", NULL, 0);
    TAP_CHECK(a.status == 404, "other path: 404");
    a = request(loop, gw, "POST", "/Other/hello", "{\"name\": \"gw\"}", 0);
    TAP_STREQ(a.body, "{\"result\":\"hello gw\"}", "second service on its own upstream connection");

    thrift_gateway_response_t now;
    int at_once = thrift_gateway_handle(gw, "GET", "/schema", NULL, 0, 0, &now, NULL, NULL);
    TAP_CHECK(at_once == 1 && now.status == 200 && now.body_len > 100 && now.body[0] == '{',
              "GET /schema answered at once");
    at_once = thrift_gateway_handle(gw, "GET", "/openapi.json", NULL, 0, 0, &now, NULL, NULL);
    TAP_CHECK(at_once == 1 && now.status == 200 && memmem(now.body, now.body_len, "\"/Calc/add\"", 11),
              "GET /openapi.json answered at once");

    // Many requests in flight on one upstream connection.
    enum { N = 64 };
    static answer_t many[N];
    char bodies[N][48];
    for (int i = 0; i < N; i++) {
        memset(&many[i], 0, sizeof many[i]);
        snprintf(bodies[i], sizeof bodies[i], "{\"a\": %d, \"b\": 1000}", i);
        thrift_gateway_handle(gw, "POST", "/Calc/add", (const uint8_t *)bodies[i], strlen(bodies[i]), 0,
                              &now, answer_cb, &many[i]);
    }
    TAP_CHECK(thrift_gateway_pending(gw) == N, "%d calls in flight at once", N);
    bool all = false;
    while (!all) {
        ev_run(loop, EVRUN_ONCE);
        all = true;
        for (int i = 0; i < N; i++)
            all = all && many[i].done;
    }
    int right = 0;
    for (int i = 0; i < N; i++) {
        char want[48];
        snprintf(want, sizeof want, "{\"result\":%d}", 1000 + i);
        right += many[i].status == 200 && !strcmp(many[i].body, want);
    }
    TAP_CHECK(right == N && thrift_gateway_pending(gw) == 0, "all %d answered right (%d)", N, right);

    // Freeing the gateway with a call in flight answers it 503 at once.
    answer_t held = {0};
    thrift_gateway_handle(gw, "POST", "/Calc/slow", (const uint8_t *)"{\"ms\": 3000}", 12, 0, &now,
                          answer_cb, &held);
    thrift_gateway_free(gw);
    TAP_CHECK(held.done && held.status == 503, "free answers the call in flight with 503 (%d)", held.status);

    // An upstream nobody listens on.
    snprintf(addr, sizeof addr, "127.0.0.1:%d", closed_port());
    gw = thrift_gateway_new(loop, s, addr, NULL, &err);
    a = request(loop, gw, "POST", "/Calc/add", "{\"a\": 1, \"b\": 2}", 0);
    TAP_CHECK(a.status == 503 && strstr(a.body, "connect"), "unreachable upstream: 503 (%s)", a.body);
    thrift_gateway_free(gw);

    thrift_error_clear(&err);
    TAP_CHECK(thrift_gateway_new(loop, s, "no-port-here", NULL, &err) == NULL && err.code,
              "malformed upstream address refused at once (%s)", err.text);

    fixture_flush_later();
    thrift_rpc_server_free(srv);
    ev_loop_destroy(loop);
}

/* http.c's any-method request reader, without sockets: every prefix of a
 * pipelined stream is "need more", the whole of it gives each request. */
static void test_http_reader(void) {
    static const char stream[] =
        "GET /schema?x=1 HTTP/1.1\r\nHost: a\r\nX-Request-Timeout-Ms:  250 \r\n\r\n"
        "POST /Calc/add HTTP/1.1\r\nContent-Length: 7\r\nOrigin: http://o\r\n\r\n[2, 40]"
        "OPTIONS /Calc/add HTTP/1.1\r\nConnection: close\r\n\r\n";
    size_t total = sizeof stream - 1;
    int prefixes_ok = 0;
    for (size_t cut = 0; cut < 60; cut++) {
        thrift__wire_reader_t r;
        thrift__wire_reader_init(&r, THRIFT_PROTO_BINARY, THRIFT_FRAMING_BUFFERED, 1000);
        r.http.role = THRIFT__HTTP_SERVER_ANY;
        thrift__wire_feed(&r, stream, cut);
        const uint8_t *m;
        size_t len;
        thrift_error_t err;
        thrift_error_clear(&err);
        prefixes_ok += thrift__wire_next(&r, &m, &len, &err) == THRIFT_NEED_MORE;
        thrift__wire_reader_free(&r);
    }
    TAP_CHECK(prefixes_ok == 60, "every prefix of a request head is need-more (%d/60)", prefixes_ok);

    thrift__wire_reader_t r;
    thrift__wire_reader_init(&r, THRIFT_PROTO_BINARY, THRIFT_FRAMING_BUFFERED, 1000);
    r.http.role = THRIFT__HTTP_SERVER_ANY;
    thrift__wire_feed(&r, stream, total);
    const uint8_t *m;
    size_t len, vlen = 0;
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_status_t st = thrift__wire_next(&r, &m, &len, &err);
    const char *v = thrift__http_header(&r.http, "x-request-timeout-ms", &vlen);
    TAP_CHECK(st == THRIFT_OK && len == 0 && r.http.method_len == 3 &&
                  !strncmp(r.http.method, "GET", 3) && r.http.target_len == 11 &&
                  !strncmp(r.http.target, "/schema?x=1", 11) && v && vlen == 3 && !strncmp(v, "250", 3),
              "GET without a body handed out with its target and a header (trimmed)");
    st = thrift__wire_next(&r, &m, &len, &err);
    v = thrift__http_header(&r.http, "Origin", &vlen);
    TAP_CHECK(st == THRIFT_OK && len == 7 && !memcmp(m, "[2, 40]", 7) && r.http.method_len == 4 &&
                  v && vlen == 8 && !thrift__http_header(&r.http, "X-Request-Timeout-Ms", &vlen),
              "pipelined POST with its body; headers are the request's own");
    st = thrift__wire_next(&r, &m, &len, &err);
    TAP_CHECK(st == THRIFT_OK && r.http.method_len == 7 && !r.http.keep_alive,
              "OPTIONS handed out (not answered by the reader), Connection: close seen");
    TAP_CHECK(thrift__wire_next(&r, &m, &len, &err) == THRIFT_NEED_MORE, "then need-more");
    thrift__wire_reader_free(&r);

    static const struct {
        const char *text;
        int status;
    } bad[] = {
        {"get / HTTP/1.1\r\n\r\n", 400},
        {"GET / HTTP/2.0\r\n\r\n", 400},
        {"GET noslash HTTP/1.1\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", 413},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
        {"\x16\x03\x01\x02", 400},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        thrift__wire_reader_init(&r, THRIFT_PROTO_BINARY, THRIFT_FRAMING_BUFFERED, 1000);
        r.http.role = THRIFT__HTTP_SERVER_ANY;
        thrift__wire_feed(&r, bad[i].text, strlen(bad[i].text));
        thrift_error_clear(&err);
        st = thrift__wire_next(&r, &m, &len, &err);
        TAP_CHECK(st != THRIFT_OK && st != THRIFT_NEED_MORE && r.http.status == bad[i].status,
                  "bad request %zu -> %d (%s)", i, bad[i].status, err.text);
        thrift__wire_reader_free(&r);
    }
}

/* THeader info headers through the gateway, both ways. */
static thrift_status_t h_hello_headers(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)args;
    (void)ud;
    const char *trace = thrift_request_header(req, "Trace");
    thrift_request_set_reply_header(req, "Trace-Back", trace ? trace : "(none)");
    return thrift_reply(req, thrift_value_new_string(thrift_request_arena(req), "hi", 2));
}

static void test_info_headers(thrift_schema_t *s) {
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    thrift_conn_options_t *o = thrift_conn_options_new();
    thrift_conn_options_set_framing(o, THRIFT_FRAMING_HEADER);
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_rpc_server_t *srv = thrift_rpc_server_new(loop, s, o, &err);
    thrift_rpc_server_handle(srv, "Other", "hello", h_hello_headers, NULL, &err);
    thrift_rpc_server_listen(srv, "127.0.0.1:0", &err);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", thrift_rpc_server_port(srv));
    thrift_gateway_t *gw = thrift_gateway_new(loop, s, addr, o, &err);
    thrift_gateway_header_t in[] = {{"Trace", "abc-123"}, {"Bad", "line\r\nInjected: 1"}};
    answer_t a = {0};
    thrift_gateway_response_t now;
    int at_once = thrift_gateway_handle_ex(gw, "POST", "/Other/hello", (const uint8_t *)"{}", 2, 0,
                                           in, 2, &now, answer_cb, &a);
    TAP_CHECK(at_once == 0, "THeader call in flight");
    run_until(loop, &a.done, 10);
    TAP_STREQ(a.body, "{\"result\":\"hi\"}", "THeader upstream answers through the gateway");
    TAP_STREQ(a.headers, "Trace-Back=abc-123;",
              "a request info header reaches the server; the reply's come back");

    // Without info headers the server sees none.
    memset(&a, 0, sizeof a);
    thrift_gateway_handle(gw, "POST", "/Other/hello", (const uint8_t *)"{}", 2, 0, &now, answer_cb, &a);
    run_until(loop, &a.done, 10);
    TAP_STREQ(a.headers, "Trace-Back=(none);", "info headers go with one call only");
    thrift_gateway_free(gw);
    thrift_rpc_server_free(srv);
    thrift_conn_options_free(o);
    ev_loop_destroy(loop);
}

int main(void) {
    thrift_schema_t *s = fixture_schema();
    test_args(s);
    test_replies(s);
    test_http_reader();
    test_docs();
    test_calls(s);
    test_info_headers(s);
    thrift_schema_unref(s);
    return tap_done();
}
