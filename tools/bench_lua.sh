#!/usr/bin/env bash
# bench_lua.sh — the Lua binding next to C and the Python binding, in one
# run (issue 14).
#
#  1. codec: encode/decode of the bench Payload (../shared/bench/payload.json,
#     made into binary by the CLI) from Lua tables, on Lua 5.4 and LuaJIT,
#     next to tools/bench_codec (C, from value trees) and the Python binding
#     (tools/bench_lua_python.py, from Python objects; when BUILD/src/python
#     imports under /usr/bin/python3);
#  2. add calls/s on one connection, one call at a time, against
#     tools/bench_server: tools/bench_blocking (the C blocking client:
#     thrift_connect + thrift_call), the Lua client on each VM and the
#     Python binding's blocking client (framed binary, as the others),
#     alternating, ROUNDS rounds of DUR seconds, server and clients pinned
#     to separate cores.  Prints the median calls/s of each and the median
#     per-round ratio Lua/C (goal: >= 0.80), and each client's own CPU time
#     per call (steadier than rates on a shared machine).
#   tools/bench_lua.sh [BUILD_DIR]      DUR=2 ROUNDS=3 tools/bench_lua.sh build
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build}
DUR=${DUR:-2}
ROUNDS=${ROUNDS:-3}
IDL=idl-samples/bench.thrift
PAYLOAD=${PAYLOAD:-../shared/bench/payload.json}
for t in tools/bench_server tools/bench_blocking tools/bench_codec tools/dynthrift; do
    [ -x "$BUILD/$t" ] || { echo "missing $BUILD/$t (ninja -C $BUILD)" >&2; exit 2; }
done
vms=()
[ -f "$BUILD/src/lua/dynthrift.so" ] && command -v lua5.4 >/dev/null && vms+=("lua5.4:$BUILD/src/lua")
[ -f "$BUILD/src/lua/luajit/dynthrift.so" ] && command -v luajit >/dev/null && vms+=("luajit:$BUILD/src/lua/luajit")
[ ${#vms[@]} -gt 0 ] || { echo "no Lua module built in $BUILD" >&2; exit 2; }
PY=/usr/bin/python3
have_py=
if [ -x "$PY" ] && PYTHONPATH="$BUILD/src/python" "$PY" -c 'import dynthrift' 2>/dev/null; then
    have_py=1
else
    echo "# the Python binding is not built in $BUILD: its columns are left out" >&2
fi
pin_srv="" pin_cli=""
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    pin_srv="taskset -c 0" pin_cli="taskset -c 1"
fi
TMP=$(mktemp -d)
srv_pid=
trap '[ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null; rm -rf "$TMP"' EXIT
lua_run() { # vm:dir args...
    local vm=${1%%:*} dir=${1#*:}; shift
    LUA_CPATH="$dir/?.so;;" $pin_cli "$vm" tools/bench_lua.lua "$@"
}
py_run() {
    PYTHONPATH="$BUILD/src/python" $pin_cli "$PY" tools/bench_lua_python.py "$@"
}

echo "# bench_lua.sh: load $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -f "$PAYLOAD" ]; then
    "$BUILD/tools/dynthrift" encode "$IDL" Payload < "$PAYLOAD" > "$TMP/payload.bin"
    echo "## codec: the bench Payload ($(stat -c %s "$TMP/payload.bin") bytes binary), best of 5 batches"
    $pin_cli "$BUILD/tools/bench_codec" --idl "$IDL" --json "$PAYLOAD" --seconds "$DUR" |
        grep -E '^(encode|decode)-(binary|compact) ' | sed 's/^/C (value tree) /'
    for vm in "${vms[@]}"; do lua_run "$vm" codec "$IDL" "$TMP/payload.bin" "$DUR"; done
    if [ -n "$have_py" ]; then py_run codec "$IDL" "$TMP/payload.bin" "$DUR"; fi
else
    echo "## codec: skipped ($PAYLOAD absent)"
fi

echo "## add, 1 connection, 1 call at a time: ${DUR}s x $ROUNDS rounds"
$pin_srv "$BUILD/tools/bench_server" "$IDL" 127.0.0.1:0 > "$TMP/srv.out" &
srv_pid=$!
for _ in $(seq 50); do grep -q listening "$TMP/srv.out" && break; sleep 0.1; done
port=$(sed -n 's/listening //p' "$TMP/srv.out")
: > "$TMP/rates"
for r in $(seq "$ROUNDS"); do
    out=$($pin_cli "$BUILD/tools/bench_blocking" "$IDL" "127.0.0.1:$port" "$DUR")
    line="round $r C=$(echo "$out" | sed -n 's/.*cps=\([0-9]*\).*/\1/p')"
    line="$line C_cpu=$(echo "$out" | sed -n 's/.*cpu_us=\([0-9.]*\).*/\1/p')"
    for vm in "${vms[@]}"; do
        out=$(lua_run "$vm" add "$IDL" "127.0.0.1:$port" "$DUR")
        line="$line ${vm%%:*}=$(echo "$out" | sed -n 's/.*cps=\([0-9]*\).*/\1/p')"
        line="$line ${vm%%:*}_cpu=$(echo "$out" | sed -n 's/.*cpu_us=\([0-9.]*\).*/\1/p')"
    done
    if [ -n "$have_py" ]; then
        out=$(py_run add "$IDL" "127.0.0.1:$port" "$DUR")
        line="$line python=$(echo "$out" | sed -n 's/.*cps=\([0-9]*\).*/\1/p')"
        line="$line python_cpu=$(echo "$out" | sed -n 's/.*cpu_us=\([0-9.]*\).*/\1/p')"
    fi
    echo "$line" | tee -a "$TMP/rates"
done
python3 - "$TMP/rates" <<'PY'
import statistics, sys
rows = [dict(kv.split("=") for kv in l.split()[2:]) for l in open(sys.argv[1])]
c = [float(r["C"]) for r in rows]
ccpu = [float(r["C_cpu"]) for r in rows]
print("median C blocking client: %.0f calls/s, %.2f us client CPU/call" %
      (statistics.median(c), statistics.median(ccpu)))
for vm in [k for k in rows[0] if k != "C" and not k.endswith("_cpu")]:
    v = [float(r[vm]) for r in rows]
    cpu = [float(r[vm + "_cpu"]) for r in rows]
    ratios = [a / b for a, b in zip(v, c)]
    print("median %s client: %.0f calls/s, %.2f us client CPU/call; calls/s vs C per round: "
          "median %.2f (%.2f-%.2f); CPU/call vs C: %.2f" %
          (vm, statistics.median(v), statistics.median(cpu), statistics.median(ratios),
           min(ratios), max(ratios), statistics.median(cpu) / statistics.median(ccpu)))
PY
