// CUDA model ops (model_ops.h), f32 and bf16 storage with f32 math. Row ops use one warp per row;
// column reductions (weight/bias gradients, row sums) go through fixed row chunks summed in a fixed
// order (the CPU's chunking), and the embedding scatter-add sums each table row in token order from
// a host-built index, so no result depends on atomics or scheduling.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "cuda_check.cuh"
#include "mtrl/bf16.h"
#include "mtrl/model_ops.h"

namespace mtrl::cuda {
namespace {

constexpr int kBlock = 256;
constexpr int kWarpsPerBlock = kBlock / 32;

__device__ __forceinline__ float ldv(const float* p, long long i) { return p[i]; }
__device__ __forceinline__ float ldv(const uint16_t* p, long long i) { return bf16_to_f32(p[i]); }
__device__ __forceinline__ void stv(float* p, long long i, float v) { p[i] = v; }
__device__ __forceinline__ void stv(uint16_t* p, long long i, float v) { p[i] = f32_to_bf16(v); }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <typename F>
void with_type(DType dt, F&& f) {
  if (dt == DType::F32) f(float{});
  else f(uint16_t{});
}

unsigned row_grid(long long rows) { return grid_for((rows + kWarpsPerBlock - 1) / kWarpsPerBlock * kBlock, kBlock); }

// Same chunking as the CPU (a function of the row count only).
inline long long chunk_rows(long long rows) { return std::max<long long>(16, (rows + 255) / 256); }

// Scratch of `n` doubles on the tensor's device, freed with the returned Tensor.
Tensor scratch_f64(long long n, Device dev) { return empty({std::max<long long>(n, 1) * 2}, DType::F32, dev); }

// ---------------------------------------------------------------------------------------------
// Column reductions: partial[c][j] = Σ_{r in chunk c} term(r, j), then out[j] (+)= Σ_c partial[c][j].
enum ColTerm : int { kPlain = 0, kRmsDw = 1, kLnDw = 2 };

template <typename T>
__global__ void col_partial(int term, const T* __restrict__ a, const T* __restrict__ x, const float* __restrict__ mean,
                            const float* __restrict__ rstd, long long rows, long long d, long long cr, double* __restrict__ partial) {
  long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  long long c = blockIdx.y;
  if (j >= d) return;
  long long r1 = min(rows, (c + 1) * cr);
  double s = 0.0;
  for (long long r = c * cr; r < r1; ++r) {
    double v = ldv(a, r * d + j);
    if (term == kRmsDw) v *= (double)ldv(x, r * d + j) * rstd[r];
    else if (term == kLnDw) v *= ((double)ldv(x, r * d + j) - mean[r]) * rstd[r];
    s += v;
  }
  partial[c * d + j] = s;
}

template <typename T>
__global__ void col_finish(const double* __restrict__ partial, long long chunks, long long d, T* __restrict__ out, bool acc) {
  long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  if (j >= d) return;
  double s = acc ? (double)ldv(out, j) : 0.0;
  for (long long c = 0; c < chunks; ++c) s += partial[c * d + j];
  stv(out, j, (float)s);
}

template <typename T>
void column_sum(int term, const T* a, const T* x, const float* mean, const float* rstd, long long rows, long long d, T* out, bool acc,
                Device dev) {
  long long cr = chunk_rows(rows), chunks = (rows + cr - 1) / cr;
  Tensor tmp = scratch_f64(chunks * d, dev);
  double* partial = static_cast<double*>(tmp.raw());
  unsigned gx = static_cast<unsigned>((d + kBlock - 1) / kBlock);
  if (chunks > 0) {
    col_partial<T><<<dim3(gx, static_cast<unsigned>(chunks)), kBlock>>>(term, a, x, mean, rstd, rows, d, cr, partial);
    MTRL_CUDA_LAUNCH_CHECK("column reduction");
  }
  col_finish<T><<<gx, kBlock>>>(partial, chunks, d, out, acc);
  MTRL_CUDA_LAUNCH_CHECK("column reduction");
  // tmp is freed on return: cudaFree waits for the device, so the kernels above finish first.
}

// ---------------------------------------------------------------------------------------------
// RMSNorm / LayerNorm, one warp per row.
template <typename T>
__global__ void rmsnorm_fwd(const T* __restrict__ X, const T* __restrict__ W, float eps, T* __restrict__ Y, float* __restrict__ R,
                            long long rows, long long d) {
  const int lane = threadIdx.x % 32;
  for (long long r = blockIdx.x * (long long)kWarpsPerBlock + threadIdx.x / 32; r < rows; r += (long long)gridDim.x * kWarpsPerBlock) {
    const T* xr = X + r * d;
    float ss = 0.0f;
    for (long long j = lane; j < d; j += 32) {
      float v = ldv(xr, j);
      ss += v * v;
    }
    ss = warp_sum(ss);
    float rs = 1.0f / sqrtf(ss / (float)d + eps);
    if (lane == 0) R[r] = rs;
    for (long long j = lane; j < d; j += 32) stv(Y + r * d, j, ldv(xr, j) * rs * ldv(W, j));
  }
}

template <typename T>
__global__ void rmsnorm_bwd(const T* __restrict__ DY, const T* __restrict__ X, const T* __restrict__ W, const float* __restrict__ R,
                            T* __restrict__ DX, long long rows, long long d) {
  const int lane = threadIdx.x % 32;
  for (long long r = blockIdx.x * (long long)kWarpsPerBlock + threadIdx.x / 32; r < rows; r += (long long)gridDim.x * kWarpsPerBlock) {
    const T *dyr = DY + r * d, *xr = X + r * d;
    float s = 0.0f;
    for (long long j = lane; j < d; j += 32) s += ldv(dyr, j) * ldv(W, j) * ldv(xr, j);
    s = warp_sum(s);
    const float rs = R[r], coef = rs * rs * rs * s / (float)d;
    for (long long j = lane; j < d; j += 32) stv(DX + r * d, j, rs * ldv(W, j) * ldv(dyr, j) - ldv(xr, j) * coef);
  }
}

template <typename T>
__global__ void layernorm_fwd(const T* __restrict__ X, const T* __restrict__ W, const T* __restrict__ B, float eps, T* __restrict__ Y,
                              float* __restrict__ M, float* __restrict__ R, long long rows, long long d) {
  const int lane = threadIdx.x % 32;
  for (long long r = blockIdx.x * (long long)kWarpsPerBlock + threadIdx.x / 32; r < rows; r += (long long)gridDim.x * kWarpsPerBlock) {
    const T* xr = X + r * d;
    float s = 0.0f;
    for (long long j = lane; j < d; j += 32) s += ldv(xr, j);
    const float mu = warp_sum(s) / (float)d;
    float ss = 0.0f;
    for (long long j = lane; j < d; j += 32) {
      float c = ldv(xr, j) - mu;
      ss += c * c;
    }
    const float rs = 1.0f / sqrtf(warp_sum(ss) / (float)d + eps);
    if (lane == 0) {
      M[r] = mu;
      R[r] = rs;
    }
    for (long long j = lane; j < d; j += 32) stv(Y + r * d, j, (ldv(xr, j) - mu) * rs * ldv(W, j) + ldv(B, j));
  }
}

template <typename T>
__global__ void layernorm_bwd(const T* __restrict__ DY, const T* __restrict__ X, const T* __restrict__ W, const float* __restrict__ M,
                              const float* __restrict__ R, T* __restrict__ DX, long long rows, long long d) {
  const int lane = threadIdx.x % 32;
  for (long long r = blockIdx.x * (long long)kWarpsPerBlock + threadIdx.x / 32; r < rows; r += (long long)gridDim.x * kWarpsPerBlock) {
    const T *dyr = DY + r * d, *xr = X + r * d;
    const float mu = M[r], rs = R[r];
    float sg = 0.0f, sgx = 0.0f;
    for (long long j = lane; j < d; j += 32) {
      float g = ldv(dyr, j) * ldv(W, j), xh = (ldv(xr, j) - mu) * rs;
      sg += g;
      sgx += g * xh;
    }
    sg = warp_sum(sg) / (float)d;
    sgx = warp_sum(sgx) / (float)d;
    for (long long j = lane; j < d; j += 32) {
      float g = ldv(dyr, j) * ldv(W, j), xh = (ldv(xr, j) - mu) * rs;
      stv(DX + r * d, j, rs * (g - sg - xh * sgx));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// RoPE: one thread per rotated pair; angles in double (positions reach the thousands).
template <typename T>
__global__ void rope_kernel(const T* X, const int32_t* __restrict__ P, bool offsets, long long S, long long H, long long D, long long half,
                            bool interleaved, double log_base, double sign, T* O, long long total) {
  for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total; e += (long long)gridDim.x * blockDim.x) {
    const long long i = e % half, row = e / half;  // row = (b*S + s)*H + h
    const long long bs = row / H, b = bs / S, s = bs % S;
    const double pos = offsets ? (double)P[b] + (double)s : (double)P[bs];
    const double ang = pos * exp(-2.0 * (double)i / (double)(2 * half) * log_base);
    double sn, cs;
    sincos(ang, &sn, &cs);
    const float c = (float)cs, sv = (float)(sign * sn);
    const long long i0 = interleaved ? 2 * i : i, i1 = interleaved ? 2 * i + 1 : i + half;
    const T* xr = X + row * D;
    T* orow = O + row * D;
    const float a = ldv(xr, i0), bb = ldv(xr, i1);
    stv(orow, i0, a * c - bb * sv);
    stv(orow, i1, bb * c + a * sv);
  }
}

template <typename T>
__global__ void copy_tail(const T* X, T* O, long long rows, long long D, long long from) {
  const long long w = D - from, total = rows * w;
  for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total; e += (long long)gridDim.x * blockDim.x) {
    const long long r = e / w, j = from + e % w;
    O[r * D + j] = X[r * D + j];
  }
}

// ---------------------------------------------------------------------------------------------
// Elementwise
constexpr float kGeluC = 0.7978845608028654f, kGeluA = 0.044715f;
__device__ __forceinline__ float sigmoidf_(float g) { return 1.0f / (1.0f + expf(-g)); }

#define MTRL_GRID_LOOP(i, n) for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)

template <typename T>
__global__ void swiglu_fwd(const T* G, const T* U, T* O, long long n) {
  MTRL_GRID_LOOP(i, n) {
    float g = ldv(G, i);
    stv(O, i, g * sigmoidf_(g) * ldv(U, i));
  }
}
template <typename T>
__global__ void swiglu_bwd(const T* DO, const T* G, const T* U, T* DG, T* DU, long long n) {
  MTRL_GRID_LOOP(i, n) {
    float g = ldv(G, i), u = ldv(U, i), d = ldv(DO, i), s = sigmoidf_(g);
    stv(DG, i, d * u * s * (1.0f + g * (1.0f - s)));
    stv(DU, i, d * g * s);
  }
}
template <typename T>
__global__ void gelu_fwd(const T* X, T* O, long long n) {
  MTRL_GRID_LOOP(i, n) {
    float v = ldv(X, i);
    stv(O, i, 0.5f * v * (1.0f + tanhf(kGeluC * (v + kGeluA * v * v * v))));
  }
}
template <typename T>
__global__ void gelu_bwd(const T* DO, const T* X, T* DX, long long n) {
  MTRL_GRID_LOOP(i, n) {
    float v = ldv(X, i), t = tanhf(kGeluC * (v + kGeluA * v * v * v));
    float dt = kGeluC * (1.0f + 3.0f * kGeluA * v * v) * (1.0f - t * t);
    stv(DX, i, ldv(DO, i) * (0.5f * (1.0f + t) + 0.5f * v * dt));
  }
}
template <typename T>
__global__ void axpy_kernel(T* Y, const T* X, float a, long long n) {
  MTRL_GRID_LOOP(i, n) stv(Y, i, ldv(Y, i) + a * ldv(X, i));
}
template <typename T>
__global__ void add_bias_kernel(T* X, const T* B, long long n, long long d) {
  MTRL_GRID_LOOP(i, n) stv(X, i, ldv(X, i) + ldv(B, i % d));
}
template <typename T>
__global__ void scale_kernel(T* X, float s, long long n) {
  MTRL_GRID_LOOP(i, n) stv(X, i, ldv(X, i) * s);
}

// ---------------------------------------------------------------------------------------------
// Embedding
template <typename T>
__global__ void gather_rows(const int32_t* __restrict__ I, const T* __restrict__ Tb, T* __restrict__ O, long long n, long long D) {
  MTRL_GRID_LOOP(e, n * D) {
    const long long t = e / D, j = e % D;
    O[e] = Tb[(long long)I[t] * D + j];
  }
}
// Block (v, column tile): table row v summed over its tokens in token order.
template <typename T>
__global__ void scatter_rows(const long long* __restrict__ start, const int32_t* __restrict__ order, const T* __restrict__ G,
                             T* __restrict__ DT, long long D, bool acc) {
  const long long v = blockIdx.x;
  const long long j = blockIdx.y * (long long)blockDim.x + threadIdx.x;
  if (j >= D) return;
  const long long q0 = start[v], q1 = start[v + 1];
  float s = acc ? ldv(DT, v * D + j) : 0.0f;
  for (long long q = q0; q < q1; ++q) s += ldv(G, (long long)order[q] * D + j);
  stv(DT, v * D + j, s);
}

std::vector<int32_t> ids_to_host(const Tensor& ids) {
  std::vector<int32_t> h(static_cast<size_t>(ids.numel()));
  if (!h.empty()) MTRL_CUDA_CHECK(cudaMemcpy(h.data(), ids.raw(), h.size() * 4, cudaMemcpyDeviceToHost));
  return h;
}
void check_ids(const std::vector<int32_t>& ids, long long V, const char* fn) {
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= V)
      throw_range_error(std::string(fn) + ": ids[" + std::to_string(i) + "] = " + std::to_string(ids[i]) + " is out of range [0, V=" +
                        std::to_string(V) + ")");
}

// ---------------------------------------------------------------------------------------------
// Patch embedding: one thread per patch-vector element; K×K windows centred on each P×P cell (K = P:
// the plain patches), zero outside the image.
template <typename In, typename T>
__global__ void patchify(const In* __restrict__ img, T* __restrict__ out, long long B, long long H, long long W, long long C, long long P,
                         long long K, float scale, float shift) {
  const long long gw = W / P, gh = H / P, pd = K * K * C, pad = (K - P) / 2, total = B * gh * gw * pd;
  MTRL_GRID_LOOP(e, total) {
    const long long inner = e % pd, patch = e / pd;
    const long long b = patch / (gh * gw), pr = patch % (gh * gw), py = pr / gw, px = pr % gw;
    const long long wy = inner / (K * C), wx = (inner / C) % K, c = inner % C;
    const long long y = py * P - pad + wy, x = px * P - pad + wx;
    const bool inside = y >= 0 && y < H && x >= 0 && x < W;
    stv(out, e, inside ? (float)img[((b * H + y) * W + x) * C + c] * scale + shift : 0.0f);
  }
}
// Backward as a gather: one thread per image element sums the window entries that read it, in patch
// order (deterministic, no atomics).
__global__ void unpatchify(const float* __restrict__ g, float* __restrict__ img, long long B, long long H, long long W, long long C,
                           long long P, long long K, float scale) {
  const long long gw = W / P, gh = H / P, pd = K * K * C, pad = (K - P) / 2, total = B * H * W * C;
  MTRL_GRID_LOOP(e, total) {
    const long long c = e % C, x = (e / C) % W, y = (e / (C * W)) % H, b = e / (C * W * H);
    const long long ty = y + pad - K + 1, tx = x + pad - K + 1;
    const long long py0 = ty <= 0 ? 0 : (ty + P - 1) / P, px0 = tx <= 0 ? 0 : (tx + P - 1) / P;
    const long long py1 = min(gh - 1, (y + pad) / P), px1 = min(gw - 1, (x + pad) / P);
    float acc = 0.0f;
    for (long long py = py0; py <= py1; ++py)
      for (long long px = px0; px <= px1; ++px)
        acc += g[((b * gh + py) * gw + px) * pd + ((y - py * P + pad) * K + (x - px * P + pad)) * C + c];
    img[e] = acc * scale;
  }
}

// ---------------------------------------------------------------------------------------------
// AdamW (PyTorch order) and squared norms.
__global__ void adamw_kernel(float* P, const float* G, float* M, float* V, long long n, float b1, float b2, float eps, float step_size,
                             float bc2_sqrt, float decay, float gs) {
  MTRL_GRID_LOOP(i, n) {
    const float g = G[i] * gs;
    const float mi = b1 * M[i] + (1.0f - b1) * g;
    const float vi = b2 * V[i] + (1.0f - b2) * g * g;
    M[i] = mi;
    V[i] = vi;
    const float denom = sqrtf(vi) / bc2_sqrt + eps;
    P[i] = P[i] * decay - step_size * mi / denom;
  }
}

constexpr long long kSqChunk = 4096;
template <typename T>
__global__ void sumsq_chunks(const T* __restrict__ X, long long n, double* __restrict__ partial) {
  __shared__ double sh[kBlock];
  const long long c = blockIdx.x, lo = c * kSqChunk, hi = min(n, lo + kSqChunk);
  double s = 0.0;
  for (long long i = lo + threadIdx.x; i < hi; i += blockDim.x) {
    double v = ldv(X, i);
    s += v * v;
  }
  sh[threadIdx.x] = s;
  __syncthreads();
  for (int w = kBlock / 2; w > 0; w >>= 1) {
    if ((int)threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[c] = sh[0];
}

}  // namespace

// =============================================================================================
void rmsnorm_forward(const Tensor& x, const Tensor& w, double eps, Tensor& y, Tensor& rstd, int64_t rows, int64_t d) {
  DeviceGuard g(x.device().index);
  if (rows == 0) return;
  with_type(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    rmsnorm_fwd<T><<<row_grid(rows), kBlock>>>(x.ptr<T>(), w.ptr<T>(), (float)eps, y.ptr<T>(), rstd.ptr<float>(), rows, d);
  });
  MTRL_CUDA_LAUNCH_CHECK("rmsnormForward");
}

void rmsnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& rstd, Tensor& dx, Tensor& dw, bool acc,
                      int64_t rows, int64_t d) {
  DeviceGuard g(x.device().index);
  with_type(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    if (rows > 0) {
      rmsnorm_bwd<T><<<row_grid(rows), kBlock>>>(dy.ptr<T>(), x.ptr<T>(), w.ptr<T>(), rstd.ptr<float>(), dx.ptr<T>(), rows, d);
      MTRL_CUDA_LAUNCH_CHECK("rmsnormBackward");
    }
    column_sum<T>(kRmsDw, dy.ptr<T>(), x.ptr<T>(), nullptr, rstd.ptr<float>(), rows, d, dw.ptr<T>(), acc, x.device());
  });
}

