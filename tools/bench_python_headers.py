#!/usr/bin/python3
"""What THeader info headers cost a blocking Python call.

    PYTHONPATH=build/src/python /usr/bin/python3 tools/bench_python_headers.py [--calls 20000]

One process, loopback: a dynthrift.rpc server with handlers inline on the
engine's loop (handler_threads=0) and a blocking client per case, calling
PingPong.add: framed; THeader without info headers; THeader with a
persistent header and a next-call header set before every call, the
handler reading the request's headers and setting one reply header.  The
cases take turns, 5 rounds, the best round kept (the machine is shared);
wall time per call, server thread included."""
import argparse
import os
import sys
import threading
import time

import dynthrift
from dynthrift.headers import request_headers, set_reply_header
from dynthrift.rpc import make_client, make_server
from dynthrift.transport import TFramedTransportFactory, THeaderTransportFactory

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Plain(object):
    def add(self, a, b):
        return a + b


class WithHeaders(object):
    def add(self, a, b):
        if request_headers().get('tenant') != 'a':
            raise ValueError('the persistent header did not arrive')
        set_reply_header('served-by', 'bench')
        return a + b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--calls', type=int, default=20000)
    args = ap.parse_args()
    pp = dynthrift.load(os.path.join(ROOT, 'idl-samples', 'pingpong.thrift'),
                        module_name='pingpong_thrift')
    cases = []
    for name, factory, handler, headers in (
            ('framed', TFramedTransportFactory(), Plain(), False),
            ('THeader, no info headers', THeaderTransportFactory(), Plain(), False),
            ('THeader, 2 request + 1 reply header', THeaderTransportFactory(), WithHeaders(),
             True)):
        server = make_server(pp.PingPong, handler, '127.0.0.1', 0, trans_factory=factory,
                             handler_threads=0)
        thread = threading.Thread(target=server.serve, daemon=True)
        thread.start()
        client = make_client(pp.PingPong, '127.0.0.1', server.port, trans_factory=factory)
        if headers:
            client.set_persistent_header('tenant', 'a')
        cases.append((name, server, thread, client, headers))
    best = {}
    for _ in range(5):
        for name, _, _, client, headers in cases:
            start = time.perf_counter()
            for i in range(args.calls):
                if headers:
                    client.set_header('trace-id', 'x')
                client.add(i, 1)
            per_call = (time.perf_counter() - start) / args.calls
            best[name] = min(best.get(name, per_call), per_call)
            if headers and client.get_headers() != {'served-by': 'bench'}:
                sys.exit('the reply header did not come back')
    for name, _, _, _, _ in cases:
        print('%-38s %6.1f us/call %8.0f calls/s' % (name, best[name] * 1e6, 1 / best[name]))
    print('load average: %s' % ' '.join(open('/proc/loadavg').read().split()[:3]))
    for _, server, thread, client, _ in cases:
        client.close()
        server.close()
        thread.join(10)


if __name__ == '__main__':
    main()
