// CPU model ops (model_ops.h): row-parallel OpenMP loops over f32 or bf16 storage with f32/f64
// math. Column reductions (weight and bias gradients, row sums, embedding scatter-add, squared
// norms) use fixed chunks summed in a fixed order, so results never depend on the thread count.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "mtrl/bf16.h"
#include "mtrl/common.h"
#include "mtrl/cpu_features.h"
#include "mtrl/model_ops.h"

#if MTRL_X86
#include <immintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

namespace mtrl::cpu {
namespace {

inline float ldv(const float* p, int64_t i) { return p[i]; }
inline float ldv(const uint16_t* p, int64_t i) { return bf16_to_f32(p[i]); }
inline void stv(float* p, int64_t i, float v) { p[i] = v; }
inline void stv(uint16_t* p, int64_t i, float v) { p[i] = f32_to_bf16(v); }

// Calls f with a value of the storage type of a float tensor (float or uint16_t for bf16).
template <typename F>
void with_type(DType dt, F&& f) {
  if (dt == DType::F32) f(float{});
  else f(uint16_t{});
}

inline int max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}
inline int thread_num() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// Work below this many elements is not worth waking the thread pool.
constexpr int64_t kParallelMin = 1 << 15;

// Rows per reduction chunk: a function of the row count only (never of the thread count), so the
// summation order, and therefore every bit of the result, is the same on any machine.
inline int64_t chunk_rows(int64_t rows) { return std::max<int64_t>(16, (rows + 255) / 256); }

// out[j] (+)= Σ_c partial[c][j] in chunk order, parallel over columns.
template <typename T>
void reduce_chunks(const std::vector<double>& partial, int64_t chunks, int64_t d, T* out, bool acc) {
#pragma omp parallel for schedule(static) if (chunks * d > kParallelMin)
  for (int64_t j = 0; j < d; ++j) {
    double s = acc ? ldv(out, j) : 0.0;
    for (int64_t c = 0; c < chunks; ++c) s += partial[c * d + j];
    stv(out, j, static_cast<float>(s));
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// RMSNorm and LayerNorm: one row at a time, row sums in double with `omp simd` reductions so they
// vectorise; the row loops are compiled per SIMD level (MTRL_NORM_VARIANTS) and picked at run time.
namespace {
#define MTRL_INLINE __attribute__((always_inline)) inline

template <typename T>
MTRL_INLINE void rms_fwd_rows(const T* X, const T* W, T* Y, float* R, int64_t r0, int64_t r1, int64_t d, double eps) {
  for (int64_t r = r0; r < r1; ++r) {
    const T* xr = X + r * d;
    T* yr = Y + r * d;
    double ss = 0.0;
#pragma omp simd reduction(+ : ss)
    for (int64_t j = 0; j < d; ++j) {
      const double v = ldv(xr, j);
      ss += v * v;
    }
    const float rs = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(d) + eps));
    R[r] = rs;
    for (int64_t j = 0; j < d; ++j) stv(yr, j, ldv(xr, j) * rs * ldv(W, j));
  }
}

// dx_j = r·w_j·dy_j − x_j · r³ · (Σ_k dy_k w_k x_k) / D;  pw_j += dy_j · x_j · r (this chunk's dw).
template <typename T>
MTRL_INLINE void rms_bwd_rows(const T* DY, const T* X, const T* W, const float* R, T* DX, double* pw, int64_t r0, int64_t r1, int64_t d) {
  for (int64_t r = r0; r < r1; ++r) {
    const T *dyr = DY + r * d, *xr = X + r * d;
    T* dxr = DX + r * d;
    const double rs = R[r];
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < d; ++j) s += static_cast<double>(ldv(dyr, j) * ldv(W, j)) * ldv(xr, j);
    const float coef = static_cast<float>(rs * rs * rs * s / static_cast<double>(d)), rsf = static_cast<float>(rs);
    for (int64_t j = 0; j < d; ++j) {
      const float g = ldv(dyr, j), xv = ldv(xr, j);
      pw[j] += static_cast<double>(g * xv) * rs;
      stv(dxr, j, rsf * ldv(W, j) * g - xv * coef);
    }
  }
}

template <typename T>
MTRL_INLINE void ln_fwd_rows(const T* X, const T* W, const T* Bv, T* Y, float* M, float* R, int64_t r0, int64_t r1, int64_t d, double eps) {
  for (int64_t r = r0; r < r1; ++r) {
    const T* xr = X + r * d;
    T* yr = Y + r * d;
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < d; ++j) s += ldv(xr, j);
    const double mu = s / static_cast<double>(d);
    double ss = 0.0;
#pragma omp simd reduction(+ : ss)
    for (int64_t j = 0; j < d; ++j) {
      const double c = ldv(xr, j) - mu;
      ss += c * c;
    }
    const float rs = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(d) + eps)), muf = static_cast<float>(mu);
    M[r] = muf;
    R[r] = rs;
    for (int64_t j = 0; j < d; ++j) stv(yr, j, (ldv(xr, j) - muf) * rs * ldv(W, j) + ldv(Bv, j));
  }
}

