"""The codec: dynthrift.utils.serialize/deserialize in binary, compact and
JSON; bytes equal to thriftpy's and Apache's (python3-thrift, classes made
by the thrift compiler) for the shared bench Payload and ThriftTest-like
structs; garbage input raises."""
import importlib
import math
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import uuid

import dynthrift
from dynthrift.protocol import (TBinaryProtocolFactory, TCompactProtocolFactory,
                                TJSONProtocolFactory)
from dynthrift.thrift import TDecodeException
from dynthrift.utils import deserialize, serialize

from helpers import BENCH_THRIFT, TYPES_THRIFT, bench_payload, have_bench

m = dynthrift.load(TYPES_THRIFT, module_name='types_thrift')
BIN, COMPACT, JSON = (TBinaryProtocolFactory(), TCompactProtocolFactory(),
                      TJSONProtocolFactory())

try:
    import thriftpy
    import thriftpy.utils
    from thriftpy.protocol import TBinaryProtocolFactory as TpBinary
except ImportError:
    thriftpy = None

try:
    from thrift import TSerialization
    from thrift.protocol import (TBinaryProtocol, TCompactProtocol, TJSONProtocol)
    from thrift.protocol import fastbinary  # noqa: F401
except ImportError:
    TSerialization = None
THRIFT = shutil.which('thrift') or '/usr/bin/thrift'


def convert(obj, find_class):
    """A copy of `obj` made of another library's classes (by name)."""
    if hasattr(obj, 'thrift_spec') and hasattr(obj, '_dt_names'):
        cls = find_class(type(obj).__name__)
        return cls(**{n: convert(getattr(obj, n), find_class) for n in obj._dt_names})
    if isinstance(obj, list):
        return [convert(v, find_class) for v in obj]
    if isinstance(obj, set):
        return set(convert(v, find_class) for v in obj)
    if isinstance(obj, dict):
        return {convert(k, find_class): convert(v, find_class) for k, v in obj.items()}
    return obj


def everything():
    x = m.Xtruct('str', -5, 1 << 30, -(1 << 62))
    return m.Everything(
        b=True, i8v=-128, i16v=32767, i32v=-(1 << 31), i64v=(1 << 63) - 1,
        d=-1.25e-300, s='h\u00e9llo \u20ac \U0001f600', bin=b'\x00\xff\x10',
        num=m.Numberz.EIGHT, ints=[1, -1, 0, 1 << 20],
        strs={'bb'},  # one: str hashes vary per process, and so would the order
        structs={'k': x, 'z': m.Xtruct()},
        nested=[{1: {1, 2}, -2: set()}, {}],
        point=m.shared.Point(3, -4), uid=77, names=['n1', 'n2'],
        doubles=[0.0, -0.0, 1e308], idx={}, opt='present', req=0)


def samples():
    x = m.Xtruct('s', 1, 2, 3)
    return [
        ('Xtruct', x),
        ('Xtruct-empty', m.Xtruct()),
        ('Xtruct2', m.Xtruct2(byte_thing=7, struct_thing=x, i32_thing=-9)),
        ('Bonk', m.Bonk('msg', 5)),
        ('Everything', everything()),
        ('Everything-defaults', m.Everything()),
        ('Choice-n', m.Choice(n=5)),
        ('Choice-x', m.Choice(x=x)),
        ('Xception', m.Xception(errorCode=1001, message='This is an Xception')),
        ('Xception2', m.Xception2(errorCode=2002, struct_thing=x)),
    ]


