struct B { 1: string s }
