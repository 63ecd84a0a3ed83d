// The bandwidth-bound loops of CPU sampling (row max, exp sums, the weight pass, the kept mass and
// the inverse-CDF search), each as a scalar reference and AVX2 / AVX-512 versions picked at run
// time. Every version performs the same float operations in the same order per element (explicit
// FMAs, no contraction), so w and the integer weights q are bit-identical across levels; only the
// double-precision raw exp sum (used for rawLogprobs, never for a decision) is reassociated.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "mtrl/cpu_features.h"
#include "mtrl/sampling.h"

namespace mtrl::cpu::sampling_detail {
namespace {

// Constants of sampling_exp (sampling.h); the vector versions must use exactly these.
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kC1 = -0.693359375f, kC2 = 2.12194440e-4f;
constexpr float kP0 = 1.9875691500e-4f, kP1 = 1.3981999507e-3f, kP2 = 8.3334519073e-3f, kP3 = 4.1665795894e-2f,
                kP4 = 1.6666665459e-1f, kP5 = 5.0000001201e-1f;

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

inline uint8_t bucket_of(float y, float z) { return y > -INFINITY ? static_cast<uint8_t>(sample_bucket(z)) : uint8_t{255}; }

uint64_t weights_pass_scalar(const float* y, int64_t n, float m, float inv_t, float two_pow_s, float* w, uint8_t* bucket) {
  uint64_t q = 0;
  for (int64_t i = 0; i < n; ++i) {
    float z = sample_z(y[i], m, inv_t);
    float e = sampling_exp(z);
    w[i] = e;
    q += sample_fixed(e, two_pow_s);
    if (bucket) bucket[i] = bucket_of(y[i], z);
  }
  return q;
}

uint64_t kept_mass_scalar(const float* y, const float* w, int64_t lo, int64_t hi, const KeptSet& k) {
  uint64_t q = 0;
  for (int64_t i = lo; i < hi; ++i)
    if (kept(k, y[i], i)) q += sample_fixed(w[i], k.two_pow_s);
  return q;
}

int64_t find_token_scalar(const float* y, const float* w, int64_t lo, int64_t n, const KeptSet& k, uint64_t target, uint64_t cum) {
  for (int64_t i = lo; i < n; ++i) {
    if (!kept(k, y[i], i)) continue;
    cum += sample_fixed(w[i], k.two_pow_s);
    if (cum > target) return i;
  }
  return n;
}


// First pass over a row: per fixed segment, the max, the finite count, NaN/+inf, and the sum of
// exp(x - running max) (the running max is taken per block of 256 and the sum rescaled in double
// when it grows), plus streaming candidates (x > sel->tau).
constexpr int64_t kScanBlock = 256;
// The exp loop of a block runs from L1 without memory requests; software prefetch this many floats
// ahead keeps the next blocks streaming in meanwhile (the hardware prefetcher alone left the pass
// ~2x slower when the row is not in cache). Prefetching past the row's end is harmless.
constexpr int64_t kScanPrefetch = 2048;

void scan_scalar(const float* x, int64_t lo, int64_t hi, StreamSelect* sel, SegStat* segs) {
  int64_t si = 0;
  for (int64_t s0 = lo; s0 < hi; s0 += kScanSegment, ++si) {
    int64_t s1 = s0 + kScanSegment < hi ? s0 + kScanSegment : hi;
    SegStat st;
    float M = -INFINITY;
    double acc = 0.0;
    for (int64_t b0 = s0; b0 < s1; b0 += kScanBlock) {
      int64_t b1 = b0 + kScanBlock < s1 ? b0 + kScanBlock : s1;
      float bm = -INFINITY;
      for (int64_t i = b0; i < b1; ++i) {
        float v = x[i];
        if (!(v < INFINITY)) st.bad = true;
        if (v > -INFINITY) ++st.finite;
        if (v > bm) bm = v;
      }
      if (bm > M) {
        if (M > -INFINITY) acc *= std::exp(static_cast<double>(M) - static_cast<double>(bm));
        M = bm;
        if (sel && sel->min_p) sel->on_max(M);
      }
      for (int64_t i = b0; i < b1; ++i) {
        acc += sampling_exp(sample_z(x[i], M, 1.0f));
        if (sel && x[i] > sel->tau) sel->push(x + i, i, 1u);
      }
    }
    st.max = M;
    st.sum = acc;
    segs[si] = st;
  }
}

#if MTRL_X86
// ---- AVX-512 --------------------------------------------------------------------------------------
// exp on 16 lanes, before the scaling by 2^n: n = round(z·log2 e) and the polynomial e ≈ exp(z − n·ln 2).
MTRL_TARGET_AVX512 inline __m512 exp16_reduced(__m512 z, __m512* n_out) {
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(z, _mm512_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(kC1), z);
  r = _mm512_fmadd_ps(n, _mm512_set1_ps(kC2), r);
  __m512 p = _mm512_set1_ps(kP0);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP1));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP2));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP3));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP4));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP5));
  __m512 rr = _mm512_mul_ps(r, r);
  *n_out = n;
  return _mm512_add_ps(_mm512_fmadd_ps(p, rr, r), _mm512_set1_ps(1.0f));
}

