#!/usr/bin/env bash
# Builds dynthrift three times — release with -Werror, with AddressSanitizer and
# UndefinedBehaviorSanitizer, and with ThreadSanitizer — and runs every test in
# the first two builds and the multi-threaded ones (suite 'threads') in the
# third; then runs
# every fuzz target briefly (clang, libFuzzer) and the unit tests and suites
# under valgrind.  Installs
# what it needs with apt-get when missing; safe to run again.  Ends with the
# line "N passed, N failed, N skipped" (TAP subtests count one each).
set -uo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
ensure_packages $BUILD_PACKAGES $TEST_PACKAGES || exit 1

status=0
for variant in release asan tsan; do
    suites=()
    case $variant in
        release) dir=build; opts=(--buildtype=release) ;;
        asan) dir=build-asan; opts=(--buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false) ;;
        # Only the tests of code that runs on several threads (meson suite
        # 'threads'): server loops, thread-safe submit, pools, the bindings'
        # I/O threads.
        tsan) dir=build-tsan; opts=(--buildtype=debug -Db_sanitize=thread -Db_lundef=false)
              suites=(--suite threads) ;;
    esac
    echo "== $variant build ($dir)"
    if ! meson_build "$dir" "${opts[@]}"; then
        echo "build failed: $dir" >&2
        status=1
        continue
    fi
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
        meson test -C "$dir" --print-errorlogs --num-processes 2 "${suites[@]}" || status=1
done

# Every fuzz target for a short smoke run under ASan+UBSan (clang build).
echo "== fuzz smoke run (${FUZZ_SECONDS:-30} s per target)"
rm -f build-fuzz/fuzz.tap
bash tools/fuzz.sh "${FUZZ_SECONDS:-30}" || status=1

# The unit tests and codec suites under valgrind memcheck: zero errors,
# zero definitely-lost bytes.
echo "== valgrind memcheck (unit tests and suites)"
rm -f build-valgrind/valgrind.tap
bash tools/valgrind.sh || status=1

python3 tools/test_summary.py build/meson-logs/testlog.json \
    build-asan/meson-logs/testlog.json build-tsan/meson-logs/testlog.json build-fuzz/fuzz.tap \
    build-valgrind/valgrind.tap
summary_status=$?
[ $status -eq 0 ] && status=$summary_status
exit $status
