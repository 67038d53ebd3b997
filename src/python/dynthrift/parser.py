"""Loading .thrift files into module objects (thriftpy.load's API).

The C engine parses the IDL; this file turns its description into Python
classes with thriftpy's shape and binds each to the C codec."""
import copy
import keyword
import os
import sys
import types
import uuid

from . import _dynthrift as _C
from .thrift import (TPayload, TExceptionPayload, TType)

ThriftParserError = _C.ThriftParserError

_cache = {}

_BASE_TTYPE = {
    _C.KIND_VOID: TType.VOID, _C.KIND_BOOL: TType.BOOL, _C.KIND_I8: TType.BYTE,
    _C.KIND_I16: TType.I16, _C.KIND_I32: TType.I32, _C.KIND_I64: TType.I64,
    _C.KIND_DOUBLE: TType.DOUBLE, _C.KIND_STRING: TType.STRING,
    _C.KIND_BINARY: TType.BINARY, _C.KIND_UUID: TType.UUID,
}
_STRUCT_KINDS = (_C.KIND_STRUCT, _C.KIND_UNION, _C.KIND_EXCEPTION)
_IMMUTABLE = (type(None), bool, int, float, str, bytes, uuid.UUID)

_DEFAULT = object()  # "argument not given" in generated __init__s


