// Defaults that hold their own type only where no default is given again:
// finite, so they load.
struct T {
  1: i32 x = 1
  2: optional T t
}
struct U {
  1: T t = {"t": {}}
  2: list<T> l = [{}, {"x": 3, "t": {"x": 4}}]
}
union V {
  1: V v = {"v": {}}
  2: i32 i
}
struct W {
  1: V v = {"v": {"i": 1}}
}
