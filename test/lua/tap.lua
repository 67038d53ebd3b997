-- A minimal TAP producer for the Lua binding's tests (no globals: the
-- tests do `local t = dofile(HERE .. "tap.lua")`).  Each check prints one
-- "ok"/"not ok" line; t.done() prints the plan and exits non-zero on a
-- failure.  Environment: DYNTHRIFT_SOURCE_ROOT (the checkout).
local t = {count = 0, failed = 0}

t.root = os.getenv("DYNTHRIFT_SOURCE_ROOT") or "."
t.idl = t.root .. "/idl-samples/"
t.vm = (type(jit) == "table" and jit.version) or _VERSION

local function line(ok, name, detail)
  t.count = t.count + 1
  if not ok then t.failed = t.failed + 1 end
  print(string.format("%s %d - %s", ok and "ok" or "not ok", t.count, name))
  if not ok and detail ~= nil then
    for l in tostring(detail):gmatch("[^\n]+") do print("#   " .. l) end
  end
  io.stdout:flush()
end

function t.ok(cond, name, detail) line(cond and true or false, name, detail) end

function t.is(got, want, name)
  line(got == want, name, string.format("got:  %s\nwant: %s", tostring(got), tostring(want)))
end

-- Deep equality of plain Lua values (tables compared key by key).
local function deq(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then
    if type(a) == "number" and a ~= a then return b ~= b end
    return a == b
  end
  for k, v in pairs(a) do if not deq(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end
t.deq = deq

local function dump(v, depth)
  depth = depth or 0
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) ~= "table" or depth > 6 then return tostring(v) end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(x, y) return tostring(x) < tostring(y) end)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. "=" .. dump(v[k], depth + 1) end
  return "{" .. table.concat(parts, ", ") .. "}"
end
t.dump = dump

function t.same(got, want, name)
  line(deq(got, want), name, "got:  " .. dump(got) .. "\nwant: " .. dump(want))
end

-- Calls f(...) expecting an error; checks that tostring(err) contains
-- `pattern` (plain text) and returns the error value.
function t.raises(pattern, name, f, ...)
  local ok, err = pcall(f, ...)
  local text = tostring(err)
  line(not ok and text:find(pattern, 1, true) ~= nil, name,
       ok and "no error raised" or ("error: " .. text .. "\nwant:  " .. pattern))
  return err
end

function t.skip(name, why)
  t.count = t.count + 1
  print(string.format("ok %d - %s # SKIP %s", t.count, name, why))
end

function t.skip_all(why)
  print("1..0 # SKIP " .. why)
  os.exit(0) -- meson counts a TAP "1..0 # SKIP" as skipped only with status 0
end

function t.done()
  print("1.." .. t.count)
  os.exit(t.failed == 0 and 0 or 1)
end

function t.hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

function t.unhex(h)
  return (h:gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end))
end

-- Runs a shell command, returns its stdout (nil, message on failure).
function t.run(cmd)
  local f = io.popen(cmd, "r")
  local out = f:read("*a")
  local ok, how, code = f:close()
  if ok == true or (ok == 0) or (how == "exit" and code == 0) then return out end
  -- LuaJIT's io.popen close returns true even on failure: trust output
  if type(jit) == "table" and out ~= "" then return out end
  return nil, "command failed: " .. cmd
end

-- Runs dt.poll(50) until cond() is true or about `seconds` (default 5)
-- have passed; returns cond().
function t.poll_until(dt, cond, seconds)
  for _ = 1, math.ceil((seconds or 5) * 20) do
    if cond() then return true end
    dt.poll(50)
  end
  return cond()
end

-- The interpreter running this test (meson passes it), for child scripts.
t.lua = os.getenv("DYNTHRIFT_LUA") or (type(jit) == "table" and "luajit" or "lua5.4")

-- Starts `script args` under this interpreter; returns {pid=, pipe=,
-- port=} once the child printed "PORT n" (the child's stdout stays
-- readable through pipe).  The shell execs the interpreter, so $$ is the
-- child's own PID, stopped with t.stop.
function t.spawn(script, args)
  local cmd = string.format("sh -c 'echo $$; exec %s %s %s'", t.lua, script, args or "")
  local pipe = assert(io.popen(cmd, "r"))
  local pid = tonumber(pipe:read("*l"))
  local line = pipe:read("*l") or ""
  local port = tonumber(line:match("^PORT (%d+)"))
  local child = {pid = pid, pipe = pipe, port = port, first = line}
  -- If the test dies with the child running, closing the pipe at exit
  -- would wait for the child forever: a finalizer made after the pipe (so
  -- run before the pipe's) stops the child by its PID first.
  local function reap()
    if child.pid and not child.stopped then
      os.execute(string.format("kill -KILL %d 2>/dev/null", child.pid))
    end
  end
  if newproxy then -- LuaJIT / 5.1: tables have no __gc
    child.guard = newproxy(true)
    getmetatable(child.guard).__gc = reap
  else
    child.guard = setmetatable({}, {__gc = reap})
  end
  return child
end

-- Sends `sig` (default TERM) to the child by its PID, then reads what is
-- left of its output until it exits; returns that output.
function t.stop(child, sig)
  if child.pid then os.execute(string.format("kill -%s %d 2>/dev/null", sig or "TERM", child.pid)) end
  local rest = child.pipe:read("*a")
  child.stopped = true
  child.pipe:close()
  return rest
end

return t