// x̂ = (x − μ)·r, g = dy·w: dx = r·(g − mean(g) − x̂·mean(g·x̂)); pw += dy·x̂, pb += dy.
template <typename T>
MTRL_INLINE void ln_bwd_rows(const T* DY, const T* X, const T* W, const float* M, const float* R, T* DX, double* pw, double* pb, int64_t r0,
                             int64_t r1, int64_t d) {
  for (int64_t r = r0; r < r1; ++r) {
    const T *dyr = DY + r * d, *xr = X + r * d;
    T* dxr = DX + r * d;
    const float mu = M[r], rs = R[r];
    double sg = 0.0, sgx = 0.0;
#pragma omp simd reduction(+ : sg, sgx)
    for (int64_t j = 0; j < d; ++j) {
      const float g = ldv(dyr, j) * ldv(W, j), xh = (ldv(xr, j) - mu) * rs;
      sg += g;
      sgx += static_cast<double>(g) * xh;
    }
    const float mg = static_cast<float>(sg / static_cast<double>(d)), mgx = static_cast<float>(sgx / static_cast<double>(d));
    for (int64_t j = 0; j < d; ++j) {
      const float gy = ldv(dyr, j), xh = (ldv(xr, j) - mu) * rs, g = gy * ldv(W, j);
      pw[j] += static_cast<double>(gy * xh);
      pb[j] += gy;
      stv(dxr, j, rs * (g - mg - xh * mgx));
    }
  }
}

// Three copies of each row function: portable, AVX2, AVX-512.
#if MTRL_X86
#define MTRL_NORM_VARIANTS(name, params, args)                                     \
  template <typename T>                                                            \
  void name##_scalar params { name args; }                                         \
  template <typename T>                                                            \
  MTRL_TARGET_AVX2 void name##_avx2 params { name args; }                          \
  template <typename T>                                                            \
  MTRL_TARGET_AVX512 void name##_avx512 params { name args; }
#define MTRL_NORM_CALL(name, T, ...)                                                \
  do {                                                                             \
    const SimdLevel lvl_ = simd_level();                                           \
    if (lvl_ == SimdLevel::AVX512) name##_avx512<T>(__VA_ARGS__);                  \
    else if (lvl_ == SimdLevel::AVX2) name##_avx2<T>(__VA_ARGS__);                 \
    else name##_scalar<T>(__VA_ARGS__);                                            \
  } while (0)
#else
#define MTRL_NORM_VARIANTS(name, params, args) \
  template <typename T>                         \
  void name##_scalar params { name args; }
#define MTRL_NORM_CALL(name, T, ...) name##_scalar<T>(__VA_ARGS__)
#endif

MTRL_NORM_VARIANTS(rms_fwd_rows, (const T* X, const T* W, T* Y, float* R, int64_t r0, int64_t r1, int64_t d, double eps),
                   (X, W, Y, R, r0, r1, d, eps))
MTRL_NORM_VARIANTS(rms_bwd_rows,
                   (const T* DY, const T* X, const T* W, const float* R, T* DX, double* pw, int64_t r0, int64_t r1, int64_t d),
                   (DY, X, W, R, DX, pw, r0, r1, d))
MTRL_NORM_VARIANTS(ln_fwd_rows,
                   (const T* X, const T* W, const T* Bv, T* Y, float* M, float* R, int64_t r0, int64_t r1, int64_t d, double eps),
                   (X, W, Bv, Y, M, R, r0, r1, d, eps))
MTRL_NORM_VARIANTS(ln_bwd_rows,
                   (const T* DY, const T* X, const T* W, const float* M, const float* R, T* DX, double* pw, double* pb, int64_t r0,
                    int64_t r1, int64_t d),
                   (DY, X, W, M, R, DX, pw, pb, r0, r1, d))

// Rows per parallel work item for the forward passes (no reduction across rows there).
inline int64_t fwd_rows_per_task(int64_t d) { return std::max<int64_t>(1, 8192 / std::max<int64_t>(d, 1)); }
}  // namespace

