// CPU GEMM (BLIS-style): operands are packed into contiguous panels (converting bf16 to f32 and
// applying transposes on the way), then a register-blocked micro-kernel computes MR×NR tiles of C.
// Three micro-kernels are compiled with target attributes and picked at run time: AVX-512 14×32,
// AVX2+FMA 6×16 and a portable 4×16. OpenMP threads share the packed panels of one block.
//
// Row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ, so the loop nest is BLIS's with the operands'
// roles exchanged: vectors run along N (NR wide), A values are broadcast (MR of them per k), the
// A micro-panel (MR×KC) stays in L1 while B micro-panels (KC×NR) stream from the packed B block
// (KC×NB, sized for L2), and the packed A block (MB×KC) lives in L3.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <type_traits>
#include <vector>

#include "mtrl/bf16.h"
#include "mtrl/cpu_features.h"
#include "mtrl/gemm.h"

#if MTRL_X86
#include <immintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

namespace mtrl::cpu {
namespace {

// ---------------------------------------------------------------------------------------------
// Micro-kernels. Contract: acc = Σ_k Ap[k*MR + r] * Bp[k*NR + c] over kc steps (Ap, Bp packed and
// 64-byte aligned), then C[r*ldc + c] = alpha*acc + beta*C[r*ldc + c] for the full MR×NR tile, with
// beta == 0 meaning "do not read C".
using KernelFn = void (*)(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, float alpha, float beta);

struct Config {
  int mr, nr;
  int64_t kc, nb, mb;  // cache blocks: K slice, B block columns (L2), A block rows (L3)
  KernelFn kernel;
  const char* name;
  bool avx512_pack = false;  // f32 packs with AVX-512 (pack_a_rows/cols_avx512, pack_b_cols/rows_avx512)
};

// Portable kernel: the compiler vectorises the inner c-loop with the baseline ISA.
constexpr int kScalarMR = 4, kScalarNR = 16;
void kernel_scalar(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, float alpha, float beta) {
  float acc[kScalarMR][kScalarNR] = {};
  for (int64_t p = 0; p < kc; ++p) {
    const float* a = Ap + p * kScalarMR;
    const float* b = Bp + p * kScalarNR;
    for (int r = 0; r < kScalarMR; ++r)
      for (int c = 0; c < kScalarNR; ++c) acc[r][c] += a[r] * b[c];
  }
  for (int r = 0; r < kScalarMR; ++r)
    for (int c = 0; c < kScalarNR; ++c) {
      float v = alpha * acc[r][c];
      C[r * ldc + c] = beta == 0.0f ? v : v + beta * C[r * ldc + c];
    }
}

#if MTRL_X86
// AVX2 + FMA, 6×16: 12 ymm accumulators, 2 for the B row, 1 broadcast (15 of 16 registers).
MTRL_TARGET_AVX2 void kernel_avx2(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, float alpha, float beta) {
  constexpr int MR = 6;
  __m256 c0[MR], c1[MR];
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) c0[r] = c1[r] = _mm256_setzero_ps();
  for (int64_t p = 0; p < kc; ++p) {
    __m256 b0 = _mm256_load_ps(Bp), b1 = _mm256_load_ps(Bp + 8);
    _mm_prefetch(reinterpret_cast<const char*>(Bp + 16 * 8), _MM_HINT_T0);
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      __m256 a = _mm256_broadcast_ss(Ap + r);
      c0[r] = _mm256_fmadd_ps(a, b0, c0[r]);
      c1[r] = _mm256_fmadd_ps(a, b1, c1[r]);
    }
    Ap += MR;
    Bp += 16;
  }
  __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
    float* c = C + r * ldc;
    if (beta == 0.0f) {
      _mm256_storeu_ps(c, _mm256_mul_ps(va, c0[r]));
      _mm256_storeu_ps(c + 8, _mm256_mul_ps(va, c1[r]));
    } else {
      _mm256_storeu_ps(c, _mm256_fmadd_ps(va, c0[r], _mm256_mul_ps(vb, _mm256_loadu_ps(c))));
      _mm256_storeu_ps(c + 8, _mm256_fmadd_ps(va, c1[r], _mm256_mul_ps(vb, _mm256_loadu_ps(c + 8))));
    }
  }
}

