/* A pool of pipelined connections to one address, on the caller's loop (or a
 * private one for the blocking flavour).  Built on thrift_conn_t: a pool only
 * decides which connection carries a call and when a connection is dropped.
 * See dynthrift/pool.h for how maxsize and max_inflight relate. */
#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "dynthrift/pool.h"
#include "net/net_impl.h"
#include "net/pool_impl.h"
#include "schema/schema_impl.h"

struct thrift_pool_options {
    size_t minsize;
    size_t maxsize;
    size_t max_inflight;
    uint32_t acquire_timeout_ms;
};

typedef struct pconn {
    struct pconn *prev, *next;
    thrift_conn_t *conn;
    size_t leases;
    uint64_t breaks; /* the connection's break count when it joined */
    bool dead;       /* broke: freed when its last lease comes back */
} pconn_t;

typedef struct pool_call {
    struct pool_call *prev, *next; /* in flight on a connection */
    thrift_pool_t *pool;           /* NULL once the pool is gone */
    pconn_t *pc;
    const thrift_function_def_t *fn;
    thrift_arena_t *arena; /* the args' copy while waiting */
    thrift_value_t *args;
    thrift_pool_call_cb cb;
    void *ud;
    uint64_t start_us;
    uint32_t timeout_ms;   /* this call's deadline from start_us; 0: the options' */
    thrift__kv_t *headers; /* this call's info headers, owned */
} pool_call_t;

typedef struct waiter {
    struct waiter *prev, *next;
    thrift_pool_t *pool;
    ev_timer timer;
    bool has_timer;
    thrift_pool_acquire_cb cb; /* an acquire... */
    void *ud;
    pool_call_t *call;         /* ...or a pool call */
} waiter_t;

struct thrift_pool {
    struct ev_loop *loop;
    bool own_loop;
    thrift_schema_t *schema;
    const thrift_service_def_t *service;
    char *address;
    thrift_conn_options_t copts;
    thrift_pool_options_t popts;

    pconn_t *conns;   /* live and dying connections */
    size_t live;      /* connections not marked dead */
    waiter_t *whead, *wtail;
    size_t nwaiting;
    pool_call_t *calls; /* pool calls in flight */
    ev_timer dispatch;  /* hands connections to waiters from the loop */

    bool closed;
    bool free_requested;
    bool destroying;
    int depth;

    /* blocking flavour */
    thrift_response_t last;
    bool last_done;
    thrift__busy_poll_t busy_poll; /* its wait's spin policy (wait.c) */
};

/* ---- options ---------------------------------------------------------------- */

static void popts_defaults(thrift_pool_options_t *o) {
    o->minsize = 1;
    o->maxsize = 10;
    o->max_inflight = 1;
    o->acquire_timeout_ms = 0;
}

thrift_pool_options_t *thrift_pool_options_new(void) {
    thrift_pool_options_t *o = malloc(sizeof *o);
    if (o)
        popts_defaults(o);
    return o;
}

void thrift_pool_options_free(thrift_pool_options_t *o) { free(o); }

void thrift_pool_options_set_minsize(thrift_pool_options_t *o, size_t n) {
    if (o)
        o->minsize = n;
}
void thrift_pool_options_set_maxsize(thrift_pool_options_t *o, size_t n) {
    if (o)
        o->maxsize = n ? n : 1;
}
void thrift_pool_options_set_max_inflight(thrift_pool_options_t *o, size_t n) {
    if (o)
        o->max_inflight = n ? n : 1;
}
void thrift_pool_options_set_acquire_timeout_ms(thrift_pool_options_t *o, uint32_t ms) {
    if (o)
        o->acquire_timeout_ms = ms;
}

void thrift__pool_options_copy(thrift_pool_options_t *dst, const thrift_pool_options_t *src) {
    *dst = *src;
}

