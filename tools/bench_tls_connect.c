/* Time and CPU to open N TLS client connections one after another, each a
 * client of its own (as a pool's or a cluster's members are), to see what
 * the shared client SSL_CTX saves: with it the CA file is loaded once, not
 * once per connection.
 *
 *   bench_tls_connect IDL SERVICE tls://HOST:PORT CA_FILE [N]   (N: 64)
 *
 * The server is any TLS Thrift server with a certificate CA_FILE verifies
 * (tools/bench_transport.sh starts one); prints one line. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "dynthrift/dynthrift.h"
#include "dynthrift/net.h"

static double seconds(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: bench_tls_connect IDL SERVICE tls://HOST:PORT CA_FILE [N]\n");
        return 2;
    }
    int n = argc > 5 ? atoi(argv[5]) : 64;
    if (n < 1 || n > 100000) {
        fprintf(stderr, "bench_tls_connect: N must be 1..100000\n");
        return 2;
    }
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_schema_t *schema = thrift_load(argv[1], &err);
    if (!schema) {
        fprintf(stderr, "bench_tls_connect: %s\n", err.text);
        return 1;
    }
    thrift_conn_options_t *opts = thrift_conn_options_new();
    int rc = 0;
    thrift_conn_t **conns = calloc((size_t)n, sizeof *conns);
    if (!conns || thrift_conn_options_set_tls_ca_file(opts, argv[4]) != THRIFT_OK) {
        fprintf(stderr, "bench_tls_connect: out of memory or bad CA path\n");
        rc = 1;
        goto out;
    }
    double wall0 = seconds(CLOCK_MONOTONIC), cpu0 = seconds(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i < n; i++) {
        if (!(conns[i] = thrift_connect(schema, argv[2], argv[3], opts, &err))) {
            fprintf(stderr, "bench_tls_connect: connection %d: %s\n", i + 1, err.text);
            rc = 1;
            goto out;
        }
    }
    printf("%d TLS connections: %.1f ms wall, %.1f ms CPU\n", n,
           (seconds(CLOCK_MONOTONIC) - wall0) * 1e3, (seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu0) * 1e3);
out:
    for (int i = 0; conns && i < n; i++)
        thrift_conn_free(conns[i]);
    free(conns);
    thrift_conn_options_free(opts);
    thrift_schema_unref(schema);
    return rc;
}
