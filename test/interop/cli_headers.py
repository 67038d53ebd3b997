#!/usr/bin/python3
"""`dynthrift call` shows the reply's THeader info headers (issue 13: "returned
to the caller on the client side"), against servers that set them:

- Apache's Python THeader server (THeaderProtocolFactory), whose handler sets
  reply headers computed from the call (the parity of the sum, who served
  it, a value holding a newline) through the protocol of the request;
- `dynthrift serve --mock` with "headers" in a fixture answer, and
  `dynthrift serve --exec` whose handler reads the request's info headers
  from its input line and answers headers computed from the arguments.

Shapes checked: `-i/--show-headers` prints "KEY: VALUE" lines and an empty
line before the result on stdout (as curl -i); `-v` prints "< header KEY:
VALUE" on stderr; `--lines` answers carry "headers" when the reply had any
(always with -i, {} when none); a framed (non-THeader) call has none; the
same over several servers (-H sent with each call).

TAP on stdout; '1..0 # SKIP reason' when a peer is missing.  Loopback only;
every process started is stopped by its own PID.
Environment: DYNTHRIFT_CLI, DYNTHRIFT_SOURCE_ROOT.
"""
import json
import logging
import os
import subprocess

from testlib import (CLI, PINGPONG, Tap, apache_gen_py, apache_theader_server,
                     dynthrift_listening, require_apache_thrift, require_cli, run_script, temp_dir)

require_cli()
require_apache_thrift()

logging.disable(logging.CRITICAL)
TMP = temp_dir("cli-headers")
TAP = Tap()
ok = TAP.ok


def run(args, stdin=None):
    p = subprocess.run([CLI] + args, input=(stdin or "").encode(), capture_output=True,
                       timeout=60)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def header_handler(current):
    """Each add's reply carries x-parity (even/odd of the sum),
    x-served-by, and x-seen-trace (the request's 'trace' header, when
    sent); ping's reply carries a value with a newline."""
    class Handler:
        def ping(self):
            prot = current.prot
            prot.clear_headers()
            prot.set_header(b"x-evil", b"line1\nline2")
            return "pong"

        def add(self, a, b):
            prot = current.prot
            prot.clear_headers()
            prot.set_header(b"x-parity", b"even" if (a + b) % 2 == 0 else b"odd")
            prot.set_header(b"x-served-by", b"apache-python")
            trace = prot.get_headers().get(b"trace")
            if trace is not None:
                prot.set_header(b"x-seen-trace", trace)
            return a + b
    return Handler()


def Serve(args):
    return dynthrift_listening(["serve", PINGPONG, "PingPong", "--addr", "127.0.0.1:0"] + args,
                               TMP)


def split_include(out):
    """-i output -> ({key: value}, [header lines], result text)."""
    head, sep, body = out.partition("\n\n")
    if not sep:
        if out.startswith("\n"):  # no headers: the empty line alone
            return {}, [], out[1:]
        return None, [], out
    lines = head.split("\n")
    return dict(l.split(": ", 1) for l in lines if ": " in l), lines, body


def check_apache(addr):
    rc, out, err = run(["call", PINGPONG, "PingPong.add", "[2, 40]", "--addr", addr,
                        "--header", "-i"])
    h, _, body = split_include(out)
    ok(rc == 0 and h == {"x-parity": "even", "x-served-by": "apache-python"}
       and body.strip() == "42",
       "Apache THeader server: -i prints its reply headers, an empty line, then 42",
       (rc, out, err))
    rc, out, err = run(["call", PINGPONG, "PingPong.add", "[2, 41]", "--addr", addr,
                        "--header", "--show-headers", "-H", "trace: t-77"])
    h, _, body = split_include(out)
    ok(rc == 0 and h and h.get("x-parity") == "odd" and h.get("x-seen-trace") == "t-77"
       and body.strip() == "43",
       "--show-headers: headers computed from this call (odd sum, the -H trace it saw)",
       (rc, out, err))
    rc, out, err = run(["call", PINGPONG, "PingPong.add", "[1, 1]", "--addr", addr,
                        "--header"])
    ok(rc == 0 and out.strip() == "2" and "x-parity" not in out,
       "without -i stdout holds the result alone", (rc, out, err))
    rc, out, err = run(["call", PINGPONG, "PingPong.add", "[1, 2]", "--addr", addr,
                        "--header", "-v"])
    ok(rc == 0 and out.strip() == "3" and "< header x-parity: odd\n" in err
       and "< header x-served-by: apache-python\n" in err and "THeader transport" in err,
       "-v: '< header KEY: VALUE' lines on stderr, THeader named in the trace", (rc, out, err))
    rc, out, err = run(["call", PINGPONG, "PingPong.ping", "--addr", addr, "--header", "-i"])
    h, lines, body = split_include(out)
    ok(rc == 0 and lines == ["x-evil: line1\\x0aline2"] and json.loads(body) == "pong",
       "a header value with a newline is printed escaped, on one line", (rc, out, err))
    calls = "\n".join(json.dumps({"method": "add", "args": {"a": a, "b": 1}, "id": a})
                      for a in (1, 2, 3)) + "\n"
    rc, out, err = run(["call", PINGPONG, "PingPong", "--lines", "--addr", addr, "--header"],
                       calls)
    answers = [json.loads(l) for l in out.splitlines()] if rc == 0 else []
    ok(len(answers) == 3 and all(
        x.get("result") == x["id"] + 1 and x.get("headers", {}).get("x-parity") ==
        ("even" if (x["id"] + 1) % 2 == 0 else "odd") for x in answers),
       "--lines: each answer's \"headers\" are its own reply's", (rc, out, err))


