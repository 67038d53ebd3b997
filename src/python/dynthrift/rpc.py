"""Blocking RPC with thriftpy's names: make_client and make_server.

The C engine does the I/O on its own loops with the GIL released:

* a client is driven by the calling thread with the GIL released (one
  round trip, no thread hop); threads may share it (one call at a time,
  or all in flight together with make_client(..., pipeline=True));
  replies are matched by seqid, and a reply that comes after its call
  timed out is dropped, never given to another call (dynthrift.aio
  pipelines many calls on one connection);
* a server runs its loop(s) in serve() with the GIL released; handlers run
  on a pool of handler threads started on demand (so a hanging handler
  holds up only its own call), or inline on the loop with
  handler_threads=0.  A handler's declared exception goes back as itself, a
  TApplicationException as itself, anything else as
  TApplicationException(INTERNAL_ERROR) with the connection kept open.

Extra keyword arguments are connection options passed through as text to
thrift_conn_options_set (e.g. ``multiplex_name="Calc"``,
``max_frame_size=1 << 20``), and ``address=`` takes any address the
engine knows ("host:port", "[::1]:port", "unix:/path", and the schemes of
transports added to the engine), so new transports need no binding change.
"""
import logging
import threading

from . import _dynthrift as _C
from .headers import HeaderMethods, HeaderState, normalized, run_with_context
from .protocol import TBinaryProtocolFactory, TProtocolException, protocol_of
from .thrift import TApplicationException
from .transport import (TBufferedTransportFactory, TTransportException,
                        TTransportTimeout, framing_of)

_log = logging.getLogger('dynthrift.rpc')


def _error(kind, code, message):
    """The exception for a failed call (called from C)."""
    if kind.startswith('THRIFT_'):
        kind = kind[len('THRIFT_'):]
    if kind == 'application':
        return TApplicationException(code, message)
    if kind == 'TIMEOUT':
        return TTransportTimeout(message)
    if kind in ('CLOSED', 'IO', 'TRANSPORT'):
        return TTransportException(TTransportException.NOT_OPEN
                                   if kind != 'CLOSED' else TTransportException.END_OF_FILE,
                                   message)
    if kind in ('PROTOCOL', 'INVALID', 'LIMIT'):
        return TProtocolException(TProtocolException.INVALID_DATA, message)
    if kind == 'config':
        return ValueError(message)
    return TTransportException(TTransportException.UNKNOWN, '%s: %s' % (kind, message))


def _log_failure(method, etype, value, tb):
    _log.error('handler %s raised', method, exc_info=(etype, value, tb))


_C.set_rpc_hooks(_error, TApplicationException, _log_failure)


def _address(host, port, unix_socket, address):
    if address is not None:
        return address
    if unix_socket:
        return 'unix:' + unix_socket
    if ':' in host and not host.startswith('['):
        host = '[%s]' % host
    return '%s:%d' % (host, int(port))


# thriftpy2's TLS keyword names -> the engine's option keys.
_TLS_FILES = {'cafile': 'tls_ca', 'certfile': 'tls_cert', 'keyfile': 'tls_key',
              'server_hostname': 'tls_server_name'}


def _tls_options(extra):
    """Takes thriftpy2's TLS keywords out of `extra` and returns the engine
    options they mean: any of cafile, certfile, keyfile, ssl_context turns
    TLS on (cafile: the CAs to trust, else the system's; certfile/keyfile:
    our certificate, a server's or a client's); validate=False or an
    ssl_context with verify_mode CERT_NONE turns verification off.  An
    ssl.SSLContext's loaded certificates cannot be read back, so name the
    files too (cafile=, certfile=, keyfile=) when they are not the system's."""
    opts = {}
    for name, key in _TLS_FILES.items():
        value = extra.pop(name, None)
        if value is not None:
            opts[key] = value
            if name != 'server_hostname':
                opts['tls'] = True
    ctx = extra.pop('ssl_context', None)
    if ctx is not None:
        import ssl
        if not isinstance(ctx, ssl.SSLContext):
            raise TypeError('ssl_context: an ssl.SSLContext expected')
        opts['tls'] = True
        if ctx.verify_mode == ssl.CERT_NONE:
            opts['tls_verify'] = False
    validate = extra.pop('validate', None)
    if validate is not None:
        opts['tls_verify'] = bool(validate)
    return opts


def _options(proto_factory, trans_factory, extra):
    extra = dict(extra)
    opts = {'protocol': _C_PROTO_NAMES[protocol_of(proto_factory)],
            'framing': framing_of(trans_factory)}
    mux = getattr(proto_factory, 'service_name', None)
    if mux:  # thriftpy's TMultiplexedProtocolFactory
        opts['multiplex_name'] = mux
    opts.update(_tls_options(extra))
    opts.update(extra)
    return opts


_C_PROTO_NAMES = {_C.PROTO_BINARY: 'binary', _C.PROTO_COMPACT: 'compact',
                  _C.PROTO_JSON: 'json'}


