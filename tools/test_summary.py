"""Counts results over meson test logs (testlog.json) and plain TAP files
(*.tap): each TAP subtest counts as one test, a non-TAP test as one.  Prints failures and the closing line
'N passed, N failed, N skipped'.  Exit status 1 when anything failed."""
import json
import re
import sys

passed = failed = skipped = 0
failures = []
for log in sys.argv[1:]:
    try:
        lines = open(log).read().splitlines()
    except OSError:
        print(f"missing test log {log}: that build did not run", file=sys.stderr)
        failed += 1
        continue
    if log.endswith(".tap"):
        lines = [json.dumps({"name": log, "result": "OK" if not any(
            l.startswith("not ok") for l in lines) else "FAIL",
            "stdout": "\n".join(lines)})]
    for line in lines:
        rec = json.loads(line)
        result, out = rec["result"], rec.get("stdout") or ""
        tap = [l for l in out.splitlines() if re.match(r"(not )?ok\b", l)]
        if result == "SKIP" and not tap:
            skipped += 1
            continue
        if not tap:
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            else:
                failed += 1
                failures.append(f"{log}: {rec['name']}: {result}")
            continue
        for l in tap:
            if re.search(r"#\s*(SKIP|TODO)", l, re.I):
                # TAP: a TODO line is a known gap, not a pass or a failure.
                skipped += 1
            elif l.startswith("ok"):
                passed += 1
            else:
                failed += 1
                failures.append(f"{log}: {rec['name']}: {l}")
        if result not in ("OK", "SKIP", "EXPECTEDFAIL") and not any(
                l.startswith("not ok") for l in tap):
            # Crashed, timed out or exited non-zero after its last TAP line.
            failed += 1
            failures.append(f"{log}: {rec['name']}: {result}")
for f in failures:
    print("FAILED:", f)
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
