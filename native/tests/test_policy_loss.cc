// Native checks of the policy loss: the CPU logits path against a double-precision reference of the
// definitions (off-policy GRPO with clipping, KL k3 and entropy bonus), every SIMD level against the
// best one, fused-linear against the logits path, and CUDA against CPU where a device exists.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "mtrl/cpu_features.h"
#include "mtrl/policy_loss.h"
#include "test_util.h"

using namespace mtrl;
using namespace mtrl::test;

namespace {

struct Inputs {
  int64_t N, T, V, d;
  std::vector<float> logits, hidden, weight, adv, old, ref;
  std::vector<int32_t> tokens;
  std::vector<uint8_t> mask;
};

Inputs make_inputs(int64_t N, int64_t T, int64_t V, int64_t d) {
  Inputs in{N, T, V, d, {}, {}, {}, {}, {}, {}, {}, {}};
  in.hidden = random_floats(static_cast<size_t>(N * T * d), -1.0f, 1.0f);
  in.weight = random_floats(static_cast<size_t>(V * d), -0.5f, 0.5f);
  in.logits.assign(static_cast<size_t>(N * T * V), 0.0f);
  for (int64_t r = 0; r < N * T; ++r)
    for (int64_t v = 0; v < V; ++v) {
      double s = 0;
      for (int64_t k = 0; k < d; ++k) s += double(in.hidden[r * d + k]) * in.weight[v * d + k];
      in.logits[r * V + v] = static_cast<float>(s);
    }
  auto u = random_floats(static_cast<size_t>(N * T), 0.0f, 1.0f);
  for (int64_t f = 0; f < N * T; ++f) {
    in.tokens.push_back(static_cast<int32_t>(u[f] * (V - 1)));
    in.mask.push_back(f % T == 0 || u[f] < 0.8f ? 1 : 0);
  }
  in.adv = random_floats(static_cast<size_t>(N), -1.5f, 1.5f);
  auto no = random_floats(static_cast<size_t>(N * T), -0.4f, 0.4f), nr = random_floats(static_cast<size_t>(N * T), -0.5f, 0.5f);
  for (int64_t f = 0; f < N * T; ++f) {
    // old/ref near the current lp so ratios straddle the clip range
    const float* z = &in.logits[f * V];
    double m = *std::max_element(z, z + V), s = 0;
    for (int64_t v = 0; v < V; ++v) s += std::exp(z[v] - m);
    double lp = z[in.tokens[f]] - m - std::log(s);
    in.old.push_back(static_cast<float>(lp + no[f]));
    in.ref.push_back(static_cast<float>(lp + nr[f]));
  }
  return in;
}

Tensor i32_from(const std::vector<int32_t>& v, const std::vector<int64_t>& shape, Device dev = Device{}) {
  Tensor t = empty(shape, DType::I32, Device{});
  std::memcpy(t.raw(), v.data(), v.size() * 4);
  return dev.is_cpu() ? t : to_device(t, dev);
}
Tensor u8_from(const std::vector<uint8_t>& v, const std::vector<int64_t>& shape, Device dev = Device{}) {
  Tensor t = empty(shape, DType::U8, Device{});
  std::memcpy(t.raw(), v.data(), v.size());
  return dev.is_cpu() ? t : to_device(t, dev);
}

PolicyLossBatch batch_of(const Inputs& in, Device dev = Device{}) {
  PolicyLossBatch b;
  b.tokens = i32_from(in.tokens, {in.N, in.T}, dev);
  b.mask = u8_from(in.mask, {in.N, in.T}, dev);
  b.advantages = tensor_from(in.adv, {in.N}, dev);
  b.old_logprobs = tensor_from(in.old, {in.N, in.T}, dev);
  b.ref_logprobs = tensor_from(in.ref, {in.N, in.T}, dev);
  return b;
}

PolicyLossParams params() {
  PolicyLossParams p;
  p.loss_type = PgLossType::Grpo;
  p.epsilon = 0.2, p.epsilon_high = 0.28, p.beta = 0.04, p.kl = KlEstimator::K3;
  p.temperature = 0.9, p.entropy_coef = 0.01;
  return p;
}

// Double-precision reference of the loss and dL/dlogits (token-level GRPO as in the header).
double reference(const Inputs& in, const PolicyLossParams& p, std::vector<double>* grad) {
  const int64_t N = in.N, T = in.T, V = in.V;
  grad->assign(static_cast<size_t>(N * T * V), 0.0);
  std::vector<int64_t> ni(static_cast<size_t>(N), 0);
  for (int64_t f = 0; f < N * T; ++f) ni[f / T] += in.mask[f];
  double loss = 0;
  for (int64_t f = 0; f < N * T; ++f) {
    if (!in.mask[f]) continue;
    const float* z = &in.logits[f * V];
    double m = -INFINITY;
    for (int64_t v = 0; v < V; ++v) m = std::max(m, z[v] / p.temperature);
    double s = 0;
    for (int64_t v = 0; v < V; ++v) s += std::exp(z[v] / p.temperature - m);
    double lse = m + std::log(s), H = 0;
    for (int64_t v = 0; v < V; ++v) {
      double l = z[v] / p.temperature - lse;
      H -= std::exp(l) * l;
    }
    double lp = z[in.tokens[f]] / p.temperature - lse;
    double w = 1.0 / (N * std::max<int64_t>(ni[f / T], 1)), A = in.adv[f / T];
    double r = std::exp(lp - in.old[f]);
    double c2 = std::min(std::max(r, 1 - p.epsilon), 1 + p.epsilon_high);
    double t1 = r * A, t2 = c2 * A, dval;
    double val = -std::min(t1, t2);
    bool in_range = r >= 1 - p.epsilon && r <= 1 + p.epsilon_high;
    dval = t1 < t2 ? -A : t1 > t2 ? (in_range ? -A : 0.0) : -A;
    double dd = in.ref[f] - lp, kl = std::exp(dd) - dd - 1, dkl = 1 - std::exp(dd);
    loss += w * (val + p.beta * kl - p.entropy_coef * H);
    double glp = w * (dval * r + p.beta * dkl), gH = -p.entropy_coef * w;
    for (int64_t v = 0; v < V; ++v) {
      double l = z[v] / p.temperature - lse, pv = std::exp(l);
      (*grad)[f * V + v] = (glp * ((v == in.tokens[f]) - pv) + gH * -pv * (l + H)) / p.temperature;
    }
  }
  return loss;
}

std::string sci(double x) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2e", x);
  return b;
}

