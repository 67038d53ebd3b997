"""dynthrift.tornado with thriftpy.tornado's names: make_server's
TTornadoServer (listen, bind + start, add_sockets, stop, as a tornado
TCPServer) and make_client's future-returning client, with a tornado IOLoop
driving both; handlers that are async def or gen.coroutine, awaited on the
IOLoop (which keeps running meanwhile); interop with thriftpy's and
Apache's blocking framed peers.  (thriftpy 0.3.9's own tornado module
passes io_loop= to TCPServer, which Tornado 6 refuses, so it is not a
peer here.)  Everything on loopback, peers on threads of this process."""
import asyncio
import logging
import threading
import time
import unittest

import dynthrift
from dynthrift.protocol import TCompactProtocolFactory
from dynthrift.thrift import TMultiplexedProcessor, TProcessor
from dynthrift.transport import TTransportException

from helpers import TYPES_THRIFT, apache_generate, apache_remove
from test_interop import free_port, wait_listening

try:
    from tornado import gen, netutil
    from tornado.ioloop import IOLoop, PeriodicCallback
    from dynthrift.tornado import TTornadoServer, make_client, make_server
except ImportError:
    IOLoop = None

try:
    import thriftpy
    import thriftpy.protocol
    import thriftpy.rpc
    import thriftpy.transport
except ImportError:
    thriftpy = None

m = dynthrift.load(TYPES_THRIFT, module_name='types_thrift')

SLOW = 0.3


class Dispatcher(object):
    async def testString(self, thing):
        await gen.sleep(SLOW if thing == 'slow' else 0)
        return thing + '!'

    @gen.coroutine
    def testI64(self, thing):
        yield gen.sleep(0.01)
        return thing * 2

    def testStruct(self, thing):
        return thing

    def testMultiException(self, arg0, arg1):
        raise m.Xception(errorCode=7, message=arg1)


def run(main, timeout=30):
    loop = IOLoop()
    try:
        return loop.run_sync(main, timeout=timeout)
    finally:
        loop.close(all_fds=False)


def serve_to_blocking_client(blocking_client):
    """A tornado server of Dispatcher on a new IOLoop while
    blocking_client(port) runs in a thread (the IOLoop stays free)."""
    async def main():
        server = make_server(m.ThriftTest, Dispatcher())
        server.listen(0, '127.0.0.1')
        try:
            await IOLoop.current().run_in_executor(None, blocking_client, server.port)
        finally:
            server.stop()
    run(main)


