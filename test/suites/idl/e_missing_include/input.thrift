include "nowhere.thrift"
struct A {}
