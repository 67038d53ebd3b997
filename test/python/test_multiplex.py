"""thriftpy's multiplexing with only the imports changed: the client's
TMultiplexedProtocolFactory(proto_factory, name) and the server's
TProcessor + TMultiplexedProcessor.register_processor(name, processor)
served by TThreadedServer(processor, TServerSocket(...)).  Against
thriftpy 0.3.9's multiplexed server and client and Apache's
TMultiplexedProtocol / TMultiplexedProcessor, both ways; peers run on
threads of this process, on loopback."""
import asyncio
import logging
import os
import shutil
import tempfile
import threading
import unittest

import dynthrift
import dynthrift.aio as aio
from dynthrift.protocol import TBinaryProtocolFactory, TCompactProtocolFactory
from dynthrift.protocol.multiplex import TMultiplexedProtocolFactory
from dynthrift.rpc import make_client
from dynthrift.server import TThreadedServer
from dynthrift.thrift import TApplicationException, TMultiplexedProcessor, TProcessor
from dynthrift.transport import TFramedTransportFactory, TServerSocket

from helpers import apache_generate, apache_remove, serve_in_thread
from test_interop import free_port, wait_listening

try:
    import thriftpy
    import thriftpy.protocol
    import thriftpy.rpc
    import thriftpy.server
    import thriftpy.thrift
    import thriftpy.transport
except ImportError:
    thriftpy = None

try:
    from thrift.protocol import TBinaryProtocol, TMultiplexedProtocol
    from thrift.server import TServer as ApacheTServer
    from thrift.TMultiplexedProcessor import TMultiplexedProcessor as ApacheMuxProcessor
    from thrift.transport import TSocket, TTransport
except ImportError:
    ApacheTServer = None

IDL = """
namespace py mux_calc
service Calc {
  i32 add(1: i32 a, 2: i32 b),
  string whoami(),
}
service Echo {
  string echo(1: string text),
  string whoami(),
}
"""

TMP = tempfile.mkdtemp()
IDL_PATH = os.path.join(TMP, 'mux_calc.thrift')
with open(IDL_PATH, 'w') as f:
    f.write(IDL)
m = dynthrift.load(IDL_PATH, module_name='mux_calc_thrift')


def tearDownModule():
    shutil.rmtree(TMP)


class CalcHandler(object):
    def add(self, a, b):
        return a + b

    def whoami(self):
        return 'calc'


class EchoHandler(object):
    def echo(self, text):
        return text + '!'

    def whoami(self):
        return 'echo'


def our_mux_server(test, calc_name='calc', echo_name='echo', **kw):
    mux = TMultiplexedProcessor()
    mux.register_processor(calc_name, TProcessor(m.Calc, CalcHandler()))
    mux.register_processor(echo_name, TProcessor(m.Echo, EchoHandler()))
    return serve_in_thread(test, TThreadedServer(mux, TServerSocket('127.0.0.1', 0), **kw))


def mux_factory(name, proto=None):
    return TMultiplexedProtocolFactory(proto or TBinaryProtocolFactory(), name)


class OursTest(unittest.TestCase):
    def check(self, port, **kw):
        proto = kw.pop('proto_factory', None)
        with make_client(m.Calc, '127.0.0.1', port, proto_factory=mux_factory('calc', proto),
                         **kw) as calc, \
                make_client(m.Echo, '127.0.0.1', port, proto_factory=mux_factory('echo', proto),
                            **kw) as echo:
            self.assertEqual(calc.add(2, 3), 5)
            self.assertEqual(echo.echo('hi'), 'hi!')
            # the same method name reaches each service's own handler
            self.assertEqual(calc.whoami(), 'calc')
            self.assertEqual(echo.whoami(), 'echo')

    def test_dynthrift_client_and_server(self):
        server = our_mux_server(self)
        self.check(server.port)

    def test_framed_compact(self):
        server = our_mux_server(self, itrans_factory=TFramedTransportFactory(),
                                iprot_factory=TCompactProtocolFactory())
        self.check(server.port, trans_factory=TFramedTransportFactory(),
                   proto_factory=TCompactProtocolFactory())

    def test_names_other_than_the_service(self):
        server = our_mux_server(self, calc_name='calculator-v2', echo_name='e')
        with make_client(m.Calc, '127.0.0.1', server.port,
                         proto_factory=mux_factory('calculator-v2')) as calc:
            self.assertEqual(calc.add(1, 1), 2)
        with make_client(m.Echo, '127.0.0.1', server.port, proto_factory=mux_factory('e')) as e:
            self.assertEqual(e.whoami(), 'echo')
        # a name nobody registered is an unknown method
        with make_client(m.Calc, '127.0.0.1', server.port,
                         proto_factory=mux_factory('calc')) as c:
            with self.assertRaises(TApplicationException) as cm:
                c.add(1, 2)
            self.assertEqual(cm.exception.type, TApplicationException.UNKNOWN_METHOD)

    def test_asyncio_connection(self):
        server = our_mux_server(self)

        async def main():
            calc = await aio.create_connection(m.Calc, ('127.0.0.1', server.port),
                                               proto_factory=mux_factory('calc'))
            echo = await aio.create_connection(m.Echo, ('127.0.0.1', server.port),
                                               proto_factory=mux_factory('echo'))
            try:
                return await asyncio.gather(calc.add(20, 22), echo.echo('x'), calc.whoami(),
                                            echo.whoami())
            finally:
                calc.close()
                echo.close()
        self.assertEqual(asyncio.run(main()), [42, 'x!', 'calc', 'echo'])

    def test_registration_errors(self):
        mux = TMultiplexedProcessor()
        mux.register_processor('calc', TProcessor(m.Calc, CalcHandler()))
        with self.assertRaises(TApplicationException):
            mux.register_processor('calc', TProcessor(m.Calc, CalcHandler()))
        with self.assertRaises(ValueError):
            mux.register_processor('a:b', TProcessor(m.Calc, CalcHandler()))
        with self.assertRaises(ValueError):
            TThreadedServer(TMultiplexedProcessor(), TServerSocket('127.0.0.1', 0))
        # one server holds one schema: services of another IDL are refused
        other = dynthrift.loads('service Calc { i32 add(1: i32 a, 2: i32 b) }',
                                'other_mux_thrift')
        mux.register_processor('other', TProcessor(other.Calc, CalcHandler()))
        with self.assertRaises(ValueError):
            TThreadedServer(mux, TServerSocket('127.0.0.1', 0))

    def test_plain_processor(self):
        server = serve_in_thread(self, TThreadedServer(TProcessor(m.Calc, CalcHandler()),
                                                       TServerSocket('127.0.0.1', 0)))
        with make_client(m.Calc, '127.0.0.1', server.port) as c:
            self.assertEqual(c.add(4, 4), 8)


