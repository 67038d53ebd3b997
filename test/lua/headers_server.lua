-- A Lua server of Headers (headers.thrift) for test_headers.lua and
-- headers.py: handlers read the request's THeader info headers and set the
-- reply's, and wait() defers its reply until a later release() call.
-- usage: headers_server.lua PROTOCOL TRANSPORT
-- Prints "PORT n" once listening, "STOPPED" when SIGTERM ends srv:run().
local HERE = arg[0]:match("^(.*/)") or "./"
local dt = require "dynthrift"
local s = dt.load(HERE .. "headers.thrift")
local waiting = {} -- key -> list of deferred requests

local srv = dt.server(s, "Headers", "127.0.0.1:0", {
  echo_header = function(key, req)
    local v = req:header(key)
    if v then req:set_reply_header("reply-" .. key, v .. "!") end
    return v or ""
  end,
  request_headers = function(req) return req:headers() end,
  wait = function(key, req)
    local list = waiting[key] or {}
    waiting[key] = list
    list[#list + 1] = req:defer()
  end,
  release = function(key, value, deny)
    local n = 0
    for _, req in ipairs(waiting[key] or {}) do
      if not req:cancelled() then
        req:set_reply_header("released-by", key)
        if deny then
          assert(req:fail(s:new("Denied", {why = value})))
        else
          assert(req:reply(value))
        end
        n = n + 1
      end
    end
    waiting[key] = nil
    return n
  end,
  held = function()
    local n = 0
    for _, list in pairs(waiting) do n = n + #list end
    return n
  end,
  cancelled = function()
    local n = 0
    for _, list in pairs(waiting) do
      for _, req in ipairs(list) do if req:cancelled() then n = n + 1 end end
    end
    return n
  end,
  dropped = function(req) req:defer() end,
  gc = function() collectgarbage("collect"); collectgarbage("collect") end,
  misuse = function(req)
    local ok, err = pcall(req.reply, req, "x")
    return ok and "no error" or tostring(err)
  end,
}, {protocol = arg[1] or "binary", transport = arg[2] or "header"})
io.stdout:write("PORT " .. srv:port() .. "\n")
io.stdout:flush()
srv:run()
srv:close()
io.stdout:write("STOPPED\n")
io.stdout:flush()
