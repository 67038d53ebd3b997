// A ThriftTest client on Apache Thrift's C++ library (libthrift-dev), compiled
// by test/interop/cross_test.py against code that `thrift --gen cpp` makes
// from ThriftTest.thrift (v0.16: the 0.17 C++ peer has no uuid).  It calls
// the dynthrift thrift_test_server and checks the answers; the exit status is
// the cross-test bitmask (1 base types, 2 structs, 4 containers,
// 8 exceptions, 64 unknown).
//
//   cpp_client HOST PORT buffered|framed binary|compact|json [multiplex]
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/protocol/TCompactProtocol.h>
#include <thrift/protocol/TJSONProtocol.h>
#include <thrift/protocol/TMultiplexedProtocol.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TSocket.h>

#include "SecondService.h"
#include "ThriftTest.h"

using apache::thrift::TApplicationException;
using apache::thrift::TException;
using apache::thrift::protocol::TBinaryProtocol;
using apache::thrift::protocol::TCompactProtocol;
using apache::thrift::protocol::TJSONProtocol;
using apache::thrift::protocol::TMultiplexedProtocol;
using apache::thrift::protocol::TProtocol;
using apache::thrift::transport::TBufferedTransport;
using apache::thrift::transport::TFramedTransport;
using apache::thrift::transport::TSocket;
using apache::thrift::transport::TTransport;
using apache::thrift::transport::TTransportException;
using namespace thrift::test;

// The generated code declares operator< for structs that are set elements or
// map keys (CrazyNesting holds a set<Insanity>) and leaves its definition to
// the user.  Any strict weak ordering will do: this client never puts an
// Insanity in a set.
bool Insanity::operator<(const Insanity &other) const {
  if (userMap != other.userMap)
    return userMap < other.userMap;
  return xtructs.size() < other.xtructs.size();
}

static int rc = 0;
static int checks = 0;

static void fail(int bit, const std::string &what) {
  rc |= bit;
  std::cout << "*** FAILED *** " << what << std::endl;
}

// Runs one check: `body` returns whether the answer was right; any
// exception it lets out is a failure of `bit` too.
template <typename F>
static void check(int bit, const char *name, F body) {
  ++checks;
  try {
    if (!body())
      fail(bit, std::string(name) + ": unexpected result");
  } catch (TTransportException &e) {
    fail(bit, std::string(name) + ": transport: " + e.what());
  } catch (TException &e) {
    fail(bit, std::string(name) + ": " + e.what());
  }
}

