// Schema shared by the JSON mapping suite cases (each case keeps a copy).
enum Color {
  RED = 1,
  GREEN = 2,
  NEGATIVE = -7,
}

struct Address {
  1: required string street,
  2: optional string city,
  3: i32 zip,
}

union Choice {
  1: i32 number,
  2: string text,
  3: Address address,
}

struct User {
  1: required i64 id,
  2: string name,
  3: optional Address address,
  4: Color color = Color.RED,
  5: i8 tiny,
  6: i16 small,
  7: binary avatar,
  8: uuid tag,
  9: double score,
  10: bool active,
  11: optional i32 medium = 5,
}

struct Payload {
  1: required i64 request_id,
  2: list<User> users,
  3: map<i32, string> by_id,
  4: map<Color, i64> by_color,
  5: map<Address, i32> by_address,
  6: set<string> names,
  7: optional Choice choice,
  8: map<i64, list<double>> series,
  9: map<bool, string> by_flag,
  10: list<map<string, set<i16>>> nested,
}
