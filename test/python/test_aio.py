"""asyncio: aiothrift's quickstart server (an async def add that sleeps),
its client (ping, add(5, 6)) and its pool example with only the imports
changed; pipelining on one connection; the event loop never blocked;
thriftpy2's make_aio_client / make_aio_server.  (Interop of the asyncio
client and server with thriftpy and Apache peers: test_interop.py.)"""
import asyncio
import os
import threading
import time
import unittest

import dynthrift
import dynthrift.aio as aiothrift
from dynthrift.rpc import make_client, make_server
from dynthrift.thrift import TApplicationException
from dynthrift.transport import TTransportException

from helpers import SRC, TYPES_THRIFT

pingpong_thrift = dynthrift.load(os.path.join(SRC, 'idl-samples', 'pingpong.thrift'),
                                 module_name='pingpong_thrift')
m = dynthrift.load(TYPES_THRIFT, module_name='types_thrift')

ADD_SLEEP = 0.3


class Dispatcher:
    """aiothrift's quickstart handler."""

    def ping(self):
        return "pong"

    async def add(self, a, b):
        await asyncio.sleep(ADD_SLEEP)
        return a + b


def run(coro):
    return asyncio.run(coro)


class QuickstartTest(unittest.TestCase):
    def test_server_and_client(self):
        async def main():
            loop = asyncio.get_running_loop()
            server = await aiothrift.create_server(pingpong_thrift.PingPong, Dispatcher(),
                                                   ('127.0.0.1', 0), loop=loop)
            conn = await aiothrift.create_connection(
                pingpong_thrift.PingPong, ('127.0.0.1', server.port), loop=loop, timeout=10)
            self.assertEqual(await conn.ping(), 'pong')
            t0 = time.monotonic()
            self.assertEqual(await conn.add(5, 6), 11)
            self.assertGreaterEqual(time.monotonic() - t0, ADD_SLEEP * 0.9)
            conn.close()
            server.close()
            await server.wait_closed()
        run(main())

    def test_pool_example(self):
        async def main():
            loop = asyncio.get_running_loop()
            server = await aiothrift.create_server(pingpong_thrift.PingPong, Dispatcher(),
                                                   ('127.0.0.1', 0))
            pool = await aiothrift.create_pool(pingpong_thrift.PingPong,
                                               ('127.0.0.1', server.port), loop=loop,
                                               timeout=1)
            async with pool.get() as conn:
                self.assertEqual(await conn.add(5, 6), 11)
                self.assertEqual(await conn.ping(), 'pong')
            # more users than connections: they wait their turn
            small = await aiothrift.create_pool(pingpong_thrift.PingPong,
                                                ('127.0.0.1', server.port), minsize=1,
                                                maxsize=2, timeout=5)

            async def use(i):
                async with small.get() as c:
                    return await c.add(i, 1)
            self.assertEqual(await asyncio.gather(*(use(i) for i in range(6))),
                             [i + 1 for i in range(6)])
            self.assertLessEqual(small.size, 2)
            for p in (pool, small):
                p.close()
                await p.wait_closed()
            server.close()
            await server.wait_closed()
        run(main())


