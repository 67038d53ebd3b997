service Base { void f() }
service Derived extends Base { void f() }
