// binary constants may hold any bytes; doubles may underflow to 0.
const binary B = "ÿþ"
const double TINY = 1e-999
const double BIG = 1.7976931348623157e308
