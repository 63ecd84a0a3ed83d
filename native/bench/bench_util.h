// Native benchmark harness (no Node needed, so it runs on a GPU machine as is):
// MTRL_BENCH(name) registers a benchmark; bench::time_ms() times a callable with warm-up and
// returns the median, synchronising the device so GPU work is counted; bench::report() prints one
// aligned row and collects CSV lines (same columns as benchmarks/harness.ts).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "mtrl/common.h"

namespace mtrl::bench {

struct Case {
  std::string name;
  std::function<void()> fn;
};
std::vector<Case>& registry();
struct Registrar {
  Registrar(const char* name, std::function<void()> fn) { registry().push_back({name, std::move(fn)}); }
};

struct Timing {
  double p50 = 0, p20 = 0, p80 = 0;
  int samples = 0;
};

// Times fn on `device` (synchronising CUDA before and after every repetition).
Timing time_ms(const std::function<void()>& fn, Device device, int warmup = 3, int min_reps = 10, double budget_ms = 1000);

// op, impl, mode, shape, timing, metric name and value, device name.
void report(const std::string& op, const std::string& impl, const std::string& mode, const std::string& shape, const Timing& t,
            const std::string& metric, double value, const std::string& device);

bool quick();  // --quick: smaller grids

}  // namespace mtrl::bench

#define MTRL_BENCH_CONCAT2(a, b) a##b
#define MTRL_BENCH_CONCAT(a, b) MTRL_BENCH_CONCAT2(a, b)
#define MTRL_BENCH(name)                                                                                       \
  static void MTRL_BENCH_CONCAT(mtrl_bench_, name)();                                                          \
  static ::mtrl::bench::Registrar MTRL_BENCH_CONCAT(mtrl_bench_reg_, name)(#name, &MTRL_BENCH_CONCAT(mtrl_bench_, name)); \
  static void MTRL_BENCH_CONCAT(mtrl_bench_, name)()
