/* `dynthrift serve`: a Thrift server that needs no code.  Answers come from
 * JSON fixtures (--mock), from any program speaking JSON lines (--exec), or
 * echo the first argument (--echo); --record appends every call and its
 * reply to a file.  Everything runs on one libev loop (the default loop, so
 * that ev_child can watch the --exec program). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#include "cli.h"
#include "cli_net.h"
#include "cli_util.h"
#include "dynthrift/json.h"
#include "dynthrift/net.h"
#include "dynthrift/pool.h"

static const char serve_usage[] =
    "usage: dynthrift serve [-I DIR]... FILE SERVICE --addr ADDR [options]\n"
    "                       (--mock FIXTURES.json | --exec CMD | --echo)\n"
    "\n"
    "Serves SERVICE of the .thrift FILE without code.  Prints \"listening on ADDR\"\n"
    "on stderr once ready (with the real port when ADDR asks for port 0).\n"
    "SIGINT or SIGTERM stop it gracefully (calls in flight are answered).\n"
    "\n"
    "answers, one of:\n"
    "  --mock FIXTURES.json  a JSON object keyed by method name; each entry is\n"
    "      {\"result\": VALUE}\n"
    "      {\"exception\": \"BenchError\", \"value\": {...}}   a declared exception\n"
    "      {\"error\": \"text\"} or {\"error\": {\"type\": \"INTERNAL_ERROR\", \"message\": \"text\"}}\n"
    "      {\"cases\": [{\"when\": {ARG: VALUE...}, \"result\": ...}, ...], ...}\n"
    "          the first case whose \"when\" arguments all equal the call's wins;\n"
    "          the entry's own result/exception/error answers when none matches\n"
    "      [case, ...]                                  short for {\"cases\": [...]}\n"
    "      any answer may add \"delay_ms\": N, and \"headers\": {\"KEY\": \"VALUE\"...}:\n"
    "          THeader info headers sent with the reply (to THeader clients)\n"
    "  --unmocked default|unknown   methods (and calls) no fixture answers get the\n"
    "      return type's default value (default) or UNKNOWN_METHOD\n"
    "  --exec CMD   runs /bin/sh -c CMD once; each call is written to its stdin as\n"
    "      one line {\"id\": N, \"method\": \"add\", \"args\": {...}} (oneway calls add\n"
    "      \"oneway\": true and expect no answer); CMD writes one line per answer, in\n"
    "      any order: {\"id\": N, \"result\": VALUE} | {\"id\": N, \"exception\": NAME,\n"
    "      \"value\": {...}} | {\"id\": N, \"error\": \"text\"}; an answer may add\n"
    "      \"headers\": {\"KEY\": \"VALUE\"...} (reply info headers, THeader clients), and\n"
    "      a call from a THeader client carries its info headers the same way.\n"
    "      A CMD that exits, writes a line that is not such an answer, or takes\n"
    "      longer than --exec-timeout MS\n"
    "      (default 30000) turns the calls in flight into INTERNAL_ERROR replies;\n"
    "      it is started again (at most once a second) on the next call.  CMD runs\n"
    "      in its own process group, which is signalled as a whole on stop and\n"
    "      restart.  Oneway calls that find the handler's 64 MiB input queue full\n"
    "      are dropped: counted, logged (at most once a second) and --record'ed.\n"
    "  --echo       each method returns its first argument when the types match,\n"
    "      else the return type's default value\n"
    "\n";
/* Apart: C11 compilers need not take string literals over 4095 bytes. */
static const char serve_usage_options[] =
    "options:\n"
    "  --addr HOST:PORT | unix:PATH   where to listen (required; port 0 picks one)\n"
    "  --framed | --buffered | --header  pin one transport (default: recognize each\n"
    "                                 client's kind, and TLS with --cert/--key)\n"
    "  --protocol binary|compact|json protocol (default binary)\n"
    "  --max-connections N            close connections beyond N at once (default: no\n"
    "                                 limit but the process's descriptors)\n"
    "  --idle-timeout MS              close a connection after MS without a byte from\n"
    "                                 it (default 0: idle connections stay open)\n"
    "  --busy-poll-us US              after writing replies, poll for the next request\n"
    "                                 without sleeping for up to US (adaptive; default\n"
    "                                 50; 0 = always sleep)\n"
    "  --threads N                    serve on N loops (needs a thread-safe answer\n"
    "                                 source: not with --exec)\n"
    "  --record FILE                  append every call and its reply as JSON lines\n"
    "  -v                             log calls and server events to stderr, one line per\n"
    "                                 connection accepted, closed (with why) or rejected;\n"
    "                                 UTC ISO-8601 times with milliseconds.  With --mock,\n"
    "                                 the methods without a fixture, at start-up\n"
    "  -I DIR                         add an include directory\n"
    "  --announce zk://HOSTS/PATH     announce this server in a ZooKeeper ServerSet\n"
    "                                 (an ephemeral member_ node with its address) once\n"
    "                                 it listens; on SIGINT/SIGTERM the node is deleted\n"
    "                                 first, then calls are drained after a grace period\n"
    "  --announce-host HOST           the address to announce (needed when listening on\n"
    "                                 0.0.0.0 or [::]; default: the --addr host)\n"
    "  --announce-session-ms MS       ZooKeeper session timeout (default 10000)\n"
    "  --announce-grace-ms MS         from deleting the node to stopping (default 300),\n"
    "                                 time for clients to see it go\n"
    "\n"
    "exit codes: 0 stopped by a signal, 64 bad usage, 65 bad IDL or fixtures,\n"
    "3 cannot listen.\n";

typedef enum { MODE_NONE, MODE_MOCK, MODE_EXEC, MODE_ECHO } serve_mode_t;

typedef enum { ANS_NONE, ANS_RESULT, ANS_EXCEPTION, ANS_ERROR } answer_kind_t;

typedef struct answer {
    answer_kind_t kind;
    const thrift_value_t *value; /* result (NULL: void) or exception */
    const char *exc_name;
    int app_type;
    const char *message;
    double delay_s;
    /* THeader info headers sent with the reply ("headers" in a fixture) */
    const char **header_keys, **header_values;
    size_t header_count;
} answer_t;

typedef struct mock_case {
    const thrift_value_t *when; /* args struct */
    const char **keys;          /* argument names given in "when" */
    size_t nkeys;
    answer_t ans;
} mock_case_t;

typedef struct serve_state serve_state_t;

typedef struct method {
    serve_state_t *st;
    const thrift_function_def_t *fn;
    bool mocked;
    mock_case_t *cases;
    size_t ncases;
    answer_t fallback;
} method_t;

typedef struct exec_pending exec_pending_t;

typedef struct exec_proc {
    const char *cmd;
    pid_t pid;
    int in_fd, out_fd; /* our ends: we write to in_fd, read from out_fd */
    ev_io win, rout;
    ev_child child;
    char *outbuf;
    size_t outlen, outoff, outcap;
    char *inbuf;
    size_t inlen, incap;
    ev_tstamp last_spawn;
    int last_status;
    bool running;
    uint64_t next_id;
    bool skip_line; /* discarding the rest of an answer line over 64 MiB */
    uint64_t oneway_dropped;      /* oneway calls the full queue refused */
    uint64_t oneway_dropped_logged;
    ev_tstamp oneway_drop_logged_at;
    exec_pending_t *buckets[1024];
    exec_pending_t *all; /* every pending call, newest first */
    size_t npending;
    uint32_t timeout_ms;
} exec_proc_t;

struct exec_pending {
    exec_pending_t *hnext;          /* bucket chain */
    exec_pending_t *prev, *next;    /* all */
    uint64_t id;
    thrift_request_t *req;
    method_t *m;
    ev_timer timer;
    json_t *args; /* for --record */
};

struct serve_state {
    const char *cmd;
    struct ev_loop *loop;
    thrift_schema_t *schema;
    const thrift_service_def_t *svc;
    thrift_rpc_server_t *srv;
    serve_mode_t mode;
    bool unmocked_unknown;
    int verbose;
    FILE *record;
    pthread_mutex_t record_lock;
    thrift_arena_t *arena; /* fixtures, method table */
    method_t *methods;
    size_t nmethods;
    exec_proc_t exec;
    ev_signal sigint, sigterm;
    thrift_announcement_t *announcement;
    ev_timer grace; /* from withdrawing the announcement to stopping */
    ev_timer announce_poll; /* until the member exists, when ZooKeeper was late */
    char announced_addr[300];
    double grace_s;
    bool stopping;
    bool closing; /* the server itself is dropping its connections */
    int stop_signals;
};

/* ---- logging and recording ------------------------------------------------ */

static void vlog(serve_state_t *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void vlog(serve_state_t *st, const char *fmt, ...) {
    if (!st->verbose)
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "[%s.%03ldZ] dynthrift serve: %s\n", when, (long)(tv.tv_usec / 1000), line);
}

/* Why a held call lost its connection: on a forced stop the server closed
 * it, not the client. */
static const char *cancel_reason(const serve_state_t *st) {
    return st->closing ? "the server closed the connection: stopping"
                       : "the client closed the connection";
}

static json_t *value_json(const thrift_value_t *v) {
    if (!v || thrift_value_kind(v) == THRIFT_KIND_VOID)
        return json_null();
    json_t *j = thrift_json_from_value(v, 0, NULL);
    return j ? j : json_string("<not printable as JSON>");
}

/* Appends {"time", "method", "args", outcome...} to --record.  Steals
 * `args` and `outcome` (an object whose keys are merged in). */
