#!/usr/bin/python3
"""A ThriftTest server on Apache Thrift's Python library (python3-thrift)
with the semantics of Apache's reference servers, run by cross_test.py to
test dynthrift's thrift_test_client.

Uses the code `thrift --gen py` makes from ThriftTest.thrift (v0.16) in
--genpy DIR.  A threaded server (one thread per connection), so a
multiplexing client may open one connection per service.  Prints
"listening on port N" (or "listening on unix:PATH") once it accepts."""
import argparse
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--genpy", required=True)
ap.add_argument("--port", type=int, default=0)
ap.add_argument("--domain-socket")
# Apache's cross-test names: http is THttpServer (HTTP/1.0, one request per
# connection), zlib TZlibTransport on the socket, header THeaderProtocol
# (which answers each client in the subprotocol it called with).
ap.add_argument("--transport", default="buffered",
                choices=["buffered", "framed", "http", "zlib", "header"])
ap.add_argument("--protocol", default="binary", choices=["binary", "compact", "json", "header"])
ap.add_argument("--zlib", action="store_true", help="TZlibTransport around the transport")
ap.add_argument("--ssl", action="store_true", help="TSSLServerSocket (THttpServer: https)")
ap.add_argument("--ssl-cert")
ap.add_argument("--ssl-key")
ap.add_argument("--multiplex", action="store_true")
# Wrong answers for testStruct, testSet and testMultiException("Xception2"),
# so a test can check that the client notices and reports exactly the bits
# 2 | 4 | 8.
ap.add_argument("--sabotage", action="store_true")
opts = ap.parse_args()
sys.path.insert(0, opts.genpy)

from thrift.Thrift import TException  # noqa: E402
from thrift.TMultiplexedProcessor import TMultiplexedProcessor  # noqa: E402
from thrift.protocol import TBinaryProtocol, TCompactProtocol, TJSONProtocol  # noqa: E402
from thrift.server import TServer  # noqa: E402
from thrift.protocol.THeaderProtocol import THeaderProtocolFactory  # noqa: E402
from thrift.server import THttpServer  # noqa: E402
from thrift.transport import TSocket, TSSLSocket, TTransport, TZlibTransport  # noqa: E402
from ThriftTest import SecondService, ThriftTest  # noqa: E402
from ThriftTest.ttypes import Insanity, Numberz, Xception, Xception2, Xtruct  # noqa: E402


class Handler:
    def testVoid(self):
        pass

    def testString(self, thing):
        return thing

    def testBool(self, thing):
        return thing

    def testByte(self, thing):
        return thing

    def testI32(self, thing):
        return thing

    def testI64(self, thing):
        return thing

    def testDouble(self, thing):
        return thing

    def testBinary(self, thing):
        return thing

    def testStruct(self, thing):
        if opts.sabotage:
            thing.i32_thing = (thing.i32_thing or 0) + 1
        return thing

    def testNest(self, thing):
        return thing

    def testMap(self, thing):
        return thing

    def testStringMap(self, thing):
        return thing

    def testSet(self, thing):
        if opts.sabotage and thing:
            thing = set(thing)
            thing.pop()
        return thing

    def testList(self, thing):
        return thing

    def testEnum(self, thing):
        return thing

    def testTypedef(self, thing):
        return thing

    def testMapMap(self, hello):
        return {-4: {-4: -4, -3: -3, -2: -2, -1: -1}, 4: {1: 1, 2: 2, 3: 3, 4: 4}}

    def testInsanity(self, argument):
        return {1: {Numberz.TWO: argument, Numberz.THREE: argument},
                2: {Numberz.SIX: Insanity()}}

    def testMulti(self, arg0, arg1, arg2, arg3, arg4, arg5):
        return Xtruct(string_thing="Hello2", byte_thing=arg0, i32_thing=arg1, i64_thing=arg2)

    def testException(self, arg):
        if arg == "Xception":
            raise Xception(errorCode=1001, message=arg)
        if arg == "TException":
            # The processor answers an undeclared exception with a
            # TApplicationException (INTERNAL_ERROR).
            raise TException(message="This is a TException")

    def testMultiException(self, arg0, arg1):
        if arg0 == "Xception":
            raise Xception(errorCode=1001, message="This is an Xception")
        if arg0 == "Xception2" and not opts.sabotage:
            raise Xception2(errorCode=2002, struct_thing=Xtruct(string_thing="This is an Xception2"))
        return Xtruct(string_thing=arg1)

    def testOneway(self, secondsToSleep):
        time.sleep(secondsToSleep / 3)


class SecondHandler:
    def secondtestString(self, thing):
        return 'testString("%s")' % thing


class Announcing:
    """Says where it listens once it does (port 0 picks a free port)."""

    def listen(self):
        super().listen()
        if opts.domain_socket:
            print("listening on unix:%s" % opts.domain_socket, flush=True)
        else:
            print("listening on port %d" % self.handle.getsockname()[1], flush=True)


class AnnouncingServerSocket(Announcing, TSocket.TServerSocket):
    pass


class AnnouncingSSLServerSocket(Announcing, TSSLSocket.TSSLServerSocket):
    pass


class ZlibTransportFactory:
    """TZlibTransport around what `inner` makes (TZlibTransportFactory
    caches one transport per underlying object, which is not wanted with
    a buffered or framed layer made afresh per connection)."""

    def __init__(self, inner):
        self.inner = inner

    def getTransport(self, trans):
        return TZlibTransport.TZlibTransport(self.inner.getTransport(trans))


processor = ThriftTest.Processor(Handler())
if opts.multiplex:
    mux = TMultiplexedProcessor()
    mux.registerDefault(processor)
    mux.registerProcessor("ThriftTest", processor)
    mux.registerProcessor("SecondService", SecondService.Processor(SecondHandler()))
    processor = mux
header = opts.transport == "header" or opts.protocol == "header"
pfactory = (THeaderProtocolFactory() if header else
            {"binary": TBinaryProtocol.TBinaryProtocolFactory(),
             "compact": TCompactProtocol.TCompactProtocolFactory(),
             "json": TJSONProtocol.TJSONProtocolFactory()}[opts.protocol])
if opts.transport == "http":
    ssl_args = {"cert_file": opts.ssl_cert, "key_file": opts.ssl_key} if opts.ssl else {}
    server = THttpServer.THttpServer(processor, ("127.0.0.1", opts.port), pfactory, **ssl_args)
    print("listening on port %d" % server.httpd.server_address[1], flush=True)
else:
    if opts.domain_socket:
        transport = AnnouncingServerSocket(unix_socket=opts.domain_socket)
    elif opts.ssl:
        transport = AnnouncingSSLServerSocket(host="127.0.0.1", port=opts.port,
                                              certfile=opts.ssl_cert, keyfile=opts.ssl_key)
    else:
        transport = AnnouncingServerSocket(host="127.0.0.1", port=opts.port)
    if header or opts.transport == "zlib":
        tfactory = TTransport.TTransportFactoryBase()  # the socket itself
    else:
        tfactory = (TTransport.TFramedTransportFactory() if opts.transport == "framed"
                    else TTransport.TBufferedTransportFactory())
    # With THeader, the zlib transform is the client's choice (read whatever
    # a request carries): --zlib adds no TZlibTransport then.
    if (opts.zlib and not header) or opts.transport == "zlib":
        tfactory = ZlibTransportFactory(tfactory)
    server = TServer.TThreadedServer(processor, transport, tfactory, pfactory, daemon=True)
try:
    server.serve()
except KeyboardInterrupt:
    pass
