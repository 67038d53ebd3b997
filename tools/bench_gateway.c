/* An HTTP/1.1 load generator for the gateway benchmark (bench_gateway.sh):
 * N keep-alive connections, one request in flight on each (closed loop, as
 * `dynthrift bench -c N -p 1`), the same POST body every time, for D
 * seconds.  Prints calls/s, p50/p99 latency and the non-200 count, as text
 * or (--json) one JSON line.
 *
 * usage: bench_gateway HOST:PORT PATH BODY_FILE [-c N] [-d SECONDS] [--json] */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct hc {
    int fd;
    size_t sent;
    char *in;
    size_t in_len, in_cap;
    double started;
} hc_t;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The length of a complete response at the front of in[0, len), or 0. */
static size_t response_len(const char *in, size_t len, int *status) {
    const char *end = NULL;
    for (size_t i = 0; i + 3 < len; i++)
        if (in[i] == '\r' && in[i + 1] == '\n' && in[i + 2] == '\r' && in[i + 3] == '\n') {
            end = in + i + 4;
            break;
        }
    if (!end)
        return 0;
    *status = len > 12 ? atoi(in + 9) : 0;
    size_t clen = 0;
    for (const char *p = in; p < end; p++)
        if ((p == in || p[-1] == '\n') && !strncasecmp(p, "Content-Length:", 15))
            clen = (size_t)strtoull(p + 15, NULL, 10);
    size_t total = (size_t)(end - in) + clen;
    return total <= len ? total : 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: bench_gateway HOST:PORT PATH BODY_FILE [-c N] [-d SECONDS] [--json]\n");
        return 64;
    }
    const char *hostport = argv[1], *path = argv[2], *body_file = argv[3];
    int conns = 16;
    double duration = 3;
    int json = 0;
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "-c") && i + 1 < argc)
            conns = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-d") && i + 1 < argc)
            duration = atof(argv[++i]);
        else if (!strcmp(argv[i], "--json"))
            json = 1;
    }
    if (conns < 1 || conns > 1024 || duration <= 0) {
        fprintf(stderr, "bench_gateway: bad -c or -d\n");
        return 64;
    }
    FILE *f = fopen(body_file, "rb");
    if (!f) {
        perror(body_file);
        return 66;
    }
    static char body[1 << 20];
    size_t blen = fread(body, 1, sizeof body, f);
    fclose(f);
    char *req = malloc(blen + 512);
    int hlen = snprintf(req, 512,
                        "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                        "Content-Length: %zu\r\n\r\n",
                        path, hostport, blen);
    memcpy(req + hlen, body, blen);
    size_t req_len = (size_t)hlen + blen;

    const char *colon = strrchr(hostport, ':');
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    char host[64];
    snprintf(host, sizeof host, "%.*s", (int)(colon - hostport), hostport);
    inet_pton(AF_INET, host, &sa.sin_addr);

    hc_t *c = calloc((size_t)conns, sizeof *c);
    struct pollfd *pf = calloc((size_t)conns, sizeof *pf);
    size_t lat_cap = 1 << 20, lat_n = 0, errors = 0;
    double *lat = malloc(lat_cap * sizeof *lat);
    for (int i = 0; i < conns; i++) {
        c[i].fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(c[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(c[i].fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
            perror("connect");
            return 3;
        }
        c[i].in_cap = 65536;
        c[i].in = malloc(c[i].in_cap);
        c[i].started = now_s();
    }
    double t0 = now_s(), end = t0 + duration;
    while (now_s() < end) {
        for (int i = 0; i < conns; i++) {
            pf[i].fd = c[i].fd;
            pf[i].events = c[i].sent < req_len ? POLLOUT : POLLIN;
        }
        if (poll(pf, (nfds_t)conns, 100) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < conns; i++) {
            hc_t *h = &c[i];
            if (pf[i].revents & POLLOUT) {
                ssize_t n = send(h->fd, req + h->sent, req_len - h->sent, MSG_NOSIGNAL);
                if (n > 0)
                    h->sent += (size_t)n;
            } else if (pf[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                if (h->in_cap - h->in_len < 65536) {
                    h->in_cap *= 2;
                    h->in = realloc(h->in, h->in_cap);
                }
                ssize_t n = recv(h->fd, h->in + h->in_len, h->in_cap - h->in_len, 0);
                if (n <= 0) {
                    fprintf(stderr, "bench_gateway: connection closed by the gateway\n");
                    return 3;
                }
                h->in_len += (size_t)n;
                int status = 0;
                size_t rl = response_len(h->in, h->in_len, &status);
                if (rl) {
                    double t = now_s();
                    if (status != 200 && status != 202)
                        errors++;
                    else if (lat_n < lat_cap)
                        lat[lat_n++] = t - h->started;
                    memmove(h->in, h->in + rl, h->in_len - rl);
                    h->in_len -= rl;
                    h->sent = 0;
                    h->started = t;
                }
            }
        }
    }
    double took = now_s() - t0;
    qsort(lat, lat_n, sizeof *lat, cmp_double);
    double p50 = lat_n ? lat[lat_n / 2] * 1000 : 0, p99 = lat_n ? lat[lat_n * 99 / 100] * 1000 : 0;
    double rate = (double)lat_n / took;
    if (json)
        printf("{\"calls_per_s\":%.0f,\"ok\":%zu,\"errors\":%zu,\"p50_ms\":%.3f,\"p99_ms\":%.3f}\n",
               rate, lat_n, errors, p50, p99);
    else
        printf("%.0f calls/s  (%zu ok, %zu errors in %.1f s; %d connections)  p50 %.3f ms  p99 %.3f ms\n",
               rate, lat_n, errors, took, conns, p50, p99);
    for (int i = 0; i < conns; i++) {
        close(c[i].fd);
        free(c[i].in);
    }
    free(c);
    free(pf);
    free(lat);
    free(req);
    return errors && !lat_n ? 1 : 0;
}