class RoundTripTest(unittest.TestCase):
    def test_round_trips_every_protocol(self):
        for name, obj in samples():
            for factory in (BIN, COMPACT, JSON):
                with self.subTest(name=name, proto=factory):
                    data = serialize(obj, factory)
                    back = deserialize(type(obj)(), data, factory)
                    self.assertEqual(back, obj)
                    self.assertEqual(deserialize(type(obj), data, factory), obj)

    def test_absent_fields_get_defaults_fresh(self):
        data = serialize(m.Xtruct(i32_thing=3))
        e = deserialize(m.Everything, serialize(m.Everything(req=1)))
        self.assertEqual(e.doubles, [1.5, -2.0])
        e.doubles.append(1.0)
        self.assertEqual(deserialize(m.Everything, serialize(m.Everything(req=1))).doubles,
                         [1.5, -2.0])
        self.assertEqual(deserialize(m.Xtruct, data).i32_thing, 3)

    def test_deserialize_fills_the_given_object(self):
        target = m.Xtruct()
        out = deserialize(target, serialize(m.Xtruct('q', 1, 2, 3)))
        self.assertIs(out, target)
        self.assertEqual(target.string_thing, 'q')

    def test_types_after_decode(self):
        e = deserialize(m.Everything, serialize(everything()))
        self.assertIsInstance(e.strs, set)
        self.assertIsInstance(e.structs, dict)
        self.assertIsInstance(e.bin, bytes)
        self.assertIsInstance(e.s, str)
        self.assertIsInstance(e.point, m.shared.Point)
        self.assertEqual(e.i64v, (1 << 63) - 1)
        self.assertTrue(math.copysign(1.0, e.doubles[1]) < 0)

    def test_uuid(self):
        u = dynthrift.loads('struct U { 1: uuid id, 2: list<uuid> ids }', 'uuid_thrift')
        v = uuid.UUID('00112233-4455-6677-8899-aabbccddeeff')
        obj = u.U(id=v, ids=[v, str(v), v.bytes])
        data = serialize(obj)
        self.assertIn(v.bytes, data)
        back = deserialize(u.U, data)
        self.assertEqual(back.ids, [v, v, v])
        with self.assertRaises(TypeError):
            serialize(u.U(id=5))


class DecodedObjectsTest(unittest.TestCase):
    """What the wire decoder's shortcuts must not change: strings equal to
    what was written whatever their length and characters (short ASCII ones
    are shared within a decode), and decoded instances that behave as ones
    made by __init__."""
    STRINGS = ['', 'a', '\u00e9', 'ab', 'ab', 'ba', 'abc', 'abd', 'abcd', 'abce', 'dbca',
               'x' * 7, 'x' * 8, 'x' * 6 + 'y' + 'x', 'x' * 15, 'x' * 16,
               'x' * 17, 'x' * 8 + 'y' + 'x' * 8, 'x' * 8 + 'z' + 'x' * 8,
               'p' * 12 + 'q' * 12 + 'r' * 8, 'p' * 12 + 'Q' * 12 + 'r' * 8,
               # differ only in bytes 16..24, which the cache's hash leaves out
               'p' * 16 + 'A' * 8 + 'r' * 8, 'p' * 16 + 'B' * 8 + 'r' * 8,
               'x' * 32, 'x' * 33, 'x' * 15 + '\u00e9', 'caf\u00e9', 'caf\u00e9',
               'a\x00b', 'a\x00c', 't\x7f\x7f', 'tag-%d' % 1, 'tag-%d' % 1]

    def test_strings_equal_what_was_written(self):
        strs = list(self.STRINGS) + ['%s-%d' % (w, i) for i in range(300)
                                     for w in ('k', 'key-long-enough!')]
        strs += ['tag-%d' % 1, 'tag-%d' % 1]  # made apart: equal, not the same object
        obj = m.Everything(names=strs, structs={s: m.Xtruct(s) for s in strs}, req=1)
        for factory in (BIN, COMPACT):
            with self.subTest(proto=factory):
                back = deserialize(m.Everything, serialize(obj, factory), factory)
                self.assertEqual(back.names, strs)
                # short ASCII strings repeated in one message are one object
                self.assertIs(back.names[-1], back.names[-2])
                self.assertEqual(sorted(back.structs), sorted(set(strs)))
                for k, v in back.structs.items():
                    self.assertEqual(v.string_thing, k)
                    self.assertIs(type(k), str)

    def test_unknown_fields_are_passed_over(self):
        # a newer writer's fields of every wire type, read by an older schema
        v = dynthrift.loads("""
            struct Inner { 1: string s }
            struct New { 1: i32 a, 2: string s, 3: list<i32> l, 4: bool b, 5: double d,
                         6: i64 x, 7: byte y, 8: i16 z, 9: binary bin, 10: Inner inner,
                         11: map<string, i32> m, 12: bool last }
            struct Old { 1: i32 a, 6: i64 x, 12: bool last }""", 'evolve_thrift')
        new = v.New(a=-7, s='s', l=[1, 2], b=True, d=0.5, x=1 << 40, y=-1, z=300,
                    bin=b'\xff', inner=v.Inner('i'), m={'k': 1}, last=False)
        for factory in (BIN, COMPACT):
            with self.subTest(proto=factory):
                old = deserialize(v.Old, serialize(new, factory), factory)
                self.assertEqual((old.a, old.x, old.last), (-7, 1 << 40, False))
                self.assertEqual(deserialize(v.New, serialize(new, factory), factory), new)

    def test_decoded_instances_behave_as_constructed_ones(self):
        import copy
        import pickle
        x = deserialize(m.Xtruct, serialize(m.Xtruct('s', 1, 2, 3)))
        self.assertEqual(vars(x), vars(m.Xtruct('s', 1, 2, 3)))
        self.assertEqual(list(x.__dict__), list(m.Xtruct._dt_names))
        x.extra = 5
        x.i32_thing = 9
        self.assertEqual((x.extra, x.__dict__['i32_thing']), (5, 9))
        del x.extra
        self.assertEqual(copy.deepcopy(x), x)
        self.assertEqual(pickle.loads(pickle.dumps(x)), x)
        e = deserialize(m.Xception, serialize(m.Xception(errorCode=3, message='m')))
        self.assertEqual((e.errorCode, e.message, vars(e)['message']), (3, 'm', 'm'))


