enum Kind { SMALL, LARGE }
struct Inner { 1: required string name, 2: optional i32 n = 7 }
struct Outer {
  1: Inner inner
  2: Kind kind = Kind.SMALL
  3: list<Inner> many
  4: map<string, Inner> by_name
}
const Outer O = {
  "inner": {"name": "a"},
  "kind": Kind.LARGE,
  "many": [{"name": "b", "n": 2}],
  "by_name": {"k": {"name": "c"}}
}
const Inner I = {"name": "solo"}
