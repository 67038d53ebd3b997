/* A peer that keeps its socket full, for the starvation tests of
 * test_faults and test_load: a thread with a blocking socket writes the
 * same buffer of frames again and again, as fast as the other end reads. */
#ifndef FLOOD_H
#define FLOOD_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A flooding peer on its own thread, with a blocking socket: it writes the
 * same buffer of frames again and again, as fast as the other end reads,
 * until told to stop or the other end goes.  As a client it connects to
 * `port`; as a server it accepts one connection on `lfd` first and waits
 * for `go`. */
typedef struct flood {
    pthread_t thread;
    int port, lfd, fd;
    uint8_t *frames;
    size_t len;
    atomic_bool go, stop;
    long long sent;
} flood_t;

static inline void *flood_main(void *arg) {
    flood_t *f = arg;
    if (f->lfd >= 0) {
        f->fd = accept(f->lfd, NULL, NULL);
    } else {
        f->fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa;
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)f->port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(f->fd, (struct sockaddr *)&sa, sizeof sa) < 0)
            return NULL;
    }
    if (f->fd < 0)
        return NULL;
    while (!atomic_load(&f->go) && !atomic_load(&f->stop))
        usleep(1000);
    while (!atomic_load(&f->stop)) {
        ssize_t n = send(f->fd, f->frames, f->len, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        f->sent += n;
    }
    return NULL;
}

/* About `*len` bytes of copies of one framed message; *len is cut to a
 * whole number of them, so that the buffer can be sent again and again. */
static inline uint8_t *repeat_frames(const uint8_t *body, size_t blen, size_t *len) {
    *len -= *len % (4 + blen);
    uint8_t *b = malloc(*len);
    for (size_t off = 0; off < *len; off += 4 + blen) {
        b[off] = 0, b[off + 1] = 0, b[off + 2] = (uint8_t)(blen >> 8), b[off + 3] = (uint8_t)blen;
        memcpy(b + off + 4, body, blen);
    }
    return b;
}

static inline void flood_start(flood_t *f) {
    atomic_init(&f->stop, false);
    if (pthread_create(&f->thread, NULL, flood_main, f) != 0) {
        printf("Bail out! cannot start the flooding thread\n");
        exit(1);
    }
}

static inline void flood_end(flood_t *f) {
    atomic_store(&f->stop, true);
    if (f->fd >= 0)
        shutdown(f->fd, SHUT_RDWR); /* unblocks a send on a full socket */
    pthread_join(f->thread, NULL);
    if (f->fd >= 0)
        close(f->fd);
    free(f->frames);
}

/* Starts a client flooding `port` with oneway calls fire(1: i32 n = 7),
 * strict binary, framed: 28 bytes each. */
static inline void flood_oneway_fire(flood_t *f, int port) {
    static const uint8_t fire[] = {0x80, 0x01, 0x00, 0x04, 0, 0, 0, 4, 'f', 'i', 'r', 'e',
                                   0, 0, 0, 9, 0x08, 0, 1, 0, 0, 0, 7, 0};
    memset(f, 0, sizeof *f);
    f->port = port;
    f->lfd = f->fd = -1;
    f->len = 256 * 1024;
    f->frames = repeat_frames(fire, sizeof fire, &f->len);
    atomic_init(&f->go, true);
    flood_start(f);
}

#endif
