enum Lang { C, GO }
const Lang L = Lang.RUST
