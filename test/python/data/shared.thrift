// Included by types.thrift: tests reach it as module.shared.
namespace py shared

enum Color { RED = 1, GREEN = 2, BLUE = 7 }

struct Point {
  1: i32 x,
  2: i32 y,
}

const i32 ORIGIN_X = 0
