/* The transport stack (src/net/stream*.c): TLS (verification, its
 * failures, mTLS, handshake deadlines, plain peers on a TLS port and the
 * other way round) and TZlibTransport (framed and buffered, both
 * protocols, a zip bomb), between an in-process server on a thread and
 * blocking clients, over loopback.  Certificates are made at test time by
 * test/tls_certs.sh. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#ifdef DYNTHRIFT_HAVE_ZLIB
#include <zlib.h>
#endif

#include "net/stream.h"
#include "net_fixture.h"

/* Other.hello answers its argument itself: large replies too. */
static thrift_status_t h_echo_name(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)ud;
    size_t n;
    const uint8_t *p = thrift_value_bytes(thrift_value_get(args, "name"), &n);
    return thrift_reply(req, thrift_value_new_string(thrift_request_arena(req), (const char *)p, n));
}

/* Calc.ping tells what THeader info headers came in and answers one. */
static thrift_status_t h_ping_headers(thrift_request_t *req, const thrift_value_t *args, void *ud) {
    (void)args;
    (void)ud;
    const char *who = thrift_request_header(req, "who");
    const char *call = thrift_request_header(req, "call");
    size_t n = 0;
    const char *k, *v;
    while (thrift_request_header_at(req, n, &k, &v))
        n++;
    char buf[200];
    int len = snprintf(buf, sizeof buf, "pong who=%s call=%s n=%zu", who ? who : "-",
                       call ? call : "-", n);
    thrift_request_set_reply_header(req, "served-by", "dynthrift");
    return thrift_reply(req, thrift_value_new_string(thrift_request_arena(req), buf, (size_t)len));
}

typedef struct srv_thread {
    struct ev_loop *loop;
    thrift_rpc_server_t *srv;
    ev_async stop;
    pthread_t th;
    char addr[80];
    int port;
} srv_thread_t;

static void stop_cb(struct ev_loop *loop, ev_async *w, int revents) {
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static void *server_main(void *p) {
    srv_thread_t *t = p;
    ev_run(t->loop, 0);
    return NULL;
}

/* Serves the fixture on `listen_addr` ("tls://127.0.0.1:0", ...) on its own
 * thread; NULL with err set when the server cannot start. */
static srv_thread_t *serve(thrift_schema_t *s, const thrift_conn_options_t *o,
                           const char *listen_addr, thrift_error_t *err) {
    srv_thread_t *t = calloc(1, sizeof *t);
    t->loop = ev_loop_new(EVFLAG_AUTO);
    t->srv = thrift_rpc_server_new(t->loop, s, o, err);
    thrift_rpc_server_handle(t->srv, "Calc", "add", h_add, NULL, err);
    thrift_rpc_server_handle(t->srv, "Calc", "ping", h_ping_headers, NULL, err);
    thrift_rpc_server_handle(t->srv, "Other", "hello", h_echo_name, NULL, err);
    thrift_rpc_server_handle(t->srv, "Calc", "slow", h_slow, NULL, err);
    if (thrift_rpc_server_listen(t->srv, listen_addr, err)) {
        thrift_rpc_server_free(t->srv);
        ev_loop_destroy(t->loop);
        free(t);
        return NULL;
    }
    t->port = thrift_rpc_server_port(t->srv);
    const char *sep = strstr(listen_addr, "://");
    snprintf(t->addr, sizeof t->addr, "%.*slocalhost:%d", sep ? (int)(sep + 3 - listen_addr) : 0,
             listen_addr, t->port);
    ev_async_init(&t->stop, stop_cb);
    ev_async_start(t->loop, &t->stop);
    pthread_create(&t->th, NULL, server_main, t);
    return t;
}

static void unserve(srv_thread_t *t) {
    if (!t)
        return;
    ev_async_send(t->loop, &t->stop);
    pthread_join(t->th, NULL);
    thrift_rpc_server_free(t->srv);
    ev_loop_destroy(t->loop);
    free(t);
}

/* One blocking add(a, 40) on a new connection: the sum, or -1 with err. */
static int64_t call_add(thrift_schema_t *s, const char *addr, const thrift_conn_options_t *o,
                        int32_t a, thrift_error_t *err) {
    thrift_error_clear(err);
    thrift_conn_t *c = thrift_connect(s, "Calc", addr, o, err);
    if (!c)
        return -1;
    thrift_arena_t *ar = thrift_arena_new(NULL);
    thrift_value_t *args = thrift_conn_new_args(c, ar, "add", err);
    thrift_value_set(args, "a", thrift_value_new_i32(ar, a));
    thrift_value_set(args, "b", thrift_value_new_i64(ar, 40));
    thrift_value_t *r = thrift_call(c, "add", args, err);
    int64_t v = r ? thrift_value_int(r) : -1;
    thrift_arena_free(ar);
    thrift_conn_free(c);
    return v;
}

static char certs[256];

static const char *cert(const char *name) {
    static char buf[8][512];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof buf[i], "%s/%s", certs, name);
    return buf[i];
}

static thrift_conn_options_t *server_opts(const char *crt, const char *key, const char *ca) {
    thrift_conn_options_t *o = thrift_conn_options_new();
    thrift_conn_options_set_tls_cert_file(o, cert(crt));
    thrift_conn_options_set_tls_key_file(o, cert(key));
    if (ca)
        thrift_conn_options_set_tls_ca_file(o, cert(ca));
    return o;
}

static thrift_conn_options_t *client_opts(const char *ca) {
    thrift_conn_options_t *o = thrift_conn_options_new();
    if (ca)
        thrift_conn_options_set_tls_ca_file(o, cert(ca));
    // Generous: loading the system CA bundle is slow under valgrind.
    thrift_conn_options_set_connect_timeout_ms(o, 10000);
    return o;
}

/* A TCP connection that sends `bytes` and reports whether the server
 * closed it within `ms` (recv returning 0 or an error). */
static bool raw_closed_after(int port, const void *bytes, size_t n, int ms) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return false;
    }
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t off = 0;
    while (off < n) {
        ssize_t w = send(fd, (const uint8_t *)bytes + off, n - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    char buf[4096];
    bool closed = false;
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r > 0)
            continue; // an error reply before the close
        closed = r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
        break;
    }
    close(fd);
    return closed;
}

static void stop_done(thrift_rpc_server_t *srv, void *ud) {
    (void)srv;
    *(bool *)ud = true;
}

static void guard_cb(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)w;
    (void)revents;
}

