/* http.c's request reader in its gateway role (SERVER_ANY) and its
 * Thrift-over-HTTP server role: bytes arrive in chunks of fuzzer-chosen
 * sizes; every request handed out must lie inside the bytes fed, with its
 * method, target and head inside the reader's buffer and every header
 * looked up inside the head; a failure sets an HTTP error status. */
#include "fuzz_common.h"
#include "net/net_impl.h"

enum { MAX_BODY = 1 << 16 };

static bool inside(const void *p, size_t len, const thrift__wire_reader_t *r) {
    const uint8_t *q = p;
    return q >= r->buf.data && q + len <= r->buf.data + r->buf.len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2)
        return 0;
    int role = data[0] & 1 ? THRIFT__HTTP_SERVER_ANY : THRIFT__HTTP_SERVER;
    uint32_t rng = (uint32_t)data[0] * 2654435761u + data[1];
    data += 2;
    size -= 2;
    thrift__wire_reader_t r;
    thrift__wire_reader_init(&r, THRIFT_PROTO_BINARY, THRIFT_FRAMING_BUFFERED, MAX_BODY);
    r.http.role = role;
    size_t fed = 0;
    bool broken = false;
    static const char *const names[] = {"Content-Length", "Origin", "X-Request-Timeout-Ms",
                                        "Thrift-Header-Trace", "Host"};
    while (fed < size && !broken) {
        rng = rng * 1103515245u + 12345u;
        size_t chunk = 1 + (rng >> 16) % 61;
        if (chunk > size - fed)
            chunk = size - fed;
        if (thrift__wire_feed(&r, data + fed, chunk) != THRIFT_OK)
            break;
        fed += chunk;
        for (;;) {
            const uint8_t *m;
            size_t len;
            thrift_error_t err;
            thrift_error_clear(&err);
            thrift_status_t st = thrift__wire_next(&r, &m, &len, &err);
            if (st == THRIFT_NEED_MORE)
                break;
            if (st != THRIFT_OK) {
                if (r.http.status < 400 || r.http.status > 599)
                    abort();
                broken = true;
                break;
            }
            if (len > MAX_BODY || (len && !inside(m, len, &r) &&
                                   !(m >= r.http.body.data && m + len <= r.http.body.data + r.http.body.len)))
                abort();
            if (role == THRIFT__HTTP_SERVER_ANY) {
                if (!inside(r.http.head, r.http.head_len, &r) ||
                    !inside(r.http.method, r.http.method_len, &r) ||
                    !inside(r.http.target, r.http.target_len, &r) || r.http.target[0] != '/')
                    abort();
                for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
                    size_t vl;
                    const char *v = thrift__http_header(&r.http, names[i], &vl);
                    if (v && (v < r.http.head || v + vl > r.http.head + r.http.head_len))
                        abort();
                }
            }
        }
    }
    thrift__wire_reader_free(&r);
    return 0;
}