void layernorm_forward(const Tensor& x, const Tensor& w, const Tensor& b, double eps, Tensor& y, Tensor& mean, Tensor& rstd, int64_t rows,
                       int64_t d) {
  DeviceGuard g(x.device().index);
  if (rows == 0) return;
  with_type(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    layernorm_fwd<T><<<row_grid(rows), kBlock>>>(x.ptr<T>(), w.ptr<T>(), b.ptr<T>(), (float)eps, y.ptr<T>(), mean.ptr<float>(),
                                                 rstd.ptr<float>(), rows, d);
  });
  MTRL_CUDA_LAUNCH_CHECK("layernormForward");
}

void layernorm_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& mean, const Tensor& rstd, Tensor& dx,
                        Tensor& dw, Tensor& db, bool acc, int64_t rows, int64_t d) {
  DeviceGuard g(x.device().index);
  with_type(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    if (rows > 0) {
      layernorm_bwd<T><<<row_grid(rows), kBlock>>>(dy.ptr<T>(), x.ptr<T>(), w.ptr<T>(), mean.ptr<float>(), rstd.ptr<float>(),
                                                   dx.ptr<T>(), rows, d);
      MTRL_CUDA_LAUNCH_CHECK("layernormBackward");
    }
    column_sum<T>(kLnDw, dy.ptr<T>(), x.ptr<T>(), mean.ptr<float>(), rstd.ptr<float>(), rows, d, dw.ptr<T>(), acc, x.device());
    column_sum<T>(kPlain, dy.ptr<T>(), nullptr, nullptr, nullptr, rows, d, db.ptr<T>(), acc, x.device());
  });
}

