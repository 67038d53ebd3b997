/* Network options and helpers shared by `call`, `serve` and `bench`. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_net.h"
#include "cli_util.h"

void cli_net_opts_init(cli_net_opts_t *o) {
    memset(o, 0, sizeof *o);
    o->proto = THRIFT_PROTO_BINARY;
    o->framing = THRIFT_FRAMING_FRAMED;
}

bool cli_parse_uint(const char *text, unsigned long long max, unsigned long long *out) {
    if (!text || !*text || *text == '-' || *text == '+')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

const char cli_net_transport_help[] =
    "\n"
    "transport (call, bench, serve):\n"
    "  --addr tls://HOST:PORT         TLS (OpenSSL); serve needs --cert and --key\n"
    "  --cacert FILE                  call/bench: verify the server against these CAs\n"
    "                                 (default: the system's); serve: require client\n"
    "                                 certificates signed by them (mTLS)\n"
    "  --cert FILE --key FILE         our certificate and key (PEM): the server's, or\n"
    "                                 a client certificate\n"
    "  -k, --insecure                 do not verify the server's certificate\n"
    "  --zlib                         Apache's TZlibTransport around the framing\n"
    "                                 (with --header: THeader's zlib transform)\n"
    "  --header                       THeader framing (--protocol binary|compact inside)\n"
    "  -H 'KEY: VALUE'                an HTTP request header (http://, https://) or a\n"
    "                                 THeader info header (--header); repeatable\n"
    "  --addr http://HOST:PORT/PATH   Thrift over HTTP (POST per call, keep-alive,\n"
    "                                 pipelined); https:// over TLS\n";

json_t *cli_headers_put(json_t *headers, const char *key, const char *value) {
    if (!headers)
        headers = json_object();
    json_object_set_new(headers, key, json_string(value));
    return headers;
}

/* 1: consumed argv[*i] (and its value); 0: not ours; -1: usage error
 * (reported). */
