#!/bin/sh
# Transport benchmark for issue 13, in one run: the dynthrift server
# (tools/bench_server) plain, over TLS, with TZlibTransport, THeader and
# HTTP (keep-alive), next to Apache's C++ TThreadedServer over
# TSSLServerSocket (TSSLSocketFactory) and over TServerSocket with
# THttpServerTransportFactory (THttpServer), generated and compiled here
# from libthrift-dev like tools/bench_net.sh does for TNonblockingServer.
# The load generator is `dynthrift bench` (one loop; binary; framed, or a
# POST per call on a kept-alive connection for HTTP) against each server in
# turn, every round.
#
#   tools/bench_transport.sh [BUILD_DIR]          (default build)
#   env: DUR=seconds per point (1), REPS=rounds (2), SRV_CPU (0), CLI_CPU (1),
#        POINTS="add:1 add:16 echo:1 echo:16" (method:connections),
#        DYN_OPTS: more options for every dynthrift server, e.g.
#        "-o busy_poll_us=0" (its busy-poll after replies off)
#
# Test certificates are made at bench time (test/tls_certs.sh, EC P-256);
# nothing generated is kept.  Prints one line per measurement, then the
# medians and the ratios the issue states its goals in, and the cost per
# call: CPU of the server (/proc/PID/stat, all threads) and of the client
# (the shell's `times` for its children), and the bytes on the wire both
# ways (bench's wire_bytes_*: TCP's counts, after TLS and zlib), which is
# where zlib's cost and saving show.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
DUR=${DUR:-1}
REPS=${REPS:-2}
SRV_CPU=${SRV_CPU:-0}
CLI_CPU=${CLI_CPU:-1}
POINTS=${POINTS:-add:1 add:16 echo:1 echo:16}
DYN_OPTS=${DYN_OPTS:-}
IDL=$ROOT/idl-samples/bench.thrift
[ -f /work/shared/bench/bench.thrift ] && IDL=/work/shared/bench/bench.thrift
PAYLOAD=/work/shared/bench/payload.json
[ -f "$PAYLOAD" ] || PAYLOAD=$ROOT/test/fuzz/seeds/payload.json
CLI=$BUILD/tools/dynthrift
SRV=$BUILD/tools/bench_server
for t in "$CLI" "$SRV"; do
    [ -x "$t" ] || { echo "missing $t (ninja -C $BUILD)" >&2; exit 2; }
done

TMP=$(mktemp -d /tmp/bench_transport.XXXXXX)
PIDS=
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
sh "$ROOT/test/tls_certs.sh" "$TMP/certs"
C=$TMP/certs