MTRL_TARGET_AVX512 inline __m512 exp16(__m512 z) {
  __mmask16 ok = _mm512_cmp_ps_mask(z, _mm512_set1_ps(-87.0f), _CMP_GE_OQ);
  __m512 n;
  __m512 e = exp16_reduced(z, &n);
  __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(_mm512_maskz_mov_ps(ok, n)), _mm512_set1_epi32(127)), 23);
  return _mm512_maskz_mov_ps(ok, _mm512_mul_ps(e, _mm512_castsi512_ps(bits)));
}

// exp16 with fewer operations, for the raw sum of the first pass: the same values (vscalefps
// multiplies by 2^n exactly as the exponent-bits product does, subnormal results included; z < -87,
// -inf and NaN give 0).
MTRL_TARGET_AVX512 inline __m512 exp16_scan(__m512 z) {
  __mmask16 ok = _mm512_cmp_ps_mask(z, _mm512_set1_ps(-87.0f), _CMP_GE_OQ);
  __m512 n;
  __m512 e = exp16_reduced(z, &n);
  return _mm512_maskz_scalef_ps(ok, e, n);
}

MTRL_TARGET_AVX512 inline __mmask16 tail_mask(int64_t left) { return left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1u); }

// sample_z on 16 lanes: -inf where y is -inf (or a masked-off tail lane).
MTRL_TARGET_AVX512 inline __m512 z16(__m512 y, __mmask16 fin, __m512 m, __m512 inv) {
  return _mm512_mask_blend_ps(fin, _mm512_set1_ps(-INFINITY), _mm512_mul_ps(_mm512_sub_ps(y, m), inv));
}

// Sum of floor(e * 2^s) over 16 lanes (e * 2^s < 2^52, so the unsigned conversion is exact).
MTRL_TARGET_AVX512 inline __m512i fixed16_sum(__m512 e, __m512 s) {
  __m512 sc = _mm512_mul_ps(e, s);
  return _mm512_add_epi64(_mm512_cvttps_epu64(_mm512_castps512_ps256(sc)), _mm512_cvttps_epu64(_mm512_extractf32x8_ps(sc, 1)));
}

MTRL_TARGET_AVX512 RowStats row_stats_avx512(const float* x, int64_t n) {
  __m512 mx = _mm512_set1_ps(-INFINITY);
  __mmask16 bad = 0;
  int64_t finite = 0;
  const __m512 pinf = _mm512_set1_ps(INFINITY), ninf = _mm512_set1_ps(-INFINITY);
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 lm = tail_mask(n - i);
    __m512 v = _mm512_mask_loadu_ps(ninf, lm, x + i);
    bad |= _mm512_cmp_ps_mask(v, pinf, _CMP_NLT_UQ);
    finite += __builtin_popcount(_mm512_cmp_ps_mask(v, ninf, _CMP_GT_OQ));
    mx = _mm512_max_ps(mx, v);
  }
  RowStats s;
  s.bad = bad != 0;
  s.finite = finite;
  s.max = _mm512_reduce_max_ps(mx);
  return s;
}

