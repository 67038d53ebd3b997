struct S {
  1: i32 x
  2: optional list<S> children = [{"x": 1}]
}
