/* ServerSets on ZooKeeper: a cluster that follows the members of a
 * ServerSet (thrift_serverset_t) and a server that announces itself in one
 * (thrift_announcement_t).
 *
 * Why the multi-threaded client (libzookeeper_mt) and not the single-threaded
 * one driven from our loop through zookeeper_interest/zookeeper_process: a
 * ZooKeeper session lives on heartbeats, and the loops we are given are not
 * always running -- a blocking cluster runs its private loop only inside a
 * call, a server's handler may hold its loop for a while.  With the st client
 * a loop that does not turn for two thirds of the session timeout expires the
 * session, and an announced server would vanish from its ServerSet while it
 * is perfectly healthy.  The mt client heartbeats on its own threads; all it
 * reports (watches, completions, session states) is copied into events and
 * handed to the loop thread through a mutex queue and an ev_async, drained in
 * full, so the cluster is only ever touched on its loop thread.
 *
 * Each ZooKeeper handle has a generation; a session expiry closes the handle
 * and opens a new one (re-connect, re-read, re-watch), and events of an older
 * generation are dropped when drained. */
#include <ev.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynthrift/pool.h"
#include "net/net_impl.h"
#include "net/pool_impl.h"

#ifdef DYNTHRIFT_HAVE_ZOOKEEPER
// The mt client's header declares its synchronous calls only with THREADED.
#ifndef THREADED
#define THREADED 1
#endif
#include <zookeeper/zookeeper.h>

#define ZK_MAX_URL 4096
#define ZK_MAX_DATA (1u << 20) /* ZooKeeper's own default jute.maxbuffer */
#define ZK_MAX_CHILDREN 100000
#define ZK_DEFAULT_TIMEOUT_MS 10000
#define MEMBER_PREFIX "member_"

/* ---- zk:// URLs -------------------------------------------------------------- */

typedef struct zk_url {
    char *hosts;    /* "h1:2181,h2:2181" */
    char *path;     /* "/path/to/service", no trailing '/' */
    char *endpoint; /* additional endpoint name, or NULL */
} zk_url_t;

static void zk_url_clear(zk_url_t *u) {
    free(u->hosts);
    free(u->path);
    free(u->endpoint);
    memset(u, 0, sizeof *u);
}

static char *dup_range(const char *p, size_t n) {
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = 0;
    }
    return s;
}

static thrift_status_t zk_url_parse(const char *url, zk_url_t *u, thrift_error_t *err) {
    memset(u, 0, sizeof *u);
    if (!url || strncmp(url, "zk://", 5) != 0)
        return thrift__error_set(err, THRIFT_INVALID, "'%s': expected zk://host:port[,...]/path",
                                 url ? url : "(null)");
    size_t len = strlen(url);
    if (len > ZK_MAX_URL)
        return thrift__error_set(err, THRIFT_LIMIT, "zk:// URL longer than %d bytes", ZK_MAX_URL);
    const char *hosts = url + 5;
    const char *slash = strchr(hosts, '/');
    if (!slash || slash == hosts)
        return thrift__error_set(err, THRIFT_INVALID, "'%s': no ZooKeeper hosts before the path",
                                 url);
    for (const char *p = hosts; p < slash; p++)
        if (*p <= ' ' || *p == '#')
            return thrift__error_set(err, THRIFT_INVALID, "'%s': bad character in the hosts", url);
    const char *hash = strchr(slash, '#');
    size_t plen = (size_t)((hash ? hash : url + len) - slash);
    while (plen > 1 && slash[plen - 1] == '/')
        plen--;
    if (plen < 2)
        return thrift__error_set(err, THRIFT_INVALID, "'%s': no ServerSet path", url);
    if (hash && !hash[1])
        return thrift__error_set(err, THRIFT_INVALID, "'%s': empty endpoint name after '#'", url);
    u->hosts = dup_range(hosts, (size_t)(slash - hosts));
    u->path = dup_range(slash, plen);
    u->endpoint = hash ? strdup(hash + 1) : NULL;
    if (!u->hosts || !u->path || (hash && !u->endpoint)) {
        zk_url_clear(u);
        return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
    }
    return THRIFT_OK;
}

/* ---- a ZooKeeper session handed to a libev loop ------------------------------ */

typedef enum { ZE_WATCH, ZE_CHILDREN, ZE_DATA, ZE_CREATED, ZE_EXISTS } zk_kind_t;

typedef struct zk_event {
    struct zk_event *next;
    zk_kind_t kind;
    unsigned gen;
    int type, state; /* ZE_WATCH */
    int rc;          /* completions */
    char *path;      /* the watched path; the created node */
    char **names;    /* ZE_CHILDREN */
    size_t nnames;
    char *data; /* ZE_DATA: NULL when the node has no data */
    size_t len;
    char *member;       /* ZE_DATA: the member the read was for */
    uint64_t queued_us; /* when ZooKeeper's thread handed it over */
} zk_event_t;

