/* dynthrift — a libev loop that a host program's own event loop can wait
 * on: the host (a Lua or Python binding under OpenResty, a game loop, a GUI
 * toolkit) watches one descriptor for readability and runs the loop without
 * blocking (ev_run(loop, EVRUN_NOWAIT)) when it is readable.
 *
 * libev 4.33 declares no accessor for a loop's backend descriptor; these
 * functions are the one place that knows how to reach it (through an
 * ev_embed watcher, libev's own means for one loop to watch another's
 * backend), so that callers need nothing beyond this header. */
#ifndef DYNTHRIFT_LOOP_H
#define DYNTHRIFT_LOOP_H

#include "dynthrift/common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ev_loop;

/* A new loop (free with ev_loop_destroy) whose backend has a pollable
 * descriptor where the system has one (epoll, when libev can embed it),
 * and libev's automatic choice otherwise.  NULL on failure. */
THRIFT_API struct ev_loop *thrift_loop_new_pollable(void);

/* The descriptor of `loop`'s backend (epoll), readable while an I/O event
 * of the loop is pending; level-triggered: it stays readable until the loop
 * has handled the event.  Owned by the loop: never read or close it.
 * Timers do not make it readable: the host waits at most until the loop's
 * next timer.  Watchers started since the loop last ran reach the backend
 * only when it runs: run it (ev_run EVRUN_NOWAIT) before waiting.  -1 for
 * NULL or a backend without such a descriptor (select, poll). */
THRIFT_API int thrift_loop_pollable_fd(struct ev_loop *loop);

#ifdef __cplusplus
}
#endif
#endif