void rope(const Tensor& x, const Tensor& positions, const RopeParams& p, Tensor& out) {
  DeviceGuard g(x.device().index);
  const long long B = x.dim(0), S = x.dim(1), H = x.dim(2), D = x.dim(3), half = p.rotary_dim / 2;
  const long long total = B * S * H * half;
  if (total == 0) return;
  with_type(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    rope_kernel<T><<<grid_for(total, kBlock), kBlock>>>(x.ptr<T>(), positions.ptr<int32_t>(), positions.ndim() == 1, S, H, D, half,
                                                        p.interleaved, std::log(p.base), p.inverse ? -1.0 : 1.0, out.ptr<T>(), total);
    MTRL_CUDA_LAUNCH_CHECK("rope");
    if (x.raw() != out.raw() && p.rotary_dim < D) {
      copy_tail<T><<<grid_for(B * S * H * (D - p.rotary_dim), kBlock), kBlock>>>(x.ptr<T>(), out.ptr<T>(), B * S * H, D, p.rotary_dim);
      MTRL_CUDA_LAUNCH_CHECK("rope");
    }
  });
}

void swiglu_forward(const Tensor& gate, const Tensor& up, Tensor& out) {
  DeviceGuard g(gate.device().index);
  const long long n = gate.numel();
  if (n == 0) return;
  with_type(gate.dtype, [&](auto tag) {
    using T = decltype(tag);
    swiglu_fwd<T><<<grid_for(n, kBlock), kBlock>>>(gate.ptr<T>(), up.ptr<T>(), out.ptr<T>(), n);
  });
  MTRL_CUDA_LAUNCH_CHECK("swigluForward");
}

