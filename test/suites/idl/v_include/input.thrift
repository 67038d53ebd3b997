include "shared.thrift"

struct User {
  1: shared.Id id
  2: shared.Point where = {"x": 1, "y": 2}
}
const i32 MAX = shared.LIMIT
