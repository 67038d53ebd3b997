#!/usr/bin/python3
"""`dynthrift gateway --listen https://...` and `dynthrift ui` over TLS (the
HTTP server on the transport stack's TLS layer), with certificates made at
test time by test/tls_certs.sh, against a `dynthrift serve --mock` upstream:

- Python's ssl + http.client verifying the server against the test CA: GET
  /schema, POST a call (twice on one keep-alive connection), a 600 KB
  request body (over the reader's 64 KB budget per callback), GET
  /openapi.json;
- a plain-HTTP client on the https port is closed without an answer; a
  client trusting another CA fails verification; a TCP client that never
  starts the handshake is closed after --client-timeout;
- --listen-cacert: a client without a certificate is refused, one with a
  certificate of the test CA is served;
- curl (when installed) GET and POST over https;
- `dynthrift ui` with --listen-cert/--listen-key prints an https:// URL that
  serves the UI page;
- usage: https without a key, a certificate option without https, an
  unreadable certificate.

TAP on stdout; '1..0 # SKIP reason' when openssl or the CLI is missing.
Loopback only; every process started is stopped by its own PID.
Environment: DYNTHRIFT_CLI, DYNTHRIFT_SOURCE_ROOT.
"""
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import time

from testlib import (CLI, PINGPONG, Tap, dynthrift_listening, make_certs, require_cli,
                     run_script, temp_dir)

require_cli()
TMP = temp_dir("gateway-https")
cert = make_certs(os.path.join(TMP, "certs"))

TAP = Tap()
ok = TAP.ok
PROCS = []


def Proc(args):
    p = dynthrift_listening(args, TMP)
    PROCS.append(p)
    return p


def tls_context(ca="ca.pem", client=None):
    ctx = ssl.create_default_context(cafile=cert(ca))
    if client:
        ctx.load_cert_chain(cert(client + ".pem"), cert(client + ".key"))
    return ctx


def https(port, method, path, body=None, ctx=None, conn=None):
    c = conn or http.client.HTTPSConnection("127.0.0.1", port, context=ctx or tls_context(),
                                            timeout=10)
    c.request(method, path, body=body,
              headers={"Content-Type": "application/json"} if body is not None else {})
    r = c.getresponse()
    data = r.read()
    if not conn:
        c.close()
    return r.status, data


def gateway(upstream, extra):
    return Proc(["gateway", PINGPONG, "--upstream", upstream] + extra)


def check_gateway(upstream):
    gw = gateway(upstream, ["--listen", "https://127.0.0.1:0", "--listen-cert",
                            cert("server.pem"), "--listen-key", cert("server.key"),
                            "--client-timeout", "400"])
    port = gw.port
    st, body = https(port, "GET", "/schema")
    doc = json.loads(body) if st == 200 else {}
    ok(st == 200 and [s["name"] for s in doc.get("services", [])] == ["PingPong"],
       "https GET /schema: verified against the test CA, the schema", (st, body[:300]))
    c = http.client.HTTPSConnection("127.0.0.1", port, context=tls_context(), timeout=10)
    st1, b1 = https(port, "POST", "/PingPong/add", '{"a": 2, "b": 40}', conn=c)
    st2, b2 = https(port, "POST", "/PingPong/add", '[1, 2]', conn=c)
    c.close()
    ok(st1 == 200 and json.loads(b1) == {"result": 42} and st2 == 200
       and json.loads(b2) == {"result": 3},
       "https POST calls, two on one keep-alive TLS connection", (st1, b1, st2, b2))
    big = '{"a": 2, ' + " " * 600000 + '"b": 40}'
    st, body = https(port, "POST", "/PingPong/add", big)
    ok(st == 200 and json.loads(body) == {"result": 42},
       "a 600 KB request body over TLS is read whole", (st, body[:300]))
    st, body = https(port, "GET", "/openapi.json")
    ok(st == 200 and json.loads(body).get("openapi", "").startswith("3.")
       and len(body) > 2000,
       "https GET /openapi.json (%d bytes) arrives whole" % len(body), (st, body[:200]))

    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /schema HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        got = s.recv(4096)
    except (ConnectionResetError, socket.timeout) as e:
        got = repr(e).encode()
    s.close()
    ok(got == b"" or got.startswith(b"ConnectionResetError"),
       "a plain-HTTP client on the https port is closed without an answer", got[:200])

    try:
        https(port, "GET", "/schema", ctx=tls_context("other-ca.pem"))
        refused = None
    except ssl.SSLCertVerificationError as e:
        refused = e
    ok(refused is not None, "a client trusting another CA fails verification", refused)

    t0 = time.time()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        got = s.recv(10)
    except (ConnectionResetError, socket.timeout) as e:
        got = repr(e).encode()
    took = time.time() - t0
    s.close()
    ok(got == b"" and took < 3,
       "a client that never starts the handshake is closed after --client-timeout (%.2f s)"
       % took, got)

    if shutil.which("curl"):
        p = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", cert("ca.pem"),
                            "-d", '{"a": 5, "b": 6}',
                            "https://127.0.0.1:%d/PingPong/add" % port],
                           capture_output=True, timeout=30)
        ok(p.returncode == 0 and json.loads(p.stdout) == {"result": 11},
           "curl POST over https", (p.returncode, p.stdout, p.stderr))
        p = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", cert("ca.pem"),
                            "https://localhost:%d/schema" % port],
                           capture_output=True, timeout=30)
        ok(p.returncode == 0 and b'"PingPong"' in p.stdout,
           "curl GET /schema over https (the certificate's name localhost)",
           (p.returncode, p.stdout[:200], p.stderr))
        p = subprocess.run(["curl", "-sS", "--max-time", "10",
                            "https://127.0.0.1:%d/schema" % port],
                           capture_output=True, timeout=30)
        ok(p.returncode == 60, "curl without the test CA: certificate problem (60)",
           (p.returncode, p.stderr))
    else:
        for _ in range(3):
            ok(True, "# SKIP curl not installed")
    rc = gw.stop()
    ok(rc == 0, "gateway stopped by SIGTERM exits 0", (rc, gw.log()))


