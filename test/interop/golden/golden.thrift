// Types for the golden codec tests (test/interop/golden_codec.py): every
// base type, containers nested and keyed by structs, unions, exceptions,
// requiredness and defaults, large and implicit field ids, a recursive
// struct, and two versions of one struct (an old reader meets new data).
namespace py dtgolden

enum Color {
  RED = 0,
  GREEN = 1,
  BLUE = 2,
  NEGATIVE = -5,
  LARGE = 2147483647,
}

typedef i64 UserId
typedef list<Color> Palette

struct Scalars {
  1: bool b,
  2: i8 tiny,
  3: i16 small,
  4: i32 medium,
  5: i64 big,
  6: double real,
  7: string text,
  8: binary blob,
  9: Color color,
  10: UserId user,
}

struct Point {
  1: i32 x,
  2: i32 y,
}

struct Containers {
  1: list<i32> ints,
  2: set<string> names,
  3: map<string, i64> counters,
  4: map<i32, string> by_number,
  5: map<Color, double> weights,
  6: list<list<i64>> matrix,
  7: map<Point, string> labels,
  8: set<Point> points,
  9: list<binary> blobs,
  10: map<i8, list<map<string, Point>>> deep,
  11: list<bool> flags,
  12: map<bool, i16> by_flag,
  13: list<double> reals,
  14: map<i64, set<i16>> groups,
  15: Palette palette,
  16: map<list<i32>, set<string>> keyed_by_list,
  17: map<i16, Color> colors_by_i16,
  18: map<binary, i32> by_blob,
}

struct Requiredness {
  1: required i32 needed,
  2: optional string maybe,
  3: i64 with_default = 42,
  4: optional Color optional_color = Color.BLUE,
  5: string plain = "plain",
  6: required Point where,
}

union Choice {
  1: i32 number,
  2: string text,
  3: Point point,
  4: list<string> words,
  5: binary raw,
}

struct WithUnion {
  1: Choice choice,
  2: optional Choice maybe,
  3: list<Choice> many,
}

exception Oops {
  1: i32 code,
  2: string message,
}

struct LargeIds {
  1: bool first,
  15: i32 fifteen,
  16: i32 sixteen,
  100: string hundred,
  1000: bool thousand,
  3000: i64 three_thousand,
  4000: double four_thousand,
  32767: i8 largest,
}

struct Tree {
  1: i32 value,
  2: list<Tree> children,
}

struct VersionV1 {
  1: i32 begin_in_both,
  3: string old_string,
  12: i32 end_in_both,
}

struct VersionV2 {
  1: i32 begin_in_both,
  2: i32 newint,
  3: string old_string,
  4: i8 newbyte,
  5: i16 newshort,
  6: i64 newlong,
  7: double newdouble,
  8: Point newstruct,
  9: list<i32> newlist,
  10: set<i32> newset,
  11: map<i32, i32> newmap,
  12: i32 end_in_both,
  13: string newstring,
  14: bool newbool,
  15: Containers newcontainers,
}

service Calc {
  i64 add(1: i64 a, 2: i64 b),
  void ping(),
  oneway void fire(1: i32 n),
  Point move(1: Point p, 2: Choice how) throws (1: Oops oops),
  Containers everything(1: Scalars s, 2: Containers c, 3: WithUnion u),
}
