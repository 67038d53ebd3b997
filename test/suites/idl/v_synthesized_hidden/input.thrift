struct Item { 1: string name }
exception Oops { 1: string why }
service S {
  Item get(1: i64 id, 2: bool fresh) throws (1: Oops oops)
  void drop(1: i64 id)
  list<Item> all()
  map<string, Item> index() throws (5: Oops late)
}
