-- Lua servers for the seed services (idl-samples: pingpong, kv, sleep) and
-- Everything (all_types.thrift), for interop.py's Python clients.
-- usage: seed_server.lua SERVICE PROTOCOL TRANSPORT
-- Prints "PORT n" once listening, "SLEEP n" per oneway sleep, "STOPPED"
-- when SIGTERM ends srv:run().
local HERE = arg[0]:match("^(.*/)") or "./"
local dt = require "dynthrift"
local which, proto, transport = arg[1], arg[2] or "binary", arg[3] or "framed"
local root = os.getenv("DYNTHRIFT_SOURCE_ROOT") or (HERE .. "../..")
local function out(line) io.stdout:write(line, "\n"); io.stdout:flush() end

local s, service, handlers
if which == "pingpong" then
  s, service = dt.load(root .. "/idl-samples/pingpong.thrift"), "PingPong"
  handlers = {ping = function() return "pong" end, add = function(a, b) return a + b end}
elseif which == "kv" then
  local store = {}
  s, service = dt.load(root .. "/idl-samples/kv.thrift"), "KV"
  handlers = {
    ping = function() return "pong" end,
    setk = function(k, v) store[k] = v end,
    getk = function(k) return store[k] or "" end,
    keys = function()
      local ks = {}
      for k in pairs(store) do ks[#ks + 1] = k end
      table.sort(ks)
      return ks
    end,
  }
elseif which == "sleep" then
  s, service = dt.load(root .. "/idl-samples/sleep.thrift"), "Sleep"
  handlers = {sleep = function(n) out("SLEEP " .. n) end}
else
  s, service = dt.load(HERE .. "all_types.thrift"), "Everything"
  handlers = {
    echo = function(a) return a end,
    fail = function(code)
      if code > 0 then error(s:new("Oops", {code = code, message = "from Lua"})) end
      return -code
    end,
    crash = function(why) error(why) end,
    note = function(text) out("NOTE " .. text) end,
    add = function(a, b) return a + b end,
  }
end
local srv = dt.server(s, service, "127.0.0.1:0", handlers, {protocol = proto, transport = transport})
out("PORT " .. srv:port())
srv:run()
out("STOPPED")