static void test_tls(thrift_schema_t *s) {
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_conn_options_t *so = server_opts("server.pem", "server.key", NULL);
    srv_thread_t *t = serve(s, so, "tls://127.0.0.1:0", &err);
    TAP_CHECK(t != NULL, "tls: server listens on tls://127.0.0.1:0 (%s)", err.text);
    if (!t)
        return;
    thrift_conn_options_t *co = client_opts("ca.pem");
    int64_t v = call_add(s, t->addr, co, 2, &err);
    TAP_CHECK(v == 42, "tls: add over %s verified by the CA and host name -> 42 (%s)", t->addr,
              err.text);
    char ip[80];
    snprintf(ip, sizeof ip, "tls://127.0.0.1:%d", t->port);
    v = call_add(s, ip, co, 3, &err);
    TAP_CHECK(v == 43, "tls: add over %s, the certificate's IP address checked -> 43 (%s)", ip,
              err.text);
    // Compact and buffered over TLS, set through text keys.
    thrift_conn_options_t *co2 = client_opts(NULL);
    thrift_error_t kerr;
    thrift_error_clear(&kerr);
    bool keys_ok = !thrift_conn_options_set(co2, "tls", "1", &kerr) &&
                   !thrift_conn_options_set(co2, "tls_ca", cert("ca.pem"), &kerr) &&
                   !thrift_conn_options_set(co2, "tls_server_name", "localhost", &kerr);
    TAP_CHECK(keys_ok, "tls: text keys tls, tls_ca, tls_server_name (%s)", kerr.text);
    char plain[80];
    snprintf(plain, sizeof plain, "127.0.0.1:%d", t->port);
    v = call_add(s, plain, co2, 4, &err);
    TAP_CHECK(v == 44, "tls: 'tls' option on a host:port address, server name set -> 44 (%s)",
              err.text);

    // Pipelined async calls with a large payload (many TLS records each way).
    {
        struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
        thrift_conn_t *c = thrift_conn_new(loop, s, "Other", t->addr, co, &err);
        thrift_arena_t *ar = thrift_arena_new(NULL);
        size_t big = 300000;
        char *name = malloc(big);
        memset(name, 'x', big);
        thrift_value_t *args = thrift_conn_new_args(c, ar, "hello", &err);
        thrift_value_set(args, "name", thrift_value_new_string(ar, name, big));
        free(name);
        thrift_conn_t *cb = thrift_connect(s, "Other", t->addr, co, &err);
        thrift_value_t *r = cb ? thrift_call(cb, "hello", args, &err) : NULL;
        size_t n = 0;
        if (r)
            thrift_value_bytes(r, &n);
        TAP_CHECK(r && n == big, "tls: 300 kB argument and reply over TLS (%s)", err.text);
        thrift_conn_free(cb);
        thrift_conn_free(c);
        thrift_arena_free(ar);
        ev_loop_destroy(loop);
    }

    // Verification failures.
    thrift_conn_options_t *nca = client_opts(NULL);
    v = call_add(s, t->addr, nca, 1, &err);
    TAP_CHECK(v == -1 && strstr(err.text, "unknown CA"),
              "tls: server unknown to the system CAs -> 'unknown CA' (%s)", err.text);
    thrift_conn_options_t *oca = client_opts("other-ca.pem");
    v = call_add(s, t->addr, oca, 1, &err);
    TAP_CHECK(v == -1 && strstr(err.text, "unknown CA"), "tls: wrong CA file -> 'unknown CA' (%s)",
              err.text);
    thrift_conn_options_set_tls_verify(nca, false);
    v = call_add(s, t->addr, nca, 5, &err);
    TAP_CHECK(v == 45, "tls: verify off (--insecure) -> 45 (%s)", err.text);

    // A plain client on the TLS port fails clearly; the server serves on.
    thrift_conn_options_t *po = thrift_conn_options_new();
    thrift_conn_options_set_call_timeout_ms(po, 3000);
    v = call_add(s, plain, po, 1, &err);
    TAP_CHECK(v == -1 && err.code != THRIFT_TIMEOUT,
              "tls: plain client on the TLS port -> an error, not a hang (%s)", err.text);
    static const uint8_t junk[] = {0, 0, 0, 20, 0x80, 1, 0, 1, 0, 0, 0, 3, 'a', 'd', 'd'};
    TAP_CHECK(raw_closed_after(t->port, junk, sizeof junk, 3000),
              "tls: server closes a plain-Thrift connection on its TLS port");
    v = call_add(s, t->addr, co, 6, &err);
    TAP_CHECK(v == 46, "tls: the server serves TLS clients after the plain ones (%s)", err.text);
    unserve(t);

    // Expired and wrong-host certificates.
    thrift_conn_options_t *eo = server_opts("expired.pem", "expired.key", NULL);
    t = serve(s, eo, "tls://127.0.0.1:0", &err);
    v = t ? call_add(s, t->addr, co, 1, &err) : -2;
    TAP_CHECK(v == -1 && strstr(err.text, "expired"), "tls: expired certificate -> 'expired' (%s)",
              err.text);
    unserve(t);
    thrift_conn_options_t *wo = server_opts("wronghost.pem", "wronghost.key", NULL);
    t = serve(s, wo, "tls://127.0.0.1:0", &err);
    v = t ? call_add(s, t->addr, co, 1, &err) : -2;
    TAP_CHECK(v == -1 && strstr(err.text, "wrong host"),
              "tls: certificate for another host -> 'wrong host' (%s)", err.text);
    unserve(t);

    // mTLS: a server with a CA requires client certificates.
    thrift_conn_options_t *mo = server_opts("server.pem", "server.key", "ca.pem");
    t = serve(s, mo, "tls://127.0.0.1:0", &err);
    v = t ? call_add(s, t->addr, co, 1, &err) : -2;
    TAP_CHECK(v == -1, "mtls: a client without a certificate is refused (%s)", err.text);
    thrift_conn_options_t *cc = client_opts("ca.pem");
    thrift_conn_options_set_tls_cert_file(cc, cert("client.pem"));
    thrift_conn_options_set_tls_key_file(cc, cert("client.key"));
    v = t ? call_add(s, t->addr, cc, 7, &err) : -2;
    TAP_CHECK(v == 47, "mtls: a client with a certificate from the CA -> 47 (%s)", err.text);
    thrift_conn_options_t *bc = client_opts("ca.pem");
    thrift_conn_options_set_tls_cert_file(bc, cert("wronghost.pem"));
    thrift_conn_options_set_tls_key_file(bc, cert("server.key"));
    thrift_error_clear(&err);
    thrift_conn_t *bad = thrift_connect(s, "Calc", t ? t->addr : "x:1", bc, &err);
    TAP_CHECK(!bad && strstr(err.text, "mismatch"),
              "tls: a key that does not match its certificate -> clear error (%s)", err.text);
    thrift_conn_free(bad);
    unserve(t);
    // The same server on a plain (unpinned) listener: TLS clients with a
    // certificate only; plaintext would get around the check.
    t = serve(s, mo, "127.0.0.1:0", &err);
    char mplain[80], mtls[80];
    snprintf(mplain, sizeof mplain, "127.0.0.1:%d", t ? t->port : 1);
    snprintf(mtls, sizeof mtls, "tls://localhost:%d", t ? t->port : 1);
    v = t ? call_add(s, mtls, cc, 7, &err) : -2;
    TAP_CHECK(v == 47, "mtls on a detecting port: a client with a certificate -> 47 (%s)", err.text);
    thrift_conn_options_t *pl = thrift_conn_options_new();
    thrift_conn_options_set_call_timeout_ms(pl, 3000);
    v = t ? call_add(s, mplain, pl, 7, &err) : -2;
    TAP_CHECK(v == -1 && err.code != THRIFT_TIMEOUT,
              "mtls on a detecting port: a plaintext client is refused (%s)", err.text);
    thrift_conn_options_free(pl);
    unserve(t);

    // HTTPS: HTTP over the TLS layer.
    t = serve(s, so, "https://127.0.0.1:0/", &err);
    char https[96];
    snprintf(https, sizeof https, "%s/rpc", t ? t->addr : "https://x:1");
    v = t ? call_add(s, https, co, 9, &err) : -2;
    TAP_CHECK(v == 49, "https: add over %s -> 49 (%s)", https, err.text);
    v = t ? call_add(s, https, nca, 9, &err) : -2; // nca has verification off by now
    thrift_conn_options_t *strict = client_opts(NULL);
    v = t ? call_add(s, https, strict, 9, &err) : -2;
    TAP_CHECK(v == -1 && strstr(err.text, "unknown CA"), "https: the certificate is verified (%s)",
              err.text);
    thrift_conn_options_free(strict);
    unserve(t);

    // A server without its certificate cannot listen.
    thrift_conn_options_t *none = thrift_conn_options_new();
    thrift_error_clear(&err);
    t = serve(s, none, "tls://127.0.0.1:0", &err);
    TAP_CHECK(!t && strstr(err.text, "certificate and a key are required"),
              "tls: listen without certificate and key -> error (%s)", err.text);
    unserve(t);

    // A TLS client on a plain port.
    t = serve(s, NULL, "127.0.0.1:0", &err);
    char tlsaddr[80];
    snprintf(tlsaddr, sizeof tlsaddr, "tls://localhost:%d", t->port);
    v = call_add(s, tlsaddr, co, 1, &err);
    TAP_CHECK(v == -1 && err.code != THRIFT_TIMEOUT,
              "tls: TLS client on a plain port -> an error, not a hang (%s)", err.text);
    unserve(t);

    // Handshake deadlines: a server that never answers, and a client that
    // never speaks.
    {
        int lfd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t sl = sizeof sa;
        bind(lfd, (struct sockaddr *)&sa, sizeof sa);
        listen(lfd, 4);
        getsockname(lfd, (struct sockaddr *)&sa, &sl);
        char mute[80];
        snprintf(mute, sizeof mute, "tls://127.0.0.1:%d", ntohs(sa.sin_port));
        thrift_conn_options_t *to = client_opts("ca.pem");
        thrift_conn_options_set_connect_timeout_ms(to, 300);
        v = call_add(s, mute, to, 1, &err);
        TAP_CHECK(v == -1 && err.code == THRIFT_TIMEOUT && strstr(err.text, "TLS handshake"),
                  "tls: a server that never answers the handshake -> timeout (%s)", err.text);
        close(lfd);
        thrift_conn_options_free(to);
    }
    thrift_conn_options_t *ho = server_opts("server.pem", "server.key", NULL);
    thrift_conn_options_set_handshake_timeout_ms(ho, 200);
    t = serve(s, ho, "tls://127.0.0.1:0", &err);
    TAP_CHECK(t && raw_closed_after(t->port, "", 0, 3000),
              "tls: server closes a connection that never starts its handshake (200 ms)");
    v = t ? call_add(s, t->addr, co, 8, &err) : -2;
    TAP_CHECK(v == 48, "tls: and serves the next client (%s)", err.text);
    unserve(t);

    // A graceful stop does not wait for a connection still in its TLS
    // handshake (it has sent no request): it used to hold the stop until
    // the handshake timeout (10 s by default).
    {
        struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
        thrift_error_clear(&err);
        thrift_rpc_server_t *srv = thrift_rpc_server_new(loop, s, so, &err);
        thrift_rpc_server_handle(srv, "Calc", "add", h_add, NULL, &err);
        bool up = srv && thrift_rpc_server_listen(srv, "tls://127.0.0.1:0", &err) == THRIFT_OK;
        int fds[2] = {-1, -1};
        for (int i = 0; up && i < 2; i++) {
            fds[i] = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in sa = {.sin_family = AF_INET,
                                     .sin_port = htons((uint16_t)thrift_rpc_server_port(srv))};
            sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            up = connect(fds[i], (struct sockaddr *)&sa, sizeof sa) == 0;
        }
        // The second one starts a ClientHello and stops mid-record.
        if (up)
            up = send(fds[1], "\x16\x03\x01\x00\x50", 5, MSG_NOSIGNAL) == 5;
        for (int i = 0; up && i < 20; i++) { // the server accepts both
            ev_run(loop, EVRUN_NOWAIT);
            usleep(5000);
        }
        bool done = false;
        double t0 = ev_time();
        if (up) {
            thrift_rpc_server_stop(srv, stop_done, &done);
            ev_timer guard;
            ev_timer_init(&guard, guard_cb, 5.0, 0.);
            ev_timer_start(loop, &guard);
            while (!done && ev_is_active(&guard))
                ev_run(loop, EVRUN_ONCE);
            ev_timer_stop(loop, &guard);
        }
        double took = ev_time() - t0;
        TAP_CHECK(up && done && took < 1.0,
                  "tls: a graceful stop closes connections still in their handshake at once "
                  "(%.2f s; %s)", took, err.text);
        for (int i = 0; i < 2; i++)
            if (fds[i] >= 0)
                close(fds[i]);
        thrift_rpc_server_free(srv);
        ev_loop_destroy(loop);
    }

    thrift_conn_options_t *all[] = {so, co, co2, nca, oca, po, eo, wo, mo, cc, bc, none, ho};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        thrift_conn_options_free(all[i]);
}

