// CPU token sampling, fast paths. Top-k (k <= kStreamMaxK, with or without top-p / min-p) and
// min-p without top-p run in ONE pass over the logits: the first pass (validation, max, raw exp sum)
// also streams the candidates above a rising threshold into a small buffer (StreamSelect), and the
// cut, the kept mass and the draw are then computed on the candidates alone (see fast_row). Every
// other row (top-p alone, large k, penalties, no filter, greedy) takes the general path, O(V) per row
// without sorting the vocabulary: the top-k / top-p cut is found by a threshold search: one histogram of the row over 255 buckets of the scaled logit
// z (width 1/8, plus one bucket for the negligible tail) with counts and exact integer masses, then
// only the bucket holding the cut is examined: sorted when small, otherwise narrowed by up to four
// 8-bit radix levels over the order key (the last level leaves equal logits, ordered by token id).
// Rows run in parallel (OpenMP); the per-element loops are SIMD (sampling_passes_cpu.cc).
#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdlib>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "mtrl/cpu_features.h"

#include "mtrl/sampling.h"

namespace mtrl::cpu {
namespace {
using namespace sampling_detail;

enum class Mode { Count, Mass };

constexpr int kBuckets = 255;          // level-0 buckets 0..254 (255 marks -inf tokens)
constexpr size_t kSortBelow = 2048;    // candidate lists this small are simply sorted

struct ListCut {
  uint64_t count = 0, mass = 0;
  int32_t last = 0;
};

inline bool order_before(const float* y, int32_t a, int32_t b) { return y[a] > y[b] || (y[a] == y[b] && a < b); }

// Finds, within `list` (token ids in id order, one contiguous stretch of the sampling order), the
// kept prefix: `t` tokens (Count) or the tokens whose mass before them is < t (Mass, t >= 1).
ListCut resolve_list(std::vector<int32_t>& list, Mode mode, uint64_t t, const float* y, const float* w, float two_pow_s) {
  ListCut before;
  for (int shift = 24; shift >= 0 && list.size() > kSortBelow; shift -= 8) {
    std::array<uint64_t, 256> cnt{}, mass{};
    for (int32_t i : list) {
      uint32_t d = (sample_desc_key(y[i]) >> shift) & 255u;
      ++cnt[d];
      mass[d] += sample_fixed(w[i], two_pow_s);
    }
    int d = 0;
    for (; d < 255; ++d) {
      if (mode == Mode::Count ? cnt[d] >= t : mass[d] >= t) break;
      t -= mode == Mode::Count ? cnt[d] : mass[d];
      before.count += cnt[d];
      before.mass += mass[d];
    }
    size_t o = 0;
    for (int32_t i : list)
      if (static_cast<int>((sample_desc_key(y[i]) >> shift) & 255u) == d) list[o++] = i;
    list.resize(o);
    if (shift == 0) {
      // Every survivor has the same logit, hence the same weight; the order among them is by id.
      uint64_t q = sample_fixed(w[list[0]], two_pow_s);
      uint64_t n = mode == Mode::Count ? t : (q > 0 ? (t + q - 1) / q : list.size());
      n = std::min<uint64_t>(n, list.size());
      return ListCut{before.count + n, before.mass + n * q, list[n - 1]};
    }
  }
  std::sort(list.begin(), list.end(), [&](int32_t a, int32_t b) { return order_before(y, a, b); });
  uint64_t n = 0, mass = 0;
  if (mode == Mode::Count) {
    n = std::min<uint64_t>(t, list.size());
    for (uint64_t j = 0; j < n; ++j) mass += sample_fixed(w[list[j]], two_pow_s);
  } else {
    for (; n < list.size() && mass < t; ++n) mass += sample_fixed(w[list[n]], two_pow_s);
  }
  if (n == 0) n = 1, mass = sample_fixed(w[list[0]], two_pow_s);  // unreachable for valid targets
  return ListCut{before.count + n, before.mass + mass, list[n - 1]};
}

struct Histogram {
  std::array<uint64_t, kBuckets> cnt{}, mass{};
};

// The prefix of the order selected by `mode`/`target` among the finite tokens that are at or
// before `prev` (when given).
Cut resolve(const Histogram& h, Mode mode, uint64_t target, const Cut* prev, const RowState& st, RowWork& wk) {
  uint64_t cc = 0, cm = 0;
  int last = prev ? prev->bucket : kBuckets - 1;
  int b = 0;
  for (; b <= last; ++b) {
    uint64_t c = h.cnt[b], m = h.mass[b];
    if (prev && b == prev->bucket) c = prev->count - prev->count_before, m = prev->mass - prev->mass_before;
    if (mode == Mode::Count ? cc + c >= target : cm + m >= target) break;
    cc += c;
    cm += m;
  }
  if (b > last) return prev ? *prev : Cut{};  // target beyond the eligible set: keep it all
  wk.list.clear();
  const uint8_t* bucket = wk.bucket.data();
  const float* y = st.y;
  for (int64_t i = 0; i < st.vocab; ++i) {
    if (bucket[i] != b) continue;
    if (prev && !(y[i] > prev->y || (y[i] == prev->y && i <= prev->id))) continue;
    wk.list.push_back(static_cast<int32_t>(i));
  }
  ListCut lc = resolve_list(wk.list, mode, mode == Mode::Count ? target - cc : target - cm, y, wk.w.data(), st.two_pow_s);
  Cut cut;
  cut.active = true;
  cut.id = lc.last;
  cut.y = y[lc.last];
  cut.count = cc + lc.count;
  cut.mass = cm + lc.mass;
  cut.bucket = b;
  cut.count_before = cc;
  cut.mass_before = cm;
  return cut;
}

// Top-k rows with k up to this stream through the candidate buffer; larger k take the general path.
constexpr int64_t kStreamMaxK = 4096;

// Token, both logprobs for a row whose candidates (wk.sel) hold every token that can be kept:
// exactly the top-k set (top-k on), or a superset of the min-p set (min-p only). Applies the
// definition's top-p / min-p / draw steps to the candidates; identical results to finish_row.
void fast_row(const SampleRow& p, const float* x, int64_t vocab, const RowStats& rs, double raw_sum, uint64_t seed,
              uint64_t offset, RowWork& wk, int32_t* token, float* logprob, float* raw_logprob) {
  StreamSelect& sel = wk.sel;
  sel.finish();
  size_t n = sel.n;
  const float* val = sel.val.data();
  const int32_t* idx = sel.idx.data();
  const float m = rs.max, inv_t = p.inv_temperature;
  const int shift = sample_weight_shift(vocab);
  const float two_pow_s = std::ldexp(1.0f, shift);
  wk.q.resize(n);
  wk.keep.assign(n, 1);
  uint64_t* q = wk.q.data();
  uint8_t* keep = wk.keep.data();
  for (size_t j = 0; j < n; ++j) q[j] = sample_fixed(sampling_exp(sample_z(val[j], m, inv_t)), two_pow_s);
  if (p.top_p < 1.0) {
    // The candidates are the top-k set (in id order); top-p keeps the prefix of the sampling order
    // whose mass before each token is below ceil(p * Q_k).
    wk.order.resize(n);
    int32_t* ord = wk.order.data();
    uint64_t q_k = 0;
    for (size_t j = 0; j < n; ++j) ord[j] = static_cast<int32_t>(j), q_k += q[j];
    std::sort(ord, ord + n, [&](int32_t a, int32_t b) { return val[a] > val[b] || (val[a] == val[b] && a < b); });
    uint64_t t = sample_top_p_threshold(p.top_p, q_k), mass = 0;
    size_t j = 0;
    for (; j < n && mass < t; ++j) mass += q[ord[j]];
    for (; j < n; ++j) keep[ord[j]] = 0;
  }
  if (p.log_min_p > -INFINITY)
    for (size_t j = 0; j < n; ++j)
      if (!(sample_z(val[j], m, inv_t) >= p.log_min_p)) keep[j] = 0;
  uint64_t q_kept = 0;
  for (size_t j = 0; j < n; ++j) q_kept += keep[j] ? q[j] : 0;
  uint64_t target = sample_mulhi(sample_random_bits(seed, p.row_id, offset), q_kept), cum = 0;
  size_t pick = 0;
  for (size_t j = 0; j < n; ++j) {
    if (!keep[j]) continue;
    cum += q[j];
    pick = j;
    if (cum > target) break;
  }
  int64_t tok = idx[pick];
  *token = static_cast<int32_t>(tok);
  *logprob = sample_logprob(sample_z(x[tok], m, inv_t), q_kept, shift);
  *raw_logprob = static_cast<float>(static_cast<double>(x[tok]) - m - std::log(raw_sum));
}

// Whether a row streams its candidates (and sets up wk.sel when it does).
bool setup_stream(const SampleRow& p, int64_t vocab, RowWork& wk) {
  if (p.greedy || p.penalize) return false;
  bool use_k = p.top_k > 0 && p.top_k <= kStreamMaxK && p.top_k < vocab;
  bool use_min_p = p.log_min_p > -INFINITY && p.top_p >= 1.0;
  if (!use_k && !use_min_p) return false;
  if (!use_k && p.top_k > 0 && p.top_k < vocab) return false;  // large k with min-p: general path
  size_t limit = use_k ? std::max<size_t>(512, 8 * static_cast<size_t>(p.top_k)) : 4096;
  double delta = use_min_p ? static_cast<double>(p.log_min_p) / static_cast<double>(p.inv_temperature) : 0.0;
  wk.sel.reset(use_k ? p.top_k : 0, use_min_p, delta, limit);
  return true;
}

// The first pass of one row split over the threads by whole segments (for B below the thread
// count): each thread scans its segments with its own candidate buffer, the buffers are joined in
// id order. Same segment stats and the same final candidate set as scan_row, so the same results.
RowStats split_scan(const float* x, int64_t vocab, StreamSelect* sel, RowWork& wk, double* raw_sum) {
  int64_t nseg = (vocab + kScanSegment - 1) / kScanSegment;
  wk.segs.resize(static_cast<size_t>(nseg));
  int threads = static_cast<int>(std::min<int64_t>(cpu_threads(), nseg));
  std::vector<StreamSelect> locals(sel ? static_cast<size_t>(threads) : 0);
#pragma omp parallel num_threads(threads)
  {
    int t = 0, nt = 1;
#ifdef _OPENMP
    t = omp_get_thread_num();
    nt = omp_get_num_threads();
#endif
    int64_t s0 = nseg * t / nt, s1 = nseg * (t + 1) / nt;
    StreamSelect* ls = nullptr;
    if (sel) {
      ls = &locals[static_cast<size_t>(t)];
      ls->reset(sel->k, sel->min_p, sel->min_p_delta, sel->cap - 16);
    }
    if (s1 > s0) scan_range(x, s0 * kScanSegment, std::min(s1 * kScanSegment, vocab), ls, wk.segs.data() + s0);
  }
  if (sel) {
    size_t total = 0;
    for (const StreamSelect& l : locals) total += l.n;
    if (sel->val.size() < total + 16) {
      sel->val.resize(total + 16);
      sel->idx.resize(total + 16);
    }
    sel->n = 0;
    for (const StreamSelect& l : locals) {
      sel->overflow = sel->overflow || l.overflow;
      std::copy(l.val.begin(), l.val.begin() + static_cast<std::ptrdiff_t>(l.n), sel->val.begin() + static_cast<std::ptrdiff_t>(sel->n));
      std::copy(l.idx.begin(), l.idx.begin() + static_cast<std::ptrdiff_t>(l.n), sel->idx.begin() + static_cast<std::ptrdiff_t>(sel->n));
      sel->n += l.n;
    }
  }
  return combine_segments(wk.segs.data(), nseg, raw_sum);
}

Cut find_cut(const SampleRow& p, const RowState& st, RowWork& wk) {
  bool need_k = p.top_k > 0 && p.top_k < st.finite;
  bool need_p = p.top_p < 1.0;
  if (!need_k && !need_p) return Cut{};
  Histogram h;
  const uint8_t* bucket = wk.bucket.data();
  const float* w = wk.w.data();
  for (int64_t i = 0; i < st.vocab; ++i) {
    uint8_t b = bucket[i];
    if (b == 255) continue;
    ++h.cnt[b];
    h.mass[b] += sample_fixed(w[i], st.two_pow_s);
  }
  Cut ck;
  if (need_k) ck = resolve(h, Mode::Count, static_cast<uint64_t>(p.top_k), nullptr, st, wk);
  if (!need_p) return ck;
  uint64_t q_k = need_k ? ck.mass : st.q_all;
  return resolve(h, Mode::Mass, sample_top_p_threshold(p.top_p, q_k), need_k ? &ck : nullptr, st, wk);
}

}  // namespace

void sample_tokens(const Tensor& logits, const Tensor* history, const std::vector<SampleRow>& rows, uint64_t seed,
                   uint64_t offset, SampleResult& out) {
  int64_t B = logits.dim(0), V = logits.dim(1);
  int64_t L = history ? history->dim(1) : 0;
  size_t esz = dtype_size(logits.dtype);
  const uint8_t* base = static_cast<const uint8_t*>(logits.raw());
  const int32_t* hist = history ? history->ptr<int32_t>() : nullptr;
  // Fewer rows than threads: each row's first pass is split over the threads instead, when the row is
  // long enough to pay for waking them (the addon runs OpenMP with OMP_WAIT_POLICY=passive, so a
  // parallel region costs a futex wake-up, tens of µs on a VM; benchmarks/sampling.ts measures it).
  const bool split = B < cpu_threads() && V >= std::max<int64_t>(2 * kScanSegment, sampling_split_min_vocab());
  auto row_fn = [&](int64_t r, RowWork& wk) {
    const SampleRow& p = rows[r];
    RowState st;
    bool filters = !p.greedy && ((p.top_k > 0 && p.top_k < V) || p.top_p < 1.0);
    const float* x = widen_row(base + r * V * esz, logits.dtype, V, wk);
    bool stream = setup_stream(p, V, wk);
    double raw_sum = 0.0;
    StreamSelect* sel = stream ? &wk.sel : nullptr;
    RowStats rs = split ? split_scan(x, V, sel, wk, &raw_sum) : scan_row(x, V, sel, wk, &raw_sum);
    if (stream && !rs.bad && rs.finite > 0 && !wk.sel.overflow) {
      fast_row(p, x, V, rs, raw_sum, seed, offset, wk, &out.tokens[r], &out.logprobs[r], &out.raw_logprobs[r]);
      return;
    }
    if (!prepare_scanned_row(x, rs, raw_sum, V, p, hist ? hist + r * L : nullptr, L, filters, wk, st)) {
      out.status[r] = st.status;
      out.bad_index[r] = st.bad_index;
      return;
    }
    Cut cut = p.greedy ? Cut{} : find_cut(p, st, wk);
    finish_row(p, st, wk, cut, seed, offset, &out.tokens[r], &out.logprobs[r], &out.raw_logprobs[r]);
  };
  if (split) {
    static thread_local RowWork wk;
    for (int64_t r = 0; r < B; ++r) row_fn(r, wk);
  } else {
    for_each_row(B, row_fn);
  }
}

namespace {
// Measured on the 2-core machine (benchmarks/sampling.ts, B = 1, 2 threads, its "row split" column):
// splitting costs 70 % more at V = 32000 (top-k 54 vs 32 µs), is even at V = 128256 and saves 20 % at
// V = 151936 (57 vs 71 µs): a parallel region wakes sleeping threads (OMP_WAIT_POLICY=passive).
constexpr int64_t kSplitMinVocab = 131072;
std::atomic<int64_t>& split_min_vocab_value() {
  static std::atomic<int64_t> v{[] {
    const char* e = std::getenv("MTRL_SAMPLING_SPLIT_MIN_VOCAB");
    if (e == nullptr || *e == '\0') return kSplitMinVocab;
    char* end = nullptr;
    long long n = std::strtoll(e, &end, 10);
    return end != e && *end == '\0' && n >= 0 ? static_cast<int64_t>(n) : kSplitMinVocab;
  }()};
  return v;
}
}  // namespace

int64_t sampling_split_min_vocab() { return split_min_vocab_value().load(std::memory_order_relaxed); }
int64_t set_sampling_split_min_vocab(int64_t v) { return split_min_vocab_value().exchange(v < 0 ? 0 : v); }

}  // namespace mtrl::cpu
