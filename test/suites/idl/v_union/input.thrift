union Value {
  1: i32 i
  2: optional string s
  3: list<Value> many
}