thrift_status_t thrift_pool_options_set(thrift_pool_options_t *o, const char *key,
                                        const char *value, thrift_error_t *err) {
    if (!o || !key || !value)
        return thrift__error_set(err, THRIFT_MISUSE, "options, key and value are required");
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(value, &end, 10);
    bool ok = *value && end && !*end && !errno && value[0] != '-';
    if (!strcmp(key, "minsize") || !strcmp(key, "maxsize") || !strcmp(key, "max_inflight") ||
        !strcmp(key, "acquire_timeout_ms")) {
        if (!ok || n > UINT32_MAX)
            return thrift__error_set(err, THRIFT_INVALID, "%s: bad value '%s'", key, value);
        if (!strcmp(key, "minsize"))
            thrift_pool_options_set_minsize(o, (size_t)n);
        else if (!strcmp(key, "maxsize"))
            thrift_pool_options_set_maxsize(o, (size_t)n);
        else if (!strcmp(key, "max_inflight"))
            thrift_pool_options_set_max_inflight(o, (size_t)n);
        else
            thrift_pool_options_set_acquire_timeout_ms(o, (uint32_t)n);
        return THRIFT_OK;
    }
    return thrift__error_set(err, THRIFT_NOT_FOUND, "unknown pool option '%s'", key);
}

/* ---- responses ---------------------------------------------------------------- */

uint64_t thrift__now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void thrift__response_reset(thrift_response_t *r) {
    thrift_arena_free(r->arena);
    memset(r, 0, sizeof *r);
    r->app_type = -1;
}

void thrift__response_set(thrift_response_t *dst, thrift_result_t *r, bool keep) {
    dst->status = thrift_result_status(r);
    dst->err = *thrift_result_error(r);
    dst->exception_name = thrift_result_exception_name(r);
    dst->app_type = thrift_result_app_type(r);
    const thrift_value_t *v = thrift_result_value(r);
    dst->value = v;
    dst->result = keep ? NULL : r;
    if (!v || !keep)
        return;
    // Taking the arena avoids a copy; a result without one is cloned.
    thrift_arena_t *a = thrift_result_take_arena(r);
    if (a) {
        thrift_arena_free(dst->arena);
        dst->arena = a;
        return;
    }
    if (!dst->arena)
        dst->arena = thrift_arena_new(NULL);
    dst->value = dst->arena ? thrift_value_clone(dst->arena, v) : NULL;
    if (!dst->value && dst->status == THRIFT_OK) {
        dst->status = THRIFT_NOMEM;
        thrift_error_clear(&dst->err);
        thrift__error_set(&dst->err, THRIFT_NOMEM, "out of memory");
    }
}

void thrift__response_set_error(thrift_response_t *dst, const thrift_error_t *err) {
    dst->status = err->code;
    dst->err = *err;
    dst->value = NULL;
    dst->exception_name = NULL;
    dst->app_type = -1;
}

void thrift__response_keep_names(thrift_response_t *dst) {
    if (!dst->arena)
        dst->arena = thrift_arena_new(NULL);
    if (!dst->arena) {
        dst->server = dst->address = NULL;
        return;
    }
    dst->server = dst->server ? thrift__arena_strdup(dst->arena, dst->server) : NULL;
    dst->address = dst->address ? thrift__arena_strdup(dst->arena, dst->address) : NULL;
}

bool thrift__response_is_server_failure(const thrift_response_t *r) { return r->server_failure; }

bool thrift_response_is_error(const thrift_response_t *r) { return !r || r->status != THRIFT_OK; }
thrift_status_t thrift_response_status(const thrift_response_t *r) {
    return r ? r->status : THRIFT_MISUSE;
}
const thrift_error_t *thrift_response_error(const thrift_response_t *r) { return r ? &r->err : NULL; }
const thrift_value_t *thrift_response_value(const thrift_response_t *r) { return r ? r->value : NULL; }
const char *thrift_response_exception_name(const thrift_response_t *r) {
    return r ? r->exception_name : NULL;
}
int thrift_response_app_type(const thrift_response_t *r) { return r ? r->app_type : -1; }
bool thrift_response_header_at(const thrift_response_t *r, size_t i, const char **key,
                               const char **value) {
    // Only a response still in its callback has its result (and headers).
    return r && r->result && thrift_result_header_at(r->result, i, key, value);
}
const char *thrift_response_server(const thrift_response_t *r) { return r ? r->server : NULL; }
const char *thrift_response_address(const thrift_response_t *r) { return r ? r->address : NULL; }
uint64_t thrift_response_elapsed_us(const thrift_response_t *r) { return r ? r->elapsed_us : 0; }
unsigned thrift_response_attempts(const thrift_response_t *r) { return r ? r->attempts : 0; }
thrift_arena_t *thrift_response_take_arena(thrift_response_t *r) {
    if (!r)
        return NULL;
    thrift_arena_t *a = r->arena;
    r->arena = NULL;
    // A response still in its connection's callback: the value lives in the
    // result's arena.
    if (!a && r->result && r->value)
        a = thrift_result_take_arena(r->result);
    r->result = NULL;
    return a;
}

