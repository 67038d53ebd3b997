// issue 10, item 8: a string map key holding a NUL byte cannot be an object
// member name that reads back (jansson refuses it), so such a map is
// printed as [key, value] pairs, which every reader takes for every map.
struct M {
  1: map<string, i32> m
  2: map<string, i32> plain
}
