// Tile primitives of the CPU attention kernels, once per instruction set: a register-blocked small
// GEMM (the six matrix products of attention forward/backward are all C += A·B with a strided A),
// a vectorised 2^x for the online softmax, and a few row operations. The fused kernels in
// attention_cpu.cc stay device-generic and call these through the table chosen at run time
// (AVX-512, AVX2+FMA or scalar), so one binary runs on any x86-64 and uses what it finds.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "mtrl/attention.h"
#include "mtrl/cpu_features.h"

#if MTRL_X86
// GCC 12's AVX-512 headers build reductions and masked ops from _mm512_undefined_ps(), which
// -Wuninitialized reports inside every caller: a known false positive, silenced for this file
// (before the include, since the warning is attributed to the header's lines).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#endif

namespace mtrl::cpu {
namespace {

// ---------------------------------------------------------------------------------------------
// Scalar (portable) versions: the reference the vector ones must agree with.
void gemm_scalar(int M, int N, int K, const float* A, int64_t a_rs, int64_t a_cs, const float* B, int64_t ldb, float* C,
                 int64_t ldc, bool acc) {
  for (int i = 0; i < M; ++i) {
    float* c = C + i * ldc;
    if (!acc)
      for (int j = 0; j < N; ++j) c[j] = 0.0f;
    for (int k = 0; k < K; ++k) {
      float a = A[i * a_rs + k * a_cs];
      const float* b = B + k * ldb;
      for (int j = 0; j < N; ++j) c[j] += a * b[j];
    }
  }
}
float row_max_scalar(const float* x, int n) {
  float m = -INFINITY;
  for (int j = 0; j < n; ++j) m = std::max(m, x[j]);
  return m;
}
float exp2_sum_scalar(float* x, int n, float shift) {
  float s = 0.0f;
  for (int j = 0; j < n; ++j) {
    x[j] = std::exp2(x[j] - shift);
    s += x[j];
  }
  return s;
}
void axpy_scalar(float* y, const float* x, int n, float a) {
  for (int j = 0; j < n; ++j) y[j] += a * x[j];
}
void scale_scalar(float* x, int n, float a) {
  for (int j = 0; j < n; ++j) x[j] *= a;
}
void softmax_grad_scalar(const float* p, float* dp, int n, float delta) {
  for (int j = 0; j < n; ++j) dp[j] = p[j] * (dp[j] - delta);
}
float dot_scalar(const float* a, const float* b, int n) {
  float s = 0.0f;
  for (int j = 0; j < n; ++j) s += a[j] * b[j];
  return s;
}
// One column of softmax_cols; shared by the scalar table and the vector versions' tails.
inline void softmax_col(float* st, int rows, int64_t ld, float* m, float* l, float* alpha) {
  float mt = -INFINITY;
  for (int j = 0; j < rows; ++j) mt = std::max(mt, st[j * ld]);
  const float mn = std::max(*m, mt), safe = mn == -INFINITY ? 0.0f : mn;
  const float a = std::exp2(*m - safe);
  float sum = 0.0f;
  for (int j = 0; j < rows; ++j) {
    st[j * ld] = std::exp2(st[j * ld] - safe);
    sum += st[j * ld];
  }
  *l = *l * a + sum;
  *m = mn;
  *alpha = a;
}
void softmax_cols_scalar(float* st, int rows, int cols, int64_t ld, float* m, float* l, float* alpha) {
  for (int i = 0; i < cols; ++i) softmax_col(st + i, rows, ld, m + i, l + i, alpha + i);
}

#if MTRL_X86
// Cephes exp2f minimax polynomial on [-0.5, 0.5] (relative error ~1.5e-7): 2^f = 1 + f·P(f).
constexpr float kExp2P0 = 1.535336188319500e-4f, kExp2P1 = 1.339887440266574e-3f, kExp2P2 = 9.618437357674640e-3f,
                kExp2P3 = 5.550332471162809e-2f, kExp2P4 = 2.402264791363012e-1f, kExp2P5 = 6.931472028550421e-1f;

// ---------------------------------------------------------------------------------------------
// AVX-512: 16 floats per register; micro-tiles of up to 6 rows × 64 columns (24 accumulators).
MTRL_TARGET_AVX512 inline __m512 exp2_avx512(__m512 x) {
  // Below -150 the result is 0 in f32 anyway; the clamp also keeps -inf away from x - round(x).
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-150.0f)), _mm512_set1_ps(128.0f));
  __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 f = _mm512_sub_ps(x, n);
  __m512 p = _mm512_set1_ps(kExp2P0);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kExp2P1));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kExp2P2));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kExp2P3));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kExp2P4));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kExp2P5));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);  // p · 2^n, handling under/overflow
}