static void test_zlib(thrift_schema_t *s) {
    thrift_error_t err;
    thrift_error_clear(&err);
    for (int fr = 0; fr < 2; fr++)
        for (int pr = 0; pr < 2; pr++) {
            thrift_error_clear(&err);
            thrift_conn_options_t *o = thrift_conn_options_new();
            thrift_conn_options_set_zlib(o, true, -1);
            thrift_conn_options_set_framing(o, fr ? THRIFT_FRAMING_FRAMED : THRIFT_FRAMING_BUFFERED);
            thrift_conn_options_set_protocol(o, pr ? THRIFT_PROTO_COMPACT : THRIFT_PROTO_BINARY);
            const char *tag = fr ? (pr ? "framed/compact" : "framed/binary")
                                 : (pr ? "buffered/compact" : "buffered/binary");
            srv_thread_t *t = serve(s, o, "127.0.0.1:0", &err);
            thrift_conn_t *c = t ? thrift_connect(s, "Other", t->addr, o, &err) : NULL;
            thrift_arena_t *ar = thrift_arena_new(NULL);
            bool ok = c != NULL;
            // Several calls on one connection: one deflate stream each way.
            for (int i = 0; ok && i < 3; i++) {
                size_t big = i == 1 ? 200000 : 5;
                char *name = malloc(big);
                memset(name, 'a' + i, big);
                thrift_value_t *args = thrift_conn_new_args(c, ar, "hello", &err);
                thrift_value_set(args, "name", thrift_value_new_string(ar, name, big));
                thrift_value_t *r = thrift_call(c, "hello", args, &err);
                size_t n = 0;
                const uint8_t *p = r ? thrift_value_bytes(r, &n) : NULL;
                ok = p && n == big && p[0] == 'a' + i && p[big - 1] == 'a' + i;
                free(name);
            }
            TAP_CHECK(ok, "zlib %s: three echoes (one of 200 kB) on one connection (%s)", tag,
                      err.text);
            thrift_conn_free(c);
            thrift_arena_free(ar);
            // A zlib client on a plain server gets an error, not a hang.
            if (fr == 1 && pr == 0) {
                thrift_conn_options_t *p = thrift_conn_options_new();
                thrift_conn_options_set_call_timeout_ms(p, 3000);
                int64_t v = t ? call_add(s, t->addr, p, 1, &err) : -2;
                TAP_CHECK(v == -1 && err.code != THRIFT_TIMEOUT,
                          "zlib: a plain client on a zlib server -> error (%s)", err.text);
                thrift_conn_options_free(p);
            }
            unserve(t);
            thrift_conn_options_free(o);
        }
#ifdef DYNTHRIFT_HAVE_ZLIB
    // A zip bomb: 64 MB of zeros compressed to ~64 kB, against a 1 MB limit.
    thrift_conn_options_t *o = thrift_conn_options_new();
    thrift_conn_options_set_zlib(o, true, -1);
    thrift_conn_options_set_framing(o, THRIFT_FRAMING_BUFFERED);
    thrift_conn_options_set_max_frame_size(o, 1 << 20);
    srv_thread_t *t = serve(s, o, "127.0.0.1:0", &err);
    size_t raw = 64u << 20;
    uint8_t *zeros = calloc(1, raw);
    // A call header first, so the bytes look like the start of a message.
    static const uint8_t hdr[] = {0x80, 1, 0, 1, 0, 0, 0, 4, 'p', 'i', 'n', 'g', 0, 0, 0, 1, 11, 0, 1, 0x7f, 0xff, 0xff, 0xff};
    memcpy(zeros, hdr, sizeof hdr);
    uLongf zlen = compressBound(raw);
    uint8_t *z = malloc(zlen);
    compress2(z, &zlen, zeros, raw, 9);
    free(zeros);
    TAP_CHECK(t && raw_closed_after(t->port, z, zlen, 5000),
              "zlib: a %lu-byte bomb of 64 MB is refused and the connection closed", (unsigned long)zlen);
    size_t held = t ? thrift_rpc_server_buffer_bytes(t->srv) : 0;
    TAP_CHECK(held <= (2u << 20), "zlib: the server holds %zu buffer bytes after it (limit 1 MB)",
              held);
    free(z);
    thrift_error_clear(&err);
    thrift_conn_t *c = t ? thrift_connect(s, "Calc", t->addr, o, &err) : NULL;
    thrift_value_t *r = c ? thrift_call(c, "ping", NULL, &err) : NULL;
    TAP_CHECK(r != NULL, "zlib: and serves the next client (%s)", err.text);
    thrift_conn_free(c);
    unserve(t);
    thrift_conn_options_free(o);
#endif
}

/* Sends `bytes` on a new connection and collects what comes back until
 * the server closes (or 3 s pass): the byte count, -1 when still open. */
/* Sends bytes and reads the answer until the server closes (one_frame
 * false) or until one whole frame (4-byte length and its bytes) came;
 * -1 when the server stays silent for 3 s. */
static ssize_t raw_exchange_ex(int port, const void *bytes, size_t n, uint8_t *reply, size_t cap,
                               bool one_frame) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -2;
    }
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)send(fd, bytes, n, MSG_NOSIGNAL);
    size_t got = 0;
    for (;;) {
        ssize_t r = recv(fd, reply + got, cap - got, 0);
        if (r > 0 && (got += (size_t)r) < cap) {
            if (one_frame && got >= 4 &&
                got >= 4 + ((size_t)reply[0] << 24 | (size_t)reply[1] << 16 |
                            (size_t)reply[2] << 8 | reply[3]))
                break;
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            got = (size_t)-1;
        break;
    }
    close(fd);
    return (ssize_t)got;
}

/* thrift_call_submit_headers from another thread than the loop's: the
 * call's headers reach the handler with the connection's, once. */
typedef struct submit_outcome {
    char text[200];
    char served_by[40];
    thrift_status_t status;
    struct ev_loop *loop;
} submit_outcome_t;

static void submit_headers_cb(thrift_conn_t *conn, thrift_result_t *r, void *ud) {
    (void)conn;
    submit_outcome_t *out = ud;
    out->status = thrift_result_status(r);
    size_t n = 0;
    const thrift_value_t *v = thrift_result_value(r);
    const uint8_t *p = v ? thrift_value_bytes(v, &n) : NULL;
    snprintf(out->text, sizeof out->text, "%.*s", (int)n, p ? (const char *)p : "");
    const char *by = thrift_result_header(r, "served-by");
    snprintf(out->served_by, sizeof out->served_by, "%s", by ? by : "-");
    ev_break(out->loop, EVBREAK_ALL);
}

typedef struct submitter {
    thrift_conn_t *c;
    submit_outcome_t *out;
    thrift_status_t st;
    thrift_status_t bad_key, too_long;
} submitter_t;

static void *submit_headers_thread(void *arg) {
    submitter_t *sub = arg;
    static const char *const headers[] = {"call", "submitted", "extra", "1"};
    static const char *const empty_key[] = {"", "x"};
    static char long_value[THRIFT_HEADER_TEXT_MAX + 2];
    memset(long_value, 'v', sizeof long_value - 1);
    const char *const too_long[] = {"k", long_value};
    sub->bad_key = thrift_call_submit_headers(sub->c, "ping", NULL, empty_key, 1,
                                              submit_headers_cb, sub->out, NULL);
    sub->too_long = thrift_call_submit_headers(sub->c, "ping", NULL, too_long, 1,
                                               submit_headers_cb, sub->out, NULL);
    sub->st = thrift_call_submit_headers(sub->c, "ping", NULL, headers, 2, submit_headers_cb,
                                         sub->out, NULL);
    return NULL;
}

static void test_submit_headers(thrift_schema_t *s, const char *addr,
                                const thrift_conn_options_t *o) {
    thrift_error_t err;
    thrift_error_clear(&err);
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    thrift_conn_t *c = thrift_conn_new(loop, s, "Calc", addr, o, &err);
    submit_outcome_t out = {.status = THRIFT_IO, .loop = loop};
    submitter_t sub = {.c = c, .out = &out};
    pthread_t th;
    if (c && !thrift_conn_set_header(c, "who", "submitter") &&
        pthread_create(&th, NULL, submit_headers_thread, &sub) == 0) {
        pthread_join(th, NULL);
        if (sub.st == THRIFT_OK)
            ev_run(loop, 0);
    }
    TAP_CHECK(sub.bad_key == THRIFT_MISUSE && sub.too_long == THRIFT_LIMIT,
              "header submit: an empty key and an over-long value refused up front (%d, %d)",
              (int)sub.bad_key, (int)sub.too_long);
    TAP_STREQ(out.text, "pong who=submitter call=submitted n=3",
              "header submit: the call's headers cross with the connection's");
    TAP_STREQ(out.served_by, "dynthrift", "header submit: the reply's header comes back");
    thrift_conn_free(c);
    ev_loop_destroy(loop);
}

static ssize_t raw_exchange(int port, const void *bytes, size_t n, uint8_t *reply, size_t cap) {
    return raw_exchange_ex(port, bytes, n, reply, cap, false);
}

