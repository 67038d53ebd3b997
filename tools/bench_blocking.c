/* bench_blocking — the C blocking client's rate, one call at a time on one
 * connection: thrift_connect + thrift_call("add") in a loop for SECONDS.
 * The reference the Lua binding's client is measured against
 * (tools/bench_lua.sh): the same library path, minus the host language.
 *
 *   bench_blocking IDL HOST:PORT SECONDS [KEY=VALUE...]
 *     -> "calls=N seconds=S cps=R cpu_us=C spun=N caught=N" (C: this
 *        process's CPU time, user + system, per call: steadier than the
 *        rate on a busy host; spun/caught: thrift_conn_busy_poll_stats)
 *   KEY=VALUE: connection options (thrift_conn_options_set), e.g.
 *   busy_poll_us=0 to compare with the waits that always sleep.
 */
#include <dynthrift/dynthrift.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: bench_blocking IDL HOST:PORT SECONDS [KEY=VALUE...]\n");
        return 2;
    }
    double seconds = atof(argv[3]);
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_conn_options_t *opts = thrift_conn_options_new();
    if (!opts) {
        fprintf(stderr, "bench_blocking: out of memory\n");
        return 1;
    }
    for (int i = 4; i < argc; i++) {
        char key[64];
        const char *eq = strchr(argv[i], '=');
        size_t kn = eq ? (size_t)(eq - argv[i]) : 0;
        if (!kn || kn >= sizeof key) {
            fprintf(stderr, "bench_blocking: expected KEY=VALUE, got '%s'\n", argv[i]);
            thrift_conn_options_free(opts);
            return 2;
        }
        memcpy(key, argv[i], kn);
        key[kn] = 0;
        if (thrift_conn_options_set(opts, key, eq + 1, &err)) {
            fprintf(stderr, "bench_blocking: %s\n", err.text);
            thrift_conn_options_free(opts);
            return 2;
        }
    }
    thrift_schema_t *schema = thrift_load(argv[1], &err);
    if (!schema) {
        fprintf(stderr, "bench_blocking: %s\n", err.text);
        thrift_conn_options_free(opts);
        return 1;
    }
    thrift_conn_t *conn = thrift_connect(schema, "Bench", argv[2], opts, &err);
    thrift_conn_options_free(opts);
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
    uint64_t spun, caught;
    thrift_conn_busy_poll_stats(conn, &spun, &caught);
    printf("calls=%ld seconds=%.3f cps=%.0f cpu_us=%.2f spun=%llu caught=%llu\n", calls, took,
           (double)calls / took, calls ? cpu / (double)calls * 1e6 : 0.0, (unsigned long long)spun,
           (unsigned long long)caught);
    thrift_arena_free(arena);
    thrift_conn_free(conn);
    thrift_schema_unref(schema);
    return rc;
}
