#!/usr/bin/python3
"""`dynthrift call` and `bench` over several servers (static lists).

Two `dynthrift serve --mock` servers (answering "A" and "B") on 127.0.0.2 and
127.0.0.3 and a thriftpy (python3-thriftpy) server on 127.0.0.4 (answering
"thriftpy"), all buffered binary.  Checks --addr lists and repeated --addr,
call --all (one {"server", "result"} per server, a stopped server's error),
--lines with the server of each answer, --balance round-robin/random/least,
--hash-arg (the same key always on the same server, keys spread), bench's
per-server and total report, and usage errors.  The ServerSet flavour
(--addr zk://) is in zk_serverset.py.

Every process is started here and stopped by its PID.  Prints TAP; skips
when thriftpy is missing."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

from testlib import (CHILDREN as procs, CLI, IDL_SAMPLES, Tap, bail_out, kill_children,
                     python_peer, skip_all)

IDL = os.path.join(IDL_SAMPLES, "pingpong.thrift")

try:
    import thriftpy  # noqa: F401  (the server below imports it itself)
except ImportError as e:
    skip_all("peer missing: %s" % e)
if not os.path.exists(CLI):
    skip_all("%s not built" % CLI)

TAP = Tap()
check = TAP.ok
tmp = tempfile.mkdtemp(prefix="dynthrift-clicluster-")

THRIFTPY_SERVER = r"""
import sys, thriftpy
from thriftpy.rpc import make_server
pp = thriftpy.load(sys.argv[1], module_name="pingpong_thrift")
class Handler(object):
    def ping(self):
        return "thriftpy"
    def add(self, a, b):
        return a + b + 1000
