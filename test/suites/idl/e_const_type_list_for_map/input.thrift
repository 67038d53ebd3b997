const map<string, i32> M = [1, 2]
