"""Loading: load/loads, module objects, includes, caching, sys.modules and
pickling, ThriftParserError locations, the import hook."""
import os
import pickle
import shutil
import sys
import tempfile
import unittest

import dynthrift
from dynthrift.thrift import TException

from helpers import DATA, TYPES_THRIFT


class LoadTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = dynthrift.load(TYPES_THRIFT, module_name='types_thrift')

    def test_definitions_are_attributes(self):
        m = self.m
        for name in ('Bonk', 'Xtruct', 'Xtruct2', 'Everything', 'Choice',
                     'Xception', 'Numberz', 'ThriftTest', 'Base', 'PRIMES'):
            self.assertTrue(hasattr(m, name), name)
        self.assertTrue(issubclass(m.Xception, TException))
        self.assertTrue(issubclass(m.Xception, Exception))

    def test_included_module_is_an_attribute(self):
        self.assertEqual(self.m.shared.Color.BLUE, 7)
        p = self.m.shared.Point(x=1, y=2)
        self.assertEqual((p.x, p.y), (1, 2))
        self.assertEqual(self.m.shared.ORIGIN_X, 0)
        self.assertIs(self.m.Everything.thrift_spec[14][2], self.m.shared.Point)

    def test_consts(self):
        m = self.m
        self.assertEqual(m.PRIMES, [2, 3, 5, 7])
        self.assertEqual(m.BY_NAME, {'one': 1, 'six': 6})
        self.assertEqual(m.SAMPLE, m.Xtruct(string_thing='s', i32_thing=9))
        self.assertEqual(m.FAVOURITE, 7)

    def test_enum_numbering(self):
        N = self.m.Numberz
        self.assertEqual((N.ONE, N.TWO, N.THREE, N.FIVE, N.SIX, N.EIGHT),
                         (1, 2, 3, 5, 6, 8))
        self.assertEqual(N._VALUES_TO_NAMES[6], 'SIX')
        self.assertEqual(N._NAMES_TO_VALUES['EIGHT'], 8)

    def test_services(self):
        svc = self.m.ThriftTest
        self.assertEqual(svc.thrift_services,
                         ['ping', 'testString', 'testI64', 'testStruct',
                          'testEverything', 'testMultiException', 'testOneway'])
        self.assertTrue(issubclass(svc, self.m.Base))
        r = svc.testMultiException_result
        self.assertEqual(sorted(r.thrift_spec), [0, 1, 2])
        self.assertIs(r.thrift_spec[1][2], self.m.Xception)
        self.assertTrue(svc.testOneway_args.oneway)

    def test_cached_per_process(self):
        again = dynthrift.load(TYPES_THRIFT, module_name='types_thrift')
        self.assertIs(again, self.m)
        self.assertIs(again.Xtruct, self.m.Xtruct)
        a = dynthrift.load(TYPES_THRIFT)
        b = dynthrift.load(TYPES_THRIFT)
        self.assertIs(a, b)

    def test_module_name_registers_and_pickles(self):
        self.assertIs(sys.modules['types_thrift'], self.m)
        x = self.m.Xtruct2(byte_thing=1, struct_thing=self.m.Xtruct('a', 2, 3, 4),
                           i32_thing=5)
        self.assertEqual(pickle.loads(pickle.dumps(x)), x)
        e = self.m.Xception(errorCode=3, message='m')
        e2 = pickle.loads(pickle.dumps(e))
        self.assertEqual((e2.errorCode, e2.message), (3, 'm'))

    def test_module_name_must_end_in_thrift(self):
        with self.assertRaises(dynthrift.ThriftParserError):
            dynthrift.load(TYPES_THRIFT, module_name='types')

    def test_include_dirs(self):
        d = tempfile.mkdtemp()
        try:
            os.mkdir(os.path.join(d, 'main'))
            os.mkdir(os.path.join(d, 'inc'))
            shutil.copy(os.path.join(DATA, 'shared.thrift'), os.path.join(d, 'inc'))
            main = os.path.join(d, 'main', 'uses.thrift')
            with open(main, 'w') as f:
                f.write('include "shared.thrift"\nstruct U { 1: shared.Point p }\n')
            with self.assertRaises(dynthrift.ThriftParserError):
                dynthrift.load(main)
            m = dynthrift.load(main, include_dirs=[os.path.join(d, 'inc')])
            self.assertIs(m.U.thrift_spec[1][2], m.shared.Point)
        finally:
            shutil.rmtree(d)

    def test_parser_error_has_location(self):
        d = tempfile.mkdtemp()
        try:
            bad = os.path.join(d, 'bad.thrift')
            with open(bad, 'w') as f:
                f.write('struct A {\n  1: i32 x,\n  2: Unknwn y,\n}\n')
            with self.assertRaises(dynthrift.ThriftParserError) as cm:
                dynthrift.load(bad)
            msg = str(cm.exception)
            self.assertRegex(msg, r'bad\.thrift:3:\d+: ')
            self.assertIn('Unknwn', msg)
        finally:
            shutil.rmtree(d)

    def test_missing_file(self):
        with self.assertRaises(dynthrift.ThriftParserError):
            dynthrift.load('/nonexistent/x.thrift')


