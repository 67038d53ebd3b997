#!/usr/bin/python3
"""`dynthrift gateway --upstream zk://...`: the gateway's upstream is the
ALIVE members of a ZooKeeper ServerSet, on a real ZooKeeper
(test/zk/zk_server.sh).  Two thriftpy servers (python3-thriftpy, threads of
this process, each counting its calls) are registered by kazoo, an
independent client; calls through the gateway must reach both
(round-robin); after kazoo deletes one member every call goes to the other.

TAP on stdout; exit 77 when java, ZooKeeper, kazoo or thriftpy is missing.
Loopback only; every process is stopped by its own PID.  Environment:
DYNTHRIFT_CLI, DYNTHRIFT_SOURCE_ROOT."""
import http.client
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

SRC = os.environ.get("DYNTHRIFT_SOURCE_ROOT",
                     os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CLI = os.environ.get("DYNTHRIFT_CLI", os.path.join(SRC, "build", "tools", "dynthrift"))
ZK_SERVER = os.path.join(SRC, "test", "zk", "zk_server.sh")
BENCH = os.path.join(SRC, "idl-samples", "bench.thrift")

try:
    from kazoo.client import KazooClient
    import thriftpy
    from thriftpy.server import TThreadedServer
    from thriftpy.thrift import TProcessor
    from thriftpy.transport import TServerSocket, TFramedTransportFactory
    from thriftpy.protocol import TBinaryProtocolFactory
except ImportError as e:
    print("1..0 # SKIP peer missing: %s" % e)
    sys.exit(0)
if not shutil.which("java") or not os.path.exists("/usr/share/java/zookeeper.jar"):
    print("1..0 # SKIP java or ZooKeeper (Debian: zookeeper) missing")
    sys.exit(0)
if not os.access(CLI, os.X_OK):
    print("1..0 # SKIP %s not built" % CLI)
    sys.exit(0)

logging.disable(logging.CRITICAL)
TMP = tempfile.mkdtemp(prefix="dynthrift-gwzk-")
N = 0
FAILED = 0
zk_pid = None
gateway = None


def ok(cond, name, diag=None):
    global N, FAILED
    N += 1
    if not cond:
        FAILED += 1
    print("%sok %d - %s" % ("" if cond else "not ", N, name))
    if not cond and diag is not None:
        for line in str(diag).splitlines()[:20]:
            print("# " + line)
    sys.stdout.flush()
    return cond


def zk_start():
    global zk_pid
    r = subprocess.run([ZK_SERVER, os.path.join(TMP, "zk")], capture_output=True, text=True,
                       env=dict(os.environ, ZK_OWNER_PID=str(os.getpid())))
    if r.returncode == 77:
        print("1..0 # SKIP ZooKeeper cannot start here")
        sys.exit(0)
    if r.returncode != 0:
        print("Bail out! ZooKeeper did not start: %s" % r.stderr[-500:])
        sys.exit(1)
    port, zk_pid = (int(x) for x in r.stdout.split())
    return port


def counting_server(mod, calls):
    class Handler:
        def ping(self):
            pass

        def add(self, a, b):
            calls.append(a)
            return a + b

        def echo(self, p):
            return p

        def fire(self, n):
            pass

        def fail(self, code):
            raise mod.BenchError(code=code, message="failed")

    sock = TServerSocket(host="127.0.0.1", port=0, client_timeout=None)
    srv = TThreadedServer(TProcessor(mod.Bench, Handler()), sock,
                          iprot_factory=TBinaryProtocolFactory(),
                          itrans_factory=TFramedTransportFactory())
    threading.Thread(target=srv.serve, daemon=True).start()
    end = time.time() + 10
    while getattr(sock, "sock", None) is None and time.time() < end:
        time.sleep(0.01)
    return sock.sock.getsockname()[1]


def member(port):
    return json.dumps({"serviceEndpoint": {"host": "127.0.0.1", "port": port},
                       "additionalEndpoints": {}, "status": "ALIVE", "shard": 0}).encode()


def start_gateway(url):
    err_path = os.path.join(TMP, "gw.stderr")
    errf = open(err_path, "w")
    p = subprocess.Popen([CLI, "gateway", BENCH, "--upstream", url, "--listen", "127.0.0.1:0"],
                         stdout=subprocess.DEVNULL, stderr=errf)
    end = time.time() + 20
    while time.time() < end and p.poll() is None:
        with open(err_path) as f:
            for line in f:
                if line.startswith("listening on 127.0.0.1:"):
                    return p, int(line.split()[2].rsplit(":", 1)[1]), err_path
        time.sleep(0.05)
    raise RuntimeError("gateway did not start: " + open(err_path).read())


def adds(port, n):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    out = []
    for i in range(n):
        c.request("POST", "/Bench/add", body=json.dumps({"a": i, "b": 1}))
        r = c.getresponse()
        out.append((r.status, r.read()))
    c.close()
    return out


def main():
    global gateway
    zk_port = zk_start()
    mod = thriftpy.load(BENCH, module_name="bench_thrift")
    calls_a, calls_b = [], []
    port_a, port_b = counting_server(mod, calls_a), counting_server(mod, calls_b)
    zk = KazooClient(hosts="127.0.0.1:%d" % zk_port, timeout=10)
    zk.start(timeout=20)
    path = "/dynthrift/test/gateway"
    zk.ensure_path(path)
    node_a = zk.create(path + "/member_", member(port_a), ephemeral=True, sequence=True)
    zk.create(path + "/member_", member(port_b), ephemeral=True, sequence=True)
    url = "zk://127.0.0.1:%d%s" % (zk_port, path)

    gateway, port, err_path = start_gateway(url)
    got = adds(port, 8)
    ok(all(s == 200 for s, _ in got)
       and [json.loads(b)["result"] for _, b in got] == [i + 1 for i in range(8)],
       "gateway --upstream zk://...: 8 adds answered 200 with their sums", got)
    ok(len(calls_a) == 4 and len(calls_b) == 4,
       "both ServerSet members answered, round-robin (%d, %d)" % (len(calls_a), len(calls_b)))

    zk.delete(node_a)
    del calls_a[:], calls_b[:]
    end = time.time() + 10
    while time.time() < end:  # until the gateway has seen the member go
        adds(port, 2)
        if not calls_a[-2:] and len(calls_b) >= 2:
            break
        del calls_a[:], calls_b[:]
        time.sleep(0.1)
    del calls_a[:], calls_b[:]
    got = adds(port, 6)
    ok(all(s == 200 for s, _ in got) and not calls_a and len(calls_b) == 6,
       "member deleted in ZooKeeper: every call goes to the other one", (got, calls_a, calls_b))

    gateway.send_signal(signal.SIGTERM)
    rc = gateway.wait(timeout=20)
    err = open(err_path).read()
    ok(rc == 0 and "upstream " + url in err, "gateway stopped cleanly (exit %d)" % rc, err)
    zk.stop()
    zk.close()
    print("1..%d" % N)
    return 1 if FAILED else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        if gateway is not None and gateway.poll() is None:
            gateway.kill()  # by its own PID
            gateway.wait()
        if zk_pid:
            try:
                os.kill(zk_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(TMP, ignore_errors=True)