static void record(serve_state_t *st, const char *method, json_t *args, json_t *outcome) {
    if (!st->record) {
        json_decref(args);
        json_decref(outcome);
        return;
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    json_t *o = json_object();
    json_object_set_new(o, "time", json_real((double)tv.tv_sec + tv.tv_usec / 1e6));
    json_object_set_new(o, "method", json_string(method));
    json_object_set_new(o, "args", args ? args : json_null());
    if (outcome)
        json_object_update(o, outcome);
    json_decref(outcome);
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!text)
        return;
    pthread_mutex_lock(&st->record_lock);
    fputs(text, st->record);
    fputc('\n', st->record);
    fflush(st->record);
    pthread_mutex_unlock(&st->record_lock);
    free(text);
}

static json_t *args_json_of(serve_state_t *st, const thrift_value_t *args) {
    return st->record ? value_json(args) : NULL;
}

/* ---- reply info headers --------------------------------------------------- */

/* A reply's THeader info headers as fixtures and --exec answers give them:
 * {"key": "value", ...}.  At most this many, each key and value at most
 * THRIFT_HEADER_TEXT_MAX bytes. */
enum { SERVE_MAX_REPLY_HEADERS = 64 };

/* NULL when `h` is a valid "headers" object, else what is wrong (static). */
static const char *reply_headers_problem(json_t *h) {
    if (!json_is_object(h))
        return "\"headers\" must be an object of strings {\"key\": \"value\"}";
    if (json_object_size(h) > SERVE_MAX_REPLY_HEADERS)
        return "\"headers\": at most 64 info headers";
    const char *k;
    json_t *v;
    json_object_foreach(h, k, v) {
        if (!*k || !json_is_string(v))
            return "\"headers\" must be an object of strings {\"key\": \"value\"} with "
                   "non-empty keys";
        if (strlen(k) > THRIFT_HEADER_TEXT_MAX || json_string_length(v) > THRIFT_HEADER_TEXT_MAX)
            return "\"headers\": a key or value is longer than 4096 bytes";
    }
    return NULL;
}

/* Sets the info headers of `h` (checked by reply_headers_problem) on the
 * reply of `req`; false when the request cannot take them (out of memory:
 * the caller answers an error instead). */
static bool reply_headers_set_json(thrift_request_t *req, json_t *h) {
    const char *k;
    json_t *v;
    json_object_foreach(h, k, v) {
        if (thrift_request_set_reply_header(req, k, json_string_value(v)) != THRIFT_OK)
            return false;
    }
    return true;
}

/* The request's info headers as a JSON object, NULL when it has none. */
static json_t *request_headers_json(const thrift_request_t *req) {
    json_t *o = NULL;
    const char *k, *v;
    for (size_t i = 0; thrift_request_header_at(req, i, &k, &v); i++)
        o = cli_headers_put(o, k, v);
    return o;
}

/* ---- replying -------------------------------------------------------------- */

static void log_answer(serve_state_t *st, const char *method, const char *what) {
    vlog(st, "%s -> %s", method, what);
}

static void answer_error(serve_state_t *st, thrift_request_t *req, json_t *args, int type,
                         const char *message) {
    const char *method = thrift_request_method(req);
    if (st->verbose) {
        char buf[600];
        snprintf(buf, sizeof buf, "%s: %s", cli_app_exception_name(type), message);
        log_answer(st, method, buf);
    }
    if (st->record) {
        json_t *e = json_object();
        json_object_set_new(e, "type", json_string(cli_app_exception_name(type)));
        json_object_set_new(e, "message", json_string(message));
        json_t *oc = json_object();
        json_object_set_new(oc, "error", e);
        record(st, method, args, oc);
    } else {
        json_decref(args);
    }
    thrift_reply_error(req, type, message);
}

static void answer_result(serve_state_t *st, thrift_request_t *req, json_t *args,
                          const thrift_value_t *v) {
    const char *method = thrift_request_method(req);
    if (thrift_request_is_oneway(req)) {
        log_answer(st, method, "(oneway)");
        json_t *oc = json_object();
        json_object_set_new(oc, "oneway", json_true());
        record(st, method, args, oc);
        return;
    }
    json_t *rj = st->record ? value_json(v) : NULL;
    char method_copy[256];
    snprintf(method_copy, sizeof method_copy, "%s", method);
    thrift_status_t s = thrift_reply(req, v);
    if (s != THRIFT_OK) {
        // The reply layer already answered INTERNAL_ERROR.
        vlog(st, "%s -> INTERNAL_ERROR: the answer does not fit the return type (%s)",
             method_copy, thrift_status_str(s));
        json_decref(rj);
        json_t *oc = json_object();
        json_object_set_new(oc, "error", json_pack("{s:s,s:s}", "type", "INTERNAL_ERROR",
                                                   "message", thrift_status_str(s)));
        record(st, method_copy, args, oc);
        return;
    }
    log_answer(st, method_copy, "result");
    if (st->record) {
        json_t *oc = json_object();
        json_object_set_new(oc, "result", rj);
        record(st, method_copy, args, oc);
    }
}

static void answer_exception(serve_state_t *st, thrift_request_t *req, json_t *args,
                             const char *name, const thrift_value_t *v) {
    char method[256];
    snprintf(method, sizeof method, "%s", thrift_request_method(req));
    if (thrift_request_is_oneway(req)) {
        json_decref(args);
        return;
    }
    json_t *vj = st->record ? value_json(v) : NULL;
    thrift_status_t s = thrift_reply_exception(req, name, v);
    char buf[300];
    snprintf(buf, sizeof buf, "exception %s%s", name ? name : "?",
             s == THRIFT_OK ? "" : " (failed: INTERNAL_ERROR sent)");
    log_answer(st, method, buf);
    if (st->record) {
        json_t *oc = json_object();
        json_object_set_new(oc, "exception", json_string(name ? name : ""));
        json_object_set_new(oc, "value", vj);
        record(st, method, args, oc);
    } else {
        json_decref(vj);
        json_decref(args);
    }
}

static void answer(serve_state_t *st, thrift_request_t *req, json_t *args, const answer_t *a) {
    for (size_t i = 0; i < a->header_count && !thrift_request_is_oneway(req); i++)
        if (thrift_request_set_reply_header(req, a->header_keys[i], a->header_values[i]) !=
            THRIFT_OK) {
            answer_error(st, req, args, THRIFT_APPEX_INTERNAL_ERROR,
                         "out of memory setting the reply's info headers");
            return;
        }
    switch (a->kind) {
    case ANS_EXCEPTION:
        answer_exception(st, req, args, a->exc_name, a->value);
        break;
    case ANS_ERROR:
        if (thrift_request_is_oneway(req)) {
            json_decref(args);
            break;
        }
        answer_error(st, req, args, a->app_type, a->message);
        break;
    default:
        answer_result(st, req, args, a->value);
        break;
    }
}

/* ---- default values ------------------------------------------------------ */

/* Makes `v` encodable: required fields get default values (recursively)
 * and an empty union gets its first field. */
static void fill_required(thrift_arena_t *arena, thrift_value_t *v, int depth) {
    thrift_kind_t k = thrift_value_kind(v);
    if (depth > 32 || (k != THRIFT_KIND_STRUCT && k != THRIFT_KIND_EXCEPTION &&
                       k != THRIFT_KIND_UNION))
        return;
    const thrift_struct_def_t *sd = thrift_value_struct_def(v);
    size_t n = thrift_struct_def_field_count(sd);
    if (k == THRIFT_KIND_UNION) {
        bool any = false;
        for (size_t i = 0; i < n && !any; i++)
            any = thrift_value_get_at(v, i) != NULL;
        if (!any && n) {
            thrift_value_t *f = thrift_value_field(
                arena, v, thrift_field_def_name(thrift_struct_def_field_at(sd, 0)));
            if (f)
                fill_required(arena, f, depth + 1);
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const thrift_field_def_t *fd = thrift_struct_def_field_at(sd, i);
        thrift_value_t *f = thrift_value_get_at(v, i);
        if (!f && thrift_field_def_requiredness(fd) == THRIFT_REQ_REQUIRED)
            f = thrift_value_field(arena, v, thrift_field_def_name(fd));
        if (f)
            fill_required(arena, f, depth + 1);
    }
}

static const thrift_value_t *default_value(thrift_arena_t *arena, const thrift_type_def_t *t) {
    if (thrift_type_def_kind(thrift_type_def_resolved(t)) == THRIFT_KIND_VOID)
        return NULL;
    thrift_value_t *v = thrift_value_new(arena, t);
    if (v && thrift_value_kind(v) == THRIFT_KIND_ENUM) {
        const thrift_enum_def_t *ed = thrift_type_def_enum(thrift_type_def_resolved(t));
        if (ed && thrift_enum_def_value_count(ed) &&
            !thrift_enum_def_find_number(ed, (int32_t)thrift_value_int(v)))
            v = thrift_value_new_enum(
                arena, ed, thrift_enum_value_def_number(thrift_enum_def_value_at(ed, 0)));
    }
    if (v)
        fill_required(arena, v, 0);
    return v;
}

static void answer_default(serve_state_t *st, thrift_request_t *req, json_t *args,
                           const method_t *m) {
    if (st->unmocked_unknown) {
        char msg[300];
        snprintf(msg, sizeof msg, "Invalid method name: '%s' (no fixture answers it)",
                 thrift_function_def_name(m->fn));
        if (thrift_request_is_oneway(req)) {
            json_decref(args);
            return;
        }
        answer_error(st, req, args, THRIFT_APPEX_UNKNOWN_METHOD, msg);
        return;
    }
    answer_result(st, req, args,
                  default_value(thrift_request_arena(req), thrift_function_def_return_type(m->fn)));
}

/* ---- delayed answers -------------------------------------------------------- */

typedef struct delayed {
    ev_timer timer;
    serve_state_t *st;
    thrift_request_t *req;
    json_t *args;
    const answer_t *ans;
} delayed_t;

static void delayed_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    delayed_t *d = (delayed_t *)w;
    answer(d->st, d->req, d->args, d->ans);
    free(d);
}

