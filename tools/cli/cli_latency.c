/* Latency histogram and reports shared by the bench flavours (see
 * cli_latency.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli_latency.h"

static unsigned hist_index(uint64_t v) {
    if (v < CLI_HIST_SUB)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - (CLI_HIST_SUB_BITS - 1);
    return (shift + 1) * CLI_HIST_HALF + (unsigned)((v >> shift) - CLI_HIST_HALF);
}

/* The largest value that lands in bucket `i`. */
static uint64_t hist_upper(unsigned i) {
    if (i < CLI_HIST_SUB)
        return i;
    unsigned shift = i / CLI_HIST_HALF - 1;
    uint64_t mant = i % CLI_HIST_HALF + CLI_HIST_HALF;
    return ((mant + 1) << shift) - 1;
}

void cli_hist_add(cli_hist_t *h, uint64_t v) {
    h->counts[hist_index(v)]++;
    if (h->total == 0 || v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->total++;
    h->sum += (double)v;
}

void cli_hist_merge(cli_hist_t *into, const cli_hist_t *from) {
    if (!from->total)
        return;
    for (unsigned i = 0; i < CLI_HIST_BUCKETS; i++)
        into->counts[i] += from->counts[i];
    if (into->total == 0 || from->min < into->min)
        into->min = from->min;
    if (from->max > into->max)
        into->max = from->max;
    into->total += from->total;
    into->sum += from->sum;
}

uint64_t cli_hist_percentile(const cli_hist_t *h, double q) {
    if (!h->total)
        return 0;
    uint64_t rank = (uint64_t)ceil(q / 100.0 * (double)h->total);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < CLI_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = hist_upper(i);
            return v > h->max ? h->max : v < h->min ? h->min : v;
        }
    }
    return h->max;
}

void cli_fmt_ns(char *out, size_t n, uint64_t ns) {
    if (ns < 10000)
        snprintf(out, n, "%.2fus", (double)ns / 1e3);
    else if (ns < 10000000)
        snprintf(out, n, "%.1fus", (double)ns / 1e3);
    else if (ns < 10000000000ull)
        snprintf(out, n, "%.2fms", (double)ns / 1e6);
    else
        snprintf(out, n, "%.2fs", (double)ns / 1e9);
}

/* The summary's percentiles. */
static const double summary_q[] = {50, 90, 99, 99.9};
static const char *const summary_name[] = {"p50", "p90", "p99", "p99.9"};
/* wrk --latency's percentiles, and a few more for the tail. */
static const double dist_q[] = {50, 75, 90, 95, 99, 99.9, 99.99, 100};
#define DIST_N (sizeof dist_q / sizeof dist_q[0])

json_t *cli_hist_summary_json(const cli_hist_t *h) {
    if (!h->total)
        return json_null(); // nothing succeeded: no latency (null, not zeros)
    json_t *lat = json_object();
    json_object_set_new(lat, "count", json_integer((json_int_t)h->total));
    json_object_set_new(lat, "min", json_real((double)h->min / 1e3));
    json_object_set_new(lat, "mean", json_real(h->sum / (double)h->total / 1e3));
    for (int i = 0; i < 4; i++)
        json_object_set_new(lat, summary_name[i],
                            json_real((double)cli_hist_percentile(h, summary_q[i]) / 1e3));
    json_object_set_new(lat, "max", json_real((double)h->max / 1e3));
    return lat;
}

json_t *cli_hist_distribution_json(const cli_hist_t *h) {
    json_t *d = json_array();
    for (size_t i = 0; i < DIST_N; i++)
        json_array_append_new(d, json_pack("{s:f,s:f}", "percentile", dist_q[i], "us",
                                           (double)cli_hist_percentile(h, dist_q[i]) / 1e3));
    return d;
}

void cli_hist_print_summary(const cli_hist_t *h) {
    char v[32];
    if (!h->total) {
        printf("  latency     n/a (no call succeeded)\n");
        return;
    }
    printf("  latency    ");
    cli_fmt_ns(v, sizeof v, (uint64_t)(h->sum / (double)h->total));
    printf(" mean %s", v);
    for (int i = 0; i < 4; i++) {
        cli_fmt_ns(v, sizeof v, cli_hist_percentile(h, summary_q[i]));
        printf("  %s %s", summary_name[i], v);
    }
    cli_fmt_ns(v, sizeof v, h->max);
    printf("  max %s\n", v);
}

void cli_hist_print_distribution(const cli_hist_t *h) {
    char v[32];
    printf("  latency distribution\n");
    for (size_t i = 0; i < DIST_N; i++) {
        cli_fmt_ns(v, sizeof v, cli_hist_percentile(h, dist_q[i]));
        printf("    %7.2f%%  %s\n", dist_q[i], v);
    }
}

bool cli_parse_seconds(const char *v, double *out) {
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || d < 0 || d > 1e6 || !isfinite(d))
        return false;
    if (*end == 's' && !end[1])
        end++;
    if (*end)
        return false;
    *out = d;
    return true;
}
