"""Blocking RPC between dynthrift clients and servers: results, declared
exceptions, TApplicationException, INTERNAL_ERROR with the connection kept
open, oneway, timeouts with late replies dropped, a client shared by
threads, close() and context managers, pass-through options, Ctrl-C."""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

import dynthrift
from dynthrift.rpc import make_client, make_server
from dynthrift.thrift import TApplicationException
from dynthrift.transport import (TFramedTransportFactory, TTransportException,
                                 TTransportTimeout)
from dynthrift.protocol import TCompactProtocolFactory, TJSONProtocolFactory

from helpers import TYPES_THRIFT, HERE

m = dynthrift.load(TYPES_THRIFT, module_name='types_thrift')


class Handler(object):
    def __init__(self):
        self.oneway_done = threading.Event()

    def ping(self):
        pass

    def testString(self, thing):
        return thing + '!'

    def testI64(self, thing):
        if thing < 0:
            raise ValueError('negative')
        if 10 ** 6 < thing < 10 ** 10:
            time.sleep(thing / 1e9)  # thing ns
        return thing

    def testStruct(self, thing):
        return thing

    def testEverything(self, thing):
        return thing

    def testMultiException(self, arg0, arg1):
        if arg0 == 'Xception':
            raise m.Xception(1001, arg1)
        if arg0 == 'Xception2':
            raise m.Xception2(2002, m.Xtruct(string_thing=arg1))
        if arg0 == 'app':
            raise TApplicationException(TApplicationException.INVALID_TRANSFORM, arg1)
        if arg0 == 'badreturn':
            return m.Bonk()
        return m.Xtruct(string_thing=arg1)

    def testOneway(self, secondsToSleep):
        time.sleep(secondsToSleep)
        self.oneway_done.set()


class Served(object):
    """A dynthrift server serving on a thread, for one test class."""

    def __init__(self, handler=None, **kw):
        self.handler = handler or Handler()
        self.server = make_server(m.ThriftTest, self.handler, '127.0.0.1', 0, **kw)
        self.port = self.server.port
        self.thread = threading.Thread(target=self.server.serve, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.close()
        self.thread.join(10)
        assert not self.thread.is_alive()


class RpcTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.served = Served(threads=2)
        cls.c = make_client(m.ThriftTest, '127.0.0.1', cls.served.port)

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        cls.served.stop()

    def test_calls(self):
        self.assertIsNone(self.c.ping())
        self.assertEqual(self.c.testString('hi'), 'hi!')
        self.assertEqual(self.c.testString(thing='kw'), 'kw!')
        self.assertEqual(self.c.testI64(1 << 62), 1 << 62)
        from test_codec import everything
        e = everything()
        self.assertEqual(self.c.testEverything(e), e)

    def test_declared_exceptions(self):
        with self.assertRaises(m.Xception) as cm:
            self.c.testMultiException('Xception', 'boom')
        self.assertEqual((cm.exception.errorCode, cm.exception.message), (1001, 'boom'))
        with self.assertRaises(m.Xception2) as cm:
            self.c.testMultiException('Xception2', 'x2')
        self.assertEqual(cm.exception.struct_thing.string_thing, 'x2')
        self.assertEqual(self.c.testMultiException('ok', 'fine').string_thing, 'fine')

    def test_application_exception_goes_back_as_itself(self):
        with self.assertRaises(TApplicationException) as cm:
            self.c.testMultiException('app', 'why')
        self.assertEqual(cm.exception.type, TApplicationException.INVALID_TRANSFORM)
        self.assertEqual(cm.exception.message, 'why')

    def test_other_exception_is_internal_error_and_connection_stays(self):
        with self.assertRaises(TApplicationException) as cm:
            self.c.testI64(-1)
        self.assertEqual(cm.exception.type, TApplicationException.INTERNAL_ERROR)
        self.assertIn('negative', cm.exception.message)
        self.assertEqual(self.c.testString('after'), 'after!')

    def test_wrong_return_type_is_internal_error(self):
        with self.assertRaises(TApplicationException) as cm:
            self.c.testMultiException('badreturn', '')
        self.assertEqual(cm.exception.type, TApplicationException.INTERNAL_ERROR)
        self.assertIn('expected Xtruct', cm.exception.message)

    def test_argument_type_checked_before_sending(self):
        with self.assertRaises(TypeError) as cm:
            self.c.testI64('x')
        self.assertEqual(str(cm.exception), 'testI64.thing: expected int (i64), got str')
        with self.assertRaises(TypeError):
            self.c.testString(1, 2)

    def test_unknown_method(self):
        with self.assertRaises(AttributeError):
            self.c.nope()

    def test_shared_by_threads(self):
        errors = []

        def worker(k):
            try:
                for i in range(200):
                    s = 't%d-%d' % (k, i)
                    if self.c.testString(s) != s + '!':
                        errors.append(s)
            except Exception as e:  # pragma: no cover - reported below
                errors.append(repr(e))
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])


