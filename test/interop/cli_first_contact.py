#!/usr/bin/python3
"""What a new user meets first with the dynthrift CLI (issue 11), driven as
processes against real peers:

- `call` (framed by default) against Apache's Python TSimpleServer with
  buffered transport, the tutorial default: exit 3 within the default
  deadline, with a hint to try --buffered; and the other mismatches
  (framed server with --buffered, a server answering in another framing,
  protocol or in HTTP), each named;
- `call` option and input mistakes (repeated or listed --addr, unknown
  --lines keys, --lines --pretty, a TApplicationException printed once);
- `bench` as wrk/ghz users expect: oneway methods, first error of each
  kind, latency n/a and exit 1 when nothing succeeded, --fail-on-error,
  --max-p99, --latency, compact --json and --pretty, SIGINT's report.

TAP on stdout; skips when a peer is missing.  Loopback only, port 0; the
peers are threads of this process or children stopped by their PID.
Environment: DYNTHRIFT_CLI, DYNTHRIFT_SOURCE_ROOT.
"""
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from testlib import (CHILDREN, CLI, IDL_SAMPLES, PINGPONG, BenchHandler, Tap, apache_gen_py,
                     apache_server as start_apache_server, dynthrift_serve,
                     raw_server as start_raw_server, require_cli, require_programs, run_script,
                     skip_all, thriftpy_server)

BENCH = os.path.join(IDL_SAMPLES, "bench.thrift")
DEADLINE = time.time() + 600

try:
    import thrift  # noqa: F401  (Apache's library: the servers below)
except ImportError as e:
    skip_all("python3-thrift missing: %s" % e)
require_cli()
require_programs("thrift")

logging.disable(logging.CRITICAL)  # Apache's servers log every dropped client
TMP = tempfile.mkdtemp(prefix="dynthrift-first-contact-")
TAP = Tap(diag_lines=30)
ok = TAP.ok


def run(args, stdin=None, timeout=30, env=None):
    t0 = time.time()
    p = subprocess.run([CLI] + args, input=stdin, capture_output=True, text=True, env=env,
                       timeout=min(timeout, max(1, DEADLINE - time.time())))
    return p.returncode, p.stdout, p.stderr, time.time() - t0


def apache_server(gen, transport, protocol):
    """Apache's TSimpleServer for Bench in a daemon thread; returns the address."""
    from bench.ttypes import BenchError, Payload

    class Handler(BenchHandler):
        def echo(self, p):
            return p or Payload(request_id=0)

    port = start_apache_server(gen.Processor(Handler(BenchError, fail_add_of=9)), transport,
                               protocol, threaded=False)
    return "127.0.0.1:%d" % port


def raw_server(reply):
    """Reads whatever comes, answers `reply` bytes, keeps the socket open."""
    return start_raw_server(reply)[0]


