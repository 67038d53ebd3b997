/* The TLS layer on OpenSSL: non-blocking handshake and records over the
 * socket (OpenSSL may need to write to read and the other way round: the
 * layer reports which socket event it waits for in stream->want), server
 * certificate and key, verification of the server by the client (CA file
 * or the system's, host name, SNI), client certificates (mTLS), and an
 * error that says what went wrong in the terms a user can act on. */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "net/net_impl.h"
#include "net/stream.h"

/* A file an SSL_CTX was loaded from, as it was then: a client context is
 * reused only while its files are the same ones, unchanged (a renewed
 * certificate or CA file gets a new context for new connections; the old
 * one lives on with the connections that use it). */
typedef struct tls_file_id {
    char path[THRIFT_OPTION_TEXT_MAX + 1]; /* "" for none */
    dev_t dev;
    ino_t ino;
    struct timespec mtime;
    off_t size;
} tls_file_id_t;

/* A client SSL_CTX shared by every client connection with the same TLS
 * configuration (CA, certificate, key, verify; the server name is per
 * connection), so a pool of N connections loads its CA file once.
 * Refcounted; in the process-wide list while it has users. */
typedef struct tls_shared_ctx {
    struct tls_shared_ctx *next;
    SSL_CTX *ctx;
    unsigned refs; /* under tls_shared_lock */
    bool verify;
    tls_file_id_t ca, cert, key;
} tls_shared_ctx_t;

static pthread_mutex_t tls_shared_lock = PTHREAD_MUTEX_INITIALIZER;
static tls_shared_ctx_t *tls_shared_list;

struct thrift__tls_ctx {
    SSL_CTX *ctx;              /* server: owned; client: shared->ctx */
    tls_shared_ctx_t *shared;  /* client: the shared context this holds a reference to */
    bool server;
    bool verify;
    char server_name[THRIFT_OPTION_TEXT_MAX + 1]; /* overrides the address's host */
};

typedef struct tls_layer {
    thrift__layer_t base;
    thrift__tls_ctx_t *ctx; /* borrowed: outlives its connections */
    SSL *ssl;
    bool bio_attached;
    bool eof; /* the socket BIO read an end of stream (BIO_CTRL_EOF) */
    bool handshaken;
    char host[THRIFT_OPTION_TEXT_MAX + 1]; /* what the certificate must name ("" for no check) */
} tls_layer_t;

/* The OpenSSL error queue's first entry as text (and the queue cleared). */
static void ssl_reason(char *buf, size_t n) {
    unsigned long e = ERR_get_error();
    if (!e) {
        snprintf(buf, n, "%s", "unknown error");
        return;
    }
    const char *r = ERR_reason_error_string(e);
    if (r)
        snprintf(buf, n, "%s", r);
    else
        ERR_error_string_n(e, buf, n);
    ERR_clear_error();
}

/* Fills id from path (""/NULL: no file).  A file that cannot be stat'ed
 * keeps zeros: loading it reports the error. */
static void file_id_of(tls_file_id_t *id, const char *path) {
    memset(id, 0, sizeof *id);
    if (!path || !path[0])
        return;
    snprintf(id->path, sizeof id->path, "%s", path);
    struct stat st;
    if (stat(path, &st) == 0) {
        id->dev = st.st_dev;
        id->ino = st.st_ino;
        id->mtime = st.st_mtim;
        id->size = st.st_size;
    }
}

static bool file_id_same(const tls_file_id_t *a, const tls_file_id_t *b) {
    return strcmp(a->path, b->path) == 0 && a->dev == b->dev && a->ino == b->ino &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
           a->size == b->size;
}

/* Drops one reference to a shared client context: the last frees it. */
static void shared_ctx_release(tls_shared_ctx_t *sh) {
    pthread_mutex_lock(&tls_shared_lock);
    bool last = --sh->refs == 0;
    if (last) {
        tls_shared_ctx_t **pp = &tls_shared_list;
        while (*pp != sh)
            pp = &(*pp)->next;
        *pp = sh->next;
    }
    pthread_mutex_unlock(&tls_shared_lock);
    if (last) {
        SSL_CTX_free(sh->ctx);
        free(sh);
    }
}

void thrift__tls_ctx_free(thrift__tls_ctx_t *c) {
    if (!c)
        return;
    if (c->shared)
        shared_ctx_release(c->shared);
    else
        SSL_CTX_free(c->ctx);
    free(c);
}

