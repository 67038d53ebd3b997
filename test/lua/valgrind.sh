#!/bin/bash
# Lua binding, step 8: the Lua test suite under valgrind memcheck, on lua5.4
# (a plain C program, so every allocation is seen).  The servers the tests
# start run under valgrind too (DYNTHRIFT_LUA).  Each process must report
# no memory errors and 0 bytes definitely lost.  Prints TAP; skips (plan 1..0, exit 0) when
# valgrind or lua5.4 is missing.  Environment as for the other Lua tests
# (LUA_CPATH, DYNTHRIFT_SOURCE_ROOT).
here=$(cd "$(dirname "$0")" && pwd)
lua=${DYNTHRIFT_LUA:-lua5.4}
if ! command -v valgrind >/dev/null || ! command -v "$lua" >/dev/null; then
    echo "1..0 # SKIP valgrind or $lua missing"; exit 0
fi
case "$("$lua" -v 2>&1)" in *LuaJIT*) echo "1..0 # SKIP LuaJIT's allocator is not for valgrind"; exit 0;; esac
logs=$(mktemp -d); [ -n "$KEEP_LOGS" ] && echo "# logs in $logs"
trap '[ -n "$KEEP_LOGS" ] || rm -rf "$logs"' EXIT
vg="valgrind --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite --error-exitcode=99 --log-file=$logs/%p.log"
n=0 failed=0
for script in test_values.lua test_codec.lua test_net.lua test_async.lua test_headers.lua test_async_server.lua; do
    DYNTHRIFT_LUA="$vg $lua" DYNTHRIFT_LUA_CALLS=2000 $vg "$lua" "$here/$script" > "$logs/$script.out" 2>&1
    rc=$?
    n=$((n + 1))
    passed=$(grep -c '^ok' "$logs/$script.out")
    if [ $rc -eq 0 ] && ! grep -q '^not ok' "$logs/$script.out"; then
        echo "ok $n - $script under valgrind ($passed checks pass)"
    else
        failed=$((failed + 1))
        echo "not ok $n - $script under valgrind (exit $rc)"
        grep -E '^not ok|Error|error' "$logs/$script.out" | head -5 | sed 's/^/#   /'
    fi
done
# every process: the tests' own and the servers they started
procs=0 bad=0
for log in "$logs"/*.log; do
    # A log without a summary is a fork that went on to exec a shell
    # (io.popen, os.execute): valgrind does not follow it.
    grep -q "ERROR SUMMARY" "$log" || continue
    procs=$((procs + 1))
    if ! grep -q "ERROR SUMMARY: 0 errors" "$log" ||
       grep -qE "definitely lost: [1-9]" "$log"; then
        bad=$((bad + 1))
        grep -E "ERROR SUMMARY|definitely lost|Invalid|uninitialised" "$log" | head -5 | sed 's/^/#   /'
    fi
done
n=$((n + 1))
if [ $procs -gt 4 ] && [ $bad -eq 0 ]; then
    echo "ok $n - $procs processes (tests and their Lua servers): 0 errors, 0 bytes definitely lost"
else
    failed=$((failed + 1))
    echo "not ok $n - $bad of $procs processes had errors or definitely-lost bytes"
fi
echo "1..$n"
[ $failed -eq 0 ]
