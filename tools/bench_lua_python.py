#!/usr/bin/python3
"""The Python binding's side of tools/bench_lua.sh: the same work as
tools/bench_lua.lua, with the same output lines, so the three hosts (C, Lua,
Python) are measured in one run.

    PYTHONPATH=BUILD/src/python /usr/bin/python3 tools/bench_lua_python.py codec IDL PAYLOAD.bin SECONDS
    PYTHONPATH=BUILD/src/python /usr/bin/python3 tools/bench_lua_python.py add IDL HOST:PORT SECONDS

codec: encode/decode of the bench Payload from/to Python objects (the
binding's classes), binary and compact, best of 5 batches as bench_lua.lua;
add: client.add(i, 1) calls/s on one framed binary connection, one call at
a time, with this process's CPU time per call."""
import sys
import time

import dynthrift
from dynthrift.protocol import TBinaryProtocolFactory, TCompactProtocolFactory
from dynthrift.rpc import make_client
from dynthrift.transport import TFramedTransportFactory
from dynthrift.utils import deserialize, serialize

VM = "Python%d.%d" % sys.version_info[:2]


def codec(idl, payload_path, seconds):
    m = dynthrift.load(idl)
    with open(payload_path, "rb") as f:
        payload = deserialize(m.Payload, f.read())  # the Payload as Python objects
    for name, pf in (("binary", TBinaryProtocolFactory()), ("compact", TCompactProtocolFactory())):
        wire = serialize(payload, pf)
        for op in ("encode", "decode"):
            if op == "encode":
                def fn():
                    return serialize(payload, pf)
            else:
                def fn():
                    return deserialize(m.Payload, wire, pf)
            best = float("inf")
            rounds = 5
            for _ in range(rounds):
                n, t0 = 0, time.perf_counter()
                stop, t = t0 + seconds / rounds, t0
                while t < stop:
                    for _ in range(100):
                        fn()
                    n += 100
                    t = time.perf_counter()
                best = min(best, (t - t0) / n * 1e9)
            print("%s %s-%s ns/op=%.0f MB/s=%.1f" % (VM, op, name, best, len(wire) / best * 1e3))


def add(idl, target, seconds):
    m = dynthrift.load(idl)
    host, port = target.rsplit(":", 1)
    client = make_client(m.Bench, host, int(port), proto_factory=TBinaryProtocolFactory(),
                         trans_factory=TFramedTransportFactory(), timeout=5000)
    for i in range(2000):  # warm-up
        client.add(i, 1)
    n, t0, cpu0 = 0, time.monotonic(), time.process_time()
    t = t0
    while t < t0 + seconds:
        for i in range(1000):
            if client.add(i, 1) != i + 1:
                raise SystemExit("wrong sum")
        n += 1000
        t = time.monotonic()
    print("%s calls=%d seconds=%.2f cps=%.0f cpu_us=%.2f"
          % (VM, n, t - t0, n / (t - t0), (time.process_time() - cpu0) / n * 1e6))
    client.close()


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] not in ("codec", "add"):
        sys.exit("usage: bench_lua_python.py codec|add IDL TARGET SECONDS")
    (codec if sys.argv[1] == "codec" else add)(sys.argv[2], sys.argv[3], float(sys.argv[4]))
