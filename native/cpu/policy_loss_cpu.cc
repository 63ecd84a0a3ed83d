// CPU kernels of the fused policy loss: online softmax statistics (max, Σexp, entropy moment,
// selected logit) and the per-element gradient of logits rows, for f32 and bf16, with an AVX-512 path
// and a portable scalar path picked at run time; and the two passes of the fused-linear path over a
// chunk of token rows, where each thread owns a slice of the vocabulary and walks it in cache-sized
// blocks (GEMM → statistics, or GEMM → gradient → dW and dH GEMMs while the block is still in L2), so
// a pass costs one parallel region and the logits block never round-trips through memory.
// GCC 12 reports the intentionally undefined pass-through operand inside its own AVX-512 intrinsic
// headers (_mm512_undefined_*) as "(may be) used uninitialized"; a known false positive. The pragma
// must precede the includes because the warning is located in the header.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "mtrl/bf16.h"
#include "mtrl/cpu_features.h"
#include "mtrl/gemm.h"
#include "mtrl/policy_loss.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#if MTRL_X86
#include <immintrin.h>
#endif

namespace mtrl::cpu {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Merges block statistics (bm, bs, bu) into the running state {m, s, u, zt}. With u measured
// relative to the row's own max, moving to a new max M rescales as u' = e^(m−M)(u + s(m − M)).
inline void merge_state(float* st, float bm, float bs, float bu, bool first) {
  if (first) {
    st[0] = bm, st[1] = bs, st[2] = bu;
    return;
  }
  float m = st[0], s = st[1], u = st[2];
  if (bs == 0.0f && !(bm != bm)) return;  // an all −inf block adds nothing
  if (s == 0.0f && !(m != m)) {
    st[0] = bm, st[1] = bs, st[2] = bu;
    return;
  }
  float M = std::max(m, bm);
  if (m != m || bm != bm) M = std::numeric_limits<float>::quiet_NaN();
  float ea = std::exp(m - M), eb = std::exp(bm - M);
  st[0] = M;
  st[1] = s * ea + bs * eb;
  st[2] = ea * (u + s * (m - M)) + eb * (bu + bs * (bm - M));
}

inline float load_f(const float* p, int64_t i) { return p[i]; }
inline float load_f(const uint16_t* p, int64_t i) { return bf16_to_f32(p[i]); }

// ---------------------------------------------------------------- scalar (portable) path
template <typename T>
void row_stats_scalar(const T* z, int64_t vb, float inv_temp, float* bm, float* bs, float* bu) {
  float mx = kNegInf;
  bool nan = false;
  for (int64_t i = 0; i < vb; ++i) {
    float x = load_f(z, i);
    if (x != x) nan = true;
    mx = x > mx ? x : mx;
  }
  float m = nan ? std::numeric_limits<float>::quiet_NaN() : mx * inv_temp;
  float s = 0.0f, u = 0.0f;
  for (int64_t i = 0; i < vb; ++i) {
    float t = load_f(z, i) * inv_temp - m;
    float e = std::exp(t);
    s += e;
    if (e > 0.0f || e != e) u += e * t;
  }
  *bm = m, *bs = s, *bu = u;
}

template <typename T, typename O>
void row_grad_scalar(const T* z, int64_t vb, float inv_temp, float lse, float a, float b, O* dz) {
  for (int64_t i = 0; i < vb; ++i) {
    float t = load_f(z, i) * inv_temp - lse;
    float p = std::exp(t);
    float d = p > 0.0f || p != p ? p * (a + b * t) : 0.0f;
    if constexpr (std::is_same_v<O, float>) dz[i] = d;
    else dz[i] = f32_to_bf16(d);
  }
}

#if MTRL_X86
// ---------------------------------------------------------------- AVX-512 path
// exp(x) to ~1 ulp (Cephes expf polynomial, scalef for the 2^n): −inf and x < −104 give 0, NaN stays
// NaN (operand order of max/min keeps a NaN in the second operand).
MTRL_TARGET_AVX512 inline __m512 exp512(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(-110.0f), x);
  x = _mm512_min_ps(_mm512_set1_ps(88.7228f), x);
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  __m512 r2 = _mm512_mul_ps(r, r);
  p = _mm512_fmadd_ps(p, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

MTRL_TARGET_AVX512 inline __m512 load16(const float* p) { return _mm512_loadu_ps(p); }
MTRL_TARGET_AVX512 inline __m512 load16(const uint16_t* p) {
  __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}
MTRL_TARGET_AVX512 inline __m512 load16_tail(const float* p, __mmask16 k, float fill) {
  return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), k, p);
}
MTRL_TARGET_AVX512 inline __m512 load16_tail(const uint16_t* p, __mmask16 k, float fill) {
  __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, p));
  return _mm512_mask_blend_ps(k, _mm512_set1_ps(fill), _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
}

