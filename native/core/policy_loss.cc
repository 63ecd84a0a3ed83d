// Policy-gradient loss: argument checks, the scalar per-token part of the loss (host, double) and the
// device-neutral drivers of the logits path and the chunked fused-linear path. The row kernels and
// GEMMs they call live in cpu/ and cuda/; see mtrl/policy_loss.h for the exact definitions.
#include "mtrl/policy_loss.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "mtrl/check.h"
#include "mtrl/gemm.h"
#include "mtrl/ops.h"
#include "mtrl/runtime.h"

namespace mtrl {
namespace {

std::string num(double x) {
  char b[64];
  std::snprintf(b, sizeof b, "%g", x);
  return b;
}
std::string pos_str(int64_t flat, int64_t T) { return "(" + std::to_string(flat / T) + ", " + std::to_string(flat % T) + ")"; }

// Host copy of a small tensor (the batch tensors are O(N·T)).
Tensor host_copy(const Tensor& t) { return t.device().is_cpu() ? t : to_device(t, Device{}); }

void check_shape(const Tensor& t, const std::vector<int64_t>& want, const char* fn, const char* arg, const char* dims) {
  if (t.shape != want)
    throw_range_error(std::string(fn) + ": " + arg + " must have shape " + dims + " = " + shape_str(want) + ", got " +
                      shape_str(t.shape));
}

// Everything the drivers do on a device, so one driver serves CPU and CUDA.
struct Backend {
  Device dev;
#ifdef MTRL_WITH_CUDA
  std::unique_ptr<cuda::PlDeviceScope> scope;  // the tensors' device is current while the call runs
  explicit Backend(Device d) : dev(d) {
    if (d.is_cuda()) scope = std::make_unique<cuda::PlDeviceScope>(d.index);
  }
#else
  explicit Backend(Device d) : dev(d) {}
#endif
  Tensor alloc(const std::vector<int64_t>& shape, DType dt) const { return empty(shape, dt, dev); }
  // Host tensor → device tensor (the same tensor on CPU).
  Tensor upload(const Tensor& host) const { return dev.is_cpu() ? host : to_device(host, dev); }
  void download(const Tensor& src, Tensor& host) const {
    if (dev.is_cpu()) return;
    copy_bytes(src, host);
  }
#ifdef MTRL_WITH_CUDA
#define MTRL_PL_CALL(fn, ...) (dev.is_cpu() ? cpu::fn(__VA_ARGS__) : cuda::fn(__VA_ARGS__))
#else
#define MTRL_PL_CALL(fn, ...) cpu::fn(__VA_ARGS__)
#endif
  void stats(const void* z, DType dt, int64_t ld, const int64_t* rows, int64_t nrows, int64_t v0, int64_t vb,
             const int32_t* tok, float it, float* state, bool first) const {
    MTRL_PL_CALL(pl_stats, z, dt, ld, rows, nrows, v0, vb, tok, it, state, first);
  }
  void grad(const void* z, DType dt, int64_t ld, const int64_t* rows, int64_t nrows, int64_t v0, int64_t vb, const int32_t* tok,
            float it, const float* coef, void* dz, DType dzt, int64_t ld_out) const {
    MTRL_PL_CALL(pl_grad, z, dt, ld, rows, nrows, v0, vb, tok, it, coef, dz, dzt, ld_out);
  }
  void zero_rows(void* dst, DType dt, int64_t ld, const int64_t* rows, int64_t nrows, int64_t width) const {
    MTRL_PL_CALL(pl_zero_rows, dst, dt, ld, rows, nrows, width);
  }
  void scatter(const float* src, void* dst, DType dt, int64_t ld, const int64_t* rows, int64_t nrows, int64_t width) const {
    MTRL_PL_CALL(pl_scatter_rows, src, dst, dt, ld, rows, nrows, width);
  }
  void gather(const void* src, DType dt, int64_t ld, const int64_t* rows, int64_t nrows, int64_t width, float* dst) const {
    MTRL_PL_CALL(pl_gather_rows, src, dt, ld, rows, nrows, width, dst);
  }
  void sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t lda, const float* B,
             int64_t ldb, float beta, float* C, int64_t ldc) const {
    MTRL_PL_CALL(sgemm, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
  }
#undef MTRL_PL_CALL
};

void require_device(const Device& d, const char* fn) {
  if (d.is_cuda()) cuda_rt::require_device(d.index, fn);
}

void check_params(const PolicyLossParams& p, const PolicyLossBatch& b, const char* fn) {
  auto finite = [&](double x, const char* name) {
    if (!std::isfinite(x)) throw_range_error(std::string(fn) + ": " + name + " must be finite, got " + num(x));
  };
  finite(p.epsilon, "epsilon");
  finite(p.epsilon_high, "epsilonHigh");
  if (p.epsilon < 0 || p.epsilon >= 1) throw_range_error(std::string(fn) + ": epsilon must be in [0, 1), got " + num(p.epsilon));
  if (p.epsilon_high < 0) throw_range_error(std::string(fn) + ": epsilonHigh must be >= 0, got " + num(p.epsilon_high));
  if (p.use_delta && !(std::isfinite(p.delta) && p.delta > 0))
    throw_range_error(std::string(fn) + ": delta must be a positive finite number, got " + num(p.delta));
  finite(p.beta, "beta");
  if (p.beta < 0) throw_range_error(std::string(fn) + ": beta must be >= 0, got " + num(p.beta));
  if (!(std::isfinite(p.temperature) && p.temperature > 0))
    throw_range_error(std::string(fn) + ": temperature must be a positive finite number, got " + num(p.temperature));
  finite(p.entropy_coef, "entropyCoef");
  if (p.max_completion_length < 0)
    throw_range_error(std::string(fn) + ": maxCompletionLength must be a positive integer, got " + std::to_string(p.max_completion_length));
  if (!(std::isfinite(p.num_items_in_batch) && p.num_items_in_batch >= 0))
    throw_range_error(std::string(fn) + ": numItemsInBatch must be a positive finite number, got " + num(p.num_items_in_batch));
  if (p.chunk_size < 0) throw_range_error(std::string(fn) + ": chunkSize must be a positive integer, got " + std::to_string(p.chunk_size));
  if (p.vocab_chunk_size < 0)
    throw_range_error(std::string(fn) + ": vocabChunkSize must be a positive integer, got " + std::to_string(p.vocab_chunk_size));
  if (p.loss_type == PgLossType::Nll && p.beta != 0)
    throw_range_error(std::string(fn) + ": beta must be 0 for lossType 'nll' (the SFT loss has no KL term)");
  if (p.beta != 0 && !b.ref_logprobs.storage)
    throw_range_error(std::string(fn) + ": beta = " + num(p.beta) + " needs refLogprobs (N, T) for the KL term");
}

// CPU block: c × B f32 logits per thread (MTRL_PL_BLOCK overrides, for tuning).
int64_t pl_block_elems() {
  static const int64_t v = [] {
    const char* e = std::getenv("MTRL_PL_BLOCK");
    return e ? std::max<int64_t>(1024, std::atoll(e)) : int64_t{1} << 17;
  }();
  return v;
}

// Token rows per chunk: the (chunk, vocab-chunk) f32 logits buffer stays near 32 MiB, but a chunk has
// at least 256 rows: the weight is packed twice and its gradient read and written once per chunk, so
// thin chunks make the loss memory-bound (V = 151936, d = 512, N·T = 2048, 2 threads, CPU time as a
// share of our 3 GEMMs': 55 rows 64 %, 128 rows 80 %, 256 rows 87 %, 512 rows 91 %; the logits
// buffer is 154 MiB at the 266 rows this gives after rounding to MR).
int64_t auto_chunk(int64_t n, int64_t vbs, int64_t requested) {
  int64_t c = requested > 0 ? requested : std::max<int64_t>(256, (int64_t{1} << 23) / std::max<int64_t>(vbs, 1));
  if (requested <= 0) {
    // Whole micro-kernel rows: the chunk is the M of the logits and dH products (262 → 266 at MR 14).
    int mr, nr;
    cpu::sgemm_tile(&mr, &nr);
    c = (c + mr - 1) / mr * mr;
  }
  return std::max<int64_t>(1, std::min(c, n));
}

// Tensors have no i64 dtype: row indices travel as raw bytes in an i32 tensor of twice the length.
Tensor i64_tensor(const std::vector<int64_t>& v, const Backend& be) {
  Tensor h = empty({static_cast<int64_t>(v.size()) * 2}, DType::I32, Device{});
  if (!v.empty()) std::memcpy(h.raw(), v.data(), v.size() * sizeof(int64_t));
  return be.upload(h);
}
Tensor i32_tensor(const std::vector<int32_t>& v, const Backend& be) {
  Tensor h = empty({static_cast<int64_t>(v.size())}, DType::I32, Device{});
  if (!v.empty()) std::memcpy(h.raw(), v.data(), v.size() * sizeof(int32_t));
  return be.upload(h);
}

// Finalises online statistics {m, s, u, zt} into lse, lp and H (double).
inline void finalize(const float* st, double* lse, double* lp, double* H) {
  double m = st[0], s = st[1], u = st[2], zt = st[3];
  double ls = std::log(s);
  *lse = m + ls;
  *lp = zt - *lse;
  *H = ls - u / s;
}

void check_lp(double lse, double lp, int64_t flat, int64_t T, int32_t tok, const char* fn) {
  if (!std::isfinite(lse) || !std::isfinite(lp))
    throw_range_error(std::string(fn) + ": the logits at " + pos_str(flat, T) + " give token " + std::to_string(tok) +
                      " a non-finite log-probability (" + num(lp) + "): NaN/Inf logits, or a token of probability 0");
}

// Per-row gradient coefficients {lse, a, b, g} from dL/dlp and dL/dH (see the header).
inline void make_coef(double lse, double H, double g_lp, double g_H, double inv_temp, float* c) {
  c[0] = static_cast<float>(lse);
  c[1] = static_cast<float>((-g_lp - g_H * H) * inv_temp);
  c[2] = static_cast<float>(-g_H * inv_temp);
  c[3] = static_cast<float>(g_lp * inv_temp);
}

}  // namespace

// ------------------------------------------------------------------------------------------ batch
PgBatchHost pg_prepare(const PolicyLossBatch& b, int64_t N, int64_t T, int64_t V, bool need_adv, const char* fn) {
  PgBatchHost h;
  h.N = N, h.T = T;
  check_dtype(b.tokens, DType::I32, fn, "tokens");
  check_shape(b.tokens, {N, T}, fn, "tokens", "(N, T)");
  check_defined(b.mask, fn, "mask");
  if (b.mask.dtype == DType::BF16) throw_type_error(std::string(fn) + ": mask must have dtype f32, u8 or i32, got bf16");
  check_shape(b.mask, {N, T}, fn, "mask", "(N, T)");
  if (need_adv) {
    check_dtype(b.advantages, DType::F32, fn, "advantages");
    if (!(b.advantages.shape == std::vector<int64_t>{N} || b.advantages.shape == std::vector<int64_t>{N, T}))
      throw_range_error(std::string(fn) + ": advantages must have shape (N) = (" + std::to_string(N) + ",) or (N, T) = " +
                        shape_str({N, T}) + ", got " + shape_str(b.advantages.shape));
  }
  if (b.old_logprobs.storage) {
    check_dtype(b.old_logprobs, DType::F32, fn, "oldLogprobs");
    check_shape(b.old_logprobs, {N, T}, fn, "oldLogprobs", "(N, T)");
  }
  if (b.ref_logprobs.storage) {
    check_dtype(b.ref_logprobs, DType::F32, fn, "refLogprobs");
    check_shape(b.ref_logprobs, {N, T}, fn, "refLogprobs", "(N, T)");
  }
  Tensor tok = host_copy(b.tokens), mask = host_copy(b.mask);
  const int64_t NT = N * T;
  h.seq_count.assign(static_cast<size_t>(N), 0);
  for (int64_t f = 0; f < NT; ++f) {
    double mv = mask.dtype == DType::F32 ? mask.ptr<float>()[f] : mask.dtype == DType::U8 ? mask.ptr<uint8_t>()[f] : mask.ptr<int32_t>()[f];
    if (mv == 0) continue;
    if (mv != 1)
      throw_range_error(std::string(fn) + ": mask must hold 0 or 1, got " + num(mv) + " at " + pos_str(f, T));
    int32_t t = tok.ptr<int32_t>()[f];
    if (t < 0 || t >= V)
      throw_range_error(std::string(fn) + ": tokens at " + pos_str(f, T) + " is " + std::to_string(t) + ", outside [0, V = " +
                        std::to_string(V) + ")");
    h.rows.push_back(f);
    h.seq.push_back(f / T);
    h.tok.push_back(t);
    h.seq_count[static_cast<size_t>(f / T)]++;
  }
  const size_t n = h.rows.size();
  if (need_adv) {
    Tensor a = host_copy(b.advantages);
    bool per_token = a.ndim() == 2;
    h.adv.resize(n);
    for (size_t j = 0; j < n; ++j) {
      float v = a.ptr<float>()[per_token ? h.rows[j] : h.seq[j]];
      if (!std::isfinite(v))
        throw_range_error(std::string(fn) + ": advantages must be finite where mask is 1; advantages" +
                          (per_token ? pos_str(h.rows[j], T) : "[" + std::to_string(h.seq[j]) + "]") + " is " + num(v));
      h.adv[j] = v;
    }
  }
  auto take = [&](const Tensor& t, std::vector<float>& out, const char* name) {
    if (!t.storage) return;
    Tensor c = host_copy(t);
    out.resize(n);
    for (size_t j = 0; j < n; ++j) {
      float v = c.ptr<float>()[h.rows[j]];
      if (!std::isfinite(v))
        throw_range_error(std::string(fn) + ": " + name + " must be finite where mask is 1; " + name + pos_str(h.rows[j], T) + " is " + num(v));
      out[j] = v;
    }
  };
  take(b.old_logprobs, h.old, "oldLogprobs");
  take(b.ref_logprobs, h.ref, "refLogprobs");
  return h;
}

// ------------------------------------------------------------------------------------------ terms
PgTerms::PgTerms(const PgBatchHost& b, const PolicyLossParams& p) : b_(b), p_(p) {
  n_ = static_cast<int64_t>(b.rows.size());
  if (p_.max_completion_length == 0) p_.max_completion_length = b.T;
}

double PgTerms::weight(int64_t j) const {
  switch (p_.loss_type) {
    case PgLossType::Grpo:
      return 1.0 / (static_cast<double>(b_.N) * std::max<int64_t>(b_.seq_count[static_cast<size_t>(b_.seq[static_cast<size_t>(j)])], 1));
    case PgLossType::Bnpo: return 1.0 / std::max<double>(static_cast<double>(n_), 1.0);
    case PgLossType::DrGrpo: return 1.0 / (static_cast<double>(b_.N) * static_cast<double>(p_.max_completion_length));
    case PgLossType::Dapo:
    case PgLossType::Nll:
      return 1.0 / (p_.num_items_in_batch > 0 ? p_.num_items_in_batch : std::max<double>(static_cast<double>(n_), 1.0));
  }
  return 0;
}

void PgTerms::run(int64_t j0, int64_t j1, const double* lp, const double* H, double* g_lp, double* g_H) {
  const bool has_old = !b_.old.empty(), has_ref = !b_.ref.empty();
  const bool nll = p_.loss_type == PgLossType::Nll;
  const bool seq_level = p_.is_level == IsLevel::Sequence && !nll;
  // Sequence level: r_i = exp(mean over the sequence of lp − old); gradient collected per sequence.
  std::vector<double> seq_r, seq_G;
  int64_t s0 = 0;
  if (seq_level && j1 > j0) {
    s0 = b_.seq[static_cast<size_t>(j0)];
    int64_t s1 = b_.seq[static_cast<size_t>(j1 - 1)] + 1;
    seq_r.assign(static_cast<size_t>(s1 - s0), 0.0);
    seq_G.assign(static_cast<size_t>(s1 - s0), 0.0);
    if (has_old)
      for (int64_t j = j0; j < j1; ++j) seq_r[static_cast<size_t>(b_.seq[static_cast<size_t>(j)] - s0)] += lp[j - j0] - b_.old[static_cast<size_t>(j)];
    for (size_t i = 0; i < seq_r.size(); ++i) {
      int64_t cnt = b_.seq_count[static_cast<size_t>(s0) + i];
      seq_r[i] = std::exp(seq_r[i] / std::max<int64_t>(cnt, 1));
    }
  }
  for (int64_t j = j0; j < j1; ++j) {
    const size_t js = static_cast<size_t>(j);
    const double w = weight(j), l = lp[j - j0], h = H ? H[j - j0] : 0.0;
    double term, glp;
    double kl = 0, dkl = 0;
    if (has_ref) {
      double d = b_.ref[js] - l;  // ref − lp
      switch (p_.kl) {
        case KlEstimator::K1: kl = -d, dkl = 1; break;
        case KlEstimator::K2: kl = 0.5 * d * d, dkl = -d; break;
        case KlEstimator::K3: {
          double e = std::exp(d);
          kl = e - d - 1, dkl = 1 - e;
          break;
        }
      }
    }
    if (nll) {
      term = -l, glp = -w;
      ratio_ += 1;
    } else {
      const double A = b_.adv[js];
      double r = seq_level ? seq_r[static_cast<size_t>(b_.seq[js] - s0)] : (has_old ? std::exp(l - b_.old[js]) : 1.0);
      // −min(c1·A, c2·A) with PyTorch's subgradients: clamp passes the gradient at its bounds,
      // a tie of min splits it in half.
      double c1 = r, dc1 = 1;
      if (p_.use_delta && r > p_.delta) c1 = p_.delta, dc1 = 0;
      const double lo = 1 - p_.epsilon, hi = 1 + p_.epsilon_high;
      double c2 = std::min(std::max(r, lo), hi), dc2 = (r >= lo && r <= hi) ? 1 : 0;
      double t1 = c1 * A, t2 = c2 * A, val, dval;
      if (t1 < t2) val = -t1, dval = -A * dc1;
      else if (t1 > t2) val = -t2, dval = -A * dc2;
      else val = -t1, dval = -A * 0.5 * (dc1 + dc2);
      term = val + p_.beta * kl;
      if (seq_level) {
        seq_G[static_cast<size_t>(b_.seq[js] - s0)] += w * dval;
        glp = w * p_.beta * dkl;  // the ratio's share is added below, once the sequence sums are known
      } else {
        glp = w * (dval * r + p_.beta * dkl);  // dr/dlp = r (also when old is absent: r = 1)
      }
      bool low = c1 < lo && A < 0, high = c1 > hi && A > 0;
      low_ += low, high_ += high, region_ += low || high;
      ratio_ += r;
    }
    loss_ += w * (term - p_.entropy_coef * h);
    kl_ += kl, ent_ += h, nll_ += -l;
    if (g_lp) g_lp[j - j0] = glp;
    if (g_H) g_H[j - j0] = -p_.entropy_coef * w;
  }
  if (seq_level && g_lp)
    for (int64_t j = j0; j < j1; ++j) {
      size_t si = static_cast<size_t>(b_.seq[static_cast<size_t>(j)] - s0);
      int64_t cnt = b_.seq_count[static_cast<size_t>(b_.seq[static_cast<size_t>(j)])];
      g_lp[j - j0] += seq_G[si] * seq_r[si] / static_cast<double>(std::max<int64_t>(cnt, 1));
    }
}

PolicyLossMetrics PgTerms::metrics() const {
  PolicyLossMetrics m;
  double d = std::max<double>(static_cast<double>(n_), 1.0);
  m.kl = kl_ / d, m.clip_low = low_ / d, m.clip_high = high_ / d, m.clip_region = region_ / d;
  m.ratio = ratio_ / d, m.entropy = ent_ / d, m.nll = nll_ / d, m.tokens = n_;
  return m;
}

// ------------------------------------------------------------------------------------------ logits path
PolicyLossResult policy_loss_logits(const Tensor& logits, const PolicyLossBatch& batch, const PolicyLossParams& p) {
  const char* fn = "policyLoss";
  check_float(logits, fn, "logits");
  check_ndim(logits, 3, fn, "logits", "(N, T, V)");
  const Device dev = logits.device();
  require_device(dev, fn);
  for (auto [t, name] : {std::pair{&batch.tokens, "tokens"}, {&batch.mask, "mask"}, {&batch.advantages, "advantages"},
                         {&batch.old_logprobs, "oldLogprobs"}, {&batch.ref_logprobs, "refLogprobs"}})
    if (t->storage) check_same_device(logits, *t, fn, "logits", name);
  check_params(p, batch, fn);
  const int64_t N = logits.dim(0), T = logits.dim(1), V = logits.dim(2);
  if (V == 0) throw_range_error(std::string(fn) + ": logits must have V > 0, got " + shape_str(logits.shape));
  const bool nll = p.loss_type == PgLossType::Nll;
  PgBatchHost hb = pg_prepare(batch, N, T, V, !nll, fn);
  const int64_t n = static_cast<int64_t>(hb.rows.size());
  Backend be(dev);
  const float it = static_cast<float>(1.0 / p.temperature);

  Tensor rows = i64_tensor(hb.rows, be), tok = i32_tensor(hb.tok, be);
  Tensor state_h = empty({n, 4}, DType::F32, Device{});
  Tensor state = dev.is_cpu() ? state_h : be.alloc({n, 4}, DType::F32);
  if (n) be.stats(logits.raw(), logits.dtype, V, rows.ptr<int64_t>(), n, 0, V, tok.ptr<int32_t>(), it, state.ptr<float>(), true);
  be.download(state, state_h);

  std::vector<double> lse(n), lp(n), H(n), g_lp(n), g_H(n);
  for (int64_t j = 0; j < n; ++j) {
    finalize(state_h.ptr<float>() + 4 * j, &lse[j], &lp[j], &H[j]);
    check_lp(lse[j], lp[j], hb.rows[j], T, hb.tok[j], fn);
  }
  PgTerms terms(hb, p);
  terms.run(0, n, lp.data(), H.data(), g_lp.data(), g_H.data());

  PolicyLossResult res;
  res.loss = terms.loss();
  res.metrics = terms.metrics();
  Tensor lp_h = empty({N, T}, DType::F32, Device{});
  fill(lp_h, 0.0);
  for (int64_t j = 0; j < n; ++j) lp_h.ptr<float>()[hb.rows[j]] = static_cast<float>(lp[j]);
  res.logprobs = be.upload(lp_h);
  if (!p.compute_grads) return res;

  Tensor coef_h = empty({n, 4}, DType::F32, Device{});
  for (int64_t j = 0; j < n; ++j) make_coef(lse[j], H[j], g_lp[j], g_H[j], 1.0 / p.temperature, coef_h.ptr<float>() + 4 * j);
  Tensor coef = be.upload(coef_h);
  res.grad_logits = be.alloc(logits.shape, logits.dtype);
  if (n) be.grad(logits.raw(), logits.dtype, V, rows.ptr<int64_t>(), n, 0, V, tok.ptr<int32_t>(), it, coef.ptr<float>(),
                 res.grad_logits.raw(), logits.dtype, V);
  // Masked rows: zero gradient (their logits are never read).
  std::vector<int64_t> masked;
  masked.reserve(static_cast<size_t>(N * T - n));
  for (int64_t f = 0, j = 0; f < N * T; ++f) {
    if (j < n && hb.rows[j] == f) ++j;
    else masked.push_back(f);
  }
  if (!masked.empty()) {
    Tensor mrows = i64_tensor(masked, be);
    be.zero_rows(res.grad_logits.raw(), logits.dtype, V, mrows.ptr<int64_t>(), static_cast<int64_t>(masked.size()), V);
  }
  return res;
}

// ------------------------------------------------------------------------------------------ fused-linear path
namespace {

// Runs the chunked fused-linear computation shared by policyLoss and tokenLogprobs.
struct LinearDriver {
  const Tensor& hidden;
  const Tensor& weight;
  const PgBatchHost& hb;
  const Backend& be;
  int64_t V, d, n, c, vbs, wsub;
  float it;
  Tensor rows, tok;      // device lists of the counted rows
  Tensor Hc, Z, Wf;      // chunk buffers: gathered hidden rows, logits block, f32 weight sub-block (bf16 weight)
  Tensor dHc;            // hidden-gradient rows of the chunk
  Tensor state, state_h; // online statistics of the chunk's rows
  Tensor coef, coef_h;
  Tensor part;           // CPU: per-thread partial statistics / hidden gradients
  int nt = 1;            // CPU: threads (vocabulary slices)
  bool full = false;     // CPU: Z holds the chunk's full logits
  Tensor HcA, HcB;       // CPU: the chunk rows packed once per pass for the GEMMs (see cpu::sgemm_pack_a)
  int64_t B = 0;         // CPU: block width