@unittest.skipIf(IOLoop is None, 'python3-tornado is not installed')
class TornadoTest(unittest.TestCase):
    def test_client_and_server_on_one_ioloop(self):
        ticks = []

        async def main():
            server = make_server(m.ThriftTest, Dispatcher())
            server.listen(0, '127.0.0.1')
            client = await make_client(m.ThriftTest, '127.0.0.1', server.port)
            timer = PeriodicCallback(lambda: ticks.append(time.monotonic()), 20)
            timer.start()
            try:
                self.assertEqual(await client.testString('a'), 'a!')
                self.assertEqual(await client.testI64(21), 42)
                x = m.Xtruct(string_thing='s', i32_thing=3)
                self.assertEqual(await client.testStruct(x), x)
                with self.assertRaises(m.Xception) as cm:
                    await client.testMultiException('x', 'bad')
                self.assertEqual(cm.exception.errorCode, 7)
                # many in flight on one connection: the slow handlers
                # overlap, and the IOLoop keeps ticking meanwhile
                start = time.monotonic()
                got = await gen.multi([client.testString('slow') for _ in range(8)])
                elapsed = time.monotonic() - start
            finally:
                timer.stop()
                client.close()
                server.stop()
                await server.wait_closed()
            return got, elapsed
        got, elapsed = run(main)
        self.assertEqual(got, ['slow!'] * 8)
        self.assertLess(elapsed, SLOW * 5)  # not 8 x SLOW one after the other
        self.assertGreater(len(ticks), 3)

    def test_bind_start_and_add_sockets(self):
        async def main():
            server = make_server(m.ThriftTest, Dispatcher(),
                                 proto_factory=TCompactProtocolFactory())
            port = free_port()
            server.bind(port, '127.0.0.1')
            server.start()
            other = TTornadoServer(TProcessor(m.ThriftTest, Dispatcher()),
                                   iprot_factory=TCompactProtocolFactory())
            other.add_sockets(netutil.bind_sockets(0, '127.0.0.1'))
            results = []
            other_port = other.port
            for p in (port, other_port):
                c = await make_client(m.ThriftTest, '127.0.0.1', p,
                                      proto_factory=TCompactProtocolFactory())
                results.append(await c.testString(str(p)))
                c.close()
            for s in (server, other):
                s.stop()
                await s.wait_closed()
            # stopped: nobody answers there any more
            c = await make_client(m.ThriftTest, '127.0.0.1', port, connect_timeout=2)
            with self.assertRaises(TTransportException):
                await c.testString('gone')
            c.close()
            return port, other_port, results
        port, other_port, results = run(main)
        self.assertEqual(results, ['%d!' % port, '%d!' % other_port])

    def test_multiplexed_processor(self):
        from dynthrift.protocol import TBinaryProtocolFactory, TMultiplexedProtocolFactory

        async def main():
            mux = TMultiplexedProcessor()
            mux.register_processor('tt', TProcessor(m.ThriftTest, Dispatcher()))
            server = TTornadoServer(mux, iprot_factory=TBinaryProtocolFactory())
            server.listen(0, '127.0.0.1')
            c = await make_client(m.ThriftTest, '127.0.0.1', server.port,
                                  proto_factory=TMultiplexedProtocolFactory(
                                      TBinaryProtocolFactory(), 'tt'))
            try:
                return await c.testString('mux')
            finally:
                c.close()
                server.stop()
        self.assertEqual(run(main), 'mux!')

    def test_read_timeout(self):
        class Slow(Dispatcher):
            async def testString(self, thing):
                await asyncio.sleep(2)
                return thing

        async def main():
            server = make_server(m.ThriftTest, Slow())
            server.listen(0, '127.0.0.1')
            c = await make_client(m.ThriftTest, '127.0.0.1', server.port, read_timeout=0.2)
            try:
                with self.assertRaises(TTransportException):
                    await c.testString('late')
            finally:
                c.close()
                server.stop()
        run(main)

    @unittest.skipIf(thriftpy is None, 'python3-thriftpy is not installed')
    def test_thriftpy_blocking_client_tornado_server(self):
        tm = thriftpy.load(TYPES_THRIFT, module_name='tpt_types_thrift')
        out = {}

        def blocking_client(port):
            c = thriftpy.rpc.make_client(tm.ThriftTest, '127.0.0.1', port,
                                         trans_factory=thriftpy.transport.TFramedTransportFactory())
            try:
                out['s'] = c.testString('tp')
                out['i'] = c.testI64(5)
            finally:
                c.close()

        serve_to_blocking_client(blocking_client)
        self.assertEqual(out, {'s': 'tp!', 'i': 10})

    @unittest.skipIf(thriftpy is None, 'python3-thriftpy is not installed')
    def test_tornado_client_thriftpy_blocking_server(self):
        tm = thriftpy.load(TYPES_THRIFT, module_name='tpt_types_thrift')
        # its server logs the accept() that closing its socket ends
        logging.getLogger('thriftpy').setLevel(logging.CRITICAL)

        class H(object):
            def testString(self, thing):
                return thing + '?'
        port = free_port()
        server = thriftpy.rpc.make_server(tm.ThriftTest, H(), '127.0.0.1', port,
                                          trans_factory=thriftpy.transport.TFramedTransportFactory())
        threading.Thread(target=server.serve, daemon=True).start()
        self.addCleanup(server.trans.close)
        self.addCleanup(setattr, server, 'closed', True)  # first: its accept loop ends
        wait_listening(port)

        async def main():
            c = await make_client(m.ThriftTest, '127.0.0.1', port)
            try:
                return await gen.multi([c.testString('q%d' % i) for i in range(5)])
            finally:
                c.close()
        self.assertEqual(run(main), ['q%d?' % i for i in range(5)])

    def test_apache_blocking_client_tornado_server(self):
        try:
            from thrift.protocol import TBinaryProtocol
            from thrift.transport import TSocket, TTransport
        except ImportError:
            self.skipTest('python3-thrift missing')
        tmp, (svc,) = apache_generate(TYPES_THRIFT, 'tt_types.ThriftTest')
        self.addCleanup(apache_remove, tmp)
        out = {}

        def blocking_client(port):
            trans = TTransport.TFramedTransport(TSocket.TSocket('127.0.0.1', port))
            c = svc.Client(TBinaryProtocol.TBinaryProtocol(trans))
            trans.open()
            try:
                out['s'] = c.testString('apache')
            finally:
                trans.close()

        serve_to_blocking_client(blocking_client)
        self.assertEqual(out, {'s': 'apache!'})


if __name__ == '__main__':
    unittest.main()
