#!/usr/bin/python3
"""THeader info headers between the Lua binding and Apache Thrift's Python
library (python3-thrift's THeaderTransport / THeaderProtocol), both ways,
in binary and compact:

  - a Lua client (headers_client.lua: the headers option, c:set_call_header,
    c:reply_headers(), the async callback's headers) against an Apache
    THeaderProtocol server whose handler reads the request's headers
    (get_headers) and sets the reply's (set_header);
  - an Apache THeaderProtocol client (set_header, get_headers) against a
    Lua server (headers_server.lua: req:header, req:headers,
    req:set_reply_header, and a deferred reply carrying a header).

Run by meson once per Lua VM (DYNTHRIFT_LUA, LUA_CPATH).  Every process
started here is stopped by its PID.  Prints TAP; a missing peer skips."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LUA = os.environ.get("DYNTHRIFT_LUA", "lua5.4")
VM = os.path.basename(LUA)
IDL = os.path.join(HERE, "headers.thrift")

try:
    from thrift.transport import TSocket
    from thrift.protocol import THeaderProtocol
    from thrift.transport.THeaderTransport import THeaderClientType, THeaderSubprotocolID
except ImportError as e:
    print("1..0 # SKIP peer missing: %s" % e)
    sys.exit(0)
if not shutil.which("thrift"):
    print("1..0 # SKIP thrift compiler missing")
    sys.exit(0)

count = 0
failed = 0


def check(cond, name, detail=""):
    global count, failed
    count += 1
    if cond:
        print("ok %d - %s: %s" % (count, VM, name))
    else:
        failed += 1
        print("not ok %d - %s: %s" % (count, VM, name))
        for line in str(detail).splitlines():
            print("#   " + line)
    sys.stdout.flush()


tmp = tempfile.mkdtemp(prefix="dynthrift-lua-headers-")
gen = os.path.join(tmp, "gen")
os.makedirs(gen)
subprocess.run(["thrift", "--gen", "py", "-out", gen, IDL], check=True)
sys.path.insert(0, gen)
import headers.Headers as ApHeaders  # noqa: E402

# Apache's THeaderProtocol server (TSimpleServer: one protocol object per
# connection for input and output).  The processor records the protocol of
# the request being processed, so the handler reads the request's headers
# and sets the reply's on its transport.
SERVER_PY = r'''
import sys
sys.path.insert(0, sys.argv[1])
from thrift.server import TServer
from thrift.transport import TSocket, TTransport
from thrift.protocol import THeaderProtocol
from thrift.transport.THeaderTransport import THeaderClientType
import headers.Headers as H
current = None
class Handler:
    def echo_header(self, key):
        value = current.get_headers().get(key.encode())
        if value is not None:
            current.set_header(b"reply-" + key.encode(), value + b"!")
        return value.decode() if value is not None else ""
    def request_headers(self):
        return {k.decode(): v.decode() for k, v in current.get_headers().items()}
class Processor(H.Processor):
    def process(self, iprot, oprot):
        global current
        current = iprot
        return H.Processor.process(self, iprot, oprot)
sock = TSocket.TServerSocket(host="127.0.0.1", port=int(sys.argv[2]))
srv = TServer.TSimpleServer(Processor(Handler()), sock, TTransport.TTransportFactoryBase(),
                            THeaderProtocol.THeaderProtocolFactory((THeaderClientType.HEADERS,)))
srv.serve()
'''
server_py = os.path.join(tmp, "header_server.py")
with open(server_py, "w") as f:
    f.write(SERVER_PY)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def stop(p):
    if p and p.poll() is None:
        p.terminate()  # by PID
        try:
            return p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    return p.communicate()


# ---- Lua client -> Apache THeaderProtocol server ----------------------------
port = free_port()
p = subprocess.Popen(["/usr/bin/python3", server_py, gen, str(port)],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
up = wait_port(port)
check(up, "Apache THeaderProtocol server: up")
if up:
    try:
        for proto in ("binary", "compact"):
            r = subprocess.run([LUA, os.path.join(HERE, "headers_client.lua"), IDL,
                                "127.0.0.1:%d" % port, proto],
                               capture_output=True, text=True, timeout=60)
            lines = (r.stdout + r.stderr).strip().splitlines()
            want = [
                "CALL conn lua", "REPLY conn reply-conn=lua!",
                "CALL once 1", "REPLY once reply-once=1!",
                "CALL again ",
                "CALL async 2", "REPLY async reply-async=2!",
            ]
            got = [ln.rstrip() for ln in lines]
            want = [w.rstrip() for w in want]
            what = "Lua client (%s) -> Apache THeader server: " % proto
            check(got[0:2] == want[0:2], what + "the headers option read by get_headers(); the "
                  "reply's set_header in c:reply_headers()", "\n".join(lines))
            check(got[2:4] == want[2:4], what + "c:set_call_header crosses with the next call",
                  "\n".join(lines))
            check(got[4:5] == want[4:5], what + "... and not with the one after", "\n".join(lines))
            check(got[5:7] == want[5:7], what + "an async call's header, and its reply's as the "
                  "callback's third argument", "\n".join(lines))
            check(len(got) == len(want), what + "nothing else (no error)", "\n".join(lines))
    finally:
        stop(p)
else:
    stop(p)

# ---- Apache THeaderProtocol client -> Lua server ---------------------------
lp = subprocess.Popen([LUA, os.path.join(HERE, "headers_server.lua"), "binary", "header"],
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
line = lp.stdout.readline()
check(line.startswith("PORT "), "Lua THeader server: listening", line)
if line.startswith("PORT "):
    port = int(line.split()[1])
    for proto_name, proto_id in (("binary", THeaderSubprotocolID.BINARY),
                                 ("compact", THeaderSubprotocolID.COMPACT)):
        what = "Apache THeader client (%s) -> Lua server: " % proto_name
        try:
            def connect():
                sock = TSocket.TSocket("127.0.0.1", port)
                sock.setTimeout(5000)
                prot = THeaderProtocol.THeaderProtocol(sock, (THeaderClientType.HEADERS,),
                                                      default_protocol=proto_id)
                return sock, prot, ApHeaders.Client(prot)

            sock, prot, client = connect()
            sock.open()
            prot.set_header(b"trace", b"abc-123")
            r = client.echo_header("trace")
            check(r == "abc-123", what + "set_header read by req:header() in the handler", r)
            check(prot.get_headers().get(b"reply-trace") == b"abc-123!",
                  what + "req:set_reply_header() read by get_headers()", prot.get_headers())
            prot.set_header(b"a", b"1")
            prot.set_header(b"b", b"2")
            r = client.request_headers()
            check(r == {"a": "1", "b": "2"}, what + "req:headers() has every request header", r)
            # a deferred reply carries the header set before req:reply
            wsock, wprot, waiter = connect()
            wsock.open()
            waiter.send_wait("w-" + proto_name)
            for _ in range(100):
                if client.held() >= 1:
                    break
                time.sleep(0.02)
            n = client.release("w-" + proto_name, "later", False)
            got = waiter.recv_wait()
            check(n == 1 and got == "later"
                  and wprot.get_headers().get(b"released-by") == ("w-" + proto_name).encode(),
                  what + "a deferred reply (req:defer, req:reply from release) with its header",
                  "%r %r %r" % (n, got, wprot.get_headers()))
            wsock.close()
            sock.close()
        except Exception as e:  # noqa: BLE001
            check(False, what + "calls", repr(e))
    out, err = stop(lp)
    check("STOPPED" in out, "Lua THeader server: stopped by SIGTERM", out + err)
else:
    stop(lp)

shutil.rmtree(tmp, ignore_errors=True)
print("1..%d" % count)
sys.exit(1 if failed else 0)
