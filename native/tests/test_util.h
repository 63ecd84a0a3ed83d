// A small native test runner: MTRL_TEST(group, name) registers a test, the CHECK macros record
// failures with file:line, SKIP() marks a test skipped with a reason (e.g. no CUDA device). The
// group is the test file's name so ctest can run each file as its own test.
#pragma once
#include <cmath>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "mtrl/runtime.h"
#include "mtrl/tensor.h"

namespace mtrl::test {

struct Skip {
  std::string reason;
};

struct Case {
  std::string group, name;
  std::function<void()> fn;
};
std::vector<Case>& registry();
struct Registrar {
  Registrar(const char* group, const char* name, std::function<void()> fn) { registry().push_back({group, name, std::move(fn)}); }
};
void fail(const std::string& msg, const char* file, int line);
void note(const std::string& msg);  // printed under the test's name (max errors and the like)

// Fresh random inputs each run unless MTRL_TEST_SEED is set; the seed is printed on failure.
std::mt19937_64& rng();
std::vector<float> random_floats(size_t n, float lo = -1.0f, float hi = 1.0f);

// True in the emulated CUDA build (native/cuda_emu: the .cu kernels run on the CPU through HIP-CPU,
// cuda:0 is the emulator). The emulator is slow, so the CUDA-vs-CPU tests use smaller shapes there.
#ifdef MTRL_CUDA_EMULATED
constexpr bool kEmulatedCuda = true;
#else
constexpr bool kEmulatedCuda = false;
#endif

// True (and the device) when a CUDA device can run kernels; else the reason to skip.
bool cuda_ready(std::string* reason);
inline void require_cuda() {
  std::string reason;
  if (!cuda_ready(&reason)) throw Skip{reason};
}

Tensor tensor_from(const std::vector<float>& v, const std::vector<int64_t>& shape, Device dev = Device{});
std::vector<float> to_vector(const Tensor& t);

// max |a - b| / (atol + rtol * |b|) style check; returns the max abs error.
double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace mtrl::test

#define MTRL_TEST_CONCAT2(a, b) a##b
#define MTRL_TEST_CONCAT(a, b) MTRL_TEST_CONCAT2(a, b)
#define MTRL_TEST(group, name)                                                                                   \
  static void MTRL_TEST_CONCAT(mtrl_test_, name)();                                                               \
  static ::mtrl::test::Registrar MTRL_TEST_CONCAT(mtrl_test_reg_, name)(#group, #name, &MTRL_TEST_CONCAT(mtrl_test_, name)); \
  static void MTRL_TEST_CONCAT(mtrl_test_, name)()

#define CHECK(cond)                                                         \
  do {                                                                      \
    if (!(cond)) ::mtrl::test::fail("CHECK(" #cond ") failed", __FILE__, __LINE__); \
  } while (0)
#define CHECK_MSG(cond, msg)                                                \
  do {                                                                      \
    if (!(cond)) {                                                          \
      std::ostringstream mtrl_os_;                                          \
      mtrl_os_ << msg;                                                      \
      ::mtrl::test::fail(mtrl_os_.str(), __FILE__, __LINE__);               \
    }                                                                       \
  } while (0)
#define CHECK_NEAR(a, b, tol) CHECK_MSG(std::fabs((double)(a) - (double)(b)) <= (tol), #a " = " << (a) << " vs " #b " = " << (b) << " (tol " << (tol) << ")")
#define CHECK_THROWS(stmt)                          \
  do {                                              \
    bool mtrl_threw_ = false;                       \
    try {                                           \
      stmt;                                         \
    } catch (const std::exception&) {               \
      mtrl_threw_ = true;                           \
    }                                               \
    CHECK_MSG(mtrl_threw_, #stmt " did not throw"); \
  } while (0)
#define SKIP(reason) throw ::mtrl::test::Skip{reason}
