"""Shared by the interop scripts that drive `dynthrift` processes and need
nothing of the older scripts' helpers (cli_headers, cli_cluster_bench,
gateway_https, gateway_cluster_headers): TAP lines, CLI processes that say
"listening on ADDR" on stderr (stopped by their own PID), the Python code
Apache's compiler generates, and Apache's Python THeader server whose
handler sets reply headers.  Run under /usr/bin/python3 (Debian's thrift)."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

CLI = os.environ.get("DYNTHRIFT_CLI")
ROOT = os.environ.get("DYNTHRIFT_SOURCE_ROOT",
                      os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PINGPONG = os.path.join(ROOT, "idl-samples", "pingpong.thrift")


def skip(reason):
    """The TAP plan of a script whose peer is missing (meson reads exit 77
    from a TAP test as an error)."""
    print("1..0 # SKIP " + reason)
    sys.exit(0)


def require_cli():
    if not CLI or not os.access(CLI, os.X_OK):
        skip("DYNTHRIFT_CLI not set or not executable")


def require_apache_thrift():
    """Apache's Python library (THeader included) and compiler."""
    try:
        import thrift.protocol.THeaderProtocol  # noqa: F401
    except ImportError as e:
        skip("python3-thrift missing: %s" % e)
    if not shutil.which("thrift"):
        skip("thrift compiler missing")


class Tap:
    """ok() lines, then finish() prints the plan and gives the exit code."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.n += 1
        if not cond:
            self.failed += 1
        print("%sok %d - %s" % ("" if cond else "not ", self.n, name))
        if not cond and diag is not None:
            for line in str(diag).splitlines()[:30]:
                print("# " + line)
        sys.stdout.flush()
        return cond

    def finish(self):
        print("1..%d" % self.n)
        return 1 if self.failed else 0


class CliProc:
    """`dynthrift ARGS...` whose stderr line starting with `prefix` gives its
    address (the first word after it); stopped by its own PID."""
    count = 0

    def __init__(self, tmp, args, prefix="listening on "):
        CliProc.count += 1
        base = os.path.join(tmp, "proc%d" % CliProc.count)
        self.err_path, self.out_path = base + ".stderr", base + ".stdout"
        self.errf, self.outf = open(self.err_path, "w"), open(self.out_path, "w")
        self.proc = subprocess.Popen([CLI] + list(args), stdout=self.outf, stderr=self.errf)
        self.addr = None
        end = time.time() + 10
        while time.time() < end and self.proc.poll() is None and not self.addr:
            with open(self.err_path) as f:
                for line in f:
                    if line.startswith(prefix):
                        self.addr = line[len(prefix):].split()[0]
            time.sleep(0.02)
        if not self.addr:
            self.stop()
            raise RuntimeError("%s did not start: %s" % (args[0], open(self.err_path).read()))

    def port(self):
        return int(self.addr.rsplit(":", 1)[1])

    def stdout(self):
        self.outf.flush()
        with open(self.out_path) as f:
            return f.read()

    def stop(self):
        """SIGTERM, then the exit code and stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.errf.close()
        self.outf.close()
        with open(self.err_path) as f:
            return self.proc.returncode, f.read()


def temp_dir(name):
    return tempfile.mkdtemp(prefix="dynthrift-%s-" % name)


def remove(tmp):
    shutil.rmtree(tmp, ignore_errors=True)


def generated_service(tmp, idl, module, service):
    """The Processor module Apache's compiler generates for `service` of
    `idl` (namespace py `module`)."""
    gen_dir = os.path.join(tmp, "gen")
    os.makedirs(gen_dir, exist_ok=True)
    subprocess.run(["thrift", "--gen", "py", "-out", gen_dir, idl], check=True, timeout=60,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sys.path.insert(0, gen_dir)
    return getattr(__import__(module, fromlist=[service]), service)


def apache_theader_server(gen, make_handler):
    """Apache's threaded THeader server of `gen`'s service on a free
    loopback port, as a daemon thread; returns "127.0.0.1:PORT".  The
    handler is make_handler(current): during a call current.prot is the
    request's THeaderProtocol (input and output share it), whose
    get_headers() are the request's and set_header() the reply's."""
    from thrift.protocol.THeaderProtocol import THeaderProtocolFactory
    from thrift.server import TServer
    from thrift.transport import TSocket, TTransport
    current = threading.local()

    class Processor(gen.Processor):
        def process(self, iprot, oprot):
            current.prot = iprot
            return super().process(iprot, oprot)

    sock = TSocket.TServerSocket(host="127.0.0.1", port=0)
    srv = TServer.TThreadedServer(Processor(make_handler(current)), sock,
                                  TTransport.TBufferedTransportFactory(),
                                  THeaderProtocolFactory(), daemon=True)
    sock.listen()
    port = sock.handle.getsockname()[1]
    sock.listen = lambda: None

    def serve():
        try:
            srv.serve()
        except Exception:
            pass
    threading.Thread(target=serve, daemon=True).start()
    return "127.0.0.1:%d" % port
