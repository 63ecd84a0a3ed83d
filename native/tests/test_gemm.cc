// Native checks of the GEMM: the raw-pointer CPU kernel against a double reference at every SIMD
// level (transposes, alpha/beta, leading dimensions larger than the matrix, block boundaries), the
// threading contract (sgemm called per block from inside an OpenMP region), bf16, and CUDA against
// CPU where a device exists.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "mtrl/bf16.h"
#include "mtrl/cpu_features.h"
#include "mtrl/gemm.h"
#include "mtrl/ops.h"
#include "test_util.h"

#ifdef _OPENMP
#include <omp.h>
#endif

using namespace mtrl;
using namespace mtrl::test;

namespace {

std::string sci(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3e", v);
  return b;
}

// C = alpha op(A) op(B) + beta C in double, row-major with leading dimensions.
void ref_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const std::vector<float>& A, int64_t lda,
              const std::vector<float>& B, int64_t ldb, double beta, std::vector<double>& C, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t p = 0; p < k; ++p) acc += double(ta ? A[p * lda + i] : A[i * lda + p]) * (tb ? B[j * ldb + p] : B[p * ldb + j]);
      C[i * ldc + j] = alpha * acc + (beta != 0 ? beta * C[i * ldc + j] : 0.0);
    }
}

// Runs one strided sgemm (leading dims padded by `pad`) and returns the max error relative to
// the bound k·2^-22·Σ|a||b| style tolerance (<= 1 passes).
double check_one(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, float beta, int64_t pad, double* max_abs) {
  const int64_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
  const int64_t lda = ac + pad, ldb = bc + pad, ldc = n + pad;
  auto A = random_floats(size_t(ar * lda)), B = random_floats(size_t(br * ldb)), C0 = random_floats(size_t(m * ldc));
  std::vector<float> C = C0;
  std::vector<double> R(C0.begin(), C0.end());
  cpu::sgemm(ta, tb, m, n, k, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
  ref_gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, R, ldc);
  double worst = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < ldc; ++j) {
      double e = std::fabs(C[i * ldc + j] - R[i * ldc + j]);
      if (j >= n) {
        // padding columns must be untouched
        if (C[i * ldc + j] != C0[i * ldc + j]) worst = INFINITY;
        continue;
      }
      *max_abs = std::max(*max_abs, e);
      worst = std::max(worst, e / (1e-5 + 1e-6 * k + 1e-5 * std::fabs(R[i * ldc + j])));
    }
  return worst;
}

}  // namespace

MTRL_TEST(test_gemm, sgemm_vs_double_all_levels) {
  const int64_t shapes[][3] = {{1, 1, 1}, {5, 3, 7}, {14, 32, 9}, {29, 63, 17}, {33, 97, 130}, {70, 45, 400}};
  double max_abs = 0;
  for (SimdLevel lvl : {SimdLevel::Scalar, SimdLevel::AVX2, SimdLevel::AVX512}) {
    set_simd_level(lvl);
    for (auto& s : shapes)
      for (int t = 0; t < 4; ++t) {
        double w = check_one(t & 1, t & 2, s[0], s[1], s[2], 0.7f, t == 3 ? -0.5f : 0.0f, t, &max_abs);
        CHECK_MSG(w <= 1.0, cpu::sgemm_kernel_name() << " m=" << s[0] << " n=" << s[1] << " k=" << s[2] << " ta=" << (t & 1)
                                                      << " tb=" << bool(t & 2) << " error ratio " << w);
      }
  }
  set_simd_level(SimdLevel::AVX512);
  note("max abs error " + sci(max_abs) + " (kernel now: " + cpu::sgemm_kernel_name() + ")");
}

MTRL_TEST(test_gemm, block_boundaries) {
  double max_abs = 0;
  // K past KC (384/256), N past NB (480/384), M past MB (3024 for AVX-512).
  CHECK(check_one(false, false, 40, 30, 1000, 1.0f, 0.0f, 0, &max_abs) <= 1.0);
  CHECK(check_one(false, true, 20, 1000, 33, 1.0f, 1.0f, 3, &max_abs) <= 1.0);   // short K: one wide N block
  CHECK(check_one(false, true, 20, 1000, 400, 1.0f, 1.0f, 3, &max_abs) <= 1.0);  // K past KC: N blocks of NB
  CHECK(check_one(true, false, 3100, 20, 12, 2.0f, 0.5f, 0, &max_abs) <= 1.0);
  note("max abs error " + sci(max_abs));
}

