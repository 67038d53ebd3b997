/* `dynthrift call`: a curl for Thrift.  JSON arguments in, the result as
 * JSON on stdout; one call, or (--lines) a stream of calls pipelined over
 * one connection. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#include "cli.h"
#include "cli_cluster.h"
#include "cli_net.h"
#include "cli_util.h"
#include "dynthrift/json.h"
#include "dynthrift/net.h"

/* ---- call ----------------------------------------------------------------- */

static const char call_usage[] =
    "usage: dynthrift call [-I DIR]... FILE SERVICE.METHOD [ARGS_JSON | @FILE | -] --addr ADDR [options]\n"
    "       dynthrift call [-I DIR]... FILE SERVICE[.METHOD] --lines --addr ADDR [options]\n"
    "\n"
    "Calls METHOD of SERVICE (defined in the .thrift FILE) on the server at ADDR and\n"
    "prints the result as JSON on stdout.  ARGS_JSON is an object keyed by argument\n"
    "name ({\"a\": 1, \"b\": 2}) or an array in argument order ([1, 2]); '-' reads it\n"
    "from stdin, @FILE from FILE; omitted means no arguments.  FILE is looked up\n"
    "along -I dirs and $DYNTHRIFT_PATH (colon-separated) when not found here.\n"
    "\n"
    "options:\n"
    "  --addr HOST:PORT | unix:PATH   the server (required)\n"
    "  --framed | --buffered          transport (default framed)\n"
    "  --protocol binary|compact|json protocol (default binary)\n"
    "  --multiplex NAME               TMultiplexedProtocol: methods sent as NAME:method,\n"
    "                                 NAME being what the server registered SERVICE under\n"
    "  --timeout MS                   deadline per call, connect included (default 5000;\n"
    "                                 0 waits for ever)\n"
    "  --lines                        stdin holds one call per line:\n"
    "                                   {\"method\": \"add\", \"args\": {...}, \"id\": any}\n"
    "                                 each answer is one JSON line on stdout, in input\n"
    "                                 order: {\"result\": ...}, {\"exception\": NAME,\n"
    "                                 \"value\": {...}} or {\"error\": {\"kind\", \"message\"}}\n"
    "  --pipeline N                   --lines: calls in flight at once (default 128)\n"
    "  -i, --show-headers             print the reply's THeader info headers (--header)\n"
    "                                 before the result, one 'KEY: VALUE' a line and an\n"
    "                                 empty line, as curl -i; with --lines every\n"
    "                                 answer gets \"headers\": {...} ({} when none)\n"
    "  --pretty                       indent the JSON (not with --lines: one answer a line)\n"
    "  --ignore-unknown               skip argument names the method does not have\n"
    "  -v, --verbose                  trace on stderr, as curl -v: the connection,\n"
    "                                 transport and protocol, each message's type,\n"
    "                                 method and seqid, the bytes sent (>) and\n"
    "                                 received (<) in hex, with times, and the reply's\n"
    "                                 info headers ('< header KEY: VALUE')\n"
    "  -I DIR                         add an include directory\n"
    "\n"
    "output: the result (null for void and oneway methods); a declared exception\n"
    "prints {\"exception\": \"BenchError\", \"value\": {...}}.  Errors go to stderr.\n"
    "--lines answers carry \"headers\": {\"KEY\": \"VALUE\"...} when the reply had THeader\n"
    "info headers (always with -i).\n"
    "exit codes: 0 ok, 1 declared exception, 2 application exception\n"
    "(TApplicationException), 3 transport error or timeout, 64 bad usage, 65 bad\n"
    "input (IDL, JSON arguments; the error names the path).  With --lines: the code\n"
    "of the first call that failed.  A failure that looks like a transport or\n"
    "protocol mismatch (the server answered in another framing, or nothing came\n"
    "back) is followed by a 'hint:' line saying what to try.\n";

/* grpcurl and thriftpy give a call a few seconds by default; waiting for
 * ever is what a framing mismatch looks like, so `call` never does unless
 * asked (--timeout 0). */
enum { CALL_DEFAULT_TIMEOUT_MS = 5000 };

typedef struct call_slot call_slot_t;