size_t thrift_responses_count(const thrift_responses_t *rs) { return rs ? rs->count : 0; }
const thrift_response_t *thrift_responses_at(const thrift_responses_t *rs, size_t i) {
    return rs && i < rs->count ? &rs->items[i] : NULL;
}
size_t thrift_responses_ok_count(const thrift_responses_t *rs) { return rs ? rs->ok : 0; }
void thrift_responses_free(thrift_responses_t *rs) {
    if (!rs)
        return;
    for (size_t i = 0; i < rs->count; i++)
        thrift__response_reset(&rs->items[i]);
    free(rs->items);
    free(rs);
}

/* ---- connections --------------------------------------------------------------- */

static bool pconn_broken(const pconn_t *pc) {
    return pc->dead || thrift_conn_break_count(pc->conn) != pc->breaks;
}

static void pconn_drop(thrift_pool_t *p, pconn_t *pc) {
    if (!pc->dead)
        p->live--;
    pc->dead = true;
    if (pc->leases)
        return; // freed when the last lease comes back
    if (pc->prev)
        pc->prev->next = pc->next;
    else
        p->conns = pc->next;
    if (pc->next)
        pc->next->prev = pc->prev;
    thrift_conn_t *c = pc->conn;
    free(pc);
    thrift_conn_free(c);
}

static pconn_t *pconn_open(thrift_pool_t *p, thrift_error_t *err) {
    pconn_t *pc = calloc(1, sizeof *pc);
    if (!pc) {
        thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        return NULL;
    }
    pc->conn = thrift_conn_new(p->loop, p->schema, p->service->name, p->address, &p->copts, err);
    if (!pc->conn) {
        free(pc);
        return NULL;
    }
    pc->breaks = thrift_conn_break_count(pc->conn);
    pc->next = p->conns;
    if (p->conns)
        p->conns->prev = pc;
    p->conns = pc;
    p->live++;
    return pc;
}

/* The connection for the next lease, or NULL when the pool is at its limits
 * (or cannot open one: then `err` says why). */
static pconn_t *pick(thrift_pool_t *p, thrift_error_t *err) {
    pconn_t *best = NULL;
    for (pconn_t *pc = p->conns, *next; pc; pc = next) {
        next = pc->next;
        if (pc->dead)
            continue;
        if (pconn_broken(pc)) {
            // Never hand out a connection that broke while it sat idle.
            pconn_drop(p, pc);
            continue;
        }
        if (pc->leases == 0)
            return pc;
        if (pc->leases < p->popts.max_inflight && (!best || pc->leases < best->leases))
            best = pc;
    }
    if (p->live < p->popts.maxsize) {
        pconn_t *pc = pconn_open(p, err);
        if (pc) {
            // Fill up to minsize lazily: the rest open when first needed.
            while (p->live < p->popts.minsize && p->live < p->popts.maxsize)
                if (!pconn_open(p, NULL))
                    break;
            return pc;
        }
    }
    return best;
}

static pconn_t *find_pconn(thrift_pool_t *p, const thrift_conn_t *c) {
    for (pconn_t *pc = p->conns; pc; pc = pc->next)
        if (pc->conn == c)
            return pc;
    return NULL;
}

static void schedule_dispatch(thrift_pool_t *p) {
    if (!ev_is_active(&p->dispatch)) {
        ev_timer_set(&p->dispatch, 0., 0.);
        ev_timer_start(p->loop, &p->dispatch);
    }
}