int cli_net_take_opt(int argc, char **argv, int *i, const char *cmd, cli_net_opts_t *o) {
    const char *a = argv[*i];
    const char *v = NULL;
    int r;
    if (!strcmp(a, "--framed")) {
        o->framing = THRIFT_FRAMING_FRAMED;
        o->framing_set = true;
        return 1;
    }
    if (!strcmp(a, "--buffered") || !strcmp(a, "--unframed")) {
        o->framing = THRIFT_FRAMING_BUFFERED;
        o->framing_set = true;
        return 1;
    }
    if (!strcmp(a, "--header")) {
        o->framing = THRIFT_FRAMING_HEADER;
        o->framing_set = true;
        return 1;
    }
    if ((r = cli_take_value_opt(argc, argv, i, cmd, "-H", &v)) != 0) {
        if (r < 0)
            return r;
        const char *colon = strchr(v, ':');
        if (!colon || colon == v || o->nheaders == CLI_NET_MAX_HEADERS) {
            fprintf(stderr, "dynthrift %s: -H takes 'key: value' (at most %d), not '%s'\n", cmd,
                    CLI_NET_MAX_HEADERS, v);
            return -1;
        }
        o->headers[o->nheaders++] = v;
        return 1;
    }
    if (!strcmp(a, "--zlib")) {
        o->zlib = true;
        return 1;
    }
    if (!strcmp(a, "-k") || !strcmp(a, "--insecure")) {
        o->insecure = true;
        return 1;
    }
    if ((r = cli_take_value_opt(argc, argv, i, cmd, "--cacert", &v)) != 0) {
        if (r > 0)
            o->cacert = v;
        return r;
    }
    if ((r = cli_take_value_opt(argc, argv, i, cmd, "--cert", &v)) != 0) {
        if (r > 0)
            o->cert = v;
        return r;
    }
    if ((r = cli_take_value_opt(argc, argv, i, cmd, "--key", &v)) != 0) {
        if (r > 0)
            o->key = v;
        return r;
    }
    if ((r = cli_take_value_opt(argc, argv, i, cmd, "--addr", &v)) != 0) {
        if (r < 0)
            return r;
        // `call` and `bench` hand several servers to cli_cluster.c before
        // they get here; what reaches this is `serve`, which listens on one
        // address: say so rather than keep the last one or read a list as
        // an IPv6 address.
        if (o->addr) {
            fprintf(stderr, "dynthrift %s: --addr given twice ('%s', '%s'): %s takes one "
                            "address\n",
                    cmd, o->addr, v, cmd);
            return -1;
        }
        if (strchr(v, ',')) {
            fprintf(stderr, "dynthrift %s: --addr '%s': one address only\n", cmd, v);
            return -1;
        }
        o->addr = v;
        return 1;
    }
    if ((r = cli_take_value_opt(argc, argv, i, cmd, "--protocol", &v)) != 0) {
        if (r < 0)
            return r;
        if (!thrift_protocol_parse(v, &o->proto)) {
            fprintf(stderr, "dynthrift %s: unknown protocol '%s' (use binary, compact or json)\n",
                    cmd, v);
            return -1;
        }
        return 1;
    }
    if ((r = cli_take_value_opt(argc, argv, i, cmd, "--multiplex", &v)) != 0) {
        if (r < 0)
            return r;
        if (!*v || strchr(v, ':') || strlen(v) > THRIFT_MULTIPLEXED_NAME_MAX) {
            fprintf(stderr,
                    "dynthrift %s: --multiplex takes the name the server registered the "
                    "service under (no ':', at most %d bytes), not '%s'\n",
                    cmd, THRIFT_MULTIPLEXED_NAME_MAX, v);
            return -1;
        }
        o->multiplex = v;
        return 1;
    }
    if ((r = cli_take_value_opt(argc, argv, i, cmd, "--timeout", &v)) != 0) {
        if (r < 0)
            return r;
        unsigned long long ms;
        if (!cli_parse_uint(v, UINT32_MAX, &ms)) {
            fprintf(stderr, "dynthrift %s: --timeout takes milliseconds (0 = none), not '%s'\n",
                    cmd, v);
            return -1;
        }
        o->timeout_ms = (uint32_t)ms;
        o->timeout_set = true;
        return 1;
    }
    return 0;
}

thrift_conn_options_t *cli_net_conn_options(const cli_net_opts_t *o) {
    thrift_conn_options_t *co = thrift_conn_options_new();
    if (!co)
        return NULL;
    thrift_conn_options_set_protocol(co, o->proto);
    // Only when asked: a server left unpinned recognizes every kind of
    // client on its port (clients default to framed either way).
    if (o->framing_set)
        thrift_conn_options_set_framing(co, o->framing);
    if (o->timeout_set) {
        thrift_conn_options_set_call_timeout_ms(co, o->timeout_ms);
        // A deadline shorter than the default connect timeout covers the
        // connect too: "--timeout 100" must not wait 5 s for a dead host.
        if (o->timeout_ms && o->timeout_ms < 5000)
            thrift_conn_options_set_connect_timeout_ms(co, o->timeout_ms);
    }
    // Checked when parsed, so this cannot fail.
    if (o->multiplex)
        (void)thrift_conn_options_set_multiplexed_name(co, o->multiplex);
    // Through the text keys: the same path the bindings take.
    struct {
        const char *key, *value;
    } kv[] = {{"tls_ca", o->cacert},
              {"tls_cert", o->cert},
              {"tls_key", o->key},
              {"tls_verify", o->insecure ? "0" : NULL},
              {"zlib", o->zlib ? "1" : NULL}};
    // -H: request headers for HTTP addresses (THeader info headers otherwise,
    // set on the connection by cli_net_apply_headers).
    bool http = o->addr && !strncmp(o->addr, "http", 4) && strstr(o->addr, "://");
    for (size_t k = 0; http && k < o->nheaders; k++) {
        thrift_error_t err;
        thrift_error_clear(&err);
        if (thrift_conn_options_set(co, "http_header", o->headers[k], &err) != THRIFT_OK) {
            fprintf(stderr, "dynthrift: -H '%s': %s\n", o->headers[k], err.text);
            thrift_conn_options_free(co);
            return NULL;
        }
    }
    for (size_t k = 0; k < sizeof kv / sizeof kv[0]; k++) {
        if (!kv[k].value)
            continue;
        thrift_error_t err;
        thrift_error_clear(&err);
        if (thrift_conn_options_set(co, kv[k].key, kv[k].value, &err) != THRIFT_OK) {
            fprintf(stderr, "dynthrift: %s\n", err.text);
            thrift_conn_options_free(co);
            return NULL;
        }
    }
    return co;
}

