const map<i32, string> M = {"one": "1"}
