#!/usr/bin/env bash
# bench_cli.sh — is `dynthrift bench` light enough to measure a floor?
#
# One connection, one call at a time, against the bare libev echo server
# (tools/bench_echo): the hand-written C client (tools/bench_net --method
# raw, a 34-byte frame) and `dynthrift bench Bench.ping` (echoed with
# --reply, so each echoed CALL is a valid void REPLY), alternating, ROUNDS
# rounds of DUR seconds, server and client pinned to separate cores.  Prints
# calls/s of each and the ratio (goal: the same rate, within noise).
#   tools/bench_cli.sh [BUILD_DIR]      DUR=3 ROUNDS=5 tools/bench_cli.sh
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build}
DUR=${DUR:-3}
ROUNDS=${ROUNDS:-5}
for t in bench_echo bench_net dynthrift; do
    [ -x "$BUILD/tools/$t" ] || { echo "missing $BUILD/tools/$t (ninja -C $BUILD)" >&2; exit 2; }
done
pin_srv="" pin_cli=""
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    pin_srv="taskset -c 0" pin_cli="taskset -c 1"
fi
TMP=$(mktemp -d)
echo_pid=
trap '[ -n "$echo_pid" ] && kill "$echo_pid" 2>/dev/null; rm -rf "$TMP"' EXIT

start_echo() { # $1: extra flag; sets echo_pid and port
    : > "$TMP/echo.out"
    $pin_srv "$BUILD/tools/bench_echo" 127.0.0.1:0 $1 > "$TMP/echo.out" &
    echo_pid=$!
    for _ in $(seq 50); do grep -q listening "$TMP/echo.out" && break; sleep 0.1; done
    port=$(sed -n 's/listening //p' "$TMP/echo.out")
}
stop_echo() { kill "$echo_pid"; wait "$echo_pid" 2>/dev/null || true; }

echo "# bench_cli.sh: 1 connection, 1 in flight, ${DUR}s x $ROUNDS rounds, load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
    start_echo ""
    c=$($pin_cli "$BUILD/tools/bench_net" --addr 127.0.0.1:$port --method raw -c 1 -P 1 \
        -d "$DUR" -w 1 --label c | sed -n 's/.* cps=\([0-9.]*\).*/\1/p')
    stop_echo
    start_echo --reply
    d=$($pin_cli "$BUILD/tools/dynthrift" bench idl-samples/bench.thrift Bench.ping \
        --addr 127.0.0.1:$port -c 1 -p 1 -d "$DUR" --warmup 1 --json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["calls_per_s"])')
    stop_echo
    echo "$c $d" >> "$TMP/rates"
    python3 -c "print('round $r: C client %.0f calls/s, dynthrift bench %.0f calls/s, ratio %.2f' % ($c, $d, $d / $c))"
done
python3 - "$TMP/rates" <<'PY'
import statistics, sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1])]
c = statistics.median(r[0] for r in rows)
d = statistics.median(r[1] for r in rows)
ratios = sorted(r[1] / r[0] for r in rows)
print("median: C client %.0f calls/s, dynthrift bench %.0f calls/s, ratio %.2f (rounds %.2f-%.2f)"
      % (c, d, d / c, ratios[0], ratios[-1]))
PY