typedef struct zk_session zk_session_t;

/* The context of one handle: its watchers and global watcher get it. */
typedef struct zk_conn {
    zk_session_t *zs;
    unsigned gen;
} zk_conn_t;

/* The `data` of one asynchronous request (freed by its completion). */
typedef struct zk_req {
    zk_session_t *zs;
    unsigned gen;
    char member[]; /* NUL-terminated, may be empty */
} zk_req_t;

struct zk_session {
    struct ev_loop *loop;
    char *hosts;
    int timeout_ms;
    zhandle_t *zh;
    zk_conn_t *conn;
    unsigned gen;
    unsigned sessions;
    bool connected;
    /* owner's hooks, on the loop thread */
    void (*on_connected)(zk_session_t *zs);
    void (*on_expired)(zk_session_t *zs);
    void (*on_event)(zk_session_t *zs, const zk_event_t *e);
    /* shared with ZooKeeper's threads, under mu */
    pthread_mutex_t mu;
    zk_event_t *head, *tail;
    bool lost; /* an event could not be queued (out of memory): re-read all */
    ev_async async;
    ev_timer retry; /* zookeeper_init failed: try again */
};

static void zs_log(const char *message) {
    (void)message; // library code never prints; ZooKeeper's chatter is dropped
}

static void event_free(zk_event_t *e) {
    free(e->path);
    for (size_t i = 0; i < e->nnames; i++)
        free(e->names[i]);
    free(e->names);
    free(e->data);
    free(e->member);
    free(e);
}

/* Any thread. */
static void zs_push(zk_session_t *zs, zk_event_t *e) {
    pthread_mutex_lock(&zs->mu);
    if (!e) {
        zs->lost = true;
    } else {
        if (zs->tail)
            zs->tail->next = e;
        else
            zs->head = e;
        zs->tail = e;
    }
    pthread_mutex_unlock(&zs->mu);
    ev_async_send(zs->loop, &zs->async);
}

static zk_event_t *event_new(zk_kind_t kind, unsigned gen) {
    zk_event_t *e = calloc(1, sizeof *e);
    if (e) {
        e->kind = kind;
        e->gen = gen;
        e->queued_us = thrift__now_us();
    }
    return e;
}

/* ZooKeeper's threads: copy, queue, wake the loop. */
static void zs_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx) {
    (void)zh;
    const zk_conn_t *c = ctx;
    zk_event_t *e = event_new(ZE_WATCH, c->gen);
    if (e) {
        e->type = type;
        e->state = state;
        if (path && !(e->path = strdup(path))) {
            free(e);
            e = NULL;
        }
    }
    zs_push(c->zs, e);
}

static void children_done(int rc, const struct String_vector *sv, const void *data) {
    zk_req_t *r = (zk_req_t *)data;
    zk_event_t *e = event_new(ZE_CHILDREN, r->gen);
    if (e) {
        e->rc = rc;
        size_t n = rc == ZOK && sv && sv->count > 0 ? (size_t)sv->count : 0;
        if (n > ZK_MAX_CHILDREN)
            n = ZK_MAX_CHILDREN;
        if (n && !(e->names = calloc(n, sizeof *e->names))) {
            free(e);
            e = NULL;
        }
        for (size_t i = 0; e && i < n; i++) {
            if (!(e->names[e->nnames] = strdup(sv->data[i] ? sv->data[i] : ""))) {
                event_free(e);
                e = NULL;
                break;
            }
            e->nnames++;
        }
    }
    zs_push(r->zs, e);
    free(r);
}

static void data_done(int rc, const char *value, int value_len, const struct Stat *stat,
                      const void *data) {
    (void)stat;
    zk_req_t *r = (zk_req_t *)data;
    zk_event_t *e = event_new(ZE_DATA, r->gen);
    if (e) {
        e->rc = rc;
        e->member = strdup(r->member);
        size_t len = rc == ZOK && value && value_len > 0 ? (size_t)value_len : 0;
        if (len > ZK_MAX_DATA)
            len = 0; // more than any ServiceInstance: read as "no data", i.e. not ALIVE
        if (len) {
            e->data = dup_range(value, len);
            e->len = len;
        }
        if (!e->member || (len && !e->data)) {
            event_free(e);
            e = NULL;
        }
    }
    zs_push(r->zs, e);
    free(r);
}

static void created_done(int rc, const char *value, const void *data) {
    zk_req_t *r = (zk_req_t *)data;
    zk_event_t *e = event_new(ZE_CREATED, r->gen);
    if (e) {
        e->rc = rc;
        if (rc == ZOK && value && !(e->path = strdup(value))) {
            free(e);
            e = NULL;
        }
    }
    zs_push(r->zs, e);
    free(r);
}

