// A default may hold a value of its own struct type as long as that
// value's defaults end (issue 10, item 1: the cyclic ones are refused at
// load, see test/suites/idl/e_default_cycle_*).
struct T {
  1: i32 x = 1
  2: optional T t
}
struct U {
  1: T t = {"t": {}}
  2: list<T> l = [{}, {"x": 3, "t": {"x": 4}}]
}
