"""TLS, HTTP (url=) and THeader through the binding, with thriftpy2's keyword names
(cafile, certfile, keyfile, ssl_context, validate), against Apache's
python3-thrift peers both ways: TSSLServerSocket / TSSLSocket and
THeaderProtocol; THttpServer.  Certificates are made at test time by test/tls_certs.sh
(openssl); peers run on threads of this process."""
import asyncio
import importlib
import logging
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import unittest

import dynthrift
from dynthrift.rpc import make_client, make_server
from dynthrift.transport import (TFramedTransportFactory, THeaderTransportFactory,
                                 TTransportException)
from dynthrift.protocol import TCompactProtocolFactory

from helpers import TYPES_THRIFT, SRC, tool_env
from test_rpc import Handler
from test_interop import THRIFT, exercise_client, free_port, wait_listening

m = dynthrift.load(TYPES_THRIFT, module_name='types_thrift')

try:
    from thrift.protocol import TBinaryProtocol, THeaderProtocol
    from thrift.server import TServer
    from thrift.transport import TSocket, TSSLSocket, TTransport
except ImportError:
    TServer = None

CERTS = None


def setUpModule():
    global CERTS
    if TServer is None or not os.path.exists(THRIFT):
        raise unittest.SkipTest('python3-thrift or the thrift compiler missing')
    CERTS = tempfile.mkdtemp()
    r = subprocess.run(['sh', os.path.join(SRC, 'test', 'tls_certs.sh'), CERTS], env=tool_env())
    if r.returncode == 77:
        raise unittest.SkipTest('openssl missing')
    r.check_returncode()
    # the handshakes refused on purpose are logged by Apache's server
    logging.getLogger('thrift').setLevel(logging.CRITICAL)


def tearDownModule():
    if CERTS:
        shutil.rmtree(CERTS)


def cert(name):
    return os.path.join(CERTS, name)


class ApacheHandler(object):
    def __init__(self, tt):
        self.tt = tt

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
            raise self.tt.Xception(errorCode=1001, message=arg1)
        return self.tt.Xtruct(string_thing=arg1)


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        subprocess.check_call([THRIFT, '-r', '--gen', 'py', '-out', cls.tmp, TYPES_THRIFT],
                              stdout=subprocess.DEVNULL, env=tool_env())
        sys.path.insert(0, cls.tmp)
        cls.ttypes = importlib.import_module('tt_types.ttypes')
        cls.svc = importlib.import_module('tt_types.ThriftTest')

    @classmethod
    def tearDownClass(cls):
        sys.path.remove(cls.tmp)
        shutil.rmtree(cls.tmp)

    def apache_server(self, server_socket, transport_factory, protocol_factory):
        server = TServer.TThreadedServer(
            self.svc.Processor(ApacheHandler(self.ttypes)), server_socket,
            transport_factory, protocol_factory, daemon=True)
        threading.Thread(target=server.serve, daemon=True).start()
        self.addCleanup(server_socket.close)
        return server

    def our_server(self, **kw):
        server = make_server(m.ThriftTest, Handler(), '127.0.0.1', 0, **kw)
        t = threading.Thread(target=server.serve, daemon=True)
        t.start()

        def stop():
            server.close()
            t.join(10)
        self.addCleanup(stop)
        return server