/* The client left before the delay ran out: nobody to answer. */
static void delayed_cancel_cb(thrift_request_t *req, void *ud) {
    delayed_t *d = ud;
    ev_timer_stop(thrift_request_loop(req), &d->timer);
    vlog(d->st, "%s -> cancelled (%s)", thrift_request_method(req), cancel_reason(d->st));
    json_decref(d->args);
    thrift_request_abandon(req);
    free(d);
}

/* ---- --mock ---------------------------------------------------------------- */

static bool args_match(const mock_case_t *c, const thrift_value_t *args) {
    for (size_t i = 0; i < c->nkeys; i++) {
        const thrift_value_t *want = thrift_value_get(c->when, c->keys[i]);
        const thrift_value_t *got = thrift_value_get(args, c->keys[i]);
        if (!want || !got) {
            if (want != got)
                return false;
            continue;
        }
        if (!thrift_value_equal(want, got))
            return false;
    }
    return true;
}

static thrift_status_t mock_handler(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    method_t *m = ud;
    serve_state_t *st = m->st;
    json_t *aj = args_json_of(st, args);
    const answer_t *a = NULL;
    for (size_t i = 0; i < m->ncases && !a; i++)
        if (args_match(&m->cases[i], args))
            a = &m->cases[i].ans;
    if (!a && m->fallback.kind != ANS_NONE)
        a = &m->fallback;
    if (!a) {
        answer_default(st, req, aj, m);
        return THRIFT_OK;
    }
    if (a->delay_s > 0 && !thrift_request_is_oneway(req)) {
        delayed_t *d = calloc(1, sizeof *d);
        if (d) {
            d->st = st;
            d->req = req;
            d->args = aj;
            d->ans = a;
            ev_timer_init(&d->timer, delayed_cb, a->delay_s, 0.);
            ev_timer_start(thrift_request_loop(req), &d->timer);
            thrift_request_set_cancel_cb(req, delayed_cancel_cb, d);
            return THRIFT_OK;
        }
    }
    answer(st, req, aj, a);
    return THRIFT_OK;
}

/* Fixture errors: "FIXTURES.json: add.cases[1].when.a: expected i32, got string". */
static int fixture_error(serve_state_t *st, const char *file, const char *where,
                         const thrift_error_t *err, const char *text) {
    char buf[700];
    if (err) {
        if (err->path[0])
            snprintf(buf, sizeof buf, "%s: %s", err->path, err->text);
        else
            snprintf(buf, sizeof buf, "%s", err->text);
        text = buf;
    }
    fprintf(stderr, "dynthrift %s: %s: %s: %s\n", st->cmd, file, where, text);
    return CLI_EXIT_DATA;
}

static char *arena_strdup(thrift_arena_t *a, const char *s) {
    size_t n = strlen(s) + 1;
    char *p = thrift_arena_alloc(a, n);
    if (p)
        memcpy(p, s, n);
    return p;
}

/* The result struct's field for exception `name` (field or type name). */
static const thrift_field_def_t *exception_field(const thrift_function_def_t *fn,
                                                 const char *name) {
    const thrift_struct_def_t *rd = thrift_function_def_result(fn);
    for (size_t i = 0; i < thrift_struct_def_field_count(rd); i++) {
        const thrift_field_def_t *f = thrift_struct_def_field_at(rd, i);
        if (thrift_field_def_id(f) == 0)
            continue;
        const thrift_struct_def_t *xd =
            thrift_type_def_struct(thrift_type_def_resolved(thrift_field_def_type(f)));
        if (!strcmp(thrift_field_def_name(f), name) ||
            (xd && !strcmp(thrift_struct_def_name(xd), name)))
            return f;
    }
    return NULL;
}

static int app_type_parse(json_t *t, int *out) {
    if (!t) {
        *out = THRIFT_APPEX_INTERNAL_ERROR;
        return 0;
    }
    if (json_is_integer(t)) {
        *out = (int)json_integer_value(t);
        return 0;
    }
    const char *s = json_string_value(t);
    for (int i = 0; s && i <= THRIFT_APPEX_UNSUPPORTED_CLIENT_TYPE; i++)
        if (!strcmp(s, cli_app_exception_name(i))) {
            *out = i;
            return 0;
        }
    return -1;
}

/* Parses one answer ({"result"} | {"exception","value"} | {"error"}) out of
 * `j`.  *found says whether `j` holds one; the return is an exit code. */
static int parse_answer(serve_state_t *st, const char *file, const char *where, method_t *m,
                        json_t *j, answer_t *ans, bool *found) {
    thrift_error_t err;
    thrift_error_clear(&err);
    json_t *r = json_object_get(j, "result");
    json_t *x = json_object_get(j, "exception");
    json_t *e = json_object_get(j, "error");
    json_t *d = json_object_get(j, "delay_ms");
    json_t *h = json_object_get(j, "headers");
    int n = (r != NULL) + (x != NULL) + (e != NULL);
    char w[512];
    *found = n > 0;
    memset(ans, 0, sizeof *ans);
    if (n > 1)
        return fixture_error(st, file, where, NULL,
                             "give one of \"result\", \"exception\" or \"error\", not several");
    if (h) {
        const char *problem = reply_headers_problem(h);
        if (problem)
            return fixture_error(st, file, where, NULL, problem);
        size_t nh = json_object_size(h), k = 0;
        ans->header_keys = thrift_arena_alloc(st->arena, (nh ? nh : 1) * sizeof(char *));
        ans->header_values = thrift_arena_alloc(st->arena, (nh ? nh : 1) * sizeof(char *));
        if (!ans->header_keys || !ans->header_values)
            return fixture_error(st, file, where, NULL, "out of memory");
        const char *hk;
        json_t *hv;
        json_object_foreach(h, hk, hv) {
            ans->header_keys[k] = arena_strdup(st->arena, hk);
            ans->header_values[k] = arena_strdup(st->arena, json_string_value(hv));
            if (!ans->header_keys[k] || !ans->header_values[k])
                return fixture_error(st, file, where, NULL, "out of memory");
            k++;
        }
        ans->header_count = nh;
    }
    if (d) {
        if (!json_is_number(d) || json_number_value(d) < 0)
            return fixture_error(st, file, where, NULL, "\"delay_ms\" must be a number >= 0");
        ans->delay_s = json_number_value(d) / 1000.0;
    }
    if (r) {
        ans->kind = ANS_RESULT;
        const thrift_type_def_t *rt = thrift_function_def_return_type(m->fn);
        if (thrift_type_def_kind(thrift_type_def_resolved(rt)) == THRIFT_KIND_VOID) {
            if (!json_is_null(r))
                return fixture_error(st, file, where, NULL,
                                     "the method returns void: \"result\" must be null");
            return 0;
        }
        ans->value = thrift_json_to_value(st->arena, rt, r, 0, &err);
        snprintf(w, sizeof w, "%s.result", where);
        return ans->value ? 0 : fixture_error(st, file, w, &err, NULL);
    }
    if (x) {
        ans->kind = ANS_EXCEPTION;
        const char *name = json_string_value(x);
        const thrift_field_def_t *f = name ? exception_field(m->fn, name) : NULL;
        snprintf(w, sizeof w, "%s.exception", where);
        if (!f) {
            char msg[512];
            const thrift_struct_def_t *rd = thrift_function_def_result(m->fn);
            int k = snprintf(msg, sizeof msg, "%s does not throw '%s'; it declares:",
                             thrift_function_def_name(m->fn), name ? name : "(not a string)");
            size_t decl = 0;
            for (size_t i = 0; i < thrift_struct_def_field_count(rd) && k > 0 &&
                               (size_t)k < sizeof msg;
                 i++) {
                const thrift_field_def_t *fd = thrift_struct_def_field_at(rd, i);
                if (thrift_field_def_id(fd) == 0)
                    continue;
                decl++;
                k += snprintf(msg + k, sizeof msg - (size_t)k, " %s",
                              thrift_type_def_name(thrift_field_def_type(fd)));
            }
            if (!decl && k > 0 && (size_t)k < sizeof msg)
                snprintf(msg + k, sizeof msg - (size_t)k, " nothing");
            return fixture_error(st, file, w, NULL, msg);
        }
        ans->exc_name = arena_strdup(st->arena, thrift_field_def_name(f));
        json_t *v = json_object_get(j, "value");
        json_t *empty = v ? NULL : json_object();
        ans->value = thrift_json_to_value(st->arena, thrift_field_def_type(f), v ? v : empty, 0,
                                          &err);
        json_decref(empty);
        snprintf(w, sizeof w, "%s.value", where);
        return ans->value ? 0 : fixture_error(st, file, w, &err, NULL);
    }
    if (e) {
        ans->kind = ANS_ERROR;
        snprintf(w, sizeof w, "%s.error", where);
        const char *msg = json_string_value(e);
        ans->app_type = THRIFT_APPEX_INTERNAL_ERROR;
        if (json_is_object(e)) {
            msg = json_string_value(json_object_get(e, "message"));
            if (app_type_parse(json_object_get(e, "type"), &ans->app_type))
                return fixture_error(st, file, w, NULL,
                                     "\"type\" must be a TApplicationException type such as "
                                     "INTERNAL_ERROR or UNKNOWN_METHOD (or its number)");
        } else if (!msg) {
            return fixture_error(st, file, w, NULL,
                                 "expected \"text\" or {\"type\": ..., \"message\": \"text\"}");
        }
        ans->message = arena_strdup(st->arena, msg ? msg : "");
        return 0;
    }
    return 0;
}

