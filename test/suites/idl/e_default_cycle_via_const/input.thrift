const S EMPTY = {}
struct S {
  1: optional S s = EMPTY
}
