struct Point { 1: i32 x = 1, 2: i32 y }
struct Shape {
  1: Point origin = {"x": 5, "y": 6}
  2: list<Point> corners = [{"y": 1}, {"x": 2, "y": 2}]
  3: map<string, list<i32>> tags = {"a": [1, 2]}
  4: set<i16> small = [1, 2]
  5: double ratio = 2
}
