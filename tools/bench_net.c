/* bench_net: a load generator for framed binary Thrift servers, on libev.
 *
 *   bench_net --addr HOST:PORT [--idl bench.thrift] [--method add|echo|ping|raw]
 *             [-c CONNS] [-P INFLIGHT] [-d SECONDS | -n CALLS] [-w WARMUP]
 *             [--pid SERVER_PID] [--payload payload.json] [--label NAME]
 *
 * Opens CONNS connections and keeps INFLIGHT calls outstanding on each
 * (INFLIGHT > 1 pipelines).  Requests are encoded once with dynthrift's
 * codec; each call only patches the seqid, so the generator spends as
 * little CPU per call as it can and the server is what is measured.  Every
 * reply is checked: frame, strict binary header, REPLY type, method name,
 * seqid of an outstanding call, success field and the size of the first
 * reply; the first reply of every connection is decoded in full and
 * compared with the expected result (a+b, or the Payload itself).
 * `raw` sends a 34-byte frame that an echo server returns unchanged (the
 * floor measured by tools/bench_echo).
 *
 * Prints one line:
 *   RESULT label=.. method=.. conns=.. inflight=.. calls=.. secs=.. cps=..
 *          p50_us=.. p99_us=.. srv_us=.. cli_us=.. errors=..
 * srv_us is the server process's CPU time (utime+stime of /proc/PID/stat,
 * all threads) over the measured interval divided by the calls completed in
 * it; cli_us the same for this process.  Exit status 1 when any call failed. */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dynthrift/dynthrift.h"
#include "dynthrift/json.h"

#define HIST_RES 10.0        /* buckets per microsecond */
#define HIST_MAX 2000000     /* 200 ms; slower calls land in the last bucket */
#define MAX_INFLIGHT 4096

typedef struct bconn {
    ev_io rio, wio;
    int fd;
    int index;
    uint8_t *in;
    size_t in_len, in_cap;
    uint8_t *out;
    size_t out_len, out_off, out_cap;
    int32_t *slot_seq; /* the seqid outstanding in each slot */
    double *slot_t;    /* when it was sent */
    int inflight;
    bool verified;
} bconn_t;

