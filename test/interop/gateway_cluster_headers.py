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
import subprocess
import time

from testlib import (CLI, PINGPONG, Tap, apache_gen_py, apache_theader_server,
                     dynthrift_listening, raw_server, require_apache_thrift, require_cli,
                     run_script, temp_dir)

require_cli()
require_apache_thrift()

logging.disable(logging.CRITICAL)
TMP = temp_dir("gw-cluster-headers")
TAP = Tap()
ok = TAP.ok
PROCS = []
SOCKETS = []


def Proc(args):
    p = dynthrift_listening(args, TMP)
    PROCS.append(p)
    return p


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


def header_handler(current):
    """Answers the same headers as EXEC_HANDLER, as 'apache'."""
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
    return Handler()


def silent_server():
    """Accepts and never answers."""
    addr, ls = raw_server()
    SOCKETS.append(ls)
    return addr


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
               "127.0.0.1:0"])
    port = gw.port
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
    apache_gen_py(os.path.join(TMP, "gen"), PINGPONG)
    from pingpong import PingPong
    handler = os.path.join(TMP, "handler.py")
    with open(handler, "w") as f:
        f.write(EXEC_HANDLER)
    try:
        members = [Proc(["serve", PINGPONG, "PingPong", "--addr", "127.0.0.1:0", "--exec",
                         "/usr/bin/python3 %s %s" % (handler, name)]).addr
                   for name in ("one", "two")]
        members.append("127.0.0.1:%d" % apache_theader_server(PingPong, header_handler))
        check_headers(members)
        check_deadline()
    finally:
        for p in PROCS:
            p.stop()
        for s in SOCKETS:
            s.close()


if __name__ == "__main__":
    run_script(TAP, main)
