/* The frame layer: TFramedTransport as a byte stream, for the layers that
 * Apache stacks above the framing (TZlibTransport(TFramedTransport(sock))):
 * every flush becomes one frame, and reading returns the frames' payloads
 * back to back. */
#include <stdlib.h>

#include "net/net_impl.h"
#include "net/stream.h"

typedef struct frame_layer {
    thrift__layer_t base;
    size_t max_frame_size;
    /* writing: whole frames [0, sealed), the open one [open_at, len) with
     * its 4 header bytes reserved; [0, off) already sent */
    thrift__buf_t out;
    size_t off;
    size_t sealed;
    bool frame_open;
    size_t open_at;
    /* reading */
    uint8_t hdr[4];
    size_t hdr_have;
    size_t remaining; /* payload bytes of the current frame still to read */
} frame_layer_t;

static ssize_t frame_read(thrift__layer_t *l, uint8_t *buf, size_t cap, thrift_error_t *err) {
    frame_layer_t *f = (frame_layer_t *)l;
    while (f->remaining == 0) {
        ssize_t n = l->below->ops->read(l->below, f->hdr + f->hdr_have, 4 - f->hdr_have, err);
        if (n <= 0) {
            if (n == 0 && f->hdr_have)
                return thrift__error_set(err, THRIFT_CLOSED, "stream ended inside a frame header"),
                       THRIFT__IO_ERROR;
            return n;
        }
        f->hdr_have += (size_t)n;
        if (f->hdr_have < 4)
            continue;
        f->hdr_have = 0;
        uint32_t len = (uint32_t)f->hdr[0] << 24 | (uint32_t)f->hdr[1] << 16 |
                       (uint32_t)f->hdr[2] << 8 | f->hdr[3];
        if (len & 0x80000000u || len > f->max_frame_size) {
            thrift__error_set(err, THRIFT_LIMIT, "frame of %u bytes exceeds the limit of %zu", len,
                              f->max_frame_size);
            return THRIFT__IO_ERROR;
        }
        f->remaining = len; // an empty frame carries nothing: read the next
    }
    ssize_t n = l->below->ops->read(l->below, buf, cap < f->remaining ? cap : f->remaining, err);
    if (n == 0)
        return thrift__error_set(err, THRIFT_CLOSED, "stream ended inside a frame"),
               THRIFT__IO_ERROR;
    if (n > 0)
        f->remaining -= (size_t)n;
    return n;
}

static ssize_t frame_write(thrift__layer_t *l, const uint8_t *buf, size_t len, thrift_error_t *err) {
    frame_layer_t *f = (frame_layer_t *)l;
    if (!f->frame_open) {
        static const uint8_t zero[4];
        f->open_at = f->out.len;
        if (!thrift__buf_append(&f->out, zero, 4))
            return thrift__error_set(err, THRIFT_NOMEM, "out of memory"), THRIFT__IO_ERROR;
        f->frame_open = true;
    }
    if (f->out.len - f->open_at - 4 + len > f->max_frame_size)
        return thrift__error_set(err, THRIFT_LIMIT, "frame exceeds the limit of %zu bytes",
                                 f->max_frame_size),
               THRIFT__IO_ERROR;
    if (!thrift__buf_append(&f->out, buf, len))
        return thrift__error_set(err, THRIFT_NOMEM, "out of memory"), THRIFT__IO_ERROR;
    return (ssize_t)len;
}

static thrift_status_t frame_flush(thrift__layer_t *l, thrift_error_t *err) {
    frame_layer_t *f = (frame_layer_t *)l;
    if (f->frame_open) {
        size_t n = f->out.len - f->open_at - 4;
        uint8_t *p = f->out.data + f->open_at;
        p[0] = (uint8_t)(n >> 24);
        p[1] = (uint8_t)(n >> 16);
        p[2] = (uint8_t)(n >> 8);
        p[3] = (uint8_t)n;
        f->frame_open = false;
        f->sealed = f->out.len;
    }
    while (f->off < f->sealed) {
        ssize_t n = l->below->ops->write(l->below, f->out.data + f->off, f->sealed - f->off, err);
        if (n == THRIFT__IO_AGAIN)
            return THRIFT_NEED_MORE;
        if (n < 0)
            return err && err->code ? err->code : THRIFT_TRANSPORT;
        f->off += (size_t)n;
    }
    f->out.len = f->off = f->sealed = 0;
    return THRIFT_OK;
}

static void frame_free(thrift__layer_t *l) {
    frame_layer_t *f = (frame_layer_t *)l;
    thrift__buf_free(&f->out);
    free(f);
}

static const thrift__layer_ops_t frame_ops = {
    .name = "framed", .read = frame_read, .write = frame_write, .flush = frame_flush,
    .free = frame_free};

thrift__layer_t *thrift__frame_layer_new(size_t max_frame_size, thrift_error_t *err) {
    frame_layer_t *f = calloc(1, sizeof *f);
    if (!f) {
        thrift__error_set(err, THRIFT_NOMEM, "out of memory");
        return NULL;
    }
    f->base.ops = &frame_ops;
    f->max_frame_size = max_frame_size;
    thrift__buf_init(&f->out, NULL);
    return &f->base;
}
