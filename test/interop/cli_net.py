#!/usr/bin/python3
"""dynthrift call / serve / bench driven as processes against real peers.

- `call` against a thriftpy server and against `dynthrift serve`;
- `serve --mock`, `--exec` (a Python handler written here) and `--echo`
  answering thriftpy's client and Apache's generated Python client;
- `bench` against `dynthrift serve --echo`, its --json report checked.

TAP on stdout; skips when a peer is missing.  Loopback only, port 0,
every child process killed at the end.  Environment: DYNTHRIFT_CLI (the
dynthrift binary), DYNTHRIFT_SOURCE_ROOT (the checkout).
"""
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time

from testlib import (CLI, IDL_SAMPLES, PINGPONG, BenchHandler, Tap,
                     apache_client as open_apache_client, apache_gen_py, apache_server,
                     dynthrift_serve, require_cli, require_programs, run_script, skip_all,
                     thriftpy_server)

BENCH = os.path.join(IDL_SAMPLES, "bench.thrift")
DEADLINE = time.time() + 600  # the whole script, bounded

try:
    import thriftpy
    from thriftpy.rpc import make_client
    from thriftpy.transport import TFramedTransportFactory
    from thriftpy.thrift import TApplicationException as TpAppException
except ImportError as e:
    skip_all("thriftpy missing: %s" % e)
try:
    from thrift.Thrift import TApplicationException
except ImportError as e:
    skip_all("python3-thrift missing: %s" % e)
require_cli()
require_programs("thrift")

logging.disable(logging.CRITICAL)  # thriftpy logs every closed client
TMP = tempfile.mkdtemp(prefix="dynthrift-cli-net-")
TAP = Tap(diag_lines=30)
ok = TAP.ok


def run(args, stdin=None, timeout=30):
    p = subprocess.run([CLI] + args, input=stdin, capture_output=True, text=True,
                       timeout=min(timeout, max(1, DEADLINE - time.time())))
    return p.returncode, p.stdout, p.stderr


def Serve(args, name):
    """`dynthrift serve ... --addr 127.0.0.1:0`, port read from stderr."""
    return dynthrift_serve(args, os.path.join(TMP, name + ".stderr"))


def tp_client(mod, service, port, timeout=5000):
    return make_client(getattr(mod, service), "127.0.0.1", port,
                       trans_factory=TFramedTransportFactory(), timeout=timeout)


def apache_client(gen_mod, port, protocol="binary"):
    return open_apache_client(gen_mod.Client, port, "framed", protocol)