static void exists_done(int rc, const struct Stat *stat, const void *data) {
    (void)stat;
    zk_req_t *r = (zk_req_t *)data;
    zk_event_t *e = event_new(ZE_EXISTS, r->gen);
    if (e)
        e->rc = rc;
    zs_push(r->zs, e);
    free(r);
}

static void parent_done(int rc, const char *value, const void *data) {
    (void)rc; // "exists already" is the usual answer; the member create reports the rest
    (void)value;
    free((void *)data);
}

/* Loop thread. */
static zk_req_t *req_new(zk_session_t *zs, const char *member) {
    size_t n = member ? strlen(member) : 0;
    zk_req_t *r = malloc(sizeof *r + n + 1);
    if (r) {
        r->zs = zs;
        r->gen = zs->gen;
        memcpy(r->member, member ? member : "", n + 1);
    }
    return r;
}

static void zs_retry_cb(struct ev_loop *loop, ev_timer *w, int revents);

/* Opens a new handle (a new generation). */
static void zs_open(zk_session_t *zs) {
    zs->gen++;
    zs->connected = false;
    zk_conn_t *c = malloc(sizeof *c);
    zhandle_t *zh = NULL;
    if (c) {
        c->zs = zs;
        c->gen = zs->gen;
        zh = zookeeper_init2(zs->hosts, zs_watcher, zs->timeout_ms, NULL, c, 0, zs_log);
    }
    if (!zh) {
        free(c);
        // Resolution failures and the like: try again in a second.
        ev_timer_set(&zs->retry, 1.0, 0.);
        ev_timer_start(zs->loop, &zs->retry);
        ev_unref(zs->loop);
        return;
    }
    zs->zh = zh;
    zs->conn = c;
    zs->sessions++;
}

/* Closes the handle; ZooKeeper's threads are joined, so nothing of this
 * generation is reported afterwards.  Closing a live session deletes its
 * ephemeral nodes at once. */
static void zs_close(zk_session_t *zs) {
    if (zs->zh) {
        zookeeper_close(zs->zh);
        zs->zh = NULL;
    }
    free(zs->conn);
    zs->conn = NULL;
    zs->connected = false;
    zs->gen++; // whatever is still queued is stale now
}

static void zs_retry_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)revents;
    zk_session_t *zs = w->data;
    ev_ref(loop);
    ev_timer_stop(loop, w);
    zs_open(zs);
}

static void zs_handle(zk_session_t *zs, const zk_event_t *e) {
    if (e->kind == ZE_WATCH && e->type == ZOO_SESSION_EVENT) {
        if (e->state == ZOO_CONNECTED_STATE) {
            zs->connected = true;
            zs->on_connected(zs);
        } else if (e->state == ZOO_EXPIRED_SESSION_STATE || e->state == ZOO_AUTH_FAILED_STATE) {
            // The session is over for good: a new one, then everything again.
            zs_close(zs);
            zs->on_expired(zs);
            zs_open(zs);
        } else {
            zs->connected = false; // connecting again: keep what we know
        }
        return;
    }
    zs->on_event(zs, e);
}

static void zs_async_cb(struct ev_loop *loop, ev_async *w, int revents) {
    (void)loop;
    (void)revents;
    zk_session_t *zs = w->data;
    pthread_mutex_lock(&zs->mu);
    zk_event_t *e = zs->head;
    bool lost = zs->lost;
    zs->head = zs->tail = NULL;
    zs->lost = false;
    pthread_mutex_unlock(&zs->mu);
    if (lost && zs->connected)
        zs->on_connected(zs); // an event was dropped: read everything again
    while (e) {
        zk_event_t *next = e->next;
        if (e->gen == zs->gen) // checked each time: handling may start a new generation
            zs_handle(zs, e);
        event_free(e);
        e = next;
    }
}

static thrift_status_t zs_init(zk_session_t *zs, struct ev_loop *loop, const char *hosts,
                               uint32_t timeout_ms, thrift_error_t *err) {
    zs->loop = loop;
    zs->timeout_ms =
        (int)(timeout_ms ? (timeout_ms > 600000 ? 600000 : timeout_ms) : ZK_DEFAULT_TIMEOUT_MS);
    zs->hosts = strdup(hosts);
    if (!zs->hosts)
        return thrift__error_set(err, THRIFT_NOMEM, "out of memory");
    if (pthread_mutex_init(&zs->mu, NULL) != 0) {
        free(zs->hosts);
        zs->hosts = NULL;
        return thrift__error_set(err, THRIFT_NOMEM, "cannot create a mutex");
    }
    ev_async_init(&zs->async, zs_async_cb);
    zs->async.data = zs;
    ev_async_start(loop, &zs->async);
    ev_unref(loop); // an internal watcher: it must not keep ev_run going
    ev_init(&zs->retry, zs_retry_cb);
    zs->retry.data = zs;
    zs_open(zs);
    return THRIFT_OK;
}

