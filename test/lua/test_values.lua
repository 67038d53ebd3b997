-- Lua binding, steps 1-2: loading schemas and the value mapping.
local HERE = arg[0]:match("^(.*/)") or "./"
local t = dofile(HERE .. "tap.lua")
local dt = require "dynthrift"
local JIT = type(jit) == "table"

t.ok(type(dt) == "table" and type(dt.load) == "function", "require returns the module table")
t.ok(rawget(_G, "dynthrift") == nil and rawget(_G, "dt") == nil, "no globals")

-- ---- loading -----------------------------------------------------------
local s = dt.load(HERE .. "all_types.thrift")
t.ok(tostring(s):find("all_types.thrift", 1, true), "dt.load: " .. tostring(s))
t.raises("no-such.thrift", "missing file names the file", dt.load, HERE .. "no-such.thrift")

local tmp = os.tmpname()
os.remove(tmp)
os.execute("mkdir -p " .. tmp .. "/inc")
local function write(path, text) local f = assert(io.open(path, "w")); f:write(text); f:close() end
write(tmp .. "/bad.thrift", "struct A {\n  1: i32 x,\n  2: Nope y,\n}\n")
t.raises("bad.thrift:3:", "IDL error raised as file:line:col", dt.load, tmp .. "/bad.thrift")
write(tmp .. "/inc/b.thrift", "struct B { 1: i32 y = 5 }\n")
write(tmp .. "/a.thrift", 'include "b.thrift"\nstruct A { 1: b.B x }\n')
t.raises("b.thrift", "include not found without include_dirs", dt.load, tmp .. "/a.thrift")
local sa = dt.load(tmp .. "/a.thrift", {include_dirs = {tmp .. "/inc"}})
t.is(sa:new("A", {x = {}}).x.y, 5, "include_dirs: included struct's default")
os.execute("rm -rf " .. tmp)

