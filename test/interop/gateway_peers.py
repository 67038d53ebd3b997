#!/usr/bin/python3
"""The JSON/HTTP gateway (issue 16) in front of real Thrift servers, driven
as `dynthrift gateway --request METHOD PATH` processes (the gateway's
routing, mapping and upstream calls; the HTTP listener comes with the
transport stack's HTTP server):

- Apache's Python TThreadedServer (binary/compact x buffered/framed) and
  thriftpy's threaded server (binary, framed and buffered; its compact
  protocol is broken on this Python): add,
  echo(Payload) with nested lists/maps/sets/binary/enum, a void method, a
  declared exception (200 + X-Thrift-Exception), a TApplicationException
  (502 with its type), oneway (202);
- 400 naming the value path, 404, 405, 503 for a closed port, 504 for a
  server that never answers (X-Request-Timeout-Ms), CORS headers;
- the OpenAPI document: structure checked, every $ref resolved, and every
  operation called with a request body built from the document alone by a
  small generic builder; each 200 answer checked against the document's
  response schema;
- the embedded web UI files served (GET /, /ui/app.js, /ui/config.json);
- a cluster upstream (--upstream A,B and repeated --upstream): an Apache and
  a thriftpy server both answer (round-robin), --hash-arg keeps a key on one
  server, a dead member gives at most one 503 and is then left out.

TAP on stdout; skips when a peer is missing.  Loopback only; the peers
are threads of this process.  Environment: DYNTHRIFT_CLI,
DYNTHRIFT_SOURCE_ROOT.
"""
import base64
import http.client
import json
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time

from testlib import (CLI, IDL_SAMPLES, BenchHandler, Listening, Tap, apache_gen_py,
                     apache_server as start_apache_server, free_port, raw_server, require_cli,
                     require_programs, run_script, skip_all,
                     thriftpy_server as start_thriftpy_server)

BENCH = os.path.join(IDL_SAMPLES, "bench.thrift")
DEADLINE = time.time() + 600

try:
    import thrift  # noqa: F401  (Apache's library: the servers below)
    import thriftpy
except ImportError as e:
    skip_all("python3-thrift or python3-thriftpy missing: %s" % e)
require_cli()
require_programs("thrift")

logging.disable(logging.CRITICAL)
TMP = tempfile.mkdtemp(prefix="dynthrift-gateway-")
UNCLEAN = []  # gateway runs that exited non-zero or wrote to stderr
TAP = Tap(diag_lines=30)
ok = TAP.ok


class Reply:
    def __init__(self, rc, out, err):
        self.rc, self.err = rc, err.decode(errors="replace")
        self.status, self.headers, self.body = 0, {}, b""
        head, _, body = out.partition(b"\r\n\r\n")
        lines = head.decode(errors="replace").split("\r\n")
        if lines and lines[0].startswith("HTTP/1.1 "):
            self.status = int(lines[0].split()[1])
            for line in lines[1:]:
                k, _, v = line.partition(":")
                self.headers[k.strip().lower()] = v.strip()
            self.body = body

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def __repr__(self):
        return "rc=%d status=%d headers=%r body=%r err=%r" % (
            self.rc, self.status, self.headers, self.body[:400], self.err[:400])


def gateway(upstream, method, path, body=None, flags=(), headers=(), idl=BENCH):
    args = [CLI, "gateway", idl, "--upstream", upstream, "--request", method, path]
    args += list(flags)
    for h in headers:
        args += ["--request-header", h]
    p = subprocess.run(args, input=(body or "").encode(), capture_output=True,
                       timeout=min(60, max(1, DEADLINE - time.time())))
    if p.returncode != 0 or p.stderr:
        UNCLEAN.append((args[3:], p.returncode, p.stderr[-500:]))
    return Reply(p.returncode, p.stdout, p.stderr)