build_cpp() {
    command -v thrift >/dev/null && command -v g++ >/dev/null &&
        pkg-config --exists thrift 2>/dev/null || return 1
    thrift --gen cpp -out "$TMP" "$IDL" || return 1
    cat > "$TMP/server.cpp" <<'CPP'
#include <cstdlib>
#include <iostream>
#include <string>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/server/TThreadedServer.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/THttpServer.h>
#include <thrift/transport/TSSLServerSocket.h>
#include <thrift/transport/TServerSocket.h>
#include <thrift/transport/TSSLSocket.h>
#include "bench_cpp_handler.h"
using namespace apache::thrift;
// cpp_server tls PORT CERT KEY: framed over TSSLServerSocket;
// cpp_server http PORT: THttpServer (HTTP/1.1, keep-alive) over TServerSocket.
int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    bool http = std::string(argv[1]) == "http";
    int port = std::atoi(argv[2]);
    std::shared_ptr<transport::TServerSocket> socket;
    std::shared_ptr<transport::TTransportFactory> framing;
    if (http) {
        socket = std::make_shared<transport::TServerSocket>("127.0.0.1", port);
        framing = std::make_shared<transport::THttpServerTransportFactory>();
    } else {
        if (argc < 5)
            return 2;
        auto factory = std::make_shared<transport::TSSLSocketFactory>();
        factory->server(true);
        factory->loadCertificate(argv[3]);
        factory->loadPrivateKey(argv[4]);
        socket = std::make_shared<transport::TSSLServerSocket>("127.0.0.1", port, factory);
        framing = std::make_shared<transport::TFramedTransportFactory>();
    }
    server::TThreadedServer server(
        std::make_shared<bench::BenchProcessor>(std::make_shared<BenchHandler>()), socket, framing,
        std::make_shared<protocol::TBinaryProtocolFactory>());
    std::cout << "listening " << port << std::endl;
    server.serve();
}
CPP
    # shellcheck disable=SC2046
    g++ -O2 -std=c++17 -I"$TMP" -I"$ROOT/tools" -o "$TMP/cpp_server" "$TMP/server.cpp" \
        $(ls "$TMP"/*.cpp | grep -v -e server.cpp -e skeleton) \
        $(pkg-config --cflags --libs thrift) -lssl -lcrypto -lpthread 2>"$TMP/g++.log" ||
        { cat "$TMP/g++.log" >&2; return 1; }
}

wait_ready() {
    i=0
    while ! grep -q listening "$1" 2>/dev/null; do
        i=$((i + 1)); [ $i -gt 100 ] && return 1; sleep 0.1
    done
}

SERVERS=
# start LABEL ADDR CMD...: ADDR is what the client dials.
start() {
    label=$1; addr=$2; shift 2
    taskset -c "$SRV_CPU" "$@" > "$TMP/$label.log" 2>&1 &
    pid=$!
    if wait_ready "$TMP/$label.log"; then
        PIDS="$PIDS $pid"; SERVERS="$SERVERS $label=$addr=$pid"
    else
        echo "# $label did not start:" >&2; cat "$TMP/$label.log" >&2; kill $pid 2>/dev/null || true
    fi
}

echo "# bench_transport.sh  $(date -u +%FT%TZ)  $(nproc) cores  load $(cut -d' ' -f1-3 /proc/loadavg)  ${DUR}s x $REPS  dynthrift options: ${DYN_OPTS:-defaults}"
# A free loopback port per server (the kernel's pick, released at once):
# other benchmarks and tests run beside this one.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
P1=$(free_port); P2=$(free_port); P3=$(free_port); P4=$(free_port); P5=$(free_port)
P6=$(free_port); P7=$(free_port)
start dyn 127.0.0.1:$P1 "$SRV" $DYN_OPTS -o transport=framed "$IDL" 127.0.0.1:$P1
start dyn_tls tls://localhost:$P2 "$SRV" $DYN_OPTS -o transport=framed -o tls_cert="$C/server.pem" \
    -o tls_key="$C/server.key" "$IDL" tls://127.0.0.1:$P2
start dyn_zlib 127.0.0.1:$P3 "$SRV" $DYN_OPTS -o transport=framed -o zlib=1 "$IDL" 127.0.0.1:$P3
start dyn_header 127.0.0.1:$P5 "$SRV" $DYN_OPTS -o transport=header "$IDL" 127.0.0.1:$P5
start dyn_http http://127.0.0.1:$P6/ "$SRV" $DYN_OPTS "$IDL" http://127.0.0.1:$P6/
if build_cpp; then
    start cpp_tls tls://localhost:$P4 "$TMP/cpp_server" tls $P4 "$C/server.pem" "$C/server.key"
    start cpp_http http://127.0.0.1:$P7/ "$TMP/cpp_server" http $P7
else
    echo "# Apache C++ (libthrift-dev, g++) unavailable: skipped" >&2
fi

TCK=$(getconf CLK_TCK)
# server PID -> its CPU ticks (user + system, all threads)
srv_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# CPU seconds of the shell's waited-for children, from the file `times`
# wrote (line 2); `times` itself must run in this shell, not in $(...).
cli_cpu() {
    sed -n 2p "$1" | awk '{split($1, u, /[ms]/); split($2, s, /[ms]/);
        printf "%.3f", u[1] * 60 + u[2] + s[1] * 60 + s[2]}'
}
RES=$TMP/res
: > "$RES"
# echo takes the shared Payload as its one argument.
{ printf '['; cat "$PAYLOAD"; printf ']'; } > "$TMP/echo_args.json"
r=1
while [ $r -le "$REPS" ]; do
    for pt in $POINTS; do
        m=${pt%%:*}; n=${pt#*:}
        if [ "$m" = echo ]; then args="@$TMP/echo_args.json"; else args='[1, 2]'; fi
        for s in $SERVERS; do
            label=${s%%=*}; rest=${s#*=}; addr=${rest%%=*}; spid=${rest#*=}
            extra=
            case $label in *tls*) extra="--cacert $C/ca.pem" ;; esac
            case $label in *zlib*) extra="--zlib" ;; esac
            case $label in *header*) extra="--header" ;; esac
            before=$(srv_ticks "$spid"); times > "$TMP/times0"
            # shellcheck disable=SC2086
            out=$(taskset -c "$CLI_CPU" "$CLI" bench "$IDL" "Bench.$m" "$args" --addr "$addr" \
                  -c "$n" -d "$DUR" --json $extra 2>"$TMP/err" || true)
            times > "$TMP/times1"; after=$(srv_ticks "$spid")
            cost=$(echo "$before $after $(cli_cpu "$TMP/times0") $(cli_cpu "$TMP/times1") $TCK" |
                   awk '{printf "%.4f %.4f", ($2 - $1) / $5, $4 - $3}')
            cps=$(printf '%s' "$out" | python3 -c 'import json,sys
try: d=json.load(sys.stdin); print("%.0f %d %d %d %d %d" % (d["calls_per_s"], d["errors"], d.get("bytes_sent",0), d.get("calls",1), d.get("wire_bytes_sent",0), d.get("wire_bytes_received",0)))
except Exception: print("0 -1 0 1 0 0")')
            echo "$r $m:$n $label $cps $cost" | tee -a "$RES"
        done
    done
    r=$((r + 1))
done
# TLS connection setup: 64 clients one after another (a pool's members),
# verifying with the small test CA and with the system bundle plus it (the
# shared client context loads either once, not 64 times).
if [ -x "$BUILD/tools/bench_tls_connect" ] && echo "$SERVERS" | grep -q dyn_tls=; then
    bundle=$TMP/bundle.pem
    cat /etc/ssl/certs/ca-certificates.crt "$C/ca.pem" > "$bundle" 2>/dev/null || cp "$C/ca.pem" "$bundle"
    for ca in "$C/ca.pem" "$bundle"; do
        echo "# setup, CA file of $(grep -c BEGIN "$ca") certificates: $(taskset -c "$CLI_CPU" \
            "$BUILD/tools/bench_tls_connect" "$IDL" Bench tls://localhost:$P2 "$ca" 64 || true)"
    done
fi
echo "# columns: round point server calls/s errors bytes_sent calls wire_sent wire_received srv_cpu_s cli_cpu_s"
echo "# medians (calls/s) and ratios"
python3 - "$RES" <<'PY'
import statistics, sys, collections
rows = collections.defaultdict(list)
sent = collections.defaultdict(list)
cost = collections.defaultdict(list)
for line in open(sys.argv[1]):
    rnd, pt, label, cps, errs, bsent, calls, wsent, wrecv, scpu, ccpu = line.split()
    if int(errs) == 0 and float(cps) > 0:
        n = max(int(calls), 1)
        rows[(pt, label)].append(float(cps))
        sent[(pt, label)].append(int(bsent) / n)
        # per call: server CPU us, client CPU us, wire bytes in + out
        cost[(pt, label)].append((float(scpu) * 1e6 / n, float(ccpu) * 1e6 / n,
                                  (int(wsent) + int(wrecv)) / n))
pts = sorted({k[0] for k in rows}, key=lambda p: (p.split(":")[0], int(p.split(":")[1])))
labels = sorted({k[1] for k in rows})
print("%-10s" % "point" + "".join("%12s" % l for l in labels))
for p in pts:
    print("%-10s" % p + "".join("%12.0f" % statistics.median(rows[(p, l)]) if (p, l) in rows else "%12s" % "-" for l in labels))
print("# per call: server CPU us / client CPU us / bytes on the wire (both ways)")
print("%-10s" % "point" + "".join("%20s" % l for l in labels))
def cmed(p, l, i):
    return statistics.median(c[i] for c in cost[(p, l)])
for p in pts:
    print("%-10s" % p + "".join("%20s" % ("%.1f/%.1f/%.0f" % (cmed(p, l, 0), cmed(p, l, 1), cmed(p, l, 2)))
                                if (p, l) in cost else "%20s" % "-" for l in labels))
def med(p, l):
    return statistics.median(rows[(p, l)]) if (p, l) in rows else None
for p in pts:
    d, t, c = med(p, "dyn"), med(p, "dyn_tls"), med(p, "cpp_tls")
    if d and t:
        print("%s: TLS / plaintext = %.2f (goal >= 0.70 at add:16)" % (p, t / d))
    if t and c:
        print("%s: dynthrift TLS / Apache C++ TLS = %.2f (goal >= 1.5)" % (p, t / c))
    dh, ch = med(p, "dyn_http"), med(p, "cpp_http")
    if dh and ch:
        print("%s: dynthrift HTTP / Apache C++ THttpServer = %.2f (goal >= 1.5)" % (p, dh / ch))
    hd = med(p, "dyn_header")
    if d and hd:
        print("%s: THeader / framed = %.2f (goal >= 0.90)" % (p, hd / d))
    z = med(p, "dyn_zlib")
    if d and z:
        wd, wz = cmed(p, "dyn", 2), cmed(p, "dyn_zlib", 2)
        print("%s: zlib / plaintext calls/s = %.2f; wire bytes per call %.0f -> %.0f (%.0f%% saved); "
              "CPU us per call server %.1f -> %.1f, client %.1f -> %.1f"
              % (p, z / d, wd, wz, 100 * (1 - wz / wd) if wd else 0, cmed(p, "dyn", 0),
                 cmed(p, "dyn_zlib", 0), cmed(p, "dyn", 1), cmed(p, "dyn_zlib", 1)))
PY
