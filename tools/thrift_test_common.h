/* thrift_test_common: what thrift_test_client and thrift_test_server share —
 * their command-line conventions (Apache's cross-test scripts drive both the
 * same way) and where ThriftTest.thrift is looked for.  Tools only. */
#ifndef DYNTHRIFT_TOOLS_THRIFT_TEST_COMMON_H
#define DYNTHRIFT_TOOLS_THRIFT_TEST_COMMON_H

#include <stdbool.h>

#include "dynthrift/dynthrift.h"

/* `--name=value` or `--name value`: the value (advancing *i past a separate
 * one), or NULL when argv[*i] is not that option. */
const char *tt_opt_value(int argc, char **argv, int *i, const char *name);

/* Apache's Python test scripts name the multiplexed protocols multi, multic,
 * multij: maps those to binary, compact, json and returns true; any other
 * name is left as it is and false returned. */
bool tt_multiplexed_protocol(const char **protocol);

/* Apache's cross-test transport flags, as its test/ harness names them. */
typedef struct {
    const char *transport; /* --transport: buffered, framed, http, zlib, header */
    const char *protocol;  /* --protocol: binary, compact, json, or header */
    bool zlib;             /* --zlib (Apache's Python scripts): TZlibTransport */
    bool ssl;              /* --ssl */
    const char *ssl_ca;    /* --ssl-ca: the client trusts these CAs */
    const char *ssl_cert;  /* --ssl-cert, --ssl-key: the server's certificate */
    const char *ssl_key;
    const char *http_path; /* --http-path (/) */
} tt_stack_t;

/* Defaults: buffered, binary, no TLS, certificates from $THRIFT_TEST_SSL_CA,
 * $THRIFT_TEST_SSL_CERT, $THRIFT_TEST_SSL_KEY (Apache's keys/CA.pem,
 * keys/server.crt, keys/server.key when unset). */
void tt_stack_init(tt_stack_t *s);

/* Takes argv[*i] when it is one of the flags above (advancing *i past a
 * separate value); false otherwise. */
bool tt_stack_flag(tt_stack_t *s, int argc, char **argv, int *i);

/* Sets `o`'s transport, protocol, zlib and TLS options from `s`:
 * http -> buffered bodies in POSTs, zlib -> buffered + zlib, header (either
 * --transport header with --protocol binary|compact, or Apache's
 * --protocol header meaning THeader with binary inside).  `server` picks
 * the certificate (server) or the CA (client) for --ssl.  On an error
 * fills *err. */
thrift_status_t tt_stack_options(const tt_stack_t *s, bool server, thrift_conn_options_t *o,
                                 thrift_error_t *err);

/* The scheme to put in front of host:port: "", "tls://", "http://" or
 * "https://"; and the path after it (HTTP only, else ""). */
const char *tt_stack_scheme(const tt_stack_t *s);
const char *tt_stack_path(const tt_stack_t *s);

/* The first ThriftTest.thrift of the shared corpus that opens, or NULL. */
const char *tt_default_idl(void);

#endif
