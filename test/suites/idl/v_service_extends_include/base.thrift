service Base {
  string ping()
}