MTRL_TARGET_AVX512 inline __mmask16 tail_mask16(int n) { return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u); }

template <int MR, int NV>
MTRL_TARGET_AVX512 void micro_avx512(int K, const float* A, int64_t a_rs, int64_t a_cs, const float* B, int64_t ldb, float* C,
                                     int64_t ldc, bool acc, __mmask16 tail) {
  __m512 c[MR][NV];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      c[i][v] = acc ? _mm512_maskz_loadu_ps(v == NV - 1 ? tail : static_cast<__mmask16>(0xFFFF), C + i * ldc + 16 * v) : _mm512_setzero_ps();
  for (int k = 0; k < K; ++k) {
    const float* bk = B + k * ldb;
    __m512 b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) b[v] = v == NV - 1 ? _mm512_maskz_loadu_ps(tail, bk + 16 * v) : _mm512_loadu_ps(bk + 16 * v);
    const float* ak = A + k * a_cs;
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      __m512 a = _mm512_set1_ps(ak[i * a_rs]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) c[i][v] = _mm512_fmadd_ps(a, b[v], c[i][v]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      _mm512_mask_storeu_ps(C + i * ldc + 16 * v, v == NV - 1 ? tail : static_cast<__mmask16>(0xFFFF), c[i][v]);
}

using MicroFn512 = void (*)(int, const float*, int64_t, int64_t, const float*, int64_t, float*, int64_t, bool, __mmask16);
#define MTRL_MR_ROW(mr) {micro_avx512<mr, 1>, micro_avx512<mr, 2>, micro_avx512<mr, 3>, micro_avx512<mr, 4>}
const MicroFn512 kMicro512[6][4] = {MTRL_MR_ROW(1), MTRL_MR_ROW(2), MTRL_MR_ROW(3), MTRL_MR_ROW(4), MTRL_MR_ROW(5), MTRL_MR_ROW(6)};
#undef MTRL_MR_ROW

MTRL_TARGET_AVX512 void gemm_avx512(int M, int N, int K, const float* A, int64_t a_rs, int64_t a_cs, const float* B, int64_t ldb,
                                    float* C, int64_t ldc, bool acc) {
  for (int j = 0; j < N; j += 64) {
    int rem = N - j, nv = std::min(4, (rem + 15) / 16);
    __mmask16 tail = tail_mask16(rem - 16 * (nv - 1));
    for (int i = 0; i < M; i += 6) {
      int mr = std::min(6, M - i);
      kMicro512[mr - 1][nv - 1](K, A + i * a_rs, a_rs, a_cs, B + j, ldb, C + i * ldc + j, ldc, acc, tail);
    }
  }
}

MTRL_TARGET_AVX512 float row_max_avx512(const float* x, int n) {
  __m512 m = _mm512_set1_ps(-INFINITY);
  int j = 0;
  for (; j + 16 <= n; j += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(x + j));
  if (j < n) m = _mm512_max_ps(m, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail_mask16(n - j), x + j));
  return _mm512_reduce_max_ps(m);
}
MTRL_TARGET_AVX512 float exp2_sum_avx512(float* x, int n, float shift) {
  __m512 s = _mm512_setzero_ps(), sh = _mm512_set1_ps(shift);
  int j = 0;
  for (; j + 16 <= n; j += 16) {
    __m512 e = exp2_avx512(_mm512_sub_ps(_mm512_loadu_ps(x + j), sh));
    _mm512_storeu_ps(x + j, e);
    s = _mm512_add_ps(s, e);
  }
  if (j < n) {
    __mmask16 m = tail_mask16(n - j);
    __m512 e = exp2_avx512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), sh));
    _mm512_mask_storeu_ps(x + j, m, e);
    s = _mm512_mask_add_ps(s, m, s, e);
  }
  return _mm512_reduce_add_ps(s);
}
MTRL_TARGET_AVX512 void axpy_avx512(float* y, const float* x, int n, float a) {
  __m512 va = _mm512_set1_ps(a);
  int j = 0;
  for (; j + 16 <= n; j += 16) _mm512_storeu_ps(y + j, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + j), _mm512_loadu_ps(y + j)));
  if (j < n) {
    __mmask16 m = tail_mask16(n - j);
    _mm512_mask_storeu_ps(y + j, m, _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + j), _mm512_maskz_loadu_ps(m, y + j)));
  }
}
MTRL_TARGET_AVX512 void scale_avx512(float* x, int n, float a) {
  __m512 va = _mm512_set1_ps(a);
  int j = 0;
  for (; j + 16 <= n; j += 16) _mm512_storeu_ps(x + j, _mm512_mul_ps(va, _mm512_loadu_ps(x + j)));
  if (j < n) {
    __mmask16 m = tail_mask16(n - j);
    _mm512_mask_storeu_ps(x + j, m, _mm512_mul_ps(va, _mm512_maskz_loadu_ps(m, x + j)));
  }
}
MTRL_TARGET_AVX512 void softmax_grad_avx512(const float* p, float* dp, int n, float delta) {
  __m512 vd = _mm512_set1_ps(delta);
  int j = 0;
  for (; j + 16 <= n; j += 16)
    _mm512_storeu_ps(dp + j, _mm512_mul_ps(_mm512_loadu_ps(p + j), _mm512_sub_ps(_mm512_loadu_ps(dp + j), vd)));
  if (j < n) {
    __mmask16 m = tail_mask16(n - j);
    _mm512_mask_storeu_ps(dp + j, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, p + j), _mm512_sub_ps(_mm512_maskz_loadu_ps(m, dp + j), vd)));
  }
}
MTRL_TARGET_AVX512 float dot_avx512(const float* a, const float* b, int n) {
  __m512 s = _mm512_setzero_ps();
  int j = 0;
  for (; j + 16 <= n; j += 16) s = _mm512_fmadd_ps(_mm512_loadu_ps(a + j), _mm512_loadu_ps(b + j), s);
  if (j < n) {
    __mmask16 m = tail_mask16(n - j);
    s = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + j), _mm512_maskz_loadu_ps(m, b + j), s);
  }
  return _mm512_reduce_add_ps(s);
}

