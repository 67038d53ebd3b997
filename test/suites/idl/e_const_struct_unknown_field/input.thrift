struct User { 1: string name }
const User U = {"name": "a", "avatar": "b"}
