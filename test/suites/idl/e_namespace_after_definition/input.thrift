struct A {}
namespace py late
