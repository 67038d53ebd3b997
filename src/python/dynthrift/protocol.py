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