class Listener(Listening):
    """`dynthrift gateway ... --listen 127.0.0.1:0`, port read from stderr;
    stopped by its own PID."""

    def __init__(self, upstream, flags=(), idl=BENCH):
        super().__init__([CLI, "gateway", idl, "--upstream", upstream,
                          "--listen", "127.0.0.1:0"] + list(flags),
                         os.path.join(TMP, "gw%d.stderr" % len(LISTENERS)))
        LISTENERS.append(self)

    def stop(self):
        """(exit status, its stderr)."""
        super().stop()
        return self.proc.returncode, self.log()


LISTENERS = []


def raw_exchange(port, data, timeout=5.0, shut=False):
    """Sends `data` on a new connection, returns (everything read until the
    server closes or `timeout`, whether it closed, seconds taken)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(timeout)
    t0 = time.time()
    got, closed = b"", False
    try:
        if data:
            s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                closed = True
                break
            got += chunk
    except socket.timeout:
        pass
    except ConnectionResetError:
        closed = True
    finally:
        s.close()
    return got, closed, time.time() - t0


def check_listener(addr):
    gw = Listener(addr, ["--client-timeout", "500", "--max-body", "100000",
                         "--cors", "http://ui.test"])
    port = gw.port
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("POST", "/Bench/add", body='{"a": 2, "b": 40}',
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    body = r.read()
    ok(r.status == 200 and json.loads(body) == {"result": 42},
       "HTTP listener: POST /Bench/add over http.client -> 42", (r.status, body))
    sock_before = c.sock
    c.request("POST", "/Bench/echo", body=json.dumps({"p": PAYLOAD}))
    r = c.getresponse()
    got = json.loads(r.read())
    ok(r.status == 200 and got == {"result": PAYLOAD} and c.sock is sock_before,
       "HTTP/1.1 keep-alive: a second request (echo Payload) on the same connection")
    c.request("POST", "/Bench/fail", body='{"code": 5}')
    r = c.getresponse()
    ok(r.status == 200 and r.getheader("X-Thrift-Exception") == "BenchError"
       and json.loads(r.read())["value"]["code"] == 5,
       "HTTP listener: declared exception with X-Thrift-Exception")
    c.request("GET", "/openapi.json")
    r = c.getresponse()
    ok(r.status == 200 and json.loads(r.read())["openapi"].startswith("3."),
       "HTTP listener: GET /openapi.json")
    c.request("OPTIONS", "/Bench/add", headers={"Origin": "http://ui.test",
                                                "Access-Control-Request-Method": "POST"})
    r = c.getresponse()
    r.read()
    ok(r.status == 204 and r.getheader("Access-Control-Allow-Origin") == "http://ui.test"
       and "X-Request-Timeout-Ms" in (r.getheader("Access-Control-Allow-Headers") or ""),
       "CORS preflight answered for the allowed origin")
    c.close()

    # Pipelined: three requests in one write, answers in order, the middle
    # one slow upstream would still come second; here by their bodies.
    reqs = b"".join(b"POST /Bench/add HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(b), b) for b in (b'[1, 1]', b'[2, 2]', b'[3, 3]'))
    got, closed, _ = raw_exchange(port, reqs + b"GET /schema HTTP/1.1\r\nConnection: close\r\n\r\n")
    results = [json.loads(part.split(b"\r\n\r\n", 1)[1][:13].split(b"}")[0] + b"}")
               for part in got.split(b"HTTP/1.1 200 OK")[1:4]]
    ok(got.count(b"HTTP/1.1 200 OK") == 4 and results == [{"result": 2}, {"result": 4},
                                                          {"result": 6}] and closed,
       "pipelined requests answered in order; Connection: close honoured", got[:300])

    # Many pipelined requests (more than the 64 outstanding per connection).
    many = b"".join(b"POST /Bench/add HTTP/1.1\r\nContent-Length: 6\r\n\r\n[%d, 1]" % (i % 9)
                    for i in range(200))
    got, closed, _ = raw_exchange(port, many, shut=True)
    ok(got.count(b"HTTP/1.1 200 OK") == 200 and closed,
       "200 pipelined requests (reading pauses at 64 outstanding), all answered, then closed "
       "after the client's EOF (%d)" % got.count(b"HTTP/1.1 200 OK"), got[-300:])

    # Hostile clients.
    got, closed, took = raw_exchange(port, b"POST /Bench/echo HTTP/1.1\r\nContent-Length: "
                                     b"500000\r\n\r\n" + b"x" * 1000)
    ok(got.startswith(b"HTTP/1.1 413") and closed and took < 3,
       "oversized body (Content-Length over --max-body) -> 413 and close", got[:100])
    got, closed, took = raw_exchange(port, b"GET /schema HTTP/1.1\r\nX-Slow: ")
    ok(closed and took < 3 and got.startswith(b"HTTP/1.1 408"),
       "slowloris headers -> 408 and close after --client-timeout (%.2f s)" % took, got[:100])
    got, closed, took = raw_exchange(port, b"POST /Bench/add HTTP/1.1\r\nContent-Length: 100"
                                     b"\r\n\r\n{\"a\"")
    ok(closed and took < 3 and got.startswith(b"HTTP/1.1 408"),
       "a body that stops arriving -> 408 and close (%.2f s)" % took, got[:100])
    got, closed, took = raw_exchange(
        port, b"POST /Bench/add HTTP/1.1\r\nContent-Length: 6\r\n\r\n[1, 2]"
              b"\x16\x03\x01garbage\r\n\r\nmore garbage")
    ok(got.startswith(b"HTTP/1.1 200 OK") and b"HTTP/1.1 400" in got and closed and took < 3,
       "pipelined garbage after a good request: the good one answered, then 400 and close",
       got[:300])
    got, closed, took = raw_exchange(port, b"GET / HTTP/1.1\r\n" + b"X-Big: " + b"y" * 20000
                                     + b"\r\n\r\n")
    ok(got.startswith(b"HTTP/1.1 431") and closed, "a 20 KB header -> 431 and close", got[:100])
    got, closed, took = raw_exchange(port, b"POST /Bench/add HTTP/1.1\r\nContent-Length: 5\r\n"
                                     b"Content-Length: 6\r\n\r\n[1,2]]")
    ok(got.startswith(b"HTTP/1.1 400") and closed, "two different Content-Lengths -> 400",
       got[:100])
    # Still serving after all that, with a deadline header.
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("POST", "/Bench/add", body="[20, 22]", headers={"X-Request-Timeout-Ms": "2000"})
    r = c.getresponse()
    ok(r.status == 200 and json.loads(r.read()) == {"result": 42},
       "the gateway still serves after the hostile clients")
    c.close()
    rc, log = gw.stop()
    ok(rc == 0, "SIGTERM stops the gateway cleanly (exit %s)" % rc, log)

    # Idle keep-alive connections close; connections beyond the limit too.
    gw = Listener(addr, ["--idle-timeout", "300", "--max-connections", "2"])
    c1 = socket.create_connection(("127.0.0.1", gw.port))
    c2 = socket.create_connection(("127.0.0.1", gw.port))
    time.sleep(0.1)
    got, closed, took = raw_exchange(gw.port, b"GET /schema HTTP/1.1\r\n\r\n", timeout=3)
    ok(closed and got == b"", "--max-connections 2: a third connection is closed at once", got[:80])
    c1.settimeout(3)
    t0 = time.time()
    ok(c1.recv(10) == b"" and time.time() - t0 < 2, "--idle-timeout 300: an idle connection closes")
    c1.close()
    c2.close()
    gw.stop()

    # The deadline header against a server that never answers.
    silent, ls = raw_server()  # accepts, never answers
    gw = Listener(silent)
    c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    t0 = time.time()
    c.request("POST", "/Bench/add", body="[1, 2]", headers={"X-Request-Timeout-Ms": "250"})
    r = c.getresponse()
    r.read()
    took = time.time() - t0
    ok(r.status == 504 and took < 2, "HTTP: X-Request-Timeout-Ms 250 -> 504 in %.2f s" % took)
    c.close()
    gw.stop()
    ls.close()


# ---- peers ------------------------------------------------------------------

def apache_server(gen, types, transport, protocol, calls=None):
    """`calls` (a list) records the `a` of every add this server answers."""
    handler = BenchHandler(types.BenchError, calls, fail_add_of=9)
    return "127.0.0.1:%d" % start_apache_server(gen.Processor(handler), transport, protocol)


def thriftpy_server(mod, transport, protocol, calls=None):
    return "127.0.0.1:%d" % start_thriftpy_server(mod.Bench, BenchHandler(mod.BenchError, calls),
                                                  transport, protocol)


def closed_port():
    return "127.0.0.1:%d" % free_port()


PAYLOAD = {
    "request_id": 9007199254740993,  # beyond 2^53: must stay exact
    "users": [
        {"id": -9223372036854775808, "name": "ünïcode ☃", "email": "a@b.c",
         "status": "SUSPENDED", "verified": True, "age": -3, "level": 7,
         "tags": ["x", "y"], "counters": {"k": 9223372036854775807}, "groups": [1, 2],
         "address": {"street": "s", "city": "c", "zip": 12345, "lat": 0.1, "lon": -1e+300},
         "avatar": base64.b64encode(bytes(range(256))).decode()},
        {"id": 2, "name": "plain", "status": "ACTIVE", "verified": False, "age": 0, "level": 0,
         "tags": [], "counters": {}, "groups": [], "avatar": ""},
    ],
    "meta": {"k": "v", "": "empty key"},
    "score": 2.5,
}


def check_peer(label, addr, flags, apache):
    r = gateway(addr, "POST", "/Bench/add", '{"a": 2, "b": 40}', flags)
    ok(r.status == 200 and r.json() == {"result": 42}, "%s: add by name -> 200 {result: 42}" % label, r)
    r = gateway(addr, "POST", "/Bench/add", "[4611686018427387904, 4611686018427387903]", flags)
    ok(r.status == 200 and r.body == b'{"result":9223372036854775807}',
       "%s: add by position, i64 exact at the top of its range" % label, r)
    r = gateway(addr, "POST", "/Bench/echo", json.dumps({"p": PAYLOAD}), flags)
    got = r.json()
    ok(r.status == 200 and got and got.get("result") == PAYLOAD,
       "%s: echo(Payload) with nested lists, maps, sets, binary, enums, i64 extremes" % label, r)
    r = gateway(addr, "POST", "/Bench/ping", "", flags)
    ok(r.status == 200 and r.json() == {"result": None}, "%s: void ping, empty body" % label, r)
    r = gateway(addr, "POST", "/Bench/fail", '{"code": 7}', flags)
    ok(r.status == 200 and r.headers.get("x-thrift-exception") == "BenchError"
       and r.json() == {"exception": "BenchError",
                        "value": {"code": 7, "message": "failed with 7"}},
       "%s: declared exception -> 200, X-Thrift-Exception, {exception, value}" % label, r)
    r = gateway(addr, "POST", "/Bench/fire", '{"n": 1}', flags)
    ok(r.status == 202 and r.json() == {}, "%s: oneway -> 202" % label, r)
    if apache:
        r = gateway(addr, "POST", "/Bench/add", '{"a": 9, "b": 1}', flags)
        e = (r.json() or {}).get("error", {})
        ok(r.status == 502 and e.get("type") == "INTERNAL_ERROR" and e.get("type_id") == 6,
           "%s: TApplicationException -> 502 with its type" % label, r)


def post_adds(port, pairs):
    """POSTs /Bench/add for each (a, b) on one keep-alive connection;
    returns [(status, parsed body)]."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    out = []
    for a, b in pairs:
        c.request("POST", "/Bench/add", body=json.dumps({"a": a, "b": b}))
        r = c.getresponse()
        body = r.read()
        try:
            out.append((r.status, json.loads(body)))
        except ValueError:
            out.append((r.status, body))
    c.close()
    return out


