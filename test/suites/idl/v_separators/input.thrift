struct Commas { 1: i32 a, 2: i32 b, }
struct Semis { 1: i32 a; 2: i32 b; }
struct Nothing { 1: i32 a 2: i32 b }
enum E { A, B; C D }
service S {
  void a(),
  void b();
  void c()
  void d(1: i32 x, 2: i32 y,)
}
typedef i32 T;
const i32 K = 1;
const i32 K2 = 2,
