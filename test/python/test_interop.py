"""Interop over loopback with real peers from Debian packages, both ways:
thriftpy (python3-thriftpy; binary, buffered and framed -- its compact
protocol does not run on Python >= 3.9) and Apache's python3-thrift
(classes from the thrift compiler; binary and compact, buffered and
framed).  Peers run on threads of this process."""
import importlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import dynthrift
from dynthrift.protocol import TBinaryProtocolFactory, TCompactProtocolFactory
from dynthrift.rpc import make_client, make_server
from dynthrift.thrift import TApplicationException
from dynthrift.transport import TBufferedTransportFactory, TFramedTransportFactory

from helpers import TYPES_THRIFT
from test_rpc import Handler

m = dynthrift.load(TYPES_THRIFT, module_name='types_thrift')

try:
    import thriftpy
    import thriftpy.rpc
    import thriftpy.transport
    import thriftpy.protocol
    import thriftpy.thrift
except ImportError:
    thriftpy = None

try:
    from thrift.protocol import TBinaryProtocol, TCompactProtocol
    from thrift.server import TServer
    from thrift.transport import TSocket, TTransport
    import thrift.Thrift as ApacheThrift
except ImportError:
    TServer = None
THRIFT = shutil.which('thrift') or '/usr/bin/thrift'


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_listening(port, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(('127.0.0.1', port), 0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError('peer did not listen on %d' % port)


def exercise_client(test, c, xtruct, xception):
    """The calls every client makes, whoever serves."""
    test.assertEqual(c.testString('h\u00e9llo'), 'h\u00e9llo!')
    test.assertEqual(c.testI64(1 << 62), 1 << 62)
    x = xtruct(string_thing='s', byte_thing=1, i32_thing=-2, i64_thing=1 << 40)
    test.assertEqual(c.testStruct(x), x)
    with test.assertRaises(xception) as cm:
        c.testMultiException('Xception', 'bad')
    test.assertEqual(cm.exception.errorCode, 1001)
    test.assertEqual(c.testMultiException('ok', 'fine').string_thing, 'fine')
    test.assertIsNone(c.ping())


FRAMINGS = [('buffered', TBufferedTransportFactory), ('framed', TFramedTransportFactory)]


@unittest.skipIf(thriftpy is None, 'python3-thriftpy is not installed')
class ThriftpyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tm = thriftpy.load(TYPES_THRIFT, module_name='tpi_types_thrift')

    def tp_handler(self):
        tm = self.tm

        class H(object):
            def ping(self):
                pass

            def testString(self, thing):
                return thing + '!'

            def testI64(self, thing):
                return thing

            def testStruct(self, thing):
                return thing

            def testMultiException(self, arg0, arg1):
                if arg0 == 'Xception':
                    raise tm.Xception(errorCode=1001, message=arg1)
                return tm.Xtruct(string_thing=arg1)
        return H()

    def test_dynthrift_client_thriftpy_server(self):
        for name, _ in FRAMINGS:
            with self.subTest(framing=name):
                tp_trans = (thriftpy.transport.TFramedTransportFactory() if name == 'framed'
                            else thriftpy.transport.TBufferedTransportFactory())
                port = free_port()
                server = thriftpy.rpc.make_server(self.tm.ThriftTest, self.tp_handler(),
                                                  '127.0.0.1', port, trans_factory=tp_trans)
                threading.Thread(target=server.serve, daemon=True).start()
                wait_listening(port)
                ours = TFramedTransportFactory() if name == 'framed' else None
                kw = {'trans_factory': ours} if ours else {}
                with make_client(m.ThriftTest, '127.0.0.1', port, **kw) as c:
                    exercise_client(self, c, m.Xtruct, m.Xception)
                server.trans.close()

    def test_thriftpy_client_dynthrift_server(self):
        for name, factory in FRAMINGS:
            with self.subTest(framing=name):
                server = make_server(m.ThriftTest, Handler(), '127.0.0.1', 0,
                                     trans_factory=factory())
                t = threading.Thread(target=server.serve, daemon=True)
                t.start()
                tp_trans = (thriftpy.transport.TFramedTransportFactory() if name == 'framed'
                            else thriftpy.transport.TBufferedTransportFactory())
                c = thriftpy.rpc.make_client(self.tm.ThriftTest, '127.0.0.1', server.port,
                                             trans_factory=tp_trans)
                try:
                    exercise_client(self, c, self.tm.Xtruct, self.tm.Xception)
                    # any other exception: INTERNAL_ERROR, connection kept
                    with self.assertRaises(thriftpy.thrift.TApplicationException) as cm:
                        c.testI64(-1)
                    self.assertEqual(cm.exception.type, TApplicationException.INTERNAL_ERROR)
                    self.assertEqual(c.testString('again'), 'again!')
                finally:
                    c.close()
                    server.close()
                    t.join(10)


class AsyncioInteropTest(unittest.TestCase):
    """dynthrift.aio against blocking peers: a thriftpy server for the
    pipelined client, an Apache client for the asyncio server."""

    @unittest.skipIf(thriftpy is None, 'python3-thriftpy is not installed')
    def test_aio_client_thriftpy_server(self):
        import asyncio
        import dynthrift.aio as aio
        tm = thriftpy.load(TYPES_THRIFT, module_name='tpa_types_thrift')

        class H(object):
            def testString(self, thing):
                return thing + '!'

            def testMultiException(self, arg0, arg1):
                raise tm.Xception(errorCode=1001, message=arg1)
        port = free_port()
        server = thriftpy.rpc.make_server(tm.ThriftTest, H(), '127.0.0.1', port)
        threading.Thread(target=server.serve, daemon=True).start()
        wait_listening(port)

        async def main():
            conn = await aio.create_connection(m.ThriftTest, ('127.0.0.1', port), timeout=5)
            got = await asyncio.gather(*(conn.testString('s%d' % i) for i in range(20)))
            self.assertEqual(got, ['s%d!' % i for i in range(20)])
            with self.assertRaises(m.Xception):
                await conn.testMultiException('a', 'b')
            conn.close()
        asyncio.run(main())
        server.trans.close()

    @unittest.skipIf(TServer is None or not os.path.exists(THRIFT),
                     'python3-thrift or the thrift compiler is missing')
    def test_apache_client_aio_server(self):
        import asyncio
        import dynthrift.aio as aio
        tmp = tempfile.mkdtemp()
        try:
            subprocess.check_call([THRIFT, '-r', '--gen', 'py', '-out', tmp, TYPES_THRIFT],
                                  stdout=subprocess.DEVNULL)
            sys.path.insert(0, tmp)
            svc = importlib.import_module('tt_types.ThriftTest')

            class H(object):
                async def testString(self, thing):
                    await asyncio.sleep(0.01)
                    return thing + '!'

            async def main():
                server = await aio.create_server(m.ThriftTest, H(), ('127.0.0.1', 0),
                                                 framed=True)
                loop = asyncio.get_running_loop()

                def apache_calls():
                    sock = TSocket.TSocket('127.0.0.1', server.port)
                    trans = TTransport.TFramedTransport(sock)
                    c = svc.Client(TBinaryProtocol.TBinaryProtocolAccelerated(trans))
                    trans.open()
                    try:
                        return [c.testString('a%d' % i) for i in range(5)]
                    finally:
                        trans.close()
                got = await loop.run_in_executor(None, apache_calls)
                self.assertEqual(got, ['a%d!' % i for i in range(5)])
                server.close()
                await server.wait_closed()
            asyncio.run(main())
        finally:
            if tmp in sys.path:
                sys.path.remove(tmp)
            shutil.rmtree(tmp)


@unittest.skipIf(TServer is None or not os.path.exists(THRIFT),
                 'python3-thrift or the thrift compiler is missing')
class ApacheTest(unittest.TestCase):
    PROTOCOLS = [
        ('binary', TBinaryProtocolFactory,
         lambda: TBinaryProtocol.TBinaryProtocolAcceleratedFactory()),
        ('compact', TCompactProtocolFactory,
         lambda: TCompactProtocol.TCompactProtocolAcceleratedFactory()),
    ]

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        subprocess.check_call([THRIFT, '-r', '--gen', 'py', '-out', cls.tmp, TYPES_THRIFT],
                              stdout=subprocess.DEVNULL)
        sys.path.insert(0, cls.tmp)
        cls.ttypes = importlib.import_module('tt_types.ttypes')
        cls.svc = importlib.import_module('tt_types.ThriftTest')

    @classmethod
    def tearDownClass(cls):
        sys.path.remove(cls.tmp)
        shutil.rmtree(cls.tmp)

    def apache_transport(self, framing):
        return (TTransport.TFramedTransportFactory() if framing == 'framed'
                else TTransport.TBufferedTransportFactory())

    def test_dynthrift_client_apache_server(self):
        tt = self.ttypes

        class H(object):
            def ping(self):
                pass

            def testString(self, thing):
                return thing + '!'

            def testI64(self, thing):
                return thing

            def testStruct(self, thing):
                return thing

            def testMultiException(self, arg0, arg1):
                if arg0 == 'Xception':
                    raise tt.Xception(errorCode=1001, message=arg1)
                return tt.Xtruct(string_thing=arg1)

        for pname, ours, theirs in self.PROTOCOLS:
            for fname, factory in FRAMINGS:
                with self.subTest(protocol=pname, framing=fname):
                    port = free_port()
                    server = TServer.TThreadedServer(
                        self.svc.Processor(H()), TSocket.TServerSocket('127.0.0.1', port),
                        self.apache_transport(fname), theirs(), daemon=True)
                    threading.Thread(target=server.serve, daemon=True).start()
                    wait_listening(port)
                    with make_client(m.ThriftTest, '127.0.0.1', port, proto_factory=ours(),
                                     trans_factory=factory()) as c:
                        exercise_client(self, c, m.Xtruct, m.Xception)
                    server.serverTransport.close()

    def test_apache_client_dynthrift_server(self):
        for pname, ours, theirs in self.PROTOCOLS:
            for fname, factory in FRAMINGS:
                with self.subTest(protocol=pname, framing=fname):
                    server = make_server(m.ThriftTest, Handler(), '127.0.0.1', 0,
                                         proto_factory=ours(), trans_factory=factory())
                    t = threading.Thread(target=server.serve, daemon=True)
                    t.start()
                    sock = TSocket.TSocket('127.0.0.1', server.port)
                    trans = self.apache_transport(fname).getTransport(sock)
                    c = self.svc.Client(theirs().getProtocol(trans))
                    trans.open()
                    try:
                        exercise_client(self, c, self.ttypes.Xtruct, self.ttypes.Xception)
                        with self.assertRaises(ApacheThrift.TApplicationException) as cm:
                            c.testI64(-1)
                        self.assertEqual(cm.exception.type,
                                         ApacheThrift.TApplicationException.INTERNAL_ERROR)
                        self.assertEqual(c.testString('again'), 'again!')
                        c.testOneway(0)
                        self.assertEqual(c.testString('after oneway'), 'after oneway!')
                    finally:
                        trans.close()
                        server.close()
                        t.join(10)


if __name__ == '__main__':
    unittest.main()
