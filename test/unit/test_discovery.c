/* ServerSets on a real ZooKeeper (Debian's `zookeeper`, started standalone
 * by test/zk/zk_server.sh on a free loopback port and stopped by its PID):
 * announcement, discovery, routing while members come and go, DEAD and
 * non-member children, keys moved on join and leave, calls in flight on a
 * removed server, session expiry of both sides, and a ZooKeeper restart.
 * The test writes members of its own with ZooKeeper's C client; kazoo, an
 * independent client, is used by test/interop/zk_serverset.py.  In the
 * suite 'threads': ZooKeeper's threads hand every event to the loop. */
#include <jansson.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#define THREADED 1
#include <zookeeper/zookeeper.h>

#include "dynthrift/pool.h"
#include "net/pool_impl.h"
#include "net_fixture.h"

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        bool check_ = (cond);                                                                      \
        TAP_CHECK(check_, __VA_ARGS__);                                                            \
    } while (0)

static thrift_schema_t *schema;
static struct ev_loop *loop;
static char zk_dir[256], zk_hosts[64];
static int zk_port;
static volatile pid_t zk_pid; /* read by on_term */
static zhandle_t *zk;         /* the test's own client */

/* ---- ZooKeeper, the process ------------------------------------------------------ */

static void zk_silent(const char *m) { (void)m; }

/* Starts (or restarts, on the same port and data) the server; false: skip. */
static bool zk_start(void) {
    const char *root = getenv("DYNTHRIFT_SOURCE_ROOT");
    char cmd[1024], port_arg[16] = "";
    if (zk_port) // a restart: the same port, so clients find it again
        snprintf(port_arg, sizeof port_arg, "%d", zk_port);
    snprintf(cmd, sizeof cmd, "%s/test/zk/zk_server.sh %s %s", root ? root : ".", zk_dir, port_arg);
    double t0 = ev_time();
    FILE *p = popen(cmd, "r");
    int port = 0, pid = 0;
    bool got = p && fscanf(p, "%d %d", &port, &pid) == 2;
    int rc = p ? pclose(p) : -1;
    if (!got || rc != 0) {
        if (WIFEXITED(rc) && WEXITSTATUS(rc) == 77)
            return false;
        printf("Bail out! cannot start ZooKeeper (%s)\n", cmd);
        exit(1);
    }
    zk_port = port;
    zk_pid = pid;
    snprintf(zk_hosts, sizeof zk_hosts, "127.0.0.1:%d", port);
    printf("# ZooKeeper up on %s (pid %d) in %.2f s\n", zk_hosts, pid, ev_time() - t0);
    return true;
}

static void zk_kill(void) {
    if (zk_pid > 0) {
        kill(zk_pid, SIGKILL);
        waitpid(zk_pid, NULL, 0); // not our child (the script's): reaped by init
        for (int i = 0; i < 200 && kill(zk_pid, 0) == 0; i++)
            usleep(10000);
        zk_pid = 0;
    }
}

/* A plain handle, connected (or NULL after 10 s). */
static zhandle_t *zk_connect(const clientid_t *id) {
    zhandle_t *h = zookeeper_init2(zk_hosts, NULL, 4000, id, NULL, 0, zk_silent);
    for (int i = 0; h && i < 1000 && zoo_state(h) != ZOO_CONNECTED_STATE; i++)
        usleep(10000);
    if (h && zoo_state(h) != ZOO_CONNECTED_STATE) {
        zookeeper_close(h);
        h = NULL;
    }
    return h;
}

/* ---- helpers --------------------------------------------------------------------- */

static void spin(double seconds) {
    double until = ev_time() + seconds;
    while (ev_time() < until) {
        ev_run(loop, EVRUN_NOWAIT);
        usleep(500);
    }
}

/* Runs the loop until cond() or `seconds`; true when cond() held. */
static bool spin_until(bool (*cond)(void), double seconds) {
    double until = ev_time() + seconds;
    while (!cond() && ev_time() < until) {
        ev_run(loop, EVRUN_NOWAIT);
        usleep(500);
    }
    return cond();
}

static thrift_cluster_t *cl;
static thrift_serverset_t *ss;

