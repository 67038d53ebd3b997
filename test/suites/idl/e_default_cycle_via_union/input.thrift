union U {
  1: S s
  2: i32 i
}
struct S {
  1: U u = {"s": {}}
}
