struct S { 1: Later l, 2: LaterList ll }
typedef string Later
typedef list<Later> LaterList
