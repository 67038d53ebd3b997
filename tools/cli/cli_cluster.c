/* `call` and `bench` over a cluster of servers (see cli_cluster.h). */
#include <errno.h>
#include <ev.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cli_cluster.h"
#include "cli_latency.h"
#include "cli_net.h"
#include "cli_util.h"
#include "dynthrift/json.h"
#include "dynthrift/pool.h"

#define ZK_WAIT_MS 10000

static const char cluster_usage[] =
    "Several servers (call and bench):\n"
    "  --addr A:1,B:2 | --addr A:1 --addr B:2   a static cluster\n"
    "  --addr zk://HOST:2181[,...]/PATH[#ENDPOINT] the ALIVE members of a ZooKeeper\n"
    "                                 ServerSet, followed while the command runs\n"
    "  --balance round-robin|random|least|hash   how calls are spread (default\n"
    "                                 round-robin; least: fewest calls in flight)\n"
    "  --hash-arg NAME                consistent hashing by the argument NAME (as\n"
    "                                 thrift_client's hashed clients); implies hash\n"
    "  call --all                     call every server; prints a JSON array with one\n"
    "                                 {\"server\": ..., \"result\" | \"exception\" | \"error\": "
    "...}\n"
    "                                 per server; exit code of the first failure\n"
    "  call --lines                   as for one server; each answer adds \"server\"\n"
    "  call -i, -H 'KEY: VALUE'       as for one server (THeader info headers), not\n"
    "                                 yet with --all\n"
    "  bench                          -p N calls in flight in all (default 16),\n"
    "                                 -c N connections per server, -d SECONDS or\n"
    "                                 -n CALLS, --json [--pretty], --fail-on-error,\n"
    "                                 --max-p99 MS, --rate N, --warmup SECONDS,\n"
    "                                 --latency; reports each server and the total\n"
    "                                 (not yet with several servers: --verify)\n";

void cli_cluster_usage(FILE *out) {
    fputs("\n", out);
    fputs(cluster_usage, out);
}

typedef struct copts {
    const char *cmd;
    bool bench;
    cli_include_dirs_t inc;
    cli_net_opts_t net;
    cli_cluster_spec_t spec;
    bool all, lines, pretty, json, fail_on_error;
    bool show_headers; /* call -i / --show-headers */
    unsigned args_flags; /* --ignore-unknown */
    unsigned long long pipeline, connections, calls;
    double duration;
    double max_p99_ms; /* bench --max-p99; 0: none */
    double rate;       /* bench --rate: calls/s in all, open loop; 0: closed loop */
    double warmup;     /* bench --warmup: seconds run before measuring */
    bool latency_dist; /* bench --latency */
    const char *pos[3];
    int npos;
} copts_t;

bool cli_cluster_wanted(int argc, char **argv) {
    int addrs = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        if (!strcmp(a, "--balance") || !strncmp(a, "--balance=", 10) || !strcmp(a, "--hash-arg") ||
            !strncmp(a, "--hash-arg=", 11) || !strcmp(a, "--all"))
            return true;
        if (!strcmp(a, "--addr") && i + 1 < argc)
            v = argv[++i];
        else if (!strncmp(a, "--addr=", 7))
            v = a + 7;
        if (v && (++addrs > 1 || strchr(v, ',') || !strncmp(v, "zk://", 5)))
            return true;
    }
    return false;
}

static void copts_free(copts_t *o) {
    cli_cluster_spec_free(&o->spec);
    cli_include_dirs_free(&o->inc);
}

void cli_cluster_spec_free(cli_cluster_spec_t *spec) {
    for (size_t i = 0; i < spec->nsplit; i++)
        free(spec->split[i]);
    spec->nsplit = spec->naddrs = 0;
}

bool cli_cluster_spec_is_cluster(const cli_cluster_spec_t *spec) {
    return spec->naddrs > 1 || spec->zk || spec->hash || spec->balance != THRIFT_BALANCE_ROUND_ROBIN;
}

