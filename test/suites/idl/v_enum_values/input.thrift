enum Implicit { A, B, C }
enum Explicit { X = 5, Y = 10, Z = 20 }
enum Mixed { P, Q = 10, R, S = 3, T }
enum Hex { H1 = 0x10, H2 = 0xff, H3 }
enum Negative { N1 = -1, N2, N3 = -100, N4 }
enum Limits { LOW = -2147483648, HIGH = 2147483647 }
