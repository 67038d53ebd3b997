/* Unit tests for dynthrift/loop.h: a pollable loop's descriptor is its
 * epoll instance, readable exactly while an I/O event of the loop waits to
 * be handled, so a host's own poll(2) can drive the loop. */
#include <dynthrift/dynthrift.h>

#include <ev.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"

static bool readable(int fd, int ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
    return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

static int reads;

static void on_readable(struct ev_loop *loop, ev_io *w, int revents) {
    (void)loop;
    (void)revents;
    char c;
    if (read(w->fd, &c, 1) == 1)
        reads++;
}

static bool is_epoll_instance(int fd) {
    char path[64], target[128];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0)
        return false;
    target[n] = '\0';
    return strcmp(target, "anon_inode:[eventpoll]") == 0;
}

int main(void) {
    TAP_CHECK(thrift_loop_pollable_fd(NULL) == -1, "NULL loop: -1");

    struct ev_loop *sel = ev_loop_new(EVBACKEND_SELECT);
    TAP_CHECK(sel && thrift_loop_pollable_fd(sel) == -1, "a select loop has no pollable descriptor");
    if (sel)
        ev_loop_destroy(sel);

    struct ev_loop *loop = thrift_loop_new_pollable();
    TAP_CHECK(loop != NULL, "thrift_loop_new_pollable makes a loop");
    if (!(ev_embeddable_backends() & EVBACKEND_EPOLL)) {
        TAP_CHECK(thrift_loop_pollable_fd(loop) == -1, "no embeddable epoll here: -1");
        ev_loop_destroy(loop);
        return tap_done();
    }
    TAP_CHECK(ev_backend(loop) == EVBACKEND_EPOLL, "its backend is epoll");
    int fd = thrift_loop_pollable_fd(loop);
    TAP_CHECK(fd >= 0 && is_epoll_instance(fd), "its descriptor (%d) is an epoll instance", fd);
    TAP_CHECK(thrift_loop_pollable_fd(loop) == fd, "the same descriptor on a second ask");

    int p[2];
    TAP_CHECK(pipe(p) == 0, "a pipe");
    ev_io w;
    ev_io_init(&w, on_readable, p[0], EV_READ);
    ev_io_start(loop, &w);
    ev_run(loop, EVRUN_NOWAIT); /* the watcher reaches epoll when the loop runs */
    TAP_CHECK(!readable(fd, 0), "not readable with nothing pending");
    TAP_CHECK(write(p[1], "x", 1) == 1, "a byte written to the watched pipe");
    TAP_CHECK(readable(fd, 1000), "the descriptor becomes readable (poll(2) on it)");
    TAP_CHECK(readable(fd, 0), "and stays readable until the loop runs (level-triggered)");
    ev_run(loop, EVRUN_NOWAIT);
    TAP_CHECK(reads == 1, "ev_run(EVRUN_NOWAIT) then ran the watcher");
    TAP_CHECK(!readable(fd, 0), "not readable once the event is handled");
    ev_io_stop(loop, &w);
    close(p[0]);
    close(p[1]);
    ev_loop_destroy(loop);
    return tap_done();
}