void swiglu_backward(const Tensor& dout, const Tensor& gate, const Tensor& up, Tensor& dgate, Tensor& dup) {
  DeviceGuard g(gate.device().index);
  const long long n = gate.numel();
  if (n == 0) return;
  with_type(gate.dtype, [&](auto tag) {
    using T = decltype(tag);
    swiglu_bwd<T><<<grid_for(n, kBlock), kBlock>>>(dout.ptr<T>(), gate.ptr<T>(), up.ptr<T>(), dgate.ptr<T>(), dup.ptr<T>(), n);
  });
  MTRL_CUDA_LAUNCH_CHECK("swigluBackward");
}

void gelu_forward(const Tensor& x, Tensor& out) {
  DeviceGuard g(x.device().index);
  const long long n = x.numel();
  if (n == 0) return;
  with_type(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    gelu_fwd<T><<<grid_for(n, kBlock), kBlock>>>(x.ptr<T>(), out.ptr<T>(), n);
  });
  MTRL_CUDA_LAUNCH_CHECK("geluForward");
}

void gelu_backward(const Tensor& dout, const Tensor& x, Tensor& dx) {
  DeviceGuard g(x.device().index);
  const long long n = x.numel();
  if (n == 0) return;
  with_type(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    gelu_bwd<T><<<grid_for(n, kBlock), kBlock>>>(dout.ptr<T>(), x.ptr<T>(), dx.ptr<T>(), n);
  });
  MTRL_CUDA_LAUNCH_CHECK("geluBackward");
}