static struct {
    const char *addr, *idl, *method, *payload_path, *label;
    int conns, inflight;
    double seconds, warmup;
    long long calls_limit;
    int pid;
    /* request template */
    uint8_t *req;
    size_t req_len, seq_off;
    const char *name;
    size_t name_len;
    bool raw;
    /* checking */
    thrift_schema_t *schema;
    const thrift_function_def_t *fn;
    thrift_value_t *expect; /* the expected success value */
    size_t reply_len;       /* learned from the first reply */
    /* run state */
    struct ev_loop *loop;
    bconn_t *cs;
    bool measuring, stop_sending;
    long long completed, errors, measured;
    double t0, t1;
    double srv0, srv1, cli0, cli1;
    uint32_t *hist;
    ev_timer warm_timer, end_timer;
} B;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double proc_cpu(int pid) {
    if (pid <= 0)
        return 0;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    // The command name may hold spaces and parentheses: fields count from
    // the last ')'.  utime and stime are fields 14 and 15.
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    unsigned long long ut = 0, st = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

static void fail(const char *fmt, const char *arg) {
    fprintf(stderr, "bench_net: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    exit(2);
}

/* ---- the request ------------------------------------------------------- */

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (!s || fread(s, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(s);
        return NULL;
    }
    fclose(f);
    s[n] = 0;
    *len = (size_t)n;
    return s;
}

/* The shared bench Payload, rebuilt when payload.json is not at hand: ten
 * users following the same pattern as /work/shared/bench/payload.json. */
static char *builtin_payload(size_t *len) {
    static const char *status[] = {"ACTIVE", "SUSPENDED", "DELETED"};
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t cap = 16384, n = 0;
    char *s = malloc(cap);
    n += (size_t)snprintf(s + n, cap - n, "{\"request_id\": 42, \"users\": [");
    for (int i = 0; i < 10; i++) {
        uint8_t av[32];
        for (int k = 0; k < 32; k++)
            av[k] = (uint8_t)(i + k);
        char avatar[48];
        int o = 0;
        for (int k = 0; k < 32; k += 3) {
            uint32_t v = (uint32_t)av[k] << 16 | (k + 1 < 32 ? (uint32_t)av[k + 1] << 8 : 0) |
                         (k + 2 < 32 ? av[k + 2] : 0);
            avatar[o++] = b64[v >> 18 & 63];
            avatar[o++] = b64[v >> 12 & 63];
            avatar[o++] = k + 1 < 32 ? b64[v >> 6 & 63] : '=';
            avatar[o++] = k + 2 < 32 ? b64[v & 63] : '=';
        }
        avatar[o] = 0;
        n += (size_t)snprintf(
            s + n, cap - n,
            "%s{\"id\": %lld, \"name\": \"user-%d name\", \"email\": \"user%d@example.com\", "
            "\"status\": \"%s\", \"verified\": %s, \"age\": %d, \"level\": %d, "
            "\"tags\": [\"tag-a\", \"tag-b\", \"tag-%d\"], "
            "\"counters\": {\"views\": %d, \"likes\": %d, \"shares\": %d}, "
            "\"groups\": [1, 2, %d], \"address\": {\"street\": \"%d Main Street\", "
            "\"city\": \"Springfield\", \"zip\": %d, \"lat\": %.1f, \"lon\": %.2f}, "
            "\"avatar\": \"%s\"}",
            i ? ", " : "", 1000000000000LL + i, i, i, status[i % 3], i % 2 ? "false" : "true",
            20 + i, i, i, i * 1000 + 7, i * 10, i, i + 3, i + 1, 10000 + i, 40.5 + 0.1 * i,
            -73.25 - 0.1 * i, avatar);
    }
    n += (size_t)snprintf(s + n, cap - n,
                          "], \"meta\": {\"trace\": \"abc123\", \"region\": \"eu-west\", "
                          "\"client\": \"bench\"}, \"score\": 0.875}");
    *len = n;
    return s;
}

static void build_request(void) {
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_buffer_t *out = thrift_buffer_new();
    static const uint8_t zero[4];
    thrift_buffer_append(out, zero, 4);
    if (B.raw) {
        // 30 bytes: a strict CALL header for "echo" (16 bytes) and padding.
        static const uint8_t body[30] = {0x80, 1, 0, 1, 0, 0, 0, 4, 'e', 'c', 'h', 'o'};
        thrift_buffer_append(out, body, sizeof body);
        B.name = "echo";
        B.name_len = 4;
    } else {
        B.schema = thrift_load(B.idl, &err);
        if (!B.schema)
            fail("%s", err.text);
        const thrift_service_def_t *svc = thrift_schema_find_service(B.schema, "Bench");
        B.fn = svc ? thrift_service_def_find_function(svc, B.method) : NULL;
        if (!B.fn)
            fail("no method Bench.%s in the IDL", B.method);
        thrift_arena_t *a = thrift_arena_new(NULL);
        thrift_value_t *args = thrift_value_new_struct(a, thrift_function_def_args(B.fn));
        if (!strcmp(B.method, "add")) {
            thrift_value_set(args, "a", thrift_value_new_i64(a, 1000000007));
            thrift_value_set(args, "b", thrift_value_new_i64(a, 42));
            B.expect = thrift_value_new_i64(a, 1000000049);
        } else if (!strcmp(B.method, "echo")) {
            size_t len = 0;
            char *text = B.payload_path ? read_file(B.payload_path, &len) : NULL;
            if (!text)
                text = builtin_payload(&len);
            const thrift_type_def_t *pt =
                thrift_field_def_type(thrift_struct_def_find_field(thrift_function_def_args(B.fn), "p"));
            thrift_value_t *p = thrift_json_loads(a, pt, text, len, 0, &err);
            if (!p)
                fail("payload: %s", err.text);
            free(text);
            thrift_value_set(args, "p", p);
            B.expect = p;
        } else if (strcmp(B.method, "ping")) {
            fail("method %s: use add, echo, ping or raw", B.method);
        }
        B.name = thrift_function_def_name(B.fn);
        B.name_len = strlen(B.name);
        if (thrift_encode_message(THRIFT_PROTO_BINARY, B.name, B.name_len, THRIFT_MSG_CALL, 0, args,
                                  out, &err))
            fail("encode: %s", err.text);
    }
    B.req_len = thrift_buffer_len(out);
    B.req = malloc(B.req_len);
    memcpy(B.req, thrift_buffer_data(out), B.req_len);
    uint32_t body = (uint32_t)B.req_len - 4;
    B.req[0] = (uint8_t)(body >> 24), B.req[1] = (uint8_t)(body >> 16);
    B.req[2] = (uint8_t)(body >> 8), B.req[3] = (uint8_t)body;
    B.seq_off = 4 + 4 + 4 + B.name_len;
    thrift_buffer_free(out);
}

/* ---- connections ------------------------------------------------------------ */

static int reserve(uint8_t **p, size_t *cap, size_t need) {
    if (need <= *cap)
        return 1;
    size_t nc = *cap ? *cap : 65536;
    while (nc < need)
        nc *= 2;
    uint8_t *np = realloc(*p, nc);
    if (!np)
        return 0;
    *p = np;
    *cap = nc;
    return 1;
}

static void queue_call(bconn_t *c, int slot, int32_t seqid) {
    if (!reserve(&c->out, &c->out_cap, c->out_len + B.req_len))
        fail("%s", "out of memory");
    uint8_t *p = c->out + c->out_len;
    memcpy(p, B.req, B.req_len);
    p[B.seq_off] = (uint8_t)((uint32_t)seqid >> 24);
    p[B.seq_off + 1] = (uint8_t)((uint32_t)seqid >> 16);
    p[B.seq_off + 2] = (uint8_t)((uint32_t)seqid >> 8);
    p[B.seq_off + 3] = (uint8_t)seqid;
    c->out_len += B.req_len;
    c->slot_seq[slot] = seqid;
    c->inflight++;
}

static void flush(bconn_t *c) {
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ev_io_start(B.loop, &c->wio);
            return;
        }
        if (n <= 0) {
            fprintf(stderr, "bench_net: send: %s\n", strerror(errno));
            exit(1);
        }
        c->out_off += (size_t)n;
    }
    c->out_len = c->out_off = 0;
    ev_io_stop(B.loop, &c->wio);
}