typedef struct call_state {
    const char *cmd;
    struct ev_loop *loop;
    thrift_schema_t *schema;
    const thrift_service_def_t *svc;
    const thrift_function_def_t *default_fn;
    thrift_conn_t *conn;
    const cli_net_opts_t *net;
    bool hinted; /* a hint is printed once */
    uint32_t timeout_ms;
    unsigned json_flags;
    unsigned args_flags; /* --ignore-unknown */
    bool verbose;
    bool include;               /* -i: the reply's info headers are printed */
    double t0;                  /* -v: when the call started (s, monotonic) */
    uint64_t traced_in, traced_out; /* -v: bytes seen each way */
    int exit_code;
    /* --lines */
    bool lines;
    ev_io stdin_io;
    ev_idle stdin_idle;
    bool stdin_regular;
    bool stdin_eof;
    char *inbuf;
    size_t inlen, incap;
    size_t line_no;
    call_slot_t *head, *tail; /* answers waiting to be printed, input order */
    size_t inflight;
    size_t pipeline;
} call_state_t;

struct call_slot {
    call_slot_t *next;
    call_state_t *st;
    char *out; /* the answer line, once known (malloc'd) */
    int code;
    bool done;
    json_t *id; /* the input's "id", echoed */
};

static void set_exit(call_state_t *st, int code) {
    if (st->exit_code == 0)
        st->exit_code = code;
}

/* Builds the args struct from JSON text; NULL with err (path included). */

/* Turns a result into the JSON printed for it.  Single-call mode prints
 * the bare value; --lines wraps it.  Returns a new reference or NULL (error
 * already described on stderr for single calls, in *errj for lines). */
static json_t *result_to_json(call_state_t *st, thrift_result_t *r, int *code) {
    thrift_status_t s = thrift_result_status(r);
    const thrift_error_t *rerr = thrift_result_error(r);
    thrift_error_t err;
    thrift_error_clear(&err);
    *code = cli_status_exit(s);
    if (s == THRIFT_OK || s == THRIFT_DECLARED_EXCEPTION) {
        const thrift_value_t *v = thrift_result_value(r);
        json_t *val = (!v || thrift_value_kind(v) == THRIFT_KIND_VOID)
                          ? json_null()
                          : thrift_json_from_value(v, 0, &err);
        if (!val) {
            char buf[600];
            thrift_error_render(&err, false, buf, sizeof buf);
            *code = CLI_EXIT_DATA;
            if (!st->lines) {
                fprintf(stderr, "dynthrift %s: cannot print the result as JSON: %s\n", st->cmd,
                        buf);
                return NULL;
            }
            json_t *o = json_object();
            json_object_set_new(o, "error", cli_error_json("bad_reply", NULL, buf));
            return o;
        }
        if (s == THRIFT_OK) {
            if (!st->lines)
                return val;
            json_t *o = json_object();
            json_object_set_new(o, "result", val);
            return o;
        }
        json_t *o = json_object();
        const char *xn = thrift_result_exception_name(r);
        json_object_set_new(o, "exception", json_string(xn ? xn : "exception"));
        json_object_set_new(o, "value", val);
        return o;
    }
    const char *type = s == THRIFT_APP_EXCEPTION
                           ? cli_app_exception_name(thrift_result_app_type(r))
                           : NULL;
    char buf[600];
    // An application exception renders as "TApplicationException TYPE: ...".
    if (rerr && rerr->code)
        thrift_error_render(rerr, false, buf, sizeof buf);
    else
        snprintf(buf, sizeof buf, "%s", thrift_status_str(s));
    const char *hint = cli_net_hint(st->net, s, buf, thrift_conn_bytes_sent(st->conn),
                                    thrift_conn_bytes_received(st->conn));
    if (!st->lines) {
        fprintf(stderr, "dynthrift %s: %s\n", st->cmd, buf);
        if (hint)
            fprintf(stderr, "dynthrift %s: hint: %s\n", st->cmd, hint);
        return NULL;
    }
    if (hint && !st->hinted) {
        fprintf(stderr, "dynthrift %s: %s\ndynthrift %s: hint: %s\n", st->cmd, buf, st->cmd,
                hint);
        st->hinted = true;
    }
    json_t *o = json_object();
    json_object_set_new(o, "error", cli_error_json(cli_status_kind(s), type, buf));
    return o;
}

