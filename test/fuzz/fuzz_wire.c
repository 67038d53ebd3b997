/* The connection layer's frame reader (src/net wire core) for FUZZ_PROTO:
 * bytes arrive in chunks of fuzzer-chosen sizes, framed or buffered, and
 * every message the reader hands out is decoded as the server would (header,
 * then the body against bench.thrift's Bench service, or skipped when the
 * method is unknown).  Invariants: a message lies inside the bytes fed, is
 * never larger than max_frame_size, and the reader never reports a message
 * twice or loses bytes (fed == consumed + buffered). */
#include "fuzz_common.h"
#include "net/net_impl.h"

enum { MAX_FRAME = 1 << 20 };

static void serve_message(const uint8_t *m, size_t len) {
    const fuzz_schemas_t *fs = fuzz_schemas();
    thrift_codec_options_t opts;
    thrift_codec_options_init(&opts);
    opts.max_message_size = MAX_FRAME;
    opts.zero_copy = true;
    thrift_message_header_t hdr;
    size_t used = 0;
    if (thrift_decode_message_header(FUZZ_PROTO, m, len, &opts, &hdr, &used, NULL) != THRIFT_OK)
        return;
    if (used > len)
        abort();
    const thrift_service_def_t *svc = thrift_schema_find_service(fs->bench, "Bench");
    const thrift_function_def_t *fn =
        svc ? thrift_service_def_find_function_n(svc, hdr.name, hdr.name_len) : NULL;
    size_t body = 0;
    if (fn) {
        thrift_arena_t *a = thrift_arena_new(NULL);
        const thrift_struct_def_t *st = hdr.type == THRIFT_MSG_REPLY ? thrift_function_def_result(fn)
                                                                      : thrift_function_def_args(fn);
        if (thrift_decode_message_body(FUZZ_PROTO, st, m + used, len - used, a, &opts, &body, NULL) &&
            body > len - used)
            abort();
        thrift_arena_free(a);
    } else if (thrift_skip(FUZZ_PROTO, THRIFT_TYPE_STRUCT, m + used, len - used, &opts, &body, NULL) ==
                   THRIFT_OK &&
               body > len - used) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2)
        return 0;
    thrift_framing_t framing = data[0] & 1 ? THRIFT_FRAMING_FRAMED : THRIFT_FRAMING_BUFFERED;
    uint32_t rng = (uint32_t)data[0] * 2654435761u + data[1];
    bool detach = data[1] & 1;
    data += 2;
    size -= 2;
    thrift__wire_reader_t r;
    thrift__wire_reader_init(&r, FUZZ_PROTO, framing, MAX_FRAME);
    size_t fed = 0, consumed = 0;
    bool broken = false;
    while (fed < size && !broken) {
        rng = rng * 1103515245u + 12345u;
        size_t chunk = 1 + (rng >> 16) % 97;
        if (chunk > size - fed)
            chunk = size - fed;
        if (thrift__wire_feed(&r, data + fed, chunk) != THRIFT_OK)
            break;
        fed += chunk;
        for (;;) {
            const uint8_t *m;
            size_t len;
            thrift_status_t st = thrift__wire_next(&r, &m, &len, NULL);
            if (st == THRIFT_NEED_MORE)
                break;
            if (st != THRIFT_OK) {
                broken = true; // the stream is unusable after an error
                break;
            }
            if (len > MAX_FRAME || m < r.buf.data || m + len > r.buf.data + r.buf.len)
                abort();
            consumed += len + (framing == THRIFT_FRAMING_FRAMED ? 4 : 0);
            serve_message(m, len);
            if (detach && (rng & 0x100)) {
                uint8_t *old = thrift__wire_detach(&r);
                free(old);
            }
        }
        if (!broken && consumed + thrift__wire_buffered(&r) != fed)
            abort();
    }
    thrift__wire_reader_free(&r);
    return 0;
}
