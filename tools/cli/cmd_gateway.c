/* dynthrift gateway / ui: the JSON/HTTP gateway of dynthrift/gateway.h in
 * front of one upstream server or a cluster of them, plus the web UI
 * embedded in the binary.
 *
 * The routing and headers live here once (gw_answer), for every way a
 * request arrives: --request (one request given on the command line, the
 * body on stdin: scripts, tests, CGI-like use) and --listen (the transport
 * stack's HTTP server, when the build has it). */
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "cli_cluster.h"
#include "cli_net.h"
#include "cli_ui_assets.h"
#include "cli_util.h"
#include "dynthrift/gateway.h"
#include "net/http_server.h"

static const char gateway_usage[] =
    "usage: dynthrift gateway [-I DIR]... FILE --upstream ADDR --listen ADDR [options]\n"
    "       dynthrift gateway [-I DIR]... FILE --upstream ADDR --request METHOD PATH [--request-header 'K: V']...\n"
    "       dynthrift gateway [-I DIR]... FILE --openapi | --schema\n"
    "\n"
    "A JSON/HTTP gateway to the services of the .thrift FILE served at ADDR:\n"
    "  POST /SERVICE/METHOD   JSON body: arguments by name (object), by position\n"
    "                         (array) or none (empty)\n"
    "  GET /schema            services, methods, argument types and docs\n"
    "  GET /openapi.json      an OpenAPI 3 document of every method\n"
    "  GET /                  the web UI (pick a method, fill a form, send)\n"
    "Answers: 200 {\"result\": ...}; 200 {\"exception\": \"Name\", \"value\": {...}} for a\n"
    "declared exception (header X-Thrift-Exception: Name); 202 for oneway methods;\n"
    "400 bad JSON or arguments (the error names the value path); 404 unknown\n"
    "service or method; 502 TApplicationException (type, message); 503 upstream\n"
    "unreachable; 504 upstream deadline passed.\n"
    "\n"
    "options:\n"
    "  --upstream ADDR                the Thrift server (HOST:PORT, [V6]:PORT, unix:PATH)\n"
    "  --upstream A:1,B:2 | --upstream A:1 --upstream B:2\n"
    "                                 a cluster: calls spread over the servers; one that\n"
    "                                 fails a call (503) is left out for 1 s, doubling\n"
    "  --upstream zk://HOST:2181[,...]/PATH[#ENDPOINT]\n"
    "                                 the ALIVE members of a ZooKeeper ServerSet, followed\n"
    "  --balance round-robin|random|least|hash   how a cluster spreads calls (default\n"
    "                                 round-robin)\n"
    "  --hash-arg NAME                consistent hashing by the argument NAME\n"
    "  --framed | --buffered          upstream transport (default framed)\n"
    "  --protocol binary|compact|json upstream protocol (default binary)\n"
    "  --multiplex NAME               upstream TMultiplexedProtocol name\n"
    "  --timeout MS                   default deadline per call (default 5000); a request\n"
    "                                 may set its own with X-Request-Timeout-Ms (at most\n"
    "                                 600000)\n"
    "  --cors ORIGIN                  allow browser pages from ORIGIN ('*': any)\n"
    "  (with --header upstream: request headers Thrift-Header-KEY: VALUE go out as THeader\n"
    "   info headers KEY=VALUE, and the reply's come back the same way)\n"
    "  --listen ADDR                  serve HTTP/1.1 on ADDR (keep-alive, pipelining)\n"
    "  --listen https://HOST:PORT     serve HTTPS (TLS) with --listen-cert and --listen-key\n"
    "  --listen-cert FILE, --listen-key FILE   the listener's PEM certificate (chain) and\n"
    "                                 key (--cert, --key, --cacert are the upstream's)\n"
    "  --listen-cacert FILE           require client certificates signed by a CA of FILE\n"
    "  --max-body BYTES               largest request body (default 16384000: 413 above)\n"
    "  --client-timeout MS            a request must arrive within MS of its first\n"
    "                                 byte (default 10000: 408, then close)\n"
    "  --idle-timeout MS              close a keep-alive connection idle this long\n"
    "                                 (default 60000)\n"
    "  --max-connections N            close connections beyond N at once (0: no limit)\n"
    "  --request METHOD PATH          answer one request (body on stdin) and print the\n"
    "                                 HTTP response: status line, headers, body\n"
    "  --request-header 'Name: value' --request: a header of that request\n"
    "  --openapi, --schema            print the document and exit\n"
    "  -I DIR                         add an include directory\n";

static const char ui_usage[] =
    "usage: dynthrift ui [-I DIR]... FILE --upstream ADDR [gateway options]\n"
    "\n"
    "Starts the gateway (see dynthrift gateway --help) on a free port of 127.0.0.1\n"
    "and prints the URL of its web UI: pick a method, fill the form generated from\n"
    "the IDL, send, see the result with its timing.  Ctrl-C stops it.  With\n"
    "--listen-cert FILE --listen-key FILE (and --listen-cacert FILE to require\n"
    "client certificates) it serves https://127.0.0.1:PORT/ instead.\n";

