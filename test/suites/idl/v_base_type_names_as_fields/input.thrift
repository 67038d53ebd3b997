struct Names {
  1: i8 i8
  2: string string
  3: list<i32> list
  4: bool required
  5: i32 optional
}