def check_mtls(upstream):
    gw = gateway(upstream, ["--listen", "https://127.0.0.1:0", "--listen-cert",
                            cert("server.pem"), "--listen-key", cert("server.key"),
                            "--listen-cacert", cert("ca.pem")])
    port = gw.port
    try:
        st, body = https(port, "GET", "/schema")
        refused = None
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError,
            http.client.RemoteDisconnected) as e:
        refused = e
    ok(refused is not None, "--listen-cacert: a client without a certificate is refused",
       refused)
    st, body = https(port, "POST", "/PingPong/add", '{"a": 20, "b": 1}',
                     ctx=tls_context(client="client"))
    ok(st == 200 and json.loads(body) == {"result": 21},
       "--listen-cacert: a client certificate of the test CA is served", (st, body))
    gw.stop()


def check_ui(upstream):
    ui = Proc(["ui", PINGPONG, "--upstream", upstream, "--listen-cert", cert("server.pem"),
               "--listen-key", cert("server.key")])
    url = ""
    end = time.time() + 5
    while time.time() < end and not url:
        url = ui.stdout().strip()
        time.sleep(0.02)
    ok(url == "https://127.0.0.1:%d/" % ui.port, "ui prints its https:// URL", url)
    st, body = https(ui.port, "GET", "/")
    ok(st == 200 and b"<html" in body.lower(), "ui over https serves its page", (st, body[:200]))
    ui.stop()


def check_usage(upstream):
    p = subprocess.run([CLI, "gateway", PINGPONG, "--upstream", upstream, "--listen",
                        "https://127.0.0.1:0", "--listen-cert", cert("server.pem")],
                       capture_output=True, timeout=30)
    ok(p.returncode == 64 and b"needs --listen-cert FILE and --listen-key FILE" in p.stderr,
       "https:// without --listen-key: usage error (64)", (p.returncode, p.stderr))
    p = subprocess.run([CLI, "gateway", PINGPONG, "--upstream", upstream, "--listen",
                        "127.0.0.1:0", "--listen-cert", cert("server.pem"), "--listen-key",
                        cert("server.key")], capture_output=True, timeout=30)
    ok(p.returncode == 64 and b"are for --listen https://" in p.stderr,
       "--listen-cert without an https:// listener: usage error (64)", (p.returncode, p.stderr))
    p = subprocess.run([CLI, "gateway", PINGPONG, "--upstream", upstream, "--listen",
                        "https://127.0.0.1:0", "--listen-cert", cert("nope.pem"), "--listen-key",
                        cert("server.key")], capture_output=True, timeout=30)
    ok(p.returncode == 65 and b"nope.pem" in p.stderr,
       "an unreadable certificate is named (65)", (p.returncode, p.stderr))
    p = subprocess.run([CLI, "gateway", PINGPONG, "--upstream", upstream, "--listen",
                        "https://127.0.0.1:0", "--listen-cert", cert("server.pem"),
                        "--listen-key", cert("client.key")], capture_output=True, timeout=30)
    ok(p.returncode == 65, "a key that does not match the certificate is refused (65)",
       (p.returncode, p.stderr))


def main():
    fixtures = os.path.join(TMP, "mock.json")
    with open(fixtures, "w") as f:
        json.dump({"add": {"cases": [{"when": {"a": 2}, "result": 42},
                                     {"when": {"a": 1}, "result": 3},
                                     {"when": {"a": 5}, "result": 11},
                                     {"when": {"a": 20}, "result": 21}], "result": 0},
                   "ping": {"result": "pong"}}, f)
    up = Proc(["serve", PINGPONG, "PingPong", "--addr", "127.0.0.1:0", "--mock", fixtures])
    try:
        check_gateway(up.addr)
        check_mtls(up.addr)
        check_ui(up.addr)
        check_usage(up.addr)
    finally:
        for p in PROCS:
            p.stop()


if __name__ == "__main__":
    run_script(TAP, main)
