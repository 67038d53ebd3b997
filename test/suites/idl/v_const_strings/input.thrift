const string S1 = "plain"
const string S2 = 'single quoted'
const string S3 = "tab\tnewline\ncr\rbackslash\\quote\"apos\'"
const string S4 = 'double " inside single'
const string S5 = "single ' inside double"
const string S6 = ""
const string S7 = "non-ascii: Grüße 中文"
const binary B1 = "bytes"
