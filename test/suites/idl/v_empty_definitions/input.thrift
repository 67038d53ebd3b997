struct Empty {}
union EmptyUnion {}
exception EmptyError {}
service EmptyService {}
enum EmptyEnum {}
