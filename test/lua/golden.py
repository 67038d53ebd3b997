#!/usr/bin/python3
"""Golden bytes from Apache Thrift's Python library, for test_codec.lua.

usage: golden.py IDL TYPE[=JSON_FILE]... | golden.py IDL --all

Compiles IDL with `thrift --gen py` (into a temporary directory), builds a
value of each TYPE -- from JSON_FILE (the README's JSON mapping) when given,
else generated from the type's thrift_spec -- and prints one line per type:

    TYPE <tab> LUA_LITERAL <tab> BINARY_HEX <tab> COMPACT_HEX <tab> JSON_HEX

LUA_LITERAL is the same value as a Lua expression in the binding's mapping
(i64 beyond 2^53 as a decimal string, which both Lua 5.4 and LuaJIT take).
Maps are built in key order and sets as lists, so the bytes do not depend
on Python's hash order; the binding writes a Lua table's map entries in key
order too.  Exits 77 when the compiler or python3-thrift is missing."""
import base64
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    from thrift.Thrift import TType
    from thrift.protocol import TBinaryProtocol, TCompactProtocol, TJSONProtocol
    from thrift.transport import TTransport
except ImportError:
    print("python3-thrift missing", file=sys.stderr)
    sys.exit(77)
THRIFT = shutil.which("thrift")
if not THRIFT:
    print("thrift compiler missing", file=sys.stderr)
    sys.exit(77)

idl = sys.argv[1]
gen = tempfile.mkdtemp(prefix="dt-lua-golden-")
try:
    subprocess.run([THRIFT, "--gen", "py", "-out", gen, idl], check=True)
    sys.path.insert(0, gen)
    modname = os.path.splitext(os.path.basename(idl))[0]
    pkg = [d for d in os.listdir(gen) if os.path.isdir(os.path.join(gen, d)) and
           os.path.exists(os.path.join(gen, d, "ttypes.py"))]
    ttypes = importlib.import_module(pkg[0] + ".ttypes")
finally:
    shutil.rmtree(gen, ignore_errors=True)

with open(idl) as f:
    UNIONS = set(re.findall(r"\bunion\s+(\w+)", f.read()))

ENUM_NUMBERS = {}
for obj in vars(ttypes).values():
    if isinstance(obj, type) and hasattr(obj, "_NAMES_TO_VALUES"):
        ENUM_NUMBERS.update(obj._NAMES_TO_VALUES)

counter = [0]


def tick():
    counter[0] += 1
    return counter[0]


def sample(ttype, args, depth):
    """A value of (ttype, args) that varies from call to call."""
    n = tick()
    if ttype == TType.BOOL:
        return n % 2 == 0
    if ttype == TType.BYTE:
        return (n * 37) % 256 - 128
    if ttype == TType.I16:
        return -1000 - n
    if ttype == TType.I32:
        return (n * 7919) % 3 + 1 if n % 2 else -123456 - n  # small values fit enums
    if ttype == TType.I64:
        return (1 << 62) + n if n % 2 else -(1 << 40) - n
    if ttype == TType.DOUBLE:
        return [0.1, -2.5, 1e100, 5e-324, -0.0][n % 5]
    if ttype == TType.STRING:
        if args == "BINARY":
            return bytes([0, n % 256, 255, 10])
        return "h\u00e9llo \"%d\"\n\t\\" % n
    if ttype == TType.STRUCT:
        return make_struct(args[0], depth + 1)
    if ttype in (TType.LIST, TType.SET):
        etype, eargs = args[0], args[1]
        if depth > 3:
            return []
        items = []
        for _ in range(2):
            v = sample(etype, eargs, depth + 1)
            if v not in items:
                items.append(v)
        return items
    if ttype == TType.MAP:
        ktype, kargs, vtype, vargs = args[:4]
        if depth > 3 or ktype in (TType.STRUCT, TType.LIST, TType.SET, TType.MAP):
            return {}
        keys = []
        for _ in range(3):
            k = sample(ktype, kargs, depth + 1)
            if k not in keys:
                keys.append(k)
        return {k: sample(vtype, vargs, depth + 1) for k in sorted(keys)}
    raise ValueError("type %r" % ttype)


