struct X xsd_all {
  1: i32 a xsd_optional xsd_nillable
  2: map cpp_type "std::unordered_map<int, int>" <i32, i32> m
  3: list<i32> cpp_type "std::deque<int>" l
}