// f32 → bf16 with round-to-nearest-even, NaN kept quiet (same as f32_to_bf16).
MTRL_TARGET_AVX512 inline __m256i to_bf16x16(__m512 v) {
  __m512i bits = _mm512_castps_si512(v);
  __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
  __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(0x40));
  return _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(nan, rounded, quiet));
}
MTRL_TARGET_AVX512 inline void store16(float* p, __m512 v) { _mm512_storeu_ps(p, v); }
MTRL_TARGET_AVX512 inline void store16(uint16_t* p, __m512 v) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), to_bf16x16(v));
}
MTRL_TARGET_AVX512 inline void store16_tail(float* p, __mmask16 k, __m512 v) { _mm512_mask_storeu_ps(p, k, v); }
MTRL_TARGET_AVX512 inline void store16_tail(uint16_t* p, __mmask16 k, __m512 v) { _mm256_mask_storeu_epi16(p, k, to_bf16x16(v)); }

template <typename T>
MTRL_TARGET_AVX512 void row_stats_avx512(const T* z, int64_t vb, float inv_temp, float* bm, float* bs, float* bu) {
  // Pass 1: the max (four accumulators hide the latency; NaN is caught in pass 2 through exp).
  __m512 m0 = _mm512_set1_ps(kNegInf), m1 = m0, m2 = m0, m3 = m0;
  int64_t i = 0;
  for (; i + 64 <= vb; i += 64) {
    m0 = _mm512_max_ps(m0, load16(z + i));
    m1 = _mm512_max_ps(m1, load16(z + i + 16));
    m2 = _mm512_max_ps(m2, load16(z + i + 32));
    m3 = _mm512_max_ps(m3, load16(z + i + 48));
  }
  for (; i + 16 <= vb; i += 16) m0 = _mm512_max_ps(m0, load16(z + i));
  if (i < vb) m1 = _mm512_max_ps(m1, load16_tail(z + i, static_cast<__mmask16>((1u << (vb - i)) - 1u), kNegInf));
  float mx = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3)));
  float m = mx * inv_temp;
  // Pass 2: s = Σ e, u = Σ e·t with t = z/τ − m (e·t taken as 0 where e underflows to 0, so −inf
  // logits add nothing instead of 0·∞ = NaN).
  const __m512 it = _mm512_set1_ps(inv_temp), vm = _mm512_set1_ps(m);
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, u0 = s0, u1 = s0;
  const __m512 zero = _mm512_setzero_ps();
  i = 0;
  for (; i + 32 <= vb; i += 32) {
    __m512 t0 = _mm512_fmsub_ps(load16(z + i), it, vm), t1 = _mm512_fmsub_ps(load16(z + i + 16), it, vm);
    __m512 e0 = exp512(t0), e1 = exp512(t1);
    s0 = _mm512_add_ps(s0, e0);
    s1 = _mm512_add_ps(s1, e1);
    u0 = _mm512_mask3_fmadd_ps(e0, t0, u0, _mm512_cmp_ps_mask(e0, zero, _CMP_NEQ_OQ) | _mm512_cmp_ps_mask(e0, e0, _CMP_UNORD_Q));
    u1 = _mm512_mask3_fmadd_ps(e1, t1, u1, _mm512_cmp_ps_mask(e1, zero, _CMP_NEQ_OQ) | _mm512_cmp_ps_mask(e1, e1, _CMP_UNORD_Q));
  }
  for (; i < vb; i += 16) {
    __mmask16 k = vb - i >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (vb - i)) - 1u);
    __m512 t0 = _mm512_fmsub_ps(load16_tail(z + i, k, kNegInf), it, vm);
    __m512 e0 = _mm512_maskz_mov_ps(k, exp512(t0));
    s0 = _mm512_add_ps(s0, e0);
    __mmask16 use = k & (_mm512_cmp_ps_mask(e0, zero, _CMP_NEQ_OQ) | _mm512_cmp_ps_mask(e0, e0, _CMP_UNORD_Q));
    u0 = _mm512_mask3_fmadd_ps(e0, t0, u0, use);
  }
  *bm = m;
  *bs = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
  *bu = _mm512_reduce_add_ps(_mm512_add_ps(u0, u1));
}

