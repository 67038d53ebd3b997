/* Pollable loops (dynthrift/loop.h): a host's event loop waits on the
 * loop's epoll descriptor. */
#include "dynthrift/loop.h"

#include <ev.h>

static bool epoll_embeddable(void) { return (ev_embeddable_backends() & EVBACKEND_EPOLL) != 0; }

struct ev_loop *thrift_loop_new_pollable(void) {
    struct ev_loop *loop = epoll_embeddable() ? ev_loop_new(EVBACKEND_EPOLL) : NULL;
    return loop ? loop : ev_loop_new(EVFLAG_AUTO);
}

int thrift_loop_pollable_fd(struct ev_loop *loop) {
    /* ev_embed_start asserts that the loop is embeddable. */
    if (!loop || ev_backend(loop) != EVBACKEND_EPOLL || !epoll_embeddable())
        return -1;
    /* libev declares no accessor for the backend descriptor.  ev_embed_start
     * makes the embedding watcher's io watcher watch exactly that descriptor
     * (that is how the outer loop learns of the inner one's events), so the
     * watcher, embedded for this read only in a throwaway outer loop, gives
     * it.  `loop` itself is not changed. */
    struct ev_loop *outer = ev_loop_new(EVBACKEND_SELECT | EVBACKEND_POLL);
    if (!outer)
        return -1;
    ev_embed embed;
    ev_embed_init(&embed, NULL, loop);
    ev_embed_start(outer, &embed);
    int fd = embed.io.fd;
    ev_embed_stop(outer, &embed);
    ev_loop_destroy(outer);
    return fd;
}
