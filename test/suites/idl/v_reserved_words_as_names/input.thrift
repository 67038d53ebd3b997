struct from { 1: i32 return, 2: string except, 3: bool def }
service finally { void yield(1: i32 lambda) }
const i32 next = 1