def main():
    apache_gen_py(os.path.join(TMP, "gen"), BENCH)
    from bench import Bench as gen  # noqa: E402

    # ---- the tutorial default: buffered binary, client framed ------------
    buffered = apache_server(gen, "buffered", "binary")
    rc, out, err, took = run(["call", BENCH, "Bench.add", "[1, 2]", "--addr", buffered])
    ok(rc == 3 and out == "" and "try --buffered" in err and 4.0 <= took < 15,
       "call (framed) vs Apache's buffered TSimpleServer: exit 3 after the 5 s default "
       "deadline, hint --buffered (%.1f s)" % took, (rc, out, err))
    rc, out, err, took = run(["call", BENCH, "Bench.add", "[1, 2]", "--addr", buffered,
                              "--timeout", "300"])
    ok(rc == 3 and took < 4 and "try --buffered" in err,
       "call --timeout overrides the default deadline (%.1f s)" % took, (rc, err))
    rc, out, err, took = run(["call", BENCH, "Bench.add", "[1, 2]", "--addr", buffered,
                              "--buffered"])
    ok(rc == 0 and json.loads(out) == 3, "call --buffered vs the buffered server", (rc, out, err))

    # thriftpy's make_server default is buffered too.
    try:
        import thriftpy
        tp_mod = thriftpy.load(BENCH, module_name="bench_fc_thrift")
        tp_addr = "127.0.0.1:%d" % thriftpy_server(tp_mod.Bench, BenchHandler(tp_mod.BenchError),
                                                   "buffered")
        rc, out, err, took = run(["call", BENCH, "Bench.add", "[1, 2]", "--addr", tp_addr,
                                  "--timeout", "2000"])
        ok(rc == 3 and "try --buffered" in err and took < 5,
           "call (framed) vs thriftpy's buffered server: exit 3 with hint --buffered",
           (rc, err))
        rc, out, err, took = run(["call", BENCH, "Bench.add", "[1, 2]", "--addr", tp_addr,
                                  "--buffered"])
        ok(rc == 0 and out.strip() == "3", "call --buffered vs thriftpy's buffered server",
           (rc, out, err))
    except ImportError:
        print("# SKIP thriftpy missing: its buffered server not tried")

    rc, out, err, took = run(["bench", BENCH, "Bench.add", "[1, 2]", "--addr", buffered,
                              "-d", "0.3", "--timeout", "200"])
    ok(rc == 1 and "no call succeeded" in err and "try --buffered" in err,
       "bench (framed) vs the buffered server: exit 1 with the --buffered hint", (rc, out, err))

    # ---- framed server, buffered client: the server hangs up -------------
    framed = apache_server(gen, "framed", "binary")
    rc, out, err, took = run(["call", BENCH, "Bench.add", "[1, 2]", "--addr", framed,
                              "--buffered", "--timeout", "3000"])
    ok(rc == 3 and "try --framed" in err,
       "call --buffered vs Apache's framed server: hint --framed", (rc, out, err))
    compact = apache_server(gen, "buffered", "compact")
    rc, out, err, took = run(["call", BENCH, "Bench.add", "[1, 2]", "--addr", compact,
                              "--buffered", "--protocol", "compact"])
    ok(rc == 0 and json.loads(out) == 3, "call --buffered --protocol compact vs Apache's",
       (rc, out, err))

    # ---- answers that are plainly another framing or protocol ------------
    unframed_reply = bytes.fromhex("80010002" "00000003616464" "00000001" "0800000000000300")
    addr = raw_server(unframed_reply)
    rc, out, err, took = run(["call", BENCH, "Bench.add", "[1, 2]", "--addr", addr])
    ok(rc == 3 and "buffered (unframed) transport" in err and "try --buffered" in err
       and took < 4, "an unframed binary answer (80 01 ...) to a framed call is named",
       (rc, err))
    addr = raw_server(bytes.fromhex("0000000f") + unframed_reply[:15])
    rc, out, err, took = run(["call", BENCH, "Bench.add", "[1, 2]", "--addr", addr,
                              "--buffered"])
    ok(rc == 3 and "framed transport" in err and "try --framed" in err and took < 4,
       "a framed answer (00 00 xx xx 80 01) to a buffered call is named", (rc, err))
    addr = raw_server(bytes.fromhex("8221000361646400"))
    rc, out, err, took = run(["call", BENCH, "Bench.add", "[1, 2]", "--addr", addr])
    ok(rc == 3 and "--protocol compact" in err and took < 4,
       "a compact answer (82 ...) is named", (rc, err))
    addr = raw_server(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    for framing in ([], ["--buffered"]):
        rc, out, err, took = run(["call", BENCH, "Bench.add", "[1, 2]", "--addr", addr]
                                 + framing)
        ok(rc == 3 and "speaks HTTP" in err and took < 4,
           "an HTTP answer is recognized %s" % (framing or "(framed)"), (rc, err))

    # ---- dynthrift serve --buffered vs a framed call ---------------------
    srv = dynthrift_serve([PINGPONG, "PingPong", "--echo", "--buffered", "-v"],
                          os.path.join(TMP, "serve.stderr"))
    port = srv.port
    rc, out, err, took = run(["call", PINGPONG, "PingPong.ping", "--addr",
                              "127.0.0.1:%d" % (port or 1)])
    ok(rc == 3 and "try --buffered" in err and took < 4,
       "call (framed) vs serve --buffered: closed at once, hint --buffered", (rc, err))
    # Apache's own framed client: serve -v says what it saw.
    from thrift.Thrift import TMessageType
    from thrift.transport import TSocket, TTransport
    from thrift.protocol import TBinaryProtocol
    sock = TSocket.TSocket("127.0.0.1", port)
    sock.setTimeout(5000)
    trans = TTransport.TFramedTransport(sock)
    proto = TBinaryProtocol.TBinaryProtocol(trans)
    apache_closed = False
    try:
        trans.open()
        proto.writeMessageBegin("ping", TMessageType.CALL, 1)
        proto.writeStructBegin("ping_args")
        proto.writeFieldStop()
        proto.writeStructEnd()
        proto.writeMessageEnd()
        trans.flush()
        proto.readMessageBegin()
    except Exception:
        apache_closed = True
    trans.close()
    srv.stop()
    log = srv.log()
    framed_seen = re.findall(r"connection \d+ from 127\.0\.0\.1:\d+: closed \(protocol error: "
                             r"[^\n]*the peer seems to use framed transport \(with the binary "
                             r"protocol\)\)", log)
    ok(apache_closed and len(framed_seen) == 2,
       "serve --buffered -v: the closes of our framed call and of Apache's TFramedTransport "
       "client say what arrived (%d lines)" % len(framed_seen), log)

    # ---- TApplicationException printed once, with its type ---------------
    # Apache's processor answers an unknown method with UNKNOWN_METHOD.
    other = os.path.join(TMP, "other.thrift")
    with open(other, "w") as f:
        f.write("service Bench { void nosuch() }\n")
    rc, out, err, took = run(["call", other, "Bench.nosuch", "--addr", framed])
    ok(rc == 2 and err.count("TApplicationException") == 1 and "UNKNOWN_METHOD" in err
       and "application exception UNKNOWN_METHOD" not in err,
       "an application exception is printed once, with its type", (rc, err))

    # ---- option and input mistakes ----------------------------------------
    # Several --addr make a cluster (issue 15): nothing is silently dropped.
    rc, out, err, _ = run(["call", BENCH, "Bench.ping", "--addr", framed, "--addr", buffered,
                           "--all", "--timeout", "1000"])
    ok(rc == 3 and [x.get("server") for x in json.loads(out or "[]")] == [framed, buffered],
       "a repeated --addr is a cluster of both: --all answers for each", (rc, out, err))
    rc, out, err, _ = run(["call", BENCH, "Bench.ping", "--addr", "127.0.0.1:1,127.0.0.1:2"])
    ok(rc == 3 and "IPv6" not in err and ("127.0.0.1:1:" in err or "127.0.0.1:2:" in err),
       "--addr a:1,b:2 is a list of servers, not IPv6", (rc, err))
    # A name that does not resolve is a transport failure (3), not bad usage.
    # Resolved inside an empty network namespace, so no query leaves the
    # machine.
    unshare = shutil.which("unshare")
    isolated = unshare and subprocess.run([unshare, "-n", "true"], capture_output=True,
                                          timeout=10).returncode == 0
    if isolated:
        for cmd in (["call", BENCH, "Bench.ping"], ["bench", BENCH, "Bench.ping", "-n", "1"]):
            p = subprocess.run([unshare, "-n", CLI] + cmd + ["--addr", "nosuchhost.invalid:1"],
                               capture_output=True, text=True, timeout=30)
            ok(p.returncode == 3 and "nosuchhost.invalid" in p.stderr,
               "%s: an unresolvable host exits 3" % cmd[0], (p.returncode, p.stderr))
    else:
        print("# SKIP no network namespace (unshare -n): unresolvable-host exit not tried")
    rc, out, err, _ = run(["call", BENCH, "Bench.ping", "--addr", "127.0.0.1:99999"])
    ok(rc == 64 and err.count("127.0.0.1:99999") == 1, "a bad port names the address once",
       (rc, err))
    rc, out, err, _ = run(["call", BENCH, "Bench", "--lines", "--addr", framed],
                          stdin='{"a": 1, "b": 1}\n')
    ans = json.loads(out) if out.strip() else {}
    ok(rc == 65 and "did you mean" in ans.get("error", {}).get("message", ""),
       "--lines: unknown envelope keys refused with a hint", (rc, out, err))
    rc, out, err, _ = run(["call", BENCH, "Bench.add", '{"a": 1, "c": 2}', "--addr", framed])
    ok(rc == 65 and "add has no argument 'c' (arguments: 1: i64 a, 2: i64 b)" in err
       and "add_args" not in err, "a wrong argument name is named against the method",
       (rc, err))
    rc, out, err, _ = run(["call", BENCH, "Bench.add", '{"a": "x"}', "--addr", framed])
    ok(rc == 65 and "add.a: expected i64" in err and "add_args" not in err,
       "an argument's type error names add.a", (rc, err))
    rc, out, err, _ = run(["call", BENCH, "Bench.add", '{"a": 40, "b": 2, "c": 2}', "--addr",
                           framed, "--ignore-unknown"])
    ok(rc == 0 and out.strip() == "42", "call --ignore-unknown skips unknown names",
       (rc, out, err))
    rc, out, err, _ = run(["call", BENCH, "Bench.echo",
                           '{"p": {"request_id": 1, "users": [{"id": 1, "name": "n", '
                           '"status": "GONE"}]}}', "--addr", framed])
    ok(rc == 65 and "one of: ACTIVE, SUSPENDED, DELETED" in err,
       "an unknown enum name lists the valid names", (rc, err))
    rc, out, err, _ = run(["call", BENCH, "Bench", "--lines", "--pretty", "--addr", framed],
                          stdin='{"method": "ping"}\n')
    ok(rc == 64 and "--pretty" in err, "--lines --pretty refused", (rc, err))


    # ---- finding one's way ------------------------------------------------
    rc, out, err, _ = run(["list", BENCH])
    ok(rc == 0 and out == "Bench\n", "list FILE: the services", (rc, out, err))
    rc, out, err, _ = run(["list", BENCH, "Bench"])
    ok(rc == 0 and out.split() == ["Bench.ping", "Bench.echo", "Bench.add", "Bench.fire",
                                   "Bench.fail"], "list FILE SERVICE: Service.method lines",
       (rc, out, err))
    documented = os.path.join(TMP, "doc.thrift")
    with open(documented, "w") as f:
        f.write('/** What went wrong. */\nexception Oops { 1: string why }\n'
                'enum Mood { HAPPY = 1, SAD = 2 }\n'
                'struct Item { 1: required i64 id, 2: optional list<Mood> moods }\n'
                'service Base { void hello() }\n'
                'service Shop extends Base {\n'
                '  /** Buys an item. */\n'
                '  Item buy(1: i64 id, 2: Item like, 3: binary note) throws (1: Oops oops)\n'
                '}\n')
    rc, out, err, _ = run(["describe", documented, "Shop.buy"])
    tmpl = json.loads(out[out.index("{"):]) if "{" in out else None
    ok(rc == 0 and "Item buy(1: i64 id, 2: Item like, 3: binary note) throws (1: Oops oops)"
       in out and "// Buys an item." in out and tmpl == {"id": 0, "like": {"id": 0, "moods":
                                                                        ["HAPPY"]}, "note": ""},
       "describe Service.method: signature, throws, doc comment, argument template",
       (rc, out, err))
    rc, out, err, _ = run(["describe", documented, "Shop.buy", "--template"])
    ok(rc == 0 and json.loads(out) == tmpl, "describe --template: only the JSON", (rc, out))
    rc, out, err, _ = run(["describe", documented, "Shop"])
    ok(rc == 0 and "void hello()  (from Base)" in out, "describe SERVICE: inherited methods",
       (rc, out))
    rc, out, err, _ = run(["describe", documented, "Oops"])
    ok(rc == 0 and "// What went wrong." in out and "1: string why" in out,
       "describe TYPE: fields and doc", (rc, out))
    rc, out, err, _ = run(["describe", documented, "Shop.nope"])
    ok(rc == 64 and "Shop.buy" in err, "describe: an unknown method lists the methods",
       (rc, err))
    # The template is what `call` takes: fill it in and send it.
    with open(os.path.join(TMP, "args.json"), "w") as f:
        f.write('{"a": 40, "b": 2}')
    rc, out, err, _ = run(["call", BENCH, "Bench.add", "@" + os.path.join(TMP, "args.json"),
                           "--addr", framed])
    ok(rc == 0 and out.strip() == "42", "call ARGS as @FILE", (rc, out, err))
    rc, out, err, _ = run(["call", BENCH, "Bench.add", "@" + os.path.join(TMP, "nope.json"),
                           "--addr", framed])
    ok(rc == 65 and "nope.json" in err, "call @FILE that does not exist -> 65", (rc, err))
    env = dict(os.environ, DYNTHRIFT_PATH="/nonexistent:" + os.path.dirname(BENCH))
    rc, out, err, _ = run(["call", "bench.thrift", "Bench.add", "[1, 2]", "--addr", framed],
                          env=env)
    ok(rc == 0 and out.strip() == "3", "DYNTHRIFT_PATH finds FILE", (rc, out, err))
    incdir = os.path.join(TMP, "inc")
    os.makedirs(incdir)
    with open(os.path.join(incdir, "shared.thrift"), "w") as f:
        f.write("struct S { 1: i32 x }\n")
    with open(os.path.join(TMP, "user.thrift"), "w") as f:
        f.write('include "shared.thrift"\nservice U { shared.S get() }\n')
    rc, out, err, _ = run(["describe", os.path.join(TMP, "user.thrift"), "U.get"],
                          env=dict(os.environ, DYNTHRIFT_PATH=incdir))
    ok(rc == 0 and "shared.S get()" in out, "DYNTHRIFT_PATH resolves includes as -I", (rc, err))
    rc, out, err, _ = run(["describe", os.path.join(TMP, "user.thrift"), "U.get"])
    ok(rc == 65, "without DYNTHRIFT_PATH the include is not found", (rc, err))

    rc, out, err, _ = run(["idl", BENCH])
    ok(rc == 0 and "add_args" not in out and "i64 add(" in out,
       "idl text dump hides the synthesized _args/_result structs", (rc, out[:300]))
    rc, out, err, _ = run(["idl", BENCH, "--synthesized"])
    ok(rc == 0 and "args add_args" in out, "idl --synthesized shows them", (rc, out[:300]))
    rc, out, err, _ = run(["help", "call"])
    rc2, out2, _, _ = run(["call", "--help"])
    ok(rc == 0 and out == out2 and out.startswith("usage: dynthrift call"),
       "dynthrift help CMD is CMD --help", (rc, out[:100]))
    rc, out, err, _ = run(["version"])
    rc2, out2, _, _ = run(["--version"])
    ok(rc == 0 and out == out2 and out.startswith("dynthrift "), "dynthrift version", out)
    rc, out, err, _ = run(["help", "nope"])
    ok(rc == 64 and "unknown command 'nope'" in err, "help of an unknown command -> 64", err)

    rc, out, err, _ = run(["call", BENCH, "Bench.add", "[1, 2]", "--addr", framed, "-v"])
    ok(rc == 0 and out.strip() == "3" and "binary protocol, framed transport" in err
       and "> CALL add seqid" in err and "< REPLY add seqid" in err
       and re.search(r"^> 0000  00 00 00 [0-9a-f]{2} 80 01 00 01", err, re.M)
       and "bytes received at" in err and "* done in" in err,
       "call -v: curl-style trace on stderr (transport, protocol, seqid, hex, times)",
       err)

    # ---- bench as wrk/ghz users expect -----------------------------------
    rc, out, err, took = run(["bench", BENCH, "Bench.fire", "[1]", "--addr", framed,
                              "-n", "2000", "--json"])
    rep_ = json.loads(out) if out.strip() else {}
    ok(rc == 0 and rep_.get("calls") == 2000 and rep_.get("successes") == 2000 and took < 10,
       "bench -n on a oneway method: done when written, no reply awaited (%.1f s)" % took,
       (rc, out, err))
    rc, out, err, took = run(["bench", BENCH, "Bench.fire", "[1]", "--addr", framed,
                              "-d", "0.5", "--json"])
    rep_ = json.loads(out) if out.strip() else {}
    ok(rc == 0 and rep_.get("successes", 0) > 100 and took < 5,
       "bench -d on a oneway method: more than one call (%s)" % rep_.get("successes"),
       (rc, out, err))
    ok(out.count("\n") == 1, "bench --json: one line by default", out)
    rc, out, err, _ = run(["bench", BENCH, "Bench.ping", "--addr", framed, "-n", "20",
                           "--json", "--pretty"])
    ok(rc == 0 and out.count("\n") > 10 and json.loads(out)["calls"] == 20,
       "bench --json --pretty: indented", (rc, out, err))

    rc, out, err, _ = run(["bench", BENCH, "Bench.fail", "[3]", "--addr", framed, "-n", "50",
                           "--json"])
    rep_ = json.loads(out) if out.strip() else {}
    first = rep_.get("first_errors", {}).get("declared_exception", "")
    ok(rc == 1 and rep_.get("successes") == 0 and rep_.get("latency_us", 0) is None
       and "failed with 3" in first and "no call succeeded" in err,
       "bench: nothing succeeded -> exit 1, latency null, first declared exception shown",
       (rc, out, err))
    rc, out, err, _ = run(["bench", BENCH, "Bench.add", "[9, 1]", "--addr", framed, "-n", "50"])
    ok(rc == 1 and "latency     n/a" in out and "TApplicationException INTERNAL_ERROR" in out,
       "bench text report: latency n/a, first application exception shown", (rc, out, err))
    rc, out, err, _ = run(["bench", BENCH, "Bench.add", "[1, 2]", "--addr", framed, "-n", "200",
                           "--fail-on-error"])
    ok(rc == 0, "bench --fail-on-error: a clean run exits 0", (rc, out, err))
    rc, out, err, _ = run(["bench", BENCH, "Bench.add", "[1, 2]", "--addr", framed, "-n", "200",
                           "--max-p99", "0"])
    ok(rc == 1 and "--max-p99" in err, "bench --max-p99 0: threshold exceeded -> exit 1",
       (rc, out, err))
    rc, out, err, _ = run(["bench", BENCH, "Bench.add", "[1, 2]", "--addr", framed, "-n", "200",
                           "--latency"])
    ok(rc == 0 and "latency distribution" in out and "99.99%" in out,
       "bench --latency: the distribution", (rc, out, err))

    # Ctrl-C: the report of what was measured so far.
    p = subprocess.Popen([CLI, "bench", BENCH, "Bench.ping", "--addr", framed, "-d", "60",
                          "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    CHILDREN.append(p)
    time.sleep(1.0)
    t0 = time.time()
    p.send_signal(signal.SIGINT)
    try:
        out, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    rep_ = json.loads(out) if out.strip() else {}
    ok(p.returncode == 0 and rep_.get("interrupted") is True and rep_.get("successes", 0) > 0
       and time.time() - t0 < 5, "bench: SIGINT stops the run and prints the report so far",
       (p.returncode, out, err))


if __name__ == "__main__":
    run_script(TAP, main, lambda: shutil.rmtree(TMP, ignore_errors=True))
