struct A {}
/* never closed
