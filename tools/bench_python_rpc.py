#!/usr/bin/python3
"""RPC benchmarks of the Python binding against thriftpy, same peers, one run.

    PYTHONPATH=build/src/python /usr/bin/python3 tools/bench_python_rpc.py \
        [--build build] [--seconds 2] [--only clients|servers|aio] [--pin]

Measures, on the bench service of ../shared/bench/bench.thrift (framed
binary, loopback):
  1. blocking client, one connection, calls/s of add and echo(Payload):
     dynthrift.rpc.make_client vs thriftpy.rpc.make_client, both against
     the same server (the C engine's tools/bench_server, so the client is
     what is measured), and dynthrift with busy_poll_us=0 (its wait sleeps
     at once, as thriftpy's recv does); with the client thread's CPU time
     per call (time.thread_time: the engine's wait runs on that thread);
  2. server with Python handlers, calls/s of add and echo at 16
     connections: dynthrift.rpc.make_server vs thriftpy.rpc.make_server,
     both loaded by the same generator (tools/bench_net -c 16); dynthrift
     twice: with its default handler pool and with handler_threads=0
     (handlers inline on the engine's loop, the "inline" rows);
  3. asyncio, one connection: 16 calls in flight vs one at a time
     (dynthrift.aio against tools/bench_server).
Contenders take turns (ROUNDS slices each, best kept), so that load from
elsewhere on the machine hits them alike.  --pin (clients and aio) puts the
C server (tools/bench_server) on CPU 0 and the clients on CPU 1: every call then
crosses cores, as between machines, and each reply wakes a sleeping thread
on an idle core (unpinned, the scheduler often runs client and server on
one core, which hides that wake-up).  Every process started here is
stopped by its PID."""
import argparse
import asyncio
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(ROOT, 'test', 'python'), os.path.join(ROOT, 'test', 'interop')]
from helpers import BENCH_THRIFT, bench_payload, have_bench  # noqa: E402
from testlib import free_port, stop  # noqa: E402

SERVER_SCRIPT = r'''
import sys
sys.path[:0] = %(path)r
lib = %(lib)r
if lib.startswith('dynthrift'):
    import dynthrift as tp
    from dynthrift.rpc import make_server
    from dynthrift.transport import TFramedTransportFactory
else:
    import thriftpy as tp
    from thriftpy.rpc import make_server
    from thriftpy.transport import TFramedTransportFactory
from testlib import BenchHandler
b = tp.load(%(idl)r, module_name='bench_thrift')
kw = {'handler_threads': 0} if lib == 'dynthrift-inline' else {}
s = make_server(b.Bench, BenchHandler(b.BenchError), '127.0.0.1', %(port)d,
                trans_factory=TFramedTransportFactory(), **kw)
print('listening', flush=True)
s.serve()
'''


def start(cmd, want):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    if want not in line:
        stop(p)
        raise RuntimeError('%s did not start: %r' % (cmd[0], line))
    return p, line


ROUNDS = 5


def rates(fns, seconds, cpu=None):
    """calls/s of each fn() in `fns` (name -> callable): the best of ROUNDS
    slices, the contenders taking turns slice by slice, so that load from
    elsewhere on the machine hits them alike.  `cpu` (a dict), when given,
    gets each one's CPU time of this thread per call in microseconds, over
    all its slices."""
    best = dict.fromkeys(fns, 0.0)
    calls, cpu_s = dict.fromkeys(fns, 0), dict.fromkeys(fns, 0.0)
    for fn in fns.values():
        fn()
    for _ in range(ROUNDS):
        for name, fn in fns.items():
            n, t0, c0 = 0, time.perf_counter(), time.thread_time()
            end = t0 + seconds / ROUNDS
            while time.perf_counter() < end:
                for _ in range(20):
                    fn()
                n += 20
            best[name] = max(best[name], n / (time.perf_counter() - t0))
            cpu_s[name] += time.thread_time() - c0
            calls[name] += n
    if cpu is not None:
        for name in fns:
            cpu[name] = cpu_s[name] / calls[name] * 1e6
    return best


