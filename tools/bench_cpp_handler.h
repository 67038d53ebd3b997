// The Bench service's handler for the Apache C++ servers that
// tools/bench_net.sh and tools/bench_transport.sh build from libthrift-dev
// as their reference peers: the same answers as tools/bench_server.
#pragma once
#include "Bench.h"

class BenchHandler : public bench::BenchIf {
  public:
    void ping() override {}
    void echo(bench::Payload &ret, const bench::Payload &p) override { ret = p; }
    int64_t add(const int64_t a, const int64_t b) override { return a + b; }
    void fire(const int32_t) override {}
    void fail(bench::Payload &, const int32_t code) override {
        bench::BenchError e;
        e.code = code;
        e.message = "failed";
        throw e;
    }
};
