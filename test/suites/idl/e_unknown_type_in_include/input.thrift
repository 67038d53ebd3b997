include "inc.thrift"
struct A { 1: inc.Nope n }
