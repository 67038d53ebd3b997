#!/usr/bin/python3
"""The Lua binding over the C engine's transports, against Apache Thrift's
Python library (python3-thrift):

  - a Lua client over TLS (tls://host:port; tls_ca, and tls_cert/tls_key
    for a server that wants a client certificate) against Apache's
    TSSLServerSocket; a certificate from a CA it does not trust is refused;
  - a Lua client over THeader (transport=header, binary and compact, zlib
    on and off) against Apache's THeaderProtocol server;
  - a Lua server over TLS (tls_cert, tls_key) called by Apache's TSSLSocket
    client.

The options go from the Lua table to thrift_conn_options_set as text.
Certificates are made at test time by test/tls_certs.sh.  Run by meson once
per Lua VM (DYNTHRIFT_LUA, LUA_CPATH).  Every process started here is
stopped by its PID.  Prints TAP; skips when a peer is missing."""
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "interop"))
from testlib import (IDL_SAMPLES, Tap, apache_gen_py, make_certs, require_programs,  # noqa: E402
                     skip_all, spawn_on_free_port, stop)

LUA = os.environ.get("DYNTHRIFT_LUA", "lua5.4")
VM = os.path.basename(LUA)
IDL = os.path.join(IDL_SAMPLES, "pingpong.thrift")

try:
    from thrift.transport import TSSLSocket, TTransport
    from thrift.protocol import TBinaryProtocol
except ImportError as e:
    skip_all("peer missing: %s" % e)
require_programs("thrift", "openssl")

TAP = Tap(prefix=VM + ": ")
check = TAP.ok

tmp = tempfile.mkdtemp(prefix="dynthrift-lua-transports-")
certs = os.path.join(tmp, "certs")
C = make_certs(certs)


gen = os.path.join(tmp, "gen")
apache_gen_py(gen, IDL)
import pingpong.PingPong as ApPingPong  # noqa: E402

# Apache's TSimpleServer over TSSLServerSocket (framed, binary), optionally
# requiring a client certificate signed by the test CA.
TLS_SERVER_PY = r'''
import ssl, sys
sys.path.insert(0, sys.argv[1])
from thrift.server import TServer
from thrift.transport import TSSLSocket, TTransport
from thrift.protocol import TBinaryProtocol
import pingpong.PingPong as P
port, certs, mtls = sys.argv[2:5]
class H:
    def ping(self): return "pong"
    def add(self, a, b): return a + b
kw = dict(certfile=certs + "/server.pem", keyfile=certs + "/server.key")
if mtls == "1":
    kw.update(ca_certs=certs + "/ca.pem", cert_reqs=ssl.CERT_REQUIRED)
sock = TSSLSocket.TSSLServerSocket(host="127.0.0.1", port=int(port), **kw)
srv = TServer.TSimpleServer(P.Processor(H()), sock, TTransport.TFramedTransportFactory(),
                            TBinaryProtocol.TBinaryProtocolFactory())
srv.serve()
'''
# Apache's THeaderProtocol server: its handler answers "pong" and reads
# nothing else from the header.
HEADER_SERVER_PY = r'''
import sys
sys.path.insert(0, sys.argv[1])
from thrift.server import TServer
from thrift.transport import TSocket, TTransport
from thrift.protocol import THeaderProtocol
from thrift.transport.THeaderTransport import THeaderClientType
import pingpong.PingPong as P
class H:
    def ping(self): return "pong"
    def add(self, a, b): return a + b
sock = TSocket.TServerSocket(host="127.0.0.1", port=int(sys.argv[2]))
srv = TServer.TSimpleServer(P.Processor(H()), sock, TTransport.TTransportFactoryBase(),
                            THeaderProtocol.THeaderProtocolFactory((THeaderClientType.HEADERS,)))
srv.serve()
'''
scripts = {}
for name, text in (("tls_server.py", TLS_SERVER_PY), ("header_server.py", HEADER_SERVER_PY)):
    scripts[name] = os.path.join(tmp, name)
    with open(scripts[name], "w") as f:
        f.write(text)


def python_server(script, *args):
    p, port, _ = spawn_on_free_port(
        lambda port: ["/usr/bin/python3", scripts[script], gen, str(port)] + list(args))
    return p, port


