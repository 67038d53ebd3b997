-- A Lua server for the Everything service of all_types.thrift, used by
-- test_net.lua and interop.py.
-- usage: everything_server.lua PROTOCOL TRANSPORT [IDL] [SERVICE]
-- Prints "PORT n" once listening, "STOPPED" when run() returns (after
-- Everything.shutdown or SIGINT/SIGTERM), "NOTE text" for each oneway note.
local HERE = arg[0]:match("^(.*/)") or "./"
local dt = require "dynthrift"
local proto, transport = arg[1] or "binary", arg[2] or "framed"
local s = dt.load(arg[3] or (HERE .. "all_types.thrift"))

local srv
local handlers = {
  echo = function(a) return a end,
  fail = function(code)
    if code > 0 then error(s:new("Oops", {code = code, message = "code " .. code})) end
    return -code
  end,
  crash = function(why) error(why) end,
  note = function(text) io.stdout:write("NOTE " .. text .. "\n"); io.stdout:flush() end,
  add = function(a, b) return a + b end,
  slow = function(ms)
    os.execute(string.format("sleep %.3f", ms / 1000))
    return ms
  end,
  shutdown = function() srv:stop() end,
}
srv = dt.server(s, "Everything", "127.0.0.1:0", handlers, {protocol = proto, transport = transport})
io.stdout:write("PORT " .. srv:port() .. "\n")
io.stdout:flush()
srv:run()
srv:close()
io.stdout:write("STOPPED\n")
io.stdout:flush()
