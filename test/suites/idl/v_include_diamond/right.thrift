include "base.thrift"
struct R { 1: base.B b }
