#!/usr/bin/python3
"""Codec benchmark of the Python binding: serialize and deserialize the
shared bench Payload (../shared/bench) in binary with dynthrift, Apache's
accelerated codec (TBinaryProtocolAccelerated = fastbinary, classes from
the thrift compiler) and thriftpy's cybin, in one run.

    PYTHONPATH=build/src/python /usr/bin/python3 tools/bench_python.py [--seconds S] [--cpu]

Prints ops/s per library (best batch of 7; the libraries take turns batch
by batch, so load from elsewhere hits them alike) and dynthrift's ratios."""
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--seconds', type=float, default=2.0, help='per measurement')
    ap.add_argument('--cpu', action='store_true',
                    help='count this process\'s CPU time instead of wall time (steadier '
                         'on a machine shared with other work)')
    args = ap.parse_args()
    global CLOCK
    if args.cpu:
        CLOCK = time.process_time
    if not have_bench():
        print('../shared/bench is absent: nothing to measure')
        return 77
    import dynthrift
    from dynthrift.utils import serialize, deserialize
    ser, des = {}, {}
    b = dynthrift.load(BENCH_THRIFT, module_name='bench_thrift')
    p = bench_payload(b)
    data = serialize(p)
    ser['dynthrift'] = lambda: serialize(p)
    des['dynthrift'] = lambda: deserialize(b.Payload, data)
    size = len(data)

    tmp = None
    try:
        from thrift import TSerialization
        from thrift.protocol import TBinaryProtocol
        from thrift.protocol import fastbinary  # noqa: F401
        tmp = tempfile.mkdtemp()
        subprocess.check_call([shutil.which('thrift') or '/usr/bin/thrift', '--gen', 'py',
                               '-out', tmp, BENCH_THRIFT])
        sys.path.insert(0, tmp)
        ab = importlib.import_module('bench.ttypes')
        ap_obj = bench_payload(ab)
        fac = TBinaryProtocol.TBinaryProtocolAcceleratedFactory()
        adata = TSerialization.serialize(ap_obj, fac)
        assert adata == data, 'Apache and dynthrift bytes differ'
        ser['apache fastbinary'] = lambda: TSerialization.serialize(ap_obj, fac)
        des['apache fastbinary'] = lambda: TSerialization.deserialize(ab.Payload(), adata, fac)
    except (ImportError, OSError, subprocess.CalledProcessError) as e:
        print('# Apache python3-thrift/fastbinary skipped: %s' % e)
    finally:
        if tmp:
            shutil.rmtree(tmp)

    try:
        import thriftpy
        import thriftpy.utils
        from thriftpy.protocol.cybin import TCyBinaryProtocolFactory
        tb = thriftpy.load(BENCH_THRIFT, module_name='tp_bench_thrift')
        tp_obj = bench_payload(tb)
        cy = TCyBinaryProtocolFactory()
        tdata = thriftpy.utils.serialize(tp_obj, cy)
        assert tdata == data, 'thriftpy and dynthrift bytes differ'
        ser['thriftpy cybin'] = lambda: thriftpy.utils.serialize(tp_obj, cy)
        des['thriftpy cybin'] = lambda: thriftpy.utils.deserialize(tb.Payload(), tdata, cy)
    except ImportError as e:
        print('# thriftpy cybin skipped: %s' % e)

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
