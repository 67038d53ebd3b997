include "input.thrift"
struct A {}