template <typename T, typename O>
MTRL_TARGET_AVX512 void row_grad_avx512(const T* z, int64_t vb, float inv_temp, float lse, float a, float b, O* dz) {
  const __m512 it = _mm512_set1_ps(inv_temp), vl = _mm512_set1_ps(lse), va = _mm512_set1_ps(a), vbv = _mm512_set1_ps(b);
  const __m512 zero = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= vb; i += 16) {
    __m512 t = _mm512_fmsub_ps(load16(z + i), it, vl);
    __m512 p = exp512(t);
    __mmask16 use = _mm512_cmp_ps_mask(p, zero, _CMP_NEQ_OQ) | _mm512_cmp_ps_mask(p, p, _CMP_UNORD_Q);
    store16(dz + i, _mm512_maskz_mul_ps(use, p, _mm512_fmadd_ps(vbv, t, va)));
  }
  if (i < vb) {
    __mmask16 k = static_cast<__mmask16>((1u << (vb - i)) - 1u);
    __m512 t = _mm512_fmsub_ps(load16_tail(z + i, k, 0.0f), it, vl);
    __m512 p = exp512(t);
    __mmask16 use = k & (_mm512_cmp_ps_mask(p, zero, _CMP_NEQ_OQ) | _mm512_cmp_ps_mask(p, p, _CMP_UNORD_Q));
    store16_tail(dz + i, k, _mm512_maskz_mul_ps(use, p, _mm512_fmadd_ps(vbv, t, va)));
  }
}
#endif

bool in_parallel() {
#ifdef _OPENMP
  return omp_in_parallel() != 0;
#else
  return false;
#endif
}

bool use_avx512() {
#if MTRL_X86
  return simd_level() == SimdLevel::AVX512;
#else
  return false;
#endif
}

template <typename T>
void stats_impl(const T* z, int64_t ld, const int64_t* rows, int64_t nrows, int64_t v0, int64_t vb, const int32_t* tokens,
                float inv_temp, float* state, bool first) {
  const bool avx = use_avx512();
  const bool par = nrows > 1 && nrows * vb > (1 << 15) && !in_parallel();
#pragma omp parallel for schedule(dynamic, 1) if (par)
  for (int64_t r = 0; r < nrows; ++r) {
    const T* zr = z + (rows ? rows[r] : r) * ld;
    float bm, bs, bu;
#if MTRL_X86
    if (avx) row_stats_avx512(zr, vb, inv_temp, &bm, &bs, &bu);
    else
#endif
      row_stats_scalar(zr, vb, inv_temp, &bm, &bs, &bu);
    float* st = state + 4 * r;
    merge_state(st, bm, bs, bu, first);
    int64_t tok = tokens[r];
    if (tok >= v0 && tok < v0 + vb) st[3] = load_f(zr, tok - v0) * inv_temp;
    else if (first) st[3] = std::numeric_limits<float>::quiet_NaN();  // set by the block holding the token
  }
  (void)avx;
}

