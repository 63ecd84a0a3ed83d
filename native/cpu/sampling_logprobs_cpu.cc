// CPU log-softmax and raw-logprob gathering on the sampler's machinery (same validation, the same
// exp and the same max / exp-sum passes that give sampleTokens its rawLogprobs).
#include <cmath>

#include "mtrl/bf16.h"
#include "mtrl/sampling.h"

namespace mtrl::cpu {
namespace {
using namespace sampling_detail;

// Widens a bf16 row if needed and validates it; returns the f32 row or null (status set).
const float* load_row(const Tensor& logits, int64_t r, int64_t V, RowWork& wk, RowStats& rs, int32_t& status, int32_t& bad) {
  const float* x;
  if (logits.dtype == DType::BF16) {
    wk.xf.resize(static_cast<size_t>(V));
    const uint16_t* h = logits.ptr<uint16_t>() + r * V;
    for (int64_t i = 0; i < V; ++i) wk.xf[i] = bf16_to_f32(h[i]);
    x = wk.xf.data();
  } else {
    x = logits.ptr<float>() + r * V;
  }
  rs = row_stats(x, V);
  if (rs.bad) {
    for (int64_t i = 0; i < V; ++i)
      if (std::isnan(x[i]) || x[i] == INFINITY) {
        status = std::isnan(x[i]) ? kSampleNaN : kSamplePosInf;
        bad = static_cast<int32_t>(i);
        return nullptr;
      }
  }
  if (rs.finite == 0) {
    status = kSampleAllMasked;
    return nullptr;
  }
  return x;
}

}  // namespace

void log_softmax(const Tensor& logits, Tensor& out, std::vector<int32_t>& status, std::vector<int32_t>& bad_index) {
  int64_t V = logits.dim(-1), R = V ? logits.numel() / V : 0;
  float* o = out.ptr<float>();
  for_each_row(R, [&](int64_t r, RowWork& wk) {
    RowStats rs;
    const float* x = load_row(logits, r, V, wk, rs, status[r], bad_index[r]);
    if (!x) return;
    // (x - max) is exact for the logits that matter; subtracting log(sum) last keeps the result
    // within an ulp or two of the float64 value.
    float ls = static_cast<float>(std::log(exp_sum(x, V, rs.max)));
    float* orow = o + r * V;
    for (int64_t i = 0; i < V; ++i) orow[i] = (x[i] - rs.max) - ls;
  });
}

void gather_logprobs(const Tensor& logits, const std::vector<int32_t>& tokens, std::vector<float>& out, std::vector<int32_t>& status,
                     std::vector<int32_t>& bad_index) {
  int64_t V = logits.dim(-1), R = V ? logits.numel() / V : 0;
  for_each_row(R, [&](int64_t r, RowWork& wk) {
    RowStats rs;
    const float* x = load_row(logits, r, V, wk, rs, status[r], bad_index[r]);
    if (!x) return;
    out[r] = static_cast<float>(static_cast<double>(x[tokens[r]]) - rs.max - std::log(exp_sum(x, V, rs.max)));
  });
}

}  // namespace mtrl::cpu