PIN = False


def c_server(build):
    """The C server, on CPU 0 with --pin (this process then moves to CPU 1
    until stop_c_server)."""
    port = free_port()
    p, line = start([os.path.join(build, 'tools', 'bench_server'), BENCH_THRIFT,
                     '127.0.0.1:%d' % port], 'listening')
    if PIN:
        os.sched_setaffinity(p.pid, {0})
        p.own_cpus = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {1})
    return p, port


def stop_c_server(p):
    if PIN:
        os.sched_setaffinity(0, p.own_cpus)
    stop(p)


def bench_clients(build, seconds, out):
    import dynthrift
    from dynthrift.rpc import make_client
    from dynthrift.transport import TFramedTransportFactory
    b = dynthrift.load(BENCH_THRIFT, module_name='bench_thrift')
    p, port = c_server(build)
    try:
        c = make_client(b.Bench, '127.0.0.1', port, trans_factory=TFramedTransportFactory())
        c0 = make_client(b.Bench, '127.0.0.1', port, trans_factory=TFramedTransportFactory(),
                         busy_poll_us=0)
        payload = bench_payload(b)
        adds = {'dynthrift': lambda: c.add(1, 2), 'dynthrift-sleep': lambda: c0.add(1, 2)}
        echos = {'dynthrift': lambda: c.echo(payload),
                 'dynthrift-sleep': lambda: c0.echo(payload)}
        try:
            import thriftpy
            from thriftpy.rpc import make_client as tp_make_client
            from thriftpy.transport import TFramedTransportFactory as TpFramed
            tb = thriftpy.load(BENCH_THRIFT, module_name='tp_bench_thrift')
            tc = tp_make_client(tb.Bench, '127.0.0.1', port, trans_factory=TpFramed())
            tpayload = bench_payload(tb)
            adds['thriftpy'] = lambda: tc.add(1, 2)
            echos['thriftpy'] = lambda: tc.echo(tpayload)
        except ImportError:
            tc = None
        for what, fns in (('client add', adds), ('client echo', echos)):
            cpu = {}
            for name, r in rates(fns, seconds * len(fns), cpu).items():
                out[what, name] = r
                out[what + ' cpu', name] = cpu[name]
        c.close()
        c0.close()
        if tc is not None:
            tc.close()
    finally:
        stop_c_server(p)


def bench_servers(build, seconds, out):
    """Both servers up at once; bench_net loads them in turns (ROUNDS runs
    each, best kept)."""
    libs = ['dynthrift', 'dynthrift-inline']  # handler pool (default) / handler_threads=0
    try:
        import thriftpy  # noqa: F401
        libs.append('thriftpy')
    except ImportError:
        pass
    path = [p for p in sys.path if p]
    procs = {}
    try:
        for lib in libs:
            port = free_port()
            script = SERVER_SCRIPT % {'path': path, 'lib': lib, 'idl': BENCH_THRIFT,
                                      'port': port}
            procs[lib] = (start([sys.executable, '-c', script], 'listening')[0], port)
        for method in ('add', 'echo'):
            for _ in range(ROUNDS):
                for lib, (p, port) in procs.items():
                    cmd = [os.path.join(build, 'tools', 'bench_net'), '--addr',
                           '127.0.0.1:%d' % port, '--idl', BENCH_THRIFT, '--method', method,
                           '-c', '16', '-P', '1', '-d', '%.2f' % (seconds / ROUNDS), '-w', '0.1',
                           '--pid', str(p.pid)]
                    if method == 'echo':
                        cmd += ['--payload', os.path.join(os.path.dirname(BENCH_THRIFT),
                                                          'payload.json')]
                    r = subprocess.run(cmd, capture_output=True, text=True,
                                       timeout=seconds + 30)
                    fields = dict(kv.split('=', 1) for kv in r.stdout.split() if '=' in kv)
                    if r.returncode != 0 or 'cps' not in fields:
                        print('# bench_net failed for %s %s: %s' % (lib, method,
                                                                     r.stderr.strip()))
                        continue
                    key = ('server %s x16' % method, lib)
                    out[key] = max(out.get(key, 0.0), float(fields['cps']))
    finally:
        for p, _ in procs.values():
            stop(p)


