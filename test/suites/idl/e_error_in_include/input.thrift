include "bad.thrift"
struct A {}
