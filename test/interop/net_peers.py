#!/usr/bin/python3
"""Interop of dynthrift's connection layer with peers it did not write.

dynthrift client (test/interop/net/seed_peer.c, compiled here against the
build's static library) <-> thriftpy's make_server and Apache Thrift's Python
generated server; thriftpy's make_client and Apache's generated client <->
dynthrift server.  Buffered and framed, binary and compact.  Seeds:
pingpong ping/add, kv ping/setk/getk/keys, sleep oneway.

Prints TAP; skips when a peer is missing."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from testlib import (BUILD, IDL_SAMPLES as IDL, SRC, Tap, apache_client, apache_gen_py,
                     apache_server, free_port, require_programs, skip_all, thriftpy_factories,
                     thriftpy_server)

try:
    import thriftpy
    from thriftpy.rpc import make_client
    import thrift  # noqa: F401  (Apache's library)
except ImportError as e:
    skip_all("peer missing: %s" % e)
require_programs("thrift", "cc")

TAP = Tap()
check = TAP.ok
skip = TAP.skip

# thriftpy 0.3.9's compact protocol calls array.tostring(), removed in
# Python 3.9: its compact side cannot run here.
TP_COMPACT_BROKEN = not hasattr(__import__("array").array("B"), "tostring")


tmp = tempfile.mkdtemp(prefix="dynthrift-net-")
peer = os.path.join(tmp, "seed_peer")
lib = os.path.join(BUILD, "libdynthrift.a")
# A sanitized build's static library needs the same sanitizers at link time.
sanitize = []
try:
    with open(os.path.join(BUILD, "meson-info", "intro-buildoptions.json")) as f:
        for o in json.load(f):
            if o["name"] == "b_sanitize" and o["value"] not in ("none", ""):
                sanitize = ["-fsanitize=" + o["value"]]
except (OSError, ValueError, KeyError):
    pass
# The transport layers' libraries (OpenSSL, zlib), when the build used them:
# the static library names their symbols.
TRANSPORT_LIBS = []
with open(lib, "rb") as f:
    blob = f.read()
if b"SSL_CTX_new" in blob:
    TRANSPORT_LIBS += ["-lssl", "-lcrypto"]
if b"deflateInit_" in blob:
    TRANSPORT_LIBS += ["-lz"]
cc = subprocess.run(["cc", "-std=c11", "-D_GNU_SOURCE", "-O1"] + sanitize + [
                     "-I", os.path.join(SRC, "include"), "-I", os.path.join(SRC, "src"),
                     os.path.join(SRC, "test/interop/net/seed_peer.c"), lib,
                     "-lev", "-ljansson", "-lpthread", "-lm"] + TRANSPORT_LIBS + ["-o", peer],
                    capture_output=True, text=True)
if cc.returncode != 0:
    print("Bail out! cannot build seed_peer: " + cc.stderr)
    sys.exit(1)

# Apache's generated Python code for the seeds.
gen = os.path.join(tmp, "gen")
apache_gen_py(gen, *(os.path.join(IDL, f)
                     for f in ("pingpong.thrift", "kv.thrift", "sleep.thrift")))
import pingpong.PingPong as ApPingPong  # noqa: E402
import kv.KV as ApKV  # noqa: E402
import sleep.Sleep as ApSleep  # noqa: E402

tp_pingpong = thriftpy.load(os.path.join(IDL, "pingpong.thrift"), module_name="pingpong_thrift")
tp_kv = thriftpy.load(os.path.join(IDL, "kv.thrift"), module_name="kv_thrift")
tp_sleep = thriftpy.load(os.path.join(IDL, "sleep.thrift"), module_name="sleep_thrift")


class PingPongHandler:
    def ping(self):
        return "pong"

    def add(self, a, b):
        return a + b


class KVHandler:
    def __init__(self):
        self.d = {}

    def ping(self):
        return "pong"

    def setk(self, key, value):
        self.d[key] = value

    def getk(self, key):
        return self.d.get(key, "")

    def keys(self):
        return sorted(self.d)


class SleepHandler:
    def sleep(self, seconds):
        time.sleep(seconds)


def start_thriftpy_server(service, handler, proto, framing):
    # the client timeout thriftpy's make_server sets
    return thriftpy_server(service, handler, framing, proto, client_timeout=3000)


def start_apache_server(module, handler, proto, framing):
    return apache_server(module.Processor(handler), framing, proto)


def dyn_call(idl, service, port, proto, framing, *calls):
    args = [peer, "call", os.path.join(IDL, idl), service, "127.0.0.1:%d" % port, proto, framing]
    for m, j in calls:
        args += [m, j]
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    lines = r.stdout.splitlines()
    elapsed = None
    if lines and lines[-1].startswith("elapsed "):
        elapsed = float(lines.pop().split()[1])
    return lines, elapsed, r


def start_dyn_server(idl, proto, framing):
    p = subprocess.Popen([peer, "serve", os.path.join(IDL, idl), "127.0.0.1:0", proto, framing],
                         stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().split()
    port = int(line[1]) if len(line) == 2 and line[0] == "port" else 0
    return p, port


def ap_client(module, port, proto, framing):
    return apache_client(module.Client, port, framing, proto, timeout_ms=None)


combos = [(p, f) for p in ("binary", "compact") for f in ("buffered", "framed")]
servers_started = []

for proto, framing in combos:
    tag = "%s/%s" % (proto, framing)
    # ---- dynthrift client -> thriftpy and Apache servers -----------------
    for name, start in (("thriftpy", lambda s, h, m: start_thriftpy_server(s, h, proto, framing)),
                        ("apache-py", lambda s, h, m: start_apache_server(m, h, proto, framing))):
        if name == "thriftpy" and proto == "compact" and TP_COMPACT_BROKEN:
            skip("%s: dynthrift client -> thriftpy server" % tag, "thriftpy compact broken on this Python")
            continue
        port = start(tp_pingpong.PingPong, PingPongHandler(), ApPingPong)
        out, _, r = dyn_call("pingpong.thrift", "PingPong", port, proto, framing,
                             ("ping", ""), ("add", '{"a": 2, "b": 40}'), ("add", "[-5, 3000000000]"))
        check(out == ['ok "pong"', "ok 42", "ok 2999999995"],
              "%s: dynthrift client -> %s server: pingpong ping/add" % (tag, name), (out, r.stderr))
        port = start(tp_kv.KV, KVHandler(), ApKV)
        out, _, r = dyn_call("kv.thrift", "KV", port, proto, framing,
                             ("ping", ""), ("setk", '{"key": "b", "value": "2"}'),
                             ("setk", '["a", "1"]'), ("getk", '{"key": "a"}'),
                             ("getk", '{"key": "zz"}'), ("keys", ""))
        check(out == ['ok "pong"', "ok null", "ok null", 'ok "1"', 'ok ""', 'ok ["a","b"]'],
              "%s: dynthrift client -> %s server: kv ping/setk/getk/keys" % (tag, name),
              (out, r.stderr))
        port = start(tp_sleep.Sleep, SleepHandler(), ApSleep)
        out, elapsed, r = dyn_call("sleep.thrift", "Sleep", port, proto, framing,
                                   ("sleep", '{"seconds": 2}'))
        check(out == ["ok null"] and elapsed is not None and elapsed < 1.0,
              "%s: dynthrift client -> %s server: oneway sleep returns at once (%s s)"
              % (tag, name, elapsed), (out, r.stderr))

    # ---- thriftpy and Apache clients -> dynthrift server ----------------
    tp_ok = not (proto == "compact" and TP_COMPACT_BROKEN)
    if not tp_ok:
        skip("%s: thriftpy client -> dynthrift server" % tag, "thriftpy compact broken on this Python")
    p, port = start_dyn_server("pingpong.thrift", proto, framing)
    servers_started.append(p)
    try:
        if not tp_ok:
            raise StopIteration
        tf, pf = thriftpy_factories(framing, proto)
        c = make_client(tp_pingpong.PingPong, "127.0.0.1", port, proto_factory=pf, trans_factory=tf)
        res = (c.ping(), c.add(2, 40), c.add(-1, 2 ** 40))
        c.close()
        check(res == ("pong", 42, 2 ** 40 - 1),
              "%s: thriftpy client -> dynthrift server: pingpong" % tag, res)
    except StopIteration:
        pass
    except Exception as e:  # noqa: BLE001
        check(False, "%s: thriftpy client -> dynthrift server: pingpong" % tag, repr(e))
    try:
        c, t = ap_client(ApPingPong, port, proto, framing)
        res = (c.ping(), c.add(2, 40))
        t.close()
        check(res == ("pong", 42), "%s: apache-py client -> dynthrift server: pingpong" % tag, res)
    except Exception as e:  # noqa: BLE001
        check(False, "%s: apache-py client -> dynthrift server: pingpong" % tag, repr(e))
    p.kill()

    p, port = start_dyn_server("kv.thrift", proto, framing)
    servers_started.append(p)
    try:
        base = []
        if tp_ok:
            tf, pf = thriftpy_factories(framing, proto)
            c = make_client(tp_kv.KV, "127.0.0.1", port, proto_factory=pf, trans_factory=tf)
            c.setk("x", "1")
            c.setk("y", "2")
            res = (c.ping(), c.getk("x"), c.getk("nope"), sorted(c.keys()))
            c.close()
            check(res == ("pong", "1", "", ["x", "y"]),
                  "%s: thriftpy client -> dynthrift server: kv" % tag, res)
            base = ["x", "y"]
        c, t = ap_client(ApKV, port, proto, framing)
        c.setk("z", "3")
        res = (c.ping(), c.getk("z"), c.getk("nope"), sorted(c.keys()))
        t.close()
        check(res == ("pong", "3", "", base + ["z"]),
              "%s: apache-py client -> dynthrift server: kv" % tag, res)
    except Exception as e:  # noqa: BLE001
        check(False, "%s: clients -> dynthrift server: kv" % tag, repr(e))
    p.kill()

    p, port = start_dyn_server("sleep.thrift", proto, framing)
    servers_started.append(p)
    try:
        if not tp_ok:
            raise StopIteration
        tf, pf = thriftpy_factories(framing, proto)
        c = make_client(tp_sleep.Sleep, "127.0.0.1", port, proto_factory=pf, trans_factory=tf)
        t0 = time.time()
        c.sleep(2)
        dt = time.time() - t0
        c.close()
        check(dt < 1.0, "%s: thriftpy client -> dynthrift server: oneway sleep returns at once" % tag, dt)
    except StopIteration:
        pass
    except Exception as e:  # noqa: BLE001
        check(False, "%s: thriftpy client -> dynthrift server: oneway sleep" % tag, repr(e))
    try:
        c, t = ap_client(ApSleep, port, proto, framing)
        t0 = time.time()
        c.sleep(2)
        dt = time.time() - t0
        t.close()
        check(dt < 1.0, "%s: apache-py client -> dynthrift server: oneway sleep returns at once" % tag, dt)
    except Exception as e:  # noqa: BLE001
        check(False, "%s: apache-py client -> dynthrift server: oneway sleep" % tag, repr(e))
    p.kill()

# The dynthrift client against a server that is not there.
out, _, r = dyn_call("pingpong.thrift", "PingPong", free_port(), "binary", "framed", ("ping", ""))
check(out and out[0].startswith("error THRIFT_TRANSPORT"), "connection refused is reported", out)

for p in servers_started:
    p.wait()
shutil.rmtree(tmp, ignore_errors=True)
sys.exit(TAP.done())
