// A tiny key-value store: state kept by the server between calls.
namespace py kv

service KV {
  string ping(),
  void setk(1: string key, 2: string value),
  /** The value stored under key, or "" when there is none. */
  string getk(1: string key),
  list<string> keys(),
}
