/* A multi-server client: one thrift_pool_t per named server, routing by
 * hashed arguments (modulo or a ketama-style ring) or balancing, replicated
 * calls, and failover with back-off and probes.  Nothing here touches a
 * socket except the probe's connect; calls go through the pools. */
#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "dynthrift/pool.h"
#include "net/net_impl.h"
#include "net/pool_impl.h"
#include "schema/schema_impl.h"

#define MAX_TRIED 8

typedef struct server {
    thrift_cluster_t *cl;
    char *name;
    char *address;
    thrift_pool_t *pool;
    int refs;
    bool removed;
    bool down;
    uint64_t down_until_us;
    uint32_t backoff_ms; /* the next back-off */
    size_t outstanding;  /* cluster calls in flight on it */
    /* probe */
    bool probing;
    int probe_fd;
    ev_io probe_io;
    ev_timer probe_timer;
} server_t;

typedef struct ring_point {
    uint64_t hash;
    server_t *server;
} ring_point_t;

typedef enum { ROUTE_NONE, ROUTE_ARG, ROUTE_KEY } route_kind_t;

typedef struct route {
    const thrift_function_def_t *fn; /* NULL: the default */
    route_kind_t kind;
    char *arg;
    thrift_cluster_key_cb cb;
    void *ud;
} route_t;

typedef struct ccall {
    struct ccall *prev, *next;
    thrift_cluster_t *cl; /* NULL once the cluster is gone */
    const thrift_function_def_t *fn;
    thrift_arena_t *arena; /* args kept for retries */
    const thrift_value_t *args;
    bool has_key;
    uint64_t key;
    server_t *server; /* the current attempt's, referenced */
    server_t *tried[MAX_TRIED];
    unsigned ntried;
    uint64_t start_us;
    thrift_cluster_call_cb cb;
    void *ud;
    uint32_t timeout_ms;   /* thrift_cluster_call_async_ex: each attempt's deadline */
    thrift__kv_t *headers; /* ... and info headers, owned (kept for retries) */
} ccall_t;

typedef struct allcall {
    struct allcall *prev, *next;
    thrift_cluster_t *cl;
    thrift_responses_t *rs;
    size_t remaining;
    uint64_t start_us;
    thrift_cluster_all_cb cb;
    void *ud;
} allcall_t;

typedef struct allpart {
    allcall_t *all;
    size_t index;
    server_t *server;
} allpart_t;

struct thrift_cluster {
    struct ev_loop *loop;
    bool own_loop;
    thrift_schema_t *schema;
    const thrift_service_def_t *service;
    thrift_conn_options_t copts;
    thrift_pool_options_t *popts;

    server_t **servers;
    size_t nservers, cap;
    ring_point_t *ring;
    size_t nring;
    bool ring_dirty;
    unsigned points;
    thrift_hash_scheme_t scheme;
    thrift_balance_t balance;
    size_t rr;
    uint64_t rng;

    route_t *routes;
    size_t nroutes;
    const thrift_function_def_t **idempotent;
    size_t nidempotent;
    unsigned retries;
    uint32_t backoff_initial_ms, backoff_max_ms;
    thrift_buffer_t *keybuf;

    ccall_t *calls;
    allcall_t *alls;
    int depth;
    bool free_requested;

    /* blocking flavour */
    thrift_response_t last;
    bool last_done;
    thrift_responses_t *last_all;
    thrift__busy_poll_t busy_poll; /* its waits' spin policy (wait.c) */
};

/* ---- hashing --------------------------------------------------------------------- */

/* FNV-1a spreads short keys poorly over the high bits; the murmur3 finalizer
 * fixes the avalanche so ring points and keys are uniform. */
