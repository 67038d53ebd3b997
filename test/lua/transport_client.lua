-- A Lua client of PingPong for transports.py: ping and add(20, 22) over
-- ADDRESS with the given options (every key goes to the C library's
-- thrift_conn_options_set as text).
-- usage: transport_client.lua IDL ADDRESS [key=value ...]
-- Prints "RESULT <ping> <add>" or "ERROR <kind>: <message>".
local dt = require "dynthrift"
local opts = {timeout_ms = 5000}
for i = 3, #arg do
  local k, v = arg[i]:match("^([%w_]+)=(.*)$")
  opts[k] = v
end
local s = dt.load(arg[1])
local ok, err = pcall(function()
  local c = dt.client(s, "PingPong", arg[2], opts)
  local pong, sum = c:ping(), c:add(20, 22)
  c:close()
  io.stdout:write("RESULT ", tostring(pong), " ", tostring(sum), "\n")
end)
if not ok then
  io.stdout:write("ERROR ", tostring(err):gsub("\n", " "), "\n")
end
