const list<i32> L = [1, "two", 3]
