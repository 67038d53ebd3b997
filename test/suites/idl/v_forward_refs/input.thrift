exception LaterError { 1: string msg }
service Early {
  Later get(1: LaterEnum e) throws (1: LaterError err)
}
struct Uses { 1: Later l, 2: LaterEnum e }
struct Later { 1: i32 x }
enum LaterEnum { A, B }