def check_cluster(gen, types, tp):
    """--upstream with several servers: an Apache and a thriftpy server
    behind one gateway, round-robin, hashing, and a member that is down."""
    apache_calls, tp_calls = [], []
    a = apache_server(gen, types, "framed", "binary", apache_calls)
    t = thriftpy_server(tp, "framed", "binary", tp_calls)
    for label, upstream, flags in (("--upstream A,B", a + "," + t, []),
                                   ("--upstream A --upstream B", a, ["--upstream", t])):
        del apache_calls[:], tp_calls[:]
        gw = Listener(upstream, flags)
        got = post_adds(gw.port, [(i, 100) for i in range(1, 9)])
        rc, err = gw.stop()
        ok(got == [(200, {"result": i + 100}) for i in range(1, 9)],
           "cluster %s: 8 adds answered 200 with their sums" % label, got)
        ok(sorted(apache_calls + tp_calls) == list(range(1, 9))
           and len(apache_calls) == 4 and len(tp_calls) == 4,
           "cluster %s: round-robin, 4 calls each to the Apache and the thriftpy server "
           "(%d, %d)" % (label, len(apache_calls), len(tp_calls)), (apache_calls, tp_calls))
        ok(rc == 0 and "upstream " + a + "," + t in err,
           "cluster %s: gateway stopped cleanly, names both upstreams" % label, (rc, err))

    del apache_calls[:], tp_calls[:]
    gw = Listener(a + "," + t, ["--hash-arg", "a"])
    got = post_adds(gw.port, [(7, 1)] * 4 + [(8, 1)] * 4)
    rc, _ = gw.stop()
    ok(all(s == 200 for s, _ in got) and rc == 0
       and sorted(apache_calls) in ([], [7] * 4, [8] * 4, [7] * 4 + [8] * 4)
       and sorted(apache_calls + tp_calls) == [7] * 4 + [8] * 4,
       "cluster --hash-arg a: every call with the same a goes to the same server",
       (got, apache_calls, tp_calls))

    # A member that is down: the call routed to it answers 503 and it is
    # left out (back-off) -- the others go to the live server.
    del apache_calls[:]
    dead = closed_port()
    gw = Listener(dead + "," + a)
    got = post_adds(gw.port, [(i, 0) for i in range(1, 9)])
    rc, _ = gw.stop()
    failed = [(s, b) for s, b in got if s != 200]
    ok(len(failed) <= 1 and all(s == 503 and "refused" in json.dumps(b) for s, b in failed)
       and len(apache_calls) == 8 - len(failed) and rc == 0,
       "cluster with a dead member: at most one 503 (connection refused), then the live "
       "server takes every call (%d 503s)" % len(failed), got)
    gw = Listener(closed_port() + "," + closed_port())
    got = post_adds(gw.port, [(1, 1), (2, 2), (3, 3)])
    gw.stop()
    ok([s for s, _ in got] == [503, 503, 503],
       "cluster with every member down: 503 (no server up)", got)

    r = subprocess.run([CLI, "gateway", BENCH, "--upstream", a, "--balance", "hash",
                        "--listen", "127.0.0.1:0"], capture_output=True, timeout=30)
    ok(r.returncode == 64 and b"--hash-arg" in r.stderr,
       "--balance hash without --hash-arg: usage error", r)
    r = subprocess.run([CLI, "gateway", BENCH, "--upstream", a + "," + t, "--hash-arg", "nope",
                        "--listen", "127.0.0.1:0"], capture_output=True, timeout=30)
    ok(r.returncode == 64 and b"--hash-arg nope" in r.stderr,
       "--hash-arg naming no argument of any method: usage error", r)
    r = subprocess.run([CLI, "gateway", BENCH, "--upstream", a + ",", "--listen", "127.0.0.1:0"],
                       capture_output=True, timeout=30)
    ok(r.returncode == 64 and b"empty server" in r.stderr,
       "--upstream with an empty list item: usage error", r)


