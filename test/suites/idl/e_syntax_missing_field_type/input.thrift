struct A {
  1: x
}
