#!/bin/sh
# bench_idl.sh — dynthrift's IDL loader next to thriftpy's, in one run.
#
# Runs bench_idl (the largest corpus file and a synthetic ~1 MB IDL it
# writes into a temp dir), then times python3-thriftpy's `thriftpy.load` of
# the very same files with Debian's /usr/bin/python3, and prints both and the
# ratio.  Builds nothing: build bench_idl first (ninja -C BUILD_DIR).
#
#   tools/bench_idl.sh [BUILD_DIR]     (default: build-idltools, else build)
#   SECONDS_PER_FILE=3 tools/bench_idl.sh
#
# Goals (issue 2): >= 30 MB/s of IDL text, >= 100x thriftpy.load.
set -eu

cd "$(dirname "$0")/.."
BUILD=${1:-}
if [ -z "$BUILD" ]; then
    for d in build-idltools build; do
        if [ -x "$d/tools/bench_idl" ]; then BUILD=$d; break; fi
    done
fi
BENCH="${BUILD:-build}/tools/bench_idl"
[ -x "$BENCH" ] || { echo "bench_idl.sh: build first (ninja -C BUILD_DIR)" >&2; exit 1; }
SECS=${SECONDS_PER_FILE:-2}
PY=/usr/bin/python3
export DYNTHRIFT_SOURCE_ROOT="${DYNTHRIFT_SOURCE_ROOT:-$(pwd)}"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

echo "== dynthrift (thrift_load, best batch over ${SECS} s per file)"
"$BENCH" --seconds "$SECS" --synthetic-out "$TMP/synthetic.thrift" >"$TMP/dyn.txt"
grep -v '^RESULT' "$TMP/dyn.txt"

if ! "$PY" -c 'import thriftpy' 2>/dev/null; then
    echo "bench_idl.sh: python3-thriftpy is not installed; no comparison" >&2
    exit 0
fi

echo "== thriftpy $("$PY" -c 'import thriftpy; print(thriftpy.__version__)') (thriftpy.load, best of repeated loads over ${SECS} s per file)"
grep '^RESULT' "$TMP/dyn.txt" | while read -r _ path bytes loads us mbps; do
    dyn_us=${us#us_per_load=}
    "$PY" - "$path" "$SECS" "$dyn_us" "${bytes#bytes=}" <<'EOF'
import os, sys, time
import thriftpy
path, secs, dyn_us, nbytes = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
inc = [os.path.dirname(os.path.abspath(path))]
n = 0
best = float("inf")
thriftpy.load(path, module_name="warmup_thrift", include_dirs=inc)
start = time.perf_counter()
while time.perf_counter() - start < secs or n < 3:
    # A new module name each time defeats thriftpy's parse cache, so every
    # load parses the file again.
    name = "bench%d_thrift" % n
    t0 = time.perf_counter()
    thriftpy.load(path, module_name=name, include_dirs=inc)
    best = min(best, time.perf_counter() - t0)
    sys.modules.pop(name, None)
    n += 1
us = best * 1e6
print("%s: %d loads: %.1f us/load, %.2f MB/s" % (path, n, us, nbytes / best / 1e6))
print("   dynthrift %.1f us/load -> %.0fx faster than thriftpy.load" % (dyn_us, us / dyn_us))
EOF
done