static void zs_destroy(zk_session_t *zs) {
    if (!zs->hosts)
        return;
    zs_close(zs);
    if (ev_is_active(&zs->retry)) {
        ev_ref(zs->loop);
        ev_timer_stop(zs->loop, &zs->retry);
    }
    ev_ref(zs->loop);
    ev_async_stop(zs->loop, &zs->async);
    for (zk_event_t *e = zs->head, *next; e; e = next) {
        next = e->next;
        event_free(e);
    }
    zs->head = zs->tail = NULL;
    pthread_mutex_destroy(&zs->mu);
    free(zs->hosts);
    zs->hosts = NULL;
}

/* Runs the loop until `done(ud)` or `timeout_ms`. */
static void wait_timer_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    *(bool *)w->data = true;
}

static thrift_status_t run_until(struct ev_loop *loop, bool (*done)(const void *), const void *ud,
                                 uint32_t timeout_ms, const char *what, thrift_error_t *err) {
    bool expired = false;
    ev_timer t;
    ev_timer_init(&t, wait_timer_cb, timeout_ms / 1000.0, 0.);
    t.data = &expired;
    ev_timer_start(loop, &t);
    while (!done(ud) && !expired)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &t);
    if (done(ud))
        return THRIFT_OK;
    return thrift__error_set(err, THRIFT_TIMEOUT, "%s within %u ms", what, (unsigned)timeout_ms);
}

/* ---- ServiceInstance JSON --------------------------------------------------- */

/* "host:port" of an ALIVE instance's endpoint (serviceEndpoint, or the named
 * additional endpoint); NULL when the member must not take calls: another
 * status, bad JSON, a missing required field.  Returns owned. */
static char *instance_endpoint(const char *data, size_t len, const char *endpoint_name) {
    if (!data || !len)
        return NULL;
    json_error_t je;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    char *out = NULL;
    const json_t *status = json_object_get(root, "status");
    const json_t *ep = json_object_get(root, "serviceEndpoint");
    if (endpoint_name && ep)
        ep = json_object_get(json_object_get(root, "additionalEndpoints"), endpoint_name);
    const json_t *host = json_object_get(ep, "host");
    const json_t *port = json_object_get(ep, "port");
    if (json_is_string(status) && !strcmp(json_string_value(status), "ALIVE") &&
        json_is_string(host) && json_string_length(host) > 0 && json_string_length(host) < 256 &&
        json_is_integer(port) && json_integer_value(port) > 0 && json_integer_value(port) < 65536) {
        const char *h = json_string_value(host);
        bool v6 = strchr(h, ':') != NULL;
        size_t n = strlen(h) + 16;
        out = malloc(n);
        if (out)
            snprintf(out, n, v6 ? "[%s]:%d" : "%s:%d", h, (int)json_integer_value(port));
    }
    json_decref(root);
    return out;
}

/* ---- following a ServerSet --------------------------------------------------- */

typedef struct member {
    char *name;     /* "member_0000000003" */
    char *endpoint; /* "host:port" while ALIVE, else NULL */
} member_t;

struct thrift_serverset {
    zk_session_t zs; /* first: the session hooks get it */
    thrift_cluster_t *cl;
    zk_url_t url;
    member_t *members;
    size_t nmembers, cap;
    size_t pending;   /* reads in flight of this generation */
    bool reread_data; /* the next listing re-reads (and re-watches) every member */
    bool listed;
    thrift_serverset_change_cb cb;
    void *ud;
    uint64_t last_watch_to_removal_us; /* for tests and figures */
};

static member_t *ss_find(thrift_serverset_t *ss, const char *name, size_t *index) {
    for (size_t i = 0; i < ss->nmembers; i++)
        if (!strcmp(ss->members[i].name, name)) {
            if (index)
                *index = i;
            return &ss->members[i];
        }
    return NULL;
}

static bool endpoint_in_use(const thrift_serverset_t *ss, const char *ep) {
    for (size_t i = 0; i < ss->nmembers; i++)
        if (ss->members[i].endpoint && !strcmp(ss->members[i].endpoint, ep))
            return true;
    return false;
}

/* Gives member `m` the endpoint `ep` (owned, NULL: none) and brings the
 * cluster in line: a server stays while any ALIVE member has its endpoint. */
