#!/usr/bin/env bash
# Runs the unit tests and the data-driven codec suites under valgrind memcheck
# in a plain debug build (build-valgrind; no sanitizers, which valgrind cannot
# run beside).  Passes when every test passes and valgrind reports zero
# errors and zero definitely-lost bytes in every process.
#
# Unit tests run through `meson test --wrapper valgrind`; the suites run their
# Python runners directly with $DYNTHRIFT_CLI pointing at a script that starts
# the CLI under valgrind (wrapping the runner itself would check Python).
# Network tests see DYNTHRIFT_UNDER_VALGRIND=1 and scale their load down.
#
# Prints one TAP line per unit test, per suite and per process with valgrind
# errors, plus a summary; writes the same TAP to build-valgrind/valgrind.tap.
#   bash tools/valgrind.sh
#   VALGRIND_BUILD_DIR=build-vg bash tools/valgrind.sh
set -uo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
ensure_packages $BUILD_PACKAGES valgrind || exit 1

dir=${VALGRIND_BUILD_DIR:-build-valgrind}
meson_build "$dir" --buildtype=debug || exit 1
root=$PWD
logs=$root/$dir/valgrind-logs
rm -rf "$logs"
mkdir -p "$logs"
tap=$dir/valgrind.tap
: > "$tap"
start=$(date +%s)

vg=(valgrind --tool=memcheck --error-exitcode=99 --leak-check=full
    --errors-for-leak-kinds=definite --show-leak-kinds=definite
    --num-callers=30 --log-file="$logs/%p.log")
export DYNTHRIFT_UNDER_VALGRIND=1

n=0
fail=0
emit() { # emit ok|not-ok description [comment lines...]
    local res=$1 desc=$2
    shift 2
    n=$((n + 1))
    if [ "$res" = ok ]; then
        echo "ok $n - $desc" | tee -a "$tap"
    else
        fail=1
        echo "not ok $n - $desc" | tee -a "$tap"
    fi
    for line in "$@"; do echo "# $line" | tee -a "$tap"; done
}