class PipelineTest(unittest.TestCase):
    def test_many_calls_in_flight_on_one_connection(self):
        class H:
            async def add(self, a, b):
                await asyncio.sleep(b / 1000.0)  # later calls finish first
                return a

            def ping(self):
                return 'pong'

        async def main():
            server = await aiothrift.create_server(pingpong_thrift.PingPong, H(),
                                                   ('127.0.0.1', 0))
            conn = await aiothrift.create_connection(pingpong_thrift.PingPong,
                                                     ('127.0.0.1', server.port), timeout=10)
            n = 100
            t0 = time.monotonic()
            results = await asyncio.gather(*(conn.add(i, 300 - i) for i in range(n)))
            elapsed = time.monotonic() - t0
            self.assertEqual(results, list(range(n)))
            # all in flight together: about one sleep, not the sum
            self.assertLess(elapsed, 2.0)
            conn.close()
            server.close()
            await server.wait_closed()
        run(main())

    def test_event_loop_never_blocked(self):
        """Calls to a slow blocking server while a ticker measures the
        loop's longest stall."""
        class Slow:
            def ping(self):
                time.sleep(0.2)
                return 'late'

            def add(self, a, b):
                return a + b
        blocking = make_server(pingpong_thrift.PingPong, Slow(), '127.0.0.1', 0, threads=4)
        t = threading.Thread(target=blocking.serve, daemon=True)
        t.start()

        async def main():
            stalls = []

            async def ticker(stop):
                last = time.monotonic()
                while not stop.is_set():
                    await asyncio.sleep(0.005)
                    now = time.monotonic()
                    stalls.append(now - last)
                    last = now
            stop = asyncio.Event()
            tick = asyncio.create_task(ticker(stop))
            conn = await aiothrift.create_connection(pingpong_thrift.PingPong,
                                                     ('127.0.0.1', blocking.port), timeout=5)
            self.assertEqual(await asyncio.gather(*(conn.ping() for _ in range(3))),
                             ['late'] * 3)
            # connecting to a socket that never answers does not block either
            import socket
            silent = socket.socket()
            silent.bind(('127.0.0.1', 0))
            silent.listen(0)
            dead = await aiothrift.create_connection(pingpong_thrift.PingPong,
                                                     ('127.0.0.1', silent.getsockname()[1]),
                                                     timeout=0.3)
            with self.assertRaises(TTransportException):
                await dead.ping()
            dead.close()
            silent.close()
            stop.set()
            await tick
            conn.close()
            self.assertLess(max(stalls), 0.1)
        try:
            run(main())
        finally:
            blocking.close()
            t.join(10)

    def test_errors_and_close(self):
        class H:
            def ping(self):
                raise KeyError('x')

            async def add(self, a, b):
                raise TApplicationException(TApplicationException.INVALID_PROTOCOL, 'nope')

        async def main():
            server = await aiothrift.create_server(pingpong_thrift.PingPong, H(),
                                                   ('127.0.0.1', 0))
            conn = await aiothrift.create_connection(pingpong_thrift.PingPong,
                                                     ('127.0.0.1', server.port))
            with self.assertRaises(TApplicationException) as cm:
                await conn.ping()
            self.assertEqual(cm.exception.type, TApplicationException.INTERNAL_ERROR)
            with self.assertRaises(TApplicationException) as cm:
                await conn.add(1, 2)
            self.assertEqual(cm.exception.type, TApplicationException.INVALID_PROTOCOL)
            with self.assertRaises(TypeError) as cm:  # checked when sent
                await conn.add('five', 1)
            self.assertEqual(str(cm.exception), 'add.a: expected int (i32), got str')
            ok, bad = await asyncio.gather(conn.add(1, 2), conn.add(1 << 40, 2),
                                           return_exceptions=True)
            self.assertIsInstance(bad, OverflowError)  # one bad call, the batch goes on
            self.assertIsInstance(ok, TApplicationException)
            conn.close()
            with self.assertRaises(TTransportException):
                await conn.ping()
            server.close()
            await server.wait_closed()
            # handlers on the asyncio loop answer through the first engine
            # loop: more than one is refused, not raced
            with self.assertRaises(ValueError):
                await aiothrift.create_server(pingpong_thrift.PingPong, H(), ('127.0.0.1', 0),
                                              threads=2)
        run(main())

    def test_declared_exceptions_async(self):
        class H:
            async def testMultiException(self, arg0, arg1):
                await asyncio.sleep(0)
                raise m.Xception(7, arg1)

        async def main():
            server = await aiothrift.create_server(m.ThriftTest, H(), ('127.0.0.1', 0))
            conn = await aiothrift.create_connection(m.ThriftTest, ('127.0.0.1', server.port))
            with self.assertRaises(m.Xception) as cm:
                await conn.testMultiException('a', 'b')
            self.assertEqual(cm.exception.message, 'b')
            with self.assertRaises(TApplicationException) as cm:
                await conn.testString('no handler')
            self.assertEqual(cm.exception.type, TApplicationException.UNKNOWN_METHOD)
            conn.close()
            server.close()
            await server.wait_closed()
        run(main())


class Thriftpy2NamesTest(unittest.TestCase):
    def test_make_aio_client_and_server(self):
        server = aiothrift.make_aio_server(pingpong_thrift.PingPong, Dispatcher(),
                                           '127.0.0.1', 0)
        t = threading.Thread(target=server.serve, daemon=True)
        t.start()
        deadline = time.monotonic() + 5
        while server.server is None and time.monotonic() < deadline:
            time.sleep(0.01)
        port = server.server.port

        async def main():
            c = await aiothrift.make_aio_client(pingpong_thrift.PingPong, '127.0.0.1', port)
            self.assertEqual(await c.ping(), 'pong')
            self.assertEqual(await c.add(1, 2), 3)
            c.close()
        run(main())
        # a blocking client against the asyncio server, too
        with make_client(pingpong_thrift.PingPong, '127.0.0.1', port) as c:
            self.assertEqual(c.add(2, 3), 5)
        server.close()
        t.join(10)
        self.assertFalse(t.is_alive())


if __name__ == '__main__':
    unittest.main()
