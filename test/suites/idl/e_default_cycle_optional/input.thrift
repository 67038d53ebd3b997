struct S {
  1: optional S s = {}
}