MTRL_TARGET_AVX512 double exp_sum_avx512(const float* x, int64_t n, float max) {
  __m512d a0 = _mm512_setzero_pd(), a1 = _mm512_setzero_pd();
  const __m512 vm = _mm512_set1_ps(max), one = _mm512_set1_ps(1.0f), ninf = _mm512_set1_ps(-INFINITY);
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 lm = tail_mask(n - i);
    __m512 v = _mm512_mask_loadu_ps(ninf, lm, x + i);
    __mmask16 fin = _mm512_cmp_ps_mask(v, ninf, _CMP_GT_OQ);
    __m512 e = exp16(z16(v, fin, vm, one));
    a0 = _mm512_add_pd(a0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
    a1 = _mm512_add_pd(a1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(e, 1)));
  }
  return _mm512_reduce_add_pd(_mm512_add_pd(a0, a1));
}

MTRL_TARGET_AVX512 uint64_t weights_pass_avx512(const float* y, int64_t n, float m, float inv_t, float two_pow_s, float* w,
                                                uint8_t* bucket) {
  const __m512 vm = _mm512_set1_ps(m), vinv = _mm512_set1_ps(inv_t), vs = _mm512_set1_ps(two_pow_s), ninf = _mm512_set1_ps(-INFINITY);
  __m512i q = _mm512_setzero_si512();
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 lm = tail_mask(n - i);
    __m512 v = _mm512_mask_loadu_ps(ninf, lm, y + i);
    __mmask16 fin = _mm512_cmp_ps_mask(v, ninf, _CMP_GT_OQ);
    __m512 z = z16(v, fin, vm, vinv);
    __m512 e = exp16(z);
    _mm512_mask_storeu_ps(w + i, lm, e);
    q = _mm512_add_epi64(q, fixed16_sum(e, vs));
    if (bucket) {
      // sample_bucket: t < 254 ? trunc(t) : 254 == trunc(min(t, 254)) for t >= 0 (t = +inf included).
      __m512 t = _mm512_min_ps(_mm512_mul_ps(z, _mm512_set1_ps(-8.0f)), _mm512_set1_ps(254.0f));
      __m512i b = _mm512_mask_blend_epi32(fin, _mm512_set1_epi32(255), _mm512_cvttps_epi32(t));
      _mm_mask_storeu_epi8(bucket + i, lm, _mm512_cvtepi32_epi8(b));
    }
  }
  return static_cast<uint64_t>(_mm512_reduce_add_epi64(q));
}


MTRL_TARGET_AVX512 void scan_avx512(const float* x, int64_t lo, int64_t hi, StreamSelect* sel, SegStat* segs) {
  const __m512 ninf = _mm512_set1_ps(-INFINITY), pinf = _mm512_set1_ps(INFINITY);
  int64_t si = 0;
  for (int64_t s0 = lo; s0 < hi; s0 += kScanSegment, ++si) {
    int64_t s1 = s0 + kScanSegment < hi ? s0 + kScanSegment : hi;
    float M = -INFINITY;
    __m512d a0 = _mm512_setzero_pd(), a1 = _mm512_setzero_pd();
    __mmask16 bad = 0;
    int64_t fin = 0;
    for (int64_t b0 = s0; b0 < s1; b0 += kScanBlock) {
      int64_t b1 = b0 + kScanBlock < s1 ? b0 + kScanBlock : s1;
      __m512 bm = ninf;
      for (int64_t i = b0; i < b1; i += 16) {
        _mm_prefetch(reinterpret_cast<const char*>(x + i + kScanPrefetch), _MM_HINT_T0);
        __m512 v = _mm512_mask_loadu_ps(ninf, tail_mask(b1 - i), x + i);
        bad |= _mm512_cmp_ps_mask(v, pinf, _CMP_NLT_UQ);
        fin += __builtin_popcount(_mm512_cmp_ps_mask(v, ninf, _CMP_GT_OQ));
        bm = _mm512_max_ps(bm, v);
      }
      float bmax = _mm512_reduce_max_ps(bm);
      if (bmax > M) {
        if (M > -INFINITY) {
          __m512d f = _mm512_set1_pd(std::exp(static_cast<double>(M) - static_cast<double>(bmax)));
          a0 = _mm512_mul_pd(a0, f);
          a1 = _mm512_mul_pd(a1, f);
        }
        M = bmax;
        if (sel && sel->min_p) sel->on_max(M);
      }
      if (!(M > -INFINITY)) continue;  // nothing finite yet: no mass, no candidate
      const __m512 vm = _mm512_set1_ps(M);
      __m512 vt = _mm512_set1_ps(sel ? sel->tau : INFINITY);
      for (int64_t i = b0; i < b1; i += 16) {
        __m512 v = _mm512_mask_loadu_ps(ninf, tail_mask(b1 - i), x + i);
        // M finite: v - M is -inf exactly where v is -inf, as z16 would give.
        __m512 e = exp16_scan(_mm512_sub_ps(v, vm));
        a0 = _mm512_add_pd(a0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        a1 = _mm512_add_pd(a1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(e, 1)));
        if (sel) {
          __mmask16 c = _mm512_cmp_ps_mask(v, vt, _CMP_GT_OQ);
          if (c) {
            // Compress the passing lanes (value and id) in registers and store all 16 lanes at the end
            // of the buffer (it has 16 slack entries; the junk lanes are overwritten next time):
            // compress straight to memory is microcoded and slow on AMD Zen 4.
            __m512i ids = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int32_t>(i)),
                                           _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
            _mm512_storeu_ps(sel->val.data() + sel->n, _mm512_maskz_compress_ps(c, v));
            _mm512_storeu_si512(sel->idx.data() + sel->n, _mm512_maskz_compress_epi32(c, ids));
            sel->n += static_cast<size_t>(__builtin_popcount(c));
            if (sel->n + 16 > sel->cap) sel->compact();
            vt = _mm512_set1_ps(sel->tau);
          }
        }
      }
    }
    SegStat st;
    st.max = M;
    st.sum = _mm512_reduce_add_pd(_mm512_add_pd(a0, a1));
    st.finite = fin;
    st.bad = bad != 0;
    segs[si] = st;
  }
}