class OnewayTest(unittest.TestCase):
    def test_client_returns_before_the_handler_ends(self):
        """thriftpy's oneway Sleep example."""
        served = Served()
        try:
            with make_client(m.ThriftTest, '127.0.0.1', served.port) as c:
                t0 = time.monotonic()
                c.testOneway(1)
                self.assertLess(time.monotonic() - t0, 0.5)
                self.assertFalse(served.handler.oneway_done.is_set())
                self.assertTrue(served.handler.oneway_done.wait(5))
        finally:
            served.stop()


class SleepExampleTest(unittest.TestCase):
    """thriftpy's oneway example (examples/oneway), imports changed:
    sleep.thrift's `oneway void sleep(1: i32 seconds)`."""

    def test_client_returns_before_the_servers_sleep_ends(self):
        from helpers import SRC
        sleep_thrift = dynthrift.load(os.path.join(SRC, 'idl-samples', 'sleep.thrift'),
                                      module_name='sleep_thrift')
        woke = threading.Event()

        class Dispatcher(object):
            def sleep(self, seconds):
                time.sleep(seconds)
                woke.set()
        server = make_server(sleep_thrift.Sleep, Dispatcher(), '127.0.0.1', 0)
        t = threading.Thread(target=server.serve, daemon=True)
        t.start()
        try:
            client = make_client(sleep_thrift.Sleep, '127.0.0.1', server.port)
            t0 = time.monotonic()
            client.sleep(1)
            self.assertLess(time.monotonic() - t0, 0.5)
            self.assertFalse(woke.is_set())
            self.assertTrue(woke.wait(5))
            client.close()
        finally:
            server.close()
            t.join(10)


class TimeoutTest(unittest.TestCase):
    def test_late_reply_is_dropped(self):
        served = Served(threads=2)
        try:
            c = make_client(m.ThriftTest, '127.0.0.1', served.port, timeout=200)
            with self.assertRaises(TTransportTimeout):
                c.testI64(600 * 10 ** 6)  # the handler sleeps 600 ms
            with self.assertRaises(socket.timeout):  # thriftpy raises socket.timeout
                c.testI64(600 * 10 ** 6 + 1)
            time.sleep(1.4)  # both late replies (600 ms each, one after the other) arrive now
            self.assertEqual(c.testI64(5), 5)
            self.assertEqual(c.testString('x'), 'x!')
            c.close()
        finally:
            served.stop()

    def test_timeout_against_a_silent_socket(self):
        silent = socket.socket()
        silent.bind(('127.0.0.1', 0))
        silent.listen(1)
        try:
            c = make_client(m.ThriftTest, '127.0.0.1', silent.getsockname()[1], timeout=150)
            t0 = time.monotonic()
            with self.assertRaises(TTransportTimeout):
                c.ping()
            self.assertLess(time.monotonic() - t0, 2)
            c.close()
        finally:
            silent.close()

    def test_connection_refused(self):
        s = socket.socket()
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
        s.close()
        with self.assertRaises(TTransportException):
            make_client(m.ThriftTest, '127.0.0.1', port, timeout=1000)


