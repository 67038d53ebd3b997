const double D1 = 1.5
const double D2 = 1e10
const double D3 = -2.5E-3
const double D4 = 3
const double D5 = 0.1
const double D6 = +6.02e+23
const double D7 = 1.7976931348623157e308
const double D8 = -0.0