@unittest.skipIf(thriftpy is None, 'python3-thriftpy is not installed')
class ThriftpyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tm = thriftpy.load(IDL_PATH, module_name='tp_mux_calc_thrift')
        # its server logs the accept() that closing its socket ends
        logging.getLogger('thriftpy').setLevel(logging.CRITICAL)

    def test_dynthrift_clients_thriftpy_mux_server(self):
        tm = self.tm
        mux = thriftpy.thrift.TMultiplexedProcessor()
        mux.register_processor('calc', thriftpy.thrift.TProcessor(tm.Calc, CalcHandler()))
        mux.register_processor('echo', thriftpy.thrift.TProcessor(tm.Echo, EchoHandler()))
        port = free_port()
        sock = thriftpy.transport.TServerSocket('127.0.0.1', port)
        server = thriftpy.server.TThreadedServer(
            mux, sock, iprot_factory=thriftpy.protocol.TBinaryProtocolFactory(),
            itrans_factory=thriftpy.transport.TBufferedTransportFactory(), daemon=True)
        threading.Thread(target=server.serve, daemon=True).start()
        self.addCleanup(sock.close)
        self.addCleanup(setattr, server, 'closed', True)
        wait_listening(port)
        OursTest.check(self, port)

    def test_thriftpy_clients_dynthrift_mux_server(self):
        tm = self.tm
        server = our_mux_server(self)
        for name, svc, call, want in (('calc', tm.Calc, lambda c: c.add(7, 8), 15),
                                      ('echo', tm.Echo, lambda c: c.echo('tp'), 'tp!'),
                                      ('echo', tm.Echo, lambda c: c.whoami(), 'echo')):
            factory = thriftpy.protocol.TMultiplexedProtocolFactory(
                thriftpy.protocol.TBinaryProtocolFactory(), name)
            c = thriftpy.rpc.make_client(svc, '127.0.0.1', server.port, proto_factory=factory,
                                         trans_factory=thriftpy.transport.TBufferedTransportFactory())
            try:
                self.assertEqual(call(c), want)
            finally:
                c.close()


@unittest.skipIf(ApacheTServer is None, 'python3-thrift missing')
class ApacheTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp, (cls.calc, cls.echo) = apache_generate(IDL_PATH, 'mux_calc.Calc',
                                                        'mux_calc.Echo')

    @classmethod
    def tearDownClass(cls):
        apache_remove(cls.tmp)

    def test_apache_mux_clients_dynthrift_server(self):
        server = our_mux_server(self)
        sock = TSocket.TSocket('127.0.0.1', server.port)
        trans = TTransport.TBufferedTransport(sock)
        proto = TBinaryProtocol.TBinaryProtocol(trans)
        calc = self.calc.Client(TMultiplexedProtocol.TMultiplexedProtocol(proto, 'calc'))
        echo = self.echo.Client(TMultiplexedProtocol.TMultiplexedProtocol(proto, 'echo'))
        trans.open()
        try:
            self.assertEqual(calc.add(1, 2), 3)
            self.assertEqual(echo.echo('apache'), 'apache!')
            self.assertEqual(calc.whoami(), 'calc')
            self.assertEqual(echo.whoami(), 'echo')
        finally:
            trans.close()

    def test_dynthrift_clients_apache_mux_server(self):
        mux = ApacheMuxProcessor()
        mux.registerProcessor('calc', self.calc.Processor(CalcHandler()))
        mux.registerProcessor('echo', self.echo.Processor(EchoHandler()))
        port = free_port()
        sock = TSocket.TServerSocket('127.0.0.1', port)
        server = ApacheTServer.TThreadedServer(mux, sock, TTransport.TBufferedTransportFactory(),
                                               TBinaryProtocol.TBinaryProtocolFactory(),
                                               daemon=True)
        threading.Thread(target=server.serve, daemon=True).start()
        self.addCleanup(sock.close)
        wait_listening(port)
        OursTest.check(self, port)


if __name__ == '__main__':
    unittest.main()
