"""Base classes of the generated types, as thriftpy.thrift names them."""
from . import _dynthrift as _C

TException = _C.TException
TDecodeException = _C.TDecodeException


class TType(object):
    STOP = 0
    VOID = 1
    BOOL = 2
    BYTE = 3
    I08 = 3
    DOUBLE = 4
    I16 = 6
    I32 = 8
    I64 = 10
    STRING = 11
    UTF7 = 11
    BINARY = 11
    STRUCT = 12
    MAP = 13
    SET = 14
    LIST = 15
    UUID = 16  # thriftpy's UTF8 slot; Apache's (0.19+) id for uuid
    UTF8 = 16
    UTF16 = 17


class TMessageType(object):
    CALL = 1
    REPLY = 2
    EXCEPTION = 3
    ONEWAY = 4


def _freeze(value):
    """A hashable stand-in for a field value (lists, sets and dicts are
    not hashable; their contents are)."""
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(_freeze(v) for v in value)
    if isinstance(value, dict):
        return frozenset((_freeze(k), _freeze(v)) for k, v in value.items())
    return value


class _PayloadMethods(object):
    """What structs, unions and exceptions share: equality, hashing and
    repr over the IDL's fields (thriftpy compares __dict__)."""
    __slots__ = ()
    _dt_names = ()

    def __repr__(self):
        parts = ['%s=%r' % (n, getattr(self, n, None)) for n in self._dt_names]
        return '%s(%s)' % (type(self).__name__, ', '.join(parts))

    def __str__(self):
        return repr(self)

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n, None) == getattr(other, n, None)
                   for n in self._dt_names)

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self):
        # Mutable, like thriftpy's payloads: a hash is only meaningful
        # while the instance is not changed (sets of decoded structs).
        return hash((type(self).__name__,) +
                    tuple(_freeze(getattr(self, n, None)) for n in self._dt_names))

    def read(self, iprot):
        """thriftpy's payload.read(protocol): decodes from the protocol's
        transport (dynthrift.protocol protocols only)."""
        iprot.read_struct(self)

    def write(self, oprot):
        oprot.write_struct(self)


class TPayload(_PayloadMethods):
    """Base of generated structs and unions."""
    __slots__ = ('__dict__', '__weakref__')


class TExceptionPayload(_PayloadMethods, TException):
    """Base of generated exceptions: a TException (and an Exception)."""

    def __str__(self):
        return repr(self)


class TApplicationException(TException):
    """Application level thrift exceptions (thriftpy's and Apache's)."""

    thrift_spec = {
        1: (TType.STRING, 'message', False),
        2: (TType.I32, 'type', False),
    }

    UNKNOWN = 0
    UNKNOWN_METHOD = 1
    INVALID_MESSAGE_TYPE = 2
    WRONG_METHOD_NAME = 3
    BAD_SEQUENCE_ID = 4
    MISSING_RESULT = 5
    INTERNAL_ERROR = 6
    PROTOCOL_ERROR = 7
    INVALID_TRANSFORM = 8
    INVALID_PROTOCOL = 9
    UNSUPPORTED_CLIENT_TYPE = 10

    _TEXTS = {
        UNKNOWN_METHOD: 'Unknown method',
        INVALID_MESSAGE_TYPE: 'Invalid message type',
        WRONG_METHOD_NAME: 'Wrong method name',
        BAD_SEQUENCE_ID: 'Bad sequence ID',
        MISSING_RESULT: 'Missing result',
        INTERNAL_ERROR: 'Internal error',
        PROTOCOL_ERROR: 'Protocol error',
        INVALID_TRANSFORM: 'Invalid transform',
        INVALID_PROTOCOL: 'Invalid protocol',
        UNSUPPORTED_CLIENT_TYPE: 'Unsupported client type',
    }

    def __init__(self, type=UNKNOWN, message=None):
        super(TApplicationException, self).__init__(type, message)
        self.type = type
        self.message = message

    def __str__(self):
        if self.message:
            return self.message
        return self._TEXTS.get(self.type,
                               'Default (unknown) TApplicationException')

    def __repr__(self):
        return 'TApplicationException(type=%r, message=%r)' % (self.type,
                                                               self.message)

    def __eq__(self, other):
        return (isinstance(other, TApplicationException) and
                (self.type, self.message) == (other.type, other.message))

    def __hash__(self):
        return hash((self.type, self.message))

    def __reduce__(self):
        return (TApplicationException, (self.type, self.message))


class TProcessor(object):
    """thriftpy's TProcessor(service, handler): what a server serves.
    dynthrift's servers (dynthrift.server, TMultiplexedProcessor) take it;
    the C engine does the processing (no process(iprot, oprot))."""

    def __init__(self, service, handler):
        self._service = service
        self._handler = handler

    def _dt_registrations(self):
        return [(self._service, self._handler, None)]


class TMultiplexedProcessor(TProcessor):
    """thriftpy's TMultiplexedProcessor: register_processor(name,
    processor) serves `processor` to calls named "name:method"
    (TMultiplexedProtocol clients).  Its services must come from one
    loaded IDL file (with its includes): one server holds one schema."""
    SEPARATOR = ":"

    def __init__(self):
        self.processors = {}

    def register_processor(self, service_name, processor):
        if service_name in self.processors:
            raise TApplicationException(
                type=TApplicationException.INTERNAL_ERROR,
                message='processor for `{0}` already registered'.format(service_name))
        if not service_name or self.SEPARATOR in service_name:
            raise ValueError('a multiplexed name is not empty and has no %r' % self.SEPARATOR)
        self.processors[service_name] = processor

    def _dt_registrations(self):
        if not self.processors:
            raise ValueError('TMultiplexedProcessor: no processor registered')
        return [(p._service, p._handler, name) for name, p in self.processors.items()]