// Lanes of y[i..i+16) in the kept set.
MTRL_TARGET_AVX512 inline __mmask16 kept16(const KeptSet& k, __m512 v, __mmask16 lm, int64_t i) {
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  __mmask16 keep = _mm512_cmp_ps_mask(v, ninf, _CMP_GT_OQ) & lm;
  if (k.has_cut) {
    __m512 cy = _mm512_set1_ps(k.cut_y);
    __m512i idx = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int32_t>(i)),
                                   _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    __mmask16 before = _mm512_cmp_ps_mask(v, cy, _CMP_GT_OQ) |
                       (_mm512_cmp_ps_mask(v, cy, _CMP_EQ_OQ) & _mm512_cmple_epi32_mask(idx, _mm512_set1_epi32(k.cut_id)));
    keep &= before;
  }
  if (k.has_min_p) {
    __m512 z = z16(v, keep, _mm512_set1_ps(k.m), _mm512_set1_ps(k.inv_t));
    keep &= _mm512_cmp_ps_mask(z, _mm512_set1_ps(k.log_min_p), _CMP_GE_OQ);
  }
  return keep;
}

MTRL_TARGET_AVX512 uint64_t kept_mass_avx512(const float* y, const float* w, int64_t n, const KeptSet& k) {
  const __m512 vs = _mm512_set1_ps(k.two_pow_s), ninf = _mm512_set1_ps(-INFINITY);
  __m512i q = _mm512_setzero_si512();
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 lm = tail_mask(n - i);
    __m512 v = _mm512_mask_loadu_ps(ninf, lm, y + i);
    __mmask16 keep = kept16(k, v, lm, i);
    q = _mm512_add_epi64(q, fixed16_sum(_mm512_maskz_loadu_ps(keep, w + i), vs));
  }
  return static_cast<uint64_t>(_mm512_reduce_add_epi64(q));
}

MTRL_TARGET_AVX512 int64_t find_token_avx512(const float* y, const float* w, int64_t n, const KeptSet& k, uint64_t target) {
  const __m512 vs = _mm512_set1_ps(k.two_pow_s), ninf = _mm512_set1_ps(-INFINITY);
  uint64_t cum = 0;
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 lm = tail_mask(n - i);
    __m512 v = _mm512_mask_loadu_ps(ninf, lm, y + i);
    __mmask16 keep = kept16(k, v, lm, i);
    uint64_t block = static_cast<uint64_t>(_mm512_reduce_add_epi64(fixed16_sum(_mm512_maskz_loadu_ps(keep, w + i), vs)));
    if (cum + block > target) return find_token_scalar(y, w, i, i + 16 < n ? i + 16 : n, k, target, cum);
    cum += block;
  }
  return n;
}

