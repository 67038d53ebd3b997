"""Generated types: constructors, defaults, equality, repr, hash,
thrift_spec in thriftpy's shape, exceptions, enums, and the type checks
made when a value is written."""
import unittest

import dynthrift
from dynthrift.thrift import TApplicationException, TException, TType
from dynthrift.utils import serialize

from helpers import TYPES_THRIFT

m = dynthrift.load(TYPES_THRIFT, module_name='types_thrift')

try:
    import thriftpy
    tm = thriftpy.load(TYPES_THRIFT, module_name='tp_types_thrift')
except ImportError:
    tm = None


def shape(spec):
    """thrift_spec with classes replaced by their names."""
    def norm(x):
        if isinstance(x, type):
            return x.__name__
        if isinstance(x, tuple):
            return tuple(norm(i) for i in x)
        return x
    return {k: norm(v) for k, v in spec.items()}


class ConstructorTest(unittest.TestCase):
    def test_positional_in_idl_order(self):
        x = m.Xtruct('s', 1, 2, 3)
        self.assertEqual((x.string_thing, x.byte_thing, x.i32_thing, x.i64_thing),
                         ('s', 1, 2, 3))

    def test_keywords_and_defaults(self):
        e = m.Everything(s='hi')
        self.assertEqual(e.s, 'hi')
        self.assertEqual(e.num, m.Numberz.TWO)
        self.assertEqual(e.req, 7)
        self.assertEqual(e.doubles, [1.5, -2.0])
        self.assertEqual(e.idx, {1: 'one'})
        self.assertIsNone(e.opt)

    def test_fresh_mutable_defaults(self):
        a, b = m.Everything(), m.Everything()
        a.doubles.append(9.0)
        a.idx[2] = 'two'
        self.assertEqual(b.doubles, [1.5, -2.0])
        self.assertEqual(b.idx, {1: 'one'})
        self.assertEqual(m.Everything().doubles, [1.5, -2.0])

    def test_unknown_keyword_rejected(self):
        with self.assertRaises(TypeError):
            m.Xtruct(nope=1)

    def test_fields_named_like_python_keywords(self):
        # `as`, `from`, `self` and dotted names cannot be parameters of a
        # compiled __init__: such a struct still loads, constructs and
        # round-trips (the field is then reached through getattr).
        k = dynthrift.loads(
            'struct K { 1: i32 as, 2: string self = "me", 3: list<i32> from = [1], '
            '4: i64 _dt_d0 }\n'
            'service S { i32 pass(1: i32 lambda) }', module_name='kw_thrift')
        x = k.K(7, **{'from': [2]})
        self.assertEqual((getattr(x, 'as'), x.self, getattr(x, 'from'), x._dt_d0),
                         (7, 'me', [2], None))
        y = k.K()
        self.assertEqual(getattr(y, 'from'), [1])
        getattr(y, 'from').append(5)
        self.assertEqual(getattr(k.K(), 'from'), [1])   # a fresh default
        self.assertEqual(dynthrift.utils.deserialize(k.K(), serialize(x)), x)
        with self.assertRaises(TypeError):
            k.K(1, **{'as': 2})
        with self.assertRaises(TypeError):
            k.K(nope=1)
        with self.assertRaises(TypeError):
            k.K(1, 2, 3, 4, 5)
        a = k.S.pass_args(**{'lambda': 3})
        self.assertEqual(getattr(a, 'lambda'), 3)

    def test_eq_repr_hash(self):
        a = m.Xtruct('s', 1, 2, 3)
        b = m.Xtruct('s', 1, 2, 3)
        c = m.Xtruct('t', 1, 2, 3)
        self.assertEqual(a, b)
        self.assertNotEqual(a, c)
        self.assertFalse(a != b)
        self.assertEqual(hash(a), hash(b))
        self.assertEqual(len({a, b, c}), 2)
        self.assertEqual(repr(a), "Xtruct(string_thing='s', byte_thing=1, i32_thing=2, i64_thing=3)")
        self.assertNotEqual(a, m.Bonk())
        e = m.Everything(ints=[1], strs={'a'}, structs={'k': a})
        self.assertEqual(hash(e), hash(m.Everything(ints=[1], strs={'a'}, structs={'k': b})))

    def test_thrift_spec_shape(self):
        spec = m.Everything.thrift_spec
        self.assertEqual(spec[1], (TType.BOOL, 'b', False))
        self.assertEqual(spec[9], (TType.I32, 'num', m.Numberz, False))
        self.assertEqual(spec[10], (TType.LIST, 'ints', TType.I32, False))
        self.assertEqual(spec[12], (TType.MAP, 'structs', (TType.STRING, (TType.STRUCT, m.Xtruct)), False))
        self.assertEqual(spec[20], (TType.I32, 'req', True))
        self.assertEqual(m.Everything.default_spec[8], ('num', 2))

    @unittest.skipIf(tm is None, 'thriftpy is not installed')
    def test_thrift_spec_equals_thriftpys(self):
        for name in ('Bonk', 'Xtruct', 'Xtruct2', 'Everything', 'Choice',
                     'Xception', 'Xception2'):
            self.assertEqual(shape(getattr(m, name).thrift_spec),
                             shape(getattr(tm, name).thrift_spec), name)
        for fn in ('testMultiException', 'testString', 'testOneway'):
            for part in ('_args', '_result'):
                self.assertEqual(shape(getattr(m.ThriftTest, fn + part).thrift_spec),
                                 shape(getattr(tm.ThriftTest, fn + part).thrift_spec),
                                 fn + part)


