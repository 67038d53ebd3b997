/* The I/O-free wire core: framing, message boundaries without frames,
 * addresses and options.  No sockets. */
#include <stdlib.h>

#include "net/net_impl.h"
#include "tap.h"

static void put_frame(thrift__buf_t *b, const void *p, uint32_t n) {
    uint8_t h[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    thrift__buf_append(b, h, 4);
    thrift__buf_append(b, p, n);
}

static void test_framed(void) {
    thrift__wire_reader_t r;
    thrift__wire_reader_init(&r, THRIFT_PROTO_BINARY, THRIFT_FRAMING_FRAMED, 100);
    thrift__buf_t b;
    thrift__buf_init(&b, NULL);
    put_frame(&b, "hello", 5);
    put_frame(&b, "x", 1);
    put_frame(&b, "world!", 6);
    // Byte by byte: every prefix is "need more" until a frame completes.
    int got = 0;
    bool ok = true;
    const char *want[] = {"hello", "x", "world!"};
    for (size_t i = 0; i < b.len; i++) {
        thrift__wire_feed(&r, b.data + i, 1);
        const uint8_t *m;
        size_t len;
        thrift_status_t st;
        while ((st = thrift__wire_next(&r, &m, &len, NULL)) == THRIFT_OK) {
            ok &= got < 3 && len == strlen(want[got]) && !memcmp(m, want[got], len);
            got++;
        }
        ok &= st == THRIFT_NEED_MORE;
    }
    TAP_CHECK(ok && got == 3, "framed: three frames fed byte by byte");
    // All at once.
    thrift__wire_reader_reset(&r);
    thrift__wire_feed(&r, b.data, b.len);
    got = 0;
    const uint8_t *m;
    size_t len;
    while (thrift__wire_next(&r, &m, &len, NULL) == THRIFT_OK)
        got++;
    TAP_CHECK(got == 3 && thrift__wire_buffered(&r) == 0, "framed: three frames in one feed");

    thrift_error_t err;
    thrift_error_clear(&err);
    thrift__wire_reader_reset(&r);
    uint8_t big[4] = {0, 0, 0, 101};
    thrift__wire_feed(&r, big, 4);
    TAP_CHECK(thrift__wire_next(&r, &m, &len, &err) == THRIFT_LIMIT && err.code == THRIFT_LIMIT,
              "framed: frame over max_frame_size refused before its bytes arrive (%s)", err.text);
    thrift_error_clear(&err);
    thrift__wire_reader_reset(&r);
    uint8_t neg[4] = {0x80, 0, 0, 1};
    thrift__wire_feed(&r, neg, 4);
    TAP_CHECK(thrift__wire_next(&r, &m, &len, &err) == THRIFT_INVALID, "framed: negative size");
    thrift__buf_free(&b);
    thrift__wire_reader_free(&r);
}

static void test_writer(void) {
    thrift_buffer_t *out = thrift_buffer_new();
    thrift_buffer_append(out, "ab", 2);
    thrift__wire_mark_t mark;
    thrift__wire_begin(out, THRIFT_FRAMING_FRAMED, NULL, &mark, NULL);
    thrift_buffer_append(out, "xyz", 3);
    TAP_CHECK(thrift__wire_end(out, THRIFT_FRAMING_FRAMED, &mark, 100, NULL) == THRIFT_OK,
              "writer: frame closed");
    const uint8_t *d = thrift_buffer_data(out);
    TAP_CHECK(thrift_buffer_len(out) == 9 && d[2] == 0 && d[5] == 3 && !memcmp(d + 6, "xyz", 3),
              "writer: length patched big-endian after the earlier bytes");
    thrift__wire_begin(out, THRIFT_FRAMING_FRAMED, NULL, &mark, NULL);
    thrift_buffer_append(out, "0123456789", 10);
    TAP_CHECK(thrift__wire_end(out, THRIFT_FRAMING_FRAMED, &mark, 5, NULL) == THRIFT_LIMIT,
              "writer: oversized message refused");
    thrift_buffer_free(out);
}

static void test_buffered(void) {
    // Messages built without a schema: TApplicationException bodies.
    thrift_protocol_t protos[] = {THRIFT_PROTO_BINARY, THRIFT_PROTO_COMPACT, THRIFT_PROTO_JSON};
    for (int pi = 0; pi < 3; pi++) {
        thrift_arena_t *a = thrift_arena_new(NULL);
        thrift_buffer_t *out = thrift_buffer_new();
        size_t ends[3];
        for (int i = 0; i < 3; i++) {
            thrift_value_t *ex = thrift_app_exception_new(a, THRIFT_APPEX_UNKNOWN_METHOD,
                                                          i == 1 ? "a longer message text" : "m");
            thrift_encode_message(protos[pi], "ping", 4, THRIFT_MSG_EXCEPTION, i + 1, ex, out,
                                  NULL);
            ends[i] = thrift_buffer_len(out);
        }
        thrift__wire_reader_t r;
        thrift__wire_reader_init(&r, protos[pi], THRIFT_FRAMING_BUFFERED, 1 << 20);
        const uint8_t *data = thrift_buffer_data(out);
        size_t total = thrift_buffer_len(out);
        int got = 0;
        bool ok = total > 0;
        for (size_t i = 0; i < total; i++) {
            thrift__wire_feed(&r, data + i, 1);
            const uint8_t *m;
            size_t len;
            thrift_status_t st;
            while ((st = thrift__wire_next(&r, &m, &len, NULL)) == THRIFT_OK) {
                size_t start = got ? ends[got - 1] : 0;
                // A message is complete exactly when its last byte arrives.
                ok &= got < 3 && len == ends[got] - start && i + 1 == ends[got] &&
                      !memcmp(m, data + start, len);
                got++;
            }
            ok &= st == THRIFT_NEED_MORE;
        }
        TAP_CHECK(ok && got == 3, "buffered %s: message ends found as bytes arrive",
                  thrift_protocol_name(protos[pi]));
        thrift__wire_reader_free(&r);
        thrift_buffer_free(out);
        thrift_arena_free(a);
    }
    thrift__wire_reader_t r;
    thrift__wire_reader_init(&r, THRIFT_PROTO_BINARY, THRIFT_FRAMING_BUFFERED, 1 << 20);
    thrift__wire_feed(&r, "\x80\x01\x00\x01\xff\xff\xff\xff", 8);
    const uint8_t *m;
    size_t len;
    thrift_status_t st = thrift__wire_next(&r, &m, &len, NULL);
    TAP_CHECK(st != THRIFT_OK && st != THRIFT_NEED_MORE, "buffered: garbage is an error (%s)",
              thrift_status_name(st));
    thrift__wire_reader_free(&r);
}

/* The first bytes of another framing or protocol: said in the error. */
static void test_mismatch_guess(void) {
    static const struct {
        thrift_protocol_t proto;
        thrift_framing_t framing;
        const char *bytes;
        size_t len;
        const char *says; /* NULL: nothing recognized, plain error or need-more */
    } cases[] = {
        {THRIFT_PROTO_BINARY, THRIFT_FRAMING_FRAMED, "\x80\x01\x00\x02\x00\x00\x00\x03", 8,
         "buffered (unframed) transport with the binary protocol"},
        {THRIFT_PROTO_BINARY, THRIFT_FRAMING_FRAMED, "\x82\x21\x00\x03", 4,
         "buffered (unframed) transport with the compact protocol"},
        {THRIFT_PROTO_JSON, THRIFT_FRAMING_FRAMED, "[1,\"add\",2,0,{}]", 16,
         "buffered (unframed) transport with the JSON protocol"},
        {THRIFT_PROTO_BINARY, THRIFT_FRAMING_FRAMED, "HTTP/1.1 400 Bad Request\r\n", 26,
         "speaks HTTP"},
        {THRIFT_PROTO_BINARY, THRIFT_FRAMING_BUFFERED, "HTTP/1.1 400 Bad Request\r\n", 26,
         "speaks HTTP"},
        {THRIFT_PROTO_BINARY, THRIFT_FRAMING_BUFFERED, "POST / HTTP/1.1\r\n", 17, "speaks HTTP"},
        {THRIFT_PROTO_BINARY, THRIFT_FRAMING_BUFFERED, "\x00\x00\x00\x0c\x80\x01\x00\x01", 8,
         "framed transport (with the binary protocol)"},
        {THRIFT_PROTO_COMPACT, THRIFT_FRAMING_BUFFERED, "\x00\x00\x00\x0c\x82\x21", 6,
         "framed transport (with the compact protocol)"},
        {THRIFT_PROTO_BINARY, THRIFT_FRAMING_BUFFERED, "\x82\x21\x01\x03" "add" "\x00", 8,
         "the compact protocol"},
        {THRIFT_PROTO_COMPACT, THRIFT_FRAMING_BUFFERED, "\x80\x01\x00\x01\x00\x00\x00\x03", 8,
         "the binary protocol"},
        // A frame that is merely too long says nothing more.
        {THRIFT_PROTO_BINARY, THRIFT_FRAMING_FRAMED, "\x10\x00\x00\x00", 4, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        thrift__wire_reader_t r;
        thrift__wire_reader_init(&r, cases[i].proto, cases[i].framing, 1 << 20);
        thrift__wire_feed(&r, cases[i].bytes, cases[i].len);
        const uint8_t *m;
        size_t len;
        thrift_error_t err;
        thrift_error_clear(&err);
        thrift_status_t st = thrift__wire_next(&r, &m, &len, &err);
        bool ok = st != THRIFT_OK && st != THRIFT_NEED_MORE;
        if (cases[i].says)
            ok &= strstr(err.text, cases[i].says) != NULL;
        else
            ok &= strstr(err.text, "seems") == NULL && strstr(err.text, "HTTP") == NULL;
        TAP_CHECK(ok, "mismatch %zu (%s, %s): %s", i, thrift_protocol_name(cases[i].proto),
                  cases[i].framing == THRIFT_FRAMING_FRAMED ? "framed" : "buffered", err.text);
        thrift__wire_reader_free(&r);
    }
}

static void test_addresses(void) {
    char host[256];
    int port;
    bool is_unix;
    TAP_CHECK(!thrift__addr_split("127.0.0.1:6000", host, sizeof host, &port, &is_unix, NULL) &&
                  !strcmp(host, "127.0.0.1") && port == 6000 && !is_unix,
              "addr: ipv4");
    TAP_CHECK(!thrift__addr_split("[::1]:9090", host, sizeof host, &port, &is_unix, NULL) &&
                  !strcmp(host, "::1") && port == 9090,
              "addr: [ipv6]:port");
    TAP_CHECK(!thrift__addr_split("unix:/tmp/x.sock", host, sizeof host, &port, &is_unix, NULL) &&
                  is_unix && !strcmp(host, "/tmp/x.sock"),
              "addr: unix path");
    TAP_CHECK(!thrift__addr_split(":0", host, sizeof host, &port, &is_unix, NULL) && !host[0] &&
                  port == 0,
              "addr: empty host");
    const char *bad[] = {"", "nohost", "h:", "h:70000", "h:12x", "::1:80", "[::1]80", "unix:"};
    bool all = true;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        thrift_error_t err;
        thrift_error_clear(&err);
        all &= thrift__addr_split(bad[i], host, sizeof host, &port, &is_unix, &err) ==
                   THRIFT_INVALID &&
               err.text[0];
    }
    TAP_CHECK(all, "addr: malformed addresses refused with a message");
    thrift__addr_t a;
    TAP_CHECK(!thrift__addr_parse("127.0.0.1:80", false, &a, NULL) && a.family == AF_INET,
              "addr: parse ipv4");
    TAP_CHECK(!thrift__addr_parse("[::1]:80", false, &a, NULL) && a.family == AF_INET6,
              "addr: parse ipv6");
    TAP_CHECK(!thrift__addr_parse("localhost:80", false, &a, NULL) &&
                  (a.family == AF_INET || a.family == AF_INET6),
              "addr: name resolved");
    TAP_CHECK(!thrift__addr_parse("unix:/tmp/s", false, &a, NULL) && a.family == AF_UNIX,
              "addr: parse unix");
    TAP_CHECK(!thrift__addr_parse(":0", true, &a, NULL), "addr: passive any");
}

static void test_options(void) {
    thrift_conn_options_t *o = thrift_conn_options_new();
    TAP_CHECK(o && o->proto == THRIFT_PROTO_BINARY && o->framing == THRIFT_FRAMING_FRAMED,
              "options: defaults binary framed");
    TAP_CHECK(!thrift_conn_options_set(o, "protocol", "compact", NULL) &&
                  o->proto == THRIFT_PROTO_COMPACT,
              "options: protocol by name");
    TAP_CHECK(!thrift_conn_options_set(o, "transport", "buffered", NULL) &&
                  o->framing == THRIFT_FRAMING_BUFFERED,
              "options: transport by name");
    TAP_CHECK(!thrift_conn_options_set(o, "call_timeout_ms", "250", NULL) &&
                  o->call_timeout_ms == 250 && o->connect_timeout_ms == 5000,
              "options: timeouts by name");
    thrift_error_t err;
    thrift_error_clear(&err);
    TAP_CHECK(thrift_conn_options_set(o, "protocol", "xml", &err) == THRIFT_INVALID,
              "options: bad value refused");
    TAP_CHECK(thrift_conn_options_set(o, "colour", "1", NULL) == THRIFT_NOT_FOUND,
              "options: unknown key refused");
    TAP_CHECK(!o->multiplexed && !thrift_conn_options_set(o, "multiplex_name", "Calculator", NULL) &&
                  o->multiplexed && !strcmp(o->multiplexed_name, "Calculator"),
              "options: multiplex_name by name (turns multiplexing on)");
    char longname[THRIFT_MULTIPLEXED_NAME_MAX + 2];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    TAP_CHECK(thrift_conn_options_set_multiplexed_name(o, longname) == THRIFT_LIMIT &&
                  thrift_conn_options_set(o, "multiplex_name", "a:b", NULL) == THRIFT_INVALID &&
                  !strcmp(o->multiplexed_name, "Calculator"),
              "options: an over-long name or one with ':' is refused, the option unchanged");
    TAP_CHECK(!thrift_conn_options_set_multiplexed_name(o, NULL) && o->multiplexed_name[0] == 0,
              "options: NULL goes back to the IDL service name");
    thrift_conn_options_free(o);
    thrift_conn_options_free(NULL);
}

static void test_busy_poll_option(void) {
    thrift_conn_options_t *o = thrift_conn_options_new();
    TAP_CHECK(o && o->busy_poll_us == THRIFT_BUSY_POLL_DEFAULT_US,
              "busy_poll_us: default %d us", THRIFT_BUSY_POLL_DEFAULT_US);
    TAP_CHECK(!thrift_conn_options_set(o, "busy_poll_us", "0", NULL) && o->busy_poll_us == 0,
              "busy_poll_us: 0 (never) by name");
    TAP_CHECK(!thrift_conn_options_set(o, "busy_poll_us", "10000", NULL) && o->busy_poll_us == 10000,
              "busy_poll_us: the maximum by name");
    const char *bad[] = {"", "-1", "abc", "20us", "1e3", "10001", "18446744073709551616"};
    bool refused = true;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        thrift_error_t err;
        thrift_error_clear(&err);
        refused &= thrift_conn_options_set(o, "busy_poll_us", bad[i], &err) == THRIFT_INVALID &&
                   strstr(err.text, "busy_poll_us") && o->busy_poll_us == 10000;
    }
    TAP_CHECK(refused, "busy_poll_us: empty, negative, non-numeric and over-%d values refused, "
              "the option unchanged", THRIFT_BUSY_POLL_MAX_US);
    thrift_conn_options_set_busy_poll_us(o, 20);
    TAP_CHECK(o->busy_poll_us == 20, "busy_poll_us: typed setter");
    thrift_conn_options_set_busy_poll_us(o, UINT32_MAX);
    TAP_CHECK(o->busy_poll_us == THRIFT_BUSY_POLL_MAX_US, "busy_poll_us: typed setter clamps");
    thrift_conn_options_free(o);
}