/* Argument JSON by name (objects) or by position (arrays) -> an object. */
static json_t *args_object(const thrift_function_def_t *fn, json_t *j) {
    if (!json_is_array(j))
        return json_incref(j);
    const thrift_struct_def_t *ad = thrift_function_def_args(fn);
    json_t *o = json_object();
    for (size_t i = 0; i < json_array_size(j) && i < thrift_struct_def_field_count(ad); i++)
        json_object_set(o, thrift_field_def_name(thrift_struct_def_field_at(ad, i)),
                        json_array_get(j, i));
    return o;
}

static int check_keys(serve_state_t *st, const char *file, const char *where, json_t *j,
                      const char *const *allowed) {
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v) {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = !strcmp(key, allowed[i]);
        if (!ok) {
            char msg[400];
            int k = snprintf(msg, sizeof msg, "unknown key \"%s\"; expected", key);
            for (size_t i = 0; allowed[i] && k > 0 && (size_t)k < sizeof msg; i++)
                k += snprintf(msg + k, sizeof msg - (size_t)k, "%s \"%s\"", i ? "," : "",
                              allowed[i]);
            return fixture_error(st, file, where, NULL, msg);
        }
    }
    return 0;
}

static method_t *find_method(serve_state_t *st, const char *name) {
    for (size_t i = 0; i < st->nmethods; i++)
        if (!strcmp(thrift_function_def_name(st->methods[i].fn), name))
            return &st->methods[i];
    return NULL;
}

static int load_fixtures(serve_state_t *st, const char *file) {
    static const char *const entry_keys[] = {"result", "exception", "value", "error",
                                             "cases", "delay_ms", "headers", NULL};
    static const char *const case_keys[] = {"when", "result", "exception", "value",
                                            "error", "delay_ms", "headers", NULL};
    json_error_t jerr;
    json_t *root = json_load_file(file, JSON_ALLOW_NUL, &jerr);
    if (!root) {
        fprintf(stderr, "dynthrift %s: %s:%d:%d: %s\n", st->cmd, file, jerr.line, jerr.column,
                jerr.text);
        return CLI_EXIT_DATA;
    }
    int rc = 0;
    if (!json_is_object(root)) {
        rc = fixture_error(st, file, "(top)", NULL,
                           "expected an object keyed by method name");
        goto out;
    }
    const char *mname;
    json_t *entry;
    json_object_foreach(root, mname, entry) {
        method_t *m = find_method(st, mname);
        if (!m) {
            fprintf(stderr, "dynthrift %s: %s: no method '%s' in service %s; methods:\n",
                    st->cmd, file, mname, thrift_service_def_name(st->svc));
            cli_list_methods(stderr, st->svc);
            rc = CLI_EXIT_DATA;
            goto out;
        }
        m->mocked = true;
        json_t *cases = NULL;
        if (json_is_array(entry)) {
            cases = entry;
        } else if (json_is_object(entry)) {
            if ((rc = check_keys(st, file, mname, entry, entry_keys)))
                goto out;
            cases = json_object_get(entry, "cases");
            if (cases && !json_is_array(cases)) {
                char w[300];
                snprintf(w, sizeof w, "%s.cases", mname);
                rc = fixture_error(st, file, w, NULL, "expected an array of cases");
                goto out;
            }
            bool found;
            if ((rc = parse_answer(st, file, mname, m, entry, &m->fallback, &found)))
                goto out;
            if (!found && !cases) {
                rc = fixture_error(st, file, mname, NULL,
                                   "give \"result\", \"exception\", \"error\" or \"cases\"");
                goto out;
            }
        } else {
            rc = fixture_error(st, file, mname, NULL,
                               "expected an object ({\"result\": ...}) or an array of cases");
            goto out;
        }
        size_t n = cases ? json_array_size(cases) : 0;
        m->cases = n ? thrift_arena_alloc(st->arena, n * sizeof *m->cases) : NULL;
        if (n && !m->cases) {
            rc = CLI_EXIT_SOFTWARE;
            goto out;
        }
        m->ncases = n;
        for (size_t i = 0; i < n; i++) {
            json_t *c = json_array_get(cases, i);
            mock_case_t *mc = &m->cases[i];
            memset(mc, 0, sizeof *mc);
            char w[300];
            snprintf(w, sizeof w, "%s.cases[%zu]", mname, i);
            if (!json_is_object(c)) {
                rc = fixture_error(st, file, w, NULL,
                                   "expected {\"when\": {...}, \"result\": ...}");
                goto out;
            }
            if ((rc = check_keys(st, file, w, c, case_keys)))
                goto out;
            bool found;
            if ((rc = parse_answer(st, file, w, m, c, &mc->ans, &found)))
                goto out;
            if (!found) {
                rc = fixture_error(st, file, w, NULL,
                                   "give \"result\", \"exception\" or \"error\"");
                goto out;
            }
            json_t *when = json_object_get(c, "when");
            if (!when)
                continue; // matches every call
            json_t *wo = args_object(m->fn, when);
            if (!json_is_object(wo)) {
                json_decref(wo);
                snprintf(w, sizeof w, "%s.cases[%zu].when", mname, i);
                rc = fixture_error(st, file, w, NULL,
                                   "expected the arguments as an object (by name) or array");
                goto out;
            }
            thrift_error_t err;
            thrift_error_clear(&err);
            mc->when = thrift_json_to_value(
                st->arena, thrift_struct_def_type(thrift_function_def_args(m->fn)), wo,
                THRIFT_JSON_NO_REQUIRED, &err);
            size_t nk = json_object_size(wo);
            mc->keys = nk ? thrift_arena_alloc(st->arena, nk * sizeof *mc->keys) : NULL;
            const char *key;
            json_t *kv;
            json_object_foreach(wo, key, kv) {
                if (mc->keys)
                    mc->keys[mc->nkeys++] = arena_strdup(st->arena, key);
            }
            json_decref(wo);
            if (!mc->when) {
                snprintf(w, sizeof w, "%s.cases[%zu].when", mname, i);
                rc = fixture_error(st, file, w, &err, NULL);
                goto out;
            }
        }
    }
out:
    json_decref(root);
    return rc;
}

/* ---- --echo ------------------------------------------------------------------ */

static bool same_type(const thrift_type_def_t *a, const thrift_type_def_t *b) {
    a = thrift_type_def_resolved(a);
    b = thrift_type_def_resolved(b);
    if (a == b)
        return true;
    thrift_kind_t k = thrift_type_def_kind(a);
    if (k != thrift_type_def_kind(b))
        return false;
    switch (k) {
    case THRIFT_KIND_LIST:
    case THRIFT_KIND_SET:
        return same_type(thrift_type_def_elem(a), thrift_type_def_elem(b));
    case THRIFT_KIND_MAP:
        return same_type(thrift_type_def_key(a), thrift_type_def_key(b)) &&
               same_type(thrift_type_def_value(a), thrift_type_def_value(b));
    case THRIFT_KIND_ENUM:
        return thrift_type_def_enum(a) == thrift_type_def_enum(b);
    case THRIFT_KIND_STRUCT:
    case THRIFT_KIND_UNION:
    case THRIFT_KIND_EXCEPTION:
        return thrift_type_def_struct(a) == thrift_type_def_struct(b);
    default:
        return true; // base types
    }
}

static thrift_status_t echo_handler(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    method_t *m = ud;
    serve_state_t *st = m->st;
    json_t *aj = args_json_of(st, args);
    const thrift_struct_def_t *ad = thrift_function_def_args(m->fn);
    const thrift_type_def_t *rt = thrift_function_def_return_type(m->fn);
    const thrift_value_t *first = thrift_struct_def_field_count(ad) ? thrift_value_get_at(args, 0)
                                                                     : NULL;
    if (first && same_type(thrift_field_def_type(thrift_struct_def_field_at(ad, 0)), rt))
        answer_result(st, req, aj, first);
    else
        answer_result(st, req, aj, default_value(thrift_request_arena(req), rt));
    return THRIFT_OK;
}

/* ---- --exec ------------------------------------------------------------------- */

static void exec_fail_all(serve_state_t *st, const char *why);
static void exec_read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void exec_write_cb(struct ev_loop *loop, ev_io *w, int revents);
static void exec_child_cb(struct ev_loop *loop, ev_child *w, int revents);

/* Signals the handler's process group (the shell and its children). */
static void exec_signal(const exec_proc_t *x, int sig) {
    if (x->pid > 0 && kill(-x->pid, sig) < 0 && errno == ESRCH)
        (void)kill(x->pid, sig);
}

static void exec_close_pipes(serve_state_t *st) {
    exec_proc_t *x = &st->exec;
    ev_io_stop(st->loop, &x->win);
    ev_io_stop(st->loop, &x->rout);
    if (x->in_fd >= 0)
        close(x->in_fd);
    if (x->out_fd >= 0)
        close(x->out_fd);
    x->in_fd = x->out_fd = -1;
    x->outlen = x->outoff = 0;
    x->inlen = 0;
}

