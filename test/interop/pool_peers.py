#!/usr/bin/python3
"""A thriftpy server among dynthrift servers behind one dynthrift cluster.

Starts a thriftpy (python3-thriftpy) server for the Calc service of
test/unit/net_fixture.h (framed, binary: dynthrift's defaults), then runs
the build's test_pool binary with --peer-only and DYNTHRIFT_POOL_PEER set:
three in-process dynthrift servers plus this one answer hashed, balanced and
replicated calls, while dynthrift servers are killed and brought back.

Prints TAP (relayed from test_pool); skips when thriftpy or the
test binary is missing."""
import os
import subprocess
import sys
import tempfile

from testlib import BUILD, skip_all, thriftpy_server

TEST = os.path.join(BUILD, "test", "test_pool")

try:
    import thriftpy
except ImportError as e:
    skip_all("peer missing: %s" % e)
if not os.path.exists(TEST):
    skip_all("%s not built" % TEST)

# The Calc service as test/unit/net_fixture.h declares it.
IDL = """
exception BenchError { 1: i32 code, 2: string message }
exception OtherError { 1: string why }
service Calc {
  string ping(),
  i64 add(1: i32 a, 2: i64 b),
  void nothing(),
  oneway void fire(1: i32 n),
  i32 fail(1: i32 code) throws (1: BenchError err, 2: OtherError other),
  i32 slow(1: i32 ms),
  i32 need(1: required i32 x),
  i32 boom(),
  string unimplemented(),
}
"""


class Handler(object):
    def ping(self):
        return "pong"

    def add(self, a, b):
        return a + b

    def nothing(self):
        pass


def main():
    tmp = tempfile.mkdtemp(prefix="pool_peers")
    path = os.path.join(tmp, "calc.thrift")
    with open(path, "w") as f:
        f.write(IDL)
    calc = thriftpy.load(path, module_name="calc_thrift")
    # framed, binary: dynthrift's defaults; the client timeout thriftpy's
    # make_server sets
    port = thriftpy_server(calc.Calc, Handler(), "framed", "binary", client_timeout=3000)
    env = dict(os.environ, DYNTHRIFT_POOL_PEER="127.0.0.1:%d" % port)
    try:
        p = subprocess.run([TEST, "--peer-only"], env=env, timeout=300,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except subprocess.TimeoutExpired:
        print("1..1\nnot ok 1 - test_pool --peer-only timed out")
        return 1
    out = p.stdout.decode("utf-8", "replace")
    sys.stdout.write(out)
    sys.stdout.flush()
    return 0 if p.returncode == 0 and "not ok" not in out else 1


if __name__ == "__main__":
    sys.exit(main())
