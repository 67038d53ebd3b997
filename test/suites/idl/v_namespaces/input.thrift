namespace py example.py
namespace * example.all
namespace py.twisted example.twisted
namespace java org.example (package.annotation = "x")
namespace cpp example.cpp
struct A {}
