enum Color { RED = 1, GREEN, BLUE }
const i32 A = 10
const i32 B = A
const Color FAV = Color.GREEN
const list<Color> COLORS = [Color.RED, Color.BLUE, 2]
const map<Color, string> NAMES = {Color.RED: "red", Color.GREEN: "green"}
const list<i32> NUMS = [A, B, 3]
struct S { 1: Color c = Color.BLUE, 2: i32 n = A }
