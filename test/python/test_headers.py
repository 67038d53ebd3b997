"""THeader info headers from Python: a client's set_header (next call),
set_persistent_header (every call), get_headers (the reply's) and
call_with_headers; a handler's request_headers() and set_reply_header().
Both ways against Apache's python3-thrift THeaderProtocol (its handler
reads and sets headers on the THeaderTransport), so the headers are seen
crossing the wire in each direction; and dynthrift with itself on every
client (blocking, pipelined, asyncio) and handler placement (handler pool,
inline on the loop, asyncio)."""
import asyncio
import json
import socket
import threading
import unittest

import dynthrift
import dynthrift.aio as aio
from dynthrift.headers import request_headers, set_reply_header
from dynthrift.rpc import make_client, make_server
from dynthrift.transport import THeaderTransportFactory, TFramedTransportFactory
from dynthrift.protocol import TCompactProtocolFactory

from helpers import TYPES_THRIFT, apache_generate, apache_remove, serve_in_thread

m = dynthrift.load(TYPES_THRIFT, module_name='types_thrift')

try:
    from thrift.protocol import THeaderProtocol
    from thrift.transport import TSocket, TTransport
except ImportError:
    THeaderProtocol = None

HEADER = THeaderTransportFactory()


class EchoHeaders(object):
    """testString answers the request's headers (JSON) and sets two reply
    headers; testI64 only answers."""

    def testString(self, thing):
        set_reply_header('served-by', 'dynthrift')
        set_reply_header('echo', thing)
        return json.dumps(sorted(request_headers().items()))

    def testI64(self, thing):
        return thing


class AsyncEchoHeaders(EchoHeaders):
    async def testString(self, thing):
        await asyncio.sleep(0.01)  # the context survives the suspension
        set_reply_header('served-by', 'dynthrift-aio')
        set_reply_header('echo', thing)
        return json.dumps(sorted(request_headers().items()))


def serve(test, handler=None, **kw):
    return serve_in_thread(test, make_server(m.ThriftTest, handler or EchoHeaders(),
                                             '127.0.0.1', 0, **kw))


def seen(text):
    return dict(json.loads(text))


