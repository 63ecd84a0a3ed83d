// Fused CPU attention, FlashAttention-2 style: the score matrix only ever exists one tile
// (M query rows × 64 keys) at a time per thread, with an online softmax in the forward pass and
// the probabilities recomputed from the saved log-sum-exp in the backward pass. Matrix products and
// row operations go through the SIMD tile primitives of attention_cpu_simd.cc.
//
// GQA: a task handles one kv head and all `group = H / Hkv` query heads that share it, so each K/V
// tile is loaded once per group and the packed query tile has (positions × group) rows.
// Scores are kept in log2 units (q pre-scaled by scale·log2 e) so the softmax uses 2^x.
#include <algorithm>
#include <cmath>
#include <cstring>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "mtrl/attention.h"

namespace mtrl::cpu {
namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr double kLn2 = 0.6931471805599453;
constexpr int kBlockK = 64;      // keys per tile
constexpr int kBlockRows = 64;   // target rows (query positions × group heads) per tile

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

// Scratch memory, allocated before any parallel region (an allocation failure must throw on the
// calling thread, not inside OpenMP) through mtrl::empty so memoryStats() accounts for it. Each
// thread carves its O(tile) buffers out of its own slice.
struct Scratch {
  Tensor storage;
  int64_t per_thread;
  Scratch(int64_t floats_per_thread, int threads)
      : storage(empty({std::max<int64_t>(1, floats_per_thread * threads)}, DType::F32, Device{})), per_thread(floats_per_thread) {}
  float* slice(int thread) const { return storage.ptr<float>() + thread * per_thread; }
};
// Rounds buffer sizes to whole cache lines so every carved buffer starts 64-byte aligned.
inline int64_t lines(int64_t floats) { return (floats + 15) / 16 * 16; }

struct Shape {
  int64_t B, S, Sk, H, Hkv, D, group, Bs, Mmax;
  explicit Shape(const AttentionParams& p)
      : B(p.batch), S(p.seqlen_q), Sk(p.seqlen_k), H(p.heads), Hkv(p.kv_heads), D(p.head_dim), group(p.heads / p.kv_heads) {
    Bs = std::max<int64_t>(1, kBlockRows / group);  // query positions per tile
    Mmax = Bs * group;
  }
  // Element offsets of row (b, s, h) in q/out/dq and of (b, j, hk) in k/v/dk/dv.
  int64_t q_row(int64_t b, int64_t s, int64_t h) const { return ((b * S + s) * H + h) * D; }
  int64_t k_row(int64_t b, int64_t j, int64_t hk) const { return ((b * Sk + j) * Hkv + hk) * D; }
  int64_t lse_at(int64_t b, int64_t h, int64_t s) const { return (b * H + h) * S + s; }
};

inline int64_t q_len(const AttentionParams& p, int64_t b) { return p.q_lengths ? p.q_lengths[b] : p.seqlen_q; }
inline int64_t kv_len(const AttentionParams& p, int64_t b) { return p.kv_lengths ? p.kv_lengths[b] : p.seqlen_k; }

// Number of keys of a tile starting at j0 (nc keys) that query position s may see.
inline int visible(bool causal, int64_t s, int64_t offset, int64_t j0, int nc) {
  if (!causal) return nc;
  int64_t lim = s + offset + 1 - j0;
  return static_cast<int>(std::clamp<int64_t>(lim, 0, nc));
}

// Copies nc rows of a (B, Sk, Hkv, D) tensor into a D × kBlockK transposed tile.
inline void pack_transposed(const float* src, int64_t row_stride, int nc, int64_t D, float* dst) {
  for (int j = 0; j < nc; ++j) {
    const float* r = src + j * row_stride;
    for (int64_t d = 0; d < D; ++d) dst[d * kBlockK + j] = r[d];
  }
}

// Packs query positions s0..s0+ns of kv head hk (rows r = si·group + g) into dst (rows of D), times mul.
inline void pack_rows(const Shape& g, const float* src, int64_t b, int64_t s0, int64_t ns, int64_t hk, float mul, float* dst) {
  for (int64_t si = 0; si < ns; ++si)
    for (int64_t gi = 0; gi < g.group; ++gi) {
      const float* r = src + g.q_row(b, s0 + si, hk * g.group + gi);
      float* o = dst + (si * g.group + gi) * g.D;
      if (mul == 1.0f) std::memcpy(o, r, static_cast<size_t>(g.D) * 4);
      else
        for (int64_t d = 0; d < g.D; ++d) o[d] = r[d] * mul;
    }
}

}  // namespace