def check_serve_mock():
    fixtures = os.path.join(TMP, "mock.json")
    with open(fixtures, "w") as f:
        json.dump({"add": {"cases": [{"when": {"a": 1},
                                      "result": 100, "headers": {"x-case": "one"}}],
                           "result": 7, "headers": {"x-case": "fallback", "x-mock": "yes"}},
                   "ping": {"result": "pong"}}, f)
    srv = Serve(["--mock", fixtures])
    try:
        rc, out, err = run(["call", PINGPONG, "PingPong.add", "[1, 2]", "--addr", srv.addr,
                            "--header", "-i"])
        h, _, body = split_include(out)
        ok(rc == 0 and h == {"x-case": "one"} and body.strip() == "100",
           "serve --mock: the matching case's \"headers\" come back", (rc, out, err))
        rc, out, err = run(["call", PINGPONG, "PingPong.add", "[5, 2]", "--addr", srv.addr,
                            "--header", "-i"])
        h, _, body = split_include(out)
        ok(rc == 0 and h == {"x-case": "fallback", "x-mock": "yes"} and body.strip() == "7",
           "serve --mock: the entry's own \"headers\" when no case matches", (rc, out, err))
        rc, out, err = run(["call", PINGPONG, "PingPong.ping", "--addr", srv.addr, "--header",
                            "-i"])
        h, _, body = split_include(out)
        ok(rc == 0 and h == {} and json.loads(body) == "pong",
           "serve --mock: an answer without \"headers\" sends none", (rc, out, err))
        rc, out, err = run(["call", PINGPONG, "PingPong", "--lines", "--addr", srv.addr,
                            "--header", "-i"], '{"method": "ping"}\n')
        ok(rc == 0 and json.loads(out) == {"result": "pong", "headers": {}},
           "--lines -i on a reply without headers: \"headers\": {}", (rc, out, err))
        rc, out, err = run(["call", PINGPONG, "PingPong", "--lines", "--addr", srv.addr,
                            "--header"], '{"method": "ping"}\n')
        ok(rc == 0 and json.loads(out) == {"result": "pong"},
           "--lines without -i on a reply without headers: no \"headers\" key", (rc, out, err))
        rc, out, err = run(["call", PINGPONG, "PingPong.add", "[1, 2]", "--addr", srv.addr,
                            "-i"])
        h, _, body = split_include(out)
        ok(rc == 0 and h == {} and body.strip() == "100",
           "serve --mock: a framed client with -i gets no headers, the empty line, the result",
           (rc, out, err))
    finally:
        srv.stop()
    bad = os.path.join(TMP, "bad.json")
    with open(bad, "w") as f:
        json.dump({"add": {"result": 1, "headers": {"x": 1}}}, f)
    p = subprocess.run([CLI, "serve", PINGPONG, "PingPong", "--addr", "127.0.0.1:0", "--mock",
                        bad], capture_output=True, timeout=30)
    err = p.stderr.decode(errors="replace")
    ok(p.returncode == 65 and "\"headers\" must be an object of strings" in err,
       "serve --mock: a header value that is no string is refused at load (65)",
       (p.returncode, err))


