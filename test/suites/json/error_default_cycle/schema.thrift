// Issue 10, item 1: this loaded, and encoding or decoding an empty S then
// overflowed the stack filling S.s's default without end.
struct S {
  1: S s = {"s": {}}
}