server = make_server(pp.PingPong, Handler(), sys.argv[2], int(sys.argv[3]))
sys.stdout.write("ready\n"); sys.stdout.flush()
server.serve()
"""


def serve(host, answer):
    fixtures = os.path.join(tmp, "mock-%s.json" % answer)
    with open(fixtures, "w") as f:
        json.dump({"ping": {"result": answer}, "add": {"result": 1}}, f)
    p = subprocess.Popen([CLI, "serve", IDL, "PingPong", "--addr", host + ":0", "--buffered",
                          "--mock", fixtures], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    procs.append(p)
    line = p.stderr.readline()
    if not line.startswith("listening on "):
        bail_out("serve did not start: %s" % line)
    return p, line.split()[-1]


def thriftpy_server(host):
    p, port = python_peer(THRIFTPY_SERVER, host, IDL)
    return p, "%s:%d" % (host, port)


def cli(*args, stdin=None):
    r = subprocess.run([CLI] + list(args), input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def main():
    a, a_addr = serve("127.0.0.2", "A")
    b, b_addr = serve("127.0.0.3", "B")
    py, py_addr = thriftpy_server("127.0.0.4")
    servers = [a_addr, b_addr, py_addr]
    lst = ",".join(servers)
    common = [IDL, "PingPong.ping", "--buffered"]

    rc, out, err = cli("call", *common, "--addr", lst, "--all")
    try:
        got = json.loads(out)
    except ValueError:
        got = None
    check(rc == 0 and got == [{"server": a_addr, "result": "A"}, {"server": b_addr, "result": "B"},
                              {"server": py_addr, "result": "thriftpy"}],
          "call --all: one {server, result} per server, thriftpy's included (%s)" % out.strip())
    rc, out2, _ = cli("call", *common, "--addr", a_addr, "--addr", b_addr, "--addr", py_addr, "--all")
    check(rc == 0 and out2 == out, "repeated --addr is the same cluster as a list")

    rc, out, _ = cli("call", *common, "--addr", lst)
    check(rc == 0 and json.loads(out) in ("A", "B", "thriftpy"),
          "call on a cluster prints the bare result like call on one server (%s)" % out.strip())
    seen = set()
    for _ in range(12):
        rc, out, _ = cli("call", *common, "--addr", lst)
        seen.add(out.strip())
    check(len(seen) >= 2, "separate calls do not all go to the first server (%s)" % sorted(seen))

    lines = "".join('{"method": "ping", "id": %d}\n' % i for i in range(30))
    for balance in ("round-robin", "random", "least"):
        rc, out, _ = cli("call", IDL, "PingPong", "--buffered", "--lines", "--addr", lst,
                         "--balance", balance, stdin=lines)
        answers = [json.loads(x) for x in out.splitlines()]
        by = {}
        for x in answers:
            by.setdefault(x.get("server"), set()).add(json.dumps(x.get("result")))
        check(rc == 0 and len(answers) == 30 and set(by) <= set(servers) and len(by) >= 2
              and all(len(v) == 1 for v in by.values()),
              "--lines --balance %s: 30 answers over %d servers, each answer from the server "
              "named" % (balance, len(by)))
    rc, out, _ = cli("call", IDL, "PingPong", "--buffered", "--lines", "--addr", lst,
                     "--balance", "round-robin", stdin=lines)
    by = {}
    for x in out.splitlines():
        s = json.loads(x)["server"]
        by[s] = by.get(s, 0) + 1
    check(sorted(by.values()) == [10, 10, 10], "round-robin spreads 30 calls 10/10/10 (%s)" % by)

    # --lines streams: an answer comes before stdin is closed.
    p = subprocess.Popen([CLI, "call", IDL, "PingPong", "--buffered", "--lines", "--addr", lst],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    procs.append(p)
    p.stdin.write('{"method": "ping"}\n')
    p.stdin.flush()
    box = []
    t = threading.Thread(target=lambda: box.append(p.stdout.readline()), daemon=True)
    t.start()
    t.join(10)
    first = box[0] if box else ""
    p.stdin.write('{"method": "ping"}\n')
    p.stdin.close()
    rest = p.stdout.read()
    p.wait(timeout=10)
    check(first.startswith('{"server"') and rest.count("server") == 1 and p.returncode == 0,
          "--lines answers each line as it comes, before stdin ends")
    path = os.path.join(tmp, "calls.jsonl")
    with open(path, "w") as f:
        f.write(lines + '{"method": "ping"}')  # the last line without its newline
    with open(path) as f:
        r = subprocess.run([CLI, "call", IDL, "PingPong", "--buffered", "--lines", "--addr", lst],
                           stdin=f, stdout=subprocess.PIPE, text=True, timeout=60)
    check(r.returncode == 0 and len(r.stdout.splitlines()) == 31,
          "--lines from a regular file, last line unterminated: 31 answers")

    add_lines = "".join('{"method": "add", "args": {"a": %d, "b": 1}}\n' % (i % 10)
                        for i in range(40))
    owners = []
    for _ in range(2):
        rc, out, _ = cli("call", IDL, "PingPong", "--buffered", "--lines", "--addr", lst,
                         "--hash-arg", "a", stdin=add_lines)
        owners.append([json.loads(x)["server"] for x in out.splitlines()])
    stable = all(owners[0][i] == owners[0][i % 10] for i in range(40)) and owners[0] == owners[1]
    check(rc == 0 and len(owners[0]) == 40 and stable and len(set(owners[0])) >= 2,
          "--hash-arg a: a key always goes to the same server, in one run and the next; "
          "10 keys over %d servers" % len(set(owners[0])))

    rc, out, _ = cli("bench", IDL, "PingPong.ping", "--buffered", "--addr", lst, "-n", "3000",
                     "-p", "8", "--json")
    rep = json.loads(out) if rc == 0 else {}
    per = {s["server"]: s["calls"] for s in rep.get("servers", [])}
    check(rc == 0 and set(per) == set(servers) and sum(per.values()) == 3000
          and rep["total"]["calls"] == 3000 and rep["total"]["errors"] == 0,
          "bench -n 3000: per-server calls %s add up to the total" % per)
    rc1, _, _ = cli("bench", IDL, "PingPong.ping", "--buffered", "--addr", lst, "-n", "200",
                    "--max-p99", "0.000001")
    rc2, _, _ = cli("bench", IDL, "PingPong.ping", "--buffered", "--addr", lst, "-n", "200",
                    "--max-p99", "60000", "--fail-on-error")
    check(rc1 == 1 and rc2 == 0, "bench --max-p99 fails above the bound (%d), passes below (%d)"
          % (rc1, rc2))
    rc, out, _ = cli("bench", IDL, "PingPong.ping", "--buffered", "--addr", lst, "-d", "0.5")
    check(rc == 0 and all(s in out for s in servers) and "total" in out,
          "bench's text report has a line per server and the total")

    extra = '{"a": 1, "b": 2, "c": 3}'
    rc1, _, err1 = cli("call", IDL, "PingPong.add", extra, "--buffered", "--addr", lst)
    rc2, out2, _ = cli("call", IDL, "PingPong.add", extra, "--buffered", "--addr", lst, "--all",
                       "--ignore-unknown")
    check(rc1 == 65 and "'c'" in err1 and rc2 == 0 and len(json.loads(out2)) == 3,
          "an unknown argument is refused (65) unless --ignore-unknown")

    # A stopped server: --all reports its error, the others answer.
    b.send_signal(signal.SIGTERM)
    b.wait(timeout=10)
    rc, out, _ = cli("call", *common, "--addr", lst, "--all", "--timeout", "2000")
    got = json.loads(out) if out.strip() else []
    errs = [x for x in got if "error" in x]
    check(rc == 3 and len(got) == 3 and len(errs) == 1 and errs[0]["server"] == b_addr
          and errs[0]["error"]["kind"] == "transport",
          "call --all with a server down: its error in place, exit 3")
    rc, out, _ = cli("call", IDL, "PingPong", "--buffered", "--lines", "--addr", lst,
                     "--pipeline", "1", stdin=lines)
    answers = [json.loads(x) for x in out.splitlines()]
    bad = [x for x in answers if "error" in x]
    check(len(answers) == 30 and len(bad) <= 1 and all(x["server"] == b_addr for x in bad),
          "one call at a time with a server down: at most its first call fails, then it is "
          "routed around (%d errors)" % len(bad))

    # serve --announce needs an address clients can dial (checked before it
    # listens, so nothing binds 0.0.0.0 here).
    for addr, what in (("0.0.0.0:0", "listening on 0.0.0.0"),
                       ("unix:%s/s.sock" % tmp, "a Unix socket")):
        r = subprocess.run([CLI, "serve", IDL, "PingPong", "--echo", "--addr", addr,
                            "--announce", "zk://127.0.0.1:1/svc"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        check(r.returncode == 64 and ("--announce-host" in r.stderr or "TCP" in r.stderr),
              "serve --announce %s without --announce-host: usage error (64)" % what)
    r = subprocess.run([CLI, "serve", IDL, "PingPong", "--echo", "--addr", "127.0.0.2:0",
                        "--announce", "zk:///svc"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=30)
    check((r.returncode == 64 and "no ZooKeeper hosts" in r.stderr)
          or (r.returncode == 70 and "without ZooKeeper support" in r.stderr),
          "serve --announce with a malformed URL: usage error (64; 70 in a build without "
          "ZooKeeper)")

    for args, what in ((["--balance", "sideways"], "an unknown --balance"),
                       (["--balance", "hash"], "--balance hash without --hash-arg"),
                       (["--hash-arg", "nope"], "--hash-arg naming no argument"),
                       (["--addr", a_addr], "the same server twice")):
        rc, _, err = cli("call", *common, "--addr", lst, *args)
        check(rc == 64 and "dynthrift call" in err, "%s is a usage error (64)" % what)


signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))  # clean up on a timeout
try:
    main()
finally:
    kill_children()
    shutil.rmtree(tmp, ignore_errors=True)
sys.exit(TAP.done())
