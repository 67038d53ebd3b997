-- A Lua client of the seed services and Everything, run by interop.py
-- against thriftpy's and Apache's Python servers.  Prints TAP-style
-- "ok"/"not ok" lines (interop.py renumbers them).
-- usage: seed_client.lua SERVICE PORT PROTOCOL TRANSPORT PEER
local HERE = arg[0]:match("^(.*/)") or "./"
local dt = require "dynthrift"
local which, port, proto, transport, peer = arg[1], arg[2], arg[3], arg[4], arg[5]
local root = os.getenv("DYNTHRIFT_SOURCE_ROOT") or (HERE .. "../..")
local opts = {protocol = proto, transport = transport, timeout_ms = 5000}
local addr = "127.0.0.1:" .. port

local function check(cond, name, detail)
  print((cond and "ok - " or "not ok - ") .. name)
  if not cond and detail then print("#   " .. tostring(detail)) end
end

local function same(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

if which == "pingpong" then
  local c = dt.client(dt.load(root .. "/idl-samples/pingpong.thrift"), "PingPong", addr, opts)
  check(c:ping() == "pong", "ping")
  check(c:add(2, 40) == 42, "add(2, 40)")
  check(c:call("add", {a = -7, b = 2}) == -5, "call('add', by name)")
  c:close()
elseif which == "kv" then
  local c = dt.client(dt.load(root .. "/idl-samples/kv.thrift"), "KV", addr, opts)
  c:setk("alpha", "1")
  c:setk("beta", "two\0bytes")
  check(c:getk("alpha") == "1", "setk/getk")
  check(c:getk("beta") == "two\0bytes", "getk with a NUL byte")
  check(c:getk("missing") == "", "getk of a missing key")
  local ks = c:keys()
  table.sort(ks)
  check(same(ks, {"alpha", "beta"}), "keys", table.concat(ks, ","))
  c:close()
elseif which == "sleep" then
  local c = dt.client(dt.load(root .. "/idl-samples/sleep.thrift"), "Sleep", addr, opts)
  local t0 = os.time()
  local r = c:sleep(2)
  check(r == nil and os.time() - t0 <= 1, "oneway sleep(2) returns once written")
  c:close()
else
  local s = dt.load(HERE .. "all_types.thrift")
  local c = dt.client(s, "Everything", addr, opts)
  local JIT = type(jit) == "table"
  local full = {
    b = true, i8v = -128, i16v = 32767, i32v = -2147483648,
    i64v = JIT and "-9223372036854775808" or math.mininteger,
    d = 0.1, s = "h\195\169llo", bin = "a\0b\255", color = "GREEN",
    li = {1, 2, 3}, ss = {"x", "y"}, msi = {one = 1, two = 2}, mis = {[1] = "a", [-5] = "b"},
    mci = {RED = 1, BLUE = 3}, mstruct = {}, -- (Python structs are not hashable map keys)
    inner = {n = 3, s = "in"}, choice = {b = "bee"}, nested = {{1, 2}, {}, {3}},
    opt = 4, mbd = {{true, 1.5}}, inners = {{n = 1, s = "a"}, {n = 2, s = "b"}},
  }
  local back = c:echo(full)
  -- a set comes back in the peer's hash order
  if type(back) == "table" and type(back.ss) == "table" then table.sort(back.ss) end
  check(same(back, full), "echo of a struct with every type")
  check(c:add(40, 2) == 42, "add")
  local ok, err = pcall(c.fail, c, 7)
  check(not ok and type(err) == "table" and err.code == 7 and tostring(err):match("^Oops{code=7"),
        "declared exception Oops{code=7} from the peer", tostring(err))
  check(c:fail(-3) == 3, "no exception")
  ok, err = pcall(c.crash, c, "peer crash")
  -- thriftpy 0.3.9 closes the connection on an undeclared exception where
  -- Apache answers TApplicationException INTERNAL_ERROR
  local want = peer == "thriftpy" and "closed" or "app_exception"
  check(not ok and type(err) == "table" and err.kind == want, "peer handler error: " .. want,
        type(err) == "table" and (err.kind .. ": " .. err.message) or tostring(err))
  check(c:add(1, 1) == 2, "connection usable after the application error")
  c:close()
end
