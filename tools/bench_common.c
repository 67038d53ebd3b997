/* bench_common: see bench_common.h. */
#include "bench_common.h"

#include <stdio.h>
#include <time.h>

const char *const bench_idl_candidates[] = {
    "idl-samples/bench.thrift", "../idl-samples/bench.thrift",
    "../shared/bench/bench.thrift", "../../shared/bench/bench.thrift",
    "/work/shared/bench/bench.thrift", NULL};
const char *const bench_json_candidates[] = {
    "../shared/bench/payload.json", "../../shared/bench/payload.json",
    "/work/shared/bench/payload.json", NULL};

const char *bench_first_existing(const char *const *paths) {
    for (size_t i = 0; paths[i]; i++) {
        FILE *f = fopen(paths[i], "rb");
        if (f) {
            fclose(f);
            return paths[i];
        }
    }
    return NULL;
}

double bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

double bench_time_op(void (*measured)(void *ctx, long ops), void *ctx, double seconds) {
    long ops = 1;
    for (;;) { /* calibrate a batch to ~20 ms */
        double t0 = bench_now_ns();
        measured(ctx, ops);
        double dt = bench_now_ns() - t0;
        if (dt > 2e7)
            break;
        ops *= 2;
    }
    double best = 1e30, spent = 0;
    int batches = 0;
    while (spent < seconds * 1e9 || batches < 5) {
        double t0 = bench_now_ns();
        measured(ctx, ops);
        double dt = bench_now_ns() - t0;
        spent += dt;
        batches++;
        if (dt / (double)ops < best)
            best = dt / (double)ops;
    }
    return best;
}