class GarbageTest(unittest.TestCase):
    def test_garbage_raises(self):
        import random
        rnd = random.Random(12)
        good = serialize(everything())
        for factory in (BIN, COMPACT, JSON):
            for i in range(300):
                data = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 64)))
                try:
                    deserialize(m.Everything, data, factory)
                except (TDecodeException, UnicodeDecodeError, TypeError):
                    pass
            for cut in range(0, len(good), 7):
                with self.assertRaises(TDecodeException):
                    deserialize(m.Everything, good[:cut])

    def test_wire_errors_name_the_nested_place(self):
        # Xtruct2.struct_thing.i32_thing sent as a string, in both wire
        # protocols read straight into objects; the target stays untouched
        good = m.Xtruct2(byte_thing=1, struct_thing=m.Xtruct(i32_thing=5), i32_thing=2)
        for factory, name in ((BIN, '<binary>'), (COMPACT, '<compact>')):
            bad = m.Xtruct2(byte_thing=1, struct_thing=m.Xtruct(i32_thing=5))
            data = serialize(bad, factory)
            spoilt = serialize(m.Xtruct(string_thing='x'), factory)
            with_str = serialize(m.Xtruct2(struct_thing=m.Xtruct(string_thing='x')), factory)
            self.assertIn(spoilt[:-1], with_str)
            # retype field 1 (string) as i32's id 9 inside struct_thing
            wrong = with_str.replace(b'\x0b\x00\x01', b'\x0b\x00\x09') if factory is BIN \
                else with_str.replace(b'\x18', b'\x98', 1)
            target = m.Xtruct2(byte_thing=7)
            with self.assertRaises(TDecodeException) as cm:
                deserialize(target, wrong, factory)
            self.assertIn(name, str(cm.exception))
            self.assertIn('Xtruct2.struct_thing.i32_thing: expected i32', str(cm.exception))
            self.assertEqual(target, m.Xtruct2(byte_thing=7))
            self.assertEqual(deserialize(m.Xtruct2, data, factory), bad)
            self.assertEqual(deserialize(m.Xtruct2, serialize(good, factory), factory), good)

    def test_truncated_scalar_names_its_field(self):
        # the value of Xtruct2.struct_thing.string_thing cut short
        obj = m.Xtruct2(struct_thing=m.Xtruct(string_thing='hello', i32_thing=1))
        for factory in (BIN, COMPACT):
            data = serialize(obj, factory)
            cut = data[:data.index(b'hello') + 2]
            with self.subTest(proto=factory), self.assertRaises(TDecodeException) as cm:
                deserialize(m.Xtruct2, cut, factory)
            self.assertIn('Xtruct2.struct_thing.string_thing: need more bytes', str(cm.exception))

    def test_errors_name_the_place(self):
        with self.assertRaises(TDecodeException) as cm:
            deserialize(m.Xtruct, b'\x08\x00\x01\x00')
        self.assertIn('<binary>', str(cm.exception))
        with self.assertRaises(TDecodeException):
            deserialize(m.Xtruct, b'\x0f\x00\x01\x08\x7f\xff\xff\xff')  # huge list
        with self.assertRaises(TDecodeException):
            deserialize(m.Everything, b'')  # required field missing