// AVX-512, 14×32: 28 zmm accumulators, 2 for the B row, 1 broadcast (31 of 32 registers). Each k
// step issues 28 FMAs against 2 vector loads + 14 broadcasts, so the FMA ports, not loads, bound it.
MTRL_TARGET_AVX512 void kernel_avx512(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, float alpha, float beta) {
  constexpr int MR = 14;
  __m512 c0[MR], c1[MR];
#pragma GCC unroll 14
  for (int r = 0; r < MR; ++r) c0[r] = c1[r] = _mm512_setzero_ps();
  // Touch C early so its lines are (being) fetched by the time the tile is stored.
#pragma GCC unroll 14
  for (int r = 0; r < MR; ++r) _mm_prefetch(reinterpret_cast<const char*>(C + r * ldc), _MM_HINT_T0);
  for (int64_t p = 0; p < kc; ++p) {
    __m512 b0 = _mm512_load_ps(Bp), b1 = _mm512_load_ps(Bp + 16);
    _mm_prefetch(reinterpret_cast<const char*>(Bp + 32 * 6), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(Bp + 32 * 6 + 16), _MM_HINT_T0);
#pragma GCC unroll 14
    for (int r = 0; r < MR; ++r) {
      __m512 a = _mm512_set1_ps(Ap[r]);
      c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);
    }
    Ap += MR;
    Bp += 32;
  }
  __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 14
  for (int r = 0; r < MR; ++r) {
    float* c = C + r * ldc;
    if (beta == 0.0f) {
      _mm512_storeu_ps(c, _mm512_mul_ps(va, c0[r]));
      _mm512_storeu_ps(c + 16, _mm512_mul_ps(va, c1[r]));
    } else {
      _mm512_storeu_ps(c, _mm512_fmadd_ps(va, c0[r], _mm512_mul_ps(vb, _mm512_loadu_ps(c))));
      _mm512_storeu_ps(c + 16, _mm512_fmadd_ps(va, c1[r], _mm512_mul_ps(vb, _mm512_loadu_ps(c + 16))));
    }
  }
}
#endif

const Config kScalarCfg{kScalarMR, kScalarNR, 256, 256, 1024, kernel_scalar, "scalar 4x16"};
#if MTRL_X86
// Block sizes for 32 KiB L1 / 1 MiB L2 (Skylake-SP and later): A micro-panel 14×384 f32 = 21 KiB,
// B block 384×480 f32 = 720 KiB.
const Config kAvx512Cfg{14, 32, 384, 480, 14 * 216, kernel_avx512, "avx512 14x32", true};
const Config kAvx2Cfg{6, 16, 256, 384, 6 * 680, kernel_avx2, "avx2 6x16"};
#endif

const Config& config() {
#if MTRL_X86
  switch (simd_level()) {
    case SimdLevel::AVX512: return kAvx512Cfg;
    case SimdLevel::AVX2: return kAvx2Cfg;
    default: break;
  }
#endif
  return kScalarCfg;
}

// ---------------------------------------------------------------------------------------------
// Packing. Element loads widen bf16; zero padding fills partial panels so the kernel never branches.
inline float load(const float* p, int64_t i) { return p[i]; }
inline float load(const uint16_t* p, int64_t i) { return bf16_to_f32(p[i]); }

// A block rows [i0, i0+mc) × cols [p0, p0+kc) of op(A) into MR-row panels: Ap[q][k*MR + r].
template <typename T>
void pack_a_panel(bool ta, const T* A, int64_t lda, int64_t i0, int64_t rows, int64_t p0, int64_t kc, int mr, float* dst) {
  if (!ta) {
    // op(A)(i, k) = A[i*lda + k]: a transpose. Done in k-chunks of 16 so the chunk being written
    // (16×MR floats) stays in L1 while the MR source rows are read a cache line at a time.
    for (int64_t k0 = 0; k0 < kc; k0 += 16) {
      const int64_t kn = std::min<int64_t>(16, kc - k0);
      for (int r = 0; r < mr; ++r) {
        float* d = dst + k0 * mr + r;
        if (r < rows) {
          const T* src = A + (i0 + r) * lda + p0 + k0;
          for (int64_t k = 0; k < kn; ++k) d[k * mr] = load(src, k);
        } else {
          for (int64_t k = 0; k < kn; ++k) d[k * mr] = 0.0f;
        }
      }
    }
  } else {
    // op(A)(i, k) = A[k*lda + i]: each k gives MR contiguous values.
    for (int64_t k = 0; k < kc; ++k) {
      const T* src = A + (p0 + k) * lda + i0;
      float* d = dst + k * mr;
      int r = 0;
      for (; r < rows; ++r) d[r] = load(src, r);
      for (; r < mr; ++r) d[r] = 0.0f;
    }
  }
}