class TlsTest(Base):
    def apache_tls_server(self, framed=False):
        port = free_port()
        sock = TSSLSocket.TSSLServerSocket('127.0.0.1', port, certfile=cert('server.pem'),
                                           keyfile=cert('server.key'))
        self.apache_server(sock, TTransport.TFramedTransportFactory() if framed
                           else TTransport.TBufferedTransportFactory(),
                           TBinaryProtocol.TBinaryProtocolAcceleratedFactory())
        wait_listening(port)
        return port

    def test_dynthrift_client_cafile_apache_tls_server(self):
        port = self.apache_tls_server()
        with make_client(m.ThriftTest, '127.0.0.1', port, cafile=cert('ca.pem')) as c:
            exercise_client(self, c, m.Xtruct, m.Xception)

    def test_framed_and_compact_over_tls_to_ourselves(self):
        s = self.our_server(certfile=cert('server.pem'), keyfile=cert('server.key'),
                            trans_factory=TFramedTransportFactory(),
                            proto_factory=TCompactProtocolFactory())
        with make_client(m.ThriftTest, '127.0.0.1', s.port, cafile=cert('ca.pem'),
                         trans_factory=TFramedTransportFactory(),
                         proto_factory=TCompactProtocolFactory()) as c:
            exercise_client(self, c, m.Xtruct, m.Xception)

    def test_verification_and_validate_false(self):
        port = self.apache_tls_server()
        # the system's CAs do not know the test CA; another CA neither
        for kw in ({}, {'cafile': cert('other-ca.pem')}):
            with self.subTest(**kw):
                with self.assertRaises(TTransportException):
                    make_client(m.ThriftTest, '127.0.0.1', port, ssl_context=ssl.create_default_context(),
                                connect_timeout=3000, **kw).testString('x')
        with make_client(m.ThriftTest, '127.0.0.1', port, cafile=cert('other-ca.pem'),
                         validate=False) as c:
            self.assertEqual(c.testString('unverified'), 'unverified!')
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with make_client(m.ThriftTest, '127.0.0.1', port, ssl_context=ctx) as c:
            self.assertEqual(c.testString('ctx'), 'ctx!')
        # plain text to a TLS server does not get an answer
        with self.assertRaises(TTransportException):
            make_client(m.ThriftTest, '127.0.0.1', port, timeout=1000).testString('plain')

    def test_apache_tls_client_dynthrift_server(self):
        s = self.our_server(certfile=cert('server.pem'), keyfile=cert('server.key'))
        sock = TSSLSocket.TSSLSocket('127.0.0.1', s.port, ca_certs=cert('ca.pem'),
                                     validate=True)
        trans = TTransport.TBufferedTransport(sock)
        c = self.svc.Client(TBinaryProtocol.TBinaryProtocolAccelerated(trans))
        trans.open()
        try:
            exercise_client(self, c, self.ttypes.Xtruct, self.ttypes.Xception)
        finally:
            trans.close()

    def test_tls_address_and_keys_pass_through(self):
        s = self.our_server(tls=True, tls_cert=cert('server.pem'), tls_key=cert('server.key'))
        with make_client(m.ThriftTest, address='tls://127.0.0.1:%d' % s.port,
                         tls_ca=cert('ca.pem')) as c:
            self.assertEqual(c.testString('addr'), 'addr!')

    def test_aio_connection_over_tls(self):
        import dynthrift.aio as aio
        s = self.our_server(certfile=cert('server.pem'), keyfile=cert('server.key'))

        async def main():
            conn = await aio.create_connection(m.ThriftTest, ('127.0.0.1', s.port),
                                               cafile=cert('ca.pem'))
            try:
                got = await asyncio.gather(*(conn.testString('a%d' % i) for i in range(8)))
            finally:
                conn.close()
            return got
        self.assertEqual(asyncio.run(main()), ['a%d!' % i for i in range(8)])

    def test_bad_ssl_context(self):
        with self.assertRaises(TypeError):
            make_client(m.ThriftTest, '127.0.0.1', 1, ssl_context='not a context')


class HttpTest(Base):
    def serve_http(self, **tls):
        from thrift.server import THttpServer
        port = free_port()
        server = THttpServer.THttpServer(
            self.svc.Processor(ApacheHandler(self.ttypes)), ('127.0.0.1', port),
            TBinaryProtocol.TBinaryProtocolFactory(), **tls)
        threading.Thread(target=server.serve, daemon=True).start()
        self.addCleanup(server.httpd.shutdown)
        wait_listening(port)
        return port

    def test_url_to_apache_http_server(self):
        port = self.serve_http()
        with make_client(m.ThriftTest, url='http://127.0.0.1:%d/thrift' % port) as c:
            exercise_client(self, c, m.Xtruct, m.Xception)


class HeaderTest(Base):
    def test_dynthrift_client_apache_header_server(self):
        port = free_port()
        self.apache_server(TSocket.TServerSocket('127.0.0.1', port),
                           TTransport.TTransportFactoryBase(),
                           THeaderProtocol.THeaderProtocolFactory())
        wait_listening(port)
        for proto in (None, TCompactProtocolFactory()):
            with self.subTest(compact=proto is not None):
                kw = {'proto_factory': proto} if proto else {}
                with make_client(m.ThriftTest, '127.0.0.1', port,
                                 trans_factory=THeaderTransportFactory(), **kw) as c:
                    exercise_client(self, c, m.Xtruct, m.Xception)

    def test_apache_header_client_dynthrift_server(self):
        s = self.our_server(trans_factory=THeaderTransportFactory())
        sock = TSocket.TSocket('127.0.0.1', s.port)
        c = self.svc.Client(THeaderProtocol.THeaderProtocolFactory().getProtocol(sock))
        sock.open()
        try:
            exercise_client(self, c, self.ttypes.Xtruct, self.ttypes.Xception)
        finally:
            sock.close()

    def test_header_zlib_to_ourselves(self):
        s = self.our_server(trans_factory=THeaderTransportFactory(), zlib=True)
        with make_client(m.ThriftTest, '127.0.0.1', s.port,
                         trans_factory=THeaderTransportFactory(), zlib=True) as c:
            self.assertEqual(c.testString('z' * 5000), 'z' * 5000 + '!')


if __name__ == '__main__':
    unittest.main()