void rmsnorm_forward(const Tensor& x, const Tensor& w, double eps, Tensor& y, Tensor& rstd, int64_t rows, int64_t d) {
  with_type(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *X = x.ptr<T>(), *W = w.ptr<T>();
    T* Y = y.ptr<T>();
    float* R = rstd.ptr<float>();
    const int64_t per = fwd_rows_per_task(d), tasks = (rows + per - 1) / per;
#pragma omp parallel for schedule(static) if (rows * d > kParallelMin)
    for (int64_t q = 0; q < tasks; ++q) MTRL_NORM_CALL(rms_fwd_rows, T, X, W, Y, R, q * per, std::min(rows, (q + 1) * per), d, eps);
  });
}

void rmsnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& rstd, Tensor& dx, Tensor& dw, bool acc,
                      int64_t rows, int64_t d) {
  with_type(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *DY = dy.ptr<T>(), *X = x.ptr<T>(), *W = w.ptr<T>();
    const float* R = rstd.ptr<float>();
    T* DX = dx.ptr<T>();
    const int64_t cr = chunk_rows(rows), chunks = (rows + cr - 1) / cr;
    std::vector<double> partial(static_cast<size_t>(std::max<int64_t>(chunks, 1) * d), 0.0);
#pragma omp parallel for schedule(static) if (rows * d > kParallelMin)
    for (int64_t c = 0; c < chunks; ++c)
      MTRL_NORM_CALL(rms_bwd_rows, T, DY, X, W, R, DX, partial.data() + c * d, c * cr, std::min(rows, (c + 1) * cr), d);
    reduce_chunks(partial, chunks, d, dw.ptr<T>(), acc);
  });
}

void layernorm_forward(const Tensor& x, const Tensor& w, const Tensor& b, double eps, Tensor& y, Tensor& mean, Tensor& rstd,
                       int64_t rows, int64_t d) {
  with_type(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *X = x.ptr<T>(), *W = w.ptr<T>(), *Bv = b.ptr<T>();
    T* Y = y.ptr<T>();
    float *M = mean.ptr<float>(), *R = rstd.ptr<float>();
    const int64_t per = fwd_rows_per_task(d), tasks = (rows + per - 1) / per;
#pragma omp parallel for schedule(static) if (rows * d > kParallelMin)
    for (int64_t q = 0; q < tasks; ++q) MTRL_NORM_CALL(ln_fwd_rows, T, X, W, Bv, Y, M, R, q * per, std::min(rows, (q + 1) * per), d, eps);
  });
}

void layernorm_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& mean, const Tensor& rstd, Tensor& dx,
                        Tensor& dw, Tensor& db, bool acc, int64_t rows, int64_t d) {
  with_type(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *DY = dy.ptr<T>(), *X = x.ptr<T>(), *W = w.ptr<T>();
    const float *M = mean.ptr<float>(), *R = rstd.ptr<float>();
    T* DX = dx.ptr<T>();
    const int64_t cr = chunk_rows(rows), chunks = (rows + cr - 1) / cr;
    const size_t psize = static_cast<size_t>(std::max<int64_t>(chunks, 1) * d);
    std::vector<double> pw(psize, 0.0), pb(psize, 0.0);
#pragma omp parallel for schedule(static) if (rows * d > kParallelMin)
    for (int64_t c = 0; c < chunks; ++c)
      MTRL_NORM_CALL(ln_bwd_rows, T, DY, X, W, M, R, DX, pw.data() + c * d, pb.data() + c * d, c * cr, std::min(rows, (c + 1) * cr), d);
    reduce_chunks(pw, chunks, d, dw.ptr<T>(), acc);
    reduce_chunks(pb, chunks, d, db.ptr<T>(), acc);
  });
}

