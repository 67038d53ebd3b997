// THeader info headers and deferred replies through the Lua binding
// (test_headers.lua, headers.py): served by headers_server.lua (Lua) and
// by an Apache Python THeaderProtocol server in headers.py.
namespace py headers

exception Denied {
  1: string why,
}

service Headers {
  /** The request's info header `key` ("" when absent).  The reply carries
   *  the header "reply-<key>" = "<value>!". */
  string echo_header(1: string key),
  /** Every info header of the request. */
  map<string, string> request_headers(),
  /** Deferred: answered by a later release(key, ...) call, with `value`,
   *  or with Denied when `deny` (the reply carries "released-by" = key). */
  string wait(1: string key) throws (1: Denied denied),
  /** Answers the wait(key) calls held; returns how many. */
  i32 release(1: string key, 2: string value, 3: bool deny),
  /** Deferred wait(key) calls held now, cancelled ones included. */
  i32 held(),
  /** How many held wait calls were cancelled (their client left). */
  i32 cancelled(),
  /** Deferred and then dropped by the handler: once collected (gc()), the
   *  client gets INTERNAL_ERROR. */
  string dropped(),
  /** Runs a full garbage collection in the server. */
  void gc(),
  /** What req:reply without req:defer() raises (the text). */
  string misuse(),
}
