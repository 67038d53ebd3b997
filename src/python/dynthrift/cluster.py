"""Several servers behind one client: the C engine's clusters and pools
(include/dynthrift/pool.h) in a Pythonic shape.

    from dynthrift.cluster import make_cluster
    kv = make_cluster(kv_thrift.KV, {'a': '127.0.0.1:9001', 'b': '127.0.0.1:9002'},
                      route_by={'get': 'key', 'put': 'key'})
    kv.put(key='x', value='1')        # consistent hashing on `key`
    kv.get(key='x')                   # the same server answers
    kv.all.stats()                    # every server: {'a': ..., 'b': ...}
    kv.route('get', key='x')          # 'a' or 'b': where it would go

Each server has a connection pool; a server whose connections fail is
marked down and routed around until a probe finds it back; calls marked
idempotent are retried on the next server.  A routed call returns its
value or raises like make_client's calls; a replicated call (``.all``)
returns a dict server name -> value or exception instance.
"""
from . import _dynthrift as _C
from .protocol import TBinaryProtocolFactory
from .rpc import _options
from .transport import TBufferedTransportFactory

HASHES = {'consistent': _C.HASH_CONSISTENT, 'modulo': _C.HASH_MODULO}
BALANCES = {'round_robin': _C.BALANCE_ROUND_ROBIN, 'random': _C.BALANCE_RANDOM,
            'least_outstanding': _C.BALANCE_LEAST_OUTSTANDING}


class _Replicated(object):
    def __init__(self, cluster):
        self._cluster = cluster

    def __getattr__(self, name):
        cl = self._cluster

        def method(*args, **kwargs):
            out = {}
            for server, ok, value in cl._c.call_all(name, cl._args(name, args, kwargs)):
                out[server] = value
            return out
        return method


class Cluster(object):
    """A client of `service` over named servers (see make_cluster)."""

    def __init__(self, service, cluster):
        self._service = service
        self._c = cluster
        self._names = frozenset(service.thrift_services)
        self.all = _Replicated(self)

    def _args(self, name, args, kwargs):
        if name not in self._names:
            raise AttributeError(name)
        return getattr(self._service, name + '_args')(*args, **kwargs)

    def __getattr__(self, name):
        if name.startswith('_') or name not in self._names:
            raise AttributeError(name)
        args_cls = getattr(self._service, name + '_args')
        call = self._c.call

        def method(*args, **kwargs):
            return call(name, args_cls(*args, **kwargs))
        method.__name__ = name
        self.__dict__[name] = method
        return method

    def route(self, method, *args, **kwargs):
        """The server a call of `method` with these arguments would go to
        now (None when the method is balanced or no server is up)."""
        return self._c.route(method, self._args(method, args, kwargs))

    def add_server(self, name, address):
        self._c.add_server(name, address)

    def remove_server(self, name):
        self._c.remove_server(name)

    @property
    def servers(self):
        """{name: up} for every server, in the order added."""
        return dict(self._c.servers())

    def close(self):
        self._c.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def make_cluster(service, servers, route_by=None, hash='consistent', balance='round_robin',
                 idempotent=(), retries=2, ring_points=160,
                 proto_factory=TBinaryProtocolFactory(),
                 trans_factory=TBufferedTransportFactory(), timeout=3000, connect_timeout=None,
                 minsize=None, maxsize=None, max_inflight=None, **options):
    """A client over `servers` ({name: address} or [(name, address)]).

    route_by: {method: argument name} (or one argument name for every method
    that has it): calls are routed by a hash of that argument -- `hash`
    'consistent' (ketama ring, `ring_points` per server) or 'modulo'; other
    methods are balanced (`balance`: 'round_robin', 'random',
    'least_outstanding').  `idempotent` methods are retried (`retries`) on
    the next server after a server failure.  Pool sizes per server:
    minsize, maxsize, max_inflight.  timeout / connect_timeout in ms;
    extra keyword arguments are connection options, as for make_client."""
    opts = _options(proto_factory, trans_factory, options)
    opts['call_timeout_ms'] = int(timeout) if timeout else 0
    if connect_timeout is not None:
        opts['connect_timeout_ms'] = int(connect_timeout)
    pool_opts = {k: v for k, v in (('minsize', minsize), ('maxsize', maxsize),
                                   ('max_inflight', max_inflight)) if v is not None}
    c = _C.Cluster(service._dt_schema, service._dt_service, opts, pool_opts)
    items = servers.items() if isinstance(servers, dict) else servers
    for name, address in items:
        c.add_server(name, address)
    c.configure(HASHES[hash], BALANCES[balance], int(retries), int(ring_points))
    if isinstance(route_by, str):
        c.route_by_arg(None, route_by)
    elif route_by:
        for method, arg in route_by.items():
            c.route_by_arg(method, arg)
    for method in idempotent:
        c.set_idempotent(method, True)
    return Cluster(service, c)


def make_pool(service, address, minsize=1, maxsize=10, **kwargs):
    """A pooled client of one server (a cluster of one): threads may share
    it; make_cluster's keyword arguments apply."""
    return make_cluster(service, {'default': address}, minsize=minsize, maxsize=maxsize,
                        **kwargs)
