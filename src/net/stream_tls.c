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
#include <stdio.h>
#include <stdlib.h>

#include "net/net_impl.h"
#include "net/stream.h"

struct thrift__tls_ctx {
    SSL_CTX *ctx;
    bool server;
    bool verify;
    char server_name[THRIFT_OPTION_TEXT_MAX + 1]; /* overrides the address's host */
};

typedef struct tls_layer {
    thrift__layer_t base;
    thrift__tls_ctx_t *ctx; /* borrowed: outlives its connections */
    SSL *ssl;
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

void thrift__tls_ctx_free(thrift__tls_ctx_t *c) {
    if (!c)
        return;
    SSL_CTX_free(c->ctx);
    free(c);
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
    c->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    char why[256];
    if (!c->ctx) {
        ssl_reason(why, sizeof why);
        thrift__error_set(err, THRIFT_NOMEM, "TLS: cannot make a context: %s", why);
        goto fail;
    }
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    // Our write buffer may move between retries of a partial write.
    SSL_CTX_set_mode(c->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (server && (!o->tls_cert[0] || !o->tls_key[0])) {
        thrift__error_set(err, THRIFT_MISUSE,
                          "TLS server: a certificate and a key are required (tls_cert, tls_key)");
        goto fail;
    }
    if (o->tls_cert[0] && SSL_CTX_use_certificate_chain_file(c->ctx, o->tls_cert) != 1) {
        ssl_reason(why, sizeof why);
        thrift__error_set(err, THRIFT_IO, "TLS: cannot load the certificate '%s': %s", o->tls_cert,
                          why);
        goto fail;
    }
    if (o->tls_key[0]) {
        if (SSL_CTX_use_PrivateKey_file(c->ctx, o->tls_key, SSL_FILETYPE_PEM) != 1) {
            ssl_reason(why, sizeof why);
            thrift__error_set(err, THRIFT_IO, "TLS: cannot load the key '%s': %s", o->tls_key, why);
            goto fail;
        }
        if (SSL_CTX_check_private_key(c->ctx) != 1) {
            ERR_clear_error();
            thrift__error_set(err, THRIFT_INVALID, "TLS: the key '%s' does not match the certificate '%s'",
                              o->tls_key, o->tls_cert);
            goto fail;
        }
    }
    if (c->verify) {
        int rc = o->tls_ca[0] ? SSL_CTX_load_verify_locations(c->ctx, o->tls_ca, NULL)
                              : SSL_CTX_set_default_verify_paths(c->ctx);
        if (rc != 1) {
            ssl_reason(why, sizeof why);
            thrift__error_set(err, THRIFT_IO, "TLS: cannot load the CA file '%s': %s",
                              o->tls_ca[0] ? o->tls_ca : "(system)", why);
            goto fail;
        }
        // A server with a CA requires client certificates (mTLS).
        SSL_CTX_set_verify(c->ctx,
                           server ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                                  : SSL_VERIFY_PEER,
                           NULL);
    } else {
        SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
    }
    return c;
fail:
    thrift__tls_ctx_free(c);
    return NULL;
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

static thrift_status_t tls_open(thrift__layer_t *l, thrift_error_t *err) {
    tls_layer_t *t = (tls_layer_t *)l;
    if (t->handshaken)
        return THRIFT_OK;
    if (SSL_get_fd(t->ssl) != l->stream->fd && SSL_set_fd(t->ssl, l->stream->fd) != 1) {
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

static ssize_t tls_read(thrift__layer_t *l, uint8_t *buf, size_t cap, thrift_error_t *err) {
    tls_layer_t *t = (tls_layer_t *)l;
    size_t n = 0;
    ERR_clear_error();
    errno = 0;
    int rc = SSL_read_ex(t->ssl, buf, cap, &n);
    if (rc == 1)
        return (ssize_t)n;
    return io_result(t, rc, true, err);
}

static ssize_t tls_write(thrift__layer_t *l, const uint8_t *buf, size_t len, thrift_error_t *err) {
    tls_layer_t *t = (tls_layer_t *)l;
    size_t n = 0;
    ERR_clear_error();
    errno = 0;
    int rc = SSL_write_ex(t->ssl, buf, len, &n);
    if (rc == 1)
        return (ssize_t)n;
    return io_result(t, rc, false, err);
}

static bool tls_buffered(const thrift__layer_t *l) {
    return SSL_pending(((const tls_layer_t *)l)->ssl) > 0;
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
