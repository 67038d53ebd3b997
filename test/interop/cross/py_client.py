#!/usr/bin/python3
"""A ThriftTest client on Apache Thrift's Python library (python3-thrift),
run by cross_test.py against dynthrift's thrift_test_server.

Uses the code `thrift --gen py` makes from ThriftTest.thrift (v0.16) in
--genpy DIR.  Calls every method with the values of Apache's reference
clients, and checks each reply's seqid: the generated Python client always
sends seqid 0, so the protocol here numbers the calls itself and insists
that every reply carries its call's seqid.  Exit status: the cross-test
bitmask (1 base types, 2 structs, 4 containers, 8 exceptions, 64 unknown)."""
import argparse
import sys
import time
import traceback

ap = argparse.ArgumentParser()
ap.add_argument("--genpy", required=True)
ap.add_argument("--host", default="127.0.0.1")
ap.add_argument("--port", type=int, default=9090)
ap.add_argument("--domain-socket")
# Apache's cross-test names: http is THttpClient, zlib TZlibTransport on the
# socket, header THeaderProtocol (with --protocol binary or compact inside;
# --protocol header alone means binary inside, as Apache's scripts say it).
ap.add_argument("--transport", default="buffered",
                choices=["buffered", "framed", "http", "zlib", "header"])
ap.add_argument("--protocol", default="binary", choices=["binary", "compact", "json", "header"])
ap.add_argument("--zlib", action="store_true", help="TZlibTransport around the transport")
ap.add_argument("--ssl", action="store_true", help="TSSLSocket (THttpClient: https)")
ap.add_argument("--ssl-ca", help="the CA that signed the server's certificate (verified)")
ap.add_argument("--http-path", default="/")
ap.add_argument("--multiplex", action="store_true")
# binary: old-style unversioned message headers (strictWrite=False), which
# Apache's servers accept by default (strictRead=False).
ap.add_argument("--non-strict", action="store_true")
opts = ap.parse_args()
sys.path.insert(0, opts.genpy)

from thrift.Thrift import TApplicationException, TException  # noqa: E402
from thrift.protocol import TBinaryProtocol, TCompactProtocol, TJSONProtocol  # noqa: E402
from thrift.protocol.TMultiplexedProtocol import TMultiplexedProtocol  # noqa: E402
from thrift.protocol.TProtocol import TProtocolException  # noqa: E402
from thrift.protocol.THeaderProtocol import THeaderProtocol  # noqa: E402
from thrift.transport import THttpClient, TSocket, TSSLSocket, TTransport  # noqa: E402
from thrift.transport import TZlibTransport  # noqa: E402
from thrift.transport.THeaderTransport import THeaderClientType  # noqa: E402
from thrift.transport.THeaderTransport import THeaderSubprotocolID  # noqa: E402
from thrift.transport.THeaderTransport import THeaderTransformID  # noqa: E402
from ThriftTest import SecondService, ThriftTest  # noqa: E402
from ThriftTest.ttypes import Insanity, Numberz, Xception, Xception2, Xtruct, Xtruct2  # noqa: E402

ERR_BASETYPES, ERR_STRUCTS, ERR_CONTAINERS, ERR_EXCEPTIONS, ERR_UNKNOWN = 1, 2, 4, 8, 64

seq = [0]


def pedantic(cls):
    """`cls` numbering its calls and checking each reply's seqid."""
    class Pedantic(cls):
        def writeMessageBegin(self, name, mtype, seqid):
            seq[0] += 1
            self.sent_seqid = seq[0]
            super().writeMessageBegin(name, mtype, seq[0])

        def readMessageBegin(self):
            name, mtype, seqid = super().readMessageBegin()
            if seqid != getattr(self, "sent_seqid", None):
                raise TProtocolException(TProtocolException.INVALID_DATA,
                                         "sent seqid %r, reply has %r" % (self.sent_seqid, seqid))
            return name, mtype, seqid
    return Pedantic


PROTOCOLS = {"binary": TBinaryProtocol.TBinaryProtocol,
             "compact": TCompactProtocol.TCompactProtocol,
             "json": TJSONProtocol.TJSONProtocol}

header = opts.transport == "header" or opts.protocol == "header"
if header:
    sub = (THeaderSubprotocolID.COMPACT if opts.protocol == "compact"
           else THeaderSubprotocolID.BINARY)

    class HeaderProtocol(THeaderProtocol):
        def __init__(self, trans):
            super().__init__(trans, (THeaderClientType.HEADERS,), sub)
            if opts.zlib:  # with THeader, --zlib is its zlib transform
                self.trans.add_transform(THeaderTransformID.ZLIB)

    PROTOCOLS["header"] = PROTOCOLS[opts.protocol] = HeaderProtocol