size_t thrift__tls_client_ctx_count(void) {
    size_t n = 0;
    pthread_mutex_lock(&tls_shared_lock);
    for (const tls_shared_ctx_t *sh = tls_shared_list; sh; sh = sh->next)
        n++;
    pthread_mutex_unlock(&tls_shared_lock);
    return n;
}

bool thrift__tls_ctx_same_ssl_ctx(const thrift__tls_ctx_t *a, const thrift__tls_ctx_t *b) {
    return a && b && a->ctx == b->ctx;
}

/* A new SSL_CTX from the options, with the settings every context has;
 * NULL with err set. */
static SSL_CTX *ssl_ctx_make(const thrift_conn_options_t *o, bool server, bool verify,
                             thrift_error_t *err) {
    char why[256];
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx) {
        ssl_reason(why, sizeof why);
        thrift__error_set(err, THRIFT_NOMEM, "TLS: cannot make a context: %s", why);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    // Our write buffer may move between retries of a partial write.
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // Buffers stay allocated between records (no alloc/free per call).
    SSL_CTX_clear_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    // Read ahead: one recv takes a record's 5-byte header and its body
    // (and whatever follows) instead of a recv for each; the layer asks
    // SSL_has_pending, not SSL_pending, whether bytes are buffered.
    SSL_CTX_set_read_ahead(ctx, 1);
    // TLS 1.3: AES-128-GCM first (OpenSSL's default puts AES-256-GCM
    // first): 10 AES rounds instead of 14, at the 128-bit level the rest
    // of a typical setup (P-256 keys, SHA-256) has anyway.  With AES-NI the
    // gain is small (openssl speed: 2% at 128-byte, 6% at 4 KB records),
    // without it larger.  Both remain, and ChaCha20.
    if (SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                                      "TLS_CHACHA20_POLY1305_SHA256") != 1)
        ERR_clear_error(); // keep OpenSSL's defaults
    if (server && (!o->tls_cert[0] || !o->tls_key[0])) {
        thrift__error_set(err, THRIFT_MISUSE,
                          "TLS server: a certificate and a key are required (tls_cert, tls_key)");
        goto fail;
    }
    if (o->tls_cert[0] && SSL_CTX_use_certificate_chain_file(ctx, o->tls_cert) != 1) {
        ssl_reason(why, sizeof why);
        thrift__error_set(err, THRIFT_IO, "TLS: cannot load the certificate '%s': %s", o->tls_cert,
                          why);
        goto fail;
    }
    if (o->tls_key[0]) {
        if (SSL_CTX_use_PrivateKey_file(ctx, o->tls_key, SSL_FILETYPE_PEM) != 1) {
            ssl_reason(why, sizeof why);
            thrift__error_set(err, THRIFT_IO, "TLS: cannot load the key '%s': %s", o->tls_key, why);
            goto fail;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            ERR_clear_error();
            thrift__error_set(err, THRIFT_INVALID, "TLS: the key '%s' does not match the certificate '%s'",
                              o->tls_key, o->tls_cert);
            goto fail;
        }
    }
    if (verify) {
        int rc = o->tls_ca[0] ? SSL_CTX_load_verify_locations(ctx, o->tls_ca, NULL)
                              : SSL_CTX_set_default_verify_paths(ctx);
        if (rc != 1) {
            ssl_reason(why, sizeof why);
            thrift__error_set(err, THRIFT_IO, "TLS: cannot load the CA file '%s': %s",
                              o->tls_ca[0] ? o->tls_ca : "(system)", why);
            goto fail;
        }
        // OpenSSL fills a certificate's extension cache on its first use,
        // checking a flag outside its lock: fill it now, while the context
        // has one user, so the connections that share it only read.
        STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx));
        for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
            X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
            if (x)
                (void)X509_check_purpose(x, -1, 0);
        }
        // A server with a CA requires client certificates (mTLS).
        SSL_CTX_set_verify(ctx,
                           server ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                                  : SSL_VERIFY_PEER,
                           NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/* The shared client context for o's configuration, with a reference taken:
 * found in the list, or made (outside the lock: loading files is slow)
 * and added unless another thread added an equal one meanwhile. */
static tls_shared_ctx_t *shared_ctx_get(const thrift_conn_options_t *o, bool verify,
                                        thrift_error_t *err) {
    tls_shared_ctx_t key = {.verify = verify};
    // The CA file counts only when it is loaded (verify on).
    file_id_of(&key.ca, verify ? o->tls_ca : NULL);
    file_id_of(&key.cert, o->tls_cert);
    file_id_of(&key.key, o->tls_key);
    for (;;) {
        pthread_mutex_lock(&tls_shared_lock);
        for (tls_shared_ctx_t *sh = tls_shared_list; sh; sh = sh->next) {
            if (sh->verify == key.verify && file_id_same(&sh->ca, &key.ca) &&
                file_id_same(&sh->cert, &key.cert) && file_id_same(&sh->key, &key.key)) {
                sh->refs++;
                pthread_mutex_unlock(&tls_shared_lock);
                if (key.ctx)
                    SSL_CTX_free(key.ctx); // another thread's won the race
                return sh;
            }
        }
        if (key.ctx) {
            tls_shared_ctx_t *sh = malloc(sizeof *sh);
            if (!sh) {
                pthread_mutex_unlock(&tls_shared_lock);
                SSL_CTX_free(key.ctx);
                thrift__error_set(err, THRIFT_NOMEM, "out of memory");
                return NULL;
            }
            *sh = key;
            sh->refs = 1;
            sh->next = tls_shared_list;
            tls_shared_list = sh;
            pthread_mutex_unlock(&tls_shared_lock);
            return sh;
        }
        pthread_mutex_unlock(&tls_shared_lock);
        if (!(key.ctx = ssl_ctx_make(o, false, verify, err)))
            return NULL;
    }
}

thrift__tls_ctx_t *thrift__tls_ctx_new(const thrift_conn_options_t *o, bool server,
                                       thrift_error_t *err) {
    ERR_clear_error();
    thrift__tls_ctx_t *c = calloc(1, sizeof *c);
    if (!c) {
        thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        return NULL;
    }
    c->server = server;
    c->verify = server ? o->tls_ca[0] != 0 : o->tls_verify;
    snprintf(c->server_name, sizeof c->server_name, "%s", o->tls_server_name);
    if (server) {
        c->ctx = ssl_ctx_make(o, true, c->verify, err);
    } else if ((c->shared = shared_ctx_get(o, c->verify, err))) {
        c->ctx = c->shared->ctx;
    }
    if (!c->ctx) {
        free(c);
        return NULL;
    }
    return c;
}

/* Why the handshake failed, in words a user can act on. */
static void handshake_error(tls_layer_t *t, int sslerr, thrift_error_t *err) {
    long vr = SSL_get_verify_result(t->ssl);
    unsigned long e = ERR_peek_error();
    const char *side = t->ctx->server ? "client" : "server";
    if (vr != X509_V_OK && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        const char *what = X509_verify_cert_error_string(vr);
        const char *hint = "";
        if (vr == X509_V_ERR_CERT_HAS_EXPIRED)
            hint = " (expired)";
        else if (vr == X509_V_ERR_HOSTNAME_MISMATCH || vr == X509_V_ERR_IP_ADDRESS_MISMATCH)
            hint = " (wrong host: the certificate does not name it)";
        else if (vr == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
                 vr == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
                 vr == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN)
            hint = " (unknown CA: give its certificate as the CA file)";
        ERR_clear_error();
        thrift__error_set(err, THRIFT_TRANSPORT, "TLS: the %s's certificate failed verification: %s%s",
                          side, what, hint);
        return;
    }
    if (sslerr == SSL_ERROR_SYSCALL && !e) {
        thrift__error_set(err, THRIFT_CLOSED,
                          "TLS: the %s closed the connection during the handshake%s", side,
                          errno && errno != EAGAIN ? "" : " (it may not speak TLS, or rejected us)");
        ERR_clear_error();
        return;
    }
    if (sslerr == SSL_ERROR_ZERO_RETURN) {
        thrift__error_set(err, THRIFT_CLOSED, "TLS: the %s closed the connection during the handshake",
                          side);
        return;
    }
    int reason = ERR_GET_REASON(e);
    char why[256];
    ssl_reason(why, sizeof why);
    const char *hint = "";
    if (reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_HTTP_REQUEST ||
        reason == SSL_R_PACKET_LENGTH_TOO_LONG ||
        reason == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        hint = t->ctx->server ? " (the client does not speak TLS)" : " (the server does not speak TLS)";
    else if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
        hint = " (this server requires a client certificate)";
    else if (reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED)
        hint = " (the server requires a client certificate)";
    thrift__error_set(err, THRIFT_TRANSPORT, "TLS handshake with the %s failed: %s%s", side, why, hint);
}

/* ---- the socket BIO ---------------------------------------------------------
 * OpenSSL's own socket BIO writes with write(2): a peer that closed while a
 * reply or a TLS 1.3 session ticket was on its way raised SIGPIPE and
 * killed the whole server process.  This one sends with MSG_NOSIGNAL (as
 * the plain socket layer does) and reads the stream's current fd; one
 * recv/send per call, as OpenSSL's. */

static int sock_bio_write(BIO *b, const char *buf, int len) {
    tls_layer_t *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t n = send(t->base.stream->fd, buf, (size_t)len, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_write(b);
    return (int)n;
}

static int sock_bio_read(BIO *b, char *buf, int len) {
    tls_layer_t *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (!buf || len <= 0)
        return 0;
    ssize_t n = recv(t->base.stream->fd, buf, (size_t)len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_read(b);
    else if (n == 0)
        t->eof = true;
    return (int)n;
}

static long sock_bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
    (void)num;
    tls_layer_t *t = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1; // nothing held: every write went to send
    case BIO_CTRL_EOF:
        return t->eof; // OpenSSL tells an unexpected EOF from a blocked read by this
    case BIO_C_GET_FD:
        if (ptr)
            *(int *)ptr = t->base.stream->fd;
        return t->base.stream->fd;
    default:
        return 0;
    }
}

static int sock_bio_puts(BIO *b, const char *str) { return sock_bio_write(b, str, (int)strlen(str)); }

static BIO_METHOD *sock_bio_method;
static pthread_once_t sock_bio_once = PTHREAD_ONCE_INIT;

static void sock_bio_method_make(void) {
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                                 "dynthrift socket");
    if (m && BIO_meth_set_write(m, sock_bio_write) == 1 &&
        BIO_meth_set_read(m, sock_bio_read) == 1 && BIO_meth_set_ctrl(m, sock_bio_ctrl) == 1 &&
        BIO_meth_set_puts(m, sock_bio_puts) == 1) {
        sock_bio_method = m;
        return;
    }
    BIO_meth_free(m);
}

/* Gives t's SSL the socket BIO (once); false when out of memory. */
static bool attach_bio(tls_layer_t *t) {
    if (t->bio_attached)
        return true;
    pthread_once(&sock_bio_once, sock_bio_method_make);
    BIO *b = sock_bio_method ? BIO_new(sock_bio_method) : NULL;
    if (!b)
        return false;
    BIO_set_data(b, t);
    BIO_set_init(b, 1);
    SSL_set_bio(t->ssl, b, b); // one reference, owned by the SSL now
    t->bio_attached = true;
    return true;
}

static thrift_status_t tls_open(thrift__layer_t *l, thrift_error_t *err) {
    tls_layer_t *t = (tls_layer_t *)l;
    if (t->handshaken)
        return THRIFT_OK;
    if (!attach_bio(t)) {
        ERR_clear_error();
        return thrift__error_set(err, THRIFT_NOMEM, "TLS: cannot attach the socket");
    }
    ERR_clear_error();
    errno = 0;
    int rc = SSL_do_handshake(t->ssl);
    if (rc == 1) {
        t->handshaken = true;
        return THRIFT_OK;
    }
    int e = SSL_get_error(t->ssl, rc);
    if (e == SSL_ERROR_WANT_READ) {
        l->stream->want = THRIFT__WANT_READ;
        return THRIFT_NEED_MORE;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        l->stream->want = THRIFT__WANT_WRITE;
        return THRIFT_NEED_MORE;
    }
    handshake_error(t, e, err);
    return err && err->code ? err->code : THRIFT_TRANSPORT;
}

/* An SSL_read/SSL_write result that is not a byte count. */
static ssize_t io_result(tls_layer_t *t, int rc, bool reading, thrift_error_t *err) {
    int e = SSL_get_error(t->ssl, rc);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        t->base.stream->want = THRIFT__WANT_READ;
        return THRIFT__IO_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        t->base.stream->want = THRIFT__WANT_WRITE;
        return THRIFT__IO_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        if (reading)
            return 0; // close_notify: a clean end
        break;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0 && reading && errno == 0) {
            return 0; // EOF without close_notify: many peers just close
        }
        if (ERR_peek_error() == 0) {
            thrift__error_set(err, THRIFT_CLOSED, "TLS: %s", errno ? strerror(errno) : "connection lost");
            return THRIFT__IO_ERROR;
        }
        break;
    default:
        break;
    }
    // TLS 1.3 reports a refused client certificate after the handshake.
    int reason = ERR_GET_REASON(ERR_peek_error());
    const char *hint = reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED
                           ? " (the server requires a client certificate)"
                           : "";
    char why[256];
    ssl_reason(why, sizeof why);
    thrift__error_set(err, THRIFT_TRANSPORT, "TLS: %s%s", why, hint);
    return THRIFT__IO_ERROR;
}

