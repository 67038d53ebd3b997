struct S {
  i32 a
  i32 b
  5: i32 c
  i32 d
}
service Svc {
  void f(i32 x, 1: i32 y, i32 z)
}