static void test_header(thrift_schema_t *s) {
    thrift_error_t err;
    thrift_error_clear(&err);
    for (int pr = 0; pr < 2; pr++)
        for (int z = 0; z < 2; z++) {
#ifndef DYNTHRIFT_HAVE_ZLIB
            if (z) {
                printf("ok %d - # SKIP header zlib transform: built without zlib\n", ++tap_count_);
                continue;
            }
#endif
            thrift_conn_options_t *o = thrift_conn_options_new();
            thrift_error_t kerr;
            thrift_error_clear(&kerr);
            thrift_conn_options_set(o, "transport", "header", &kerr);
            thrift_conn_options_set(o, "protocol", pr ? "compact" : "binary", &kerr);
            if (z)
                thrift_conn_options_set(o, "zlib", "1", &kerr);
            char tag[40];
            snprintf(tag, sizeof tag, "header/%s%s", pr ? "compact" : "binary", z ? "+zlib" : "");
            // The server pins nothing but THeader: each frame says its protocol.
            thrift_conn_options_t *so = thrift_conn_options_new();
            thrift_conn_options_set_framing(so, THRIFT_FRAMING_HEADER);
            srv_thread_t *t = serve(s, so, "127.0.0.1:0", &err);
            thrift_conn_t *c = t ? thrift_connect(s, "Calc", t->addr, o, &err) : NULL;
            TAP_CHECK(c && !thrift_conn_set_header(c, "who", "test") &&
                          !thrift_conn_set_call_header(c, "call", "first"),
                      "%s: connect and set headers (%s)", tag, err.text);
            thrift_value_t *r = c ? thrift_call(c, "ping", NULL, &err) : NULL;
            size_t n = 0;
            const uint8_t *p = r ? thrift_value_bytes(r, &n) : NULL;
            char got[200];
            snprintf(got, sizeof got, "%.*s", (int)n, p ? (const char *)p : "");
            TAP_STREQ(got, "pong who=test call=first n=2",
                      "%s: the handler reads the connection's and the call's headers", tag);
            thrift_result_t *res = c ? thrift_conn_last_result(c) : NULL;
            TAP_STREQ(thrift_result_header(res, "served-by"), "dynthrift",
                      "%s: the client reads the reply's header", tag);
            r = c ? thrift_call(c, "ping", NULL, &err) : NULL;
            p = r ? thrift_value_bytes(r, &n) : NULL;
            snprintf(got, sizeof got, "%.*s", (int)n, p ? (const char *)p : "");
            TAP_STREQ(got, "pong who=test call=- n=1", "%s: a call header goes with one call only",
                      tag);
            if (pr == 0 && z == 0 && t)
                test_submit_headers(s, t->addr, o);
            // A large echo: the zlib transform, frames over many reads.
            thrift_conn_t *o2 = t ? thrift_connect(s, "Other", t->addr, o, &err) : NULL;
            thrift_arena_t *ar = thrift_arena_new(NULL);
            size_t big = 250000;
            char *name = malloc(big);
            memset(name, 'h', big);
            thrift_value_t *args = o2 ? thrift_conn_new_args(o2, ar, "hello", &err) : NULL;
            if (args)
                thrift_value_set(args, "name", thrift_value_new_string(ar, name, big));
            r = args ? thrift_call(o2, "hello", args, &err) : NULL;
            p = r ? thrift_value_bytes(r, &n) : NULL;
            TAP_CHECK(p && n == big && p[big - 1] == 'h', "%s: 250 kB echo (%s)", tag, err.text);
            free(name);
            thrift_arena_free(ar);
            thrift_conn_free(o2);
            thrift_conn_free(c);
            // Plain framed clients of either protocol on the THeader server.
            if (z == 0) {
                thrift_conn_options_t *fo = thrift_conn_options_new();
                thrift_conn_options_set_protocol(fo, pr ? THRIFT_PROTO_COMPACT : THRIFT_PROTO_BINARY);
                int64_t v = t ? call_add(s, t->addr, fo, 9, &err) : -2;
                TAP_CHECK(v == 49, "%s server: a framed %s client answered in kind (%s)", tag,
                          pr ? "compact" : "binary", err.text);
                thrift_conn_options_free(fo);
            }
            unserve(t);
            thrift_conn_options_free(o);
            thrift_conn_options_free(so);
        }

    // Faults, on raw frames.
    thrift_conn_options_t *so = thrift_conn_options_new();
    thrift_conn_options_set_framing(so, THRIFT_FRAMING_HEADER);
    thrift_conn_options_set_max_frame_size(so, 1 << 16);
    srv_thread_t *t = serve(s, so, "127.0.0.1:0", &err);
    // binary ping(), seqid 7, behind a header with transform 99
    static const uint8_t bad_transform[] = {
        0, 0, 0, 31, 0x0f, 0xff, 0, 0, 0, 0, 0, 7, 0, 1, /* hdr words */
        0, 1, 99, 0,                                    /* binary, 1 transform: 99, pad */
        0x80, 1, 0, 1, 0, 0, 0, 4, 'p', 'i', 'n', 'g', 0, 0, 0, 7, 0};
    uint8_t reply[4096];
    ssize_t got = t ? raw_exchange(t->port, bad_transform, sizeof bad_transform, reply, sizeof reply) : -2;
    bool is_header = got > 14 && reply[4] == 0x0f && reply[5] == 0xff && reply[11] == 7;
    bool names_it = false;
    for (ssize_t i = 0; i + 9 < got; i++)
        names_it |= !memcmp(reply + i, "transform", 9);
    // The exception's type (field 2, i32) is INVALID_TRANSFORM = 8.
    bool typed = false;
    for (ssize_t i = 0; i + 6 < got; i++)
        typed |= reply[i] == 8 && reply[i + 1] == 0 && reply[i + 2] == 2 && reply[i + 3] == 0 &&
                 reply[i + 4] == 0 && reply[i + 5] == 0 && reply[i + 6] == THRIFT_APPEX_INVALID_TRANSFORM;
    TAP_CHECK(got > 0 && is_header && names_it && typed,
              "header: an unknown transform -> TApplicationException INVALID_TRANSFORM in a THeader "
              "frame with the request's seqid, then close (%zd bytes)", got);
    static const uint8_t beyond[] = {0, 0, 0, 14, 0x0f, 0xff, 0, 0, 0, 0, 0, 1, 0x40, 0,
                                     0, 0, 0, 0};
    got = t ? raw_exchange(t->port, beyond, sizeof beyond, reply, sizeof reply) : -2;
    TAP_CHECK(got >= 0, "header: a header size beyond its frame -> the server closes (%zd)", got);
    static const uint8_t huge_kv[] = {0, 0, 0, 16, 0x0f, 0xff, 0, 0, 0, 0, 0, 1, 0, 1,
                                      0, 0, 1, 0xff, 0xff, 0xff};
    got = t ? raw_exchange(t->port, huge_kv, sizeof huge_kv, reply, sizeof reply) : -2;
    TAP_CHECK(got >= 0, "header: an info-header count beyond the header -> the server closes (%zd)",
              got);
#ifdef DYNTHRIFT_HAVE_ZLIB
    {
        // A zlib-transformed payload of 16 MB of zeros in a 16 kB frame,
        // against a 64 kB limit: refused while inflating.
        size_t raw = 16u << 20;
        uint8_t *zeros = calloc(1, raw);
        uLongf zlen = compressBound(raw);
        uint8_t *frame = malloc(zlen + 18);
        compress2(frame + 18, &zlen, zeros, raw, 9);
        free(zeros);
        static const uint8_t hdr[] = {0, 0, 0, 0, 0x0f, 0xff, 0, 0, 0, 0, 0, 3, 0, 1, 0, 1, 1, 0};
        memcpy(frame, hdr, sizeof hdr);
        uint32_t n = (uint32_t)(zlen + 14);
        frame[0] = (uint8_t)(n >> 24), frame[1] = (uint8_t)(n >> 16), frame[2] = (uint8_t)(n >> 8),
        frame[3] = (uint8_t)n;
        got = t ? raw_exchange(t->port, frame, zlen + 18, reply, sizeof reply) : -2;
        size_t held = t ? thrift_rpc_server_buffer_bytes(t->srv) : 0;
        TAP_CHECK(got >= 0 && held < (1u << 20),
                  "header: a %lu-byte zlib-transform bomb of 16 MB -> closed, %zu buffer bytes held",
                  (unsigned long)zlen, held);
        free(frame);
    }
#endif
    thrift_conn_options_t *co = thrift_conn_options_new();
    thrift_conn_options_set_framing(co, THRIFT_FRAMING_HEADER);
    int64_t v = t ? call_add(s, t->addr, co, 1, &err) : -2;
    TAP_CHECK(v == 41, "header: the server serves on after the faults (%s)", err.text);
    // JSON inside THeader (protocol id 1 in HeaderFormat.md; no Debian
    // peer speaks it): a round trip with an info header, then the bytes.
    thrift_conn_options_set_protocol(co, THRIFT_PROTO_JSON);
    thrift_error_clear(&err);
    v = t ? call_add(s, t->addr, co, 5, &err) : -2;
    TAP_CHECK(v == 45, "header json: add round trip (%s)", err.text);
    thrift_conn_t *c = t ? thrift_connect(s, "Calc", t->addr, co, &err) : NULL;
    thrift_value_t *pr = c && !thrift_conn_set_header(c, "who", "json")
                             ? thrift_call(c, "ping", NULL, &err) : NULL;
    size_t pn = 0;
    const uint8_t *pp = pr ? thrift_value_bytes(pr, &pn) : NULL;
    const char *served = c ? thrift_result_header(thrift_conn_last_result(c), "served-by") : NULL;
    TAP_CHECK(pp && pn >= 13 && !memcmp(pp, "pong who=json", 13) && served &&
                  !strcmp(served, "dynthrift"),
              "header json: info headers both ways (%.*s)", (int)pn, pp ? (const char *)pp : "");
    thrift_conn_free(c);
    // A ping built from the spec: frame length, magic 0x0FFF, flags 0,
    // seqid 7, 1 header word: protocol 1 (JSON), 0 transforms, padding;
    // then TJSONProtocol's message.
    static const uint8_t json_ping[] = {0, 0, 0, 31, 0x0f, 0xff, 0, 0, 0, 0, 0, 7, 0, 1, 1, 0, 0, 0,
                                        '[', '1', ',', '"', 'p', 'i', 'n', 'g', '"', ',', '1', ',',
                                        '7', ',', '{', '}', ']'};
    got = t ? raw_exchange_ex(t->port, json_ping, sizeof json_ping, reply, sizeof reply, true) : -2;
    uint32_t flen = got >= 4 ? (uint32_t)reply[0] << 24 | (uint32_t)reply[1] << 16 |
                                   (uint32_t)reply[2] << 8 | reply[3]
                             : 0;
    size_t hwords = got >= 14 ? (size_t)(reply[12] << 8 | reply[13]) : 0;
    const char *body = (const char *)reply + 14 + hwords * 4;
    TAP_CHECK(got >= 18 && flen == (uint32_t)got - 4 && reply[4] == 0x0f && reply[5] == 0xff &&
                  reply[11] == 7 && reply[14] == 1 && (ssize_t)(14 + hwords * 4) < got &&
                  !strncmp(body, "[1,\"ping\",2,7,", 13),
              "header json: a spec-built JSON ping is answered with protocol id 1 and a JSON reply "
              "(%zd bytes: %.*s)", got, got > 14 ? (int)(got - 14 - (ssize_t)hwords * 4) : 0,
              got > 14 ? body : "");
    thrift_conn_options_free(co);
    unserve(t);
    thrift_conn_options_free(so);
}

static int ordered[8], norder;
static bool three_ordered; /* norder reached 3 */

static void order_cb(thrift_conn_t *c, thrift_result_t *r, void *ud) {
    (void)c;
    (void)r;
    if (norder < 8)
        ordered[norder++] = (int)(intptr_t)ud;
    three_ordered = norder >= 3;
}

/* A one-shot HTTP peer on a thread: reads a request, answers `reply`. */
typedef struct fake_http {
    int lfd, port;
    const char *reply;
    size_t reply_len;
    pthread_t th;
} fake_http_t;

static void *fake_http_main(void *p) {
    fake_http_t *f = p;
    int fd = accept(f->lfd, NULL, NULL);
    if (fd >= 0) {
        char buf[4096];
        (void)recv(fd, buf, sizeof buf, 0);
        (void)send(fd, f->reply, f->reply_len, MSG_NOSIGNAL);
        close(fd);
    }
    return NULL;
}

