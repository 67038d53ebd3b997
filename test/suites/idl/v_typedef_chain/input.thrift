typedef i32 A
typedef A B
typedef B C
typedef list<C> Cs
struct S { 1: C c, 2: Cs cs }
const C THREE = 3
