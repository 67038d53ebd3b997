-- A Lua client of Headers (headers.thrift) over THeader for headers.py:
-- sends a per-connection header (the headers option, conn=lua), a
-- per-call one (c:set_call_header) and an async call's, and prints what
-- the server's handlers saw and the headers of their replies, one per
-- line: "CALL <what> <result>" and "REPLY <what> <key>=<value>" (sorted).
-- usage: headers_client.lua IDL ADDRESS PROTOCOL
local dt = require "dynthrift"
local s = dt.load(arg[1])
local function out(...) io.stdout:write(table.concat({...}, " "), "\n") end
local function reply(what, h)
  local keys = {}
  for k in pairs(h) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do out("REPLY", what, k .. "=" .. h[k]) end
end
local ok, err = pcall(function()
  local opts = {protocol = arg[3], transport = "header", timeout_ms = 5000, headers = {conn = "lua"}}
  local c = dt.client(s, "Headers", arg[2], opts)
  out("CALL conn", c:echo_header("conn"))
  reply("conn", c:reply_headers())
  c:set_call_header("once", "1")
  out("CALL once", c:echo_header("once"))
  reply("once", c:reply_headers())
  out("CALL again", c:echo_header("once"))
  reply("again", c:reply_headers())
  c:close()
  local a = dt.client(s, "Headers", arg[2], {protocol = arg[3], transport = "header", async = true,
                                             timeout_ms = 5000})
  local got
  a:set_call_header("async", "2")
  a:call_async("echo_header", {key = "async"}, function(r, e, h) got = {r, e, h} end)
  while not got do dt.poll(1000) end
  if got[2] then error(got[2]) end
  out("CALL async", got[1])
  reply("async", got[3])
  a:close()
end)
if not ok then out("ERROR", (tostring(err):gsub("\n", " "))) end