static void fake_http_start(fake_http_t *f, const char *reply, size_t len) {
    f->reply = reply;
    f->reply_len = len;
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    bind(f->lfd, (struct sockaddr *)&sa, sizeof sa);
    listen(f->lfd, 4);
    getsockname(f->lfd, (struct sockaddr *)&sa, &sl);
    f->port = ntohs(sa.sin_port);
    pthread_create(&f->th, NULL, fake_http_main, f);
}

static void test_http(thrift_schema_t *s) {
    thrift_error_t err;
    thrift_error_clear(&err);
    srv_thread_t *t = serve(s, NULL, "http://127.0.0.1:0/", &err);
    TAP_CHECK(t != NULL, "http: server listens on http://127.0.0.1:0/ (%s)", err.text);
    if (!t)
        return;
    char addr[80];
    snprintf(addr, sizeof addr, "http://127.0.0.1:%d/thrift", t->port);
    const thrift_protocol_t protos[] = {THRIFT_PROTO_BINARY, THRIFT_PROTO_COMPACT, THRIFT_PROTO_JSON};
    for (int i = 0; i < 3; i++) {
        thrift_conn_options_t *o = thrift_conn_options_new();
        thrift_conn_options_set_protocol(o, protos[i]);
        thrift_conn_options_add_http_header(o, "X-Test", "1");
        thrift_conn_t *c = thrift_connect(s, "Calc", addr, o, &err);
        thrift_arena_t *ar = thrift_arena_new(NULL);
        int ok = 0;
        for (int k = 0; c && k < 3; k++) {
            thrift_value_t *args = thrift_conn_new_args(c, ar, "add", &err);
            thrift_value_set(args, "a", thrift_value_new_i32(ar, k));
            thrift_value_set(args, "b", thrift_value_new_i64(ar, 40));
            thrift_value_t *r = thrift_call(c, "add", args, &err);
            ok += r && thrift_value_int(r) == 40 + k;
        }
        TAP_CHECK(ok == 3 && thrift_conn_break_count(c) == 0,
                  "http/%s: three calls on one kept-alive connection (%s)",
                  thrift_protocol_name(protos[i]), err.text);
        thrift_arena_free(ar);
        thrift_conn_free(c);
        thrift_conn_options_free(o);
    }
    // Pipelined: slow(150), slow(10), ping on one connection: answered in
    // request order although the second handler finishes first.
    {
        struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
        thrift_conn_t *c = thrift_conn_new(loop, s, "Calc", addr, NULL, &err);
        thrift_arena_t *ar = thrift_arena_new(NULL);
        norder = 0;
        three_ordered = false;
        int ms[] = {150, 10};
        for (int k = 0; k < 2; k++) {
            thrift_value_t *args = thrift_conn_new_args(c, ar, "slow", &err);
            thrift_value_set(args, "ms", thrift_value_new_i32(ar, ms[k]));
            thrift_call_async(c, "slow", args, order_cb, (void *)(intptr_t)(k + 1));
        }
        thrift_call_async(c, "ping", NULL, order_cb, (void *)(intptr_t)3);
        run_until(loop, &three_ordered, 10.);
        TAP_CHECK(ordered[0] == 1 && ordered[1] == 2 && ordered[2] == 3 &&
                      thrift_conn_break_count(c) == 0,
                  "http: three pipelined requests, answered in order on one connection");
        thrift_conn_free(c);
        thrift_arena_free(ar);
        ev_loop_destroy(loop);
    }
    // A request pipelined behind a handler slower than the read timeout is
    // whole, not partial: the connection stays.
    {
        thrift_conn_options_t *ro = thrift_conn_options_new();
        thrift_conn_options_set_read_timeout_ms(ro, 100);
        srv_thread_t *t2 = serve(s, ro, "http://127.0.0.1:0/", &err);
        char a2[80];
        snprintf(a2, sizeof a2, "http://127.0.0.1:%d/", t2 ? t2->port : 1);
        struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
        thrift_conn_t *c = thrift_conn_new(loop, s, "Calc", a2, NULL, &err);
        thrift_arena_t *ar = thrift_arena_new(NULL);
        norder = 0;
        three_ordered = false;
        thrift_value_t *args = thrift_conn_new_args(c, ar, "slow", &err);
        thrift_value_set(args, "ms", thrift_value_new_i32(ar, 300));
        // The first call makes the server show keep-alive, so the next two
        // are pipelined behind the slow one.
        thrift_call_async(c, "ping", NULL, order_cb, (void *)(intptr_t)1);
        thrift_call_async(c, "slow", args, order_cb, (void *)(intptr_t)2);
        thrift_call_async(c, "ping", NULL, order_cb, (void *)(intptr_t)3);
        run_until(loop, &three_ordered, 10.);
        TAP_CHECK(ordered[2] == 3 && thrift_conn_break_count(c) == 0,
                  "http: a request waiting behind a 300 ms handler outlives a 100 ms read timeout");
        thrift_conn_free(c);
        thrift_arena_free(ar);
        ev_loop_destroy(loop);
        // A slowloris head that stops arriving is cut by the read timeout.
        static const char drip[] = "POST / HTTP/1.1\r\nHost: x\r\nX-Slow: a";
        ssize_t dgot = t2 ? raw_exchange(t2->port, drip, sizeof drip - 1, (uint8_t[64]){0}, 64) : -2;
        TAP_CHECK(dgot >= 0, "http: a head that stops arriving is closed by the read timeout "
                  "(%zd bytes back)", dgot);
        unserve(t2);
        thrift_conn_options_free(ro);
    }
    // Malformed and hostile requests: a status, then close; the server serves on.
    uint8_t reply[4096];
    struct {
        const char *req, *status, *what;
    } bad[] = {
        {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 405", "GET -> 405"},
        {"POST / HTTP/1.1\r\nContent-Length: 10000000000\r\n\r\n", "HTTP/1.1 413",
         "Content-Length of 10 GB -> 413 before any allocation"},
        {"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", "HTTP/1.1 400",
         "two different Content-Lengths -> 400"},
        {"POST /\r\n\r\n", "HTTP/1.1 400", "a bad request line -> 400"},
        {"\x80\x01\x00\x01", "HTTP/1.1 400", "Thrift bytes on an HTTP port -> 400"},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "HTTP/1.1 501",
         "an unknown transfer encoding -> 501"},
        {"POST / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 411", "no Content-Length -> 411"},
        {"OPTIONS / HTTP/1.1\r\nOrigin: http://x\r\nConnection: close\r\n\r\n",
         "HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: *\r\nAccess-Control-Allow-Methods: POST, OPTIONS",
         "CORS preflight answered as Apache's C++ THttpServer"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        ssize_t got = raw_exchange(t->port, bad[k].req, strlen(bad[k].req), reply, sizeof reply - 1);
        if (got >= 0)
            reply[got] = 0;
        TAP_CHECK(got > 0 && !strncmp((char *)reply, bad[k].status, strlen(bad[k].status)),
                  "http: %s, then close", bad[k].what);
    }
    // A slowloris header: 20 kB of header lines and no end.
    char *slow = malloc(20001);
    memcpy(slow, "POST / HTTP/1.1\r\n", 17);
    for (size_t k = 17; k < 20000; k++)
        slow[k] = k % 50 == 49 ? '\n' : 'a';
    slow[20000] = 0;
    ssize_t got = raw_exchange(t->port, slow, 20000, reply, sizeof reply - 1);
    TAP_CHECK(got > 0 && !strncmp((char *)reply, "HTTP/1.1 431", 12),
              "http: a header past 16 kB -> 431, then close");
    free(slow);
    // A chunked request body, hand-made: add(1, 2) in binary.
    static const uint8_t call[] = {0x80, 1, 0, 1, 0, 0, 0, 3, 'a', 'd', 'd', 0, 0, 0, 9,
                                   8, 0, 1, 0, 0, 0, 1, 10, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0};
    char chunked[512];
    int n = snprintf(chunked, sizeof chunked,
                     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                     "%x\r\n", 10);
    memcpy(chunked + n, call, 10);
    n += 10;
    n += snprintf(chunked + n, sizeof chunked - (size_t)n, "\r\n%zx\r\n", sizeof call - 10);
    memcpy(chunked + n, call + 10, sizeof call - 10);
    n += (int)(sizeof call - 10);
    n += snprintf(chunked + n, sizeof chunked - (size_t)n, "\r\n0\r\n\r\n");
    got = raw_exchange(t->port, chunked, (size_t)n, reply, sizeof reply - 1);
    // The reply ends with the i64 result 3 and a field stop.
    TAP_CHECK(got > 20 && !strncmp((char *)reply, "HTTP/1.1 200 OK", 15) && reply[got - 2] == 3 &&
                  reply[got - 1] == 0,
              "http: a chunked request body is joined and answered (%zd bytes)", got);
    int64_t v = call_add(s, addr, NULL, 2, &err);
    TAP_CHECK(v == 42, "http: the server serves on after the faults (%s)", err.text);
    unserve(t);

    // A server that answers 404: the client's error names the status.
    fake_http_t f;
    static const char nf[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    fake_http_start(&f, nf, sizeof nf - 1);
    snprintf(addr, sizeof addr, "http://127.0.0.1:%d/", f.port);
    v = call_add(s, addr, NULL, 1, &err);
    TAP_CHECK(v == -1 && strstr(err.text, "HTTP status 404 Not Found"),
              "http: a 404 is an error naming the status (%s)", err.text);
    pthread_join(f.th, NULL);
    close(f.lfd);
    // 100 Continue before the answer is skipped: the answer to ping, by hand.
    static const uint8_t pong[] = {0x80, 1, 0, 2, 0, 0, 0, 4, 'p', 'i', 'n', 'g', 0, 0, 0, 1,
                                   11, 0, 0, 0, 0, 0, 4, 'p', 'o', 'n', 'g', 0};
    static char cont[512];
    int cn = snprintf(cont, sizeof cont,
                      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
                      sizeof pong);
    memcpy(cont + cn, pong, sizeof pong);
    fake_http_t f2;
    fake_http_start(&f2, cont, (size_t)cn + sizeof pong);
    snprintf(addr, sizeof addr, "http://127.0.0.1:%d/", f2.port);
    thrift_error_clear(&err);
    thrift_conn_t *c = thrift_connect(s, "Calc", addr, NULL, &err);
    thrift_value_t *r = c ? thrift_call(c, "ping", NULL, &err) : NULL;
    size_t rn = 0;
    const uint8_t *rp = r ? thrift_value_bytes(r, &rn) : NULL;
    TAP_CHECK(rp && rn == 4 && !memcmp(rp, "pong", 4), "http: a 100 Continue before the answer is "
              "skipped (%s)", err.text);
    thrift_conn_free(c);
    pthread_join(f2.th, NULL);
    close(f2.lfd);
}

/* An HTTP/1.0 peer as Apache's Python THttpServer: per connection it reads
 * one POST, waits `delay_ms` (its handler), answers `replies[i]` (a 200
 * without Content-Length, the body ending at the close) and closes.  It
 * records, per connection, the bytes that came after that one request
 * (a client that pipelines on it sends some). */
typedef struct http10_peer {
    int lfd, port, delay_ms;
    const char *replies[2];
    size_t reply_lens[2];
    int accepted, requests;
    atomic_int answered; /* replies sent */
    size_t extra[2];
    pthread_t th;
} http10_peer_t;

/* Reads one request (head, then a Content-Length body) from fd: the bytes
 * read past its end in *extra, false when none came whole. */
static bool read_one_request(int fd, size_t *extra) {
    char buf[8192];
    size_t have = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + have, sizeof buf - 1 - have, 0);
        if (n <= 0)
            return false;
        have += (size_t)n;
        buf[have] = 0;
        char *end = strstr(buf, "\r\n\r\n");
        const char *cl = strstr(buf, "Content-Length: ");
        if (end && cl && cl < end) {
            size_t want = (size_t)(end + 4 - buf) + (size_t)atol(cl + 16);
            if (have >= want) {
                *extra = have - want;
                return true;
            }
        }
        if (have >= sizeof buf - 1)
            return false;
    }
}

