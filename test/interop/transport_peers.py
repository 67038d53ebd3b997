#!/usr/bin/python3
"""Interop of dynthrift's transport stack with peers it did not write.

TLS, mTLS and TZlibTransport, both directions, framed and buffered, binary
and compact:
  - `dynthrift call` (the C client) against Apache Thrift's Python servers
    (TSSLServerSocket, TZlibTransport) and thriftpy's SSL server;
  - Apache's Python clients (TSSLSocket, TZlibTransport) and thriftpy's SSL
    client against `dynthrift serve` (the C server).
Certificates are made at test time by test/tls_certs.sh.  Every process
started here is stopped by its PID.

Prints TAP; skips when a peer is missing."""
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile

from testlib import (BUILD, CLI, IDL_SAMPLES, Tap, apache_gen_py, make_certs, require_programs,
                     skip_all, spawn_on_free_port, stop)

IDL = os.path.join(IDL_SAMPLES, "pingpong.thrift")

try:
    import thrift  # noqa: F401  (Apache's library)
    from thrift.transport import TSSLSocket, TSocket, TTransport, TZlibTransport
    from thrift.protocol import TBinaryProtocol, TCompactProtocol
except ImportError as e:
    skip_all("peer missing: %s" % e)
require_programs("thrift", "openssl")

TAP = Tap()
check = TAP.ok
skip = TAP.skip

tmp = tempfile.mkdtemp(prefix="dynthrift-transport-")
certs = os.path.join(tmp, "certs")
C = make_certs(certs)


# Is the build's CLI able to do TLS and zlib?
probe = subprocess.run([CLI, "call", IDL, "PingPong.ping", "--addr", "127.0.0.1:1", "--zlib",
                        "--timeout", "100"], capture_output=True, text=True)
HAVE_ZLIB = "without zlib" not in probe.stderr
probe = subprocess.run([CLI, "call", IDL, "PingPong.ping", "--addr", "tls://127.0.0.1:1",
                        "--timeout", "100"], capture_output=True, text=True)
HAVE_TLS = "without OpenSSL" not in probe.stderr and "not available" not in probe.stderr

gen = os.path.join(tmp, "gen")
apache_gen_py(gen, IDL)
import pingpong.PingPong as ApPingPong  # noqa: E402

# An Apache Python server in its own process: TSimpleServer over
# TSSLServerSocket or TServerSocket, framed or buffered, optionally inside
# TZlibTransport, binary or compact.
SERVER_PY = r'''
import ssl, sys
sys.path.insert(0, sys.argv[1])
from thrift.server import TServer
from thrift.transport import TSocket, TSSLSocket, TTransport, TZlibTransport
from thrift.protocol import TBinaryProtocol, TCompactProtocol
import pingpong.PingPong as P
port, tls, framing, proto, zlib_on, certs, mtls = sys.argv[2:9]
class H:
    def ping(self): return "pong"
    def add(self, a, b): return a + b
if tls == "1":
    kw = dict(certfile=certs + "/server.pem", keyfile=certs + "/server.key")
    if mtls == "1":
        kw.update(ca_certs=certs + "/ca.pem", cert_reqs=ssl.CERT_REQUIRED)
    sock = TSSLSocket.TSSLServerSocket(host="127.0.0.1", port=int(port), **kw)
else:
    sock = TSocket.TServerSocket(host="127.0.0.1", port=int(port))
class TF:
    def getTransport(self, t):
        t = TTransport.TFramedTransport(t) if framing == "framed" else TTransport.TBufferedTransport(t)
        return TZlibTransport.TZlibTransport(t) if zlib_on == "1" else t
pf = TBinaryProtocol.TBinaryProtocolFactory() if proto == "binary" else TCompactProtocol.TCompactProtocolFactory()
srv = TServer.TSimpleServer(P.Processor(H()), sock, TF(), pf)
print("ready", flush=True)
srv.serve()
'''
server_py = os.path.join(tmp, "apache_server.py")
with open(server_py, "w") as f:
    f.write(SERVER_PY)