double max_err(const std::vector<float>& a, const std::vector<double>& b, double atol, double rtol, double* worst) {
  double e = 0;
  *worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double d = std::fabs(a[i] - b[i]);
    e = std::max(e, d);
    *worst = std::max(*worst, d / (atol + rtol * std::fabs(b[i])));
  }
  return e;
}

}  // namespace

MTRL_TEST(test_policy_loss, logits_path_vs_double_all_simd_levels) {
  Inputs in = make_inputs(3, 7, 1003, 16);
  PolicyLossParams p = params();
  std::vector<double> g;
  double want = reference(in, p, &g);
  Tensor logits = tensor_from(in.logits, {in.N, in.T, in.V});
  for (SimdLevel lvl : {SimdLevel::Scalar, SimdLevel::AVX2, SimdLevel::AVX512}) {
    set_simd_level(lvl);
    PolicyLossResult r = policy_loss_logits(logits, batch_of(in), p);
    double worst;
    double e = max_err(to_vector(r.grad_logits), g, 1e-8, 1e-4, &worst);
    CHECK_MSG(std::fabs(r.loss - want) <= 1e-6 + 1e-5 * std::fabs(want), "loss " << r.loss << " vs " << want);
    CHECK_MSG(worst <= 1.0, "grad max abs error " << e << " at level " << simd_level_name(simd_level()));
    note(std::string(simd_level_name(simd_level())) + ": |Δloss| " + sci(std::fabs(r.loss - want)) + ", max |Δgrad| " +
         sci(e));
  }
  set_simd_level(SimdLevel::AVX512);
}

