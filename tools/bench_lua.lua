-- bench_lua.lua — the Lua binding's side of tools/bench_lua.sh.
--   bench_lua.lua codec IDL PAYLOAD.bin SECONDS   encode/decode of the Payload
--   bench_lua.lua add IDL HOST:PORT SECONDS        c:add calls/s, one connection
local dt = require "dynthrift"
local mode, idl, target, seconds = arg[1], arg[2], arg[3], tonumber(arg[4] or "2")
local s = dt.load(idl)
local vm = type(jit) == "table" and jit.version or _VERSION
local clock = os.clock

if mode == "codec" then
  local f = assert(io.open(target, "rb"))
  local bytes = f:read("*a")
  f:close()
  local payload = dt.decode(s, "Payload", bytes) -- the Payload as Lua tables
  for _, proto in ipairs({"binary", "compact"}) do
    local wire = dt.encode(s, "Payload", payload, proto)
    for _, op in ipairs({"encode", "decode"}) do
      local fn = op == "encode" and function() return dt.encode(s, "Payload", payload, proto) end
                                 or function() return dt.decode(s, "Payload", wire, proto) end
      local best = math.huge
      local rounds = 5
      for _ = 1, rounds do -- best of 5 batches, as bench_codec
        local n, t0 = 0, clock()
        local stop = t0 + seconds / rounds
        local t = t0
        while t < stop do
          for _ = 1, 100 do fn() end
          n = n + 100
          t = clock()
        end
        local ns = (t - t0) / n * 1e9
        if ns < best then best = ns end
      end
      print(string.format("%s %s-%s ns/op=%.0f MB/s=%.1f", vm, op, proto, best, #wire / best * 1e3))
    end
  end
elseif mode == "loop" then
  -- A fixed number of encodes or decodes, for instruction counts under
  -- callgrind (tools/bench_lua.sh compares rates; this compares work):
  --   bench_lua.lua loop IDL PAYLOAD.bin N encode|decode [binary|compact]
  local f = assert(io.open(target, "rb"))
  local bytes = f:read("*a")
  f:close()
  local n, op, proto = tonumber(arg[4]), arg[5], arg[6] or "binary"
  local payload = dt.decode(s, "Payload", bytes)
  local wire = dt.encode(s, "Payload", payload, proto)
  if op == "encode" then
    for _ = 1, n do dt.encode(s, "Payload", payload, proto) end
  else
    for _ = 1, n do dt.decode(s, "Payload", wire, proto) end
  end
  print(string.format("%s %s-%s x%d", vm, op, proto, n))
elseif mode == "add" then
  -- Wall time from /proc/uptime (10 ms resolution; os.clock is CPU time).
  local function wall()
    local f = assert(io.open("/proc/uptime"))
    local t = tonumber(f:read("*a"):match("^(%S+)"))
    f:close()
    return t
  end
  local c = dt.client(s, "Bench", target)
  for i = 1, 2000 do c:add(i, 1) end -- warm-up (and LuaJIT's traces)
  local n, t0, cpu0 = 0, wall(), os.clock()
  local t = t0
  while t < t0 + seconds do
    for i = 1, 1000 do
      if c:add(i, 1) ~= i + 1 then error("wrong sum") end
    end
    n = n + 1000
    t = wall()
  end
  -- os.clock: this process's CPU time (user + system), as bench_blocking
  print(string.format("%s calls=%d seconds=%.2f cps=%.0f cpu_us=%.2f", vm, n, t - t0, n / (t - t0),
                      (os.clock() - cpu0) / n * 1e6))
  c:close()
else
  error("usage: bench_lua.lua codec|add|loop IDL TARGET SECONDS|N [op proto]")
end
