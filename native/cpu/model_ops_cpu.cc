// CPU model ops (model_ops.h): row-parallel OpenMP loops over f32 or bf16 storage with f32/f64
// math. Column reductions (weight and bias gradients, row sums, embedding scatter-add, squared
// norms) use fixed chunks summed in a fixed order, so results never depend on the thread count.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "mtrl/bf16.h"
#include "mtrl/common.h"
#include "mtrl/model_ops.h"

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
// RMSNorm
void rmsnorm_forward(const Tensor& x, const Tensor& w, double eps, Tensor& y, Tensor& rstd, int64_t rows, int64_t d) {
  with_type(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *X = x.ptr<T>(), *W = w.ptr<T>();
    T* Y = y.ptr<T>();
    float* R = rstd.ptr<float>();
#pragma omp parallel for schedule(static) if (rows * d > kParallelMin)
    for (int64_t r = 0; r < rows; ++r) {
      const T* xr = X + r * d;
      double ss = 0.0;
      for (int64_t j = 0; j < d; ++j) {
        double v = ldv(xr, j);
        ss += v * v;
      }
      float rs = static_cast<float>(1.0 / std::sqrt(ss / d + eps));
      R[r] = rs;
      T* yr = Y + r * d;
      for (int64_t j = 0; j < d; ++j) stv(yr, j, ldv(xr, j) * rs * ldv(W, j));
    }
  });
}

// dx_j = r·w_j·dy_j − x_j · r³ · (Σ_k dy_k w_k x_k) / D;  dw_j (+)= Σ_rows dy_j · x_j · r.
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
    for (int64_t c = 0; c < chunks; ++c) {
      double* pw = partial.data() + c * d;
      for (int64_t r = c * cr; r < std::min(rows, (c + 1) * cr); ++r) {
        const T *dyr = DY + r * d, *xr = X + r * d;
        const double rs = R[r];
        double s = 0.0;
        for (int64_t j = 0; j < d; ++j) s += static_cast<double>(ldv(dyr, j)) * ldv(W, j) * ldv(xr, j);
        const double coef = rs * rs * rs * s / d;
        for (int64_t j = 0; j < d; ++j) {
          double g = ldv(dyr, j), xv = ldv(xr, j);
          pw[j] += g * xv * rs;
          stv(DX + r * d, j, static_cast<float>(rs * ldv(W, j) * g - xv * coef));
        }
      }
    }
    reduce_chunks(partial, chunks, d, dw.ptr<T>(), acc);
  });
}

// ---------------------------------------------------------------------------------------------
// LayerNorm
void layernorm_forward(const Tensor& x, const Tensor& w, const Tensor& b, double eps, Tensor& y, Tensor& mean, Tensor& rstd,
                       int64_t rows, int64_t d) {
  with_type(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *X = x.ptr<T>(), *W = w.ptr<T>(), *Bv = b.ptr<T>();
    T* Y = y.ptr<T>();
    float *M = mean.ptr<float>(), *R = rstd.ptr<float>();
#pragma omp parallel for schedule(static) if (rows * d > kParallelMin)
    for (int64_t r = 0; r < rows; ++r) {
      const T* xr = X + r * d;
      double s = 0.0;
      for (int64_t j = 0; j < d; ++j) s += ldv(xr, j);
      const double mu = s / d;
      double ss = 0.0;
      for (int64_t j = 0; j < d; ++j) {
        double c = ldv(xr, j) - mu;
        ss += c * c;
      }
      const double rs = 1.0 / std::sqrt(ss / d + eps);
      M[r] = static_cast<float>(mu);
      R[r] = static_cast<float>(rs);
      for (int64_t j = 0; j < d; ++j) stv(Y + r * d, j, static_cast<float>((ldv(xr, j) - mu) * rs * ldv(W, j) + ldv(Bv, j)));
    }
  });
}

// xhat = (x − μ)·r, g = dy·w: dx = r·(g − mean(g) − xhat·mean(g·xhat)); dw (+)= Σ dy·xhat; db (+)= Σ dy.
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
    for (int64_t c = 0; c < chunks; ++c) {
      for (int64_t r = c * cr; r < std::min(rows, (c + 1) * cr); ++r) {
        const T *dyr = DY + r * d, *xr = X + r * d;
        const double mu = M[r], rs = R[r];
        double sg = 0.0, sgx = 0.0;
        for (int64_t j = 0; j < d; ++j) {
          double g = static_cast<double>(ldv(dyr, j)) * ldv(W, j), xh = (ldv(xr, j) - mu) * rs;
          sg += g;
          sgx += g * xh;
        }
        sg /= d;
        sgx /= d;
        for (int64_t j = 0; j < d; ++j) {
          double gy = ldv(dyr, j), xh = (ldv(xr, j) - mu) * rs, g = gy * ldv(W, j);
          pw[c * d + j] += gy * xh;
          pb[c * d + j] += gy;
          stv(DX + r * d, j, static_cast<float>(rs * (g - sg - xh * sgx)));
        }
      }
    }
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
// Activations
namespace {
inline float sigmoid(float g) { return 1.0f / (1.0f + std::exp(-g)); }
constexpr float kGeluC = 0.7978845608028654f;  // sqrt(2/pi)
constexpr float kGeluA = 0.044715f;
}  // namespace

