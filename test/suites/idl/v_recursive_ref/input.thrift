struct Node {
  1: i32 value
  2: optional Node & link
}
struct Tree {
  1: list<Tree> children
  2: optional Tree& parent
}
struct Ping { 1: optional Pong pong }
struct Pong { 1: optional Ping ping }
struct A { 1: optional B & b }
struct B { 1: optional A & a }
