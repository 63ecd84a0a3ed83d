// Per-row steps shared by the CPU sampling paths: bf16 widening, validation, penalties, the max and
// weight passes, the final draw and both logprobs, and the OpenMP loop over rows with reusable
// per-thread scratch. The cut search (top-k/top-p) lives in sampling_cpu.cc (fast) and
// sampling_reference_cpu.cc (sort-based); the SIMD loops in sampling_passes_cpu.cc.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <new>

#include "mtrl/bf16.h"
#include "mtrl/cpu_features.h"
#include "mtrl/sampling.h"

namespace mtrl::cpu::sampling_detail {

const float* widen_row(const void* row, DType dtype, int64_t vocab, RowWork& wk) {
  if (dtype != DType::BF16) return static_cast<const float*>(row);
  wk.xf.resize(static_cast<size_t>(vocab));
  const uint16_t* h = static_cast<const uint16_t*>(row);
  for (int64_t i = 0; i < vocab; ++i) wk.xf[i] = bf16_to_f32(h[i]);
  return wk.xf.data();
}

RowStats scan_row(const float* x, int64_t vocab, StreamSelect* sel, RowWork& wk, double* raw_sum) {
  int64_t nseg = (vocab + kScanSegment - 1) / kScanSegment;
  wk.segs.resize(static_cast<size_t>(nseg));
  scan_range(x, 0, vocab, sel, wk.segs.data());
  return combine_segments(wk.segs.data(), nseg, raw_sum);
}

bool prepare_row(const void* row, DType dtype, int64_t vocab, const SampleRow& p, const int32_t* history, int64_t hist_len,
                 bool buckets, RowWork& wk, RowState& st) {
  const float* x = widen_row(row, dtype, vocab, wk);
  double raw_sum = 0.0;
  RowStats rs = scan_row(x, vocab, nullptr, wk, &raw_sum);
  return prepare_scanned_row(x, rs, raw_sum, vocab, p, history, hist_len, buckets, wk, st);
}

bool prepare_scanned_row(const float* x, const RowStats& rs, double raw_sum, int64_t vocab, const SampleRow& p,
                         const int32_t* history, int64_t hist_len, bool buckets, RowWork& wk, RowState& st) {
  st = RowState{};
  st.vocab = vocab;
  if (rs.bad) {
    for (int64_t i = 0; i < vocab; ++i) {
      if (std::isnan(x[i]) || x[i] == INFINITY) {
        st.status = std::isnan(x[i]) ? kSampleNaN : kSamplePosInf;
        st.bad_index = static_cast<int32_t>(i);
        return false;
      }
    }
  }
  if (rs.finite == 0) {
    st.status = kSampleAllMasked;
    return false;
  }
  st.x = x;
  st.mraw = rs.max;
  st.raw_sum = raw_sum;
  st.y = x;
  st.m = rs.max;
  st.finite = rs.finite;

  if (p.penalize && history && hist_len > 0) {
    // Occurrence counts of the row's history (padding -1 skipped; ids were range-checked by the core).
    wk.tokens.clear();
    for (int64_t j = 0; j < hist_len; ++j)
      if (history[j] >= 0) wk.tokens.push_back(history[j]);
    if (!wk.tokens.empty()) {
      std::sort(wk.tokens.begin(), wk.tokens.end());
      wk.y.assign(x, x + vocab);
      float* y = wk.y.data();
      for (size_t j = 0; j < wk.tokens.size();) {
        size_t e = j;
        while (e < wk.tokens.size() && wk.tokens[e] == wk.tokens[j]) ++e;
        int32_t t = wk.tokens[j];
        float c = static_cast<float>(e - j);
        float v = y[t];
        if (p.repetition_penalty != 1.0f) v = v > 0.0f ? v / p.repetition_penalty : v * p.repetition_penalty;
        if (p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f) v = v - sample_fma(p.frequency_penalty, c, p.presence_penalty);
        if (std::isnan(v) || v == INFINITY) {
          st.status = kSamplePenaltyNonFinite;
          st.bad_index = t;
          return false;
        }
        y[t] = v;
        j = e;
      }
      RowStats ys = row_stats(y, vocab);
      if (ys.finite == 0) {
        st.status = kSampleAllMasked;
        return false;
      }
      st.y = y;
      st.m = ys.max;
      st.finite = ys.finite;
    }
  }

  if (p.greedy) {
    st.argmax = first_index_of(st.y, vocab, st.m);
    return true;
  }
  st.shift = sample_weight_shift(vocab);
  st.two_pow_s = std::ldexp(1.0f, st.shift);
  wk.w.resize(static_cast<size_t>(vocab));
  if (buckets) wk.bucket.resize(static_cast<size_t>(vocab));
  st.q_all = weights_pass(st.y, vocab, st.m, p.inv_temperature, st.two_pow_s, wk.w.data(), buckets ? wk.bucket.data() : nullptr);
  return true;
}

void finish_row(const SampleRow& p, const RowState& st, const RowWork& wk, const Cut& cut, uint64_t seed, uint64_t offset,
                int32_t* token, float* logprob, float* raw_logprob) {
  int64_t tok;
  if (p.greedy) {
    tok = st.argmax;
    *logprob = 0.0f;
  } else {
    KeptSet k;
    k.has_cut = cut.active;
    k.cut_y = cut.y;
    k.cut_id = cut.id;
    k.has_min_p = p.log_min_p > -INFINITY;
    k.log_min_p = p.log_min_p;
    k.m = st.m;
    k.inv_t = p.inv_temperature;
    k.two_pow_s = st.two_pow_s;
    const float* w = wk.w.data();
    uint64_t q_kept = kept_mass(st.y, w, st.vocab, k);
    // q_kept >= 2^s: the first token of the order has z = 0, w = 1 and passes every filter.
    uint64_t target = sample_mulhi(sample_random_bits(seed, p.row_id, offset), q_kept);
    tok = find_token(st.y, w, st.vocab, k, target);
    if (tok >= st.vocab) tok = st.argmax;  // unreachable (target < q_kept); keeps the token in range regardless
    *logprob = sample_logprob(sample_z(st.y[tok], st.m, p.inv_temperature), q_kept, st.shift);
  }
  *token = static_cast<int32_t>(tok);
  *raw_logprob = static_cast<float>(static_cast<double>(st.x[tok]) - st.mraw - std::log(st.raw_sum));
}

void for_each_row(int64_t rows, const std::function<void(int64_t, RowWork&)>& fn) {
  std::atomic<bool> failed{false};
  std::exception_ptr err;
  int64_t chunk = rows / (8 * cpu_threads()) + 1;
  if (chunk > 64) chunk = 64;
#pragma omp parallel if (rows > 1)
  {
    // thread_local: OpenMP threads persist, so the scratch is allocated once per thread, not per call.
    static thread_local RowWork wk;
    // Dynamic: rows differ in cost (filters, bucket sizes); chunks keep the scheduling overhead
    // small next to a short row.
#pragma omp for schedule(dynamic, chunk)
    for (int64_t r = 0; r < rows; ++r) {
      if (failed.load(std::memory_order_relaxed)) continue;
      try {
        fn(r, wk);
      } catch (...) {
#pragma omp critical(mtrl_sampling_error)
        {
          if (!failed.exchange(true)) err = std::current_exception();
        }
      }
    }
  }
  if (err) std::rethrow_exception(err);
}

}  // namespace mtrl::cpu::sampling_detail
