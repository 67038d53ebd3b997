enum Lang { C = 1, GO = 2 }
const Lang L = 3
