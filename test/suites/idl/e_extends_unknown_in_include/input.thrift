include "shared.thrift"
service S extends shared.NotExistService {}
