// CUDA versions of the elementwise ops, fill, randn, cast and the reference matmul. They match the
// CPU ones bit for bit where the arithmetic allows (randn uses the same Philox stream).
#include <cuda_runtime.h>

#include "cuda_check.cuh"
#include "mtrl/bf16.h"
#include "mtrl/ops.h"
#include "mtrl/philox.h"

namespace mtrl::cuda {
namespace {

constexpr int kBlock = 256;

template <typename T>
__global__ void fill_kernel(T* p, long long n, T v) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) p[i] = v;
}

__global__ void randn_kernel(float* pf, uint16_t* ph, long long n, uint32_t k0, uint32_t k1, double mean, double stddev) {
  long long pairs = (n + 1) / 2;
  for (long long p = blockIdx.x * (long long)blockDim.x + threadIdx.x; p < pairs; p += (long long)gridDim.x * blockDim.x) {
    U32x4 r = philox4x32_10(U32x4{(uint32_t)p, (uint32_t)(p >> 32), 0x6d74726cu, 0u}, k0, k1);
    double u1 = u64_to_unit_open0(r.x, r.y), u2 = u64_to_unit_open0(r.z, r.w);
    double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
    double z[2] = {rad * cos(th), rad * sin(th)};
    for (int j = 0; j < 2; ++j) {
      long long i = 2 * p + j;
      if (i >= n) break;
      float v = (float)(mean + stddev * z[j]);
      if (ph) ph[i] = f32_to_bf16(v);
      else pf[i] = v;
    }
  }
}

__device__ __forceinline__ float apply(BinaryOp op, float x, float y) {
  return op == BinaryOp::Add ? x + y : op == BinaryOp::Sub ? x - y : x * y;
}

__global__ void binary_f32_kernel(BinaryOp op, const float* a, const float* b, float* o, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) o[i] = apply(op, a[i], b[i]);
}
__global__ void binary_bf16_kernel(BinaryOp op, const uint16_t* a, const uint16_t* b, uint16_t* o, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    o[i] = f32_to_bf16(apply(op, bf16_to_f32(a[i]), bf16_to_f32(b[i])));
}
__global__ void scale_f32_kernel(const float* a, float al, float be, float* o, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) o[i] = al * a[i] + be;
}
__global__ void scale_bf16_kernel(const uint16_t* a, float al, float be, uint16_t* o, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    o[i] = f32_to_bf16(al * bf16_to_f32(a[i]) + be);
}

__device__ float load_f32(const void* p, int dt, long long i) {
  switch (dt) {
    case 0: return ((const float*)p)[i];
    case 1: return bf16_to_f32(((const uint16_t*)p)[i]);
    case 2: return (float)((const int32_t*)p)[i];
    default: return (float)((const uint8_t*)p)[i];
  }
}
__global__ void cast_kernel(const void* src, int sdt, void* dst, int ddt, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    if (sdt == 2 && ddt == 3) {
      ((uint8_t*)dst)[i] = (uint8_t)((const int32_t*)src)[i];
      continue;
    }
    float v = load_f32(src, sdt, i);
    switch (ddt) {
      case 0: ((float*)dst)[i] = v; break;
      case 1: ((uint16_t*)dst)[i] = f32_to_bf16(v); break;
      case 2: ((int32_t*)dst)[i] = isfinite(v) ? (int32_t)v : 0; break;
      default: ((uint8_t*)dst)[i] = (uint8_t)(isfinite(v) ? (v < 0 ? 0.f : v > 255 ? 255.f : v) : 0.f); break;
    }
  }
}

__global__ void matmul_ref_kernel(const float* A, const float* B, float* C, long long batch, long long m, long long n,
                                  long long k, bool ta, bool tb, bool bcast, float alpha, float beta) {
  long long total = batch * m * n;
  for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total; idx += (long long)gridDim.x * blockDim.x) {
    long long bi = idx / (m * n), r = idx % (m * n), i = r / n, j = r % n;
    const float* Ab = A + bi * m * k;
    const float* Bb = B + (bcast ? 0 : bi * k * n);
    double acc = 0.0;
    for (long long kk = 0; kk < k; ++kk) {
      float x = ta ? Ab[kk * m + i] : Ab[i * k + kk];
      float y = tb ? Bb[j * k + kk] : Bb[kk * n + j];
      acc += (double)x * y;
    }
    float prev = beta != 0.0f ? C[idx] : 0.0f;
    C[idx] = (float)(alpha * acc + (beta != 0.0f ? beta * prev : 0.0f));
  }
}

}  // namespace

