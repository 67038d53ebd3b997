#!/usr/bin/python3
"""Codec benchmark of the Python binding: serialize and deserialize the
shared bench Payload (../shared/bench) in binary with dynthrift, Apache's
accelerated codec (TBinaryProtocolAccelerated = fastbinary, classes from
the thrift compiler) and thriftpy's cybin, in one run.

    PYTHONPATH=build/src/python /usr/bin/python3 tools/bench_python.py [--seconds S] [--cpu]
    PYTHONPATH=build/src/python /usr/bin/python3 tools/bench_python.py --callgrind [N]

Prints ops/s per library (best batch of 7; the libraries take turns batch
by batch, so load from elsewhere hits them alike) and dynthrift's ratios.
--callgrind counts instructions instead (exact, whatever the load): each
library and operation runs in a child under `valgrind --tool=callgrind`
twice, with 0 and N operations (default 300) after the same set-up; the
difference of the two totals over N is the instructions per operation,
Python's own work around the call included."""
import argparse
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, 'test', 'python'))
from helpers import BENCH_THRIFT, bench_payload, have_bench  # noqa: E402


def batch_size(fn):
    """Calls per batch of about 20 ms."""
    n = 1
    while True:
        t = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - t > 0.02:
            return n
        n *= 2


CLOCK = time.perf_counter


def best_rates(fns, seconds, rounds=7):
    """ops/s of each of `fns` (name -> callable): the best batch of
    `rounds`, the libraries taking turns batch by batch so that load from
    elsewhere on the machine hits them alike."""
    sizes = {name: batch_size(fn) for name, fn in fns.items()}
    best = dict.fromkeys(fns, 0.0)
    per_round = seconds / rounds / max(1, len(fns))
    for _ in range(rounds):
        for name, fn in fns.items():
            n = max(1, int(sizes[name] * per_round / 0.02))
            t = CLOCK()
            for _ in range(n):
                fn()
            best[name] = max(best[name], n / max(CLOCK() - t, 1e-9))
    return best


def contenders(libs=None):
    """name -> (serialize fn, deserialize fn), set up; `libs` picks some."""
    import dynthrift
    from dynthrift.utils import serialize, deserialize
    out = {}
    b = dynthrift.load(BENCH_THRIFT, module_name='bench_thrift')
    p = bench_payload(b)
    data = serialize(p)
    if libs is None or 'dynthrift' in libs:
        out['dynthrift'] = (lambda: serialize(p), lambda: deserialize(b.Payload, data))
    tmp = None
    if libs is None or 'apache fastbinary' in libs:
        try:
            from thrift import TSerialization
            from thrift.protocol import TBinaryProtocol
            from thrift.protocol import fastbinary  # noqa: F401
            tmp = tempfile.mkdtemp()
            subprocess.check_call([shutil.which('thrift') or '/usr/bin/thrift', '--gen', 'py',
                                   '-out', tmp, BENCH_THRIFT], stderr=subprocess.DEVNULL)
            sys.path.insert(0, tmp)
            ab = importlib.import_module('bench.ttypes')
            ap_obj = bench_payload(ab)
            fac = TBinaryProtocol.TBinaryProtocolAcceleratedFactory()
            adata = TSerialization.serialize(ap_obj, fac)
            assert adata == data, 'Apache and dynthrift bytes differ'
            out['apache fastbinary'] = (
                lambda: TSerialization.serialize(ap_obj, fac),
                lambda: TSerialization.deserialize(ab.Payload(), adata, fac))
        except (ImportError, OSError, subprocess.CalledProcessError) as e:
            print('# Apache python3-thrift/fastbinary skipped: %s' % e)
        finally:
            if tmp:
                shutil.rmtree(tmp)
    if libs is None or 'thriftpy cybin' in libs:
        try:
            import thriftpy
            import thriftpy.utils
            from thriftpy.protocol.cybin import TCyBinaryProtocolFactory
            tb = thriftpy.load(BENCH_THRIFT, module_name='tp_bench_thrift')
            tp_obj = bench_payload(tb)
            cy = TCyBinaryProtocolFactory()
            tdata = thriftpy.utils.serialize(tp_obj, cy)
            assert tdata == data, 'thriftpy and dynthrift bytes differ'
            out['thriftpy cybin'] = (
                lambda: thriftpy.utils.serialize(tp_obj, cy),
                lambda: thriftpy.utils.deserialize(tb.Payload(), tdata, cy))
        except ImportError as e:
            print('# thriftpy cybin skipped: %s' % e)
    return out, len(data)


