// CUDA GEMM without cuBLAS (not part of every toolkit): a shared-memory tiled SIMT kernel for f32
// (exact f32 FMA, also used for bf16 on GPUs older than sm_80) and a tensor-core kernel for bf16
// (wmma 16×16×16, f32 accumulation). Row-major, transposes handled while tiles are loaded, batched
// through blockIdx.z with element strides (stride 0 shares an operand).
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include <algorithm>
#include <mutex>
#include <type_traits>
#include <vector>

#include "cuda_check.cuh"
#include "mtrl/bf16.h"
#include "mtrl/gemm.h"

namespace mtrl::cuda {
namespace {

__device__ __forceinline__ float ld(const float* p, long long i) { return __ldg(p + i); }
__device__ __forceinline__ float ld(const uint16_t* p, long long i) { return bf16_to_f32(__ldg(p + i)); }
// C is read and then written by the same thread: plain loads, not the read-only path.
__device__ __forceinline__ float ldc_(const float* p, long long i) { return p[i]; }
__device__ __forceinline__ float ldc_(const uint16_t* p, long long i) { return bf16_to_f32(p[i]); }
__device__ __forceinline__ void st(float* p, long long i, float v) { p[i] = v; }
__device__ __forceinline__ void st(uint16_t* p, long long i, float v) { p[i] = f32_to_bf16(v); }

// ---------------------------------------------------------------------------------------------
// SIMT kernel: 128×128 block tile, BK = 8, 256 threads each owning an 8×8 sub-tile split into two
// 4-wide halves 64 apart, so shared-memory reads are conflict-free float4s.
constexpr int BM = 128, BN = 128, BK = 8, PAD = 4;

template <typename T>
__global__ void __launch_bounds__(256) sgemm_tiled(bool ta, bool tb, int m, int n, int k, float alpha, const T* __restrict__ A,
                                                   long long lda, long long sa, const T* __restrict__ B, long long ldb,
                                                   long long sb, float beta, T* __restrict__ C, long long ldc, long long sc) {
  __shared__ __align__(16) float As[BK][BM + PAD];  // As[kk][i] = op(A)(row0 + i, k0 + kk)
  __shared__ __align__(16) float Bs[BK][BN + PAD];  // Bs[kk][j] = op(B)(k0 + kk, col0 + j)
  const long long bz = blockIdx.z;
  A += bz * sa;
  B += bz * sb;
  C += bz * sc;
  const int row0 = blockIdx.y * BM, col0 = blockIdx.x * BN;
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  float acc[8][8];
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;

  for (int k0 = 0; k0 < k; k0 += BK) {
    // Each thread loads 4 elements of each tile; the fastest-varying index follows memory order so
    // global reads coalesce whichever operand is transposed.
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      int e = tid + r * 256;
      int i, kk;
      if (!ta) { i = e / BK; kk = e % BK; }
      else { i = e % BM; kk = e / BM; }
      int gi = row0 + i, gk = k0 + kk;
      float v = 0.0f;
      if (gi < m && gk < k) v = ta ? ld(A, (long long)gk * lda + gi) : ld(A, (long long)gi * lda + gk);
      As[kk][i] = v;
      int j;
      if (!tb) { j = e % BN; kk = e / BN; }
      else { j = e / BK; kk = e % BK; }
      int gj = col0 + j;
      gk = k0 + kk;
      float w = 0.0f;
      if (gj < n && gk < k) w = tb ? ld(B, (long long)gj * ldb + gk) : ld(B, (long long)gk * ldb + gj);
      Bs[kk][j] = w;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      float4 a0 = *reinterpret_cast<const float4*>(&As[kk][ty * 4]);
      float4 a1 = *reinterpret_cast<const float4*>(&As[kk][64 + ty * 4]);
      float4 b0 = *reinterpret_cast<const float4*>(&Bs[kk][tx * 4]);
      float4 b1 = *reinterpret_cast<const float4*>(&Bs[kk][64 + tx * 4]);
      float a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
      float b[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    int gi = row0 + (i < 4 ? ty * 4 + i : 64 + ty * 4 + i - 4);
    if (gi >= m) continue;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      int gj = col0 + (j < 4 ? tx * 4 + j : 64 + tx * 4 + j - 4);
      if (gj >= n) continue;
      long long o = (long long)gi * ldc + gj;
      float v = alpha * acc[i][j];
      if (beta != 0.0f) v += beta * ldc_(C, o);
      st(C, o, v);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Tensor-core kernel for bf16 (sm_80+): 64×64 block tile, BK = 32, 4 warps each computing 32×32 as
// 2×2 wmma fragments. Tiles are staged as bf16 in shared memory (row-major op(A) and op(B)); the
// accumulators go through shared memory once so alpha/beta, bounds and rounding are applied per
// element.
constexpr int TBM = 64, TBN = 64, TBK = 32;
constexpr int LDA_S = TBK + 8, LDB_S = TBN + 8, LDC_S = TBN + 4;  // wmma needs ldm % 8 == 0 (bf16), % 4 (f32)

__global__ void __launch_bounds__(128) bgemm_wmma(bool ta, bool tb, int m, int n, int k, float alpha, const uint16_t* __restrict__ A,
                                                  long long lda, long long sa, const uint16_t* __restrict__ B, long long ldb,
                                                  long long sb, float beta, uint16_t* __restrict__ C, long long ldc, long long sc) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  using namespace nvcuda;
  __shared__ __align__(128) __nv_bfloat16 As[TBM * LDA_S];  // As[i*LDA_S + kk]
  __shared__ __align__(128) __nv_bfloat16 Bs[TBK * LDB_S];  // Bs[kk*LDB_S + j]
  __shared__ __align__(128) float Cs[TBM * LDC_S];
  const long long bz = blockIdx.z;
  A += bz * sa;
  B += bz * sb;
  C += bz * sc;
  const int row0 = blockIdx.y * TBM, col0 = blockIdx.x * TBN;
  const int tid = threadIdx.x, warp = tid / 32;
  const int wr = (warp / 2) * 32, wc = (warp % 2) * 32;  // this warp's 32×32 corner in the block tile
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  for (int k0 = 0; k0 < k; k0 += TBK) {
    // 64×32 elements of each operand, 16 per thread, memory-order-fastest for coalescing.
#pragma unroll 4
    for (int r = 0; r < 16; ++r) {
      int e = tid + r * 128;
      int i, kk;
      if (!ta) { i = e / TBK; kk = e % TBK; }
      else { i = e % TBM; kk = e / TBM; }
      int gi = row0 + i, gk = k0 + kk;
      uint16_t v = 0;
      if (gi < m && gk < k) v = ta ? __ldg(A + (long long)gk * lda + gi) : __ldg(A + (long long)gi * lda + gk);
      As[i * LDA_S + kk] = __ushort_as_bfloat16(v);
      int j;
      if (!tb) { j = e % TBN; kk = e / TBN; }
      else { j = e / TBK; kk = e % TBK; }
      int gj = col0 + j;
      gk = k0 + kk;
      uint16_t w = 0;
      if (gj < n && gk < k) w = tb ? __ldg(B + (long long)gj * ldb + gk) : __ldg(B + (long long)gk * ldb + gj);
      Bs[kk * LDB_S + j] = __ushort_as_bfloat16(w);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < TBK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> fb[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(fa[i], As + (wr + i * 16) * LDA_S + kk, LDA_S);
#pragma unroll
      for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(fb[j], Bs + kk * LDB_S + wc + j * 16, LDB_S);
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
      wmma::store_matrix_sync(Cs + (wr + i * 16) * LDC_S + wc + j * 16, acc[i][j], LDC_S, wmma::mem_row_major);
  __syncthreads();
  for (int e = tid; e < TBM * TBN; e += 128) {
    int i = e / TBN, j = e % TBN;
    int gi = row0 + i, gj = col0 + j;
    if (gi >= m || gj >= n) continue;
    long long o = (long long)gi * ldc + gj;
    float v = alpha * Cs[i * LDC_S + j];
    if (beta != 0.0f) v += beta * bf16_to_f32(C[o]);
    C[o] = f32_to_bf16(v);
  }
#else
  __trap();  // never launched: the host picks the SIMT kernel below sm_80
#endif
}

// C = beta * C for k == 0 or alpha == 0 (beta == 0 writes zeros without reading C).
template <typename T>
__global__ void scale_c(int m, int n, float beta, T* C, long long ldc, long long sc) {
  C += (long long)blockIdx.z * sc;
  long long total = (long long)m * n;
  for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total; e += (long long)gridDim.x * blockDim.x) {
    long long o = (e / n) * ldc + e % n;
    st(C, o, beta == 0.0f ? 0.0f : beta * ldc_(C, o));
  }
}

int compute_major(int device) {
  static std::mutex mu;
  static std::vector<int> cache;
  std::lock_guard<std::mutex> lock(mu);
  if (device >= static_cast<int>(cache.size())) cache.resize(device + 1, -1);
  if (cache[device] < 0) MTRL_CUDA_CHECK(cudaDeviceGetAttribute(&cache[device], cudaDevAttrComputeCapabilityMajor, device));
  return cache[device];
}

void check_dims(int64_t m, int64_t n, int64_t k) {
  const int64_t lim = (int64_t{1} << 31) - 1;
  if (m > lim || n > lim || k > lim) throw_range_error("matmul (cuda): M, N and K must each be below 2^31");
  if ((m + TBM - 1) / TBM > 65535) throw_range_error("matmul (cuda): M must be at most 65535*64 rows per launch");
}

template <typename T>
void launch(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const T* A, int64_t lda, int64_t sa, const T* B,
            int64_t ldb, int64_t sb, float beta, T* C, int64_t ldc, int64_t sc, int64_t batch, cudaStream_t stream) {
  if (m <= 0 || n <= 0 || batch <= 0) return;
  check_dims(m, n, k);
  for (int64_t b0 = 0; b0 < batch; b0 += 65535) {
    unsigned nz = static_cast<unsigned>(std::min<int64_t>(65535, batch - b0));
    const T* Ab = A + b0 * sa;
    const T* Bb = B + b0 * sb;
    T* Cb = C + b0 * sc;
    if (k == 0 || alpha == 0.0f) {
      long long total = m * n;
      unsigned gx = static_cast<unsigned>(std::min<long long>((total + 255) / 256, 4096));
      scale_c<T><<<dim3(gx, 1, nz), 256, 0, stream>>>((int)m, (int)n, beta, Cb, ldc, sc);
    } else {
      bool tensor_cores = false;
      if constexpr (std::is_same<T, uint16_t>::value) {
        int dev = 0;
        MTRL_CUDA_CHECK(cudaGetDevice(&dev));
        tensor_cores = compute_major(dev) >= 8;
        if (tensor_cores) {
          dim3 grid(static_cast<unsigned>((n + TBN - 1) / TBN), static_cast<unsigned>((m + TBM - 1) / TBM), nz);
          bgemm_wmma<<<grid, 128, 0, stream>>>(ta, tb, (int)m, (int)n, (int)k, alpha, Ab, lda, sa, Bb, ldb, sb, beta, Cb, ldc, sc);
        }
      }
      if (!tensor_cores) {
        dim3 grid(static_cast<unsigned>((n + BN - 1) / BN), static_cast<unsigned>((m + BM - 1) / BM), nz);
        sgemm_tiled<T><<<grid, 256, 0, stream>>>(ta, tb, (int)m, (int)n, (int)k, alpha, Ab, lda, sa, Bb, ldb, sb, beta, Cb, ldc, sc);
      }
    }
    MTRL_CUDA_LAUNCH_CHECK("matmul");
  }
}

}  // namespace

void sgemm_strided_batched(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* A,
                           int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta,
                           float* C, int64_t ldc, int64_t stride_c, int64_t batch, void* stream) {
  launch<float>(trans_a, trans_b, m, n, k, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc, stride_c, batch,
                static_cast<cudaStream_t>(stream));
}

void bgemm_strided_batched(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const uint16_t* A,
                           int64_t lda, int64_t stride_a, const uint16_t* B, int64_t ldb, int64_t stride_b, float beta,
                           uint16_t* C, int64_t ldc, int64_t stride_c, int64_t batch, void* stream) {
  launch<uint16_t>(trans_a, trans_b, m, n, k, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc, stride_c, batch,
                   static_cast<cudaStream_t>(stream));
}

void gemm_tensor(const Tensor& a, const Tensor& b, Tensor& out, const GemmParams& p, const GemmShape& s) {
  DeviceGuard g(a.device().index);
  const int64_t lda = p.trans_a ? s.m : s.k, ldb = p.trans_b ? s.k : s.n, ldc = s.n;
  const int64_t sa = s.m * s.k, sb = s.broadcast_b ? 0 : s.k * s.n, sc = s.m * s.n;
  if (a.dtype == DType::F32)
    sgemm_strided_batched(p.trans_a, p.trans_b, s.m, s.n, s.k, p.alpha, a.ptr<float>(), lda, sa, b.ptr<float>(), ldb, sb, p.beta,
                          out.ptr<float>(), ldc, sc, s.batch, nullptr);
  else
    bgemm_strided_batched(p.trans_a, p.trans_b, s.m, s.n, s.k, p.alpha, a.ptr<uint16_t>(), lda, sa, b.ptr<uint16_t>(), ldb, sb,
                          p.beta, out.ptr<uint16_t>(), ldc, sc, s.batch, nullptr);
}

}  // namespace mtrl::cuda
