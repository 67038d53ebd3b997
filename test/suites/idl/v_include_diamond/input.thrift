include "left.thrift"
include "right.thrift"
struct Top { 1: left.L l, 2: right.R r }
