"""Transport factories, as thriftpy.transport names them.  They select the
framing of RPC connections (dynthrift.rpc); the I/O is the C engine's."""


class TBufferedTransportFactory(object):
    """Unframed messages (thriftpy's default)."""
    framing = 'buffered'

    def get_transport(self, trans):
        return trans


class TFramedTransportFactory(object):
    """A 4-byte length before each message."""
    framing = 'framed'

    def get_transport(self, trans):
        return trans


class THeaderTransportFactory(object):
    """Apache's THeader framing (THeaderTransport): a header frame around
    each message (binary or compact); a server with it also answers
    framed and unframed clients.  Info headers: a client's set_header,
    set_persistent_header and get_headers, a handler's request_headers()
    and set_reply_header() (dynthrift.headers).  Pass ``zlib=True`` to
    make_client/make_server for THeader's zlib transform (the zlib option
    then applies to the header frames)."""
    framing = 'header'

    def get_transport(self, trans):
        return trans


class TMemoryBuffer(object):
    """A bytes buffer with thriftpy's TMemoryBuffer interface."""

    def __init__(self, value=b''):
        self._buf = bytearray(value)
        self._pos = 0

    def write(self, data):
        self._buf += data

    def read(self, sz):
        out = bytes(self._buf[self._pos:self._pos + sz])
        self._pos += len(out)
        return out

    def getvalue(self):
        return bytes(self._buf)


def framing_of(factory):
    if factory is None:
        return 'buffered'
    framing = getattr(factory, 'framing', None)
    if framing is None:
        name = type(factory).__name__.lower()
        if 'framed' in name:
            return 'framed'
        if 'buffered' in name:
            return 'buffered'
        raise TypeError('%r: a dynthrift.transport factory expected' % (factory,))
    return framing


from .thrift import TException  # noqa: E402


class TTransportException(TException):
    """A call that failed below the application: not connected, closed,
    timed out (thriftpy.transport.TTransportException's types)."""
    UNKNOWN = 0
    NOT_OPEN = 1
    ALREADY_OPEN = 2
    TIMED_OUT = 3
    END_OF_FILE = 4

    def __init__(self, type=UNKNOWN, message=None):
        super(TTransportException, self).__init__(type, message)
        self.type = type
        self.message = message

    def __str__(self):
        return self.message or 'transport error %d' % self.type


class TTransportTimeout(TTransportException, TimeoutError):
    """A call that got no reply within its timeout (also a TimeoutError,
    i.e. socket.timeout, which thriftpy's clients raise)."""

    def __init__(self, message=None):
        TTransportException.__init__(self, TTransportException.TIMED_OUT, message)


class TServerSocket(object):
    """thriftpy's TServerSocket(host, port, unix_socket, socket_family,
    client_timeout, backlog): where a dynthrift.server server listens
    (the engine makes the socket; the backlog is its own)."""

    def __init__(self, host=None, port=None, unix_socket=None, socket_family=None,
                 client_timeout=3000, backlog=128):
        if not unix_socket and port is None:
            raise ValueError('either host/port or unix_socket must be provided')
        import socket
        self.host = host or ('::' if socket_family == socket.AF_INET6 else '0.0.0.0')
        self.port = port
        self.unix_socket = unix_socket
        self.client_timeout = client_timeout
        self.backlog = backlog

