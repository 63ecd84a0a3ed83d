// Native checks of the fused attention kernels: CPU forward/backward against a double-precision
// reference at every SIMD level, decode against the forward pass, argument errors, and CUDA against
// CPU (f32 and bf16, forward, backward and split-KV decode) where a device exists.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "mtrl/attention.h"
#include "mtrl/bf16.h"
#include "mtrl/cpu_features.h"
#include "mtrl/ops.h"
#include "test_util.h"

using namespace mtrl;
using namespace mtrl::test;

namespace {

struct Shape {
  int64_t B, S, Sk, H, Hkv, D;
  bool causal;
  std::vector<int32_t> kv_lens, q_lens;  // empty: full lengths
};

int64_t visible(const Shape& c, int64_t b, int64_t s) {
  int64_t ql = c.q_lens.empty() ? c.S : c.q_lens[b], kl = c.kv_lens.empty() ? c.Sk : c.kv_lens[b];
  if (s >= ql) return 0;
  return c.causal ? std::clamp<int64_t>(s + kl - ql + 1, 0, kl) : kl;
}

// Double-precision forward and backward: out, lse, dq, dk, dv, and for each gradient the largest
// sum of |terms| it adds up: the scale f32 rounding is proportional to, and a sane yardstick where
// the exact gradient is ~0 (dq and dk when a row sees a single key).
struct Ref {
  std::vector<double> out, lse, dq, dk, dv;
  double mag_dq = 0, mag_dk = 0, mag_dv = 0;
};
Ref reference(const Shape& c, const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
              const std::vector<float>& dout, double scale) {
  Ref r;
  r.out.assign(q.size(), 0.0);
  r.lse.assign(c.B * c.H * c.S, -INFINITY);
  r.dq.assign(q.size(), 0.0);
  r.dk.assign(k.size(), 0.0);
  r.dv.assign(v.size(), 0.0);
  std::vector<double> mq(q.size(), 0.0), mk(k.size(), 0.0), mv(v.size(), 0.0);
  const int64_t group = c.H / c.Hkv, D = c.D;
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t s = 0; s < c.S; ++s)
      for (int64_t h = 0; h < c.H; ++h) {
        const int64_t n = visible(c, b, s), hk = h / group, qo = ((b * c.S + s) * c.H + h) * D;
        if (n == 0) continue;
        std::vector<double> z(n), p(n), dp(n);
        double m = -INFINITY;
        for (int64_t j = 0; j < n; ++j) {
          const int64_t ko = ((b * c.Sk + j) * c.Hkv + hk) * D;
          double acc = 0;
          for (int64_t d = 0; d < D; ++d) acc += double(q[qo + d]) * k[ko + d];
          z[j] = acc * scale;
          m = std::max(m, z[j]);
        }
        double sum = 0;
        for (int64_t j = 0; j < n; ++j) sum += std::exp(z[j] - m);
        const double lse = m + std::log(sum);
        r.lse[(b * c.H + h) * c.S + s] = lse;
        double delta = 0;
        for (int64_t j = 0; j < n; ++j) {
          const int64_t vo = ((b * c.Sk + j) * c.Hkv + hk) * D;
          p[j] = std::exp(z[j] - lse);
          double acc = 0;
          for (int64_t d = 0; d < D; ++d) {
            r.out[qo + d] += p[j] * v[vo + d];
            r.dv[vo + d] += p[j] * dout[qo + d];
            mv[vo + d] += std::fabs(p[j] * dout[qo + d]);
            acc += double(dout[qo + d]) * v[vo + d];
          }
          dp[j] = acc;
          delta += p[j] * acc;
        }
        for (int64_t j = 0; j < n; ++j) {
          const int64_t ko = ((b * c.Sk + j) * c.Hkv + hk) * D;
          const double ds = p[j] * (dp[j] - delta) * scale, dsm = p[j] * (std::fabs(dp[j]) + std::fabs(delta)) * scale;
          for (int64_t d = 0; d < D; ++d) {
            r.dq[qo + d] += ds * k[ko + d];
            r.dk[ko + d] += ds * q[qo + d];
            mq[qo + d] += dsm * std::fabs(k[ko + d]);
            mk[ko + d] += dsm * std::fabs(q[qo + d]);
          }
        }
      }
  for (double x : mq) r.mag_dq = std::max(r.mag_dq, x);
  for (double x : mk) r.mag_dk = std::max(r.mag_dk, x);
  for (double x : mv) r.mag_dv = std::max(r.mag_dv, x);
  return r;
}

