-- Lua binding: THeader info headers both ways (client per-connection and
-- per-call headers, the reply's headers after blocking and async calls,
-- handlers reading the request's and setting the reply's) and deferred
-- replies (req:defer(), answered from a later handler, cancelled when the
-- client leaves, INTERNAL_ERROR when dropped), against a Lua server child
-- process (headers_server.lua), in binary and compact.
local HERE = arg[0]:match("^(.*/)") or "./"
local t = dofile(HERE .. "tap.lua")
local dt = require "dynthrift"
local s = dt.load(HERE .. "headers.thrift")

local function poll_until(cond) return t.poll_until(dt, cond, 10) end

for _, proto in ipairs({"binary", "compact"}) do
  local srv = t.spawn(HERE .. "headers_server.lua", proto .. " header")
  t.ok(srv.port, proto .. ": Lua THeader server listening", srv.first)
  local addr = "127.0.0.1:" .. srv.port
  local opts = {protocol = proto, transport = "header", timeout_ms = 5000, headers = {conn = "c1"}}
  local c = dt.client(s, "Headers", addr, opts)

  -- per-connection (the headers option), read by the handler; the reply's
  t.is(c:echo_header("conn"), "c1", proto .. ": the headers option reaches the handler (req:header)")
  t.same(c:reply_headers(), {["reply-conn"] = "c1!"}, proto .. ": c:reply_headers() after a blocking call")
  t.is(c:echo_header("absent"), "", proto .. ": an absent request header is nil in the handler")
  t.same(c:reply_headers(), {}, proto .. ": no reply header set: c:reply_headers() is empty")

  -- per-call: the next call only
  c:set_call_header("once", "x")
  t.is(c:echo_header("once"), "x", proto .. ": c:set_call_header reaches the next call")
  t.is(c:echo_header("once"), "", proto .. ": ... and only that call")
  c:set_header("every", "y")
  t.is(c:echo_header("every"), "y", proto .. ": c:set_header reaches a call")
  t.same(c:request_headers(), {conn = "c1", every = "y"},
         proto .. ": ... and every later one (req:headers() in the handler)")
  c:set_header("every", nil)
  t.same(c:request_headers(), {conn = "c1"}, proto .. ": c:set_header(key, nil) removes it")

  t.raises("cannot contain a NUL byte", proto .. ": a header with a NUL byte is refused",
           c.set_header, c, "a\0b", "v")
  t.raises("longer than 4096 bytes", proto .. ": a header value over 4096 bytes is refused",
           c.set_header, c, "big", string.rep("v", 4097))
  t.raises("header ''", proto .. ": an empty header key is refused", c.set_header, c, "", "v")
  t.raises("must be a table", proto .. ": the headers option must be a table",
           dt.client, s, "Headers", addr, {transport = "header", headers = "x"})

  -- async: per-call headers and the reply's as the callback's third argument
  local a = dt.client(s, "Headers", addr, {protocol = proto, transport = "header", async = true,
                                           timeout_ms = 5000})
  local got
  a:set_call_header("async", "z")
  a:call_async("echo_header", {key = "async"}, function(r, err, h) got = {r, err, h} end)
  t.ok(poll_until(function() return got end), proto .. ": async call answered")
  t.ok(got and got[1] == "z" and got[2] == nil and got[3]["reply-async"] == "z!",
       proto .. ": callback(result, nil, reply headers) with the per-call header echoed",
       got and t.dump(got))

  -- deferred replies: two wait("k1") and one wait("k2") held by the server
  local answers = {}
  for i, key in ipairs({"k1", "k1", "k2"}) do
    a:call_async("wait", {key = key}, function(r, err, h) answers[i] = {r, err, h} end)
  end
  dt.poll(200)
  t.is(next(answers), nil, proto .. ": deferred calls are not answered by their handler's return")
  t.ok(poll_until(function() return c:held() == 3 end), proto .. ": the server holds 3 deferred requests")
  t.is(c:release("k1", "v1", false), 2, proto .. ": release() answers the two wait(k1) from another handler")
  t.ok(poll_until(function() return answers[1] and answers[2] end), proto .. ": both wait(k1) answered")
  t.ok(answers[1] and answers[1][1] == "v1" and answers[2][1] == "v1"
       and answers[1][3]["released-by"] == "k1",
       proto .. ": req:reply(value) with a reply header set after deferring", t.dump(answers))
  t.is(answers[3], nil, proto .. ": wait(k2) still held")
  t.is(c:release("k2", "no", true), 1, proto .. ": release(k2, deny)")
  t.ok(poll_until(function() return answers[3] end), proto .. ": wait(k2) answered")
  local err = answers[3] and answers[3][2]
  t.ok(type(err) == "table" and s:type_of(err) == "Denied" and err.why == "no",
       proto .. ": req:fail(typed exception) gives the declared exception", t.dump(err))

  -- a client leaving while its call is deferred: the request is cancelled
  local gone = dt.client(s, "Headers", addr, {protocol = proto, transport = "header", async = true})
  local gone_err
  gone:call_async("wait", {key = "k3"}, function(r, e) gone_err = e end)
  t.ok(poll_until(function() return c:held() == 1 end), proto .. ": wait(k3) held")
  gone:close()
  t.ok(gone_err and gone_err.kind == "closed", proto .. ": closing the client fails its call (closed)",
       t.dump(gone_err))
  local cancelled = false
  for _ = 1, 100 do
    if c:cancelled() == 1 then cancelled = true break end
    dt.poll(20)
  end
  t.ok(cancelled, proto .. ": the server sees the request cancelled (req:cancelled())")
  t.is(c:release("k3", "late", false), 0, proto .. ": a cancelled request is not answered")

  -- a deferred request dropped by its handler: INTERNAL_ERROR once collected
  local dropped
  a:call_async("dropped", {}, function(r, e) dropped = {r, e} end)
  dt.poll(100)
  c:gc()
  t.ok(poll_until(function() return dropped end), proto .. ": a dropped deferred request is answered")
  t.ok(dropped and dropped[2] and dropped[2].kind == "app_exception" and dropped[2].type == 6,
       proto .. ": ... with INTERNAL_ERROR once collected", dropped and t.dump(dropped))
  t.ok(c:misuse():find("answer a deferred request", 1, true),
       proto .. ": req:reply without req:defer() raises in the handler")

  -- framed (no THeader) against the same server: no headers either way
  local f = dt.client(s, "Headers", addr, {protocol = proto, transport = "framed", timeout_ms = 5000})
  t.same(f:request_headers(), {}, proto .. ": a framed request has no headers (req:headers() empty)")
  t.same(f:reply_headers(), {}, proto .. ": ... nor its reply")
  f:close()
  a:close()
  c:close()
  local rest = t.stop(srv)
  t.ok(rest:find("STOPPED", 1, true), proto .. ": server stopped by SIGTERM", rest)
end

t.done()