# ---- OpenAPI: a generic checker and request builder ----------------------------

def resolve(doc, ref):
    assert ref.startswith("#/"), ref
    node = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def all_refs(node, out):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                out.append(v)
            else:
                all_refs(v, out)
    elif isinstance(node, list):
        for v in node:
            all_refs(v, out)
    return out


def example(doc, s, depth=0):
    """A value for schema `s`, from the document alone."""
    if "$ref" in s:
        return example(doc, resolve(doc, s["$ref"]), depth)
    if "allOf" in s:
        return example(doc, s["allOf"][0], depth)
    if "oneOf" in s:
        return example(doc, s["oneOf"][0], depth)
    if "default" in s:
        return s["default"]
    if "enum" in s:
        return s["enum"][-1]
    t = s.get("type")
    if t == "boolean":
        return True
    if t == "integer":
        return 2 ** 62 + 1 if s.get("format") == "int64" else min(s.get("maximum", 7), 7)
    if t == "number":
        return 1.5
    if t == "string":
        return {"byte": base64.b64encode(b"\x00\xffbytes").decode(),
                "uuid": "00112233-4455-6677-8899-aabbccddeeff"}.get(s.get("format"), "text")
    if t == "array":
        return [] if depth > 4 else [example(doc, s["items"], depth + 1)]
    if t == "object":
        if "additionalProperties" in s and s["additionalProperties"] is not False:
            return {} if depth > 4 else {"k": example(doc, s["additionalProperties"], depth + 1)}
        props = s.get("properties", {})
        names = list(props) if depth <= 4 else s.get("required", [])
        if s.get("maxProperties") == 1:
            names = names[:1]
        return {n: example(doc, props[n], depth + 1) for n in names}
    return None


