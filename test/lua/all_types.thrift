// Every Thrift type, for the Lua binding's value, codec and interop tests.
namespace py all_types

enum Color { RED = 1, GREEN = 2, BLUE = 3 }

struct Inner {
  1: i32 n = 7,
  2: string s = "dflt",
}

union Choice {
  1: i32 a,
  2: string b,
}

exception Oops {
  1: i32 code,
  2: string message,
}

struct Node {
  1: i32 v,
  2: optional list<Node> kids,
}

struct All {
  1: bool b,
  2: byte i8v,
  3: i16 i16v,
  4: i32 i32v,
  5: i64 i64v,
  6: double d,
  7: string s,
  8: binary bin,
  10: Color color,
  11: list<i32> li,
  12: set<string> ss,
  13: map<string, i64> msi,
  14: map<i32, string> mis,
  15: map<Color, i32> mci,
  16: map<Inner, string> mstruct,
  17: Inner inner,
  18: Choice choice,
  19: list<list<i64>> nested,
  20: optional i32 opt,
  21: map<bool, double> mbd,
  22: list<Inner> inners,
}

service Everything {
  All echo(1: All a),
  i32 fail(1: i32 code) throws (1: Oops oops),
  void crash(1: string why),
  oneway void note(1: string text),
  i64 add(1: i64 a, 2: i64 b),
  /** Answers after `ms` milliseconds (the handler blocks). */
  i32 slow(1: i32 ms),
  /** Stops the server (srv:stop() from a handler). */
  void shutdown(),
}
