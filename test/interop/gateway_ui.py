#!/usr/bin/python3
"""The gateway's web UI in a real browser: Debian's headless Chromium driven
by npm's puppeteer-core (gateway_ui_browser.js), against `dynthrift ui`
(PingPong) and `dynthrift gateway --listen` (Bench) in front of thriftpy
servers, all on loopback; the gateways are stopped by their own PIDs.  puppeteer-core is installed at test
time into the build directory (node_modules under ui-test/, nothing
committed, no browser downloaded).  Screenshots go to the build directory:
gateway-ui.png and gateway-ui-narrow.png.

TAP on stdout (the browser script's); skips when chromium, node, npm or
thriftpy is missing, or puppeteer-core cannot be installed.
Environment: DYNTHRIFT_CLI, DYNTHRIFT_SOURCE_ROOT, DYNTHRIFT_BUILD_ROOT.
"""
import json
import logging
import os
import shutil
import subprocess
import sys

from testlib import CLI, IDL_SAMPLES, BenchHandler, Listening, skip_all, stop, thriftpy_server

BUILD = os.environ.get("DYNTHRIFT_BUILD_ROOT", os.getcwd())

try:
    import thriftpy
except ImportError as e:
    skip_all("python3-thriftpy missing: %s" % e)
if not os.access(CLI, os.X_OK):
    skip_all("DYNTHRIFT_CLI not set or not executable")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NODE = shutil.which("node") or shutil.which("nodejs")
NPM = shutil.which("npm")
if not CHROMIUM or not NODE or not NPM:
    skip_all("chromium, node or npm missing (tools/deps.sh installs them)")

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
        skip_all("npm install puppeteer-core failed: %s" % p.stderr.strip()[-300:])
    return prefix


def main():
    prefix = ensure_puppeteer()
    pp = thriftpy.load(os.path.join(IDL_SAMPLES, "pingpong.thrift"),
                       module_name="pingpong_thrift")
    bench = thriftpy.load(os.path.join(IDL_SAMPLES, "bench.thrift"), module_name="bench_thrift")

    class PingPong:
        def ping(self):
            return "pong"

        def add(self, a, b):
            return a + b

    children = []
    try:
        # `dynthrift ui` prints its URL on stdout.
        ui = subprocess.Popen([CLI, "ui", os.path.join(IDL_SAMPLES, "pingpong.thrift"),
                               "--upstream",
                               "127.0.0.1:%d" % thriftpy_server(pp.PingPong, PingPong())],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        children.append(ui)
        ui_url = ui.stdout.readline().strip()
        try:
            gw = Listening([CLI, "gateway", os.path.join(IDL_SAMPLES, "bench.thrift"),
                            "--upstream", "127.0.0.1:%d" % thriftpy_server(
                                bench.Bench, BenchHandler(bench.BenchError)),
                            "--listen", "127.0.0.1:0"],
                           os.path.join(BUILD, "gateway-ui-bench.stderr"))
            children.append(gw.proc)
            port = gw.port
        except RuntimeError:
            port = None
        if not ui_url.startswith("http://127.0.0.1:") or not port:
            print("not ok 1 - the gateways did not start (%r)" % ui_url)
            print("1..1")
            return 1
        cfg = {"chromium": CHROMIUM, "screenshot_dir": BUILD, "pingpong": ui_url,
               "bench": "http://127.0.0.1:%d/" % port}
        return run_browser(prefix, cfg)
    finally:
        for p in children:
            stop(p)  # SIGTERM by its own PID


def run_browser(prefix, cfg):
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