static void write_cb(struct ev_loop *loop, ev_io *w, int revents) {
    (void)loop;
    (void)revents;
    flush((bconn_t *)((char *)w - offsetof(bconn_t, wio)));
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void finish_measure(void) {
    if (!B.measuring)
        return;
    B.measuring = false;
    B.t1 = now();
    B.srv1 = proc_cpu(B.pid);
    B.cli1 = self_cpu();
    B.stop_sending = true;
}

static void all_done_check(void) {
    if (!B.stop_sending)
        return;
    for (int i = 0; i < B.conns; i++)
        if (B.cs[i].inflight)
            return;
    ev_break(B.loop, EVBREAK_ALL);
}

static void bad_reply(bconn_t *c, const char *why) {
    if (B.errors++ < 5)
        fprintf(stderr, "bench_net: connection %d: %s\n", c->index, why);
}

/* Deep equality where sets and maps compare as sets: peers written in C++
 * (std::map, std::set) send them back in their own order. */
static bool same_value(const thrift_value_t *a, const thrift_value_t *b) {
    if (!a || !b)
        return a == b;
    thrift_kind_t k = thrift_value_kind(a);
    if (k != thrift_value_kind(b))
        return false;
    if (k == THRIFT_KIND_SET || k == THRIFT_KIND_MAP) {
        size_t n = thrift_value_count(a);
        if (n != thrift_value_count(b))
            return false;
        for (size_t i = 0; i < n; i++) {
            if (k == THRIFT_KIND_SET) {
                if (!thrift_value_contains(b, thrift_value_at(a, i)))
                    return false;
            } else if (!same_value(thrift_value_map_find(b, thrift_value_map_key(a, i)),
                                   thrift_value_map_value(a, i))) {
                return false;
            }
        }
        return true;
    }
    if (k == THRIFT_KIND_LIST) {
        size_t n = thrift_value_count(a);
        if (n != thrift_value_count(b))
            return false;
        for (size_t i = 0; i < n; i++)
            if (!same_value(thrift_value_at(a, i), thrift_value_at(b, i)))
                return false;
        return true;
    }
    if (k == THRIFT_KIND_STRUCT || k == THRIFT_KIND_UNION || k == THRIFT_KIND_EXCEPTION) {
        const thrift_struct_def_t *d = thrift_value_struct_def(a);
        for (size_t i = 0; i < thrift_struct_def_field_count(d); i++)
            if (!same_value(thrift_value_get_at(a, i), thrift_value_get_at(b, i)))
                return false;
        return true;
    }
    return thrift_value_equal(a, b);
}

/* Decodes the first reply of a connection in full and compares it. */
static void verify(bconn_t *c, const uint8_t *msg, size_t len) {
    if (B.raw) {
        if (len != B.req_len - 4 || memcmp(msg + 16, B.req + 20, len - 16))
            bad_reply(c, "echo frame differs");
        return;
    }
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_message_header_t h;
    size_t hl;
    thrift_arena_t *a = thrift_arena_new(NULL);
    thrift_value_t *res = NULL;
    if (!thrift_decode_message_header(THRIFT_PROTO_BINARY, msg, len, NULL, &h, &hl, &err))
        res = thrift_decode_message_body(THRIFT_PROTO_BINARY, thrift_function_def_result(B.fn),
                                         msg + hl, len - hl, a, NULL, NULL, &err);
    if (!res) {
        bad_reply(c, err.text);
    } else {
        thrift_value_t *v = thrift_value_get_by_id(res, 0);
        if (B.expect ? !same_value(v, B.expect) : v != NULL)
            bad_reply(c, "the result is not the expected value");
    }
    thrift_arena_free(a);
}

static void read_cb(struct ev_loop *loop, ev_io *w, int revents) {
    (void)loop;
    (void)revents;
    bconn_t *c = (bconn_t *)w;
    if (!reserve(&c->in, &c->in_cap, c->in_len + 65536))
        fail("%s", "out of memory");
    ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        fprintf(stderr, "bench_net: connection %d closed by the server (%s)\n", c->index,
                n ? strerror(errno) : "EOF");
        exit(1);
    }
    c->in_len += (size_t)n;
    double t = now();
    size_t pos = 0;
    int reissue[MAX_INFLIGHT];
    int nre = 0;
    while (c->in_len - pos >= 4) {
        const uint8_t *p = c->in + pos;
        size_t flen = be32(p);
        if (flen > (64u << 20))
            fail("%s", "reply frame too large");
        if (c->in_len - pos - 4 < flen)
            break;
        pos += 4 + flen;
        const uint8_t *m = p + 4;
        // Strict binary: version|type, name length, name, seqid, body.
        if (flen < 12 + B.name_len || (be32(m) & 0xffff0000u) != 0x80010000u ||
            be32(m + 4) != B.name_len || memcmp(m + 8, B.name, B.name_len)) {
            bad_reply(c, "not a reply to this method");
            continue;
        }
        int type = m[3];
        int32_t seqid = (int32_t)be32(m + 8 + B.name_len);
        int slot = (int)((uint32_t)seqid % (uint32_t)B.inflight);
        if (c->slot_seq[slot] != seqid) {
            bad_reply(c, "a reply with an unknown seqid");
            continue;
        }
        const uint8_t *body = m + 12 + B.name_len;
        if (B.raw ? type != 1 : type != 2) {
            bad_reply(c, type == 3 ? "TApplicationException" : "unexpected message type");
        } else if (!B.raw && B.expect && (body[0] == 0 || body[1] != 0 || body[2] != 0)) {
            bad_reply(c, "reply without a success field");
        } else if (!c->verified) {
            verify(c, m, flen);
            c->verified = true;
            if (!B.reply_len)
                B.reply_len = flen;
        } else if (flen != B.reply_len) {
            bad_reply(c, "reply size differs from the first reply");
        }
        c->slot_seq[slot] = -1;
        c->inflight--;
        B.completed++;
        if (B.measuring) {
            double us = (t - c->slot_t[slot]) * 1e6 * HIST_RES;
            size_t b = us < 0 ? 0 : us >= HIST_MAX ? HIST_MAX - 1 : (size_t)us;
            B.hist[b]++;
            if (++B.measured >= B.calls_limit && B.calls_limit)
                finish_measure();
        }
        if (!B.stop_sending) {
            queue_call(c, slot, seqid + B.inflight);
            reissue[nre++] = slot;
        }
    }
    if (pos) {
        memmove(c->in, c->in + pos, c->in_len - pos);
        c->in_len -= pos;
    }
    if (nre) {
        double ts = now();
        for (int i = 0; i < nre; i++)
            c->slot_t[reissue[i]] = ts;
        if (!ev_is_active(&c->wio))
            flush(c);
    }
    all_done_check();
}