int cli_cluster_spec_take_addr(cli_cluster_spec_t *o, const char *cmd, const char *opt,
                               const char *v) {
    if (!strncmp(v, "zk://", 5) || o->zk) {
        if (o->zk || o->naddrs) {
            fprintf(stderr, "dynthrift %s: a zk:// %s cannot be combined with other %s\n", cmd,
                    opt, opt);
            return -1;
        }
        o->zk = v;
        return 0;
    }
    size_t vlen = strlen(v);
    if (!vlen || v[vlen - 1] == ',') { // "a:1," : the loop below would not see the empty end
        fprintf(stderr, "dynthrift %s: %s '%s': an empty server in the list\n", cmd, opt, v);
        return -1;
    }
    for (const char *p = v; *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (!n || o->naddrs == CLI_CLUSTER_MAX_SERVERS || o->nsplit == CLI_CLUSTER_MAX_SERVERS) {
            fprintf(stderr, "dynthrift %s: %s '%s': %s\n", cmd, opt, v,
                    n ? "more than 256 servers" : "an empty server in the list");
            return -1;
        }
        char *piece = strndup(p, n);
        if (!piece)
            return -1;
        o->split[o->nsplit++] = piece;
        for (size_t i = 0; i < o->naddrs; i++)
            if (!strcmp(o->addrs[i], piece)) {
                fprintf(stderr, "dynthrift %s: %s: '%s' given twice\n", cmd, opt, piece);
                return -1;
            }
        o->addrs[o->naddrs++] = piece;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

int cli_cluster_spec_take_opt(cli_cluster_spec_t *o, int argc, char **argv, int *i,
                              const char *cmd) {
    const char *v;
    int r;
    if ((r = cli_take_value_opt(argc, argv, i, cmd, "--balance", &v)) != 0) {
        if (r < 0)
            return -1;
        if (!strcmp(v, "round-robin") || !strcmp(v, "rr"))
            o->balance = THRIFT_BALANCE_ROUND_ROBIN;
        else if (!strcmp(v, "random"))
            o->balance = THRIFT_BALANCE_RANDOM;
        else if (!strcmp(v, "least") || !strcmp(v, "least-outstanding"))
            o->balance = THRIFT_BALANCE_LEAST_OUTSTANDING;
        else if (!strcmp(v, "hash"))
            o->hash = true;
        else {
            fprintf(stderr,
                    "dynthrift %s: --balance takes round-robin, random, least or "
                    "hash, not '%s'\n",
                    cmd, v);
            return -1;
        }
        return 1;
    }
    if ((r = cli_take_value_opt(argc, argv, i, cmd, "--hash-arg", &v)) != 0) {
        if (r < 0)
            return -1;
        o->hash_arg = v;
        o->hash = true;
        return 1;
    }
    return 0;
}

static int parse(copts_t *o, int argc, char **argv) {
    cli_net_opts_init(&o->net);
    o->pipeline = o->bench ? 16 : 128;
    o->connections = 1;
    o->duration = 10;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v;
        int r;
        if ((r = cli_take_value_opt(argc, argv, &i, o->cmd, "--addr", &v)) != 0) {
            if (r < 0 || cli_cluster_spec_take_addr(&o->spec, o->cmd, "--addr", v))
                return -1;
            continue;
        }
        if ((r = cli_take_include_opt(argc, argv, &i, o->cmd, &o->inc)) != 0 ||
            (r = cli_net_take_opt(argc, argv, &i, o->cmd, &o->net)) != 0) {
            if (r < 0)
                return -1;
            continue;
        }
        if ((r = cli_cluster_spec_take_opt(&o->spec, argc, argv, &i, o->cmd)) != 0) {
            if (r < 0)
                return -1;
            continue;
        }
        const char *pipe_opt = o->bench ? "-p" : "--pipeline";
        if ((r = cli_take_value_opt(argc, argv, &i, o->cmd, "--pipeline", &v)) != 0 ||
            (o->bench && (r = cli_take_value_opt(argc, argv, &i, o->cmd, "-p", &v)) != 0)) {
            if (r < 0)
                return -1;
            if (!cli_parse_uint(v, 100000, &o->pipeline) || o->pipeline == 0) {
                fprintf(stderr, "dynthrift %s: %s takes a count from 1, not '%s'\n", o->cmd,
                        pipe_opt, v);
                return -1;
            }
            continue;
        }
        if (o->bench) {
            if ((r = cli_take_value_opt(argc, argv, &i, o->cmd, "-c", &v)) != 0 ||
                (r = cli_take_value_opt(argc, argv, &i, o->cmd, "--connections", &v)) != 0) {
                if (r < 0)
                    return -1;
                if (!cli_parse_uint(v, 1000, &o->connections) || o->connections == 0) {
                    fprintf(stderr, "dynthrift bench: -c takes 1..1000, not '%s'\n", v);
                    return -1;
                }
                continue;
            }
            if ((r = cli_take_value_opt(argc, argv, &i, o->cmd, "-n", &v)) != 0 ||
                (r = cli_take_value_opt(argc, argv, &i, o->cmd, "--calls", &v)) != 0) {
                if (r < 0)
                    return -1;
                if (!cli_parse_uint(v, 1000000000ull, &o->calls) || o->calls == 0) {
                    fprintf(stderr, "dynthrift bench: -n takes a count from 1, not '%s'\n", v);
                    return -1;
                }
                continue;
            }
            if ((r = cli_take_value_opt(argc, argv, &i, o->cmd, "-d", &v)) != 0 ||
                (r = cli_take_value_opt(argc, argv, &i, o->cmd, "--duration", &v)) != 0) {
                if (r < 0)
                    return -1;
                char *end;
                o->duration = strtod(v, &end);
                if (*end || !(o->duration > 0 && o->duration <= 86400)) {
                    fprintf(stderr,
                            "dynthrift bench: -d takes seconds (0 < d <= 86400), not '%s'\n", v);
                    return -1;
                }
                continue;
            }
            if ((r = cli_take_value_opt(argc, argv, &i, o->cmd, "--max-p99", &v)) != 0) {
                if (r < 0)
                    return -1;
                char *end;
                o->max_p99_ms = strtod(v, &end);
                if (*end || !(o->max_p99_ms > 0)) {
                    fprintf(stderr, "dynthrift bench: --max-p99 takes milliseconds, not '%s'\n", v);
                    return -1;
                }
                continue;
            }
            if (!strcmp(a, "--json")) {
                o->json = true;
                continue;
            }
            if (!strcmp(a, "--latency")) {
                o->latency_dist = true;
                continue;
            }
            if ((r = cli_take_value_opt(argc, argv, &i, o->cmd, "--warmup", &v)) != 0) {
                if (r < 0)
                    return -1;
                if (!cli_parse_seconds(v, &o->warmup)) {
                    fprintf(stderr, "dynthrift bench: --warmup takes seconds, not '%s'\n", v);
                    return -1;
                }
                continue;
            }
            if ((r = cli_take_value_opt(argc, argv, &i, o->cmd, "--rate", &v)) != 0) {
                if (r < 0)
                    return -1;
                char *end;
                o->rate = strtod(v, &end);
                if (*end || !(o->rate > 0 && o->rate <= 1e8)) {
                    fprintf(stderr,
                            "dynthrift bench: --rate takes calls per second (> 0), not '%s'\n", v);
                    return -1;
                }
                continue;
            }
        } else {
            if (!strcmp(a, "--all")) {
                o->all = true;
                continue;
            }
            if (!strcmp(a, "--lines")) {
                o->lines = true;
                continue;
            }
            if (!strcmp(a, "-i") || !strcmp(a, "--show-headers")) {
                o->show_headers = true;
                continue;
            }
        }
        if (!strcmp(a, "--pretty")) {
            o->pretty = true;
            continue;
        }
        if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            fprintf(stderr, "dynthrift %s: -v traces one connection: give one --addr to trace it\n",
                    o->cmd);
            return -1;
        }
        if (!strcmp(a, "--ignore-unknown")) {
            o->args_flags = THRIFT_JSON_IGNORE_UNKNOWN;
            continue;
        }
        if (o->bench && !strcmp(a, "--fail-on-error")) {
            o->fail_on_error = true;
            continue;
        }
        if (cli_net_take_positional(o->cmd, a, o->pos, &o->npos))
            return -1;
    }
    o->net.addr = o->spec.zk ? o->spec.zk : o->spec.naddrs ? o->spec.addrs[0] : NULL;
    if (cli_net_check_required(o->cmd, o->npos, &o->net))
        return -1;
    if (o->spec.hash && !o->spec.hash_arg) {
        fprintf(stderr,
                "dynthrift %s: --balance hash needs --hash-arg NAME (the argument to "
                "hash)\n",
                o->cmd);
        return -1;
    }
    if (o->all && (o->lines || o->spec.hash)) {
        fprintf(stderr, "dynthrift call: --all calls every server: drop %s\n",
                o->lines ? "--lines" : "--balance hash / --hash-arg");
        return -1;
    }
    if (o->lines && (o->pretty || o->npos > 2)) {
        fprintf(stderr,
                "dynthrift call: --lines reads the calls from stdin, one answer a line: "
                "drop %s\n",
                o->pretty ? "--pretty" : o->pos[2]);
        return -1;
    }
    if (!o->net.timeout_set) {
        o->net.timeout_ms = 5000; // as call's default deadline
        o->net.timeout_set = true;
    }
    return 0;
}