// B block rows [p0, p0+kc) × cols [j0, j0+cols) of op(B) into one NR-column panel: Bp[k*NR + c].
template <typename T>
void pack_b_panel(bool tb, const T* B, int64_t ldb, int64_t p0, int64_t kc, int64_t j0, int64_t cols, int nr, float* dst) {
  if (!tb) {
    for (int64_t k = 0; k < kc; ++k) {
      const T* src = B + (p0 + k) * ldb + j0;
      float* d = dst + k * nr;
      int c = 0;
      for (; c < cols; ++c) d[c] = load(src, c);
      for (; c < nr; ++c) d[c] = 0.0f;
    }
  } else {
    // op(B)(k, j) = B[j*ldb + k]: a transpose, blocked like pack_a_panel (16 k × NR in L1).
    for (int64_t k0 = 0; k0 < kc; k0 += 16) {
      const int64_t kn = std::min<int64_t>(16, kc - k0);
      for (int c = 0; c < nr; ++c) {
        float* d = dst + k0 * nr + c;
        if (c < cols) {
          const T* src = B + (j0 + c) * ldb + p0 + k0;
          for (int64_t k = 0; k < kn; ++k) d[k * nr] = load(src, k);
        } else {
          for (int64_t k = 0; k < kn; ++k) d[k * nr] = 0.0f;
        }
      }
    }
  }
}

// GCC 12 reports -Wmaybe-uninitialized inside its own AVX-512 intrinsics headers (the
// _mm512_undefined_* placeholders) wherever they are inlined; the values are all defined.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#if MTRL_X86
// AVX-512 versions of the two transposing packs (f32 only): 16×16 blocks are loaded row by row,
// transposed in registers and stored k-major, ~10x fewer instructions than element-wise copies.
// The transpose: unpack 32-bit pairs, unpack 64-bit pairs, then a 4×4 transpose of 128-bit lanes.
MTRL_TARGET_AVX512 inline void transpose16x16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // s[4g + c], lane L: column 4L + c, rows 4g..4g+3
  for (int g = 0; g < 4; ++g) {
    __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 1]);
    __m512d c = _mm512_castps_pd(t[4 * g + 2]), d = _mm512_castps_pd(t[4 * g + 3]);
    r[4 * g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    r[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    r[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  // out[4L + c], lane g = s[4g + c], lane L
  for (int c = 0; c < 4; ++c) {
    __m512 x0 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x44), x1 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xEE);
    __m512 x2 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x44), x3 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xEE);
    t[c] = _mm512_shuffle_f32x4(x0, x2, 0x88);
    t[4 + c] = _mm512_shuffle_f32x4(x0, x2, 0xDD);
    t[8 + c] = _mm512_shuffle_f32x4(x1, x3, 0x88);
    t[12 + c] = _mm512_shuffle_f32x4(x1, x3, 0xDD);
  }
  for (int i = 0; i < 16; ++i) r[i] = t[i];
}

// Loads 16 k-values of `count` source rows (rows >= count read as zero; k past kn masked).
MTRL_TARGET_AVX512 inline void load_rows16(const float* base, int64_t ld, int count, int64_t kn, __m512 r[16]) {
  const __mmask16 km = kn >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << kn) - 1u);
  for (int i = 0; i < 16; ++i) r[i] = i < count ? _mm512_maskz_loadu_ps(km, base + i * ld) : _mm512_setzero_ps();
}

// pack_a_panel for !ta, f32, MR <= 16.
MTRL_TARGET_AVX512 void pack_a_rows_avx512(const float* A, int64_t lda, int64_t i0, int64_t rows, int64_t p0, int64_t kc, int mr,
                                           float* dst) {
  const __mmask16 sm = static_cast<__mmask16>((1u << mr) - 1u);
  __m512 r[16];
  for (int64_t k0 = 0; k0 < kc; k0 += 16) {
    const int64_t kn = std::min<int64_t>(16, kc - k0);
    load_rows16(A + i0 * lda + p0 + k0, lda, static_cast<int>(rows), kn, r);
    transpose16x16(r);
    for (int64_t j = 0; j < kn; ++j) _mm512_mask_storeu_ps(dst + (k0 + j) * mr, sm, r[j]);
  }
}

