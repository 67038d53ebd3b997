#!/usr/bin/python3
"""ServerSets on a real ZooKeeper, with kazoo as an independent client.

Starts a standalone ZooKeeper (Debian's `zookeeper`, test/zk/zk_server.sh: a
free loopback port, a temporary data directory, -Xmx128m) and, around it:
`dynthrift serve --announce` servers on 127.0.0.2, .3, .6, .7; a thriftpy
(python3-thriftpy) server on 127.0.0.4 that kazoo registers as an ALIVE
member, and one on 127.0.0.5 that kazoo registers as DEAD; and zk_stream, a
dynthrift cluster that follows the set and keeps 16 pipelined calls in
flight (test/zk/zk_stream.c).  While the stream runs: a server joins, one is stopped with SIGTERM
(its member must go at once), one is killed with SIGKILL (its member must go
at session expiry, not before), ZooKeeper is stopped and restarted (a
server started meanwhile announces itself once it is back), a server joins
after the restart, and kazoo deletes the thriftpy member
(the time until the cluster stops routing to it is reported).  Every call
must be answered; the DEAD member must never be called.  Then the CLI on a
ServerSet: `call --addr zk://... --all` and `bench --addr zk://...` on a
1-server and a 3-server set (calls/s of each).

Every process is started here and stopped by its own PID.  Prints TAP; exits
77 (skip) when java, ZooKeeper, kazoo or thriftpy is missing."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from testlib import (BUILD, CHILDREN as procs, CLI, IDL_SAMPLES, Tap, ZooKeeper, bail_out,
                     kill_children, python_peer, require_zookeeper, serverset_member as instance,
                     skip_all)

STREAM = sys.argv[1] if len(sys.argv) > 1 else os.path.join(BUILD, "test", "zk", "zk_stream")
IDL = os.path.join(IDL_SAMPLES, "pingpong.thrift")

require_zookeeper()
try:
    import thriftpy  # noqa: F401  (the servers below import it themselves)
except ImportError as e:
    skip_all("peer missing: %s" % e)
from kazoo.client import KazooClient  # noqa: E402
for path in (CLI, STREAM):
    if not os.path.exists(path):
        skip_all("%s not built" % path)

TAP = Tap()
check = TAP.ok
diag = TAP.diag
tmp = tempfile.mkdtemp(prefix="dynthrift-zkint-")
ZK = ZooKeeper(os.path.join(tmp, "zk"))


def zk_start():
    t0 = time.time()
    ZK.start()
    diag("ZooKeeper up on 127.0.0.1:%d (pid %d) in %.2f s" % (ZK.port, ZK.pid, time.time() - t0))


class Lines:
    """Collects a process's stderr lines on a thread, so pipes never fill."""

    def __init__(self, stream):
        self.lines = []
        self.cond = threading.Condition()
        threading.Thread(target=self._run, args=(stream,), daemon=True).start()

    def _run(self, stream):
        for line in stream:
            with self.cond:
                self.lines.append((time.time(), line.rstrip("\n")))
                self.cond.notify_all()

    def wait_for(self, pattern, timeout=10, start=0):
        rx = re.compile(pattern)
        end = time.time() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.lines)):
                    m = rx.search(self.lines[i][1])
                    if m:
                        return self.lines[i][0], m
                left = end - time.time()
                if left <= 0:
                    return None, None
                self.cond.wait(left)