static void *http10_peer_main(void *p) {
    http10_peer_t *f = p;
    for (int i = 0; i < 2; i++) {
        int fd = accept(f->lfd, NULL, NULL);
        if (fd < 0)
            break;
        f->accepted++;
        struct timeval tv = {2, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        size_t extra = 0;
        if (read_one_request(fd, &extra)) {
            f->requests++;
            usleep((useconds_t)f->delay_ms * 1000);
            atomic_fetch_add(&f->answered, 1);
            (void)send(fd, f->replies[i], f->reply_lens[i], MSG_NOSIGNAL);
            shutdown(fd, SHUT_WR);
            // Whatever the client still sends on this connection, until it
            // closes its end.
            char sink[4096];
            ssize_t n;
            while ((n = recv(fd, sink, sizeof sink, 0)) > 0)
                extra += (size_t)n;
        }
        f->extra[i] = extra;
        close(fd);
    }
    return NULL;
}

static double mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* HTTP/1.0 as Apache's Python THttpServer speaks it: a oneway's 200 has no
 * Content-Length and the connection closes; the client must read that
 * answer before its next request, which goes on a new connection, and a
 * reply without Content-Length ends at the close. */
static void test_http10(thrift_schema_t *s) {
    static const char ow_answer[] = "HTTP/1.0 200 OK\r\nServer: BaseHTTP/0.6\r\n"
                                    "Content-Type: application/x-thrift\r\n\r\n";
    // ping's reply, seqid 2 (the oneway took 1).
    static const uint8_t pong[] = {0x80, 1, 0, 2, 0, 0, 0, 4, 'p', 'i', 'n', 'g', 0, 0, 0, 2,
                                   11, 0, 0, 0, 0, 0, 4, 'p', 'o', 'n', 'g', 0};
    static char ping_answer[256];
    int pn = snprintf(ping_answer, sizeof ping_answer,
                      "HTTP/1.0 200 OK\r\nContent-Type: application/x-thrift\r\n\r\n");
    memcpy(ping_answer + pn, pong, sizeof pong);

    http10_peer_t f = {.delay_ms = 300,
                       .replies = {ow_answer, ping_answer},
                       .reply_lens = {sizeof ow_answer - 1, (size_t)pn + sizeof pong}};
    f.lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    bind(f.lfd, (struct sockaddr *)&sa, sizeof sa);
    listen(f.lfd, 4);
    getsockname(f.lfd, (struct sockaddr *)&sa, &sl);
    f.port = ntohs(sa.sin_port);
    struct timeval tv = {5, 0}; // accept gives up rather than hang the test
    setsockopt(f.lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    pthread_create(&f.th, NULL, http10_peer_main, &f);

    char addr[80];
    snprintf(addr, sizeof addr, "http://127.0.0.1:%d/", f.port);
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_conn_options_t *o = thrift_conn_options_new();
    thrift_conn_options_set(o, "call_timeout_ms", "3000", &err);
    thrift_conn_t *c = thrift_connect(s, "Calc", addr, o, &err);
    thrift_arena_t *ar = thrift_arena_new(NULL);
    thrift_value_t *args = c ? thrift_conn_new_args(c, ar, "fire", &err) : NULL;
    if (args)
        thrift_value_set(args, "n", thrift_value_new_i32(ar, 7));
    double t0 = mono_ms();
    thrift_value_t *r = args ? thrift_call(c, "fire", args, &err) : NULL;
    double took = mono_ms() - t0;
    TAP_CHECK(r != NULL && atomic_load(&f.answered) == 0,
              "http/1.0: a oneway returns once written, not after the server's answer "
              "(%.0f ms, %s)", took, err.text);
    r = c ? thrift_call(c, "ping", NULL, &err) : NULL;
    size_t rn = 0;
    const uint8_t *rp = r ? thrift_value_bytes(r, &rn) : NULL;
    TAP_CHECK(rp && rn == 4 && !memcmp(rp, "pong", 4),
              "http/1.0: the call after a oneway gets its reply, its body ended by the close (%s)",
              err.text);
    thrift_arena_free(ar);
    thrift_conn_free(c);
    thrift_conn_options_free(o);
    pthread_join(f.th, NULL);
    close(f.lfd);
    TAP_CHECK(f.accepted == 2 && f.requests == 2 && f.extra[0] == 0 && f.extra[1] == 0,
              "http/1.0: one request per connection, none sent before the oneway's answer "
              "(%d connections, %d requests, %zu+%zu bytes more)",
              f.accepted, f.requests, f.extra[0], f.extra[1]);

    // A body up to the close is bounded by the frame limit.
    static char big[4096];
    int bn = snprintf(big, sizeof big, "HTTP/1.0 200 OK\r\n\r\n");
    memset(big + bn, 'x', sizeof big - (size_t)bn);
    fake_http_t fb;
    fake_http_start(&fb, big, sizeof big);
    snprintf(addr, sizeof addr, "http://127.0.0.1:%d/", fb.port);
    thrift_conn_options_t *lo = thrift_conn_options_new();
    thrift_conn_options_set_max_frame_size(lo, 1024);
    thrift_error_clear(&err);
    c = thrift_connect(s, "Calc", addr, lo, &err);
    r = c ? thrift_call(c, "ping", NULL, &err) : NULL;
    TAP_CHECK(!r && strstr(err.text, "exceeds the limit of 1024"),
              "http/1.0: a body up to the close past the frame limit is refused (%s)", err.text);
    thrift_conn_free(c);
    thrift_conn_options_free(lo);
    pthread_join(fb.th, NULL);
    close(fb.lfd);
}

/* One port, many kinds: a server with default options (and a certificate)
 * answers every kind of client on one plain listener. */
static void test_detect(thrift_schema_t *s, bool with_tls) {
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_conn_options_t *so = with_tls ? server_opts("server.pem", "server.key", NULL)
                                         : thrift_conn_options_new();
    srv_thread_t *t = serve(s, so, "127.0.0.1:0", &err);
    TAP_CHECK(t != NULL, "detect: server with default options listens (%s)", err.text);
    if (!t) {
        thrift_conn_options_free(so);
        return;
    }
    struct {
        const char *scheme, *transport, *protocol;
    } kinds[] = {
        {"", "framed", "binary"},     {"", "framed", "compact"},   {"", "framed", "json"},
        {"", "buffered", "binary"},   {"", "buffered", "compact"}, {"", "buffered", "json"},
        {"", "header", "binary"},     {"", "header", "compact"},   {"http://", "framed", "binary"},
        {"http://", "framed", "json"}, {"tls://", "framed", "binary"}, {"tls://", "header", "compact"},
        {"https://", "framed", "compact"}, {"tls://", "buffered", "json"},
    };
    int tried = 0, ok = 0;
    char failed[400] = "";
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        bool tls = kinds[k].scheme[0] && strstr(kinds[k].scheme, "s://");
        if (tls && !with_tls)
            continue;
        tried++;
        thrift_conn_options_t *o = client_opts(tls ? "ca.pem" : NULL);
        thrift_error_t kerr;
        thrift_error_clear(&kerr);
        thrift_conn_options_set(o, "transport", kinds[k].transport, &kerr);
        thrift_conn_options_set(o, "protocol", kinds[k].protocol, &kerr);
        char addr[96];
        snprintf(addr, sizeof addr, "%slocalhost:%d%s", kinds[k].scheme, t->port,
                 strncmp(kinds[k].scheme, "http", 4) ? "" : "/");
        int64_t v = call_add(s, addr, o, 2, &err);
        if (v == 42)
            ok++;
        else
            snprintf(failed + strlen(failed), sizeof failed - strlen(failed), " %s%s/%s: %s;",
                     kinds[k].scheme, kinds[k].transport, kinds[k].protocol, err.text);
        thrift_conn_options_free(o);
    }
    TAP_CHECK(ok == tried, "detect%s: %d of %d kinds of client answered in kind on one port%s",
              with_tls ? " (with TLS)" : "", ok, tried, failed);
    // Old-style (unversioned) binary, unframed: ping() by hand.
    static const uint8_t old[] = {0, 0, 0, 4, 'p', 'i', 'n', 'g', 1, 0, 0, 0, 5, 0};
    uint8_t reply[512];
    ssize_t got = -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)t->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        send(fd, old, sizeof old, MSG_NOSIGNAL) == (ssize_t)sizeof old)
        got = recv(fd, reply, sizeof reply, 0);
    close(fd);
    bool has_pong = false;
    for (ssize_t i = 0; i + 4 <= got; i++)
        has_pong |= !memcmp(reply + i, "pong", 4);
    TAP_CHECK(has_pong, "detect: an old-style binary unframed client answered (%zd bytes)", got);
    // Pinned: a server with an explicit framing refuses the others.
    unserve(t);
    thrift_conn_options_t *po = thrift_conn_options_new();
    thrift_conn_options_set_framing(po, THRIFT_FRAMING_FRAMED);
    t = serve(s, po, "127.0.0.1:0", &err);
    thrift_conn_options_t *bo = thrift_conn_options_new();
    thrift_conn_options_set_framing(bo, THRIFT_FRAMING_BUFFERED);
    thrift_conn_options_set_call_timeout_ms(bo, 2000);
    int64_t v = t ? call_add(s, t->addr, bo, 2, &err) : -2;
    TAP_CHECK(v == -1, "detect: a pinned framed server does not answer a buffered client (%s)",
              err.text);
    unserve(t);
    thrift_conn_options_free(bo);
    thrift_conn_options_free(po);
    thrift_conn_options_free(so);
}