def make_struct(cls, depth):
    fields = {}
    for fid, ttype, name, args, default in specs(cls):
        if depth > 3 and ttype == TType.STRUCT:
            continue
        fields[name] = sample(ttype, args, depth)
        if cls.__name__ in UNIONS:  # exactly one field
            break
    return cls(**fields)  # exceptions are immutable once made


def specs(cls):
    return [s for s in cls.thrift_spec if s is not None]


def from_json(ttype, args, j):
    """A Python value from the README's JSON mapping."""
    if ttype == TType.STRING:
        return base64.b64decode(j + "=" * (-len(j) % 4)) if args == "BINARY" else j
    if ttype == TType.I32 and isinstance(j, str):
        return ENUM_NUMBERS[j]
    if ttype == TType.STRUCT:
        cls = args[0]
        return cls(**{name: from_json(ft, fargs, j[name])
                      for fid, ft, name, fargs, _ in specs(cls) if name in j})
    if ttype in (TType.LIST, TType.SET):
        return [from_json(args[0], args[1], x) for x in j]
    if ttype == TType.MAP:
        items = [(from_json(args[0], args[1], k if args[0] == TType.STRING else int(k)),
                  from_json(args[2], args[3], v)) for k, v in j.items()]
        return dict(sorted(items))
    return j


def lua_string(b):
    if isinstance(b, str):
        b = b.encode("utf-8")
    out = []
    for c in b:
        ch = chr(c)
        if 32 <= c < 127 and ch not in "\"\\":
            out.append(ch)
        else:
            out.append("\\%03d" % c)
    return '"' + "".join(out) + '"'


TABLE_KEYS = (TType.STRING, TType.BYTE, TType.I16, TType.I32, TType.I64)


def lua(ttype, args, v):
    if ttype == TType.BOOL:
        return "true" if v else "false"
    if ttype in (TType.BYTE, TType.I16, TType.I32):
        return str(v)
    if ttype == TType.I64:
        return str(v) if abs(v) <= 1 << 53 else '"%d"' % v
    if ttype == TType.DOUBLE:
        return repr(v) if v == v and abs(v) != float("inf") else None
    if ttype == TType.STRING:
        return lua_string(v)
    if ttype == TType.STRUCT:
        parts = []
        for fid, ft, name, fargs, _ in specs(args[0]):
            fv = getattr(v, name)
            if fv is not None:
                parts.append("%s=%s" % (name, lua(ft, fargs, fv)))
        return "{" + ",".join(parts) + "}"
    if ttype in (TType.LIST, TType.SET):
        return "{" + ",".join(lua(args[0], args[1], x) for x in v) + "}"
    if ttype == TType.MAP:
        if args[0] in TABLE_KEYS:
            return "{" + ",".join("[%s]=%s" % (lua(args[0], args[1], k), lua(args[2], args[3], x))
                                  for k, x in v.items()) + "}"
        return "{" + ",".join("{%s,%s}" % (lua(args[0], args[1], k), lua(args[2], args[3], x))
                              for k, x in v.items()) + "}"
    raise ValueError(ttype)


def encode(obj, proto):
    t = TTransport.TMemoryBuffer()
    obj.write(proto(t))
    return t.getvalue().hex()


PROTOS = [TBinaryProtocol.TBinaryProtocol, TCompactProtocol.TCompactProtocol,
          TJSONProtocol.TJSONProtocol]

requested = sys.argv[2:]
if requested == ["--all"]:  # every struct, union and exception of the IDL
    requested = [n for n, o in sorted(vars(ttypes).items())
                 if isinstance(o, type) and getattr(o, "thrift_spec", None) is not None
                 and o.__module__ == ttypes.__name__]

for arg in requested:
    name, _, json_file = arg.partition("=")
    cls = getattr(ttypes, name)
    if json_file:
        with open(json_file) as f:
            obj = from_json(TType.STRUCT, (cls, cls.thrift_spec), json.load(f))
    else:
        obj = make_struct(cls, 0)
    print("\t".join([name, lua(TType.STRUCT, (cls, cls.thrift_spec), obj)] +
                    [encode(obj, p) for p in PROTOS]))