@unittest.skipIf(thriftpy is None, 'thriftpy (python3-thriftpy) is not installed')
class ThriftpyBytesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tm = thriftpy.load(TYPES_THRIFT, module_name='tpc_types_thrift')

    def find(self, name):
        return getattr(self.tm, name, None) or getattr(self.tm.shared, name)

    def test_same_bytes_as_thriftpy(self):
        for name, obj in samples():
            other = convert(obj, self.find)
            # thriftpy 0.3.9's compact protocol calls array.tostring(),
            # gone since Python 3.9: binary only.
            for ours, theirs in ((BIN, TpBinary()),):
                with self.subTest(name=name, proto=ours):
                    self.assertEqual(serialize(obj, ours),
                                     thriftpy.utils.serialize(other, theirs))
                    # and thriftpy reads ours back (it makes lists of sets
                    # and compares exceptions by identity: compare bytes)
                    data = serialize(obj, ours)
                    back = thriftpy.utils.deserialize(type(other)(), data, theirs)
                    self.assertEqual(thriftpy.utils.serialize(back, theirs), data)

    @unittest.skipUnless(have_bench(), '../shared/bench is absent')
    def test_bench_payload_same_bytes(self):
        b = dynthrift.load(BENCH_THRIFT, module_name='bench_thrift')
        tb = thriftpy.load(BENCH_THRIFT, module_name='tp_bench_thrift')
        ours, theirs = bench_payload(b), bench_payload(tb)
        self.assertEqual(serialize(ours), thriftpy.utils.serialize(theirs))
        self.assertEqual(deserialize(b.Payload, thriftpy.utils.serialize(theirs)), ours)


@unittest.skipIf(TSerialization is None or not os.path.exists(THRIFT),
                 'python3-thrift (with fastbinary) or the thrift compiler is missing')
class ApacheBytesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        for idl in [TYPES_THRIFT] + ([BENCH_THRIFT] if have_bench() else []):
            subprocess.check_call([THRIFT, '-r', '--gen', 'py', '-out', cls.tmp, idl],
                                  stdout=subprocess.DEVNULL)
        sys.path.insert(0, cls.tmp)
        cls.ttypes = importlib.import_module('tt_types.ttypes')
        cls.shared = importlib.import_module('shared.ttypes')

    @classmethod
    def tearDownClass(cls):
        sys.path.remove(cls.tmp)
        shutil.rmtree(cls.tmp)

    def find(self, name):
        return getattr(self.ttypes, name, None) or getattr(self.shared, name)

    FACTORIES = [
        (BIN, lambda: TBinaryProtocol.TBinaryProtocolFactory()),
        (BIN, lambda: TBinaryProtocol.TBinaryProtocolAcceleratedFactory()),
        (COMPACT, lambda: TCompactProtocol.TCompactProtocolFactory()),
        (COMPACT, lambda: TCompactProtocol.TCompactProtocolAcceleratedFactory()),
        (JSON, lambda: TJSONProtocol.TJSONProtocolFactory()),
    ]

    def test_same_bytes_as_apache(self):
        for name, obj in samples():
            other = convert(obj, self.find)
            for ours, theirs in self.FACTORIES:
                with self.subTest(name=name, proto=theirs()):
                    data = serialize(obj, ours)
                    self.assertEqual(data, TSerialization.serialize(other, theirs()))
                    if not isinstance(other, Exception):  # Apache's are immutable
                        back = TSerialization.deserialize(type(other)(), data, theirs())
                        self.assertEqual(back, other)

    @unittest.skipUnless(have_bench(), '../shared/bench is absent')
    def test_bench_payload_same_bytes(self):
        b = dynthrift.load(BENCH_THRIFT, module_name='bench_thrift')
        bench = importlib.import_module('bench.ttypes')
        ours = bench_payload(b)
        theirs = bench_payload(bench)
        for mine, factory in self.FACTORIES:
            with self.subTest(proto=factory()):
                self.assertEqual(serialize(ours, mine),
                                 TSerialization.serialize(theirs, factory()))
        apache_bytes = TSerialization.serialize(
            theirs, TBinaryProtocol.TBinaryProtocolAcceleratedFactory())
        self.assertEqual(deserialize(b.Payload, apache_bytes), ours)


if __name__ == '__main__':
    unittest.main()
