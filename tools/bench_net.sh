#!/bin/sh
# Server benchmark for issue 4, in one run: the dynthrift server
# (tools/bench_server), Apache's C++ TNonblockingServer for bench.thrift
# (generated and compiled here, in a temp dir), thriftpy's threaded server
# and a bare libev echo of a 34-byte frame (tools/bench_echo, the floor),
# all driven by tools/bench_net over framed binary, with the server pinned
# to one core and the load generator to another.
#
#   tools/bench_net.sh [BUILD_DIR]          (default build-perf)
#   env: DUR=seconds per point (2), WARM=warmup seconds (0.5),
#        SRV_CPU=core for servers (0), CLI_CPU=core for the client (1),
#        ONLY="dyn cpp py echo" to run a subset, POINTS="add:16:1 ..." to
#        run other points (method:connections:inflight)
#
# Prints one line per point and a table with calls/s, p50/p99 latency,
# server CPU per call and the ratios the issue's goals are stated in.
# Nothing generated is kept: the temp dir is removed on exit.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build-perf}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
DUR=${DUR:-2}
WARM=${WARM:-0.5}
SRV_CPU=${SRV_CPU:-0}
CLI_CPU=${CLI_CPU:-1}
ONLY=${ONLY:-dyn cpp py echo}
POINTS=${POINTS:-add:1:1 add:16:1 add:64:1 add:1:16 echo:1:1 echo:16:1 echo:64:1 echo:1:16}
IDL=$ROOT/idl-samples/bench.thrift
[ -f /work/shared/bench/bench.thrift ] && IDL=/work/shared/bench/bench.thrift
PAYLOAD=/work/shared/bench/payload.json
PY=/usr/bin/python3
PORT=${PORT:-19090}

for t in bench_net bench_server bench_echo; do
    [ -x "$BUILD/tools/$t" ] || { echo "missing $BUILD/tools/$t (ninja -C $BUILD)" >&2; exit 2; }
done

TMP=$(mktemp -d /tmp/bench_net.XXXXXX)
SERVER_PID=
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
RESULTS=$TMP/results.txt
: > "$RESULTS"