int cli_cluster_spec_build(const cli_cluster_spec_t *o, const char *cmd, const char *opt,
                           struct ev_loop *loop, thrift_schema_t *schema, const char *service,
                           const char *method, const thrift_conn_options_t *co,
                           const thrift_pool_options_t *po, thrift_cluster_t **clp,
                           thrift_serverset_t **ssp) {
    thrift_error_t err;
    thrift_error_clear(&err);
    *ssp = NULL;
    thrift_cluster_t *cl = *clp = thrift_cluster_new(loop, schema, service, co, po, &err);
    if (!cl) {
        fprintf(stderr, "dynthrift %s: ", cmd);
        cli_print_error(stderr, &err);
        return CLI_EXIT_SOFTWARE;
    }
    thrift_cluster_set_balance(cl, o->balance);
    if (o->hash_arg && thrift_cluster_route_by_arg(cl, method, o->hash_arg, &err) != THRIFT_OK) {
        fprintf(stderr, "dynthrift %s: --hash-arg: ", cmd);
        cli_print_error(stderr, &err);
        return CLI_EXIT_USAGE;
    }
    for (size_t i = 0; i < o->naddrs; i++)
        if (thrift_cluster_add_server(cl, o->addrs[i], o->addrs[i], &err) != THRIFT_OK) {
            fprintf(stderr, "dynthrift %s: %s %s: ", cmd, opt, o->addrs[i]);
            cli_print_error(stderr, &err);
            return cli_net_addr_exit(&err);
        }
    if (o->zk) {
        *ssp = thrift_serverset_follow(cl, o->zk, 0, &err);
        if (!*ssp) {
            fprintf(stderr, "dynthrift %s: %s: ", cmd, opt);
            cli_print_error(stderr, &err);
            return err.code == THRIFT_UNSUPPORTED ? CLI_EXIT_SOFTWARE : CLI_EXIT_USAGE;
        }
        if (thrift_serverset_wait(*ssp, ZK_WAIT_MS, &err) != THRIFT_OK) {
            fprintf(stderr, "dynthrift %s: %s: %s\n", cmd, o->zk, err.text);
            return CLI_EXIT_TRANSPORT;
        }
        if (!thrift_cluster_server_count(cl)) {
            fprintf(stderr, "dynthrift %s: %s: no ALIVE member\n", cmd, o->zk);
            return CLI_EXIT_TRANSPORT;
        }
    }
    return 0;
}

/* ---- the cluster ------------------------------------------------------------- */

typedef struct run {
    copts_t *o;
    struct ev_loop *loop;
    thrift_schema_t *schema;
    const thrift_service_def_t *svc;
    const thrift_function_def_t *fn;
    thrift_conn_options_t *co;
    thrift_pool_options_t *po;
    thrift_cluster_t *cl;
    thrift_serverset_t *ss;
    thrift_arena_t *arena;
    thrift_value_t *args;
    const char **hdr_pairs; /* -H as THeader info headers of each call (owned) */
    int nhdr;
} run_t;

static void run_free(run_t *r) {
    free(r->hdr_pairs);
    thrift_serverset_free(r->ss);
    thrift_cluster_free(r->cl);
    thrift_pool_options_free(r->po);
    thrift_conn_options_free(r->co);
    thrift_arena_free(r->arena);
    if (r->loop)
        ev_loop_destroy(r->loop);
    thrift_schema_unref(r->schema);
}

/* Loads the schema, builds the cluster and the call's arguments.  Returns 0
 * or the exit code (message printed). */
