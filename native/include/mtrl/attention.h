// Fused attention (FlashAttention-2 style): forward with log-sum-exp, backward that recomputes the
// probabilities tile by tile, and KV-cache decode. Layout q (B, S, H, D), k/v (B, Sk, Hkv, D) with
// H % Hkv == 0 (GQA/MQA), out (B, S, H, D), lse (B, H, S) f32.
//
// Semantics shared by every entry point and device:
//  - scores z = scale · q·kᵀ; out = softmax(z) v over the keys a query may see;
//  - key j is visible to query i of batch row b iff j < kvLen[b] and, when causal,
//    j <= i + (kvLen[b] - qLen[b]) (bottom-right alignment, as flash-attention >= 2.1);
//  - query rows i >= qLen[b] and rows that see no key produce out = 0 and lse = -inf;
//  - nothing past kvLen/qLen is ever read, so garbage there (even NaN) changes no valid result;
//  - gradients for invalid rows (dq past qLen, dk/dv past kvLen) are exactly zero.
#pragma once
#include <cstdint>
#include <optional>

#include "mtrl/tensor.h"

namespace mtrl {

// What a caller chooses; lengths are i32 tensors (B) on the device of q.
struct AttentionOptions {
  bool causal = false;
  std::optional<double> scale;  // default 1/sqrt(D)
  std::optional<Tensor> kv_lengths;
  std::optional<Tensor> q_lengths;
};

struct AttentionForwardResult {
  Tensor out, lse;
};
struct AttentionBackwardResult {
  Tensor dq, dk, dv;
};

// Checked, device-dispatching entry points. Every bad argument throws mtrl::Error naming the
// function and the tensor. Results are allocated on the device of q with the dtype of q (lse f32).
AttentionForwardResult attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& opts);
AttentionBackwardResult attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                                           const Tensor& out, const Tensor& lse, const AttentionOptions& opts);
// Writes k_new/v_new (B, Snew, Hkv, D) into the caches (B, Smax, Hkv, D) at cache_lengths[b], advances
// cache_lengths by Snew in place, and returns the causal attention of q (B, Snew, H, D) over every
// valid cache entry (the new ones included). Throws, writing nothing, when a row would overflow Smax.
Tensor attention_decode(const Tensor& q, Tensor& k_cache, Tensor& v_cache, Tensor& cache_lengths, const Tensor& k_new,
                        const Tensor& v_new, std::optional<double> scale);
// Unfused baseline for benchmarks and tests: materialises the (B, H, S, Sk) score matrix. CPU f32 only.
AttentionForwardResult attention_naive_forward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& opts);
AttentionBackwardResult attention_naive_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                                                 const Tensor& out, const Tensor& lse, const AttentionOptions& opts);

// Device-neutral description of one call, filled after validation (pointers are device pointers on
// CUDA). Length pointers may be null (every row full length).
struct AttentionParams {
  int64_t batch = 0, seqlen_q = 0, seqlen_k = 0, heads = 0, kv_heads = 0, head_dim = 0;
  float scale = 1.0f;
  bool causal = false;
  DType dtype = DType::F32;  // of q, k, v, out, dout, dq, dk, dv
  int device_index = 0;      // CUDA device of every tensor (unused on the CPU)
  const int32_t* kv_lengths = nullptr;
  const int32_t* q_lengths = nullptr;
  const void *q = nullptr, *k = nullptr, *v = nullptr, *out_in = nullptr, *dout = nullptr;
  void* out = nullptr;
  float* lse = nullptr;  // forward writes it; backward reads it; may be null in forward (decode)
  void *dq = nullptr, *dk = nullptr, *dv = nullptr;
};

// Decode: q/out (B, Snew, H, D) against caches (B, Smax, Hkv, D); new_lengths[b] = old + Snew valid
// entries (already written), host copy in host_new_lengths for scheduling.
struct AttentionDecodeParams {
  int64_t batch = 0, seqlen_new = 0, cache_len_max = 0, heads = 0, kv_heads = 0, head_dim = 0;
  float scale = 1.0f;
  DType dtype = DType::F32;
  int device_index = 0;
  const void* q = nullptr;
  const void *k_cache = nullptr, *v_cache = nullptr;
  const int32_t* new_lengths = nullptr;  // device pointer
  int32_t max_new_length = 0;            // max over rows, from the host copy
  void* out = nullptr;
};

namespace cpu {
// Tile primitives of the CPU kernels (internal; native/cpu/attention_cpu_simd.cc). One table per
// instruction set (AVX-512, AVX2+FMA, scalar), chosen at run time by simd_level().
struct AttentionTileOps {
  // C[M×N] = (accumulate ? C : 0) + A·B with A(i,k) = A[i·a_rs + k·a_cs], B(k,j) = B[k·ldb + j],
  // C(i,j) = C[i·ldc + j]. Strided A lets one kernel serve A and Aᵀ (P·V, Pᵀ·dO, dSᵀ·Q, ...).
  void (*gemm)(int M, int N, int K, const float* A, int64_t a_rs, int64_t a_cs, const float* B, int64_t ldb, float* C,
               int64_t ldc, bool accumulate);
  float (*row_max)(const float* x, int n);
  // x[j] = 2^(x[j] - shift) for j < n; returns the sum of the results.
  float (*exp2_sum)(float* x, int n, float shift);
  // y[j] += a · x[j]
  void (*axpy)(float* y, const float* x, int n, float a);
  // x[j] *= a
  void (*scale)(float* x, int n, float a);
  // dp[j] = p[j] · (dp[j] − delta)
  void (*softmax_grad)(const float* p, float* dp, int n, float delta);
  float (*dot)(const float* a, const float* b, int n);
  // One online-softmax step over a transposed score tile st (rows = keys, cols = queries, row stride
  // ld, log2 units, masked entries = -inf), vectorised across queries: for each column i,
  // m' = max(m[i], max_j st[j][i]); st[j][i] = 2^(st[j][i] − m'); alpha[i] = 2^(m[i] − m');
  // l[i] = l[i]·alpha[i] + Σ_j st[j][i]; m[i] = m'. Columns that have seen no key keep m = -inf,
  // l = 0 and get zeros.
  void (*softmax_cols)(float* st, int rows, int cols, int64_t ld, float* m, float* l, float* alpha);
};
const AttentionTileOps& attention_tile_ops();  // for the current simd_level()

void attention_forward(const AttentionParams& p);
void attention_backward(const AttentionParams& p);
void attention_naive_forward(const AttentionParams& p);
void attention_naive_backward(const AttentionParams& p);
}  // namespace cpu

#ifdef MTRL_WITH_CUDA
namespace cuda {
void attention_forward(const AttentionParams& p);
void attention_backward(const AttentionParams& p);
void attention_decode(const AttentionDecodeParams& p);
}  // namespace cuda
#endif

}  // namespace mtrl