static void lease_return(thrift_pool_t *p, pconn_t *pc) {
    if (pc->leases)
        pc->leases--;
    if (p->destroying)
        return;
    if (pc->dead || p->closed || pconn_broken(pc))
        pconn_drop(p, pc);
    if (p->whead)
        schedule_dispatch(p);
}

/* ---- lifecycle ------------------------------------------------------------------- */

static void pool_destroy(thrift_pool_t *p);

static bool maybe_destroy(thrift_pool_t *p) {
    if (p->free_requested && p->depth == 0 && !p->destroying) {
        pool_destroy(p);
        return true;
    }
    return false;
}

static void waiter_unlink(thrift_pool_t *p, waiter_t *w) {
    if (w->prev)
        w->prev->next = w->next;
    else
        p->whead = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        p->wtail = w->prev;
    w->prev = w->next = NULL;
    p->nwaiting--;
    if (w->has_timer)
        ev_timer_stop(p->loop, &w->timer);
}

static void call_unlink(thrift_pool_t *p, pool_call_t *pc) {
    if (pc->prev)
        pc->prev->next = pc->next;
    else if (p->calls == pc)
        p->calls = pc->next;
    if (pc->next)
        pc->next->prev = pc->prev;
    pc->prev = pc->next = NULL;
}

static void call_free(pool_call_t *c) {
    thrift_arena_free(c->arena);
    thrift__kv_free(c->headers);
    free(c);
}

static void call_done(thrift_conn_t *conn, thrift_result_t *res, void *ud);

/* Submits `c` on a leased connection with its own deadline (what is left
 * of it after waiting for the connection) and info headers. */
static thrift_status_t call_submit(pconn_t *pc, pool_call_t *c, const thrift_value_t *args,
                                   thrift_error_t *err) {
    uint32_t timeout_ms = c->timeout_ms;
    if (timeout_ms) {
        uint64_t waited_ms = (thrift__now_us() - c->start_us) / 1000u;
        if (waited_ms >= timeout_ms)
            return thrift__error_set(err, THRIFT_TIMEOUT,
                                     "%s: deadline passed while waiting for a connection",
                                     c->fn->name);
        timeout_ms -= (uint32_t)waited_ms;
    }
    for (const thrift__kv_t *h = c->headers; h; h = h->next)
        if (thrift_conn_set_call_header(pc->conn, h->key, h->value) != THRIFT_OK)
            return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
    thrift_status_t st =
        thrift_call_async_ex(pc->conn, c->fn->name, args, timeout_ms, call_done, c, err);
    // A call refused up front must not leave its headers to the next one.
    for (const thrift__kv_t *h = c->headers; st && h; h = h->next)
        (void)thrift_conn_set_call_header(pc->conn, h->key, NULL);
    return st;
}

/* Runs a pool call's callback with an error (the call never reached a
 * connection, or the pool went away under it). */
static void call_fail(thrift_pool_t *p, pool_call_t *c, const thrift_error_t *err) {
    if (!c->cb)
        return;
    thrift_response_t r;
    memset(&r, 0, sizeof r);
    thrift__response_set_error(&r, err);
    r.address = p->address;
    r.elapsed_us = thrift__now_us() - c->start_us;
    r.attempts = 1;
    r.server_failure = err->code == THRIFT_TIMEOUT || err->code == THRIFT_TRANSPORT;
    p->depth++;
    c->cb(p, &r, c->ud);
    p->depth--;
    thrift__response_reset(&r);
}

static void waiter_fail(thrift_pool_t *p, waiter_t *w, const thrift_error_t *err) {
    waiter_unlink(p, w);
    if (w->call) {
        call_fail(p, w->call, err);
        call_free(w->call);
    } else if (w->cb) {
        p->depth++;
        w->cb(p, NULL, err, w->ud);
        p->depth--;
    }
    free(w);
}

