// CUDA kernels of the fused policy loss: one thread block per token row computes the online softmax
// statistics (max, Σexp, entropy moment, selected logit) or writes the row's gradient, reading f32
// or bf16 logits with 16-byte vector loads where the row is aligned and accumulating in f32; plus
// the small gather/scatter/zero kernels of the chunked fused-linear path. The GEMMs come from gemm.h.
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda_check.cuh"
#include "mtrl/bf16.h"
#include "mtrl/policy_loss.h"

namespace mtrl::cuda {

PlDeviceScope::PlDeviceScope(int device) {
  MTRL_CUDA_CHECK(cudaGetDevice(&prev));
  if (prev != device) MTRL_CUDA_CHECK(cudaSetDevice(device));
}
PlDeviceScope::~PlDeviceScope() { cudaSetDevice(prev); }

namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float ld1(const float* p, long long i) { return p[i]; }
__device__ __forceinline__ float ld1(const uint16_t* p, long long i) { return bf16_to_f32(p[i]); }
__device__ __forceinline__ void st1(float* p, long long i, float v) { p[i] = v; }
__device__ __forceinline__ void st1(uint16_t* p, long long i, float v) { p[i] = f32_to_bf16(v); }

// Elements per 16-byte vector for a type.
template <typename T>
struct Vec;
template <>
struct Vec<float> {
  static constexpr int N = 4;
  __device__ static void load(const float* p, float* out) {
    float4 v = *reinterpret_cast<const float4*>(p);
    out[0] = v.x, out[1] = v.y, out[2] = v.z, out[3] = v.w;
  }
};
template <>
struct Vec<uint16_t> {
  static constexpr int N = 8;
  __device__ static void load(const uint16_t* p, float* out) {
    uint4 v = *reinterpret_cast<const uint4*>(p);
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      out[2 * k] = __uint_as_float(w[k] << 16);
      out[2 * k + 1] = __uint_as_float(w[k] & 0xffff0000u);
    }
  }
};

// Calls f(i, x) for every element of a row, vectorised when the row start is 16-byte aligned.
template <typename T, typename F>
__device__ __forceinline__ void for_row(const T* z, long long vb, F&& f) {
  constexpr int VN = Vec<T>::N;
  const bool aligned = (reinterpret_cast<uintptr_t>(z) & 15) == 0;
  long long i0 = 0;
  if (aligned) {
    const long long nvec = vb / VN;
    for (long long q = threadIdx.x; q < nvec; q += blockDim.x) {
      float x[VN];
      Vec<T>::load(z + q * VN, x);
#pragma unroll
      for (int k = 0; k < VN; ++k) f(q * VN + k, x[k]);
    }
    i0 = nvec * VN;
  }
  for (long long i = i0 + threadIdx.x; i < vb; i += blockDim.x) f(i, ld1(z, i));
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
// Block-wide reductions (blockDim.x a multiple of 32, ≤ 1024); every thread gets the result.
__device__ float block_max(float v, float* sh) {
  v = warp_max(v);
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) sh[w] = v;
  __syncthreads();
  v = lane < nw ? sh[lane] : -INFINITY;
  return warp_max(v);
}
__device__ float block_sum(float v, float* sh) {
  v = warp_sum(v);
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) sh[w] = v;
  __syncthreads();
  v = lane < nw ? sh[lane] : 0.0f;
  return warp_sum(v);
}