if opts.transport == "http":
    trans = THttpClient.THttpClient("%s://%s:%d%s" % ("https" if opts.ssl else "http", opts.host,
                                                      opts.port, opts.http_path),
                                    cafile=opts.ssl_ca)
    trans.setTimeout(20000)
else:
    if opts.domain_socket:
        sock = TSocket.TSocket(unix_socket=opts.domain_socket)
    elif opts.ssl:
        sock = TSSLSocket.TSSLSocket(opts.host, opts.port, ca_certs=opts.ssl_ca)
    else:
        sock = TSocket.TSocket(opts.host, opts.port)
    sock.setTimeout(20000)
    if header or opts.transport == "zlib":
        trans = sock  # THeaderProtocol frames itself; TZlibTransport wraps the socket
    else:
        trans = (TTransport.TFramedTransport if opts.transport == "framed"
                 else TTransport.TBufferedTransport)(sock)
    if (opts.zlib and not header) or opts.transport == "zlib":
        trans = TZlibTransport.TZlibTransport(trans)
try:
    trans.open()
except TException as e:
    print("cannot connect: %s" % e)
    sys.exit(ERR_UNKNOWN)
pedantic_cls = pedantic(PROTOCOLS[opts.protocol])


def proto_cls(t):
    if opts.non_strict:
        return pedantic_cls(t, strictRead=False, strictWrite=False)
    return pedantic_cls(t)


proto = proto_cls(trans)
second = None
if opts.multiplex:
    # Both services over one connection, as Apache's clients do.
    second = SecondService.Client(TMultiplexedProtocol(proto_cls(trans), "SecondService"))
    proto = TMultiplexedProtocol(proto, "ThriftTest")
client = ThriftTest.Client(proto)

rc = 0
checks = 0


def check(bit, name, fn, *args, expect=None, throws=None, test=None):
    """Calls fn(*args); the answer must equal `expect` (or satisfy `test`),
    or, with `throws`, the call must raise that class (and satisfy `test`)."""
    global rc, checks
    checks += 1
    try:
        got = fn(*args)
    except Exception as e:
        if throws is not None and isinstance(e, throws) and (test is None or test(e)):
            return
        rc |= bit
        print("*** FAILED *** %s: %s: %s" % (name, type(e).__name__, e))
        if not isinstance(e, (TException, TProtocolException)):
            traceback.print_exc(file=sys.stdout)
        return
    if throws is not None:
        rc |= bit
        print("*** FAILED *** %s: returned %r instead of raising %s" % (name, got, throws.__name__))
    elif test is not None and not test(got):
        rc |= bit
        print("*** FAILED *** %s: unexpected %r" % (name, got))
    elif test is None and got != expect:
        rc |= bit
        print("*** FAILED *** %s: expected %r, got %r" % (name, expect, got))


def identity(bit, name, value):
    check(bit, name, getattr(client, name), value, expect=value)


check(ERR_BASETYPES, "testVoid", client.testVoid, expect=None)
for s in ["Test", "", "Python" * 20, "\b\t\n/\\\\\r{}:パイソン\"",
          "Ελληνικά, Русский, العربية, हिन्दी, 中文, 日本語, 한국어, \U0001F600"]:
    identity(ERR_BASETYPES, "testString", s)
if second is not None:
    check(ERR_EXCEPTIONS, "secondtestString", second.secondtestString, "foobar",
          expect='testString("foobar")')
for v in [True, False]:
    identity(ERR_BASETYPES, "testBool", v)
for v in [0, -1, 42, -42, 127, -128, 63, -127]:
    identity(ERR_BASETYPES, "testByte", v)
for v in [0, -1, 190000013, -190000013, 2**31 - 1, -2**31]:
    identity(ERR_BASETYPES, "testI32", v)
for v in [0, -1, 1, -34359738368, 7000000000000000123, -7000000000000000123, 2**32, -2**32,
          2**32 + 1, -2**32 - 1, 2**63 - 1, -2**63]:
    identity(ERR_BASETYPES, "testI64", v)
for v in [0.0, -1.0, -5.235098235, -0.000341012439638598279, 2.0**32, 2.0**53 - 1,
          -(2.0**53) + 1, 1e307, 1e-292, 0.1]:
    identity(ERR_BASETYPES, "testDouble", v)
identity(ERR_BASETYPES, "testBinary", bytes(range(256)))
identity(ERR_BASETYPES, "testBinary", b"")
identity(ERR_BASETYPES, "testBinary", bytes((i * 7 + 3) & 0xff for i in range(100000)))