int cli_net_header_pairs(const char *cmd, const cli_net_opts_t *o, const char ***pairs) {
    *pairs = NULL;
    if (!o->nheaders || (o->addr && !strncmp(o->addr, "http", 4) && strstr(o->addr, "://")))
        return 0; // none, or HTTP request headers: already in the options
    // One block: the pointers, then each key's copy (the values point into
    // argv, after the ':' and its blanks).
    size_t size = 2 * o->nheaders * sizeof(char *);
    for (size_t k = 0; k < o->nheaders; k++)
        size += strlen(o->headers[k]) + 1;
    const char **p = malloc(size);
    if (!p) {
        fprintf(stderr, "dynthrift %s: out of memory\n", cmd);
        return -1;
    }
    char *text = (char *)(p + 2 * o->nheaders);
    for (size_t k = 0; k < o->nheaders; k++) {
        const char *h = o->headers[k], *colon = strchr(h, ':');
        size_t kl = (size_t)(colon - h);
        while (kl && (h[kl - 1] == ' ' || h[kl - 1] == '\t'))
            kl--;
        const char *value = colon + 1;
        while (*value == ' ' || *value == '\t')
            value++;
        if (kl > THRIFT_HEADER_TEXT_MAX || strlen(value) > THRIFT_HEADER_TEXT_MAX) {
            fprintf(stderr, "dynthrift %s: -H '%s': %s\n", cmd, h,
                    thrift_status_str(THRIFT_LIMIT));
            free(p);
            return -1;
        }
        memcpy(text, h, kl);
        text[kl] = 0;
        p[2 * k] = text;
        p[2 * k + 1] = value;
        text += kl + 1;
    }
    *pairs = p;
    return (int)o->nheaders;
}

int cli_net_apply_headers(const char *cmd, const cli_net_opts_t *o, thrift_conn_t *conn) {
    const char **pairs;
    int n = cli_net_header_pairs(cmd, o, &pairs);
    if (n < 0)
        return CLI_EXIT_USAGE;
    for (int k = 0; k < n; k++) {
        thrift_status_t st = thrift_conn_set_header(conn, pairs[2 * k], pairs[2 * k + 1]);
        if (st) {
            fprintf(stderr, "dynthrift %s: -H '%s': %s\n", cmd, o->headers[k],
                    thrift_status_str(st));
            free(pairs);
            return CLI_EXIT_USAGE;
        }
    }
    free(pairs);
    return 0;
}

static void print_header_text(FILE *out, const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
}

void cli_print_headers(FILE *out, const char *prefix, json_t *headers) {
    const char *k;
    json_t *v;
    json_object_foreach(headers, k, v) {
        fputs(prefix, out);
        print_header_text(out, k);
        fputs(": ", out);
        print_header_text(out, json_string_value(v));
        fputc('\n', out);
    }
}

const char *cli_app_exception_name(int type) {
    const char *name = thrift_app_exception_type_name(type);
    return name ? name : "UNKNOWN";
}

