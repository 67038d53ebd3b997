/* Latency accounting shared by `bench` (one address, cmd_bench.c) and its
 * cluster flavour (cli_cluster.c): an HDR-style histogram, its summary and
 * distribution as text and JSON, and the seconds options' parser. */
#ifndef DYNTHRIFT_CLI_LATENCY_H
#define DYNTHRIFT_CLI_LATENCY_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

/* Log buckets, 128 per power of two (< 0.8% error), of nanoseconds. */
#define CLI_HIST_SUB_BITS 7
#define CLI_HIST_SUB (1u << CLI_HIST_SUB_BITS)   /* 128 */
#define CLI_HIST_HALF (CLI_HIST_SUB / 2)         /* 64 */
#define CLI_HIST_BUCKETS ((64 - CLI_HIST_SUB_BITS + 1) * CLI_HIST_HALF + CLI_HIST_HALF)

typedef struct cli_hist {
    uint64_t counts[CLI_HIST_BUCKETS];
    uint64_t total;
    uint64_t min, max;
    double sum;
} cli_hist_t;

void cli_hist_add(cli_hist_t *h, uint64_t ns);
/* Adds every count of `from` to `into`. */
void cli_hist_merge(cli_hist_t *into, const cli_hist_t *from);
/* The value at percentile q (0..100), within the bucket's error; 0 when
 * empty. */
uint64_t cli_hist_percentile(const cli_hist_t *h, double q);

/* "12.3us", "4.56ms", "1.20s". */
void cli_fmt_ns(char *out, size_t n, uint64_t ns);
/* {"count", "min", "mean", "p50", "p90", "p99", "p99.9", "max"} in
 * microseconds (a new reference), or JSON null when empty. */
json_t *cli_hist_summary_json(const cli_hist_t *h);
/* [{"percentile": 50, "us": ...}, ...] at wrk --latency's percentiles and a
 * few more for the tail (a new reference). */
json_t *cli_hist_distribution_json(const cli_hist_t *h);
/* "  latency     mean ...  p50 ...  max ...\n" (or "n/a" when empty). */
void cli_hist_print_summary(const cli_hist_t *h);
/* "  latency distribution" and one line per percentile. */
void cli_hist_print_distribution(const cli_hist_t *h);

/* "2", "0.5", "3s" -> seconds (0 .. 1e6); false otherwise. */
bool cli_parse_seconds(const char *v, double *out);

#endif