// pack_b_panel for tb, f32, NR a multiple of 16.
MTRL_TARGET_AVX512 void pack_b_cols_avx512(const float* B, int64_t ldb, int64_t p0, int64_t kc, int64_t j0, int64_t cols, int nr,
                                           float* dst) {
  __m512 r[16];
  for (int64_t k0 = 0; k0 < kc; k0 += 16) {
    const int64_t kn = std::min<int64_t>(16, kc - k0);
    for (int h = 0; h < nr / 16; ++h) {
      const int64_t left = cols - 16 * h;
      load_rows16(B + (j0 + 16 * h) * ldb + p0 + k0, ldb, static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(16, left))), kn, r);
      transpose16x16(r);
      for (int64_t j = 0; j < kn; ++j) _mm512_storeu_ps(dst + (k0 + j) * nr + 16 * h, r[j]);
    }
  }
}

// The two copying packs (op(A) rows contiguous in memory when ta, op(B) columns when !tb): one masked
// load and store per k instead of an element loop whose trip count the compiler cannot see. They
// matter when M or N is small against K (weight gradients: each packed value is reused few times).
// pack_a_panel for ta, f32, MR <= 16.
MTRL_TARGET_AVX512 void pack_a_cols_avx512(const float* A, int64_t lda, int64_t i0, int64_t rows, int64_t p0, int64_t kc, int mr,
                                           float* dst) {
  const __mmask16 lm = static_cast<__mmask16>((1u << rows) - 1u), sm = static_cast<__mmask16>((1u << mr) - 1u);
  const float* src = A + p0 * lda + i0;
  for (int64_t k = 0; k < kc; ++k) _mm512_mask_storeu_ps(dst + k * mr, sm, _mm512_maskz_loadu_ps(lm, src + k * lda));
}

// pack_b_panel for !tb, f32, NR a multiple of 16.
MTRL_TARGET_AVX512 void pack_b_rows_avx512(const float* B, int64_t ldb, int64_t p0, int64_t kc, int64_t j0, int64_t cols, int nr,
                                           float* dst) {
  const float* src = B + p0 * ldb + j0;
  for (int h = 0; h < nr / 16; ++h) {
    const int64_t left = std::max<int64_t>(0, std::min<int64_t>(16, cols - 16 * h));
    const __mmask16 lm = static_cast<__mmask16>((1u << left) - 1u);
    for (int64_t k = 0; k < kc; ++k) _mm512_storeu_ps(dst + k * nr + 16 * h, _mm512_maskz_loadu_ps(lm, src + k * ldb + 16 * h));
  }
}
#endif

#pragma GCC diagnostic pop

// Thread-local, 64-byte aligned scratch that only grows: packing never allocates in steady state.
struct Scratch {
  float* p = nullptr;
  size_t cap = 0;
  float* get(size_t n) {
    if (n > cap) {
      std::free(p);
      size_t bytes = ((n * sizeof(float) + 63) / 64) * 64;
      p = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!p) {
        cap = 0;
        throw std::bad_alloc();
      }
      cap = n;
    }
    return p;
  }
  ~Scratch() { std::free(p); }
};
thread_local Scratch t_pack_a, t_pack_b;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
constexpr double kMinSliceFlopsPerThread = 4.0e6;

bool in_parallel() {
#ifdef _OPENMP
  return omp_in_parallel() != 0;
#else
  return false;
#endif
}
int thread_num() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}
int team_threads() {
#ifdef _OPENMP
  return omp_get_num_threads();
#else
  return 1;
#endif
}
int max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// Threads worth using for one problem: below ~1 MFLOP a fork costs more than it saves, and there is
// no point in more threads than micro-tiles. Threads also meet at three barriers per K slice, and the
// addon runs OpenMP passive (a barrier sleeps and wakes), so each thread needs ~4 MFLOP per slice:
// a 64×128 weight gradient over 15k tokens ran at 78 GFLOP/s on 2 threads and 115 on one.
int threads_for(int64_t m, int64_t n, int64_t k, const Config& cfg) {
  if (in_parallel()) return 1;
  double flops = 2.0 * static_cast<double>(m) * n * k;
  if (flops < 2.0e6) return 1;
  int64_t tiles = ceil_div(m, cfg.mr) * ceil_div(n, cfg.nr);
  const double slice_flops = 2.0 * static_cast<double>(m) * n * std::min<int64_t>(k, cfg.kc);
  const int64_t by_slice = std::max<int64_t>(1, static_cast<int64_t>(slice_flops / kMinSliceFlopsPerThread));
  int64_t nt = std::min<int64_t>({static_cast<int64_t>(max_threads()), tiles, by_slice});
  return static_cast<int>(std::max<int64_t>(nt, 1));
}