MTRL_TEST(test_gemm, split_k_and_split_n_small_products) {
  // Small C and long K run with K split over the threads (private partials, summed in a fixed
  // order); other small products with C's columns split (each thread packs A itself). Three threads
  // so the shares are uneven; every transpose, beta 0 and beta != 0.
#ifdef _OPENMP
  const int before = omp_get_max_threads();
  omp_set_num_threads(3);
#endif
  // K split: the first four; columns split with private packs (small products): the last three.
  const int64_t shapes[][3] = {{64, 128, 15104}, {5, 7, 5000}, {128, 128, 4000}, {31, 65, 3333}, {256, 256, 256}, {128, 1024, 128}, {7, 200, 50}};
  double max_abs = 0;
  for (auto& s : shapes)
    for (int t = 0; t < 4; ++t) {
      double w = check_one(t & 1, t & 2, s[0], s[1], s[2], 0.7f, t % 2 ? 0.5f : 0.0f, t, &max_abs);
      CHECK_MSG(w <= 1.0, "m=" << s[0] << " n=" << s[1] << " k=" << s[2] << " ta=" << (t & 1) << " tb=" << bool(t & 2) << " error ratio " << w);
    }
#ifdef _OPENMP
  omp_set_num_threads(before);
#endif
  note("max abs error " + sci(max_abs));
}

MTRL_TEST(test_gemm, prepacked_operands_match_sgemm) {
  // sgemm_prepacked with op(A), op(B) or both packed once gives the same bits as sgemm: at every SIMD
  // level, every transpose, across the K slice, N block and M block boundaries and with padded ld.
  const int64_t shapes[][3] = {{5, 3, 7}, {29, 63, 17}, {70, 45, 400}, {40, 1000, 33}, {3100, 20, 12}, {262, 500, 512}};
  int64_t checked = 0;
  for (SimdLevel lvl : {SimdLevel::Scalar, SimdLevel::AVX2, SimdLevel::AVX512}) {
    set_simd_level(lvl);
    for (auto& s : shapes)
      for (int t = 0; t < 4; ++t) {
        const bool ta = t & 1, tb = t & 2;
        const int64_t m = s[0], n = s[1], k = s[2], pad = t;
        const int64_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad;
        auto A = random_floats(size_t((ta ? k : m) * lda)), B = random_floats(size_t((tb ? n : k) * ldb));
        auto C0 = random_floats(size_t(m * n));
        std::vector<float> want = C0;
        cpu::sgemm(ta, tb, m, n, k, 0.7f, A.data(), lda, B.data(), ldb, 0.5f, want.data(), n);
        // Packed buffers must be 64-byte aligned, as the driver's own are (the kernels load B panels aligned).
        auto aligned = [](int64_t floats) {
          return std::unique_ptr<float, void (*)(void*)>(static_cast<float*>(std::aligned_alloc(64, size_t((floats * 4 + 63) / 64 * 64))), std::free);
        };
        auto pa = aligned(cpu::sgemm_packed_a_floats(m, k)), pb = aligned(cpu::sgemm_packed_b_floats(k, n));
        cpu::sgemm_pack_a(ta, m, k, A.data(), lda, pa.get());
        cpu::sgemm_pack_b(tb, k, n, B.data(), ldb, pb.get());
        for (int which = 1; which < 4; ++which) {
          std::vector<float> got = C0;
          cpu::sgemm_prepacked(ta, tb, m, n, k, 0.7f, A.data(), lda, which & 1 ? pa.get() : nullptr, B.data(), ldb,
                               which & 2 ? pb.get() : nullptr, 0.5f, got.data(), n);
          CHECK_MSG(max_abs_diff(got, want) == 0.0, cpu::sgemm_kernel_name() << " m=" << m << " n=" << n << " k=" << k << " ta=" << ta
                                                                            << " tb=" << tb << " prepacked " << which << ": differs by "
                                                                            << max_abs_diff(got, want));
          ++checked;
        }
      }
  }
  set_simd_level(SimdLevel::AVX512);
  note(std::to_string(checked) + " prepacked products bit-identical to sgemm");
}

MTRL_TEST(test_gemm, callable_inside_openmp_region) {
  // The policy-loss contract: threads each run sgemm on their own row block at once.
  const int64_t m = 96, n = 70, k = 50;
  auto A = random_floats(m * k), B = random_floats(k * n);
  std::vector<float> C(m * n, 0.0f), C1(m * n, 0.0f);
  cpu::sgemm(false, false, m, n, k, 1.0f, A.data(), k, B.data(), n, 0.0f, C1.data(), n);
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < 8; ++blk)
    cpu::sgemm(false, false, 12, n, k, 1.0f, A.data() + blk * 12 * k, k, B.data(), n, 0.0f, C.data() + blk * 12 * n, n);
  CHECK_MSG(max_abs_diff(C, C1) == 0.0, "per-block results differ from one call: " << max_abs_diff(C, C1));
}

