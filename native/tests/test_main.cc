// Entry point of the native test runner. Usage: mtrl_native_tests [--filter GROUP] [--name PREFIX] [--list]
// (--name keeps the tests whose name starts with PREFIX, e.g. `--name cuda` for the CUDA-vs-CPU tests).
// Prints one line per test and a closing "N passed, N failed, N skipped" line.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "mtrl/ops.h"
#include "test_util.h"

namespace mtrl::test {
namespace {
int g_failures_in_case = 0;
std::vector<std::string> g_notes;
uint64_t g_seed = 0;
}  // namespace

std::vector<Case>& registry() {
  static std::vector<Case> r;
  return r;
}

void fail(const std::string& msg, const char* file, int line) {
  ++g_failures_in_case;
  if (g_failures_in_case <= 5) std::cout << "    FAIL " << file << ":" << line << ": " << msg << "\n";
}

void note(const std::string& msg) { g_notes.push_back(msg); }

std::mt19937_64& rng() {
  static std::mt19937_64 r(g_seed);
  return r;
}

std::vector<float> random_floats(size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng());
  return v;
}

bool cuda_ready(std::string* reason) {
  CudaAvailability a = cuda_rt::availability();
  if (!a.available && reason) *reason = a.reason;
  return a.available;
}

Tensor tensor_from(const std::vector<float>& v, const std::vector<int64_t>& shape, Device dev) {
  Tensor host = empty(shape, DType::F32, Device{});
  if (static_cast<int64_t>(v.size()) != host.numel()) throw std::runtime_error("tensor_from: size mismatch");
  std::memcpy(host.raw(), v.data(), v.size() * 4);
  return dev.is_cpu() ? host : to_device(host, dev);
}

std::vector<float> to_vector(const Tensor& t) {
  Tensor host = t.device().is_cpu() ? t : to_device(t, Device{});
  if (host.dtype != DType::F32) {
    Tensor f = empty(host.shape, DType::F32, Device{});
    cast(host, f);
    host = f;
  }
  std::vector<float> v(static_cast<size_t>(host.numel()));
  if (!v.empty()) std::memcpy(v.data(), host.raw(), v.size() * 4);
  return v;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  if (a.size() != b.size()) return INFINITY;
  for (size_t i = 0; i < a.size(); ++i) {
    double d = std::fabs(static_cast<double>(a[i]) - b[i]);
    if (!(d <= m)) m = d;  // NaN propagates
  }
  return m;
}

}  // namespace mtrl::test

int main(int argc, char** argv) {
  using namespace mtrl::test;
  const char* filter = nullptr;
  const char* prefix = nullptr;
  bool list = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--filter") && i + 1 < argc) filter = argv[++i];
    else if (!std::strcmp(argv[i], "--name") && i + 1 < argc) prefix = argv[++i];
    else if (!std::strcmp(argv[i], "--list")) list = true;
  }
  const char* seed_env = std::getenv("MTRL_TEST_SEED");
  g_seed = seed_env ? std::strtoull(seed_env, nullptr, 10)
                    : static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  int passed = 0, failed = 0, skipped = 0;
  for (auto& c : registry()) {
    if (filter && c.group != filter) continue;
    if (prefix && c.name.rfind(prefix, 0) != 0) continue;
    if (list) {
      std::cout << c.group << "." << c.name << "\n";
      continue;
    }
    g_failures_in_case = 0;
    g_notes.clear();
    auto t0 = std::chrono::steady_clock::now();
    std::string status;
    try {
      c.fn();
      status = g_failures_in_case ? "FAIL" : "ok";
    } catch (const Skip& s) {
      status = "SKIP (" + s.reason + ")";
    } catch (const std::exception& e) {
      ++g_failures_in_case;
      status = std::string("FAIL (exception: ") + e.what() + ")";
    }
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "  " << c.group << "." << c.name << ": " << status << " [" << static_cast<int>(ms) << " ms]\n";
    for (auto& n : g_notes) std::cout << "    " << n << "\n";
    if (status.rfind("SKIP", 0) == 0) ++skipped;
    else if (g_failures_in_case) ++failed;
    else ++passed;
  }
  if (list) return 0;
  if (failed) std::cout << "seed: MTRL_TEST_SEED=" << g_seed << "\n";
  std::cout << passed << " passed, " << failed << " failed, " << skipped << " skipped\n";
  return failed ? 1 : 0;
}
