struct S {
  1: required i32 req
  2: optional i32 opt
  3: i32 plain
  4: required string req_default = "r"
  5: optional list<i32> opt_default = [1]
  6: i64 plain_default = 6
}