zero = Xtruct(string_thing="Zero", byte_thing=1, i32_thing=-3, i64_thing=-5)
identity(ERR_STRUCTS, "testStruct", zero)
identity(ERR_STRUCTS, "testNest", Xtruct2(byte_thing=1, struct_thing=zero, i32_thing=5))

identity(ERR_CONTAINERS, "testMap", {0: 1, 1: 2, 2: 3, 3: 4, -1: -2})
identity(ERR_CONTAINERS, "testMap", {i: i - 10 for i in range(5)})
identity(ERR_CONTAINERS, "testMap", {})
identity(ERR_CONTAINERS, "testStringMap", {"a": "2", "b": "blah", "some": "thing"})
identity(ERR_CONTAINERS, "testSet", {8, 1, 42})
identity(ERR_CONTAINERS, "testSet", set(range(-2, 3)))
identity(ERR_CONTAINERS, "testList", [1, 4, 9, -42])
identity(ERR_CONTAINERS, "testList", [])

for v in [Numberz.ONE, Numberz.TWO, Numberz.THREE, Numberz.FIVE, Numberz.EIGHT]:
    identity(ERR_STRUCTS, "testEnum", v)
identity(ERR_STRUCTS, "testTypedef", 0xffffffffffffff)
identity(ERR_STRUCTS, "testTypedef", 309858235082523)

check(ERR_CONTAINERS, "testMapMap", client.testMapMap, 42,
      expect={-4: {-4: -4, -3: -3, -2: -2, -1: -1}, 4: {4: 4, 3: 3, 2: 2, 1: 1}})

insane = Insanity(userMap={Numberz.FIVE: 5, Numberz.EIGHT: 8},
                  xtructs=[Xtruct("Goodbye4", 4, 4, 4), Xtruct("Hello2", 2, 2, 2)])


def insanity_ok(got):
    # Insanity() from a Python server has None fields, from a C++ one empty
    # containers: both are "empty".
    six = got.get(2, {}).get(Numberz.SIX)
    return (set(got) == {1, 2} and got[1] == {Numberz.TWO: insane, Numberz.THREE: insane}
            and set(got[2]) == {Numberz.SIX} and six is not None
            and not six.userMap and not six.xtructs)


check(ERR_STRUCTS, "testInsanity", client.testInsanity, insane, test=insanity_ok)
check(ERR_STRUCTS, "testMulti", client.testMulti, 74, 0xff00ff, 0xffffffffd0d0, {0: "abc"},
      Numberz.FIVE, 0xf0f0f0,
      expect=Xtruct(string_thing="Hello2", byte_thing=74, i32_thing=0xff00ff, i64_thing=0xffffffffd0d0))
check(ERR_STRUCTS, "testMulti", client.testMulti, 42, 4242, 424242, {1: "blah", 2: "thing"},
      Numberz.EIGHT, 24, expect=Xtruct("Hello2", 42, 4242, 424242))

check(ERR_EXCEPTIONS, "testException(Safe)", client.testException, "Safe", expect=None)
check(ERR_EXCEPTIONS, "testException(Xception)", client.testException, "Xception", throws=Xception,
      test=lambda e: e.errorCode == 1001 and e.message == "Xception")
check(ERR_EXCEPTIONS, "testException(TException)", client.testException, "TException",
      throws=TApplicationException)
check(ERR_EXCEPTIONS, "testException(success)", client.testException, "success", expect=None)
check(ERR_EXCEPTIONS, "testMultiException(Xception)", client.testMultiException, "Xception",
      "ignore", throws=Xception,
      test=lambda e: e.errorCode == 1001 and e.message == "This is an Xception")
check(ERR_EXCEPTIONS, "testMultiException(Xception2)", client.testMultiException, "Xception2",
      "ignore", throws=Xception2,
      test=lambda e: e.errorCode == 2002 and e.struct_thing.string_thing == "This is an Xception2")
check(ERR_EXCEPTIONS, "testMultiException(success)", client.testMultiException, "success",
      "foobar", test=lambda x: x.string_thing == "foobar")

start = time.time()
check(ERR_BASETYPES, "testOneway", client.testOneway, 1, expect=None)
took = time.time() - start
if took > 0.2:
    rc |= ERR_BASETYPES
    print("*** FAILED *** testOneway took %.3f s" % took)
# Right after a oneway call the next reply must be the next call's.
identity(ERR_BASETYPES, "testString", "Python")
identity(ERR_BASETYPES, "testI32", -1)

trans.close()
if seq[0] < checks:  # the seqid check must really have run
    rc |= ERR_UNKNOWN
    print("*** FAILED *** only %d calls numbered for %d checks" % (seq[0], checks))
print("%d checks, exit %d" % (checks, rc))
sys.exit(rc)