static bool exec_spawn(serve_state_t *st) {
    exec_proc_t *x = &st->exec;
    int to_child[2], from_child[2];
    if (pipe2(to_child, O_CLOEXEC) < 0)
        return false;
    if (pipe2(from_child, O_CLOEXEC) < 0) {
        close(to_child[0]);
        close(to_child[1]);
        return false;
    }
    x->last_spawn = ev_now(st->loop);
    pid_t pid = fork();
    if (pid < 0) {
        close(to_child[0]);
        close(to_child[1]);
        close(from_child[0]);
        close(from_child[1]);
        return false;
    }
    if (pid == 0) {
        // Its own process group: stop and restart signal the shell and
        // everything it started, not the shell alone.
        setpgid(0, 0);
        dup2(to_child[0], 0);
        dup2(from_child[1], 1);
        signal(SIGPIPE, SIG_DFL);
        execl("/bin/sh", "sh", "-c", x->cmd, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid); // also here: whichever runs first, the group exists
    close(to_child[0]);
    close(from_child[1]);
    x->pid = pid;
    x->in_fd = to_child[1];
    x->out_fd = from_child[0];
    fcntl(x->in_fd, F_SETFL, fcntl(x->in_fd, F_GETFL) | O_NONBLOCK);
    fcntl(x->out_fd, F_SETFL, fcntl(x->out_fd, F_GETFL) | O_NONBLOCK);
    ev_io_init(&x->win, exec_write_cb, x->in_fd, EV_WRITE);
    x->win.data = st;
    ev_io_init(&x->rout, exec_read_cb, x->out_fd, EV_READ);
    x->rout.data = st;
    ev_io_start(st->loop, &x->rout);
    ev_child_init(&x->child, exec_child_cb, pid, 0);
    x->child.data = st;
    ev_child_start(st->loop, &x->child);
    x->running = true;
    vlog(st, "started --exec handler (pid %d): %s", (int)pid, x->cmd);
    return true;
}

static void pending_unlink(exec_proc_t *x, exec_pending_t *p) {
    exec_pending_t **pp = &x->buckets[p->id % 1024];
    while (*pp && *pp != p)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = p->hnext;
    if (p->prev)
        p->prev->next = p->next;
    else
        x->all = p->next;
    if (p->next)
        p->next->prev = p->prev;
    x->npending--;
}

static void pending_free(serve_state_t *st, exec_pending_t *p) {
    ev_timer_stop(st->loop, &p->timer);
    pending_unlink(&st->exec, p);
    free(p);
}

/* Lost: the handler died, timed out or answered garbage. */
static void pending_fail(serve_state_t *st, exec_pending_t *p, const char *why) {
    char msg[400];
    snprintf(msg, sizeof msg, "--exec handler: %s", why);
    thrift_request_t *req = p->req;
    json_t *args = p->args;
    p->args = NULL;
    pending_free(st, p);
    answer_error(st, req, args, THRIFT_APPEX_INTERNAL_ERROR, msg);
}

static void exec_fail_all(serve_state_t *st, const char *why) {
    while (st->exec.all)
        pending_fail(st, st->exec.all, why);
}

/* The client left: the handler's answer, if it comes, is dropped as an
 * unknown id. */
static void exec_cancel_cb(thrift_request_t *req, void *ud) {
    exec_pending_t *p = ud;
    serve_state_t *st = p->m->st;
    vlog(st, "%s -> cancelled (%s; call %llu)", thrift_request_method(req), cancel_reason(st),
         (unsigned long long)p->id);
    json_decref(p->args);
    pending_free(st, p);
    thrift_request_abandon(req);
}

static void exec_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    exec_pending_t *p = w->data;
    serve_state_t *st = p->m->st;
    vlog(st, "--exec handler did not answer call %llu in time", (unsigned long long)p->id);
    pending_fail(st, p, "no answer in time");
}

static void exec_child_cb(struct ev_loop *loop, ev_child *w, int revents) {
    (void)revents;
    serve_state_t *st = w->data;
    exec_proc_t *x = &st->exec;
    ev_child_stop(loop, w);
    x->running = false;
    x->last_status = w->rstatus;
    char why[200];
    if (WIFEXITED(w->rstatus))
        snprintf(why, sizeof why, "process exited with status %d", WEXITSTATUS(w->rstatus));
    else if (WIFSIGNALED(w->rstatus))
        snprintf(why, sizeof why, "process killed by signal %d", WTERMSIG(w->rstatus));
    else
        snprintf(why, sizeof why, "process ended");
    if (!st->stopping || st->verbose)
        fprintf(stderr, "dynthrift %s: --exec handler (pid %d): %s\n", st->cmd, (int)x->pid,
                why);
    // What the shell started may outlive it: end the rest of the group
    // before a restart starts another.  (The shell is reaped: only the
    // group, never its pid alone, which may be reused.)
    (void)kill(-x->pid, SIGTERM);
    exec_close_pipes(st);
    exec_fail_all(st, why);
    if (st->stopping)
        ev_break(loop, EVBREAK_ALL);
}

static exec_pending_t *pending_find(exec_proc_t *x, uint64_t id) {
    for (exec_pending_t *p = x->buckets[id % 1024]; p; p = p->hnext)
        if (p->id == id)
            return p;
    return NULL;
}

static void exec_answer(serve_state_t *st, const char *line, size_t len) {
    exec_proc_t *x = &st->exec;
    json_error_t jerr;
    json_t *j = json_loadb(line, len, JSON_ALLOW_NUL, &jerr);
    json_t *idj = j && json_is_object(j) ? json_object_get(j, "id") : NULL;
    if (!idj || !json_is_integer(idj) || json_integer_value(idj) < 0) {
        fprintf(stderr,
                "dynthrift %s: --exec handler wrote a line that is not an answer "
                "{\"id\": N, ...}: %.*s\n",
                st->cmd, (int)(len > 200 ? 200 : len), line);
        json_decref(j);
        exec_fail_all(st, "answered garbage (a line that is not {\"id\": N, ...})");
        return;
    }
    exec_pending_t *p = pending_find(x, (uint64_t)json_integer_value(idj));
    if (!p) {
        vlog(st, "--exec handler answered unknown id %lld (late or duplicate): ignored",
             (long long)json_integer_value(idj));
        json_decref(j);
        return;
    }
    thrift_request_t *req = p->req;
    method_t *m = p->m;
    json_t *args = p->args;
    p->args = NULL;
    pending_free(st, p);
    thrift_arena_t *arena = thrift_request_arena(req);
    thrift_error_t err;
    thrift_error_clear(&err);
    json_t *r = json_object_get(j, "result");
    json_t *xn = json_object_get(j, "exception");
    json_t *e = json_object_get(j, "error");
    json_t *h = json_object_get(j, "headers");
    char msg[700];
    const char *problem = h ? reply_headers_problem(h) : NULL;
    if (problem) {
        snprintf(msg, sizeof msg, "--exec handler: %s", problem);
        answer_error(st, req, args, THRIFT_APPEX_INTERNAL_ERROR, msg);
    } else if (h && !reply_headers_set_json(req, h)) {
        answer_error(st, req, args, THRIFT_APPEX_INTERNAL_ERROR,
                     "--exec handler: out of memory setting the reply's info headers");
    } else if (xn) {
        const char *name = json_string_value(xn);
        const thrift_field_def_t *f = name ? exception_field(m->fn, name) : NULL;
        if (!f) {
            snprintf(msg, sizeof msg, "--exec handler: %s does not throw '%s'",
                     thrift_function_def_name(m->fn), name ? name : "(not a string)");
            answer_error(st, req, args, THRIFT_APPEX_INTERNAL_ERROR, msg);
        } else {
            json_t *v = json_object_get(j, "value");
            json_t *empty = v ? NULL : json_object();
            thrift_value_t *xv =
                thrift_json_to_value(arena, thrift_field_def_type(f), v ? v : empty, 0, &err);
            json_decref(empty);
            if (xv) {
                answer_exception(st, req, args, thrift_field_def_name(f), xv);
            } else {
                snprintf(msg, sizeof msg, "--exec handler: bad exception value: %s%s%s",
                         err.path, err.path[0] ? ": " : "", err.text);
                answer_error(st, req, args, THRIFT_APPEX_INTERNAL_ERROR, msg);
            }
        }
    } else if (e) {
        int type = THRIFT_APPEX_INTERNAL_ERROR;
        const char *text = json_string_value(e);
        if (json_is_object(e)) {
            text = json_string_value(json_object_get(e, "message"));
            if (app_type_parse(json_object_get(e, "type"), &type))
                type = THRIFT_APPEX_INTERNAL_ERROR;
        }
        answer_error(st, req, args, type, text ? text : "error");
    } else {
        const thrift_type_def_t *rt = thrift_function_def_return_type(m->fn);
        if (thrift_type_def_kind(thrift_type_def_resolved(rt)) == THRIFT_KIND_VOID) {
            answer_result(st, req, args, NULL);
        } else if (!r) {
            answer_error(st, req, args, THRIFT_APPEX_INTERNAL_ERROR,
                         "--exec handler: answer has no \"result\", \"exception\" or \"error\"");
        } else {
            thrift_value_t *v = thrift_json_to_value(arena, rt, r, 0, &err);
            if (v) {
                answer_result(st, req, args, v);
            } else {
                snprintf(msg, sizeof msg, "--exec handler: bad result: %s%s%s", err.path,
                         err.path[0] ? ": " : "", err.text);
                answer_error(st, req, args, THRIFT_APPEX_INTERNAL_ERROR, msg);
            }
        }
    }
    json_decref(j);
}