  cpu::PlLinear cpu_chunk(int64_t j0, int64_t cn, bool recompute) {
    cpu::PlLinear L;
    L.Hc = Hc.ptr<float>(), L.c = cn, L.d = d;
    L.W = weight.raw(), L.wdt = weight.dtype, L.V = V;
    L.tok = tok.ptr<int32_t>() + j0, L.inv_temp = it;
    L.B = B, L.full_layout = full, L.recompute = recompute;
    L.Z = Z.ptr<float>(), L.part = part.ptr<float>();
    L.wscratch = Wf.storage ? Wf.ptr<float>() : nullptr;
    if (HcA.storage) L.hc_pack_a = HcA.ptr<float>(), L.hc_pack_b = HcB.ptr<float>();
    return L;
  }

  LinearDriver(const Tensor& h, const Tensor& w, const PgBatchHost& b, const Backend& backend, int64_t chunk, int64_t vchunk,
               double temperature, bool grads)
      : hidden(h), weight(w), hb(b), be(backend) {
    V = w.dim(0), d = w.dim(1), n = static_cast<int64_t>(b.rows.size());
    vbs = vchunk > 0 ? std::min(vchunk, V) : V;
    c = auto_chunk(n, vbs, chunk);
    // bf16 weights are widened in sub-blocks of about 8 MiB so the f32 copy stays small.
    wsub = w.dtype == DType::F32 ? vbs : std::max<int64_t>(1, std::min<int64_t>(vbs, (int64_t{1} << 21) / std::max<int64_t>(d, 1)));
    it = static_cast<float>(1.0 / temperature);
    rows = i64_tensor(b.rows, be);
    tok = i32_tensor(b.tok, be);
    if (n == 0) return;
    Hc = be.alloc({c, d}, DType::F32);
    if (be.dev.is_cpu()) {
      // CPU: per-thread vocabulary slices walked in blocks of B columns (see cpu::PlLinear). With the
      // full vocabulary per chunk the chunk's logits stay in Z between the passes; otherwise each
      // thread recomputes its blocks in a (c, B) scratch.
      nt = cpu::pl_linear_threads();
      full = vbs == V;
      B = full ? std::max<int64_t>(16, std::min<int64_t>(4096, pl_block_elems() / c)) : vbs;
      {
        // Whole micro-kernel columns: B is the N of the logits product (500 → 480 at NR 32).
        int mr, nr;
        cpu::sgemm_tile(&mr, &nr);
        if (full && B > nr) B = B / nr * nr;
      }
      if (full && w.dtype != DType::F32) B = std::min(B, std::max<int64_t>(16, (int64_t{1} << 20) / std::max<int64_t>(d, 1)));
      Z = full ? be.alloc({c, V}, DType::F32) : be.alloc({nt, c, B}, DType::F32);
      part = be.alloc({nt, c, std::max<int64_t>(4, d)}, DType::F32);
      if (w.dtype != DType::F32) Wf = be.alloc({nt, B, d}, DType::F32);
      // Prepacking pays when the chunk rows are multiplied with many blocks (MTRL_PL_PREPACK=0: off, for A/B runs).
      static const bool prepack = [] {
        const char* e = std::getenv("MTRL_PL_PREPACK");
        return !(e && e[0] == '0');
      }();
      if (prepack) {
        HcA = be.alloc({cpu::sgemm_packed_a_floats(c, d)}, DType::F32);
        HcB = be.alloc({cpu::sgemm_packed_b_floats(c, d)}, DType::F32);
      }
    } else {
      Z = be.alloc({c, vbs}, DType::F32);
      if (w.dtype != DType::F32) Wf = be.alloc({wsub, d}, DType::F32);
    }
    if (grads) {
      dHc = be.alloc({c, d}, DType::F32);
      coef_h = empty({c, 4}, DType::F32, Device{});
      coef = be.dev.is_cpu() ? coef_h : be.alloc({c, 4}, DType::F32);
    }
    state_h = empty({c, 4}, DType::F32, Device{});
    state = be.dev.is_cpu() ? state_h : be.alloc({c, 4}, DType::F32);
  }

