"""Thrift over HTTP with thriftpy2's thriftpy2.http names, on the C
engine's HTTP transport (one POST of application/x-thrift per call,
keep-alive):

    from dynthrift.http import make_client, make_server
    server = make_server(pingpong.PingService, Dispatcher(), '127.0.0.1', 6000)
    server.serve()                                   # until server.close()
    client = make_client(pingpong.PingService, '127.0.0.1', 6000, path='/thrift')
    client.ping()

The server answers POSTs on any path (Apache's THttpClient, thriftpy2's,
curl) and, on the same port, plain Thrift clients too (the engine
recognizes each connection's kind).  Clients also take ``url=
"http://host:port/path"`` or ``"https://..."`` (TLS: cafile=, or
ssl_context_factory=, or validate=False)."""
from .protocol import TBinaryProtocolFactory
from .rpc import TClient, TServer, make_client as _make_client, make_server as _make_server
from .transport import TBufferedTransportFactory

# thriftpy2.http's default, in ms.
DEFAULT_HTTP_CLIENT_TIMEOUT_MS = 30000


class THttpClient(TClient):
    """An HTTP client of a service: each method is a POST."""


class THttpServer(TServer):
    """An HTTP server of a service (serve(), close(), .port)."""


def _url(host, port, path, scheme):
    if scheme not in ('http', 'https'):
        raise ValueError('scheme: http or https, not %r' % (scheme,))
    if ':' in host and not host.startswith('['):
        host = '[%s]' % host
    if path and not path.startswith('/'):
        path = '/' + path
    return '%s://%s:%d%s' % (scheme, host, int(port), path or '/')


def make_client(service, host='localhost', port=9090, path='', scheme='http',
                proto_factory=TBinaryProtocolFactory(),
                trans_factory=TBufferedTransportFactory(), ssl_context_factory=None,
                timeout=DEFAULT_HTTP_CLIENT_TIMEOUT_MS, url='', **options):
    """thriftpy2.http.make_client: `url` ("http://host:port/path") wins
    over host, port, path and scheme; `ssl_context_factory` is called for
    the ssl.SSLContext of an https client (its verify_mode is followed;
    name its CA file with cafile= unless it is the system's); `timeout`
    (ms) bounds each call.  Extra keywords are make_client's (cafile,
    connect_timeout, http_header="Name: value", ...)."""
    if url:
        scheme = url.split('://', 1)[0] if '://' in url else ''
        if scheme not in ('http', 'https'):
            raise ValueError('url: http:// or https:// expected, not %r' % (url,))
        address = url
    else:
        address = _url(host, port, path, scheme)
    if ssl_context_factory is not None:
        options['ssl_context'] = ssl_context_factory()
    return _make_client(service, proto_factory=proto_factory, trans_factory=trans_factory,
                        timeout=timeout, address=address, client_class=THttpClient, **options)


def make_server(service, handler, host='localhost', port=9090,
                proto_factory=TBinaryProtocolFactory(),
                trans_factory=TBufferedTransportFactory(), **options):
    """thriftpy2.http.make_server: listens at once (port 0 picks one: see
    .port); serve() runs until close().  The HTTP path is not checked.
    Extra keywords are make_server's (handler_threads, threads, ...)."""
    options.setdefault('framing', 'auto')  # HTTP is recognized among the other kinds
    return _make_server(service, handler, host, port, proto_factory=proto_factory,
                        trans_factory=trans_factory, server_class=THttpServer, **options)
