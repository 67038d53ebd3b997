/* bench_idl: how fast dynthrift loads IDL.
 *
 *   bench_idl [--seconds S] [--loads N] [--synthetic-out PATH] [--synthetic-kb N]
 *             [FILE...]
 *
 * Loads each FILE (with its includes) with thrift_load repeatedly for about S
 * seconds (default 2) and prints microseconds per load and MB/s of IDL text
 * (the bytes of every module the load reads).  Without FILE it loads the
 * largest file of the IDL corpus (../shared/idl-corpus, found from
 * $DYNTHRIFT_SOURCE_ROOT or /work/shared) and a synthetic IDL of about 1 MB
 * that it writes into a temporary directory first.  --synthetic-out PATH
 * writes the synthetic IDL to PATH and benchmarks it (so a script can load
 * the very same file with another implementation); --synthetic-kb sets its
 * size.  --loads N makes exactly N timed loads per file instead (after the
 * first, untimed one), so a profiler such as callgrind sees a known count.
 * The synthetic IDL keeps to the grammar python3-thriftpy 0.3.9
 * understands (no i8, uuid, forward references, annotations or `&`).
 *
 * Each file yields one line, the last field machine-readable:
 *   RESULT <path> bytes=<n> loads=<n> us_per_load=<x> mb_per_s=<x>
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dynthrift/dynthrift.h"

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- the synthetic IDL ------------------------------------------------- */

typedef struct out {
    FILE *f;
    size_t bytes;
} out_t;