  // f32 rows [v, v + m) of the weight (widened into Wf for bf16).
  const float* wrows(int64_t v, int64_t m) {
    if (weight.dtype == DType::F32) return weight.ptr<float>() + v * d;
    be.gather(weight.ptr<uint16_t>() + v * d, DType::BF16, d, nullptr, m, d, Wf.ptr<float>());
    return Wf.ptr<float>();
  }

  void load_chunk(int64_t j0, int64_t cn) {
    be.gather(hidden.raw(), hidden.dtype, d, rows.ptr<int64_t>() + j0, cn, d, Hc.ptr<float>());
  }

  // Z[:, 0:vb] = Hc · W[v0 : v0 + vb]ᵀ
  void logits_block(int64_t cn, int64_t v0, int64_t vb) {
    for (int64_t v = v0; v < v0 + vb; v += wsub) {
      int64_t m = std::min(wsub, v0 + vb - v);
      be.sgemm(false, true, cn, m, d, 1.0f, Hc.ptr<float>(), d, wrows(v, m), d, 0.0f, Z.ptr<float>() + (v - v0), vbs);
    }
  }

  // Pass 1 over the vocabulary for chunk rows [j0, j0 + cn): statistics into state_h (host).
  // Leaves the last block's logits in Z (all of them when vbs == V).
  void stats_pass(int64_t j0, int64_t cn) {
    if (be.dev.is_cpu()) {
      cpu::pl_linear_stats(cpu_chunk(j0, cn, true), state_h.ptr<float>());
      return;
    }
    for (int64_t v0 = 0; v0 < V; v0 += vbs) {
      int64_t vb = std::min(vbs, V - v0);
      logits_block(cn, v0, vb);
      be.stats(Z.raw(), DType::F32, vbs, nullptr, cn, v0, vb, tok.ptr<int32_t>() + j0, it, state.ptr<float>(), v0 == 0);
    }
    be.download(state, state_h);
  }