MTRL_TARGET_AVX512 void softmax_cols_avx512(float* st, int rows, int cols, int64_t ld, float* m, float* l, float* alpha) {
  const __m512 ninf = _mm512_set1_ps(-INFINITY), zero = _mm512_setzero_ps();
  for (int i0 = 0; i0 < cols; i0 += 16) {
    const __mmask16 k = tail_mask16(cols - i0);
    __m512 mt = ninf;
    for (int j = 0; j < rows; ++j) mt = _mm512_max_ps(mt, _mm512_mask_loadu_ps(ninf, k, st + j * ld + i0));
    const __m512 mo = _mm512_mask_loadu_ps(ninf, k, m + i0), mn = _mm512_max_ps(mo, mt);
    // A column that has seen no key yet (max -inf) subtracts 0 instead, so 2^(-inf - 0) = 0, not NaN.
    const __m512 safe = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(mn, ninf, _CMP_EQ_OQ), mn, zero);
    const __m512 a = exp2_avx512(_mm512_sub_ps(mo, safe));
    __m512 sum = zero;
    for (int j = 0; j < rows; ++j) {
      float* x = st + j * ld + i0;
      const __m512 e = exp2_avx512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x), safe));
      _mm512_mask_storeu_ps(x, k, e);
      sum = _mm512_add_ps(sum, e);
    }
    _mm512_mask_storeu_ps(l + i0, k, _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, l + i0), a, sum));
    _mm512_mask_storeu_ps(m + i0, k, mn);
    _mm512_mask_storeu_ps(alpha + i0, k, a);
  }
}

// ---------------------------------------------------------------------------------------------
// AVX2 + FMA: 8 floats per register, 16 registers: micro-tiles of up to 6 rows × 16 columns.
MTRL_TARGET_AVX2 inline __m256 exp2_avx2(__m256 x) {
  // Clamped at -127 so the exponent field below stays >= 0 (2^-127 and less flush to 0).
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
  __m256 n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 f = _mm256_sub_ps(x, n);
  __m256 p = _mm256_set1_ps(kExp2P0);
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kExp2P1));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kExp2P2));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kExp2P3));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kExp2P4));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kExp2P5));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  __m256 two_n = _mm256_castsi256_ps(e);
  // n = -127 gives exponent field 0 = +0.0, so the product is exactly 0.
  return _mm256_mul_ps(p, two_n);
}