static int dial(void) {
    char host[256];
    const char *colon = strrchr(B.addr, ':');
    if (!colon || (size_t)(colon - B.addr) >= sizeof host)
        fail("bad address %s", B.addr);
    memcpy(host, B.addr, (size_t)(colon - B.addr));
    host[colon - B.addr] = 0;
    struct addrinfo hints, *res;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host[0] ? host : "127.0.0.1", colon + 1, &hints, &res))
        fail("cannot resolve %s", B.addr);
    int fd = -1;
    for (int attempt = 0; attempt < 50; attempt++) {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (connect(fd, res->ai_addr, res->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
        usleep(100000);
    }
    freeaddrinfo(res);
    if (fd < 0)
        fail("cannot connect to %s", B.addr);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static void warm_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)w;
    (void)revents;
    memset(B.hist, 0, HIST_MAX * sizeof *B.hist);
    B.measuring = true;
    B.measured = 0;
    B.t0 = now();
    B.srv0 = proc_cpu(B.pid);
    B.cli0 = self_cpu();
    B.completed = 0;
    if (!B.calls_limit) {
        ev_timer_set(&B.end_timer, B.seconds, 0.);
        ev_timer_start(B.loop, &B.end_timer);
    }
}

static void end_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)w;
    (void)revents;
    finish_measure();
    all_done_check();
}

