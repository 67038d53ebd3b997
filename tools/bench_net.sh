#!/bin/sh
# Server benchmark for issue 4, in one run: the dynthrift server
# (tools/bench_server), Apache's C++ TNonblockingServer for bench.thrift
# (generated and compiled here, in a temp dir; 1 I/O thread, framed,
# binary), thriftpy's threaded server (framed, its Cython binary protocol)
# and a bare libev echo of a 34-byte frame (tools/bench_echo, the floor),
# all driven by tools/bench_net over framed binary, with the servers pinned
# to one core and the load generator to another.
#
#   tools/bench_net.sh [BUILD_DIR]          (default build-perf)
#   env: DUR=seconds per point (1), REPS=rounds (3), WARM=warmup seconds (0.5),
#        SRV_CPU=core for servers (0), CLI_CPU=core for the client (1),
#        NICE=niceness of servers and client (-10 as root, else 0: other
#        work on a shared machine then preempts the measured processes less),
#        ONLY="dyn cpp py echo" to run a subset, POINTS="add:16:1 ..." to
#        run other points (method:connections:inflight)
#
# All servers run side by side (an idle one costs nothing); each round
# measures every point on each server in turn, so the servers are compared
# close together in time: on a shared machine the load drifts.  Prints one line
# per measurement and a table of medians (min-max) with calls/s, p50/p99
# latency, server CPU per call, and the ratios the issue's goals are stated
# in (computed per round, then the median).  Nothing generated is kept: the
# temp dir is removed on exit.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build-perf}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
DUR=${DUR:-1}
REPS=${REPS:-3}
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
if [ "$(id -u)" = 0 ]; then NICE=${NICE:--10}; else NICE=${NICE:-0}; fi

for t in bench_net bench_server bench_echo; do
    [ -x "$BUILD/tools/$t" ] || { echo "missing $BUILD/tools/$t (ninja -C $BUILD)" >&2; exit 2; }
done

TMP=$(mktemp -d /tmp/bench_net.XXXXXX)
PIDS=
LABELS=
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
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
#include "bench_cpp_handler.h"
using namespace apache::thrift;
int main(int argc, char **argv) {
    int port = argc > 1 ? std::atoi(argv[1]) : 9090;
    auto processor = std::make_shared<bench::BenchProcessor>(std::make_shared<BenchHandler>());
    auto socket = std::make_shared<transport::TNonblockingServerSocket>("127.0.0.1", port);
    server::TNonblockingServer server(processor, std::make_shared<protocol::TBinaryProtocolFactory>(), socket);
    server.setNumIOThreads(1);
    std::cout << "listening " << port << std::endl;
    server.serve();
}
EOF
    # shellcheck disable=SC2046
    g++ -O2 -std=c++17 -I"$TMP" -I"$ROOT/tools" -o "$TMP/cpp_server" "$TMP/server.cpp" \
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

# start_server LABEL PORT CMD...: starts a server pinned to SRV_CPU.
start_server() {
    label=$1; port=$2; shift 2
    nice -n "$NICE" taskset -c "$SRV_CPU" "$@" > "$TMP/$label.log" 2>&1 &
    pid=$!
    if ! wait_ready "$TMP/$label.log"; then
        echo "# $label: server did not start" >&2; cat "$TMP/$label.log" >&2
        kill $pid 2>/dev/null || true; return 0
    fi
    PIDS="$PIDS $pid"
    LABELS="$LABELS $label:$port:$pid"
}

echo "# bench_net.sh  $(date -u +%FT%TZ)  $(nproc) cores  servers on cpu $SRV_CPU, client on cpu $CLI_CPU, nice $NICE, ${DUR}s per point, $REPS rounds"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for s in $ONLY; do
    PORT=$((PORT + 1))
    case $s in
    dyn) start_server dyn $PORT "$BUILD/tools/bench_server" "$IDL" 127.0.0.1:$PORT ;;
    echo) start_server echo $PORT "$BUILD/tools/bench_echo" 127.0.0.1:$PORT ;;
    cpp) if build_cpp; then start_server cpp $PORT "$TMP/cpp_server" $PORT
         else echo "# cpp: thrift, g++, libthrift-dev or libevent-dev missing: skipped"; fi ;;
    py) write_py; start_server py $PORT $PY "$TMP/py_server.py" "$IDL" $PORT ;;
    esac
done