/* The reply's THeader info headers as {"KEY": "VALUE"...}; NULL when it
 * carried none. */
static json_t *reply_headers_json(const thrift_result_t *r) {
    json_t *o = NULL;
    const char *k, *v;
    for (size_t i = 0; thrift_result_header_at(r, i, &k, &v); i++)
        o = cli_headers_put(o, k, v);
    return o;
}

/* -i (stdout, before the result) and -v (stderr, "< header "): one
 * "KEY: VALUE" line per info header of the reply. */
static void print_reply_headers(FILE *out, const char *prefix, const thrift_result_t *r) {
    json_t *h = reply_headers_json(r);
    cli_print_headers(out, prefix, h);
    json_decref(h);
}

static char *dump_line(call_state_t *st, json_t *j) {
    return json_dumps(j, JSON_ENCODE_ANY | JSON_PRESERVE_ORDER |
                             ((st->json_flags & THRIFT_JSON_PRETTY) ? JSON_INDENT(2)
                                                                    : JSON_COMPACT));
}

/* ---- -v trace --------------------------------------------------------------- */

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 16 bytes a line: offset, hex, printable ASCII; at most 512 bytes. */
static void hex_dump(char dir, const uint8_t *p, size_t len) {
    size_t shown = len < 512 ? len : 512;
    for (size_t off = 0; off < shown; off += 16) {
        fprintf(stderr, "%c %04zx ", dir, off);
        for (size_t i = 0; i < 16; i++) {
            if (off + i < shown)
                fprintf(stderr, " %02x", p[off + i]);
            else
                fputs("   ", stderr);
        }
        fputs("  |", stderr);
        for (size_t i = 0; i < 16 && off + i < shown; i++)
            fputc(p[off + i] >= 0x20 && p[off + i] < 0x7f ? p[off + i] : '.', stderr);
        fputs("|\n", stderr);
    }
    if (shown < len)
        fprintf(stderr, "%c ... %zu more bytes\n", dir, len - shown);
}

static const char *message_type_name(thrift_message_type_t t) {
    switch (t) {
    case THRIFT_MSG_CALL:
        return "CALL";
    case THRIFT_MSG_REPLY:
        return "REPLY";
    case THRIFT_MSG_EXCEPTION:
        return "EXCEPTION";
    case THRIFT_MSG_ONEWAY:
        return "ONEWAY";
    default:
        return "?";
    }
}

static void trace_cb(thrift_conn_t *conn, bool sent, const uint8_t *bytes, size_t len, void *ud) {
    (void)conn;
    call_state_t *st = ud;
    uint64_t *seen = sent ? &st->traced_out : &st->traced_in;
    char dir = sent ? '>' : '<';
    fprintf(stderr, "%c %zu bytes %s at %.3f ms\n", dir, len, sent ? "sent" : "received",
            (mono_s() - st->t0) * 1e3);
    hex_dump(dir, bytes, len);
    // The first chunk each way starts a message: name what it is.
    if (*seen == 0) {
        size_t skip = st->net->framing == THRIFT_FRAMING_FRAMED ? 4 : 0;
        thrift_message_header_t hdr;
        size_t used;
        if (len > skip && thrift_decode_message_header(st->net->proto, bytes + skip, len - skip,
                                                       NULL, &hdr, &used, NULL) == THRIFT_OK)
            fprintf(stderr, "%c %s %.*s seqid %d\n", dir, message_type_name(hdr.type),
                    (int)hdr.name_len, hdr.name, (int)hdr.seqid);
    }
    *seen += len;
}

/* ---- single call ---------------------------------------------------------- */

static void single_cb(thrift_conn_t *conn, thrift_result_t *r, void *ud) {
    call_state_t *st = ud;
    int code;
    if (st->verbose)
        print_reply_headers(stderr, "< header ", r);
    json_t *j = result_to_json(st, r, &code);
    if (st->include) {
        print_reply_headers(stdout, "", r);
        fputc('\n', stdout);
    }
    if (j) {
        char *text = dump_line(st, j);
        if (text) {
            fputs(text, stdout);
            fputc('\n', stdout);
            free(text);
        }
        json_decref(j);
    }
    set_exit(st, code);
    if (st->verbose)
        fprintf(stderr, "* done in %.3f ms: %s (%llu bytes sent, %llu received)\n",
                (mono_s() - st->t0) * 1e3, thrift_status_str(thrift_result_status(r)),
                (unsigned long long)thrift_conn_bytes_sent(conn),
                (unsigned long long)thrift_conn_bytes_received(conn));
    // The connection stays open (and its watchers active): stop here.
    ev_break(st->loop, EVBREAK_ALL);
}