static Xtruct xtruct(const std::string &s, int8_t b, int32_t i, int64_t l) {
  Xtruct x;
  x.__set_string_thing(s);
  x.__set_byte_thing(b);
  x.__set_i32_thing(i);
  x.__set_i64_thing(l);
  return x;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    std::cerr << "usage: cpp_client HOST PORT buffered|framed binary|compact|json [multiplex]\n";
    return 64;
  }
  const std::string host = argv[1], transport_name = argv[3], protocol_name = argv[4];
  const int port = std::atoi(argv[2]);
  const bool multiplex = argc > 5 && std::string(argv[5]) == "multiplex";

  auto socket = std::make_shared<TSocket>(host, port);
  socket->setRecvTimeout(20000);
  socket->setSendTimeout(20000);
  std::shared_ptr<TTransport> transport;
  if (transport_name == "framed")
    transport = std::make_shared<TFramedTransport>(socket);
  else
    transport = std::make_shared<TBufferedTransport>(socket);
  std::shared_ptr<TProtocol> protocol;
  if (protocol_name == "compact")
    protocol = std::make_shared<TCompactProtocol>(transport);
  else if (protocol_name == "json")
    protocol = std::make_shared<TJSONProtocol>(transport);
  else
    protocol = std::make_shared<TBinaryProtocol>(transport);
  std::shared_ptr<TProtocol> second_protocol;
  if (multiplex) {
    second_protocol = std::make_shared<TMultiplexedProtocol>(protocol, "SecondService");
    protocol = std::make_shared<TMultiplexedProtocol>(protocol, "ThriftTest");
  }
  try {
    transport->open();
  } catch (TException &e) {
    std::cout << "cannot connect: " << e.what() << std::endl;
    return 64;
  }
  ThriftTestClient client(protocol);

  check(1, "testVoid", [&] {
    client.testVoid();
    return true;
  });
  check(1, "testString", [&] {
    std::string out;
    const std::string in = "C++ \xE2\x86\x94 dynthrift \"quoted\" \\ \n\t end";
    client.testString(out, in);
    return out == in;
  });
  check(1, "testString(empty)", [&] {
    std::string out = "x";
    client.testString(out, "");
    return out.empty();
  });
  if (multiplex) {
    SecondServiceClient second(second_protocol);
    check(8, "secondtestString", [&] {
      std::string out;
      second.secondtestString(out, "foo");
      return out == "testString(\"foo\")";
    });
  }
  check(1, "testBool", [&] { return client.testBool(true) && !client.testBool(false); });
  check(1, "testByte", [&] { return client.testByte(-128) == -128 && client.testByte(127) == 127; });
  check(1, "testI32", [&] {
    return client.testI32(INT32_MIN) == INT32_MIN && client.testI32(-1) == -1;
  });
  for (int64_t v : {int64_t(0), int64_t(-1), int64_t(-34359738368LL), INT64_MAX, INT64_MIN,
                    int64_t(7000000000000000123LL)})
    check(1, "testI64", [&] { return client.testI64(v) == v; });
  for (double v : {0.0, -1.0, -5.235098235, -0.000341012439638598279, 1e307, 1e-292,
                   9007199254740991.0})
    check(1, "testDouble", [&] { return client.testDouble(v) == v; });
  check(1, "testBinary", [&] {
    std::string in, out;
    for (int i = 0; i < 70000; i++)
      in.push_back(static_cast<char>(i * 31 + 7));
    client.testBinary(out, in);
    return out == in;
  });
  check(2, "testStruct", [&] {
    Xtruct out;
    const Xtruct in = xtruct("Zero", 1, -3, -5);
    client.testStruct(out, in);
    return out == in;
  });
  check(2, "testNest", [&] {
    Xtruct2 in, out;
    in.__set_byte_thing(1);
    in.__set_struct_thing(xtruct("Zero", 1, -3, -5));
    in.__set_i32_thing(5);
    client.testNest(out, in);
    return out == in;
  });
  check(4, "testMap", [&] {
    std::map<int32_t, int32_t> in, out;
    for (int32_t i = 0; i < 5; i++)
      in[i] = i - 10;
    client.testMap(out, in);
    return out == in;
  });
  check(4, "testStringMap", [&] {
    std::map<std::string, std::string> in{{"a", "2"}, {"b", "blah"}, {"some", "thing"}}, out;
    client.testStringMap(out, in);
    return out == in;
  });
  check(4, "testSet", [&] {
    std::set<int32_t> in{-2, -1, 0, 1, 2}, out;
    client.testSet(out, in);
    return out == in;
  });
  check(4, "testList", [&] {
    std::vector<int32_t> in{1, 4, 9, -42}, out;
    client.testList(out, in);
    return out == in;
  });
  check(2, "testEnum", [&] {
    return client.testEnum(Numberz::FIVE) == Numberz::FIVE &&
           client.testEnum(Numberz::EIGHT) == Numberz::EIGHT;
  });
  check(2, "testTypedef", [&] { return client.testTypedef(309858235082523LL) == 309858235082523LL; });
  check(4, "testMapMap", [&] {
    std::map<int32_t, std::map<int32_t, int32_t>> out;
    client.testMapMap(out, 1);
    return out.size() == 2 && out[-4].size() == 4 && out[4].size() == 4 && out[-4][-3] == -3 &&
           out[4][2] == 2;
  });
  check(2, "testInsanity", [&] {
    Insanity in;
    in.userMap[Numberz::FIVE] = 5;
    in.userMap[Numberz::EIGHT] = 8;
    in.xtructs.push_back(xtruct("Goodbye4", 4, 4, 4));
    in.xtructs.push_back(xtruct("Hello2", 2, 2, 2));
    in.__isset.userMap = in.__isset.xtructs = true;
    std::map<UserId, std::map<Numberz::type, Insanity>> out;
    client.testInsanity(out, in);
    return out.size() == 2 && out[1].size() == 2 && out[1][Numberz::TWO] == in &&
           out[1][Numberz::THREE] == in && out[2].size() == 1 && out[2][Numberz::SIX] == Insanity();
  });
  check(2, "testMulti", [&] {
    Xtruct out;
    client.testMulti(out, 42, 4242, 424242, {{1, "blah"}, {2, "thing"}}, Numberz::EIGHT, 24);
    return out == xtruct("Hello2", 42, 4242, 424242);
  });
  check(8, "testException(Xception)", [&] {
    try {
      client.testException("Xception");
    } catch (Xception &e) {
      return e.errorCode == 1001 && e.message == "Xception";
    }
    return false;
  });
  check(8, "testException(TException)", [&] {
    try {
      client.testException("TException");
    } catch (TApplicationException &) {
      return true;
    }
    return false;
  });
  check(8, "testException(success)", [&] {
    client.testException("success");
    return true;
  });
  check(8, "testMultiException(Xception2)", [&] {
    try {
      Xtruct out;
      client.testMultiException(out, "Xception2", "test 2");
    } catch (Xception2 &e) {
      return e.errorCode == 2002 && e.struct_thing.string_thing == "This is an Xception2";
    }
    return false;
  });
  check(8, "testMultiException(success)", [&] {
    Xtruct out;
    client.testMultiException(out, "success", "test 3");
    return out.string_thing == "test 3";
  });
  check(1, "testOneway", [&] {
    auto start = std::chrono::steady_clock::now();
    client.testOneway(1);
    auto took = std::chrono::steady_clock::now() - start;
    // The next two-way call must get its own reply: a server answering the
    // oneway call would shift every reply by one.
    return took < std::chrono::milliseconds(200) && client.testI32(-1) == -1;
  });
  transport->close();
  std::cout << checks << " checks, exit " << rc << std::endl;
  return rc;
}
