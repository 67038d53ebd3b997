typedef string Name
struct S {
  1: Name n = "cafÃ"
}
