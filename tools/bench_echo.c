/* bench_echo: the floor for tools/bench_net.sh.  A bare libev server that
 * reads framed messages (4-byte big-endian length) and writes each frame
 * back unchanged: the least work any framed RPC server on libev can do per
 * call (one read, one write, no decoding).  It reuses one input and one
 * output buffer per connection and writes everything a read produced with
 * one send.
 *
 *   bench_echo [HOST:]PORT [--reply]   prints "listening PORT" once ready
 *
 * --reply turns each echoed strict-binary CALL into a REPLY (one byte), so
 * that a Thrift client can drive it: a `ping()` call echoed this way is a
 * valid void reply.  tools/bench_cli.sh uses it to check that `dynthrift
 * bench` measures this floor at the rate a hand-written C client does. */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static bool reply_mode;

typedef struct conn {
    ev_io rio, wio;
    int fd;
    uint8_t *in;
    size_t in_len, in_cap;
    uint8_t *out;
    size_t out_len, out_off, out_cap;
} conn_t;

static void conn_close(struct ev_loop *loop, conn_t *c) {
    ev_io_stop(loop, &c->rio);
    ev_io_stop(loop, &c->wio);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

/* false when the connection was closed */
static int conn_flush(struct ev_loop *loop, conn_t *c) {
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ev_io_start(loop, &c->wio);
            return 1;
        }
        if (n <= 0) {
            conn_close(loop, c);
            return 0;
        }
        c->out_off += (size_t)n;
    }
    c->out_len = c->out_off = 0;
    ev_io_stop(loop, &c->wio);
    return 1;
}

static void write_cb(struct ev_loop *loop, ev_io *w, int revents) {
    (void)revents;
    conn_flush(loop, (conn_t *)((char *)w - offsetof(conn_t, wio)));
}

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

static void read_cb(struct ev_loop *loop, ev_io *w, int revents) {
    (void)revents;
    conn_t *c = (conn_t *)w;
    if (!reserve(&c->in, &c->in_cap, c->in_len + 65536)) {
        conn_close(loop, c);
        return;
    }
    ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        conn_close(loop, c);
        return;
    }
    c->in_len += (size_t)n;
    size_t pos = 0;
    while (c->in_len - pos >= 4) {
        const uint8_t *p = c->in + pos;
        size_t flen = 4 + ((size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3]);
        if (c->in_len - pos < flen)
            break;
        if (!reserve(&c->out, &c->out_cap, c->out_len + flen)) {
            conn_close(loop, c);
            return;
        }
        memcpy(c->out + c->out_len, p, flen);
        // Strict binary header: 80 01 00 TYPE; CALL (1) becomes REPLY (2).
        if (reply_mode && flen >= 8 && p[4] == 0x80 && p[5] == 0x01 && p[7] == 1)
            c->out[c->out_len + 7] = 2;
        c->out_len += flen;
        pos += flen;
    }
    if (pos) {
        memmove(c->in, c->in + pos, c->in_len - pos);
        c->in_len -= pos;
    }
    if (c->out_len && !ev_is_active(&c->wio))
        conn_flush(loop, c);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents) {
    (void)revents;
    for (;;) {
        int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn_t *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        ev_io_init(&c->rio, read_cb, fd, EV_READ);
        ev_io_init(&c->wio, write_cb, fd, EV_WRITE);
        ev_io_start(loop, &c->rio);
    }
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents) {
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv) {
    reply_mode = argc == 3 && strcmp(argv[2], "--reply") == 0;
    if (argc != 2 && !reply_mode) {
        fprintf(stderr, "usage: bench_echo [HOST:]PORT [--reply]\n");
        return 2;
    }
    const char *colon = strrchr(argv[1], ':');
    int port = atoi(colon ? colon + 1 : argv[1]);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 1024) < 0) {
        perror("bench_echo: bind/listen");
        return 1;
    }
    socklen_t sl = sizeof sa;
    getsockname(lfd, (struct sockaddr *)&sa, &sl);
    printf("listening %d\n", ntohs(sa.sin_port));
    fflush(stdout);
    struct ev_loop *loop = ev_default_loop(0);
    ev_io lw;
    ev_io_init(&lw, accept_cb, lfd, EV_READ);
    ev_io_start(loop, &lw);
    ev_signal s1, s2;
    ev_signal_init(&s1, signal_cb, SIGINT);
    ev_signal_init(&s2, signal_cb, SIGTERM);
    ev_signal_start(loop, &s1);
    ev_signal_start(loop, &s2);
    ev_run(loop, 0);
    close(lfd);
    return 0;
}
