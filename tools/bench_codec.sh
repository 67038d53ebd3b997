#!/bin/sh
# bench_codec.sh — dynthrift's codec next to Apache Thrift's generated C++.
#
# Builds (in a temp dir, never committed) the C++ code Apache's compiler
# generates for bench.thrift plus a small timing driver of ours, then prints
# ns/op for encode/decode of the bench Payload in binary and compact for
# both, the ratio, and callgrind instruction counts per operation.
#
#   tools/bench_codec.sh [BUILD_DIR]      (default: build-codec, else build)
#   SECONDS_PER_OP=1 CALLGRIND=0 tools/bench_codec.sh
set -eu

cd "$(dirname "$0")/.."
BUILD=${1:-}
if [ -z "$BUILD" ]; then
    for d in build-codec build; do
        if [ -x "$d/tools/bench_codec" ]; then BUILD=$d; break; fi
    done
fi
BENCH="$BUILD/tools/bench_codec"
[ -x "$BENCH" ] || { echo "bench_codec.sh: build first (ninja -C BUILD_DIR)" >&2; exit 1; }
IDL=idl-samples/bench.thrift
[ -f "$IDL" ] || IDL=../shared/bench/bench.thrift
SECS=${SECONDS_PER_OP:-1}
CALLGRIND=${CALLGRIND:-1}
OPS="encode-binary decode-binary encode-compact decode-compact"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

HAVE_CPP=1
if ! command -v thrift >/dev/null 2>&1 || ! pkg-config --exists thrift 2>/dev/null; then
    HAVE_CPP=0
    echo "note: thrift compiler or libthrift-dev missing: no C++ column" >&2
fi

if [ $HAVE_CPP = 1 ]; then
    thrift --gen cpp -o "$TMP" "$IDL" >/dev/null 2>&1
    "$BENCH" --idl "$IDL" --dump binary "$TMP/payload.bin"
    cat > "$TMP/driver.cpp" <<'EOF'
// Times Apache's generated C++ for the bench Payload (read once from the
// binary bytes dynthrift wrote, so both sides hold the same value).
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/protocol/TCompactProtocol.h>
#include <thrift/transport/TBufferTransports.h>

#include "bench_types.h"

using apache::thrift::protocol::TBinaryProtocol;
using apache::thrift::protocol::TCompactProtocol;
using apache::thrift::protocol::TProtocol;
using apache::thrift::transport::TMemoryBuffer;

struct Ctx {
    std::shared_ptr<TMemoryBuffer> mem;
    std::shared_ptr<TProtocol> proto;
    bench::Payload payload;
    std::vector<uint8_t> bytes; // encoded in this protocol, for decode
    bool encode;
};

static volatile size_t sink;

static void one_op(Ctx &c) {
    if (c.encode) {
        c.mem->resetBuffer();
        c.payload.write(c.proto.get());
        sink = c.mem->available_read();
    } else {
        c.mem->resetBuffer(c.bytes.data(), (uint32_t)c.bytes.size(),
                           TMemoryBuffer::OBSERVE);
        bench::Payload p;
        p.read(c.proto.get());
        sink = p.users.size();
    }
}

extern "C" __attribute__((noinline)) void bench_measured(Ctx *c, long ops) {
    for (long i = 0; i < ops; i++)
        one_op(*c);
}

static double now_ns() {
    return (double)std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch()).count();
}

