struct User { 1: i32 age }
const User U = {"age": "old"}