# thriftpy's SSL server (its certfile holds the key too).
THRIFTPY_SERVER = r'''
import sys, thriftpy
from thriftpy.rpc import make_server
from thriftpy.protocol import TBinaryProtocolFactory
from thriftpy.transport import TFramedTransportFactory, TBufferedTransportFactory
pp = thriftpy.load(sys.argv[1], module_name="pp_thrift")
class H:
    def ping(self): return "pong"
    def add(self, a, b): return a + b
tf = TFramedTransportFactory() if sys.argv[4] == "framed" else TBufferedTransportFactory()
s = make_server(pp.PingPong, H(), "127.0.0.1", int(sys.argv[2]), certfile=sys.argv[3],
                proto_factory=TBinaryProtocolFactory(), trans_factory=tf)
print("ready", flush=True)
s.serve()
'''
thriftpy_py = os.path.join(tmp, "thriftpy_server.py")
with open(thriftpy_py, "w") as f:
    f.write(THRIFTPY_SERVER)
with open(os.path.join(certs, "server-combined.pem"), "w") as f:
    f.write(open(C("server.pem")).read() + open(C("server.key")).read())


def start(argv):
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def dyn_call(addr, method, args, extra):
    r = subprocess.run([CLI, "call", IDL, "PingPong." + method, args, "--addr", addr,
                        "--timeout", "5000"] + extra, capture_output=True, text=True, timeout=20)
    return r.returncode, r.stdout.strip(), r.stderr.strip()


def tls_flags(mtls):
    f = ["--cacert", C("ca.pem")]
    if mtls:
        f += ["--cert", C("client.pem"), "--key", C("client.key")]
    return f


# ---- dynthrift call -> Apache Python servers ----------------------------------
cases = []
if HAVE_TLS:
    for framing in ("framed", "buffered"):
        for proto in ("binary", "compact"):
            cases.append(("tls", framing, proto, False, False))
    cases.append(("tls", "framed", "binary", False, True))    # mTLS
    cases.append(("tls", "buffered", "compact", False, True))
if HAVE_ZLIB:
    for framing in ("framed", "buffered"):
        for proto in ("binary", "compact"):
            cases.append(("plain", framing, proto, True, False))
if HAVE_TLS and HAVE_ZLIB:
    cases.append(("tls", "framed", "compact", True, False))

for kind, framing, proto, zlib_on, mtls in cases:
    tag = "%s%s%s/%s/%s" % (kind, "+mtls" if mtls else "", "+zlib" if zlib_on else "", framing, proto)
    p, port, why = spawn_on_free_port(lambda port: [
        "/usr/bin/python3", server_py, gen, str(port), "1" if kind == "tls" else "0", framing,
        proto, "1" if zlib_on else "0", certs, "1" if mtls else "0"])
    try:
        if not p:
            check(False, "dynthrift call -> Apache py %s: server up" % tag, why)
            continue
        addr = ("tls://localhost:%d" if kind == "tls" else "127.0.0.1:%d") % port
        extra = ["--" + framing, "--protocol", proto] + (["--zlib"] if zlib_on else [])
        if kind == "tls":
            extra += tls_flags(mtls)
        rc, out, err = dyn_call(addr, "add", '{"a": 20, "b": 22}', extra)
        check(rc == 0 and out == "42", "dynthrift call -> Apache py server %s: add -> 42" % tag,
              "rc=%d out=%s err=%s" % (rc, out, err))
        rc, out, err = dyn_call(addr, "ping", "[]", extra)
        check(rc == 0 and out == '"pong"', "dynthrift call -> Apache py server %s: ping" % tag,
              "rc=%d out=%s err=%s" % (rc, out, err))
        if framing == "framed" and not mtls:
            # The bench drives the same transport stack with its own client.
            r = subprocess.run([CLI, "bench", IDL, "PingPong.add", "[20, 22]", "--addr", addr,
                                "-n", "200", "-c", "1", "--json"] + extra,
                               capture_output=True, text=True, timeout=30)
            try:
                rep = json.loads(r.stdout)
            except ValueError:
                rep = {}
            check(r.returncode == 0 and rep.get("successes") == 200 and rep.get("errors") == 0,
                  "dynthrift bench -> Apache py server %s: 200 calls, no errors" % tag,
                  "rc=%d %s %s" % (r.returncode, r.stdout[-300:], r.stderr[-300:]))
        if mtls:
            rc, out, err = dyn_call(addr, "add", "[1, 2]", extra[:-4])
            check(rc == 3, "dynthrift call without a client cert -> Apache py mTLS server refuses "
                  "(exit 3)", "rc=%d out=%s err=%s" % (rc, out, err))
    finally:
        stop(p)