/* ---- --lines -------------------------------------------------------------- */

static void flush_answers(call_state_t *st) {
    while (st->head && st->head->done) {
        call_slot_t *s = st->head;
        st->head = s->next;
        if (!st->head)
            st->tail = NULL;
        if (s->out) {
            fputs(s->out, stdout);
            fputc('\n', stdout);
        }
        set_exit(st, s->code); // in input order: the first failed line's code
        free(s->out);
        json_decref(s->id);
        free(s);
    }
    fflush(stdout);
}

static void finish_slot(call_slot_t *s, json_t *answer, int code) {
    call_state_t *st = s->st;
    if (s->id && answer)
        json_object_set(answer, "id", s->id);
    s->out = answer ? dump_line(st, answer) : NULL;
    json_decref(answer);
    s->done = true;
    s->code = code;
    flush_answers(st);
}

static void maybe_finish(call_state_t *st);
static void pump_stdin(call_state_t *st);

static void line_cb(thrift_conn_t *conn, thrift_result_t *r, void *ud) {
    (void)conn;
    call_slot_t *s = ud;
    call_state_t *st = s->st;
    int code;
    if (st->verbose)
        print_reply_headers(stderr, "< header ", r);
    json_t *j = result_to_json(st, r, &code);
    json_t *h = reply_headers_json(r);
    if (!h && st->include)
        h = json_object();
    if (j && h)
        json_object_set(j, "headers", h);
    json_decref(h);
    st->inflight--;
    finish_slot(s, j, code);
    pump_stdin(st);
    maybe_finish(st);
}

static void submit_line(call_state_t *st, const char *line, size_t len) {
    st->line_no++;
    while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    size_t k = 0;
    while (k < len && (line[k] == ' ' || line[k] == '\t'))
        k++;
    if (k == len)
        return; // blank lines are not calls
    call_slot_t *s = calloc(1, sizeof *s);
    if (!s) {
        set_exit(st, CLI_EXIT_SOFTWARE);
        return;
    }
    s->st = st;
    if (st->tail)
        st->tail->next = s;
    else
        st->head = s;
    st->tail = s;

    char msg[700];
    json_error_t jerr;
    json_t *j = json_loadb(line, len, JSON_ALLOW_NUL, &jerr);
    if (!j || !json_is_object(j)) {
        if (j)
            snprintf(msg, sizeof msg, "<stdin>:%zu: expected an object {\"method\": ..., \"args\": ...}",
                     st->line_no);
        else
            snprintf(msg, sizeof msg, "<stdin>:%zu:%d: %s", st->line_no, jerr.column, jerr.text);
        fprintf(stderr, "dynthrift %s: %s\n", st->cmd, msg);
        json_decref(j);
        json_t *o = json_object();
        json_object_set_new(o, "error", cli_error_json("bad_input", NULL, msg));
        finish_slot(s, o, CLI_EXIT_DATA);
        return;
    }
    s->id = json_incref(json_object_get(j, "id"));
    const char *key;
    json_t *unused;
    json_object_foreach(j, key, unused) {
        if (strcmp(key, "method") && strcmp(key, "args") && strcmp(key, "id")) {
            (void)unused;
            snprintf(msg, sizeof msg,
                     "<stdin>:%zu: unknown key \"%.100s\" in the call (keys: \"method\", "
                     "\"args\", \"id\"; did you mean {\"args\": {...}}?)",
                     st->line_no, key);
            fprintf(stderr, "dynthrift %s: %s\n", st->cmd, msg);
            json_decref(j);
            json_t *o = json_object();
            json_object_set_new(o, "error", cli_error_json("bad_input", NULL, msg));
            finish_slot(s, o, CLI_EXIT_DATA);
            return;
        }
    }
    const char *method = json_string_value(json_object_get(j, "method"));
    const thrift_function_def_t *fn =
        method ? thrift_service_def_find_function(st->svc, method) : st->default_fn;
    thrift_error_t err;
    thrift_error_clear(&err);
    if (!fn) {
        if (method)
            snprintf(msg, sizeof msg, "<stdin>:%zu: service %s has no method '%s'", st->line_no,
                     thrift_service_def_name(st->svc), method);
        else
            snprintf(msg, sizeof msg, "<stdin>:%zu: \"method\" missing (a string)", st->line_no);
    } else {
        thrift_arena_t *arena = thrift_arena_new(NULL);
        thrift_value_t *args =
            arena ? cli_args_from_json(fn, arena, json_object_get(j, "args"), st->args_flags, &err)
                  : NULL;
        thrift_status_t cs = THRIFT_NOMEM;
        if (args)
            cs = thrift_call_async_ex(st->conn, thrift_function_def_name(fn), args,
                                      st->timeout_ms, line_cb, s, &err);
        thrift_arena_free(arena);
        if (args && cs == THRIFT_OK) {
            st->inflight++;
            json_decref(j);
            return;
        }
        char buf[600];
        thrift_error_render(&err, false, buf, sizeof buf);
        snprintf(msg, sizeof msg, "<stdin>:%zu: %s", st->line_no, buf);
    }
    fprintf(stderr, "dynthrift %s: %s\n", st->cmd, msg);
    json_decref(j);
    json_t *o = json_object();
    json_object_set_new(o, "error", cli_error_json("bad_input", NULL, msg));
    finish_slot(s, o, CLI_EXIT_DATA);
}

