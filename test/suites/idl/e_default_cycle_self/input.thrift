// A struct whose default holds the struct again would never end.
struct S {
  1: S s = {"s": {}}
}
