include "base.thrift"
service Derived extends base.Base {
  void extra()
}
