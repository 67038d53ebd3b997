#!/usr/bin/python3
"""The gateway's web UI in a real browser: Debian's headless Chromium driven
by npm's puppeteer-core (gateway_ui_browser.js), against thriftpy servers
for PingPong and Bench on loopback.  puppeteer-core is installed at test
time into the build directory (node_modules under ui-test/, nothing
committed, no browser downloaded).  Screenshots go to the build directory:
gateway-ui.png and gateway-ui-narrow.png.

TAP on stdout (the browser script's); exit 77 when chromium, node, npm or
thriftpy is missing, or puppeteer-core cannot be installed.
Environment: DYNTHRIFT_CLI, DYNTHRIFT_SOURCE_ROOT, DYNTHRIFT_BUILD_ROOT.
"""
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time

CLI = os.environ.get("DYNTHRIFT_CLI")
ROOT = os.environ.get("DYNTHRIFT_SOURCE_ROOT",
                      os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD = os.environ.get("DYNTHRIFT_BUILD_ROOT", os.getcwd())


def skip(why):
    print("1..0 # SKIP " + why)
    sys.exit(77)


try:
    import thriftpy
    from thriftpy.server import TThreadedServer
    from thriftpy.thrift import TProcessor
    from thriftpy.transport import TServerSocket, TFramedTransportFactory
    from thriftpy.protocol import TBinaryProtocolFactory
except ImportError as e:
    skip("python3-thriftpy missing: %s" % e)
if not CLI or not os.access(CLI, os.X_OK):
    skip("DYNTHRIFT_CLI not set or not executable")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NODE = shutil.which("node") or shutil.which("nodejs")
NPM = shutil.which("npm")
if not CHROMIUM or not NODE or not NPM:
    skip("chromium, node or npm missing (tools/deps.sh installs them)")

logging.disable(logging.CRITICAL)


def ensure_puppeteer():
    prefix = os.path.join(BUILD, "ui-test")
    if os.path.isdir(os.path.join(prefix, "node_modules", "puppeteer-core")):
        return prefix
    os.makedirs(prefix, exist_ok=True)
    env = dict(os.environ, PUPPETEER_SKIP_DOWNLOAD="1")
    p = subprocess.run([NPM, "install", "--no-save", "--no-audit", "--no-fund", "--prefix",
                        prefix, "puppeteer-core"], cwd=prefix, env=env, capture_output=True,
                       text=True, timeout=600)
    if p.returncode != 0:
        skip("npm install puppeteer-core failed: %s" % p.stderr.strip()[-300:])
    return prefix


def thriftpy_server(mod, service, handler):
    sock = TServerSocket(host="127.0.0.1", port=0, client_timeout=None)
    srv = TThreadedServer(TProcessor(getattr(mod, service), handler), sock,
                          iprot_factory=TBinaryProtocolFactory(),
                          itrans_factory=TFramedTransportFactory())

    def serve():
        try:
            srv.serve()
        except Exception:
            pass
    threading.Thread(target=serve, daemon=True).start()
    end = time.time() + 10
    while getattr(sock, "sock", None) is None and time.time() < end:
        time.sleep(0.01)
    time.sleep(0.05)
    return "127.0.0.1:%d" % sock.sock.getsockname()[1]


def main():
    prefix = ensure_puppeteer()
    pp = thriftpy.load(os.path.join(ROOT, "idl-samples", "pingpong.thrift"),
                       module_name="pingpong_thrift")
    bench = thriftpy.load(os.path.join(ROOT, "idl-samples", "bench.thrift"),
                          module_name="bench_thrift")

    class PingPong:
        def ping(self):
            return "pong"

        def add(self, a, b):
            return a + b

    class Bench:
        def ping(self):
            pass

        def echo(self, p):
            return p

        def add(self, a, b):
            return a + b

        def fire(self, n):
            pass

        def fail(self, code):
            raise bench.BenchError(code=code, message="failed with %d" % code)

    cfg = {
        "chromium": CHROMIUM,
        "cli": CLI,
        "screenshot_dir": BUILD,
        "sites": {
            "pingpong.test": {"idl": os.path.join(ROOT, "idl-samples", "pingpong.thrift"),
                              "upstream": thriftpy_server(pp, "PingPong", PingPong())},
            "bench.test": {"idl": os.path.join(ROOT, "idl-samples", "bench.thrift"),
                           "upstream": thriftpy_server(bench, "Bench", Bench())},
        },
    }
    env = dict(os.environ, NODE_PATH=os.path.join(prefix, "node_modules"))
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gateway_ui_browser.js")
    p = subprocess.Popen([NODE, script, json.dumps(cfg)], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        p.kill()  # the node process by its own handle; it closes its browser
        out, err = p.communicate()
        print(out, end="")
        print("not ok 999 - the browser script timed out")
        return 1
    sys.stdout.write(out)
    if p.returncode != 0 and err.strip():
        for line in err.strip().splitlines()[-15:]:
            print("# " + line)
    return p.returncode


if __name__ == "__main__":
    sys.exit(main())
