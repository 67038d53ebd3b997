enum Foo { A }
struct Foo { 1: i32 a }