void axpy(Tensor& y, const Tensor& x, double alpha) {
  DeviceGuard g(y.device().index);
  const long long n = y.numel();
  if (n == 0) return;
  with_type(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    axpy_kernel<T><<<grid_for(n, kBlock), kBlock>>>(y.ptr<T>(), x.ptr<T>(), (float)alpha, n);
  });
  MTRL_CUDA_LAUNCH_CHECK("addInPlace");
}

void add_bias(Tensor& x, const Tensor& bias, int64_t rows, int64_t d) {
  DeviceGuard g(x.device().index);
  const long long n = rows * d;
  if (n == 0) return;
  with_type(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    add_bias_kernel<T><<<grid_for(n, kBlock), kBlock>>>(x.ptr<T>(), bias.ptr<T>(), n, d);
  });
  MTRL_CUDA_LAUNCH_CHECK("addBias");
}

void sum_rows(const Tensor& x, Tensor& out, bool acc, int64_t rows, int64_t d) {
  DeviceGuard g(x.device().index);
  with_type(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    column_sum<T>(kPlain, x.ptr<T>(), nullptr, nullptr, nullptr, rows, d, out.ptr<T>(), acc, x.device());
  });
}

void embedding_forward(const Tensor& ids, const Tensor& table, Tensor& out) {
  DeviceGuard g(table.device().index);
  const long long n = ids.numel(), V = table.dim(0), D = table.dim(1);
  check_ids(ids_to_host(ids), V, "embeddingForward");
  if (n * D == 0) return;
  with_type(table.dtype, [&](auto tag) {
    using T = decltype(tag);
    gather_rows<T><<<grid_for(n * D, kBlock), kBlock>>>(ids.ptr<int32_t>(), table.ptr<T>(), out.ptr<T>(), n, D);
  });
  MTRL_CUDA_LAUNCH_CHECK("embeddingForward");
}