class PipelineTest(unittest.TestCase):
    """Threads sharing one client: one call at a time by default, in flight
    together on the one connection with pipeline=True (the server's
    handler pool runs them side by side)."""

    def run_threads(self, c, n):
        out = []
        ts = [threading.Thread(target=lambda i=i: out.append(c.testI64(300000000 + i)))
              for i in range(n)]
        t0 = time.monotonic()
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        return time.monotonic() - t0, sorted(out)

    def test_threads_pipeline_on_one_connection(self):
        s = Served()
        try:
            n = 8  # each call sleeps 0.3 s in the handler
            with make_client(m.ThriftTest, '127.0.0.1', s.port, pipeline=True,
                             timeout=20000) as c:
                took, out = self.run_threads(c, n)
                self.assertEqual(out, [300000000 + i for i in range(n)])
                self.assertLess(took, 0.3 * n / 2)
                self.assertEqual(c.testString('after'), 'after!')
            with make_client(m.ThriftTest, '127.0.0.1', s.port, timeout=20000) as c:
                took, out = self.run_threads(c, n)
                self.assertEqual(out, [300000000 + i for i in range(n)])
                self.assertGreaterEqual(took, 0.3 * n * 0.95)  # one at a time
        finally:
            s.stop()

    def test_pipelined_client_errors(self):
        s = Served()
        try:
            with make_client(m.ThriftTest, '127.0.0.1', s.port, pipeline=True) as c:
                with self.assertRaises(TApplicationException):
                    c.testI64(-1)
                self.assertEqual(c.testString('ok'), 'ok!')
            with self.assertRaises(TTransportException):
                c.testString('closed')
        finally:
            s.stop()
        with self.assertRaises(TTransportException):
            make_client(m.ThriftTest, '127.0.0.1', s.port, pipeline=True,
                        connect_timeout=1000).testString('nobody')


class HandlerThreadsTest(unittest.TestCase):
    """Where handlers run: a pool by default (a hanging handler holds up
    only its call; test_robust proves it), inline on the loop with
    handler_threads=0."""

    def where(self, **kw):
        seen = []

        class H(Handler):
            def testString(self, thing):
                seen.append(threading.current_thread().name)
                return thing
        s = Served(H(), **kw)
        try:
            with make_client(m.ThriftTest, '127.0.0.1', s.port) as c:
                for i in range(20):
                    self.assertEqual(c.testString('x%d' % i), 'x%d' % i)
        finally:
            s.stop()
        return seen

    def test_default_is_a_pool_started_on_demand(self):
        seen = self.where()
        self.assertEqual(len(seen), 20)
        self.assertTrue(all(n.startswith('dynthrift-handler-') for n in seen), seen)
        # one connection, one call at a time: one thread does it all
        self.assertEqual(set(seen), {'dynthrift-handler-0'})

    def test_pool_grows_while_handlers_are_busy(self):
        gate = threading.Event()
        names = []

        class H(Handler):
            def testI64(self, thing):
                names.append(threading.current_thread().name)
                gate.wait(10)
                return thing
        s = Served(H(), handler_threads=3)
        clients = [make_client(m.ThriftTest, '127.0.0.1', s.port, timeout=None)
                   for _ in range(4)]
        results = []
        ts = [threading.Thread(target=lambda c=c, i=i: results.append(c.testI64(i)))
              for i, c in enumerate(clients)]
        try:
            for t in ts:
                t.start()
            deadline = time.monotonic() + 5
            while len(names) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.1)
            self.assertEqual(len(set(names)), 3)   # the cap: the 4th call waits
            gate.set()
            for t in ts:
                t.join(5)
            self.assertEqual(sorted(results), [0, 1, 2, 3])
        finally:
            gate.set()
            for c in clients:
                c.close()
            s.stop()

    def test_inline_on_the_loop(self):
        seen = self.where(handler_threads=0)
        self.assertTrue(seen and not any(n.startswith('dynthrift-handler-') for n in seen),
                        seen)

    def test_pool_needs_one_loop(self):
        with self.assertRaises(ValueError):
            make_server(m.ThriftTest, Handler(), '127.0.0.1', 0, threads=2, handler_threads=2)