enum { GW_DEFAULT_TIMEOUT_MS = 5000, GW_MAX_TIMEOUT_MS = 600000, GW_MAX_HEADERS = 64 };

typedef struct gw_header {
    const char *name, *value;
} gw_header_t;

typedef struct gw_cli {
    thrift_gateway_t *gw;
    const char *file, *upstream;
    const char *cors; /* allowed origin or "*", NULL: none */
    uint32_t default_timeout_ms;
    char *config_json; /* GET /ui/config.json */
} gw_cli_t;

/* What goes back: a status, a content type and a body, plus the headers
 * the CLI adds (CORS, the declared exception's name). */
typedef struct gw_reply {
    int status;
    const char *content_type;
    const uint8_t *body;
    size_t body_len;
    const char *exception;
    const char *allow_origin; /* NULL: no CORS header */
    const thrift_gateway_header_t *headers; /* THeader info headers of the reply */
    size_t header_count;
} gw_reply_t;

/* THeader info headers travel as HTTP headers named with this prefix, both
 * ways: "Thrift-Header-Trace: 1" <-> info header "Trace" = "1". */
#define GW_INFO_PREFIX "Thrift-Header-"
#define GW_MAX_INFO 32

static const char *header_get(const gw_header_t *h, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (!strcasecmp(h[i].name, name))
            return h[i].value;
    return NULL;
}

static const char *reason_phrase(int status) { return thrift__http_reason(status); }

/* The deadline of one request: X-Request-Timeout-Ms when given (and sane),
 * else the gateway's default. */
static uint32_t deadline_of(const gw_cli_t *g, const char *v) {
    unsigned long long ms;
    if (v && cli_parse_uint(v, GW_MAX_TIMEOUT_MS, &ms) && ms > 0)
        return (uint32_t)ms;
    return g->default_timeout_ms;
}

static uint32_t request_deadline(const gw_cli_t *g, const gw_header_t *h, size_t n) {
    return deadline_of(g, header_get(h, n, "X-Request-Timeout-Ms"));
}

static const char *origin_allowed(const gw_cli_t *g, const char *origin) {
    if (!g->cors || !origin)
        return NULL;
    if (!strcmp(g->cors, "*"))
        return "*";
    return !strcmp(g->cors, origin) ? g->cors : NULL;
}

static const char *allowed_origin(const gw_cli_t *g, const gw_header_t *h, size_t n) {
    return origin_allowed(g, header_get(h, n, "Origin"));
}

/* The headers the CLI adds to an answer ("Name: value\r\n" lines; those
 * that do not fit in `cap` are left out). */
static void extra_headers(const gw_reply_t *r, char *out, size_t cap) {
    size_t n = 0;
    out[0] = 0;
    int w;
    if (r->exception) {
        w = snprintf(out, cap, "X-Thrift-Exception: %s\r\n", r->exception);
        n = w > 0 && (size_t)w < cap ? (size_t)w : 0;
    }
    for (size_t i = 0; i < r->header_count; i++) {
        w = snprintf(out + n, cap - n, GW_INFO_PREFIX "%s: %s\r\n", r->headers[i].key,
                     r->headers[i].value);
        if (w > 0 && (size_t)w < cap - n)
            n += (size_t)w;
        else
            out[n] = 0;
    }
    if (r->allow_origin) {
        w = snprintf(out + n, cap - n,
                     "Access-Control-Allow-Origin: %s\r\nAccess-Control-Expose-Headers: "
                     "X-Thrift-Exception\r\nVary: Origin\r\n",
                     r->allow_origin);
        if (w < 0 || (size_t)w >= cap - n)
            out[n] = 0;
    }
}

/* The request's Thrift-Header-* headers as info headers (pointers into
 * `names`' storage and the values given); returns how many. */
static size_t info_headers_of(const gw_header_t *h, size_t n, thrift_gateway_header_t *out) {
    size_t k = 0, plen = strlen(GW_INFO_PREFIX);
    for (size_t i = 0; i < n && k < GW_MAX_INFO; i++)
        if (!strncasecmp(h[i].name, GW_INFO_PREFIX, plen) && h[i].name[plen])
            out[k++] = (thrift_gateway_header_t){h[i].name + plen, h[i].value};
    return k;
}

