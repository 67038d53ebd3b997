/* Network options and helpers shared by `call`, `serve` and `bench`. */
#ifndef DYNTHRIFT_CLI_NET_H
#define DYNTHRIFT_CLI_NET_H

#include <stdio.h>

#include <jansson.h>

#include "dynthrift/dynthrift.h"

typedef struct cli_net_opts {
    const char *addr;
    thrift_protocol_t proto;
    thrift_framing_t framing;
    bool framing_set; /* --framed, --buffered or --header given */
    const char *multiplex; /* service name to prefix, or NULL */
    uint32_t timeout_ms;   /* 0: none (when timeout_set) */
    bool timeout_set;
    /* transport stack (tls://, https:// addresses turn TLS on) */
    bool zlib;
    bool insecure;         /* -k: no verification of the server */
    const char *cacert;    /* call/bench: verify the server; serve: require client certs */
    const char *cert, *key;
    /* -H 'key: value': THeader info headers (HTTP request headers) */
#define CLI_NET_MAX_HEADERS 32
    const char *headers[CLI_NET_MAX_HEADERS];
    size_t nheaders;
} cli_net_opts_t;

/* The transport options' help, printed after each command's own usage. */
extern const char cli_net_transport_help[];

void cli_net_opts_init(cli_net_opts_t *o);
/* Consumes argv[*i] (and its value) when it is a network option; returns 1
 * when taken, 0 when not a network option, -1 after printing a usage error. */
int cli_net_take_opt(int argc, char **argv, int *i, const char *cmd, cli_net_opts_t *o);
/* Returns owned; free with thrift_conn_options_free.  NULL after printing
 * "dynthrift CMD: ..." when a transport option cannot be honoured (a path
 * too long, a transport this build lacks). */
thrift_conn_options_t *cli_net_conn_options(const cli_net_opts_t *o);
/* Sets the -H headers on a client connection: 0, or an exit code after
 * printing "dynthrift CMD: ...". */
int cli_net_apply_headers(const char *cmd, const cli_net_opts_t *o, thrift_conn_t *conn);
/* The -H headers as THeader info header pairs for per-call APIs
 * (thrift_cluster_call_async_ex): *pairs laid out key, value, ... (owned,
 * one block: free(*pairs)), NULL for http(s) addresses, whose -H are
 * request headers already in the options.  Returns the pair count, or -1
 * after printing "dynthrift CMD: ...". */
int cli_net_header_pairs(const char *cmd, const cli_net_opts_t *o, const char ***pairs);
/* Adds one info header to `headers` ({"KEY": "VALUE"...}), made on the
 * first: the loops over a request's, a result's or a response's headers
 * (each API has its own accessor) build their objects with it. */
json_t *cli_headers_put(json_t *headers, const char *key, const char *value);
/* A reply's info headers ({"KEY": "VALUE"...}) as `curl -i` lines, each
 * after `prefix`: "KEY: VALUE", control bytes as \xNN so a value stays on
 * its line.  NULL prints nothing. */
void cli_print_headers(FILE *out, const char *prefix, json_t *headers);
/* The exit code for thrift_conn_new's failure on --addr: 3 when the name
 * does not resolve, 64 for a malformed address, 70 out of memory. */
int cli_net_addr_exit(const thrift_error_t *err);
/* The TApplicationException type's name, "UNKNOWN" for one outside the
 * table. */
const char *cli_app_exception_name(int type);
/* What to try after a failed call, from the library's message (which says
 * what the peer's first bytes looked like) or from the silence of a peer
 * that got our request and sent nothing; NULL when there is nothing to
 * suggest.  Static. */
const char *cli_net_hint(const cli_net_opts_t *o, thrift_status_t status, const char *message,
                         uint64_t bytes_sent, uint64_t bytes_received);
/* "SERVICE.METHOD" (or "SERVICE" alone when method_optional) -> defs;
 * prints what exists on failure and returns an exit code, 0 on success. */
int cli_split_service_method(const char *cmd, thrift_schema_t *schema, const char *spec,
                             bool method_optional, const thrift_service_def_t **svc,
                             const thrift_function_def_t **fn);
void cli_list_methods(FILE *out, const thrift_service_def_t *svc);
bool cli_parse_uint(const char *text, unsigned long long max, unsigned long long *out);
/* ARGS_JSON as given on the command line ("-": read stdin, "@FILE": read
 * FILE) -> a new jansson
 * reference; NULL after printing "dynthrift CMD: ..." on stderr. */
json_t *cli_net_load_args(const char *cmd, const char *arg);
/* A JSON object (by name) or array (by position) -> the method's args struct
 * value in `arena`; NULL with err set (an unknown name is reported against
 * the method: "add has no argument 'c' (arguments: 1: i32 a, 2: i64 b)").
 * `json_flags`: THRIFT_JSON_IGNORE_UNKNOWN skips unknown names. */
/* "1: i32 a, 2: i64 b" ("none" without arguments), truncated to `size`. */
void cli_format_arguments(const thrift_function_def_t *fn, char *out, size_t size);
thrift_value_t *cli_args_from_json(const thrift_function_def_t *fn, thrift_arena_t *arena,
                                   json_t *j, unsigned json_flags, thrift_error_t *err);

/* The end of `call`'s and `bench`'s option loops: `a` is an unknown option
 * or a positional FILE SERVICE.METHOD [ARGS], kept in pos[*npos].  Returns 0,
 * or -1 after printing a usage error. */
int cli_net_take_positional(const char *cmd, const char *a, const char *pos[3], int *npos);
/* After the loop: FILE and SERVICE.METHOD given, and --addr.  Returns 0, or
 * -1 after printing a usage error. */
int cli_net_check_required(const char *cmd, int npos, const cli_net_opts_t *o);

/* Shared by `call` and its cluster flavour (cli_cluster.c): the error object
 * of a --lines answer {"kind", "type"?, "message"} (a new reference), the
 * exit code of a call's status, and the error kind it is printed as. */
json_t *cli_error_json(const char *kind, const char *type, const char *message);
int cli_status_exit(thrift_status_t s);
const char *cli_status_kind(thrift_status_t s);

#endif