template <typename T, typename O>
void grad_impl(const T* z, int64_t ld, const int64_t* rows, int64_t nrows, int64_t v0, int64_t vb, const int32_t* tokens,
               float inv_temp, const float* coef, O* dz, int64_t ld_out) {
  const bool avx = use_avx512();
  const bool par = nrows > 1 && nrows * vb > (1 << 15) && !in_parallel();
#pragma omp parallel for schedule(dynamic, 1) if (par)
  for (int64_t r = 0; r < nrows; ++r) {
    int64_t off = rows ? rows[r] : r;
    const T* zr = z + off * ld;
    O* dr = dz + off * ld_out;
    const float* c = coef + 4 * r;
    const float lse = c[0], a = c[1], b = c[2], g = c[3];
    int64_t tok = tokens[r];
    bool has_tok = tok >= v0 && tok < v0 + vb;
    // Read the token's logit before the row is (possibly) overwritten in place.
    float zt = has_tok ? load_f(zr, tok - v0) : 0.0f;
#if MTRL_X86
    if (avx) row_grad_avx512(zr, vb, inv_temp, lse, a, b, dr);
    else
#endif
      row_grad_scalar(zr, vb, inv_temp, lse, a, b, dr);
    if (has_tok) {
      float t = zt * inv_temp - lse;
      float p = std::exp(t);
      float d = (p > 0.0f ? p * (a + b * t) : 0.0f) + g;
      if constexpr (std::is_same_v<O, float>) dr[tok - v0] = d;
      else dr[tok - v0] = f32_to_bf16(d);
    }
  }
  (void)avx;
}

}  // namespace

void pl_stats(const void* z, DType dt, int64_t ld, const int64_t* rows, int64_t nrows, int64_t v0, int64_t vb,
              const int32_t* tokens, float inv_temp, float* state, bool first) {
  if (dt == DType::BF16) stats_impl(static_cast<const uint16_t*>(z), ld, rows, nrows, v0, vb, tokens, inv_temp, state, first);
  else stats_impl(static_cast<const float*>(z), ld, rows, nrows, v0, vb, tokens, inv_temp, state, first);
}

void pl_grad(const void* z, DType dt, int64_t ld, const int64_t* rows, int64_t nrows, int64_t v0, int64_t vb,
             const int32_t* tokens, float inv_temp, const float* coef, void* dz, DType dzt, int64_t ld_out) {
  if (dt == DType::BF16) {
    if (dzt == DType::BF16)
      grad_impl(static_cast<const uint16_t*>(z), ld, rows, nrows, v0, vb, tokens, inv_temp, coef, static_cast<uint16_t*>(dz), ld_out);
    else
      grad_impl(static_cast<const uint16_t*>(z), ld, rows, nrows, v0, vb, tokens, inv_temp, coef, static_cast<float*>(dz), ld_out);
  } else {
    if (dzt == DType::BF16)
      grad_impl(static_cast<const float*>(z), ld, rows, nrows, v0, vb, tokens, inv_temp, coef, static_cast<uint16_t*>(dz), ld_out);
    else
      grad_impl(static_cast<const float*>(z), ld, rows, nrows, v0, vb, tokens, inv_temp, coef, static_cast<float*>(dz), ld_out);
  }
}

void pl_zero_rows(void* dst, DType dt, int64_t ld, const int64_t* rows, int64_t nrows, int64_t width) {
  const size_t es = dtype_size(dt);
  const bool par = nrows > 1 && nrows * width > (1 << 16);
#pragma omp parallel for schedule(static) if (par)
  for (int64_t r = 0; r < nrows; ++r)
    std::memset(static_cast<char*>(dst) + (rows ? rows[r] : r) * ld * static_cast<int64_t>(es), 0, static_cast<size_t>(width) * es);
}