void swiglu_forward(const Tensor& gate, const Tensor& up, Tensor& out) {
  const int64_t n = gate.numel();
  with_type(gate.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *G = gate.ptr<T>(), *U = up.ptr<T>();
    T* O = out.ptr<T>();
#pragma omp parallel for schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) {
      float g = ldv(G, i);
      stv(O, i, g * sigmoid(g) * ldv(U, i));
    }
  });
}

// d/dg silu(g) = σ(g)·(1 + g·(1 − σ(g))).
void swiglu_backward(const Tensor& dout, const Tensor& gate, const Tensor& up, Tensor& dgate, Tensor& dup) {
  const int64_t n = gate.numel();
  with_type(gate.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *DO = dout.ptr<T>(), *G = gate.ptr<T>(), *U = up.ptr<T>();
    T *DG = dgate.ptr<T>(), *DU = dup.ptr<T>();
#pragma omp parallel for schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) {
      float g = ldv(G, i), u = ldv(U, i), d = ldv(DO, i), s = sigmoid(g);
      stv(DG, i, d * u * s * (1.0f + g * (1.0f - s)));
      stv(DU, i, d * g * s);
    }
  });
}

void gelu_forward(const Tensor& x, Tensor& out) {
  const int64_t n = x.numel();
  with_type(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* X = x.ptr<T>();
    T* O = out.ptr<T>();
#pragma omp parallel for schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) {
      float v = ldv(X, i);
      stv(O, i, 0.5f * v * (1.0f + std::tanh(kGeluC * (v + kGeluA * v * v * v))));
    }
  });
}

void gelu_backward(const Tensor& dout, const Tensor& x, Tensor& dx) {
  const int64_t n = x.numel();
  with_type(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *DO = dout.ptr<T>(), *X = x.ptr<T>();
    T* DX = dx.ptr<T>();
#pragma omp parallel for schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) {
      float v = ldv(X, i), t = std::tanh(kGeluC * (v + kGeluA * v * v * v));
      float dt = kGeluC * (1.0f + 3.0f * kGeluA * v * v) * (1.0f - t * t);
      stv(DX, i, ldv(DO, i) * (0.5f * (1.0f + t) + 0.5f * v * dt));
    }
  });
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
  const int64_t B = image.dim(0), H = image.dim(1), W = image.dim(2), C = image.dim(3), P = p.patch;
  const int64_t gh = H / P, gw = W / P, pd = P * P * C;
  const float scale = static_cast<float>(p.scale), shift = static_cast<float>(p.shift);
  with_type(out.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* O = out.ptr<T>();
#pragma omp parallel for schedule(static) if (B * H * W * C > kParallelMin)
    for (int64_t bg = 0; bg < B * gh; ++bg) {
      const int64_t b = bg / gh, py = bg % gh;
      for (int64_t px = 0; px < gw; ++px) {
        T* o = O + ((b * gh + py) * gw + px) * pd;
        for (int64_t iy = 0; iy < P; ++iy) {
          const int64_t src = ((b * H + py * P + iy) * W + px * P) * C;
          for (int64_t e = 0; e < P * C; ++e) stv(o, iy * P * C + e, ld_img(image, src + e) * scale + shift);
        }
      }
    }
  });
}

void patch_embed_backward(const Tensor& dpatches, const PatchParams& p, Tensor& dimage) {
  const int64_t B = dimage.dim(0), H = dimage.dim(1), W = dimage.dim(2), C = dimage.dim(3), P = p.patch;
  const int64_t gh = H / P, gw = W / P, pd = P * P * C;
  const float scale = static_cast<float>(p.scale);
  const float* G = dpatches.ptr<float>();
  float* DI = dimage.ptr<float>();
#pragma omp parallel for schedule(static) if (B * H * W * C > kParallelMin)
  for (int64_t bg = 0; bg < B * gh; ++bg) {
    const int64_t b = bg / gh, py = bg % gh;
    for (int64_t px = 0; px < gw; ++px) {
      const float* g = G + ((b * gh + py) * gw + px) * pd;
      for (int64_t iy = 0; iy < P; ++iy) {
        float* dst = DI + ((b * H + py * P + iy) * W + px * P) * C;
        for (int64_t e = 0; e < P * C; ++e) dst[e] = g[iy * P * C + e] * scale;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// AdamW, in the order PyTorch's single-tensor implementation uses.
void adamw_step(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWParams& p) {
  const int64_t n = param.numel();
  const double bc1 = 1.0 - std::pow(p.beta1, static_cast<double>(p.step));
  const double bc2 = 1.0 - std::pow(p.beta2, static_cast<double>(p.step));
  const float step_size = static_cast<float>(p.lr / bc1), bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  const float decay = static_cast<float>(1.0 - p.lr * p.weight_decay);
  const float b1 = static_cast<float>(p.beta1), b2 = static_cast<float>(p.beta2), eps = static_cast<float>(p.eps);
  const float gs = static_cast<float>(p.grad_scale);
  float *P = param.ptr<float>(), *M = m.ptr<float>(), *Vv = v.ptr<float>();
  const float* G = grad.ptr<float>();
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const float g = G[i] * gs;
    const float mi = b1 * M[i] + (1.0f - b1) * g;
    const float vi = b2 * Vv[i] + (1.0f - b2) * g * g;
    M[i] = mi;
    Vv[i] = vi;
    const float denom = std::sqrt(vi) / bc2_sqrt + eps;
    P[i] = P[i] * decay - step_size * mi / denom;
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
