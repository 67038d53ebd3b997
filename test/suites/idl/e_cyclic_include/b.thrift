include "a.thrift"
struct B {}