class TClient(HeaderMethods):
    """A client of `service`: each of its methods is a method here.  On a
    THeader connection the header methods (dynthrift.headers) set the info
    headers calls carry and read the replies'."""

    def __init__(self, service, cclient, header_framing=False):
        self._service = service
        self._c = cclient
        self._names = frozenset(service.thrift_services)
        self._header_framing = header_framing
        self._headers = HeaderState(per_thread=True)

    def __getattr__(self, name):
        if name.startswith('_') or name not in self._names:
            raise AttributeError(name)
        args_cls = getattr(self._service, name + '_args')
        call = self._c.call
        if self._header_framing:
            headers = self._headers

            def method(*args, **kwargs):
                reply = headers.local.reply = {}
                return call(name, args_cls(*args, **kwargs), headers.take(), reply)
        else:
            def method(*args, **kwargs):
                return call(name, args_cls(*args, **kwargs))
        method.__name__ = name
        self.__dict__[name] = method  # found directly next time
        return method

    def call_with_headers(self, headers, method, *args, **kwargs):
        """One call of `method` with these info headers (a dict, added to
        the persistent ones): returns (result, the reply's headers)."""
        if method not in self._names:
            raise AttributeError(method)
        args_obj = getattr(self._service, method + '_args')(*args, **kwargs)
        reply = self._headers.local.reply = {}
        result = self._c.call(method, args_obj, self._headers.take(normalized(headers)), reply)
        return result, dict(reply)

    def __dir__(self):
        return sorted(set(dir(type(self))) | self._names)

    def close(self):
        """Closes the connection; calls in flight fail."""
        self._c.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def make_client(service, host='localhost', port=9090, unix_socket=None,
                proto_factory=TBinaryProtocolFactory(),
                trans_factory=TBufferedTransportFactory(),
                timeout=3000, connect_timeout=None, address=None, url=None, pipeline=False,
                client_class=None, **options):
    """A client of `service` (thriftpy's make_client).  thriftpy2's TLS
    keywords work (cafile, certfile, keyfile, ssl_context, plus validate and
    server_hostname), and its ``url="http://host:port/path"`` (or https://)
    calls over HTTP.  `timeout` is each
    call's deadline in ms (None: none); `connect_timeout` in ms.  Connects
    before returning (TTransportException when it cannot), and again at
    the next call after a break.  Threads may share the client: the
    calling thread drives the connection with the GIL released, one call
    at a time.
    With ``pipeline=True`` the connection runs on an I/O thread of its own
    instead: threads sharing the client then have their calls in flight
    together on the one connection (replies matched by seqid, in any
    order), at the cost of a thread hand-off per call (slower for a single
    thread); it connects at the first call.
    `client_class` (a TClient subclass) is the result's class.
    Extra keyword arguments are engine connection options (text keys)."""
    opts = _options(proto_factory, trans_factory, options)
    opts['call_timeout_ms'] = int(timeout) if timeout else 0
    if connect_timeout is not None:
        opts['connect_timeout_ms'] = int(connect_timeout)
    schema = service._dt_schema
    if url and address is None:
        address = url
    c = _C.Client(schema, service._dt_service, _address(host, port, unix_socket, address), opts,
                  not pipeline)
    return (client_class or TClient)(service, c, opts['framing'] == 'header')


class _HandlerPool(object):
    """Runs handlers on a pool of threads (make_server's handler_threads):
    the engine's loop hands each request over and gets the reply back
    through its queue, so a handler that hangs holds up one pool thread,
    not the connections sharing its loop.

    Threads are started on demand: a request finds an idle thread or
    starts a new one while fewer than `max_threads` run, so until that cap
    no request ever waits behind a busy handler (as with thriftpy's thread
    per connection); beyond it requests queue.  dispatch() runs on the
    loop thread with the GIL held; the queue is a C SimpleQueue and the
    idle count is kept under a lock, so a quick handler costs one queue
    hand-off and one reply wake-up."""

    def __init__(self, max_threads):
        import queue
        self._max = max(1, int(max_threads))
        self._queue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0          # threads waiting for work, not yet claimed
        self._threads = []
        self._closed = False
        self.server = None  # the C server, set once made

    def dispatch(self, token, method, args, hctx=None):
        with self._lock:
            if self._idle > 0:
                self._idle -= 1     # that thread takes this request
                start = False
            else:
                start = len(self._threads) < self._max and not self._closed
                if start:
                    t = threading.Thread(target=self._work, daemon=True,
                                         name='dynthrift-handler-%d' % len(self._threads))
                    self._threads.append(t)
        self._queue.put((token, method, args, hctx))
        if start:
            t.start()

    def _work(self):
        # No reference to a request's arguments or result outlives its
        # reply(): the client may look at reference counts (or reuse the
        # objects) as soon as the reply is out.
        get, lock, reply = self._queue.get, self._lock, None
        while True:
            item = get()
            if item is None:
                return
            if reply is None:
                reply = self.server.reply
            token, method, args, hctx = item
            del item
            try:
                result = run_with_context(hctx, method, *args)
            except Exception as e:
                del args
                if token is None:
                    _log.error('oneway handler %s raised', method.__name__, exc_info=True)
                reply(token, False, e)
            else:
                del args
                box = [result]
                del result
                reply(token, True, box.pop())
            with lock:
                self._idle += 1

    def shutdown(self):
        """Lets every thread end once its handler returns (a hung one
        stays, a daemon thread, until it returns)."""
        with self._lock:
            self._closed = True
            n = len(self._threads)
        for _ in range(n):
            self._queue.put(None)


