include "sub/a.thrift"
struct Top { 1: a.A a }
