typedef A B
typedef B A