static void exec_read_cb(struct ev_loop *loop, ev_io *w, int revents) {
    (void)loop;
    (void)revents;
    serve_state_t *st = w->data;
    exec_proc_t *x = &st->exec;
    for (;;) {
        if (x->incap - x->inlen < 65536) {
            size_t cap = x->incap ? x->incap * 2 : 131072;
            char *nb = cap <= ((size_t)64 << 20) ? realloc(x->inbuf, cap) : NULL;
            if (!nb) {
                fprintf(stderr, "dynthrift %s: --exec handler: answer line over 64 MiB\n",
                        st->cmd);
                exec_fail_all(st, "answer line too long");
                // The rest of that line is not a new answer: drop it too.
                x->inlen = 0;
                x->skip_line = true;
                continue;
            }
            x->inbuf = nb;
            x->incap = cap;
        }
        ssize_t n = read(x->out_fd, x->inbuf + x->inlen, x->incap - x->inlen);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            // stdout closed: nothing more will be answered, whether or not
            // the process lives on.
            ev_io_stop(st->loop, &x->rout);
            exec_fail_all(st, "closed its stdout");
            if (x->running)
                exec_signal(x, SIGTERM);
            return;
        }
        x->inlen += (size_t)n;
        size_t start = 0;
        char *nl;
        if (x->skip_line) {
            nl = memchr(x->inbuf, '\n', x->inlen);
            if (!nl) {
                x->inlen = 0;
                continue;
            }
            start = (size_t)(nl - x->inbuf) + 1;
            x->skip_line = false;
        }
        while ((nl = memchr(x->inbuf + start, '\n', x->inlen - start))) {
            size_t len = (size_t)(nl - (x->inbuf + start));
            if (len && !(len == 1 && x->inbuf[start] == '\r'))
                exec_answer(st, x->inbuf + start, len);
            start += len + 1;
            if (x->out_fd < 0)
                return; // the process went away meanwhile
        }
        memmove(x->inbuf, x->inbuf + start, x->inlen - start);
        x->inlen -= start;
    }
}

static void exec_flush(serve_state_t *st) {
    exec_proc_t *x = &st->exec;
    while (x->outoff < x->outlen) {
        ssize_t n = write(x->in_fd, x->outbuf + x->outoff, x->outlen - x->outoff);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            ev_io_start(st->loop, &x->win);
            return;
        }
        if (n < 0) {
            // EPIPE: the process is gone or closed stdin; its exit (or
            // stdout EOF) fails the pending calls.
            ev_io_stop(st->loop, &x->win);
            exec_fail_all(st, "closed its stdin");
            x->outlen = x->outoff = 0;
            return;
        }
        x->outoff += (size_t)n;
    }
    x->outlen = x->outoff = 0;
    ev_io_stop(st->loop, &x->win);
}

static void exec_write_cb(struct ev_loop *loop, ev_io *w, int revents) {
    (void)loop;
    (void)revents;
    exec_flush(w->data);
}

static bool exec_queue(serve_state_t *st, const char *text, size_t len) {
    exec_proc_t *x = &st->exec;
    if (x->outlen + len + 1 > x->outcap) {
        size_t cap = x->outcap ? x->outcap : 65536;
        while (cap < x->outlen + len + 1)
            cap *= 2;
        if (cap > ((size_t)64 << 20))
            return false; // the handler is not reading: refuse rather than grow forever
        char *nb = realloc(x->outbuf, cap);
        if (!nb)
            return false;
        x->outbuf = nb;
        x->outcap = cap;
    }
    memcpy(x->outbuf + x->outlen, text, len);
    x->outbuf[x->outlen + len] = '\n';
    x->outlen += len + 1;
    exec_flush(st);
    return true;
}

/* A oneway call the handler's full queue refused: nobody waits for it, so
 * say it here -- counted, logged at most once a second, recorded.  Steals
 * `args`. */
static void oneway_dropped(serve_state_t *st, const char *method, json_t *args) {
    exec_proc_t *x = &st->exec;
    x->oneway_dropped++;
    ev_tstamp now = ev_now(st->loop);
    if (now - x->oneway_drop_logged_at >= 1.0) {
        fprintf(stderr,
                "dynthrift %s: --exec handler is not reading fast enough: %llu oneway call%s "
                "dropped (%llu in all)\n",
                st->cmd, (unsigned long long)(x->oneway_dropped - x->oneway_dropped_logged),
                x->oneway_dropped - x->oneway_dropped_logged == 1 ? "" : "s",
                (unsigned long long)x->oneway_dropped);
        x->oneway_dropped_logged = x->oneway_dropped;
        x->oneway_drop_logged_at = now;
    }
    if (st->record) {
        json_t *oc = json_object();
        json_object_set_new(oc, "oneway", json_true());
        json_object_set_new(oc, "dropped", json_string("the --exec handler's input queue is full"));
        record(st, method, args, oc);
    } else {
        json_decref(args);
    }
}

static thrift_status_t exec_handler(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    method_t *m = ud;
    serve_state_t *st = m->st;
    exec_proc_t *x = &st->exec;
    bool oneway = thrift_request_is_oneway(req);
    if (!x->running) {
        if (x->in_fd >= 0)
            exec_close_pipes(st);
        if (ev_now(st->loop) - x->last_spawn < 1.0 || !exec_spawn(st)) {
            char msg[200];
            snprintf(msg, sizeof msg, "--exec handler is not running (%s)",
                     x->pid ? "it exited; restarts at most once a second" : strerror(errno));
            if (!oneway)
                answer_error(st, req, args_json_of(st, args), THRIFT_APPEX_INTERNAL_ERROR, msg);
            return THRIFT_OK;
        }
    }
    json_t *aj = value_json(args);
    uint64_t id = ++x->next_id;
    json_t *msg = json_object();
    json_object_set_new(msg, "id", json_integer((json_int_t)id));
    json_object_set_new(msg, "method", json_string(thrift_function_def_name(m->fn)));
    json_object_set(msg, "args", aj);
    json_t *hj = request_headers_json(req);
    if (hj)
        json_object_set_new(msg, "headers", hj);
    if (oneway)
        json_object_set_new(msg, "oneway", json_true());
    char *text = json_dumps(msg, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(msg);
    exec_pending_t *p = oneway ? NULL : calloc(1, sizeof *p);
    if (!text || (!oneway && !p) || !exec_queue(st, text, strlen(text))) {
        free(text);
        free(p);
        if (!oneway)
            answer_error(st, req, st->record ? aj : (json_decref(aj), NULL),
                         THRIFT_APPEX_INTERNAL_ERROR,
                         "--exec handler: cannot queue the call (handler not reading?)");
        else
            oneway_dropped(st, thrift_function_def_name(m->fn), aj);
        return THRIFT_OK;
    }
    free(text);
    if (oneway) {
        answer_result(st, req, st->record ? aj : (json_decref(aj), NULL), NULL);
        return THRIFT_OK;
    }
    p->id = id;
    p->req = req;
    p->m = m;
    p->args = st->record ? aj : (json_decref(aj), NULL);
    p->hnext = x->buckets[id % 1024];
    x->buckets[id % 1024] = p;
    p->next = x->all;
    if (x->all)
        x->all->prev = p;
    x->all = p;
    x->npending++;
    ev_timer_init(&p->timer, exec_timeout_cb, x->timeout_ms / 1000.0, 0.);
    p->timer.data = p;
    if (x->timeout_ms)
        ev_timer_start(st->loop, &p->timer);
    thrift_request_set_cancel_cb(req, exec_cancel_cb, p);
    return THRIFT_OK;
}

/* ---- lifecycle ------------------------------------------------------------------ */

/* -v: one line per connection event (worker threads too: vlog writes one
 * line with one stdio call). */
static void conn_event_cb(thrift_rpc_server_t *srv, thrift_conn_event_t ev, uint64_t id,
                          const char *peer, thrift_close_reason_t why, const char *detail,
                          void *ud) {
    (void)srv;
    serve_state_t *st = ud;
    switch (ev) {
    case THRIFT_CONN_EVENT_ACCEPTED:
        vlog(st, "connection %llu from %s: accepted", (unsigned long long)id, peer);
        break;
    case THRIFT_CONN_EVENT_CLOSED:
        // A protocol error says what arrived (say, a framed client against
        // --buffered): the usual first-contact mistake.
        vlog(st, "connection %llu from %s: closed (%s%s%s)", (unsigned long long)id, peer,
             thrift_close_reason_str(why), *detail ? ": " : "", detail);
        break;
    case THRIFT_CONN_EVENT_REJECTED:
        vlog(st, "connection %llu from %s: rejected (%s)", (unsigned long long)id, peer,
             thrift_close_reason_str(why));
        break;
    }
}

static void stopped_cb(thrift_rpc_server_t *srv, void *ud) {
    (void)srv;
    serve_state_t *st = ud;
    vlog(st, "all connections closed");
    if (st->mode == MODE_EXEC && st->exec.running) {
        // Closing its stdin asks the handler to finish; SIGTERM makes sure.
        ev_io_stop(st->loop, &st->exec.win);
        if (st->exec.in_fd >= 0) {
            close(st->exec.in_fd);
            st->exec.in_fd = -1;
        }
        exec_signal(&st->exec, SIGTERM);
        return; // exec_child_cb breaks the loop
    }
    ev_break(st->loop, EVBREAK_ALL);
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents) {
    (void)revents;
    serve_state_t *st = w->data;
    if (++st->stop_signals > 1) {
        fprintf(stderr, "dynthrift %s: second signal: stopping now\n", st->cmd);
        if (st->mode == MODE_EXEC && st->exec.running)
            exec_signal(&st->exec, SIGKILL);
        st->closing = true;
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    st->stopping = true;
    if (st->verbose)
        vlog(st, "signal %d: stopping (answering calls in flight)", w->signum);
    if (st->announcement) {
        // Leave the ServerSet first, and keep serving a moment: clients
        // still routing here until their watch fires get answered.
        thrift_announcement_free(st->announcement);
        st->announcement = NULL;
        vlog(st, "announcement withdrawn; stopping in %.0f ms", st->grace_s * 1000);
        if (st->grace_s > 0) {
            ev_timer_start(loop, &st->grace);
            return;
        }
    }
    thrift_rpc_server_stop(st->srv, stopped_cb, st);
}

/* ZooKeeper was not there at start: say when the member exists. */
static void announce_poll_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)revents;
    serve_state_t *st = w->data;
    const char *path = thrift_announcement_path(st->announcement);
    if (!st->announcement || path) {
        if (path)
            fprintf(stderr, "announced as %s (%s)\n", path, st->announced_addr);
        ev_timer_stop(loop, w);
    }
}

