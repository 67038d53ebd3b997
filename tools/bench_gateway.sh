#!/usr/bin/env bash
# bench_gateway.sh — the JSON/HTTP gateway against direct Thrift calls.
#
# One upstream, `dynthrift serve bench.thrift Bench --echo` (framed binary),
# and in the same run, with C connections, one call in flight on each:
#   direct:  dynthrift bench Bench.METHOD --addr UPSTREAM -c C -p 1
#   gateway: tools/bench_gateway (an HTTP/1.1 keep-alive load generator)
#            POST /Bench/METHOD to `dynthrift gateway --listen`, C connections
# for add(1, 2) and echo(Payload) (the Payload of ../shared/bench/payload.json
# when present, else a small one).  Prints calls/s and the gateway/direct
# ratio (goal: >= 0.5).  Loopback only; every process stopped by its PID.
#   tools/bench_gateway.sh [BUILD_DIR]      C=16 DUR=3 tools/bench_gateway.sh
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build}
C=${C:-16}
DUR=${DUR:-3}
for t in dynthrift bench_gateway; do
    [ -x "$BUILD/tools/$t" ] || { echo "missing $BUILD/tools/$t (ninja -C $BUILD)" >&2; exit 2; }
done
D="$BUILD/tools/dynthrift"
IDL=idl-samples/bench.thrift
TMP=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT

wait_port() { # $1: stderr file -> prints host:port
    for _ in $(seq 100); do
        a=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$1" | head -1 | sed 's/listening on //')
        [ -n "$a" ] && { echo "$a"; return; }
        sleep 0.05
    done
    echo "did not start: $(cat "$1")" >&2; exit 3
}

"$D" serve "$IDL" Bench --echo --addr 127.0.0.1:0 > /dev/null 2> "$TMP/serve.err" &
pids+=($!)
UP=$(wait_port "$TMP/serve.err")
"$D" gateway "$IDL" --upstream "$UP" --listen 127.0.0.1:0 2> "$TMP/gw.err" &
pids+=($!)
GW=$(wait_port "$TMP/gw.err")

PAYLOAD=../shared/bench/payload.json
[ -f "$PAYLOAD" ] || { PAYLOAD="$TMP/payload.json"; echo '{"request_id": 1, "users": [{"id": 2, "name": "n", "tags": ["a", "b"]}], "meta": {"k": "v"}}' > "$PAYLOAD"; }
printf '{"a": 1, "b": 2}' > "$TMP/add.json"
python3 -c 'import json,sys; print(json.dumps({"p": json.load(open(sys.argv[1]))}))' "$PAYLOAD" > "$TMP/echo.json"

echo "# bench_gateway.sh: $C connections, 1 in flight each, ${DUR}s per run, load $(cut -d' ' -f1-3 /proc/loadavg)"
for m in add echo; do
    direct=$("$D" bench "$IDL" "Bench.$m" @"$TMP/$m.json" --addr "$UP" -c "$C" -p 1 -d "$DUR" \
             --warmup 1 --json | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["calls_per_s"]))')
    gw=$("$BUILD/tools/bench_gateway" "$GW" "/Bench/$m" "$TMP/$m.json" -c "$C" -d "$DUR" --json)
    rate=$(echo "$gw" | python3 -c 'import json,sys; print(json.load(sys.stdin)["calls_per_s"])')
    python3 -c "print('%-5s direct %7d calls/s   gateway %7d calls/s   ratio %.2f   (gateway p50/p99 ms: %s)' % ('$m', $direct, $rate, $rate / $direct, '$(echo "$gw" | python3 -c 'import json,sys; j=json.load(sys.stdin); print("%.2f/%.2f" % (j["p50_ms"], j["p99_ms"]))')'))"
done
