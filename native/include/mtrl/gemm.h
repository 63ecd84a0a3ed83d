// Fast GEMM: the Tensor-level entry (batched, transposes, alpha/beta, f32 everywhere, bf16 through
// the same API) and raw-pointer kernels that other native code (policy loss, attention, the model
// ops) calls on sub-blocks of its own buffers.
//
//   C = alpha * op(A) * op(B) + beta * C,   op(X) = X or Xᵀ,   row-major, leading dimensions in elements.
//
// beta == 0 never reads C (so C may hold garbage or NaN), as in BLAS.
#pragma once
#include <cstdint>
#include <vector>

#include "mtrl/tensor.h"

namespace mtrl {

struct GemmParams {
  bool trans_a = false, trans_b = false;
  float alpha = 1.0f, beta = 0.0f;
};

// The problem a Tensor-level call describes after its arguments were checked.
struct GemmShape {
  int64_t batch = 1, m = 0, n = 0, k = 0;
  bool broadcast_b = false;  // b has no batch dims: one (K, N) matrix shared by every batch entry
};

// Checks a (..., M, K) [(..., K, M) when trans_a] and b (..., K, N) or (K, N) [transposed likewise]
// and returns the problem and the output shape (..., M, N). Errors name `fn` and the argument.
GemmShape gemm_check(const Tensor& a, const Tensor& b, const GemmParams& p, const char* fn, std::vector<int64_t>* out_shape);

// out = alpha * op(a) op(b) + beta * out. a, b, out share one dtype (f32, or bf16) and one device.
// f32 and bf16 on CPU and CUDA; on CPU bf16 operands are widened to f32 while packing and the result
// rounded once on store, so bf16 accumulates in f32 on both devices.
void gemm(const Tensor& a, const Tensor& b, Tensor& out, const GemmParams& p, const char* fn = "matmul");

namespace cpu {

// Single-precision GEMM on raw row-major pointers.
// Threading: when called outside an OpenMP parallel region it uses the OpenMP thread pool; when
// called from inside one (omp_in_parallel()) it runs serially on the calling thread, so callers may
// split their work across threads and call sgemm per block. Packing buffers are thread-local: any
// number of threads may call it at once. m, n or k == 0 is allowed (k == 0 gives C = beta * C).
void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// `batch` independent GEMMs at fixed element strides (stride_b == 0 shares one B). Threads are spread
// over the batch and inside each problem as the sizes warrant; same threading contract as sgemm.
void sgemm_strided_batched(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* A,
                           int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta,
                           float* C, int64_t ldc, int64_t stride_c, int64_t batch);

// The same with bf16 (raw uint16 bits) operands and output; accumulation in f32.
void bgemm_strided_batched(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const uint16_t* A,
                           int64_t lda, int64_t stride_a, const uint16_t* B, int64_t ldb, int64_t stride_b, float beta,
                           uint16_t* C, int64_t ldc, int64_t stride_c, int64_t batch);

// Name of the micro-kernel the current SIMD level selects ("avx512 14x32", "avx2 6x16", "scalar 4x16").
const char* sgemm_kernel_name();

// An operand shared by several GEMMs, packed once (the fused policy loss multiplies one chunk of hidden
// rows with every vocabulary block: packing it per block cost a few % of the loss). op(A) is m×k,
// op(B) is k×n; the buffers (64-byte aligned) hold sgemm_packed_{a,b}_floats floats and are valid for any other
// dimension, while the SIMD level stays the same. sgemm_prepacked is sgemm with either operand (or
// both) taken from such a buffer instead of A / B (pass nullptr to pack that one as usual).
// The micro-kernel's tile (MR rows × NR columns) at the current SIMD level: callers that choose
// their own block sizes round to it so no edge tiles are left over.
void sgemm_tile(int* mr, int* nr);
int64_t sgemm_packed_a_floats(int64_t m, int64_t k);
int64_t sgemm_packed_b_floats(int64_t k, int64_t n);
void sgemm_pack_a(bool trans_a, int64_t m, int64_t k, const float* A, int64_t lda, float* dst);
void sgemm_pack_b(bool trans_b, int64_t k, int64_t n, const float* B, int64_t ldb, float* dst);
void sgemm_prepacked(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t lda,
                     const float* packed_a, const float* B, int64_t ldb, const float* packed_b, float beta, float* C, int64_t ldc);

}  // namespace cpu

#ifdef MTRL_WITH_CUDA
namespace cuda {

// Device pointers; queued on `stream` (a cudaStream_t; nullptr = the legacy default stream that every
// other op here uses), asynchronous with respect to the host. Any host thread may call these; they
// must be given pointers on the current device. f32 uses a shared-memory tiled SIMT kernel (exact
// f32 FMA); bf16 uses tensor cores (wmma, sm_80+) with f32 accumulation.
void sgemm_strided_batched(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* A,
                           int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta,
                           float* C, int64_t ldc, int64_t stride_c, int64_t batch, void* stream = nullptr);
void bgemm_strided_batched(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const uint16_t* A,
                           int64_t lda, int64_t stride_a, const uint16_t* B, int64_t ldb, int64_t stride_b, float beta,
                           uint16_t* C, int64_t ldc, int64_t stride_c, int64_t batch, void* stream = nullptr);
// Tensor-level entry used by mtrl::gemm after the checks (sets the device, picks f32/bf16).
void gemm_tensor(const Tensor& a, const Tensor& b, Tensor& out, const GemmParams& p, const GemmShape& s);
inline void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t lda,
                  const float* B, int64_t ldb, float beta, float* C, int64_t ldc, void* stream = nullptr) {
  sgemm_strided_batched(trans_a, trans_b, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1, stream);
}

}  // namespace cuda
#endif

}  // namespace mtrl
