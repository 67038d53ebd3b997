struct Uses { 1: LaterEnum e = LaterEnum.B, 2: i32 n = LATE }
const i32 EARLY = LATE
const i32 LATE = 3
enum LaterEnum { A, B }
