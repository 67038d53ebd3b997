const i32 N = 1.5