void fill(Tensor& t, double value) {
  DeviceGuard g(t.device().index);
  long long n = t.numel();
  unsigned grid = grid_for(n, kBlock);
  switch (t.dtype) {
    case DType::F32: fill_kernel<float><<<grid, kBlock>>>(t.ptr<float>(), n, (float)value); break;
    case DType::BF16: fill_kernel<uint16_t><<<grid, kBlock>>>(t.ptr<uint16_t>(), n, f32_to_bf16((float)value)); break;
    case DType::I32: fill_kernel<int32_t><<<grid, kBlock>>>(t.ptr<int32_t>(), n, (int32_t)value); break;
    case DType::U8: fill_kernel<uint8_t><<<grid, kBlock>>>(t.ptr<uint8_t>(), n, (uint8_t)value); break;
  }
  MTRL_CUDA_LAUNCH_CHECK("fill");
}

void randn(Tensor& t, uint64_t seed, double mean, double stddev) {
  DeviceGuard g(t.device().index);
  long long n = t.numel();
  bool bf = t.dtype == DType::BF16;
  randn_kernel<<<grid_for((n + 1) / 2, kBlock), kBlock>>>(bf ? nullptr : t.ptr<float>(), bf ? t.ptr<uint16_t>() : nullptr, n,
                                                         (uint32_t)seed, (uint32_t)(seed >> 32), mean, stddev);
  MTRL_CUDA_LAUNCH_CHECK("randn");
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  DeviceGuard g(a.device().index);
  long long n = a.numel();
  if (a.dtype == DType::F32) binary_f32_kernel<<<grid_for(n, kBlock), kBlock>>>(op, a.ptr<float>(), b.ptr<float>(), out.ptr<float>(), n);
  else binary_bf16_kernel<<<grid_for(n, kBlock), kBlock>>>(op, a.ptr<uint16_t>(), b.ptr<uint16_t>(), out.ptr<uint16_t>(), n);
  MTRL_CUDA_LAUNCH_CHECK("binary");
}

void scale(const Tensor& a, double alpha, double beta, Tensor& out) {
  DeviceGuard g(a.device().index);
  long long n = a.numel();
  if (a.dtype == DType::F32) scale_f32_kernel<<<grid_for(n, kBlock), kBlock>>>(a.ptr<float>(), (float)alpha, (float)beta, out.ptr<float>(), n);
  else scale_bf16_kernel<<<grid_for(n, kBlock), kBlock>>>(a.ptr<uint16_t>(), (float)alpha, (float)beta, out.ptr<uint16_t>(), n);
  MTRL_CUDA_LAUNCH_CHECK("scale");
}

void cast(const Tensor& src, Tensor& dst) {
  DeviceGuard g(src.device().index);
  long long n = src.numel();
  if (src.dtype == dst.dtype) {
    MTRL_CUDA_CHECK(cudaMemcpy(dst.raw(), src.raw(), src.nbytes(), cudaMemcpyDeviceToDevice));
    return;
  }
  cast_kernel<<<grid_for(n, kBlock), kBlock>>>(src.raw(), (int)src.dtype, dst.raw(), (int)dst.dtype, n);
  MTRL_CUDA_LAUNCH_CHECK("cast");
}

void matmul_reference(const Tensor& a, const Tensor& b, Tensor& out, const MatmulParams& p, int64_t batch, int64_t m,
                      int64_t n, int64_t k, bool broadcast_b) {
  DeviceGuard g(a.device().index);
  matmul_ref_kernel<<<grid_for(batch * m * n, kBlock), kBlock>>>(a.ptr<float>(), b.ptr<float>(), out.ptr<float>(), batch, m, n, k,
                                                                 p.trans_a, p.trans_b, broadcast_b, p.alpha, p.beta);
  MTRL_CUDA_LAUNCH_CHECK("matmul_reference");
}

}  // namespace mtrl::cuda