int cli_net_addr_exit(const thrift_error_t *err) {
    if (err->code == THRIFT_NOMEM)
        return CLI_EXIT_SOFTWARE;
    // A name that does not resolve is the network's answer, not bad usage.
    if (err->code == THRIFT_NOT_FOUND)
        return CLI_EXIT_TRANSPORT;
    return CLI_EXIT_USAGE;
}

const char *cli_net_hint(const cli_net_opts_t *o, thrift_status_t status, const char *message,
                         uint64_t bytes_sent, uint64_t bytes_received) {
    // The library names what the first bytes looked like (src/net/wire.c);
    // here that becomes the option to try.
    static const struct {
        const char *says, *hint;
    } known[] = {
        {"seems to use buffered (unframed) transport with the binary protocol",
         "the server seems to use buffered transport: try --buffered"},
        {"seems to use buffered (unframed) transport with the compact protocol",
         "the server seems to use buffered transport and the compact protocol: try --buffered "
         "--protocol compact"},
        {"seems to use buffered (unframed) transport with the JSON protocol",
         "the server seems to use buffered transport and the JSON protocol: try --buffered "
         "--protocol json"},
        {"seems to use framed transport", "the server seems to use framed transport: try --framed"},
        {"seems to use the binary protocol", "try --protocol binary"},
        {"seems to use the compact protocol", "try --protocol compact"},
        {"seems to use the JSON protocol", "try --protocol json"},
        {"speaks HTTP", "the server speaks HTTP: is this the right port?"},
    };
    if (message)
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            if (strstr(message, known[i].says))
                return known[i].hint;
    // Silence or a close after our request: the peer may have read it as
    // something else (a framed request read by a buffered server waits for
    // the rest of a "message" that never comes).
    if ((status == THRIFT_TIMEOUT || status == THRIFT_CLOSED) && bytes_sent && !bytes_received)
        return o->framing == THRIFT_FRAMING_FRAMED
                   ? "nothing came back: if the server uses buffered transport (Apache's "
                     "default), try --buffered; or check --protocol"
                   : "nothing came back: if the server uses framed transport, try --framed; "
                     "or check --protocol";
    return NULL;
}

void cli_list_methods(FILE *out, const thrift_service_def_t *svc) {
    for (const thrift_service_def_t *s = svc; s; s = thrift_service_def_parent(s))
        for (size_t i = 0; i < thrift_service_def_function_count(s); i++)
            fprintf(out, "  %s.%s\n", thrift_service_def_name(svc),
                    thrift_function_def_name(thrift_service_def_function_at(s, i)));
}

static void list_services(FILE *out, thrift_schema_t *schema) {
    const thrift_module_def_t *m = thrift_schema_main_module(schema);
    for (size_t i = 0; i < thrift_module_def_service_count(m); i++)
        fprintf(out, "  %s\n", thrift_service_def_name(thrift_module_def_service_at(m, i)));
}

/* Resolves "SERVICE.METHOD" (or "SERVICE" when the method is optional;
 * SERVICE may be qualified "module.Service").  Returns 0 or an exit code
 * after explaining on stderr. */
int cli_split_service_method(const char *cmd, thrift_schema_t *schema, const char *spec,
                             bool method_optional, const thrift_service_def_t **svc,
                             const thrift_function_def_t **fn) {
    *svc = NULL;
    *fn = NULL;
    if (method_optional) {
        *svc = thrift_schema_find_service(schema, spec);
        if (*svc)
            return 0;
    }
    const char *dot = strrchr(spec, '.');
    if (!dot || dot == spec || !dot[1]) {
        if (method_optional)
            fprintf(stderr, "dynthrift %s: no service '%s' in the schema; services:\n", cmd, spec);
        else
            fprintf(stderr,
                    "dynthrift %s: '%s' is not SERVICE.METHOD (e.g. PingPong.ping); services:\n",
                    cmd, spec);
        list_services(stderr, schema);
        return CLI_EXIT_USAGE;
    }
    char name[256];
    size_t n = (size_t)(dot - spec);
    if (n >= sizeof name) {
        fprintf(stderr, "dynthrift %s: service name too long\n", cmd);
        return CLI_EXIT_USAGE;
    }
    memcpy(name, spec, n);
    name[n] = 0;
    *svc = thrift_schema_find_service(schema, name);
    if (!*svc) {
        fprintf(stderr, "dynthrift %s: no service '%s' in the schema; services:\n", cmd, name);
        list_services(stderr, schema);
        return CLI_EXIT_USAGE;
    }
    *fn = thrift_service_def_find_function(*svc, dot + 1);
    if (!*fn) {
        fprintf(stderr, "dynthrift %s: service %s has no method '%s'; methods:\n", cmd, name,
                dot + 1);
        cli_list_methods(stderr, *svc);
        return CLI_EXIT_USAGE;
    }
    return 0;
}