/* The embedded UI files and its config; false when `path` is not one. */
static bool ui_route(const gw_cli_t *g, const char *method, const char *path, gw_reply_t *r) {
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return false;
    size_t plen = strcspn(path, "?#");
    if (plen == 1 && path[0] == '/') {
        path = "/ui/index.html";
        plen = strlen(path);
    }
    if (plen == strlen("/ui/config.json") && !strncmp(path, "/ui/config.json", plen)) {
        r->status = 200;
        r->content_type = "application/json";
        r->body = (const uint8_t *)g->config_json;
        r->body_len = strlen(g->config_json);
        return true;
    }
    for (const cli_ui_asset_t *a = cli_ui_assets; a->path; a++)
        if (strlen(a->path) == plen && !strncmp(a->path, path, plen)) {
            r->status = 200;
            r->content_type = a->content_type;
            r->body = a->data;
            r->body_len = a->len;
            return true;
        }
    return false;
}

/* Writes the response head (status line and headers, CRLF-ended). */
static void write_head(FILE *out, const gw_reply_t *r) {
    char extra[4096];
    extra_headers(r, extra, sizeof extra);
    fprintf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n",
            r->status, reason_phrase(r->status), r->content_type, r->body_len, extra);
}

/* ---- --request: one request from the command line ----------------------- */

typedef struct one_request {
    bool done;
    gw_reply_t reply;
    uint8_t *body_copy;
    thrift_gateway_header_t info[GW_MAX_INFO];
    char *info_text; /* the reply's info headers, copied */
} one_request_t;

static void one_done(const thrift_gateway_response_t *resp, void *ud) {
    one_request_t *o = ud;
    o->done = true;
    o->reply.status = resp->status;
    o->reply.content_type = resp->content_type;
    // The response is borrowed for the callback only.
    o->body_copy = malloc(resp->body_len ? resp->body_len : 1);
    if (o->body_copy)
        memcpy(o->body_copy, resp->body, resp->body_len);
    o->reply.body = o->body_copy;
    o->reply.body_len = o->body_copy ? resp->body_len : 0;
    o->reply.exception = resp->exception ? strdup(resp->exception) : NULL;
    size_t total = 0;
    for (size_t i = 0; i < resp->header_count && i < GW_MAX_INFO; i++)
        total += strlen(resp->headers[i].key) + strlen(resp->headers[i].value) + 2;
    o->info_text = malloc(total + 1);
    char *p = o->info_text;
    for (size_t i = 0; p && i < resp->header_count && i < GW_MAX_INFO; i++) {
        size_t kl = strlen(resp->headers[i].key) + 1, vl = strlen(resp->headers[i].value) + 1;
        memcpy(p, resp->headers[i].key, kl);
        memcpy(p + kl, resp->headers[i].value, vl);
        o->info[i] = (thrift_gateway_header_t){p, p + kl};
        o->reply.header_count = i + 1;
        p += kl + vl;
    }
    o->reply.headers = o->info;
}

static int run_one_request(gw_cli_t *g, struct ev_loop *loop, const char *method, const char *path,
                           const gw_header_t *h, size_t nh, size_t max_body) {
    thrift_error_t err;
    thrift_error_clear(&err);
    size_t len = 0;
    char *body = NULL;
    if (!strcmp(method, "POST")) {
        body = cli_read_file("-", max_body, &len, &err);
        if (!body) {
            fprintf(stderr, "dynthrift gateway: ");
            cli_print_error(stderr, &err);
            return CLI_EXIT_DATA;
        }
    }
    one_request_t o = {0};
    o.reply.allow_origin = allowed_origin(g, h, nh);
    if (!strcmp(method, "OPTIONS")) {
        o.reply.status = 204;
        o.reply.content_type = "text/plain";
        o.done = true;
    } else if (ui_route(g, method, path, &o.reply)) {
        o.done = true;
    } else {
        thrift_gateway_response_t now;
        thrift_gateway_header_t fwd[GW_MAX_INFO];
        size_t nfwd = info_headers_of(h, nh, fwd);
        if (thrift_gateway_handle_ex(g->gw, method, path, (const uint8_t *)body, len,
                                     request_deadline(g, h, nh), fwd, nfwd, &now, one_done, &o)) {
            o.reply.status = now.status;
            o.reply.content_type = now.content_type;
            o.reply.body = now.body;
            o.reply.body_len = now.body_len;
            o.done = true;
        }
        while (!o.done)
            ev_run(loop, EVRUN_ONCE);
    }
    write_head(stdout, &o.reply);
    if (strcmp(method, "HEAD"))
        fwrite(o.reply.body, 1, o.reply.body_len, stdout);
    fflush(stdout);
    free(o.body_copy);
    free(o.info_text);
    free((char *)o.reply.exception);
    free(body);
    return CLI_EXIT_OK;
}

/* ---- --listen: the transport stack's HTTP server ------------------------------ */

typedef struct http_pending {
    thrift__http_exchange_t *x;
    const char *allow_origin;
} http_pending_t;

static void http_respond(thrift__http_exchange_t *x, const gw_reply_t *r) {
    char extra[4096];
    extra_headers(r, extra, sizeof extra);
    thrift__http_respond(x, r->status, r->content_type, extra, r->body, r->body_len);
}

