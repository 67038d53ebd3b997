-- A Lua PingPong server for transports.py: listens on ADDRESS with the
-- given options (tls_cert, tls_key, transport, ...), prints "PORT n", serves
-- until SIGTERM, then prints "STOPPED".
-- usage: transport_server.lua IDL ADDRESS [key=value ...]
local dt = require "dynthrift"
local opts = {}
for i = 3, #arg do
  local k, v = arg[i]:match("^([%w_]+)=(.*)$")
  opts[k] = v
end
local s = dt.load(arg[1])
local srv = dt.server(s, "PingPong", arg[2], {
  ping = function() return "pong from lua" end,
  add = function(a, b) return a + b end,
}, opts)
io.stdout:write("PORT ", srv:port(), "\n")
io.stdout:flush()
srv:run()
io.stdout:write("STOPPED\n")
