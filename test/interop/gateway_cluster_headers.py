#!/usr/bin/python3
"""The gateway's cluster upstreams (--upstream A,B,...) apply a request's
X-Request-Timeout-Ms and forward its Thrift-Header-* info headers as a single
upstream does, and return the reply's info headers (issue 16's leftover):

- a cluster of two `dynthrift serve --exec` servers and Apache's Python
  THeader server, each answering headers computed from the request's
  (the trace reversed, who served it), through `gateway --request` and a
  `--listen` gateway (keep-alive: every member reached, each answer with its
  own request's headers);
- a cluster of two servers that never answer: X-Request-Timeout-Ms 300 ends
  the call with 504 well before the gateway's --timeout of 20 s.

TAP on stdout; '1..0 # SKIP reason' when a peer is missing.  Loopback only;
every process started is stopped by its own PID.
Environment: DYNTHRIFT_CLI, DYNTHRIFT_SOURCE_ROOT.
"""
import http.client
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

CLI = os.environ.get("DYNTHRIFT_CLI")
ROOT = os.environ.get("DYNTHRIFT_SOURCE_ROOT",
                      os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PINGPONG = os.path.join(ROOT, "idl-samples", "pingpong.thrift")

try:
    from thrift.transport import TSocket, TTransport
    from thrift.protocol.THeaderProtocol import THeaderProtocolFactory
    from thrift.server import TServer
except ImportError as e:
    print("1..0 # SKIP python3-thrift missing: %s" % e)
    sys.exit(0)
if not CLI or not os.access(CLI, os.X_OK):
    print("1..0 # SKIP DYNTHRIFT_CLI not set or not executable")
    sys.exit(0)
if not shutil.which("thrift"):
    print("1..0 # SKIP thrift compiler missing")
    sys.exit(0)

logging.disable(logging.CRITICAL)
TMP = tempfile.mkdtemp(prefix="dynthrift-gw-cluster-headers-")
N = 0
FAILED = 0
PROCS = []
SOCKETS = []


def ok(cond, name, diag=None):
    global N, FAILED
    N += 1
    if not cond:
        FAILED += 1
    print("%sok %d - %s" % ("" if cond else "not ", N, name))
    if not cond and diag is not None:
        for line in str(diag).splitlines()[:30]:
            print("# " + line)
    sys.stdout.flush()
    return cond


class Proc:
    """A CLI process whose stderr line starting with `prefix` gives its
    address; stopped by its own PID."""

    def __init__(self, args, prefix):
        self.err_path = os.path.join(TMP, "p%d.stderr" % len(PROCS))
        self.errf = open(self.err_path, "w")
        self.proc = subprocess.Popen([CLI] + args, stdout=subprocess.DEVNULL, stderr=self.errf)
        PROCS.append(self)
        self.addr = None
        end = time.time() + 10
        while time.time() < end and self.proc.poll() is None and not self.addr:
            with open(self.err_path) as f:
                for line in f:
                    if line.startswith(prefix):
                        self.addr = line[len(prefix):].split()[0]
            time.sleep(0.02)
        if not self.addr:
            raise RuntimeError("%s did not start: %s" % (args[0], open(self.err_path).read()))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.errf.close()


EXEC_HANDLER = r'''
import json, sys
name = sys.argv[1]
for line in sys.stdin:
    call = json.loads(line)
    if call.get("oneway"):
        continue
    h = {"x-served-by": name}
    trace = call.get("headers", {}).get("trace")
    if trace is not None:
        h["x-trace-reversed"] = trace[::-1]
    args = call["args"]
    result = args["a"] + args["b"] if call["method"] == "add" else "pong"
    print(json.dumps({"id": call["id"], "result": result, "headers": h}), flush=True)
'''


def apache_header_server(gen):
    """Apache's THeader server answering the same headers as EXEC_HANDLER,
    as 'apache'."""
    current = threading.local()

    class Handler:
        def ping(self):
            return "pong"

        def add(self, a, b):
            prot = current.prot
            prot.clear_headers()
            prot.set_header(b"x-served-by", b"apache")
            trace = prot.get_headers().get(b"trace")
            if trace is not None:
                prot.set_header(b"x-trace-reversed", trace[::-1])
            return a + b

    class Processor(gen.Processor):
        def process(self, iprot, oprot):
            current.prot = iprot
            return super().process(iprot, oprot)

    sock = TSocket.TServerSocket(host="127.0.0.1", port=0)
    srv = TServer.TThreadedServer(Processor(Handler()), sock,
                                  TTransport.TBufferedTransportFactory(),
                                  THeaderProtocolFactory(), daemon=True)
    sock.listen()
    port = sock.handle.getsockname()[1]
    sock.listen = lambda: None

    def serve():
        try:
            srv.serve()
        except Exception:
            pass
    threading.Thread(target=serve, daemon=True).start()
    return "127.0.0.1:%d" % port


def silent_server():
    """Accepts and reads, never answers."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    SOCKETS.append(ls)

    def serve():
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            SOCKETS.append(c)
    threading.Thread(target=serve, daemon=True).start()
    return "127.0.0.1:%d" % ls.getsockname()[1]


def one_request(upstream, body, headers, flags=()):
    """`gateway --request POST /PingPong/add` -> (status, {header: value}, body, stderr)."""
    args = [CLI, "gateway", PINGPONG, "--upstream", upstream, "--request", "POST",
            "/PingPong/add"] + list(flags)
    for h in headers:
        args += ["--request-header", h]
    t0 = time.time()
    p = subprocess.run(args, input=body.encode(), capture_output=True, timeout=60)
    took = time.time() - t0
    head, _, rest = p.stdout.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/1.1 ") else 0
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, rest, p.stderr.decode(errors="replace"), took


def check_headers(members):
    upstream = ",".join(members)
    st, h, body, err, _ = one_request(upstream, '{"a": 2, "b": 40}',
                                      ["Thrift-Header-trace: abc"], ["--header"])
    ok(st == 200 and json.loads(body) == {"result": 42}
       and h.get("thrift-header-x-trace-reversed") == "cba"
       and h.get("thrift-header-x-served-by") in ("one", "two", "apache"),
       "cluster upstream: Thrift-Header-trace reached a member and its reply headers came "
       "back (%s)" % h.get("thrift-header-x-served-by"), (st, h, body, err))

    gw = Proc(["gateway", PINGPONG, "--upstream", upstream, "--header", "--listen",
               "127.0.0.1:0"], "listening on ")
    port = int(gw.addr.rsplit(":", 1)[1])
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    served, right = set(), True
    for i in range(9):
        trace = "trace-%d" % i
        c.request("POST", "/PingPong/add", body=json.dumps({"a": i, "b": 1}),
                  headers={"Thrift-Header-trace": trace})
        r = c.getresponse()
        data = r.read()
        served.add(r.getheader("Thrift-Header-x-served-by"))
        right = right and r.status == 200 and json.loads(data) == {"result": i + 1} \
            and r.getheader("Thrift-Header-x-trace-reversed") == trace[::-1]
    c.close()
    ok(right, "--listen over a cluster: each answer carries its own request's headers")
    ok(served == {"one", "two", "apache"},
       "every member answered (round-robin): %s" % sorted(s or "-" for s in served))
    gw.stop()


def check_deadline():
    upstream = "%s,%s" % (silent_server(), silent_server())
    st, h, body, err, took = one_request(upstream, '{"a": 1, "b": 2}',
                                         ["X-Request-Timeout-Ms: 300"], ["--timeout", "20000"])
    e = (json.loads(body) if body.startswith(b"{") else {}).get("error", {})
    ok(st == 504 and e.get("status") == "THRIFT_TIMEOUT" and took < 5,
       "cluster of silent servers: X-Request-Timeout-Ms 300 -> 504 in %.2f s (--timeout 20 s)"
       % took, (st, h, body, err))
    st, h, body, err, took = one_request(upstream, '{"a": 1, "b": 2}', [], ["--timeout", "300"])
    ok(st == 504 and took < 5, "without the header --timeout 300 rules: 504 in %.2f s" % took,
       (st, body, err))


def main():
    gen_dir = os.path.join(TMP, "gen")
    os.makedirs(gen_dir)
    subprocess.run(["thrift", "--gen", "py", "-out", gen_dir, PINGPONG], check=True,
                   timeout=60, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sys.path.insert(0, gen_dir)
    from pingpong import PingPong as gen  # noqa: E402
    handler = os.path.join(TMP, "handler.py")
    with open(handler, "w") as f:
        f.write(EXEC_HANDLER)
    try:
        members = [Proc(["serve", PINGPONG, "PingPong", "--addr", "127.0.0.1:0", "--exec",
                         "/usr/bin/python3 %s %s" % (handler, name)], "listening on ").addr
                   for name in ("one", "two")]
        members.append(apache_header_server(gen))
        check_headers(members)
        check_deadline()
    finally:
        for p in PROCS:
            p.stop()
        for s in SOCKETS:
            s.close()
    print("1..%d" % N)
    shutil.rmtree(TMP, ignore_errors=True)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
