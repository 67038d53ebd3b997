#!/usr/bin/python3
"""Interop of the Lua binding with peers it did not write (issue 14).

Run by meson once per Lua VM: DYNTHRIFT_LUA names the interpreter and
LUA_CPATH finds that VM's dynthrift.so.

  * Lua client (seed_client.lua) -> thriftpy's make_server and Apache's
    Python generated server (TThreadedServer), in this process;
  * thriftpy's make_client and Apache's generated client -> Lua server
    (seed_server.lua, a child process stopped by its PID);

for pingpong (ping/add), kv (setk/getk/keys), sleep (oneway) and
Everything from all_types.thrift (a struct with every type echoed, declared
exceptions both ways, handler errors), buffered and framed, binary (and
compact with Apache's library: thriftpy 0.3.9's compact protocol calls
array.tostring(), gone from Debian 12's Python).

Prints TAP; skips when a peer is missing."""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import logging

# The peers log every handler exception the tests provoke on purpose.
logging.disable(logging.CRITICAL)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "interop"))
from testlib import (IDL_SAMPLES as IDL, Tap, apache_client, apache_gen_py,  # noqa: E402
                     apache_server, require_programs, skip_all, stop, thriftpy_factories,
                     thriftpy_server)

LUA = os.environ.get("DYNTHRIFT_LUA", "lua5.4")
VM = os.path.basename(LUA)

try:
    import thriftpy
    from thriftpy.rpc import make_client
    import thrift  # noqa: F401  (Apache's library)
except ImportError as e:
    skip_all("peer missing: %s" % e)
require_programs("thrift")

TAP = Tap(prefix="[%s] " % VM)
check = TAP.ok


# ---- peers' code ---------------------------------------------------------
gen = tempfile.mkdtemp(prefix="dt-lua-interop-")
apache_gen_py(gen, os.path.join(IDL, "pingpong.thrift"), os.path.join(IDL, "kv.thrift"),
              os.path.join(IDL, "sleep.thrift"), os.path.join(HERE, "all_types.thrift"))
from pingpong import PingPong as ap_pingpong  # noqa: E402
from kv import KV as ap_kv  # noqa: E402
from sleep import Sleep as ap_sleep  # noqa: E402
from all_types import Everything as ap_everything  # noqa: E402
from all_types import ttypes as ap_types  # noqa: E402
shutil.rmtree(gen, ignore_errors=True)

tp = {
    "pingpong": thriftpy.load(os.path.join(IDL, "pingpong.thrift"), module_name="pingpong_thrift"),
    "kv": thriftpy.load(os.path.join(IDL, "kv.thrift"), module_name="kv_thrift"),
    "sleep": thriftpy.load(os.path.join(IDL, "sleep.thrift"), module_name="sleep_thrift"),
    "everything": thriftpy.load(os.path.join(HERE, "all_types.thrift"), module_name="all_types_thrift"),
}
TP_SERVICE = {"pingpong": "PingPong", "kv": "KV", "sleep": "Sleep", "everything": "Everything"}
AP_MODULE = {"pingpong": ap_pingpong, "kv": ap_kv, "sleep": ap_sleep, "everything": ap_everything}


class Handler:
    """One handler object serves every service (names do not clash)."""

    def __init__(self, oops):
        self.store = {}
        self.oops = oops

    def ping(self):
        return "pong"

    def add(self, a, b):
        return a + b

    def setk(self, key, value):
        self.store[key] = value

    def getk(self, key):
        return self.store.get(key, "")

    def keys(self):
        return sorted(self.store)

    def sleep(self, seconds):
        time.sleep(min(seconds, 3))

    def echo(self, a):
        return a

    def fail(self, code):
        if code > 0:
            raise self.oops(code=code, message="from Python")
        return -code

    def crash(self, why):
        raise RuntimeError(why)

    def note(self, text):
        pass


def start_thriftpy_server(which, framing):
    mod = tp[which]
    # the client timeout thriftpy's make_server sets
    return thriftpy_server(getattr(mod, TP_SERVICE[which]),
                           Handler(mod.Oops if which == "everything" else None), framing,
                           client_timeout=3000)


def start_apache_server(which, proto, framing):
    oops = ap_types.Oops if which == "everything" else None
    processor = AP_MODULE[which].Processor(Handler(oops))
    return apache_server(processor, framing, proto)


def run_lua_client(which, port, proto, framing, label, peer):
    r = subprocess.run([LUA, os.path.join(HERE, "seed_client.lua"), which, str(port), proto, framing, peer],
                       capture_output=True, text=True, timeout=60)
    lines = [l for l in r.stdout.splitlines() if l.startswith("ok") or l.startswith("not ok")]
    check(r.returncode == 0 and lines, "%s: Lua client ran (%d checks)" % (label, len(lines)),
          r.stdout + r.stderr)
    detail = r.stdout
    for l in lines:
        check(l.startswith("ok"), "%s: %s" % (label, l.split(" - ", 1)[-1]), detail)


