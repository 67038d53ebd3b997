"""Protocol factories, as thriftpy.protocol names them.  They select the
wire format; the work is done in C (dynthrift._dynthrift)."""
from . import _dynthrift as _C


class _ProtocolFactory(object):
    _dt_proto = _C.PROTO_BINARY
    name = 'binary'

    def __init__(self, *args, **kwargs):
        # thriftpy's strict_read/strict_write/decode_response: dynthrift
        # always writes strict (versioned) headers, which every peer reads.
        pass

    def get_protocol(self, trans):
        return TProtocol(trans, self._dt_proto)

    def __repr__(self):
        return '%s()' % type(self).__name__


class TBinaryProtocolFactory(_ProtocolFactory):
    _dt_proto = _C.PROTO_BINARY
    name = 'binary'


class TCompactProtocolFactory(_ProtocolFactory):
    _dt_proto = _C.PROTO_COMPACT
    name = 'compact'


class TJSONProtocolFactory(_ProtocolFactory):
    _dt_proto = _C.PROTO_JSON
    name = 'json'


# thriftpy.protocol also exports these aliases.
TCyBinaryProtocolFactory = TBinaryProtocolFactory
TBinaryProtocolAcceleratedFactory = TBinaryProtocolFactory


class TProtocol(object):
    """A protocol over a memory transport (an object with getvalue()/write()
    or read()), enough for thriftpy's payload.write(proto) and
    payload.read(proto)."""

    def __init__(self, trans, proto):
        self.trans = trans
        self._dt_proto = proto

    def write_struct(self, obj):
        self.trans.write(_C.encode(obj, self._dt_proto))

    def read_struct(self, obj):
        data = self.trans.read(1 << 30) if hasattr(self.trans, 'read') else b''
        _C.decode(obj, data, self._dt_proto)
        return obj

    def write_message_end(self):
        pass


class TMultiplexedProtocolFactory(object):
    """thriftpy.protocol.multiplex's factory: calls go out named
    "service_name:method" (Apache's TMultiplexedProtocol) in the wire
    format of `proto_factory`; make_client and dynthrift.aio take it as
    their proto_factory."""

    def __init__(self, proto_factory, service_name):
        self._proto_factory = proto_factory
        self.service_name = service_name
        self._dt_proto = protocol_of(proto_factory)

    def get_protocol(self, trans):
        return TMultiplexedProtocol(self._proto_factory.get_protocol(trans), self.service_name)


class TMultiplexedProtocol(object):
    """thriftpy's TMultiplexedProtocol: the wrapped protocol, with the
    service name it multiplexes under."""

    def __init__(self, proto, service_name):
        self.service_name = service_name
        self._proto = proto

    def __getattr__(self, name):
        return getattr(self._proto, name)


def protocol_of(factory):
    """The protocol id of a factory (instance or class)."""
    try:
        return factory._dt_proto
    except AttributeError:
        raise TypeError('%r is not a dynthrift protocol factory '
                        '(dynthrift.protocol.TBinaryProtocolFactory, '
                        'TCompactProtocolFactory or TJSONProtocolFactory)'
                        % (factory,))


from .thrift import TException  # noqa: E402


class TProtocolException(TException):
    """A reply that does not decode (thriftpy.protocol.exc)."""
    UNKNOWN = 0
    INVALID_DATA = 1
    NEGATIVE_SIZE = 2
    SIZE_LIMIT = 3
    BAD_VERSION = 4

    def __init__(self, type=UNKNOWN, message=None):
        super(TProtocolException, self).__init__(type, message)
        self.type = type
        self.message = message

    def __str__(self):
        return self.message or 'protocol error %d' % self.type


# thriftpy's module path thriftpy.protocol.multiplex: this module is not a
# package, so the submodule is registered as os.path is.
def _multiplex_module():
    import sys
    import types
    mod = types.ModuleType(__name__ + '.multiplex', 'thriftpy.protocol.multiplex\'s names.')
    mod.TMultiplexedProtocol = TMultiplexedProtocol
    mod.TMultiplexedProtocolFactory = TMultiplexedProtocolFactory
    sys.modules[mod.__name__] = mod
    return mod


multiplex = _multiplex_module()
