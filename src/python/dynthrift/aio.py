"""asyncio with aiothrift's names (create_server, create_connection,
create_pool) and thriftpy2's make_aio_client / make_aio_server.

Nothing here blocks the event loop: a connection's I/O runs on the C
engine's loop in its own thread (connecting included); finished calls come
back through an eventfd the asyncio loop watches.  One connection carries
many calls at once (pipelined, answered in any order).  A server's I/O
runs on the engine's loop in a thread; each request's handler runs on the
asyncio loop -- an ``async def`` handler is awaited there, many at once --
and its reply goes back to the engine through a queue."""
import asyncio
import collections
import inspect
import logging
import threading

from . import _dynthrift as _C
from .headers import HeaderMethods, HeaderState, enter_context, leave_context, normalized
from .protocol import TBinaryProtocolFactory
from .rpc import _address, _options, c_registrations  # noqa: F401 (shared with rpc)
from .transport import TBufferedTransportFactory, TFramedTransportFactory

_log = logging.getLogger('dynthrift.aio')


def _aio_address(address):
    """aiothrift addresses: (host, port), a Unix socket path, or an engine
    address string ("host:port", "unix:/p", "tls://h:p", ...)."""
    if isinstance(address, (tuple, list)):
        return _address(address[0], address[1], None, None)
    if isinstance(address, str) and address.startswith('/'):
        return 'unix:' + address
    return address


def _loop(loop):
    return loop or asyncio.get_event_loop()


class _HeaderCall(object):
    """call_with_headers' token: its future gets (result, reply headers)."""
    __slots__ = ('future',)

    def __init__(self, future):
        self.future = future

    def done(self):
        return self.future.done()


class ThriftConnection(HeaderMethods):
    """A pipelined connection: each service method returns an awaitable
    (a future).  The arguments are checked against the schema when the
    call is sent, at the end of the event loop's turn: a TypeError or
    ValueError comes out of the await, like the call's other errors.
    THeader info headers: the methods of dynthrift.headers (set_header
    goes with the next call made; get_headers() gives the headers of the
    reply that completed last; call_with_headers pairs one call with its
    reply's headers)."""

    def __init__(self, service, cclient, loop):
        self._service = service
        self._c = cclient
        self._loop = loop
        self._names = frozenset(service.thrift_services)
        self._headers = HeaderState(per_thread=False)
        self._fd = cclient.fileno()
        self.closed = False
        # Calls made in one turn of the event loop go to the engine
        # together at the end of it: one wake-up of the I/O thread for the
        # batch instead of one per call.
        self._batch = []
        loop.add_reader(self._fd, self._finished)

    def _flush(self):
        batch, self._batch = self._batch, []
        submit = self._c.submit
        for name, args, fut, headers in batch:
            try:
                submit(name, args, fut, headers)
            except Exception as e:
                if not fut.done():
                    (fut.future if isinstance(fut, _HeaderCall) else fut).set_exception(e)

    def _finished(self):
        for fut, ok, value, headers in self._c.drain():
            if headers is not None:
                self._headers.local.reply = headers
            if fut.done():
                continue
            if isinstance(fut, _HeaderCall):
                fut = fut.future
                if ok:
                    value = (value, headers or {})
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)

    def _send(self, name, args_obj, token, headers):
        if self.closed:
            self._c.submit(name, args_obj, token)  # raises: closed
        if not self._batch:
            self._loop.call_soon(self._flush)
        self._batch.append((name, args_obj, token, headers))

    def __getattr__(self, name):
        if name.startswith('_') or name not in self._names:
            raise AttributeError(name)
        args_cls = getattr(self._service, name + '_args')
        loop = self._loop

        headers = self._headers

        def method(*args, **kwargs):
            fut = loop.create_future()
            self._send(name, args_cls(*args, **kwargs), fut, headers.take())
            return fut
        method.__name__ = name
        self.__dict__[name] = method
        return method

    def __dir__(self):
        return sorted(set(dir(type(self))) | self._names)

    def call_with_headers(self, headers, method, *args, **kwargs):
        """One call of `method` with these info headers (a dict, added to
        the persistent ones): an awaitable of (result, reply headers)."""
        if method not in self._names:
            raise AttributeError(method)
        args_obj = getattr(self._service, method + '_args')(*args, **kwargs)
        fut = self._loop.create_future()
        self._send(method, args_obj, _HeaderCall(fut), self._headers.take(normalized(headers)))
        return fut

    def close(self):
        """Closes the connection; calls in flight fail with
        TTransportException."""
        if self.closed:
            return
        self.closed = True
        self._flush()
        self._loop.remove_reader(self._fd)
        self._c.close()
        self._finished()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self.close()