int main(int argc, char **argv) {
    if (argc < 4) return 64;
    std::ifstream f(argv[1], std::ios::binary);
    std::vector<uint8_t> bin((std::istreambuf_iterator<char>(f)), {});
    std::string op = argv[2];
    double secs = atof(argv[3]);
    long cg_ops = argc > 4 ? atol(argv[4]) : 0;

    bench::Payload payload;
    {
        auto mem = std::make_shared<TMemoryBuffer>(bin.data(), (uint32_t)bin.size());
        TBinaryProtocol p(mem);
        payload.read(&p);
    }
    Ctx c;
    // libthrift counts bytes read across resetBuffer() calls against
    // maxMessageSize; give the timing loop room (2 GiB, ~690k decodes).
    c.mem = std::make_shared<TMemoryBuffer>(
        std::make_shared<apache::thrift::TConfiguration>(INT32_MAX));
    bool compact = op.find("compact") != std::string::npos;
    if (compact) c.proto = std::make_shared<TCompactProtocol>(c.mem);
    else c.proto = std::make_shared<TBinaryProtocol>(c.mem);
    c.payload = payload;
    c.encode = true;
    one_op(c);
    uint8_t *buf; uint32_t len;
    c.mem->getBuffer(&buf, &len);
    c.bytes.assign(buf, buf + len);
    c.encode = op.rfind("encode", 0) == 0;
    one_op(c);
    if (cg_ops > 0) { bench_measured(&c, cg_ops); return 0; }
    long ops = 1;
    for (;;) {
        double t0 = now_ns(); bench_measured(&c, ops);
        if (now_ns() - t0 > 2e7) break;
        ops *= 2;
    }
    double best = 1e30, spent = 0; int batches = 0;
    while (spent < secs * 1e9 || batches < 5) {
        double t0 = now_ns(); bench_measured(&c, ops);
        double dt = now_ns() - t0; spent += dt; batches++;
        if (dt / ops < best) best = dt / ops;
    }
    printf("%s %.0f %zu\n", op.c_str(), best, c.bytes.size());
    return 0;
}
EOF
    # shellcheck disable=SC2046
    if ! g++ -O2 -std=c++17 -I"$TMP/gen-cpp" "$TMP/driver.cpp" \
            "$TMP/gen-cpp/bench_types.cpp" $(pkg-config --cflags --libs thrift) \
            -o "$TMP/cppbench" 2>"$TMP/g++.log"; then
        HAVE_CPP=0
        echo "note: the C++ reference did not build (Debian's libthrift-dev" \
             "also needs libboost-dev); no C++ column:" >&2
        head -5 "$TMP/g++.log" >&2
    fi
fi

echo "dynthrift: $("$BENCH" --idl "$IDL" --seconds "$SECS" | head -1)"
"$BENCH" --idl "$IDL" --seconds "$SECS" | tail -n +3 > "$TMP/ours.txt"

printf '\n%-15s %12s %10s %12s %10s %8s\n' op "dynthrift ns" "MB/s" "C++ ns" "MB/s" "speedup"
for op in $OPS encode-json decode-json; do
    ours=$(awk -v op="$op" '$1 == op { print $2 }' "$TMP/ours.txt")
    ours_mbs=$(awk -v op="$op" '$1 == op { print $3 }' "$TMP/ours.txt")
    cpp="-"; cpp_mbs="-"; ratio="-"
    case $op in *json*) ;; *)
        if [ $HAVE_CPP = 1 ]; then
            set -- $("$TMP/cppbench" "$TMP/payload.bin" "$op" "$SECS")
            cpp=$2
            cpp_mbs=$(awk -v n="$3" -v t="$2" 'BEGIN { printf "%.1f", n / t * 1e3 }')
            ratio=$(awk -v a="$2" -v b="$ours" 'BEGIN { printf "%.2fx", a / b }')
        fi ;;
    esac
    printf '%-15s %12s %10s %12s %10s %8s\n' "$op" "$ours" "$ours_mbs" "$cpp" "$cpp_mbs" "$ratio"
done

if [ "$CALLGRIND" = 1 ] && command -v valgrind >/dev/null 2>&1; then
    N=10
    count() { # program args... -> instructions per op
        valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.out" \
            --toggle-collect=bench_measured "$@" 2>&1 |
            awk -v n=$N '/Collected/ { printf "%d", $4 / n }'
    }
    printf '\ncallgrind, instructions per op (mean of %d after a warm-up op)\n' $N
    printf '%-15s %12s %12s %8s\n' op dynthrift "C++" ratio
    for op in $OPS; do
        ours=$(count "$BENCH" --idl "$IDL" --callgrind "$op" --ops $N)
        cpp="-"; ratio="-"
        if [ $HAVE_CPP = 1 ]; then
            cpp=$(count "$TMP/cppbench" "$TMP/payload.bin" "$op" 0 $N)
            ratio=$(awk -v a="$cpp" -v b="$ours" 'BEGIN { printf "%.2fx", a / b }')
        fi
        printf '%-15s %12s %12s %8s\n' "$op" "$ours" "$cpp" "$ratio"
    done
fi