# ---- unit tests: the compiled ones only (a script test would put Python or
# bash under valgrind, and their forked children leave no summary) ---------
mapfile -t unit < <(meson introspect --tests "$dir" | python3 -c '
import json, os, sys
build = os.path.realpath(sys.argv[1])
for t in json.load(sys.stdin):
    if not any(s.split(":")[-1] == "unit" for s in t["suite"]):
        continue
    exe = os.path.realpath(t["cmd"][0])
    try:
        with open(exe, "rb") as f:
            if exe.startswith(build + os.sep) and f.read(4) == b"\x7fELF":
                print(t["name"])
    except OSError:
        pass' "$dir")
meson test -C "$dir" --wrapper "${vg[*]}" --timeout-multiplier 10 \
    --num-processes 2 --print-errorlogs "${unit[@]}" > "$dir/valgrind-unit.log" 2>&1
# meson names the log after the wrapper: testlog-valgrind.json.
testlog=$dir/meson-logs/testlog-valgrind.json
[ -f "$testlog" ] || testlog=$dir/meson-logs/testlog.json
python3 - "$testlog" <<'EOF' > "$dir/valgrind-unit.tap"
import json, re, sys
for line in open(sys.argv[1]):
    rec = json.loads(line)
    out = rec.get("stdout") or ""
    sub = [l for l in out.splitlines() if re.match(r"(not )?ok\b", l)]
    bad = [l for l in sub if l.startswith("not ok")]
    skip = [l for l in sub if re.search(r"#\s*SKIP", l, re.I)]
    res = "ok" if rec["result"] in ("OK", "SKIP") and not bad else "not-ok"
    print("%s\t%s: %s (%d subtests, %d failed, %d skipped) in %.0f s"
          % (res, rec["name"], rec["result"], len(sub), len(bad), len(skip),
             rec.get("duration", 0)))
    for l in bad[:5]:
        print("%s\t  %s" % ("comment", l))
EOF
while IFS=$'\t' read -r res text; do
    if [ "$res" = comment ]; then
        echo "# $text" | tee -a "$tap"
    else
        emit "$res" "unit under valgrind: $text"
    fi
done < "$dir/valgrind-unit.tap"

# ---- data-driven suites, the CLI under valgrind ---------------------------
cli=$dir/valgrind-cli.sh
{
    echo '#!/bin/sh'
    printf 'exec'
    printf ' %q' "${vg[@]}" "$root/$dir/tools/dynthrift"
    echo ' "$@"'
} > "$cli"
chmod +x "$cli"
for suite in idl json codec; do
    runner=test/suites/run_${suite}_suite.py
    [ -f "$runner" ] || continue
    out=$dir/valgrind-suite-$suite.log
    DYNTHRIFT_CLI=$root/$cli DYNTHRIFT_SOURCE_ROOT=$root DYNTHRIFT_BUILD_ROOT=$root/$dir \
        python3 "$runner" "test/suites/$suite" > "$out" 2>&1
    rc=$?
    total=$(grep -cE '^(not )?ok\b' "$out")
    bad=$(grep -cE '^not ok\b' "$out")
    if [ $rc -eq 0 ] && [ "$bad" -eq 0 ] && [ "$total" -gt 0 ]; then
        emit ok "suite-$suite with the CLI under valgrind: $total cases"
    else
        mapfile -t first < <(grep -E '^not ok' "$out" | head -5)
        emit not-ok "suite-$suite with the CLI under valgrind: $bad of $total failed (rc $rc, $out)" "${first[@]}"
    fi
done

# ---- every valgrind log: errors and definitely-lost bytes -----------------
procs=0
errors=0
lost=0
for log in "$logs"/*.log; do
    [ -f "$log" ] || continue
    procs=$((procs + 1))
    e=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$log" | tr -d , | tail -1)
    l=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tr -d , | tail -1)
    e=${e:-0}
    l=${l:-0}
    if [ -z "$(grep -m1 'ERROR SUMMARY' "$log")" ]; then
        parent=$(sed -n 's/^==[0-9]*== Parent PID: //p' "$log" | head -1)
        if [ -n "$parent" ] && [ -f "$logs/$parent.log" ]; then
            # A child a checked test forked that left valgrind without a
            # summary: it exec'd a program (popen, system: a ZooKeeper or
            # openssl command), which valgrind does not follow.  The parent's
            # own log still counts.
            procs=$((procs - 1))
            continue
        fi
        # A test process killed before valgrind's summary (e.g. a watchdog
        # _exit still prints it; a SIGKILL does not): count it as a failure.
        e=1
    fi
    if [ "$e" -ne 0 ] || [ "$l" -ne 0 ]; then
        cmd=$(sed -n 's/^==[0-9]*== Command: //p' "$log" | head -1)
        mapfile -t first < <(grep -m8 -E '^==[0-9]+== (Invalid|Conditional|Use of|Syscall|Mismatched|Source and|[0-9,]+ bytes in)' "$log" | sed 's/^==[0-9]*== //')
        emit not-ok "valgrind: $e errors, $l bytes definitely lost in: $cmd ($log)" "${first[@]}"
    fi
    errors=$((errors + e))
    lost=$((lost + l))
done
elapsed=$(( $(date +%s) - start ))
if [ $errors -eq 0 ] && [ $lost -eq 0 ] && [ $procs -gt 0 ]; then
    emit ok "valgrind memcheck: $procs processes, 0 errors, 0 bytes definitely lost"
else
    emit not-ok "valgrind memcheck: $procs processes, $errors errors, $lost bytes definitely lost"
fi
echo "1..$n" | tee -a "$tap"
echo "valgrind run took ${elapsed}s; TAP in $tap, logs in $logs"
exit $fail
