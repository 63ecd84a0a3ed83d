// Native checks of token sampling: the exp against double precision, bit-identical weights at every
// SIMD level, the fast cut search against the sort-based reference, a 1e5-draw chi-square check
// against a double-precision reference distribution, error statuses, and CUDA against the CPU
// (tokens identical, logprobs within 1e-5) where a device exists.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <tuple>

#include "mtrl/bf16.h"
#include "mtrl/cpu_features.h"
#include "mtrl/ops.h"
#include "mtrl/sampling.h"
#include "test_util.h"

using namespace mtrl;
using namespace mtrl::test;

namespace {

std::vector<float> random_row(int64_t V, int kind) {
  std::normal_distribution<float> nd(0.f, 1.f);
  std::uniform_real_distribution<double> ud(1e-12, 1.0);
  std::vector<float> r(V);
  for (auto& v : r) {
    if (kind == 0) v = 0.05f * nd(rng());                       // nearly flat
    else if (kind == 1) v = 3.0f * nd(rng());                   // peaked
    else v = static_cast<float>(-2.0 * std::log(-std::log(ud(rng()))));  // Gumbel-like
  }
  return r;
}

SampleOptions random_options(int64_t B, int64_t V) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  SampleOptions o;
  for (int64_t b = 0; b < B; ++b) {
    o.temperature.push_back(u(rng()) < 0.15 ? 0.0 : 0.3 + 1.5 * u(rng()));
    o.top_k.push_back(u(rng()) < 0.3 ? 0.0 : std::floor(u(rng()) * V * (u(rng()) < 0.5 ? 0.05 : 1.2)));
    o.top_p.push_back(u(rng()) < 0.3 ? 1.0 : 0.02 + 0.98 * u(rng()));
    o.min_p.push_back(u(rng()) < 0.5 ? 0.0 : 0.2 * u(rng()));
  }
  o.repetition_penalty = {1.15};
  o.presence_penalty = {0.1};
  o.frequency_penalty = {0.05};
  o.seed = std::floor(u(rng()) * 1e9);
  o.offset = 3;
  return o;
}

Tensor random_history(int64_t B, int64_t L, int64_t V) {
  Tensor h = empty({B, L}, DType::I32, Device{});
  std::uniform_int_distribution<int32_t> d(-1, static_cast<int32_t>(V - 1));
  for (int64_t i = 0; i < B * L; ++i) h.ptr<int32_t>()[i] = d(rng());
  return h;
}

Tensor rows_tensor(const std::vector<std::vector<float>>& rows, Device dev = Device{}) {
  std::vector<float> flat;
  for (auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  return tensor_from(flat, {static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size())}, dev);
}

}  // namespace

MTRL_TEST(test_sampling, exp_matches_double_precision) {
  double worst = 0;
  for (int i = 0; i <= 2000000; ++i) {
    float z = -87.0f * static_cast<float>(i) / 2000000.0f;
    double ref = std::exp(static_cast<double>(z));
    double rel = std::fabs(sampling_exp(z) - ref) / ref;
    worst = std::max(worst, rel);
  }
  CHECK_MSG(worst < 3e-7, "sampling_exp max relative error " << worst);
  CHECK(sampling_exp(0.0f) == 1.0f);
  CHECK(sampling_exp(-INFINITY) == 0.0f);
  CHECK(sampling_exp(-100.0f) == 0.0f);
  char buf[96];
  std::snprintf(buf, sizeof buf, "sampling_exp max relative error %.3g over z in [-87, 0] (2 ulp = 2.4e-7)", worst);
  note(buf);
}