void pl_scatter_rows(const float* src, void* dst, DType dt, int64_t ld, const int64_t* rows, int64_t nrows, int64_t width) {
  const bool par = nrows > 1 && nrows * width > (1 << 16);
#pragma omp parallel for schedule(static) if (par)
  for (int64_t r = 0; r < nrows; ++r) {
    const float* s = src + r * width;
    int64_t off = (rows ? rows[r] : r) * ld;
    if (dt == DType::BF16) {
      uint16_t* d = static_cast<uint16_t*>(dst) + off;
      for (int64_t j = 0; j < width; ++j) d[j] = f32_to_bf16(s[j]);
    } else {
      std::memcpy(static_cast<float*>(dst) + off, s, static_cast<size_t>(width) * sizeof(float));
    }
  }
}

void pl_gather_rows(const void* src, DType dt, int64_t ld, const int64_t* rows, int64_t nrows, int64_t width, float* dst) {
  const bool par = nrows > 1 && nrows * width > (1 << 16);
#pragma omp parallel for schedule(static) if (par)
  for (int64_t r = 0; r < nrows; ++r) {
    float* d = dst + r * width;
    int64_t off = (rows ? rows[r] : r) * ld;
    if (dt == DType::BF16) {
      const uint16_t* s = static_cast<const uint16_t*>(src) + off;
      for (int64_t j = 0; j < width; ++j) d[j] = bf16_to_f32(s[j]);
    } else {
      std::memcpy(d, static_cast<const float*>(src) + off, static_cast<size_t>(width) * sizeof(float));
    }
  }
}

// ------------------------------------------------------------------------------------------ fused-linear passes
int pl_linear_threads() {
#ifdef _OPENMP
  return in_parallel() ? 1 : omp_get_max_threads();
#else
  return 1;
#endif
}

namespace {

// This thread's vocabulary slice [lo, hi) out of nt equal parts.
inline void slice(int64_t V, int t, int nt, int64_t* lo, int64_t* hi) {
  *lo = V * t / nt;
  *hi = V * (t + 1) / nt;
}
inline int thread_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}
inline int team_size() {
#ifdef _OPENMP
  return omp_get_num_threads();
#else
  return 1;
#endif
}

// f32 rows [v, v + m) of the weight: a pointer into it, or widened from bf16 into this thread's scratch.
const float* weight_rows(const PlLinear& L, int t, int64_t v, int64_t m) {
  if (L.wdt == DType::F32) return static_cast<const float*>(L.W) + v * L.d;
  float* dst = L.wscratch + static_cast<int64_t>(t) * L.B * L.d;
  const uint16_t* src = static_cast<const uint16_t*>(L.W) + v * L.d;
  for (int64_t i = 0; i < m * L.d; ++i) dst[i] = bf16_to_f32(src[i]);
  return dst;
}

// The logits block of columns [v, v + vb) for thread t, and its leading dimension.
inline float* z_block(const PlLinear& L, int t, int64_t v) {
  return L.full_layout ? L.Z + v : L.Z + static_cast<int64_t>(t) * L.c * L.B;
}

}  // namespace

