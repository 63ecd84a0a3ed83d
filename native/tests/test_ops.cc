// Native checks of the foundation ops: CPU against double-precision references, every SIMD level,
// and CUDA against CPU where a device exists.
#include <cstring>

#include "mtrl/bf16.h"
#include "mtrl/cpu_features.h"
#include "mtrl/ops.h"
#include "test_util.h"

using namespace mtrl;
using namespace mtrl::test;

MTRL_TEST(test_ops, elementwise_all_simd_levels) {
  for (SimdLevel lvl : {SimdLevel::Scalar, SimdLevel::AVX2, SimdLevel::AVX512}) {
    set_simd_level(lvl);
    for (int64_t n : {1, 7, 33, 100003}) {
      auto a = random_floats(n), b = random_floats(n);
      Tensor ta = tensor_from(a, {n}), tb = tensor_from(b, {n}), out = empty({n}, DType::F32, Device{});
      binary(BinaryOp::Add, ta, tb, out, "add");
      auto o = to_vector(out);
      for (int64_t i = 0; i < n; ++i) CHECK_MSG(o[i] == a[i] + b[i], "add mismatch at " << i);
      binary(BinaryOp::Mul, ta, tb, out, "mul");
      o = to_vector(out);
      for (int64_t i = 0; i < n; ++i) CHECK_MSG(o[i] == a[i] * b[i], "mul mismatch at " << i);
      scale(ta, 2.5, -1.0, out);
      o = to_vector(out);
      for (int64_t i = 0; i < n; ++i) CHECK_MSG(std::fabs(o[i] - (2.5f * a[i] - 1.0f)) <= 1e-6f, "scale mismatch at " << i);
    }
  }
  set_simd_level(SimdLevel::AVX512);
  note(std::string("best level: ") + simd_level_name(simd_level()));
}

MTRL_TEST(test_ops, randn_statistics) {
  Tensor t = empty({200001}, DType::F32, Device{});
  randn(t, 42, 0.0, 1.0);
  auto v = to_vector(t);
  double s = 0, s2 = 0;
  for (float x : v) s += x, s2 += double(x) * x;
  double mean = s / v.size(), var = s2 / v.size() - mean * mean;
  CHECK_NEAR(mean, 0.0, 0.01);
  CHECK_NEAR(var, 1.0, 0.02);
  Tensor t2 = empty({200001}, DType::F32, Device{});
  randn(t2, 42, 0.0, 1.0);
  CHECK(max_abs_diff(v, to_vector(t2)) == 0.0);
  note("mean " + std::to_string(mean) + ", var " + std::to_string(var));
}

MTRL_TEST(test_ops, matmul_reference_vs_double) {
  int64_t m = 13, n = 17, k = 29;
  auto a = random_floats(m * k), b = random_floats(k * n);
  Tensor out = empty({m, n}, DType::F32, Device{});
  matmul_reference(tensor_from(a, {m, k}), tensor_from(b, {k, n}), out, MatmulParams{});
  auto o = to_vector(out);
  double maxerr = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t kk = 0; kk < k; ++kk) acc += double(a[i * k + kk]) * b[kk * n + j];
      maxerr = std::max(maxerr, std::fabs(acc - o[i * n + j]));
    }
  CHECK(maxerr < 1e-5);
  note("max abs error " + std::to_string(maxerr));
}

MTRL_TEST(test_ops, bf16_round_trip) {
  CHECK(bf16_to_f32(f32_to_bf16(1.0f)) == 1.0f);
  CHECK(bf16_to_f32(f32_to_bf16(-2.5f)) == -2.5f);
  CHECK(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
  CHECK(bf16_to_f32(f32_to_bf16(1.00390625f)) == 1.0f);  // ties to even
}

MTRL_TEST(test_ops, cuda_matches_cpu) {
  require_cuda();
  Device gpu{Device::CUDA, 0};
  int64_t n = 100003;
  auto a = random_floats(n), b = random_floats(n);
  Tensor ga = tensor_from(a, {n}, gpu), gb = tensor_from(b, {n}, gpu), go = empty({n}, DType::F32, gpu);
  binary(BinaryOp::Add, ga, gb, go, "add");
  auto o = to_vector(go);
  for (int64_t i = 0; i < n; ++i) CHECK_MSG(o[i] == a[i] + b[i], "cuda add mismatch at " << i);
  Tensor rc = empty({1001}, DType::F32, Device{}), rg = empty({1001}, DType::F32, gpu);
  randn(rc, 7, 0.0, 1.0);
  randn(rg, 7, 0.0, 1.0);
  double d = max_abs_diff(to_vector(rc), to_vector(rg));
  CHECK_MSG(d <= 1e-6, "randn cpu vs cuda max diff " << d);
  note("randn cpu vs cuda max diff " + std::to_string(d));
  int64_t m = 33, k = 65, nn = 17;
  auto x = random_floats(m * k), y = random_floats(k * nn);
  Tensor oc = empty({m, nn}, DType::F32, Device{}), og = empty({m, nn}, DType::F32, gpu);
  matmul_reference(tensor_from(x, {m, k}), tensor_from(y, {k, nn}), oc, MatmulParams{});
  matmul_reference(tensor_from(x, {m, k}, gpu), tensor_from(y, {k, nn}, gpu), og, MatmulParams{});
  CHECK(max_abs_diff(to_vector(oc), to_vector(og)) <= 1e-5);
}