template <typename T>
__global__ void stats_kernel(const T* z, long long ld, const long long* rows, long long v0, long long vb, const int32_t* tokens,
                             float it, float* state, bool first) {
  __shared__ float sh[32];
  const long long r = blockIdx.x;
  const T* zr = z + (rows ? rows[r] : r) * ld;
  // Pass 1: the max; a NaN anywhere makes the row NaN (as on the CPU).
  float mx = -INFINITY;
  int nan = 0;
  for_row(zr, vb, [&](long long, float x) {
    mx = fmaxf(mx, x);
    nan |= x != x;
  });
  mx = block_max(mx, sh);
  nan = __syncthreads_or(nan);
  const float m = nan ? __int_as_float(0x7fc00000) : mx * it;
  // Pass 2: s = Σ e, u = Σ e·t with t = z/τ − m (e·t = 0 where e underflows, so −inf adds nothing).
  float s = 0.0f, u = 0.0f;
  for_row(zr, vb, [&](long long, float x) {
    float t = x * it - m;
    float e = expf(t);
    s += e;
    if (e != 0.0f) u += e * t;
  });
  s = block_sum(s, sh);
  u = block_sum(u, sh);
  if (threadIdx.x == 0) {
    float* st = state + 4 * r;
    if (first) {
      st[0] = m, st[1] = s, st[2] = u;
    } else if (!(s == 0.0f && m == m)) {
      float om = st[0], os = st[1], ou = st[2];
      if (os == 0.0f && om == om) {
        st[0] = m, st[1] = s, st[2] = u;
      } else {
        float M = (om != om || m != m) ? __int_as_float(0x7fc00000) : fmaxf(om, m);
        float ea = expf(om - M), eb = expf(m - M);
        st[0] = M;
        st[1] = os * ea + s * eb;
        st[2] = ea * (ou + os * (om - M)) + eb * (u + s * (m - M));
      }
    }
    long long tok = tokens[r];
    if (tok >= v0 && tok < v0 + vb) st[3] = ld1(zr, tok - v0) * it;
    else if (first) st[3] = __int_as_float(0x7fc00000);
  }
}

template <typename T, typename O>
__global__ void grad_kernel(const T* z, long long ld, const long long* rows, long long v0, long long vb, const int32_t* tokens,
                            float it, const float* coef, O* dz, long long ld_out) {
  const long long r = blockIdx.x;
  const long long off = rows ? rows[r] : r;
  const T* zr = z + off * ld;
  O* dr = dz + off * ld_out;
  const float lse = coef[4 * r], a = coef[4 * r + 1], b = coef[4 * r + 2], g = coef[4 * r + 3];
  const long long tl = tokens[r] - v0;  // the token's column in this block (may be outside)
  // In place (dz == z) is safe: each element is read and written by the same thread.
  for_row(zr, vb, [&](long long i, float x) {
    float t = x * it - lse;
    float p = expf(t);
    float d = p != 0.0f ? p * (a + b * t) : 0.0f;
    if (i == tl) d += g;
    st1(dr, i, d);
  });
}

template <typename O>
__global__ void zero_rows_kernel(O* dst, long long ld, const long long* rows, long long width) {
  O* d = dst + (rows ? rows[blockIdx.x] : (long long)blockIdx.x) * ld;
  for (long long i = threadIdx.x; i < width; i += blockDim.x) d[i] = O(0);
}

template <typename O>
__global__ void scatter_kernel(const float* src, O* dst, long long ld, const long long* rows, long long width) {
  const float* s = src + (long long)blockIdx.x * width;
  O* d = dst + (rows ? rows[blockIdx.x] : (long long)blockIdx.x) * ld;
  for (long long i = threadIdx.x; i < width; i += blockDim.x) st1(d, i, s[i]);
}

template <typename T>
__global__ void gather_kernel(const T* src, long long ld, const long long* rows, long long width, float* dst) {
  const T* s = src + (rows ? rows[blockIdx.x] : (long long)blockIdx.x) * ld;
  float* d = dst + (long long)blockIdx.x * width;
  for (long long i = threadIdx.x; i < width; i += blockDim.x) d[i] = ld1(s, i);
}

void check_rows(int64_t nrows) {
  if (nrows > 2147483647LL) throw_range_error("policyLoss (CUDA): more than 2^31 - 1 token rows in one call");
}

}  // namespace

