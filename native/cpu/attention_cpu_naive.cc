// Unfused CPU attention: the textbook algorithm that materialises the (B, H, S, Sk) score and
// probability matrices (and dP in the backward pass), as an autograd framework without a fused
// kernel would. It uses the same SIMD GEMM as the fused kernel, so benchmarks comparing the two
// measure the effect of fusion (memory traffic, O(S·Sk) allocations), not of better inner loops.
#include <algorithm>
#include <cmath>
#include <cstring>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "mtrl/attention.h"

namespace mtrl::cpu {
namespace {

int max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}
int thread_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

constexpr float kLog2e = 1.4426950408889634f;

inline int64_t q_len(const AttentionParams& p, int64_t b) { return p.q_lengths ? p.q_lengths[b] : p.seqlen_q; }
inline int64_t kv_len(const AttentionParams& p, int64_t b) { return p.kv_lengths ? p.kv_lengths[b] : p.seqlen_k; }
inline int64_t visible_keys(const AttentionParams& p, int64_t s, int64_t qlen, int64_t kvlen) {
  return p.causal ? std::clamp<int64_t>(s + kvlen - qlen + 1, 0, kvlen) : kvlen;
}

// Kᵀ (or Vᵀ) of kv head hk of batch row b: (D, Sk) row-major, first n columns.
void transpose_kv(const float* src, int64_t Sk, int64_t Hkv, int64_t D, int64_t b, int64_t hk, int64_t n, float* dst) {
  for (int64_t j = 0; j < n; ++j) {
    const float* r = src + ((b * Sk + j) * Hkv + hk) * D;
    for (int64_t d = 0; d < D; ++d) dst[d * Sk + j] = r[d];
  }
}

// Probabilities of head (b, h) into P (S × Sk): softmax of the scaled scores over the visible keys.
// With lse given they are exp(z − lse) (the backward recomputation); otherwise lse_out receives it.
void probabilities(const AttentionParams& p, const AttentionTileOps& ops, const float* kT, int64_t b, int64_t h, float* P,
                   const float* lse_in, float* lse_out) {
  const int64_t S = p.seqlen_q, Sk = p.seqlen_k, H = p.heads, D = p.head_dim;
  const int64_t qlen = q_len(p, b), kvlen = kv_len(p, b);
  const float* Q = static_cast<const float*>(p.q) + (b * S * H + h) * D;
  std::fill(P, P + S * Sk, 0.0f);
  if (qlen > 0 && kvlen > 0) ops.gemm(static_cast<int>(qlen), static_cast<int>(kvlen), static_cast<int>(D), Q, H * D, 1, kT, Sk, P, Sk, false);
  const float c = p.scale * kLog2e;
  for (int64_t s = 0; s < S; ++s) {
    float* row = P + s * Sk;
    const int64_t n = s < qlen ? visible_keys(p, s, qlen, kvlen) : 0;
    float lse = -INFINITY;
    if (n > 0) {
      ops.scale(row, static_cast<int>(n), c);
      if (lse_in) {
        ops.exp2_sum(row, static_cast<int>(n), lse_in[s] * kLog2e);
      } else {
        const float mx = ops.row_max(row, static_cast<int>(n));
        const float sum = ops.exp2_sum(row, static_cast<int>(n), mx);
        ops.scale(row, static_cast<int>(n), 1.0f / sum);
        lse = static_cast<float>((mx + std::log2(static_cast<double>(sum))) / kLog2e);
      }
    }
    std::fill(row + std::max<int64_t>(n, 0), row + Sk, 0.0f);
    if (lse_out) lse_out[s] = lse;
  }
}

}  // namespace

void attention_naive_forward(const AttentionParams& p) {
  const AttentionTileOps& ops = attention_tile_ops();
  const int64_t B = p.batch, S = p.seqlen_q, Sk = p.seqlen_k, H = p.heads, Hkv = p.kv_heads, D = p.head_dim, group = H / Hkv;
  // The full matrix, as an unfused implementation holds it (through mtrl::empty, so memoryStats()
  // sees it; allocated before the parallel region so a failure throws on the calling thread).
  const Tensor scores = empty({std::max<int64_t>(1, B * H * S * Sk)}, DType::F32, Device{});
  const Tensor kT_all = empty({std::max<int64_t>(1, D * Sk * max_threads())}, DType::F32, Device{});
  const float* V = static_cast<const float*>(p.v);
  float* O = static_cast<float*>(p.out);
#pragma omp parallel
  {
    float* kT = kT_all.ptr<float>() + thread_id() * D * Sk;
#pragma omp for schedule(dynamic, 1)
    for (int64_t bh = 0; bh < B * H; ++bh) {
      const int64_t b = bh / H, h = bh % H, hk = h / group, qlen = q_len(p, b), kvlen = kv_len(p, b);
      float* P = scores.ptr<float>() + bh * S * Sk;
      transpose_kv(static_cast<const float*>(p.k), Sk, Hkv, D, b, hk, kvlen, kT);
      probabilities(p, ops, kT, b, h, P, nullptr, p.lse + bh * S);
      for (int64_t s = 0; s < S; ++s) std::memset(O + ((b * S + s) * H + h) * D, 0, static_cast<size_t>(D) * 4);
      if (qlen > 0 && kvlen > 0)
        ops.gemm(static_cast<int>(qlen), static_cast<int>(D), static_cast<int>(kvlen), P, Sk, 1, V + (b * Sk * Hkv + hk) * D, Hkv * D,
                 O + (b * S * H + h) * D, H * D, false);
    }
  }
}

