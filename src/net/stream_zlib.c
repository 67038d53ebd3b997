/* The zlib layer: Apache's TZlibTransport.  One deflate stream per
 * direction for the life of the connection (zlib format, as Python's
 * zlib.compressobj and C++'s deflateInit write), a sync flush at every
 * flush so each batch of messages can be decoded as soon as it arrives.
 *
 * No zip bombs: inflate writes only into the space the caller offers, and
 * the wire reader above bounds what it buffers by the frame limit, so a
 * tiny input that inflates to gigabytes fails at the limit. */
#include <stdlib.h>
#include <zlib.h>

#include "net/net_impl.h"
#include "net/stream.h"

#define ZLIB_IN_CHUNK 16384

typedef struct zlib_layer {
    thrift__layer_t base;
    z_stream inz, outz;
    bool inz_ready, outz_ready;
    uint8_t in[ZLIB_IN_CHUNK];
    size_t in_off, in_len; /* compressed bytes read but not yet inflated */
    bool ended;            /* the peer finished its deflate stream */
    bool more_out;         /* the last inflate filled its output: it may hold more */
    thrift__buf_t out;     /* compressed, not yet taken by the layer below */
    size_t out_off;
    bool dirty; /* bytes deflated since the last sync flush */
} zlib_layer_t;

static ssize_t zlib_fail(thrift_error_t *err, const char *what, int rc, const z_stream *z) {
    thrift__error_set(err, THRIFT_PROTOCOL, "zlib: %s: %s", what,
                      z->msg ? z->msg : rc == Z_MEM_ERROR ? "out of memory" : "corrupt stream");
    return THRIFT__IO_ERROR;
}

static ssize_t zlib_read(thrift__layer_t *l, uint8_t *buf, size_t cap, thrift_error_t *err) {
    zlib_layer_t *z = (zlib_layer_t *)l;
    if (cap > UINT_MAX)
        cap = UINT_MAX;
    for (;;) {
        if ((z->in_off < z->in_len || z->more_out) && !z->ended) {
            z->inz.next_in = z->in + z->in_off;
            z->inz.avail_in = (uInt)(z->in_len - z->in_off);
            z->inz.next_out = buf;
            z->inz.avail_out = (uInt)cap;
            int rc = inflate(&z->inz, Z_SYNC_FLUSH);
            z->in_off = z->in_len - z->inz.avail_in;
            size_t produced = cap - z->inz.avail_out;
            z->more_out = z->inz.avail_out == 0;
            if (rc == Z_STREAM_END)
                z->ended = true;
            else if (rc != Z_OK && rc != Z_BUF_ERROR)
                return zlib_fail(err, "inflate", rc, &z->inz);
            if (produced)
                return (ssize_t)produced;
            if (z->in_off < z->in_len && !z->ended)
                continue; // consumed input without output (headers, empty blocks)
        }
        if (z->ended) {
            // Apache's peers never finish the stream on a live connection;
            // bytes after the end would be outside any message.
            if (z->in_off < z->in_len)
                return thrift__error_set(err, THRIFT_PROTOCOL, "zlib: data after the stream end"),
                       THRIFT__IO_ERROR;
            return 0;
        }
        ssize_t n = l->below->ops->read(l->below, z->in, sizeof z->in, err);
        if (n <= 0)
            return n;
        z->in_off = 0;
        z->in_len = (size_t)n;
    }
}

/* Runs deflate over the input with `flush`, appending to z->out. */
static bool deflate_into(zlib_layer_t *z, const uint8_t *buf, size_t len, int flush,
                         thrift_error_t *err) {
    z->outz.next_in = (Bytef *)(uintptr_t)buf; // zlib's API is not const
    z->outz.avail_in = (uInt)len;
    for (;;) {
        size_t room = deflateBound(&z->outz, z->outz.avail_in) + 64;
        if (!thrift__buf_reserve(&z->out, room)) {
            thrift__error_set(err, THRIFT_NOMEM, "out of memory");
            return false;
        }
        size_t avail = z->out.cap - z->out.len;
        if (avail > UINT_MAX)
            avail = UINT_MAX;
        z->outz.next_out = z->out.data + z->out.len;
        z->outz.avail_out = (uInt)avail;
        int rc = deflate(&z->outz, flush);
        z->out.len += avail - z->outz.avail_out;
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            zlib_fail(err, "deflate", rc, &z->outz);
            return false;
        }
        // Done when the input is gone and deflate left output room unused
        // (it had no more to say for this flush mode).
        if (z->outz.avail_in == 0 && z->outz.avail_out != 0)
            return true;
    }
}

static ssize_t zlib_write(thrift__layer_t *l, const uint8_t *buf, size_t len, thrift_error_t *err) {
    zlib_layer_t *z = (zlib_layer_t *)l;
    if (len > UINT_MAX / 2)
        len = UINT_MAX / 2;
    if (!deflate_into(z, buf, len, Z_NO_FLUSH, err))
        return THRIFT__IO_ERROR;
    z->dirty = true;
    return (ssize_t)len;
}

static thrift_status_t zlib_flush(thrift__layer_t *l, thrift_error_t *err) {
    zlib_layer_t *z = (zlib_layer_t *)l;
    if (z->dirty) {
        if (!deflate_into(z, NULL, 0, Z_SYNC_FLUSH, err))
            return err && err->code ? err->code : THRIFT_PROTOCOL;
        z->dirty = false;
    }
    while (z->out_off < z->out.len) {
        ssize_t n = l->below->ops->write(l->below, z->out.data + z->out_off,
                                         z->out.len - z->out_off, err);
        if (n == THRIFT__IO_AGAIN)
            return THRIFT_NEED_MORE;
        if (n < 0)
            return err && err->code ? err->code : THRIFT_TRANSPORT;
        z->out_off += (size_t)n;
    }
    z->out.len = z->out_off = 0;
    return THRIFT_OK;
}

static bool zlib_buffered(const thrift__layer_t *l) {
    const zlib_layer_t *z = (const zlib_layer_t *)l;
    // Input left over, or output zlib still holds from the last inflate.
    return (z->in_off < z->in_len || z->more_out) && !z->ended;
}

static void zlib_free(thrift__layer_t *l) {
    zlib_layer_t *z = (zlib_layer_t *)l;
    if (z->inz_ready)
        inflateEnd(&z->inz);
    if (z->outz_ready)
        deflateEnd(&z->outz);
    thrift__buf_free(&z->out);
    free(z);
}

static const thrift__layer_ops_t zlib_ops = {
    .name = "zlib", .read = zlib_read, .write = zlib_write, .flush = zlib_flush,
    .buffered = zlib_buffered, .free = zlib_free};

thrift__layer_t *thrift__zlib_layer_new(const thrift_conn_options_t *o, thrift_error_t *err) {
    zlib_layer_t *z = calloc(1, sizeof *z);
    if (!z) {
        thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        return NULL;
    }
    z->base.ops = &zlib_ops;
    thrift__buf_init(&z->out, NULL);
    int level = o->zlib_level >= 0 && o->zlib_level <= 9 ? o->zlib_level : Z_DEFAULT_COMPRESSION;
    if (inflateInit(&z->inz) != Z_OK || !(z->inz_ready = true) ||
        deflateInit(&z->outz, level) != Z_OK) {
        zlib_free(&z->base);
        thrift__error_set(err, THRIFT_NOMEM, "zlib: cannot initialize");
        return NULL;
    }
    z->outz_ready = true;
    return &z->base;
}
