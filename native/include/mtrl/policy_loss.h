// GRPO-family policy-gradient loss fused with the log-softmax over the vocabulary (forward and
// backward), the plain token NLL (SFT loss) through the same machinery, and selective token
// log-probabilities (no gradient) for old/reference logprobs.
//
// Two inputs: logits (N, T, V), or hidden states (N, T, d) with the LM-head weight (V, d)
// ("fused-linear"): the logits are then computed chunk by chunk (chunk_size token rows × at most
// vocab_chunk_size vocabulary columns) and never exist in full, so the extra memory is
// O(chunk_size · min(V, vocab_chunk_size)) instead of O(N · T · V).
//
// Exact definitions (the TS docs in lib/kernels/policy-loss.ts repeat them; tests use them). For a
// counted token t (mask 1) of sequence i, with z the logits row and τ the temperature:
//   lp = log_softmax(z/τ)[token],  H = entropy of softmax(z/τ)
//   r  = exp(lp − old)  (token level)  or  r_i = exp(Σ_t (lp − old) / n_i)  (sequence level)
//        old absent: old = lp detached, so r = 1 with dr/dlp = 1 (token) or 1/n_i (sequence)
//   ℓ  = −min(c1·A, clip(r, 1−ε, 1+ε_high)·A) + β·KL,  c1 = min(r, δ) when δ is set, else r
//   KL: k1 = lp − ref, k2 = ½(lp − ref)², k3 = exp(ref − lp) − (ref − lp) − 1
//   nll: ℓ = −lp
//   L  = Σ_t w_t (ℓ_t − entropy_coef · H_t) with aggregation weights
//        grpo 1/(N·max(n_i,1)), bnpo 1/max(n,1), dr_grpo 1/(N·max_completion_length),
//        dapo 1/num_items_in_batch (default n), nll 1/num_items_in_batch (default max(n,1)).
// The gradient flows through lp and H only; min/clamp follow PyTorch autograd (ties split the
// gradient in half, clamp passes it at the bounds).
#pragma once
#include <cstdint>
#include <vector>

#include "mtrl/tensor.h"

