service Fire {
  oneway void forget(1: string what)
  oneway void nothing()
  void normal()
}
