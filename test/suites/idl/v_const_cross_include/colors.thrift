enum Color { RED = 1, GREEN = 2 }
const i32 COUNT = 2
struct Pixel { 1: Color c, 2: i32 alpha }