MTRL_TEST(test_policy_loss, fused_linear_vs_logits_path) {
  Inputs in = make_inputs(2, 9, 517, 24);
  PolicyLossParams p = params();
  Tensor logits = tensor_from(in.logits, {in.N, in.T, in.V});
  PolicyLossResult a = policy_loss_logits(logits, batch_of(in), p);
  // dL/dhidden and dL/dweight from the logits gradient, in double.
  auto gz = to_vector(a.grad_logits);
  std::vector<double> gh(in.hidden.size(), 0.0), gw(in.weight.size(), 0.0);
  for (int64_t r = 0; r < in.N * in.T; ++r)
    for (int64_t v = 0; v < in.V; ++v)
      for (int64_t k = 0; k < in.d; ++k) {
        gh[r * in.d + k] += double(gz[r * in.V + v]) * in.weight[v * in.d + k];
        gw[v * in.d + k] += double(gz[r * in.V + v]) * in.hidden[r * in.d + k];
      }
  for (auto [chunk, vchunk] : {std::pair<int64_t, int64_t>{0, 0}, {5, 0}, {4, 100}, {16, 517}}) {
    PolicyLossParams q = p;
    q.chunk_size = chunk, q.vocab_chunk_size = vchunk;
    PolicyLossResult b = policy_loss_linear(tensor_from(in.hidden, {in.N, in.T, in.d}), tensor_from(in.weight, {in.V, in.d}), batch_of(in), q);
    CHECK_MSG(std::fabs(b.loss - a.loss) <= 1e-6 + 1e-5 * std::fabs(a.loss), "loss " << b.loss << " vs " << a.loss);
    double wh, ww;
    double eh = max_err(to_vector(b.grad_hidden), gh, 1e-6, 1e-3, &wh), ew = max_err(to_vector(b.grad_weight), gw, 1e-6, 1e-3, &ww);
    CHECK_MSG(wh <= 1.0, "grad_hidden max abs error " << eh << " (chunk " << chunk << ", vchunk " << vchunk << ")");
    CHECK_MSG(ww <= 1.0, "grad_weight max abs error " << ew << " (chunk " << chunk << ", vchunk " << vchunk << ")");
    note("chunk " + std::to_string(chunk) + " vchunk " + std::to_string(vchunk) + ": max |Δ grad_hidden| " + sci(eh) +
         ", max |Δ grad_weight| " + sci(ew));
  }
}

MTRL_TEST(test_policy_loss, cuda_vs_cpu) {
  require_cuda();
  Device dev{Device::CUDA, 0};
  Inputs in = make_inputs(3, 11, 1000, 64);
  PolicyLossParams p = params();
  p.chunk_size = 7;
  PolicyLossResult c = policy_loss_linear(tensor_from(in.hidden, {in.N, in.T, in.d}), tensor_from(in.weight, {in.V, in.d}), batch_of(in), p);
  for (int64_t vchunk : {0, 300}) {
    p.vocab_chunk_size = vchunk;
    PolicyLossResult g = policy_loss_linear(tensor_from(in.hidden, {in.N, in.T, in.d}, dev), tensor_from(in.weight, {in.V, in.d}, dev),
                                            batch_of(in, dev), p);
    CHECK_MSG(std::fabs(g.loss - c.loss) <= 1e-5 + 1e-5 * std::fabs(c.loss), "loss " << g.loss << " vs " << c.loss);
    auto gh = to_vector(g.grad_hidden), ch = to_vector(c.grad_hidden), gw = to_vector(g.grad_weight), cw = to_vector(c.grad_weight);
    std::vector<double> chd(ch.begin(), ch.end()), cwd(cw.begin(), cw.end());
    double wh, ww;
    double eh = max_err(gh, chd, 1e-6, 1e-3, &wh), ew = max_err(gw, cwd, 1e-6, 1e-3, &ww);
    CHECK_MSG(wh <= 1.0, "CUDA grad_hidden max abs error " << eh);
    CHECK_MSG(ww <= 1.0, "CUDA grad_weight max abs error " << ew);
    note("vchunk " + std::to_string(vchunk) + ": max |Δ grad_hidden| " + sci(eh) + ", max |Δ grad_weight| " + sci(ew));
  }
  Tensor logits = tensor_from(in.logits, {in.N, in.T, in.V});
  PolicyLossResult cl = policy_loss_logits(logits, batch_of(in), p);
  PolicyLossResult gl = policy_loss_logits(to_device(logits, dev), batch_of(in, dev), p);
  auto a = to_vector(gl.grad_logits), b = to_vector(cl.grad_logits);
  std::vector<double> bd(b.begin(), b.end());
  double w;
  double e = max_err(a, bd, 1e-7, 1e-4, &w);
  CHECK_MSG(w <= 1.0, "CUDA grad_logits max abs error " << e);
  CHECK_MSG(std::fabs(gl.loss - cl.loss) <= 1e-5 + 1e-5 * std::fabs(cl.loss), "logits loss " << gl.loss << " vs " << cl.loss);
}