static double percentile(double q, long long total) {
    long long want = (long long)(q * (double)total), seen = 0;
    for (size_t b = 0; b < HIST_MAX; b++) {
        seen += B.hist[b];
        if (seen > want)
            return (double)b / HIST_RES;
    }
    return HIST_MAX / HIST_RES;
}

static int usage(void) {
    fprintf(stderr, "usage: bench_net --addr HOST:PORT [--idl bench.thrift] "
                    "[--method add|echo|ping|raw] [-c CONNS] [-P INFLIGHT] [-d SECONDS | -n CALLS] "
                    "[-w WARMUP] [--pid SERVER_PID] [--payload payload.json] [--label NAME]\n");
    return 2;
}

int main(int argc, char **argv) {
    B.idl = "idl-samples/bench.thrift";
    B.method = "add";
    B.label = "server";
    B.conns = 1;
    B.inflight = 1;
    B.seconds = 3;
    B.warmup = 0.5;
    B.payload_path = "/work/shared/bench/payload.json";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return usage();
        i++;
        if (!strcmp(a, "--addr"))
            B.addr = v;
        else if (!strcmp(a, "--idl"))
            B.idl = v;
        else if (!strcmp(a, "--method"))
            B.method = v;
        else if (!strcmp(a, "--payload"))
            B.payload_path = v;
        else if (!strcmp(a, "--label"))
            B.label = v;
        else if (!strcmp(a, "-c"))
            B.conns = atoi(v);
        else if (!strcmp(a, "-P"))
            B.inflight = atoi(v);
        else if (!strcmp(a, "-d"))
            B.seconds = atof(v);
        else if (!strcmp(a, "-n"))
            B.calls_limit = atoll(v);
        else if (!strcmp(a, "-w"))
            B.warmup = atof(v);
        else if (!strcmp(a, "--pid"))
            B.pid = atoi(v);
        else
            return usage();
    }
    if (!B.addr || B.conns < 1 || B.inflight < 1 || B.inflight > MAX_INFLIGHT)
        return usage();
    B.raw = !strcmp(B.method, "raw");
    if (access(B.payload_path, R_OK) != 0)
        B.payload_path = NULL;
    build_request();
    B.hist = calloc(HIST_MAX, sizeof *B.hist);
    B.loop = ev_default_loop(0);
    B.cs = calloc((size_t)B.conns, sizeof *B.cs);
    for (int i = 0; i < B.conns; i++) {
        bconn_t *c = &B.cs[i];
        c->index = i;
        c->fd = dial();
        c->slot_seq = malloc((size_t)B.inflight * sizeof *c->slot_seq);
        c->slot_t = malloc((size_t)B.inflight * sizeof *c->slot_t);
        ev_io_init(&c->rio, read_cb, c->fd, EV_READ);
        ev_io_init(&c->wio, write_cb, c->fd, EV_WRITE);
        ev_io_start(B.loop, &c->rio);
    }
    double t = now();
    for (int i = 0; i < B.conns; i++) {
        bconn_t *c = &B.cs[i];
        for (int k = 0; k < B.inflight; k++) {
            queue_call(c, k, k);
            c->slot_t[k] = t;
        }
        flush(c);
    }
    ev_timer_init(&B.warm_timer, warm_cb, B.warmup, 0.);
    ev_init(&B.end_timer, end_cb);
    ev_timer_start(B.loop, &B.warm_timer);
    ev_run(B.loop, 0);
    long long calls = B.measured;
    double secs = B.t1 - B.t0;
    double p50 = percentile(0.50, calls), p99 = percentile(0.99, calls);
    printf("RESULT label=%s method=%s conns=%d inflight=%d calls=%lld secs=%.3f cps=%.0f "
           "p50_us=%.1f p99_us=%.1f srv_us=%.2f cli_us=%.2f errors=%lld\n",
           B.label, B.method, B.conns, B.inflight, calls, secs, calls / secs, p50, p99,
           B.pid ? (B.srv1 - B.srv0) * 1e6 / (double)calls : 0.0,
           (B.cli1 - B.cli0) * 1e6 / (double)calls, B.errors);
    return B.errors ? 1 : 0;
}
