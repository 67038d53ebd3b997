/* Internal pieces of the connection layer: the I/O-free wire reader/writer,
 * address parsing and socket helpers.  Only src/net includes <ev.h>, and only
 * in the .c files that drive sockets. */
#ifndef DYNTHRIFT_NET_IMPL_H
#define DYNTHRIFT_NET_IMPL_H

#include <sys/socket.h>

#include "base/base.h"
#include "dynthrift/net.h"

struct thrift_conn_options {
    thrift_protocol_t proto;
    thrift_framing_t framing;
    uint32_t connect_timeout_ms;
    uint32_t call_timeout_ms;
    uint32_t idle_timeout_ms;
    uint32_t read_timeout_ms;
    size_t max_frame_size;
    bool multiplexed;
    /* The name before ':' when multiplexed; "" means the IDL service's
     * name.  Held inline so the options copy by assignment. */
    char multiplexed_name[THRIFT_MULTIPLEXED_NAME_MAX + 1];
};

void thrift__conn_options_defaults(thrift_conn_options_t *o);

/* ---- wire reader: bytes in, messages out -------------------------------
 * Feed bytes (or read(2) straight into thrift__wire_space), then pull
 * messages with thrift__wire_next until it says THRIFT_NEED_MORE.  A
 * message handed out points into the reader's buffer and stays valid until
 * the next thrift__wire_space/feed call. */
typedef struct thrift__wire_reader {
    thrift__buf_t buf;
    size_t start; /* first unconsumed byte */
    size_t probed; /* buffered: bytes known to hold no complete message */
    thrift_protocol_t proto;
    thrift_framing_t framing;
    size_t max_frame_size;
    thrift_codec_options_t codec;
} thrift__wire_reader_t;

void thrift__wire_reader_init(thrift__wire_reader_t *r, thrift_protocol_t proto,
                              thrift_framing_t framing, size_t max_frame_size);
void thrift__wire_reader_free(thrift__wire_reader_t *r);
void thrift__wire_reader_reset(thrift__wire_reader_t *r);
/* At least `min` writable bytes at *p (*avail says how many); NULL on OOM.
 * Call thrift__wire_commit with the number written. */
uint8_t *thrift__wire_space(thrift__wire_reader_t *r, size_t min, size_t *avail);
void thrift__wire_commit(thrift__wire_reader_t *r, size_t n);
/* Gives up the buffer messages were handed out from, so values decoded
 * zero-copy from it stay valid while the reader goes on: the unconsumed
 * bytes move to a new buffer and the old one is returned, owned by the
 * caller (free with free()).  NULL on out of memory (the reader is then
 * unchanged). */
uint8_t *thrift__wire_detach(thrift__wire_reader_t *r);
thrift_status_t thrift__wire_feed(thrift__wire_reader_t *r, const void *data, size_t len);
/* THRIFT_OK with the next message (frame header stripped) in msg/len,
 * THRIFT_NEED_MORE, or an error (THRIFT_LIMIT for an oversized frame,
 * THRIFT_INVALID...) after which the stream is unusable. */
thrift_status_t thrift__wire_next(thrift__wire_reader_t *r, const uint8_t **msg, size_t *len,
                                  thrift_error_t *err);
/* Bytes buffered but not yet returned as messages. */
static inline size_t thrift__wire_buffered(const thrift__wire_reader_t *r) {
    return r->buf.len - r->start;
}

/* An error struct made empty without writing its ~900 bytes: what
 * thrift_error_clear guarantees (code OK, empty strings) for a struct filled
 * only through thrift__error_set.  For per-message paths. */
static inline void thrift__error_reset(thrift_error_t *e) {
    e->code = THRIFT_OK;
    e->line = e->column = 0;
    e->offset = 0;
    e->has_offset = false;
    e->source[0] = e->path[0] = e->text[0] = e->line_text[0] = 0;
}

/* ---- wire writer -------------------------------------------------------
 * Appends one message to `out`: for framed transports a 4-byte length is
 * reserved first and patched after encoding. */
size_t thrift__wire_begin(thrift_buffer_t *out, thrift_framing_t framing);
/* Patches the frame length of the message begun at `mark`; THRIFT_LIMIT
 * when it is larger than max_frame_size. */
thrift_status_t thrift__wire_end(thrift_buffer_t *out, thrift_framing_t framing, size_t mark,
                                 size_t max_frame_size, thrift_error_t *err);

/* ---- addresses ---------------------------------------------------------- */
typedef struct thrift__addr {
    struct sockaddr_storage sa;
    socklen_t len;
    int family; /* AF_INET, AF_INET6, AF_UNIX */
} thrift__addr_t;

/* Parses "host:port", "[v6]:port", "unix:/path" (names resolved with
 * getaddrinfo; the first address wins).  `passive`: an empty host or "*"
 * means any address. */
thrift_status_t thrift__addr_parse(const char *text, bool passive, thrift__addr_t *out,
                                   thrift_error_t *err);
/* Splits "host:port" without resolving (for tests and messages): host into
 * host[hostsize]; *is_unix for "unix:" (host then holds the path). */
thrift_status_t thrift__addr_split(const char *text, char *host, size_t hostsize, int *port,
                                   bool *is_unix, thrift_error_t *err);

/* ---- sockets (non-blocking, close-on-exec) ------------------------------ */
/* Starts a non-blocking connect; *in_progress when EINPROGRESS.  -1 on error. */
int thrift__sock_connect(const thrift__addr_t *addr, bool *in_progress, thrift_error_t *err);
int thrift__sock_listen(const thrift__addr_t *addr, bool reuseport, thrift_error_t *err);
void thrift__sock_tune(int fd, int family);
/* The bound port of a TCP socket, 0 otherwise. */
int thrift__sock_port(int fd);

/* Arguments from JSON text (json_glue.c): an object by name or an array by
 * position; a blank text or "null" gives an empty args struct.  Allocated
 * in `arena`; NULL with err set.  The gateway reads arrays with it. */
thrift_value_t *thrift__args_from_json(const thrift_function_def_t *fn, thrift_arena_t *arena,
                                       const char *text, thrift_error_t *err);

#endif
