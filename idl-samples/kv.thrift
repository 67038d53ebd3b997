// A tiny key-value store: state kept by the server between calls.
namespace py kv

exception KeyNotFound {
  1: string key,
}

service KV {
  string ping(),
  void setk(1: string key, 2: string value),
  string getk(1: string key),
  list<string> keys(),
}