// C = beta * C for the k == 0 / alpha == 0 cases (beta == 0 writes zeros without reading C).
void scale_c(int64_t m, int64_t n, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    float* c = C + i * ldc;
    if (beta == 0.0f) std::fill(c, c + n, 0.0f);
    else if (beta != 1.0f)
      for (int64_t j = 0; j < n; ++j) c[j] *= beta;
  }
}

// Split K, N and M into equal blocks no larger than the configured ones (rounded up to whole
// micro-panels), so there is no thin remainder block: N = 1024 gives 3 × 352, not 480+480+64.
inline int64_t even_block(int64_t total, int64_t cap, int64_t unit) {
  const int64_t parts = ceil_div(total, cap);
  return std::max<int64_t>(unit, ceil_div(ceil_div(total, parts), unit) * unit);
}

// Panel q of op(A)'s block rows [i0, i0 + mc) × K slice [p0, p0 + kc), MR rows, into dst.
template <typename T>
inline void pack_a_one(const Config& cfg, bool ta, const T* A, int64_t lda, int64_t i0, int64_t rows, int64_t p0, int64_t kc,
                       float* dst) {
#if MTRL_X86
  if constexpr (std::is_same<T, float>::value) {
    if (cfg.avx512_pack) {
      if (ta) pack_a_cols_avx512(A, lda, i0, rows, p0, kc, cfg.mr, dst);
      else pack_a_rows_avx512(A, lda, i0, rows, p0, kc, cfg.mr, dst);
      return;
    }
  }
#endif
  pack_a_panel(ta, A, lda, i0, rows, p0, kc, cfg.mr, dst);
}

// Panel of op(B)'s K slice [p0, p0 + kc) × columns [j0, j0 + cols), NR columns, into dst.
template <typename T>
inline void pack_b_one(const Config& cfg, bool tb, const T* B, int64_t ldb, int64_t p0, int64_t kc, int64_t j0, int64_t cols,
                       float* dst) {
#if MTRL_X86
  if constexpr (std::is_same<T, float>::value) {
    if (cfg.avx512_pack) {
      if (tb) pack_b_cols_avx512(B, ldb, p0, kc, j0, cols, cfg.nr, dst);
      else pack_b_rows_avx512(B, ldb, p0, kc, j0, cols, cfg.nr, dst);
      return;
    }
  }
#endif
  pack_b_panel(tb, B, ldb, p0, kc, j0, cols, cfg.nr, dst);
}

// Columns per packed B block: the configured NB holds a KC × NB block in L2; when K is shorter than
// KC the same bytes hold more columns, and fewer blocks mean fewer barriers between the threads
// (decode's 128 × 1024 × 128 product: one block instead of three).
inline int64_t nb_cap(const Config& cfg, int64_t k) {
  const int64_t kc = std::max<int64_t>(1, std::min(k, cfg.kc));
  return std::max(cfg.nb, cfg.kc * cfg.nb / kc / cfg.nr * cfg.nr);
}

// Where a prepacked operand keeps the block the driver needs (see sgemm_pack_a / sgemm_pack_b): the
// blocks of MB rows (NB columns) one after another, each with its K slices one after another, each
// slice its panels in order. Every panel is stored full-size (MR × kc), zero-padded.
inline int64_t packed_offset(int64_t block0, int64_t block_len, int64_t unit, int64_t k, int64_t p0) {
  return block0 * k + ceil_div(block_len, unit) * unit * p0;
}

template <typename T>
void driver(const Config& cfg, int nt, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const T* A, int64_t lda,
            const T* B, int64_t ldb, float beta, float* C, int64_t ldc, const float* preA = nullptr, const float* preB = nullptr);

// Threads for splitting K when the output is small and K long (weight gradients over many tokens:
// 64 × 128 × 15104). Splitting M/N there leaves each thread too little work per K slice for the
// three barriers every slice costs, so such products ran on one thread; with K split each thread
// runs a whole serial GEMM over its share of K into a private partial C, and the partials are
// added at the end: one fork and join in all.
int split_k_threads(int64_t m, int64_t n, int64_t k, const Config& cfg) {
  if (in_parallel()) return 1;
  const int64_t T = max_threads();
  if (T < 2 || m * n > (int64_t{1} << 16) || k < 8 * cfg.kc) return 1;
  const double flops = 2.0 * static_cast<double>(m) * n * k;
  const int64_t by_work = static_cast<int64_t>(flops / 16.0e6);  // a fork and join cost ~0.1 ms here
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>({T, by_work, k / (2 * cfg.kc)})));
}

