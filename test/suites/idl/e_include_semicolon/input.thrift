include "b.thrift";
struct A {}