def callgrind_child(lib, op, n):
    fns, _ = contenders([lib])
    fn = fns[lib][0 if op == 'serialize' else 1]
    fn()  # warm: first-call caches are set-up, not per-operation cost
    for _ in range(n):
        fn()


def callgrind(n):
    """Instructions per operation, by the difference of two callgrind runs."""
    import re
    libs = ['dynthrift', 'apache fastbinary', 'thriftpy cybin']
    env = dict(os.environ)
    results = {}
    for lib in libs:
        for op in ('serialize', 'deserialize'):
            totals = []
            for count in (0, n):
                r = subprocess.run(
                    ['valgrind', '--tool=callgrind', '--callgrind-out-file=/dev/null',
                     sys.executable, os.path.abspath(__file__), '--child', lib, op, str(count)],
                    capture_output=True, text=True, env=env)
                m = re.search(r'Collected : (\d+)', r.stderr)
                if r.returncode != 0 or not m:
                    print('# %s %s: callgrind failed: %s' % (lib, op, r.stderr[-300:]))
                    break
                totals.append(int(m.group(1)))
            if len(totals) == 2:
                results[lib, op] = (totals[1] - totals[0]) / n
    print('bench Payload, binary; instructions per operation (callgrind, %d ops)' % n)
    print('%-20s %14s %14s' % ('library', 'serialize', 'deserialize'))
    for lib in libs:
        if (lib, 'serialize') in results:
            print('%-20s %14.0f %14.0f' % (lib, results[lib, 'serialize'],
                                           results.get((lib, 'deserialize'), 0)))
    for lib in libs[1:]:
        if (lib, 'serialize') in results and ('dynthrift', 'serialize') in results:
            print('dynthrift / %-18s serialize %.2fx  deserialize %.2fx (fewer instructions)' % (
                lib, results[lib, 'serialize'] / results['dynthrift', 'serialize'],
                results[lib, 'deserialize'] / results['dynthrift', 'deserialize']))
    return 0


def main():
    if len(sys.argv) == 5 and sys.argv[1] == '--child':
        callgrind_child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument('--seconds', type=float, default=2.0, help='per measurement')
    ap.add_argument('--cpu', action='store_true',
                    help='count this process\'s CPU time instead of wall time (steadier '
                         'on a machine shared with other work)')
    ap.add_argument('--callgrind', nargs='?', type=int, const=300, metavar='N',
                    help='instructions per operation under callgrind instead of rates')
    args = ap.parse_args()
    if args.callgrind and have_bench():
        return callgrind(args.callgrind)
    global CLOCK
    if args.cpu:
        CLOCK = time.process_time
    if not have_bench():
        print('../shared/bench is absent: nothing to measure')
        return 77
    fns, size = contenders()
    ser = {name: f[0] for name, f in fns.items()}
    des = {name: f[1] for name, f in fns.items()}

    s_rates = best_rates(ser, args.seconds * len(ser))
    d_rates = best_rates(des, args.seconds * len(des))
    results = {name: (s_rates[name], d_rates[name]) for name in ser}
    print('bench Payload, binary, %d bytes; ops/s of %s (best batch, libraries in turn)'
          % (size, 'CPU time' if args.cpu else 'wall time'))
    print('%-20s %14s %14s' % ('library', 'serialize', 'deserialize'))
    for name, (s, d) in results.items():
        print('%-20s %14.0f %14.0f' % (name, s, d))
    ds, dd = results['dynthrift']
    for name, (s, d) in results.items():
        if name != 'dynthrift':
            print('dynthrift / %-18s serialize %.2fx  deserialize %.2fx' % (name, ds / s, dd / d))
    return 0


if __name__ == '__main__':
    sys.exit(main())