static void grace_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    serve_state_t *st = w->data;
    thrift_rpc_server_stop(st->srv, stopped_cb, st);
}

/* The host to announce: --announce-host, else the host of --addr; NULL
 * (with a message) when that is no address a client can dial. */
static const char *announce_host(const char *given, const char *addr, char *buf, size_t size) {
    if (given)
        return given;
    if (!strncmp(addr, "unix:", 5)) {
        fprintf(stderr, "dynthrift serve: --announce needs a TCP --addr\n");
        return NULL;
    }
    const char *colon = strrchr(addr, ':');
    size_t n = colon ? (size_t)(colon - addr) : strlen(addr);
    if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']') {
        addr++;
        n -= 2;
    }
    snprintf(buf, size, "%.*s", (int)n, addr);
    if (!*buf || !strcmp(buf, "0.0.0.0") || !strcmp(buf, "::") || !strcmp(buf, "*")) {
        fprintf(stderr, "dynthrift serve: listening on '%s': give --announce-host, the address "
                        "clients should dial\n",
                addr);
        return NULL;
    }
    return buf;
}

/* Prints where we listen, with the real port when the address asked for 0. */
static void print_listening(serve_state_t *st, const char *addr) {
    if (!strncmp(addr, "unix:", 5)) {
        fprintf(stderr, "listening on %s\n", addr);
        return;
    }
    const char *colon = strrchr(addr, ':');
    int port = thrift_rpc_server_port(st->srv);
    if (colon)
        fprintf(stderr, "listening on %.*s:%d\n", (int)(colon - addr), addr, port);
    else
        fprintf(stderr, "listening on %s\n", addr);
}