def bench_aio(build, seconds, out):
    import dynthrift
    import dynthrift.aio as aio
    from dynthrift.transport import TFramedTransportFactory
    b = dynthrift.load(BENCH_THRIFT, module_name='bench_thrift')
    p, port = c_server(build)

    async def main():
        conn = await aio.create_connection(b.Bench, ('127.0.0.1', port),
                                           trans_factory=TFramedTransportFactory())

        async def serial(deadline):
            n = 0
            while time.perf_counter() < deadline:
                await conn.add(1, 2)
                n += 1
            return n

        async def measure(workers, seconds):
            t0 = time.perf_counter()
            counts = await asyncio.gather(*(serial(t0 + seconds) for _ in range(workers)))
            return sum(counts) / (time.perf_counter() - t0)
        await conn.add(1, 2)
        best = {1: 0.0, 16: 0.0}
        for _ in range(ROUNDS):
            for workers in (1, 16):
                best[workers] = max(best[workers], await measure(workers, seconds / ROUNDS))
        out['aio add, 1 in flight', 'dynthrift'] = best[1]
        out['aio add, 16 in flight', 'dynthrift'] = best[16]
        conn.close()
    try:
        asyncio.run(main())
    finally:
        stop_c_server(p)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default=os.path.join(ROOT, 'build'))
    ap.add_argument('--seconds', type=float, default=2.0)
    ap.add_argument('--only', choices=('clients', 'servers', 'aio'),
                    help='run one group of benchmarks')
    ap.add_argument('--pin', action='store_true',
                    help='client groups: C server on CPU 0, clients on CPU 1')
    args = ap.parse_args()
    if args.pin:
        global PIN
        PIN = True
    if not have_bench():
        print('../shared/bench is absent: nothing to measure')
        return 77
    out = {}
    for group, run in (('clients', bench_clients), ('servers', bench_servers),
                       ('aio', bench_aio)):
        if args.only in (None, group):
            run(args.build, args.seconds, out)
    print('load average %.2f%s' % (os.getloadavg()[0],
                                   ', server on CPU 0, clients on CPU 1' if args.pin else ''))
    print('%-24s %12s %12s %8s %14s' % ('calls/s', 'dynthrift', 'thriftpy', 'ratio',
                                        'CPU us/call'))
    for what in ('client add', 'client echo', 'server add x16', 'server echo x16'):
        t = out.get((what, 'thriftpy'))
        for variant, label in (('dynthrift', what), ('dynthrift-sleep', what + ' no busy-poll'),
                               ('dynthrift-inline', what + ' inline')):
            d = out.get((what, variant))
            if not d:
                continue
            dc, tc = out.get((what + ' cpu', variant)), out.get((what + ' cpu', 'thriftpy'))
            print('%-24s %12.0f %12s %8s %14s' % (
                label, d, '%.0f' % t if t else '-', '%.2fx' % (d / t) if t else '-',
                '%.1f / %.1f' % (dc, tc) if dc and tc else '%.1f' % dc if dc else ''))
    if ('aio add, 1 in flight', 'dynthrift') not in out:
        return 0
    one = out[('aio add, 1 in flight', 'dynthrift')]
    many = out[('aio add, 16 in flight', 'dynthrift')]
    print('%-24s %12.0f' % ('aio add, 1 in flight', one))
    print('%-24s %12.0f %21s' % ('aio add, 16 in flight', many, '%.2fx' % (many / one)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