# ---- Apache Python clients -> dynthrift serve --------------------------------
mock = os.path.join(tmp, "mock.json")
with open(mock, "w") as f:
    json.dump({"ping": {"result": "pong"},
               "add": {"cases": [{"when": {"a": 20, "b": 22}, "result": 42}], "result": -1}}, f)


def serve(listen, extra):
    p = start([CLI, "serve", IDL, "PingPong", "--addr", listen, "--mock", mock] + extra)
    line = p.stderr.readline()
    if "listening on" not in line:
        stop(p)
        return None, 0, line + p.stderr.read()
    return p, int(line.strip().rsplit(":", 1)[1]), ""


def apache_client(port, tls, framing, proto, zlib_on, mtls=False, ca=None):
    if tls:
        kw = dict(ca_certs=ca or C("ca.pem"), cert_reqs=ssl.CERT_REQUIRED)
        if mtls:
            kw.update(certfile=C("client.pem"), keyfile=C("client.key"))
        sock = TSSLSocket.TSSLSocket("localhost", port, **kw)
    else:
        sock = TSocket.TSocket("127.0.0.1", port)
    sock.setTimeout(5000)
    t = TTransport.TFramedTransport(sock) if framing == "framed" else TTransport.TBufferedTransport(sock)
    if zlib_on:
        t = TZlibTransport.TZlibTransport(t)
    pr = TBinaryProtocol.TBinaryProtocol(t) if proto == "binary" else TCompactProtocol.TCompactProtocol(t)
    t.open()
    return ApPingPong.Client(pr), t


for kind, framing, proto, zlib_on, mtls in cases:
    tag = "%s%s%s/%s/%s" % (kind, "+mtls" if mtls else "", "+zlib" if zlib_on else "", framing, proto)
    listen = "tls://127.0.0.1:0" if kind == "tls" else "127.0.0.1:0"
    extra = ["--" + framing, "--protocol", proto] + (["--zlib"] if zlib_on else [])
    if kind == "tls":
        extra += ["--cert", C("server.pem"), "--key", C("server.key")]
        if mtls:
            extra += ["--cacert", C("ca.pem")]
    p, port, why = serve(listen, extra)
    if not p:
        check(False, "Apache py -> dynthrift serve %s: serve starts" % tag, why)
        continue
    try:
        try:
            cl, t = apache_client(port, kind == "tls", framing, proto, zlib_on, mtls)
            results = [cl.add(20, 22), cl.ping(), cl.add(20, 22)]
            t.close()
            check(results == [42, "pong", 42],
                  "Apache py client -> dynthrift serve %s: add, ping, add on one connection" % tag,
                  repr(results))
        except Exception as e:  # noqa: BLE001
            check(False, "Apache py client -> dynthrift serve %s" % tag, repr(e))
        if mtls:
            try:
                cl, t = apache_client(port, True, framing, proto, zlib_on, mtls=False)
                r = cl.ping()
                t.close()
                check(False, "Apache py client without a cert -> dynthrift serve --cacert refused", r)
            except Exception as e:  # noqa: BLE001
                check(True, "Apache py client without a cert -> dynthrift serve --cacert refused (%s)"
                      % type(e).__name__)
        if kind == "tls" and not mtls and framing == "framed" and proto == "binary":
            try:
                cl, t = apache_client(port, True, framing, proto, zlib_on, ca=C("other-ca.pem"))
                cl.ping()
                check(False, "Apache py client trusting another CA refuses dynthrift's certificate")
            except Exception as e:  # noqa: BLE001
                # Apache wraps the ssl error in "Could not connect" (logging it).
                check(isinstance(e, TTransport.TTransportException),
                      "Apache py client trusting another CA refuses dynthrift's certificate", repr(e))
    finally:
        stop(p)

# ---- THeader: Apache's THeaderProtocol/THeaderTransport ------------------------
PEER = sys.argv[1] if len(sys.argv) > 1 else os.path.join(BUILD, "test", "interop", "transport_peer")

