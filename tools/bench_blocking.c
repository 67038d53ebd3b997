/* bench_blocking — the C blocking client's rate, one call at a time on one
 * connection: thrift_connect + thrift_call("add") in a loop for SECONDS.
 * The reference the Lua binding's client is measured against
 * (tools/bench_lua.sh): the same library path, minus the host language.
 *
 *   bench_blocking IDL HOST:PORT SECONDS
 *     -> "calls=N seconds=S cps=R cpu_us=C" (C: this process's CPU time,
 *        user + system, per call: steadier than the rate on a busy host)
 */
#include <dynthrift/dynthrift.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: bench_blocking IDL HOST:PORT SECONDS\n");
        return 2;
    }
    double seconds = atof(argv[3]);
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_schema_t *schema = thrift_load(argv[1], &err);
    if (!schema) {
        fprintf(stderr, "bench_blocking: %s\n", err.text);
        return 1;
    }
    thrift_conn_t *conn = thrift_connect(schema, "Bench", argv[2], NULL, &err);
    if (!conn) {
        fprintf(stderr, "bench_blocking: %s\n", err.text);
        thrift_schema_unref(schema);
        return 1;
    }
    thrift_arena_t *arena = thrift_arena_new(NULL);
    long calls = 0;
    int rc = 0;
    double start = now(), end = start + seconds, t = start;
    while (t < end) {
        /* Built per call, as a host binding builds its arguments. */
        thrift_arena_reset(arena);
        thrift_value_t *args = thrift_conn_new_args(conn, arena, "add", &err);
        thrift_value_set_int(thrift_value_field(arena, args, "a"), calls);
        thrift_value_set_int(thrift_value_field(arena, args, "b"), 1);
        thrift_value_t *r = thrift_call(conn, "add", args, &err);
        if (!r || thrift_value_int(r) != calls + 1) {
            fprintf(stderr, "bench_blocking: %s\n", r ? "wrong sum" : err.text);
            rc = 1;
            break;
        }
        calls++;
        if ((calls & 255) == 0)
            t = now();
    }
    double took = now() - start;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    printf("calls=%ld seconds=%.3f cps=%.0f cpu_us=%.2f\n", calls, took, (double)calls / took,
           calls ? cpu / (double)calls * 1e6 : 0.0);
    thrift_arena_free(arena);
    thrift_conn_free(conn);
    thrift_schema_unref(schema);
    return rc;
}