// max |a − b| / max(|b|, floor) over finite reference entries.
double rel_err(const std::vector<float>& a, const std::vector<double>& b, double floor_scale) {
  double scale = floor_scale, e = 0;
  for (double x : b)
    if (std::isfinite(x)) scale = std::max(scale, std::fabs(x));
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(b[i])) {
      if (a[i] != b[i]) e = INFINITY;
      continue;
    }
    double d = std::fabs(a[i] - b[i]);
    if (!(d <= e)) e = std::isnan(d) ? INFINITY : d;
  }
  return e / scale;
}

Tensor i32_tensor(const std::vector<int32_t>& v, Device dev = Device{}) {
  Tensor t = empty({static_cast<int64_t>(v.size())}, DType::I32, Device{});
  if (!v.empty()) std::memcpy(t.raw(), v.data(), v.size() * 4);
  return dev.is_cpu() ? t : to_device(t, dev);
}

AttentionOptions options(const Shape& c, Device dev = Device{}) {
  AttentionOptions o;
  o.causal = c.causal;
  if (!c.kv_lens.empty()) o.kv_lengths = i32_tensor(c.kv_lens, dev);
  if (!c.q_lens.empty()) o.q_lengths = i32_tensor(c.q_lens, dev);
  return o;
}

const Shape kShapes[] = {
    {2, 33, 70, 4, 2, 80, true, {70, 41}, {33, 20}},
    {1, 129, 129, 8, 1, 64, false, {}, {}},
    {3, 7, 1, 4, 4, 16, true, {}, {}},
    {1, 65, 200, 2, 1, 128, true, {}, {}},
};

}  // namespace

MTRL_TEST(test_attention, cpu_forward_backward_vs_double_every_simd_level) {
  SimdLevel best = simd_level();
  for (SimdLevel lvl : {SimdLevel::Scalar, SimdLevel::AVX2, SimdLevel::AVX512}) {
    set_simd_level(lvl);
    for (const Shape& c : kShapes) {
      auto q = random_floats(c.B * c.S * c.H * c.D), k = random_floats(c.B * c.Sk * c.Hkv * c.D), v = random_floats(c.B * c.Sk * c.Hkv * c.D),
           dout = random_floats(c.B * c.S * c.H * c.D);
      Tensor tq = tensor_from(q, {c.B, c.S, c.H, c.D}), tk = tensor_from(k, {c.B, c.Sk, c.Hkv, c.D}), tv = tensor_from(v, {c.B, c.Sk, c.Hkv, c.D});
      AttentionOptions o = options(c);
      auto fw = attention_forward(tq, tk, tv, o);
      auto bw = attention_backward(tensor_from(dout, {c.B, c.S, c.H, c.D}), tq, tk, tv, fw.out, fw.lse, o);
      Ref r = reference(c, q, k, v, dout, 1.0 / std::sqrt(double(c.D)));
      double eo = rel_err(to_vector(fw.out), r.out, 1e-6), el = rel_err(to_vector(fw.lse), r.lse, 1.0);
      double eq = rel_err(to_vector(bw.dq), r.dq, std::max(1e-6, r.mag_dq)), ek = rel_err(to_vector(bw.dk), r.dk, std::max(1e-6, r.mag_dk)),
             ev = rel_err(to_vector(bw.dv), r.dv, std::max(1e-6, r.mag_dv));
      std::string what = std::string(simd_level_name(simd_level())) + " B=" + std::to_string(c.B) + " S=" + std::to_string(c.S) + " Sk=" +
                         std::to_string(c.Sk) + " D=" + std::to_string(c.D);
      CHECK_MSG(eo <= 1e-5 && el <= 1e-5, what << ": out rel err " << eo << ", lse " << el);
      CHECK_MSG(eq <= 2e-5 && ek <= 2e-5 && ev <= 2e-5, what << ": dq " << eq << ", dk " << ek << ", dv " << ev);
      note(what + ": out " + std::to_string(eo) + " dq " + std::to_string(eq) + " dk " + std::to_string(ek) + " dv " + std::to_string(ev));
    }
  }
  set_simd_level(best);
}

