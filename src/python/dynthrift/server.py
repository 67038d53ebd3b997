"""thriftpy.server's names: TSimpleServer and TThreadedServer serve a
TProcessor or TMultiplexedProcessor (dynthrift.thrift) at a TServerSocket
(dynthrift.transport), so thriftpy's multiplexed servers run by changing
imports:

    from dynthrift.thrift import TProcessor, TMultiplexedProcessor
    from dynthrift.server import TThreadedServer
    from dynthrift.transport import TServerSocket, TBufferedTransportFactory
    from dynthrift.protocol import TBinaryProtocolFactory

    mux = TMultiplexedProcessor()
    mux.register_processor("calc", TProcessor(calc_thrift.Calculator, CalcHandler()))
    mux.register_processor("echo", TProcessor(calc_thrift.Echo, EchoHandler()))
    server = TThreadedServer(mux, TServerSocket("127.0.0.1", 9090),
                             iprot_factory=TBinaryProtocolFactory(),
                             itrans_factory=TBufferedTransportFactory())
    server.serve()

Both are the engine's server (make_server's: handlers on a pool of
threads, connections on the engine's loop); unlike thriftpy's, they listen
when made (so .port works with port 0), and close() stops serve()."""
from .protocol import TBinaryProtocolFactory
from .rpc import serve_services
from .transport import TBufferedTransportFactory


class TServer(object):
    """A server of `processor` at `trans` (a TServerSocket).  The output
    factories must match the input ones (one framing and protocol per
    connection); extra keyword arguments are make_server's
    (handler_threads, threads, certfile, ...)."""

    def __init__(self, processor, trans, itrans_factory=None, iprot_factory=None,
                 otrans_factory=None, oprot_factory=None, **options):
        options.pop('daemon', None)  # thriftpy's thread flag: the engine's threads are its own
        self.processor = processor
        self.trans = trans
        self.itrans_factory = itrans_factory or TBufferedTransportFactory()
        self.iprot_factory = iprot_factory or TBinaryProtocolFactory()
        for given, used in ((otrans_factory, self.itrans_factory),
                            (oprot_factory, self.iprot_factory)):
            if given is not None and type(given) is not type(used):
                raise ValueError('%r: the output factory must be the input one (%r)'
                                 % (given, used))
        self._server = serve_services(
            processor._dt_registrations(), trans.host, trans.port or 0, trans.unix_socket,
            self.iprot_factory, self.itrans_factory, trans.client_timeout,
            options.pop('threads', 1), options.pop('handler_threads', None),
            options.pop('address', None), options)

    @property
    def port(self):
        return self._server.port

    def serve(self):
        self._server.serve()

    def close(self, grace=5.0):
        self._server.close(grace)


TSimpleServer = TServer
TThreadedServer = TServer