class _Builder(object):
    """Turns one Schema's description into module objects."""

    def __init__(self, schema, main_name):
        self.schema = schema
        self.desc = schema.describe()
        self.main_name = main_name
        self.modules = {}  # IDL module name -> module object
        self.classes = {}  # plan id -> class
        self.struct_desc = {}  # plan id -> (id, name, kind, fields)

    # -- types -------------------------------------------------------------
    def ttype(self, td):
        kind = td[0]
        if kind in _BASE_TTYPE:
            return _BASE_TTYPE[kind]
        if kind == _C.KIND_ENUM:
            return (TType.I32, getattr(self.modules[td[1]], td[2]))
        if kind in _STRUCT_KINDS:
            return (TType.STRUCT, self.classes[td[1]])
        if kind == _C.KIND_LIST:
            return (TType.LIST, self.ttype(td[1]))
        if kind == _C.KIND_SET:
            return (TType.SET, self.ttype(td[1]))
        if kind == _C.KIND_MAP:
            return (TType.MAP, (self.ttype(td[1]), self.ttype(td[2])))
        raise ThriftParserError('unknown type %r' % (td,))

    def spec(self, td, name, required):
        t = self.ttype(td)
        if isinstance(t, int):
            return (t, name, required)
        return (t[0], name, t[1], required)

    def value(self, raw, td):
        """An evaluated IDL constant shaped by its type."""
        kind = td[0]
        if kind in _STRUCT_KINDS:
            _, plan_id, items = raw
            cls = self.classes[plan_id]
            fields = {f[1]: f[2] for f in self.struct_desc[plan_id][3]}
            obj = cls()
            for name, v in items:
                setattr(obj, name, self.value(v, fields[name]))
            return obj
        if kind == _C.KIND_LIST:
            return [self.value(v, td[1]) for v in raw]
        if kind == _C.KIND_SET:
            return set(self.value(v, td[1]) for v in raw)
        if kind == _C.KIND_MAP:
            return dict((self.value(k, td[1]), self.value(v, td[2])) for k, v in raw)
        if kind == _C.KIND_UUID:
            return uuid.UUID(raw)
        if kind == _C.KIND_DOUBLE:
            return float(raw)
        return raw

    # -- classes -----------------------------------------------------------
    def make_class(self, sdesc, module_name, name=None):
        plan_id, sname, kind, fields = sdesc
        self.struct_desc[plan_id] = sdesc
        if plan_id in self.classes:
            return self.classes[plan_id]
        base = TExceptionPayload if kind == _C.KIND_EXCEPTION else TPayload
        cls = type(name or sname, (base,), {
            '__module__': module_name,
            '_dt_names': tuple(f[1] for f in fields),
        })
        self.classes[plan_id] = cls
        return cls

    def finish_class(self, plan_id):
        """thrift_spec, default_spec, __init__ and the codec binding, once
        every class exists (fields may name any of them)."""
        cls = self.classes[plan_id]
        _, _, kind, fields = self.struct_desc[plan_id]
        spec = {}
        defaults = []
        for fid, fname, td, req, raw, has_default in fields:
            spec[fid] = self.spec(td, fname, req == _C.REQ_REQUIRED)
            defaults.append(self.value(raw, td) if has_default else None)
        cls.thrift_spec = spec
        cls.default_spec = [(f[1], d) for f, d in zip(fields, defaults)]
        cls.__init__ = _make_init(cls.__name__, [f[1] for f in fields], defaults)
        self.schema.bind(plan_id, cls, tuple(defaults),
                         tuple(not isinstance(d, _IMMUTABLE) for d in defaults))

    # -- modules -----------------------------------------------------------
    def build(self):
        pending = []
        for i, mdesc in enumerate(self.desc):
            idl_name = mdesc['name']
            modname = self.main_name if i == 0 else idl_name + '_thrift'
            mod = types.ModuleType(modname)
            mod.__thrift_file__ = mdesc['path']
            mod.__file__ = mdesc['path']
            mod._dt_schema = self.schema
            self.modules[idl_name] = mod
            for ename, values in mdesc['enums']:
                setattr(mod, ename, _make_enum(ename, values, modname))
            for sdesc in mdesc['structs']:
                setattr(mod, sdesc[1], self.make_class(sdesc, modname))
                pending.append(sdesc[0])
            mod.__thrift_meta__ = {
                'enums': [getattr(mod, e[0]) for e in mdesc['enums']],
                'structs': [getattr(mod, s[1]) for s in mdesc['structs']
                            if s[2] == _C.KIND_STRUCT],
                'unions': [getattr(mod, s[1]) for s in mdesc['structs']
                           if s[2] == _C.KIND_UNION],
                'exceptions': [getattr(mod, s[1]) for s in mdesc['structs']
                               if s[2] == _C.KIND_EXCEPTION],
                'services': [], 'consts': [], 'includes': [],
            }
        # Services: their args/result structs are classes too.
        for mdesc in self.desc:
            mod = self.modules[mdesc['name']]
            for sname, parent, functions in mdesc['services']:
                attrs = {'__module__': mod.__name__, '_dt_schema': self.schema,
                         '_dt_service': '%s.%s' % (mdesc['name'], sname)}
                names = []
                for fname, oneway, args, result in functions:
                    a = self.make_class(args, mod.__name__, '%s_args' % fname)
                    r = self.make_class(result, mod.__name__, '%s_result' % fname)
                    a.oneway = r.oneway = oneway
                    attrs[a.__name__] = a
                    attrs[r.__name__] = r
                    pending.extend((args[0], result[0]))
                    names.append(fname)
                bases = (object,)
                if parent is not None:
                    pcls = getattr(self.modules[parent[0]], parent[1])
                    bases = (pcls,)
                    names = list(pcls.thrift_services) + names
                attrs['thrift_services'] = names
                svc = type(sname, bases, attrs)
                setattr(mod, sname, svc)
                mod.__thrift_meta__['services'].append(svc)
        for plan_id in pending:
            self.finish_class(plan_id)
        for mdesc in self.desc:
            mod = self.modules[mdesc['name']]
            for cname, td, raw in mdesc['consts']:
                v = self.value(raw, td)
                setattr(mod, cname, v)
                mod.__thrift_meta__['consts'].append(v)
            for inc in mdesc['includes']:
                setattr(mod, inc, self.modules[inc])
                mod.__thrift_meta__['includes'].append(self.modules[inc])
        return self.modules[self.desc[0]['name']]


def _make_init(clsname, names, defaults):
    """An __init__ taking the fields positionally or by keyword, in IDL
    order, each absent one getting its default; a mutable default is
    copied per instance (no state shared between instances).  Compiled
    from source (as fast as a hand-written __init__) unless a field's name
    cannot be a Python parameter: a keyword (`as`, `from`), `self`, a
    dotted Thrift name, or one of the names the source itself uses."""
    if not all(_plain_param(n) for n in names):
        return _make_generic_init(clsname, names, defaults)
    params, body = [], []
    env = {'_dt_DEFAULT': _DEFAULT, '_dt_copy': copy.deepcopy}
    for i, (n, d) in enumerate(zip(names, defaults)):
        env['_dt_d%d' % i] = d
        if isinstance(d, _IMMUTABLE):
            params.append('%s=_dt_d%d' % (n, i))
            body.append('    self.%s = %s' % (n, n))
        else:
            params.append('%s=_dt_DEFAULT' % n)
            body.append('    self.%s = _dt_copy(_dt_d%d) if %s is _dt_DEFAULT else %s'
                        % (n, i, n, n))
    src = 'def __init__(self%s):\n%s\n' % (
        ''.join(', ' + p for p in params), '\n'.join(body) or '    pass')
    exec(compile(src, '<dynthrift %s.__init__>' % clsname, 'exec'), env)
    return env['__init__']


