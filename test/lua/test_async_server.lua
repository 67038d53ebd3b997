-- Lua binding: a server on the dt.poll loop ({async = true}), so that a
-- handler can defer its request, call a backend with call_async and answer
-- from the backend's callback -- a gateway in one process and one loop.
-- Its clients here are async clients in the same process.
local HERE = arg[0]:match("^(.*/)") or "./"
local t = dofile(HERE .. "tap.lua")
local dt = require "dynthrift"
local s = dt.load(HERE .. "headers.thrift")

local function poll_until(cond) return t.poll_until(dt, cond, 10) end

local backend_srv = dt.server(s, "Headers", "127.0.0.1:0", {
  echo_header = function(key, req) return (req:header(key) or "") .. " from the backend" end,
}, {async = true, transport = "header"})
t.ok(backend_srv:port() > 0, "async backend server listening on " .. backend_srv:port())
t.raises("served by dt.poll", "srv:run() on an async server is refused", backend_srv.run, backend_srv)
t.raises("is a client option", "the headers option is refused for a server",
         dt.server, s, "Headers", "127.0.0.1:0", {}, {headers = {a = "b"}})

local gateway_srv
local backend = dt.client(s, "Headers", "127.0.0.1:" .. backend_srv:port(),
                          {async = true, transport = "header", timeout_ms = 5000})
gateway_srv = dt.server(s, "Headers", "127.0.0.1:0", {
  -- wait(key): deferred; answered from the backend call's callback with
  -- the backend's result and a reply header saying so
  wait = function(key, req)
    req:defer()
    backend:set_call_header(key, "asked by the gateway")
    backend:call_async("echo_header", {key = key}, function(r, err, h)
      req:set_reply_header("via", "backend")
      if err then req:fail(err) else req:reply(r) end
    end)
  end,
  held = function() return 0 end,
  cancelled = function()
    local ok, err = pcall(gateway_srv.close, gateway_srv)
    return (not ok and tostring(err):find("outside its handlers", 1, true)) and 1 or 0
  end,
}, {async = true, transport = "header"})

local client = dt.client(s, "Headers", "127.0.0.1:" .. gateway_srv:port(),
                         {async = true, transport = "header", timeout_ms = 5000})
local answers = {}
for i = 1, 20 do
  client:call_async("wait", {key = "k" .. i}, function(r, err, h) answers[i] = {r, err, h} end)
end
t.ok(poll_until(function() return #answers == 20 end), "20 pipelined calls through the gateway answered")
local all = true
for i = 1, 20 do
  local a = answers[i]
  if not (a and a[1] == "asked by the gateway from the backend" and a[2] == nil and a[3].via == "backend") then
    all = false
  end
end
t.ok(all, "each answered from the backend call's callback, with the reply header set there",
     t.dump(answers[1]))
t.is(client:call_async("held", {}, function() end), nil, "a plain handler on the async server")
local n = 0
t.ok(poll_until(function() n = n + dt.poll(0); return client:pending() == 0 end),
     "... answered through dt.poll")

local refused
client:call_async("cancelled", {}, function(r) refused = r end)
t.ok(poll_until(function() return refused ~= nil end) and refused == 1,
     "srv:close() from the server's own handler is refused (srv:stop() is the way)")

-- closing the backend server: the gateway's deferred reply carries the error
backend_srv:close()
local failed
client:call_async("wait", {key = "late"}, function(r, err) failed = err or r end)
t.ok(poll_until(function() return failed ~= nil end), "a call after the backend server closed is answered")
t.ok(type(failed) == "table" and failed.kind == "app_exception",
     "... with an error (req:fail of the backend's error table: INTERNAL_ERROR)", t.dump(failed))

gateway_srv:close()
local after
client:call_async("held", {}, function(r, err) after = err end)
t.ok(poll_until(function() return after ~= nil end), "a call after srv:close() fails")
t.ok(after and (after.kind == "closed" or after.kind == "transport"), "... as closed or transport",
     t.dump(after))
client:close()
backend:close()
t.done()