MTRL_TEST(test_attention, cpu_unfused_matches_fused) {
  const Shape& c = kShapes[0];
  auto q = random_floats(c.B * c.S * c.H * c.D), k = random_floats(c.B * c.Sk * c.Hkv * c.D), v = random_floats(c.B * c.Sk * c.Hkv * c.D);
  Tensor tq = tensor_from(q, {c.B, c.S, c.H, c.D}), tk = tensor_from(k, {c.B, c.Sk, c.Hkv, c.D}), tv = tensor_from(v, {c.B, c.Sk, c.Hkv, c.D});
  AttentionOptions o = options(c);
  auto a = attention_forward(tq, tk, tv, o), n = attention_naive_forward(tq, tk, tv, o);
  double d = max_abs_diff(to_vector(a.out), to_vector(n.out));
  CHECK_MSG(d <= 1e-5, "fused vs unfused out max diff " << d);
  auto ga = attention_backward(a.out, tq, tk, tv, a.out, a.lse, o), gn = attention_naive_backward(a.out, tq, tk, tv, a.out, a.lse, o);
  double dq = max_abs_diff(to_vector(ga.dq), to_vector(gn.dq)), dk = max_abs_diff(to_vector(ga.dk), to_vector(gn.dk));
  CHECK_MSG(dq <= 1e-5 && dk <= 1e-5, "fused vs unfused dq " << dq << " dk " << dk);
  note("out " + std::to_string(d) + " dq " + std::to_string(dq) + " dk " + std::to_string(dk));
}

MTRL_TEST(test_attention, cpu_decode_equals_forward) {
  const int64_t B = 2, T = 41, P = 30, H = 4, Hkv = 2, D = 64, Smax = 48;
  auto q = random_floats(B * T * H * D), k = random_floats(B * T * Hkv * D), v = random_floats(B * T * Hkv * D);
  auto slice = [&](const std::vector<float>& a, int64_t heads, int64_t s0, int64_t n) {
    std::vector<float> o(B * n * heads * D);
    for (int64_t b = 0; b < B; ++b)
      std::copy(a.begin() + (b * T + s0) * heads * D, a.begin() + (b * T + s0 + n) * heads * D, o.begin() + b * n * heads * D);
    return tensor_from(o, {B, n, heads, D});
  };
  Tensor kc = empty({B, Smax, Hkv, D}, DType::F32, Device{}), vc = empty({B, Smax, Hkv, D}, DType::F32, Device{});
  fill(kc, NAN);
  fill(vc, NAN);
  Tensor lens = i32_tensor({0, 0});
  AttentionOptions o;
  o.causal = true;
  auto full = attention_forward(tensor_from(q, {B, T, H, D}), tensor_from(k, {B, T, Hkv, D}), tensor_from(v, {B, T, Hkv, D}), o);
  auto fo = to_vector(full.out);
  double worst = 0;
  int64_t s0 = 0;
  for (int64_t n : {P, int64_t{1}, int64_t{1}, int64_t{4}, int64_t{1}, int64_t{4}}) {
    Tensor out = attention_decode(slice(q, H, s0, n), kc, vc, lens, slice(k, Hkv, s0, n), slice(v, Hkv, s0, n), std::nullopt);
    auto ov = to_vector(out);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < n * H * D; ++i) worst = std::max(worst, double(std::fabs(ov[b * n * H * D + i] - fo[(b * T + s0) * H * D + i])));
    s0 += n;
    CHECK(lens.ptr<int32_t>()[0] == s0 && lens.ptr<int32_t>()[1] == s0);
  }
  CHECK_MSG(worst <= 1e-6, "decode vs forward max diff " << worst);
  note("decode vs forward max diff " + std::to_string(worst));
  CHECK_THROWS(attention_decode(slice(q, H, 0, 8), kc, vc, lens, slice(k, Hkv, 0, 8), slice(v, Hkv, 0, 8), std::nullopt));
  CHECK(lens.ptr<int32_t>()[0] == s0);  // the failed call changed nothing
}