static void pool_destroy(thrift_pool_t *p) {
    p->destroying = true;
    p->closed = true;
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift__error_set(&err, THRIFT_CLOSED, "pool for %s freed", p->address);
    p->depth++;
    while (p->whead)
        waiter_fail(p, p->whead, &err);
    // Calls in flight get their callback now; the connection's own (later)
    // callback then finds the call orphaned and only frees it.
    for (pool_call_t *c = p->calls, *next; c; c = next) {
        next = c->next;
        c->prev = c->next = NULL;
        call_fail(p, c, &err);
        c->pool = NULL;
    }
    p->calls = NULL;
    p->depth--;
    ev_timer_stop(p->loop, &p->dispatch);
    while (p->conns) {
        pconn_t *pc = p->conns;
        p->conns = pc->next;
        thrift_conn_free(pc->conn);
        free(pc);
    }
    thrift__response_reset(&p->last);
    thrift_schema_unref(p->schema);
    struct ev_loop *own = p->own_loop ? p->loop : NULL;
    free(p->address);
    free(p);
    if (own)
        ev_loop_destroy(own);
}

static void dispatch_cb(struct ev_loop *loop, ev_timer *t, int revents);

thrift_pool_t *thrift_pool_new(struct ev_loop *loop, thrift_schema_t *schema, const char *service,
                               const char *address, const thrift_conn_options_t *conn_opts,
                               const thrift_pool_options_t *pool_opts, thrift_error_t *err) {
    if (!loop || !schema || !address) {
        thrift__error_set(err, THRIFT_MISUSE, "loop, schema and address are required");
        return NULL;
    }
    const thrift_service_def_t *svc = thrift__schema_service_or_default(schema, service, err);
    if (!svc)
        return NULL;
    // Parse once here so a bad address fails now, not on the first call.
    thrift__addr_t addr;
    if (thrift__addr_parse(address, false, &addr, err))
        return NULL;
    thrift_pool_t *p = calloc(1, sizeof *p);
    char *a = strdup(address);
    if (!p || !a) {
        free(p);
        free(a);
        thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        return NULL;
    }
    p->loop = loop;
    p->schema = thrift_schema_ref(schema);
    p->service = svc;
    p->address = a;
    if (conn_opts)
        p->copts = *conn_opts;
    else
        thrift__conn_options_defaults(&p->copts);
    if (pool_opts)
        p->popts = *pool_opts;
    else
        popts_defaults(&p->popts);
    if (p->popts.minsize > p->popts.maxsize)
        p->popts.minsize = p->popts.maxsize;
    thrift__response_reset(&p->last);
    ev_timer_init(&p->dispatch, dispatch_cb, 0., 0.);
    p->dispatch.data = p;
    return p;
}

thrift_pool_t *thrift_pool_open(thrift_schema_t *schema, const char *service, const char *address,
                                const thrift_conn_options_t *conn_opts,
                                const thrift_pool_options_t *pool_opts, thrift_error_t *err) {
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    if (!loop) {
        thrift__error_set(err, THRIFT_NOMEM, "cannot create an event loop");
        return NULL;
    }
    thrift_pool_t *p = thrift_pool_new(loop, schema, service, address, conn_opts, pool_opts, err);
    if (!p) {
        ev_loop_destroy(loop);
        return NULL;
    }
    p->own_loop = true;
    thrift__busy_poll_init(&p->busy_poll, p->copts.busy_poll_us);
    return p;
}

void thrift_pool_free(thrift_pool_t *p) {
    if (!p || p->free_requested)
        return;
    p->free_requested = true;
    p->closed = true;
    maybe_destroy(p);
}

void thrift_pool_close(thrift_pool_t *p) {
    if (!p || p->closed)
        return;
    p->closed = true;
    for (pconn_t *pc = p->conns, *next; pc; pc = next) {
        next = pc->next;
        if (!pc->leases)
            pconn_drop(p, pc);
    }
    // Waiters fail from the loop, not inside this call.
    if (p->whead)
        schedule_dispatch(p);
}

bool thrift_pool_is_closed(const thrift_pool_t *p) { return !p || p->closed; }

void thrift_pool_clear(thrift_pool_t *p) {
    if (!p)
        return;
    for (pconn_t *pc = p->conns, *next; pc; pc = next) {
        next = pc->next;
        if (!pc->leases)
            pconn_drop(p, pc);
    }
}

