-- Lua binding, step 8: 1,000,000 calls (DYNTHRIFT_LUA_CALLS overrides) on
-- one connection from a Lua client to a Lua server; the RSS of both
-- processes must stay flat (growth under 2 MiB after a warm-up).
local HERE = arg[0]:match("^(.*/)") or "./"
local t = dofile(HERE .. "tap.lua")
local dt = require "dynthrift"
local calls = tonumber(os.getenv("DYNTHRIFT_LUA_CALLS") or "") or 1000000

local function rss_kb(pid)
  local f = io.open("/proc/" .. (pid or "self") .. "/status", "r")
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  return tonumber(text:match("VmRSS:%s*(%d+)"))
end
if not rss_kb() then t.skip_all("no /proc/self/status") end
if os.getenv("DYNTHRIFT_LUA_SANITIZED") then
  -- ASan keeps freed memory in quarantine: RSS grows without a leak
  t.skip_all("RSS is no leak measure under AddressSanitizer (see lua5.4-valgrind)")
end

local s = dt.load(HERE .. "all_types.thrift")
local srv = t.spawn(HERE .. "everything_server.lua", "binary framed")
t.ok(srv.port, "Lua server listening", srv.first)
local c = dt.client(s, "Everything", "127.0.0.1:" .. srv.port)
local inner = {n = 1, s = "x"}

local function batch(n)
  local bad = 0
  for i = 1, n do
    if i % 10 == 0 then
      if c:call("echo", {a = {s = "payload", li = {1, 2, 3}, inner = inner}}).s ~= "payload" then bad = bad + 1 end
    elseif c:add(i, 1) ~= i + 1 then
      bad = bad + 1
    end
  end
  return bad
end

local warm = math.floor(math.min(100000, calls / 10))
local bad = batch(warm)
collectgarbage()
local client0, server0 = rss_kb(), rss_kb(srv.pid)
local t0 = os.clock()
bad = bad + batch(calls - warm)
local cpu = os.clock() - t0
collectgarbage()
local client1, server1 = rss_kb(), rss_kb(srv.pid)
t.is(bad, 0, string.format("%d calls (add, every 10th an echo of a struct) all answered correctly", calls))
t.ok(client1 - client0 < 2048, string.format("client RSS flat: %d KB -> %d KB over %d calls", client0, client1, calls - warm))
t.ok(server1 - server0 < 2048, string.format("server RSS flat: %d KB -> %d KB", server0, server1))
print(string.format("# client CPU %.2f s for %d calls", cpu, calls - warm))
c:close()
t.stop(srv, "TERM")
t.done()
