"""Blocking RPC with thriftpy's names: make_client and make_server.

The C engine does the I/O on its own loops with the GIL released:

* a client is driven by the calling thread with the GIL released (one
  round trip, no thread hop); threads may share it (one call at a time);
  replies are matched by seqid, and a reply that comes after its call
  timed out is dropped, never given to another call (dynthrift.aio
  pipelines many calls on one connection);
* a server runs its loop(s) in serve(); each request takes the GIL only to
  run its handler.  A handler's declared exception goes back as itself, a
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


def _options(proto_factory, trans_factory, extra):
    opts = {'protocol': _C_PROTO_NAMES[protocol_of(proto_factory)],
            'framing': framing_of(trans_factory)}
    opts.update(extra)
    return opts


_C_PROTO_NAMES = {_C.PROTO_BINARY: 'binary', _C.PROTO_COMPACT: 'compact',
                  _C.PROTO_JSON: 'json'}


class TClient(object):
    """A client of `service`: each of its methods is a method here."""

    def __init__(self, service, cclient):
        self._service = service
        self._c = cclient
        self._names = frozenset(service.thrift_services)

    def __getattr__(self, name):
        if name.startswith('_') or name not in self._names:
            raise AttributeError(name)
        args_cls = getattr(self._service, name + '_args')
        call = self._c.call

        def method(*args, **kwargs):
            return call(name, args_cls(*args, **kwargs))
        method.__name__ = name
        self.__dict__[name] = method  # found directly next time
        return method

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
                timeout=3000, connect_timeout=None, address=None, **options):
    """A client of `service` (thriftpy's make_client).  `timeout` is each
    call's deadline in ms (None: none); `connect_timeout` in ms.  Connects
    before returning (TTransportException when it cannot), and again at
    the next call after a break.  Threads may share the client: the
    calling thread drives the connection with the GIL released, one call
    at a time.
    Extra keyword arguments are engine connection options (text keys)."""
    opts = _options(proto_factory, trans_factory, options)
    opts['call_timeout_ms'] = int(timeout) if timeout else 0
    if connect_timeout is not None:
        opts['connect_timeout_ms'] = int(connect_timeout)
    schema = service._dt_schema
    c = _C.Client(schema, service._dt_service, _address(host, port, unix_socket, address), opts,
                  True)
    return TClient(service, c)


class _HandlerPool(object):
    """Runs handlers on a pool of threads (make_server's handler_threads):
    the engine's loop hands each request over and gets the reply back
    through its queue, so a handler that hangs holds up one pool thread,
    not the connections sharing its loop."""

    def __init__(self, handler, nthreads):
        import concurrent.futures
        self._handler = handler
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=nthreads, thread_name_prefix='dynthrift-handler')
        self.server = None  # the C server, set once made

    def dispatch(self, token, name, args):
        self._pool.submit(self._run, token, name, args)

    def _run(self, token, name, args):
        try:
            result = getattr(self._handler, name)(*args)
        except Exception as e:
            if token is None:
                _log.error('oneway handler %s raised', name, exc_info=True)
            self.server.reply(token, False, e)
        else:
            self.server.reply(token, True, result)

    def shutdown(self):
        self._pool.shutdown(wait=False)


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
                client_timeout=None, threads=1, handler_threads=0, address=None,
                **options):
    """A server of `service` (thriftpy's make_server).  It listens at once
    (port 0 picks a free port: see .port); serve() runs it.
    `client_timeout` (ms) closes idle connections; `threads` engine loops
    serve connections in parallel.  Handlers run on the loop threads
    (fastest) unless `handler_threads` > 0: then on a pool of that many
    threads, so that a handler that blocks or hangs does not hold up the
    other connections of its loop."""
    opts = _options(proto_factory, trans_factory, options)
    if client_timeout:
        opts['idle_timeout_ms'] = int(client_timeout)
    addresses = address if isinstance(address, (list, tuple)) else [
        _address(host, port, unix_socket, address)]
    pool = _HandlerPool(handler, int(handler_threads)) if handler_threads else None
    c = _C.Server(service._dt_schema, service._dt_service, handler, list(addresses), opts,
                  int(threads), pool.dispatch if pool else None)
    if pool is not None:
        pool.server = c
    return TServer(c, pool)


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
