struct User {
  1: required string name
  2: i32 age
}
const User U = {"age": 3}