// ---- AVX2 -----------------------------------------------------------------------------------------
MTRL_TARGET_AVX2 inline __m256 exp8(__m256 z) {
  __m256 ok = _mm256_cmp_ps(z, _mm256_set1_ps(-87.0f), _CMP_GE_OQ);
  __m256 n = _mm256_round_ps(_mm256_mul_ps(z, _mm256_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  n = _mm256_and_ps(n, ok);  // keeps the exponent arithmetic below in range on masked lanes
  __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(kC1), z);
  r = _mm256_fmadd_ps(n, _mm256_set1_ps(kC2), r);
  __m256 p = _mm256_set1_ps(kP0);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP1));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP5));
  __m256 rr = _mm256_mul_ps(r, r);
  __m256 e = _mm256_add_ps(_mm256_fmadd_ps(p, rr, r), _mm256_set1_ps(1.0f));
  __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_and_ps(_mm256_mul_ps(e, _mm256_castsi256_ps(bits)), ok);
}

MTRL_TARGET_AVX2 inline __m256 z8(__m256 y, __m256 fin, __m256 m, __m256 inv) {
  return _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), _mm256_mul_ps(_mm256_sub_ps(y, m), inv), fin);
}

// floor(x) for 0 <= x < 2^52 as 64-bit integers, 4 lanes: add 2^52 so the integer lands in the mantissa.
MTRL_TARGET_AVX2 inline __m256i floor_u64x4(__m128 x) {
  __m256d d = _mm256_round_pd(_mm256_cvtps_pd(x), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256d magic = _mm256_set1_pd(4503599627370496.0);
  return _mm256_sub_epi64(_mm256_castpd_si256(_mm256_add_pd(d, magic)), _mm256_castpd_si256(magic));
}

MTRL_TARGET_AVX2 inline __m256i fixed8_sum(__m256 e, __m256 s) {
  __m256 sc = _mm256_mul_ps(e, s);
  return _mm256_add_epi64(floor_u64x4(_mm256_castps256_ps128(sc)), floor_u64x4(_mm256_extractf128_ps(sc, 1)));
}

MTRL_TARGET_AVX2 inline uint64_t hsum_u64(__m256i v) {
  alignas(32) uint64_t t[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(t), v);
  return t[0] + t[1] + t[2] + t[3];
}

MTRL_TARGET_AVX2 RowStats row_stats_avx2(const float* x, int64_t n) {
  __m256 mx = _mm256_set1_ps(-INFINITY), bad = _mm256_setzero_ps();
  const __m256 pinf = _mm256_set1_ps(INFINITY), ninf = _mm256_set1_ps(-INFINITY);
  int64_t finite = 0, i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    bad = _mm256_or_ps(bad, _mm256_cmp_ps(v, pinf, _CMP_NLT_UQ));
    finite += __builtin_popcount(_mm256_movemask_ps(_mm256_cmp_ps(v, ninf, _CMP_GT_OQ)));
    mx = _mm256_max_ps(mx, v);
  }
  alignas(32) float t[8];
  _mm256_store_ps(t, mx);
  RowStats s = row_stats_scalar(x + i, n - i);
  for (float v : t) s.max = v > s.max ? v : s.max;
  s.bad = s.bad || _mm256_movemask_ps(bad) != 0;
  s.finite += finite;
  return s;
}

MTRL_TARGET_AVX2 double exp_sum_avx2(const float* x, int64_t n, float max) {
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
  const __m256 vm = _mm256_set1_ps(max), one = _mm256_set1_ps(1.0f), ninf = _mm256_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    __m256 e = exp8(z8(v, _mm256_cmp_ps(v, ninf, _CMP_GT_OQ), vm, one));
    a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  alignas(32) double t[4];
  _mm256_store_pd(t, _mm256_add_pd(a0, a1));
  return t[0] + t[1] + t[2] + t[3] + exp_sum_scalar(x + i, n - i, max);
}

