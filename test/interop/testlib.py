"""What the interop scripts (test/interop/*.py, test/lua/*.py) share: TAP
output, loopback ports, children stopped by their own PID, and servers
(dynthrift's, Apache's and thriftpy's) started on a port the kernel picked.

Imports no Thrift library at load time: each script decides what it needs
and skips (`skip_all`) when a peer is missing.  The scripts in test/lua
and tools/bench_python_rpc.py import it with test/interop on sys.path."""
import atexit
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

SRC = os.environ.get("DYNTHRIFT_SOURCE_ROOT",
                     os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUILD = os.environ.get("DYNTHRIFT_BUILD_ROOT", os.path.join(SRC, "build"))
CLI = os.environ.get("DYNTHRIFT_CLI", os.path.join(BUILD, "tools", "dynthrift"))
IDL_SAMPLES = os.path.join(SRC, "idl-samples")
PINGPONG = os.path.join(IDL_SAMPLES, "pingpong.thrift")  # the CLI scripts' service
ZK_SERVER = os.path.join(SRC, "test", "zk", "zk_server.sh")


# ---- TAP ----------------------------------------------------------------------

def skip_all(reason):
    """The plan of a script that cannot run here (meson reads a TAP test
    that exits 77 as an error, so: the empty plan with a reason, exit 0)."""
    print("1..0 # SKIP " + reason)
    sys.exit(0)


def bail_out(reason):
    print("Bail out! " + reason)
    sys.stdout.flush()
    sys.exit(1)


def require_programs(*names):
    """Skips the whole script unless every program in `names` is on PATH."""
    missing = [n for n in names if not shutil.which(n)]
    if missing:
        skip_all("%s missing" % " and ".join(missing))


def require_cli():
    """Skips the whole script unless the dynthrift CLI is built."""
    if not os.access(CLI, os.X_OK):
        skip_all("%s not built or not executable (DYNTHRIFT_CLI)" % CLI)


def require_apache_thrift():
    """Skips the whole script unless Apache's Python library (python3-thrift,
    THeader included) and its compiler are installed."""
    try:
        import thrift.protocol.THeaderProtocol  # noqa: F401
    except ImportError as e:
        skip_all("python3-thrift missing: %s" % e)
    require_programs("thrift")


def temp_dir(name):
    """A new directory dynthrift-NAME-XXXX, removed when the script exits
    (atexit: after a skip or a failure too)."""
    path = tempfile.mkdtemp(prefix="dynthrift-%s-" % name)
    atexit.register(shutil.rmtree, path, True)
    return path


def run_script(tap, main, *cleanups):
    """Runs main(); an exception is one failed check with its traceback.
    Then the children are killed, `cleanups` run, the plan printed, and
    the script exits with the TAP status."""
    try:
        main()
    except Exception:  # noqa: BLE001
        tap.ok(False, "%s ran to the end" % os.path.basename(sys.argv[0]),
               traceback.format_exc())
    finally:
        kill_children()
        for cleanup in cleanups:
            cleanup()
    sys.exit(tap.done())


class Tap:
    """Numbered TAP lines; the plan goes last (`done`).  `prefix` starts
    every test name (the Lua scripts name their VM).  A failed check's
    diagnostics are printed as comments, their last `diag_lines` lines."""

    def __init__(self, prefix="", diag_lines=40):
        self.prefix = prefix
        self.diag_lines = diag_lines
        self.count = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.count += 1
        if not cond:
            self.failed += 1
        print("%sok %d - %s%s" % ("" if cond else "not ", self.count, self.prefix, name))
        if not cond and diag is not None and diag != "":
            for line in str(diag).splitlines()[-self.diag_lines:]:
                print("#   " + line)
        sys.stdout.flush()
        return cond

    def skip(self, name, why):
        self.count += 1
        print("ok %d - %s%s # SKIP %s" % (self.count, self.prefix, name, why))
        sys.stdout.flush()

    def diag(self, text):
        print("# " + text)
        sys.stdout.flush()

    def done(self):
        """Prints the plan; the exit status for sys.exit."""
        print("1..%d" % self.count)
        sys.stdout.flush()
        return 1 if self.failed else 0


# ---- ports and processes ----------------------------------------------------------

def free_port(host="127.0.0.1"):
    """A port nothing listens on now (bound and released at once)."""
    s = socket.socket()
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=5.0, host="127.0.0.1"):
    """True once `port` accepts a connection, False after `timeout` s."""
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection((host, port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


def wait_for(pred, seconds):
    end = time.time() + seconds
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def stop(p, timeout=10):
    """SIGTERM to `p` by its own PID, SIGKILL after `timeout` s; returns
    (stdout, stderr) as far as they were piped and not read yet."""
    if p is None:
        return None, None
    if p.poll() is None:
        p.terminate()
        try:
            return p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
    return p.communicate()


CHILDREN = []  # what testlib started, and what the scripts add: kill_children()


def kill_children():
    """SIGKILL, each by its own PID, to the CHILDREN still running (a
    script's last word, also after a failure)."""
    for p in CHILDREN:
        if p.poll() is None:
            p.kill()
            p.wait()


def spawn_on_free_port(argv_for_port, timeout=10.0):
    """Starts the program argv_for_port(port) on a free loopback port and
    waits until the port accepts.  Returns (process, port, why): process is
    None, and why its stderr, when it did not come up."""
    port = free_port()
    p = subprocess.Popen(argv_for_port(port), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    CHILDREN.append(p)
    if wait_port(port, timeout):
        return p, port, ""
    _, err = stop(p)
    return None, port, err or "port %d did not accept within %g s" % (port, timeout)


def python_peer(script, host, *args):
    """Runs the Python program `script` (text) under Debian's interpreter,
    where the peers' libraries are, as `script ARGS HOST PORT` on a free
    port of `host`; it prints "ready" once it serves.  Returns (process,
    port); bails out when it does not come up."""
    port = free_port(host)
    p = subprocess.Popen(["/usr/bin/python3", "-c", script] + list(args) + [host, str(port)],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    CHILDREN.append(p)
    if p.stdout.readline().strip() != "ready":
        bail_out("the Python peer on %s did not start" % host)
    return p, port


def make_certs(directory):
    """Makes the TLS tests' CA, server and client certificates in
    `directory` (test/tls_certs.sh) and returns a function from a file name
    there to its path; skips the whole script when they cannot be made."""
    if subprocess.run(["sh", os.path.join(SRC, "test", "tls_certs.sh"), directory]).returncode:
        skip_all("cannot make certificates")
    return lambda name: os.path.join(directory, name)


LISTENING = re.compile(r"^listening on \S*:(\d+)\b", re.M)


class Listening:
    """A dynthrift command that listens on port 0 (serve, gateway, ui) and
    prints "listening on HOST:PORT" on stderr, which goes to `err_path`;
    the port is read from there.  Its stdout goes to `out_path` when given
    (read with stdout()), else nowhere.  Stopped by its own PID."""

    def __init__(self, argv, err_path, timeout=10, out_path=None):
        self.err_path = err_path
        self.out_path = out_path
        self.errf = open(err_path, "w")
        self.outf = open(out_path, "w") if out_path else None
        self.proc = subprocess.Popen(argv, stdout=self.outf or subprocess.DEVNULL,
                                     stderr=self.errf)
        CHILDREN.append(self.proc)
        self.port = None
        end = time.time() + timeout
        while time.time() < end and self.proc.poll() is None and not self.port:
            m = LISTENING.search(self.log())
            if m:
                self.port = int(m.group(1))
            else:
                time.sleep(0.02)
        if not self.port:
            self.stop()
            raise RuntimeError("%s did not start: %s" % (" ".join(argv[:2]), self.log()))
        self.addr = "127.0.0.1:%d" % self.port

    def log(self):
        with open(self.err_path) as f:
            return f.read()

    def stdout(self):
        """What it printed on stdout so far (needs `out_path`)."""
        with open(self.out_path) as f:
            return f.read()

    def stop(self):
        """SIGTERM; the exit status, None when it had to be killed."""
        code = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        else:
            code = self.proc.returncode
        self.errf.close()
        if self.outf:
            self.outf.close()
        return code


def dynthrift_serve(args, err_path):
    """`dynthrift serve ARGS --addr 127.0.0.1:0`, a Listening."""
    return Listening([CLI, "serve"] + list(args) + ["--addr", "127.0.0.1:0"], err_path)


_listening_count = itertools.count(1)


def dynthrift_listening(args, directory):
    """`dynthrift ARGS` (serve, gateway, ui on port 0), a Listening whose
    stderr and stdout go to files of their own in `directory`."""
    base = os.path.join(directory, "dynthrift%d" % next(_listening_count))
    return Listening([CLI] + list(args), base + ".stderr", out_path=base + ".stdout")


# ---- peers: Apache's and thriftpy's Python servers and clients ----------------

def _serve_in_thread(serve):
    def run():
        try:
            serve()
        except Exception:  # noqa: BLE001  (its socket closed at exit)
            pass
    threading.Thread(target=run, daemon=True).start()


def apache_gen_py(out_dir, *idls):
    """Apache's generated Python code for `idls` (the thrift compiler) in
    `out_dir`, which goes first on sys.path; bails out when it fails."""
    os.makedirs(out_dir, exist_ok=True)
    for idl in idls:
        r = subprocess.run(["thrift", "--gen", "py", "-out", out_dir, idl], capture_output=True,
                           text=True, timeout=120)
        if r.returncode != 0:
            bail_out("thrift --gen py %s failed: %s" % (idl, r.stderr))
    sys.path.insert(0, out_dir)


def apache_factories(transport="framed", protocol="binary"):
    """(transport factory, protocol factory) of Apache's Python library;
    protocol "header" is THeaderProtocol (binary or compact inside, as the
    client chose; put it over transport "buffered")."""
    from thrift.transport import TTransport
    from thrift.protocol import TBinaryProtocol, TCompactProtocol
    tf = (TTransport.TBufferedTransportFactory() if transport == "buffered"
          else TTransport.TFramedTransportFactory())
    if protocol == "header":
        from thrift.protocol.THeaderProtocol import THeaderProtocolFactory
        return tf, THeaderProtocolFactory()
    pf = (TCompactProtocol.TCompactProtocolFactory() if protocol == "compact"
          else TBinaryProtocol.TBinaryProtocolFactory())
    return tf, pf


def thriftpy_factories(transport="framed", protocol="binary"):
    """(transport factory, protocol factory) of thriftpy."""
    from thriftpy.transport import TFramedTransportFactory, TBufferedTransportFactory
    from thriftpy.protocol import TBinaryProtocolFactory, TCompactProtocolFactory
    tf = TBufferedTransportFactory() if transport == "buffered" else TFramedTransportFactory()
    pf = TCompactProtocolFactory() if protocol == "compact" else TBinaryProtocolFactory()
    return tf, pf


def apache_server(processor, transport="framed", protocol="binary", threaded=True):
    """Apache's TThreadedServer (or TSimpleServer) for `processor` on
    127.0.0.1, port 0, in a daemon thread; returns the port."""
    from thrift.server import TServer
    from thrift.transport import TSocket
    sock = TSocket.TServerSocket(host="127.0.0.1", port=0)
    tf, pf = apache_factories(transport, protocol)
    if threaded:
        srv = TServer.TThreadedServer(processor, sock, tf, pf, daemon=True)
    else:
        srv = TServer.TSimpleServer(processor, sock, tf, pf)
    sock.listen()
    port = sock.handle.getsockname()[1]
    sock.listen = lambda: None  # serve() must not bind a second socket
    _serve_in_thread(srv.serve)
    return port


def apache_theader_server(service, make_handler):
    """Apache's threaded THeader server of `service` (a generated module,
    its Processor) on 127.0.0.1, port 0, in a daemon thread; returns the
    port.  The handler is make_handler(current): during a call current.prot
    is the request's THeaderProtocol (the server uses one for input and
    output), whose get_headers() are the request's and set_header() the
    reply's."""
    current = threading.local()

    class Processor(service.Processor):
        def process(self, iprot, oprot):
            current.prot = iprot
            return super().process(iprot, oprot)
    return apache_server(Processor(make_handler(current)), transport="buffered",
                         protocol="header")


def thriftpy_server(service, handler, transport="framed", protocol="binary",
                    client_timeout=None):
    """thriftpy's TThreadedServer for `service` on 127.0.0.1, port 0, in a
    daemon thread; returns the port (thriftpy's make_server refuses 0)."""
    from thriftpy.server import TThreadedServer
    from thriftpy.thrift import TProcessor
    from thriftpy.transport import TServerSocket
    sock = TServerSocket(host="127.0.0.1", port=0, client_timeout=client_timeout)
    tf, pf = thriftpy_factories(transport, protocol)
    srv = TThreadedServer(TProcessor(service, handler), sock, iprot_factory=pf,
                          itrans_factory=tf)
    sock.listen()
    port = sock.sock.getsockname()[1]
    sock.listen = lambda: None
    _serve_in_thread(srv.serve)
    return port


def apache_client(client_class, port, transport="framed", protocol="binary", timeout_ms=5000):
    """An open Apache Python client on 127.0.0.1:port: (client, transport)."""
    from thrift.transport import TSocket, TTransport
    from thrift.protocol import TBinaryProtocol, TCompactProtocol
    sock = TSocket.TSocket("127.0.0.1", port)
    if timeout_ms is not None:
        sock.setTimeout(timeout_ms)
    trans = (TTransport.TBufferedTransport(sock) if transport == "buffered"
             else TTransport.TFramedTransport(sock))
    proto = (TCompactProtocol.TCompactProtocol(trans) if protocol == "compact"
             else TBinaryProtocol.TBinaryProtocol(trans))
    trans.open()
    return client_class(proto), trans


def raw_server(reply=None):
    """A loopback server on a socket of its own (in a daemon thread) that
    accepts and holds every connection: with `reply`, it reads what comes
    first and answers those bytes; without, it never answers.  Returns
    (address, listening socket): closing the socket ends the thread."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    held = []

    def serve():
        while True:
            try:
                c, _ = ls.accept()
                if reply is not None:
                    c.recv(65536)
                    c.sendall(reply)
                held.append(c)
            except OSError:
                return
    threading.Thread(target=serve, daemon=True).start()
    return "127.0.0.1:%d" % ls.getsockname()[1], ls


class BenchHandler:
    """A handler for idl-samples/bench.thrift's Bench, for either library:
    add sums, echo returns its payload, fail raises the declared BenchError
    (`error_class`).  `calls` (a list), when given, records the `a` of every
    add; with `fail_add_of`, add(a=fail_add_of) raises an undeclared error
    (Apache's processor answers it with INTERNAL_ERROR)."""

    def __init__(self, error_class, calls=None, fail_add_of=None):
        self.error_class = error_class
        self.calls = calls
        self.fail_add_of = fail_add_of

    def ping(self):
        pass

    def add(self, a, b):
        if self.calls is not None:
            self.calls.append(a)
        if self.fail_add_of is not None and a == self.fail_add_of:
            raise ValueError("an undeclared error")
        return a + b

    def echo(self, p):
        return p

    def fire(self, n):
        pass

    def fail(self, code):
        raise self.error_class(code=code, message="failed with %d" % code)


# ---- ZooKeeper ------------------------------------------------------------------

def require_zookeeper():
    """Skips the whole script unless ZooKeeper (Debian: zookeeper, with
    java) and kazoo are installed."""
    if not shutil.which("java") or not os.path.exists("/usr/share/java/zookeeper.jar"):
        skip_all("java or ZooKeeper (Debian: zookeeper) missing")
    try:
        import kazoo.client  # noqa: F401
    except ImportError as e:
        skip_all("peer missing: %s" % e)


class ZooKeeper:
    """A standalone ZooKeeper from test/zk/zk_server.sh: a free loopback
    port, its data in `data_dir`.  start() again after stop() comes back on
    the same port.  The whole script skips when it cannot start here."""

    def __init__(self, data_dir):
        self.data_dir = data_dir
        self.port = None
        self.pid = None

    def start(self):
        args = [ZK_SERVER, self.data_dir] + ([str(self.port)] if self.port else [])
        # ZK_OWNER_PID: zk_server.sh stops the JVM if this script dies first.
        r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=dict(os.environ, ZK_OWNER_PID=str(os.getpid())))
        if r.returncode == 77:
            skip_all("ZooKeeper cannot start here")
        if r.returncode != 0:
            bail_out("ZooKeeper did not start: %s" % r.stderr[-500:])
        self.port, self.pid = (int(x) for x in r.stdout.split())
        return self.port

    def stop(self):
        """SIGKILL by its PID; waits until it is gone (it is zk_server.sh's
        child, not ours)."""
        if not self.pid:
            return
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for _ in range(200):
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.01)
        self.pid = None


def serverset_member(host, port, status="ALIVE"):
    """A ServerSet member's znode data (Finagle's JSON)."""
    return json.dumps({"serviceEndpoint": {"host": host, "port": port},
                       "additionalEndpoints": {}, "status": status, "shard": 0}).encode()
