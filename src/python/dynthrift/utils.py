"""serialize/deserialize, as in thriftpy.utils."""
import binascii

from . import _dynthrift as _C
from .protocol import TBinaryProtocolFactory, protocol_of

_BINARY = TBinaryProtocolFactory()


def serialize(thrift_object, proto_factory=_BINARY):
    """The object's bytes in the factory's protocol.  Checks every value
    against the schema: TypeError, ValueError or OverflowError name the
    value path (``Payload.users[3].address.zip: ...``)."""
    return _C.encode(thrift_object, protocol_of(proto_factory))


def deserialize(thrift_object, buf, proto_factory=_BINARY):
    """Fills `thrift_object` (an instance, or a class: a new instance) from
    `buf` and returns it; fields absent from `buf` get their IDL defaults.
    Raises dynthrift.thrift.TDecodeException on bytes that do not decode."""
    return _C.decode(thrift_object, buf, protocol_of(proto_factory))


def hexlify(byte_array, delimeter=' '):
    s = binascii.hexlify(byte_array).decode('utf-8')
    return delimeter.join(a + b for a, b in zip(s[::2], s[1::2]))
