exception E {}
service S {
  void f() throws (1: E a, 1: E b)
}