  // Pass 2: gradient of chunk rows [j0, j0 + cn) with coefficients in coef_h; adds to dW (writes it
  // on the first chunk, j0 = 0, so dW needs no zero fill) and writes the chunk's hidden-gradient rows.
  // keep: Z already holds the chunk's full logits.
  void grad_pass(int64_t j0, int64_t cn, bool keep, float* dW, Tensor& grad_hidden) {
    const float dw_beta = j0 == 0 ? 0.0f : 1.0f;
    if (be.dev.is_cpu()) {
      cpu::PlLinear L = cpu_chunk(j0, cn, !(keep && full));
      L.dw_overwrite = j0 == 0;
      cpu::pl_linear_grad(L, coef_h.ptr<float>(), dW, dHc.ptr<float>());
      be.scatter(dHc.ptr<float>(), grad_hidden.raw(), grad_hidden.dtype, d, rows.ptr<int64_t>() + j0, cn, d);
      return;
    }
    copy_bytes(coef_h, coef);
    for (int64_t v0 = 0; v0 < V; v0 += vbs) {
      int64_t vb = std::min(vbs, V - v0);
      if (!keep) logits_block(cn, v0, vb);
      be.grad(Z.raw(), DType::F32, vbs, nullptr, cn, v0, vb, tok.ptr<int32_t>() + j0, it, coef.ptr<float>(), Z.raw(), DType::F32, vbs);
      for (int64_t v = v0; v < v0 + vb; v += wsub) {
        int64_t m = std::min(wsub, v0 + vb - v);
        const float* Wr = wrows(v, m);
        const float* dZ = Z.ptr<float>() + (v - v0);
        be.sgemm(false, false, cn, d, m, 1.0f, dZ, vbs, Wr, d, v == 0 ? 0.0f : 1.0f, dHc.ptr<float>(), d);
        be.sgemm(true, false, m, d, cn, 1.0f, dZ, vbs, Hc.ptr<float>(), d, dw_beta, dW + v * d, d);
      }
    }
    be.scatter(dHc.ptr<float>(), grad_hidden.raw(), grad_hidden.dtype, d, rows.ptr<int64_t>() + j0, cn, d);
  }
};

void check_linear(const Tensor& hidden, const Tensor& weight, const char* fn) {
  check_float(hidden, fn, "hidden");
  check_float(weight, fn, "weight");
  check_ndim(hidden, 3, fn, "hidden", "(N, T, d)");
  check_ndim(weight, 2, fn, "weight", "(V, d)");
  check_same_device(hidden, weight, fn, "hidden", "weight");
  if (hidden.dtype != weight.dtype)
    throw_type_error(std::string(fn) + ": hidden and weight must share one dtype, got " + dtype_name(hidden.dtype) + " and " +
                     dtype_name(weight.dtype));
  if (weight.dim(1) != hidden.dim(2))
    throw_range_error(std::string(fn) + ": weight must have shape (V, d = " + std::to_string(hidden.dim(2)) + ") to match hidden " +
                      shape_str(hidden.shape) + ", got " + shape_str(weight.shape));
  if (weight.dim(0) == 0) throw_range_error(std::string(fn) + ": weight must have V > 0 rows, got " + shape_str(weight.shape));
  require_device(hidden.device(), fn);
}

}  // namespace

PolicyLossResult policy_loss_linear(const Tensor& hidden, const Tensor& weight, const PolicyLossBatch& batch, const PolicyLossParams& p) {
  const char* fn = "policyLoss";
  check_linear(hidden, weight, fn);
  for (auto [t, name] : {std::pair{&batch.tokens, "tokens"}, {&batch.mask, "mask"}, {&batch.advantages, "advantages"},
                         {&batch.old_logprobs, "oldLogprobs"}, {&batch.ref_logprobs, "refLogprobs"}})
    if (t->storage) check_same_device(hidden, *t, fn, "hidden", name);
  check_params(p, batch, fn);
  const int64_t N = hidden.dim(0), T = hidden.dim(1), V = weight.dim(0);
  const bool nll = p.loss_type == PgLossType::Nll;
  PgBatchHost hb = pg_prepare(batch, N, T, V, !nll, fn);
  Backend be(hidden.device());
  const bool grads = p.compute_grads;
  LinearDriver drv(hidden, weight, hb, be, p.chunk_size, p.vocab_chunk_size, p.temperature, grads);
  const int64_t n = drv.n, c = drv.c;
  const double inv_temp = 1.0 / p.temperature;

  PolicyLossResult res;
  if (grads) {
    res.grad_hidden = be.alloc(hidden.shape, hidden.dtype);
    fill(res.grad_hidden, 0.0);
    res.grad_weight = be.alloc(weight.shape, DType::F32);
    if (n == 0) fill(res.grad_weight, 0.0);  // otherwise the first chunk's gradient pass writes all of it
  }
  PgTerms terms(hb, p);
  std::vector<double> lse(n), lp(n), H(n), g_lp(n), g_H(n);
  auto finish_stats = [&](int64_t j0, int64_t cn) {
    for (int64_t r = 0; r < cn; ++r) {
      int64_t j = j0 + r;
      finalize(drv.state_h.ptr<float>() + 4 * r, &lse[j], &lp[j], &H[j]);
      check_lp(lse[j], lp[j], hb.rows[j], T, hb.tok[j], fn);
    }
  };
  auto fill_coef = [&](int64_t j0, int64_t cn) {
    for (int64_t r = 0; r < cn; ++r) {
      int64_t j = j0 + r;
      make_coef(lse[j], H[j], g_lp[j], g_H[j], inv_temp, drv.coef_h.ptr<float>() + 4 * r);
    }
  };
  const int64_t nchunks = n == 0 ? 0 : (n + c - 1) / c;
  // Sequence-level ratios need every token's lp before any gradient: then the statistics pass runs
  // over all chunks first and the logits are recomputed for the gradient.
  const bool global = p.is_level == IsLevel::Sequence && !nll && nchunks > 1;
  const bool keep = drv.vbs == V;
  float* dW = grads ? res.grad_weight.ptr<float>() : nullptr;
  if (global) {
    for (int64_t j0 = 0; j0 < n; j0 += c) {
      int64_t cn = std::min(c, n - j0);
      drv.load_chunk(j0, cn);
      drv.stats_pass(j0, cn);
      finish_stats(j0, cn);
    }
    terms.run(0, n, lp.data(), H.data(), g_lp.data(), g_H.data());
    if (grads)
      for (int64_t j0 = 0; j0 < n; j0 += c) {
        int64_t cn = std::min(c, n - j0);
        drv.load_chunk(j0, cn);
        fill_coef(j0, cn);
        drv.grad_pass(j0, cn, false, dW, res.grad_hidden);
      }
  } else {
    for (int64_t j0 = 0; j0 < n; j0 += c) {
      int64_t cn = std::min(c, n - j0);
      drv.load_chunk(j0, cn);
      drv.stats_pass(j0, cn);
      finish_stats(j0, cn);
      terms.run(j0, j0 + cn, lp.data() + j0, H.data() + j0, g_lp.data() + j0, g_H.data() + j0);
      if (grads) {
        fill_coef(j0, cn);
        drv.grad_pass(j0, cn, keep, dW, res.grad_hidden);
      }
    }
  }
  res.loss = terms.loss();
  res.metrics = terms.metrics();
  Tensor lp_h = empty({N, T}, DType::F32, Device{});
  fill(lp_h, 0.0);
  for (int64_t j = 0; j < n; ++j) lp_h.ptr<float>()[hb.rows[j]] = static_cast<float>(lp[j]);
  res.logprobs = be.upload(lp_h);
  return res;
}

// ------------------------------------------------------------------------------------------ token logprobs
namespace {
PolicyLossBatch logprob_batch(const Tensor& tokens, const Tensor& mask, int64_t N, int64_t T, const Device& dev) {
  PolicyLossBatch b;
  b.tokens = tokens;
  if (mask.storage) {
    b.mask = mask;
  } else {
    b.mask = empty({N, T}, DType::U8, dev);
    fill(b.mask, 1.0);
  }
  return b;
}

TokenLogprobsResult logprob_outputs(const PgBatchHost& hb, const std::vector<double>& lp, const std::vector<double>& H,
                                    bool entropy, const Backend& be) {
  TokenLogprobsResult r;
  Tensor lp_h = empty({hb.N, hb.T}, DType::F32, Device{});
  fill(lp_h, 0.0);
  for (size_t j = 0; j < hb.rows.size(); ++j) lp_h.ptr<float>()[hb.rows[j]] = static_cast<float>(lp[j]);
  r.logprobs = be.upload(lp_h);
  if (entropy) {
    Tensor h_h = empty({hb.N, hb.T}, DType::F32, Device{});
    fill(h_h, 0.0);
    for (size_t j = 0; j < hb.rows.size(); ++j) h_h.ptr<float>()[hb.rows[j]] = static_cast<float>(H[j]);
    r.entropy = be.upload(h_h);
  }
  return r;
}

void check_temperature(double t, const char* fn) {
  if (!(std::isfinite(t) && t > 0)) throw_range_error(std::string(fn) + ": temperature must be a positive finite number, got " + num(t));
}
}  // namespace

TokenLogprobsResult token_logprobs_logits(const Tensor& logits, const Tensor& tokens, const Tensor& mask, double temperature,
                                          bool entropy) {
  const char* fn = "tokenLogprobs";
  check_float(logits, fn, "logits");
  check_ndim(logits, 3, fn, "logits", "(N, T, V)");
  const Device dev = logits.device();
  require_device(dev, fn);
  check_defined(tokens, fn, "tokens");
  check_same_device(logits, tokens, fn, "logits", "tokens");
  if (mask.storage) check_same_device(logits, mask, fn, "logits", "mask");
  check_temperature(temperature, fn);
  const int64_t N = logits.dim(0), T = logits.dim(1), V = logits.dim(2);
  if (V == 0) throw_range_error(std::string(fn) + ": logits must have V > 0, got " + shape_str(logits.shape));
  PgBatchHost hb = pg_prepare(logprob_batch(tokens, mask, N, T, dev), N, T, V, false, fn);
  const int64_t n = static_cast<int64_t>(hb.rows.size());
  Backend be(dev);
  Tensor rows = i64_tensor(hb.rows, be), tok = i32_tensor(hb.tok, be);
  Tensor state_h = empty({n, 4}, DType::F32, Device{});
  Tensor state = dev.is_cpu() ? state_h : be.alloc({n, 4}, DType::F32);
  if (n)
    be.stats(logits.raw(), logits.dtype, V, rows.ptr<int64_t>(), n, 0, V, tok.ptr<int32_t>(), static_cast<float>(1.0 / temperature),
             state.ptr<float>(), true);
  be.download(state, state_h);
  std::vector<double> lse(n), lp(n), H(n);
  for (int64_t j = 0; j < n; ++j) finalize(state_h.ptr<float>() + 4 * j, &lse[j], &lp[j], &H[j]);
  return logprob_outputs(hb, lp, H, entropy, be);
}

TokenLogprobsResult token_logprobs_linear(const Tensor& hidden, const Tensor& weight, const Tensor& tokens, const Tensor& mask,
                                          double temperature, bool entropy, int64_t chunk_size, int64_t vocab_chunk_size) {
  const char* fn = "tokenLogprobs";
  check_linear(hidden, weight, fn);
  check_defined(tokens, fn, "tokens");
  check_same_device(hidden, tokens, fn, "hidden", "tokens");
  if (mask.storage) check_same_device(hidden, mask, fn, "hidden", "mask");
  check_temperature(temperature, fn);
  if (chunk_size < 0) throw_range_error(std::string(fn) + ": chunkSize must be a positive integer");
  if (vocab_chunk_size < 0) throw_range_error(std::string(fn) + ": vocabChunkSize must be a positive integer");
  const int64_t N = hidden.dim(0), T = hidden.dim(1), V = weight.dim(0);
  PgBatchHost hb = pg_prepare(logprob_batch(tokens, mask, N, T, hidden.device()), N, T, V, false, fn);
  Backend be(hidden.device());
  LinearDriver drv(hidden, weight, hb, be, chunk_size, vocab_chunk_size, temperature, false);
  const int64_t n = drv.n;
  std::vector<double> lse(n), lp(n), H(n);
  for (int64_t j0 = 0; j0 < n; j0 += drv.c) {
    int64_t cn = std::min(drv.c, n - j0);
    drv.load_chunk(j0, cn);
    drv.stats_pass(j0, cn);
    for (int64_t r = 0; r < cn; ++r) finalize(drv.state_h.ptr<float>() + 4 * r, &lse[j0 + r], &lp[j0 + r], &H[j0 + r]);
  }
  return logprob_outputs(hb, lp, H, entropy, be);
}

}  // namespace mtrl
