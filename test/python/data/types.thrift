// Every type the binding converts, shaped like Apache's ThriftTest.
namespace py tt_types

include "shared.thrift"

typedef i64 UserId
typedef list<string> Names

enum Numberz { ONE = 1, TWO, THREE, FIVE = 5, SIX, EIGHT = 8 }

struct Bonk {
  1: string message,
  2: i32 type,
}

struct Xtruct {
  1: string string_thing,
  4: byte byte_thing,
  9: i32 i32_thing,
  11: i64 i64_thing,
}

struct Xtruct2 {
  1: byte byte_thing,
  2: Xtruct struct_thing,
  3: i32 i32_thing,
}

struct Everything {
  1: bool b,
  2: byte i8v,
  3: i16 i16v,
  4: i32 i32v,
  5: i64 i64v,
  6: double d,
  7: string s,
  8: binary bin,
  9: Numberz num = Numberz.TWO,
  10: list<i32> ints,
  11: set<string> strs,
  12: map<string, Xtruct> structs,
  13: list<map<i32, set<i64>>> nested,
  14: shared.Point point,
  15: UserId uid,
  16: Names names,
  17: list<double> doubles = [1.5, -2.0],
  18: map<i32, string> idx = {1: "one"},
  19: optional string opt,
  20: required i32 req = 7,
}

union Choice {
  1: i32 n,
  2: string s,
  3: Xtruct x,
}

exception Xception {
  1: i32 errorCode,
  2: string message,
}

exception Xception2 {
  1: i32 errorCode,
  2: Xtruct struct_thing,
}

const list<i32> PRIMES = [2, 3, 5, 7]
const map<string, Numberz> BY_NAME = {"one": Numberz.ONE, "six": Numberz.SIX}
const Xtruct SAMPLE = {"string_thing": "s", "i32_thing": 9}
const shared.Color FAVOURITE = shared.Color.BLUE

service Base {
  void ping(),
}

service ThriftTest extends Base {
  string testString(1: string thing),
  i64 testI64(1: i64 thing),
  Xtruct testStruct(1: Xtruct thing),
  Everything testEverything(1: Everything thing),
  Xtruct testMultiException(1: string arg0, 2: string arg1)
      throws (1: Xception err1, 2: Xception2 err2),
  oneway void testOneway(1: i32 secondsToSleep),
}
