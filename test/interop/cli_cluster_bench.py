#!/usr/bin/python3
"""`dynthrift bench` over several servers with the single-address options
it lacked: --rate (open loop), --warmup and --latency, against two
`dynthrift serve --echo --record` servers (the records count what the
servers really answered, warm-up included).

TAP on stdout; '1..0 # SKIP reason' when the CLI is missing.  Loopback
only; every process started is stopped by its own PID.
Environment: DYNTHRIFT_CLI, DYNTHRIFT_SOURCE_ROOT.
"""
import json
import os
import subprocess
import time

from testlib import CLI, PINGPONG, Tap, dynthrift_listening, require_cli, run_script, temp_dir

require_cli()
TMP = temp_dir("cluster-bench")
TAP = Tap()
ok = TAP.ok


def serve_recording(record):
    """serve --echo --record RECORD: the record counts what it answered."""
    return dynthrift_listening(["serve", PINGPONG, "PingPong", "--addr", "127.0.0.1:0",
                                "--echo", "--record", record], TMP)


def answered_calls(records):
    """How many calls the servers recording to `records` answered."""
    total = 0
    for record in records:
        try:
            with open(record) as f:
                total += sum(1 for _ in f)
        except OSError:
            pass
    return total


def bench(addrs, *flags):
    t0 = time.time()
    p = subprocess.run([CLI, "bench", PINGPONG, "PingPong.ping", "--addr", addrs] + list(flags),
                       capture_output=True, timeout=120)
    return p.returncode, p.stdout.decode(), p.stderr.decode(), time.time() - t0


def main():
    records = [os.path.join(TMP, "rec%d.jsonl" % i) for i in range(2)]
    servers = [serve_recording(record) for record in records]
    addrs = ",".join(s.addr for s in servers)
    try:
        rc, out, err, took = bench(addrs, "--rate", "400", "-d", "1.5", "--json")
        rep = json.loads(out) if rc == 0 else {}
        calls = rep.get("total", {}).get("calls", 0)
        ok(rc == 0 and rep.get("rate") == 400 and 0.8 * 600 <= calls <= 1.1 * 600,
           "--rate 400 for 1.5 s: %d calls (600 expected)" % calls, (rc, out, err))
        per = [s["calls"] for s in rep.get("servers", [])]
        ok(len(per) == 2 and min(per) > 0.4 * calls,
           "the open loop's calls are spread over both servers: %s" % per, rep)

        before = answered_calls(records)
        rc, out, err, took = bench(addrs, "--rate", "400", "--warmup", "1", "-d", "1", "--json")
        rep = json.loads(out) if rc == 0 else {}
        measured = rep.get("total", {}).get("calls", 0)
        answered = answered_calls(records) - before
        ok(rc == 0 and rep.get("warmup_s") == 1 and 0.8 <= rep.get("seconds", 0) <= 1.3
           and took >= 1.9,
           "--warmup 1 -d 1: ran %.2f s, measured %.2f s" % (took, rep.get("seconds", 0)),
           (rc, out, err))
        ok(0.8 * 400 <= measured <= 1.1 * 400 and answered >= measured + 0.7 * 400,
           "warm-up calls reached the servers (%d answered) but are not counted (%d measured)"
           % (answered, measured), rep)

        rc, out, err, took = bench(addrs, "-n", "500", "--latency", "--json")
        rep = json.loads(out) if rc == 0 else {}
        t = rep.get("total", {})
        dist = t.get("latency_distribution", [])
        ok(rc == 0 and t.get("calls") == 500 and [d["percentile"] for d in dist]
           == [50, 75, 90, 95, 99, 99.9, 99.99, 100]
           and all(dist[i]["us"] <= dist[i + 1]["us"] for i in range(len(dist) - 1))
           and t.get("latency_us", {}).get("count") == 500,
           "--latency --json: the total's distribution, non-decreasing, over 500 calls",
           (rc, out, err))
        rc, out, err, took = bench(addrs, "-n", "300", "--latency")
        ok(rc == 0 and "latency distribution" in out and "99.00%" in out and "total" in out,
           "--latency text: the distribution after the per-server table", (rc, out, err))
        rc, out, err, took = bench(addrs, "-n", "300")
        ok(rc == 0 and "latency distribution" not in out and "p99.9" in out,
           "without --latency: the summary line only", (rc, out, err))
        rc, out, err, took = bench(addrs, "--rate", "0", "-n", "10")
        ok(rc == 64 and "--rate takes calls per second" in err, "--rate 0 is refused (64)",
           (rc, err))
        rc, out, err, took = bench(addrs, "--warmup", "x", "-n", "10")
        ok(rc == 64 and "--warmup takes seconds" in err, "--warmup x is refused (64)", (rc, err))
    finally:
        for s in servers:
            s.stop()


if __name__ == "__main__":
    run_script(TAP, main)