def conforms(doc, s, v, path="$"):
    """None when `v` matches schema `s`, else where it does not."""
    if "$ref" in s:
        return conforms(doc, resolve(doc, s["$ref"]), v, path)
    if "allOf" in s:
        for sub in s["allOf"]:
            bad = conforms(doc, sub, v, path)
            if bad:
                return bad
    if "oneOf" in s:
        matches = [sub for sub in s["oneOf"] if conforms(doc, sub, v, path) is None]
        return None if len(matches) == 1 else "%s: %d oneOf branches match" % (path, len(matches))
    if v is None:
        return None if s.get("nullable") or not s.get("type") else "%s: null" % path
    if "enum" in s and v not in s["enum"]:
        return "%s: %r not in enum" % (path, v)
    t = s.get("type")
    if t == "integer" and not (isinstance(v, int) and not isinstance(v, bool)):
        return "%s: not an integer" % path
    if t == "number" and not isinstance(v, (int, float)):
        return "%s: not a number" % path
    if t == "string" and not isinstance(v, str):
        return "%s: not a string" % path
    if t == "boolean" and not isinstance(v, bool):
        return "%s: not a boolean" % path
    if t == "array":
        if not isinstance(v, list):
            return "%s: not an array" % path
        for i, item in enumerate(v):
            bad = conforms(doc, s["items"], item, "%s[%d]" % (path, i))
            if bad:
                return bad
    if t == "object":
        if not isinstance(v, dict):
            return "%s: not an object" % path
        for r in s.get("required", []):
            if r not in v:
                return "%s: %s missing" % (path, r)
        props = s.get("properties", {})
        for k, item in v.items():
            sub = props.get(k, s.get("additionalProperties", {}))
            if sub is False:
                return "%s: unexpected %s" % (path, k)
            bad = conforms(doc, sub if isinstance(sub, dict) else {}, item, "%s.%s" % (path, k))
            if bad:
                return bad
    return None