/* Submits the complete lines buffered so far, while the window allows. */
static void drain_lines(call_state_t *st) {
    size_t start = 0;
    if (!st->inlen)
        return;
    while (st->inflight < st->pipeline) {
        char *nl = memchr(st->inbuf + start, '\n', st->inlen - start);
        if (!nl)
            break;
        submit_line(st, st->inbuf + start, (size_t)(nl - (st->inbuf + start)));
        start = (size_t)(nl - st->inbuf) + 1;
    }
    if (st->stdin_eof && st->inflight < st->pipeline && start < st->inlen &&
        !memchr(st->inbuf + start, '\n', st->inlen - start)) {
        submit_line(st, st->inbuf + start, st->inlen - start); // last line, no newline
        start = st->inlen;
    }
    memmove(st->inbuf, st->inbuf + start, st->inlen - start);
    st->inlen -= start;
}

static void read_some(call_state_t *st) {
    if (st->incap - st->inlen < 65536) {
        size_t cap = st->incap ? st->incap * 2 : 131072;
        if (cap > ((size_t)64 << 20) + 131072) {
            fprintf(stderr, "dynthrift %s: <stdin>:%zu: line longer than 64 MiB\n", st->cmd,
                    st->line_no + 1);
            set_exit(st, CLI_EXIT_DATA);
            st->stdin_eof = true;
            st->inlen = 0;
            return;
        }
        char *nb = realloc(st->inbuf, cap);
        if (!nb) {
            set_exit(st, CLI_EXIT_SOFTWARE);
            st->stdin_eof = true;
            return;
        }
        st->inbuf = nb;
        st->incap = cap;
    }
    ssize_t n = read(0, st->inbuf + st->inlen, st->incap - st->inlen);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        if (n < 0)
            fprintf(stderr, "dynthrift %s: reading stdin: %s\n", st->cmd, strerror(errno));
        st->stdin_eof = true;
        return;
    }
    st->inlen += (size_t)n;
}

static void stop_stdin(call_state_t *st) {
    ev_io_stop(st->loop, &st->stdin_io);
    ev_idle_stop(st->loop, &st->stdin_idle);
}

/* Reads stdin only while the pipeline has room, so a huge input does not
 * pile up in memory and a slow server applies back-pressure. */
static void pump_stdin(call_state_t *st) {
    drain_lines(st);
    if (st->stdin_eof || st->inflight >= st->pipeline) {
        stop_stdin(st);
        return;
    }
    if (st->stdin_regular)
        ev_idle_start(st->loop, &st->stdin_idle);
    else
        ev_io_start(st->loop, &st->stdin_io);
}

