/* The blocking API's wait for a reply (thrift_call, thrift_pool_call,
 * thrift_cluster_call*): a bounded busy-poll of the private loop before it
 * sleeps, with a per-waiter policy that keeps the poll to peers that answer
 * within it.  See the busy_poll_us option in dynthrift/net.h. */
#include <ev.h>
#include <time.h>

#include "net/net_impl.h"

/* A spin that follows a caught one lasts this long past twice the average
 * reply time: the margin for a reply a little slower than usual. */
#define SPIN_MARGIN_NS 5000u
/* The backoff stops growing at one probe in 2^SPIN_MAX_BACKOFF waits: 256,
 * so that a peer slower than the cap (or a host too busy for the peer to
 * answer while this thread holds a core) costs a 50 us probe per 256 calls,
 * ~0.2 us a call, and a peer that speeds up is noticed within 256 calls. */
#define SPIN_MAX_BACKOFF 8u

void thrift__busy_poll_init(thrift__busy_poll_t *bp, uint32_t cap_us) {
    memset(bp, 0, sizeof *bp);
    bp->cap_ns = (uint64_t)(cap_us > THRIFT_BUSY_POLL_MAX_US ? THRIFT_BUSY_POLL_MAX_US : cap_us) * 1000u;
}

uint64_t thrift__busy_poll_budget(thrift__busy_poll_t *bp) {
    if (!bp->cap_ns)
        return 0;
    if (bp->skip) {
        bp->skip--;
        return 0;
    }
    // Replies came within the spin lately: about the usual reply time plus
    // a margin.  Otherwise (first wait, or the last spin missed) a probe
    // for the full cap.
    if (bp->misses == 0 && bp->avg_ns) {
        uint64_t b = 2 * bp->avg_ns + SPIN_MARGIN_NS;
        return b < bp->cap_ns ? b : bp->cap_ns;
    }
    return bp->cap_ns;
}

void thrift__busy_poll_record(thrift__busy_poll_t *bp, bool caught, uint64_t elapsed_ns) {
    bp->spun++;
    if (caught) {
        bp->caught++;
        bp->misses = 0;
        // EWMA, weight 1/8: a few slow replies move it, one does not.
        if (!bp->avg_ns)
            bp->avg_ns = elapsed_ns;
        else if (elapsed_ns >= bp->avg_ns)
            bp->avg_ns += (elapsed_ns - bp->avg_ns) / 8;
        else
            bp->avg_ns -= (bp->avg_ns - elapsed_ns) / 8;
        return;
    }
    // A peer slower than the cap: a miss is allowed once (the next wait
    // probes again); from the second in a row on, sleep through the next
    // 1, 3, 7 ... 255 waits before probing.
    if (bp->misses < 255)
        bp->misses++;
    if (bp->misses >= 2) {
        unsigned shift = bp->misses - 1u < SPIN_MAX_BACKOFF ? bp->misses - 1u : SPIN_MAX_BACKOFF;
        bp->skip = (1u << shift) - 1u;
    }
}

static uint64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void thrift__wait_done(struct ev_loop *loop, const bool *done, thrift__busy_poll_t *bp) {
    uint64_t budget = bp ? thrift__busy_poll_budget(bp) : 0;
    if (budget && !*done) {
        // ev_run(NOWAIT) runs the flush (an ev_prepare: the request goes
        // out in the first pass), polls the sockets with a zero timeout and
        // runs what is ready: any transport, TLS and HTTP included.  The
        // callbacks set *done (ev_run is a call the compiler cannot see
        // through, so *done is read anew each time).
        uint64_t start = monotonic_ns(), elapsed;
        ev_run(loop, EVRUN_NOWAIT);
        if (*done) {
            // The first pass alone sufficed (a oneway's write, a reply
            // already read): no spin happened, nothing to learn.
            return;
        }
        do {
            ev_run(loop, EVRUN_NOWAIT);
            elapsed = monotonic_ns() - start;
        } while (!*done && elapsed < budget);
        thrift__busy_poll_record(bp, *done, elapsed);
    }
    while (!*done)
        ev_run(loop, EVRUN_ONCE);
}
