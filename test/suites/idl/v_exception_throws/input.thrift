exception NotFound { 1: string key }
exception Denied { 1: string who, 2: i32 code }
service Store {
  string get(1: string key) throws (1: NotFound nf, 2: Denied d)
  void put(1: string key, 2: string value) throws (2: Denied d)
  i32 size()
}