# Rounds outermost: within a round every point of every server is measured
# once, so the per-round ratios (server vs server, 64 vs 16 connections)
# compare measurements taken close together.
r=1
while [ $r -le "$REPS" ]; do
    for p in $POINTS; do
        pm=${p%%:*}; rest=${p#*:}; c=${rest%%:*}; f=${rest#*:}
        for l in $LABELS; do
            label=${l%%:*}; rest=${l#*:}; port=${rest%%:*}; pid=${rest#*:}
            m=$pm
            if [ "$label" = echo ]; then
                [ "$m" = add ] || continue   # the floor has one message size
                m=raw
            fi
            line=$(nice -n "$NICE" taskset -c "$CLI_CPU" "$BUILD/tools/bench_net" --addr 127.0.0.1:$port \
                --idl "$IDL" --payload "$PAYLOAD" --method "$m" -c "$c" -P "$f" -d "$DUR" \
                -w "$WARM" --pid "$pid" --label "$label" 2>&1 | tail -1) || true
            echo "$line round=$r"
            echo "$line round=$r" >> "$RESULTS"
        done
    done
    r=$((r + 1))
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

$PY - "$RESULTS" <<'EOF'
import statistics
import sys
rows = {}   # (label, method, conns, inflight) -> [fields of each round]
order = []
for line in open(sys.argv[1]):
    if not line.startswith("RESULT"):
        continue
    kv = dict(f.split("=", 1) for f in line.split()[1:])
    m = "add" if kv["method"] == "raw" else kv["method"]
    key = (kv["label"], m, int(kv["conns"]), int(kv["inflight"]))
    if key not in rows:
        rows[key] = []
        order.append(key)
    rows[key].append(kv)
order.sort(key=lambda k: (["dyn", "cpp", "py", "echo"].index(k[0]) if k[0] in ("dyn", "cpp", "py", "echo") else 9, k[1], k[3], k[2]))
names = {"dyn": "dynthrift", "cpp": "TNonblocking", "py": "thriftpy", "echo": "libev echo"}
def med(key, field):
    return statistics.median(float(x[field]) for x in rows[key])
def rng(key, field):
    v = [float(x[field]) for x in rows[key]]
    return min(v), max(v)
print()
print("median over rounds (min-max)")
print("%-13s %-5s %5s %4s %24s %8s %9s %19s %6s" % ("server", "call", "conns", "infl", "calls/s",
      "p50 us", "p99 us", "server CPU us/call", "errors"))
for k in order:
    lo, hi = rng(k, "cps")
    clo, chi = rng(k, "srv_us")
    errs = sum(int(x["errors"]) for x in rows[k])
    print("%-13s %-5s %5d %4d %8.0f (%6.0f-%7.0f) %8.1f %9.1f %6.2f (%5.2f-%5.2f) %6d" % (
        names.get(k[0], k[0]), "34B" if k[0] == "echo" else k[1], k[2], k[3], med(k, "cps"), lo, hi,
        med(k, "p50_us"), med(k, "p99_us"), med(k, "srv_us"), clo, chi, errs))
def per_round(a, b, field):
    ra, rb = rows.get(a), rows.get(b)
    if not ra or not rb:
        return None
    by = {x["round"]: float(x[field]) for x in rb}
    v = [float(x[field]) / by[x["round"]] for x in ra if by.get(x["round"], 0) > 0]
    return v or None
goals = [
    ("add 16 conns: server CPU/call vs echo floor", ("dyn", "add", 16, 1), ("echo", "add", 16, 1), "srv_us", "<=", 1.15),
    ("add 16 conns: calls/s vs TNonblockingServer", ("dyn", "add", 16, 1), ("cpp", "add", 16, 1), "cps", ">=", 1.3),
    ("add: calls/s at 64 conns vs 16 conns", ("dyn", "add", 64, 1), ("dyn", "add", 16, 1), "cps", ">=", 1.0),
    ("echo(Payload) 16 conns: server CPU/call vs TNonblocking", ("dyn", "echo", 16, 1), ("cpp", "echo", 16, 1), "srv_us", "<=", 0.5),
    ("add 1 conn: calls/s vs echo floor", ("dyn", "add", 1, 1), ("echo", "add", 1, 1), "cps", ">=", 0.85),
    ("add, 16 in flight on 1 conn vs 1 at a time", ("dyn", "add", 1, 16), ("dyn", "add", 1, 1), "cps", ">=", 3.0),
    ("echo(Payload) 1 conn: calls/s vs thriftpy", ("dyn", "echo", 1, 1), ("py", "echo", 1, 1), "cps", ">=", 10.0),
    ("echo(Payload) 16 conns: calls/s vs thriftpy", ("dyn", "echo", 16, 1), ("py", "echo", 16, 1), "cps", ">=", 10.0),
    ("echo(Payload) 64 conns: calls/s vs thriftpy", ("dyn", "echo", 64, 1), ("py", "echo", 64, 1), "cps", ">=", 10.0),
]
print()
print("goals: median of the per-round ratios (min-max)")
for name, a, b, field, op, lim in goals:
    v = per_round(a, b, field)
    if v is None:
        print("%-56s   n/a" % name)
        continue
    m = statistics.median(v)
    ok = m <= lim if op == "<=" else m >= lim
    print("%-56s %6.2fx (%5.2f-%5.2f)  goal %s %.2f: %s" % (name, m, min(v), max(v), op, lim,
          "met" if ok else "MISSED"))
EOF