static int run_setup(run_t *r, copts_t *o, bool method_optional) {
    thrift_error_t err;
    thrift_error_clear(&err);
    r->o = o;
    r->schema = cli_load_schema(o->pos[0], &o->inc, &err);
    if (!r->schema) {
        fprintf(stderr, "dynthrift %s: ", o->cmd);
        cli_print_error(stderr, &err);
        return CLI_EXIT_DATA;
    }
    int code =
        cli_split_service_method(o->cmd, r->schema, o->pos[1], method_optional, &r->svc, &r->fn);
    if (code)
        return code;
    if (r->fn && !o->lines) {
        json_t *argsj = o->npos == 3 ? cli_net_load_args(o->cmd, o->pos[2]) : NULL;
        if (o->npos == 3 && !argsj)
            return CLI_EXIT_DATA;
        r->arena = thrift_arena_new(NULL);
        r->args = r->arena ? cli_args_from_json(r->fn, r->arena, argsj, o->args_flags, &err) : NULL;
        json_decref(argsj);
        if (!r->args) {
            fprintf(stderr, "dynthrift %s: arguments: ", o->cmd);
            cli_print_error(stderr, &err);
            return CLI_EXIT_DATA;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    r->loop = ev_loop_new(EVFLAG_AUTO);
    r->co = cli_net_conn_options(&o->net);
    r->po = thrift_pool_options_new();
    if (!r->loop || !r->co || !r->po) {
        fprintf(stderr, "dynthrift %s: out of memory\n", o->cmd);
        return CLI_EXIT_SOFTWARE;
    }
    // A pool's connections are shared: -H goes with each call instead.
    r->nhdr = cli_net_header_pairs(o->cmd, &o->net, &r->hdr_pairs);
    if (r->nhdr < 0)
        return CLI_EXIT_USAGE;
    if (o->all && (r->nhdr || o->show_headers)) {
        fprintf(stderr, "dynthrift call: --all: -i and THeader -H headers are for routed "
                        "calls (not yet with --all)\n");
        return CLI_EXIT_USAGE;
    }
    // Pipelined leases: a few connections per server carry every call.
    thrift_pool_options_set_max_inflight(r->po, 64);
    thrift_pool_options_set_maxsize(r->po, (size_t)o->connections);
    code = cli_cluster_spec_build(&o->spec, o->cmd, "--addr", r->loop, r->schema,
                                       thrift_service_def_name(r->svc),
                                       r->fn && !o->lines ? thrift_function_def_name(r->fn) : NULL,
                                       r->co, r->po, &r->cl, &r->ss);
    if (code)
        return code;
    return 0;
}

/* The JSON of one response: {"result": ...} | {"exception": NAME, "value":
 * ...} | {"error": {...}}, plus "server" when `server`.  Sets *code. */
static json_t *response_json(const thrift_response_t *resp, bool server, int *code) {
    thrift_status_t s = thrift_response_status(resp);
    json_t *o = json_object();
    if (server)
        json_object_set_new(
            o, "server",
            json_string(thrift_response_server(resp) ? thrift_response_server(resp) : ""));
    *code = cli_status_exit(s);
    if (s == THRIFT_OK || s == THRIFT_DECLARED_EXCEPTION) {
        const thrift_value_t *v = thrift_response_value(resp);
        thrift_error_t err;
        thrift_error_clear(&err);
        json_t *val = !v || thrift_value_kind(v) == THRIFT_KIND_VOID
                          ? json_null()
                          : thrift_json_from_value(v, 0, &err);
        if (!val) {
            *code = CLI_EXIT_DATA;
            json_object_set_new(o, "error", cli_error_json("bad_reply", NULL, err.text));
        } else if (s == THRIFT_OK) {
            json_object_set_new(o, "result", val);
        } else {
            const char *xn = thrift_response_exception_name(resp);
            json_object_set_new(o, "exception", json_string(xn ? xn : "exception"));
            json_object_set_new(o, "value", val);
        }
        return o;
    }
    char buf[600];
    const thrift_error_t *e = thrift_response_error(resp);
    if (e && e->code)
        thrift_error_render(e, false, buf, sizeof buf);
    else
        snprintf(buf, sizeof buf, "%s", thrift_status_str(s));
    const char *type =
        s == THRIFT_APP_EXCEPTION ? cli_app_exception_name(thrift_response_app_type(resp)) : NULL;
    json_object_set_new(o, "error", cli_error_json(cli_status_kind(s), type, buf));
    return o;
}

/* The reply's info headers as {"KEY": "VALUE"...}, NULL when none (only
 * inside the response's callback). */
static json_t *response_headers_json(const thrift_response_t *resp) {
    json_t *o = NULL;
    const char *k, *v;
    for (size_t i = 0; thrift_response_header_at(resp, i, &k, &v); i++)
        o = cli_headers_put(o, k, v);
    return o;
}

static void print_json(json_t *j, bool pretty) {
    char *text = json_dumps(j, JSON_ENCODE_ANY | JSON_PRESERVE_ORDER |
                                   (pretty ? JSON_INDENT(2) : JSON_COMPACT));
    if (text) {
        fputs(text, stdout);
        fputc('\n', stdout);
        free(text);
    }
}

/* ---- call ---------------------------------------------------------------------- */

typedef struct single {
    bool done;
    json_t *out;
    json_t *headers; /* the reply's info headers, or NULL */
    int code;
} single_t;

static void single_cb(thrift_cluster_t *cl, thrift_response_t *resp, void *ud) {
    (void)cl;
    single_t *s = ud;
    s->out = response_json(resp, true, &s->code);
    s->headers = response_headers_json(resp);
    s->done = true;
}

static void all_cb(thrift_cluster_t *cl, const thrift_responses_t *rs, void *ud) {
    (void)cl;
    single_t *s = ud;
    s->out = json_array();
    for (size_t i = 0; i < thrift_responses_count(rs); i++) {
        int code;
        json_array_append_new(s->out, response_json(thrift_responses_at(rs, i), true, &code));
        if (code && !s->code)
            s->code = code;
    }
    s->done = true;
}

/* --lines over the cluster: lines are read from stdin as they come (an
 * ev_io, or an ev_idle for a regular file, which is always readable), sent
 * with up to --pipeline in flight; answers print in input order. */
#define MAX_LINE (64u << 20)

typedef struct line_call {
    json_t *answer;
    int code;
    bool done;
} line_call_t;

typedef struct lines_run {
    run_t *r;
    line_call_t *calls; /* one per line read, by line number */
    size_t n, cap, next_print, inflight;
    char *buf; /* bytes read, not yet a whole line */
    size_t len, bufcap;
    bool eof, regular;
    ev_io io;
    ev_idle idle;
    int code;
} lines_run_t;

typedef struct line_ud {
    lines_run_t *lr;
    size_t index;
} line_ud_t;

static void lines_pump(lines_run_t *lr);

static void line_done(lines_run_t *lr, size_t i, json_t *answer, int code) {
    lr->calls[i].answer = answer;
    lr->calls[i].code = code;
    lr->calls[i].done = true;
    while (lr->next_print < lr->n && lr->calls[lr->next_print].done) {
        line_call_t *c = &lr->calls[lr->next_print++];
        print_json(c->answer, false);
        json_decref(c->answer);
        c->answer = NULL;
        if (c->code && !lr->code)
            lr->code = c->code;
    }
    fflush(stdout);
}

static void line_cb(thrift_cluster_t *cl, thrift_response_t *resp, void *ud) {
    (void)cl;
    line_ud_t *u = ud;
    lines_run_t *lr = u->lr;
    int code;
    json_t *a = response_json(resp, true, &code);
    json_t *h = response_headers_json(resp);
    if (!h && lr->r->o->show_headers)
        h = json_object();
    if (h)
        json_object_set_new(a, "headers", h);
    lr->inflight--;
    line_done(lr, u->index, a, code);
    free(u);
    lines_pump(lr);
}

/* Sends line `i` (its text); a line that cannot be sent is answered with
 * its error at once. */
static void line_send(lines_run_t *lr, size_t i, const char *text, size_t len) {
    run_t *r = lr->r;
    char msg[700];
    json_error_t jerr;
    json_t *j = json_loadb(text, len, JSON_ALLOW_NUL, &jerr);
    const char *method = json_string_value(json_object_get(j, "method"));
    const thrift_function_def_t *fn =
        method ? thrift_service_def_find_function(r->svc, method) : r->fn;
    thrift_error_t err;
    thrift_error_clear(&err);
    if (!json_is_object(j)) {
        snprintf(msg, sizeof msg,
                 "<stdin>:%zu: expected an object {\"method\": ..., \"args\": ...}", i + 1);
    } else if (!fn) {
        if (method)
            snprintf(msg, sizeof msg, "<stdin>:%zu: service %s has no method '%.200s'", i + 1,
                     thrift_service_def_name(r->svc), method);
        else
            snprintf(msg, sizeof msg, "<stdin>:%zu: \"method\" missing (a string)", i + 1);
    } else {
        thrift_arena_t *arena = thrift_arena_new(NULL);
        thrift_value_t *args = arena ? cli_args_from_json(fn, arena, json_object_get(j, "args"),
                                                          r->o->args_flags, &err)
                                     : NULL;
        line_ud_t *u = args ? malloc(sizeof *u) : NULL;
        thrift_status_t cs = THRIFT_NOMEM;
        if (u) {
            u->lr = lr;
            u->index = i;
            cs = thrift_cluster_call_async_ex(r->cl, thrift_function_def_name(fn), args, 0,
                                              r->hdr_pairs, (size_t)r->nhdr, line_cb, u, &err);
        }
        thrift_arena_free(arena);
        if (cs == THRIFT_OK) {
            lr->inflight++;
            json_decref(j);
            return;
        }
        free(u);
        char buf[600];
        thrift_error_render(&err, false, buf, sizeof buf);
        snprintf(msg, sizeof msg, "<stdin>:%zu: %s", i + 1, buf);
    }
    json_decref(j);
    fprintf(stderr, "dynthrift call: %s\n", msg);
    json_t *o = json_object();
    json_object_set_new(o, "error", cli_error_json("bad_input", NULL, msg));
    line_done(lr, i, o, CLI_EXIT_DATA);
}

/* Sends the whole lines buffered, while the window allows. */
static void lines_drain(lines_run_t *lr) {
    size_t start = 0;
    while (lr->inflight < lr->r->o->pipeline) {
        char *nl = lr->len > start ? memchr(lr->buf + start, '\n', lr->len - start) : NULL;
        size_t l = nl ? (size_t)(nl - (lr->buf + start)) : lr->len - start;
        if (!nl && !(lr->eof && l))
            break; // a partial line: wait for the rest
        const char *p = lr->buf + start;
        start += l + (nl ? 1 : 0);
        size_t k = 0;
        while (k < l && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r'))
            k++;
        if (k == l)
            continue; // blank lines are not calls
        if (lr->n == lr->cap) {
            size_t ncap = lr->cap ? lr->cap * 2 : 256;
            line_call_t *nc = realloc(lr->calls, ncap * sizeof *nc);
            if (!nc) {
                lr->code = CLI_EXIT_SOFTWARE;
                lr->eof = true;
                break;
            }
            lr->calls = nc;
            lr->cap = ncap;
        }
        size_t i = lr->n++;
        memset(&lr->calls[i], 0, sizeof lr->calls[i]);
        line_send(lr, i, p, l);
    }
    if (start) { // (no buffer before the first read)
        memmove(lr->buf, lr->buf + start, lr->len - start);
        lr->len -= start;
    }
}

static void lines_read(lines_run_t *lr) {
    if (lr->len == lr->bufcap) {
        if (lr->bufcap >= MAX_LINE) {
            fprintf(stderr, "dynthrift call: <stdin>: a line longer than %u bytes\n", MAX_LINE);
            lr->code = CLI_EXIT_DATA;
            lr->eof = true;
            lr->len = 0;
            return;
        }
        size_t ncap = lr->bufcap ? lr->bufcap * 2 : 65536;
        char *nb = realloc(lr->buf, ncap);
        if (!nb) {
            lr->code = CLI_EXIT_SOFTWARE;
            lr->eof = true;
            return;
        }
        lr->buf = nb;
        lr->bufcap = ncap;
    }
    ssize_t got = read(0, lr->buf + lr->len, lr->bufcap - lr->len);
    if (got > 0)
        lr->len += (size_t)got;
    else if (got == 0 || (errno != EINTR && errno != EAGAIN))
        lr->eof = true;
}

/* Reads when the window has room and stdin has more; stops watching it
 * otherwise. */
static void lines_pump(lines_run_t *lr) {
    lines_drain(lr);
    bool want = !lr->eof && lr->inflight < lr->r->o->pipeline;
    if (lr->regular) {
        if (want && !ev_is_active(&lr->idle))
            ev_idle_start(lr->r->loop, &lr->idle);
        else if (!want)
            ev_idle_stop(lr->r->loop, &lr->idle);
    } else {
        if (want && !ev_is_active(&lr->io))
            ev_io_start(lr->r->loop, &lr->io);
        else if (!want)
            ev_io_stop(lr->r->loop, &lr->io);
    }
}

static void lines_io_cb(struct ev_loop *loop, ev_io *w, int revents) {
    (void)loop;
    (void)revents;
    lines_run_t *lr = w->data;
    lines_read(lr);
    lines_pump(lr);
}

static void lines_idle_cb(struct ev_loop *loop, ev_idle *w, int revents) {
    (void)loop;
    (void)revents;
    lines_run_t *lr = w->data;
    lines_read(lr);
    lines_pump(lr);
}

static int run_lines(run_t *r) {
    lines_run_t lr;
    memset(&lr, 0, sizeof lr);
    lr.r = r;
    struct stat sb;
    lr.regular = fstat(0, &sb) == 0 && S_ISREG(sb.st_mode);
    ev_io_init(&lr.io, lines_io_cb, 0, EV_READ);
    lr.io.data = &lr;
    ev_idle_init(&lr.idle, lines_idle_cb);
    lr.idle.data = &lr;
    lines_pump(&lr);
    while (!lr.eof || lr.inflight || lr.len)
        if (!ev_run(r->loop, EVRUN_ONCE) && lr.eof && !lr.inflight)
            break;
    ev_io_stop(r->loop, &lr.io);
    ev_idle_stop(r->loop, &lr.idle);
    for (size_t i = lr.next_print; i < lr.n; i++)
        json_decref(lr.calls[i].answer);
    free(lr.calls);
    free(lr.buf);
    return lr.code;
}

int cli_cluster_call(int argc, char **argv) {
    copts_t o;
    memset(&o, 0, sizeof o);
    o.cmd = "call";
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            cli_cluster_usage(stdout);
            return CLI_EXIT_OK;
        }
    if (parse(&o, argc, argv)) {
        fputs("try 'dynthrift call --help'\n", stderr);
        copts_free(&o);
        return CLI_EXIT_USAGE;
    }
    run_t r;
    memset(&r, 0, sizeof r);
    int code = run_setup(&r, &o, o.lines);
    if (!code && o.lines) {
        code = run_lines(&r);
    } else if (!code) {
        single_t s;
        memset(&s, 0, sizeof s);
        thrift_error_t err;
        thrift_error_clear(&err);
        const char *m = thrift_function_def_name(r.fn);
        thrift_status_t st = o.all
                                 ? thrift_cluster_call_all_async(r.cl, m, r.args, all_cb, &s, &err)
                                 : thrift_cluster_call_async_ex(r.cl, m, r.args, 0, r.hdr_pairs,
                                                                (size_t)r.nhdr, single_cb, &s,
                                                                &err);
        if (st != THRIFT_OK) {
            fprintf(stderr, "dynthrift call: ");
            cli_print_error(stderr, &err);
            code = st == THRIFT_NOT_FOUND ? CLI_EXIT_TRANSPORT : cli_exit_code(st);
        } else {
            while (!s.done)
                ev_run(r.loop, EVRUN_ONCE);
            code = s.code;
            if (o.show_headers) {
                cli_print_headers(stdout, "", s.headers);
                fputc('\n', stdout);
            }
            json_decref(s.headers);
            if (o.all) {
                print_json(s.out, o.pretty);
            } else {
                // One server answered: print as `call` does for one server
                // (the bare result), the error on stderr.
                json_t *res = json_object_get(s.out, "result");
                json_t *xn = json_object_get(s.out, "exception");
                json_t *e = json_object_get(s.out, "error");
                if (res) {
                    print_json(res, o.pretty);
                } else if (xn) {
                    json_object_del(s.out, "server");
                    print_json(s.out, o.pretty);
                } else {
                    fprintf(stderr, "dynthrift call: %s: %s\n",
                            json_string_value(json_object_get(s.out, "server")),
                            json_string_value(json_object_get(e, "message")));
                }
            }
            json_decref(s.out);
        }
    }
    run_free(&r);
    copts_free(&o);
    return code;
}

/* ---- bench ---------------------------------------------------------------------- */

typedef struct server_stat {
    char *name;
    size_t calls, errors;
    cli_hist_t *hist; /* successful calls' latencies (ns) */
} server_stat_t;

typedef struct bench {
    run_t *r;
    server_stat_t *stats;
    size_t nstats;
    size_t inflight;
    uint64_t sent;      /* calls sent since measuring began (-n counts these) */
    uint64_t issued;    /* --rate: calls issued since the start (the schedule) */
    bool sending;
    bool measuring;     /* past --warmup */
    double t_start;     /* ev_time() at the start (warm-up included) */
    double t_measure;   /* ... when measuring began */
    double t_end;       /* ... when sending stopped */
    cli_hist_t total;
    char first_error[700];
} bench_t;

/* One call in flight: when it was due (its send time, or its slot in the
 * --rate schedule) and whether it counts. */
typedef struct bench_call {
    bench_t *b;
    double due;
    bool measured;
} bench_call_t;

static server_stat_t *stat_of(bench_t *b, const char *name) {
    for (size_t i = 0; i < b->nstats; i++)
        if (!strcmp(b->stats[i].name, name))
            return &b->stats[i];
    server_stat_t *n = realloc(b->stats, (b->nstats + 1) * sizeof *n);
    if (!n)
        return NULL;
    b->stats = n;
    server_stat_t *s = &n[b->nstats];
    memset(s, 0, sizeof *s);
    s->name = strdup(name);
    s->hist = calloc(1, sizeof *s->hist);
    if (!s->name || !s->hist) {
        free(s->name);
        free(s->hist);
        return NULL;
    }
    b->nstats++;
    return s;
}

static void bench_send(bench_t *b);

static void bench_cb(thrift_cluster_t *cl, thrift_response_t *resp, void *ud) {
    (void)cl;
    bench_call_t *call = ud;
    bench_t *b = call->b;
    b->inflight--;
    // Latency from when the call was due: with --rate a backlog shows.
    double lat_s = ev_now(b->r->loop) - call->due;
    server_stat_t *s = call->measured ? stat_of(b, thrift_response_server(resp)
                                                       ? thrift_response_server(resp)
                                                       : "(none)")
                                      : NULL;
    free(call);
    if (s) {
        s->calls++;
        if (thrift_response_is_error(resp)) {
            s->errors++;
            if (!b->first_error[0])
                snprintf(b->first_error, sizeof b->first_error, "%.300s: %.380s", s->name,
                         thrift_response_error(resp)->text);
        } else {
            uint64_t ns = lat_s > 0 ? (uint64_t)(lat_s * 1e9) : 0;
            cli_hist_add(s->hist, ns);
            cli_hist_add(&b->total, ns);
        }
    }
    if (b->sending && b->r->o->rate <= 0)
        bench_send(b);
}

/* Sends one call due at `due`; false when the cluster refused it (no
 * server up: the refill timer tries again). */
static bool bench_send_one(bench_t *b, double due) {
    run_t *r = b->r;
    bench_call_t *call = malloc(sizeof *call);
    if (!call)
        return false;
    *call = (bench_call_t){b, due, b->measuring};
    thrift_error_t err;
    thrift_error_clear(&err);
    if (thrift_cluster_call_async_ex(r->cl, thrift_function_def_name(r->fn), r->args, 0,
                                     r->hdr_pairs, (size_t)r->nhdr, bench_cb, call,
                                     &err) != THRIFT_OK) {
        free(call);
        if (!b->first_error[0])
            snprintf(b->first_error, sizeof b->first_error, "%s", err.text);
        return false;
    }
    b->inflight++;
    if (b->measuring)
        b->sent++;
    return true;
}

static bool budget_spent(bench_t *b) {
    const copts_t *o = b->r->o;
    if (b->measuring && o->calls && b->sent >= o->calls) {
        b->sending = false;
        b->t_end = ev_now(b->r->loop);
        return true;
    }
    return false;
}

/* Closed loop: keep -p calls in flight.  Open loop (--rate): send the calls
 * the schedule says are due, at most -p in flight (the rest wait, and their
 * latency grows). */
static void bench_send(bench_t *b) {
    const copts_t *o = b->r->o;
    double now = ev_now(b->r->loop);
    while (b->sending && b->inflight < o->pipeline && !budget_spent(b)) {
        double due = now;
        if (o->rate > 0) {
            due = b->t_start + (double)b->issued / o->rate;
            if (due > now)
                break;
        }
        if (!bench_send_one(b, due))
            break;
        b->issued++;
    }
}

static void bench_refill_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    bench_send(w->data);
}

/* The warm-up's end starts measuring; the measurement's end stops sending. */
static void bench_phase_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)revents;
    bench_t *b = w->data;
    if (!b->measuring) {
        b->measuring = true;
        b->t_measure = ev_now(loop);
        if (!b->r->o->calls) {
            ev_timer_set(w, b->r->o->duration, 0.);
            ev_timer_start(loop, w);
        }
        return;
    }
    b->sending = false;
    b->t_end = ev_now(loop);
}