local asked = {}
local ss = dt.load_string('include "lib/b.thrift"\nstruct A { 1: b.B x }', "mem/a.thrift", {
  resolver = function(path, includer)
    asked[#asked + 1] = path .. "<" .. includer
    if path == "lib/b.thrift" then return "struct B { 1: string y = \"from resolver\" }" end
  end})
t.is(ss:new("A", {x = {}}).x.y, "from resolver", "load_string with a resolver")
t.is(asked[1], "lib/b.thrift<mem/a.thrift", "resolver gets the path and the includer")
t.raises("c.thrift", "resolver returning nil: missing include named",
         dt.load_string, 'include "c.thrift"', "x.thrift", {resolver = function() return nil end})
t.raises("resolver exploded", "resolver error propagates",
         dt.load_string, 'include "c.thrift"', "x.thrift", {resolver = function() error("resolver exploded") end})
t.raises("mem.thrift:2:", "load_string error as name:line:col",
         dt.load_string, "struct A {\n  1: Nope x\n}", "mem.thrift")

-- ---- scalar mapping ---------------------------------------------------------
local function rt(typ, v, proto) return dt.decode(s, typ, dt.encode(s, typ, v, proto), proto) end

local full = {
  b = true, i8v = -128, i16v = 32767, i32v = -2147483648, i64v = 1234567890123,
  d = 0.1, s = "h\195\169llo", bin = "a\0b\255", color = "GREEN",
  li = {1, 2, 3}, ss = {"x", "y"}, msi = {one = 1, two = 2}, mis = {[1] = "a", [-5] = "b"},
  mci = {RED = 1, BLUE = 3}, mstruct = {{{n = 1, s = "k"}, "v"}},
  inner = {n = 3, s = "in"}, choice = {b = "bee"}, nested = {{1, 2}, {}, {3}},
  opt = 4, mbd = {{true, 1.5}}, inners = {{n = 1, s = "a"}, {n = 2, s = "b"}},
}
for _, proto in ipairs({"binary", "compact", "json"}) do
  t.same(rt("All", full, proto), full, "every type round-trips (" .. proto .. ")")
end

-- i64: exact over the whole range
if not JIT then
  t.is(rt("i64", math.maxinteger), math.maxinteger, "i64 max exact (Lua integer)")
  t.is(rt("i64", math.mininteger), math.mininteger, "i64 min exact")
  t.is(math.type(rt("i64", 2^53 + 0.0)), "integer", "i64 from an integral float comes back integer")
  t.raises("non-integral", "i64 from 1.5 refused", dt.encode, s, "i64", 1.5)
  t.is(rt("i64", "9007199254740993"), 9007199254740993, "i64 from a decimal string")
else
  t.is(rt("i64", 2^53), 2^53, "LuaJIT: i64 up to 2^53 is a number")
  t.is(rt("i64", "9007199254740993"), "9007199254740993", "LuaJIT: i64 beyond 2^53 is an exact decimal string")
  t.is(rt("i64", "9223372036854775807"), "9223372036854775807", "LuaJIT: i64 max exact")
  t.is(rt("i64", "-9223372036854775808"), "-9223372036854775808", "LuaJIT: i64 min exact")
  t.raises("beyond 2^53", "LuaJIT: a double beyond 2^53 is refused, never rounded", dt.encode, s, "i64", 2^60)
  local ffi = require "ffi"
  t.is(rt("i64", ffi.new("int64_t", 9007199254740992) + 1), "9007199254740993", "LuaJIT: int64_t cdata accepted")
  -- LL literals are LuaJIT syntax: compiled at run time so lua5.4 can parse this file
  local ll = assert(loadstring("return 9223372036854775807LL, 18446744073709551615ULL"))
  local max, umax = ll()
  t.is(rt("i64", max), "9223372036854775807", "LuaJIT: LL literal accepted")
  t.raises("not an integer in range", "LuaJIT: uint64 cdata beyond i64 refused", dt.encode, s, "i64", umax)
end
t.raises("not a decimal integer in range", "i64 string beyond the range refused", dt.encode, s, "i64", "9223372036854775808")
t.raises("expected i32, got string", "strings only for i64", dt.encode, s, "i32", "5")

-- enums: names, numbers accepted, undeclared kept as numbers
t.is(rt("Color", 2), "GREEN", "enum number in, name out")
t.is(rt("Color", 77), 77, "undeclared enum value kept as its number")
t.raises("no value 'PINK' in enum Color", "unknown enum name", dt.encode, s, "Color", "PINK")

-- binary safety, uuid
t.is(rt("binary", "\0\1\2\0"), "\0\1\2\0", "binary keeps NUL bytes")
-- (uuid is not in all_types.thrift: Apache's compiler 0.17 predates it)
local su = dt.load_string("struct WithUuid { 1: uuid id }", "uuid.thrift")
local u = {id = "00112233-4455-6677-8899-AABBCCDDEEFF"}
t.is(dt.decode(su, "WithUuid", dt.encode(su, "WithUuid", u)).id, "00112233-4455-6677-8899-aabbccddeeff", "uuid 8-4-4-4-12, lowercase out")
t.raises("WithUuid.id: expected uuid", "bad uuid named", dt.encode, su, "WithUuid", {id = "nope"})

-- union, defaults, typed values
t.raises("union Choice takes one field", "union with two fields refused", dt.encode, s, "Choice", {a = 1, b = "x"})
local inner = s:new("Inner")
t.same(inner, {n = 7, s = "dflt"}, "s:new fills IDL defaults")
t.same(s:new("Inner", {n = 1}), {n = 1, s = "dflt"}, "s:new: given fields override defaults")
t.is(tostring(s:new("Oops", {code = 7, message = "m"})), 'Oops{code=7, message="m"}', "tostring names the type")
t.is(s:type_of(inner), "Inner", "s:type_of")
t.raises("no struct, union or exception named 'Nope'", "s:new of an unknown type", s.new, s, "Nope")

-- errors name the value path
local function bad(v) local c = {}; for k, x in pairs(full) do c[k] = x end; for k, x in pairs(v) do c[k] = x end; return c end
t.raises("All.li[2]: expected i32, got string", "path into a list", dt.encode, s, "All", bad{li = {1, "x"}})
t.raises("All.inner.n: expected i32, got boolean", "path into a struct", dt.encode, s, "All", bad{inner = {n = true}})
t.raises('All.msi["k"]: expected i64, got table', "path into a map", dt.encode, s, "All", bad{msi = {k = {}}})
t.raises("All.i32v: 2147483648 out of range for i32", "range checked", dt.encode, s, "All", bad{i32v = 2147483648})
t.raises("All.i8v: 128 out of range for i8", "i8 range", dt.encode, s, "All", bad{i8v = 128})
t.raises("no field 'nope' in All", "unknown field refused", dt.encode, s, "All", bad{nope = 1})
t.raises("All.mstruct[1]: expected a {key, value} pair", "struct-keyed map needs pairs", dt.encode, s, "All", bad{mstruct = {5}})
t.raises("All.ss: expected set (a table), got string", "container type checked", dt.encode, s, "All", bad{ss = "x"})
local cyc = {v = 1}
cyc.kids = {cyc}
t.raises("nesting deeper than", "a cycle ends with an error", dt.encode, s, "Node", cyc)
t.raises("required", "a required field missing from a struct is an encode error",
         dt.encode, dt.load(t.idl .. "bench.thrift"), "User", {id = 1})

-- decoding garbage never crashes
local good = dt.encode(s, "All", full)
local errors = 0
for i = 0, #good - 1 do
  if not pcall(dt.decode, s, "All", good:sub(1, i)) then errors = errors + 1 end
end
t.is(errors, #good, "every truncated prefix is an error (" .. #good .. " prefixes)")
math.randomseed(14)
local survived = 0
for _ = 1, 500 do
  local bytes = {}
  for j = 1, math.random(1, 64) do bytes[j] = string.char(math.random(0, 255)) end
  for _, proto in ipairs({"binary", "compact", "json"}) do
    pcall(dt.decode, s, "All", table.concat(bytes), proto)
  end
  survived = survived + 1
end
t.is(survived, 500, "500 random inputs x 3 protocols decoded or refused, no crash")
t.raises("trailing bytes", "trailing bytes refused", dt.decode, s, "All", good .. "x")
t.raises("unknown protocol", "unknown protocol named", dt.encode, s, "All", full, "xml")

-- The per-schema field cache: field keys are matched by the address of
-- the cached name string, and by text when that misses (Lua 5.4 interns
-- only strings up to 40 bytes, so a long field name built at run time is
-- another object); two schemas with the same struct names keep their own.
local long = string.rep("l", 60)
local idl = "struct S { 1: i32 " .. long .. ", 2: string short, 3: optional i32 odd }"
local s1 = dt.load_string(idl, "long.thrift")
local v = {[string.rep("l", 30) .. string.rep("l", 30)] = 7, short = "x"}
local bytes = dt.encode(s1, "S", v)
t.same(dt.decode(s1, "S", bytes), {[long] = 7, short = "x"},
       "a 60-byte field name (a distinct string object each time) encodes and decodes")
t.same(dt.decode(s1, "S", dt.encode(s1, "S", {["sh" .. ("ort"):lower()] = "y"})), {short = "y"},
       "a key made at run time matches its cached field")
local s2 = dt.load_string("struct S { 1: string odd, 2: i32 short }", "other.thrift")
t.same(dt.decode(s2, "S", dt.encode(s2, "S", {odd = "o", short = 2})), {odd = "o", short = 2},
       "another schema's struct S has its own field cache")
t.same(dt.decode(s1, "S", dt.encode(s1, "S", {odd = 3})), {odd = 3},
       "... and the first schema's is unchanged")
t.raises("no field 'nope' in S", "an unknown key is still refused with the cache", dt.encode, s1, "S",
         {short = "x", nope = 1})

t.done()
