struct Point { 1: i32 x = 0 i32 y 
  2: list<Point> corners = [{"y": 0}, {"x": 0, "y": 0}]
  3: map<string, list<i32>> tags = {"a": [0, 2]}
  4: set<i32> small = [0, 2]
  5: double ratio = 2
}