static void http_done(const thrift_gateway_response_t *resp, void *ud) {
    http_pending_t *p = ud;
    gw_reply_t r = {resp->status,     resp->content_type, resp->body,
                    resp->body_len,   resp->exception,    p->allow_origin,
                    resp->headers,    resp->header_count};
    http_respond(p->x, &r);
    free(p);
}

/* A header's value copied NUL-terminated into buf (cut at cap). */
static const char *http_header(const thrift__http_request_t *req, const char *name, char *buf,
                               size_t cap) {
    size_t len;
    const char *v = thrift__http_header(req->http, name, &len);
    if (!v)
        return NULL;
    snprintf(buf, cap, "%.*s", (int)(len < cap ? len : cap - 1), v);
    return buf;
}

static void http_request(thrift__http_exchange_t *x, const thrift__http_request_t *req, void *ud) {
    gw_cli_t *g = ud;
    char method[16], path[4096], origin_buf[256], timeout_buf[32];
    gw_reply_t r = {.content_type = "application/json"};
    r.allow_origin = origin_allowed(g, http_header(req, "Origin", origin_buf, sizeof origin_buf));
    if (req->target_len >= sizeof path) {
        static const char too_long[] = "{\"error\":{\"status\":\"THRIFT_LIMIT\","
                                       "\"message\":\"request target too long\"}}";
        r.status = 400;
        r.body = (const uint8_t *)too_long;
        r.body_len = sizeof too_long - 1;
        http_respond(x, &r);
        return;
    }
    snprintf(method, sizeof method, "%.*s", (int)req->method_len, req->method);
    snprintf(path, sizeof path, "%.*s", (int)req->target_len, req->target);
    if (!strcmp(method, "OPTIONS")) {
        // A CORS preflight: allowed origins may POST JSON with a deadline.
        char extra[512];
        snprintf(extra, sizeof extra,
                 r.allow_origin ? "Access-Control-Allow-Origin: %s\r\n"
                                  "Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n"
                                  "Access-Control-Allow-Headers: Content-Type, "
                                  "X-Request-Timeout-Ms\r\nAccess-Control-Max-Age: 600\r\n"
                                  "Vary: Origin\r\n"
                                : "%s",
                 r.allow_origin ? r.allow_origin : "");
        thrift__http_respond(x, 204, "text/plain", extra, NULL, 0);
        return;
    }
    if (ui_route(g, method, path, &r)) {
        http_respond(x, &r);
        return;
    }
    http_pending_t *p = malloc(sizeof *p);
    if (!p) {
        thrift__http_respond(x, 500, "text/plain", NULL, NULL, 0);
        return;
    }
    *p = (http_pending_t){x, r.allow_origin};
    uint32_t deadline =
        deadline_of(g, http_header(req, "X-Request-Timeout-Ms", timeout_buf, sizeof timeout_buf));
    // Thrift-Header-* request headers, NUL-terminated copies on the stack
    // (the gateway copies them into the call before returning).
    char info_text[GW_MAX_INFO][2][256];
    gw_header_t info_h[GW_MAX_INFO];
    size_t ninfo = 0;
    const char *line = req->http->head, *end = req->http->head + req->http->head_len;
    size_t plen = strlen(GW_INFO_PREFIX);
    while (line && line < end && ninfo < GW_MAX_INFO) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            break;
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (colon && (size_t)(colon - line) > plen && !strncasecmp(line, GW_INFO_PREFIX, plen)) {
            const char *v = colon + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            snprintf(info_text[ninfo][0], 256, "%.*s", (int)(colon - line), line);
            snprintf(info_text[ninfo][1], 256, "%.*s", (int)(ve - v), v);
            info_h[ninfo] = (gw_header_t){info_text[ninfo][0], info_text[ninfo][1]};
            ninfo++;
        }
        line = eol + 1;
    }
    thrift_gateway_header_t fwd[GW_MAX_INFO];
    size_t nfwd = info_headers_of(info_h, ninfo, fwd);
    thrift_gateway_response_t now;
    if (thrift_gateway_handle_ex(g->gw, method, path, req->body, req->body_len, deadline, fwd, nfwd,
                                 &now, http_done, p)) {
        http_done(&now, p);
    }
}

static ev_signal gw_sigint, gw_sigterm;

/* SIGINT/SIGTERM: stop serving; the caller frees the server, then the
 * gateway (calls in flight are answered 503 to connections already gone). */