// ---------------------------------------------------------------------------------------------
// RoPE. Angles in double: at positions in the thousands an f32 angle would already be off by ~1e-4 rad.
void rope(const Tensor& x, const Tensor& positions, const RopeParams& p, Tensor& out) {
  const int64_t B = x.dim(0), S = x.dim(1), H = x.dim(2), D = x.dim(3), half = p.rotary_dim / 2;
  const bool offsets = positions.ndim() == 1;
  const int32_t* P = positions.ptr<int32_t>();
  std::vector<double> inv_freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) inv_freq[i] = std::pow(p.base, -2.0 * static_cast<double>(i) / static_cast<double>(p.rotary_dim));
  const double sign = p.inverse ? -1.0 : 1.0;
  with_type(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* X = x.ptr<T>();
    T* O = out.ptr<T>();
    const bool in_place = X == O;
    // cos/sin per (b, s, i), computed once and shared by the H heads (allocated outside the
    // parallel loops so an allocation failure is an ordinary exception).
    std::vector<float> cs(static_cast<size_t>(B * S * half)), sn(static_cast<size_t>(B * S * half));
#pragma omp parallel for schedule(static) if (B * S * half > 4096)
    for (int64_t bs = 0; bs < B * S; ++bs) {
      const int64_t b = bs / S, s = bs % S;
      const double pos = offsets ? static_cast<double>(P[b]) + static_cast<double>(s) : static_cast<double>(P[bs]);
      for (int64_t i = 0; i < half; ++i) {
        double a = pos * inv_freq[i];
        cs[bs * half + i] = static_cast<float>(std::cos(a));
        sn[bs * half + i] = static_cast<float>(sign * std::sin(a));
      }
    }
#pragma omp parallel for schedule(static) if (B * S * H * D > kParallelMin)
    for (int64_t bs = 0; bs < B * S; ++bs) {
      const float* c_row = cs.data() + bs * half;
      const float* s_row = sn.data() + bs * half;
      for (int64_t h = 0; h < H; ++h) {
        const T* xr = X + (bs * H + h) * D;
        T* orow = O + (bs * H + h) * D;
        for (int64_t i = 0; i < half; ++i) {
          const int64_t i0 = p.interleaved ? 2 * i : i, i1 = p.interleaved ? 2 * i + 1 : i + half;
          const float a = ldv(xr, i0), c = ldv(xr, i1);
          stv(orow, i0, a * c_row[i] - c * s_row[i]);
          stv(orow, i1, c * c_row[i] + a * s_row[i]);
        }
        if (!in_place)
          for (int64_t j = p.rotary_dim; j < D; ++j) orow[j] = xr[j];
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Activations. exp and tanh come from a branch-free Cephes-style expf (max relative error ~2e-7)
// that the compiler vectorises; the f32 loops are compiled once per SIMD level (target attributes,
// picked at run time) — libm's scalar exp/tanh made these ops several times slower than memory.
namespace {

MTRL_INLINE float exp_approx(float x) {
  // NaN stays NaN: comparisons with NaN are false, so the clamps leave it alone.
  x = x > 88.3762626647949f ? 88.3762626647949f : x;
  x = x < -87.3365478515625f ? -87.3365478515625f : x;
  // n = round(x / ln 2) by the 1.5·2^23 trick: floorf would not vectorise (it must not raise
  // "inexact"), and the sum is exact in round-to-nearest for |n| < 2^22.
  const float fx = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = x - fx * 0.693359375f + fx * 2.12194440e-4f;  // Cody-Waite: x − n·ln 2 in two parts
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(fx) + 127) << 23;  // 2^n (n in [−126, 127] after the clamps)
  float scale;
  std::memcpy(&scale, &bits, 4);
  return y * scale;
}
MTRL_INLINE float sigmoid(float g) { return 1.0f / (1.0f + exp_approx(-g)); }
// tanh(z) = 1 − 2/(e^{2z} + 1): exact limits ±1, absolute error ~1e-7 near 0 (all GELU needs).
MTRL_INLINE float tanh_approx(float z) { return 1.0f - 2.0f / (exp_approx(2.0f * z) + 1.0f); }
constexpr float kGeluC = 0.7978845608028654f;  // sqrt(2/pi)
constexpr float kGeluA = 0.044715f;

enum class Act { SwigluFwd, SwigluBwd, GeluFwd, GeluBwd };

// One loop per op over plain f32 or bf16 storage. a/b/c are the op's inputs, o1/o2 its outputs:
// SwigluFwd(gate, up) → out; SwigluBwd(dout, gate, up) → dgate, dup; GeluFwd(x) → out;
// GeluBwd(dout, x) → dx. Every element reads its inputs before writing, so o1 may alias a.
template <typename T>
MTRL_INLINE void act_loop(Act op, const T* a, const T* b, const T* c, T* o1, T* o2, int64_t n) {
  switch (op) {
    case Act::SwigluFwd:
      for (int64_t i = 0; i < n; ++i) {
        float g = ldv(a, i);
        stv(o1, i, g * sigmoid(g) * ldv(b, i));
      }
      break;
    case Act::SwigluBwd:  // d/dg silu(g) = σ(g)·(1 + g·(1 − σ(g)))
      for (int64_t i = 0; i < n; ++i) {
        float d = ldv(a, i), g = ldv(b, i), u = ldv(c, i), sg = sigmoid(g);
        stv(o1, i, d * u * sg * (1.0f + g * (1.0f - sg)));
        stv(o2, i, d * g * sg);
      }
      break;
    case Act::GeluFwd:
      for (int64_t i = 0; i < n; ++i) {
        float v = ldv(a, i);
        stv(o1, i, 0.5f * v * (1.0f + tanh_approx(kGeluC * (v + kGeluA * v * v * v))));
      }
      break;
    case Act::GeluBwd:
      for (int64_t i = 0; i < n; ++i) {
        float d = ldv(a, i), v = ldv(b, i), t = tanh_approx(kGeluC * (v + kGeluA * v * v * v));
        float dt = kGeluC * (1.0f + 3.0f * kGeluA * v * v) * (1.0f - t * t);
        stv(o1, i, d * (0.5f * (1.0f + t) + 0.5f * v * dt));
      }
      break;
  }
}
template <typename T>
void act_scalar(Act op, const T* a, const T* b, const T* c, T* o1, T* o2, int64_t n) {
  act_loop(op, a, b, c, o1, o2, n);
}
#if MTRL_X86
template <typename T>
MTRL_TARGET_AVX2 void act_avx2(Act op, const T* a, const T* b, const T* c, T* o1, T* o2, int64_t n) {
  act_loop(op, a, b, c, o1, o2, n);
}
template <typename T>
MTRL_TARGET_AVX512 void act_avx512(Act op, const T* a, const T* b, const T* c, T* o1, T* o2, int64_t n) {
  act_loop(op, a, b, c, o1, o2, n);
}
#endif

constexpr int64_t kElemChunk = 1 << 14;  // elements per OpenMP work item

// Runs op over n elements of dtype dt (pointers are raw storage), in parallel chunks.
void run_act(Act op, DType dt, const void* a, const void* b, const void* c, void* o1, void* o2, int64_t n) {
  const int64_t chunks = (n + kElemChunk - 1) / kElemChunk;
  const SimdLevel lvl = simd_level();
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t q = 0; q < chunks; ++q) {
    const int64_t lo = q * kElemChunk, len = std::min(kElemChunk, n - lo);
    with_type(dt, [&](auto tag) {
      using T = decltype(tag);
      const T* pa = static_cast<const T*>(a) + lo;
      const T* pb = b ? static_cast<const T*>(b) + lo : nullptr;
      const T* pc = c ? static_cast<const T*>(c) + lo : nullptr;
      T* p1 = static_cast<T*>(o1) + lo;
      T* p2 = o2 ? static_cast<T*>(o2) + lo : nullptr;
#if MTRL_X86
      if (lvl == SimdLevel::AVX512) act_avx512<T>(op, pa, pb, pc, p1, p2, len);
      else if (lvl == SimdLevel::AVX2) act_avx2<T>(op, pa, pb, pc, p1, p2, len);
      else act_scalar<T>(op, pa, pb, pc, p1, p2, len);
#else
      act_scalar<T>(op, pa, pb, pc, p1, p2, len);
#endif
    });
  }
}
}  // namespace

void swiglu_forward(const Tensor& gate, const Tensor& up, Tensor& out) {
  run_act(Act::SwigluFwd, gate.dtype, gate.raw(), up.raw(), nullptr, out.raw(), nullptr, gate.numel());
}

void swiglu_backward(const Tensor& dout, const Tensor& gate, const Tensor& up, Tensor& dgate, Tensor& dup) {
  run_act(Act::SwigluBwd, gate.dtype, dout.raw(), gate.raw(), up.raw(), dgate.raw(), dup.raw(), gate.numel());
}

void gelu_forward(const Tensor& x, Tensor& out) {
  run_act(Act::GeluFwd, x.dtype, x.raw(), nullptr, nullptr, out.raw(), nullptr, x.numel());
}

void gelu_backward(const Tensor& dout, const Tensor& x, Tensor& dx) {
  run_act(Act::GeluBwd, x.dtype, dout.raw(), x.raw(), nullptr, dx.raw(), nullptr, x.numel());
}

// ---------------------------------------------------------------------------------------------
// BLAS-1 and reductions
void axpy(Tensor& y, const Tensor& x, double alpha) {
  const int64_t n = y.numel();
  const float a = static_cast<float>(alpha);
  with_type(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* Y = y.ptr<T>();
    const T* X = x.ptr<T>();
#pragma omp parallel for schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) stv(Y, i, ldv(Y, i) + a * ldv(X, i));
  });
}