HEADER_SERVER_PY = r'''
import sys
sys.path.insert(0, sys.argv[1])
from thrift.server import TServer
from thrift.transport import TSocket, TTransport
from thrift.protocol import THeaderProtocol
from thrift.transport.THeaderTransport import THeaderClientType, THeaderSubprotocolID
import pingpong.PingPong as P
last = []
class F(THeaderProtocol.THeaderProtocolFactory):
    def getProtocol(self, trans):
        p = super().getProtocol(trans)
        last.append(p)
        return p
class H:
    def ping(self):
        t = last[-1].trans
        who = t.get_headers().get(b"who", b"-").decode()
        t.set_header(b"served-by", b"apache-py")
        return "pong " + who
    def add(self, a, b): return a + b
kinds = (THeaderClientType.HEADERS, THeaderClientType.FRAMED_BINARY, THeaderClientType.FRAMED_COMPACT,
         THeaderClientType.UNFRAMED_BINARY, THeaderClientType.UNFRAMED_COMPACT)
sock = TSocket.TServerSocket(host="127.0.0.1", port=int(sys.argv[2]))
srv = TServer.TSimpleServer(P.Processor(H()), sock, TTransport.TTransportFactoryBase(), F(kinds))
srv.serve()
'''
header_py = os.path.join(tmp, "apache_header_server.py")
with open(header_py, "w") as f:
    f.write(HEADER_SERVER_PY)

from thrift.protocol import THeaderProtocol  # noqa: E402
from thrift.transport.THeaderTransport import (THeaderClientType, THeaderSubprotocolID,  # noqa: E402
                                               THeaderTransformID)

p, port, why = spawn_on_free_port(lambda port: ["/usr/bin/python3", header_py, gen, str(port)])
try:
    if not p:
        check(False, "Apache py THeader server up", why)
    else:
        for proto in ("binary", "compact"):
            for zl in (False, True):
                tag = "header/%s%s" % (proto, "+zlib" if zl else "")
                if zl and not HAVE_ZLIB:
                    skip("dynthrift call -> Apache py THeader server %s" % tag, "built without zlib")
                    continue
                extra = ["--header", "--protocol", proto, "-H", "who: dyn"] + (["--zlib"] if zl else [])
                rc, out, err = dyn_call("127.0.0.1:%d" % port, "ping", "[]", extra)
                check(rc == 0 and out == '"pong dyn"',
                      "dynthrift call -> Apache py THeader server %s: our info header read by its "
                      "handler" % tag, "rc=%d out=%s err=%s" % (rc, out, err))
                rc, out, err = dyn_call("127.0.0.1:%d" % port, "add", "[20, 22]", extra)
                check(rc == 0 and out == "42", "dynthrift call -> Apache py THeader server %s: add"
                      % tag, "rc=%d out=%s err=%s" % (rc, out, err))
                if not zl:
                    r = subprocess.run([CLI, "bench", IDL, "PingPong.add", "[20, 22]", "--addr",
                                        "127.0.0.1:%d" % port, "-n", "100", "-c", "1", "--json",
                                        "--header", "--protocol", proto],
                                       capture_output=True, text=True, timeout=30)
                    try:
                        rep = json.loads(r.stdout)
                    except ValueError:
                        rep = {}
                    check(r.returncode == 0 and rep.get("successes") == 100,
                          "dynthrift bench --header -> Apache py THeader server %s: 100 calls" % tag,
                          "rc=%d %s %s" % (r.returncode, r.stdout[-300:], r.stderr[-300:]))
finally:
    stop(p)