MTRL_TEST(test_gemm, tensor_entry_batched_bf16) {
  const int64_t b = 3, m = 17, n = 23, k = 31;
  auto a = random_floats(b * m * k), w = random_floats(k * n);
  Tensor out = empty({b, m, n}, DType::F32, Device{});
  gemm(tensor_from(a, {b, m, k}), tensor_from(w, {k, n}), out, GemmParams{});
  auto o = to_vector(out);
  double max_abs = 0;
  for (int64_t bi = 0; bi < b; ++bi) {
    std::vector<float> ab(a.begin() + bi * m * k, a.begin() + (bi + 1) * m * k);
    std::vector<double> R(m * n, 0.0);
    ref_gemm(false, false, m, n, k, 1.0, ab, k, w, n, 0.0, R, n);
    for (int64_t i = 0; i < m * n; ++i) max_abs = std::max(max_abs, std::fabs(o[bi * m * n + i] - R[i]));
  }
  CHECK(max_abs < 1e-4);
  // bf16: the reference takes the rounded inputs, so what remains is f32 accumulation and the one
  // rounding of the output (bf16 unit roundoff 2^-8, with 2x margin for the f32 sum).
  std::vector<uint16_t> ah(a.size()), wh(w.size()), oh(b * m * n);
  std::vector<float> ar(a.size()), wr(w.size());
  for (size_t i = 0; i < a.size(); ++i) ar[i] = bf16_to_f32(ah[i] = f32_to_bf16(a[i]));
  for (size_t i = 0; i < w.size(); ++i) wr[i] = bf16_to_f32(wh[i] = f32_to_bf16(w[i]));
  cpu::bgemm_strided_batched(false, false, m, n, k, 1.0f, ah.data(), k, m * k, wh.data(), n, 0, 0.0f, oh.data(), n, m * n, b);
  double max_rel = 0;
  for (int64_t bi = 0; bi < b; ++bi) {
    std::vector<float> ab(ar.begin() + bi * m * k, ar.begin() + (bi + 1) * m * k);
    std::vector<double> R(m * n, 0.0);
    ref_gemm(false, false, m, n, k, 1.0, ab, k, wr, n, 0.0, R, n);
    for (int64_t i = 0; i < m * n; ++i)
      max_rel = std::max(max_rel, std::fabs(bf16_to_f32(oh[bi * m * n + i]) - R[i]) / (1e-5 + std::fabs(R[i]) / 128));
  }
  CHECK_MSG(max_rel <= 1.0, "bf16 error ratio (err / (1e-5 + |ref|/128)) " << max_rel);
  note("f32 max abs error " + sci(max_abs) + ", bf16 error ratio " + sci(max_rel));
}

MTRL_TEST(test_gemm, cuda_matches_cpu) {
  require_cuda();
  Device gpu{Device::CUDA, 0};
  const int64_t shapes[][3] = {{1, 1, 1}, {67, 129, 45}, {130, 70, 300}, {256, 256, 256}, {1000, 33, 64}};
  double worst32 = 0, worst16 = 0;
  for (auto& s : shapes)
    for (int t = 0; t < 4; ++t) {
      const int64_t m = s[0], n = s[1], k = s[2];
      GemmParams p;
      p.trans_a = t & 1;
      p.trans_b = t & 2;
      p.alpha = 0.5f;
      p.beta = t == 3 ? 1.0f : 0.0f;
      std::vector<int64_t> as = p.trans_a ? std::vector<int64_t>{2, k, m} : std::vector<int64_t>{2, m, k};
      std::vector<int64_t> bs = p.trans_b ? std::vector<int64_t>{n, k} : std::vector<int64_t>{k, n};
      auto a = random_floats(2 * m * k), b = random_floats(k * n), c = random_floats(2 * m * n);
      Tensor oc = tensor_from(c, {2, m, n}), og = tensor_from(c, {2, m, n}, gpu);
      gemm(tensor_from(a, as), tensor_from(b, bs), oc, p);
      gemm(tensor_from(a, as, gpu), tensor_from(b, bs, gpu), og, p);
      double d = max_abs_diff(to_vector(oc), to_vector(og));
      worst32 = std::max(worst32, d);
      CHECK_MSG(d <= 1e-5 * std::sqrt(double(k)) + 1e-5, "f32 m=" << m << " n=" << n << " k=" << k << " t=" << t << " diff " << d);
      // bf16 (tensor cores on sm_80+) against the CPU bf16 path
      Tensor ab = empty(as, DType::BF16, Device{}), bb = empty(bs, DType::BF16, Device{});
      cast(tensor_from(a, as), ab);
      cast(tensor_from(b, bs), bb);
      Tensor cb = empty({2, m, n}, DType::BF16, Device{}), gb = empty({2, m, n}, DType::BF16, gpu);
      p.beta = 0.0f;
      gemm(ab, bb, cb, p);
      gemm(to_device(ab, gpu), to_device(bb, gpu), gb, p);
      auto vc = to_vector(cb), vg = to_vector(gb);
      double rel = 0;
      for (size_t i = 0; i < vc.size(); ++i) rel = std::max(rel, std::fabs(vc[i] - vg[i]) / (0.05 + std::fabs(vc[i])));
      worst16 = std::max(worst16, rel);
      CHECK_MSG(rel < 0.02, "bf16 m=" << m << " n=" << n << " k=" << k << " rel diff " << rel);
    }
  note("cuda vs cpu: f32 max abs diff " + sci(worst32) + ", bf16 max rel diff " + sci(worst16));
}
