// Unfused baseline of the fused-linear policy loss (CPU, f32), for benchmarks and cross-checks: it
// materialises what an autograd framework keeps — the (N·T, V) logits, their log-softmax, the
// gradient of the log-probabilities and the gradient of the logits — then runs the two backward
// GEMMs. Same definitions and results as policy_loss_linear; only the memory traffic differs.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "mtrl/check.h"
#include "mtrl/cpu_features.h"
#include "mtrl/gemm.h"
#include "mtrl/policy_loss.h"

namespace mtrl {
namespace {

// exp for finite inputs, written so the compiler vectorises it (Cephes polynomial, exponent bits).
inline float vexp(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693359375f - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  return p * scale;
}

// logp = z/τ − logsumexp(z/τ) for one row.
inline void log_softmax_row(const float* z, float* logp, int64_t V, float it) {
  float mx = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : mx)
  for (int64_t v = 0; v < V; ++v) mx = std::max(mx, z[v]);
  const float m = mx * it;
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int64_t v = 0; v < V; ++v) s += vexp(z[v] * it - m);
  const float lse = m + std::log(s);
#pragma omp simd
  for (int64_t v = 0; v < V; ++v) logp[v] = z[v] * it - lse;
}

inline float entropy_row(const float* logp, int64_t V) {
  float h = 0.0f;
#pragma omp simd reduction(+ : h)
  for (int64_t v = 0; v < V; ++v) h -= vexp(logp[v]) * logp[v];
  return h;
}

// dlogp = g_H · dH/dlogp (+ g_lp at the token, added by the caller); dH/dlogp_v = −p_v (logp_v + 1).
inline void dlogp_row(const float* logp, float* dlogp, int64_t V, float g_H) {
#pragma omp simd
  for (int64_t v = 0; v < V; ++v) dlogp[v] = -g_H * vexp(logp[v]) * (logp[v] + 1.0f);
}

// Backward of log-softmax: dz = (dlogp − p · Σ dlogp) / τ.
inline void dz_row(const float* logp, const float* dlogp, float* dz, int64_t V, float it) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t v = 0; v < V; ++v) sum += dlogp[v];
#pragma omp simd
  for (int64_t v = 0; v < V; ++v) dz[v] = (dlogp[v] - vexp(logp[v]) * sum) * it;
}

void log_softmax_scalar(const float* z, float* lp, int64_t V, float it) { log_softmax_row(z, lp, V, it); }
MTRL_TARGET_AVX512 void log_softmax_avx512(const float* z, float* lp, int64_t V, float it) { log_softmax_row(z, lp, V, it); }
float entropy_scalar(const float* lp, int64_t V) { return entropy_row(lp, V); }
MTRL_TARGET_AVX512 float entropy_avx512(const float* lp, int64_t V) { return entropy_row(lp, V); }
void dlogp_scalar(const float* lp, float* d, int64_t V, float g) { dlogp_row(lp, d, V, g); }
MTRL_TARGET_AVX512 void dlogp_avx512(const float* lp, float* d, int64_t V, float g) { dlogp_row(lp, d, V, g); }
void dz_scalar(const float* lp, const float* d, float* dz, int64_t V, float it) { dz_row(lp, d, dz, V, it); }
MTRL_TARGET_AVX512 void dz_avx512(const float* lp, const float* d, float* dz, int64_t V, float it) { dz_row(lp, d, dz, V, it); }

}  // namespace