MTRL_TARGET_AVX2 uint64_t weights_pass_avx2(const float* y, int64_t n, float m, float inv_t, float two_pow_s, float* w, uint8_t* bucket) {
  const __m256 vm = _mm256_set1_ps(m), vinv = _mm256_set1_ps(inv_t), vs = _mm256_set1_ps(two_pow_s), ninf = _mm256_set1_ps(-INFINITY);
  __m256i q = _mm256_setzero_si256();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(y + i);
    __m256 fin = _mm256_cmp_ps(v, ninf, _CMP_GT_OQ);
    __m256 z = z8(v, fin, vm, vinv);
    __m256 e = exp8(z);
    _mm256_storeu_ps(w + i, e);
    q = _mm256_add_epi64(q, fixed8_sum(e, vs));
    if (bucket) {
      __m256 t = _mm256_min_ps(_mm256_mul_ps(z, _mm256_set1_ps(-8.0f)), _mm256_set1_ps(254.0f));
      __m256i b = _mm256_blendv_epi8(_mm256_set1_epi32(255), _mm256_cvttps_epi32(t), _mm256_castps_si256(fin));
      alignas(32) int32_t tb[8];
      _mm256_store_si256(reinterpret_cast<__m256i*>(tb), b);
      for (int j = 0; j < 8; ++j) bucket[i + j] = static_cast<uint8_t>(tb[j]);
    }
  }
  return hsum_u64(q) + weights_pass_scalar(y + i, n - i, m, inv_t, two_pow_s, w + i, bucket ? bucket + i : nullptr);
}


MTRL_TARGET_AVX2 inline __m256 load8_tail(const float* x, int64_t i, int64_t end) {
  if (i + 8 <= end) return _mm256_loadu_ps(x + i);
  alignas(32) float t[8];
  for (int j = 0; j < 8; ++j) t[j] = i + j < end ? x[i + j] : -INFINITY;
  return _mm256_load_ps(t);
}

MTRL_TARGET_AVX2 void scan_avx2(const float* x, int64_t lo, int64_t hi, StreamSelect* sel, SegStat* segs) {
  const __m256 ninf = _mm256_set1_ps(-INFINITY), pinf = _mm256_set1_ps(INFINITY), one = _mm256_set1_ps(1.0f);
  int64_t si = 0;
  for (int64_t s0 = lo; s0 < hi; s0 += kScanSegment, ++si) {
    int64_t s1 = s0 + kScanSegment < hi ? s0 + kScanSegment : hi;
    float M = -INFINITY;
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    __m256 bad = _mm256_setzero_ps();
    int64_t fin = 0;
    for (int64_t b0 = s0; b0 < s1; b0 += kScanBlock) {
      int64_t b1 = b0 + kScanBlock < s1 ? b0 + kScanBlock : s1;
      __m256 bm = ninf;
      for (int64_t i = b0; i < b1; i += 8) {
        if (((i - b0) & 15) == 0) _mm_prefetch(reinterpret_cast<const char*>(x + i + kScanPrefetch), _MM_HINT_T0);
        __m256 v = load8_tail(x, i, b1);
        bad = _mm256_or_ps(bad, _mm256_cmp_ps(v, pinf, _CMP_NLT_UQ));
        fin += __builtin_popcount(_mm256_movemask_ps(_mm256_cmp_ps(v, ninf, _CMP_GT_OQ)));
        bm = _mm256_max_ps(bm, v);
      }
      alignas(32) float t8[8];
      _mm256_store_ps(t8, bm);
      float bmax = -INFINITY;
      for (float v : t8) bmax = v > bmax ? v : bmax;
      if (bmax > M) {
        if (M > -INFINITY) {
          __m256d f = _mm256_set1_pd(std::exp(static_cast<double>(M) - static_cast<double>(bmax)));
          a0 = _mm256_mul_pd(a0, f);
          a1 = _mm256_mul_pd(a1, f);
        }
        M = bmax;
        if (sel && sel->min_p) sel->on_max(M);
      }
      const __m256 vm = _mm256_set1_ps(M);
      __m256 vt = _mm256_set1_ps(sel ? sel->tau : INFINITY);
      for (int64_t i = b0; i < b1; i += 8) {
        __m256 v = load8_tail(x, i, b1);
        __m256 e = exp8(z8(v, _mm256_cmp_ps(v, ninf, _CMP_GT_OQ), vm, one));
        a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
        if (sel) {
          int c = _mm256_movemask_ps(_mm256_cmp_ps(v, vt, _CMP_GT_OQ));
          if (c) {
            alignas(32) float t[8];
            _mm256_store_ps(t, v);
            sel->push(t, i, static_cast<uint32_t>(c));
            vt = _mm256_set1_ps(sel->tau);
          }
        }
      }
    }
    SegStat st;
    st.max = M;
    alignas(32) double d[4];
    _mm256_store_pd(d, _mm256_add_pd(a0, a1));
    st.sum = (d[0] + d[1]) + (d[2] + d[3]);
    st.finite = fin;
    st.bad = _mm256_movemask_ps(bad) != 0;
    segs[si] = st;
  }
}

