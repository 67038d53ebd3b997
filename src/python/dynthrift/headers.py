"""THeader info headers (Apache's THeaderTransport key/value headers).

Clients (dynthrift.rpc's TClient, dynthrift.aio's ThriftConnection) take
Apache's THeaderTransport names:

* ``set_header(key, value)``: goes with the next call only (Apache's write
  headers are cleared once a message is flushed); per thread on a blocking
  client;
* ``set_persistent_header(key, value)``: goes with every call from now on
  (fbthrift's name); a value of None removes it;
* ``get_headers()``: the info headers of the last reply (per thread on a
  blocking client);
* ``clear_headers()``, ``clear_persistent_headers()``,
  ``get_persistent_headers()``;
* ``call_with_headers(headers, method, *args, **kwargs)``: one call with
  these headers, returning ``(result, reply_headers)`` (an awaitable on
  asyncio connections).

Handlers (make_server, dynthrift.aio's servers) read the request's headers
with ``request_headers()`` and set the reply's with
``set_reply_header(key, value)``.

Keys and values are ``str`` (``bytes`` are taken as UTF-8); keys are never
empty; each is at most 4096 bytes.  Headers travel only on THeader
connections (``trans_factory=THeaderTransportFactory()``); other framings
ignore them, as Apache's non-header transports do.
"""
import contextvars
import threading

from . import _dynthrift as _C

HEADER_TEXT_MAX = 4096  # THRIFT_HEADER_TEXT_MAX (dynthrift/net.h)

# The running handler's request: (request headers, reply headers), set by
# the server around each handler call (rpc.c's call_handler, the handler
# pool, the asyncio dispatcher).  Context variables follow a handler into
# the threads and asyncio tasks that run it.
_context = contextvars.ContextVar('dynthrift_headers', default=None)
_C.set_header_context(_context)


def header_text(text, what):
    """`text` (str, or UTF-8 bytes) as the str the engine sends; ValueError
    for an empty key, a NUL byte or more than HEADER_TEXT_MAX bytes."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode('utf-8', 'surrogateescape')
    elif not isinstance(text, str):
        raise TypeError('header %s: str or bytes expected, not %s' % (what, type(text).__name__))
    size = len(text.encode('utf-8', 'surrogateescape'))
    if size > HEADER_TEXT_MAX:
        raise ValueError('header %s: %d bytes, over %d' % (what, size, HEADER_TEXT_MAX))
    if '\0' in text:
        raise ValueError('header %s: contains a NUL byte' % what)
    if what == 'key' and not text:
        raise ValueError('header key: empty')
    return text


def _flat(*dicts):
    """The headers of `dicts` (later ones win) as the flat tuple (key,
    value, ...) the C client takes, or None for none."""
    merged = {}
    for d in dicts:
        if d:
            merged.update(d)
    if not merged:
        return None
    flat = []
    for k, v in merged.items():
        flat.append(k)
        flat.append(v)
    return tuple(flat)


def normalized(headers):
    """A dict of checked str keys and values from a dict or pairs."""
    if not headers:
        return {}
    items = headers.items() if hasattr(headers, 'items') else headers
    return {header_text(k, 'key'): header_text(v, 'value') for k, v in items}


def request_headers():
    """In a handler: the info headers of the request it serves (a new dict;
    empty for a request without any, or outside a handler)."""
    ctx = _context.get()
    return dict(ctx[0]) if ctx is not None else {}


def set_reply_header(key, value):
    """In a handler: an info header for its reply.  Ignored when the
    request came without THeader (no reply header can go back), as the C
    API's thrift_request_set_reply_header does."""
    key, value = header_text(key, 'key'), header_text(value, 'value')
    ctx = _context.get()
    if ctx is not None:
        ctx[1][key] = value


def enter_context(hctx):
    """Makes `hctx` (a server's header context, or None) the running
    handler's; returns what leave_context takes."""
    return _context.set(hctx) if hctx is not None else None


def leave_context(entered):
    if entered is not None:
        _context.reset(entered)


def run_with_context(hctx, func, *args):
    """func(*args) with `hctx` as the header context (None: as it is)."""
    entered = enter_context(hctx)
    try:
        return func(*args)
    finally:
        leave_context(entered)


class HeaderState(object):
    """A client's headers: the persistent ones (shared) and, per thread
    (`local` a threading.local, or any object for one thread), the next
    call's and the last reply's."""

    def __init__(self, per_thread):
        self.persistent = {}
        self.local = threading.local() if per_thread else _Slots()

    def set_header(self, key, value):
        pending = getattr(self.local, 'pending', None)
        if pending is None:
            pending = self.local.pending = {}
        pending[header_text(key, 'key')] = header_text(value, 'value')

    def clear_headers(self):
        self.local.pending = None

    def set_persistent_header(self, key, value):
        key = header_text(key, 'key')
        if value is None:
            self.persistent.pop(key, None)
        else:
            self.persistent[key] = header_text(value, 'value')

    def take(self, extra=None):
        """The flat headers for a call: persistent, the pending ones (now
        used up) and `extra`, later ones winning."""
        pending = getattr(self.local, 'pending', None)
        self.local.pending = None
        return _flat(self.persistent, pending, extra)

    def get_headers(self):
        return dict(getattr(self.local, 'reply', None) or {})


class _Slots(object):
    pending = None
    reply = None


class HeaderMethods(object):
    """The header methods clients share (they keep a HeaderState in
    self._headers)."""

    def set_header(self, key, value):
        """An info header for the next call only (this thread's, on a
        blocking client), as Apache's THeaderTransport.set_header."""
        self._headers.set_header(key, value)

    def clear_headers(self):
        """Forgets the headers set for the next call."""
        self._headers.clear_headers()

    def set_persistent_header(self, key, value):
        """An info header sent with every call from now on; value None
        removes it."""
        self._headers.set_persistent_header(key, value)

    def clear_persistent_headers(self):
        self._headers.persistent.clear()

    def get_persistent_headers(self):
        return dict(self._headers.persistent)

    def get_headers(self):
        """The info headers of the last reply (this thread's last call, on
        a blocking client), as Apache's THeaderTransport.get_headers."""
        return self._headers.get_headers()