// The forward pass works on transposed score tiles Sᵀ = K·Qᵀ (keys × queries): the packed operand is
// then the query tile (transposed once per task, reused for every key tile) instead of a key tile
// re-transposed for every (query tile, key tile) pair, K rows feed the GEMM in place, and the online
// softmax runs down the columns with one query per SIMD lane (no horizontal reductions).
void attention_forward(const AttentionParams& p) {
  const AttentionTileOps& ops = attention_tile_ops();
  const Shape g(p);
  const int64_t D = g.D, n_qt = (g.S + g.Bs - 1) / g.Bs, tasks = g.B * g.Hkv * n_qt;
  const float c = p.scale * kLog2e;
  const float* Q = static_cast<const float*>(p.q);
  const float* K = static_cast<const float*>(p.k);
  const float* V = static_cast<const float*>(p.v);
  float* O = static_cast<float*>(p.out);
  if (tasks == 0) return;
  const int64_t ldm = lines(g.Mmax);  // row stride of Qᵀ and Sᵀ (one query per column)
  const int64_t n_qt_buf = D * ldm, n_oacc = lines(g.Mmax * D), n_st = kBlockK * ldm;
  const Scratch scratch(n_qt_buf + n_oacc + n_st + 3 * ldm, max_threads());
#pragma omp parallel if (tasks > 1)
  {
    float* qT = scratch.slice(thread_id());
    float* oacc = qT + n_qt_buf;
    float* st = oacc + n_oacc;
    float* m = st + n_st;
    float* l = m + ldm;
    float* alpha = l + ldm;
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < tasks; ++t) {
      // Last query tiles first: under a causal mask they are the most expensive.
      const int64_t qt = n_qt - 1 - t % n_qt, hk = (t / n_qt) % g.Hkv, b = t / n_qt / g.Hkv;
      const int64_t qlen = q_len(p, b), kvlen = kv_len(p, b), off = kvlen - qlen;
      const int64_t s0 = qt * g.Bs, ns_tile = std::min(g.Bs, g.S - s0), ns = std::clamp<int64_t>(qlen - s0, 0, ns_tile);
      for (int64_t si = ns; si < ns_tile; ++si)  // rows past qLen: zeros and lse = -inf
        for (int64_t gi = 0; gi < g.group; ++gi) {
          int64_t h = hk * g.group + gi;
          std::memset(O + g.q_row(b, s0 + si, h), 0, static_cast<size_t>(D) * 4);
          if (p.lse) p.lse[g.lse_at(b, h, s0 + si)] = -INFINITY;
        }
      if (ns == 0) continue;
      const int M = static_cast<int>(ns * g.group);
      // Qᵀ · scale·log2 e: column i = query row i (position s0 + i / group, head hk·group + i % group).
      for (int i = 0; i < M; ++i) {
        const float* r = Q + g.q_row(b, s0 + i / g.group, hk * g.group + i % g.group);
        for (int64_t d = 0; d < D; ++d) qT[d * ldm + i] = r[d] * c;
      }
      std::fill(m, m + M, -INFINITY);
      std::fill(l, l + M, 0.0f);
      std::fill(oacc, oacc + M * D, 0.0f);
      const int64_t kv_end = p.causal ? std::min(kvlen, s0 + ns + off) : kvlen;
      for (int64_t j0 = 0; j0 < kv_end; j0 += kBlockK) {
        const int nc = static_cast<int>(std::min<int64_t>(kBlockK, kv_end - j0));
        ops.gemm(nc, M, static_cast<int>(D), K + g.k_row(b, j0, hk), g.Hkv * D, 1, qT, ldm, st, ldm, false);
        if (p.causal) {
          // Key j0 + j is visible to query position s iff s >= j0 + j - off; positions grow with the
          // column, so each key row masks a prefix of columns.
          for (int j = 0; j < nc; ++j) {
            const int64_t first = std::clamp<int64_t>((j0 + j - off - s0) * g.group, 0, M);
            std::fill(st + j * ldm, st + j * ldm + first, -INFINITY);
          }
        }
        ops.softmax_cols(st, nc, M, ldm, m, l, alpha);
        for (int i = 0; i < M; ++i)
          if (alpha[i] != 1.0f) ops.scale(oacc + i * D, static_cast<int>(D), alpha[i]);
        ops.gemm(M, static_cast<int>(D), nc, st, 1, ldm, V + g.k_row(b, j0, hk), g.Hkv * D, oacc, D, true);  // O += P·V, P = (Sᵀ)ᵀ
      }
      for (int r = 0; r < M; ++r) {
        const int64_t s = s0 + r / g.group, h = hk * g.group + r % g.group;
        float* dst = O + g.q_row(b, s, h);
        if (l[r] > 0.0f) {
          const float inv = 1.0f / l[r];
          for (int64_t d = 0; d < D; ++d) dst[d] = oacc[r * D + d] * inv;
          if (p.lse) p.lse[g.lse_at(b, h, s)] = static_cast<float>(static_cast<double>(m[r]) * kLn2 + std::log(static_cast<double>(l[r])));
        } else {
          std::memset(dst, 0, static_cast<size_t>(D) * 4);
          if (p.lse) p.lse[g.lse_at(b, h, s)] = -INFINITY;
        }
      }
    }
  }
}