def check_openapi(addr):
    r = gateway(addr, "GET", "/openapi.json")
    doc = r.json()
    ok(r.status == 200 and doc and doc.get("openapi", "").startswith("3."),
       "GET /openapi.json: an OpenAPI 3 document", r)
    if not doc:
        return
    ok(all(k in doc for k in ("info", "paths", "components"))
       and doc["info"].get("title") and doc["info"].get("version"),
       "info, paths and components present")
    ops = [(p, m, op) for p, item in doc["paths"].items() for m, op in item.items()]
    ok(len(ops) == 5 and all(m == "post" for _, m, _ in ops),
       "every method of Bench is a POST operation (%d)" % len(ops))
    ok(all(op.get("operationId") and "requestBody" in op and op.get("responses")
           and ("200" in op["responses"] or "202" in op["responses"]) for _, _, op in ops),
       "each operation has an operationId, a request body and its responses")
    refs = all_refs(doc, [])
    unresolved = []
    for ref in refs:
        try:
            resolve(doc, ref)
        except (KeyError, AssertionError):
            unresolved.append(ref)
    ok(len(refs) > 10 and not unresolved,
       "every $ref resolves (%d refs)" % len(refs), unresolved)
    user = doc["components"]["schemas"].get("bench.User", {})
    ok(user.get("properties", {}).get("id") == {"type": "integer", "format": "int64"}
       and user["properties"]["avatar"].get("format") == "byte"
       and user.get("required") == ["id", "name"],
       "bench.User: i64 integer/int64, binary string/byte, required fields", user)

    # A client that knows only the document: build each request from it,
    # send it, check the answer against the document.
    for path, _, op in ops:
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        body = example(doc, schema)
        if path == "/Bench/fail":
            body = {"code": 3}
        r = gateway(addr, "POST", path, json.dumps(body))
        code = str(r.status)
        ok(code in op["responses"], "OpenAPI client: %s answered %s, a documented status"
           % (path, code), r)
        if code in ("200", "202"):
            rs = op["responses"][code]["content"]["application/json"]["schema"]
            bad = conforms(doc, rs, r.json())
            ok(bad is None, "OpenAPI client: %s answer matches the response schema" % path,
               (bad, r))