size_t thrift_pool_size(const thrift_pool_t *p) { return p ? p->live : 0; }

size_t thrift_pool_freesize(const thrift_pool_t *p) {
    size_t n = 0;
    for (const pconn_t *pc = p ? p->conns : NULL; pc; pc = pc->next)
        if (!pc->dead && !pc->leases)
            n++;
    return n;
}

size_t thrift_pool_waiting(const thrift_pool_t *p) { return p ? p->nwaiting : 0; }

size_t thrift_pool_pending(const thrift_pool_t *p) {
    size_t n = 0;
    for (const pconn_t *pc = p ? p->conns : NULL; pc; pc = pc->next)
        n += thrift_conn_pending(pc->conn);
    return n;
}

const char *thrift_pool_address(const thrift_pool_t *p) { return p ? p->address : NULL; }
const thrift_service_def_t *thrift_pool_service(const thrift_pool_t *p) {
    return p ? p->service : NULL;
}
struct ev_loop *thrift__pool_loop(const thrift_pool_t *p) { return p->loop; }

/* ---- acquire / release ----------------------------------------------------------- */

static void start_call(thrift_pool_t *p, pool_call_t *c, pconn_t *pc);

static void dispatch(thrift_pool_t *p) {
    p->depth++;
    while (p->whead && !p->free_requested) {
        thrift_error_t err;
        thrift_error_clear(&err);
        if (p->closed) {
            thrift__error_set(&err, THRIFT_CLOSED, "pool for %s is closed", p->address);
            waiter_fail(p, p->whead, &err);
            continue;
        }
        pconn_t *pc = pick(p, &err);
        if (!pc) {
            // Nothing open and nothing can be: no lease will ever come back.
            if (!p->conns && err.code)
                waiter_fail(p, p->whead, &err);
            else
                break;
            continue;
        }
        waiter_t *w = p->whead;
        waiter_unlink(p, w);
        pc->leases++;
        if (w->call) {
            start_call(p, w->call, pc);
        } else if (w->cb) {
            w->cb(p, pc->conn, NULL, w->ud);
        }
        free(w);
    }
    p->depth--;
}

static void dispatch_cb(struct ev_loop *loop, ev_timer *t, int revents) {
    (void)loop;
    (void)revents;
    thrift_pool_t *p = t->data;
    dispatch(p);
    maybe_destroy(p);
}

static void waiter_timeout_cb(struct ev_loop *loop, ev_timer *t, int revents) {
    (void)loop;
    (void)revents;
    waiter_t *w = t->data;
    thrift_pool_t *p = w->pool;
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift__error_set(&err, THRIFT_TIMEOUT, "no connection to %s free within the acquire timeout",
                      p->address);
    p->depth++;
    waiter_fail(p, w, &err);
    p->depth--;
    maybe_destroy(p);
}

static waiter_t *waiter_add(thrift_pool_t *p, uint32_t timeout_ms) {
    waiter_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->pool = p;
    w->prev = p->wtail;
    if (p->wtail)
        p->wtail->next = w;
    else
        p->whead = w;
    p->wtail = w;
    p->nwaiting++;
    if (!timeout_ms)
        timeout_ms = p->popts.acquire_timeout_ms;
    if (timeout_ms) {
        ev_timer_init(&w->timer, waiter_timeout_cb, timeout_ms / 1000.0, 0.);
        w->timer.data = w;
        w->has_timer = true;
        ev_timer_start(p->loop, &w->timer);
    }
    schedule_dispatch(p);
    return w;
}

thrift_status_t thrift_pool_acquire(thrift_pool_t *p, uint32_t timeout_ms, thrift_pool_acquire_cb cb,
                                    void *ud, thrift_error_t *err) {
    if (!p || !cb)
        return thrift__error_set(err, THRIFT_MISUSE, "pool and callback are required");
    if (p->closed)
        return thrift__error_set(err, THRIFT_CLOSED, "pool for %s is closed", p->address);
    waiter_t *w = waiter_add(p, timeout_ms);
    if (!w)
        return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
    w->cb = cb;
    w->ud = ud;
    return THRIFT_OK;
}