void pl_linear_stats(const PlLinear& L, float* state) {
  const int want = pl_linear_threads();
  // Every vocabulary block multiplies the same chunk rows: pack them once for all threads.
  if (L.hc_pack_a) sgemm_pack_a(false, L.c, L.d, L.Hc, L.d, L.hc_pack_a);
  int used = 1;
  std::vector<char> empty_slice(static_cast<size_t>(want), 0);
#pragma omp parallel num_threads(want) if (want > 1)
  {
    const int t = thread_id(), nt = team_size();
#pragma omp single
    used = nt;
    int64_t lo, hi;
    slice(L.V, t, nt, &lo, &hi);
    float* st = L.part + static_cast<int64_t>(t) * L.c * 4;
    const int64_t ldz = L.full_layout ? L.V : L.B;
    empty_slice[static_cast<size_t>(t)] = lo >= hi;
    for (int64_t v = lo; v < hi; v += L.B) {
      const int64_t vb = std::min(L.B, hi - v);
      float* zb = z_block(L, t, v);
      sgemm_prepacked(false, true, L.c, vb, L.d, 1.0f, L.Hc, L.d, L.hc_pack_a, weight_rows(L, t, v, vb), L.d, nullptr, 0.0f, zb, ldz);
      pl_stats(zb, DType::F32, ldz, nullptr, L.c, v, vb, L.tok, L.inv_temp, st, v == lo);
    }
  }
  // Merge the slices' statistics in thread order (a fixed order: results do not depend on timing).
  for (int64_t r = 0; r < L.c; ++r) {
    float* dst = state + 4 * r;
    bool have = false;
    for (int t = 0; t < used; ++t) {
      if (empty_slice[static_cast<size_t>(t)]) continue;
      const float* src = L.part + (static_cast<int64_t>(t) * L.c + r) * 4;
      if (!have) {
        std::memcpy(dst, src, 4 * sizeof(float));
        have = true;
        continue;
      }
      float zt = dst[3];
      merge_state(dst, src[0], src[1], src[2], false);
      dst[3] = zt == zt ? zt : src[3];  // the slice that holds the token has its logit; the others NaN
    }
  }
}

void pl_linear_grad(const PlLinear& L, const float* coef, float* dW, float* dHc) {
  const int want = pl_linear_threads();
  if (L.recompute && L.hc_pack_a) sgemm_pack_a(false, L.c, L.d, L.Hc, L.d, L.hc_pack_a);
  if (L.hc_pack_b) sgemm_pack_b(false, L.c, L.d, L.Hc, L.d, L.hc_pack_b);
  int used = 1;
  std::vector<char> empty_slice(static_cast<size_t>(want), 0);
#pragma omp parallel num_threads(want) if (want > 1)
  {
    const int t = thread_id(), nt = team_size();
#pragma omp single
    used = nt;
    int64_t lo, hi;
    slice(L.V, t, nt, &lo, &hi);
    const int64_t ldz = L.full_layout ? L.V : L.B;
    float* dh = t == 0 ? dHc : L.part + static_cast<int64_t>(t) * L.c * L.d;
    empty_slice[static_cast<size_t>(t)] = lo >= hi;
    for (int64_t v = lo; v < hi; v += L.B) {
      const int64_t vb = std::min(L.B, hi - v);
      float* zb = z_block(L, t, v);
      const float* wb = weight_rows(L, t, v, vb);
      if (L.recompute) sgemm_prepacked(false, true, L.c, vb, L.d, 1.0f, L.Hc, L.d, L.hc_pack_a, wb, L.d, nullptr, 0.0f, zb, ldz);
      pl_grad(zb, DType::F32, ldz, nullptr, L.c, v, vb, L.tok, L.inv_temp, coef, zb, DType::F32, ldz);
      sgemm_prepacked(true, false, vb, L.d, L.c, 1.0f, zb, ldz, nullptr, L.Hc, L.d, L.hc_pack_b, L.dw_overwrite ? 0.0f : 1.0f,
                      dW + v * L.d, L.d);
      sgemm(false, false, L.c, L.d, vb, 1.0f, zb, ldz, wb, L.d, v == lo ? 0.0f : 1.0f, dh, L.d);
    }
    if (lo >= hi) std::memset(dh, 0, static_cast<size_t>(L.c * L.d) * sizeof(float));
  }
  // dHc = Σ over slices (thread 0 wrote straight into dHc).
  const int64_t n = L.c * L.d;
  for (int t = 1; t < used; ++t) {
    const float* p = L.part + static_cast<int64_t>(t) * n;
    for (int64_t i = 0; i < n; ++i) dHc[i] += p[i];
  }
  (void)empty_slice;
}

}  // namespace mtrl::cpu