typedef struct change_log {
    int added, removed;
    char last[64];
    double last_at;
} change_log_t;
static change_log_t changes;

static void on_change(thrift_serverset_t *s, const char *server, bool added, void *ud) {
    (void)s;
    change_log_t *c = ud;
    if (added)
        c->added++;
    else
        c->removed++;
    snprintf(c->last, sizeof c->last, "%s", server);
    c->last_at = ev_time();
}

static size_t want_count;
static bool count_is(void) { return thrift_cluster_server_count(cl) == want_count; }
static bool wait_count(size_t n, double seconds) {
    want_count = n;
    return spin_until(count_is, seconds);
}

static int call_ok, call_failed, call_done;
static char call_server[64][64];
static int per_server(const char *name) {
    int n = 0;
    for (int i = 0; i < call_done && i < 64; i++)
        n += !strcmp(call_server[i], name);
    return n;
}

static void call_cb(thrift_cluster_t *c, thrift_response_t *r, void *ud) {
    (void)c;
    (void)ud;
    if (call_done < 64)
        snprintf(call_server[call_done], sizeof call_server[0], "%s",
                 thrift_response_server(r) ? thrift_response_server(r) : "");
    call_done++;
    if (thrift_response_is_error(r)) {
        call_failed++;
        printf("# call failed on %s: %s\n", thrift_response_server(r),
               thrift_response_error(r)->text);
    } else {
        call_ok++;
    }
}

static int calls_wanted;
static bool calls_finished(void) { return call_done >= calls_wanted; }

/* Sends `n` pings through the cluster and waits for them; returns the
 * number answered. */
static int ping_all(int n) {
    call_ok = call_failed = call_done = 0;
    calls_wanted = n;
    for (int i = 0; i < n; i++) {
        thrift_error_t err;
        thrift_error_clear(&err);
        if (thrift_cluster_call_async(cl, "ping", NULL, call_cb, NULL, &err) != THRIFT_OK) {
            call_done++;
            call_failed++;
        }
    }
    spin_until(calls_finished, 10);
    return call_ok;
}

static thrift_rpc_server_t *servers[5];
static char addrs[5][64];
static thrift_announcement_t *ann[5];

static void start_server(int i) {
    char a[64];
    snprintf(a, sizeof a, "127.0.0.%d:0", i + 2);
    servers[i] = fixture_server(loop, schema, NULL, a);
    snprintf(addrs[i], sizeof addrs[i], "127.0.0.%d:%d", i + 2, thrift_rpc_server_port(servers[i]));
}

static thrift_announcement_t *announce(int i, const char *url) {
    thrift_error_t err;
    thrift_error_clear(&err);
    char host[32];
    snprintf(host, sizeof host, "127.0.0.%d", i + 2);
    thrift_announcement_t *a =
        thrift_announce(loop, url, host, thrift_rpc_server_port(servers[i]), 2000, &err);
    if (!a || thrift_announcement_wait(a, 10000, &err) != THRIFT_OK)
        printf("# announce %d: %s\n", i, err.text);
    return a;
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_urls(void) {
    const char *bad[] = {"127.0.0.1:2181/svc", "zk://",         "zk:///svc",   "zk://h:1",
                         "zk://h:1/",          "zk://h:1/svc#", "zk://h 1/svc"};
    thrift_cluster_t *c = thrift_cluster_new(loop, schema, "Calc", NULL, NULL, NULL);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        thrift_error_t err;
        thrift_error_clear(&err);
        thrift_serverset_t *s = thrift_serverset_follow(c, bad[i], 0, &err);
        CHECK(!s && err.code == THRIFT_INVALID, "bad URL '%s' refused: %s", bad[i], err.text);
        thrift_serverset_free(s);
    }
    thrift_error_t err;
    thrift_error_clear(&err);
    CHECK(!thrift_announce(loop, "zk://127.0.0.1:1/svc", "0.0.0.0", 9090, 0, &err) &&
              err.code == THRIFT_INVALID,
          "announcing 0.0.0.0 is refused: %s", err.text);
    thrift_cluster_free(c);
}