MTRL_TEST(test_sampling, weights_bit_identical_at_every_simd_level) {
  using namespace cpu::sampling_detail;
  for (int64_t n : {1, 7, 16, 33, 1001, 65537}) {
    auto y = random_floats(static_cast<size_t>(n), -40.0f, 10.0f);
    for (int64_t i = 0; i < n; i += 5) y[i] = -INFINITY;
    if (n > 3) y[3] = -0.0f, y[2] = 0.0f;
    float m = *std::max_element(y.begin(), y.end());
    std::vector<std::vector<float>> w(3, std::vector<float>(n));
    std::vector<std::vector<uint8_t>> bk(3, std::vector<uint8_t>(n));
    uint64_t q[3];
    double es[3];
    RowStats st[3];
    int li = 0;
    for (SimdLevel lvl : {SimdLevel::Scalar, SimdLevel::AVX2, SimdLevel::AVX512}) {
      set_simd_level(lvl);
      q[li] = weights_pass(y.data(), n, m, 0.77f, std::ldexp(1.0f, 45), w[li].data(), bk[li].data());
      es[li] = exp_sum(y.data(), n, m);
      st[li] = row_stats(y.data(), n);
      ++li;
    }
    set_simd_level(SimdLevel::AVX512);
    for (int l = 1; l < 3; ++l) {
      CHECK_MSG(std::memcmp(w[0].data(), w[l].data(), n * 4) == 0, "weights differ at level " << l << ", n=" << n);
      CHECK_MSG(bk[0] == bk[l], "buckets differ at level " << l << ", n=" << n);
      CHECK_MSG(q[0] == q[l], "integer mass differs at level " << l);
      CHECK_MSG(std::fabs(es[0] - es[l]) <= 1e-12 * es[0], "exp sum " << es[0] << " vs " << es[l]);
      CHECK(st[0].max == st[l].max && st[0].finite == st[l].finite && st[0].bad == st[l].bad);
    }
  }
}

MTRL_TEST(test_sampling, fast_path_equals_sort_reference) {
  int64_t rows_checked = 0;
  for (auto [B, V, kind] : {std::tuple<int64_t, int64_t, int>{64, 111, 2}, {32, 4099, 1}, {8, 30011, 0}, {8, 151936, 2}}) {
    std::vector<std::vector<float>> rows;
    for (int64_t b = 0; b < B; ++b) rows.push_back(random_row(V, kind));
    Tensor x = rows_tensor(rows);
    Tensor h = random_history(B, 24, V);
    for (int trial = 0; trial < 3; ++trial) {
      SampleOptions o = random_options(B, V);
      SampleResult a, r;
      for (SimdLevel lvl : {SimdLevel::Scalar, SimdLevel::AVX2, SimdLevel::AVX512}) {
        set_simd_level(lvl);
        sample_tokens(x, &h, o, a);
        sample_tokens_sort_reference(x, &h, o, r);
        CHECK_MSG(a.tokens == r.tokens, "tokens differ: B=" << B << " V=" << V << " level " << simd_level_name(lvl));
        CHECK_MSG(a.logprobs == r.logprobs, "logprobs differ: B=" << B << " V=" << V);
      }
      set_simd_level(SimdLevel::AVX512);
      rows_checked += B;
    }
  }
  note("rows checked (x3 SIMD levels): " + std::to_string(rows_checked));
}

MTRL_TEST(test_sampling, chi_square_against_double_reference) {
  // 1e5 draws of one Gumbel-like row (V=50) under top-k 30 + top-p 0.9 + T 2.5 + min-p 0.01.
  const int64_t N = 100000, V = 50;
  auto row = random_row(V, 2);
  std::vector<std::vector<float>> rows(N, row);
  Tensor x = rows_tensor(rows);
  SampleOptions o;
  o.temperature = {2.5};
  o.top_k = {30};
  o.top_p = {0.9};
  o.min_p = {0.01};
  o.seed = 12345;
  SampleResult res;
  sample_tokens(x, nullptr, o, res);
  // Reference: order, top-k, top-p, min-p in double.
  std::vector<int> idx(V);
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](int a, int b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
  double m = row[idx[0]];
  std::vector<double> w(V);
  for (int i = 0; i < V; ++i) w[i] = std::exp((row[i] - m) / 2.5);
  double tot = 0;
  for (int j = 0; j < 30; ++j) tot += w[idx[j]];
  std::vector<double> prob(V, 0.0);
  double cum = 0, z = 0;
  for (int j = 0; j < 30 && cum < 0.9 * tot; ++j) {
    cum += w[idx[j]];
    if (w[idx[j]] >= 0.01) prob[idx[j]] = w[idx[j]], z += w[idx[j]];
  }
  std::vector<double> cnt(V, 0.0);
  int64_t outside = 0;
  for (int32_t t : res.tokens) {
    cnt[t] += 1;
    if (prob[t] == 0) ++outside;
  }
  double chi2 = 0;
  int cells = 0;
  for (int i = 0; i < V; ++i)
    if (prob[i] > 0) {
      double e = prob[i] / z * N;
      chi2 += (cnt[i] - e) * (cnt[i] - e) / e;
      ++cells;
    }
  double df = cells - 1, bound = df + 6 * std::sqrt(2 * df) + 10;
  CHECK_MSG(outside == 0, outside << " draws outside the reference mask");
  CHECK_MSG(chi2 < bound, "chi2 " << chi2 << " >= bound " << bound << " (df " << df << ")");
  note("chi2 " + std::to_string(chi2) + " (df " + std::to_string(static_cast<int>(df)) + ", bound " + std::to_string(bound) + ")");
}

