#!/usr/bin/python3
"""`dynthrift serve` as an operator runs it (issue 10 items 5, 7, 11 and
issue 11's serve points):

- --max-connections N closes the connections beyond N; --idle-timeout MS
  closes an idle connection;
- -v prints ISO-8601 UTC times with milliseconds, and with --mock names
  the methods without a fixture at start-up;
- --exec: the handler runs in its own process group, so a handler started
  by the shell (not exec'd) dies on stop; oneway calls beyond the
  handler's 64 MiB queue are counted, logged and recorded; after an answer
  line over 64 MiB the rest of that line is discarded, not parsed as a new
  answer.

Clients: Apache's Python client (python3-thrift), raw sockets, and
`dynthrift bench` for the oneway flood.  TAP on stdout; skips when a peer
is missing.  Loopback only, port 0; every child stopped by its PID.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from testlib import (CLI, IDL_SAMPLES, Tap, apache_client as open_apache_client, apache_gen_py,
                     dynthrift_serve, require_cli, require_programs, run_script, skip_all,
                     wait_for)

BENCH = os.path.join(IDL_SAMPLES, "bench.thrift")
PY = "/usr/bin/python3"

try:
    from thrift.Thrift import TApplicationException
except ImportError as e:
    skip_all("python3-thrift missing: %s" % e)
require_cli()
require_programs("thrift")

TMP = tempfile.mkdtemp(prefix="dynthrift-serve-ops-")
STRAY_PIDS = []  # handler processes a failed run might leave behind
TAP = Tap(diag_lines=30)
ok = TAP.ok


def Serve(args, name):
    return dynthrift_serve(args, os.path.join(TMP, name + ".stderr"))


def closed_within(sock, seconds):
    """True when the peer closes `sock` within `seconds` (EOF or reset)."""
    sock.settimeout(seconds)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def main():
    apache_gen_py(os.path.join(TMP, "gen"), BENCH)
    from bench import Bench  # noqa: E402

    def apache_client(port):
        return open_apache_client(Bench.Client, port, timeout_ms=10000)

    # ---- --max-connections, --idle-timeout, -v times ----------------------
    fx = os.path.join(TMP, "fx.json")
    with open(fx, "w") as f:
        json.dump({"add": {"result": 5}}, f)
    srv = Serve([BENCH, "Bench", "--mock", fx, "--max-connections", "1", "-v"], "maxconn")
    try:
        c1, t1 = apache_client(srv.port)
        ok(c1.add(1, 2) == 5, "--max-connections 1: the first connection is served")
        s2 = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        ok(closed_within(s2, 5), "--max-connections 1: the second is closed at once")
        s2.close()
        ok(c1.add(1, 2) == 5, "--max-connections 1: the first still works")
        t1.close()
        ok(wait_for(lambda: "rejected" in srv.log(), 5), "serve -v logs the rejection",
           srv.log())
        log = srv.log()
        ok(re.search(r"^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] dynthrift serve: ", log, re.M)
           and not re.search(r"^\[\d{9,}\.\d{3}\]", log, re.M),
           "serve -v: ISO-8601 UTC times with milliseconds", log)
        ok("ping has no fixture: answers the return type's default value" in log
           and "fail has no fixture" in log and "add has no fixture" not in log,
           "serve -v --mock: the methods without a fixture named at start-up", log)
    finally:
        srv.stop()

    # A forced stop (second signal) cancels a held call: the server closed
    # the connection, not the client.
    with open(fx, "w") as f:
        json.dump({"ping": {"result": None, "delay_ms": 20000}}, f)
    srv = Serve([BENCH, "Bench", "--mock", fx, "-v"], "forced")
    try:
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        name = b"ping"
        msg = b"\x80\x01\x00\x01" + len(name).to_bytes(4, "big") + name + \
            (1).to_bytes(4, "big") + b"\x00"
        s.sendall(len(msg).to_bytes(4, "big") + msg)
        ok(wait_for(lambda: "connection 1" in srv.log(), 5), "held call sent")
        time.sleep(0.2)
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        srv.proc.send_signal(signal.SIGTERM)
        srv.proc.wait(timeout=10)
        s.close()
    finally:
        srv.stop()
    log = srv.log()
    ok("ping -> cancelled (the server closed the connection: stopping)" in log
       and "the client closed" not in log,
       "forced stop: a held call is logged as cancelled by the server", log)

    srv = Serve([BENCH, "Bench", "--echo", "--idle-timeout", "300", "-v"], "idle")
    try:
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        t0 = time.time()
        closed = closed_within(s, 5)
        took = time.time() - t0
        ok(closed and 0.2 <= took < 3, "--idle-timeout 300: an idle connection is closed "
           "(%.2f s)" % took)
        s.close()
        ok(wait_for(lambda: "idle" in srv.log(), 3), "serve -v: closed (idle timeout)", srv.log())
    finally:
        srv.stop()
    rc = subprocess.run([CLI, "serve", BENCH, "Bench", "--echo", "--addr", "127.0.0.1:0",
                         "--max-connections", "0"], capture_output=True, text=True,
                        timeout=30).returncode
    ok(rc == 64, "--max-connections 0 is bad usage")
    rc = subprocess.run([CLI, "serve", BENCH, "Bench", "--echo", "--addr", "127.0.0.1:0",
                         "--busy-poll-us", "10001"], capture_output=True, text=True,
                        timeout=30).returncode
    ok(rc == 64, "--busy-poll-us over THRIFT_BUSY_POLL_MAX_US is bad usage")
    srv = Serve([BENCH, "Bench", "--echo", "--busy-poll-us", "0"], "nopoll")
    try:
        p = subprocess.run([CLI, "call", BENCH, "Bench.add", "[1, 2]", "--addr",
                            "127.0.0.1:%d" % srv.port], capture_output=True, text=True, timeout=30)
        ok(p.returncode == 0, "--busy-poll-us 0: the server answers", p.stderr)
    finally:
        srv.stop()

    # ---- --exec: the handler's process group -----------------------------
    pidfile = os.path.join(TMP, "handler.pid")
    handler = os.path.join(TMP, "handler.py")
    with open(handler, "w") as f:
        f.write(r'''
import json, os, sys, time
with open(sys.argv[1], "w") as f:
    f.write(str(os.getpid()))
for line in sys.stdin:
    call = json.loads(line)
    if call.get("oneway"):
        continue
    args = call["args"]
    if call["method"] == "add" and args.get("a") == 7:
        # one answer line over 64 MiB, then its newline
        sys.stdout.write('{"id": %d, "result": "' % call["id"] + "x" * (65 << 20) + '"}\n')
    else:
        sys.stdout.write(json.dumps({"id": call["id"], "result": args.get("a", 0) +
                                     args.get("b", 0)}) + "\n")
    sys.stdout.flush()
# A handler that lingers after its input ends: only a signal stops it.
time.sleep(120)
''')
    # "; true" keeps the shell from exec'ing python: the handler is the
    # shell's child, as with any pipeline or wrapper script.
    srv = Serve([BENCH, "Bench", "--exec", "%s %s %s; true" % (PY, handler, pidfile), "-v"],
                "exec-pg")
    hpid = None
    try:
        c, t = apache_client(srv.port)
        ok(c.add(1, 2) == 3, "--exec handler answers")
        hpid = int(open(pidfile).read())
        STRAY_PIDS.append(hpid)
        try:
            c.add(7, 0)
            ok(False, "an answer line over 64 MiB is refused")
        except TApplicationException as e:
            ok("too long" in str(e) or e.type == TApplicationException.INTERNAL_ERROR,
               "an answer line over 64 MiB is refused", e)
        ok(c.add(2, 3) == 5, "after the long line, the next answer is read as one")
        log = srv.log()
        ok("not an answer" not in log,
           "the rest of the long line is discarded, not parsed as an answer",
           log[-2000:])
        t.close()
    finally:
        srv.stop()
    ok(hpid is not None and wait_for(lambda: not pid_alive(hpid), 5),
       "stop signals the handler's process group: the shell's child is gone too")

    # ---- --exec: oneway calls beyond the queue ----------------------------
    blob_idl = os.path.join(TMP, "blob.thrift")
    with open(blob_idl, "w") as f:
        f.write("service Blob { oneway void put(1: string blob) }\n")
    rec = os.path.join(TMP, "record.jsonl")
    # A handler that never reads its input: the queue fills.
    srv = Serve([blob_idl, "Blob", "--exec", "sleep 60", "--record", rec], "exec-drop")
    try:
        args = json.dumps({"blob": "b" * (1 << 20)})
        p = subprocess.run([CLI, "bench", blob_idl, "Blob.put", "-", "--addr", srv.addr,
                            "-n", "100", "--json"], input=args, capture_output=True,
                           text=True, timeout=60)
        ok(p.returncode == 0, "bench: 100 oneway calls of 1 MiB sent", p.stderr)
        ok(wait_for(lambda: "oneway call" in srv.log() and "dropped" in srv.log(), 5),
           "oneway calls beyond the handler's queue are logged", srv.log())
        logged = srv.log().count("dropped")
        ok(logged <= 2, "the drop log is rate-limited (%d lines)" % logged, srv.log())
    finally:
        srv.stop()
    log = srv.log()
    m = re.search(r"(\d+) oneway calls dropped in all", log)
    with open(rec) as f:
        recorded = [json.loads(line) for line in f if line.strip()]
    dropped = [r for r in recorded if r.get("dropped")]
    ok(m and int(m.group(1)) > 0 and int(m.group(1)) == len(dropped),
       "dropped oneway calls counted at stop and --record'ed (%s, %d recorded)"
       % (m.group(1) if m else None, len(dropped)), log)


def kill_stray_handlers():
    for pid in STRAY_PIDS:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    run_script(TAP, main, kill_stray_handlers, lambda: shutil.rmtree(TMP, ignore_errors=True))