void embedding_backward(const Tensor& dout, const Tensor& ids, Tensor& dtable, bool acc) {
  DeviceGuard g(dtable.device().index);
  const long long n = ids.numel(), V = dtable.dim(0), D = dtable.dim(1);
  std::vector<int32_t> h = ids_to_host(ids);
  check_ids(h, V, "embeddingBackward");
  if (V * D == 0) return;
  // Stable counting sort by id on the host (ids are small next to the gradients).
  std::vector<long long> start(static_cast<size_t>(V + 1), 0);
  std::vector<int32_t> order(static_cast<size_t>(std::max<long long>(n, 1)), 0);
  for (long long t = 0; t < n; ++t) ++start[h[t] + 1];
  for (long long v = 0; v < V; ++v) start[v + 1] += start[v];
  {
    std::vector<long long> fill(start.begin(), start.end() - 1);
    for (long long t = 0; t < n; ++t) order[fill[h[t]]++] = static_cast<int32_t>(t);
  }
  Tensor d_start = empty({(V + 1) * 2}, DType::I32, dtable.device());
  Tensor d_order = empty({static_cast<int64_t>(order.size())}, DType::I32, dtable.device());
  MTRL_CUDA_CHECK(cudaMemcpy(d_start.raw(), start.data(), start.size() * sizeof(long long), cudaMemcpyHostToDevice));
  MTRL_CUDA_CHECK(cudaMemcpy(d_order.raw(), order.data(), order.size() * sizeof(int32_t), cudaMemcpyHostToDevice));
  with_type(dtable.dtype, [&](auto tag) {
    using T = decltype(tag);
    const int bx = 128;
    dim3 grid(static_cast<unsigned>(V), static_cast<unsigned>((D + bx - 1) / bx));
    scatter_rows<T><<<grid, bx>>>(static_cast<const long long*>(d_start.raw()), d_order.ptr<int32_t>(), dout.ptr<T>(), dtable.ptr<T>(), D,
                                  acc);
  });
  MTRL_CUDA_LAUNCH_CHECK("embeddingBackward");
}

