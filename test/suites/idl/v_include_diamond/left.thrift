include "base.thrift"
struct L { 1: base.B b }