def _client_options(proto_factory, trans_factory, framed, timeout, connect_timeout, extra):
    if framed:
        trans_factory = TFramedTransportFactory()
    opts = _options(proto_factory, trans_factory, extra)
    opts['call_timeout_ms'] = int(timeout * 1000) if timeout else 0
    if connect_timeout is not None:
        opts['connect_timeout_ms'] = int(connect_timeout * 1000)
    return opts


async def create_connection(service, address=('127.0.0.1', 6000), *, loop=None, timeout=None,
                            connect_timeout=None, proto_factory=TBinaryProtocolFactory(),
                            trans_factory=TBufferedTransportFactory(), framed=False,
                            **options):
    """aiothrift.create_connection: `timeout` (seconds) bounds each call.
    The connection is made in the background at the first call."""
    loop = loop or asyncio.get_running_loop()
    opts = _client_options(proto_factory, trans_factory, framed, timeout, connect_timeout,
                           options)
    c = _C.Client(service._dt_schema, service._dt_service, _aio_address(address), opts)
    return ThriftConnection(service, c, loop)


class ThriftAsyncServer(object):
    """A server whose handlers run on the asyncio loop: of `service` with
    `handler`, or of `registrations` ((service, handler, multiplexed name
    or None) tuples, as TMultiplexedProcessor gives).  `addresses` may hold
    the fds of listening sockets, which the server takes."""

    def __init__(self, service, handler, addresses, opts, loop, threads, registrations=None):
        self._loop = loop
        self._tasks = set()
        schema, regs = c_registrations(registrations or [(service, handler, None)])
        self._c = _C.Server(schema, regs, None, addresses, opts, threads,
                            self._dispatch_threadsafe, opts.get('framing') == 'header')
        self._done = loop.create_future()
        self._thread = threading.Thread(target=self._serve, name='dynthrift-aio-server',
                                        daemon=True)
        self._thread.start()

    @property
    def port(self):
        return self._c.port()

    def _serve(self):
        try:
            self._c.serve(False)
        finally:
            try:
                self._loop.call_soon_threadsafe(self._set_done)
            except RuntimeError:  # the asyncio loop is closed
                pass

    def _set_done(self):
        if not self._done.done():
            self._done.set_result(None)

    def _dispatch_threadsafe(self, token, method, args, hctx=None):
        # On the engine's loop thread: the handler runs on asyncio's.
        self._loop.call_soon_threadsafe(self._dispatch, token, method, args, hctx)

    def _dispatch(self, token, method, args, hctx):
        # The header context is set while the handler is called and while
        # its task is made, which copies it (contextvars): an async
        # handler's set_reply_header fills the same reply dict.
        entered = enter_context(hctx)
        try:
            self._run(token, method, args)
        finally:
            leave_context(entered)

    def _run(self, token, method, args):
        reply = self._c.reply
        try:
            result = method(*args)
        except Exception as e:
            reply(token, False, e)
            return
        if not inspect.isawaitable(result):
            reply(token, True, result)
            return
        task = self._loop.create_task(self._finish(token, method.__name__, result))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _finish(self, token, name, awaitable):
        try:
            value = await awaitable
        except Exception as e:
            if token is None:
                _log.error('oneway handler %s raised', name, exc_info=True)
            self._c.reply(token, False, e)
        else:
            self._c.reply(token, True, value)

    def close(self):
        """Stops accepting; in-flight requests are answered, then every
        connection closes (await wait_closed())."""
        self._c.close()

    async def wait_closed(self):
        await asyncio.shield(self._done)


async def create_server(service, handler, address=('127.0.0.1', 6000), *, loop=None,
                        timeout=None, proto_factory=TBinaryProtocolFactory(),
                        trans_factory=TBufferedTransportFactory(), framed=False, threads=1,
                        **options):
    """aiothrift.create_server: serves at once; `timeout` (seconds) closes
    idle connections.  `threads` must stay 1 (handlers run on the asyncio
    loop and their replies go back through the one engine loop; ValueError
    otherwise)."""
    loop = loop or asyncio.get_running_loop()
    if framed:
        trans_factory = TFramedTransportFactory()
    opts = _options(proto_factory, trans_factory, options)
    if timeout:
        opts['idle_timeout_ms'] = int(timeout * 1000)
    return ThriftAsyncServer(service, handler, [_aio_address(address)], opts, loop, threads)


class _PoolConnectionContext(object):
    def __init__(self, pool):
        self._pool = pool
        self._conn = None

    async def __aenter__(self):
        self._conn = await self._pool.acquire()
        return self._conn

    async def __aexit__(self, *exc):
        self._pool.release(self._conn)
        self._conn = None

    def __await__(self):  # `conn = await pool.get()`
        return self._pool.acquire().__await__()


