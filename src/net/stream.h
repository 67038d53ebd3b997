/* The byte-stream half of the transport stack: the layers between a socket
 * and the message framing (wire.c).  A connection's stream is
 *
 *     socket (TCP, Unix)  ->  TLS (optional)  ->  zlib (optional)
 *
 * and the framing (framed, buffered) reads and writes the top of it.  Every
 * layer is one file with the same narrow interface (bytes in, bytes out,
 * need more, error), and the client and the server drive a stream the same
 * way, so neither grows a branch per transport:
 *
 *   - thrift__stream_open until THRIFT_OK (a handshake; at once for plain
 *     sockets), watching the socket for stream->want;
 *   - thrift__stream_read into the wire reader's space;
 *   - thrift__stream_write then thrift__stream_flush for queued replies or
 *     calls;
 *   - after THRIFT__IO_AGAIN, wait for the socket event in stream->want
 *     (EV_READ or EV_WRITE: TLS may need to write to read, and the other
 *     way round).
 *
 * Only src/net includes this header. */
#ifndef DYNTHRIFT_NET_STREAM_H
#define DYNTHRIFT_NET_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dynthrift/net.h"

/* Results of read and write besides a byte count (read: 0 is a clean end). */
#define THRIFT__IO_AGAIN (-1) /* blocked: wait for stream->want */
#define THRIFT__IO_ERROR (-2) /* broken: err says why */

/* Socket events a blocked layer waits for (the values of EV_READ and
 * EV_WRITE, which this header does not include). */
#define THRIFT__WANT_READ 0x01
#define THRIFT__WANT_WRITE 0x02

typedef struct thrift__layer thrift__layer_t;
typedef struct thrift__stream thrift__stream_t;

typedef struct thrift__layer_ops {
    const char *name;
    /* THRIFT_OK once the layer can carry bytes, THRIFT_NEED_MORE while its
     * handshake waits for the socket, an error otherwise.  NULL: ready. */
    thrift_status_t (*open)(thrift__layer_t *l, thrift_error_t *err);
    /* Up to cap decoded bytes into buf: a count, 0 at a clean end of
     * stream, THRIFT__IO_AGAIN or THRIFT__IO_ERROR. */
    ssize_t (*read)(thrift__layer_t *l, uint8_t *buf, size_t cap, thrift_error_t *err);
    /* Takes up to len bytes: the count taken, THRIFT__IO_AGAIN or
     * THRIFT__IO_ERROR.  A layer may hold what it took until flush. */
    ssize_t (*write)(thrift__layer_t *l, const uint8_t *buf, size_t len, thrift_error_t *err);
    /* Pushes held bytes to the layer below: THRIFT_OK when none is left,
     * THRIFT_NEED_MORE when blocked, an error.  NULL: holds nothing. */
    thrift_status_t (*flush)(thrift__layer_t *l, thrift_error_t *err);
    /* True when read would return bytes without reading the socket. */
    bool (*buffered)(const thrift__layer_t *l);
    void (*free)(thrift__layer_t *l);
} thrift__layer_ops_t;

struct thrift__layer {
    const thrift__layer_ops_t *ops;
    thrift__layer_t *below; /* NULL for the socket */
    thrift__stream_t *stream;
};

struct thrift__stream {
    int fd;
    unsigned want;         /* THRIFT__WANT_* the last blocked call waits for */
    bool opened;           /* every layer's open returned THRIFT_OK */
    thrift__layer_t *top;  /* owned, down to the socket */
    thrift__layer_t sock;  /* the bottom layer, embedded */
};

/* TLS context.  A server's is shared by its listener's connections: made
 * once from the options (certificate, key, CA for client certificates).
 * A client's holds a reference to an OpenSSL context shared by every
 * client with the same CA file, certificate, key and verify setting (the
 * same files: path, inode, mtime and size), thread-safely refcounted and
 * freed with its last user, so a pool of N connections loads its files
 * once.  Opaque; NULL-safe free. */
typedef struct thrift__tls_ctx thrift__tls_ctx_t;

/* Client (server == false) or server context from the TLS options; NULL
 * with err set (TLS not built in, unreadable file, key not matching). */
thrift__tls_ctx_t *thrift__tls_ctx_new(const thrift_conn_options_t *o, bool server,
                                       thrift_error_t *err);
void thrift__tls_ctx_free(thrift__tls_ctx_t *ctx);
/* How many shared client OpenSSL contexts are alive (tests, and whoever
 * wants to see the sharing), and whether two contexts use the same one. */
size_t thrift__tls_client_ctx_count(void);
bool thrift__tls_ctx_same_ssl_ctx(const thrift__tls_ctx_t *a, const thrift__tls_ctx_t *b);

/* Builds the stream over a connected (or connecting) socket fd, which it
 * does not own: socket, then TLS when tls is given (its server name for
 * SNI and the host check: `host`, may be NULL), then zlib when the options
 * ask.  THRIFT_OK, or an error with nothing left allocated. */
thrift_status_t thrift__stream_init(thrift__stream_t *s, int fd, const thrift_conn_options_t *o,
                                    thrift__tls_ctx_t *tls, const char *host, thrift_error_t *err);
/* Frees the layers (not the fd).  Safe on a zeroed or freed stream. */
void thrift__stream_free(thrift__stream_t *s);
/* Runs the layers' handshakes, bottom up (see thrift__layer_ops_t.open). */
thrift_status_t thrift__stream_open(thrift__stream_t *s, thrift_error_t *err);
ssize_t thrift__stream_read(thrift__stream_t *s, uint8_t *buf, size_t cap, thrift_error_t *err);
/* Writes all of buf and pushes it down: THRIFT_OK (all sent), THRIFT_NEED_MORE
 * (*taken bytes of buf taken; wait for s->want and call again with the
 * rest, or with len 0 to push what layers hold), or an error. */
thrift_status_t thrift__stream_send(thrift__stream_t *s, const uint8_t *buf, size_t len,
                                    size_t *taken, thrift_error_t *err);
/* True when a read would return bytes without waiting for the socket. */
bool thrift__stream_buffered(const thrift__stream_t *s);

/* Layer constructors, one file each; they free nothing on failure but what
 * they made. */
thrift__layer_t *thrift__tls_layer_new(thrift__tls_ctx_t *ctx, const char *host,
                                       thrift_error_t *err);
thrift__layer_t *thrift__zlib_layer_new(const thrift_conn_options_t *o, thrift_error_t *err);
/* Frames as a byte stream (under zlib): each flush sends what was written
 * since the last as one frame; reading strips the frame headers.  Frames
 * above max_frame_size are an error. */
thrift__layer_t *thrift__frame_layer_new(size_t max_frame_size, thrift_error_t *err);

#endif
