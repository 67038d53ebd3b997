/* thrift_test_common: see thrift_test_common.h. */
#include "thrift_test_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tt_opt_value(int argc, char **argv, int *i, const char *name) {
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n))
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] == 0 && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

bool tt_multiplexed_protocol(const char **protocol) {
    const char *p = *protocol;
    if (strcmp(p, "multi") && strcmp(p, "multic") && strcmp(p, "multij"))
        return false;
    *protocol = !strcmp(p, "multi") ? "binary" : !strcmp(p, "multic") ? "compact" : "json";
    return true;
}

static const char *const default_idls[] = {
    "../shared/idl-corpus/apache-thrift/test/v0.16/ThriftTest.thrift",
    "../shared/idl-corpus/apache-thrift/test/ThriftTest.thrift",
    "../../shared/idl-corpus/apache-thrift/test/v0.16/ThriftTest.thrift",
    "../../shared/idl-corpus/apache-thrift/test/ThriftTest.thrift",
};

const char *tt_default_idl(void) {
    for (size_t i = 0; i < sizeof default_idls / sizeof *default_idls; i++) {
        FILE *f = fopen(default_idls[i], "r");
        if (f) {
            fclose(f);
            return default_idls[i];
        }
    }
    return NULL;
}

static const char *env_or(const char *name, const char *fallback) {
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

void tt_stack_init(tt_stack_t *s) {
    s->transport = "buffered";
    s->protocol = "binary";
    s->zlib = false;
    s->ssl = false;
    s->ssl_ca = env_or("THRIFT_TEST_SSL_CA", "keys/CA.pem");
    s->ssl_cert = env_or("THRIFT_TEST_SSL_CERT", "keys/server.crt");
    s->ssl_key = env_or("THRIFT_TEST_SSL_KEY", "keys/server.key");
    s->http_path = "/";
}

bool tt_stack_flag(tt_stack_t *s, int argc, char **argv, int *i) {
    const char *v;
    if (!strcmp(argv[*i], "--ssl"))
        s->ssl = true;
    else if (!strcmp(argv[*i], "--zlib"))
        s->zlib = true;
    else if ((v = tt_opt_value(argc, argv, i, "--transport")))
        s->transport = v;
    else if ((v = tt_opt_value(argc, argv, i, "--protocol")))
        s->protocol = v;
    else if ((v = tt_opt_value(argc, argv, i, "--ssl-ca")))
        s->ssl_ca = v;
    else if ((v = tt_opt_value(argc, argv, i, "--ssl-cert")))
        s->ssl_cert = v;
    else if ((v = tt_opt_value(argc, argv, i, "--ssl-key")))
        s->ssl_key = v;
    else if ((v = tt_opt_value(argc, argv, i, "--http-path")))
        s->http_path = v;
    else
        return false;
    return true;
}

thrift_status_t tt_stack_options(const tt_stack_t *s, bool server, thrift_conn_options_t *o,
                                 thrift_error_t *err) {
    const char *framing = s->transport, *protocol = s->protocol;
    bool zlib = s->zlib;
    if (!strcmp(framing, "http")) {
        framing = "buffered"; // one message per POST body
    } else if (!strcmp(framing, "zlib")) {
        framing = "buffered"; // Apache's TZlibTransport straight on the socket
        zlib = true;
    }
    if (!strcmp(protocol, "header")) {
        framing = "header"; // Apache's THeaderProtocol: binary inside by default
        protocol = "binary";
    }
    thrift_status_t st;
    if ((st = thrift_conn_options_set(o, "transport", framing, err)) ||
        (st = thrift_conn_options_set(o, "protocol", protocol, err)) ||
        (zlib && (st = thrift_conn_options_set(o, "zlib", "1", err))))
        return st;
    if (!s->ssl)
        return THRIFT_OK;
    if (server)
        return (st = thrift_conn_options_set(o, "tls_cert", s->ssl_cert, err))
                   ? st
                   : thrift_conn_options_set(o, "tls_key", s->ssl_key, err);
    return thrift_conn_options_set(o, "tls_ca", s->ssl_ca, err);
}

const char *tt_stack_scheme(const tt_stack_t *s) {
    bool http = !strcmp(s->transport, "http");
    return http ? (s->ssl ? "https://" : "http://") : s->ssl ? "tls://" : "";
}

const char *tt_stack_path(const tt_stack_t *s) {
    return strcmp(s->transport, "http") ? "" : s->http_path;
}