void thrift_pool_release(thrift_pool_t *p, thrift_conn_t *conn) {
    if (!p || !conn)
        return;
    pconn_t *pc = find_pconn(p, conn);
    if (pc)
        lease_return(p, pc);
}

/* ---- pool calls --------------------------------------------------------------------- */

static void call_done(thrift_conn_t *conn, thrift_result_t *res, void *ud) {
    pool_call_t *c = ud;
    thrift_pool_t *p = c->pool;
    if (!p) { // the pool was freed and already told the caller
        call_free(c);
        return;
    }
    call_unlink(p, c);
    p->depth++;
    if (c->cb) {
        thrift_response_t r;
        memset(&r, 0, sizeof r);
        thrift__response_set(&r, res, false);
        r.address = p->address;
        r.elapsed_us = thrift__now_us() - c->start_us;
        r.attempts = 1;
        r.server_failure = thrift_conn_break_count(conn) != c->pc->breaks ||
                           r.status == THRIFT_TIMEOUT;
        c->cb(p, &r, c->ud);
        // The callback may have taken the value's arena from us; if it
        // did not, the value stays the connection's.
        if (r.arena)
            thrift_arena_free(r.arena);
    }
    lease_return(p, c->pc);
    // Already on the loop: hand the lease to the next waiter now rather
    // than one loop iteration later.
    if (p->whead && !p->free_requested) {
        ev_timer_stop(p->loop, &p->dispatch);
        dispatch(p);
    }
    p->depth--;
    call_free(c);
    maybe_destroy(p);
}

static void start_call(thrift_pool_t *p, pool_call_t *c, pconn_t *pc) {
    thrift_error_t err;
    thrift_error_clear(&err);
    c->pc = pc;
    if (call_submit(pc, c, c->args, &err) != THRIFT_OK) {
        lease_return(p, pc);
        call_fail(p, c, &err);
        call_free(c);
        return;
    }
    // The connection has encoded the args: the copy is no longer needed.
    thrift_arena_free(c->arena);
    c->arena = NULL;
    c->args = NULL;
    c->next = p->calls;
    if (p->calls)
        p->calls->prev = c;
    p->calls = c;
}

thrift_status_t thrift_pool_call_async(thrift_pool_t *p, const char *method,
                                       const thrift_value_t *args, thrift_pool_call_cb cb, void *ud,
                                       thrift_error_t *err) {
    return thrift__pool_call(p, method, args, 0, NULL, cb, ud, err);
}

thrift_status_t thrift__kv_from_pairs(thrift__kv_t **list, const char *const *pairs, size_t count,
                                      thrift_error_t *err) {
    for (size_t i = 0; i < count; i++) {
        thrift_status_t st = pairs && pairs[2 * i] && pairs[2 * i + 1]
                                 ? thrift__kv_set(list, pairs[2 * i], pairs[2 * i + 1])
                                 : THRIFT_MISUSE;
        if (st) {
            thrift__kv_free(*list);
            *list = NULL;
            thrift__error_set(err, st,
                              st == THRIFT_LIMIT   ? "info header over %d bytes"
                              : st == THRIFT_NOMEM ? "out of memory (%d)"
                                                   : "info header without key or value (%d)",
                              THRIFT_HEADER_TEXT_MAX);
            return st;
        }
    }
    return THRIFT_OK;
}

thrift_status_t thrift_pool_call_async_ex(thrift_pool_t *p, const char *method,
                                          const thrift_value_t *args, uint32_t timeout_ms,
                                          const char *const *headers, size_t header_count,
                                          thrift_pool_call_cb cb, void *ud, thrift_error_t *err) {
    thrift__kv_t *kv = NULL;
    thrift_status_t st = thrift__kv_from_pairs(&kv, headers, header_count, err);
    if (st)
        return st;
    st = thrift__pool_call(p, method, args, timeout_ms, kv, cb, ud, err);
    thrift__kv_free(kv);
    return st;
}