def peer(listen, *kv):
    """The C server (transport_peer) on `listen` with conn options `kv`:
    (process, port, why it did not start)."""
    pp = subprocess.Popen([PEER, IDL, listen] + list(kv), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    line = pp.stdout.readline()
    if not line.startswith("port "):
        stop(pp)
        return None, 0, line + pp.stderr.read()
    return pp, int(line.split()[1]), ""


for proto in ("binary", "compact"):
    for zl in (False, True):
        tag = "header/%s%s" % (proto, "+zlib" if zl else "")
        if zl and not HAVE_ZLIB:
            skip("Apache py THeader client -> C server %s" % tag, "built without zlib")
            continue
        pp, port, why = peer("127.0.0.1:0", "transport=header")
        if not pp:
            check(False, "C server with transport=header starts", why)
            continue
        try:
            sock = TSocket.TSocket("127.0.0.1", port)
            sock.setTimeout(5000)
            hp = THeaderProtocol.THeaderProtocol(
                sock, (THeaderClientType.HEADERS,),
                THeaderSubprotocolID.COMPACT if proto == "compact" else THeaderSubprotocolID.BINARY)
            if zl:
                hp.trans.add_transform(THeaderTransformID.ZLIB)
            cl = ApPingPong.Client(hp)
            hp.trans.open()
            hp.trans.set_header(b"who", b"apache-py")
            r1 = cl.ping()
            got = dict(hp.trans.get_headers())
            r2 = cl.add(20, 22)
            hp.trans.close()
            check(r1 == "pong apache-py" and got.get(b"served-by") == b"dynthrift" and r2 == 42,
                  "Apache py THeader client -> C server %s: info headers both ways, add" % tag,
                  repr((r1, got, r2)))
        except Exception as e:  # noqa: BLE001
            check(False, "Apache py THeader client -> C server %s" % tag, repr(e))
        finally:
            stop(pp)

# A THeader C server answers Apache's plain framed clients too, in kind.
pp, port, why = peer("127.0.0.1:0", "transport=header")
if pp:
    try:
        for proto in ("binary", "compact"):
            try:
                cl, t = apache_client(port, False, "framed", proto, False)
                r = [cl.add(20, 22), cl.ping()]
                t.close()
                check(r == [42, "pong"], "Apache py framed %s client -> C THeader server" % proto, repr(r))
            except Exception as e:  # noqa: BLE001
                check(False, "Apache py framed %s client -> C THeader server" % proto, repr(e))
    finally:
        stop(pp)

# ---- HTTP: Apache's THttpClient and THttpServer ------------------------------
from thrift.transport import THttpClient  # noqa: E402
from thrift.protocol import TJSONProtocol  # noqa: E402

HTTP_SERVER_PY = r'''
import sys
sys.path.insert(0, sys.argv[1])
from thrift.server import THttpServer
from thrift.protocol import TBinaryProtocol, TCompactProtocol, TJSONProtocol
import pingpong.PingPong as P
class H:
    def ping(self): return "pong"
    def add(self, a, b): return a + b
pf = {"binary": TBinaryProtocol.TBinaryProtocolFactory(),
      "compact": TCompactProtocol.TCompactProtocolFactory(),
      "json": TJSONProtocol.TJSONProtocolFactory()}[sys.argv[3]]
THttpServer.THttpServer(P.Processor(H()), ("127.0.0.1", int(sys.argv[2])), pf).serve()
'''
http_py = os.path.join(tmp, "apache_http_server.py")
with open(http_py, "w") as f:
    f.write(HTTP_SERVER_PY)

def bench_http(addr, proto, n, extra, name):
    """`dynthrift bench` over HTTP: (passed, name, detail) for check()."""
    r = subprocess.run([CLI, "bench", IDL, "PingPong.add", "[20, 22]", "--addr", addr, "--protocol",
                        proto, "-n", str(n), "--json", "--verify", "--timeout", "5000"] + extra,
                       capture_output=True, text=True, timeout=60)
    try:
        rep = json.loads(r.stdout)
    except ValueError:
        rep = {}
    return (r.returncode == 0 and rep.get("successes") == n and rep.get("errors") == 0
            and rep.get("transport") == "http", name,
            "rc=%d %s %s" % (r.returncode, r.stdout[-300:], r.stderr[-300:]))


for proto in ("binary", "compact", "json"):
    p, port, why = spawn_on_free_port(lambda port: ["/usr/bin/python3", http_py, gen, str(port),
                                                    proto])
    try:
        if not p:
            check(False, "Apache py THttpServer %s up" % proto, why)
            continue
        addr = "http://127.0.0.1:%d/thrift" % port
        rc, out, err = dyn_call(addr, "add", "[20, 22]", ["--protocol", proto, "-H", "X-Trace: 1"])
        check(rc == 0 and out == "42", "dynthrift call -> Apache py THttpServer %s: add -> 42" % proto,
              "rc=%d out=%s err=%s" % (rc, out, err))
        # --lines: several calls; the HTTP/1.0 server closes after each, we reconnect.
        r = subprocess.run([CLI, "call", IDL, "PingPong", "--lines", "--addr", addr, "--protocol", proto,
                            "--timeout", "5000"], input='{"method": "ping"}\n{"method": "add", "args": [1, 2]}\n',
                           capture_output=True, text=True, timeout=20)
        check(r.returncode == 0 and r.stdout.split() == ['{"result":"pong"}', '{"result":3}'],
              "dynthrift call --lines -> Apache py THttpServer %s: two calls" % proto,
              "rc=%d out=%s err=%s" % (r.returncode, r.stdout, r.stderr))
        # bench: HTTP/1.0 closes after each response; one call per connection,
        # reconnecting, even with -p 4 asked for.
        check(*bench_http(addr, proto, 120, ["-c", "2", "-p", "4"],
                          "dynthrift bench -> Apache py THttpServer %s: 120 calls, no errors" % proto))
    finally:
        stop(p)


# bench -> dynthrift serve over HTTP/1.1: keep-alive, pipelined.
for proto in ("binary", "compact", "json"):
    p, port, why = serve("http://127.0.0.1:0/thrift", ["--protocol", proto])
    if not p:
        check(False, "dynthrift serve http:// %s starts" % proto, why)
        continue
    try:
        check(*bench_http("http://127.0.0.1:%d/thrift" % port, proto, 3000, ["-c", "3", "-p", "16"],
                          "dynthrift bench -c 3 -p 16 -> dynthrift serve http:// %s: 3000 calls, "
                          "no errors" % proto))
    finally:
        stop(p)
if HAVE_TLS:
    p, port, why = serve("https://127.0.0.1:0/thrift", ["--cert", C("server.pem"), "--key",
                                                       C("server.key")])
    if not p:
        check(False, "dynthrift serve https:// starts", why)
    else:
        try:
            check(*bench_http("https://localhost:%d/thrift" % port, "compact", 2000,
                              ["-c", "2", "-p", "8", "--cacert", C("ca.pem")],
                              "dynthrift bench -c 2 -p 8 -> dynthrift serve https:// (verifying): "
                              "2000 calls, no errors"))
        finally:
            stop(p)
else:
    skip("dynthrift bench -> dynthrift serve https://", "built without TLS")

# bench against an HTTP server that answers 503: each call an error naming it.
STATUS_PY = r'''
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
'''
status_py = os.path.join(tmp, "status_server.py")
with open(status_py, "w") as f:
    f.write(STATUS_PY)
p, port, why = spawn_on_free_port(lambda port: ["/usr/bin/python3", status_py, str(port)])
try:
    if not p:
        check(False, "503 server up", why)
    else:
        r = subprocess.run([CLI, "bench", IDL, "PingPong.add", "[20, 22]", "--addr",
                            "http://127.0.0.1:%d/" % port, "-n", "5", "--json", "--timeout", "5000"],
                           capture_output=True, text=True, timeout=60)
        try:
            rep = json.loads(r.stdout)
        except ValueError:
            rep = {}
        check(r.returncode == 1 and rep.get("successes") == 0
              and rep.get("errors_by_kind", {}).get("protocol") == 5
              and "HTTP status 503" in rep.get("first_errors", {}).get("protocol", ""),
              "dynthrift bench -> HTTP 503: every call a protocol error naming the status",
              "rc=%d %s %s" % (r.returncode, r.stdout[-400:], r.stderr[-300:]))
finally:
    stop(p)


def http_client(url, proto, **kw):
    t = THttpClient.THttpClient(url, **kw)
    t.setCustomHeaders({"X-From": "apache-py"})
    pr = {"binary": TBinaryProtocol.TBinaryProtocol, "compact": TCompactProtocol.TCompactProtocol,
          "json": TJSONProtocol.TJSONProtocol}[proto](t)
    t.open()
    return ApPingPong.Client(pr), t


for scheme in ("http", "https"):
    if scheme == "https" and not HAVE_TLS:
        skip("Apache py THttpClient over HTTPS", "built without TLS")
        continue
    kv = ["tls_cert=" + C("server.pem"), "tls_key=" + C("server.key")] if scheme == "https" else []
    pp, port, why = peer("%s://127.0.0.1:0/" % scheme, *kv)
    if not pp:
        check(False, "C server on %s:// starts" % scheme, why)
        continue
    try:
        for proto in ("binary", "compact", "json"):
            try:
                kw = {"cafile": C("ca.pem")} if scheme == "https" else {}
                cl, t = http_client("%s://localhost:%d/any/path" % (scheme, port), proto, **kw)
                r = [cl.add(20, 22), cl.ping(), cl.add(1, 2)]
                t.close()
                check(r == [42, "pong", 3], "Apache py THttpClient -> C server %s/%s: add, ping, add"
                      % (scheme, proto), repr(r))
            except Exception as e:  # noqa: BLE001
                check(False, "Apache py THttpClient -> C server %s/%s" % (scheme, proto), repr(e))
    finally:
        stop(pp)

# ---- Apache's C++ library (libthrift-dev): TSSLSocket, THttpClient, THeaderProtocol ----
CPP_CLIENT = r'''
#include <cstring>
#include <iostream>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/protocol/TCompactProtocol.h>
#include <thrift/protocol/THeaderProtocol.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/THttpClient.h>
#include <thrift/transport/TSSLSocket.h>
#include <thrift/transport/TSocket.h>
#include "PingPong.h"
using namespace apache::thrift;
using std::make_shared;
// cpp_client KIND PORT [CA]: KIND tls | http | header; prints "add=42 ping=..."
int main(int argc, char **argv) {
    std::string kind = argv[1];
    int port = std::atoi(argv[2]);
    std::shared_ptr<transport::TSSLSocketFactory> factory;
    std::shared_ptr<transport::TTransport> sock, trans;
    std::shared_ptr<protocol::TProtocol> proto;
    if (kind == "tls") {
        factory = make_shared<transport::TSSLSocketFactory>();
        factory->loadTrustedCertificates(argv[3]);
        factory->authenticate(true);
        sock = factory->createSocket("localhost", port);
        trans = make_shared<transport::TFramedTransport>(sock);
        proto = make_shared<protocol::TBinaryProtocol>(trans);
    } else if (kind == "http") {
        sock = make_shared<transport::TSocket>("127.0.0.1", port);
        trans = make_shared<transport::THttpClient>(sock, "localhost", "/thrift");
        proto = make_shared<protocol::TBinaryProtocol>(trans);
    } else {
        sock = make_shared<transport::TSocket>("127.0.0.1", port);
        trans = sock;
        auto hp = make_shared<protocol::THeaderProtocol>(trans);
        proto = hp;
    }
    pingpong::PingPongClient client(proto);
    trans->open();
    std::string pong;
    int64_t sum = client.add(20, 22);
    client.ping(pong);
    int64_t sum2 = client.add(1, 2);
    trans->close();
    std::cout << "add=" << sum << " ping=" << pong << " add=" << sum2 << std::endl;
}
'''
cpp_dir = os.path.join(tmp, "cpp")
os.makedirs(cpp_dir)
cpp_bin = os.path.join(cpp_dir, "cpp_client")
cpp_ok = False
if shutil.which("g++") and os.path.exists("/usr/include/thrift/transport/TSSLSocket.h"):
    subprocess.run(["thrift", "--gen", "cpp", "-out", cpp_dir, IDL], check=True)
    with open(os.path.join(cpp_dir, "client.cpp"), "w") as f:
        f.write(CPP_CLIENT)
    srcs = [os.path.join(cpp_dir, x) for x in os.listdir(cpp_dir)
            if x.endswith(".cpp") and "skeleton" not in x]
    r = subprocess.run(["g++", "-O0", "-std=c++17", "-I", cpp_dir, "-o", cpp_bin] + srcs +
                       ["-lthriftz", "-lthrift", "-lz", "-lssl", "-lcrypto", "-lpthread"],
                       capture_output=True, text=True)
    cpp_ok = r.returncode == 0
    if not cpp_ok:
        check(False, "Apache C++ client builds", r.stderr[-2000:])
else:
    skip("Apache C++ clients", "g++ or libthrift-dev missing")
if cpp_ok:
    for kind, kv in (("tls", ["tls_cert=" + C("server.pem"), "tls_key=" + C("server.key")]),
                     ("http", []), ("header", ["transport=header"])):
        if kind == "tls" and not HAVE_TLS:
            skip("Apache C++ TSSLSocket client", "built without TLS")
            continue
        listen = {"tls": "tls://127.0.0.1:0", "http": "http://127.0.0.1:0/"}.get(kind, "127.0.0.1:0")
        pp, port, why = peer(listen, *kv)
        try:
            if not pp:
                check(False, "C server for the C++ %s client starts" % kind, why)
                continue
            r = subprocess.run([cpp_bin, kind, str(port), C("ca.pem")], capture_output=True,
                               text=True, timeout=30)
            want = "add=42 ping=pong%s add=3" % ("" if kind != "header" else "")
            check(r.returncode == 0 and r.stdout.strip() == want,
                  "Apache C++ %s client -> C server: add, ping, add" % {
                      "tls": "TSSLSocket (framed binary, verifying)", "http": "THttpClient (binary)",
                      "header": "THeaderProtocol (binary)"}[kind],
                  "rc=%d out=%s err=%s" % (r.returncode, r.stdout, r.stderr[-500:]))
        finally:
            stop(pp)

# ---- one port, many clients: `dynthrift serve` left unpinned ------------------
if HAVE_TLS:
    p, port, why = serve("127.0.0.1:0", ["--cert", C("server.pem"), "--key", C("server.key")])
    if not p:
        check(False, "dynthrift serve (unpinned, with a certificate) starts", why)
    else:
        try:
            kinds = []
            for tls in (False, True):
                for framing in ("framed", "buffered"):
                    for proto in ("binary", "compact"):
                        kinds.append(("tls " if tls else "") + framing + "/" + proto)
                        try:
                            cl, t = apache_client(port, tls, framing, proto, False)
                            r = cl.add(20, 22)
                            t.close()
                            kinds[-1] += "" if r == 42 else "=%r" % r
                        except Exception as e:  # noqa: BLE001
                            kinds[-1] += "=" + repr(e)
            try:
                sock = TSocket.TSocket("127.0.0.1", port)
                hp = THeaderProtocol.THeaderProtocol(sock, (THeaderClientType.HEADERS,),
                                                     THeaderSubprotocolID.COMPACT)
                cl = ApPingPong.Client(hp)
                hp.trans.open()
                kinds.append("header/compact" + ("" if cl.add(20, 22) == 42 else "=bad"))
                hp.trans.close()
            except Exception as e:  # noqa: BLE001
                kinds.append("header=" + repr(e))
            for scheme in ("http", "https"):
                try:
                    cl, t = http_client("%s://localhost:%d/" % (scheme, port), "json",
                                        **({"cafile": C("ca.pem")} if scheme == "https" else {}))
                    kinds.append(scheme + "/json" + ("" if cl.add(20, 22) == 42 else "=bad"))
                    t.close()
                except Exception as e:  # noqa: BLE001
                    kinds.append(scheme + "=" + repr(e))
            bad = [k for k in kinds if "=" in k]
            check(not bad, "Apache py clients of %d kinds (TLS or not, framed/buffered x binary/compact, "
                  "THeader, HTTP, HTTPS) -> one unpinned dynthrift serve port" % len(kinds), "; ".join(bad))
        finally:
            stop(p)

# ---- thriftpy's SSL client and server ----------------------------------------
try:
    import thriftpy
    from thriftpy.rpc import make_client
    from thriftpy.transport import TFramedTransportFactory, TBufferedTransportFactory
    HAVE_THRIFTPY = True
except ImportError:
    HAVE_THRIFTPY = False
if not HAVE_TLS:
    skip("thriftpy SSL", "built without TLS")
elif not HAVE_THRIFTPY:
    skip("thriftpy SSL", "python3-thriftpy missing")
else:
    pp = thriftpy.load(IDL, module_name="pp_thrift")
    for framing in ("framed", "buffered"):
        p, port, why = spawn_on_free_port(lambda port: [
            "/usr/bin/python3", thriftpy_py, IDL, str(port), C("server-combined.pem"), framing])
        try:
            if not p:
                check(False, "dynthrift call -> thriftpy SSL server %s: up" % framing, why)
            else:
                rc, out, err = dyn_call("tls://localhost:%d" % port, "add", "[20, 22]",
                                        ["--" + framing] + tls_flags(False))
                check(rc == 0 and out == "42", "dynthrift call -> thriftpy SSL server %s: add -> 42"
                      % framing, "rc=%d out=%s err=%s" % (rc, out, err))
        finally:
            stop(p)
        p, port, why = serve("tls://127.0.0.1:0", ["--" + framing, "--cert", C("server.pem"),
                                                  "--key", C("server.key")])
        try:
            if not p:
                check(False, "thriftpy SSL client -> dynthrift serve %s: serve starts" % framing, why)
                continue
            tf = TFramedTransportFactory() if framing == "framed" else TBufferedTransportFactory()
            cl = make_client(pp.PingPong, "localhost", port, cafile=C("ca.pem"), trans_factory=tf,
                             timeout=5000)
            r = [cl.add(20, 22), cl.ping()]
            cl.close()
            check(r == [42, "pong"], "thriftpy SSL client -> dynthrift serve %s: add, ping" % framing,
                  repr(r))
        except Exception as e:  # noqa: BLE001
            check(False, "thriftpy SSL client -> dynthrift serve %s" % framing, repr(e))
        finally:
            stop(p)

shutil.rmtree(tmp, ignore_errors=True)
sys.exit(TAP.done())