static void test_announce_and_follow(void) {
    const char *url_fmt = "zk://%s/services/calc";
    char url[256];
    snprintf(url, sizeof url, url_fmt, zk_hosts);
    for (int i = 0; i < 3; i++) {
        start_server(i);
        ann[i] = announce(i, url);
    }
    start_server(3); // announced by hand below, DEAD
    const char *p0 = thrift_announcement_path(ann[0]);
    CHECK(p0 && !strncmp(p0, "/services/calc/member_", 22) && strlen(p0) == 22 + 10,
          "member node is an ephemeral sequential member_<10 digits>: %s", p0 ? p0 : "(none)");
    char buf[1024];
    int len = sizeof buf - 1;
    struct Stat st;
    int rc = p0 ? zoo_get(zk, p0, 0, buf, &len, &st) : ZNONODE;
    buf[rc == ZOK && len > 0 ? len : 0] = 0;
    json_error_t je;
    json_t *j = json_loads(buf, 0, &je);
    char want_host[32];
    snprintf(want_host, sizeof want_host, "127.0.0.2");
    const char *host =
        json_string_value(json_object_get(json_object_get(j, "serviceEndpoint"), "host"));
    json_int_t port =
        json_integer_value(json_object_get(json_object_get(j, "serviceEndpoint"), "port"));
    CHECK(rc == ZOK && st.ephemeralOwner != 0 && host && !strcmp(host, want_host) &&
              port == thrift_rpc_server_port(servers[0]) &&
              !strcmp(json_string_value(json_object_get(j, "status")), "ALIVE") &&
              json_is_object(json_object_get(j, "additionalEndpoints")),
          "member data is a ServiceInstance with the real address: %s", buf);
    json_decref(j);

    // Things that are not members, and a DEAD member.
    zoo_create(zk, "/services/calc/config", "x", 1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
    char dead[256];
    snprintf(dead, sizeof dead,
             "{\"serviceEndpoint\":{\"host\":\"127.0.0.5\",\"port\":%d},"
             "\"additionalEndpoints\":{},\"status\":\"DEAD\",\"shard\":3}",
             thrift_rpc_server_port(servers[3]));
    char dead_path[256];
    rc = zoo_create(zk, "/services/calc/member_", dead, (int)strlen(dead), &ZOO_OPEN_ACL_UNSAFE,
                    ZOO_EPHEMERAL_SEQUENTIAL, dead_path, sizeof dead_path);
    CHECK(rc == ZOK, "a DEAD member written by a second client (%s)", dead_path);
    zoo_create(zk, "/services/calc/member_bogus", "{not json", 9, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);

    cl = thrift_cluster_new(loop, schema, "Calc", NULL, NULL, NULL);
    thrift_error_t err;
    thrift_error_clear(&err);
    ss = thrift_serverset_follow(cl, url, 2000, &err);
    thrift_serverset_set_change_cb(ss, on_change, &changes);
    CHECK(ss && thrift_serverset_wait(ss, 10000, &err) == THRIFT_OK, "ServerSet read: %s",
          err.text);
    CHECK(thrift_cluster_server_count(cl) == 3 && thrift_serverset_member_count(ss) == 5 &&
              thrift_cluster_get_server(cl, addrs[0]) && thrift_cluster_get_server(cl, addrs[1]) &&
              thrift_cluster_get_server(cl, addrs[2]) && !thrift_cluster_get_server(cl, addrs[3]),
          "3 ALIVE servers on the ring; DEAD, malformed and non-member children are not "
          "(%zu servers, %zu members)",
          thrift_cluster_server_count(cl), thrift_serverset_member_count(ss));
    CHECK(ping_all(30) == 30 && per_server(addrs[0]) && per_server(addrs[1]) &&
              per_server(addrs[2]) && !per_server(addrs[3]),
          "30 calls answered, spread over the 3, none to the DEAD member");

    // DEAD -> ALIVE -> DEAD by a data change.
    size_t alive_len = strlen(dead);
    char alive[256];
    snprintf(alive, sizeof alive, "%s", dead);
    char *s = strstr(alive, "DEAD");
    memcpy(s, "ALIV", 4);
    memmove(s + 5, s + 4, strlen(s + 4) + 1);
    s[4] = 'E';
    rc = zoo_set(zk, dead_path, alive, (int)strlen(alive), -1);
    CHECK(rc == ZOK && wait_count(4, 5) && thrift_cluster_get_server(cl, addrs[3]),
          "a member turning ALIVE joins the ring");
    rc = zoo_set(zk, dead_path, dead, (int)alive_len, -1);
    CHECK(rc == ZOK && wait_count(3, 5) && !thrift_cluster_get_server(cl, addrs[3]),
          "a member turning DEAD leaves it");
    CHECK(ping_all(30) == 30 && !per_server(addrs[3]), "and takes no more calls");
    zoo_delete(zk, dead_path, -1);
}

#define KEYS 20000
static const char *key_owner[KEYS];
static char key_owner_buf[KEYS][24];

static void snapshot_keys(void) {
    for (int k = 0; k < KEYS; k++) {
        char key[32];
        int n = snprintf(key, sizeof key, "user-%d", k);
        const char *o = thrift_cluster_route_key(cl, key, (size_t)n);
        snprintf(key_owner_buf[k], sizeof key_owner_buf[k], "%s", o ? o : "");
        key_owner[k] = key_owner_buf[k];
    }
}

/* Keys whose owner changed; `wrong` counts those that moved although
 * neither their old nor their new owner is `who`. */
static int keys_moved(const char *who, int *wrong) {
    int moved = 0;
    *wrong = 0;
    for (int k = 0; k < KEYS; k++) {
        char key[32];
        int n = snprintf(key, sizeof key, "user-%d", k);
        const char *o = thrift_cluster_route_key(cl, key, (size_t)n);
        if (!o || strcmp(o, key_owner[k]) != 0) {
            moved++;
            if (!o || (strcmp(o, who) && strcmp(key_owner[k], who)))
                (*wrong)++;
        }
    }
    return moved;
}

static void test_membership_changes(const char *url) {
    snapshot_keys();
    int removed_before = changes.removed;
    double t0 = ev_time();
    thrift_announcement_free(ann[2]); // graceful: the node is deleted before this returns
    ann[2] = NULL;
    double deleted = ev_time();
    bool gone = wait_count(2, 5);
    printf("# leave: member deleted in %.1f ms, off the ring %.1f ms after that\n",
           (deleted - t0) * 1000, (changes.last_at - deleted) * 1000);
    CHECK(gone && changes.removed == removed_before + 1 && !strcmp(changes.last, addrs[2]),
          "a withdrawn member leaves the ring");
    int wrong;
    int moved = keys_moved(addrs[2], &wrong);
    printf("# leave: %d of %d keys moved (%.1f%%)\n", moved, KEYS, 100.0 * moved / KEYS);
    CHECK(wrong == 0 && moved > KEYS / 5 && moved < KEYS / 2,
          "leave of 1 of 3 moves only its keys (%.1f%%)", 100.0 * moved / KEYS);
    ann[2] = announce(2, url);
    CHECK(wait_count(3, 5), "it joins again with a new member node (%s)",
          thrift_announcement_path(ann[2]) ? thrift_announcement_path(ann[2]) : "none");
    moved = keys_moved(addrs[2], &wrong);
    CHECK(moved == 0, "re-joining restores exactly the first mapping (%d keys differ)", moved);

    // A 4th server joins: only keys that go to it move.
    ann[3] = announce(3, url);
    CHECK(wait_count(4, 5), "a 4th server joins");
    moved = keys_moved(addrs[3], &wrong);
    printf("# join: %d of %d keys moved (%.1f%%)\n", moved, KEYS, 100.0 * moved / KEYS);
    CHECK(wrong == 0 && moved > KEYS / 8 && moved < KEYS * 4 / 10,
          "join of a 4th moves only keys to it (%.1f%%)", 100.0 * moved / KEYS);
}

typedef struct slow {
    int done, ok;
    char server[64];
} slow_t;

static void slow_cb(thrift_cluster_t *c, thrift_response_t *r, void *ud) {
    (void)c;
    slow_t *s = ud;
    s->done++;
    s->ok += !thrift_response_is_error(r);
    snprintf(s->server, sizeof s->server, "%s", thrift_response_server(r));
}

static slow_t slow_calls;
static bool slow_done(void) { return slow_calls.done == 8; }

static void test_in_flight(void) {
    // Slow calls everywhere; then server 3 withdraws: its calls finish.
    thrift_arena_t *a = thrift_arena_new(NULL);
    const thrift_function_def_t *fn =
        thrift_service_def_find_function(thrift_schema_find_service(schema, "Calc"), "slow");
    thrift_value_t *args = thrift_value_new_struct(a, thrift_function_def_args(fn));
    thrift_value_set(args, "ms", thrift_value_new_i32(a, 300));
    memset(&slow_calls, 0, sizeof slow_calls);
    for (int i = 0; i < 8; i++)
        thrift_cluster_call_async(cl, "slow", args, slow_cb, &slow_calls, NULL);
    spin(0.05);
    thrift_announcement_free(ann[3]);
    ann[3] = NULL;
    bool left = wait_count(3, 5);
    bool finished = spin_until(slow_done, 5);
    CHECK(left && finished && slow_calls.ok == 8,
          "calls in flight on a server that leaves are answered (%d of 8)", slow_calls.ok);
    thrift_arena_free(a);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void test_kill_member_by_hand(void) {
    // Members deleted by another client: the watch fires, the cluster drops
    // them.  Timed from zoo_delete's return (the watch reaches us about when
    // the delete's answer does) and from the watch's delivery.
    enum { ROUNDS = 10 };
    double after_delete[ROUNDS], after_watch[ROUNDS];
    int ok = 0;
    char data[256];
    snprintf(data, sizeof data,
             "{\"serviceEndpoint\":{\"host\":\"127.0.0.5\",\"port\":%d},\"status\":\"ALIVE\"}",
             thrift_rpc_server_port(servers[3]));
    for (int r = 0; r < ROUNDS; r++) {
        char path[256];
        if (zoo_create(zk, "/services/calc/member_", data, (int)strlen(data), &ZOO_OPEN_ACL_UNSAFE,
                       ZOO_EPHEMERAL_SEQUENTIAL, path, sizeof path) != ZOK ||
            !wait_count(4, 5))
            break;
        int removed = changes.removed;
        double t0 = ev_time();
        int rc = zoo_delete(zk, path, -1);
        bool gone = wait_count(3, 5);
        after_delete[r] = (changes.last_at - t0) * 1000;
        after_watch[r] = thrift__serverset_watch_to_removal_us(ss) / 1000.0;
        ok += rc == ZOK && gone && changes.removed == removed + 1;
    }
    CHECK(ok == ROUNDS, "%d members deleted by another client left the ring", ok);
    if (ok == ROUNDS) {
        qsort(after_delete, ROUNDS, sizeof *after_delete, cmp_double);
        qsort(after_watch, ROUNDS, sizeof *after_watch, cmp_double);
        printf("# deletion -> off the ring, %d rounds: after zoo_delete returned median %.2f ms, "
               "max %.2f ms; after the watch fired median %.3f ms, max %.3f ms\n",
               ROUNDS, after_delete[ROUNDS / 2], after_delete[ROUNDS - 1], after_watch[ROUNDS / 2],
               after_watch[ROUNDS - 1]);
        CHECK(after_watch[ROUNDS - 1] < 100, "off the ring within 100 ms of the watch firing");
    }
    // And one of the announced members.
    int removed = changes.removed;
    const char *p = thrift_announcement_path(ann[1]);
    char copy[256];
    snprintf(copy, sizeof copy, "%s", p ? p : "");
    int rc = zoo_delete(zk, copy, -1);
    CHECK(rc == ZOK && wait_count(2, 5) && changes.removed == removed + 1,
          "an announced member deleted by another client leaves the ring");
}

static thrift_announcement_t *watched_ann;
static char watched_old[256];
static bool announcement_recreated(void) {
    const char *p = thrift_announcement_path(watched_ann);
    return p && strcmp(p, watched_old) != 0;
}

static void expire(bool (*session)(const void *, int64_t *, char *), const void *obj) {
    clientid_t id;
    memset(&id, 0, sizeof id);
    if (!session(obj, &id.client_id, id.passwd))
        return;
    // The classic way: a second handle on the same session closes it.
    zhandle_t *h = zk_connect(&id);
    if (h)
        zookeeper_close(h);
}

static bool ss_session(const void *o, int64_t *id, char *pw) {
    return thrift__serverset_session(o, id, pw);
}
static bool an_session(const void *o, int64_t *id, char *pw) {
    return thrift__announcement_session(o, id, pw);
}
static bool ss_second_session(void) {
    return thrift_serverset_sessions(ss) >= 2 && thrift_serverset_is_connected(ss);
}

static void test_session_expiry(void) {
    // Server 1's member was deleted by hand: its session expiring brings it back.
    watched_ann = ann[1];
    snprintf(watched_old, sizeof watched_old, "%s", thrift_announcement_path(ann[1]));
    expire(an_session, ann[1]);
    CHECK(spin_until(announcement_recreated, 10) && wait_count(3, 5),
          "an announcement re-creates its member after its session expired (%s)",
          thrift_announcement_path(ann[1]) ? thrift_announcement_path(ann[1]) : "none");

    // The follower's session expires: it re-connects, re-reads, re-watches.
    expire(ss_session, ss);
    CHECK(spin_until(ss_second_session, 10) && thrift_serverset_wait(ss, 5000, NULL) == THRIFT_OK,
          "the follower's session expired and a new one started (%u sessions)",
          thrift_serverset_sessions(ss));
    CHECK(thrift_cluster_server_count(cl) == 3 && ping_all(30) == 30,
          "the set is intact and serving after the expiry");
    const char *p = thrift_announcement_path(ann[0]);
    char copy[256];
    snprintf(copy, sizeof copy, "%s", p ? p : "");
    zoo_delete(zk, copy, -1);
    CHECK(wait_count(2, 5), "watches are set again: a deletion is still seen");
}

/* "#name" picks the additional endpoint `name`; members without it are
 * skipped; IPv6 hosts get brackets. */
static thrift_cluster_t *ep_cl;
static bool ep_one(void) { return thrift_cluster_server_count(ep_cl) == 1; }

static void test_named_endpoint(void) {
    size_t before = thrift_cluster_server_count(cl); // the main cluster sees it too
    char data[300], path[256];
    snprintf(data, sizeof data,
             "{\"serviceEndpoint\":{\"host\":\"127.0.0.9\",\"port\":1},"
             "\"additionalEndpoints\":{\"thrift\":{\"host\":\"::1\",\"port\":4242},"
             "\"http\":{\"host\":\"127.0.0.9\",\"port\":80}},\"status\":\"ALIVE\"}");
    int rc = zoo_create(zk, "/services/calc/member_", data, (int)strlen(data), &ZOO_OPEN_ACL_UNSAFE,
                        ZOO_EPHEMERAL_SEQUENTIAL, path, sizeof path);
    char url[256];
    snprintf(url, sizeof url, "zk://%s/services/calc#thrift", zk_hosts);
    ep_cl = thrift_cluster_new(loop, schema, "Calc", NULL, NULL, NULL);
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_serverset_t *s = thrift_serverset_follow(ep_cl, url, 2000, &err);
    bool read = s && thrift_serverset_wait(s, 10000, &err) == THRIFT_OK && spin_until(ep_one, 2);
    CHECK(rc == ZOK && read && thrift_cluster_get_server(ep_cl, "[::1]:4242") &&
              thrift_cluster_server_count(ep_cl) == 1,
          "#thrift: only the member with that additional endpoint, as [::1]:4242 (%zu servers)",
          thrift_cluster_server_count(ep_cl));
    thrift_serverset_free(s);
    thrift_cluster_free(ep_cl);
    bool took = wait_count(before + 1, 5) && thrift_cluster_get_server(cl, "127.0.0.9:1");
    zoo_delete(zk, path, -1);
    CHECK(took && wait_count(before, 5),
          "the main cluster (no #) took its serviceEndpoint, and let go");
}

/* Whether a member's data names `port` (read with the test's own client). */
static bool has_member_with_port(int port) {
    struct String_vector kids;
    memset(&kids, 0, sizeof kids);
    if (zoo_get_children(zk, "/services/calc", 0, &kids) != ZOK)
        return false;
    char want[32];
    snprintf(want, sizeof want, "\"port\":%d}", port);
    bool found = false;
    for (int i = 0; i < kids.count && !found; i++) {
        char path[300], buf[1024];
        int len = sizeof buf - 1;
        snprintf(path, sizeof path, "/services/calc/%s", kids.data[i]);
        if (zoo_get(zk, path, 0, buf, &len, NULL) == ZOK && len > 0) {
            buf[len] = 0;
            found = strstr(buf, want) != NULL;
        }
    }
    deallocate_String_vector(&kids);
    return found;
}

static bool ss_disconnected(void) { return !thrift_serverset_is_connected(ss); }
static bool ss_connected(void) { return thrift_serverset_is_connected(ss); }

static void test_zookeeper_restart(const char *url) {
    zookeeper_close(zk);
    zk = NULL;
    zk_kill();
    bool down = spin_until(ss_disconnected, 10);
    size_t n = thrift_cluster_server_count(cl);
    CHECK(down && n == 2 && ping_all(30) == 30,
          "ZooKeeper down: the last known set (%zu servers) keeps serving", n);
    bool up = zk_start();
    zk = up ? zk_connect(NULL) : NULL;
    CHECK(up && zk && spin_until(ss_connected, 15),
          "ZooKeeper restarted on the same port and data");
    ann[4] = NULL;
    start_server(4);
    // This one through the server's own API: withdrawn by its stop.
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_status_t st = thrift_rpc_server_announce(servers[4], url, "127.0.0.6", 2000, &err);
    CHECK(st == THRIFT_OK && wait_count(3, 10) && thrift_cluster_get_server(cl, addrs[4]),
          "after the restart a new member is seen (announced by thrift_rpc_server_announce) %s",
          err.text);
    CHECK(has_member_with_port(thrift_rpc_server_port(servers[4])), "its member is in ZooKeeper");
    CHECK(ping_all(30) == 30, "and every call is answered");
    thrift_rpc_server_stop(servers[4], NULL, NULL);
    CHECK(!has_member_with_port(thrift_rpc_server_port(servers[4])) && wait_count(2, 5),
          "thrift_rpc_server_stop deleted the member before returning; the cluster let go");
}

/* meson stops a test that overruns with SIGTERM: take the JVM down too. */
static void on_term(int sig) {
    (void)sig;
    if (zk_pid > 0)
        kill(zk_pid, SIGKILL);
    _exit(1);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    char owner[32]; // zk_server.sh stops the JVM if we die without cleaning up
    snprintf(owner, sizeof owner, "%d", (int)getpid());
    setenv("ZK_OWNER_PID", owner, 1);
    schema = fixture_schema();
    loop = ev_loop_new(EVFLAG_AUTO);
    test_urls();
    snprintf(zk_dir, sizeof zk_dir, "/tmp/dynthrift-zk-XXXXXX");
    if (!mkdtemp(zk_dir) || !zk_start()) {
        printf("# SKIP ZooKeeper (zookeeper, java) not installed\n");
        ev_loop_destroy(loop);
        thrift_schema_unref(schema);
        return tap_done();
    }
    zk = zk_connect(NULL);
    if (!zk) {
        printf("Bail out! cannot connect to ZooKeeper\n");
        zk_kill();
        return 1;
    }
    char url[256];
    snprintf(url, sizeof url, "zk://%s/services/calc", zk_hosts);
    test_announce_and_follow();
    test_membership_changes(url);
    test_in_flight();
    test_kill_member_by_hand();
    test_session_expiry();
    test_named_endpoint();
    test_zookeeper_restart(url);

    for (int i = 0; i < 5; i++)
        thrift_announcement_free(ann[i]);
    thrift_serverset_free(ss);
    thrift_cluster_free(cl);
    for (int i = 0; i < 5; i++)
        thrift_rpc_server_free(servers[i]);
    if (zk)
        zookeeper_close(zk);
    zk_kill();
    char rm[300];
    snprintf(rm, sizeof rm, "rm -rf %s", zk_dir);
    if (system(rm) != 0)
        printf("# could not remove %s\n", zk_dir);
    ev_loop_destroy(loop);
    thrift_schema_unref(schema);
    return tap_done();
}