namespace mtrl {

enum class PgLossType { Grpo, Bnpo, DrGrpo, Dapo, Nll };
enum class KlEstimator { K1, K2, K3 };
enum class IsLevel { Token, Sequence };

struct PolicyLossParams {
  PgLossType loss_type = PgLossType::Grpo;
  double epsilon = 0.2;
  double epsilon_high = 0.2;
  bool use_delta = false;  // two-sided clipping: c1 = min(r, delta)
  double delta = 0.0;
  double beta = 0.0;  // KL coefficient; needs ref_logprobs when non-zero
  KlEstimator kl = KlEstimator::K3;
  IsLevel is_level = IsLevel::Token;
  double temperature = 1.0;
  int64_t max_completion_length = 0;  // dr_grpo; 0 = T
  double num_items_in_batch = 0.0;    // dapo / nll; 0 = this batch's counted tokens
  double entropy_coef = 0.0;
  int64_t chunk_size = 0;        // token rows per chunk (fused-linear); 0 = automatic
  int64_t vocab_chunk_size = 0;  // vocabulary columns per chunk (fused-linear); 0 = V (no recompute)
  bool compute_grads = true;
};

// Batch tensors (all on the input's device). Absent optional tensors have no storage.
struct PolicyLossBatch {
  Tensor tokens;          // i32 (N, T); only counted positions must be in [0, V)
  Tensor mask;            // f32, u8 or i32 (N, T), values 0 or 1
  Tensor advantages;      // f32 (N) or (N, T); not needed for nll
  Tensor old_logprobs;    // optional f32 (N, T)
  Tensor ref_logprobs;    // optional f32 (N, T)
};

struct PolicyLossMetrics {
  double kl = 0;           // token mean of KL over counted tokens (0 without ref_logprobs)
  double clip_low = 0;     // token fraction with c1 < 1−ε and A < 0
  double clip_high = 0;    // token fraction with c1 > 1+ε_high and A > 0
  double clip_region = 0;  // either
  double ratio = 0;        // token mean of r
  double entropy = 0;      // token mean of H
  double nll = 0;          // token mean of −lp
  int64_t tokens = 0;      // counted tokens n
};

struct PolicyLossResult {
  double loss = 0;
  PolicyLossMetrics metrics;
  Tensor logprobs;     // f32 (N, T): lp at counted positions, 0 elsewhere
  Tensor grad_logits;  // logits path: dtype of logits, (N, T, V), zero rows at masked positions
  Tensor grad_hidden;  // fused path: dtype of hidden, (N, T, d)
  Tensor grad_weight;  // fused path: f32 (V, d) (parameter gradients accumulate in f32)
};

PolicyLossResult policy_loss_logits(const Tensor& logits, const PolicyLossBatch& batch, const PolicyLossParams& p);
PolicyLossResult policy_loss_linear(const Tensor& hidden, const Tensor& weight, const PolicyLossBatch& batch,
                                    const PolicyLossParams& p);

struct TokenLogprobsResult {
  Tensor logprobs;  // f32 (N, T); 0 where mask is 0
  Tensor entropy;   // f32 (N, T) when asked; 0 where mask is 0
};
// mask may be absent (every position counts). Tokens at masked positions are not read.
TokenLogprobsResult token_logprobs_logits(const Tensor& logits, const Tensor& tokens, const Tensor& mask, double temperature,
                                          bool entropy);
TokenLogprobsResult token_logprobs_linear(const Tensor& hidden, const Tensor& weight, const Tensor& tokens, const Tensor& mask,
                                          double temperature, bool entropy, int64_t chunk_size, int64_t vocab_chunk_size);

// Unfused baseline for benchmarks and cross-checks (CPU, f32): materialises the (N·T, V) logits,
// their log-softmax, the per-element gradient and then the two backward GEMMs, as an autograd
// framework would. Same definitions and result as policy_loss_linear.
PolicyLossResult policy_loss_linear_unfused(const Tensor& hidden, const Tensor& weight, const PolicyLossBatch& batch,
                                            const PolicyLossParams& p);

// ---- The scalar part of the loss, shared by every path (host, double precision) ----

// A validated batch copied to the host: the counted tokens in row-major order and their constants.
struct PgBatchHost {
  int64_t N = 0, T = 0;
  std::vector<int64_t> rows;   // flat index i*T + t of each counted token
  std::vector<int64_t> seq;    // its sequence i
  std::vector<int32_t> tok;    // its token id
  std::vector<float> adv, old, ref;  // per counted token; empty when absent
  std::vector<int64_t> seq_count;    // n_i
};
// Checks tokens/mask/advantages/old/ref against (N, T, V) (messages name `fn`), copies them to the
// host and lists the counted tokens. need_adv: advantages are required.
PgBatchHost pg_prepare(const PolicyLossBatch& b, int64_t N, int64_t T, int64_t V, bool need_adv, const char* fn);

// Given lp and H of counted tokens, accumulates the loss and metrics and gives dL/dlp and dL/dH.
class PgTerms {
 public:
  PgTerms(const PgBatchHost& b, const PolicyLossParams& p);
  // Counted tokens [j0, j1): whole sequences when is_level is Sequence (then call once with all).
  void run(int64_t j0, int64_t j1, const double* lp, const double* H, double* g_lp, double* g_H);
  double loss() const { return loss_; }
  PolicyLossMetrics metrics() const;
  double weight(int64_t j) const;  // aggregation weight w of counted token j