MTRL_TEST(test_attention, argument_errors) {
  Tensor q = empty({2, 5, 4, 64}, DType::F32, Device{}), k = empty({2, 7, 3, 32}, DType::F32, Device{});
  bool threw = false;
  try {
    attention_forward(q, k, k, AttentionOptions{});
  } catch (const Error& e) {
    threw = true;
    CHECK(e.kind == ErrorKind::Range);
    CHECK_MSG(std::string(e.what()) == "attentionForward: k must have shape (B=2, Sk, Hkv, D=64), got (2, 7, 3, 32)", e.what());
  }
  CHECK(threw);
  Tensor k2 = empty({2, 7, 2, 64}, DType::F32, Device{});
  AttentionOptions o;
  o.kv_lengths = i32_tensor({7, 8});
  CHECK_THROWS(attention_forward(q, k2, k2, o));
  Tensor lse_bad = empty({2, 5, 4}, DType::F32, Device{});
  auto fw = attention_forward(q, k2, k2, AttentionOptions{});
  CHECK_THROWS(attention_backward(fw.out, q, k2, k2, fw.out, lse_bad, AttentionOptions{}));
}

namespace {
// Runs forward + backward on CPU (f32 copies of the same, possibly bf16-rounded, values) and CUDA.
void cuda_vs_cpu(const Shape& c, DType dt) {
  Device gpu{Device::CUDA, 0};
  auto round = [&](std::vector<float> x) {
    if (dt == DType::BF16)
      for (auto& f : x) f = bf16_to_f32(f32_to_bf16(f));
    return x;
  };
  auto q = round(random_floats(c.B * c.S * c.H * c.D)), k = round(random_floats(c.B * c.Sk * c.Hkv * c.D)),
       v = round(random_floats(c.B * c.Sk * c.Hkv * c.D)), dout = round(random_floats(c.B * c.S * c.H * c.D));
  auto dev_t = [&](const std::vector<float>& x, std::vector<int64_t> shape) {
    Tensor t = tensor_from(x, shape, gpu);
    if (dt == DType::F32) return t;
    Tensor b = empty(shape, DType::BF16, gpu);
    cast(t, b);
    return b;
  };
  std::vector<int64_t> qs{c.B, c.S, c.H, c.D}, ks{c.B, c.Sk, c.Hkv, c.D};
  Tensor cq = tensor_from(q, qs), ck = tensor_from(k, ks), cv = tensor_from(v, ks);
  auto cf = attention_forward(cq, ck, cv, options(c));
  auto cb = attention_backward(tensor_from(dout, qs), cq, ck, cv, cf.out, cf.lse, options(c));
  Tensor gq = dev_t(q, qs), gk = dev_t(k, ks), gv = dev_t(v, ks);
  auto gf = attention_forward(gq, gk, gv, options(c, gpu));
  auto gb = attention_backward(dev_t(dout, qs), gq, gk, gv, gf.out, gf.lse, options(c, gpu));
  auto as_double = [](const std::vector<float>& x) { return std::vector<double>(x.begin(), x.end()); };
  const double tol = dt == DType::F32 ? 2e-5 : 1.6e-2;
  // Gradients are measured against the sum of |terms| they add up (as in the CPU-vs-double test):
  // where a row sees one key, dq and dk are exactly 0 and both sides hold only rounding noise.
  Ref r = reference(c, q, k, v, dout, 1.0 / std::sqrt(double(c.D)));
  double eo = rel_err(to_vector(gf.out), as_double(to_vector(cf.out)), 1e-6);
  double eq = rel_err(to_vector(gb.dq), as_double(to_vector(cb.dq)), std::max(1e-3, r.mag_dq)),
         ek = rel_err(to_vector(gb.dk), as_double(to_vector(cb.dk)), std::max(1e-3, r.mag_dk)),
         ev = rel_err(to_vector(gb.dv), as_double(to_vector(cb.dv)), std::max(1e-3, r.mag_dv));
  double el = rel_err(to_vector(gf.lse), as_double(to_vector(cf.lse)), 1.0);
  std::string what = std::string(dtype_name(dt)) + " S=" + std::to_string(c.S) + " Sk=" + std::to_string(c.Sk) + " D=" + std::to_string(c.D);
  CHECK_MSG(eo <= tol && eq <= tol && ek <= tol && ev <= tol && el <= (dt == DType::F32 ? 1e-5 : 1e-3),
            what << ": out " << eo << " lse " << el << " dq " << eq << " dk " << ek << " dv " << ev);
  note(what + ": out " + std::to_string(eo) + " dq " + std::to_string(eq) + " dk " + std::to_string(ek) + " dv " + std::to_string(ev));
}
}  // namespace

