// Token sampling: penalties -> temperature -> top-k -> top-p -> min-p -> renormalise -> draw, with
// a counter-based RNG so a row's token depends only on (logits, options, seed, row id, offset) and
// not on thread count, batch composition or device. Also log-softmax and raw-logprob gathering.
//
// Exact definition (shared by the CPU fast path, the CPU sort-based reference and CUDA; every
// number below is computed with the same IEEE float/double operations and explicit FMAs on every
// device, so the kept set and the drawn token are bit-identical across implementations):
//   x      raw logits of a row (bf16 widened to f32). NaN or +inf -> error; -inf = masked token.
//   y      penalised logits: for a token t seen c > 0 times in the row's history,
//          y = x > 0 ? x / rep : x * rep   (when rep != 1), then y = y - fma(freq, c, pres).
//   m      max_i y_i. Temperature 0 -> the token is the lowest id with y == m, logprob 0.
//   z      (y - m) * invT with invT = (float)(1 / T) (clamped to FLT_MAX); z = -inf where y = -inf.
//   w      sampling_exp(z) (below; <= 2 ulp from exp), q = floor(w * 2^s) with
//          s = min(51, 63 - ceil(log2 V)): integer weights whose sums are exact in any order.
//   order  i before j  iff  y_i > y_j, or y_i == y_j and i < j (probability, then token id).
//   top-k  the first min(k, #finite) tokens in that order (k = 0: off).
//   top-p  of those, token at position n is kept iff (sum of q before it) < ceil(p * Q_k), where
//          Q_k = sum of q over the top-k set (p = 1: off).
//   min-p  kept iff z >= (float)log(minP) (prob >= minP * max prob; minP = 0: off).
//   draw   Q_F = sum of q over the kept set F; r = 64 bits of Philox4x32-10 with key = seed and
//          counter = (offset lo, offset hi, rowId, 'samp'); target = floor(r * Q_F / 2^64); the
//          token is the lowest id i in F whose inclusive prefix sum of q (in id order) > target.
//   logprob     z_tok - (log(Q_F) - s ln 2)        (log-probability under the final distribution)
//   rawLogprob  x_tok - max x - log(sum exp(x - max x))   (under log_softmax of the raw logits)
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

#include "mtrl/common.h"
#include "mtrl/philox.h"
#include "mtrl/tensor.h"

