#!/usr/bin/python3
"""`dynthrift serve -v`'s start-up line says what the server accepts: each
connection's kind recognized from its first bytes unless a transport is
pinned (--framed, --buffered, --header; --zlib pins framed), TLS named when
it has a certificate.  Each claim is checked against a client of that kind.

TAP on stdout; '1..0 # SKIP reason' when the CLI is missing.  Loopback
only; every process started is stopped by its own PID.
Environment: DYNTHRIFT_CLI, DYNTHRIFT_SOURCE_ROOT.
"""
import os
import subprocess
import time

from testlib import (CLI, PINGPONG, SRC, Tap, dynthrift_listening, require_cli, run_script,
                     temp_dir)

require_cli()
TMP = temp_dir("serve-banner")
TAP = Tap()
ok = TAP.ok


def banner(flags):
    """The server's 'serving ...' line and the server (still running)."""
    fixtures = os.path.join(TMP, "mock.json")
    with open(fixtures, "w") as f:
        f.write('{"ping": {"result": "pong"}}')
    srv = dynthrift_listening(["serve", PINGPONG, "PingPong", "--addr", "127.0.0.1:0", "--mock",
                               fixtures, "-v"] + flags, TMP)
    end = time.time() + 5
    line = ""
    while time.time() < end and not line:
        line = next((l.split("dynthrift serve: ", 1)[1].strip()
                     for l in srv.log().splitlines() if "dynthrift serve: serving" in l), "")
        time.sleep(0.02)
    return line, srv


def call(addr, flags):
    p = subprocess.run([CLI, "call", PINGPONG, "PingPong.ping", "--addr", addr, "--timeout",
                        "3000"] + flags, capture_output=True, timeout=30)
    return p.returncode == 0 and p.stdout.strip() == b'"pong"'


def main():
    line, srv = banner([])
    ok("each connection's kind recognized" in line and "framed transport" not in line,
       "unpinned: the line says kinds are recognized: %s" % line)
    ok(call(srv.addr, []) and call(srv.addr, ["--buffered"]) and call(srv.addr, ["--header"])
       and call(srv.addr, ["--protocol", "compact"]),
       "... and framed, buffered, THeader and compact clients are all answered")
    srv.stop()
    line, srv = banner(["--buffered"])
    ok("binary protocol, buffered transport" in line, "--buffered: %s" % line)
    ok(call(srv.addr, ["--buffered"]) and not call(srv.addr, ["--timeout", "500"]),
       "... a buffered client is answered, a framed one is not")
    srv.stop()
    line, srv = banner(["--zlib"])
    ok("framed transport with zlib" in line, "--zlib: %s" % line)
    ok(call(srv.addr, ["--zlib"]), "... a framed zlib client is answered")
    srv.stop()
    certs = os.path.join(TMP, "certs")
    if subprocess.run(["sh", os.path.join(SRC, "test", "tls_certs.sh"), certs]).returncode == 0:
        line, srv = banner(["--cert", os.path.join(certs, "server.pem"), "--key",
                            os.path.join(certs, "server.key")])
        ok(line.endswith("HTTP, TLS, mock)"), "with a certificate TLS is named: %s" % line)
        ok(call("tls://" + srv.addr, ["--cacert", os.path.join(certs, "ca.pem")])
           and call(srv.addr, []), "... TLS and plain clients are both answered")
        srv.stop()
    else:
        ok(True, "# SKIP openssl missing")
        ok(True, "# SKIP openssl missing")


if __name__ == "__main__":
    run_script(TAP, main)