thrift_value_t *cli_args_from_json(const thrift_function_def_t *fn, thrift_arena_t *arena,
                                   json_t *j, unsigned json_flags, thrift_error_t *err) {
    const thrift_struct_def_t *ad = thrift_function_def_args(fn);
    if (!j || json_is_null(j))
        return thrift_value_new_struct(arena, ad);
    json_t *obj = NULL;
    if (json_is_array(j)) {
        size_t nf = thrift_struct_def_field_count(ad);
        if (json_array_size(j) > nf) {
            err->code = THRIFT_RANGE;
            snprintf(err->text, sizeof err->text, "%s takes %zu argument%s, got %zu",
                     thrift_function_def_name(fn), nf, nf == 1 ? "" : "s", json_array_size(j));
            return NULL;
        }
        obj = json_object();
        for (size_t i = 0; obj && i < json_array_size(j); i++)
            if (!json_is_null(json_array_get(j, i)))
                json_object_set(obj,
                                thrift_field_def_name(thrift_struct_def_field_at(ad, i)),
                                json_array_get(j, i));
        j = obj;
    } else if (!json_is_object(j)) {
        err->code = THRIFT_TYPE;
        snprintf(err->text, sizeof err->text,
                 "%s: arguments must be a JSON object (by name) or an array (by position)",
                 thrift_function_def_name(fn));
        return NULL;
    }
    // A wrong argument name is named against the method, not against the
    // synthesized "add_args" struct the user never wrote.
    const char *key;
    json_t *unused;
    json_object_foreach(j, key, unused) {
        (void)unused;
        if (!(json_flags & THRIFT_JSON_IGNORE_UNKNOWN) && !thrift_struct_def_find_field(ad, key)) {
            char sig[150];
            cli_format_arguments(fn, sig, sizeof sig);
            err->code = THRIFT_UNKNOWN_FIELD;
            snprintf(err->text, sizeof err->text, "%.64s has no argument '%.64s' (arguments: %s)",
                     thrift_function_def_name(fn), key, sig);
            json_decref(obj);
            return NULL;
        }
    }
    thrift_value_t *v = thrift_json_to_value(arena, thrift_struct_def_type(ad), j, json_flags, err);
    json_decref(obj);
    // "add_args.a: expected i32" -> "add.a: expected i32".
    const char *an = thrift_struct_def_name(ad);
    size_t anl = strlen(an);
    if (!v && !strncmp(err->path, an, anl) && (err->path[anl] == '.' || !err->path[anl])) {
        const char *fname = thrift_function_def_name(fn);
        char path[sizeof err->path];
        size_t fl = strlen(fname) < 100 ? strlen(fname) : 100;
        memcpy(path, fname, fl);
        snprintf(path + fl, sizeof path - fl, "%.*s", (int)(sizeof path - fl - 1),
                 err->path + anl);
        memcpy(err->path, path, sizeof path);
    }
    return v;
}