static void gw_signal_cb(struct ev_loop *loop, ev_signal *w, int revents) {
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

/* `tls` (NULL: plain HTTP): the listener's certificate, key and client CA. */
static int run_listener(gw_cli_t *g, struct ev_loop *loop, const char *cmd, const char *listen,
                        const thrift__http_server_limits_t *lim,
                        const thrift_conn_options_t *tls, bool print_ui_url) {
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift__http_server_t *hs = thrift__http_server_new(loop, lim, http_request, g, &err);
    if (hs && tls && thrift__http_server_set_tls(hs, tls, &err)) {
        fprintf(stderr, "dynthrift %s: --listen-cert/--listen-key: ", cmd);
        cli_print_error(stderr, &err);
        thrift__http_server_free(hs);
        return err.code == THRIFT_NOMEM ? CLI_EXIT_SOFTWARE : CLI_EXIT_DATA;
    }
    if (!hs || thrift__http_server_listen(hs, listen, &err)) {
        fprintf(stderr, "dynthrift %s: listen %s: ", cmd, listen);
        cli_print_error(stderr, &err);
        thrift__http_server_free(hs);
        return err.code == THRIFT_NOMEM ? CLI_EXIT_SOFTWARE : CLI_EXIT_TRANSPORT;
    }
    int port = thrift__http_server_port(hs);
    const char *scheme = tls ? "https://" : "";
    if (print_ui_url)
        printf("%s127.0.0.1:%d/\n", tls ? "https://" : "http://", port);
    if (port)
        fprintf(stderr, "listening on %s127.0.0.1:%d (upstream %s)\n", scheme, port,
                g->upstream);
    else
        fprintf(stderr, "listening on %s (upstream %s)\n", listen, g->upstream);
    fflush(stdout);
    fflush(stderr);
    ev_signal_init(&gw_sigint, gw_signal_cb, SIGINT);
    ev_signal_init(&gw_sigterm, gw_signal_cb, SIGTERM);
    ev_signal_start(loop, &gw_sigint);
    ev_signal_start(loop, &gw_sigterm);
    ev_run(loop, 0);
    ev_signal_stop(loop, &gw_sigint);
    ev_signal_stop(loop, &gw_sigterm);
    thrift__http_server_free(hs);
    return CLI_EXIT_OK;
}

/* ---- the command ----------------------------------------------------------- */

/* The https:// listener's TLS settings, through the options' text keys as
 * `serve` sets its own; NULL after printing why. */
static thrift_conn_options_t *listen_tls_options(const char *cmd, const char *cert,
                                                 const char *key, const char *cacert) {
    thrift_conn_options_t *o = thrift_conn_options_new();
    const char *keys[] = {"tls_cert", "tls_key", "tls_ca"};
    const char *values[] = {cert, key, cacert};
    for (size_t k = 0; o && k < 3; k++) {
        thrift_error_t err;
        thrift_error_clear(&err);
        if (values[k] && thrift_conn_options_set(o, keys[k], values[k], &err) != THRIFT_OK) {
            fprintf(stderr, "dynthrift %s: %s\n", cmd, err.text);
            thrift_conn_options_free(o);
            return NULL;
        }
    }
    if (!o)
        fprintf(stderr, "dynthrift %s: out of memory\n", cmd);
    return o;
}

static char *make_config_json(const char *file, const char *upstream, const cli_net_opts_t *net) {
    json_t *flags = json_array();
    if (net->framing == THRIFT_FRAMING_BUFFERED)
        json_array_append_new(flags, json_string("--buffered"));
    if (net->framing == THRIFT_FRAMING_HEADER)
        json_array_append_new(flags, json_string("--header"));
    if (net->zlib)
        json_array_append_new(flags, json_string("--zlib"));
    if (net->proto != THRIFT_PROTO_BINARY) {
        json_array_append_new(flags, json_string("--protocol"));
        json_array_append_new(flags, json_string(thrift_protocol_name(net->proto)));
    }
    if (net->multiplex) {
        json_array_append_new(flags, json_string("--multiplex"));
        json_array_append_new(flags, json_string(net->multiplex));
    }
    json_t *o = json_pack("{s:s, s:s, s:o}", "file", file, "upstream", upstream ? upstream : "",
                          "flags", flags);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

/* A cluster upstream: one cluster of the spec's servers per service of the
 * main module, handed to the gateway (thrift_gateway_set_cluster). */
typedef struct gw_clusters {
    thrift_pool_options_t *po;
    thrift_cluster_t **cl;
    thrift_serverset_t **ss;
    size_t n;
} gw_clusters_t;

/* Freed before the gateway: that answers the calls in flight. */
static void clusters_free(gw_clusters_t *c) {
    for (size_t i = 0; i < c->n; i++) {
        thrift_serverset_free(c->ss[i]);
        thrift_cluster_free(c->cl[i]);
    }
    free(c->cl);
    free(c->ss);
    thrift_pool_options_free(c->po);
    memset(c, 0, sizeof *c);
}

/* True when some method of a service of `m` has an argument `name` (the
 * others are balanced: a typo would silently hash nothing). */
static bool hash_arg_known(const thrift_module_def_t *m, const char *name) {
    for (size_t i = 0; i < thrift_module_def_service_count(m); i++) {
        const thrift_service_def_t *svc = thrift_module_def_service_at(m, i);
        for (size_t j = 0; j < thrift_service_def_function_count(svc); j++)
            if (thrift_struct_def_find_field(
                    thrift_function_def_args(thrift_service_def_function_at(svc, j)), name))
                return true;
    }
    return false;
}

/* Returns 0, or the exit code with the message printed. */
static int clusters_build(gw_clusters_t *c, const cli_cluster_spec_t *spec, const char *cmd,
                          struct ev_loop *loop, thrift_schema_t *schema,
                          const thrift_conn_options_t *co, thrift_gateway_t *gw) {
    const thrift_module_def_t *m = thrift_schema_main_module(schema);
    size_t count = thrift_module_def_service_count(m);
    if (spec->hash_arg && !hash_arg_known(m, spec->hash_arg)) {
        fprintf(stderr, "dynthrift %s: --hash-arg %s: no method has an argument of that name\n",
                cmd, spec->hash_arg);
        return CLI_EXIT_USAGE;
    }
    c->po = thrift_pool_options_new();
    c->cl = calloc(count ? count : 1, sizeof *c->cl);
    c->ss = calloc(count ? count : 1, sizeof *c->ss);
    if (!c->po || !c->cl || !c->ss) {
        fprintf(stderr, "dynthrift %s: out of memory\n", cmd);
        return CLI_EXIT_SOFTWARE;
    }
    // Pipelined leases, as call and bench over a cluster.
    thrift_pool_options_set_max_inflight(c->po, 64);
    thrift_pool_options_set_maxsize(c->po, 4);
    for (size_t i = 0; i < count; i++) {
        const char *name = thrift_service_def_name(thrift_module_def_service_at(m, i));
        int code = cli_cluster_spec_build(spec, cmd, "--upstream", loop, schema, name, NULL, co,
                                          c->po, &c->cl[i], &c->ss[i]);
        c->n = i + 1;
        if (code)
            return code;
        thrift_error_t err;
        thrift_error_clear(&err);
        if (thrift_gateway_set_cluster(gw, name, c->cl[i], &err) != THRIFT_OK) {
            fprintf(stderr, "dynthrift %s: ", cmd);
            cli_print_error(stderr, &err);
            return CLI_EXIT_SOFTWARE;
        }
    }
    return 0;
}

/* The upstream as shown to people: the address, the comma list or the URL. */
static char *upstream_text(const cli_cluster_spec_t *spec) {
    if (spec->zk)
        return strdup(spec->zk);
    size_t len = 1;
    for (size_t i = 0; i < spec->naddrs; i++)
        len += strlen(spec->addrs[i]) + 1;
    char *t = malloc(len);
    if (!t)
        return NULL;
    t[0] = 0;
    for (size_t i = 0; i < spec->naddrs; i++) {
        if (i)
            strcat(t, ",");
        strcat(t, spec->addrs[i]);
    }
    return t;
}

static int gateway_run(int argc, char **argv, const char *cmd, cli_cluster_spec_t *spec) {
    cli_include_dirs_t inc = {0};
    cli_net_opts_t net;
    cli_net_opts_init(&net);
    const char *file = NULL, *listen = NULL, *req_method = NULL, *req_path = NULL;
    const char *cors = NULL;
    const char *listen_cert = NULL, *listen_key = NULL, *listen_cacert = NULL;
    bool listen_given = false;
    bool want_openapi = false, want_schema = false;
    bool ui_mode = !strcmp(cmd, "ui");
    size_t max_body = 16384000; // the default frame limit
    uint32_t slow_ms = 10000;
    thrift__http_server_limits_t lim = {0};
    if (ui_mode)
        listen = "127.0.0.1:0";
    gw_header_t headers[GW_MAX_HEADERS];
    size_t nheaders = 0;
    char header_text[GW_MAX_HEADERS][512];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int r;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(ui_mode ? ui_usage : gateway_usage, stdout);
            fputs(cli_net_transport_help, stdout); // the upstream side's
            cli_include_dirs_free(&inc);
            return CLI_EXIT_OK;
        }
        if ((r = cli_take_include_opt(argc, argv, &i, cmd, &inc)) != 0 ||
            (r = cli_net_take_opt(argc, argv, &i, cmd, &net)) != 0) {
            if (r < 0)
                goto usage;
            continue;
        }
        if ((r = cli_cluster_spec_take_opt(spec, argc, argv, &i, cmd)) != 0) {
            if (r < 0)
                goto usage;
        } else if ((r = cli_take_value_opt(argc, argv, &i, cmd, "--upstream", &v)) != 0) {
            if (r < 0 || cli_cluster_spec_take_addr(spec, cmd, "--upstream", v))
                goto usage;
        } else if ((r = cli_take_value_opt(argc, argv, &i, cmd, "--listen", &v)) != 0) {
            if (r < 0)
                goto usage;
            listen = v;
            listen_given = true;
        } else if ((r = cli_take_value_opt(argc, argv, &i, cmd, "--listen-cert", &v)) != 0) {
            if (r < 0)
                goto usage;
            listen_cert = v;
        } else if ((r = cli_take_value_opt(argc, argv, &i, cmd, "--listen-key", &v)) != 0) {
            if (r < 0)
                goto usage;
            listen_key = v;
        } else if ((r = cli_take_value_opt(argc, argv, &i, cmd, "--listen-cacert", &v)) != 0) {
            if (r < 0)
                goto usage;
            listen_cacert = v;
        } else if ((r = cli_take_value_opt(argc, argv, &i, cmd, "--max-body", &v)) != 0) {
            unsigned long long n;
            if (r < 0 || !cli_parse_uint(v, 1ull << 31, &n) || n == 0) {
                fprintf(stderr, "dynthrift %s: --max-body takes bytes\n", cmd);
                goto usage;
            }
            max_body = (size_t)n;
        } else if ((r = cli_take_value_opt(argc, argv, &i, cmd, "--client-timeout", &v)) != 0) {
            unsigned long long n;
            if (r < 0 || !cli_parse_uint(v, GW_MAX_TIMEOUT_MS, &n) || n == 0) {
                fprintf(stderr, "dynthrift %s: --client-timeout takes milliseconds\n", cmd);
                goto usage;
            }
            slow_ms = (uint32_t)n;
        } else if ((r = cli_take_value_opt(argc, argv, &i, cmd, "--idle-timeout", &v)) != 0) {
            unsigned long long n;
            if (r < 0 || !cli_parse_uint(v, UINT32_MAX, &n) || n == 0) {
                fprintf(stderr, "dynthrift %s: --idle-timeout takes milliseconds\n", cmd);
                goto usage;
            }
            lim.idle_timeout_ms = (uint32_t)n;
        } else if ((r = cli_take_value_opt(argc, argv, &i, cmd, "--max-connections", &v)) != 0) {
            unsigned long long n;
            if (r < 0 || !cli_parse_uint(v, 1000000, &n)) {
                fprintf(stderr, "dynthrift %s: --max-connections takes a count\n", cmd);
                goto usage;
            }
            lim.max_connections = (size_t)n;
        } else if ((r = cli_take_value_opt(argc, argv, &i, cmd, "--cors", &v)) != 0) {
            if (r < 0)
                goto usage;
            cors = v;
        } else if (!strcmp(a, "--request")) {
            if (i + 2 >= argc) {
                fprintf(stderr, "dynthrift %s: --request takes METHOD PATH\n", cmd);
                goto usage;
            }
            req_method = argv[++i];
            req_path = argv[++i];
        } else if (!strcmp(a, "--request-header")) {
            const char *h = i + 1 < argc ? argv[++i] : NULL;
            const char *colon = h ? strchr(h, ':') : NULL;
            if (!colon || colon == h || strlen(h) >= sizeof header_text[0] ||
                nheaders == GW_MAX_HEADERS) {
                fprintf(stderr, "dynthrift %s: --request-header takes 'Name: value'\n", cmd);
                goto usage;
            }
            char *t = header_text[nheaders];
            snprintf(t, sizeof header_text[0], "%s", h);
            t[colon - h] = 0;
            const char *val = t + (colon - h) + 1;
            while (*val == ' ' || *val == '\t')
                val++;
            headers[nheaders++] = (gw_header_t){t, val};
        } else if (!strcmp(a, "--openapi")) {
            want_openapi = true;
        } else if (!strcmp(a, "--schema")) {
            want_schema = true;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "dynthrift %s: unknown option '%s'\n", cmd, a);
            goto usage;
        } else if (!file) {
            file = a;
        } else {
            fprintf(stderr, "dynthrift %s: unexpected argument '%s'\n", cmd, a);
            goto usage;
        }
    }
    if (!file) {
        fprintf(stderr, "dynthrift %s: FILE is required\n", cmd);
        goto usage;
    }
    if (spec->hash && !spec->hash_arg) {
        fprintf(stderr, "dynthrift %s: --balance hash needs --hash-arg NAME\n", cmd);
        goto usage;
    }
    // `ui` with a certificate serves https on its free port.
    if (ui_mode && !listen_given && (listen_cert || listen_key))
        listen = "https://127.0.0.1:0";
    bool https = listen && !strncmp(listen, "https://", 8);
    if (https && (!listen_cert || !listen_key)) {
        fprintf(stderr, "dynthrift %s: --listen %s needs --listen-cert FILE and --listen-key "
                        "FILE\n", cmd, listen);
        goto usage;
    }
    if (!https && (listen_cert || listen_key || listen_cacert)) {
        fprintf(stderr, "dynthrift %s: --listen-cert, --listen-key and --listen-cacert are for "
                        "--listen https://HOST:PORT\n", cmd);
        goto usage;
    }
    net.addr = spec->zk ? spec->zk : spec->naddrs ? spec->addrs[0] : NULL;
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_schema_t *schema = cli_load_schema(file, &inc, &err);
    cli_include_dirs_free(&inc);
    if (!schema) {
        cli_print_error(stderr, &err);
        return CLI_EXIT_DATA;
    }
    if (want_openapi || want_schema) {
        char *doc = want_openapi ? thrift_gateway_openapi_json(schema, &err)
                                 : thrift_gateway_schema_json(schema, &err);
        thrift_schema_unref(schema);
        if (!doc) {
            cli_print_error(stderr, &err);
            return CLI_EXIT_SOFTWARE;
        }
        puts(doc);
        thrift_json_text_free(doc);
        return CLI_EXIT_OK;
    }
    if (net.nheaders) {
        // The gateway's upstream headers come from each HTTP request.
        fprintf(stderr, "dynthrift %s: -H is not taken here: send the HTTP header "
                        "'Thrift-Header-KEY: VALUE' with a request instead\n", cmd);
        thrift_schema_unref(schema);
        return CLI_EXIT_USAGE;
    }
    if (!net.addr) {
        fprintf(stderr, "dynthrift %s: --upstream ADDR is required\n", cmd);
        thrift_schema_unref(schema);
        return CLI_EXIT_USAGE;
    }
    if (!req_method && !listen) {
        fprintf(stderr, "dynthrift %s: --listen ADDR or --request METHOD PATH is required\n", cmd);
        thrift_schema_unref(schema);
        return CLI_EXIT_USAGE;
    }
    if (!net.timeout_set) {
        net.timeout_ms = GW_DEFAULT_TIMEOUT_MS;
        net.timeout_set = true;
    }
    thrift_conn_options_t *co = cli_net_conn_options(&net);
    thrift_conn_options_t *listen_tls = https ? listen_tls_options(cmd, listen_cert, listen_key,
                                                                   listen_cacert)
                                              : NULL;
    if (!co || (https && !listen_tls)) {
        thrift_conn_options_free(co);
        thrift_schema_unref(schema);
        return CLI_EXIT_USAGE; // the transport option was reported
    }
    signal(SIGPIPE, SIG_IGN);
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    // One address keeps the direct path (a pipelined connection per
    // service); a list, zk:// or a routing option makes a cluster.
    bool clustered = cli_cluster_spec_is_cluster(spec);
    char *shown = upstream_text(spec);
    gw_clusters_t clusters = {0};
    gw_cli_t g = {.file = file, .upstream = shown, .cors = cors,
                  .default_timeout_ms = net.timeout_ms};
    g.config_json = shown ? make_config_json(file, shown, &net) : NULL;
    g.gw = loop && g.config_json
               ? thrift_gateway_new(loop, schema, clustered ? NULL : net.addr, co, &err)
               : NULL;
    int rc = 0;
    if (g.gw && clustered)
        rc = clusters_build(&clusters, spec, cmd, loop, schema, co, g.gw);
    if (rc) {
        // clusters_build printed why
    } else if (!g.gw) {
        fprintf(stderr, "dynthrift %s: ", cmd);
        if (err.code)
            cli_print_error(stderr, &err);
        else
            fprintf(stderr, "out of memory\n");
        rc = err.code ? cli_net_addr_exit(&err) : CLI_EXIT_SOFTWARE;
    } else {
        // A body can be as large as the upstream frame limit allows.
        lim.max_body = max_body;
        lim.request_timeout_ms = slow_ms;
        if (req_method)
            rc = run_one_request(&g, loop, req_method, req_path, headers, nheaders, max_body);
        else
            rc = run_listener(&g, loop, cmd, listen, &lim, listen_tls, ui_mode);
    }
    clusters_free(&clusters);
    thrift_gateway_free(g.gw);
    free(g.config_json);
    free(shown);
    if (loop)
        ev_loop_destroy(loop);
    thrift_conn_options_free(co);
    thrift_conn_options_free(listen_tls);
    thrift_schema_unref(schema);
    return rc;

usage:
    cli_include_dirs_free(&inc);
    fputs(ui_mode ? ui_usage : gateway_usage, stderr);
    return CLI_EXIT_USAGE;
}

static int gateway_main(int argc, char **argv, const char *cmd) {
    cli_cluster_spec_t spec = {0};
    int rc = gateway_run(argc, argv, cmd, &spec);
    cli_cluster_spec_free(&spec);
    return rc;
}

int cmd_gateway(int argc, char **argv) { return gateway_main(argc, argv, "gateway"); }

int cmd_ui(int argc, char **argv) { return gateway_main(argc, argv, "ui"); }