void attention_backward(const AttentionParams& p) {
  const AttentionTileOps& ops = attention_tile_ops();
  const Shape g(p);
  const int64_t D = g.D, n_kt = (g.Sk + kBlockK - 1) / kBlockK;
  const float c = p.scale * kLog2e;
  const float* Q = static_cast<const float*>(p.q);
  const float* K = static_cast<const float*>(p.k);
  const float* V = static_cast<const float*>(p.v);
  const float* O = static_cast<const float*>(p.out_in);
  const float* dO = static_cast<const float*>(p.dout);
  float* dQ = static_cast<float*>(p.dq);
  float* dK = static_cast<float*>(p.dk);
  float* dV = static_cast<float*>(p.dv);
  const int64_t q_elems = g.B * g.S * g.H * D;

  // delta[b, h, s] = rowsum(dO ∘ O): the softmax-gradient correction, O(S) memory.
  const Tensor delta_t = empty({std::max<int64_t>(1, g.B * g.H * g.S)}, DType::F32, Device{});
  float* delta = delta_t.ptr<float>();
#pragma omp parallel for schedule(static) if (g.B * g.S * g.H * D > 32768)
  for (int64_t bs = 0; bs < g.B * g.S; ++bs) {
    const int64_t b = bs / g.S, s = bs % g.S;
    if (s >= q_len(p, b)) continue;
    for (int64_t h = 0; h < g.H; ++h) delta[g.lse_at(b, h, s)] = ops.dot(dO + g.q_row(b, s, h), O + g.q_row(b, s, h), static_cast<int>(D));
  }

  // A task owns dK/dV of its (batch row, kv head, key range) and the dQ rows of its head group, so
  // no two threads write the same element. When there are fewer (batch, kv head) pairs than threads
  // the key range is split and each split accumulates dQ into its own buffer, summed afterwards in
  // a fixed order (deterministic results).
  const int64_t pairs = g.B * g.Hkv, threads = max_threads();
  const int64_t chunks = (pairs >= threads || n_kt <= 1) ? 1 : std::min<int64_t>(n_kt, (threads + pairs - 1) / pairs);
  const int64_t per_chunk = n_kt == 0 ? 0 : (n_kt + chunks - 1) / chunks;
  const Tensor partial_t = empty({chunks > 1 ? chunks * q_elems : 1}, DType::F32, Device{});
  float* partial = partial_t.ptr<float>();
  if (chunks > 1) std::fill(partial, partial + chunks * q_elems, 0.0f);
  else std::fill(dQ, dQ + q_elems, 0.0f);
  if (n_kt == 0) std::fill(dQ, dQ + q_elems, 0.0f);
  const int64_t tasks = pairs * chunks;
  const int64_t n_md = lines(g.Mmax * D), n_dk = lines(D * kBlockK), n_mk = lines(g.Mmax * kBlockK), n_row = lines(g.Mmax);
  const Scratch scratch(3 * n_md + 4 * n_dk + 2 * n_mk + 2 * n_row, max_threads());
#pragma omp parallel if (tasks > 1)
  {
    float* qs = scratch.slice(thread_id());
    float* dos = qs + n_md;
    float* dqacc = dos + n_md;
    float* kt = dqacc + n_md;
    float* vt = kt + n_dk;
    float* dkacc = vt + n_dk;
    float* dvacc = dkacc + n_dk;
    float* pb = dvacc + n_dk;
    float* dsb = pb + n_mk;
    float* lse2 = dsb + n_mk;
    float* dl = lse2 + n_row;
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t ch = t % chunks, hk = (t / chunks) % g.Hkv, b = t / chunks / g.Hkv;
      float* dq_t = chunks > 1 ? partial + ch * q_elems : dQ;
      const int64_t qlen = q_len(p, b), kvlen = kv_len(p, b), off = kvlen - qlen;
      const int64_t kt_end = std::min(n_kt, (ch + 1) * per_chunk);
      for (int64_t kti = ch * per_chunk; kti < kt_end; ++kti) {
        const int64_t j0 = kti * kBlockK, jn = std::min<int64_t>(kBlockK, g.Sk - j0);
        const int nc = static_cast<int>(std::clamp<int64_t>(kvlen - j0, 0, jn));
        for (int64_t j = nc; j < jn; ++j) {  // keys past kvLen get zero gradients
          std::memset(dK + g.k_row(b, j0 + j, hk), 0, static_cast<size_t>(D) * 4);
          std::memset(dV + g.k_row(b, j0 + j, hk), 0, static_cast<size_t>(D) * 4);
        }
        if (nc == 0) continue;
        const float* Kt0 = K + g.k_row(b, j0, hk);
        pack_transposed(Kt0, g.Hkv * D, nc, D, kt);
        pack_transposed(V + g.k_row(b, j0, hk), g.Hkv * D, nc, D, vt);
        std::fill(dkacc, dkacc + kBlockK * D, 0.0f);
        std::fill(dvacc, dvacc + kBlockK * D, 0.0f);
        // Under a causal mask, query s sees key j iff j <= s + off: skip tiles that see none of these keys.
        const int64_t s_first = p.causal ? std::max<int64_t>(0, j0 - off) : 0;
        for (int64_t s0 = s_first / g.Bs * g.Bs; s0 < qlen; s0 += g.Bs) {
          const int64_t ns = std::min(g.Bs, qlen - s0);
          const int M = static_cast<int>(ns * g.group);
          pack_rows(g, Q, b, s0, ns, hk, c, qs);
          pack_rows(g, dO, b, s0, ns, hk, 1.0f, dos);
          for (int r = 0; r < M; ++r) {
            const int64_t s = s0 + r / g.group, h = hk * g.group + r % g.group;
            lse2[r] = p.lse[g.lse_at(b, h, s)] * kLog2e;
            dl[r] = delta[g.lse_at(b, h, s)];
          }
          ops.gemm(M, nc, static_cast<int>(D), qs, D, 1, kt, kBlockK, pb, kBlockK, false);   // scores (log2 units)
          ops.gemm(M, nc, static_cast<int>(D), dos, D, 1, vt, kBlockK, dsb, kBlockK, false);  // dP = dO·Vᵀ
          for (int r = 0; r < M; ++r) {
            float* prow = pb + r * kBlockK;
            float* dsrow = dsb + r * kBlockK;
            const int lim = visible(p.causal, s0 + r / g.group, off, j0, nc);
            if (lim == 0 || !std::isfinite(lse2[r])) {
              std::memset(prow, 0, static_cast<size_t>(nc) * 4);
              std::memset(dsrow, 0, static_cast<size_t>(nc) * 4);
              continue;
            }
            ops.exp2_sum(prow, lim, lse2[r]);  // P = exp(z - lse)
            if (lim < nc) std::memset(prow + lim, 0, static_cast<size_t>(nc - lim) * 4);
            ops.softmax_grad(prow, dsrow, nc, dl[r]);  // dS = P ∘ (dP − delta)
          }
          ops.gemm(nc, static_cast<int>(D), M, pb, 1, kBlockK, dos, D, dvacc, D, true);   // dV += Pᵀ·dO
          ops.gemm(nc, static_cast<int>(D), M, dsb, 1, kBlockK, qs, D, dkacc, D, true);  // dK += dSᵀ·Q·c
          ops.gemm(M, static_cast<int>(D), nc, dsb, kBlockK, 1, Kt0, g.Hkv * D, dqacc, D, false); // dS·K
          for (int r = 0; r < M; ++r) {
            const int64_t s = s0 + r / g.group, h = hk * g.group + r % g.group;
            ops.axpy(dq_t + g.q_row(b, s, h), dqacc + r * D, static_cast<int>(D), p.scale);
          }
        }
        const float kscale = 1.0f / kLog2e;  // dK = scale·dSᵀQ = dSᵀ(Q·scale·log2e)/log2e
        for (int j = 0; j < nc; ++j) {
          float* dk = dK + g.k_row(b, j0 + j, hk);
          float* dv = dV + g.k_row(b, j0 + j, hk);
          for (int64_t d = 0; d < D; ++d) {
            dk[d] = dkacc[j * D + d] * kscale;
            dv[d] = dvacc[j * D + d];
          }
        }
      }
    }
  }
  if (chunks > 1) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < q_elems; ++i) {
      float s = 0.0f;
      for (int64_t ch = 0; ch < chunks; ++ch) s += partial[ch * q_elems + i];
      dQ[i] = s;
    }
  }
}

}  // namespace mtrl::cpu