// Runs fn(0) … fn(shares − 1) on a team of `shares` threads, each share once; a loop, not one share
// per thread, because the runtime may give fewer threads than asked. The first exception is rethrown
// after the region (none may escape an OpenMP region).
template <typename F>
void for_each_share(int shares, F&& fn) {
  std::exception_ptr err;
#pragma omp parallel num_threads(shares)
  for (int t = thread_num(); t < shares; t += team_threads()) {
    try {
      fn(t);
    } catch (...) {
#pragma omp critical(mtrl_gemm_error)
      if (!err) err = std::current_exception();
    }
  }
  if (err) std::rethrow_exception(err);
}

template <typename T>
void split_k(const Config& cfg, int ks, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const T* A, int64_t lda,
             const T* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  std::vector<float> part(static_cast<size_t>((ks - 1) * m * n));
  for_each_share(ks, [&](int t) {
    const int64_t k0 = k * t / ks, k1 = k * (t + 1) / ks;
    // op(A)[:, k0:k1] and op(B)[k0:k1, :] in the caller's layout.
    const T* At = ta ? A + k0 * lda : A + k0;
    const T* Bt = tb ? B + k0 : B + k0 * ldb;
    if (t == 0) driver<T>(cfg, 1, ta, tb, m, n, k1 - k0, alpha, At, lda, Bt, ldb, beta, C, ldc);
    else driver<T>(cfg, 1, ta, tb, m, n, k1 - k0, alpha, At, lda, Bt, ldb, 0.0f, part.data() + (t - 1) * m * n, n);
  });
  // Fixed order: the result does not depend on timing.
  for (int t = 1; t < ks; ++t)
    for (int64_t i = 0; i < m; ++i) {
      const float* p = part.data() + ((t - 1) * m + i) * n;
      float* c = C + i * ldc;
      for (int64_t j = 0; j < n; ++j) c[j] += p[j];
    }
}

// Small products on several threads: each thread computes its own columns of C with a serial GEMM,
// packing op(A) for itself. Packing A once per thread costs little next to the barriers a shared
// pack needs (pack A, pack B, compute: three per block; the addon's OpenMP threads sleep at each).
constexpr double kSplitNMaxFlops = 128.0e6;
template <typename T>
void split_n(const Config& cfg, int nt, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const T* A, int64_t lda,
             const T* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  const int64_t panels = ceil_div(n, cfg.nr);
  for_each_share(nt, [&](int t) {
    const int64_t j0 = std::min(n, panels * t / nt * cfg.nr), j1 = std::min(n, panels * (t + 1) / nt * cfg.nr);
    if (j0 < j1) driver<T>(cfg, 1, ta, tb, m, j1 - j0, k, alpha, A, lda, tb ? B + j0 * ldb : B + j0, ldb, beta, C + j0, ldc);
  });
}

