senum Colours { "red", "green" }
struct S { 1: slist s, 2: Colours c }
