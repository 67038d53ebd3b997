struct Foo { 1: i32 a }
struct Foo { 1: i32 b }