class ClientServerTest(unittest.TestCase):
    """dynthrift with itself: every client kind, every handler placement."""

    def check_client(self, c):
        c.set_persistent_header('who', 'test')
        c.set_header('call', 'first')
        self.assertEqual(seen(c.testString('a')), {'who': 'test', 'call': 'first'})
        self.assertEqual(c.get_headers(), {'served-by': 'dynthrift', 'echo': 'a'})
        # the call header went with one call only
        self.assertEqual(seen(c.testString('b')), {'who': 'test'})
        self.assertEqual(c.get_headers()['echo'], 'b')
        result, reply = c.call_with_headers({'call': 'x', 'who': 'override'}, 'testString', 'c')
        self.assertEqual(seen(result), {'who': 'override', 'call': 'x'})
        self.assertEqual(reply, {'served-by': 'dynthrift', 'echo': 'c'})
        c.set_persistent_header('who', None)
        c.set_header(b'bytes-key', b'v\xc3\xa9')
        self.assertEqual(seen(c.testString('d')), {'bytes-key': 'v\u00e9'})
        # a reply without headers leaves none to read
        self.assertEqual(c.testI64(7), 7)
        self.assertEqual(c.get_headers(), {})
        self.assertEqual(c.get_persistent_headers(), {})

    def test_blocking_and_pipelined_clients_on_each_handler_placement(self):
        for server_kw in ({}, {'handler_threads': 0}, {'threads': 2}):
            s = serve(self, trans_factory=HEADER, **server_kw)
            for client_kw in ({}, {'pipeline': True}, {'proto_factory': TCompactProtocolFactory()}):
                with self.subTest(server=server_kw, client=client_kw):
                    with make_client(m.ThriftTest, '127.0.0.1', s.port, trans_factory=HEADER,
                                     **client_kw) as c:
                        self.check_client(c)

    def test_header_server_and_a_framed_client(self):
        # A THeader server answers framed clients too: their handler sees
        # no headers, and the reply headers it sets have nowhere to go.
        s = serve(self, trans_factory=HEADER)
        with make_client(m.ThriftTest, '127.0.0.1', s.port,
                         trans_factory=TFramedTransportFactory()) as c:
            c.set_header('ignored', 'x')
            self.assertEqual(seen(c.testString('a')), {})
            self.assertEqual(c.get_headers(), {})

    def test_threads_keep_their_own_next_call_headers(self):
        s = serve(self, trans_factory=HEADER)
        c = make_client(m.ThriftTest, '127.0.0.1', s.port, trans_factory=HEADER)
        self.addCleanup(c.close)
        errors = []

        def worker(n):
            try:
                for i in range(20):
                    tag = '%d-%d' % (n, i)
                    c.set_header('tag', tag)
                    if seen(c.testString(tag)) != {'tag': tag} or c.get_headers()['echo'] != tag:
                        errors.append(tag)
            except Exception as e:  # reported below
                errors.append(repr(e))
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(errors, [])

    def test_bad_headers_refused_before_sending(self):
        s = serve(self, trans_factory=HEADER)
        with make_client(m.ThriftTest, '127.0.0.1', s.port, trans_factory=HEADER) as c:
            for key, value in (('', 'v'), ('k', 'x' * 4097), ('k\0', 'v')):
                with self.assertRaises(ValueError):
                    c.set_header(key, value)
            with self.assertRaises(TypeError):
                c.set_persistent_header('k', 5)
            self.assertEqual(seen(c.testString('after')), {})
        with self.assertRaises(ValueError):
            set_reply_header('', 'v')
        self.assertEqual(request_headers(), {})  # outside a handler

    def test_asyncio_connection_and_server(self):
        async def main():
            server = await aio.create_server(m.ThriftTest, AsyncEchoHeaders(), ('127.0.0.1', 0),
                                             trans_factory=HEADER)
            conn = await aio.create_connection(m.ThriftTest, ('127.0.0.1', server.port),
                                               trans_factory=HEADER)
            try:
                conn.set_persistent_header('who', 'aio')
                conn.set_header('call', 'one')
                first = seen(await conn.testString('a'))
                reply1 = conn.get_headers()
                second = seen(await conn.testString('b'))
                # many in flight, each paired with its own reply's headers
                pairs = await asyncio.gather(*(
                    conn.call_with_headers({'n': str(i)}, 'testString', 'p%d' % i)
                    for i in range(10)))
            finally:
                conn.close()
                server.close()
                await server.wait_closed()
            return first, reply1, second, pairs
        first, reply1, second, pairs = asyncio.run(main())
        self.assertEqual(first, {'who': 'aio', 'call': 'one'})
        self.assertEqual(reply1, {'served-by': 'dynthrift-aio', 'echo': 'a'})
        self.assertEqual(second, {'who': 'aio'})
        for i, (result, reply) in enumerate(pairs):
            self.assertEqual(seen(result), {'who': 'aio', 'n': str(i)})
            self.assertEqual(reply, {'served-by': 'dynthrift-aio', 'echo': 'p%d' % i})

    def test_blocking_client_to_asyncio_server_with_a_sync_handler(self):
        async def main(port_box, done):
            server = await aio.create_server(m.ThriftTest, EchoHeaders(), ('127.0.0.1', 0),
                                             trans_factory=HEADER)
            port_box.append(server.port)
            await asyncio.get_running_loop().run_in_executor(None, done.wait, 30)
            server.close()
            await server.wait_closed()
        port_box, done = [], threading.Event()
        t = threading.Thread(target=asyncio.run, args=(main(port_box, done),), daemon=True)
        t.start()
        self.addCleanup(t.join, 10)
        self.addCleanup(done.set)
        while not port_box:
            t.join(0.01)
        with make_client(m.ThriftTest, '127.0.0.1', port_box[0], trans_factory=HEADER) as c:
            c.set_header('x', 'y')
            self.assertEqual(seen(c.testString('s')), {'x': 'y'})
            self.assertEqual(c.get_headers(), {'served-by': 'dynthrift', 'echo': 's'})