// One GEMM with `nt` threads (nt == 1: serial, no fork, unless K is worth splitting: split_k).
// C is f32 with leading dimension ldc. preA / preB: op(A) / op(B) already packed for this (m, k) /
// (k, n) (nullptr: pack here).
template <typename T>
void driver(const Config& cfg, int nt, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const T* A, int64_t lda,
            const T* B, int64_t ldb, float beta, float* C, int64_t ldc, const float* preA, const float* preB) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) {
    scale_c(m, n, beta, C, ldc);
    return;
  }
  if (!preA && !preB) {
    const int ks = split_k_threads(m, n, k, cfg);
    if (ks > 1) return split_k<T>(cfg, ks, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
    if (nt > 1 && 2.0 * static_cast<double>(m) * n * k <= kSplitNMaxFlops && ceil_div(n, cfg.nr) >= 2 * nt)
      return split_n<T>(cfg, nt, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
  }
  const int MR = cfg.mr, NR = cfg.nr;
  const int64_t KC = even_block(k, cfg.kc, 1), NB = even_block(n, nb_cap(cfg, k), NR), MB = even_block(m, cfg.mb, MR);
  const int64_t mb_max = std::min(MB, ceil_div(m, MR) * MR), nb_max = std::min(NB, ceil_div(n, NR) * NR);
  float* Ap = preA ? nullptr : t_pack_a.get(static_cast<size_t>(mb_max * std::min(KC, k)));
  float* Bp = preB ? nullptr : t_pack_b.get(static_cast<size_t>(nb_max * std::min(KC, k)));
  const KernelFn kernel = cfg.kernel;

#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    alignas(64) float edge[14 * 32];  // partial tiles are computed here, then copied into C
    for (int64_t i0 = 0; i0 < m; i0 += MB) {
      const int64_t mc = std::min(MB, m - i0);
      const int64_t a_panels = ceil_div(mc, MR);
      for (int64_t p0 = 0; p0 < k; p0 += KC) {
        const int64_t kc = std::min(KC, k - p0);
        const float beta_eff = p0 == 0 ? beta : 1.0f;  // later K slices accumulate onto the first
        const float* Ablk = preA ? preA + packed_offset(i0, mc, MR, k, p0) : Ap;
        if (!preA) {
#pragma omp for schedule(static)
          for (int64_t q = 0; q < a_panels; ++q)
            pack_a_one(cfg, ta, A, lda, i0 + q * MR, std::min<int64_t>(MR, mc - q * MR), p0, kc, Ap + q * MR * kc);
        }
        for (int64_t j0 = 0; j0 < n; j0 += NB) {
          const int64_t nc = std::min(NB, n - j0);
          const int64_t b_panels = ceil_div(nc, NR);
          const float* Bblk = preB ? preB + packed_offset(j0, nc, NR, k, p0) : Bp;
          if (!preB) {
#pragma omp for schedule(static)
            for (int64_t q = 0; q < b_panels; ++q)
              pack_b_one(cfg, tb, B, ldb, p0, kc, j0 + q * NR, std::min<int64_t>(NR, nc - q * NR), Bp + q * NR * kc);
          }
          // Tiles in A-panel-major order: a thread's consecutive tiles reuse one A micro-panel from L1.
#pragma omp for schedule(static)
          for (int64_t t = 0; t < a_panels * b_panels; ++t) {
            const int64_t qa = t / b_panels, qb = t % b_panels;
            const int64_t rows = std::min<int64_t>(MR, mc - qa * MR), cols = std::min<int64_t>(NR, nc - qb * NR);
            float* c = C + (i0 + qa * MR) * ldc + j0 + qb * NR;
            const float* ap = Ablk + qa * MR * kc;
            const float* bp = Bblk + qb * NR * kc;
            if (rows == MR && cols == NR) {
              kernel(kc, ap, bp, c, ldc, alpha, beta_eff);
            } else {
              kernel(kc, ap, bp, edge, NR, 1.0f, 0.0f);
              for (int64_t r = 0; r < rows; ++r)
                for (int64_t j = 0; j < cols; ++j) {
                  float v = alpha * edge[r * NR + j];
                  c[r * ldc + j] = beta_eff == 0.0f ? v : v + beta_eff * c[r * ldc + j];
                }
            }
          }
        }
      }
    }
  }
}

// Batched driver: small problems run one per thread (no synchronisation at all); large ones run
// one after another with every thread inside each.
template <typename T, typename Out>
void batched(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const T* A, int64_t lda, int64_t sa, const T* B,
             int64_t ldb, int64_t sb, float beta, Out&& run_one, int64_t batch) {
  const Config& cfg = config();
  int nt_inner = threads_for(m, n, k, cfg);
  int nt = in_parallel() ? 1 : max_threads();
  bool over_batch = nt > 1 && batch > 1 && (nt_inner == 1 || batch % nt == 0 || batch >= 4 * nt);
  if (over_batch) {
    // Worker threads allocate their own packing buffers; an exception must not escape the region.
    std::exception_ptr err;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t b = 0; b < batch; ++b) {
      try {
        run_one(cfg, 1, b);
      } catch (...) {
#pragma omp critical(mtrl_gemm_error)
        if (!err) err = std::current_exception();
      }
    }
    if (err) std::rethrow_exception(err);
  } else {
    for (int64_t b = 0; b < batch; ++b) run_one(cfg, nt_inner, b);
  }
}

}  // namespace

const char* sgemm_kernel_name() { return config().name; }

void sgemm_tile(int* mr, int* nr) {
  const Config& cfg = config();
  *mr = cfg.mr, *nr = cfg.nr;
}

int64_t sgemm_packed_a_floats(int64_t m, int64_t k) {
  const Config& cfg = config();
  return m <= 0 || k <= 0 ? 0 : ceil_div(m, cfg.mr) * cfg.mr * k;
}
int64_t sgemm_packed_b_floats(int64_t k, int64_t n) {
  const Config& cfg = config();
  return n <= 0 || k <= 0 ? 0 : ceil_div(n, cfg.nr) * cfg.nr * k;
}