MTRL_TARGET_AVX2 inline __m256i tail_mask8(int n) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}

template <int MR, int NV>
MTRL_TARGET_AVX2 void micro_avx2(int K, const float* A, int64_t a_rs, int64_t a_cs, const float* B, int64_t ldb, float* C, int64_t ldc,
                                 bool acc, int tail_n) {
  const __m256i tail = tail_mask8(tail_n);
  __m256 c[MR][NV];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v)
      c[i][v] = !acc ? _mm256_setzero_ps() : v == NV - 1 ? _mm256_maskload_ps(C + i * ldc + 8 * v, tail) : _mm256_loadu_ps(C + i * ldc + 8 * v);
  for (int k = 0; k < K; ++k) {
    const float* bk = B + k * ldb;
    __m256 b[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) b[v] = v == NV - 1 ? _mm256_maskload_ps(bk + 8 * v, tail) : _mm256_loadu_ps(bk + 8 * v);
    const float* ak = A + k * a_cs;
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      __m256 a = _mm256_broadcast_ss(ak + i * a_rs);
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) c[i][v] = _mm256_fmadd_ps(a, b[v], c[i][v]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) {
      if (v == NV - 1) _mm256_maskstore_ps(C + i * ldc + 8 * v, tail, c[i][v]);
      else _mm256_storeu_ps(C + i * ldc + 8 * v, c[i][v]);
    }
}

using MicroFn256 = void (*)(int, const float*, int64_t, int64_t, const float*, int64_t, float*, int64_t, bool, int);
#define MTRL_MR_ROW(mr) {micro_avx2<mr, 1>, micro_avx2<mr, 2>}
const MicroFn256 kMicro256[6][2] = {MTRL_MR_ROW(1), MTRL_MR_ROW(2), MTRL_MR_ROW(3), MTRL_MR_ROW(4), MTRL_MR_ROW(5), MTRL_MR_ROW(6)};
#undef MTRL_MR_ROW

MTRL_TARGET_AVX2 void gemm_avx2(int M, int N, int K, const float* A, int64_t a_rs, int64_t a_cs, const float* B, int64_t ldb, float* C,
                                int64_t ldc, bool acc) {
  for (int j = 0; j < N; j += 16) {
    int rem = N - j, nv = std::min(2, (rem + 7) / 8);
    int tail = std::min(8, rem - 8 * (nv - 1));
    for (int i = 0; i < M; i += 6) {
      int mr = std::min(6, M - i);
      kMicro256[mr - 1][nv - 1](K, A + i * a_rs, a_rs, a_cs, B + j, ldb, C + i * ldc + j, ldc, acc, tail);
    }
  }
}