// The kept-set loops compiled for AVX2 (the compiler vectorises the predicate and conversion).
MTRL_TARGET_AVX2 uint64_t kept_mass_avx2(const float* y, const float* w, int64_t n, const KeptSet& k) {
  uint64_t q = 0;
  for (int64_t i = 0; i < n; ++i)
    if (kept(k, y[i], i)) q += sample_fixed(w[i], k.two_pow_s);
  return q;
}

MTRL_TARGET_AVX2 int64_t find_token_avx2(const float* y, const float* w, int64_t n, const KeptSet& k, uint64_t target) {
  uint64_t cum = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (!kept(k, y[i], i)) continue;
    cum += sample_fixed(w[i], k.two_pow_s);
    if (cum > target) return i;
  }
  return n;
}
#endif

}  // namespace

#if MTRL_X86
#define MTRL_SAMPLING_DISPATCH(name, ...)                                         \
  do {                                                                             \
    SimdLevel lvl_ = simd_level();                                                 \
    if (lvl_ == SimdLevel::AVX512) return name##_avx512(__VA_ARGS__);              \
    if (lvl_ == SimdLevel::AVX2) return name##_avx2(__VA_ARGS__);                  \
    return name##_scalar(__VA_ARGS__);                                             \
  } while (0)
#else
#define MTRL_SAMPLING_DISPATCH(name, ...) return name##_scalar(__VA_ARGS__)
#endif

RowStats row_stats(const float* x, int64_t n) { MTRL_SAMPLING_DISPATCH(row_stats, x, n); }

int64_t first_index_of(const float* x, int64_t n, float value) {
  for (int64_t i = 0; i < n; ++i)
    if (x[i] == value) return i;
  return n;
}

double exp_sum(const float* x, int64_t n, float max) { MTRL_SAMPLING_DISPATCH(exp_sum, x, n, max); }

uint64_t weights_pass(const float* y, int64_t n, float m, float inv_t, float two_pow_s, float* w, uint8_t* bucket) {
  MTRL_SAMPLING_DISPATCH(weights_pass, y, n, m, inv_t, two_pow_s, w, bucket);
}

uint64_t kept_mass(const float* y, const float* w, int64_t n, const KeptSet& k) {
#if MTRL_X86
  SimdLevel lvl = simd_level();
  if (lvl == SimdLevel::AVX512) return kept_mass_avx512(y, w, n, k);
  if (lvl == SimdLevel::AVX2) return kept_mass_avx2(y, w, n, k);
#endif
  return kept_mass_scalar(y, w, 0, n, k);
}

int64_t find_token(const float* y, const float* w, int64_t n, const KeptSet& k, uint64_t target) {
#if MTRL_X86
  SimdLevel lvl = simd_level();
  if (lvl == SimdLevel::AVX512) return find_token_avx512(y, w, n, k, target);
  if (lvl == SimdLevel::AVX2) return find_token_avx2(y, w, n, k, target);
#endif
  return find_token_scalar(y, w, 0, n, k, target, 0);
}

void scan_range(const float* x, int64_t lo, int64_t hi, StreamSelect* sel, SegStat* segs) {
  MTRL_SAMPLING_DISPATCH(scan, x, lo, hi, sel, segs);
}

RowStats combine_segments(const SegStat* segs, int64_t nseg, double* raw_sum) {
  RowStats r;
  for (int64_t i = 0; i < nseg; ++i) {
    r.bad = r.bad || segs[i].bad;
    r.finite += segs[i].finite;
    if (segs[i].max > r.max) r.max = segs[i].max;
  }
  r.max = r.max + 0.0f;  // -0 -> +0: which zero a SIMD max returns for a +-0 tie depends on the level
  double sum = 0.0;
  if (r.max > -INFINITY && r.max < INFINITY)
    for (int64_t i = 0; i < nseg; ++i)
      if (segs[i].max > -INFINITY) sum += segs[i].sum * std::exp(static_cast<double>(segs[i].max) - static_cast<double>(r.max));
  *raw_sum = sum;
  return r;
}

}  // namespace mtrl::cpu::sampling_detail