def lua_client(address, *opts):
    r = subprocess.run([LUA, os.path.join(HERE, "transport_client.lua"), IDL, address] + list(opts),
                       capture_output=True, text=True, timeout=60)
    return (r.stdout + r.stderr).strip()


# ---- Lua client -> Apache TSSLServerSocket ---------------------------------
for mtls in ("0", "1"):
    what = "Apache TSSLServerSocket" + (" (client certificate required)" if mtls == "1" else "")
    p, port = python_server("tls_server.py", certs, mtls)
    check(p is not None, what + ": up")
    if not p:
        continue
    try:
        addr = "tls://127.0.0.1:%d" % port
        mine = ["tls_cert=" + C("client.pem"), "tls_key=" + C("client.key")] if mtls == "1" else []
        out = lua_client(addr, "transport=framed", "tls_ca=" + C("ca.pem"), *mine)
        check(out == "RESULT pong 42", "Lua client over TLS (tls_ca%s) -> %s: ping, add"
              % (", tls_cert, tls_key" if mine else "", what), out)
        if mtls == "1":
            out = lua_client(addr, "transport=framed", "tls_ca=" + C("ca.pem"))
            check(out.startswith("ERROR "), "Lua client without a certificate -> %s: an error" % what, out)
        else:
            out = lua_client(addr, "transport=framed", "tls_ca=" + C("other-ca.pem"))
            check(out.startswith("ERROR transport:") and "verification" in out,
                  "Lua client trusting another CA -> %s: the certificate is refused" % what, out)
            out = lua_client(addr, "transport=framed", "tls_ca=" + C("other-ca.pem"), "tls_verify=0")
            check(out == "RESULT pong 42", "Lua client with tls_verify=0 -> %s: ping, add" % what, out)
    finally:
        stop(p)

# ---- Lua client -> Apache THeader server ------------------------------------
p, port = python_server("header_server.py")
check(p is not None, "Apache THeaderProtocol server: up")
if p:
    try:
        for proto in ("binary", "compact"):
            for zl in ("0", "1"):
                out = lua_client("127.0.0.1:%d" % port, "transport=header", "protocol=" + proto,
                                 "zlib=" + zl)
                check(out == "RESULT pong 42", "Lua client over THeader (%s%s) -> Apache "
                      "THeaderProtocol server: ping, add" % (proto, ", zlib" if zl == "1" else ""), out)
    finally:
        stop(p)

# ---- Apache TSSLSocket client -> Lua server over TLS ----------------------
lp = subprocess.Popen([LUA, os.path.join(HERE, "transport_server.lua"), IDL, "tls://127.0.0.1:0",
                       "transport=framed", "tls_cert=" + C("server.pem"), "tls_key=" + C("server.key")],
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
line = lp.stdout.readline()
check(line.startswith("PORT "), "Lua server over TLS (tls_cert, tls_key): listening", line)
if line.startswith("PORT "):
    port = int(line.split()[1])
    try:
        sock = TSSLSocket.TSSLSocket("127.0.0.1", port, ca_certs=C("ca.pem"), cert_reqs=ssl.CERT_REQUIRED)
        sock.setTimeout(5000)
        trans = TTransport.TFramedTransport(sock)
        client = ApPingPong.Client(TBinaryProtocol.TBinaryProtocol(trans))
        trans.open()
        r1, r2 = client.ping(), client.add(20, 22)
        trans.close()
        check(r1 == "pong from lua" and r2 == 42,
              "Apache TSSLSocket client (verifying the test CA) -> Lua server over TLS: ping, add",
              "%r %r" % (r1, r2))
    except Exception as e:  # noqa: BLE001
        check(False, "Apache TSSLSocket client -> Lua server over TLS: ping, add", repr(e))
    # A client still in its handshake (half a ClientHello) when SIGTERM
    # comes: the stop used to wait for the handshake timeout (10 s).
    raw = socket.create_connection(("127.0.0.1", port))
    raw.sendall(b"\x16\x03\x01\x00\x50")
    time.sleep(0.3)
    t0 = time.time()
    out, err = stop(lp)
    took = time.time() - t0
    raw.close()
    check("STOPPED" in out and took < 3.0,
          "Lua server over TLS: SIGTERM ends srv:run() at once with a client mid-handshake (%.2f s)"
          % took, out + err)
else:
    stop(lp)

shutil.rmtree(tmp, ignore_errors=True)
sys.exit(TAP.done())
