include "lib.thrift"
struct X { 1: lib.L l }