static void ss_set_endpoint(thrift_serverset_t *ss, member_t *m, char *ep) {
    char *old = m->endpoint;
    if ((!old && !ep) || (old && ep && !strcmp(old, ep))) {
        free(ep);
        return;
    }
    m->endpoint = ep;
    if (old && !endpoint_in_use(ss, old) &&
        thrift_cluster_remove_server(ss->cl, old, NULL) == THRIFT_OK && ss->cb)
        ss->cb(ss, old, false, ss->ud);
    if (ep && !thrift_cluster_get_server(ss->cl, ep) &&
        thrift_cluster_add_server(ss->cl, ep, ep, NULL) == THRIFT_OK && ss->cb)
        ss->cb(ss, ep, true, ss->ud);
    free(old);
}

static void ss_drop(thrift_serverset_t *ss, size_t i) {
    member_t *m = &ss->members[i];
    ss_set_endpoint(ss, m, NULL);
    free(m->name);
    ss->members[i] = ss->members[--ss->nmembers];
}

static void ss_list(thrift_serverset_t *ss) {
    zk_req_t *r = req_new(&ss->zs, NULL);
    if (!r)
        return;
    if (zoo_awget_children(ss->zs.zh, ss->url.path, zs_watcher, ss->zs.conn, children_done, r) ==
        ZOK)
        ss->pending++;
    else
        free(r);
}

static void ss_read(thrift_serverset_t *ss, const char *member) {
    char path[ZK_MAX_URL + 300];
    snprintf(path, sizeof path, "%s/%s", ss->url.path, member);
    zk_req_t *r = req_new(&ss->zs, member);
    if (!r)
        return;
    if (zoo_awget(ss->zs.zh, path, zs_watcher, ss->zs.conn, data_done, r) == ZOK)
        ss->pending++;
    else
        free(r);
}

static void ss_connected(zk_session_t *zs) {
    thrift_serverset_t *ss = (thrift_serverset_t *)zs;
    // After a reconnect the watches may be gone (expiry) or may have missed
    // nothing; reading everything again costs one round trip and is always
    // right.
    ss->reread_data = true;
    ss_list(ss);
}

static void ss_expired(zk_session_t *zs) {
    thrift_serverset_t *ss = (thrift_serverset_t *)zs;
    ss->pending = 0; // the old generation's reads will never be delivered
}

static void ss_children(thrift_serverset_t *ss, const zk_event_t *e) {
    if (e->rc == ZNONODE) {
        // No such service (yet): no members; be told when it appears.
        while (ss->nmembers)
            ss_drop(ss, ss->nmembers - 1);
        ss->listed = true;
        zk_req_t *r = req_new(&ss->zs, NULL);
        if (r &&
            zoo_awexists(ss->zs.zh, ss->url.path, zs_watcher, ss->zs.conn, exists_done, r) == ZOK)
            ss->pending++;
        else
            free(r);
        return;
    }
    if (e->rc != ZOK)
        return; // connection loss and the like: the reconnect reads again
    ss->listed = true;
    for (size_t i = ss->nmembers; i-- > 0;) {
        bool still = false;
        for (size_t j = 0; j < e->nnames && !still; j++)
            still = !strcmp(ss->members[i].name, e->names[j]);
        if (!still)
            ss_drop(ss, i);
    }
    bool all = ss->reread_data;
    ss->reread_data = false;
    for (size_t j = 0; j < e->nnames; j++) {
        const char *name = e->names[j];
        if (strncmp(name, MEMBER_PREFIX, strlen(MEMBER_PREFIX)) != 0)
            continue;
        if (ss_find(ss, name, NULL)) {
            if (all)
                ss_read(ss, name);
            continue;
        }
        if (ss->nmembers == ss->cap) {
            size_t ncap = ss->cap ? ss->cap * 2 : 8;
            member_t *nm = realloc(ss->members, ncap * sizeof *nm);
            if (!nm)
                return;
            ss->members = nm;
            ss->cap = ncap;
        }
        char *copy = strdup(name);
        if (!copy)
            return;
        ss->members[ss->nmembers].name = copy;
        ss->members[ss->nmembers].endpoint = NULL;
        ss->nmembers++;
        ss_read(ss, name);
    }
}

static const char *member_of_path(const thrift_serverset_t *ss, const char *path) {
    size_t n = strlen(ss->url.path);
    if (!path || strncmp(path, ss->url.path, n) != 0 || path[n] != '/')
        return NULL;
    return path + n + 1;
}