/* SSL_get_error needs an empty error queue before the call it explains.
 * ERR_clear_error walks all 16 slots of the thread's queue (about 400
 * instructions a time, measured under callgrind) before every read and
 * write; peeking first is enough, and saves 7% of a TLS call's server
 * instructions (16.6k -> 15.4k per add). */
static inline void clear_errors(void) {
    if (ERR_peek_error())
        ERR_clear_error();
}

static ssize_t tls_read(thrift__layer_t *l, uint8_t *buf, size_t cap, thrift_error_t *err) {
    tls_layer_t *t = (tls_layer_t *)l;
    size_t n = 0;
    clear_errors();
    errno = 0;
    int rc = SSL_read_ex(t->ssl, buf, cap, &n);
    if (rc == 1)
        return (ssize_t)n;
    return io_result(t, rc, true, err);
}

static ssize_t tls_write(thrift__layer_t *l, const uint8_t *buf, size_t len, thrift_error_t *err) {
    tls_layer_t *t = (tls_layer_t *)l;
    size_t n = 0;
    clear_errors();
    errno = 0;
    int rc = SSL_write_ex(t->ssl, buf, len, &n);
    if (rc == 1)
        return (ssize_t)n;
    return io_result(t, rc, false, err);
}

static bool tls_buffered(const thrift__layer_t *l) {
    // With read-ahead, bytes of a next record may sit in OpenSSL's buffer
    // while SSL_pending (decrypted bytes only) says 0.
    return SSL_has_pending(((const tls_layer_t *)l)->ssl) == 1;
}

