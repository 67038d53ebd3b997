#!/usr/bin/env bash
# Builds the libFuzzer targets (test/fuzz) with clang, ASan and UBSan, and runs
# each for SECONDS (default 30) starting from the committed seed corpora.
# Prints one TAP line per target (executions, crashes) and writes the same to
# build-fuzz/fuzz.tap.  A crash input is kept in build-fuzz/crashes/<target>/:
# turn it into a permanent suite case.
#   bash tools/fuzz.sh            # smoke run, as tools/test.sh does
#   bash tools/fuzz.sh 3600       # an hour per target
set -uo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
seconds=${1:-30}
ensure_packages $BUILD_PACKAGES clang libclang-rt-14-dev || exit 1
if [ ! -f build-fuzz/build.ninja ]; then
    CC=clang meson setup build-fuzz -Dfuzzing=true --buildtype=debugoptimized \
        -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args=-fsanitize=fuzzer-no-link >&2 || exit 1
fi
ninja -C build-fuzz >&2 || exit 1

# Seeds are made afresh from the project's own test inputs.
bash test/fuzz/make_seeds.sh build-fuzz/tools/dynthrift build-fuzz/seeds >&2 || exit 1

tap=build-fuzz/fuzz.tap
: > "$tap"
n=0
fail=0
for bin in build-fuzz/test/fuzz/fuzz_*; do
    [ -f "$bin" ] && [ -x "$bin" ] || continue
    name=$(basename "$bin")
    seeds=build-fuzz/seeds/$name
    work=build-fuzz/corpus/$name
    crashes=build-fuzz/crashes/$name
    mkdir -p "$work" "$crashes"
    dict=()
    case $name in
        fuzz_idl|fuzz_schema_values) dict=(-dict=test/fuzz/idl.dict) ;;
        *_binary|*_compact) dict=(-dict=test/fuzz/wire.dict) ;;
        fuzz_json) ;;
        *_json) dict=(-dict=test/fuzz/json.dict) ;;
    esac
    log=build-fuzz/$name.log
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
        "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -malloc_limit_mb=512 -artifact_prefix="$crashes/" -print_final_stats=1 \
        "${dict[@]}" "$work" $( [ -d "$seeds" ] && echo "$seeds" ) > "$log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    n=$((n + 1))
    if [ $rc -eq 0 ]; then
        echo "ok $n - $name: ${execs:-0} executions in ${seconds}s, 0 crashes" | tee -a "$tap"
    else
        fail=1
        echo "not ok $n - $name: crashed after ${execs:-?} executions (see $log, $crashes)" | tee -a "$tap"
        grep -m5 -E 'ERROR|SUMMARY|runtime error' "$log" | sed 's/^/# /' | tee -a "$tap"
    fi
done
echo "1..$n" | tee -a "$tap"
exit $fail
