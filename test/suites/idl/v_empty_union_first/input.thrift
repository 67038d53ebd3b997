// An empty definition before any field was parsed in the load (a fuzz_idl
// crash: the field stack was still unallocated).
union e{}
struct s {}
exception x {}
service v {}