void pl_stats(const void* z, DType dt, int64_t ld, const int64_t* rows, int64_t nrows, int64_t v0, int64_t vb,
              const int32_t* tokens, float inv_temp, float* state, bool first) {
  if (nrows == 0) return;
  check_rows(nrows);
  const long long* rr = reinterpret_cast<const long long*>(rows);
  if (dt == DType::BF16)
    stats_kernel<<<(unsigned)nrows, kThreads>>>(static_cast<const uint16_t*>(z), ld, rr, v0, vb, tokens, inv_temp, state, first);
  else
    stats_kernel<<<(unsigned)nrows, kThreads>>>(static_cast<const float*>(z), ld, rr, v0, vb, tokens, inv_temp, state, first);
  MTRL_CUDA_LAUNCH_CHECK("policy loss statistics");
}

void pl_grad(const void* z, DType dt, int64_t ld, const int64_t* rows, int64_t nrows, int64_t v0, int64_t vb,
             const int32_t* tokens, float inv_temp, const float* coef, void* dz, DType dzt, int64_t ld_out) {
  if (nrows == 0) return;
  check_rows(nrows);
  const long long* rr = reinterpret_cast<const long long*>(rows);
  const unsigned g = (unsigned)nrows;
  if (dt == DType::BF16) {
    const uint16_t* zz = static_cast<const uint16_t*>(z);
    if (dzt == DType::BF16) grad_kernel<<<g, kThreads>>>(zz, ld, rr, v0, vb, tokens, inv_temp, coef, static_cast<uint16_t*>(dz), ld_out);
    else grad_kernel<<<g, kThreads>>>(zz, ld, rr, v0, vb, tokens, inv_temp, coef, static_cast<float*>(dz), ld_out);
  } else {
    const float* zz = static_cast<const float*>(z);
    if (dzt == DType::BF16) grad_kernel<<<g, kThreads>>>(zz, ld, rr, v0, vb, tokens, inv_temp, coef, static_cast<uint16_t*>(dz), ld_out);
    else grad_kernel<<<g, kThreads>>>(zz, ld, rr, v0, vb, tokens, inv_temp, coef, static_cast<float*>(dz), ld_out);
  }
  MTRL_CUDA_LAUNCH_CHECK("policy loss gradient");
}

void pl_zero_rows(void* dst, DType dt, int64_t ld, const int64_t* rows, int64_t nrows, int64_t width) {
  if (nrows == 0) return;
  check_rows(nrows);
  const long long* rr = reinterpret_cast<const long long*>(rows);
  if (dt == DType::BF16) zero_rows_kernel<<<(unsigned)nrows, kThreads>>>(static_cast<uint16_t*>(dst), ld, rr, width);
  else zero_rows_kernel<<<(unsigned)nrows, kThreads>>>(static_cast<float*>(dst), ld, rr, width);
  MTRL_CUDA_LAUNCH_CHECK("policy loss zero rows");
}

void pl_scatter_rows(const float* src, void* dst, DType dt, int64_t ld, const int64_t* rows, int64_t nrows, int64_t width) {
  if (nrows == 0) return;
  check_rows(nrows);
  const long long* rr = reinterpret_cast<const long long*>(rows);
  if (dt == DType::BF16) scatter_kernel<<<(unsigned)nrows, kThreads>>>(src, static_cast<uint16_t*>(dst), ld, rr, width);
  else scatter_kernel<<<(unsigned)nrows, kThreads>>>(src, static_cast<float*>(dst), ld, rr, width);
  MTRL_CUDA_LAUNCH_CHECK("policy loss scatter rows");
}

void pl_gather_rows(const void* src, DType dt, int64_t ld, const int64_t* rows, int64_t nrows, int64_t width, float* dst) {
  if (nrows == 0) return;
  check_rows(nrows);
  const long long* rr = reinterpret_cast<const long long*>(rows);
  if (dt == DType::BF16) gather_kernel<<<(unsigned)nrows, kThreads>>>(static_cast<const uint16_t*>(src), ld, rr, width, dst);
  else gather_kernel<<<(unsigned)nrows, kThreads>>>(static_cast<const float*>(src), ld, rr, width, dst);
  MTRL_CUDA_LAUNCH_CHECK("policy loss gather rows");
}

}  // namespace mtrl::cuda
