const bool T = true
const bool F = false
const bool ONE = 1
const bool ZERO = 0