static void tls_free(thrift__layer_t *l) {
    tls_layer_t *t = (tls_layer_t *)l;
    SSL_free(t->ssl);
    free(t);
}

static const thrift__layer_ops_t tls_ops = {
    .name = "tls", .open = tls_open, .read = tls_read, .write = tls_write,
    .buffered = tls_buffered, .free = tls_free};

static bool is_ip_literal(const char *h) {
    unsigned char tmp[16];
    return inet_pton(AF_INET, h, tmp) == 1 || inet_pton(AF_INET6, h, tmp) == 1;
}

thrift__layer_t *thrift__tls_layer_new(thrift__tls_ctx_t *ctx, const char *host,
                                       thrift_error_t *err) {
    tls_layer_t *t = calloc(1, sizeof *t);
    if (!t) {
        thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        return NULL;
    }
    t->base.ops = &tls_ops;
    t->ctx = ctx;
    ERR_clear_error();
    t->ssl = SSL_new(ctx->ctx);
    if (!t->ssl) {
        free(t);
        thrift__error_set(err, THRIFT_NOMEM, "TLS: out of memory");
        return NULL;
    }
    if (ctx->server) {
        SSL_set_accept_state(t->ssl);
    } else {
        SSL_set_connect_state(t->ssl);
        const char *name = ctx->server_name[0] ? ctx->server_name : host ? host : "";
        snprintf(t->host, sizeof t->host, "%s", name);
        bool ip = t->host[0] && is_ip_literal(t->host);
        // SNI carries names only, never addresses (RFC 6066).
        if (t->host[0] && !ip)
            SSL_set_tlsext_host_name(t->ssl, t->host);
        if (ctx->verify && t->host[0]) {
            int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), t->host)
                        : SSL_set1_host(t->ssl, t->host);
            if (ok != 1) {
                SSL_free(t->ssl);
                free(t);
                ERR_clear_error();
                thrift__error_set(err, THRIFT_INVALID, "TLS: cannot check the host name '%s'", name);
                return NULL;
            }
        }
    }
    return &t->base;
}