void sgemm_pack_a(bool trans_a, int64_t m, int64_t k, const float* A, int64_t lda, float* dst) {
  const Config& cfg = config();
  if (m <= 0 || k <= 0) return;
  const int64_t KC = even_block(k, cfg.kc, 1), MB = even_block(m, cfg.mb, cfg.mr);
  for (int64_t i0 = 0; i0 < m; i0 += MB) {
    const int64_t mc = std::min(MB, m - i0);
    for (int64_t p0 = 0; p0 < k; p0 += KC) {
      const int64_t kc = std::min(KC, k - p0);
      float* blk = dst + packed_offset(i0, mc, cfg.mr, k, p0);
      for (int64_t q = 0; q < ceil_div(mc, cfg.mr); ++q)
        pack_a_one(cfg, trans_a, A, lda, i0 + q * cfg.mr, std::min<int64_t>(cfg.mr, mc - q * cfg.mr), p0, kc, blk + q * cfg.mr * kc);
    }
  }
}

void sgemm_pack_b(bool trans_b, int64_t k, int64_t n, const float* B, int64_t ldb, float* dst) {
  const Config& cfg = config();
  if (n <= 0 || k <= 0) return;
  const int64_t KC = even_block(k, cfg.kc, 1), NB = even_block(n, nb_cap(cfg, k), cfg.nr);
  for (int64_t j0 = 0; j0 < n; j0 += NB) {
    const int64_t nc = std::min(NB, n - j0);
    for (int64_t p0 = 0; p0 < k; p0 += KC) {
      const int64_t kc = std::min(KC, k - p0);
      float* blk = dst + packed_offset(j0, nc, cfg.nr, k, p0);
      for (int64_t q = 0; q < ceil_div(nc, cfg.nr); ++q)
        pack_b_one(cfg, trans_b, B, ldb, p0, kc, j0 + q * cfg.nr, std::min<int64_t>(cfg.nr, nc - q * cfg.nr), blk + q * cfg.nr * kc);
    }
  }
}

void sgemm_prepacked(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t lda,
                     const float* packed_a, const float* B, int64_t ldb, const float* packed_b, float beta, float* C, int64_t ldc) {
  const Config& cfg = config();
  driver<float>(cfg, threads_for(m, n, k, cfg), trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, packed_a, packed_b);
}

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  const Config& cfg = config();
  driver<float>(cfg, threads_for(m, n, k, cfg), trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

void sgemm_strided_batched(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* A,
                           int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta,
                           float* C, int64_t ldc, int64_t stride_c, int64_t batch) {
  batched<float>(trans_a, trans_b, m, n, k, alpha, A, lda, stride_a, B, ldb, stride_b, beta,
                 [&](const Config& cfg, int nt, int64_t b) {
                   driver<float>(cfg, nt, trans_a, trans_b, m, n, k, alpha, A + b * stride_a, lda, B + b * stride_b, ldb, beta,
                                 C + b * stride_c, ldc);
                 },
                 batch);
}

void bgemm_strided_batched(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const uint16_t* A,
                           int64_t lda, int64_t stride_a, const uint16_t* B, int64_t ldb, int64_t stride_b, float beta,
                           uint16_t* C, int64_t ldc, int64_t stride_c, int64_t batch) {
  // The kernel writes f32, so every problem gets an f32 copy of its C (holding C's input when
  // beta != 0), rounded to bf16 once at the end. Allocated here, outside any parallel region, so an
  // allocation failure is an exception and not a terminate.
  if (m <= 0 || n <= 0 || batch <= 0) return;
  std::vector<float> cf(static_cast<size_t>(m * n * batch));
  batched<uint16_t>(trans_a, trans_b, m, n, k, alpha, A, lda, stride_a, B, ldb, stride_b, beta,
                    [&](const Config& cfg, int nt, int64_t b) {
                      float* c = cf.data() + b * m * n;
                      uint16_t* cb = C + b * stride_c;
                      if (beta != 0.0f)
                        for (int64_t i = 0; i < m; ++i)
                          for (int64_t j = 0; j < n; ++j) c[i * n + j] = bf16_to_f32(cb[i * ldc + j]);
                      driver<uint16_t>(cfg, nt, trans_a, trans_b, m, n, k, alpha, A + b * stride_a, lda, B + b * stride_b, ldb,
                                       beta, c, n);
                      for (int64_t i = 0; i < m; ++i)
                        for (int64_t j = 0; j < n; ++j) cb[i * ldc + j] = f32_to_bf16(c[i * n + j]);
                    },
                    batch);
}

}  // namespace mtrl::cpu