MTRL_TEST(test_attention, cuda_forward_backward_match_cpu) {
  require_cuda();
  for (DType dt : {DType::F32, DType::BF16}) {
    for (const Shape& c : kShapes) cuda_vs_cpu(c, dt);
    cuda_vs_cpu(Shape{1, 40, 70, 2, 1, 256, false, {50}, {}}, dt);  // D = 256 (16-key tiles), kv length 50 < Sk
  }
}

MTRL_TEST(test_attention, cuda_decode_matches_cpu) {
  require_cuda();
  Device gpu{Device::CUDA, 0};
  // Emulated: a shorter cache, still long enough for several KV splits.
  const int64_t B = 3, H = 8, Hkv = 2, D = 128, Smax = kEmulatedCuda ? 700 : 3000;
  std::vector<int32_t> init{kEmulatedCuda ? 600 : 2500, 17, 0};
  auto kc = random_floats(B * Smax * Hkv * D), vc = random_floats(B * Smax * Hkv * D);
  Tensor ckc = tensor_from(kc, {B, Smax, Hkv, D}), cvc = tensor_from(vc, {B, Smax, Hkv, D});
  Tensor gkc = tensor_from(kc, {B, Smax, Hkv, D}, gpu), gvc = tensor_from(vc, {B, Smax, Hkv, D}, gpu);
  Tensor cl = i32_tensor(init), gl = i32_tensor(init, gpu);
  double worst = 0;
  for (int64_t n : {1, 1, 3, 12}) {  // 12 > the split-KV limit: the forward-kernel path
    auto q = random_floats(B * n * H * D), kn = random_floats(B * n * Hkv * D), vn = random_floats(B * n * Hkv * D);
    Tensor oc = attention_decode(tensor_from(q, {B, n, H, D}), ckc, cvc, cl, tensor_from(kn, {B, n, Hkv, D}), tensor_from(vn, {B, n, Hkv, D}), std::nullopt);
    Tensor og = attention_decode(tensor_from(q, {B, n, H, D}, gpu), gkc, gvc, gl, tensor_from(kn, {B, n, Hkv, D}, gpu),
                                 tensor_from(vn, {B, n, Hkv, D}, gpu), std::nullopt);
    worst = std::max(worst, max_abs_diff(to_vector(og), to_vector(oc)));
    Tensor glh = to_device(gl, Device{});
    for (int64_t b = 0; b < B; ++b) CHECK(glh.ptr<int32_t>()[b] == cl.ptr<int32_t>()[b]);
  }
  CHECK_MSG(worst <= 2e-5, "cuda decode vs cpu max diff " << worst);
  note("cuda decode vs cpu max diff " + std::to_string(worst));
}