def main():
    bench_tp = thriftpy.load(BENCH, module_name="bench_thrift")
    pp_tp = thriftpy.load(PINGPONG, module_name="pingpong_thrift")

    # Apache's generated Python code for bench.thrift, made here.
    apache_gen_py(os.path.join(TMP, "gen"), BENCH)
    from bench import Bench as ApacheBench  # noqa: E402
    from bench import ttypes as apache_types  # noqa: E402

    # ---- --help everywhere ----------------------------------------------
    for cmd in ("call", "serve", "bench"):
        rc, out, err = run([cmd, "--help"])
        ok(rc == 0 and "usage: dynthrift " + cmd in out, "%s --help" % cmd, err)

    # ---- call against a thriftpy server ----------------------------------
    tp_port = thriftpy_server(bench_tp.Bench, BenchHandler(bench_tp.BenchError))
    tp_addr = "127.0.0.1:%d" % tp_port

    rc, out, err = run(["call", BENCH, "Bench.add", '{"a": 40, "b": 2}', "--addr", tp_addr,
                        "--timeout", "5000"])
    ok(rc == 0 and json.loads(out) == 42, "call thriftpy: add by name", (rc, out, err))
    rc, out, err = run(["call", BENCH, "Bench.add", "[7, 8]", "--addr", tp_addr])
    ok(rc == 0 and json.loads(out) == 15, "call thriftpy: add by position", (rc, out, err))
    rc, out, err = run(["call", BENCH, "Bench.ping", "--addr", tp_addr])
    ok(rc == 0 and json.loads(out) is None, "call thriftpy: void ping prints null",
       (rc, out, err))
    payload = {"request_id": 9, "users": [{"id": 1, "name": "ann", "tags": ["a", "b"],
                                           "counters": {"x": 3}, "groups": [1, 2],
                                           "status": "SUSPENDED", "avatar": "AAEC"}],
               "meta": {"k": "v"}, "score": 0.5}
    rc, out, err = run(["call", BENCH, "Bench.echo", "-", "--addr", tp_addr],
                       stdin=json.dumps({"p": payload}))
    got = json.loads(out) if rc == 0 else None
    ok(rc == 0 and got["request_id"] == 9 and got["users"][0]["status"] == "SUSPENDED"
       and got["users"][0]["avatar"] == "AAEC" and got["meta"] == {"k": "v"},
       "call thriftpy: echo a Payload read from stdin", (rc, out, err))
    rc, out, err = run(["call", BENCH, "Bench.fail", '{"code": 7}', "--addr", tp_addr])
    ok(rc == 1 and json.loads(out) == {"exception": "BenchError",
                                      "value": {"code": 7, "message": "failed with 7"}},
       "call thriftpy: declared exception -> exit 1 and {exception, value}", (rc, out, err))
    lines = "\n".join(json.dumps(x) for x in [
        {"method": "add", "args": [1, 2], "id": "a"},
        {"method": "fail", "args": {"code": 3}},
        {"method": "nope"},
        {"method": "add", "args": {"a": 10, "b": 20}},
    ]) + "\n"
    rc, out, err = run(["call", BENCH, "Bench", "--lines", "--addr", tp_addr], stdin=lines)
    outs = [json.loads(l) for l in out.splitlines()]
    ok(len(outs) == 4 and outs[0] == {"result": 3, "id": "a"}
       and outs[1]["exception"] == "BenchError" and outs[2]["error"]["kind"] == "bad_input"
       and outs[3] == {"result": 30} and rc == 1,
       "call thriftpy: --lines pipelined, answers in input order", (rc, out, err))
    many = "".join(json.dumps({"method": "add", "args": [i, i]}) + "\n" for i in range(500))
    rc, out, err = run(["call", BENCH, "Bench", "--lines", "--pipeline", "32",
                        "--addr", tp_addr], stdin=many)
    outs = [json.loads(l) for l in out.splitlines()]
    ok(rc == 0 and [o["result"] for o in outs] == [2 * i for i in range(500)],
       "call thriftpy: --lines 500 calls through a 32-call window", (rc, len(outs), err))

    # ---- call: usage, bad input, transport -------------------------------
    rc, out, err = run(["call", BENCH, "Bench.add", '{"a": "x"}', "--addr", tp_addr])
    ok(rc == 65 and out == "" and "add.a: expected" in err and "expected i64" in err,
       "call: bad argument -> 65 with the path on stderr", (rc, out, err))
    rc, out, err = run(["call", BENCH, "Bench.add", '{"a": 1', "--addr", tp_addr])
    ok(rc == 65 and out == "", "call: malformed JSON -> 65", (rc, out, err))
    rc, out, err = run(["call", BENCH, "Bench.nope", "--addr", tp_addr])
    ok(rc == 64 and "Bench.add" in err, "call: unknown method -> 64 listing methods",
       (rc, out, err))
    rc, out, err = run(["call", BENCH, "Bench.add", "[1,2]"])
    ok(rc == 64 and "--addr" in err, "call: missing --addr -> 64", (rc, out, err))
    rc, out, err = run(["call", os.path.join(TMP, "missing.thrift"), "X.y", "--addr", tp_addr])
    ok(rc == 65 and out == "", "call: missing IDL file -> 65", (rc, out, err))
    # A port nobody listens on: bind one, close it, use it.
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = s.getsockname()[1]
    s.close()
    rc, out, err = run(["call", BENCH, "Bench.ping", "--addr", "127.0.0.1:%d" % dead,
                        "--timeout", "2000"])
    ok(rc == 3 and out == "", "call: connection refused -> 3", (rc, out, err))

    # ---- serve --mock ------------------------------------------------------
    fixtures = {
        "ping": {"result": None},
        "add": {"cases": [{"when": {"a": 1, "b": 2}, "result": 3},
                          {"when": [5], "result": 500},
                          {"when": {"a": 9}, "error": {"type": "INTERNAL_ERROR",
                                                       "message": "nine"}}],
                "result": -1},
        "fail": [{"when": {"code": 1}, "exception": "BenchError",
                  "value": {"code": 1, "message": "one"}},
                 {"result": {"request_id": 77}}],
        "echo": {"result": {"request_id": 5, "meta": {"m": "n"}}, "delay_ms": 300},
    }
    fx = os.path.join(TMP, "bench.mock.json")
    with open(fx, "w") as f:
        json.dump(fixtures, f)
    record = os.path.join(TMP, "record.jsonl")
    srv = Serve([BENCH, "Bench", "--mock", fx, "--record", record, "-v"], "mock")
    try:
        tc = tp_client(bench_tp, "Bench", srv.port)
        r1 = tc.add(1, 2)
        r2 = tc.add(5, 123)
        r3 = tc.add(4, 4)
        ok((r1, r2, r3) == (3, 500, -1), "serve --mock to thriftpy: cases matched on args",
           (r1, r2, r3))
        try:
            tc.fail(1)
            ok(False, "serve --mock to thriftpy: declared exception")
        except bench_tp.BenchError as e:
            ok(e.code == 1 and e.message == "one",
               "serve --mock to thriftpy: declared exception", e)
        r = tc.fail(2)
        ok(r.request_id == 77, "serve --mock to thriftpy: case without when", r)
        try:
            tc.add(9, 0)
            ok(False, "serve --mock to thriftpy: error fixture -> TApplicationException")
        except TpAppException as e:
            ok(e.type == 6 and "nine" in str(e.message),
               "serve --mock to thriftpy: error fixture -> TApplicationException", e)
        tc.close()

        ac, at = apache_client(ApacheBench, srv.port)
        ok(ac.add(1, 2) == 3, "serve --mock to Apache's client: add")
        try:
            ac.fail(1)
            ok(False, "serve --mock to Apache's client: BenchError")
        except apache_types.BenchError as e:
            ok(e.code == 1, "serve --mock to Apache's client: BenchError", e)
        t0 = time.time()
        p = ac.echo(apache_types.Payload(request_id=1))
        ok(p.request_id == 5 and p.meta == {"m": "n"} and time.time() - t0 >= 0.25,
           "serve --mock to Apache's client: delayed fixed result", (p, time.time() - t0))
        at.close()

        # call against dynthrift serve
        rc, out, err = run(["call", BENCH, "Bench.add", "[1, 2]", "--addr", srv.addr])
        ok(rc == 0 and json.loads(out) == 3, "call dynthrift serve: add", (rc, out, err))
        rc, out, err = run(["call", BENCH, "Bench.add", "[9, 9]", "--addr", srv.addr])
        ok(rc == 2 and out == "" and "INTERNAL_ERROR" in err and "nine" in err,
           "call dynthrift serve: application exception -> 2", (rc, out, err))
        rc, out, err = run(["call", BENCH, "Bench.echo", '{"p": {"request_id": 1}}',
                            "--addr", srv.addr, "--timeout", "100"])
        ok(rc == 3 and out == "" and "time" in err,
           "call dynthrift serve: --timeout shorter than the delay -> 3", (rc, out, err))
        rc, out, err = run(["call", BENCH, "Bench.fail", "[1]", "--addr", srv.addr])
        ok(rc == 1 and json.loads(out)["value"] == {"code": 1, "message": "one"},
           "call dynthrift serve: declared exception -> 1", (rc, out, err))
    finally:
        code = srv.stop()
    ok(code == 0, "serve --mock: SIGTERM stops it cleanly (exit 0)", srv.log())
    ok("add -> result" in srv.log(), "serve -v: logs calls", srv.log())
    # One line per connection event: each accepted connection has its close
    # with the same id and peer address.
    acc = dict(re.findall(r"connection (\d+) from (127\.0\.0\.1:\d+): accepted", srv.log()))
    clo = dict(re.findall(r"connection (\d+) from (127\.0\.0\.1:\d+): closed \(closed by the peer\)",
                          srv.log()))
    ok(len(acc) >= 3 and any(clo.get(i) == peer for i, peer in acc.items()),
       "serve -v: a connect/close pair per client, with its address", (acc, clo))
    ok("echo -> cancelled" in srv.log(),
       "serve -v: a delayed answer whose client left is cancelled", srv.log())
    recs = [json.loads(l) for l in open(record)]
    ok(any(r["method"] == "add" and r["args"] == {"a": 1, "b": 2} and r["result"] == 3
           for r in recs)
       and any(r.get("exception") == "err" and r["value"]["code"] == 1 for r in recs)
       and any(r.get("error", {}).get("message") == "nine" for r in recs),
       "serve --record: calls and replies as JSON lines", recs[:5])

    # unfixtured methods: default value vs UNKNOWN_METHOD
    fx2 = os.path.join(TMP, "pp.mock.json")
    with open(fx2, "w") as f:
        json.dump({"ping": {"result": "pong"}}, f)
    srv = Serve([PINGPONG, "PingPong", "--mock", fx2], "mock-default")
    try:
        rc, out, err = run(["call", PINGPONG, "PingPong.add", "[1, 2]", "--addr", srv.addr])
        ok(rc == 0 and json.loads(out) == 0, "serve --mock: unfixtured method -> default value",
           (rc, out, err))
    finally:
        srv.stop()
    srv = Serve([PINGPONG, "PingPong", "--mock", fx2, "--unmocked", "unknown"], "mock-unknown")
    try:
        rc, out, err = run(["call", PINGPONG, "PingPong.add", "[1, 2]", "--addr", srv.addr])
        ok(rc == 2 and "UNKNOWN_METHOD" in err,
           "serve --mock --unmocked unknown: UNKNOWN_METHOD", (rc, out, err))
        pc = tp_client(pp_tp, "PingPong", srv.port)
        ok(pc.ping() == "pong", "serve --mock to thriftpy: pingpong ping")
        pc.close()
    finally:
        srv.stop()

    bad = os.path.join(TMP, "bad.mock.json")
    with open(bad, "w") as f:
        json.dump({"add": {"cases": [{"when": {"a": "x"}, "result": 1}]}}, f)
    rc, out, err = run(["serve", PINGPONG, "PingPong", "--mock", bad, "--addr", "127.0.0.1:0"])
    ok(rc == 65 and "add.cases[0].when" in err and "expected i32" in err,
       "serve --mock: bad fixture -> 65 with its path", (rc, err))

    # ---- serve --exec ----------------------------------------------------------
    handler = os.path.join(TMP, "handler.py")
    with open(handler, "w") as f:
        f.write(r'''
import json, sys
held = []
for line in sys.stdin:
    call = json.loads(line)
    m, a, i = call["method"], call["args"], call["id"]
    if m == "add":
        if a.get("a") == 666:
            print("this is not json", flush=True)
            continue
        if a.get("a") == 999:
            sys.exit(3)
        out = {"id": i, "result": a.get("a", 0) + a.get("b", 0)}
    elif m == "fail":
        out = {"id": i, "exception": "BenchError",
               "value": {"code": a["code"], "message": "from exec"}}
    elif m == "echo":
        out = {"id": i, "result": a["p"]}
    elif m == "ping":
        # answered after the next call: answers may come in any order
        held.append({"id": i})
        continue
    else:
        out = {"id": i, "error": "no such thing"}
    print(json.dumps(out), flush=True)
    for h in held:
        print(json.dumps(h), flush=True)
    held = []
''')
    srv = Serve([BENCH, "Bench", "--exec", "/usr/bin/python3 " + handler,
                 "--exec-timeout", "5000"], "exec")
    try:
        tc = tp_client(bench_tp, "Bench", srv.port)
        ok(tc.add(2, 3) == 5, "serve --exec to thriftpy: add")
        try:
            tc.fail(4)
            ok(False, "serve --exec to thriftpy: declared exception")
        except bench_tp.BenchError as e:
            ok(e.code == 4 and e.message == "from exec",
               "serve --exec to thriftpy: declared exception", e)
        tc.close()
        # Out of order: ping's answer comes after add's (pipelined via --lines).
        rc, out, err = run(["call", BENCH, "Bench", "--lines", "--addr", srv.addr,
                            "--timeout", "5000"],
                           stdin='{"method":"ping"}\n{"method":"add","args":[1,1]}\n')
        outs = [json.loads(l) for l in out.splitlines()]
        ok(rc == 0 and outs == [{"result": None}, {"result": 2}],
           "serve --exec: answers in any order", (rc, out, err))
        ac, at = apache_client(ApacheBench, srv.port)
        p = ac.echo(apache_types.Payload(request_id=3, meta={"a": "b"}))
        ok(p.request_id == 3 and p.meta == {"a": "b"}, "serve --exec to Apache's client: echo", p)
        try:
            ac.add(666, 0)
            ok(False, "serve --exec: garbage answer -> INTERNAL_ERROR")
        except TApplicationException as e:
            ok(e.type == TApplicationException.INTERNAL_ERROR,
               "serve --exec: garbage answer -> INTERNAL_ERROR", e)
        ok(ac.add(1, 2) == 3, "serve --exec: still serving after garbage")
        try:
            ac.add(999, 0)
            ok(False, "serve --exec: handler dies -> INTERNAL_ERROR")
        except TApplicationException as e:
            ok(e.type == TApplicationException.INTERNAL_ERROR,
               "serve --exec: handler dies -> INTERNAL_ERROR", e)
        time.sleep(1.1)  # restarts at most once a second
        ok(ac.add(20, 22) == 42, "serve --exec: handler restarted on the next call")
        at.close()
    finally:
        code = srv.stop()
    ok(code == 0, "serve --exec: SIGTERM stops server and handler", srv.log())

    # ---- serve --echo --------------------------------------------------------------
    srv = Serve([BENCH, "Bench", "--echo", "--protocol", "compact"], "echo")
    try:
        ac, at = apache_client(ApacheBench, srv.port, protocol="compact")
        user = apache_types.User(id=1, name="bo", tags=["t"], counters={"c": 1}, groups={5},
                                 avatar=b"\x00\x01")
        p = ac.echo(apache_types.Payload(request_id=11, users=[user], score=1.5))
        ok(p.request_id == 11 and p.users[0].name == "bo" and p.users[0].avatar == b"\x00\x01"
           and p.score == 1.5, "serve --echo to Apache's client (compact): Payload round trip", p)
        ok(ac.add(17, 4) == 17, "serve --echo to Apache's client: add returns its first argument")
        at.close()
    finally:
        srv.stop()
    srv = Serve([BENCH, "Bench", "--echo"], "echo-binary")
    try:
        tc = tp_client(bench_tp, "Bench", srv.port)
        p = tc.echo(bench_tp.Payload(request_id=12, meta={"x": "y"}))
        ok(p.request_id == 12 and p.meta == {"x": "y"}, "serve --echo to thriftpy: echo", p)
        r = tc.fail(3)
        ok(r.request_id == 0, "serve --echo: mismatched types answer the default value", r)
        tc.close()

        # ---- bench against dynthrift serve --echo ------------------------------------
        rc, out, err = run(["bench", BENCH, "Bench.add", "[1, 2]", "--addr", srv.addr,
                            "-c", "2", "-p", "4", "-d", "1", "--warmup", "0.2", "--json"])
        rep = json.loads(out) if rc == 0 else {}
        lat = rep.get("latency_us", {})
        ok(rc == 0 and rep["calls"] > 100 and
           rep["calls"] == rep["successes"] + rep["errors"] and
           rep["errors"] == sum(rep["errors_by_kind"].values()) and
           0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99.9"] <= lat["max"] and
           lat["min"] <= lat["p50"] and lat["count"] == rep["successes"] and
           rep["bytes_sent"] > 0 and rep["bytes_received"] > 0,
           "bench --json -d: consistent report (calls = ok + errors, percentiles ordered)",
           (rc, out, err))
        print("# bench add c=2 p=4: %.0f calls/s, p50 %.1f us, p99 %.1f us" %
              (rep.get("calls_per_s", 0), lat.get("p50", 0), lat.get("p99", 0)))
        rc, out, err = run(["bench", BENCH, "Bench.echo", '{"p": {"request_id": 1}}',
                            "--addr", srv.addr, "-n", "2000", "-p", "8", "--json", "--verify"])
        rep = json.loads(out) if rc == 0 else {}
        ok(rc == 0 and rep["calls"] == 2000 and rep["successes"] == 2000,
           "bench -n 2000 --verify: exactly 2000 calls, all ok", (rc, out, err))
        rc, out, err = run(["bench", BENCH, "Bench.add", "[1, 2]", "--addr", srv.addr,
                            "--rate", "500", "-d", "1", "--json"])
        rep = json.loads(out) if rc == 0 else {}
        ok(rc == 0 and 350 <= rep["calls"] <= 650 and rep["errors"] == 0,
           "bench --rate 500 -d 1: about 500 calls", (rc, out, err))
        rc, out, err = run(["bench", BENCH, "Bench.add", "[1, 2]", "--addr", srv.addr,
                            "-n", "100"])
        ok(rc == 0 and "calls/s" in out and "p99.9" in out, "bench: text report", (rc, out, err))
    finally:
        srv.stop()

    # bench: errors by kind, against the mock (declared exceptions, app errors)
    srv = Serve([BENCH, "Bench", "--mock", fx], "mock-bench")
    try:
        rc, out, err = run(["bench", BENCH, "Bench.fail", "[1]", "--addr", srv.addr,
                            "-n", "300", "-p", "4", "--json"])
        rep = json.loads(out) if out.strip() else {}
        # No call succeeded: the report, then exit 1.
        ok(rc == 1 and rep["calls"] == 300 and
           rep["errors_by_kind"]["declared_exception"] == 300 and rep["successes"] == 0,
           "bench: declared exceptions counted by kind", (rc, out, err))
        rc, out, err = run(["bench", BENCH, "Bench.add", "[9, 1]", "--addr", srv.addr,
                            "-n", "300", "--json"])
        rep = json.loads(out) if out.strip() else {}
        ok(rc == 1 and rep["errors_by_kind"]["app_exception"] == 300,
           "bench: application exceptions counted by kind", (rc, out, err))
    finally:
        srv.stop()
    rc, out, err = run(["bench", BENCH, "Bench.ping", "--addr", "127.0.0.1:%d" % dead,
                        "-d", "0.3", "--json"])
    rep = json.loads(out) if out.strip() else {}
    ok(rc == 3 and rep.get("connect_errors", 0) > 0 and rep.get("calls") == 0,
       "bench: unreachable server -> 3, connect errors reported", (rc, out, err))

    # call --multiplex NAME: Apache's TMultiplexedProcessor serving Bench
    # under another name than the IDL's.
    from thrift.TMultiplexedProcessor import TMultiplexedProcessor

    class MuxHandler:
        def add(self, a, b):
            return a + b + 1000

    mux = TMultiplexedProcessor()
    mux.registerProcessor("Calculator", ApacheBench.Processor(MuxHandler()))
    mport = apache_server(mux)
    maddr = "127.0.0.1:%d" % mport
    rc, out, err = run(["call", BENCH, "Bench.add", "[1, 2]", "--addr", maddr,
                        "--multiplex", "Calculator", "--timeout", "5000"])
    ok(rc == 0 and out.strip() and json.loads(out) == 1003,
       "call --multiplex NAME: a service registered under another name", (rc, out, err))
    rc, out, err = run(["call", BENCH, "Bench.add", "[1, 2]", "--addr", maddr,
                        "--multiplex", "Bench", "--timeout", "5000"])
    ok(rc != 0 and out == "", "call --multiplex with a name the server does not know fails",
       (rc, out, err))
    rc, out, err = run(["call", BENCH, "Bench.add", "[1, 2]", "--addr", maddr,
                        "--multiplex", "a:b"])
    ok(rc == 64 and "--multiplex" in err, "call --multiplex rejects a name with ':'", (rc, err))

    # the thriftpy server thread is a daemon: it goes with the process


if __name__ == "__main__":
    run_script(TAP, main, lambda: shutil.rmtree(TMP, ignore_errors=True))
