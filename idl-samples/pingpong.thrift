// The smallest useful service: the README's quickstart and the demo use it.
namespace py pingpong
namespace cpp pingpong

service PingPong {
  /** Answers "pong". */
  string ping(),
  /** a + b, widened to i64. */
  i64 add(1: i32 a, 2: i64 b),
}