void patch_embed(const Tensor& image, const PatchParams& p, Tensor& out) {
  DeviceGuard g(image.device().index);
  const long long B = image.dim(0), H = image.dim(1), W = image.dim(2), C = image.dim(3), total = out.numel();
  if (total == 0) return;
  with_type(out.dtype, [&](auto tag) {
    using T = decltype(tag);
    if (image.dtype == DType::U8)
      patchify<uint8_t, T><<<grid_for(total, kBlock), kBlock>>>(image.ptr<uint8_t>(), out.ptr<T>(), B, H, W, C, p.patch, p.k(), (float)p.scale,
                                                                (float)p.shift);
    else
      patchify<float, T><<<grid_for(total, kBlock), kBlock>>>(image.ptr<float>(), out.ptr<T>(), B, H, W, C, p.patch, p.k(), (float)p.scale,
                                                              (float)p.shift);
  });
  MTRL_CUDA_LAUNCH_CHECK("patchEmbed");
}

void patch_embed_backward(const Tensor& dpatches, const PatchParams& p, Tensor& dimage) {
  DeviceGuard g(dimage.device().index);
  const long long total = dimage.numel();
  if (total == 0) return;
  unpatchify<<<grid_for(total, kBlock), kBlock>>>(dpatches.ptr<float>(), dimage.ptr<float>(), dimage.dim(0), dimage.dim(1),
                                                  dimage.dim(2), dimage.dim(3), p.patch, p.k(), (float)p.scale);
  MTRL_CUDA_LAUNCH_CHECK("patchEmbedBackward");
}