EXEC_HANDLER = r'''
import json, sys
for line in sys.stdin:
    call = json.loads(line)
    if call.get("oneway"):
        continue
    args = call["args"]
    if call["method"] == "add":
        s = args["a"] + args["b"]
        h = {"x-sum-digits": str(len(str(s)))}
        trace = call.get("headers", {}).get("trace")
        if trace is not None:
            h["x-trace-reversed"] = trace[::-1]
        if args["a"] == 13:
            h = {"x-bad": 13}
        print(json.dumps({"id": call["id"], "result": s, "headers": h}), flush=True)
    else:
        print(json.dumps({"id": call["id"], "result": "pong"}), flush=True)
'''


def check_serve_exec():
    handler = os.path.join(TMP, "handler.py")
    with open(handler, "w") as f:
        f.write(EXEC_HANDLER)
    srv = Serve(["--exec", "/usr/bin/python3 " + handler])
    try:
        rc, out, err = run(["call", PINGPONG, "PingPong.add", "[1000, 234]", "--addr",
                            srv.addr, "--header", "-i", "-H", "trace: abc"])
        h, _, body = split_include(out)
        ok(rc == 0 and h == {"x-sum-digits": "4", "x-trace-reversed": "cba"}
           and body.strip() == "1234",
           "serve --exec: the handler saw the request's headers and set reply headers",
           (rc, out, err))
        rc, out, err = run(["call", PINGPONG, "PingPong.add", "[13, 0]", "--addr", srv.addr,
                            "--header"])
        ok(rc == 2 and "must be an object of strings" in err,
           "serve --exec: an answer with a bad \"headers\" becomes INTERNAL_ERROR (exit 2)",
           (rc, out, err))
        rc, out, err = run(["call", PINGPONG, "PingPong.add", "[1, 1]", "--addr", srv.addr,
                            "-i"])
        h, _, body = split_include(out)
        ok(rc == 0 and h == {} and body.strip() == "2",
           "serve --exec: a framed client gets the result and no headers", (rc, out, err))
    finally:
        srv.stop()


def check_cluster():
    """call over several servers: -H goes with each call, -i and --lines
    show each reply's headers."""
    handler = os.path.join(TMP, "handler.py")
    with open(handler, "w") as f:
        f.write(EXEC_HANDLER)
    srvs = [Serve(["--exec", "/usr/bin/python3 " + handler]) for _ in range(2)]
    try:
        addrs = ",".join(s.addr for s in srvs)
        rc, out, err = run(["call", PINGPONG, "PingPong.add", "[10, 5]", "--addr", addrs,
                            "--header", "-i", "-H", "trace: xyz"])
        h, _, body = split_include(out)
        ok(rc == 0 and h == {"x-sum-digits": "2", "x-trace-reversed": "zyx"}
           and body.strip() == "15",
           "cluster call: -H reached the server, -i shows its reply headers", (rc, out, err))
        calls = "\n".join(json.dumps({"method": "add", "args": {"a": a, "b": 0}})
                          for a in (5, 50, 500, 5000)) + "\n"
        rc, out, err = run(["call", PINGPONG, "PingPong", "--lines", "--addr", addrs, "--header",
                            "-H", "trace: ab"], calls)
        answers = [json.loads(l) for l in out.splitlines()] if rc == 0 else []
        ok(len(answers) == 4 and all(
            x["headers"] == {"x-sum-digits": str(len(str(x["result"]))),
                             "x-trace-reversed": "ba"} for x in answers)
           and {x["server"] for x in answers} == {s.addr for s in srvs},
           "cluster --lines: each answer has its reply's headers and its server",
           (rc, out, err))
        rc, out, err = run(["call", PINGPONG, "PingPong.add", "[1, 1]", "--addr", addrs,
                            "--header", "-i", "--all"])
        ok(rc == 64 and "not yet with --all" in err, "cluster call --all -i: refused (64)",
           (rc, out, err))
    finally:
        for srv in srvs:
            srv.stop()


def main():
    apache_gen_py(os.path.join(TMP, "gen"), PINGPONG)
    from pingpong import PingPong
    check_apache("127.0.0.1:%d" % apache_theader_server(PingPong, header_handler))
    check_serve_mock()
    check_serve_exec()
    check_cluster()


if __name__ == "__main__":
    run_script(TAP, main)