static void ss_event(zk_session_t *zs, const zk_event_t *e) {
    thrift_serverset_t *ss = (thrift_serverset_t *)zs;
    if (e->kind == ZE_CHILDREN || e->kind == ZE_DATA || e->kind == ZE_EXISTS) {
        if (ss->pending)
            ss->pending--;
    }
    switch (e->kind) {
    case ZE_CHILDREN:
        ss_children(ss, e);
        break;
    case ZE_DATA: {
        size_t i;
        member_t *m = ss_find(ss, e->member, &i);
        if (!m)
            break; // gone from the listing meanwhile
        if (e->rc == ZNONODE)
            ss_drop(ss, i);
        else if (e->rc == ZOK)
            ss_set_endpoint(ss, m, instance_endpoint(e->data, e->len, ss->url.endpoint));
        break;
    }
    case ZE_EXISTS:
        if (e->rc == ZOK)
            ss_list(ss); // created between the listing and the watch
        break;
    case ZE_WATCH: {
        if (!e->path)
            break;
        if (!strcmp(e->path, ss->url.path)) {
            if (e->type == ZOO_CHILD_EVENT || e->type == ZOO_CREATED_EVENT ||
                e->type == ZOO_DELETED_EVENT)
                ss_list(ss);
            break;
        }
        const char *name = member_of_path(ss, e->path);
        size_t i;
        if (!name || !ss_find(ss, name, &i))
            break;
        if (e->type == ZOO_DELETED_EVENT) {
            ss_drop(ss, i); // at once: the listing's child event follows
            ss->last_watch_to_removal_us = thrift__now_us() - e->queued_us;
        } else if (e->type == ZOO_CHANGED_EVENT)
            ss_read(ss, name);
        break;
    }
    case ZE_CREATED:
        break;
    }
}

thrift_serverset_t *thrift_serverset_follow(thrift_cluster_t *cluster, const char *url,
                                            uint32_t session_timeout_ms, thrift_error_t *err) {
    if (!cluster) {
        thrift__error_set(err, THRIFT_MISUSE, "no cluster");
        return NULL;
    }
    thrift_serverset_t *ss = calloc(1, sizeof *ss);
    if (!ss) {
        thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        return NULL;
    }
    if (zk_url_parse(url, &ss->url, err) != THRIFT_OK) {
        free(ss);
        return NULL;
    }
    ss->cl = cluster;
    ss->zs.on_connected = ss_connected;
    ss->zs.on_expired = ss_expired;
    ss->zs.on_event = ss_event;
    if (zs_init(&ss->zs, thrift__cluster_loop(cluster), ss->url.hosts, session_timeout_ms, err) !=
        THRIFT_OK) {
        zk_url_clear(&ss->url);
        free(ss);
        return NULL;
    }
    return ss;
}

void thrift_serverset_free(thrift_serverset_t *ss) {
    if (!ss)
        return;
    zs_destroy(&ss->zs);
    for (size_t i = 0; i < ss->nmembers; i++) {
        free(ss->members[i].name);
        free(ss->members[i].endpoint);
    }
    free(ss->members);
    zk_url_clear(&ss->url);
    free(ss);
}

void thrift_serverset_set_change_cb(thrift_serverset_t *ss, thrift_serverset_change_cb cb,
                                    void *ud) {
    if (ss) {
        ss->cb = cb;
        ss->ud = ud;
    }
}

static bool ss_synced(const void *ud) {
    const thrift_serverset_t *ss = ud;
    return ss->zs.connected && ss->listed && ss->pending == 0;
}

thrift_status_t thrift_serverset_wait(thrift_serverset_t *ss, uint32_t timeout_ms,
                                      thrift_error_t *err) {
    if (!ss)
        return thrift__error_set(err, THRIFT_MISUSE, "no serverset");
    return run_until(ss->zs.loop, ss_synced, ss, timeout_ms, "ServerSet not read", err);
}

bool thrift_serverset_is_connected(const thrift_serverset_t *ss) { return ss && ss->zs.connected; }

size_t thrift_serverset_member_count(const thrift_serverset_t *ss) { return ss ? ss->nmembers : 0; }

unsigned thrift_serverset_sessions(const thrift_serverset_t *ss) {
    return ss ? ss->zs.sessions : 0;
}

/* ---- announcing a server ---------------------------------------------------- */

struct thrift_announcement {
    zk_session_t zs; /* first */
    zk_url_t url;
    char *json;
    char *path; /* the member node, once created */
    bool creating;
};

static void an_connected(zk_session_t *zs) {
    thrift_announcement_t *a = (thrift_announcement_t *)zs;
    if (a->path || a->creating)
        return; // same session, node still there (or on its way)
    // Parents first, in order: ZooKeeper answers one session's requests in
    // the order sent, so the member create sees them (or their "exists").
    char prefix[ZK_MAX_URL + 16];
    const char *p = a->url.path;
    for (const char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
        snprintf(prefix, sizeof prefix, "%.*s", (int)(s - p), p);
        zk_req_t *r = req_new(zs, NULL);
        if (r &&
            zoo_acreate(zs->zh, prefix, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, parent_done, r) != ZOK)
            free(r);
    }
    zk_req_t *r = req_new(zs, NULL);
    if (r && zoo_acreate(zs->zh, p, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, parent_done, r) != ZOK)
        free(r);
    snprintf(prefix, sizeof prefix, "%s/" MEMBER_PREFIX, p);
    r = req_new(zs, NULL);
    if (r && zoo_acreate(zs->zh, prefix, a->json, (int)strlen(a->json), &ZOO_OPEN_ACL_UNSAFE,
                         ZOO_EPHEMERAL_SEQUENTIAL, created_done, r) == ZOK)
        a->creating = true;
    else
        free(r);
}