void adamw_step(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWParams& p) {
  DeviceGuard g(param.device().index);
  const long long n = param.numel();
  if (n == 0) return;
  const double bc1 = 1.0 - std::pow(p.beta1, (double)p.step), bc2 = 1.0 - std::pow(p.beta2, (double)p.step);
  adamw_kernel<<<grid_for(n, kBlock), kBlock>>>(param.ptr<float>(), grad.ptr<float>(), m.ptr<float>(), v.ptr<float>(), n, (float)p.beta1,
                                                (float)p.beta2, (float)p.eps, (float)(p.lr / bc1), (float)std::sqrt(bc2),
                                                (float)(1.0 - p.lr * p.weight_decay), (float)p.grad_scale);
  MTRL_CUDA_LAUNCH_CHECK("adamwStep");
}

double sum_squares(const Tensor& x) {
  DeviceGuard g(x.device().index);
  const long long n = x.numel();
  if (n == 0) return 0.0;
  const long long chunks = (n + kSqChunk - 1) / kSqChunk;
  Tensor tmp = scratch_f64(chunks, x.device());
  with_type(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    sumsq_chunks<T><<<static_cast<unsigned>(chunks), kBlock>>>(x.ptr<T>(), n, static_cast<double*>(tmp.raw()));
  });
  MTRL_CUDA_LAUNCH_CHECK("sumSquares");
  std::vector<double> h(static_cast<size_t>(chunks));
  MTRL_CUDA_CHECK(cudaMemcpy(h.data(), tmp.raw(), h.size() * sizeof(double), cudaMemcpyDeviceToHost));
  double s = 0.0;
  for (double v : h) s += v;
  return s;
}

void scale_inplace(Tensor& x, double s) {
  DeviceGuard g(x.device().index);
  const long long n = x.numel();
  if (n == 0) return;
  with_type(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    scale_kernel<T><<<grid_for(n, kBlock), kBlock>>>(x.ptr<T>(), (float)s, n);
  });
  MTRL_CUDA_LAUNCH_CHECK("clipGradNorm");
}

}  // namespace mtrl::cuda