static void test_options(void) {
    thrift_conn_options_t *o = thrift_conn_options_new();
    thrift_error_t err;
    thrift_error_clear(&err);
    TAP_CHECK(thrift_conn_options_set(o, "tls_verify", "2", &err) == THRIFT_INVALID,
              "options: tls_verify takes 0 or 1");
    char longp[700];
    memset(longp, 'p', sizeof longp - 1);
    longp[sizeof longp - 1] = 0;
    thrift_error_clear(&err);
    TAP_CHECK(thrift_conn_options_set(o, "tls_ca", longp, &err) == THRIFT_LIMIT &&
                  thrift_conn_options_set_tls_cert_file(o, longp) == THRIFT_LIMIT,
              "options: a path over THRIFT_OPTION_TEXT_MAX is refused");
    thrift_error_clear(&err);
    TAP_CHECK(thrift_conn_options_set(o, "zlib_level", "10", &err) == THRIFT_INVALID,
              "options: zlib_level 10 refused");
    thrift_error_clear(&err);
    TAP_CHECK(!thrift_conn_options_set(o, "zlib_level", "-1", &err) &&
                  !thrift_conn_options_set(o, "handshake_timeout_ms", "500", &err),
              "options: zlib_level -1, handshake_timeout_ms");
    thrift_schema_t *s = fixture_schema();
    thrift_error_clear(&err);
    TAP_CHECK(thrift_conn_options_set(o, "http_path", "no-slash", &err) == THRIFT_INVALID &&
                  thrift_conn_options_add_http_header(o, "X-Bad", "a\r\nInjected: 1") ==
                      THRIFT_INVALID &&
                  thrift_conn_options_add_http_header(o, "Bad Name", "v") == THRIFT_INVALID,
              "options: an HTTP path without '/', header values with CR/LF, names with spaces "
              "refused");
    thrift_error_clear(&err);
    TAP_CHECK(!thrift_conn_options_set(o, "http_header", "X-Ok: yes", &err) &&
                  !thrift_conn_options_set(o, "http_path", "/svc", &err),
              "options: http_header, http_path (%s)", err.text);
    thrift_error_clear(&err);
    thrift_conn_t *c = thrift_connect(s, "Calc", "http://127.0.0.1:1/x", NULL, &err);
    TAP_CHECK(!c && err.code != THRIFT_INVALID && strstr(err.text, "refused"),
              "addresses: http://host:port/path parsed and dialled (%s)", err.text);
    thrift_error_clear(&err);
    c = thrift_connect(s, "Calc", "tls://127.0.0.1:1/x", NULL, &err);
    TAP_CHECK(!c && err.code == THRIFT_INVALID, "addresses: tls:// takes no path (%s)", err.text);
    thrift_schema_unref(s);
    thrift_conn_options_free(o);
}

static void tls_budget_add_cb(thrift_conn_t *conn, thrift_result_t *result, void *ud) {
    (void)conn;
    *(int64_t *)ud = thrift_result_status(result) == THRIFT_OK ? thrift_value_int(thrift_result_value(result)) : -1;
}

/* Over TLS a read callback stops at the message budget (256 calls) with
 * the rest of a record's calls (~500) in the read buffer; after the last
 * record the socket has nothing more to say, and the backlog must still be
 * handled, in order.  (Plaintext held inside the TLS layer is the zlib
 * cases' concern: those fail when the backlog does not read through the
 * stream.) */
static void test_tls_read_budget(thrift_schema_t *s) {
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    thrift_conn_options_t *so = server_opts("server.pem", "server.key", NULL);
    thrift_rpc_server_t *srv = fixture_server(loop, s, so, "tls://127.0.0.1:0");
    thrift_conn_options_free(so);
    char addr[64];
    snprintf(addr, sizeof addr, "tls://localhost:%d", thrift_rpc_server_port(srv));
    thrift_conn_options_t *co = client_opts("ca.pem");
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_conn_t *c = thrift_conn_new(loop, s, "Calc", addr, co, &err);
    thrift_conn_options_free(co);
    thrift_arena_t *ar = thrift_arena_new(NULL);
    enum { CALLS = 3000 };
    int64_t first = 0, last = 0;
    thrift_value_t *add = thrift_conn_new_args(c, ar, "add", &err);
    thrift_value_set(add, "a", thrift_value_new_i32(ar, 1));
    thrift_value_set(add, "b", thrift_value_new_i64(ar, 40));
    thrift_call_async(c, "add", add, tls_budget_add_cb, &first);
    double until = ev_time() + 5;
    while (first == 0 && ev_time() < until) { // connected and the handshake done
        ev_run(loop, EVRUN_NOWAIT);
        ev_sleep(0.001);
    }
    fired_total = 0;
    thrift_value_t *fire = thrift_conn_new_args(c, ar, "fire", &err);
    thrift_value_set(fire, "n", thrift_value_new_i32(ar, 7));
    for (int i = 0; i < CALLS; i++)
        thrift_call_async(c, "fire", fire, NULL, NULL);
    thrift_call_async(c, "add", add, tls_budget_add_cb, &last);
    until = ev_time() + 10;
    while (last == 0 && ev_time() < until) {
        ev_run(loop, EVRUN_NOWAIT);
        ev_sleep(0.001);
    }
    TAP_CHECK(first == 41 && fired_total == CALLS && last == 41,
              "tls: %d pipelined oneway calls past the message budget are all handled, and the "
              "call after them answered, without more input (%d; %lld)", CALLS, fired_total,
              (long long)last);
    thrift_arena_free(ar);
    thrift_conn_free(c);
    thrift_rpc_server_free(srv);
    ev_run(loop, EVRUN_NOWAIT);
    ev_loop_destroy(loop);
}

static char tls_detail[512];
static int tls_detail_closed;

static void tls_detail_cb(thrift_rpc_server_t *srv, thrift_conn_event_t ev, uint64_t id,
                          const char *peer, thrift_close_reason_t why, const char *detail,
                          void *ud) {
    (void)srv;
    (void)id;
    (void)peer;
    (void)ud;
    if (ev == THRIFT_CONN_EVENT_CLOSED) {
        tls_detail_closed++;
        snprintf(tls_detail, sizeof tls_detail, "%s: %s", thrift_close_reason_str(why), detail);
    }
}

/* A failed TLS handshake's close says why (the connection callback's
 * detail, what dynthrift serve -v prints). */
static void test_tls_close_detail(thrift_schema_t *s) {
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    thrift_conn_options_t *so = server_opts("server.pem", "server.key", NULL);
    thrift_error_t err;
    thrift_error_clear(&err);
    thrift_rpc_server_t *srv = thrift_rpc_server_new(loop, s, so, &err);
    thrift_conn_options_free(so);
    thrift_rpc_server_set_conn_detail_cb(srv, tls_detail_cb, NULL);
    thrift_rpc_server_listen(srv, "tls://127.0.0.1:0", &err);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)thrift_rpc_server_port(srv))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    tls_detail_closed = 0;
    tls_detail[0] = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
        (void)!send(fd, junk, sizeof junk - 1, MSG_NOSIGNAL);
    double until = ev_time() + 5;
    while (!tls_detail_closed && ev_time() < until) {
        ev_run(loop, EVRUN_NOWAIT);
        ev_sleep(0.002);
    }
    TAP_CHECK(tls_detail_closed == 1 && !strncmp(tls_detail, "TLS handshake", 13) &&
                  strlen(tls_detail) > strlen("TLS handshake failed or timed out: ") + 3,
              "tls: a failed handshake's close says why (%s)", tls_detail);
    close(fd);
    thrift_rpc_server_free(srv);
    ev_loop_destroy(loop);
}

/* thrift_rpc_server_listen_fd: a listening socket made elsewhere (as
 * tornado's bind_sockets makes them) is served; anything else is refused
 * and stays the caller's. */
static void test_listen_fd(thrift_schema_t *s) {
    thrift_error_t err;
    thrift_error_clear(&err);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    int ok = lfd >= 0 && bind(lfd, (struct sockaddr *)&sin, sizeof sin) == 0 &&
             getsockname(lfd, (struct sockaddr *)&sin, &len) == 0;
    int unlistened = socket(AF_INET, SOCK_STREAM, 0);
    srv_thread_t *t = calloc(1, sizeof *t);
    t->loop = ev_loop_new(EVFLAG_AUTO);
    t->srv = thrift_rpc_server_new(t->loop, s, NULL, &err);
    thrift_rpc_server_handle(t->srv, "Calc", "add", h_add, NULL, &err);
    TAP_CHECK(ok && thrift_rpc_server_listen_fd(t->srv, lfd, &err) == THRIFT_MISUSE &&
                  thrift_rpc_server_listen_fd(t->srv, unlistened, NULL) == THRIFT_MISUSE &&
                  fcntl(lfd, F_GETFD) >= 0,
              "listen_fd: a socket not listening is refused and left open (%s)", err.text);
    close(unlistened);
    thrift_error_clear(&err);
    TAP_CHECK(listen(lfd, 16) == 0 && thrift_rpc_server_listen_fd(t->srv, lfd, &err) == THRIFT_OK &&
                  thrift_rpc_server_port(t->srv) == ntohs(sin.sin_port),
              "listen_fd: a listening socket is adopted, its port reported (%s)", err.text);
    snprintf(t->addr, sizeof t->addr, "127.0.0.1:%d", ntohs(sin.sin_port));
    ev_async_init(&t->stop, stop_cb);
    ev_async_start(t->loop, &t->stop);
    pthread_create(&t->th, NULL, server_main, t);
    int64_t v = call_add(s, t->addr, NULL, 2, &err);
    TAP_CHECK(v == 42, "listen_fd: a client is answered there (%s)", err.text);
    unserve(t); /* closes lfd */
    TAP_CHECK(fcntl(lfd, F_GETFD) < 0, "listen_fd: the socket closes with the server");
}