MTRL_TEST(test_sampling, bad_rows_raise_range_errors) {
  auto expect_range = [](const Tensor& x, const std::string& what) {
    bool ok = false;
    try {
      SampleResult r;
      sample_tokens(x, nullptr, SampleOptions{}, r);
    } catch (const Error& e) {
      ok = e.kind == ErrorKind::Range && std::string(e.what()).find(what) != std::string::npos;
      if (!ok) note(e.what());
    }
    CHECK_MSG(ok, "expected RangeError mentioning '" << what << "'");
  };
  expect_range(tensor_from({0, 1, NAN, 2}, {2, 2}), "row 1 contains NaN (at index 0)");
  expect_range(tensor_from({0, INFINITY}, {1, 2}), "row 0 contains +Infinity");
  expect_range(tensor_from({0, 1, -INFINITY, -INFINITY}, {2, 2}), "row 1 has no finite logit");
  SampleOptions o;
  o.top_p = {0.0};
  bool threw = false;
  try {
    SampleResult r;
    sample_tokens(tensor_from({0, 1}, {1, 2}), nullptr, o, r);
  } catch (const Error& e) {
    threw = e.kind == ErrorKind::Range;
  }
  CHECK(threw);
}

MTRL_TEST(test_sampling, cuda_matches_cpu) {
  require_cuda();
  Device gpu{Device::CUDA, 0};
  double worst_lp = 0, worst_ls = 0;
  int64_t rows_checked = 0;
  using Case = std::tuple<int64_t, int64_t, int>;
  const std::vector<Case> cases = kEmulatedCuda  // the emulator is slow: fewer rows, vocabularies up to 20k
                                      ? std::vector<Case>{{64, 111, 2}, {8, 4099, 1}, {4, 20000, 0}, {3, 1, 1}}
                                      : std::vector<Case>{{64, 111, 2}, {32, 4099, 1}, {16, 32000, 0}, {16, 151936, 2}, {3, 1, 1}};
  for (auto [B, V, kind] : cases) {
    std::vector<std::vector<float>> rows;
    for (int64_t b = 0; b < B; ++b) rows.push_back(random_row(V, kind));
    Tensor xc = rows_tensor(rows), xg = rows_tensor(rows, gpu);
    Tensor hc = random_history(B, 40, V), hg = to_device(hc, gpu);
    for (int trial = 0; trial < 4; ++trial) {
      SampleOptions o = random_options(B, V);
      SampleResult a, g;
      sample_tokens(xc, trial % 2 ? &hc : nullptr, o, a);
      sample_tokens(xg, trial % 2 ? &hg : nullptr, o, g);
      CHECK_MSG(a.tokens == g.tokens, "CUDA tokens differ from CPU: B=" << B << " V=" << V << " trial " << trial);
      for (int64_t b = 0; b < B; ++b) {
        worst_lp = std::max(worst_lp, (double)std::fabs(a.logprobs[b] - g.logprobs[b]));
        worst_lp = std::max(worst_lp, (double)std::fabs(a.raw_logprobs[b] - g.raw_logprobs[b]));
      }
      rows_checked += B;
    }
    // bf16 logits
    Tensor bc = empty(xc.shape, DType::BF16, Device{});
    cast(xc, bc);
    Tensor bg = to_device(bc, gpu);
    SampleOptions o = random_options(B, V);
    SampleResult a, g;
    sample_tokens(bc, nullptr, o, a);
    sample_tokens(bg, nullptr, o, g);
    CHECK_MSG(a.tokens == g.tokens, "CUDA bf16 tokens differ: V=" << V);
    Tensor lc = empty(xc.shape, DType::F32, Device{}), lg = empty(xc.shape, DType::F32, gpu);
    log_softmax(xc, lc);
    log_softmax(xg, lg);
    worst_ls = std::max(worst_ls, max_abs_diff(to_vector(lc), to_vector(lg)));
  }
  CHECK_MSG(worst_lp <= 1e-5, "logprob CPU vs CUDA max diff " << worst_lp);
  CHECK_MSG(worst_ls <= 1e-5, "logSoftmax CPU vs CUDA max diff " << worst_ls);
  note("rows " + std::to_string(rows_checked) + ", max |logprob diff| " + std::to_string(worst_lp) + ", logSoftmax " +
       std::to_string(worst_ls));
}