void add_bias(Tensor& x, const Tensor& bias, int64_t rows, int64_t d) {
  with_type(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* X = x.ptr<T>();
    const T* Bv = bias.ptr<T>();
#pragma omp parallel for schedule(static) if (rows * d > kParallelMin)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < d; ++j) stv(X + r * d, j, ldv(X + r * d, j) + ldv(Bv, j));
  });
}

void sum_rows(const Tensor& x, Tensor& out, bool acc, int64_t rows, int64_t d) {
  with_type(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* X = x.ptr<T>();
    const int64_t cr = chunk_rows(rows), chunks = (rows + cr - 1) / cr;
    std::vector<double> partial(static_cast<size_t>(std::max<int64_t>(chunks, 1) * d), 0.0);
#pragma omp parallel for schedule(static) if (rows * d > kParallelMin)
    for (int64_t c = 0; c < chunks; ++c)
      for (int64_t r = c * cr; r < std::min(rows, (c + 1) * cr); ++r)
        for (int64_t j = 0; j < d; ++j) partial[c * d + j] += ldv(X + r * d, j);
    reduce_chunks(partial, chunks, d, out.ptr<T>(), acc);
  });
}

// ---------------------------------------------------------------------------------------------
// Embedding
namespace {
void check_ids(const int32_t* ids, int64_t n, int64_t V, const char* fn) {
  for (int64_t i = 0; i < n; ++i)
    if (ids[i] < 0 || ids[i] >= V)
      throw_range_error(std::string(fn) + ": ids[" + std::to_string(i) + "] = " + std::to_string(ids[i]) + " is out of range [0, V=" +
                        std::to_string(V) + ")");
}
}  // namespace