class ApacheTest(unittest.TestCase):
    """Against Apache's THeaderProtocol, both ways."""

    @classmethod
    def setUpClass(cls):
        if THeaderProtocol is None:
            raise unittest.SkipTest('python3-thrift missing')
        cls.tmp, (cls.svc,) = apache_generate(TYPES_THRIFT, 'tt_types.ThriftTest')

    @classmethod
    def tearDownClass(cls):
        apache_remove(cls.tmp)

    def apache_header_server(self):
        """A one-connection Apache server whose handler answers the
        request's headers and sets reply headers on the THeaderTransport."""
        listener = socket.socket()
        listener.bind(('127.0.0.1', 0))
        listener.listen(1)
        self.addCleanup(listener.close)
        proto_box = []

        class Handler(object):
            def testString(self, thing):
                trans = proto_box[0].trans
                got = {k.decode(): v.decode() for k, v in trans.get_headers().items()}
                trans.set_header(b'served-by', b'apache')
                trans.set_header(b'echo', thing.encode())
                return json.dumps(sorted(got.items()))

            def testI64(self, thing):
                return thing

        processor = self.svc.Processor(Handler())

        def run():
            conn, _ = listener.accept()
            sock = TSocket.TSocket()
            sock.setHandle(conn)
            proto = THeaderProtocol.THeaderProtocol(
                sock, [THeaderProtocol.THeaderClientType.HEADERS])
            proto_box.append(proto)
            try:
                while True:
                    processor.process(proto, proto)
            except (TTransport.TTransportException, EOFError, OSError):
                pass
            finally:
                conn.close()
        t = threading.Thread(target=run, daemon=True)
        t.start()
        self.addCleanup(t.join, 10)
        return listener.getsockname()[1]

    def test_dynthrift_client_apache_header_server(self):
        for kw in ({}, {'pipeline': True}):
            with self.subTest(**kw):
                port = self.apache_header_server()
                with make_client(m.ThriftTest, '127.0.0.1', port, trans_factory=HEADER,
                                 **kw) as c:
                    c.set_persistent_header('who', 'dynthrift')
                    c.set_header('call', 'first')
                    self.assertEqual(seen(c.testString('a')),
                                     {'who': 'dynthrift', 'call': 'first'})
                    self.assertEqual(c.get_headers(), {'served-by': 'apache', 'echo': 'a'})
                    self.assertEqual(seen(c.testString('b')), {'who': 'dynthrift'})
                    self.assertEqual(c.get_headers()['echo'], 'b')

    def test_dynthrift_asyncio_client_apache_header_server(self):
        port = self.apache_header_server()

        async def main():
            conn = await aio.create_connection(m.ThriftTest, ('127.0.0.1', port),
                                               trans_factory=HEADER)
            try:
                return await conn.call_with_headers({'from': 'aio'}, 'testString', 'q')
            finally:
                conn.close()
        result, reply = asyncio.run(main())
        self.assertEqual(seen(result), {'from': 'aio'})
        self.assertEqual(reply, {'served-by': 'apache', 'echo': 'q'})

    def test_apache_header_client_dynthrift_server(self):
        for server_kw in ({'trans_factory': HEADER}, {'trans_factory': HEADER, 'handler_threads': 0}):
            with self.subTest(**{k: str(v) for k, v in server_kw.items()}):
                s = serve(self, **server_kw)
                sock = TSocket.TSocket('127.0.0.1', s.port)
                proto = THeaderProtocol.THeaderProtocolFactory().getProtocol(sock)
                c = self.svc.Client(proto)
                sock.open()
                try:
                    proto.trans.set_header(b'who', b'apache')
                    self.assertEqual(seen(c.testString('a')), {'who': 'apache'})
                    self.assertEqual(proto.trans.get_headers(),
                                     {b'served-by': b'dynthrift', b'echo': b'a'})
                    # Apache's write headers go with one message
                    self.assertEqual(seen(c.testString('b')), {})
                    self.assertEqual(proto.trans.get_headers()[b'echo'], b'b')
                finally:
                    sock.close()


if __name__ == '__main__':
    unittest.main()
