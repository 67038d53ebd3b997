include "a.thrift"
struct Top {}
