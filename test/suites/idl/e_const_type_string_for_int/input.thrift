const i32 N = "seven"