class CloseTest(unittest.TestCase):
    def test_client_context(self):
        from dynthrift.rpc import client_context
        served = Served()
        try:
            with client_context(m.ThriftTest, '127.0.0.1', served.port, timeout=1000) as c:
                self.assertEqual(c.testString('cc'), 'cc!')
            with self.assertRaises(TTransportException):
                c.testString('closed')
        finally:
            served.stop()

    def test_close_and_context_manager(self):
        served = Served()
        try:
            with make_client(m.ThriftTest, '127.0.0.1', served.port) as c:
                self.assertEqual(c.testString('a'), 'a!')
            with self.assertRaises(TTransportException):
                c.testString('b')
            c.close()  # twice is fine
        finally:
            served.stop()


class ServerLifecycleTest(unittest.TestCase):
    def test_close_before_and_while_serve_starts(self):
        s = make_server(m.ThriftTest, Handler(), '127.0.0.1', 0)
        s.close()
        self.assertIsNone(s.serve())  # closed before it started: returns
        for _ in range(50):  # close() racing serve() on another thread
            s = make_server(m.ThriftTest, Handler(), '127.0.0.1', 0)
            t = threading.Thread(target=s.serve)
            t.start()
            s.close()
            t.join(10)
            self.assertFalse(t.is_alive())
            self.assertEqual(s.port, 0)


class OptionsTest(unittest.TestCase):
    def test_protocols_framings_and_unix_sockets(self):
        import tempfile
        d = tempfile.mkdtemp()
        path = os.path.join(d, 's.sock')
        for proto in (None, TCompactProtocolFactory(), TJSONProtocolFactory()):
            for trans in (None, TFramedTransportFactory()):
                kw = {}
                if proto:
                    kw['proto_factory'] = proto
                if trans:
                    kw['trans_factory'] = trans
                server = make_server(m.ThriftTest, Handler(), unix_socket=path, **kw)
                t = threading.Thread(target=server.serve, daemon=True)
                t.start()
                try:
                    with make_client(m.ThriftTest, unix_socket=path, **kw) as c:
                        self.assertEqual(c.testString('u'), 'u!', (proto, trans))
                finally:
                    server.close()
                    t.join(10)
                os.unlink(path) if os.path.exists(path) else None
        os.rmdir(d)

    def test_options_pass_through(self):
        served = Served()
        try:
            with make_client(m.ThriftTest, address='127.0.0.1:%d' % served.port,
                             max_frame_size=1 << 20, multiplexed=False) as c:
                self.assertEqual(c.testString('o'), 'o!')
            with self.assertRaises(TypeError):
                make_client(m.ThriftTest, '127.0.0.1', served.port, no_such_option=1)
            with self.assertRaises(ValueError):
                make_client(m.ThriftTest, '127.0.0.1', served.port, idle_timeout_ms='soon')
        finally:
            served.stop()


SERVE_SCRIPT = r'''
import sys
sys.path.insert(0, %(here)r)
import dynthrift
from dynthrift.rpc import make_server
m = dynthrift.load(%(idl)r, module_name='types_thrift')
class H(object):
    def testString(self, thing):
        return thing
s = make_server(m.ThriftTest, H(), '127.0.0.1', 0)
print(s.port, flush=True)
s.serve()
print('stopped', flush=True)
'''


class CtrlCTest(unittest.TestCase):
    def test_sigint_stops_serve_cleanly(self):
        p = subprocess.Popen([sys.executable, '-c',
                              SERVE_SCRIPT % {'here': HERE, 'idl': TYPES_THRIFT}],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=dict(os.environ))
        try:
            port = int(p.stdout.readline())
            with make_client(m.ThriftTest, '127.0.0.1', port) as c:
                self.assertEqual(c.testString('x'), 'x')
                os.kill(p.pid, signal.SIGINT)
                out, err = p.communicate(timeout=10)
            self.assertEqual(p.returncode, 0, err)
            self.assertIn(b'stopped', out)
            self.assertNotIn(b'Traceback', err)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()


if __name__ == '__main__':
    unittest.main()