 private:
  const PgBatchHost& b_;
  PolicyLossParams p_;
  double loss_ = 0, kl_ = 0, low_ = 0, high_ = 0, region_ = 0, ratio_ = 0, ent_ = 0, nll_ = 0;
  int64_t n_ = 0;
};

// ---- Device kernels (raw pointers on the tensors' device). Rows are addressed through `rows`
// (row r of the block lives at z + rows[r] * ld; rows == nullptr means r itself), so counted rows
// of a padded batch are processed without compacting the logits. ----
//
// Online softmax statistics, 4 floats per row: m (running max of z/τ), s = Σ exp(z/τ − m),
// u = Σ exp(z/τ − m)(z/τ − m), zt = z_token/τ (kept when the token falls in this block).
// `first` starts fresh statistics; otherwise the block is merged into them.
// Finalised: lse = m + log s, lp = zt − lse, H = log s − u/s.
//
// Gradient, 4 floats per row {lse, a, b, g}: dz_v = p_v·(a + b·(z_v/τ − lse)) + [v = token]·g,
// p_v = exp(z_v/τ − lse). Written to dz (may alias z when both are f32) at the same row offsets.
namespace cpu {
void pl_stats(const void* z, DType dt, int64_t ld, const int64_t* rows, int64_t nrows, int64_t v0, int64_t vb,
              const int32_t* tokens, float inv_temp, float* state, bool first);
void pl_grad(const void* z, DType dt, int64_t ld, const int64_t* rows, int64_t nrows, int64_t v0, int64_t vb,
             const int32_t* tokens, float inv_temp, const float* coef, void* dz, DType dzt, int64_t ld_out);
void pl_zero_rows(void* dst, DType dt, int64_t ld, const int64_t* rows, int64_t nrows, int64_t width);
// dst row r (at rows[r]) = src row r (contiguous f32, width w), converted to dst's dtype.
void pl_scatter_rows(const float* src, void* dst, DType dt, int64_t ld, const int64_t* rows, int64_t nrows, int64_t width);
// dst row r (contiguous f32) = src row rows[r], converted from src's dtype.
void pl_gather_rows(const void* src, DType dt, int64_t ld, const int64_t* rows, int64_t nrows, int64_t width, float* dst);

// Fused-linear passes over one chunk of c token rows (CPU). Each of nt = pl_linear_threads() threads
// owns a vocabulary slice and walks it in blocks of B columns.
struct PlLinear {
  const float* Hc = nullptr;  // (c, d) gathered hidden rows
  int64_t c = 0, d = 0;
  const void* W = nullptr;    // (V, d) weight, f32 or bf16
  DType wdt = DType::F32;
  int64_t V = 0;
  const int32_t* tok = nullptr;  // (c) token ids
  float inv_temp = 1.0f;
  int64_t B = 0;                 // block width
  bool full_layout = false;      // Z is (c, V): the chunk's logits stay there between the passes
  bool recompute = true;         // the gradient pass recomputes each logits block
  bool dw_overwrite = false;     // dW = dZᵀ·Hc (the first chunk: dW needs no zero fill) instead of +=
  float* Z = nullptr;            // (c, V) when full_layout, else (nt, c, B) per-thread scratch
  float* part = nullptr;         // (nt, c, max(4, d)) per-thread partial statistics / dH
  float* wscratch = nullptr;     // (nt, B, d) f32 weight blocks when W is bf16
  float* hc_pack_a = nullptr;    // sgemm_packed_a_floats(c, d): Hc packed once per pass as the logits GEMM's A
  float* hc_pack_b = nullptr;    // sgemm_packed_b_floats(c, d): Hc packed once per pass as the dW GEMM's B
};
int pl_linear_threads();
// state (c, 4) = online statistics of the chunk's rows over the whole vocabulary.
void pl_linear_stats(const PlLinear& L, float* state);
// Gradient with coefficients coef (c, 4): dW (V, d) += dZᵀ·Hc (= with dw_overwrite) and dHc (c, d) = dZ·W.
void pl_linear_grad(const PlLinear& L, const float* coef, float* dW, float* dHc);
}  // namespace cpu

#ifdef MTRL_WITH_CUDA
namespace cuda {
// Makes `device` current for the scope of one policy-loss call (the kernels take raw pointers).
struct PlDeviceScope {
  int prev = 0;
  explicit PlDeviceScope(int device);
  ~PlDeviceScope();
  PlDeviceScope(const PlDeviceScope&) = delete;
  PlDeviceScope& operator=(const PlDeviceScope&) = delete;
};
void pl_stats(const void* z, DType dt, int64_t ld, const int64_t* rows, int64_t nrows, int64_t v0, int64_t vb,
              const int32_t* tokens, float inv_temp, float* state, bool first);
void pl_grad(const void* z, DType dt, int64_t ld, const int64_t* rows, int64_t nrows, int64_t v0, int64_t vb,
             const int32_t* tokens, float inv_temp, const float* coef, void* dz, DType dzt, int64_t ld_out);
void pl_zero_rows(void* dst, DType dt, int64_t ld, const int64_t* rows, int64_t nrows, int64_t width);
void pl_scatter_rows(const float* src, void* dst, DType dt, int64_t ld, const int64_t* rows, int64_t nrows, int64_t width);
void pl_gather_rows(const void* src, DType dt, int64_t ld, const int64_t* rows, int64_t nrows, int64_t width, float* dst);
}  // namespace cuda
#endif

}  // namespace mtrl
