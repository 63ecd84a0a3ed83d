// CPU token sampling, sort-based reference: the textbook way to apply top-k and top-p (sort the
// row's finite tokens by the sampling order, walk the prefix). Same definition and the same
// max/weight/draw passes as the fast path, so the two must pick identical tokens; it exists as an
// independent check of the fast cut search and as the baseline the benchmarks compare against.
#include <algorithm>
#include <numeric>

#include "mtrl/sampling.h"

namespace mtrl::cpu {
namespace {
using namespace sampling_detail;

Cut sort_cut(const SampleRow& p, const RowState& st, RowWork& wk) {
  bool need_k = p.top_k > 0 && p.top_k < st.finite;
  bool need_p = p.top_p < 1.0;
  if (!need_k && !need_p) return Cut{};
  const float* y = st.y;
  const float* w = wk.w.data();
  std::vector<int32_t>& idx = wk.list;
  idx.clear();
  for (int64_t i = 0; i < st.vocab; ++i)
    if (y[i] > -INFINITY) idx.push_back(static_cast<int32_t>(i));
  std::sort(idx.begin(), idx.end(), [&](int32_t a, int32_t b) { return y[a] > y[b] || (y[a] == y[b] && a < b); });
  size_t n = need_k ? static_cast<size_t>(p.top_k) : idx.size();
  uint64_t mass = 0;
  for (size_t j = 0; j < n; ++j) mass += sample_fixed(w[idx[j]], st.two_pow_s);
  if (need_p) {
    uint64_t tp = sample_top_p_threshold(p.top_p, mass);
    uint64_t cum = 0;
    size_t j = 0;
    for (; j < n && cum < tp; ++j) cum += sample_fixed(w[idx[j]], st.two_pow_s);
    n = j;
    mass = cum;
  }
  Cut c;
  c.active = true;
  c.id = idx[n - 1];
  c.y = y[c.id];
  c.count = n;
  c.mass = mass;
  return c;
}

}  // namespace

void sample_tokens_sort_reference(const Tensor& logits, const Tensor* history, const std::vector<SampleRow>& rows,
                                  uint64_t seed, uint64_t offset, SampleResult& out) {
  int64_t B = logits.dim(0), V = logits.dim(1);
  int64_t L = history ? history->dim(1) : 0;
  size_t esz = dtype_size(logits.dtype);
  const uint8_t* base = static_cast<const uint8_t*>(logits.raw());
  const int32_t* hist = history ? history->ptr<int32_t>() : nullptr;
  for_each_row(B, [&](int64_t r, RowWork& wk) {
    const SampleRow& p = rows[r];
    RowState st;
    if (!prepare_row(base + r * V * esz, logits.dtype, V, p, hist ? hist + r * L : nullptr, L, false, wk, st)) {
      out.status[r] = st.status;
      out.bad_index[r] = st.bad_index;
      return;
    }
    Cut cut = p.greedy ? Cut{} : sort_cut(p, st, wk);
    finish_row(p, st, wk, cut, seed, offset, &out.tokens[r], &out.logprobs[r], &out.raw_logprobs[r]);
  });
}

}  // namespace mtrl::cpu
