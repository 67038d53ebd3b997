// A string constant must be UTF-8 (binary may hold any bytes).
const string S = "aÿb"