def _plain_param(name):
    return (name.isidentifier() and not keyword.iskeyword(name)
            and name != 'self' and not name.startswith('_dt_'))


def _make_generic_init(clsname, names, defaults):
    """The same __init__ for any field names: `C(1, 2)`, `C(**{'as': 1})`,
    with a function's TypeErrors for too many, unknown or repeated
    arguments; the fields are then read as getattr(obj, 'as')."""
    index = {n: i for i, n in enumerate(names)}
    copied = [not isinstance(d, _IMMUTABLE) for d in defaults]

    def __init__(*args, **kwargs):
        if not args:
            raise TypeError('%s.__init__() needs an instance' % clsname)
        self, args = args[0], args[1:]
        if len(args) > len(names):
            raise TypeError('%s() takes at most %d arguments (%d given)'
                            % (clsname, len(names), len(args)))
        values = list(args) + [_DEFAULT] * (len(names) - len(args))
        for key, value in kwargs.items():
            i = index.get(key)
            if i is None:
                raise TypeError("%s() got an unexpected keyword argument '%s'"
                                % (clsname, key))
            if i < len(args):
                raise TypeError("%s() got multiple values for argument '%s'"
                                % (clsname, key))
            values[i] = value
        for n, d, c, v in zip(names, defaults, copied, values):
            if v is _DEFAULT:
                v = copy.deepcopy(d) if c else d
            setattr(self, n, v)
    return __init__


def _make_enum(name, values, modname):
    attrs = dict(values)
    attrs['_VALUES_TO_NAMES'] = dict((v, n) for n, v in values)
    attrs['_NAMES_TO_VALUES'] = dict(values)
    attrs['__module__'] = modname
    return type(name, (object,), attrs)


def _default_module_name(path):
    return os.path.basename(path).rsplit('.thrift', 1)[0]


def _register(module, module_name):
    if module_name is None:
        return
    if not module_name.endswith('_thrift'):
        raise ThriftParserError('ThriftPy can only generate module with '
                                "'_thrift' suffix")
    sys.modules[module_name] = module


def load(path, module_name=None, include_dirs=None, include_dir=None):
    """Loads a .thrift file and everything it includes as a module object.
    Cached per process (the same classes on a second load).  With
    `module_name` (ending in ``_thrift``) the module is registered in
    sys.modules, so its instances pickle."""
    if include_dir is not None:
        include_dirs = list(include_dirs or []) + [include_dir]
    if module_name is not None and not module_name.endswith('_thrift'):
        raise ThriftParserError("ThriftPy can only generate module with "
                                "'_thrift' suffix")
    key = module_name or os.path.normpath(os.path.abspath(path))
    mod = _cache.get(key)
    if mod is None:
        schema = _C.load(path, include_dirs)
        mod = _Builder(schema, module_name or _default_module_name(path)).build()
        _cache[key] = mod
    _register(mod, module_name)
    return mod


def loads(content, module_name, include_dirs=None, resolver=None):
    """Loads IDL text held in memory, with its includes: each comes from
    ``resolver(includer, path)`` (str, bytes, or None when it does not
    exist) when given, else from the filesystem (include_dirs).  Not
    cached; registers `module_name` in sys.modules."""
    if not module_name or not module_name.endswith('_thrift'):
        raise ThriftParserError("ThriftPy can only generate module with "
                                "'_thrift' suffix")
    if isinstance(content, bytes):
        content = content.decode('utf-8')
    name = module_name[:-len('_thrift')] + '.thrift'
    schema = _C.loads(name, content, include_dirs, resolver)
    mod = _Builder(schema, module_name).build()
    _register(mod, module_name)
    return mod


def load_module(fullname):
    """thriftpy.parser.load_module: `foo_thrift` from foo.thrift on sys.path."""
    if fullname in sys.modules:
        return sys.modules[fullname]
    if not fullname.endswith('_thrift'):
        raise ImportError('ThriftPy can only load module with '
                          "'_thrift' suffix")
    base = fullname[:-len('_thrift')] + '.thrift'
    for d in sys.path:
        candidate = os.path.join(d or '.', base)
        if os.path.isfile(candidate):
            return load(candidate, module_name=fullname)
    raise ImportError('No module named %s' % fullname)
