service Base {
  string ping()
  i32 version()
}
service Middle extends Base {
  void reset()
}
service Top extends Middle {
  void top()
}
