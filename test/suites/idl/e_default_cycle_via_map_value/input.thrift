struct Node {
  1: map<string, Node> next = {"a": {}}
}