static void an_expired(zk_session_t *zs) {
    thrift_announcement_t *a = (thrift_announcement_t *)zs;
    // The ephemeral node died with the session: the next one creates it again.
    free(a->path);
    a->path = NULL;
    a->creating = false;
}

static void an_event(zk_session_t *zs, const zk_event_t *e) {
    thrift_announcement_t *a = (thrift_announcement_t *)zs;
    if (e->kind != ZE_CREATED)
        return;
    a->creating = false;
    if (e->rc == ZOK && e->path) {
        free(a->path);
        a->path = strdup(e->path);
    }
    // Otherwise (connection lost before the answer): the reconnect tries
    // again; a node created meanwhile has our endpoint too and goes with
    // the session.
}

thrift_announcement_t *thrift_announce(struct ev_loop *loop, const char *url, const char *host,
                                       int port, uint32_t session_timeout_ms, thrift_error_t *err) {
    if (!loop || !host || !*host || strlen(host) > 255 || port <= 0 || port > 65535) {
        thrift__error_set(err, THRIFT_INVALID,
                          "announce: a loop, a host and a port 1..65535 are required");
        return NULL;
    }
    if (!strcmp(host, "0.0.0.0") || !strcmp(host, "::") || !strcmp(host, "[::]")) {
        thrift__error_set(err, THRIFT_INVALID,
                          "announce: '%s' is not an address clients can dial; give the host's own",
                          host);
        return NULL;
    }
    thrift_announcement_t *a = calloc(1, sizeof *a);
    if (!a) {
        thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        return NULL;
    }
    if (zk_url_parse(url, &a->url, err) != THRIFT_OK) {
        free(a);
        return NULL;
    }
    // Strip the brackets of "[::1]": ServerSet hosts are bare addresses.
    char bare[256];
    size_t hl = strlen(host);
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']')
        snprintf(bare, sizeof bare, "%.*s", (int)(hl - 2), host + 1);
    else
        snprintf(bare, sizeof bare, "%s", host);
    json_t *inst = json_pack("{s:{s:s,s:i},s:{},s:s}", "serviceEndpoint", "host", bare, "port",
                             port, "additionalEndpoints", "status", "ALIVE");
    if (inst && a->url.endpoint)
        json_object_set_new(json_object_get(inst, "additionalEndpoints"), a->url.endpoint,
                            json_pack("{s:s,s:i}", "host", bare, "port", port));
    a->json = inst ? json_dumps(inst, JSON_COMPACT) : NULL;
    json_decref(inst);
    if (!a->json) {
        zk_url_clear(&a->url);
        free(a);
        thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        return NULL;
    }
    a->zs.on_connected = an_connected;
    a->zs.on_expired = an_expired;
    a->zs.on_event = an_event;
    if (zs_init(&a->zs, loop, a->url.hosts, session_timeout_ms, err) != THRIFT_OK) {
        free(a->json);
        zk_url_clear(&a->url);
        free(a);
        return NULL;
    }
    return a;
}

static bool an_created(const void *ud) { return ((const thrift_announcement_t *)ud)->path != NULL; }

thrift_status_t thrift_announcement_wait(thrift_announcement_t *a, uint32_t timeout_ms,
                                         thrift_error_t *err) {
    if (!a)
        return thrift__error_set(err, THRIFT_MISUSE, "no announcement");
    return run_until(a->zs.loop, an_created, a, timeout_ms, "member node not created", err);
}

const char *thrift_announcement_path(const thrift_announcement_t *a) { return a ? a->path : NULL; }

void thrift_announcement_free(thrift_announcement_t *a) {
    if (!a)
        return;
    // Delete first and wait for it, so the member is gone before the caller
    // closes its listeners; closing the session would remove it too, but
    // only after the close request is answered.
    if (a->path && a->zs.zh && a->zs.connected)
        (void)zoo_delete(a->zs.zh, a->path, -1);
    zs_destroy(&a->zs);
    free(a->path);
    free(a->json);
    zk_url_clear(&a->url);
    free(a);
}

static void announcement_stop_hook(void *ud) { thrift_announcement_free(ud); }

