-- Lua binding, step 3: dt.encode gives the bytes Apache's Python library
-- writes, in binary, compact and TJSONProtocol; dt.decode reads them back.
-- Goldens are made at test time by golden.py (python3-thrift + the thrift
-- compiler); the bench Payload comes from ../shared/bench (skipped when
-- absent), ThriftTest.thrift from ../shared/idl-corpus (likewise).
local HERE = arg[0]:match("^(.*/)") or "./"
local t = dofile(HERE .. "tap.lua")
local dt = require "dynthrift"
local load_chunk = loadstring or load

local function exists(path) local f = io.open(path, "r"); if f then f:close() end; return f ~= nil end

local function golden(idl, args)
  local cmd = string.format("/usr/bin/python3 %sgolden.py %s %s 2>/dev/null", HERE, idl, args)
  local out = t.run(cmd)
  local rows = {}
  for line in (out or ""):gmatch("[^\n]+") do
    local name, lit, bin, compact, json = line:match("^([^\t]+)\t([^\t]+)\t(%x*)\t(%x*)\t(%x*)$")
    if name then rows[#rows + 1] = {name = name, lit = lit, binary = bin, compact = compact, json = json} end
  end
  return rows
end

local function check_rows(idl, rows, label)
  local s = dt.load(idl)
  for _, r in ipairs(rows) do
    local value = assert(load_chunk("return " .. r.lit))()
    for _, proto in ipairs({"binary", "compact", "json"}) do
      local ok, bytes = pcall(dt.encode, s, r.name, value, proto)
      local want = r[proto]
      t.ok(ok and t.hex(bytes) == want, string.format("%s %s %s: encode equals Apache's (%d bytes)", label, r.name, proto, #want / 2),
           ok and ("got:  " .. t.hex(bytes) .. "\nwant: " .. want) or bytes)
      local ok2, back = pcall(function()
        return dt.encode(s, r.name, dt.decode(s, r.name, t.unhex(want), proto), proto)
      end)
      t.ok(ok2 and back == t.unhex(want), string.format("%s %s %s: decode then encode gives Apache's bytes again", label, r.name, proto),
           ok2 and ("got:  " .. t.hex(back)) or back)
    end
  end
end

if not exists("/usr/bin/python3") then t.skip_all("/usr/bin/python3 missing") end

local rows = golden(HERE .. "all_types.thrift", "All Inner Oops Node Choice")
if #rows == 0 then t.skip_all("python3-thrift or the thrift compiler missing") end
t.is(#rows, 5, "goldens made for the all-types structs")
check_rows(HERE .. "all_types.thrift", rows, "all_types")

local payload = t.root .. "/../shared/bench/payload.json"
if exists(payload) then
  local prow = golden(t.idl .. "bench.thrift", "Payload=" .. payload)
  t.is(#prow, 1, "golden made for the bench Payload")
  check_rows(t.idl .. "bench.thrift", prow, "bench")
  -- and the Payload read back has the fields a program uses
  local s = dt.load(t.idl .. "bench.thrift")
  local p = dt.decode(s, "Payload", t.unhex(prow[1].binary))
  t.ok(p.request_id == 42 and p.users[1].status == "ACTIVE" and p.users[1].address.city == "Springfield"
       and #p.users[1].avatar == 32, "bench Payload decoded: enum names, nested structs, binary")
else
  t.skip("bench Payload goldens", "../shared/bench/payload.json absent")
end

local thrift_test = t.root .. "/../shared/idl-corpus/apache-thrift/test/v0.16/ThriftTest.thrift"
if exists(thrift_test) then
  local trows = golden(thrift_test, "--all")
  t.ok(#trows >= 20, "goldens made for every ThriftTest struct (" .. #trows .. ")")
  check_rows(thrift_test, trows, "ThriftTest")
else
  t.skip("ThriftTest goldens", "../shared/idl-corpus absent")
end

t.done()
