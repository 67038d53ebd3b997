struct User { 1: string name }
struct Post {
  1: Usr author
}
