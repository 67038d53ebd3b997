-- Lua binding, step 6: async calls for hosts with their own loop:
-- c:call_async(method, args, callback [, timeout_ms]) + dt.poll(timeout_ms).
local HERE = arg[0]:match("^(.*/)") or "./"
local t = dofile(HERE .. "tap.lua")
local dt = require "dynthrift"
local s = dt.load(HERE .. "all_types.thrift")

t.is(dt.poll(0), 0, "dt.poll before any async client: nothing to run")

local srv = t.spawn(HERE .. "everything_server.lua", "binary framed")
t.ok(srv.port, "Lua server listening", srv.first)
local addr = "127.0.0.1:" .. srv.port
local c = dt.client(s, "Everything", addr, {async = true})
t.ok(tostring(c):find("async", 1, true), "async client: " .. tostring(c))
t.raises("blocking call on an async client", "blocking calls refused on an async client", c.add, c, 1, 2)

-- pipelined: 100 calls in flight, answered through dt.poll
local results, order = {}, {}
for i = 1, 100 do
  c:call_async("add", {a = i, b = 1000}, function(r, err)
    results[i] = r or err
    order[#order + 1] = i
  end)
end
t.is(c:pending(), 100, "100 calls pending before polling")
t.is(#order, 0, "no callback runs inside call_async")
local rounds = 0
while #order < 100 and rounds < 1000 do
  dt.poll(1000)
  rounds = rounds + 1
end
local all = true
for i = 1, 100 do if results[i] ~= i + 1000 then all = false end end
t.ok(all, "100 pipelined async adds answered correctly (" .. rounds .. " polls)")
t.is(c:pending(), 0, "nothing pending after")

-- declared exception and application error through the callback
local got_ex, got_app
c:call_async("fail", {code = 9}, function(r, err) got_ex = err end)
c:call_async("crash", {why = "async boom"}, function(r, err) got_app = err end)
while not (got_ex and got_app) do dt.poll(1000) end
t.ok(got_ex.code == 9 and s:type_of(got_ex) == "Oops", "declared exception: callback(nil, typed Oops)", t.dump(got_ex))
t.ok(got_app.kind == "app_exception" and got_app.type == 6 and got_app.message:find("async boom", 1, true),
     "handler error: callback(nil, {kind='app_exception'})", t.dump(got_app))

-- a struct result, built through the schema's field cache
local echoed
local sent = {i32v = 7, s = "x", inner = {n = 1, s = "in"}, li = {1, 2}, msi = {k = 3}}
c:call_async("echo", {a = sent}, function(r, err) echoed = r or err end)
while not echoed do dt.poll(1000) end
t.ok(echoed.i32v == 7 and echoed.s == "x" and echoed.inner.n == 1 and echoed.inner.s == "in"
     and echoed.li[2] == 2 and echoed.msi.k == 3, "a struct result through the callback", t.dump(echoed))

-- a per-call timeout
local got_timeout
c:call_async("slow", {ms = 800}, function(r, err) got_timeout = err end, 100)
local t0 = os.clock()
while not got_timeout do dt.poll(1000) end
t.ok(got_timeout.kind == "timeout", "per-call timeout_ms: callback(nil, {kind='timeout'})", t.dump(got_timeout))

-- dt.poll with a timeout returns 0 when nothing arrives
local c2 = dt.client(s, "Everything", addr, {async = true})
t.is(dt.poll(50), 0, "dt.poll(50) with nothing pending returns 0")

-- a callback's error is raised by dt.poll, after the loop stopped
c2:call_async("add", {a = 1, b = 1}, function() error("callback exploded") end)
local ok, err
repeat ok, err = pcall(dt.poll, 1000) until not ok or err == nil
t.ok(not ok and tostring(err):find("callback exploded", 1, true), "a callback error comes out of dt.poll", tostring(err))

-- closing with calls pending fails them with kind closed
local closed_err
c2:call_async("slow", {ms = 200}, function(r, e) closed_err = e end)
c2:close()
t.ok(closed_err and closed_err.kind == "closed", "close() fails pending calls with kind closed", t.dump(closed_err))
t.raises("unknown option", "options still checked", dt.client, s, "Everything", addr, {async = true, nope = 1})

-- dt.fd() + dt.next_timeout(): driven the way an event-driven host does,
-- waiting on the descriptor in its own poll (pollfd: poll(2) from C) and
-- calling only dt.poll(0), which never blocks.
local wait = require(type(jit) == "table" and "pollfd_luajit" or "pollfd_lua54")
local fd = dt.fd()
t.ok(math.type and math.type(fd) == "integer" or (type(fd) == "number" and fd >= 0),
     "dt.fd() gives a descriptor: " .. tostring(fd))
t.is(dt.fd(), fd, "the same descriptor each time")
t.is(dt.next_timeout(), nil, "dt.next_timeout(): nil with no call pending")
for _ = 1, 5 do dt.poll(0) end
t.is(wait(fd, 50), false, "dt.fd() not readable when nothing is pending")
local host = dt.client(s, "Everything", addr, {async = true, timeout_ms = 5000})
local host_result, wakeups = nil, 0
host:call_async("add", {a = 20, b = 22}, function(r, e) host_result = r or e end)
local nt = dt.next_timeout()
t.ok(nt and nt > 4000 and nt <= 5001, "dt.next_timeout() follows the client's timeout_ms", tostring(nt))
local deadline = os.time() + 10
-- a host's tick: dt.poll(0) (it also hands newly queued calls to the
-- descriptor), then sleep on the descriptor until the nearest deadline
while os.time() < deadline do
  dt.poll(0)
  if host_result ~= nil then break end
  if wait(fd, dt.next_timeout() or 1000) then wakeups = wakeups + 1 end
end
t.is(host_result, 42, "a call driven by waiting on dt.fd() and dt.poll(0) only")
t.ok(wakeups >= 1, "dt.fd() became readable for it (" .. wakeups .. " wake-ups)")
t.is(dt.next_timeout(), nil, "dt.next_timeout(): nil again once answered")
local host_timeout, timer_wakeups = nil, 0
host:call_async("slow", {ms = 600}, function(r, e) host_timeout = e or r end, 150)
nt = dt.next_timeout()
t.ok(nt and nt > 0 and nt <= 151, "dt.next_timeout() follows the per-call timeout", tostring(nt))
deadline = os.time() + 10
while os.time() < deadline do
  dt.poll(0)
  if host_timeout ~= nil then break end
  -- nothing arrives on the socket: only the deadline wakes the host
  if not wait(fd, dt.next_timeout() or 1000) then timer_wakeups = timer_wakeups + 1 end
end
t.ok(type(host_timeout) == "table" and host_timeout.kind == "timeout",
     "the timeout fires from dt.poll(0) at dt.next_timeout()", t.dump(host_timeout))
t.ok(timer_wakeups >= 1, "the host woke for the deadline, not the descriptor (" .. timer_wakeups .. ")")
host:close()

c:close()
t.stop(srv, "TERM")
t.done()
