typedef list<i32> (cpp.template = "std::list") IntList (td = "yes")
typedef string (unicode.encoding = "UTF-16") Utf16
struct S {
  1: i32 a (presence = "required", flag),
  2: list<double (cpp.fixed_point = "16")> (x = "y") b
  3: map<string (k = "1"), i32 (v = "2")> c
} (cpp.type = "DenseS", python.type = "S", annotation.without.value, trailing = "comma",)
union U { 1: i32 a } (u = "1")
exception X { 1: string m } (x = "2")
enum E {
  A (ea = "1"),
  B = 2 (eb = "2")
} (e = "3")
service Svc {
  void f(1: i32 a (arg = "1")) throws (1: X x (thr = "1")) (deprecated, fa = "b")
} (svc = "1")