/* The busy-poll policy, fed outcomes without sockets. */
static void test_busy_poll_policy(void) {
    thrift__busy_poll_t bp;
    thrift__busy_poll_init(&bp, 0);
    bool never = true;
    for (int i = 0; i < 100; i++)
        never &= thrift__busy_poll_budget(&bp) == 0;
    TAP_CHECK(never, "busy-poll: cap 0 never spins");

    // A peer slower than the cap: every spin misses.  Spins at waits 1, 2,
    // 4, 8 ... 256 (the gaps double), then one in 256.
    thrift__busy_poll_init(&bp, 50);
    int spins = 0, first_spins = 0;
    char at[128] = "", *end = at;
    for (int i = 0; i < 2000; i++) {
        uint64_t b = thrift__busy_poll_budget(&bp);
        if (b) {
            spins++;
            first_spins += i < 50;
            if (end < at + sizeof at - 8)
                end += snprintf(end, 8, " %d", i);
            thrift__busy_poll_record(&bp, false, b);
        }
    }
    TAP_STREQ(at, " 0 1 3 7 15 31 63 127 255 511 767 1023 1279 1535 1791",
              "busy-poll: a slow peer's waits that probe, of 2000 (from 0)");
    TAP_CHECK(first_spins == 6 && bp.spun == (uint64_t)spins && bp.caught == 0,
              "busy-poll: %d of the first 50 waits probe, %d of 2000, none caught", first_spins,
              spins);

    // Replies caught at 10 us: the budget follows them (2 x 10 + 5 us).
    uint64_t b = thrift__busy_poll_budget(&bp);
    for (int guard = 0; !b && guard < 256; guard++)
        b = thrift__busy_poll_budget(&bp);
    TAP_CHECK(b == 50000, "busy-poll: a probe after misses spins the full cap (%llu ns)",
              (unsigned long long)b);
    thrift__busy_poll_record(&bp, true, 10000);
    for (int i = 0; i < 20; i++) {
        thrift__busy_poll_budget(&bp);
        thrift__busy_poll_record(&bp, true, 10000);
    }
    b = thrift__busy_poll_budget(&bp);
    TAP_CHECK(b == 25000 && bp.misses == 0,
              "busy-poll: after a catch the budget is 2 x the usual reply + 5 us (%llu ns)",
              (unsigned long long)b);
    // Replies at 40 us: the budget grows to the cap, not past it.
    for (int i = 0; i < 50; i++) {
        thrift__busy_poll_budget(&bp);
        thrift__busy_poll_record(&bp, true, 40000);
    }
    b = thrift__busy_poll_budget(&bp);
    TAP_CHECK(b == 50000, "busy-poll: the budget is capped (%llu ns)", (unsigned long long)b);
    // One miss: the next wait still probes with the full cap; two in a
    // row: the next wait sleeps.
    thrift__busy_poll_record(&bp, false, b);
    uint64_t after_one = thrift__busy_poll_budget(&bp);
    thrift__busy_poll_record(&bp, false, after_one);
    uint64_t after_two = thrift__busy_poll_budget(&bp);
    TAP_CHECK(after_one == 50000 && after_two == 0 && thrift__busy_poll_budget(&bp) == 50000,
              "busy-poll: one miss probes again, two in a row skip one wait");
    thrift__busy_poll_init(&bp, UINT32_MAX);
    TAP_CHECK(thrift__busy_poll_budget(&bp) == (uint64_t)THRIFT_BUSY_POLL_MAX_US * 1000,
              "busy-poll: the cap is clamped to THRIFT_BUSY_POLL_MAX_US");
}

int main(void) {
    test_framed();
    test_writer();
    test_buffered();
    test_mismatch_guess();
    test_addresses();
    test_options();
    test_busy_poll_option();
    test_busy_poll_policy();
    return tap_done();
}