class ExceptionTest(unittest.TestCase):
    def test_declared_exception(self):
        e = m.Xception(errorCode=5, message='bad')
        self.assertIsInstance(e, TException)
        with self.assertRaises(m.Xception) as cm:
            raise e
        self.assertEqual(cm.exception.errorCode, 5)
        self.assertEqual(e, m.Xception(5, 'bad'))
        self.assertIn('errorCode=5', repr(e))

    def test_application_exception(self):
        A = TApplicationException
        self.assertEqual((A.UNKNOWN, A.UNKNOWN_METHOD, A.INVALID_MESSAGE_TYPE,
                          A.WRONG_METHOD_NAME, A.BAD_SEQUENCE_ID, A.MISSING_RESULT,
                          A.INTERNAL_ERROR, A.PROTOCOL_ERROR, A.INVALID_TRANSFORM,
                          A.INVALID_PROTOCOL, A.UNSUPPORTED_CLIENT_TYPE),
                         tuple(range(11)))
        e = A(A.INTERNAL_ERROR, 'boom')
        self.assertEqual((e.type, e.message), (6, 'boom'))
        self.assertEqual(str(e), 'boom')
        self.assertEqual(str(A(A.UNKNOWN_METHOD)), 'Unknown method')
        self.assertIsInstance(e, TException)
        self.assertIsInstance(e, Exception)


class WriteCheckTest(unittest.TestCase):
    def check(self, obj, exc, text):
        with self.assertRaises(exc) as cm:
            serialize(obj)
        self.assertEqual(str(cm.exception), text)

    def test_wrong_types(self):
        self.check(m.Xtruct(i32_thing='1'), TypeError,
                   'Xtruct.i32_thing: expected int (i32), got str')
        self.check(m.Xtruct(string_thing=5), TypeError,
                   'Xtruct.string_thing: expected str, got int')
        self.check(m.Everything(ints=[1, 2, 'x']), TypeError,
                   'Everything.ints[2]: expected int (i32), got str')
        self.check(m.Everything(structs={'k': m.Bonk()}), TypeError,
                   "Everything.structs['k']: expected Xtruct, got Bonk")
        self.check(m.Everything(ints='abc'), TypeError,
                   'Everything.ints: expected list, got str')
        self.check(m.Everything(d='1.0'), TypeError,
                   'Everything.d: expected float, got str')

    def test_out_of_range(self):
        self.check(m.Xtruct(byte_thing=128), OverflowError,
                   'Xtruct.byte_thing: 128 out of range for i8')
        self.check(m.Everything(i16v=-32769), OverflowError,
                   'Everything.i16v: -32769 out of range for i16')
        self.check(m.Xtruct(i64_thing=1 << 63), OverflowError,
                   'Xtruct.i64_thing: 9223372036854775808 out of range for i64')
        self.check(m.Everything(nested=[{1: {1 << 64}}]), OverflowError,
                   'Everything.nested[0][1]: 18446744073709551616 out of range for i64'
                   .replace('[1]:', '[1][0]:'))

    def test_required_missing(self):
        self.check(m.Everything(req=None), ValueError,
                   'Everything.req: required field missing')

    def test_union_takes_one_field(self):
        self.check(m.Choice(n=1, s='x'), ValueError,
                   'Choice: a union takes one field, 2 are set')
        self.assertTrue(serialize(m.Choice(s='x')))

    def test_extremes_pass(self):
        x = m.Xtruct('', -128, -(1 << 31), -(1 << 63))
        self.assertTrue(serialize(x))
        x = m.Xtruct('\u20ac', 127, (1 << 31) - 1, (1 << 63) - 1)
        self.assertTrue(serialize(x))

    def test_fields_set_in_any_order(self):
        x = m.Xtruct('s', 1, 2, 3)
        y = m.Xtruct.__new__(m.Xtruct)  # no __init__: attributes in another order
        y.i64_thing, y.extra, y.string_thing, y.i32_thing = 3, 'not a field', 's', 2
        y.byte_thing = 1
        del x.string_thing
        x.string_thing = 's'
        self.assertEqual(serialize(x), serialize(m.Xtruct('s', 1, 2, 3)))
        self.assertEqual(serialize(y), serialize(m.Xtruct('s', 1, 2, 3)))
        del y.byte_thing  # a missing attribute is an unset field
        self.assertEqual(serialize(y), serialize(m.Xtruct('s', None, 2, 3)))

    def test_a_value_that_contains_itself(self):
        node = dynthrift.loads('struct Node { 1: i32 v, 2: optional Node next }', 'node_thrift')
        n = node.Node(1)
        n.next = n
        with self.assertRaises(ValueError) as cm:
            serialize(n)
        self.assertIn('nested deeper than 64 levels', str(cm.exception))
        self.assertTrue(str(cm.exception).startswith('Node.next.next.'))
        chain = node.Node(0)
        for i in range(60):  # deep but finite: fine
            chain = node.Node(i, chain)
        self.assertTrue(serialize(chain))

    def test_wrong_top_level_class(self):
        with self.assertRaises(TypeError):
            serialize(object())


if __name__ == '__main__':
    unittest.main()
