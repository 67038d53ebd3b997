cpp_include "<unordered_map>"
cpp_include "foo/bar.h"
struct A { 1: i32 x }
