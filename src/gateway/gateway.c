/* The JSON/HTTP gateway's request and reply mapping (see
 * dynthrift/gateway.h).  Requests go through the direct JSON scanner
 * (thrift_json_loads) and replies through the direct writer
 * (thrift_json_dump_buffer): no jansson tree on the call path.  The two
 * documents (/schema, /openapi.json) are built once, with jansson, in
 * docs.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "dynthrift/gateway.h"
#include "dynthrift/json.h"
#include "dynthrift/pool.h"
#include "net/net_impl.h"
#include "proto/proto_impl.h"


static const char json_type[] = "application/json";

/* Info headers passed each way per call, at most. */
#define THRIFT_GATEWAY_MAX_HEADERS 32

/* Header text that can go into an HTTP head or a THeader as it is. */
static bool header_text_ok(const char *s) {
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

typedef struct upstream {
    const thrift_service_def_t *svc;
    thrift_conn_t *conn;        /* owned; NULL when the service has a cluster */
    thrift_cluster_t *cluster;  /* borrowed (thrift_gateway_set_cluster), or NULL */
} upstream_t;

struct thrift_gateway {
    struct ev_loop *loop;
    thrift_schema_t *schema;
    char *address; /* NULL: every service through a cluster */
    thrift_conn_options_t *opts;
    upstream_t *upstreams; /* one per service, made on first use */
    size_t upstream_count, upstream_cap;
    char *schema_doc, *openapi_doc;
    thrift_buffer_t *out;       /* answers given at once */
    thrift_buffer_t *async_out; /* answers handed to callbacks */
    thrift_arena_t *arena;      /* a request's arguments, reset per request */
    size_t pending;
    /* A reply's info headers, handed to the callback (pointers into the
     * result, valid during it). */
    thrift_gateway_header_t reply_headers[THRIFT_GATEWAY_MAX_HEADERS];
};

/* One upstream call in flight. */
typedef struct gw_call {
    thrift_gateway_t *gw;
    const thrift_function_def_t *fn;
    thrift_gateway_cb cb;
    void *ud;
} gw_call_t;

/* ---- JSON text helpers ---------------------------------------------------- */

static void put(thrift_buffer_t *b, const char *s) { thrift_buffer_append(b, s, strlen(s)); }

/* A JSON string of arbitrary bytes: invalid UTF-8 and control characters
 * are escaped or replaced, so an error message always makes valid JSON. */
static void put_string(thrift_buffer_t *b, const char *s) {
    put(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            thrift_buffer_append(b, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            put(b, esc);
        } else if (*p < 0x80) {
            thrift_buffer_append(b, p, 1);
        } else {
            size_t n = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : *p >= 0xc0 ? 2 : 0;
            bool ok = n > 0 && *p < 0xf5;
            for (size_t i = 1; ok && i < n; i++)
                ok = (p[i] & 0xc0) == 0x80;
            if (ok && thrift__utf8_valid(p, n)) {
                thrift_buffer_append(b, p, n);
                p += n - 1;
            } else {
                put(b, "\\ufffd");
            }
        }
    }
    put(b, "\"");
}

static void put_int(thrift_buffer_t *b, long long i) {
    char num[24];
    snprintf(num, sizeof num, "%lld", i);
    put(b, num);
}

/* ---- errors ---------------------------------------------------------------- */

static int http_status_of(thrift_status_t status, const thrift_error_t *err) {
    switch (status) {
    case THRIFT_OK:
        return 200;
    case THRIFT_SYNTAX:
    case THRIFT_TYPE:
    case THRIFT_RANGE:
    case THRIFT_MISSING:
    case THRIFT_UNKNOWN_FIELD:
    case THRIFT_INVALID:
    case THRIFT_LIMIT:
        return 400;
    case THRIFT_NOT_FOUND:
        return 404;
    case THRIFT_MISUSE:
        return 405;
    case THRIFT_TIMEOUT:
        // A connect that timed out is an unreachable upstream, not a slow one.
        if (err && !strncmp(err->text, "connect to ", 11))
            return 503;
        return 504;
    case THRIFT_TRANSPORT:
    case THRIFT_CLOSED:
        return 503;
    case THRIFT_NOMEM:
        return 500;
    case THRIFT_APP_EXCEPTION:
    case THRIFT_PROTOCOL:
    default:
        return 502;
    }
}

int thrift_gateway_error_json(thrift_status_t status, const thrift_error_t *err,
                              thrift_buffer_t *out) {
    put(out, "{\"error\":{\"status\":");
    put_string(out, thrift_status_name(status));
    put(out, ",\"message\":");
    put_string(out, err && err->text[0] ? err->text : thrift_status_str(status));
    if (err && err->path[0]) {
        put(out, ",\"path\":");
        put_string(out, err->path);
    }
    if (err && err->line > 0) {
        put(out, ",\"line\":");
        put_int(out, err->line);
        put(out, ",\"column\":");
        put_int(out, err->column);
    }
    put(out, "}}");
    return http_status_of(status, err);
}

/* ---- requests --------------------------------------------------------------- */

static bool blank_body(const char *s, size_t len) {
    size_t i = 0;
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    if (i == len)
        return true;
    // "null" alone means no arguments too, as the connection layer reads it.
    if (len - i >= 4 && !memcmp(s + i, "null", 4)) {
        for (i += 4; i < len; i++)
            if (!(s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
                return false;
        return true;
    }
    return false;
}

thrift_value_t *thrift_gateway_args_from_json(const thrift_function_def_t *fn,
                                              thrift_arena_t *arena, const char *body,
                                              size_t len, thrift_error_t *err) {
    const thrift_struct_def_t *ad = thrift_function_def_args(fn);
    if (!body || blank_body(body, len)) {
        thrift_value_t *v = thrift_value_new_struct(arena, ad);
        if (!v)
            thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        return v;
    }
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r'))
        i++;
    if (body[i] == '[') {
        // By position: rare and small, so the tree path (which copies the
        // text to NUL-terminate it) is fine here.
        char *text = malloc(len + 1);
        if (!text) {
            thrift__error_set(err, THRIFT_NOMEM, "out of memory");
            return NULL;
        }
        memcpy(text, body, len);
        text[len] = 0;
        if (memchr(body, 0, len)) {
            free(text);
            thrift__error_set(err, THRIFT_SYNTAX, "NUL byte in the body");
            return NULL;
        }
        thrift_value_t *v = thrift__args_from_json(fn, arena, text, err);
        free(text);
        return v;
    }
    if (body[i] != '{') {
        // Let the scanner say what is wrong with a bad text; a valid scalar
        // gets a message naming the two accepted forms.
        thrift_error_t serr;
        thrift_error_clear(&serr);
        if (!thrift_json_loads(arena, thrift_struct_def_type(ad), body, len, 0, &serr) &&
            serr.code == THRIFT_SYNTAX) {
            if (err)
                *err = serr;
            return NULL;
        }
        thrift__error_set(err, THRIFT_TYPE,
                          "%s: arguments must be a JSON object (by name) or array (by position)",
                          thrift_function_def_name(fn));
        return NULL;
    }
    return thrift_json_loads(arena, thrift_struct_def_type(ad), body, len, 0, err);
}

/* ---- replies ------------------------------------------------------------------ */

int thrift_gateway_reply_json(const thrift_function_def_t *fn, thrift_status_t status,
                              const thrift_value_t *value, const char *exception_name,
                              int app_type, const thrift_error_t *err, thrift_buffer_t *out,
                              thrift_error_t *werr) {
    size_t mark = thrift_buffer_len(out);
    if (status == THRIFT_OK && fn && thrift_function_def_is_oneway(fn)) {
        put(out, "{}");
        return 202;
    }
    if (status == THRIFT_OK) {
        put(out, "{\"result\":");
        if (!value || thrift_value_kind(value) == THRIFT_KIND_VOID) {
            put(out, "null");
        } else if (thrift_json_dump_buffer(value, 0, out, werr)) {
            out->buf.len = mark;
            return 0;
        }
        put(out, "}");
        return 200;
    }
    if (status == THRIFT_DECLARED_EXCEPTION && value) {
        put(out, "{\"exception\":");
        put_string(out, exception_name ? exception_name
                                       : thrift_struct_def_name(thrift_value_struct_def(value)));
        put(out, ",\"value\":");
        if (thrift_json_dump_buffer(value, 0, out, werr)) {
            out->buf.len = mark;
            return 0;
        }
        put(out, "}");
        return 200;
    }
    if (status == THRIFT_APP_EXCEPTION) {
        const char *tname = thrift_app_exception_type_name(app_type);
        put(out, "{\"error\":{\"status\":");
        put_string(out, thrift_status_name(THRIFT_APP_EXCEPTION));
        put(out, ",\"type\":");
        put_string(out, tname ? tname : "UNKNOWN");
        put(out, ",\"type_id\":");
        put_int(out, app_type);
        put(out, ",\"message\":");
        // The message as the server sent it, without the rendering prefix.
        const char *msg = err ? err->text : "";
        put_string(out, msg);
        put(out, "}}");
        return 502;
    }
    return thrift_gateway_error_json(status, err, out);
}

/* ---- the gateway ----------------------------------------------------------- */

thrift_gateway_t *thrift_gateway_new(struct ev_loop *loop, thrift_schema_t *schema,
                                     const char *upstream, const thrift_conn_options_t *opts,
                                     thrift_error_t *err) {
    if (!loop || !schema) {
        thrift__error_set(err, THRIFT_MISUSE, "gateway: loop and schema are required");
        return NULL;
    }
    thrift_gateway_t *gw = calloc(1, sizeof *gw);
    if (!gw) {
        thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        return NULL;
    }
    gw->loop = loop;
    gw->schema = thrift_schema_ref(schema);
    gw->address = upstream ? strdup(upstream) : NULL;
    gw->opts = thrift_conn_options_new();
    gw->out = thrift_buffer_new();
    gw->async_out = thrift_buffer_new();
    gw->arena = thrift_arena_new(NULL);
    if (gw->opts && opts)
        *gw->opts = *opts;
    if ((upstream && !gw->address) || !gw->opts || !gw->out || !gw->async_out || !gw->arena) {
        thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        thrift_gateway_free(gw);
        return NULL;
    }
    gw->schema_doc = thrift_gateway_schema_json(schema, err);
    gw->openapi_doc = gw->schema_doc ? thrift_gateway_openapi_json(schema, err) : NULL;
    if (!gw->openapi_doc) {
        thrift_gateway_free(gw);
        return NULL;
    }
    // Check the address now (thrift_conn_new parses it without connecting),
    // so a typo fails at start-up rather than as 503s.
    const thrift_module_def_t *m = thrift_schema_main_module(schema);
    if (upstream && thrift_module_def_service_count(m) > 0) {
        thrift_conn_t *probe = thrift_conn_new(loop, schema,
                                               thrift_service_def_name(thrift_module_def_service_at(m, 0)),
                                               upstream, gw->opts, err);
        if (!probe) {
            thrift_gateway_free(gw);
            return NULL;
        }
        thrift_conn_free(probe);
    }
    return gw;
}

void thrift_gateway_free(thrift_gateway_t *gw) {
    if (!gw)
        return;
    // Freeing a connection fails its calls (503 to their callbacks) now.
    for (size_t i = 0; i < gw->upstream_count; i++)
        thrift_conn_free(gw->upstreams[i].conn);
    free(gw->upstreams);
    thrift_json_text_free(gw->schema_doc);
    thrift_json_text_free(gw->openapi_doc);
    thrift_buffer_free(gw->out);
    thrift_buffer_free(gw->async_out);
    thrift_arena_free(gw->arena);
    thrift_conn_options_free(gw->opts);
    free(gw->address);
    thrift_schema_unref(gw->schema);
    free(gw);
}

size_t thrift_gateway_pending(const thrift_gateway_t *gw) { return gw ? gw->pending : 0; }

/* The upstream slot of `svc`, added when missing (conn and cluster NULL). */
static upstream_t *upstream_slot(thrift_gateway_t *gw, const thrift_service_def_t *svc,
                                 thrift_error_t *err) {
    for (size_t i = 0; i < gw->upstream_count; i++)
        if (gw->upstreams[i].svc == svc)
            return &gw->upstreams[i];
    if (gw->upstream_count == gw->upstream_cap) {
        size_t cap = gw->upstream_cap ? gw->upstream_cap * 2 : 4;
        upstream_t *u = realloc(gw->upstreams, cap * sizeof *u);
        if (!u) {
            thrift__error_set(err, THRIFT_NOMEM, "out of memory");
            return NULL;
        }
        gw->upstreams = u;
        gw->upstream_cap = cap;
    }
    upstream_t *u = &gw->upstreams[gw->upstream_count++];
    *u = (upstream_t){svc, NULL, NULL};
    return u;
}

/* The upstream of `svc`: its cluster, or its connection (made on first
 * use). */
static upstream_t *upstream_for(thrift_gateway_t *gw, const thrift_service_def_t *svc,
                                thrift_error_t *err) {
    upstream_t *u = upstream_slot(gw, svc, err);
    if (!u || u->cluster || u->conn)
        return u;
    if (!gw->address) {
        thrift__error_set(err, THRIFT_TRANSPORT, "no upstream for service %s",
                          thrift_service_def_name(svc));
        return NULL;
    }
    u->conn = thrift_conn_new(gw->loop, gw->schema, thrift_service_def_full_name(svc),
                              gw->address, gw->opts, err);
    return u->conn ? u : NULL;
}

thrift_status_t thrift_gateway_set_cluster(thrift_gateway_t *gw, const char *service,
                                           thrift_cluster_t *cluster, thrift_error_t *err) {
    if (!gw || !service || !cluster)
        return thrift__error_set(err, THRIFT_MISUSE, "gateway, service and cluster are required");
    const thrift_service_def_t *svc = thrift_schema_find_service(gw->schema, service);
    if (!svc)
        return thrift__error_set(err, THRIFT_NOT_FOUND, "unknown service '%s'", service);
    upstream_t *u = upstream_slot(gw, svc, err);
    if (!u)
        return THRIFT_NOMEM;
    if (u->conn || u->cluster)
        return thrift__error_set(err, THRIFT_MISUSE, "service %s already has its upstream",
                                 service);
    u->cluster = cluster;
    return THRIFT_OK;
}

static int answer_now(thrift_gateway_t *gw, thrift_gateway_response_t *resp, int status,
                      const char *exception) {
    memset(resp, 0, sizeof *resp);
    resp->status = status;
    resp->content_type = json_type;
    resp->exception = exception;
    resp->body = thrift_buffer_data(gw->out);
    resp->body_len = thrift_buffer_len(gw->out);
    return 1;
}

static int answer_error(thrift_gateway_t *gw, thrift_gateway_response_t *resp,
                        thrift_status_t status, const thrift_error_t *err) {
    thrift_buffer_clear(gw->out);
    int http = thrift_gateway_error_json(status, err, gw->out);
    return answer_now(gw, resp, http, NULL);
}

/* Keeps one of the reply's info headers in gw->reply_headers (the first
 * `nh` are taken) when it can go out as an HTTP header; returns the count. */
static size_t keep_reply_header(thrift_gateway_t *gw, size_t nh, const char *k, const char *v) {
    if (nh < THRIFT_GATEWAY_MAX_HEADERS && header_text_ok(k) && header_text_ok(v) &&
        !strchr(k, ':'))
        gw->reply_headers[nh++] = (thrift_gateway_header_t){k, v};
    return nh;
}

/* Answers a finished call (either path) through its callback, with the
 * first `nh` reply info headers of gw->reply_headers. */
static void finish_call(gw_call_t *call, thrift_status_t st, const thrift_value_t *value,
                        const char *exception_name, int app_type, const thrift_error_t *rerr,
                        size_t nh) {
    thrift_gateway_t *gw = call->gw;
    gw->pending--;
    thrift_buffer_t *out = gw->async_out;
    thrift_buffer_clear(out);
    thrift_error_t werr;
    thrift_error_clear(&werr);
    int http = thrift_gateway_reply_json(call->fn, st, value, exception_name, app_type, rerr, out,
                                         &werr);
    if (!http)
        http = thrift_gateway_error_json(werr.code ? werr.code : THRIFT_INVALID, &werr, out);
    thrift_gateway_response_t resp = {
        .status = http,
        .content_type = json_type,
        .exception = st == THRIFT_DECLARED_EXCEPTION ? exception_name : NULL,
        .body = thrift_buffer_data(out),
        .body_len = thrift_buffer_len(out),
        .headers = gw->reply_headers,
        .header_count = nh,
    };
    thrift_gateway_cb cb = call->cb;
    void *cb_ud = call->ud;
    free(call);
    if (cb)
        cb(&resp, cb_ud);
}

static void call_done(thrift_conn_t *conn, thrift_result_t *r, void *ud) {
    (void)conn;
    gw_call_t *call = ud;
    size_t nh = 0;
    const char *k, *v;
    for (size_t i = 0; thrift_result_header_at(r, i, &k, &v); i++)
        nh = keep_reply_header(call->gw, nh, k, v);
    finish_call(call, thrift_result_status(r), thrift_result_value(r),
                thrift_result_exception_name(r), thrift_result_app_type(r),
                thrift_result_error(r), nh);
}

/* A cluster with no server up answers THRIFT_NOT_FOUND: for the gateway
 * that is an unreachable upstream (503), not an unknown path (404). */
static thrift_status_t cluster_status(thrift_status_t st) {
    return st == THRIFT_NOT_FOUND ? THRIFT_TRANSPORT : st;
}

static void cluster_call_done(thrift_cluster_t *cluster, thrift_response_t *r, void *ud) {
    (void)cluster;
    gw_call_t *call = ud;
    size_t nh = 0;
    const char *k, *v;
    for (size_t i = 0; thrift_response_header_at(r, i, &k, &v); i++)
        nh = keep_reply_header(call->gw, nh, k, v);
    finish_call(call, cluster_status(thrift_response_status(r)), thrift_response_value(r),
                thrift_response_exception_name(r), thrift_response_app_type(r),
                thrift_response_error(r), nh);
}

/* "/Service/method?x" -> the two names (without the query). */
static bool split_path(const char *path, const char **svc, size_t *svc_len, const char **method,
                       size_t *method_len) {
    if (path[0] != '/')
        return false;
    const char *s = path + 1;
    const char *slash = strchr(s, '/');
    if (!slash || slash == s)
        return false;
    const char *m = slash + 1;
    size_t mlen = strcspn(m, "?#/");
    if (mlen == 0 || (m[mlen] && m[mlen] != '?' && m[mlen] != '#'))
        return false;
    *svc = s;
    *svc_len = (size_t)(slash - s);
    *method = m;
    *method_len = mlen;
    return true;
}

static bool path_is(const char *path, const char *want) {
    size_t n = strlen(want);
    return !strncmp(path, want, n) && (path[n] == 0 || path[n] == '?' || path[n] == '#');
}

int thrift_gateway_handle(thrift_gateway_t *gw, const char *method, const char *path,
                          const uint8_t *body, size_t len, uint32_t timeout_ms,
                          thrift_gateway_response_t *resp, thrift_gateway_cb cb, void *ud) {
    return thrift_gateway_handle_ex(gw, method, path, body, len, timeout_ms, NULL, 0, resp, cb, ud);
}

int thrift_gateway_handle_ex(thrift_gateway_t *gw, const char *method, const char *path,
                             const uint8_t *body, size_t len, uint32_t timeout_ms,
                             const thrift_gateway_header_t *headers, size_t count,
                             thrift_gateway_response_t *resp, thrift_gateway_cb cb, void *ud) {
    thrift_error_t err;
    thrift_error_clear(&err);
    bool is_get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    if (path_is(path, "/schema") || path_is(path, "/openapi.json")) {
        if (!is_get) {
            thrift__error_set(&err, THRIFT_MISUSE, "%s takes GET, not %s", path, method);
            return answer_error(gw, resp, THRIFT_MISUSE, &err);
        }
        const char *doc = path_is(path, "/schema") ? gw->schema_doc : gw->openapi_doc;
        thrift_buffer_clear(gw->out);
        thrift_buffer_append(gw->out, doc, strlen(doc));
        return answer_now(gw, resp, 200, NULL);
    }
    const char *sname, *mname;
    size_t slen, mlen;
    if (!split_path(path, &sname, &slen, &mname, &mlen)) {
        thrift__error_set(&err, THRIFT_NOT_FOUND,
                          "no such path: use POST /SERVICE/METHOD, GET /schema or "
                          "GET /openapi.json");
        return answer_error(gw, resp, THRIFT_NOT_FOUND, &err);
    }
    char svc_name[256];
    if (slen >= sizeof svc_name) {
        thrift__error_set(&err, THRIFT_NOT_FOUND, "unknown service");
        return answer_error(gw, resp, THRIFT_NOT_FOUND, &err);
    }
    memcpy(svc_name, sname, slen);
    svc_name[slen] = 0;
    const thrift_service_def_t *svc = thrift_schema_find_service(gw->schema, svc_name);
    if (!svc) {
        thrift__error_set(&err, THRIFT_NOT_FOUND, "unknown service '%s'", svc_name);
        return answer_error(gw, resp, THRIFT_NOT_FOUND, &err);
    }
    const thrift_function_def_t *fn = thrift_service_def_find_function_n(svc, mname, mlen);
    if (!fn) {
        thrift__error_set(&err, THRIFT_NOT_FOUND, "service %s has no method '%.*s'", svc_name,
                          (int)mlen, mname);
        return answer_error(gw, resp, THRIFT_NOT_FOUND, &err);
    }
    if (strcmp(method, "POST") != 0) {
        thrift__error_set(&err, THRIFT_MISUSE, "%s.%s takes POST, not %s", svc_name,
                          thrift_function_def_name(fn), method);
        return answer_error(gw, resp, THRIFT_MISUSE, &err);
    }
    thrift_arena_reset(gw->arena);
    thrift_value_t *args =
        thrift_gateway_args_from_json(fn, gw->arena, (const char *)body, len, &err);
    if (!args)
        return answer_error(gw, resp, err.code ? err.code : THRIFT_INVALID, &err);
    upstream_t *up = upstream_for(gw, svc, &err);
    if (!up)
        return answer_error(gw, resp, err.code ? err.code : THRIFT_TRANSPORT, &err);
    gw_call_t *call = malloc(sizeof *call);
    if (!call) {
        thrift__error_set(&err, THRIFT_NOMEM, "out of memory");
        return answer_error(gw, resp, THRIFT_NOMEM, &err);
    }
    *call = (gw_call_t){gw, fn, cb, ud};
    if (up->cluster) {
        // Balanced by the cluster, with the request's deadline and info
        // headers as on a single connection.
        const char *pairs[2 * THRIFT_GATEWAY_MAX_HEADERS];
        size_t npairs = 0;
        for (size_t i = 0; i < count && i < THRIFT_GATEWAY_MAX_HEADERS; i++)
            if (header_text_ok(headers[i].key) && header_text_ok(headers[i].value)) {
                pairs[2 * npairs] = headers[i].key;
                pairs[2 * npairs + 1] = headers[i].value;
                npairs++;
            }
        gw->pending++;
        thrift_status_t st = thrift_cluster_call_async_ex(up->cluster, thrift_function_def_name(fn),
                                                          args, timeout_ms, pairs, npairs,
                                                          cluster_call_done, call, &err);
        if (st != THRIFT_OK) {
            gw->pending--;
            free(call);
            return answer_error(gw, resp, cluster_status(st), &err);
        }
        return 0;
    }
    thrift_conn_t *conn = up->conn;
    for (size_t i = 0; i < count && i < THRIFT_GATEWAY_MAX_HEADERS; i++)
        if (header_text_ok(headers[i].key) && header_text_ok(headers[i].value))
            (void)thrift_conn_set_call_header(conn, headers[i].key, headers[i].value);
    thrift_status_t st = thrift_call_async_ex(conn, thrift_function_def_name(fn), args, timeout_ms,
                                              call_done, call, &err);
    if (st != THRIFT_OK) {
        free(call);
        return answer_error(gw, resp, st, &err);
    }
    gw->pending++;
    return 0;
}