class LoadsTest(unittest.TestCase):
    def test_loads_plain(self):
        m = dynthrift.loads('struct P { 1: i32 a = 4 }', 'mem_plain_thrift')
        self.assertEqual(m.P().a, 4)
        self.assertIs(sys.modules['mem_plain_thrift'], m)

    def test_loads_with_resolver(self):
        files = {'common.thrift': 'include "deeper.thrift"\n'
                                  'struct C { 1: deeper.D d }',
                 'deeper.thrift': 'struct D { 1: string s = "deep" }'}
        asked = []

        def resolver(includer, path):
            asked.append((includer, path))
            return files.get(path)
        m = dynthrift.loads('include "common.thrift"\nstruct Top { 1: common.C c }',
                            'mem_top_thrift', resolver=resolver)
        self.assertEqual(m.common.deeper.D().s, 'deep')
        self.assertIs(m.Top.thrift_spec[1][2], m.common.C)
        self.assertEqual([p for _, p in asked], ['common.thrift', 'deeper.thrift'])
        self.assertEqual(asked[0][0], 'mem_top.thrift')

    def test_resolver_missing_file(self):
        with self.assertRaises(dynthrift.ThriftParserError) as cm:
            dynthrift.loads('include "nope.thrift"\n', 'mem_missing_thrift',
                            resolver=lambda inc, p: None)
        self.assertIn('nope.thrift', str(cm.exception))
        self.assertRegex(str(cm.exception), r'mem_missing\.thrift:1:\d+')

    def test_resolver_exception_propagates(self):
        class Boom(Exception):
            pass

        def resolver(inc, p):
            raise Boom(p)
        with self.assertRaises(Boom):
            dynthrift.loads('include "x.thrift"\n', 'mem_boom_thrift', resolver=resolver)

    def test_loads_syntax_error(self):
        with self.assertRaises(dynthrift.ThriftParserError) as cm:
            dynthrift.loads('struct {', 'mem_bad_thrift')
        self.assertRegex(str(cm.exception), r'^mem_bad\.thrift:1:\d+: ')


class ImportHookTest(unittest.TestCase):
    def test_import_foo_thrift(self):
        d = tempfile.mkdtemp()
        sys.path.insert(0, d)
        try:
            with open(os.path.join(d, 'hooked.thrift'), 'w') as f:
                f.write('enum E { A = 3 }\nstruct S { 1: E e = E.A }\n')
            dynthrift.install_import_hook()
            import hooked_thrift
            self.assertEqual(hooked_thrift.S().e, 3)
            self.assertIs(sys.modules['hooked_thrift'], hooked_thrift)
            s = hooked_thrift.S()
            self.assertEqual(pickle.loads(pickle.dumps(s)), s)
        finally:
            dynthrift.remove_import_hook()
            sys.path.remove(d)
            shutil.rmtree(d)
        with self.assertRaises(ImportError):
            import never_there_thrift  # noqa: F401


if __name__ == '__main__':
    unittest.main()
