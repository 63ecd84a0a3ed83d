// StreamSelect: the candidate buffer the first pass over a row fills for the one-pass top-k and
// min-p paths (sampling.h). Entries stay in id order; the buffer is cut back whenever it fills.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "mtrl/cpu_features.h"
#include "mtrl/sampling.h"

#if MTRL_X86
#include <immintrin.h>
#endif

namespace mtrl::cpu::sampling_detail {

void StreamSelect::reset(int64_t k_, bool min_p_, double delta, size_t cap_) {
  k = k_;
  min_p = min_p_;
  min_p_delta = delta;
  tau = -INFINITY;
  tau_min_p = -INFINITY;
  cap = cap_ + 16;
  n = 0;
  overflow = false;
  if (val.size() < cap + 16) {
    val.resize(cap + 16);
    idx.resize(cap + 16);
  }
}

void StreamSelect::push(const float* v, int64_t base, uint32_t mask) {
  while (mask) {
    int j = __builtin_ctz(mask);
    mask &= mask - 1;
    val[n] = v[j];
    idx[n] = static_cast<int32_t>(base + j);
    ++n;
  }
  if (n + 16 > cap) compact();
}

void StreamSelect::on_max(float running_max) {
  // A token is in the min-p set iff (y - m) * invT >= log(minP) (float ops, m the final max >=
  // running_max), which implies y >= running_max + log(minP) / invT up to a few ulps; the margin
  // below keeps the bound conservative (the exact test runs on the candidates at the end).
  double t = static_cast<double>(running_max) + min_p_delta * (1.0 + 1e-5) - 1e-5 * std::fabs(static_cast<double>(running_max)) - 1e-30;
  if (!(t > -static_cast<double>(FLT_MAX))) return;
  float tf = static_cast<float>(t);
  if (static_cast<double>(tf) > t) tf = std::nextafter(tf, -INFINITY);
  if (tf > tau_min_p) tau_min_p = tf;
  if (tf > tau) tau = tf;
}

namespace {
#if MTRL_X86
// The k-th largest of v[0, n) (1 <= k <= n; no NaN), found bit by bit on order-preserving integer
// keys: 32 rounds of "how many keys are >= this prefix", 16 lanes per compare. The buffer holds a
// few hundred entries; this is ~8x faster than std::nth_element on them, which was a third of a
// top-k row's time (B = 512, V = 32000). −0 is read as +0 so equal floats share one key.
MTRL_TARGET_AVX512 float kth_largest_avx512(const float* v, size_t n, size_t k, std::vector<uint32_t>& keys) {
  keys.resize((n + 15) / 16 * 16);
  const __m512i sign = _mm512_set1_epi32(INT32_MIN);
  size_t i = 0;
  for (; i < n; i += 16) {
    const __mmask16 lm = n - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - i)) - 1u);
    __m512i u = _mm512_castps_si512(_mm512_add_ps(_mm512_maskz_loadu_ps(lm, v + i), _mm512_setzero_ps()));
    // Negative floats: flip every bit; others: set the sign bit. Padding lanes get key 0 (never counted: keys >= 1 below).
    const __mmask16 neg = _mm512_test_epi32_mask(u, sign);
    u = _mm512_mask_xor_epi32(_mm512_or_si512(u, sign), neg, u, _mm512_set1_epi32(-1));
    _mm512_storeu_si512(keys.data() + i, _mm512_maskz_mov_epi32(lm, u));
  }
  uint32_t ans = 0;
  for (int bit = 31; bit >= 0; --bit) {
    const uint32_t cand = ans | (1u << bit);
    const __m512i c = _mm512_set1_epi32(static_cast<int32_t>(cand));
    size_t count = 0;
    for (size_t j = 0; j < keys.size(); j += 16)
      count += static_cast<size_t>(__builtin_popcount(_mm512_cmpge_epu32_mask(_mm512_loadu_si512(keys.data() + j), c)));
    if (count >= k) ans = cand;
  }
  const uint32_t u = ans & 0x80000000u ? ans & 0x7fffffffu : ~ans;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
#endif

thread_local std::vector<uint32_t> select_keys;

// The k-th largest entry of val[0, n).
float kth_largest(const std::vector<float>& val, size_t n, size_t k, std::vector<float>& tmp) {
#if MTRL_X86
  if (simd_level() == SimdLevel::AVX512) return kth_largest_avx512(val.data(), n, k, select_keys);
#endif
  tmp.assign(val.begin(), val.begin() + static_cast<std::ptrdiff_t>(n));
  std::nth_element(tmp.begin(), tmp.begin() + static_cast<std::ptrdiff_t>(k - 1), tmp.end(), std::greater<float>());
  return tmp[k - 1];
}

// Cuts the buffer to the first k entries of the sampling order (value desc, id asc); returns the
// k-th value.
float select_top_k(std::vector<float>& val, std::vector<int32_t>& idx, size_t& n, size_t k, std::vector<float>& tmp) {
  float vk = kth_largest(val, n, k, tmp);
  size_t gt = 0;
  for (size_t j = 0; j < n; ++j) gt += val[j] > vk;
  size_t eq_left = k - gt, o = 0;  // equal values: the lowest ids (earliest entries) win
  for (size_t j = 0; j < n; ++j) {
    float v = val[j];
    if (v > vk || (v == vk && eq_left > 0)) {
      if (v == vk) --eq_left;
      val[o] = v;
      idx[o] = idx[j];
      ++o;
    }
  }
  n = o;
  return vk;
}
thread_local std::vector<float> select_tmp;
}  // namespace

void StreamSelect::compact() {
  if (k > 0 && n > static_cast<size_t>(k)) {
    float vk = select_top_k(val, idx, n, static_cast<size_t>(k), select_tmp);
    if (vk > tau) tau = vk;
  }
  if (min_p) {
    size_t o = 0;
    for (size_t j = 0; j < n; ++j)
      if (val[j] > tau_min_p) val[o] = val[j], idx[o] = idx[j], ++o;
    n = o;
  }
  if (n + 16 > cap / 2 + 16 && !(k > 0 && n <= static_cast<size_t>(k))) {
    overflow = true;  // could not cut back: stop collecting, the caller takes the general path
    tau = INFINITY;
  }
}

void StreamSelect::finish() {
  if (k > 0 && n > static_cast<size_t>(k)) select_top_k(val, idx, n, static_cast<size_t>(k), select_tmp);
}

}  // namespace mtrl::cpu::sampling_detail