# ---- Lua client -> Python servers ------------------------------------------
for which in ("pingpong", "kv", "sleep", "everything"):
    for framing in ("buffered", "framed"):
        port = start_thriftpy_server(which, framing)
        label = "Lua client -> thriftpy %s binary/%s" % (which, framing)
        check(port is not None, label + ": server up")
        if port:
            run_lua_client(which, port, "binary", framing, label, "thriftpy")
        for proto in ("binary", "compact"):
            port = start_apache_server(which, proto, framing)
            label = "Lua client -> Apache %s %s/%s" % (which, proto, framing)
            check(port is not None, label + ": server up")
            if port:
                run_lua_client(which, port, proto, framing, label, "apache")


# ---- Python clients -> Lua server ------------------------------------------
def start_lua_server(which, proto, framing):
    p = subprocess.Popen([LUA, os.path.join(HERE, "seed_server.lua"), which, proto, framing],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line.startswith("PORT "):
        p.kill()
        p.wait()
        return p, None
    return p, int(line.split()[1])


def stop_lua_server(p):
    return stop(p)  # SIGTERM, by PID: srv:run() returns, the script prints STOPPED


def ap_client(which, port, proto, framing):
    return apache_client(AP_MODULE[which].Client, port, framing, proto)


def tp_client(which, port, framing):
    tf, pf = thriftpy_factories(framing, "binary")
    return make_client(getattr(tp[which], TP_SERVICE[which]), "127.0.0.1", port,
                       proto_factory=pf, trans_factory=tf, timeout=5000)


def full_value(types):
    return types.All(
        b=True, i8v=-128, i16v=32767, i32v=-2147483648, i64v=-(1 << 63) + 1, d=0.1,
        s="h\u00e9llo", bin=b"a\x00b\xff", color=2, li=[1, 2, 3], ss={"x", "y"},
        msi={"one": 1, "two": (1 << 62)}, mis={1: "a", -5: "b"}, mci={1: 1, 3: 3}, mstruct={},
        inner=types.Inner(n=3, s="in"), choice=types.Choice(b="bee"), nested=[[1, 2], [], [3]],
        opt=4, mbd={True: 1.5}, inners=[types.Inner(n=1, s="a"), types.Inner(n=2, s="b")])


def exercise(which, client, label, peer, types=None, oops=None):
    try:
        if which == "pingpong":
            check(client.ping() == "pong", label + ": ping")
            check(client.add(2, 40) == 42, label + ": add(2, 40)")
        elif which == "kv":
            client.setk("alpha", "1")
            client.setk("beta", "2")
            check(client.getk("alpha") == "1", label + ": setk/getk")
            check(client.getk("nope") == "", label + ": getk of a missing key")
            check(sorted(client.keys()) == ["alpha", "beta"], label + ": keys")
        elif which == "sleep":
            t0 = time.time()
            client.sleep(2)
            check(time.time() - t0 < 1.0, label + ": oneway sleep returns at once")
        else:
            v = full_value(types)
            back = client.echo(v)
            if back is not None and isinstance(back.ss, list):  # thriftpy 0.3.9 reads sets as lists
                back.ss = set(back.ss)
            check(back == v, label + ": a struct with every type echoed through a Lua handler",
                  "sent: %r\ngot:  %r" % (v, back))
            check(client.add(1 << 40, 2) == (1 << 40) + 2, label + ": add i64")
            try:
                client.fail(7)
                check(False, label + ": declared exception from a Lua handler")
            except oops as e:
                check(e.code == 7 and e.message == "from Lua", label + ": declared exception from a Lua handler",
                      repr(e))
            try:
                client.crash("lua boom")
                check(False, label + ": Lua error -> TApplicationException")
            except Exception as e:  # noqa: BLE001 (either library's TApplicationException)
                check(getattr(e, "type", None) == 6 and "lua boom" in str(getattr(e, "message", e)),
                      label + ": Lua error -> TApplicationException INTERNAL_ERROR", repr(e))
            check(client.add(1, 1) == 2, label + ": connection kept after the handler error")
    except Exception as e:  # noqa: BLE001
        check(False, label + ": unexpected error", repr(e))


for which in ("pingpong", "kv", "sleep", "everything"):
    for framing in ("buffered", "framed"):
        for proto in ("binary", "compact"):
            p, port = start_lua_server(which, proto, framing)
            check(port is not None, "Lua server %s %s/%s up" % (which, proto, framing))
            if not port:
                continue
            label = "Apache client -> Lua server %s %s/%s" % (which, proto, framing)
            client, trans = ap_client(which, port, proto, framing)
            exercise(which, client, label, "apache", ap_types, ap_types.Oops)
            trans.close()
            if proto == "binary":
                label = "thriftpy client -> Lua server %s binary/%s" % (which, framing)
                c = tp_client(which, port, framing)
                exercise(which, c, label, "thriftpy", tp["everything"], tp["everything"].Oops)
                c.close()
            early = ""
            if which == "sleep":
                # A graceful stop drops requests not yet read: wait for the
                # oneway calls to reach the handler first.
                want = 2 if proto == "binary" else 1
                end = time.time() + 5
                while early.count("SLEEP 2") < want and time.time() < end:
                    early += p.stdout.readline()
                check(early.count("SLEEP 2") == want,
                      "Lua server sleep %s/%s: the oneway calls reached the handler" % (proto, framing), early)
            out, err = stop_lua_server(p)
            check("STOPPED" in out, "Lua server %s %s/%s: SIGTERM ends srv:run()" % (which, proto, framing),
                  early + out + err)

sys.exit(TAP.done())