thrift_status_t thrift_rpc_server_announce(thrift_rpc_server_t *srv, const char *url,
                                           const char *host, uint32_t session_timeout_ms,
                                           thrift_error_t *err) {
    if (!srv)
        return thrift__error_set(err, THRIFT_MISUSE, "no server");
    int port = thrift_rpc_server_port(srv);
    if (port <= 0)
        return thrift__error_set(err, THRIFT_MISUSE,
                                 "announce: the server listens on no TCP port yet");
    thrift_announcement_t *a =
        thrift_announce(thrift__rpc_server_loop(srv), url, host, port, session_timeout_ms, err);
    if (!a)
        return err && err->code ? err->code : THRIFT_INVALID;
    thrift__rpc_server_set_stop_hook(srv, announcement_stop_hook, a);
    return THRIFT_OK;
}

static bool session_of(const zk_session_t *zs, int64_t *id, char passwd[16]) {
    const clientid_t *c = zs->zh ? zoo_client_id(zs->zh) : NULL;
    if (!c || !c->client_id)
        return false;
    *id = c->client_id;
    memcpy(passwd, c->passwd, 16);
    return true;
}

bool thrift__serverset_session(const thrift_serverset_t *ss, int64_t *id, char passwd[16]) {
    return ss && session_of(&ss->zs, id, passwd);
}

bool thrift__announcement_session(const thrift_announcement_t *a, int64_t *id, char passwd[16]) {
    return a && session_of(&a->zs, id, passwd);
}

uint64_t thrift__serverset_watch_to_removal_us(const thrift_serverset_t *ss) {
    return ss ? ss->last_watch_to_removal_us : 0;
}

#else /* no ZooKeeper client at build time */

uint64_t thrift__serverset_watch_to_removal_us(const thrift_serverset_t *ss) {
    (void)ss;
    return 0;
}

bool thrift__serverset_session(const thrift_serverset_t *ss, int64_t *id, char passwd[16]) {
    (void)ss;
    (void)id;
    (void)passwd;
    return false;
}

bool thrift__announcement_session(const thrift_announcement_t *a, int64_t *id, char passwd[16]) {
    (void)a;
    (void)id;
    (void)passwd;
    return false;
}

static void *unsupported(thrift_error_t *err) {
    thrift__error_set(err, THRIFT_UNSUPPORTED,
                      "built without ZooKeeper support (meson -Dzookeeper)");
    return NULL;
}

thrift_serverset_t *thrift_serverset_follow(thrift_cluster_t *cluster, const char *url,
                                            uint32_t session_timeout_ms, thrift_error_t *err) {
    (void)cluster;
    (void)url;
    (void)session_timeout_ms;
    return unsupported(err);
}
void thrift_serverset_free(thrift_serverset_t *ss) { (void)ss; }
void thrift_serverset_set_change_cb(thrift_serverset_t *ss, thrift_serverset_change_cb cb,
                                    void *ud) {
    (void)ss;
    (void)cb;
    (void)ud;
}
thrift_status_t thrift_serverset_wait(thrift_serverset_t *ss, uint32_t timeout_ms,
                                      thrift_error_t *err) {
    (void)ss;
    (void)timeout_ms;
    unsupported(err);
    return THRIFT_UNSUPPORTED;
}
bool thrift_serverset_is_connected(const thrift_serverset_t *ss) {
    (void)ss;
    return false;
}
size_t thrift_serverset_member_count(const thrift_serverset_t *ss) {
    (void)ss;
    return 0;
}
unsigned thrift_serverset_sessions(const thrift_serverset_t *ss) {
    (void)ss;
    return 0;
}
thrift_announcement_t *thrift_announce(struct ev_loop *loop, const char *url, const char *host,
                                       int port, uint32_t session_timeout_ms, thrift_error_t *err) {
    (void)loop;
    (void)url;
    (void)host;
    (void)port;
    (void)session_timeout_ms;
    return unsupported(err);
}
thrift_status_t thrift_announcement_wait(thrift_announcement_t *a, uint32_t timeout_ms,
                                         thrift_error_t *err) {
    (void)a;
    (void)timeout_ms;
    unsupported(err);
    return THRIFT_UNSUPPORTED;
}
const char *thrift_announcement_path(const thrift_announcement_t *a) {
    (void)a;
    return NULL;
}
void thrift_announcement_free(thrift_announcement_t *a) { (void)a; }
thrift_status_t thrift_rpc_server_announce(thrift_rpc_server_t *srv, const char *url,
                                           const char *host, uint32_t session_timeout_ms,
                                           thrift_error_t *err) {
    (void)srv;
    (void)url;
    (void)host;
    (void)session_timeout_ms;
    unsupported(err);
    return THRIFT_UNSUPPORTED;
}

#endif