# ---- Apache C++ TNonblockingServer, generated and built at bench time ----
build_cpp() {
    command -v thrift >/dev/null && command -v g++ >/dev/null &&
        pkg-config --exists thrift-nb 2>/dev/null || return 1
    thrift --gen cpp -out "$TMP" "$IDL" || return 1
    cat > "$TMP/server.cpp" <<'EOF'
#include <cstdlib>
#include <iostream>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/server/TNonblockingServer.h>
#include <thrift/transport/TNonblockingServerSocket.h>
#include "Bench.h"
using namespace apache::thrift;
class Handler : public bench::BenchIf {
  public:
    void ping() override {}
    void echo(bench::Payload &ret, const bench::Payload &p) override { ret = p; }
    int64_t add(const int64_t a, const int64_t b) override { return a + b; }
    void fire(const int32_t) override {}
    void fail(bench::Payload &, const int32_t code) override {
        bench::BenchError e;
        e.code = code;
        e.message = "failed";
        throw e;
    }
};
int main(int argc, char **argv) {
    int port = argc > 1 ? std::atoi(argv[1]) : 9090;
    auto processor = std::make_shared<bench::BenchProcessor>(std::make_shared<Handler>());
    auto socket = std::make_shared<transport::TNonblockingServerSocket>("127.0.0.1", port);
    server::TNonblockingServer server(processor, std::make_shared<protocol::TBinaryProtocolFactory>(), socket);
    server.setNumIOThreads(1);
    std::cout << "listening " << port << std::endl;
    server.serve();
}
EOF
    # shellcheck disable=SC2046
    g++ -O2 -std=c++17 -I"$TMP" -o "$TMP/cpp_server" "$TMP/server.cpp" \
        $(ls "$TMP"/*.cpp | grep -v -e server.cpp -e skeleton) \
        $(pkg-config --cflags --libs thrift-nb) -levent 2>"$TMP/g++.log" || { cat "$TMP/g++.log" >&2; return 1; }
}

write_py() {
    cat > "$TMP/py_server.py" <<'EOF'
import sys
import thriftpy
from thriftpy.rpc import make_server
from thriftpy.protocol import TCyBinaryProtocolFactory
from thriftpy.transport import TCyFramedTransportFactory
bench = thriftpy.load(sys.argv[1], module_name="bench_thrift")
class Handler(object):
    def ping(self): pass
    def add(self, a, b): return a + b
    def echo(self, p): return p
    def fire(self, n): pass
    def fail(self, code): raise bench.BenchError(code=code, message="failed")
server = make_server(bench.Bench, Handler(), "127.0.0.1", int(sys.argv[2]),
                     proto_factory=TCyBinaryProtocolFactory(),
                     trans_factory=TCyFramedTransportFactory(), client_timeout=None)
print("listening", sys.argv[2], flush=True)
server.serve()
EOF
}

# Waits for the server's "listening" line (bench_net also retries its
# connects for 5 s, for servers that bind only once they serve).
wait_ready() {
    i=0
    while ! grep -q listening "$1" 2>/dev/null; do
        i=$((i + 1)); [ $i -gt 100 ] && return 1; sleep 0.1
    done
}

# run_server LABEL CMD...: starts the server pinned to SRV_CPU, runs every
# point against it, stops it.
run_server() {
    label=$1; shift
    PORT=$((PORT + 1))
    taskset -c "$SRV_CPU" "$@" > "$TMP/$label.log" 2>&1 &
    SERVER_PID=$!
    if ! wait_ready "$TMP/$label.log"; then
        echo "$label: server did not start" >&2; cat "$TMP/$label.log" >&2
        kill $SERVER_PID 2>/dev/null; SERVER_PID=; return 0
    fi
    for p in $POINTS; do
        m=${p%%:*}; rest=${p#*:}; c=${rest%%:*}; f=${rest#*:}
        if [ "$label" = echo ]; then
            [ "$m" = add ] || continue   # the floor has one message size
            m=raw
        fi
        line=$(taskset -c "$CLI_CPU" "$BUILD/tools/bench_net" --addr 127.0.0.1:$PORT \
            --idl "$IDL" --payload "$PAYLOAD" --method "$m" -c "$c" -P "$f" -d "$DUR" -w "$WARM" \
            --pid $SERVER_PID --label "$label" 2>&1 | tail -1) || true
        echo "$line"
        echo "$line" >> "$RESULTS"
    done
    kill $SERVER_PID 2>/dev/null; wait $SERVER_PID 2>/dev/null || true
    SERVER_PID=
}

echo "# bench_net.sh  $(date -u +%FT%TZ)  $(nproc) cores  server on cpu $SRV_CPU, client on cpu $CLI_CPU, ${DUR}s per point"
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for s in $ONLY; do
    case $s in
    dyn) run_server dyn "$BUILD/tools/bench_server" "$IDL" 127.0.0.1:$((PORT + 1)) ;;
    echo) run_server echo "$BUILD/tools/bench_echo" 127.0.0.1:$((PORT + 1)) ;;
    cpp) if build_cpp; then run_server cpp "$TMP/cpp_server" $((PORT + 1))
         else echo "# cpp: thrift/g++/libthrift-dev missing, skipped"; fi ;;
    py) write_py; run_server py $PY "$TMP/py_server.py" "$IDL" $((PORT + 1)) ;;
    esac
done

$PY - "$RESULTS" <<'EOF'
import sys
rows = {}
order = []
for line in open(sys.argv[1]):
    if not line.startswith("RESULT"):
        continue
    kv = dict(f.split("=", 1) for f in line.split()[1:])
    m = "add" if kv["method"] == "raw" else kv["method"]
    key = (kv["label"], m, int(kv["conns"]), int(kv["inflight"]))
    rows[key] = kv
    order.append(key)
names = {"dyn": "dynthrift", "cpp": "TNonblocking", "py": "thriftpy", "echo": "libev echo"}
print()
print("%-13s %-5s %5s %4s %10s %9s %9s %9s %7s" % ("server", "call", "conns", "infl", "calls/s",
      "p50 us", "p99 us", "srv us", "errors"))
for k in order:
    r = rows[k]
    print("%-13s %-5s %5d %4d %10s %9s %9s %9s %7s" % (names.get(k[0], k[0]),
          "34B" if r["method"] == "raw" else k[1], k[2], k[3], r["cps"], r["p50_us"], r["p99_us"],
          r["srv_us"], r["errors"]))
def get(label, m, c, f, field):
    r = rows.get((label, m, c, f))
    return float(r[field]) if r else None
def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b
goals = [
    ("add 16 conns: server CPU/call vs echo floor", ratio(get("dyn","add",16,1,"srv_us"), get("echo","add",16,1,"srv_us")), "<=", 1.15),
    ("add 16 conns: calls/s vs TNonblockingServer", ratio(get("dyn","add",16,1,"cps"), get("cpp","add",16,1,"cps")), ">=", 1.3),
    ("add: calls/s 64 conns vs 16 conns", ratio(get("dyn","add",64,1,"cps"), get("dyn","add",16,1,"cps")), ">=", 1.0),
    ("echo(Payload) 16 conns: server CPU/call vs TNonblocking", ratio(get("dyn","echo",16,1,"srv_us"), get("cpp","echo",16,1,"srv_us")), "<=", 0.5),
    ("add 1 conn: calls/s vs echo floor", ratio(get("dyn","add",1,1,"cps"), get("echo","add",1,1,"cps")), ">=", 0.85),
    ("add pipelined 16 on 1 conn vs 1 at a time", ratio(get("dyn","add",1,16,"cps"), get("dyn","add",1,1,"cps")), ">=", 3.0),
    ("echo(Payload) 16 conns: calls/s vs thriftpy", ratio(get("dyn","echo",16,1,"cps"), get("py","echo",16,1,"cps")), ">=", 10.0),
    ("echo(Payload) 1 conn: calls/s vs thriftpy", ratio(get("dyn","echo",1,1,"cps"), get("py","echo",1,1,"cps")), ">=", 10.0),
]
print()
for name, v, op, lim in goals:
    if v is None:
        print("%-58s   n/a" % name)
        continue
    ok = v <= lim if op == "<=" else v >= lim
    print("%-58s %6.2fx  (goal %s %.2f)  %s" % (name, v, op, lim, "met" if ok else "MISSED"))
EOF
