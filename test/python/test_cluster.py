"""Clusters and pools from Python (dynthrift.cluster on pool.h): routing by
an argument with consistent hashing (the same key, the same server, and
the server that holds it), replicated calls to every server, a down
server routed around, pools shared by threads."""
import os
import threading
import unittest

import dynthrift
from dynthrift.cluster import make_cluster, make_pool
from dynthrift.rpc import make_server
from dynthrift.transport import TTransportException

from helpers import SRC

kv_thrift = dynthrift.load(os.path.join(SRC, 'idl-samples', 'kv.thrift'),
                           module_name='kv_thrift')


class Store(object):
    def __init__(self, name):
        self.name = name
        self.data = {}

    def ping(self):
        return self.name

    def setk(self, key, value):
        self.data[key] = value

    def getk(self, key):
        return self.data.get(key, '')

    def keys(self):
        return sorted(self.data)


class Servers(object):
    def __init__(self, names):
        self.stores, self.servers, self.threads = {}, {}, []
        for n in names:
            self.stores[n] = Store(n)
            s = make_server(kv_thrift.KV, self.stores[n], '127.0.0.1', 0)
            self.servers[n] = s
            t = threading.Thread(target=s.serve, daemon=True)
            t.start()
            self.threads.append(t)

    def addresses(self):
        return {n: '127.0.0.1:%d' % s.port for n, s in self.servers.items()}

    def stop(self, name=None):
        for n, s in self.servers.items():
            if name in (None, n):
                s.close(0)
        if name is None:
            for t in self.threads:
                t.join(10)


class ClusterTest(unittest.TestCase):
    def setUp(self):
        self.srv = Servers(['a', 'b', 'c'])

    def tearDown(self):
        self.srv.stop()

    def test_routing_by_key(self):
        with make_cluster(kv_thrift.KV, self.srv.addresses(),
                          route_by={'setk': 'key', 'getk': 'key'}) as kv:
            for i in range(60):
                kv.setk('k%d' % i, 'v%d' % i)
            for i in range(60):
                self.assertEqual(kv.getk('k%d' % i), 'v%d' % i)
            # each key lives where route() says, and nowhere else
            for i in range(60):
                where = kv.route('getk', 'k%d' % i)
                self.assertIn('k%d' % i, self.srv.stores[where].data)
                self.assertEqual(sum('k%d' % i in s.data for s in self.srv.stores.values()), 1)
            # spread over all three
            self.assertTrue(all(s.data for s in self.srv.stores.values()))
            self.assertEqual(kv.servers, {'a': True, 'b': True, 'c': True})

    def test_replicated_calls(self):
        with make_cluster(kv_thrift.KV, self.srv.addresses()) as kv:
            kv.all.setk('same', 'everywhere')
            self.assertEqual(kv.all.getk('same'),
                             {'a': 'everywhere', 'b': 'everywhere', 'c': 'everywhere'})
            self.assertEqual(kv.all.ping(), {'a': 'a', 'b': 'b', 'c': 'c'})
            # balanced (unrouted) calls visit every server
            self.assertEqual(set(kv.ping() for _ in range(9)), {'a', 'b', 'c'})

    def test_down_server_routed_around(self):
        with make_cluster(kv_thrift.KV, self.srv.addresses(), idempotent=['ping', 'getk'],
                          timeout=1000, connect_timeout=500) as kv:
            self.srv.stop('b')
            seen = set()
            for _ in range(12):
                try:
                    seen.add(kv.ping())
                except TTransportException:
                    pass
            self.assertEqual(seen, {'a', 'c'})
            res = kv.all.ping()
            self.assertEqual((res['a'], res['c']), ('a', 'c'))
            self.assertIsInstance(res['b'], Exception)

    def test_add_and_remove_servers(self):
        addrs = self.srv.addresses()
        with make_cluster(kv_thrift.KV, {'a': addrs['a']}) as kv:
            self.assertEqual(kv.ping(), 'a')
            kv.add_server('b', addrs['b'])
            kv.remove_server('a')
            self.assertEqual(kv.ping(), 'b')
            with self.assertRaises(KeyError):
                kv.remove_server('zzz')

    def test_pool_shared_by_threads(self):
        pool = make_pool(kv_thrift.KV, self.srv.addresses()['a'], maxsize=4)
        errors = []

        def worker(k):
            try:
                for i in range(100):
                    pool.setk('t%d-%d' % (k, i), str(i))
            except Exception as e:
                errors.append(e)
        ts = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(len(pool.keys()), 400)
        pool.close()
        with self.assertRaises(ValueError):
            pool.ping()


if __name__ == '__main__':
    unittest.main()
