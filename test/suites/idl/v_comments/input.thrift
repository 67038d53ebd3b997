# hash comment
// line comment
/* block
   comment */
struct A { # trailing
  1: i32 x // after a field
  /* before a field */ 2: string y
}
