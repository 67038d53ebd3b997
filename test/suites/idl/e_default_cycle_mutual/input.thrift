struct A {
  1: B b = {"a": {}}
}
struct B {
  1: A a = {"b": {}}
}
