"""dynthrift.http with thriftpy2.http's names (make_client with host, port,
path, scheme or url; make_server with serve()/close()), against Apache's
python3-thrift THttpServer and THttpClient both ways, and with itself.
(thriftpy 0.3.9, Debian's, has no HTTP module: thriftpy2 added it.)  Peers
run on threads of this process, on loopback."""
import threading
import unittest

import dynthrift
from dynthrift.http import THttpClient, THttpServer, make_client, make_server
from dynthrift.protocol import TCompactProtocolFactory
from dynthrift.rpc import make_client as make_tcp_client
from dynthrift.transport import TFramedTransportFactory, TTransportException

from helpers import TYPES_THRIFT, apache_generate, apache_remove, serve_in_thread
from test_interop import exercise_client, free_port, wait_listening
from test_rpc import Handler

m = dynthrift.load(TYPES_THRIFT, module_name='types_thrift')

try:
    from thrift.protocol import TBinaryProtocol, TCompactProtocol
    from thrift.server import THttpServer as ApacheHttpServer
    from thrift.transport import THttpClient as ApacheHttpClient
except ImportError:
    ApacheHttpServer = None


def serve(test, **kw):
    return serve_in_thread(test, make_server(m.ThriftTest, Handler(), '127.0.0.1', 0, **kw))


class OursTest(unittest.TestCase):
    def test_client_and_server(self):
        server = serve(self)
        self.assertIsInstance(server, THttpServer)
        for kw in ({'path': '/thrift'}, {'path': 'no-slash'}, {},
                   {'url': 'http://127.0.0.1:%d/x/y' % server.port}):
            with self.subTest(**kw):
                with make_client(m.ThriftTest, '127.0.0.1', server.port, **kw) as c:
                    self.assertIsInstance(c, THttpClient)
                    exercise_client(self, c, m.Xtruct, m.Xception)

    def test_compact_and_a_plain_client_on_the_same_port(self):
        server = serve(self, proto_factory=TCompactProtocolFactory())
        with make_client(m.ThriftTest, '127.0.0.1', server.port,
                         proto_factory=TCompactProtocolFactory()) as c:
            self.assertEqual(c.testString('c'), 'c!')
        with make_tcp_client(m.ThriftTest, '127.0.0.1', server.port,
                             proto_factory=TCompactProtocolFactory(),
                             trans_factory=TFramedTransportFactory()) as c:
            self.assertEqual(c.testString('framed'), 'framed!')

    def test_bad_arguments_and_no_server(self):
        with self.assertRaises(ValueError):
            make_client(m.ThriftTest, '127.0.0.1', 1, scheme='ftp')
        with self.assertRaises(ValueError):
            make_client(m.ThriftTest, url='ftp://127.0.0.1:1/')
        port = free_port()  # nobody listens there
        with self.assertRaises(TTransportException):
            make_client(m.ThriftTest, '127.0.0.1', port, connect_timeout=2000).testString('x')


@unittest.skipIf(ApacheHttpServer is None, 'python3-thrift missing')
class ApacheTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp, (cls.ttypes, cls.svc) = apache_generate(TYPES_THRIFT, 'tt_types.ttypes',
                                                         'tt_types.ThriftTest')

    @classmethod
    def tearDownClass(cls):
        apache_remove(cls.tmp)

    def test_dynthrift_client_apache_http_server(self):
        from test_transports import ApacheHandler
        for proto, ours in ((TBinaryProtocol.TBinaryProtocolFactory(), None),
                            (TCompactProtocol.TCompactProtocolFactory(),
                             TCompactProtocolFactory())):
            with self.subTest(protocol=type(proto).__name__):
                port = free_port()
                server = ApacheHttpServer.THttpServer(
                    self.svc.Processor(ApacheHandler(self.ttypes)), ('127.0.0.1', port), proto)
                threading.Thread(target=server.serve, daemon=True).start()
                self.addCleanup(server.httpd.server_close)
                self.addCleanup(server.httpd.shutdown)
                wait_listening(port)
                kw = {'proto_factory': ours} if ours else {}
                with make_client(m.ThriftTest, '127.0.0.1', port, path='/thrift', **kw) as c:
                    exercise_client(self, c, m.Xtruct, m.Xception)

    def test_apache_http_client_dynthrift_server(self):
        for ours, theirs in ((None, TBinaryProtocol.TBinaryProtocolAccelerated),
                             (TCompactProtocolFactory(), TCompactProtocol.TCompactProtocol)):
            with self.subTest(protocol=theirs.__name__):
                server = serve(self, **({'proto_factory': ours} if ours else {}))
                trans = ApacheHttpClient.THttpClient('http://127.0.0.1:%d/service' % server.port)
                c = self.svc.Client(theirs(trans))
                trans.open()
                try:
                    exercise_client(self, c, self.ttypes.Xtruct, self.ttypes.Xception)
                finally:
                    trans.close()


if __name__ == '__main__':
    unittest.main()
