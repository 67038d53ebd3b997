#!/usr/bin/python3
"""`dynthrift gateway --upstream zk://...`: the gateway's upstream is the
ALIVE members of a ZooKeeper ServerSet, on a real ZooKeeper
(test/zk/zk_server.sh).  Two thriftpy servers (python3-thriftpy, threads of
this process, each counting its calls) are registered by kazoo, an
independent client; calls through the gateway must reach both
(round-robin); after kazoo deletes one member every call goes to the other.

TAP on stdout; skips when java, ZooKeeper, kazoo or thriftpy is missing.
Loopback only; every process is stopped by its own PID.  Environment:
DYNTHRIFT_CLI, DYNTHRIFT_SOURCE_ROOT."""
import http.client
import json
import logging
import os
import shutil
import tempfile
import time

from testlib import (CLI, IDL_SAMPLES, BenchHandler, Listening, Tap, ZooKeeper, require_cli,
                     require_zookeeper, run_script, serverset_member, skip_all, thriftpy_server)

BENCH = os.path.join(IDL_SAMPLES, "bench.thrift")

require_zookeeper()
try:
    import thriftpy
except ImportError as e:
    skip_all("peer missing: %s" % e)
require_cli()
from kazoo.client import KazooClient  # noqa: E402

logging.disable(logging.CRITICAL)
TMP = tempfile.mkdtemp(prefix="dynthrift-gwzk-")
TAP = Tap(diag_lines=20)
ok = TAP.ok
ZK = ZooKeeper(os.path.join(TMP, "zk"))


def counting_server(mod, calls):
    return thriftpy_server(mod.Bench, BenchHandler(mod.BenchError, calls))


def member(port):
    return serverset_member("127.0.0.1", port)


def start_gateway(url):
    return Listening([CLI, "gateway", BENCH, "--upstream", url, "--listen", "127.0.0.1:0"],
                     os.path.join(TMP, "gw.stderr"), timeout=20)


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
    zk_port = ZK.start()
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

    gateway = start_gateway(url)
    port = gateway.port
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

    rc = gateway.stop()
    err = gateway.log()
    ok(rc == 0 and "upstream " + url in err, "gateway stopped cleanly (exit %s)" % rc, err)
    zk.stop()
    zk.close()


if __name__ == "__main__":
    run_script(TAP, main, ZK.stop, lambda: shutil.rmtree(TMP, ignore_errors=True))
