"""Robustness: 1,000,000 serialize/deserialize round trips and 1,000,000
calls with flat RSS (within 2 MB after warm-up) and unchanged reference
counts of the reused objects; a handler that hangs does not stop other
connections, and close() still ends serve().

Under the ASan build (libasan preloaded) the counts drop to 20,000 and
the RSS bound is not checked (the sanitizer's quarantine grows memory on
purpose); reference counts still are."""
import os
import sys
import threading
import time
import unittest

import dynthrift
from dynthrift.rpc import make_client, make_server
from dynthrift.utils import deserialize, serialize

from helpers import TYPES_THRIFT
from test_rpc import Handler

m = dynthrift.load(TYPES_THRIFT, module_name='types_thrift')
SANITIZED = 'libasan' in os.environ.get('LD_PRELOAD', '')
N = 20000 if SANITIZED else 1000000
WARMUP = N // 10


def rss_bytes():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


class FlatMemoryTest(unittest.TestCase):
    def check_flat(self, step, objects):
        for _ in range(WARMUP):
            step()
        refs = [sys.getrefcount(o) for o in objects]
        before = rss_bytes()
        for _ in range(N - WARMUP):
            step()
        grown = rss_bytes() - before
        self.assertEqual([sys.getrefcount(o) for o in objects], refs)
        if not SANITIZED:
            self.assertLess(grown, 2 * 1024 * 1024, 'RSS grew by %d bytes' % grown)

    def test_round_trips(self):
        x = m.Xtruct2(byte_thing=1, struct_thing=m.Xtruct('str', 2, 3, 4), i32_thing=5)
        data = serialize(x)
        s = x.struct_thing.string_thing

        def step():
            if deserialize(m.Xtruct2, serialize(x)) != x:
                raise AssertionError('round trip changed the value')
        self.check_flat(step, [x, data, s, m.Xtruct2, m.Xtruct])

    def test_calls(self):
        server = make_server(m.ThriftTest, Handler(), '127.0.0.1', 0)
        t = threading.Thread(target=server.serve, daemon=True)
        t.start()
        try:
            c = make_client(m.ThriftTest, '127.0.0.1', server.port)
            arg = m.Xtruct('abc', 1, 2, 3)

            def step():
                if c.testStruct(arg) != arg:
                    raise AssertionError('wrong reply')
            self.check_flat(step, [arg, arg.string_thing, m.Xtruct])
            c.close()
        finally:
            server.close()
            t.join(10)


class HangingHandlerTest(unittest.TestCase):
    def test_other_connections_go_on(self):
        release = threading.Event()

        class H(Handler):
            def testI64(self, thing):
                if thing == 42:
                    release.wait(30)
                return thing
        server = make_server(m.ThriftTest, H(), '127.0.0.1', 0)  # the default
        t = threading.Thread(target=server.serve, daemon=True)
        t.start()
        hung_result = []
        hung = make_client(m.ThriftTest, '127.0.0.1', server.port, timeout=None)
        h = threading.Thread(target=lambda: hung_result.append(hung.testI64(42)), daemon=True)
        h.start()
        time.sleep(0.2)
        try:
            for k in range(3):  # several other connections, each served
                with make_client(m.ThriftTest, '127.0.0.1', server.port, timeout=2000) as c:
                    for i in range(100):
                        self.assertEqual(c.testString('c%d' % i), 'c%d!' % i)
            self.assertEqual(hung_result, [])
            release.set()
            h.join(5)
            self.assertEqual(hung_result, [42])
            # a handler that never answers does not keep serve() alive past
            # close()'s grace period
            release.clear()
            h2 = threading.Thread(target=lambda: self.assertRaises(Exception, hung.testI64, 42),
                                  daemon=True)
            h2.start()
            time.sleep(0.2)
            t0 = time.monotonic()
            server.close(0.3)
            t.join(5)
            self.assertFalse(t.is_alive())
            self.assertLess(time.monotonic() - t0, 3)
            h2.join(5)
        finally:
            release.set()
            hung.close()
            server.close()


if __name__ == '__main__':
    unittest.main()