void embedding_forward(const Tensor& ids, const Tensor& table, Tensor& out) {
  const int64_t n = ids.numel(), V = table.dim(0), D = table.dim(1);
  const int32_t* I = ids.ptr<int32_t>();
  check_ids(I, n, V, "embeddingForward");
  const size_t row_bytes = static_cast<size_t>(D) * dtype_size(table.dtype);
  const uint8_t* Tb = static_cast<const uint8_t*>(table.raw());
  uint8_t* O = static_cast<uint8_t*>(out.raw());
#pragma omp parallel for schedule(static) if (n * D > kParallelMin)
  for (int64_t t = 0; t < n; ++t) std::memcpy(O + t * row_bytes, Tb + static_cast<int64_t>(I[t]) * row_bytes, row_bytes);
}

// Counting sort of the tokens by id (stable, so each id's tokens keep their order), then every
// table row is an independent, in-order sum: deterministic and parallel over rows.
void embedding_backward(const Tensor& dout, const Tensor& ids, Tensor& dtable, bool acc) {
  const int64_t n = ids.numel(), V = dtable.dim(0), D = dtable.dim(1);
  const int32_t* I = ids.ptr<int32_t>();
  check_ids(I, n, V, "embeddingBackward");
  std::vector<int64_t> start(static_cast<size_t>(V + 1), 0), order(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) ++start[I[t] + 1];
  for (int64_t v = 0; v < V; ++v) start[v + 1] += start[v];
  {
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t t = 0; t < n; ++t) order[fill[I[t]]++] = t;
  }
  with_type(dtable.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* G = dout.ptr<T>();
    T* DT = dtable.ptr<T>();
    // One accumulator row per thread, allocated before the parallel region.
    std::vector<float> rows_buf(static_cast<size_t>(max_threads() * D));
#pragma omp parallel
    {
      float* row = rows_buf.data() + static_cast<int64_t>(thread_num()) * D;
#pragma omp for schedule(static)
      for (int64_t v = 0; v < V; ++v) {
        if (start[v] == start[v + 1]) {
          if (!acc)
            for (int64_t j = 0; j < D; ++j) stv(DT + v * D, j, 0.0f);
          continue;
        }
        for (int64_t j = 0; j < D; ++j) row[j] = acc ? ldv(DT + v * D, j) : 0.0f;
        for (int64_t q = start[v]; q < start[v + 1]; ++q) {
          const T* g = G + order[q] * D;
          for (int64_t j = 0; j < D; ++j) row[j] += ldv(g, j);
        }
        for (int64_t j = 0; j < D; ++j) stv(DT + v * D, j, row[j]);
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Patch embedding
namespace {
inline float ld_img(const Tensor& img, int64_t i) {
  return img.dtype == DType::U8 ? static_cast<float>(img.ptr<uint8_t>()[i]) : img.ptr<float>()[i];
}
}  // namespace

void patch_embed(const Tensor& image, const PatchParams& p, Tensor& out) {
  const int64_t B = image.dim(0), H = image.dim(1), W = image.dim(2), C = image.dim(3), P = p.patch, K = p.k();
  const int64_t gh = H / P, gw = W / P, pd = K * K * C, pad = (K - P) / 2;
  const float scale = static_cast<float>(p.scale), shift = static_cast<float>(p.shift);
  with_type(out.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* O = out.ptr<T>();
#pragma omp parallel for schedule(static) if (B * gh * gw * pd > kParallelMin)
    for (int64_t bg = 0; bg < B * gh; ++bg) {
      const int64_t b = bg / gh, py = bg % gh;
      for (int64_t px = 0; px < gw; ++px) {
        T* o = O + ((b * gh + py) * gw + px) * pd;
        for (int64_t wy = 0; wy < K; ++wy) {
          const int64_t y = py * P - pad + wy;
          for (int64_t wx = 0; wx < K; ++wx) {
            const int64_t x = px * P - pad + wx;
            const bool inside = y >= 0 && y < H && x >= 0 && x < W;
            const int64_t src = ((b * H + y) * W + x) * C;
            for (int64_t c = 0; c < C; ++c) stv(o, (wy * K + wx) * C + c, inside ? ld_img(image, src + c) * scale + shift : 0.0f);
          }
        }
      }
    }
  });
}

// Gather form of the backward: each pixel sums the window entries that read it, in patch order, so
// overlapping windows need no atomics and the result is the same on every thread count.
void patch_embed_backward(const Tensor& dpatches, const PatchParams& p, Tensor& dimage) {
  const int64_t B = dimage.dim(0), H = dimage.dim(1), W = dimage.dim(2), C = dimage.dim(3), P = p.patch, K = p.k();
  const int64_t gh = H / P, gw = W / P, pd = K * K * C, pad = (K - P) / 2;
  const float scale = static_cast<float>(p.scale);
  const float* G = dpatches.ptr<float>();
  float* DI = dimage.ptr<float>();
  // Patches whose window covers coordinate v: v + pad − K < i·P ≤ v + pad.
  auto first = [&](int64_t v) { const int64_t t = v + pad - K + 1; return t <= 0 ? int64_t{0} : (t + P - 1) / P; };
  auto last = [&](int64_t v, int64_t g) { return std::min(g - 1, (v + pad) / P); };
#pragma omp parallel for schedule(static) if (B * H * W * C > kParallelMin)
  for (int64_t by = 0; by < B * H; ++by) {
    const int64_t b = by / H, y = by % H;
    for (int64_t x = 0; x < W; ++x) {
      float* dst = DI + ((b * H + y) * W + x) * C;
      for (int64_t c = 0; c < C; ++c) {
        float acc = 0.0f;
        for (int64_t py = first(y); py <= last(y, gh); ++py)
          for (int64_t px = first(x); px <= last(x, gw); ++px)
            acc += G[((b * gh + py) * gw + px) * pd + ((y - py * P + pad) * K + (x - px * P + pad)) * C + c];
        dst[c] = acc * scale;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// AdamW, in the order PyTorch's single-tensor implementation uses; the loop is compiled per SIMD
// level (sqrt and division vectorise).
namespace {
struct AdamConsts {
  float b1, b2, eps, step_size, bc2_sqrt, decay, gs;
};
MTRL_INLINE void adam_loop(const AdamConsts& k, float* P, const float* G, float* M, float* V, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = G[i] * k.gs;
    const float mi = k.b1 * M[i] + (1.0f - k.b1) * g;
    const float vi = k.b2 * V[i] + (1.0f - k.b2) * g * g;
    M[i] = mi;
    V[i] = vi;
    const float denom = std::sqrt(vi) / k.bc2_sqrt + k.eps;
    P[i] = P[i] * k.decay - k.step_size * mi / denom;
  }
}
void adam_scalar(const AdamConsts& k, float* P, const float* G, float* M, float* V, int64_t n) { adam_loop(k, P, G, M, V, n); }
#pragma GCC diagnostic push  // GCC 12 false positives inside the AVX-512 intrinsics headers
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#if MTRL_X86
// Explicit vectors: the compiler will not vectorise std::sqrt in the plain loop (it keeps the errno
// branch), which left AdamW several times slower than memory allows.
MTRL_TARGET_AVX2 void adam_avx2(const AdamConsts& k, float* P, const float* G, float* M, float* V, int64_t n) {
  const __m256 b1 = _mm256_set1_ps(k.b1), c1 = _mm256_set1_ps(1.0f - k.b1), b2 = _mm256_set1_ps(k.b2), c2 = _mm256_set1_ps(1.0f - k.b2);
  const __m256 gs = _mm256_set1_ps(k.gs), bc2 = _mm256_set1_ps(k.bc2_sqrt), eps = _mm256_set1_ps(k.eps);
  const __m256 decay = _mm256_set1_ps(k.decay), step = _mm256_set1_ps(k.step_size);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 g = _mm256_mul_ps(_mm256_loadu_ps(G + i), gs);
    __m256 m = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(M + i)), _mm256_mul_ps(c1, g));
    __m256 v = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(V + i)), _mm256_mul_ps(_mm256_mul_ps(c2, g), g));
    _mm256_storeu_ps(M + i, m);
    _mm256_storeu_ps(V + i, v);
    __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(v), bc2), eps);
    __m256 p = _mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(P + i), decay), _mm256_div_ps(_mm256_mul_ps(step, m), denom));
    _mm256_storeu_ps(P + i, p);
  }
  adam_loop(k, P + i, G + i, M + i, V + i, n - i);
}
MTRL_TARGET_AVX512 void adam_avx512(const AdamConsts& k, float* P, const float* G, float* M, float* V, int64_t n) {
  const __m512 b1 = _mm512_set1_ps(k.b1), c1 = _mm512_set1_ps(1.0f - k.b1), b2 = _mm512_set1_ps(k.b2), c2 = _mm512_set1_ps(1.0f - k.b2);
  const __m512 gs = _mm512_set1_ps(k.gs), bc2 = _mm512_set1_ps(k.bc2_sqrt), eps = _mm512_set1_ps(k.eps);
  const __m512 decay = _mm512_set1_ps(k.decay), step = _mm512_set1_ps(k.step_size);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 mk = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (n - i)) - 1u);
    __m512 g = _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, G + i), gs);
    __m512 m = _mm512_add_ps(_mm512_mul_ps(b1, _mm512_maskz_loadu_ps(mk, M + i)), _mm512_mul_ps(c1, g));
    __m512 v = _mm512_add_ps(_mm512_mul_ps(b2, _mm512_maskz_loadu_ps(mk, V + i)), _mm512_mul_ps(_mm512_mul_ps(c2, g), g));
    _mm512_mask_storeu_ps(M + i, mk, m);
    _mm512_mask_storeu_ps(V + i, mk, v);
    __m512 denom = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(v), bc2), eps);
    __m512 p = _mm512_sub_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(mk, P + i), decay), _mm512_div_ps(_mm512_mul_ps(step, m), denom));
    _mm512_mask_storeu_ps(P + i, mk, p);
  }
}
#endif
#pragma GCC diagnostic pop
}  // namespace