def spawn_serve(host, url, session_ms=4000):
    # A session long enough to outlive the ZooKeeper restart below (4 s);
    # the server killed with SIGKILL gets 1 s, so its expiry is quick.
    p = subprocess.Popen([CLI, "serve", IDL, "PingPong", "--addr", host + ":0", "--echo",
                          "--buffered", "--announce", url, "--announce-session-ms", str(session_ms),
                          "--announce-grace-ms", "300"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    procs.append(p)
    return p, Lines(p.stderr)


def serve(host, url, session_ms=4000):
    p, lines = spawn_serve(host, url, session_ms)
    _, m = lines.wait_for(r"announced as (\S+) \((\S+)\)")
    if not m:
        bail_out("serve on %s did not announce: %s" % (host, lines.lines))
    return p, m.group(1), m.group(2), lines


THRIFTPY_SERVER = r"""
import sys, thriftpy
from thriftpy.rpc import make_server
pp = thriftpy.load(sys.argv[1], module_name="pingpong_thrift")
class Handler(object):
    def ping(self):
        sys.stdout.write("call\n"); sys.stdout.flush()
        return "thriftpy"
    def add(self, a, b):
        return a + b
server = make_server(pp.PingPong, Handler(), sys.argv[2], int(sys.argv[3]))
sys.stdout.write("ready\n"); sys.stdout.flush()
server.serve()
"""


def thriftpy_server(host):
    return python_peer(THRIFTPY_SERVER, host, IDL)


def stream(url, seconds, servers):
    p = subprocess.Popen([STREAM, url, IDL, "PingPong", "ping", str(seconds), "--depth", "16",
                          "--buffered", "--idempotent", "--session-ms", "4000",
                          "--servers", str(servers)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs.append(p)
    lines = Lines(p.stderr)
    _, m = lines.wait_for(r"^ready (\d+)", timeout=20)
    if not m:
        bail_out("zk_stream not ready: %s" % lines.lines)
    return p, lines


def finish(p):
    p.send_signal(signal.SIGTERM)  # ends the stream now; it reports what it saw
    out, _ = p.communicate(timeout=60)
    return json.loads(out.strip().splitlines()[-1])


def change_time(lines, sign, server, start=0):
    """When the stream reported SIGN SERVER, looking at its lines from `start`."""
    t, _ = lines.wait_for(r"^change \%s%s " % (sign, re.escape(server)), timeout=10, start=start)
    return t


def main():
    zk_start()
    hosts = "127.0.0.1:%d" % ZK.port
    url = "zk://%s/dynthrift/test/pingpong" % hosts
    zk = KazooClient(hosts=hosts, timeout=10)
    zk.start(timeout=10)
    path = "/dynthrift/test/pingpong"

    # -- members dynthrift writes ---------------------------------------------------
    a, a_node, a_addr, a_log = serve("127.0.0.2", url)
    b, b_node, b_addr, b_log = serve("127.0.0.3", url, session_ms=1000)
    data, stat = zk.get(a_node)
    inst = json.loads(data.decode())
    ep = inst.get("serviceEndpoint", {})
    check(re.match(r"^%s/member_\d{10}$" % path, a_node) and stat.ephemeralOwner != 0,
          "dynthrift's member is an ephemeral sequential member_<10 digits> (%s)" % a_node)
    check(inst.get("status") == "ALIVE" and "%s:%s" % (ep.get("host"), ep.get("port")) == a_addr
          and isinstance(ep.get("port"), int) and isinstance(inst.get("additionalEndpoints"), dict),
          "its data is a ServiceInstance with the real address: %s" % data.decode())

    # -- members kazoo writes -------------------------------------------------------
    py, py_port = thriftpy_server("127.0.0.4")
    py_node = zk.create(path + "/member_", instance("127.0.0.4", py_port, "ALIVE"),
                        ephemeral=True, sequence=True)
    dead, dead_port = thriftpy_server("127.0.0.5")
    zk.create(path + "/member_", instance("127.0.0.5", dead_port, "DEAD"),
              ephemeral=True, sequence=True)
    zk.create(path + "/not_a_member", b"{}")
    py_addr = "127.0.0.4:%d" % py_port
    dead_addr = "127.0.0.5:%d" % dead_port

    s, s_log = stream(url, 300, 3)  # until finish(s), however slow the machine
    check(True, "zk_stream found the 3 ALIVE members (2 dynthrift, 1 thriftpy via kazoo)")

    # -- a server joins under load ---------------------------------------------------
    time.sleep(1)
    c, c_node, c_addr, _ = serve("127.0.0.6", url)
    check(change_time(s_log, "+", c_addr) is not None, "a server joining is added (%s)" % c_addr)

    # -- SIGTERM: the member goes at once -------------------------------------------------
    time.sleep(1)
    t_term = time.time()
    a.send_signal(signal.SIGTERM)
    gone = None
    while time.time() - t_term < 5:
        if not zk.exists(a_node):
            gone = time.time()
            break
        time.sleep(0.005)
    a.wait(timeout=10)
    t_off = change_time(s_log, "-", a_addr)
    check(gone is not None and gone - t_term < 0.5 and t_off is not None,
          "SIGTERM deletes the member at once (%.0f ms) and the cluster drops it"
          % (((gone or t_term) - t_term) * 1000))
    if t_off:
        diag("SIGTERM -> off the ring: %.1f ms" % ((t_off - t_term) * 1000))
    check(a.returncode == 0, "the stopped server exits 0")

    # -- SIGKILL: the member goes at session expiry ---------------------------------------
    time.sleep(0.5)
    t_kill = time.time()
    b.send_signal(signal.SIGKILL)
    b.wait(timeout=10)
    time.sleep(0.2)
    still = zk.exists(b_node) is not None
    gone = None
    while time.time() - t_kill < 10:
        if not zk.exists(b_node):
            gone = time.time()
            break
        time.sleep(0.02)
    check(still and gone is not None,
          "SIGKILL: the member stays until its session (1 s) expires, then goes (%.2f s)"
          % (((gone or t_kill) - t_kill)))
    check(change_time(s_log, "-", b_addr) is not None, "and the cluster drops it")

    # -- ZooKeeper stopped and restarted under load ---------------------------------------
    time.sleep(0.5)
    zk.stop()
    ZK.stop()
    # A server starting while ZooKeeper is away serves, and announces itself
    # once ZooKeeper is back.
    e, e_log = spawn_serve("127.0.0.8", url)
    time.sleep(1.5)
    zk_start()
    _, m = e_log.wait_for(r"announced as (\S+) \((\S+)\)", timeout=15)
    check(m is not None and change_time(s_log, "+", m.group(2)) is not None,
          "a server started while ZooKeeper was down announces itself once it is back (%s)"
          % (m.group(2) if m else None))
    zk = KazooClient(hosts=hosts, timeout=10)
    zk.start(timeout=10)
    d, d_node, d_addr, _ = serve("127.0.0.7", url)
    check(change_time(s_log, "+", d_addr) is not None,
          "after a ZooKeeper restart a new server is seen (%s)" % d_addr)

    # -- kazoo deletes the thriftpy member: time until no longer routed --------------------
    time.sleep(1)
    # The thriftpy member went with the first kazoo session: register it again,
    # then delete it.
    mark = len(s_log.lines)  # it was added and removed once already: look past that
    py_node = zk.create(path + "/member_", instance("127.0.0.4", py_port, "ALIVE"),
                        ephemeral=True, sequence=True)
    added = change_time(s_log, "+", py_addr, start=mark)
    time.sleep(0.5)
    mark = len(s_log.lines)
    t_del0 = time.time()
    zk.delete(py_node)
    t_del = time.time()
    t_off, _ = s_log.wait_for(r"^change -%s " % re.escape(py_addr), timeout=10, start=mark)
    # The watch reaches the follower about when the delete's answer reaches
    # kazoo, so measure from the moment the delete was sent.
    if t_off:
        diag("kazoo delete sent -> cluster no longer routes: %.1f ms (delete round trip %.1f ms)"
             % ((t_off - t_del0) * 1000, (t_del - t_del0) * 1000))
    check(added is not None and t_off is not None and t_off - t_del0 < 0.1,
          "a member deleted by kazoo leaves the ring within 100 ms")

    res = finish(s)
    diag("stream: %d ok, %d failed, %.0f calls/s, per server %s, %d ZooKeeper session(s)"
         % (res["ok"], res["failed"], res["calls_per_s"], json.dumps(res["per_server"]),
            res["sessions"]))
    for e in res["errors"]:
        diag("error: " + e)
    check(res["failed"] == 0 and res["ok"] > 1000,
          "every pipelined call was answered through joins, SIGTERM, SIGKILL and a "
          "ZooKeeper restart (%d ok, %d failed)" % (res["ok"], res["failed"]))
    check(res["per_server"].get(py_addr, 0) > 0,
          "the thriftpy member kazoo wrote took calls (%d)" % res["per_server"].get(py_addr, 0))
    dead.send_signal(signal.SIGTERM)
    dead_out, _ = dead.communicate(timeout=10)
    check(dead_out.count("call") == 0 and dead_addr not in res["per_server"],
          "the DEAD member was never called")

    # -- calls/s: a set of 3 against a set of 1 --------------------------------------------
    for p in (c, d, e):
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)
    rates = {}
    for n in (1, 3):
        one_url = "zk://%s/dynthrift/bench%d" % (hosts, n)
        started = [serve("127.0.0.%d" % (10 + i), one_url) for i in range(n)]
        addrs = sorted(x[2] for x in started)
        r = subprocess.run([CLI, "call", IDL, "PingPong.ping", "--buffered", "--addr", one_url,
                            "--all"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=30)
        got = json.loads(r.stdout) if r.returncode == 0 else []
        check(sorted(x.get("server") for x in got) == addrs and all("result" in x for x in got),
              "call --addr zk://... --all: one result per announced server (%d)" % n)
        r = subprocess.run([CLI, "bench", IDL, "PingPong.ping", "--buffered", "--addr", one_url,
                            "-d", "2", "-p", "16", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
        rep = json.loads(r.stdout) if r.returncode == 0 else {"servers": [], "total": {}}
        rates[n] = rep["total"].get("calls_per_s", 0)
        check(r.returncode == 0 and sorted(x["server"] for x in rep["servers"]) == addrs
              and rep["total"].get("errors") == 0,
              "bench --addr zk://... on %d server(s): %.0f calls/s, per server %s"
              % (n, rates[n], [round(x["calls_per_s"]) for x in rep["servers"]]))
        for p, _, _, _ in started:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=10)
    diag("bench -p 16 -d 2, echo servers: 1 server %.0f calls/s, 3 servers %.0f calls/s (x%.2f)"
         % (rates[1], rates[3], rates[3] / max(rates[1], 1)))
    zk.stop()


# meson stops a test that overruns with SIGTERM: clean up (the JVM above all)
# on the way out instead of leaving it running.
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))
try:
    main()
finally:
    kill_children()
    ZK.stop()
    shutil.rmtree(tmp, ignore_errors=True)
sys.exit(TAP.done())