static uint64_t hash64(const void *p, size_t n) {
    uint64_t h = thrift__hash_bytes(p, n);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static int ring_cmp(const void *a, const void *b) {
    const ring_point_t *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    // Equal hashes (rare): order by name so every client builds the same ring.
    return strcmp(x->server->name, y->server->name);
}

static bool ring_build(thrift_cluster_t *cl) {
    if (!cl->ring_dirty)
        return true;
    size_t n = cl->nservers * cl->points;
    ring_point_t *r = n ? malloc(n * sizeof *r) : NULL;
    if (n && !r)
        return false;
    size_t k = 0;
    for (size_t i = 0; i < cl->nservers; i++) {
        server_t *s = cl->servers[i];
        char buf[300];
        for (unsigned j = 0; j < cl->points; j++) {
            int len = snprintf(buf, sizeof buf, "%s-%u", s->name, j);
            if (len < 0)
                len = 0;
            if ((size_t)len >= sizeof buf)
                len = (int)sizeof buf - 1;
            r[k].hash = hash64(buf, (size_t)len);
            r[k].server = s;
            k++;
        }
    }
    if (k)
        qsort(r, k, sizeof *r, ring_cmp);
    free(cl->ring);
    cl->ring = r;
    cl->nring = k;
    cl->ring_dirty = false;
    return true;
}

/* ---- servers ----------------------------------------------------------------------- */

static void server_unref(server_t *s) {
    if (--s->refs > 0)
        return;
    thrift_pool_free(s->pool);
    free(s->name);
    free(s->address);
    free(s);
}

static void server_mark_down(thrift_cluster_t *cl, server_t *s) {
    uint64_t now = thrift__now_us();
    if (s->down && s->down_until_us > now)
        return; // several calls failing at once count as one failure
    s->down = true;
    s->down_until_us = now + (uint64_t)s->backoff_ms * 1000u;
    uint64_t next = (uint64_t)s->backoff_ms * 2;
    s->backoff_ms = next > cl->backoff_max_ms ? cl->backoff_max_ms : (uint32_t)next;
    thrift_pool_clear(s->pool);
}

static void server_mark_up(thrift_cluster_t *cl, server_t *s) {
    s->down = false;
    s->backoff_ms = cl->backoff_initial_ms;
}

static void probe_finish(server_t *s, bool ok) {
    thrift_cluster_t *cl = s->cl;
    ev_io_stop(cl->loop, &s->probe_io);
    ev_timer_stop(cl->loop, &s->probe_timer);
    close(s->probe_fd);
    s->probe_fd = -1;
    s->probing = false;
    if (!s->removed) {
        if (ok) {
            server_mark_up(cl, s);
        } else {
            s->down = false; // so mark_down starts a new, longer, back-off
            server_mark_down(cl, s);
        }
    }
    server_unref(s);
}

/* A removed server or a freed cluster stops probing at once: the probe must
 * not outlive the loop it runs on. */
static void probe_cancel(server_t *s) {
    if (!s->probing)
        return;
    ev_io_stop(s->cl->loop, &s->probe_io);
    ev_timer_stop(s->cl->loop, &s->probe_timer);
    close(s->probe_fd);
    s->probe_fd = -1;
    s->probing = false;
    server_unref(s);
}

static void probe_io_cb(struct ev_loop *loop, ev_io *w, int revents) {
    (void)loop;
    (void)revents;
    server_t *s = w->data;
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(s->probe_fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
        soerr = errno;
    probe_finish(s, soerr == 0);
}

static void probe_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    probe_finish(w->data, false);
}

/* The back-off has passed: try a TCP connect; the server stays out of
 * routing until it succeeds. */
static void server_probe(thrift_cluster_t *cl, server_t *s) {
    if (s->probing)
        return;
    thrift__addr_t addr;
    bool in_progress = false;
    int fd = -1;
    if (thrift__addr_parse(s->address, false, &addr, NULL) == THRIFT_OK)
        fd = thrift__sock_connect(&addr, &in_progress, NULL);
    if (fd < 0) {
        s->down = false;
        server_mark_down(cl, s);
        return;
    }
    s->probing = true;
    s->probe_fd = fd;
    s->refs++;
    ev_io_init(&s->probe_io, probe_io_cb, fd, EV_WRITE);
    s->probe_io.data = s;
    ev_io_start(cl->loop, &s->probe_io);
    uint32_t ms = cl->copts.connect_timeout_ms ? cl->copts.connect_timeout_ms : 5000;
    ev_timer_init(&s->probe_timer, probe_timeout_cb, ms / 1000.0, 0.);
    s->probe_timer.data = s;
    ev_timer_start(cl->loop, &s->probe_timer);
}

static bool server_usable(thrift_cluster_t *cl, server_t *s, uint64_t now) {
    if (!s->down)
        return true;
    if (now >= s->down_until_us)
        server_probe(cl, s);
    return false;
}

static server_t *find_server(const thrift_cluster_t *cl, const char *name, size_t *index) {
    for (size_t i = 0; name && i < cl->nservers; i++)
        if (!strcmp(cl->servers[i]->name, name)) {
            if (index)
                *index = i;
            return cl->servers[i];
        }
    return NULL;
}

/* ---- routing ------------------------------------------------------------------------- */

static bool was_tried(const ccall_t *c, const server_t *s) {
    for (unsigned i = 0; c && i < c->ntried; i++)
        if (c->tried[i] == s)
            return true;
    return false;
}

static bool eligible(thrift_cluster_t *cl, const ccall_t *c, server_t *s, uint64_t now) {
    return !was_tried(c, s) && server_usable(cl, s, now);
}

static server_t *route_hashed(thrift_cluster_t *cl, const ccall_t *c, uint64_t h) {
    uint64_t now = thrift__now_us();
    if (!cl->nservers)
        return NULL;
    if (cl->scheme == THRIFT_HASH_MODULO) {
        size_t start = (size_t)(h % cl->nservers);
        for (size_t i = 0; i < cl->nservers; i++) {
            server_t *s = cl->servers[(start + i) % cl->nservers];
            if (eligible(cl, c, s, now))
                return s;
        }
        return NULL;
    }
    if (!ring_build(cl) || !cl->nring)
        return NULL;
    size_t lo = 0, hi = cl->nring;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cl->ring[mid].hash < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    // Walk clockwise to the next point of a server that can take the call.
    for (size_t i = 0; i < cl->nring; i++) {
        server_t *s = cl->ring[(lo + i) % cl->nring].server;
        if (eligible(cl, c, s, now))
            return s;
    }
    return NULL;
}

static uint64_t rng_next(thrift_cluster_t *cl) {
    // xorshift64*: enough for spreading calls; not for secrets.
    uint64_t x = cl->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    cl->rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

static server_t *route_balanced(thrift_cluster_t *cl, const ccall_t *c) {
    uint64_t now = thrift__now_us();
    size_t n = cl->nservers;
    if (!n)
        return NULL;
    size_t start;
    if (cl->balance == THRIFT_BALANCE_RANDOM)
        start = (size_t)(rng_next(cl) % n);
    else
        start = cl->rr++ % n;
    server_t *best = NULL;
    for (size_t i = 0; i < n; i++) {
        server_t *s = cl->servers[(start + i) % n];
        if (!eligible(cl, c, s, now))
            continue;
        if (cl->balance != THRIFT_BALANCE_LEAST_OUTSTANDING)
            return s;
        if (!best || s->outstanding < best->outstanding)
            best = s;
    }
    return best;
}

static const route_t *find_route(const thrift_cluster_t *cl, const thrift_function_def_t *fn) {
    const route_t *def = NULL;
    for (size_t i = 0; i < cl->nroutes; i++) {
        if (cl->routes[i].fn == fn)
            return &cl->routes[i];
        if (!cl->routes[i].fn)
            def = &cl->routes[i];
    }
    return def;
}

/* Appends the routing text of one argument value. */
static bool key_of_value(thrift_cluster_t *cl, const thrift_value_t *v, thrift_buffer_t *out) {
    char num[64];
    int n;
    switch (thrift_value_kind(v)) {
    case THRIFT_KIND_STRING:
    case THRIFT_KIND_BINARY: {
        size_t len = 0;
        const uint8_t *p = thrift_value_bytes(v, &len);
        return thrift_buffer_append(out, p ? (const void *)p : "", len) == THRIFT_OK;
    }
    case THRIFT_KIND_BOOL:
        return thrift_buffer_append(out, thrift_value_bool(v) ? "1" : "0", 1) == THRIFT_OK;
    case THRIFT_KIND_I8:
    case THRIFT_KIND_I16:
    case THRIFT_KIND_I32:
    case THRIFT_KIND_I64:
    case THRIFT_KIND_ENUM:
        n = snprintf(num, sizeof num, "%lld", (long long)thrift_value_int(v));
        return n > 0 && thrift_buffer_append(out, num, (size_t)n) == THRIFT_OK;
    case THRIFT_KIND_DOUBLE:
        n = snprintf(num, sizeof num, "%.17g", thrift_value_double(v));
        return n > 0 && thrift_buffer_append(out, num, (size_t)n) == THRIFT_OK;
    default:
        return thrift_encode(THRIFT_PROTO_BINARY, v, out, NULL) == THRIFT_OK;
    }
    (void)cl;
}

/* The call's key hash, when its method routes by key and the key is there. */
static bool call_key(thrift_cluster_t *cl, const thrift_function_def_t *fn,
                     const thrift_value_t *args, uint64_t *h) {
    const route_t *r = find_route(cl, fn);
    if (!r || r->kind == ROUTE_NONE || !args)
        return false;
    thrift_buffer_clear(cl->keybuf);
    if (r->kind == ROUTE_ARG) {
        if (!thrift_value_has(args, r->arg))
            return false;
        const thrift_value_t *v = thrift_value_get(args, r->arg);
        if (!v || !key_of_value(cl, v, cl->keybuf))
            return false;
    } else if (!r->cb(fn->name, args, cl->keybuf, r->ud)) {
        return false;
    }
    *h = hash64(thrift_buffer_data(cl->keybuf), thrift_buffer_len(cl->keybuf));
    return true;
}

static server_t *route_call(thrift_cluster_t *cl, const ccall_t *c) {
    return c->has_key ? route_hashed(cl, c, c->key) : route_balanced(cl, c);
}

const char *thrift_cluster_route_key(thrift_cluster_t *cl, const void *key, size_t len) {
    if (!cl)
        return NULL;
    server_t *s = route_hashed(cl, NULL, hash64(key ? key : "", len));
    return s ? s->name : NULL;
}

const char *thrift_cluster_route(thrift_cluster_t *cl, const char *method,
                                 const thrift_value_t *args) {
    const thrift_function_def_t *fn =
        cl && method ? thrift_service_def_find_function(cl->service, method) : NULL;
    uint64_t h;
    if (!fn || !call_key(cl, fn, args, &h))
        return NULL;
    server_t *s = route_hashed(cl, NULL, h);
    return s ? s->name : NULL;
}

/* ---- lifecycle --------------------------------------------------------------------------- */

static void cluster_destroy(thrift_cluster_t *cl);

static bool maybe_destroy(thrift_cluster_t *cl) {
    if (cl->free_requested && cl->depth == 0) {
        cluster_destroy(cl);
        return true;
    }
    return false;
}

static thrift_cluster_t *cluster_alloc(struct ev_loop *loop, thrift_schema_t *schema,
                                       const char *service, const thrift_conn_options_t *copts,
                                       const thrift_pool_options_t *popts, thrift_error_t *err) {
    if (!loop || !schema) {
        thrift__error_set(err, THRIFT_MISUSE, "loop and schema are required");
        return NULL;
    }
    const thrift_service_def_t *svc = thrift__schema_service_or_default(schema, service, err);
    if (!svc)
        return NULL;
    thrift_cluster_t *cl = calloc(1, sizeof *cl);
    thrift_pool_options_t *po = thrift_pool_options_new();
    thrift_buffer_t *kb = thrift_buffer_new();
    if (!cl || !po || !kb) {
        free(cl);
        thrift_pool_options_free(po);
        thrift_buffer_free(kb);
        thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        return NULL;
    }
    if (popts)
        thrift__pool_options_copy(po, popts);
    cl->popts = po;
    cl->keybuf = kb;
    cl->loop = loop;
    cl->schema = thrift_schema_ref(schema);
    cl->service = svc;
    if (copts)
        cl->copts = *copts;
    else
        thrift__conn_options_defaults(&cl->copts);
    cl->points = 160;
    cl->scheme = THRIFT_HASH_CONSISTENT;
    cl->balance = THRIFT_BALANCE_ROUND_ROBIN;
    cl->rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)cl ^ thrift__now_us();
    // Round-robin starts at a random server: short-lived clients (one CLI
    // call each) would otherwise all pick the first one.
    cl->rr = (size_t)rng_next(cl);
    cl->retries = 2;
    cl->backoff_initial_ms = 1000;
    cl->backoff_max_ms = 30000;
    thrift__response_reset(&cl->last);
    return cl;
}

thrift_cluster_t *thrift_cluster_new(struct ev_loop *loop, thrift_schema_t *schema,
                                     const char *service, const thrift_conn_options_t *conn_opts,
                                     const thrift_pool_options_t *pool_opts, thrift_error_t *err) {
    return cluster_alloc(loop, schema, service, conn_opts, pool_opts, err);
}

thrift_cluster_t *thrift_cluster_open(thrift_schema_t *schema, const char *service,
                                      const thrift_conn_options_t *conn_opts,
                                      const thrift_pool_options_t *pool_opts, thrift_error_t *err) {
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    if (!loop) {
        thrift__error_set(err, THRIFT_NOMEM, "cannot create an event loop");
        return NULL;
    }
    thrift_cluster_t *cl = cluster_alloc(loop, schema, service, conn_opts, pool_opts, err);
    if (!cl) {
        ev_loop_destroy(loop);
        return NULL;
    }
    cl->own_loop = true;
    thrift__busy_poll_init(&cl->busy_poll, cl->copts.busy_poll_us);
    return cl;
}

static void cluster_destroy(thrift_cluster_t *cl) {
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift__error_set(&err, THRIFT_CLOSED, "cluster freed");
    cl->depth++;
    // Every caller hears once, now; what the pools report later finds the
    // calls orphaned and only frees them.
    for (ccall_t *c = cl->calls, *next; c; c = next) {
        next = c->next;
        c->cl = NULL;
        if (c->cb) {
            thrift_response_t r;
            memset(&r, 0, sizeof r);
            thrift__response_set_error(&r, &err);
            r.attempts = c->ntried;
            c->cb(cl, &r, c->ud);
            thrift__response_reset(&r);
        }
    }
    cl->calls = NULL;
    for (allcall_t *a = cl->alls, *next; a; a = next) {
        next = a->next;
        a->cl = NULL;
        for (size_t i = 0; i < a->rs->count; i++) {
            thrift_response_t *r = &a->rs->items[i];
            if (!r->attempts) // still waiting for this server
                thrift__response_set_error(r, &err);
        }
        if (a->cb)
            a->cb(cl, a->rs, a->ud);
    }
    cl->alls = NULL;
    cl->depth--;
    for (size_t i = 0; i < cl->nservers; i++) {
        server_t *s = cl->servers[i];
        s->removed = true;
        probe_cancel(s);
        // The cluster's own reference keeps `s` alive while the pool's
        // teardown reports the calls in flight to us.
        thrift_pool_t *pool = s->pool;
        s->pool = NULL;
        thrift_pool_free(pool);
        server_unref(s);
    }
    free(cl->servers);
    free(cl->ring);
    for (size_t i = 0; i < cl->nroutes; i++)
        free(cl->routes[i].arg);
    free(cl->routes);
    free(cl->idempotent);
    thrift_buffer_free(cl->keybuf);
    thrift_pool_options_free(cl->popts);
    thrift__response_reset(&cl->last);
    thrift_responses_free(cl->last_all);
    thrift_schema_unref(cl->schema);
    struct ev_loop *own = cl->own_loop ? cl->loop : NULL;
    free(cl);
    if (own)
        ev_loop_destroy(own);
}

void thrift_cluster_free(thrift_cluster_t *cl) {
    if (!cl || cl->free_requested)
        return;
    cl->free_requested = true;
    maybe_destroy(cl);
}

thrift_status_t thrift_cluster_add_server(thrift_cluster_t *cl, const char *name,
                                          const char *address, thrift_error_t *err) {
    if (!cl || !name || !*name || !address)
        return thrift__error_set(err, THRIFT_MISUSE, "cluster, name and address are required");
    if (strlen(name) > 255)
        return thrift__error_set(err, THRIFT_LIMIT, "server name longer than 255 bytes");
    if (find_server(cl, name, NULL))
        return thrift__error_set(err, THRIFT_MISUSE, "server '%s' already added", name);
    if (cl->nservers == cl->cap) {
        size_t ncap = cl->cap ? cl->cap * 2 : 8;
        server_t **ns = realloc(cl->servers, ncap * sizeof *ns);
        if (!ns)
            return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        cl->servers = ns;
        cl->cap = ncap;
    }
    server_t *s = calloc(1, sizeof *s);
    if (!s)
        return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
    s->cl = cl;
    s->name = strdup(name);
    s->address = strdup(address);
    s->refs = 1;
    s->probe_fd = -1;
    s->backoff_ms = cl->backoff_initial_ms;
    if (!s->name || !s->address) {
        free(s->name);
        free(s->address);
        free(s);
        return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
    }
    s->pool = thrift_pool_new(cl->loop, cl->schema, cl->service->name, address, &cl->copts,
                              cl->popts, err);
    if (!s->pool) {
        free(s->name);
        free(s->address);
        free(s);
        return err ? err->code : THRIFT_INVALID;
    }
    cl->servers[cl->nservers++] = s;
    cl->ring_dirty = true;
    return THRIFT_OK;
}

thrift_status_t thrift_cluster_remove_server(thrift_cluster_t *cl, const char *name,
                                             thrift_error_t *err) {
    size_t i;
    server_t *s = cl ? find_server(cl, name, &i) : NULL;
    if (!s)
        return thrift__error_set(err, THRIFT_NOT_FOUND, "no server '%s'", name ? name : "(null)");
    memmove(&cl->servers[i], &cl->servers[i + 1], (cl->nservers - i - 1) * sizeof *cl->servers);
    cl->nservers--;
    cl->ring_dirty = true;
    s->removed = true;
    probe_cancel(s);
    // In-flight calls hold references: the pool closes, they finish.
    thrift_pool_close(s->pool);
    server_unref(s);
    return THRIFT_OK;
}

thrift_pool_t *thrift_cluster_get_server(thrift_cluster_t *cl, const char *name) {
    server_t *s = cl ? find_server(cl, name, NULL) : NULL;
    return s ? s->pool : NULL;
}

struct ev_loop *thrift__cluster_loop(const thrift_cluster_t *cl) { return cl->loop; }

size_t thrift_cluster_server_count(const thrift_cluster_t *cl) { return cl ? cl->nservers : 0; }

const char *thrift_cluster_server_name(const thrift_cluster_t *cl, size_t i) {
    return cl && i < cl->nservers ? cl->servers[i]->name : NULL;
}

bool thrift_cluster_server_is_up(const thrift_cluster_t *cl, const char *name) {
    server_t *s = cl ? find_server(cl, name, NULL) : NULL;
    return s && !s->down;
}

/* ---- configuration ------------------------------------------------------------------------ */

static const thrift_function_def_t *method_fn(thrift_cluster_t *cl, const char *method,
                                              thrift_error_t *err) {
    const thrift_function_def_t *fn = thrift_service_def_find_function(cl->service, method);
    if (!fn)
        thrift__error_set(err, THRIFT_NOT_FOUND, "service %s has no method '%s'", cl->service->name,
                          method);
    return fn;
}

static route_t *route_slot(thrift_cluster_t *cl, const thrift_function_def_t *fn) {
    for (size_t i = 0; i < cl->nroutes; i++)
        if (cl->routes[i].fn == fn) {
            free(cl->routes[i].arg);
            cl->routes[i].arg = NULL;
            return &cl->routes[i];
        }
    route_t *nr = realloc(cl->routes, (cl->nroutes + 1) * sizeof *nr);
    if (!nr)
        return NULL;
    cl->routes = nr;
    route_t *r = &nr[cl->nroutes++];
    memset(r, 0, sizeof *r);
    r->fn = fn;
    return r;
}

thrift_status_t thrift_cluster_route_by_arg(thrift_cluster_t *cl, const char *method,
                                            const char *arg, thrift_error_t *err) {
    if (!cl || !arg)
        return thrift__error_set(err, THRIFT_MISUSE, "cluster and argument name are required");
    const thrift_function_def_t *fn = NULL;
    if (method) {
        fn = method_fn(cl, method, err);
        if (!fn)
            return THRIFT_NOT_FOUND;
        if (!thrift_struct_def_find_field(fn->args, arg))
            return thrift__error_set(err, THRIFT_NOT_FOUND, "%s has no argument '%s'", method, arg);
    }
    char *copy = strdup(arg);
    route_t *r = copy ? route_slot(cl, fn) : NULL;
    if (!r) {
        free(copy);
        return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
    }
    r->kind = ROUTE_ARG;
    r->arg = copy;
    return THRIFT_OK;
}

thrift_status_t thrift_cluster_route_by_key(thrift_cluster_t *cl, const char *method,
                                            thrift_cluster_key_cb cb, void *ud,
                                            thrift_error_t *err) {
    if (!cl)
        return thrift__error_set(err, THRIFT_MISUSE, "no cluster");
    const thrift_function_def_t *fn = NULL;
    if (method && !(fn = method_fn(cl, method, err)))
        return THRIFT_NOT_FOUND;
    route_t *r = route_slot(cl, fn);
    if (!r)
        return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
    r->kind = cb ? ROUTE_KEY : ROUTE_NONE;
    r->cb = cb;
    r->ud = ud;
    return THRIFT_OK;
}

void thrift_cluster_set_hash_scheme(thrift_cluster_t *cl, thrift_hash_scheme_t scheme) {
    if (cl)
        cl->scheme = scheme == THRIFT_HASH_MODULO ? THRIFT_HASH_MODULO : THRIFT_HASH_CONSISTENT;
}

void thrift_cluster_set_ring_points(thrift_cluster_t *cl, unsigned points) {
    if (!cl)
        return;
    cl->points = points < 1 ? 1 : points > 4096 ? 4096 : points;
    cl->ring_dirty = true;
}

void thrift_cluster_set_balance(thrift_cluster_t *cl, thrift_balance_t balance) {
    if (cl)
        cl->balance = balance <= THRIFT_BALANCE_LEAST_OUTSTANDING ? balance
                                                                  : THRIFT_BALANCE_ROUND_ROBIN;
}

static bool is_idempotent(const thrift_cluster_t *cl, const thrift_function_def_t *fn) {
    for (size_t i = 0; i < cl->nidempotent; i++)
        if (cl->idempotent[i] == fn)
            return true;
    return false;
}

thrift_status_t thrift_cluster_set_idempotent(thrift_cluster_t *cl, const char *method,
                                              bool idempotent, thrift_error_t *err) {
    if (!cl || !method)
        return thrift__error_set(err, THRIFT_MISUSE, "cluster and method are required");
    const thrift_function_def_t *fn = method_fn(cl, method, err);
    if (!fn)
        return THRIFT_NOT_FOUND;
    for (size_t i = 0; i < cl->nidempotent; i++)
        if (cl->idempotent[i] == fn) {
            if (!idempotent)
                cl->idempotent[i] = cl->idempotent[--cl->nidempotent];
            return THRIFT_OK;
        }
    if (!idempotent)
        return THRIFT_OK;
    const thrift_function_def_t **n =
        realloc(cl->idempotent, (cl->nidempotent + 1) * sizeof *n);
    if (!n)
        return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
    cl->idempotent = n;
    n[cl->nidempotent++] = fn;
    return THRIFT_OK;
}

void thrift_cluster_set_retries(thrift_cluster_t *cl, unsigned retries) {
    if (cl)
        cl->retries = retries > MAX_TRIED - 1 ? MAX_TRIED - 1 : retries;
}

void thrift_cluster_set_backoff_ms(thrift_cluster_t *cl, uint32_t initial_ms, uint32_t max_ms) {
    if (!cl)
        return;
    cl->backoff_initial_ms = initial_ms ? initial_ms : 1;
    cl->backoff_max_ms = max_ms < cl->backoff_initial_ms ? cl->backoff_initial_ms : max_ms;
    for (size_t i = 0; i < cl->nservers; i++)
        if (!cl->servers[i]->down)
            cl->servers[i]->backoff_ms = cl->backoff_initial_ms;
}

/* ---- routed calls ----------------------------------------------------------------------------- */

static void ccall_free(ccall_t *c) {
    thrift_arena_free(c->arena);
    thrift__kv_free(c->headers);
    free(c);
}

static void ccall_unlink(thrift_cluster_t *cl, ccall_t *c) {
    if (c->prev)
        c->prev->next = c->next;
    else if (cl->calls == c)
        cl->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void ccall_pool_cb(thrift_pool_t *pool, thrift_response_t *r, void *ud);

/* Sends the call to `s`; false (with err) when the pool refused it. */
static bool ccall_send(thrift_cluster_t *cl, ccall_t *c, server_t *s, thrift_error_t *err) {
    if (thrift__pool_call(s->pool, c->fn->name, c->args, c->timeout_ms, c->headers, ccall_pool_cb,
                          c, err) != THRIFT_OK)
        return false;
    s->refs++;
    s->outstanding++;
    c->server = s;
    if (c->ntried < MAX_TRIED)
        c->tried[c->ntried++] = s;
    return true;
    (void)cl;
}

static void ccall_pool_cb(thrift_pool_t *pool, thrift_response_t *r, void *ud) {
    (void)pool;
    ccall_t *c = ud;
    thrift_cluster_t *cl = c->cl;
    server_t *s = c->server;
    c->server = NULL;
    if (!cl) { // the cluster is gone and told the caller already
        server_unref(s);
        ccall_free(c);
        return;
    }
    s->outstanding--;
    cl->depth++;
    if (r->server_failure && !s->removed)
        server_mark_down(cl, s);
    if (r->server_failure && is_idempotent(cl, c->fn) && c->ntried <= cl->retries &&
        !cl->free_requested) {
        server_t *next = route_call(cl, c);
        thrift_error_t err;
        thrift_error_clear(&err);
        if (next && ccall_send(cl, c, next, &err)) {
            server_unref(s);
            cl->depth--;
            return;
        }
    }
    ccall_unlink(cl, c);
    if (c->cb) {
        r->server = s->name;
        r->address = s->address;
        r->elapsed_us = thrift__now_us() - c->start_us;
        r->attempts = c->ntried;
        c->cb(cl, r, c->ud);
    }
    server_unref(s);
    cl->depth--;
    ccall_free(c);
    maybe_destroy(cl);
}

static const thrift_function_def_t *check_call(thrift_cluster_t *cl, const char *method,
                                               const thrift_value_t *args, thrift_error_t *err) {
    if (!cl) {
        thrift__error_set(err, THRIFT_MISUSE, "no cluster");
        return NULL;
    }
    if (cl->free_requested) {
        thrift__error_set(err, THRIFT_CLOSED, "cluster is freed");
        return NULL;
    }
    const thrift_function_def_t *fn = method_fn(cl, method ? method : "(null)", err);
    if (fn && args && thrift_value_struct_def(args) != fn->args) {
        thrift__error_set(err, THRIFT_TYPE, "%s: args must be a %s struct", fn->name, fn->args->name);
        return NULL;
    }
    return fn;
}

thrift_status_t thrift_cluster_call_async(thrift_cluster_t *cl, const char *method,
                                          const thrift_value_t *args, thrift_cluster_call_cb cb,
                                          void *ud, thrift_error_t *err) {
    return thrift_cluster_call_async_ex(cl, method, args, 0, NULL, 0, cb, ud, err);
}

thrift_status_t thrift_cluster_call_async_ex(thrift_cluster_t *cl, const char *method,
                                             const thrift_value_t *args, uint32_t timeout_ms,
                                             const char *const *headers, size_t header_count,
                                             thrift_cluster_call_cb cb, void *ud,
                                             thrift_error_t *err) {
    const thrift_function_def_t *fn = check_call(cl, method, args, err);
    if (!fn)
        return err && err->code ? err->code : THRIFT_NOT_FOUND;
    ccall_t *c = calloc(1, sizeof *c);
    if (!c)
        return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
    c->timeout_ms = timeout_ms;
    thrift_status_t hst = thrift__kv_from_pairs(&c->headers, headers, header_count, err);
    if (hst) {
        free(c);
        return hst;
    }
    c->cl = cl;
    c->fn = fn;
    c->cb = cb;
    c->ud = ud;
    c->start_us = thrift__now_us();
    c->args = args;
    c->has_key = call_key(cl, fn, args, &c->key);
    server_t *s = route_call(cl, c);
    if (!s) {
        ccall_free(c);
        return thrift__error_set(err, THRIFT_NOT_FOUND, "no server of %zu is up", cl->nservers);
    }
    if (!ccall_send(cl, c, s, err)) {
        ccall_free(c);
        return err && err->code ? err->code : THRIFT_INVALID;
    }
    // Retries resend the args: keep a copy of them past this call.
    c->args = NULL;
    if (args && is_idempotent(cl, fn) && cl->retries) {
        c->arena = thrift_arena_new(NULL);
        c->args = c->arena ? thrift_value_clone(c->arena, args) : NULL;
    }
    c->next = cl->calls;
    if (cl->calls)
        cl->calls->prev = c;
    cl->calls = c;
    return THRIFT_OK;
}

/* ---- replicated calls ---------------------------------------------------------------------------- */

static void allcall_finish(allcall_t *a) {
    thrift_cluster_t *cl = a->cl;
    if (!cl) {
        thrift_responses_free(a->rs);
        free(a);
        return;
    }
    if (a->prev)
        a->prev->next = a->next;
    else if (cl->alls == a)
        cl->alls = a->next;
    if (a->next)
        a->next->prev = a->prev;
    cl->depth++;
    if (a->cb)
        a->cb(cl, a->rs, a->ud);
    cl->depth--;
    // A blocking caller kept the responses.
    if (cl->last_all != a->rs)
        thrift_responses_free(a->rs);
    free(a);
    maybe_destroy(cl);
}

static void allpart_cb(thrift_pool_t *pool, thrift_response_t *r, void *ud) {
    (void)pool;
    allpart_t *part = ud;
    allcall_t *a = part->all;
    server_t *s = part->server;
    thrift_response_t *dst = &a->rs->items[part->index];
    if (a->cl) {
        a->cl->depth++;
        if (r->server_failure && !s->removed)
            server_mark_down(a->cl, s);
        a->cl->depth--;
        thrift_response_t keep = *r;
        keep.arena = thrift_response_take_arena(r);
        keep.result = NULL;
        if (keep.value && !keep.arena) {
            keep.arena = thrift_arena_new(NULL);
            keep.value = keep.arena ? thrift_value_clone(keep.arena, r->value) : NULL;
        }
        keep.server = s->name;
        keep.address = s->address;
        keep.attempts = 1;
        keep.elapsed_us = thrift__now_us() - a->start_us;
        thrift__response_keep_names(&keep);
        *dst = keep;
        if (!dst->status)
            a->rs->ok++;
    }
    s->outstanding--;
    server_unref(s);
    free(part);
    if (--a->remaining == 0)
        allcall_finish(a);
}

thrift_status_t thrift_cluster_call_all_async(thrift_cluster_t *cl, const char *method,
                                              const thrift_value_t *args,
                                              thrift_cluster_all_cb cb, void *ud,
                                              thrift_error_t *err) {
    const thrift_function_def_t *fn = check_call(cl, method, args, err);
    if (!fn)
        return err && err->code ? err->code : THRIFT_NOT_FOUND;
    if (!cl->nservers)
        return thrift__error_set(err, THRIFT_NOT_FOUND, "no servers");
    allcall_t *a = calloc(1, sizeof *a);
    thrift_responses_t *rs = calloc(1, sizeof *rs);
    thrift_response_t *items = calloc(cl->nservers, sizeof *items);
    if (!a || !rs || !items) {
        free(a);
        free(rs);
        free(items);
        return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
    }
    rs->items = items;
    rs->count = cl->nservers;
    a->rs = rs;
    a->cl = cl;
    a->cb = cb;
    a->ud = ud;
    a->start_us = thrift__now_us();
    // Count every part first so an early answer cannot finish the call.
    a->remaining = cl->nservers + 1;
    for (size_t i = 0; i < cl->nservers; i++) {
        server_t *s = cl->servers[i];
        thrift_response_t *r = &items[i];
        thrift__response_reset(r);
        r->server = s->name;
        r->address = s->address;
        (void)server_usable(cl, s, thrift__now_us()); // starts due probes
        allpart_t *part = calloc(1, sizeof *part);
        thrift_error_t perr;
        thrift_error_clear(&perr);
        if (part) {
            part->all = a;
            part->index = i;
            part->server = s;
        }
        if (!part) {
            thrift__error_set(&perr, THRIFT_NOMEM, "out of memory");
        } else if (thrift_pool_call_async(s->pool, fn->name, args, allpart_cb, part, &perr) ==
                   THRIFT_OK) {
            s->refs++;
            s->outstanding++;
            continue;
        }
        free(part);
        // Refused up front (e.g. a closed pool): this server's error now.
        thrift__response_set_error(r, &perr);
        r->attempts = 1;
        thrift__response_keep_names(r);
        a->remaining--;
    }
    if (a->remaining == 1) {
        // Every server refused up front: report it, not a callback.
        thrift_error_t first = items[0].err;
        thrift_responses_free(rs);
        free(a);
        if (err && !err->code)
            *err = first;
        return first.code ? first.code : THRIFT_INVALID;
    }
    a->remaining--;
    a->next = cl->alls;
    if (cl->alls)
        cl->alls->prev = a;
    cl->alls = a;
    return THRIFT_OK;
}

/* ---- blocking ------------------------------------------------------------------------------------ */

static void blocking_cb(thrift_cluster_t *cl, thrift_response_t *r, void *ud) {
    (void)ud;
    thrift__response_keep(&cl->last, r);
    thrift__response_keep_names(&cl->last);
    cl->last_done = true;
}

const thrift_response_t *thrift_cluster_call(thrift_cluster_t *cl, const char *method,
                                             const thrift_value_t *args, thrift_error_t *err) {
    if (!cl || !cl->own_loop) {
        thrift__error_set(err, THRIFT_MISUSE, "thrift_cluster_call needs a thrift_cluster_open cluster");
        return NULL;
    }
    thrift__response_reset(&cl->last);
    cl->last_done = false;
    if (thrift_cluster_call_async(cl, method, args, blocking_cb, NULL, err) != THRIFT_OK)
        return NULL;
    thrift__wait_done(cl->loop, &cl->last_done, &cl->busy_poll);
    return &cl->last;
}

static void blocking_all_cb(thrift_cluster_t *cl, const thrift_responses_t *rs, void *ud) {
    (void)ud;
    cl->last_all = (thrift_responses_t *)rs;
    cl->last_done = true;
}

thrift_responses_t *thrift_cluster_call_all(thrift_cluster_t *cl, const char *method,
                                            const thrift_value_t *args, thrift_error_t *err) {
    if (!cl || !cl->own_loop) {
        thrift__error_set(err, THRIFT_MISUSE,
                          "thrift_cluster_call_all needs a thrift_cluster_open cluster");
        return NULL;
    }
    cl->last_all = NULL;
    cl->last_done = false;
    if (thrift_cluster_call_all_async(cl, method, args, blocking_all_cb, NULL, err) != THRIFT_OK)
        return NULL;
    thrift__wait_done(cl->loop, &cl->last_done, &cl->busy_poll);
    thrift_responses_t *rs = cl->last_all;
    cl->last_all = NULL;
    return rs;
}