void adamw_step(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWParams& p) {
  const int64_t n = param.numel();
  const double bc1 = 1.0 - std::pow(p.beta1, static_cast<double>(p.step));
  const double bc2 = 1.0 - std::pow(p.beta2, static_cast<double>(p.step));
  const AdamConsts k{static_cast<float>(p.beta1), static_cast<float>(p.beta2), static_cast<float>(p.eps), static_cast<float>(p.lr / bc1),
                     static_cast<float>(std::sqrt(bc2)), static_cast<float>(1.0 - p.lr * p.weight_decay),
                     static_cast<float>(p.grad_scale)};
  float *P = param.ptr<float>(), *M = m.ptr<float>(), *V = v.ptr<float>();
  const float* G = grad.ptr<float>();
  const int64_t chunks = (n + kElemChunk - 1) / kElemChunk;
  const SimdLevel lvl = simd_level();
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t q = 0; q < chunks; ++q) {
    const int64_t lo = q * kElemChunk, len = std::min(kElemChunk, n - lo);
#if MTRL_X86
    if (lvl == SimdLevel::AVX512) adam_avx512(k, P + lo, G + lo, M + lo, V + lo, len);
    else if (lvl == SimdLevel::AVX2) adam_avx2(k, P + lo, G + lo, M + lo, V + lo, len);
    else adam_scalar(k, P + lo, G + lo, M + lo, V + lo, len);
#else
    adam_scalar(k, P + lo, G + lo, M + lo, V + lo, len);
#endif
  }
}

// ---------------------------------------------------------------------------------------------
// Norms
double sum_squares(const Tensor& x) {
  const int64_t n = x.numel();
  constexpr int64_t kChunk = 4096;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
  with_type(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* X = x.ptr<T>();
#pragma omp parallel for schedule(static) if (n > kParallelMin)
    for (int64_t c = 0; c < chunks; ++c) {
      double s = 0.0;
      for (int64_t i = c * kChunk; i < std::min(n, (c + 1) * kChunk); ++i) {
        double v = ldv(X, i);
        s += v * v;
      }
      partial[c] = s;
    }
  });
  double s = 0.0;
  for (double v : partial) s += v;
  return s;
}

void scale_inplace(Tensor& x, double s) {
  const int64_t n = x.numel();
  const float f = static_cast<float>(s);
  with_type(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* X = x.ptr<T>();
#pragma omp parallel for schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) stv(X, i, ldv(X, i) * f);
  });
}

}  // namespace mtrl::cpu