int cmd_serve(int argc, char **argv) {
    const char *cmd = "serve";
    cli_include_dirs_t inc = {0};
    cli_net_opts_t net;
    cli_net_opts_init(&net);
    const char *pos[2] = {0};
    int npos = 0;
    const char *mock = NULL, *exec_cmd = NULL, *record_path = NULL;
    bool echo = false, unknown = false;
    int verbose = 0;
    unsigned long long threads = 1, exec_timeout = 30000, max_connections = 0, idle_timeout = 0;
    unsigned long long busy_poll_us = THRIFT_BUSY_POLL_DEFAULT_US;
    const char *announce_url = NULL, *announce_host_opt = NULL;
    unsigned long long announce_session_ms = 10000, announce_grace_ms = 300;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v;
        int r;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(serve_usage, stdout);
            fputs(serve_usage_options, stdout);
            fputs(cli_net_transport_help, stdout);
            cli_include_dirs_free(&inc);
            return CLI_EXIT_OK;
        }
        if ((r = cli_take_include_opt(argc, argv, &i, cmd, &inc)) != 0) {
            if (r < 0)
                goto usage;
            continue;
        }
        if (!strncmp(a, "--multiplex", 11) || !strncmp(a, "--timeout", 9)) {
            fprintf(stderr,
                    "dynthrift serve: %s is a client option (the server accepts plain and "
                    "multiplexed names)\n",
                    a);
            goto usage;
        }
        if ((r = cli_net_take_opt(argc, argv, &i, cmd, &net)) != 0) {
            if (r < 0)
                goto usage;
            continue;
        }
        if ((r = cli_take_value_opt(argc, argv, &i, cmd, "--mock", &v)) != 0) {
            if (r < 0)
                goto usage;
            mock = v;
            continue;
        }
        if ((r = cli_take_value_opt(argc, argv, &i, cmd, "--exec", &v)) != 0) {
            if (r < 0)
                goto usage;
            exec_cmd = v;
            continue;
        }
        if ((r = cli_take_value_opt(argc, argv, &i, cmd, "--record", &v)) != 0) {
            if (r < 0)
                goto usage;
            record_path = v;
            continue;
        }
        if ((r = cli_take_value_opt(argc, argv, &i, cmd, "--unmocked", &v)) != 0) {
            if (r < 0)
                goto usage;
            if (!strcmp(v, "default")) {
                unknown = false;
            } else if (!strcmp(v, "unknown") || !strcmp(v, "unknown-method")) {
                unknown = true;
            } else {
                fprintf(stderr, "dynthrift serve: --unmocked takes 'default' or 'unknown', not '%s'\n", v);
                goto usage;
            }
            continue;
        }
        if ((r = cli_take_value_opt(argc, argv, &i, cmd, "--threads", &v)) != 0) {
            if (r < 0)
                goto usage;
            if (!cli_parse_uint(v, 256, &threads) || threads == 0) {
                fprintf(stderr, "dynthrift serve: --threads takes 1..256, not '%s'\n", v);
                goto usage;
            }
            continue;
        }
        if ((r = cli_take_value_opt(argc, argv, &i, cmd, "--max-connections", &v)) != 0) {
            if (r < 0)
                goto usage;
            if (!cli_parse_uint(v, 10000000, &max_connections) || max_connections == 0) {
                fprintf(stderr, "dynthrift serve: --max-connections takes a count from 1, not '%s'\n", v);
                goto usage;
            }
            continue;
        }
        if ((r = cli_take_value_opt(argc, argv, &i, cmd, "--idle-timeout", &v)) != 0) {
            if (r < 0)
                goto usage;
            if (!cli_parse_uint(v, UINT32_MAX, &idle_timeout)) {
                fprintf(stderr, "dynthrift serve: --idle-timeout takes milliseconds (0 = none), not '%s'\n", v);
                goto usage;
            }
            continue;
        }
        if ((r = cli_take_value_opt(argc, argv, &i, cmd, "--busy-poll-us", &v)) != 0) {
            if (r < 0)
                goto usage;
            if (!cli_parse_uint(v, THRIFT_BUSY_POLL_MAX_US, &busy_poll_us)) {
                fprintf(stderr, "dynthrift serve: --busy-poll-us takes microseconds (0..%d), not '%s'\n",
                        THRIFT_BUSY_POLL_MAX_US, v);
                goto usage;
            }
            continue;
        }
        if ((r = cli_take_value_opt(argc, argv, &i, cmd, "--exec-timeout", &v)) != 0) {
            if (r < 0)
                goto usage;
            if (!cli_parse_uint(v, 86400000, &exec_timeout)) {
                fprintf(stderr, "dynthrift serve: --exec-timeout takes milliseconds (0 = none), not '%s'\n", v);
                goto usage;
            }
            continue;
        }
        if ((r = cli_take_value_opt(argc, argv, &i, cmd, "--announce", &v)) != 0) {
            if (r < 0)
                goto usage;
            announce_url = v;
            continue;
        }
        if ((r = cli_take_value_opt(argc, argv, &i, cmd, "--announce-host", &v)) != 0) {
            if (r < 0)
                goto usage;
            announce_host_opt = v;
            continue;
        }
        if ((r = cli_take_value_opt(argc, argv, &i, cmd, "--announce-session-ms", &v)) != 0) {
            if (r < 0)
                goto usage;
            if (!cli_parse_uint(v, 600000, &announce_session_ms) || announce_session_ms == 0) {
                fprintf(stderr,
                        "dynthrift serve: --announce-session-ms takes 1..600000, not '%s'\n", v);
                goto usage;
            }
            continue;
        }
        if ((r = cli_take_value_opt(argc, argv, &i, cmd, "--announce-grace-ms", &v)) != 0) {
            if (r < 0)
                goto usage;
            if (!cli_parse_uint(v, 60000, &announce_grace_ms)) {
                fprintf(stderr, "dynthrift serve: --announce-grace-ms takes 0..60000, not '%s'\n",
                        v);
                goto usage;
            }
            continue;
        }
        if (!strcmp(a, "--echo")) {
            echo = true;
            continue;
        }
        if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose++;
            continue;
        }
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "dynthrift serve: unknown option '%s'\n", a);
            goto usage;
        }
        if (npos == 2) {
            fprintf(stderr, "dynthrift serve: unexpected argument '%s'\n", a);
            goto usage;
        }
        pos[npos++] = a;
    }
    if (npos < 2) {
        fprintf(stderr, "dynthrift serve: FILE and SERVICE are required\n");
        goto usage;
    }
    if (!net.addr) {
        fprintf(stderr, "dynthrift serve: --addr HOST:PORT or --addr unix:PATH is required "
                        "(port 0 picks a free port)\n");
        goto usage;
    }
    if ((mock != NULL) + (exec_cmd != NULL) + echo != 1) {
        fprintf(stderr, "dynthrift serve: give exactly one of --mock FIXTURES.json, --exec CMD, --echo\n");
        goto usage;
    }
    char host_buf[256];
    const char *host = NULL;
    if (announce_url &&
        !(host = announce_host(announce_host_opt, net.addr, host_buf, sizeof host_buf)))
        goto usage;
    if (exec_cmd && threads > 1) {
        fprintf(stderr, "dynthrift serve: --exec runs on one loop: drop --threads\n");
        goto usage;
    }

    serve_state_t st;
    memset(&st, 0, sizeof st);
    st.cmd = cmd;
    st.verbose = verbose;
    st.unmocked_unknown = unknown;
    st.mode = mock ? MODE_MOCK : exec_cmd ? MODE_EXEC : MODE_ECHO;
    st.exec.cmd = exec_cmd;
    st.exec.in_fd = st.exec.out_fd = -1;
    st.exec.timeout_ms = (uint32_t)exec_timeout;
    st.exec.last_spawn = -10.0;
    pthread_mutex_init(&st.record_lock, NULL);
    int code = CLI_EXIT_OK;
    thrift_conn_options_t *co = NULL;
    thrift_error_t err;
    thrift_error_clear(&err);

    st.schema = cli_load_schema(pos[0], &inc, &err);
    if (!st.schema) {
        fprintf(stderr, "dynthrift serve: ");
        cli_print_error(stderr, &err);
        code = CLI_EXIT_DATA;
        goto done;
    }
    st.svc = thrift_schema_find_service(st.schema, pos[1]);
    if (!st.svc) {
        const thrift_module_def_t *m = thrift_schema_main_module(st.schema);
        fprintf(stderr, "dynthrift serve: no service '%s' in %s; services:\n", pos[1], pos[0]);
        for (size_t i = 0; i < thrift_module_def_service_count(m); i++)
            fprintf(stderr, "  %s\n", thrift_service_def_name(thrift_module_def_service_at(m, i)));
        code = CLI_EXIT_USAGE;
        goto done;
    }
    st.arena = thrift_arena_new(NULL);
    size_t nfn = 0;
    for (const thrift_service_def_t *s = st.svc; s; s = thrift_service_def_parent(s))
        nfn += thrift_service_def_function_count(s);
    st.methods = st.arena && nfn ? thrift_arena_alloc(st.arena, nfn * sizeof *st.methods) : NULL;
    if (!st.arena || (nfn && !st.methods)) {
        code = CLI_EXIT_SOFTWARE;
        goto done;
    }
    for (const thrift_service_def_t *s = st.svc; s; s = thrift_service_def_parent(s))
        for (size_t i = 0; i < thrift_service_def_function_count(s); i++) {
            const thrift_function_def_t *fn = thrift_service_def_function_at(s, i);
            if (find_method(&st, thrift_function_def_name(fn)))
                continue; // overridden by a nearer service
            method_t *m = &st.methods[st.nmethods++];
            memset(m, 0, sizeof *m);
            m->st = &st;
            m->fn = fn;
        }
    if (mock && (code = load_fixtures(&st, mock)))
        goto done;
    if (record_path) {
        st.record = fopen(record_path, "a");
        if (!st.record) {
            fprintf(stderr, "dynthrift serve: --record %s: %s\n", record_path, strerror(errno));
            code = CLI_EXIT_USAGE;
            goto done;
        }
    }

    signal(SIGPIPE, SIG_IGN);
    st.loop = ev_default_loop(EVFLAG_AUTO);
    co = cli_net_conn_options(&net);
    if (!st.loop || !co) {
        if (st.loop) {
            code = CLI_EXIT_USAGE; // the transport option was reported
        } else {
            fprintf(stderr, "dynthrift serve: cannot create the event loop\n");
            code = CLI_EXIT_SOFTWARE;
        }
        goto done;
    }
    if (idle_timeout)
        thrift_conn_options_set_idle_timeout_ms(co, (uint32_t)idle_timeout);
    thrift_conn_options_set_busy_poll_us(co, (uint32_t)busy_poll_us);
    st.srv = thrift_rpc_server_new(st.loop, st.schema, co, &err);
    if (!st.srv) {
        fprintf(stderr, "dynthrift serve: ");
        cli_print_error(stderr, &err);
        code = CLI_EXIT_SOFTWARE;
        goto done;
    }
    if (threads > 1)
        thrift_rpc_server_set_threads(st.srv, (unsigned)threads);
    if (max_connections)
        thrift_rpc_server_set_max_connections(st.srv, (size_t)max_connections);
    if (verbose)
        thrift_rpc_server_set_conn_detail_cb(st.srv, conn_event_cb, &st);
    for (size_t i = 0; i < st.nmethods; i++) {
        method_t *m = &st.methods[i];
        thrift_handler_cb cb = st.mode == MODE_ECHO   ? echo_handler
                               : st.mode == MODE_EXEC ? exec_handler
                                                      : mock_handler;
        // Unfixtured methods stay unregistered so the server itself
        // answers UNKNOWN_METHOD.
        if (st.mode == MODE_MOCK && !m->mocked && unknown)
            continue;
        if (thrift_rpc_server_handle(st.srv, thrift_service_def_name(st.svc),
                                     thrift_function_def_name(m->fn), cb, m, &err)) {
            fprintf(stderr, "dynthrift serve: ");
            cli_print_error(stderr, &err);
            code = CLI_EXIT_SOFTWARE;
            goto done;
        }
    }
    if (thrift_rpc_server_listen(st.srv, net.addr, &err)) {
        fprintf(stderr, "dynthrift serve: cannot listen on %s: ", net.addr);
        cli_print_error(stderr, &err);
        code = CLI_EXIT_TRANSPORT;
        goto done;
    }
    if (st.mode == MODE_EXEC && !exec_spawn(&st)) {
        fprintf(stderr, "dynthrift serve: --exec: cannot start '%s': %s\n", exec_cmd,
                strerror(errno));
        code = CLI_EXIT_SOFTWARE;
        goto done;
    }
    ev_signal_init(&st.sigint, signal_cb, SIGINT);
    st.sigint.data = &st;
    ev_signal_start(st.loop, &st.sigint);
    ev_signal_init(&st.sigterm, signal_cb, SIGTERM);
    st.sigterm.data = &st;
    ev_signal_start(st.loop, &st.sigterm);
    print_listening(&st, net.addr);
    ev_timer_init(&st.grace, grace_cb, (double)announce_grace_ms / 1000.0, 0.);
    st.grace.data = &st;
    st.grace_s = (double)announce_grace_ms / 1000.0;
    if (announce_url) {
        st.announcement = thrift_announce(st.loop, announce_url, host,
                                          thrift_rpc_server_port(st.srv),
                                          (uint32_t)announce_session_ms, &err);
        if (!st.announcement) {
            fprintf(stderr, "dynthrift serve: --announce: ");
            cli_print_error(stderr, &err);
            code = err.code == THRIFT_UNSUPPORTED ? CLI_EXIT_SOFTWARE : CLI_EXIT_USAGE;
            goto done;
        }
        // Announced once ZooKeeper answers; until then (or while it is
        // away) the server serves anyway and the node follows.
        snprintf(st.announced_addr, sizeof st.announced_addr, "%s:%d", host,
                 thrift_rpc_server_port(st.srv));
        if (thrift_announcement_wait(st.announcement, 5000, &err) == THRIFT_OK) {
            fprintf(stderr, "announced as %s (%s)\n", thrift_announcement_path(st.announcement),
                    st.announced_addr);
        } else {
            fprintf(stderr, "dynthrift serve: --announce: not yet: %s (still trying)\n", err.text);
            ev_timer_init(&st.announce_poll, announce_poll_cb, 0.1, 0.1);
            st.announce_poll.data = &st;
            ev_timer_start(st.loop, &st.announce_poll);
        }
    }
    // What cli_net_conn_options asked of the server: a transport pinned by
    // --framed/--buffered/--header (or framed with --zlib), else each
    // connection's kind recognized from its first bytes.
    char kinds[160];
    if (net.framing_set || net.zlib)
        snprintf(kinds, sizeof kinds, "%s protocol, %s transport%s",
                 thrift_protocol_name(net.proto),
                 !net.framing_set || net.framing == THRIFT_FRAMING_FRAMED ? "framed"
                 : net.framing == THRIFT_FRAMING_HEADER                  ? "THeader"
                                                                         : "buffered",
                 net.zlib ? " with zlib" : "");
    else
        snprintf(kinds, sizeof kinds,
                 "each connection's kind recognized: framed, buffered or THeader, binary, "
                 "compact or JSON, HTTP%s",
                 net.cert ? ", TLS" : "");
    vlog(&st, "serving %s (%zu methods, %s, %s)", thrift_service_def_name(st.svc), st.nmethods,
         kinds, st.mode == MODE_MOCK ? "mock" : st.mode == MODE_EXEC ? "exec" : "echo");
    // A method without a fixture answers its return type's default value,
    // required fields filled with zeros: say so before a client wonders.
    for (size_t i = 0; st.mode == MODE_MOCK && i < st.nmethods; i++)
        if (!st.methods[i].mocked)
            vlog(&st, "%s has no fixture: %s", thrift_function_def_name(st.methods[i].fn),
                 unknown ? "answers UNKNOWN_METHOD (--unmocked unknown)"
                         : "answers the return type's default value (--unmocked default)");
    fflush(stderr);

    ev_run(st.loop, 0);
    if (st.exec.oneway_dropped)
        fprintf(stderr, "dynthrift serve: %llu oneway calls dropped in all (--exec handler's "
                        "queue full)\n",
                (unsigned long long)st.exec.oneway_dropped);
    vlog(&st, "stopped");

done:
    thrift_announcement_free(st.announcement);
    st.announcement = NULL;
    if (st.loop) {
        ev_signal_stop(st.loop, &st.sigint);
        ev_signal_stop(st.loop, &st.sigterm);
        ev_timer_stop(st.loop, &st.grace);
        ev_timer_stop(st.loop, &st.announce_poll);
    }
    if (st.mode == MODE_EXEC && st.loop) {
        exec_fail_all(&st, "server stopping");
        if (st.exec.running) {
            exec_signal(&st.exec, SIGKILL);
            waitpid(st.exec.pid, NULL, 0);
            ev_child_stop(st.loop, &st.exec.child);
        }
        exec_close_pipes(&st);
    }
    st.closing = true;
    thrift_rpc_server_free(st.srv);
    free(st.exec.inbuf);
    free(st.exec.outbuf);
    if (st.record)
        fclose(st.record);
    pthread_mutex_destroy(&st.record_lock);
    thrift_arena_free(st.arena);
    thrift_conn_options_free(co);
    thrift_schema_unref(st.schema);
    cli_include_dirs_free(&inc);
    return code;

usage:
    fputs("try 'dynthrift serve --help'\n", stderr);
    cli_include_dirs_free(&inc);
    return CLI_EXIT_USAGE;
}
