struct B {
  1: Unknown u
}
