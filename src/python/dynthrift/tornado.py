"""thriftpy.tornado's names on dynthrift.aio (Tornado 5+ runs on asyncio):

    from dynthrift.tornado import make_server, make_client
    server = make_server(pingpong.PingService, Dispatcher())
    server.listen(6000)                  # a tornado TCPServer: bind/start, add_sockets, stop
    client = await make_client(pingpong.PingService, '127.0.0.1', 6000)
    await client.ping()                  # methods return futures

Nothing blocks the IOLoop: the engine does the I/O on its own loop thread
(dynthrift.aio); handlers run on the IOLoop, and one that returns an
awaitable (``async def``, ``gen.coroutine``, a Future) is awaited there,
many at once.  Like thriftpy's, the wire is framed, in `proto_factory`'s
protocol; the server also answers buffered, THeader and HTTP clients on
the same port (the engine recognizes each connection's kind).  One
connection carries many calls at once (thriftpy's tornado client sends one
at a time)."""
import os

from tornado import tcpserver
from tornado.ioloop import IOLoop

from . import aio
from .protocol import TBinaryProtocolFactory
from .rpc import _options
from .thrift import TProcessor
from .transport import TFramedTransportFactory

# thriftpy.tornado's defaults (TTornadoStreamTransport), in seconds.
DEFAULT_CONNECT_TIMEOUT = 5
DEFAULT_READ_TIMEOUT = None


def _asyncio_loop(io_loop):
    return (io_loop or IOLoop.current()).asyncio_loop


class TTornadoServer(tcpserver.TCPServer):
    """thriftpy's TTornadoServer(processor, iprot_factory, ...): a tornado
    TCPServer whose sockets (listen, bind + start, add_sockets) are served
    by the engine, each batch by a dynthrift.aio server on the current
    IOLoop.  `processor` is a TProcessor or TMultiplexedProcessor
    (dynthrift.thrift); `transport_read_timeout` (seconds, None: none)
    closes a connection idle that long."""

    def __init__(self, processor, iprot_factory, oprot_factory=None,
                 transport_read_timeout=DEFAULT_READ_TIMEOUT, *args, **kwargs):
        kwargs.pop('io_loop', None)  # Tornado < 5's argument: the current IOLoop serves
        if kwargs.get('ssl_options'):
            raise ValueError('ssl_options: TTornadoServer serves plain TCP '
                             '(dynthrift.aio.create_server takes certfile=/keyfile=)')
        super(TTornadoServer, self).__init__(*args, **kwargs)
        if oprot_factory is not None and type(oprot_factory) is not type(iprot_factory):
            raise ValueError('oprot_factory must be iprot_factory (one protocol per connection)')
        self._registrations = processor._dt_registrations()
        self._opts = _options(iprot_factory, TFramedTransportFactory(), {'framing': 'auto'})
        if transport_read_timeout:
            self._opts['idle_timeout_ms'] = int(transport_read_timeout * 1000)
        self._servers = []

    def add_sockets(self, sockets):
        """Serves these listening sockets (tornado.netutil.bind_sockets):
        the engine takes them over (the socket objects are closed here)."""
        sockets = list(sockets)
        if not sockets:
            return
        fds = [os.dup(s.fileno()) for s in sockets]
        try:
            server = aio.ThriftAsyncServer(None, None, fds, dict(self._opts),
                                           _asyncio_loop(None), 1, self._registrations)
        except Exception:
            for fd in fds:
                os.close(fd)
            raise
        for s in sockets:
            s.close()
        self._servers.append(server)

    def handle_stream(self, stream, address):  # pragma: no cover - the engine accepts
        raise NotImplementedError('connections are accepted by the engine')

    @property
    def port(self):
        """The port of the first batch of sockets (after listen(0))."""
        return self._servers[0].port if self._servers else 0

    def stop(self):
        """Stops listening; requests in flight are answered, then the
        connections close (await wait_closed())."""
        for server in self._servers:
            server.close()
        super(TTornadoServer, self).stop()

    async def wait_closed(self):
        for server in self._servers:
            await server.wait_closed()


def make_server(service, handler, proto_factory=TBinaryProtocolFactory(), io_loop=None,
                ssl_options=None, transport_read_timeout=DEFAULT_READ_TIMEOUT):
    """thriftpy.tornado.make_server: a TTornadoServer of `service`; call
    listen(port) (or bind + start) on the IOLoop that is to run it."""
    return TTornadoServer(TProcessor(service, handler), iprot_factory=proto_factory,
                          transport_read_timeout=transport_read_timeout, io_loop=io_loop,
                          ssl_options=ssl_options)


class TTornadoClient(object):
    """thriftpy's TTornadoClient: each service method returns a future (a
    tornado Future is an asyncio Future); close() ends the connection."""

    def __init__(self, connection):
        self._conn = connection

    def __getattr__(self, name):
        if name.startswith('_'):
            raise AttributeError(name)
        return getattr(self._conn, name)

    def __dir__(self):
        return dir(self._conn)

    def close(self):
        self._conn.close()


async def make_client(service, host, port, proto_factory=TBinaryProtocolFactory(),
                      io_loop=None, ssl_options=None,
                      connect_timeout=DEFAULT_CONNECT_TIMEOUT,
                      read_timeout=DEFAULT_READ_TIMEOUT):
    """thriftpy.tornado.make_client (await it, or yield it in a
    gen.coroutine): a framed connection to host:port whose methods return
    futures.  `connect_timeout` and `read_timeout` (each call's deadline)
    are in seconds, None for none.  `ssl_options` (a dict or an
    ssl.SSLContext) turns TLS on: its "ca_certs"/"certfile"/"keyfile"
    entries name the files, as dynthrift.aio's cafile=/certfile=/keyfile=."""
    tls = {}
    if isinstance(ssl_options, dict):
        tls['tls'] = True
        for key, name in (('ca_certs', 'cafile'), ('certfile', 'certfile'),
                          ('keyfile', 'keyfile')):
            if ssl_options.get(key):
                tls[name] = ssl_options[key]
    elif ssl_options is not None:
        tls['ssl_context'] = ssl_options
    conn = await aio.create_connection(
        service, (host, port), loop=_asyncio_loop(io_loop), timeout=read_timeout,
        connect_timeout=connect_timeout, proto_factory=proto_factory,
        trans_factory=TFramedTransportFactory(), **tls)
    return TTornadoClient(conn)