namespace mtrl {

// ---- Options as the user gives them (one entry per row, already broadcast) ----------------------
// Plain numbers so the core can check every value (integers must be integral, ranges hold) and
// name the offending row in its error; empty vectors mean the neutral value for every row.
struct SampleOptions {
  std::vector<double> temperature, top_k, top_p, min_p, repetition_penalty, presence_penalty, frequency_penalty;
  std::vector<double> row_ids;  // Philox row ids; empty: 0..B-1
  double seed = 0, offset = 0;  // non-negative integers below 2^53
};

// ---- Per-row settings after validation, in the form the kernels read (plain data, device-neutral)
struct SampleRow {
  double top_p;          // 1 = off
  uint64_t row_id;       // Philox counter word
  float inv_temperature; // unused when greedy
  float log_min_p;       // -inf = off
  float repetition_penalty, presence_penalty, frequency_penalty;
  int32_t top_k;         // 0 = off
  int32_t greedy;        // temperature == 0
  int32_t penalize;      // history given and some penalty differs from its neutral value
};

enum SampleStatus : int32_t {
  kSampleOk = 0,
  kSampleNaN = 1,
  kSamplePosInf = 2,
  kSampleAllMasked = 3,
  kSamplePenaltyNonFinite = 4,
};

struct SampleResult {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs, raw_logprobs;
  std::vector<int32_t> status, bad_index;  // per row; filled by the kernels, turned into errors by the core
  void resize(int64_t b) {
    tokens.assign(b, 0);
    logprobs.assign(b, 0.f);
    raw_logprobs.assign(b, 0.f);
    status.assign(b, kSampleOk);
    bad_index.assign(b, -1);
  }
};

// Largest vocabulary: keeps sum(q) < 2^63 with at least 39 fractional bits of weight.
constexpr int64_t kSampleMaxVocab = int64_t(1) << 24;

// ---- Entry points (argument checks + device dispatch; errors name the function and argument) ----
// logits (B, V) f32 or bf16; history (B, L) i32 on the logits' device or nullptr.
void sample_tokens(const Tensor& logits, const Tensor* history, const SampleOptions& opts, SampleResult& out);
// The same definition with a full sort of each row's finite tokens (CPU only): the baseline for
// benchmarks and an independent check of the cut search.
void sample_tokens_sort_reference(const Tensor& logits, const Tensor* history, const SampleOptions& opts, SampleResult& out);
// out = log_softmax(logits) over the last dim; logits (..., V) f32/bf16, out f32 of the same shape.
void log_softmax(const Tensor& logits, Tensor& out);
// out[r] = log_softmax(logits)[r, tokens[r]] for every row r of logits (..., V).
void gather_logprobs(const Tensor& logits, const std::vector<int32_t>& tokens, std::vector<float>& out);

// ---- Shared definitions (host and device) ---------------------------------------------------------
MTRL_HD int sample_weight_shift(int64_t vocab) {
  int c = 0;
  while ((int64_t(1) << c) < vocab) ++c;
  int s = 63 - c;
  return s < 51 ? s : 51;
}

MTRL_HD float sample_fma(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(a, b, c);
#else
  return std::fma(a, b, c);
#endif
}

// exp(z) for z <= 0 (Cephes expf polynomial, explicit FMAs so every device rounds identically);
// 0 below -87 (where exp underflows to subnormals) and for -inf.
MTRL_HD float sampling_exp(float z) {
  if (!(z >= -87.0f)) return 0.0f;
#if defined(__CUDA_ARCH__)
  float n = rintf(__fmul_rn(z, 1.44269504088896341f));
#else
  float n = std::nearbyint(z * 1.44269504088896341f);
#endif
  float r = sample_fma(n, -0.693359375f, z);
  r = sample_fma(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = sample_fma(p, r, 1.3981999507e-3f);
  p = sample_fma(p, r, 8.3334519073e-3f);
  p = sample_fma(p, r, 4.1665795894e-2f);
  p = sample_fma(p, r, 1.6666665459e-1f);
  p = sample_fma(p, r, 5.0000001201e-1f);
#if defined(__CUDA_ARCH__)
  float rr = __fmul_rn(r, r);
  float e = __fadd_rn(sample_fma(p, rr, r), 1.0f);
#else
  float rr = r * r;
  float e = sample_fma(p, rr, r) + 1.0f;
#endif
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  memcpy(&scale, &bits, 4);
#if defined(__CUDA_ARCH__)
  return __fmul_rn(e, scale);
#else
  return e * scale;
#endif
}

// z = (y - m) * invT, -inf for masked tokens (keeps 0 * inf and -inf * 0 out of the arithmetic).
MTRL_HD float sample_z(float y, float m, float inv_t) {
#if defined(__CUDA_ARCH__)
  return y > -INFINITY ? __fmul_rn(__fsub_rn(y, m), inv_t) : -INFINITY;
#else
  return y > -INFINITY ? (y - m) * inv_t : -INFINITY;
#endif
}

// Integer weight floor(w * 2^s); w <= 1 and s <= 51, so the value fits a double's mantissa.
MTRL_HD uint64_t sample_fixed(float w, float two_pow_s) {
#if defined(__CUDA_ARCH__)
  return __float2ull_rz(__fmul_rn(w, two_pow_s));
#else
  return static_cast<uint64_t>(w * two_pow_s);
#endif
}

// Level-0 bucket of the cut search: width 1/8 in z, bucket 254 collects z < -31.75 (tiny weights).
MTRL_HD int sample_bucket(float z) {
  float t = z * -8.0f;
  return t < 254.0f ? static_cast<int>(t) : 254;
}

// Unsigned key whose ascending order is the sampling order (descending y); -0 and +0 share a key.
MTRL_HD uint32_t sample_desc_key(float y) {
  y = y + 0.0f;
  uint32_t u;
  memcpy(&u, &y, 4);
  uint32_t asc = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return ~asc;
}

// 64 random bits for (seed, row id, offset).
MTRL_HD uint64_t sample_random_bits(uint64_t seed, uint64_t row_id, uint64_t offset) {
  U32x4 r = philox4x32_10(U32x4{static_cast<uint32_t>(offset), static_cast<uint32_t>(offset >> 32), static_cast<uint32_t>(row_id),
                                0x73616d70u ^ static_cast<uint32_t>(row_id >> 32)},
                          static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  return (static_cast<uint64_t>(r.x) << 32) | r.y;
}

MTRL_HD uint64_t sample_mulhi(uint64_t a, uint64_t b) {
#if defined(__CUDA_ARCH__)
  return __umul64hi(a, b);
#else
  return static_cast<uint64_t>((static_cast<unsigned __int128>(a) * b) >> 64);
#endif
}

// Top-p threshold in integer weight units: ceil(p * Q) (double arithmetic), at most Q.
MTRL_HD uint64_t sample_top_p_threshold(double p, uint64_t q_total) {
  double t = ceil(static_cast<double>(q_total) * p);
  if (!(t < 18446744073709551616.0)) return q_total;
  uint64_t ti = static_cast<uint64_t>(t);
  return ti < q_total ? ti : q_total;
}

// Processed logprob of a token with scaled logit z, given the kept set's integer mass.
MTRL_HD float sample_logprob(float z, uint64_t q_kept, int shift) {
  // log(q / 2^s) with an exact power-of-two scaling: a single kept token gives exactly 0.
  return static_cast<float>(static_cast<double>(z) - log(ldexp(static_cast<double>(q_kept), -shift)));
}

// The kept set F of a row is "at or before the cut in the sampling order" (when a cut is active) and
// "z >= log_min_p" (when min-p is on). Device-neutral.
struct KeptSet {
  bool has_cut = false;
  float cut_y = 0.f;
  int32_t cut_id = 0;
  bool has_min_p = false;
  float log_min_p = -INFINITY;
  float m = 0.f, inv_t = 1.f, two_pow_s = 1.f;
};
MTRL_HD bool kept(const KeptSet& k, float y, int64_t i) {
  if (!(y > -INFINITY)) return false;
  if (k.has_cut && !(y > k.cut_y || (y == k.cut_y && i <= k.cut_id))) return false;
  if (k.has_min_p && !(sample_z(y, k.m, k.inv_t) >= k.log_min_p)) return false;
  return true;
}
namespace cpu {
// Rows at least this long are scanned by all threads when a batch has fewer rows than threads
// (default 131072, or MTRL_SAMPLING_SPLIT_MIN_VOCAB); set returns the previous value. For tests and
// benchmarks: results are the same either way.
int64_t sampling_split_min_vocab();
int64_t set_sampling_split_min_vocab(int64_t v);
void sample_tokens(const Tensor& logits, const Tensor* history, const std::vector<SampleRow>& rows, uint64_t seed,
                   uint64_t offset, SampleResult& out);
void sample_tokens_sort_reference(const Tensor& logits, const Tensor* history, const std::vector<SampleRow>& rows,
                                  uint64_t seed, uint64_t offset, SampleResult& out);
// Raw-logit statistics of each row: max and sum exp(x - max) (status per row for NaN/+inf/all -inf).
void log_softmax(const Tensor& logits, Tensor& out, std::vector<int32_t>& status, std::vector<int32_t>& bad_index);
void gather_logprobs(const Tensor& logits, const std::vector<int32_t>& tokens, std::vector<float>& out, std::vector<int32_t>& status,
                     std::vector<int32_t>& bad_index);
}  // namespace cpu

// Row-level building blocks shared by the CPU fast path and the CPU sort-based reference (the two
// differ only in how they find the top-k/top-p cut), with SIMD variants picked at run time.
namespace cpu::sampling_detail {

struct RowStats {
  float max = -INFINITY;
  int64_t finite = 0;  // entries > -inf
  bool bad = false;    // some NaN or +inf
};
// max, count of finite entries and whether any entry is NaN/+inf.
RowStats row_stats(const float* x, int64_t n);
// Lowest i with x[i] == value (n if none).
int64_t first_index_of(const float* x, int64_t n, float value);
// sum over i of sampling_exp(x[i] - max) in double (x[i] = -inf contributes 0).
double exp_sum(const float* x, int64_t n, float max);
// w[i] = sampling_exp(sample_z(y[i], m, inv_t)); bucket[i] = sample_bucket(z) or 255 for y = -inf
// (bucket may be null). Returns sum of sample_fixed(w[i]).
uint64_t weights_pass(const float* y, int64_t n, float m, float inv_t, float two_pow_s, float* w, uint8_t* bucket);

// sum of sample_fixed(w[i]) over kept i.
uint64_t kept_mass(const float* y, const float* w, int64_t n, const KeptSet& k);
// Lowest kept i whose inclusive prefix sum of sample_fixed(w) exceeds target (n if none).
int64_t find_token(const float* y, const float* w, int64_t n, const KeptSet& k, uint64_t target);

// ---- First pass over a row (stats, raw exp sum, streaming candidates) ------------------------------
// The raw sum is accumulated per fixed segment of kScanSegment tokens (relative to a running block
// max, rescaled in double when it grows) and the segments are combined in order, so the result
// depends only on the row and the SIMD level, never on how rows or segments are split over threads.
constexpr int64_t kScanSegment = 8192;
struct SegStat {
  float max = -INFINITY;
  double sum = 0.0;  // sum of exp(x - max) over the segment
  int64_t finite = 0;
  bool bad = false;
};
// Candidate set built while streaming a row: entries (value, id) in id order with value > tau.
// Top-k (k > 0): the buffer is cut back to the first k entries of the sampling order whenever it
// fills, and tau becomes the k-th value (later equal values lose the id tie-break). Min-p (without
// top-p): tau also rises with the running max to a conservative bound of m + log(minP) * T.
// `overflow` means the buffer could not be cut back (the caller then takes the general path).
struct StreamSelect {
  int64_t k = 0;
  bool min_p = false;
  double min_p_delta = 0.0;  // log(minP) / invT (<= 0)
  float tau = -INFINITY;        // candidates: value > tau (max of the top-k and min-p bounds)
  float tau_min_p = -INFINITY;  // the min-p bound alone (entries equal to the k-th value stay)
  size_t cap = 0, n = 0;
  bool overflow = false;
  std::vector<float> val;
  std::vector<int32_t> idx;
  void reset(int64_t k_, bool min_p_, double delta, size_t cap_);
  // Appends lanes of mask (lane j = token base + j, value v[j]); compacts when nearly full.
  void push(const float* v, int64_t base, uint32_t mask);
  void on_max(float running_max);  // min-p: raise tau
  void compact();                  // top-k selection and/or tau filter
  void finish();                   // final top-k cut (exactly min(k, #candidates) entries)
};
// Scans x[lo, hi) (lo a multiple of kScanSegment), writing one SegStat per segment; sel may be null.
void scan_range(const float* x, int64_t lo, int64_t hi, StreamSelect* sel, SegStat* segs);
// Combines segment stats in order: max, finite, bad and sum of exp(x - max) over the row.
RowStats combine_segments(const SegStat* segs, int64_t nseg, double* raw_sum);

struct RowWork {  // per-thread scratch, grown to the vocabulary size and reused across calls
  std::vector<float> xf, y, w;
  std::vector<uint8_t> bucket;
  std::vector<int32_t> list, tokens;
  std::vector<SegStat> segs;
  StreamSelect sel;
  std::vector<int32_t> order;
  std::vector<uint64_t> q;
  std::vector<uint8_t> keep;
};

struct RowState {
  const float* x = nullptr;  // raw logits (f32)
  const float* y = nullptr;  // penalised logits (== x without penalties)
  int64_t vocab = 0, finite = 0;
  float mraw = 0.f, m = 0.f;
  double raw_sum = 0.0;
  int64_t argmax = 0;
  int shift = 0;
  float two_pow_s = 1.f;
  uint64_t q_all = 0;
  int32_t status = kSampleOk, bad_index = -1;
};

// The last kept token of a prefix of the sampling order, with the prefix's size and mass (and, for
// the fast path, the level-0 bucket it lies in and the size/mass of the buckets before it).
struct Cut {
  bool active = false;
  float y = 0.f;
  int32_t id = 0;
  uint64_t count = 0, mass = 0;
  int bucket = 0;
  uint64_t count_before = 0, mass_before = 0;
};

// Definition steps x -> y -> m (and w, q, buckets when not greedy). False (status set) for a bad row.
bool prepare_row(const void* row, DType dtype, int64_t vocab, const SampleRow& p, const int32_t* history, int64_t hist_len,
                 bool buckets, RowWork& wk, RowState& st);
// bf16 rows widened into wk.xf; f32 rows returned as they are.
const float* widen_row(const void* row, DType dtype, int64_t vocab, RowWork& wk);
// The first pass (scan_range + combine_segments) over a whole row on this thread.
RowStats scan_row(const float* x, int64_t vocab, StreamSelect* sel, RowWork& wk, double* raw_sum);
// prepare_row after the first pass (x widened, rs / raw_sum from scan_row or a split scan).
bool prepare_scanned_row(const float* x, const RowStats& rs, double raw_sum, int64_t vocab, const SampleRow& p,
                         const int32_t* history, int64_t hist_len, bool buckets, RowWork& wk, RowState& st);
// Draws the token from the kept set and computes both logprobs.
void finish_row(const SampleRow& p, const RowState& st, const RowWork& wk, const Cut& cut, uint64_t seed, uint64_t offset,
                int32_t* token, float* logprob, float* raw_logprob);
// Runs fn(row, work) for every row on OpenMP threads with per-thread scratch.
void for_each_row(int64_t rows, const std::function<void(int64_t, RowWork&)>& fn);

}  // namespace cpu::sampling_detail

#ifdef MTRL_WITH_CUDA
namespace cuda {
void sample_tokens(const Tensor& logits, const Tensor* history, const std::vector<SampleRow>& rows, uint64_t seed,
                   uint64_t offset, SampleResult& out);
void log_softmax(const Tensor& logits, Tensor& out, std::vector<int32_t>& status, std::vector<int32_t>& bad_index);
void gather_logprobs(const Tensor& logits, const std::vector<int32_t>& tokens, std::vector<float>& out, std::vector<int32_t>& status,
                     std::vector<int32_t>& bad_index);
}  // namespace cuda
#endif

}  // namespace mtrl
