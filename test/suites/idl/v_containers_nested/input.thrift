struct C {
  1: list<i32> l
  2: set<string> s
  3: map<string, i64> m
  4: list<map<string, set<list<i32>>>> deep
  5: map<list<i32>, map<set<string>, double>> keys
  6: list<list<list<list<binary>>>> four
}
