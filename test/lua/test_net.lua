-- Lua binding, steps 4-5: the blocking client against the Lua server, in
-- every protocol and both framings (the server runs as a child process
-- under the same interpreter; it is stopped by its PID).
local HERE = arg[0]:match("^(.*/)") or "./"
local t = dofile(HERE .. "tap.lua")
local dt = require "dynthrift"
local JIT = type(jit) == "table"
local s = dt.load(HERE .. "all_types.thrift")

local full = {
  b = true, i8v = -128, i16v = 32767, i32v = -2147483648, i64v = 1234567890123,
  d = 0.1, s = "h\195\169llo", bin = "a\0b\255", color = "GREEN",
  li = {1, 2, 3}, ss = {"x", "y"}, msi = {one = 1, two = 2}, mis = {[1] = "a", [-5] = "b"},
  mci = {RED = 1, BLUE = 3}, mstruct = {{{n = 1, s = "k"}, "v"}},
  inner = {n = 3, s = "in"}, choice = {b = "bee"}, nested = {{1, 2}, {}, {3}},
  opt = 4, mbd = {{true, 1.5}}, inners = {{n = 1, s = "a"}, {n = 2, s = "b"}},
}
full.i64v = JIT and "9223372036854775807" or math.maxinteger

for _, cfg in ipairs({{"binary", "framed"}, {"compact", "buffered"}, {"json", "framed"}, {"binary", "buffered"}}) do
  local proto, transport = cfg[1], cfg[2]
  local label = proto .. "/" .. transport
  local srv = t.spawn(HERE .. "everything_server.lua", proto .. " " .. transport)
  t.ok(srv.port, label .. ": Lua server listening on port " .. tostring(srv.port), srv.first)
  local addr = "127.0.0.1:" .. srv.port
  local c = dt.client(s, "Everything", addr, {protocol = proto, transport = transport, timeout_ms = 3000})

  t.is(c:add(2, 40), 42, label .. ": c:add(2, 40) positional")
  t.is(c:call("add", {a = 2, b = 40}), 42, label .. ": c:call by name")
  t.same(c:echo(full), full, label .. ": a struct with every type echoed through a Lua handler")
  t.is(c:fail(-5), 5, label .. ": method with a throws clause, no exception")

  local ok, err = pcall(c.fail, c, 7)
  t.ok(not ok and type(err) == "table" and err.code == 7 and err.message == "code 7",
       label .. ": declared exception raised as a table with its fields", t.dump(err))
  t.is(tostring(err), 'Oops{code=7, message="code 7"}', label .. ": its tostring names the type")
  t.is(s:type_of(err), "Oops", label .. ": it is a typed Oops")

  ok, err = pcall(c.crash, c, "handler broke")
  t.ok(not ok and type(err) == "table" and err.kind == "app_exception" and err.type == 6
       and tostring(err.message):find("handler broke", 1, true),
       label .. ": a Lua error becomes TApplicationException INTERNAL_ERROR", t.dump(err))
  t.is(c:add(1, 1), 2, label .. ": the connection stays open after it")

  t.ok(c:note("hello " .. label) == nil, label .. ": oneway returns once written")
  t.is(c:add(3, 4), 7, label .. ": a call after the oneway")

  t.raises("add.b: expected i64, got string", label .. ": argument errors name the path", c.add, c, 1, "x")
  t.raises("takes 2 arguments, got 3", label .. ": too many arguments", c.add, c, 1, 2, 3)
  t.raises("no method 'nope'", label .. ": c:call of an unknown method", c.call, c, "nope", {})
  t.ok(c.nope == nil, label .. ": an unknown method is nil on the client")

  local m = dt.client(s, "Everything", addr, {protocol = proto, transport = transport, multiplex = "Everything"})
  t.is(m:add(5, 6), 11, label .. ": multiplexed client (Everything:add) served")
  m:close()

  local slow = dt.client(s, "Everything", addr, {protocol = proto, transport = transport, timeout_ms = 150})
  ok, err = pcall(slow.slow, slow, 1500)
  t.ok(not ok and type(err) == "table" and err.kind == "timeout", label .. ": timeout_ms raises kind timeout", t.dump(err))
  slow:close()

  c:close()
  ok, err = pcall(c.add, c, 1, 2)
  t.ok(not ok and err.kind == "closed", label .. ": a call after close raises kind closed", t.dump(err))

  if (proto == "binary" and transport == "framed") or proto == "compact" then
    local sig = proto == "binary" and "TERM" or "INT"
    -- The slow handler sleeps through os.execute, and system() ignores
    -- SIGINT while it waits: let it finish (a call is answered after it).
    local c3 = dt.client(s, "Everything", addr, {protocol = proto, transport = transport})
    c3:add(0, 0)
    c3:close()
    local out = t.stop(srv, sig)
    t.ok(out:find("NOTE hello " .. label, 1, true), label .. ": the oneway reached the Lua handler", out)
    t.ok(out:find("STOPPED", 1, true), label .. ": SIG" .. sig .. " ends srv:run()", out)
  else
    local c2 = dt.client(s, "Everything", addr, {protocol = proto, transport = transport})
    c2:shutdown()
    c2:close()
    local out = t.stop(srv, "0")
    t.ok(out:find("STOPPED", 1, true), label .. ": srv:stop() from a handler ends srv:run()", out)
  end
end

-- SIGTERM right after a oneway call was written (a stop hang was seen once
-- here; not reproduced in 600 runs): the server stops, each time.
local function uptime()
  local f = assert(io.open("/proc/uptime"))
  local v = tonumber(f:read("*a"):match("^(%S+)"))
  f:close()
  return v
end
local stopped, slowest = 0, 0
for i = 1, 10 do
  local srv = t.spawn(HERE .. "everything_server.lua", i % 2 == 0 and "binary framed" or "compact buffered")
  local transport = i % 2 == 0 and "framed" or "buffered"
  local c = dt.client(s, "Everything", "127.0.0.1:" .. tostring(srv.port),
                      {protocol = i % 2 == 0 and "binary" or "compact", transport = transport})
  c:add(0, 0) -- the server is in srv:run() (SIGTERM is watched only there)
  c:note("last words " .. i)
  local t0 = uptime()
  local out = t.stop(srv, "TERM")
  slowest = math.max(slowest, uptime() - t0)
  c:close()
  if out:find("STOPPED", 1, true) then stopped = stopped + 1 end
end
t.ok(stopped == 10 and slowest < 3, string.format(
     "SIGTERM right after a oneway: the server stopped 10 of 10 times (%d; slowest %.2f s)", stopped, slowest))

-- errors without a server
local ok, err = pcall(dt.client, s, "Everything", "127.0.0.1:1", {connect_timeout_ms = 1000})
t.ok(not ok and type(err) == "table" and err.kind ~= nil and err.message ~= nil,
     "connection refused: an error table with kind and message", t.dump(err))
t.ok(tostring(err):find(err.kind, 1, true) == 1, "its tostring starts with the kind: " .. tostring(err))
t.raises("unknown option 'bogus'", "unknown option refused", dt.client, s, "Everything", "127.0.0.1:1", {bogus = 1})
t.raises("no service 'Nope'", "unknown service refused", dt.server, s, "Nope", "127.0.0.1:0", {})
t.raises("no method 'nope'", "server handler for an unknown method refused",
         dt.server, s, "Everything", "127.0.0.1:0", {nope = function() end})

t.done()