__attribute__((format(printf, 2, 3))) static void emit(out_t *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vfprintf(o->f, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->bytes += (size_t)n;
}

/* A deterministic generator, so runs compare: a small LCG. */
static unsigned rnd_state = 12345u;
static unsigned rnd(unsigned n) {
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (rnd_state >> 16) % n;
}

static const char *const base_types[] = {"bool", "byte", "i16", "i32", "i64",
                                         "double", "string", "binary"};

/* A field type that only refers to definitions made before `upto`. */
static void emit_type(out_t *o, int structs_before, int enums_before, int depth) {
    unsigned pick = rnd(depth > 1 ? 10 : 14);
    if (pick < 8) {
        emit(o, "%s", base_types[pick]);
    } else if (pick == 8 && enums_before > 0) {
        emit(o, "Kind%u", rnd((unsigned)enums_before));
    } else if (pick == 9 && structs_before > 0) {
        emit(o, "Record%u", rnd((unsigned)structs_before));
    } else if (pick == 10 || pick == 8 || pick == 9) {
        emit(o, "list<");
        emit_type(o, structs_before, enums_before, depth + 1);
        emit(o, ">");
    } else if (pick == 11) {
        emit(o, "set<%s>", rnd(2) ? "string" : "i64");
    } else {
        emit(o, "map<%s, ", rnd(2) ? "string" : "i32");
        emit_type(o, structs_before, enums_before, depth + 1);
        emit(o, ">");
    }
}

static bool write_synthetic(const char *path, size_t target_bytes) {
    out_t o = {fopen(path, "w"), 0};
    if (!o.f) {
        fprintf(stderr, "bench_idl: cannot write %s: %s\n", path, strerror(errno));
        return false;
    }
    rnd_state = 12345u;
    emit(&o, "/**\n * A synthetic IDL for bench_idl: enums, structs, exceptions,\n"
             " * constants and services in the proportions of real IDL.\n */\n"
             "namespace py synthetic\nnamespace cpp synthetic\n"
             "namespace java org.example.synthetic\n\n");
    int enums = 0, structs = 0, excs = 0, svcs = 0, consts = 0;
    while (o.bytes < target_bytes) {
        // One "section": an enum, a few structs, an exception, constants
        // and a service, each using only what came before it.
        emit(&o, "/** Kinds of things, group %d. */\nenum Kind%d {\n", enums, enums);
        int nv = 3 + (int)rnd(8);
        for (int v = 0; v < nv; v++)
            if (rnd(3) == 0)
                emit(&o, "  K%d_V%d = %d,\n", enums, v, v * 10);
            else
                emit(&o, "  K%d_V%d,\n", enums, v);
        emit(&o, "}\n\n");
        int kind_enum = enums++;
        for (int s = 0; s < 4; s++) {
            emit(&o, "/**\n * Record %d: a struct with a doc comment.\n */\nstruct Record%d {\n",
                 structs, structs);
            int nf = 4 + (int)rnd(14);
            for (int f = 1; f <= nf; f++) {
                emit(&o, "  %d: %s", f,
                     rnd(4) == 0 ? "required " : (rnd(3) == 0 ? "optional " : ""));
                unsigned pick = rnd(10);
                if (pick == 0) {
                    emit(&o, "i32 count_%d = %u;\n", f, rnd(1000));
                } else if (pick == 1) {
                    emit(&o, "string label_%d = \"label %d\";\n", f, f);
                } else if (pick == 2) {
                    emit(&o, "Kind%d kind_%d = Kind%d.K%d_V0;\n", kind_enum, f,
                         kind_enum, kind_enum);
                } else if (pick == 3) {
                    emit(&o, "list<i32> ints_%d = [1, 2, 3];\n", f);
                } else {
                    emit_type(&o, structs, enums, 0);
                    emit(&o, " field_%d;\n", f);
                }
            }
            emit(&o, "}\n\n");
            structs++;
        }
        emit(&o, "exception Failure%d {\n  1: string message;\n  2: i32 code = %d;\n}\n\n",
             excs, excs);
        excs++;
        emit(&o, "const i32 LIMIT_%d = %u\n", consts, rnd(100000));
        emit(&o, "const string NAME_%d = \"constant number %d\"\n", consts, consts);
        emit(&o, "const list<string> TAGS_%d = [\"a\", \"b\", \"c\"]\n", consts);
        emit(&o, "const map<string, i32> WEIGHTS_%d = {\"x\": 1, \"y\": 2, \"z\": 3}\n\n",
             consts);
        consts++;
        // Services extend in short chains (depth up to 4), as real ones do.
        if (svcs % 5)
            emit(&o, "/** Service %d. */\nservice Service%d extends Service%d {\n", svcs,
                 svcs, svcs - 1);
        else
            emit(&o, "/** Service %d. */\nservice Service%d {\n", svcs, svcs);
        int nfn = 3 + (int)rnd(6);
        for (int f = 0; f < nfn; f++) {
            int rec = (int)rnd((unsigned)structs);
            if (rnd(5) == 0)
                emit(&o, "  oneway void notify%d_%d(1: string event, 2: i64 at),\n", svcs, f);
            else
                emit(&o, "  Record%d call%d_%d(1: Record%d request, 2: i32 timeout_ms, "
                         "3: Kind%d kind) throws (1: Failure%d failure),\n",
                     rec, svcs, f, rec, kind_enum, excs - 1);
        }
        emit(&o, "}\n\n");
        svcs++;
    }
    bool ok = fclose(o.f) == 0;
    if (!ok)
        fprintf(stderr, "bench_idl: cannot write %s\n", path);
    return ok;
}

/* ---- measuring ------------------------------------------------------------ */

static size_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

/* Bytes of every module one load reads. */
static size_t schema_bytes(const thrift_schema_t *schema) {
    size_t total = 0;
    size_t n = thrift_schema_module_count(schema);
    for (size_t i = 0; i < n; i++)
        total += file_size(thrift_module_def_path(thrift_schema_module_at(schema, i)));
    return total;
}

static int bench_file(const char *path, double seconds, unsigned long fixed_loads) {
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_schema_t *schema = thrift_load(path, &err);
    if (!schema) {
        char msg[1024];
        thrift_error_render(&err, true, msg, sizeof msg);
        fprintf(stderr, "bench_idl: %s\n", msg);
        return 1;
    }
    size_t bytes = schema_bytes(schema);
    size_t modules = thrift_schema_module_count(schema);
    thrift_schema_unref(schema);

    // Warm the page cache and the allocator, then time batches until the
    // budget is spent; the best batch is the figure (least disturbed).
    unsigned long loads = 0;
    double best_per_load = 1e30, total_time = 0;
    unsigned batch = 1;
    double start = now_seconds();
    while (fixed_loads ? loads < fixed_loads
                       : (now_seconds() - start < seconds || loads < 5)) {
        if (fixed_loads && batch > fixed_loads - loads)
            batch = (unsigned)(fixed_loads - loads);
        double t0 = now_seconds();
        for (unsigned i = 0; i < batch; i++) {
            schema = thrift_load(path, NULL);
            if (!schema) {
                fprintf(stderr, "bench_idl: %s stopped loading\n", path);
                return 1;
            }
            thrift_schema_unref(schema);
        }
        double dt = now_seconds() - t0;
        loads += batch;
        total_time += dt;
        if (dt / batch < best_per_load)
            best_per_load = dt / batch;
        if (dt < 0.05 && batch < (1u << 20))
            batch *= 2;
    }
    double us = best_per_load * 1e6;
    double mbps = (double)bytes / best_per_load / 1e6;
    printf("%s: %zu bytes in %zu module%s, %lu loads in %.2f s: %.1f us/load, %.1f MB/s\n",
           path, bytes, modules, modules == 1 ? "" : "s", loads, total_time, us, mbps);
    printf("RESULT %s bytes=%zu loads=%lu us_per_load=%.3f mb_per_s=%.2f\n", path, bytes,
           loads, us, mbps);
    fflush(stdout);
    return 0;
}

static const char *largest_corpus_file(char *buf, size_t size) {
    const char *root = getenv("DYNTHRIFT_SOURCE_ROOT");
    const char *candidates[2] = {NULL, "/work/shared/idl-corpus"};
    char rootbuf[4096];
    if (root) {
        snprintf(rootbuf, sizeof rootbuf, "%s/../shared/idl-corpus", root);
        candidates[0] = rootbuf;
    }
    // The largest file of the corpus (CassandraTest.thrift, 29.8 KB); named
    // here rather than searched so every run measures the same file.
    for (int i = 0; i < 2; i++) {
        if (!candidates[i])
            continue;
        snprintf(buf, size, "%s/apache-thrift/lib/netstd/Tests/Thrift.Compile.Tests/"
                            "CassandraTest.thrift", candidates[i]);
        if (access(buf, R_OK) == 0)
            return buf;
    }
    return NULL;
}

static void usage(FILE *f) {
    fprintf(f, "usage: bench_idl [--seconds S] [--loads N] [--synthetic-out PATH] "
               "[--synthetic-kb N] [FILE...]\n");
}

int main(int argc, char **argv) {
    double seconds = 2.0;
    const char *synthetic_out = NULL;
    size_t synthetic_kb = 1024;
    unsigned long fixed_loads = 0;
    const char *files[64];
    int nfiles = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else if (!strcmp(argv[i], "--loads") && i + 1 < argc) {
            fixed_loads = strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--synthetic-out") && i + 1 < argc) {
            synthetic_out = argv[++i];
        } else if (!strcmp(argv[i], "--synthetic-kb") && i + 1 < argc) {
            synthetic_kb = (size_t)strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-') {
            usage(stderr);
            return 64;
        } else if (nfiles < 64) {
            files[nfiles++] = argv[i];
        }
    }
    char corpus_path[4096];
    char tmpdir[] = "/tmp/bench_idl.XXXXXX";
    char synth_path[4096] = "";
    bool made_tmp = false;
    if (nfiles == 0) {
        const char *c = largest_corpus_file(corpus_path, sizeof corpus_path);
        if (c)
            files[nfiles++] = c;
        else
            fprintf(stderr, "bench_idl: IDL corpus not found; synthetic IDL only\n");
    }
    if (nfiles == 0 || synthetic_out) {
        if (synthetic_out) {
            snprintf(synth_path, sizeof synth_path, "%s", synthetic_out);
        } else {
            if (!mkdtemp(tmpdir)) {
                perror("bench_idl: mkdtemp");
                return 1;
            }
            made_tmp = true;
            snprintf(synth_path, sizeof synth_path, "%s/synthetic.thrift", tmpdir);
        }
        if (!write_synthetic(synth_path, synthetic_kb * 1024))
            return 1;
        files[nfiles++] = synth_path;
    } else if (files[0] == corpus_path) {
        // Default run: corpus file plus a synthetic one in a temp dir.
        if (!mkdtemp(tmpdir)) {
            perror("bench_idl: mkdtemp");
            return 1;
        }
        made_tmp = true;
        snprintf(synth_path, sizeof synth_path, "%s/synthetic.thrift", tmpdir);
        if (!write_synthetic(synth_path, synthetic_kb * 1024))
            return 1;
        files[nfiles++] = synth_path;
    }
    int rc = 0;
    for (int i = 0; i < nfiles; i++)
        rc |= bench_file(files[i], seconds, fixed_loads);
    if (made_tmp) {
        unlink(synth_path);
        rmdir(tmpdir);
    }
    return rc;
}