void cli_format_arguments(const thrift_function_def_t *fn, char *out, size_t size) {
    const thrift_struct_def_t *ad = thrift_function_def_args(fn);
    size_t used = 0;
    out[0] = 0;
    size_t n = thrift_struct_def_field_count(ad);
    if (n == 0)
        snprintf(out, size, "none");
    for (size_t i = 0; i < n && used < size; i++) {
        const thrift_field_def_t *f = thrift_struct_def_field_at(ad, i);
        int w = snprintf(out + used, size - used, "%s%d: %s %s", i ? ", " : "",
                         thrift_field_def_id(f), thrift_type_def_name(thrift_field_def_type(f)),
                         thrift_field_def_name(f));
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

int cli_net_take_positional(const char *cmd, const char *a, const char *pos[3], int *npos) {
    if (a[0] == '-' && a[1]) {
        fprintf(stderr, "dynthrift %s: unknown option '%s'\n", cmd, a);
        return -1;
    }
    if (*npos == 3) {
        fprintf(stderr, "dynthrift %s: unexpected argument '%s'\n", cmd, a);
        return -1;
    }
    pos[(*npos)++] = a;
    return 0;
}

int cli_net_check_required(const char *cmd, int npos, const cli_net_opts_t *o) {
    if (npos < 2) {
        fprintf(stderr, "dynthrift %s: FILE and SERVICE.METHOD are required\n", cmd);
        return -1;
    }
    if (!o->addr) {
        fprintf(stderr, "dynthrift %s: --addr HOST:PORT or --addr unix:PATH is required\n", cmd);
        return -1;
    }
    return 0;
}

json_t *cli_net_load_args(const char *cmd, const char *arg) {
    size_t len = strlen(arg);
    char *text = NULL;
    // "-" is stdin and "@FILE" a file, as curl and grpcurl read them (no
    // JSON text starts with '@').
    if (!strcmp(arg, "-") || arg[0] == '@') {
        thrift_error_t err;
        thrift_error_clear(&err);
        text = cli_read_file(arg[0] == '@' ? arg + 1 : "-", (size_t)256 << 20, &len, &err);
        if (!text) {
            fprintf(stderr, "dynthrift %s: ", cmd);
            cli_print_error(stderr, &err);
            return NULL;
        }
        arg = text;
    }
    json_error_t jerr;
    json_t *j = json_loadb(arg, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    free(text);
    if (!j)
        fprintf(stderr, "dynthrift %s: arguments: <json>:%d:%d: %s\n", cmd, jerr.line,
                jerr.column, jerr.text);
    return j;
}

/* The error object of a --lines answer. */
json_t *cli_error_json(const char *kind, const char *type, const char *message) {
    json_t *e = json_object();
    json_object_set_new(e, "kind", json_string(kind));
    if (type)
        json_object_set_new(e, "type", json_string(type));
    json_object_set_new(e, "message", json_string(message ? message : ""));
    return e;
}

int cli_status_exit(thrift_status_t s) {
    switch (s) {
    case THRIFT_OK:
        return CLI_EXIT_OK;
    case THRIFT_DECLARED_EXCEPTION:
        return CLI_EXIT_DECLARED_EXCEPTION;
    case THRIFT_APP_EXCEPTION:
        return CLI_EXIT_APP_EXCEPTION;
    case THRIFT_TIMEOUT:
    case THRIFT_CLOSED:
    case THRIFT_TRANSPORT:
    case THRIFT_PROTOCOL:
    case THRIFT_IO:
        return CLI_EXIT_TRANSPORT;
    case THRIFT_NOMEM:
    case THRIFT_MISUSE:
        return CLI_EXIT_SOFTWARE;
    default:
        return CLI_EXIT_DATA;
    }
}

const char *cli_status_kind(thrift_status_t s) {
    switch (s) {
    case THRIFT_APP_EXCEPTION:
        return "application_exception";
    case THRIFT_TIMEOUT:
        return "timeout";
    case THRIFT_CLOSED:
    case THRIFT_TRANSPORT:
    case THRIFT_IO:
        return "transport";
    case THRIFT_PROTOCOL:
        return "protocol";
    default:
        return "bad_input";
    }
}