thrift_status_t thrift__pool_call(thrift_pool_t *p, const char *method,
                                  const thrift_value_t *args, uint32_t timeout_ms,
                                  const thrift__kv_t *headers, thrift_pool_call_cb cb, void *ud,
                                  thrift_error_t *err) {
    if (!p)
        return thrift__error_set(err, THRIFT_MISUSE, "no pool");
    if (p->closed)
        return thrift__error_set(err, THRIFT_CLOSED, "pool for %s is closed", p->address);
    const thrift_function_def_t *fn =
        method ? thrift_service_def_find_function(p->service, method) : NULL;
    if (!fn)
        return thrift__error_set(err, THRIFT_NOT_FOUND, "service %s has no method '%s'",
                                 p->service->name, method ? method : "(null)");
    if (args && thrift_value_struct_def(args) != thrift_function_def_args(fn))
        return thrift__error_set(err, THRIFT_TYPE, "%s: args must be a %s struct", fn->name,
                                 thrift_function_def_args(fn)->name);
    pool_call_t *c = calloc(1, sizeof *c);
    if (!c)
        return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
    c->pool = p;
    c->fn = fn;
    c->cb = cb;
    c->ud = ud;
    c->start_us = thrift__now_us();
    c->timeout_ms = timeout_ms;
    for (const thrift__kv_t *h = headers; h; h = h->next)
        if (thrift__kv_set(&c->headers, h->key, h->value) != THRIFT_OK) {
            call_free(c);
            return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        }
    thrift_error_t perr;
    thrift_error_clear(&perr);
    pconn_t *pc = p->whead ? NULL : pick(p, &perr);
    if (pc) {
        // Fast path: encode straight from the caller's args.
        if (call_submit(pc, c, args, err) != THRIFT_OK) {
            call_free(c);
            if (pconn_broken(pc) && !pc->leases)
                pconn_drop(p, pc);
            return err ? err->code : THRIFT_INVALID;
        }
        pc->leases++;
        c->pc = pc;
        c->next = p->calls;
        if (p->calls)
            p->calls->prev = c;
        p->calls = c;
        return THRIFT_OK;
    }
    if (args) {
        c->arena = thrift_arena_new(NULL);
        c->args = c->arena ? thrift_value_clone(c->arena, args) : NULL;
        if (!c->args) {
            call_free(c);
            return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        }
    }
    waiter_t *w = waiter_add(p, timeout_ms);
    if (!w) {
        call_free(c);
        return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
    }
    w->call = c;
    return THRIFT_OK;
}

/* ---- blocking ---------------------------------------------------------------------- */

void thrift__response_keep(thrift_response_t *dst, thrift_response_t *r) {
    thrift__response_reset(dst);
    *dst = *r;
    dst->arena = thrift_response_take_arena(r);
    dst->result = NULL;
    if (r->value && !dst->arena) {
        dst->arena = thrift_arena_new(NULL);
        dst->value = dst->arena ? thrift_value_clone(dst->arena, r->value) : NULL;
    }
}

static void blocking_cb(thrift_pool_t *p, thrift_response_t *r, void *ud) {
    (void)ud;
    thrift__response_keep(&p->last, r);
    p->last_done = true;
}

thrift_value_t *thrift_pool_call(thrift_pool_t *p, const char *method, const thrift_value_t *args,
                                 thrift_error_t *err) {
    if (!p || !p->own_loop) {
        thrift__error_set(err, THRIFT_MISUSE, "thrift_pool_call needs a thrift_pool_open pool");
        return NULL;
    }
    thrift__response_reset(&p->last);
    p->last_done = false;
    if (thrift_pool_call_async(p, method, args, blocking_cb, NULL, err) != THRIFT_OK)
        return NULL;
    thrift__wait_done(p->loop, &p->last_done, &p->busy_poll);
    if (p->last.status != THRIFT_OK) {
        if (err && !thrift__error_is_set(err))
            *err = p->last.err;
        return NULL;
    }
    return (thrift_value_t *)p->last.value;
}

const thrift_response_t *thrift_pool_last_response(const thrift_pool_t *p) {
    return p ? &p->last : NULL;
}