PolicyLossResult policy_loss_linear_unfused(const Tensor& hidden, const Tensor& weight, const PolicyLossBatch& batch,
                                            const PolicyLossParams& p) {
  const char* fn = "policyLossUnfused";
  check_dtype(hidden, DType::F32, fn, "hidden");
  check_dtype(weight, DType::F32, fn, "weight");
  check_ndim(hidden, 3, fn, "hidden", "(N, T, d)");
  check_ndim(weight, 2, fn, "weight", "(V, d)");
  if (!hidden.device().is_cpu() || !weight.device().is_cpu()) throw_type_error(std::string(fn) + ": the unfused baseline runs on the CPU only");
  if (weight.dim(1) != hidden.dim(2)) throw_range_error(std::string(fn) + ": weight must have shape (V, d) with d = hidden's last dim");
  const int64_t N = hidden.dim(0), T = hidden.dim(1), d = hidden.dim(2), V = weight.dim(0), M = N * T;
  const bool nll = p.loss_type == PgLossType::Nll;
  PgBatchHost hb = pg_prepare(batch, N, T, V, !nll, fn);
  const int64_t n = static_cast<int64_t>(hb.rows.size());
  const float it = static_cast<float>(1.0 / p.temperature);
  const bool avx = simd_level() == SimdLevel::AVX512;

  Tensor logits = empty({M, V}, DType::F32, Device{});
  cpu::sgemm(false, true, M, V, d, 1.0f, hidden.ptr<float>(), d, weight.ptr<float>(), d, 0.0f, logits.ptr<float>(), V);
  Tensor logp = empty({M, V}, DType::F32, Device{});
  float* LP = logp.ptr<float>();
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < M; ++r) {
    if (avx) log_softmax_avx512(logits.ptr<float>() + r * V, LP + r * V, V, it);
    else log_softmax_scalar(logits.ptr<float>() + r * V, LP + r * V, V, it);
  }
  std::vector<double> lp(n), H(n), g_lp(n), g_H(n);
#pragma omp parallel for schedule(static)
  for (int64_t j = 0; j < n; ++j) {
    const float* row = LP + hb.rows[j] * V;
    lp[j] = row[hb.tok[j]];
    H[j] = avx ? entropy_avx512(row, V) : entropy_scalar(row, V);
  }
  PgTerms terms(hb, p);
  terms.run(0, n, lp.data(), H.data(), g_lp.data(), g_H.data());

  PolicyLossResult res;
  res.loss = terms.loss();
  res.metrics = terms.metrics();
  res.logprobs = empty({N, T}, DType::F32, Device{});
  std::fill(res.logprobs.ptr<float>(), res.logprobs.ptr<float>() + M, 0.0f);
  for (int64_t j = 0; j < n; ++j) res.logprobs.ptr<float>()[hb.rows[j]] = static_cast<float>(lp[j]);
  if (!p.compute_grads) return res;

  Tensor dlogp = empty({M, V}, DType::F32, Device{});
  std::memset(dlogp.raw(), 0, dlogp.nbytes());
#pragma omp parallel for schedule(static)
  for (int64_t j = 0; j < n; ++j) {
    float* drow = dlogp.ptr<float>() + hb.rows[j] * V;
    const float* row = LP + hb.rows[j] * V;
    if (g_H[j] != 0.0) {
      if (avx) dlogp_avx512(row, drow, V, static_cast<float>(g_H[j]));
      else dlogp_scalar(row, drow, V, static_cast<float>(g_H[j]));
    }
    drow[hb.tok[j]] += static_cast<float>(g_lp[j]);
  }
  Tensor dz = empty({M, V}, DType::F32, Device{});
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < M; ++r) {
    if (avx) dz_avx512(LP + r * V, dlogp.ptr<float>() + r * V, dz.ptr<float>() + r * V, V, it);
    else dz_scalar(LP + r * V, dlogp.ptr<float>() + r * V, dz.ptr<float>() + r * V, V, it);
  }
  res.grad_hidden = empty(hidden.shape, DType::F32, Device{});
  cpu::sgemm(false, false, M, d, V, 1.0f, dz.ptr<float>(), V, weight.ptr<float>(), d, 0.0f, res.grad_hidden.ptr<float>(), d);
  res.grad_weight = empty(weight.shape, DType::F32, Device{});
  cpu::sgemm(true, false, V, d, M, 1.0f, dz.ptr<float>(), V, hidden.ptr<float>(), d, 0.0f, res.grad_weight.ptr<float>(), d);
  return res;
}

}  // namespace mtrl
