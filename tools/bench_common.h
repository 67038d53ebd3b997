/* bench_common: the pieces bench_codec and bench_json share — where the
 * bench schema and payload are looked for, and the best-of-batches timer.
 * Only tools include this; it is not part of the library. */
#ifndef DYNTHRIFT_TOOLS_BENCH_COMMON_H
#define DYNTHRIFT_TOOLS_BENCH_COMMON_H

/* NULL-terminated lists of where bench.thrift and payload.json usually are,
 * relative to the build directory, the repository, or absolute. */
extern const char *const bench_idl_candidates[];
extern const char *const bench_json_candidates[];

/* The first path of the NULL-terminated list that opens for reading, or NULL. */
const char *bench_first_existing(const char *const *paths);

/* Monotonic clock in nanoseconds. */
double bench_now_ns(void);

/* Runs measured(ctx, ops) in batches calibrated to ~20 ms, for at least
 * `seconds` and at least 5 batches, and returns the best ns per op: the
 * batch least disturbed by other processes.  `measured` is the program's
 * own bench_measured(), so callgrind's --toggle-collect still names it. */
double bench_time_op(void (*measured)(void *ctx, long ops), void *ctx, double seconds);

#endif
