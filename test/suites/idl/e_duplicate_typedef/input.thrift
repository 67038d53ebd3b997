typedef i32 T
typedef string T