static json_t *stat_json(const char *name, size_t calls, size_t errors, const cli_hist_t *h,
                         double secs) {
    return json_pack("{s:s,s:I,s:I,s:f,s:f,s:f}", "server", name, "calls", (json_int_t)calls,
                     "errors", (json_int_t)errors, "calls_per_s",
                     secs > 0 ? (double)(calls - errors) / secs : 0.0, "p50_ms",
                     (double)cli_hist_percentile(h, 50) / 1e6, "p99_ms",
                     (double)cli_hist_percentile(h, 99) / 1e6);
}

int cli_cluster_bench(int argc, char **argv) {
    copts_t o;
    memset(&o, 0, sizeof o);
    o.cmd = "bench";
    o.bench = true;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            cli_cluster_usage(stdout);
            return CLI_EXIT_OK;
        }
    if (parse(&o, argc, argv)) {
        fputs("try 'dynthrift bench --help'\n", stderr);
        copts_free(&o);
        return CLI_EXIT_USAGE;
    }
    run_t r;
    memset(&r, 0, sizeof r);
    int code = run_setup(&r, &o, false);
    if (code) {
        run_free(&r);
        copts_free(&o);
        return code;
    }
    bench_t b;
    memset(&b, 0, sizeof b);
    b.r = &r;
    b.sending = true;
    ev_timer refill, phase;
    // The closed loop refills after a refusal (no server up); the open
    // loop's schedule ticks every millisecond.
    ev_timer_init(&refill, bench_refill_cb, 0., o.rate > 0 ? 0.001 : 0.01);
    refill.data = &b;
    ev_timer_start(r.loop, &refill);
    ev_timer_init(&phase, bench_phase_cb, 0., 0.);
    phase.data = &b;
    ev_now_update(r.loop);
    b.t_start = ev_now(r.loop);
    if (o.warmup > 0) {
        ev_timer_set(&phase, o.warmup, 0.);
    } else {
        b.measuring = true;
        b.t_measure = b.t_start;
        ev_timer_set(&phase, o.calls ? 86400. : o.duration, 0.);
    }
    ev_timer_start(r.loop, &phase);
    bench_send(&b);
    while (b.sending || b.inflight)
        ev_run(r.loop, EVRUN_ONCE);
    ev_timer_stop(r.loop, &refill);
    ev_timer_stop(r.loop, &phase);
    // -n: until the last call came back; -d: the measuring window.
    ev_now_update(r.loop);
    double secs = !b.measuring ? 0.0 : (o.calls ? ev_now(r.loop) : b.t_end) - b.t_measure;

    size_t calls = 0, errors = 0;
    for (size_t i = 0; i < b.nstats; i++) {
        calls += b.stats[i].calls;
        errors += b.stats[i].errors;
    }
    json_t *servers = json_array();
    for (size_t i = 0; i < b.nstats; i++)
        json_array_append_new(servers, stat_json(b.stats[i].name, b.stats[i].calls,
                                                 b.stats[i].errors, b.stats[i].hist, secs));
    json_t *total = stat_json("total", calls, errors, &b.total, secs);
    json_object_del(total, "server");
    json_object_set_new(total, "latency_us", cli_hist_summary_json(&b.total));
    if (o.latency_dist && b.total.total)
        json_object_set_new(total, "latency_distribution", cli_hist_distribution_json(&b.total));
    json_t *report =
        json_pack("{s:s,s:I,s:I,s:f,s:o,s:o}", "method", thrift_function_def_name(r.fn),
                  "cluster_servers", (json_int_t)thrift_cluster_server_count(r.cl), "in_flight",
                  (json_int_t)o.pipeline, "seconds", secs, "servers", servers, "total", total);
    if (o.rate > 0)
        json_object_set_new(report, "rate", json_real(o.rate));
    if (o.warmup > 0)
        json_object_set_new(report, "warmup_s", json_real(o.warmup));
    if (b.first_error[0])
        json_object_set_new(report, "first_error", json_string(b.first_error));
    double p99 = json_real_value(json_object_get(total, "p99_ms"));
    if (o.max_p99_ms > 0 && p99 > o.max_p99_ms)
        fprintf(stderr, "dynthrift bench: p99 %.3f ms is above --max-p99 %.3f ms\n", p99,
                o.max_p99_ms);
    if (o.json) {
        print_json(report, o.pretty);
    } else {
        char rate[64] = "";
        if (o.rate > 0)
            snprintf(rate, sizeof rate, " (open loop, %.0f calls/s)", o.rate);
        printf("%s.%s on %zu servers (%s), %llu in flight%s, %.2f s\n",
               thrift_service_def_name(r.svc), thrift_function_def_name(r.fn),
               thrift_cluster_server_count(r.cl), o.spec.zk ? o.spec.zk : "static", o.pipeline,
               rate, secs);
        printf("  %-28s %10s %8s %12s %9s %9s\n", "server", "calls", "errors", "calls/s", "p50 ms",
               "p99 ms");
        size_t n = json_array_size(servers);
        for (size_t i = 0; i <= n; i++) {
            json_t *s = i < n ? json_array_get(servers, i) : total;
            printf("  %-28s %10lld %8lld %12.0f %9.3f %9.3f\n",
                   i < n ? json_string_value(json_object_get(s, "server")) : "total",
                   (long long)json_integer_value(json_object_get(s, "calls")),
                   (long long)json_integer_value(json_object_get(s, "errors")),
                   json_real_value(json_object_get(s, "calls_per_s")),
                   json_real_value(json_object_get(s, "p50_ms")),
                   json_real_value(json_object_get(s, "p99_ms")));
        }
        cli_hist_print_summary(&b.total);
        if (o.latency_dist && b.total.total)
            cli_hist_print_distribution(&b.total);
        if (b.first_error[0])
            printf("  first error: %s\n", b.first_error);
    }
    json_decref(report);
    for (size_t i = 0; i < b.nstats; i++) {
        free(b.stats[i].name);
        free(b.stats[i].hist);
    }
    free(b.stats);
    code =
        calls > errors && !(o.fail_on_error && errors) && !(o.max_p99_ms > 0 && p99 > o.max_p99_ms)
            ? CLI_EXIT_OK
            : CLI_EXIT_BENCH_FAILED;
    run_free(&r);
    copts_free(&o);
    return code;
}
