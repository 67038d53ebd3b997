// Apache reads this as infinity and writes `inf` into generated code.
const double D = -1e999
