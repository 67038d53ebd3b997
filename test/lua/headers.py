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

Run by meson once per Lua VM (DYNTHRIFT_LUA, LUA_CPATH).  The Apache
server runs in this process (testlib.apache_theader_server); every process
started here is stopped by its PID.  Prints TAP; a missing peer skips."""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "interop"))
from testlib import (CHILDREN, Tap, apache_gen_py, apache_theader_server,  # noqa: E402
                     require_apache_thrift, run_script, stop, temp_dir, wait_port)

LUA = os.environ.get("DYNTHRIFT_LUA", "lua5.4")
VM = os.path.basename(LUA)
IDL = os.path.join(HERE, "headers.thrift")

require_apache_thrift()
from thrift.transport import TSocket  # noqa: E402
from thrift.protocol import THeaderProtocol  # noqa: E402
from thrift.transport.THeaderTransport import THeaderClientType, THeaderSubprotocolID  # noqa: E402

TAP = Tap(prefix=VM + ": ")
check = TAP.ok
TMP = temp_dir("lua-headers")


def header_handler(current):
    """echo_header(key) answers the request's header `key` and sets the
    reply's reply-KEY to it with "!"; request_headers() answers them all."""
    class Handler:
        def echo_header(self, key):
            value = current.prot.get_headers().get(key.encode())
            if value is not None:
                current.prot.set_header(b"reply-" + key.encode(), value + b"!")
            return value.decode() if value is not None else ""

        def request_headers(self):
            return {k.decode(): v.decode() for k, v in current.prot.get_headers().items()}
    return Handler()


def lua_client_to_apache_server(headers_service):
    port = apache_theader_server(headers_service, header_handler)
    if not check(wait_port(port), "Apache THeaderProtocol server: up"):
        return
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


def apache_header_client(headers_service, port, proto_id):
    """An open Apache THeaderProtocol client: (socket, protocol, client)."""
    sock = TSocket.TSocket("127.0.0.1", port)
    sock.setTimeout(5000)
    prot = THeaderProtocol.THeaderProtocol(sock, (THeaderClientType.HEADERS,),
                                          default_protocol=proto_id)
    sock.open()
    return sock, prot, headers_service.Client(prot)


def apache_client_to_lua_server(headers_service):
    lp = subprocess.Popen([LUA, os.path.join(HERE, "headers_server.lua"), "binary", "header"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    CHILDREN.append(lp)
    line = lp.stdout.readline()
    if not check(line.startswith("PORT "), "Lua THeader server: listening", line):
        stop(lp)
        return
    port = int(line.split()[1])
    for proto_name, proto_id in (("binary", THeaderSubprotocolID.BINARY),
                                 ("compact", THeaderSubprotocolID.COMPACT)):
        what = "Apache THeader client (%s) -> Lua server: " % proto_name
        try:
            sock, prot, client = apache_header_client(headers_service, port, proto_id)
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
            wsock, wprot, waiter = apache_header_client(headers_service, port, proto_id)
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


def main():
    apache_gen_py(os.path.join(TMP, "gen"), IDL)
    import headers.Headers as headers_service
    lua_client_to_apache_server(headers_service)
    apache_client_to_lua_server(headers_service)


if __name__ == "__main__":
    run_script(TAP, main)