/* A TLS layer writing to a socket whose peer is gone gets EPIPE, not the
 * SIGPIPE that OpenSSL's own socket BIO (write(2)) raised, which killed a
 * server when a client left mid-handshake or mid-answer: here the
 * ClientHello goes to a socket pair's closed end, in this process whose
 * SIGPIPE is not ignored. */
static void test_tls_no_sigpipe(void) {
    thrift_error_t err;
    thrift_error_clear(&err);
    int sv[2];
    TAP_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "tls sigpipe: a socket pair");
    close(sv[1]);
    thrift_conn_options_t *co = client_opts("ca.pem");
    thrift__tls_ctx_t *ctx = thrift__tls_ctx_new(co, false, &err);
    thrift__stream_t st;
    thrift_status_t rc = ctx ? thrift__stream_init(&st, sv[0], co, ctx, "localhost", &err)
                             : THRIFT_NOMEM;
    if (rc == THRIFT_OK) {
        rc = thrift__stream_open(&st, &err);
        thrift__stream_free(&st);
    }
    TAP_CHECK(rc != THRIFT_OK && rc != THRIFT_NEED_MORE && err.text[0],
              "tls sigpipe: a handshake into a closed socket is an error, not a signal (%s)", err.text);
    thrift__tls_ctx_free(ctx);
    thrift_conn_options_free(co);
    close(sv[0]);
}

/* Client connections with one TLS configuration share one OpenSSL context
 * (a pool of N loads its CA once); a different CA, a verify setting or a
 * changed file gets its own; the last user frees it; connections on
 * several threads at once take and drop references safely. */
typedef struct shared_ctx_thread {
    thrift_schema_t *schema;
    const char *addr;
    const thrift_conn_options_t *opts;
    int ok;
    pthread_t th;
} shared_ctx_thread_t;

static void *shared_ctx_worker(void *p) {
    shared_ctx_thread_t *w = p;
    for (int i = 0; i < 4; i++) {
        thrift_error_t err;
        if (call_add(w->schema, w->addr, w->opts, i, &err) == i + 40)
            w->ok++;
    }
    return NULL;
}

static void test_tls_shared_ctx(thrift_schema_t *s) {
    thrift_error_t err;
    thrift_error_clear(&err);
    size_t base = thrift__tls_client_ctx_count();
    TAP_CHECK(base == 0, "tls shared: no client context alive between tests (%zu)", base);
    thrift_conn_options_t *so = server_opts("server.pem", "server.key", NULL);
    srv_thread_t *t = serve(s, so, "tls://127.0.0.1:0", &err);
    TAP_CHECK(t != NULL, "tls shared: server listens (%s)", err.text);
    if (!t) {
        thrift_conn_options_free(so);
        return;
    }
    thrift_conn_options_t *co = client_opts("ca.pem");
    enum { N = 8 };
    thrift_conn_t *conns[N];
    int made = 0;
    for (int i = 0; i < N; i++) {
        thrift_error_clear(&err);
        conns[i] = thrift_connect(s, "Calc", t->addr, co, &err);
        made += conns[i] != NULL;
    }
    TAP_CHECK(made == N && thrift__tls_client_ctx_count() == 1,
              "tls shared: %d connections with one configuration share 1 context (%zu)", made,
              thrift__tls_client_ctx_count());
    for (int i = 0; i < N; i++)
        thrift_conn_free(conns[i]);
    TAP_CHECK(thrift__tls_client_ctx_count() == 0,
              "tls shared: the last connection's free frees the context (%zu)",
              thrift__tls_client_ctx_count());

    // The same files under another server name share; another CA, verify
    // off, or a rewritten CA file do not.
    thrift_conn_options_t *named = client_opts("ca.pem");
    thrift_conn_options_set_tls_server_name(named, "other.example");
    thrift_conn_options_t *other = client_opts("other-ca.pem");
    thrift_conn_options_t *noverify = client_opts("ca.pem");
    thrift_conn_options_set_tls_verify(noverify, false);
    thrift__tls_ctx_t *a = thrift__tls_ctx_new(co, false, &err);
    thrift__tls_ctx_t *b = thrift__tls_ctx_new(named, false, &err);
    thrift__tls_ctx_t *c = thrift__tls_ctx_new(other, false, &err);
    thrift__tls_ctx_t *d = thrift__tls_ctx_new(noverify, false, &err);
    TAP_CHECK(a && b && c && d && thrift__tls_ctx_same_ssl_ctx(a, b) &&
                  !thrift__tls_ctx_same_ssl_ctx(a, c) && !thrift__tls_ctx_same_ssl_ctx(a, d) &&
                  thrift__tls_client_ctx_count() == 3,
              "tls shared: server name shares, another CA or verify off does not (%zu contexts)",
              thrift__tls_client_ctx_count());
    char copy[600];
    snprintf(copy, sizeof copy, "%s/ca-copy.pem", certs);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", cert("ca.pem"), copy);
    int rc = system(cmd);
    thrift_conn_options_t *copied = thrift_conn_options_new();
    thrift_conn_options_set_tls_ca_file(copied, copy);
    thrift__tls_ctx_t *e = thrift__tls_ctx_new(copied, false, &err);
    // The file rewritten (a renewed CA): a new mtime, so a new context for
    // new connections while the old one stays with e.
    struct timespec later[2] = {{.tv_sec = 0, .tv_nsec = UTIME_OMIT}, {.tv_sec = 1000000000}};
    int touched = utimensat(AT_FDCWD, copy, later, 0);
    thrift__tls_ctx_t *f = thrift__tls_ctx_new(copied, false, &err);
    TAP_CHECK(rc == 0 && touched == 0 && e && f && !thrift__tls_ctx_same_ssl_ctx(e, f) &&
                  !thrift__tls_ctx_same_ssl_ctx(a, e) && thrift__tls_client_ctx_count() == 5,
              "tls shared: a changed CA file gets a new context, the old one lives on (%zu)",
              thrift__tls_client_ctx_count());
    thrift__tls_ctx_free(a);
    TAP_CHECK(thrift__tls_client_ctx_count() == 5, "tls shared: a context lives while one user is left");
    thrift__tls_ctx_free(b);
    thrift__tls_ctx_free(c);
    thrift__tls_ctx_free(d);
    thrift__tls_ctx_free(e);
    thrift__tls_ctx_free(f);
    TAP_CHECK(thrift__tls_client_ctx_count() == 0, "tls shared: all freed with their last users");

    // Four threads connecting and closing at once (TSan checks the
    // reference counting).
    shared_ctx_thread_t w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (shared_ctx_thread_t){.schema = s, .addr = t->addr, .opts = co};
        pthread_create(&w[i].th, NULL, shared_ctx_worker, &w[i]);
    }
    int ok = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(w[i].th, NULL);
        ok += w[i].ok;
    }
    TAP_CHECK(ok == 16 && thrift__tls_client_ctx_count() == 0,
              "tls shared: 16 calls on 4 threads at once, nothing left after (%d, %zu)", ok,
              thrift__tls_client_ctx_count());
    thrift_conn_options_free(copied);
    thrift_conn_options_free(named);
    thrift_conn_options_free(other);
    thrift_conn_options_free(noverify);
    thrift_conn_options_free(co);
    thrift_conn_options_free(so);
    unserve(t);
}

int main(void) { /* the fixture's all-handlers server: not needed here */
    thrift_schema_t *s = fixture_schema();
    test_options();
    test_listen_fd(s);
    test_header(s);
    test_http(s);
    test_http10(s);
    test_detect(s, false);
#ifdef DYNTHRIFT_HAVE_TLS
    char tmpl[] = "/tmp/dynthrift-tls-XXXXXX";
    const char *root = getenv("DYNTHRIFT_SOURCE_ROOT");
    char cmd[1024];
    if (root && mkdtemp(tmpl)) {
        snprintf(certs, sizeof certs, "%s", tmpl);
        snprintf(cmd, sizeof cmd, "sh '%s/test/tls_certs.sh' '%s'", root, certs);
        int rc = system(cmd);
        if (rc == 0) {
            test_tls(s);
            test_detect(s, true);
            test_tls_read_budget(s);
            test_tls_close_detail(s);
            test_tls_shared_ctx(s);
            test_tls_no_sigpipe();
        }
        else
            printf("ok %d - # SKIP tls: cannot make test certificates (openssl missing?)\n",
                   ++tap_count_);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", certs);
        (void)system(cmd);
    } else {
        printf("ok %d - # SKIP tls: DYNTHRIFT_SOURCE_ROOT unset\n", ++tap_count_);
    }
#else
    (void)test_tls;
    thrift_error_t nerr;
    thrift_error_clear(&nerr);
    thrift_conn_options_t *no = thrift_conn_options_new();
    TAP_CHECK(thrift_conn_options_set(no, "tls", "1", &nerr) == THRIFT_UNSUPPORTED,
              "no OpenSSL: the tls option says so (%s)", nerr.text);
    thrift_error_clear(&nerr);
    thrift_conn_t *nc = thrift_connect(s, "Calc", "tls://127.0.0.1:1", NULL, &nerr);
    TAP_CHECK(!nc && nerr.code == THRIFT_UNSUPPORTED && strstr(nerr.text, "OpenSSL"),
              "no OpenSSL: a tls:// address is a clear error (%s)", nerr.text);
    thrift_conn_options_free(no);
#endif
#ifdef DYNTHRIFT_HAVE_ZLIB
    test_zlib(s);
#else
    (void)test_zlib;
    thrift_error_t zerr;
    thrift_error_clear(&zerr);
    thrift_conn_options_t *zo = thrift_conn_options_new();
    TAP_CHECK(thrift_conn_options_set(zo, "zlib", "1", &zerr) == THRIFT_UNSUPPORTED,
              "no zlib: the zlib option says so (%s)", zerr.text);
    thrift_conn_options_free(zo);
#endif
    thrift_schema_unref(s);
    return tap_done();
}