_DEFAULT_HANDLER_THREADS = 64


class TServer(object):
    """A server of `service` with a Python `handler` (an object with a
    method per service method)."""

    def __init__(self, cserver, pool=None):
        self._c = cserver
        self._pool = pool

    @property
    def port(self):
        """The TCP port listened on (useful after port=0)."""
        return self._c.port()

    def serve(self):
        """Serves until close() (from another thread or a handler) or
        Ctrl-C, which stops it gracefully and returns."""
        try:
            self._c.serve(threading.current_thread() is threading.main_thread())
        finally:
            if self._pool is not None:
                self._pool.shutdown()

    def close(self, grace=5.0):
        """Stops serving (from any thread): no new connections or requests;
        requests in flight get `grace` seconds to be answered, then every
        connection closes and serve() returns."""
        self._c.close(grace)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def make_server(service, handler, host='localhost', port=9090, unix_socket=None,
                proto_factory=TBinaryProtocolFactory(),
                trans_factory=TBufferedTransportFactory(),
                client_timeout=None, threads=1, handler_threads=None, address=None,
                server_class=None, **options):
    """A server of `service` (thriftpy's make_server; `server_class`, a
    TServer subclass, is the result's class).  It listens at once
    (port 0 picks a free port: see .port); serve() runs it.
    `client_timeout` (ms) closes idle connections.  thriftpy2's certfile=
    and keyfile= (or ssl_context plus those files) serve TLS.

    Handlers run on a pool of handler threads started on demand, at most
    `handler_threads` of them (None, the default: 64), so a handler that
    blocks or hangs holds up only its own call, never the other
    connections (thriftpy runs a thread per connection).
    ``handler_threads=0`` runs handlers inline on the engine's loop thread
    instead: fastest for quick handlers, but a hanging handler then stops
    every connection of that loop.  `threads` > 1 serves connections on
    that many engine loops; handlers then run inline on them (a pool
    needs threads=1: a reply must be sent from its connection's loop)."""
    return serve_services([(service, handler, None)], host, port, unix_socket, proto_factory,
                          trans_factory, client_timeout, threads, handler_threads, address,
                          options, server_class)


def c_registrations(registrations):
    """The schema and the C server's registrations for `registrations`,
    (service, handler, multiplexed name or None) tuples whose services must
    share one schema (ValueError otherwise)."""
    schemas = {id(svc._dt_schema): svc._dt_schema for svc, _, _ in registrations}
    if len(schemas) != 1:
        raise ValueError('the services of one server must come from one loaded IDL file '
                         '(its includes count); these come from %d' % len(schemas))
    return (schemas.popitem()[1],
            [(svc._dt_service, handler, mux) for svc, handler, mux in registrations])


def serve_services(registrations, host='localhost', port=9090, unix_socket=None,
                   proto_factory=TBinaryProtocolFactory(),
                   trans_factory=TBufferedTransportFactory(), client_timeout=None, threads=1,
                   handler_threads=None, address=None, options=None, server_class=None):
    """make_server for several services on one server: `registrations` is a
    list of (service, handler, multiplexed name or None), the services all
    of one loaded IDL (one schema; its includes' services count), each
    answering its multiplexed calls "name:method" (None: the service's own
    name) and, for the first that has it, the bare method name.  What
    dynthrift.thrift.TMultiplexedProcessor serves."""
    schema, regs = c_registrations(registrations)
    opts = _options(proto_factory, trans_factory, options or {})
    if client_timeout:
        opts['idle_timeout_ms'] = int(client_timeout)
    addresses = address if isinstance(address, (list, tuple)) else [
        _address(host, port, unix_socket, address)]
    threads = int(threads)
    if handler_threads is None:
        handler_threads = _DEFAULT_HANDLER_THREADS if threads <= 1 else 0
    elif handler_threads and threads > 1:
        raise ValueError('handler_threads needs threads=1 (replies go out on the '
                         'connection\'s loop; with threads > 1 handlers run on the loops)')
    pool = _HandlerPool(int(handler_threads)) if handler_threads else None
    c = _C.Server(schema, regs, None, list(addresses), opts, threads,
                  pool.dispatch if pool else None, opts['framing'] == 'header')
    if pool is not None:
        pool.server = c
    return (server_class or TServer)(c, pool)


class _ClientContext(object):
    def __init__(self, args, kwargs):
        self._args, self._kwargs = args, kwargs
        self._client = None

    def __enter__(self):
        self._client = make_client(*self._args, **self._kwargs)
        return self._client

    def __exit__(self, *exc):
        self._client.close()
        return False


def client_context(service, host='localhost', port=9090, **kwargs):
    """thriftpy's client_context: ``with client_context(svc, host, port) as c``."""
    return _ClientContext((service, host, port), kwargs)