MTRL_TARGET_AVX2 inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
MTRL_TARGET_AVX2 inline float hmax256(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

MTRL_TARGET_AVX2 float row_max_avx2(const float* x, int n) {
  __m256 m = _mm256_set1_ps(-INFINITY);
  int j = 0;
  for (; j + 8 <= n; j += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + j));
  float r = hmax256(m);
  for (; j < n; ++j) r = std::max(r, x[j]);
  return r;
}
MTRL_TARGET_AVX2 float exp2_sum_avx2(float* x, int n, float shift) {
  __m256 s = _mm256_setzero_ps(), sh = _mm256_set1_ps(shift);
  int j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256 e = exp2_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + j), sh));
    _mm256_storeu_ps(x + j, e);
    s = _mm256_add_ps(s, e);
  }
  if (j < n) {
    __m256i m = tail_mask8(n - j);
    __m256 e = exp2_avx2(_mm256_sub_ps(_mm256_maskload_ps(x + j, m), sh));
    _mm256_maskstore_ps(x + j, m, e);
    s = _mm256_add_ps(s, _mm256_and_ps(e, _mm256_castsi256_ps(m)));
  }
  return hsum256(s);
}
MTRL_TARGET_AVX2 void axpy_avx2(float* y, const float* x, int n, float a) {
  __m256 va = _mm256_set1_ps(a);
  int j = 0;
  for (; j + 8 <= n; j += 8) _mm256_storeu_ps(y + j, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + j), _mm256_loadu_ps(y + j)));
  for (; j < n; ++j) y[j] += a * x[j];
}
MTRL_TARGET_AVX2 void scale_avx2(float* x, int n, float a) {
  __m256 va = _mm256_set1_ps(a);
  int j = 0;
  for (; j + 8 <= n; j += 8) _mm256_storeu_ps(x + j, _mm256_mul_ps(va, _mm256_loadu_ps(x + j)));
  for (; j < n; ++j) x[j] *= a;
}
MTRL_TARGET_AVX2 void softmax_grad_avx2(const float* p, float* dp, int n, float delta) {
  __m256 vd = _mm256_set1_ps(delta);
  int j = 0;
  for (; j + 8 <= n; j += 8) _mm256_storeu_ps(dp + j, _mm256_mul_ps(_mm256_loadu_ps(p + j), _mm256_sub_ps(_mm256_loadu_ps(dp + j), vd)));
  for (; j < n; ++j) dp[j] = p[j] * (dp[j] - delta);
}
MTRL_TARGET_AVX2 float dot_avx2(const float* a, const float* b, int n) {
  __m256 s = _mm256_setzero_ps();
  int j = 0;
  for (; j + 8 <= n; j += 8) s = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), s);
  float r = hsum256(s);
  for (; j < n; ++j) r += a[j] * b[j];
  return r;
}
MTRL_TARGET_AVX2 void softmax_cols_avx2(float* st, int rows, int cols, int64_t ld, float* m, float* l, float* alpha) {
  const __m256 ninf = _mm256_set1_ps(-INFINITY), zero = _mm256_setzero_ps();
  int i0 = 0;
  for (; i0 + 8 <= cols; i0 += 8) {
    __m256 mt = ninf;
    for (int j = 0; j < rows; ++j) mt = _mm256_max_ps(mt, _mm256_loadu_ps(st + j * ld + i0));
    const __m256 mo = _mm256_loadu_ps(m + i0), mn = _mm256_max_ps(mo, mt);
    const __m256 safe = _mm256_blendv_ps(mn, zero, _mm256_cmp_ps(mn, ninf, _CMP_EQ_OQ));  // see the AVX-512 version
    const __m256 a = exp2_avx2(_mm256_sub_ps(mo, safe));
    __m256 sum = zero;
    for (int j = 0; j < rows; ++j) {
      float* x = st + j * ld + i0;
      const __m256 e = exp2_avx2(_mm256_sub_ps(_mm256_loadu_ps(x), safe));
      _mm256_storeu_ps(x, e);
      sum = _mm256_add_ps(sum, e);
    }
    _mm256_storeu_ps(l + i0, _mm256_fmadd_ps(_mm256_loadu_ps(l + i0), a, sum));
    _mm256_storeu_ps(m + i0, mn);
    _mm256_storeu_ps(alpha + i0, a);
  }
  for (; i0 < cols; ++i0) softmax_col(st + i0, rows, ld, m + i0, l + i0, alpha + i0);
}
#endif  // MTRL_X86

const AttentionTileOps kScalarOps{gemm_scalar, row_max_scalar, exp2_sum_scalar, axpy_scalar,       scale_scalar,
                                  softmax_grad_scalar, dot_scalar, softmax_cols_scalar};
#if MTRL_X86
const AttentionTileOps kAvx2Ops{gemm_avx2, row_max_avx2, exp2_sum_avx2, axpy_avx2, scale_avx2, softmax_grad_avx2, dot_avx2, softmax_cols_avx2};
const AttentionTileOps kAvx512Ops{gemm_avx512,         row_max_avx512, exp2_sum_avx512, axpy_avx512, scale_avx512,
                                  softmax_grad_avx512, dot_avx512,     softmax_cols_avx512};
#endif

}  // namespace

const AttentionTileOps& attention_tile_ops() {
#if MTRL_X86
  switch (simd_level()) {
    case SimdLevel::AVX512: return kAvx512Ops;
    case SimdLevel::AVX2: return kAvx2Ops;
    default: break;
  }
#endif
  return kScalarOps;
}

}  // namespace mtrl::cpu