static void stdin_ready(call_state_t *st) {
    read_some(st);
    pump_stdin(st);
    maybe_finish(st);
}

static void stdin_io_cb(struct ev_loop *loop, ev_io *w, int revents) {
    (void)loop;
    (void)revents;
    stdin_ready(w->data);
}

static void stdin_idle_cb(struct ev_loop *loop, ev_idle *w, int revents) {
    (void)loop;
    (void)revents;
    stdin_ready(w->data);
}

static void maybe_finish(call_state_t *st) {
    if (st->stdin_eof && st->inflight == 0 && st->inlen == 0) {
        stop_stdin(st);
        flush_answers(st);
        ev_break(st->loop, EVBREAK_ALL);
    }
}

int cmd_call(int argc, char **argv) {
    // Several servers (a list, zk://, --balance, --all): the cluster flavour.
    if (cli_cluster_wanted(argc, argv))
        return cli_cluster_call(argc, argv);
    const char *cmd = "call";
    cli_include_dirs_t inc = {0};
    cli_net_opts_t net;
    cli_net_opts_init(&net);
    const char *pos[3] = {0};
    int npos = 0;
    bool lines = false, pretty = false, ignore_unknown = false, verbose = false, include = false;
    unsigned long long pipeline = 128;
    int code = CLI_EXIT_OK;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r;
        const char *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(call_usage, stdout);
            fputs(cli_net_transport_help, stdout);
            cli_cluster_usage(stdout);
            cli_include_dirs_free(&inc);
            return CLI_EXIT_OK;
        }
        if ((r = cli_take_include_opt(argc, argv, &i, cmd, &inc)) != 0 ||
            (r = cli_net_take_opt(argc, argv, &i, cmd, &net)) != 0) {
            if (r < 0)
                goto usage;
            continue;
        }
        if ((r = cli_take_value_opt(argc, argv, &i, cmd, "--pipeline", &v)) != 0) {
            if (r < 0)
                goto usage;
            if (!cli_parse_uint(v, 1000000, &pipeline) || pipeline == 0) {
                fprintf(stderr, "dynthrift call: --pipeline takes a count from 1, not '%s'\n", v);
                goto usage;
            }
            continue;
        }
        if (!strcmp(a, "--lines")) {
            lines = true;
            continue;
        }
        if (!strcmp(a, "--pretty")) {
            pretty = true;
            continue;
        }
        if (!strcmp(a, "--ignore-unknown")) {
            ignore_unknown = true;
            continue;
        }
        if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = true;
            continue;
        }
        if (!strcmp(a, "-i") || !strcmp(a, "--show-headers")) {
            include = true;
            continue;
        }
        if (cli_net_take_positional(cmd, a, pos, &npos))
            goto usage;
    }
    if (cli_net_check_required(cmd, npos, &net))
        goto usage;
    if (lines && pretty) {
        fprintf(stderr, "dynthrift call: --pretty would break --lines' one answer per line\n");
        goto usage;
    }
    if (!net.timeout_set) {
        net.timeout_ms = CALL_DEFAULT_TIMEOUT_MS;
        net.timeout_set = true;
    }
    if (lines && npos > 2) {
        fprintf(stderr, "dynthrift call: --lines reads the calls from stdin; drop '%s'\n",
                pos[2]);
        goto usage;
    }

    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_schema_t *schema = cli_load_schema(pos[0], &inc, &err);
    if (!schema) {
        fprintf(stderr, "dynthrift call: ");
        cli_print_error(stderr, &err);
        cli_include_dirs_free(&inc);
        return CLI_EXIT_DATA;
    }
    call_state_t st;
    memset(&st, 0, sizeof st);
    st.cmd = cmd;
    st.schema = schema;
    st.lines = lines;
    st.net = &net;
    st.pipeline = (size_t)pipeline;
    st.timeout_ms = 0; // the connection's default (from --timeout) applies
    st.json_flags = pretty ? THRIFT_JSON_PRETTY : 0;
    st.args_flags = ignore_unknown ? THRIFT_JSON_IGNORE_UNKNOWN : 0;
    st.verbose = verbose;
    st.include = include;
    thrift_conn_options_t *co = NULL;
    thrift_arena_t *arena = NULL;
    json_t *argsj = NULL;

    code = cli_split_service_method(cmd, schema, pos[1], lines, &st.svc, &st.default_fn);
    if (code)
        goto done;
    if (!lines && npos == 3) {
        argsj = cli_net_load_args("call", pos[2]);
        if (!argsj) {
            code = CLI_EXIT_DATA;
            goto done;
        }
    }

    signal(SIGPIPE, SIG_IGN);
    st.loop = ev_loop_new(EVFLAG_AUTO);
    co = cli_net_conn_options(&net);
    if (!st.loop || !co) {
        if (st.loop) {
            code = CLI_EXIT_USAGE; // the transport option was reported
        } else {
            fprintf(stderr, "dynthrift call: out of memory\n");
            code = CLI_EXIT_SOFTWARE;
        }
        goto done;
    }
    st.conn = thrift_conn_new(st.loop, schema, thrift_service_def_name(st.svc), net.addr, co, &err);
    if (!st.conn) {
        fprintf(stderr, "dynthrift call: --addr: ");
        cli_print_error(stderr, &err);
        code = cli_net_addr_exit(&err);
        goto done;
    }
    if ((code = cli_net_apply_headers("call", &net, st.conn)) != 0)
        goto done;

    if (verbose) {
        st.t0 = mono_s();
        char deadline[32];
        snprintf(deadline, sizeof deadline, "%u ms", net.timeout_ms);
        fprintf(stderr, "* %s %s on %s: %s protocol, %s transport%s%s, deadline %s\n",
                lines ? "calls to" : "call", pos[1], net.addr, thrift_protocol_name(net.proto),
                net.framing == THRIFT_FRAMING_FRAMED   ? "framed"
                : net.framing == THRIFT_FRAMING_HEADER ? "THeader"
                                                       : "buffered",
                net.multiplex ? ", multiplexed as " : "", net.multiplex ? net.multiplex : "",
                net.timeout_ms ? deadline : "none");
        thrift_conn_set_trace_cb(st.conn, trace_cb, &st);
    }
    if (!lines) {
        arena = thrift_arena_new(NULL);
        thrift_value_t *args =
            arena ? cli_args_from_json(st.default_fn, arena, argsj, st.args_flags, &err) : NULL;
        if (!args) {
            fprintf(stderr, "dynthrift call: arguments: ");
            cli_print_error(stderr, &err);
            code = CLI_EXIT_DATA;
            goto done;
        }
        if (thrift_call_async_ex(st.conn, thrift_function_def_name(st.default_fn), args, 0,
                                 single_cb, &st, &err) != THRIFT_OK) {
            fprintf(stderr, "dynthrift call: arguments: ");
            cli_print_error(stderr, &err);
            code = cli_exit_code(err.code);
            goto done;
        }
        ev_run(st.loop, 0);
        code = st.exit_code;
    } else {
        struct stat sb;
        st.stdin_regular = fstat(0, &sb) == 0 && S_ISREG(sb.st_mode);
        ev_io_init(&st.stdin_io, stdin_io_cb, 0, EV_READ);
        st.stdin_io.data = &st;
        ev_idle_init(&st.stdin_idle, stdin_idle_cb);
        st.stdin_idle.data = &st;
        pump_stdin(&st);
        ev_run(st.loop, 0);
        flush_answers(&st);
        code = st.exit_code;
    }

done:
    thrift_conn_free(st.conn);
    if (st.loop) {
        ev_run(st.loop, EVRUN_NOWAIT); // let freed calls' callbacks run
        ev_loop_destroy(st.loop);
    }
    while (st.head) { // only after an early failure
        call_slot_t *s = st.head;
        st.head = s->next;
        free(s->out);
        json_decref(s->id);
        free(s);
    }
    free(st.inbuf);
    json_decref(argsj);
    thrift_arena_free(arena);
    thrift_conn_options_free(co);
    thrift_schema_unref(schema);
    cli_include_dirs_free(&inc);
    fflush(stdout);
    return code;

usage:
    fputs("try 'dynthrift call --help'\n", stderr);
    cli_include_dirs_free(&inc);
    return CLI_EXIT_USAGE;
}