class ThriftPool(object):
    """aiothrift's connection pool: between minsize and maxsize
    connections; acquire() waits while all maxsize are in use."""

    def __init__(self, service, address, minsize, maxsize, loop, kwargs):
        self._service = service
        self._address = address
        self.minsize = minsize
        self.maxsize = maxsize
        self._loop = loop
        self._kwargs = kwargs
        self._free = collections.deque()
        self._used = set()
        self._cond = asyncio.Condition()
        self.closed = False
        self._closed = loop.create_future()

    @property
    def size(self):
        return len(self._free) + len(self._used)

    @property
    def freesize(self):
        return len(self._free)

    async def _fill(self):
        while self.size < self.minsize:
            self._free.append(await create_connection(self._service, self._address,
                                                      loop=self._loop, **self._kwargs))

    def get(self):
        """``async with pool.get() as conn`` (or ``conn = await pool.get()``
        then ``pool.release(conn)``)."""
        return _PoolConnectionContext(self)

    async def acquire(self):
        if self.closed:
            raise RuntimeError('pool is closed')
        async with self._cond:
            while True:
                while self._free:
                    conn = self._free.popleft()
                    if not conn.closed:
                        self._used.add(conn)
                        return conn
                if self.size < self.maxsize:
                    conn = await create_connection(self._service, self._address,
                                                   loop=self._loop, **self._kwargs)
                    self._used.add(conn)
                    return conn
                await self._cond.wait()

    def release(self, conn):
        self._used.discard(conn)
        if self.closed or conn.closed:
            conn.close()
        else:
            self._free.append(conn)
        self._loop.create_task(self._wake())

    async def _wake(self):
        async with self._cond:
            self._cond.notify()

    def close(self):
        self.closed = True
        while self._free:
            self._free.popleft().close()
        if not self._closed.done():
            self._closed.set_result(None)

    async def wait_closed(self):
        await self._closed
        while self._used:  # connections still out close when released
            await asyncio.sleep(0.01)


async def create_pool(service, address=('127.0.0.1', 6000), *, minsize=1, maxsize=10,
                      loop=None, timeout=None, **kwargs):
    """aiothrift.create_pool."""
    loop = loop or asyncio.get_running_loop()
    kwargs['timeout'] = timeout
    pool = ThriftPool(service, address, minsize, maxsize, loop, kwargs)
    await pool._fill()
    return pool


# ---- thriftpy2's names ---------------------------------------------------------

async def make_aio_client(service, host='localhost', port=9090, unix_socket=None,
                          proto_factory=TBinaryProtocolFactory(),
                          trans_factory=TBufferedTransportFactory(), timeout=3000,
                          connect_timeout=None, address=None, **options):
    """thriftpy2.rpc.make_aio_client (timeouts in ms, as there)."""
    addr = _address(host, port, unix_socket, address)
    return await create_connection(service, addr, proto_factory=proto_factory,
                                   trans_factory=trans_factory,
                                   timeout=timeout / 1000.0 if timeout else None,
                                   connect_timeout=(connect_timeout / 1000.0
                                                    if connect_timeout else None),
                                   **options)


class TAsyncServer(object):
    """thriftpy2's make_aio_server result: serve() runs an asyncio loop
    until close()."""

    def __init__(self, service, handler, address, kwargs, loop):
        self._args = (service, handler, address, kwargs)
        self.loop = loop
        self.server = None

    def init_server(self):
        service, handler, address, kwargs = self._args
        return create_server(service, handler, address, loop=self.loop, **kwargs)

    def serve(self):
        loop = self.loop or asyncio.new_event_loop()
        self.loop = loop
        self.server = loop.run_until_complete(self.init_server())
        try:
            loop.run_until_complete(self.server.wait_closed())
        except KeyboardInterrupt:
            self.server.close()
            loop.run_until_complete(self.server.wait_closed())

    def close(self):
        if self.server is not None:
            self.loop.call_soon_threadsafe(self.server.close)


def make_aio_server(service, handler, host='localhost', port=9090, unix_socket=None,
                    proto_factory=TBinaryProtocolFactory(),
                    trans_factory=TBufferedTransportFactory(), client_timeout=None,
                    loop=None, address=None, **options):
    """thriftpy2.rpc.make_aio_server: handlers may be ``async def``."""
    addr = _address(host, port, unix_socket, address)
    kwargs = dict(options, proto_factory=proto_factory, trans_factory=trans_factory)
    if client_timeout:
        kwargs['timeout'] = client_timeout / 1000.0
    return TAsyncServer(service, handler, addr, kwargs, loop)