def main():
    apache_gen_py(os.path.join(TMP, "gen"), BENCH)
    from bench import Bench as gen  # noqa: E402
    from bench import ttypes as types  # noqa: E402
    tp = thriftpy.load(BENCH, module_name="bench_thrift")

    framings = {"framed": [], "buffered": ["--buffered"]}
    protos = {"binary": [], "compact": ["--protocol", "compact"]}
    apache_framed_binary = None
    for transport in ("buffered", "framed"):
        for protocol in ("binary", "compact"):
            addr = apache_server(gen, types, transport, protocol)
            if transport == "framed" and protocol == "binary":
                apache_framed_binary = addr
            check_peer("Apache %s %s" % (transport, protocol), addr,
                       framings[transport] + protos[protocol], True)
    # thriftpy 0.3.9's compact protocol calls array.tostring(), gone since
    # Python 3.9: its own client and server fail with it, so binary only.
    for transport in ("buffered", "framed"):
        for protocol in ("binary",):
            addr = thriftpy_server(tp, transport, protocol)
            check_peer("thriftpy %s %s" % (transport, protocol), addr,
                       framings[transport] + protos[protocol], False)

    addr = apache_framed_binary
    r = gateway(addr, "POST", "/Bench/add", '{"a": "two"}')
    e = (r.json() or {}).get("error", {})
    ok(r.status == 400 and e.get("path") == "add_args.a" and "expected i64" in e.get("message", ""),
       "bad argument -> 400 naming the path add_args.a", r)
    r = gateway(addr, "POST", "/Bench/echo", '{"p": {"request_id": 1, "users": [{"id": 1}]}}')
    e = (r.json() or {}).get("error", {})
    ok(r.status == 400 and e.get("path", "").endswith("users[0].name"),
       "missing required field deep inside -> 400 with its path (%s)" % e.get("path"), r)
    r = gateway(addr, "POST", "/Bench/add", '{"a": 1,')
    e = (r.json() or {}).get("error", {})
    ok(r.status == 400 and e.get("line") == 1 and e.get("column"),
       "bad JSON -> 400 with line and column", r)
    r = gateway(addr, "POST", "/Bench/nope", "{}")
    ok(r.status == 404, "unknown method -> 404", r)
    r = gateway(addr, "GET", "/Bench/add")
    ok(r.status == 405, "GET on a method -> 405", r)
    r = gateway(closed_port(), "POST", "/Bench/add", '{"a": 1, "b": 2}')
    ok(r.status == 503 and "refused" in r.body.decode(), "closed port -> 503", r)
    silent, ls = raw_server()  # accepts, never answers
    t0 = time.time()
    r = gateway(silent, "POST", "/Bench/add", '{"a": 1, "b": 2}',
                headers=["X-Request-Timeout-Ms: 300"])
    took = time.time() - t0
    ok(r.status == 504 and took < 3, "silent server, X-Request-Timeout-Ms 300 -> 504 in %.2f s"
       % took, r)
    t0 = time.time()
    r = gateway(silent, "POST", "/Bench/add", '{"a": 1, "b": 2}', flags=["--timeout", "200"])
    took = time.time() - t0
    ok(r.status == 504 and took < 3, "--timeout 200 default deadline -> 504 in %.2f s" % took, r)
    ls.close()

    r = gateway(addr, "POST", "/Bench/add", '{"a": 1, "b": 2}', flags=["--cors", "http://ui.test"],
                headers=["Origin: http://ui.test"])
    ok(r.status == 200 and r.headers.get("access-control-allow-origin") == "http://ui.test",
       "--cors: the allowed origin gets Access-Control-Allow-Origin", r)
    r = gateway(addr, "POST", "/Bench/add", '{"a": 1, "b": 2}', flags=["--cors", "http://ui.test"],
                headers=["Origin: http://evil.test"])
    ok(r.status == 200 and "access-control-allow-origin" not in r.headers,
       "--cors: another origin gets none", r)

    r = gateway(addr, "GET", "/schema")
    s = r.json() or {}
    names = [m["name"] for m in s.get("services", [{}])[0].get("methods", [])]
    ok(r.status == 200 and names == ["ping", "echo", "add", "fire", "fail"]
       and "bench.Payload" in s.get("structs", {}) and "bench.Status" in s.get("enums", {}),
       "GET /schema lists the methods, structs and enums", r)

    r = gateway(addr, "GET", "/")
    ok(r.status == 200 and r.headers.get("content-type", "").startswith("text/html")
       and b"/ui/app.js" in r.body, "GET / serves the embedded UI page", r)
    r = gateway(addr, "GET", "/ui/app.js")
    ok(r.status == 200 and b"X-Request-Timeout-Ms" in r.body
       and r.headers.get("content-type", "").startswith("text/javascript"),
       "GET /ui/app.js served from the binary", r)
    r = gateway(addr, "GET", "/ui/config.json", flags=["--buffered"])
    ok(r.status == 200 and r.json() == {"file": BENCH, "upstream": addr, "flags": ["--buffered"]},
       "GET /ui/config.json tells the UI how to copy a dynthrift call", r)

    check_openapi(addr)
    check_listener(addr)
    check_cluster(gen, types, tp)

    ok(not UNCLEAN, "every gateway process exited 0 with nothing on stderr (sanitizers quiet)",
       UNCLEAN[:3])


if __name__ == "__main__":
    run_script(TAP, main, lambda: shutil.rmtree(TMP, ignore_errors=True))
