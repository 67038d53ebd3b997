const i32 K = 1
const i32 K = 2
