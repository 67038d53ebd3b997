/** The program doc. */
namespace py docs

/** A typedef. */
typedef i32 T

/**
 * A struct,
 *   with an indented line.
 */
struct S {
  /** A field. */
  1: i32 a
  /** Another
   * field. */
  2: string b
}

/** An enum. */
enum E {
  /** The first value. */
  A,
  B
}

/** A constant. */
const i32 K = 1

/** A service. */
service Svc {
  /** A function. */
  void f()
}