void attention_naive_backward(const AttentionParams& p) {
  const AttentionTileOps& ops = attention_tile_ops();
  const int64_t B = p.batch, S = p.seqlen_q, Sk = p.seqlen_k, H = p.heads, Hkv = p.kv_heads, D = p.head_dim, group = H / Hkv;
  const Tensor probs = empty({std::max<int64_t>(1, B * H * S * Sk)}, DType::F32, Device{});
  const Tensor dprobs = empty({std::max<int64_t>(1, B * H * S * Sk)}, DType::F32, Device{});
  const Tensor kvT = empty({std::max<int64_t>(1, 2 * D * Sk * max_threads())}, DType::F32, Device{});
  const float* Q = static_cast<const float*>(p.q);
  const float* K = static_cast<const float*>(p.k);
  const float* dO = static_cast<const float*>(p.dout);
  float* dQ = static_cast<float*>(p.dq);
  float* dK = static_cast<float*>(p.dk);
  float* dV = static_cast<float*>(p.dv);
  std::fill(dQ, dQ + B * S * H * D, 0.0f);
  std::fill(dK, dK + B * Sk * Hkv * D, 0.0f);
  std::fill(dV, dV + B * Sk * Hkv * D, 0.0f);
#pragma omp parallel
  {
    float* kT = kvT.ptr<float>() + thread_id() * 2 * D * Sk;
    float* vT = kT + D * Sk;
    // One task per (batch row, kv head) so the GQA sums into dK/dV need no synchronisation.
#pragma omp for schedule(dynamic, 1)
    for (int64_t bk = 0; bk < B * Hkv; ++bk) {
      const int64_t b = bk / Hkv, hk = bk % Hkv, qlen = q_len(p, b), kvlen = kv_len(p, b);
      if (qlen == 0 || kvlen == 0) continue;
      transpose_kv(K, Sk, Hkv, D, b, hk, kvlen, kT);
      transpose_kv(static_cast<const float*>(p.v), Sk, Hkv, D, b, hk, kvlen, vT);
      float* dk = dK + (b * Sk * Hkv + hk) * D;
      float* dv = dV + (b * Sk * Hkv + hk) * D;
      for (int64_t h = hk * group; h < (hk + 1) * group; ++h) {
        const int64_t bh = b * H + h;
        float* P = probs.ptr<float>() + bh * S * Sk;
        float* dP = dprobs.ptr<float>() + bh * S * Sk;
        const float* dOh = dO + (b * S * H + h) * D;
        const float* Qh = Q + (b * S * H + h) * D;
        probabilities(p, ops, kT, b, h, P, p.lse + bh * S, nullptr);
        ops.gemm(static_cast<int>(qlen), static_cast<int>(kvlen), static_cast<int>(D), dOh, H * D, 1, vT, Sk, dP, Sk, false);
        for (int64_t s = 0; s < qlen; ++s) {  // dS = P ∘ (dP − rowsum(P ∘ dP))
          float* prow = P + s * Sk;
          float* drow = dP + s * Sk;
          ops.softmax_grad(prow, drow, static_cast<int>(kvlen), ops.dot(prow, drow, static_cast<int>(kvlen)));
        }
        ops.gemm(static_cast<int>(kvlen), static_cast<int>(D), static_cast<int>(qlen), P, 1, Sk, dOh, H * D, dv, Hkv * D, true);
        ops.gemm(static_cast<int>(kvlen), static_cast<int>(D), static_cast<int>(qlen), dP, 1, Sk, Qh, H * D, dk, Hkv * D, true);
        ops.gemm(static_cast<int>(qlen), static_cast<int>(D), static_cast<int>(kvlen), dP, Sk, 1, K + (b * Sk * Hkv + hk) * D, Hkv * D,
                 dQ + (b * S * H + h) * D, H * D, false);
        for (int64_t s = 0; s < qlen; ++s) ops.scale(dQ + ((b * S + s) * H + h) * D, static_cast<int>(D), p.scale);
      }
      for (int64_t j = 0; j < kvlen; ++j) ops.scale(dk + j * Hkv * D, static_cast<int>(D), p.scale);
    }
  }
}

}  // namespace mtrl::cpu
