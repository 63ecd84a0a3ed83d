// Native checks of the model ops: CPU spot checks against double references (the full float64 and
// finite-difference suite lives in test/model-ops.test.ts) and, on a GPU machine, every CUDA op
// against the CPU op on the same inputs, f32 and bf16.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iterator>

#include "mtrl/bf16.h"
#include "mtrl/model_ops.h"
#include "mtrl/ops.h"
#include "test_util.h"

using namespace mtrl;
using namespace mtrl::test;

namespace {

std::string sci(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3e", v);
  return b;
}

Tensor as_dtype(const Tensor& t, DType dt) {
  if (t.dtype == dt) return t;
  Tensor o = empty(t.shape, dt, t.device());
  cast(t, o);
  return o;
}
Tensor on(const Tensor& t, Device d) { return d.is_cpu() && t.device().is_cpu() ? t : to_device(t, d); }
Tensor ids_tensor(const std::vector<int32_t>& v, const std::vector<int64_t>& shape, Device dev) {
  Tensor h = empty(shape, DType::I32, Device{});
  std::memcpy(h.raw(), v.data(), v.size() * 4);
  return dev.is_cpu() ? h : to_device(h, dev);
}
std::vector<int32_t> random_ids(size_t n, int32_t hi) {
  std::vector<int32_t> v(n);
  for (auto& x : v) x = static_cast<int32_t>(rng()() % static_cast<uint64_t>(hi));
  return v;
}

}  // namespace

MTRL_TEST(test_model_ops, rmsnorm_cpu_vs_double) {
  const int64_t rows = 37, d = 96;
  auto x = random_floats(rows * d, -2, 2), w = random_floats(d);
  Tensor y = empty({rows, d}, DType::F32, Device{}), r = empty({rows}, DType::F32, Device{});
  rmsnorm_forward(tensor_from(x, {rows, d}), tensor_from(w, {d}), 1e-6, y, r);
  auto yv = to_vector(y);
  double err = 0;
  for (int64_t i = 0; i < rows; ++i) {
    double ss = 0;
    for (int64_t j = 0; j < d; ++j) ss += double(x[i * d + j]) * x[i * d + j];
    double rs = 1.0 / std::sqrt(ss / d + 1e-6);
    for (int64_t j = 0; j < d; ++j) err = std::max(err, std::fabs(yv[i * d + j] - x[i * d + j] * rs * w[j]));
  }
  CHECK(err < 1e-5);
  note("max abs error " + sci(err));
}

MTRL_TEST(test_model_ops, embedding_backward_deterministic) {
  const int64_t V = 40, D = 24, n = 2000;
  auto ids = random_ids(n, V);
  auto g = random_floats(n * D);
  Tensor a = empty({V, D}, DType::F32, Device{}), b = empty({V, D}, DType::F32, Device{});
  embedding_backward(tensor_from(g, {n, D}), ids_tensor(ids, {n}, Device{}), a, false);
  embedding_backward(tensor_from(g, {n, D}), ids_tensor(ids, {n}, Device{}), b, false);
  CHECK(max_abs_diff(to_vector(a), to_vector(b)) == 0.0);
  // in-order f32 sum, bit for bit
  std::vector<float> want(V * D, 0.0f);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t j = 0; j < D; ++j) want[ids[t] * D + j] += g[t * D + j];
  CHECK(max_abs_diff(to_vector(a), want) == 0.0);
  CHECK_THROWS(embedding_forward(ids_tensor({0, 41}, {2}, Device{}), a, b));
}

MTRL_TEST(test_model_ops, cuda_matches_cpu) {
  require_cuda();
  const Device cpu{}, gpu{Device::CUDA, 0};
  double worst[2] = {0, 0};
  for (DType dt : {DType::F32, DType::BF16}) {
    const double tol = dt == DType::F32 ? 1e-5 : 2e-2;
    const int k = dt == DType::F32 ? 0 : 1;
    auto cmp = [&](const Tensor& c, const Tensor& g, double t, const char* what) {
      auto vc = to_vector(c), vg = to_vector(g);
      double rel = 0;
      for (size_t i = 0; i < vc.size(); ++i) rel = std::max(rel, std::fabs(vc[i] - vg[i]) / (1.0 + std::fabs(vc[i])));
      if (vc.size() != vg.size()) rel = INFINITY;
      worst[k] = std::max(worst[k], rel);
      CHECK_MSG(rel <= t, what << " (" << dtype_name(dt) << "): cuda vs cpu rel diff " << rel);
    };
    const int64_t rows = 133, d = 80;
    Tensor x = as_dtype(tensor_from(random_floats(rows * d, -2, 2), {rows, d}), dt);
    Tensor w = as_dtype(tensor_from(random_floats(d), {d}), dt);
    Tensor bb = as_dtype(tensor_from(random_floats(d), {d}), dt);
    Tensor dy = as_dtype(tensor_from(random_floats(rows * d), {rows, d}), dt);
    Tensor qin = as_dtype(tensor_from(random_floats(7 * 5 * 4 * 16), {7, 5, 4, 16}), dt);
    Tensor gout = as_dtype(tensor_from(random_floats(300 * d), {300, d}), dt);
    Tensor table_in = as_dtype(tensor_from(random_floats(50 * d), {50, d}), dt);
    Tensor pix = tensor_from(random_floats(3 * 8 * 12 * 3, 0, 255), {3, 8, 12, 3});
    Tensor dpatch[2] = {tensor_from(random_floats(3 * 6 * 48), {3, 6, 48}), tensor_from(random_floats(3 * 6 * 192), {3, 6, 192})};
    auto run = [&](Device dev, std::vector<Tensor>& res) {
      Tensor X = on(x, dev), W = on(w, dev), Bv = on(bb, dev), DY = on(dy, dev);
      Tensor y = empty(x.shape, dt, dev), r = empty({rows}, DType::F32, dev), mu = empty({rows}, DType::F32, dev);
      rmsnorm_forward(X, W, 1e-5, y, r);
      Tensor dx = empty(x.shape, dt, dev), dw = empty({d}, dt, dev);
      rmsnorm_backward(DY, X, W, r, dx, dw, false);
      res.insert(res.end(), {y, dx, dw});
      Tensor ly = empty(x.shape, dt, dev), lr = empty({rows}, DType::F32, dev);
      layernorm_forward(X, W, Bv, 1e-5, ly, mu, lr);
      Tensor ldx = empty(x.shape, dt, dev), ldw = empty({d}, dt, dev), ldb = empty({d}, dt, dev);
      layernorm_backward(DY, X, W, mu, lr, ldx, ldw, ldb, false);
      res.insert(res.end(), {ly, ldx, ldw, ldb});
      Tensor q = empty(qin.shape, dt, dev), pos = ids_tensor({3, 9, 100, 2, 5, 7, 4000}, {7}, dev);
      RopeParams rp;
      rope(on(qin, dev), pos, rp, q);
      res.push_back(q);
      Tensor s = empty(x.shape, dt, dev), dg = empty(x.shape, dt, dev), du = empty(x.shape, dt, dev);
      swiglu_forward(X, DY, s);
      swiglu_backward(DY, X, DY, dg, du);
      res.insert(res.end(), {s, dg, du});
      Tensor ge = empty(x.shape, dt, dev), gd = empty(x.shape, dt, dev);
      gelu_forward(X, ge);
      gelu_backward(DY, X, gd);
      res.insert(res.end(), {ge, gd});
      Tensor sr = empty({d}, dt, dev);
      sum_rows(X, sr, false);
      res.push_back(sr);
      auto ids = ids_tensor([] {
        std::vector<int32_t> v(300);
        for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int32_t>((i * 7919) % 50);
        return v;
      }(), {300}, dev);
      Tensor table = on(table_in, dev);
      Tensor emb = empty({300, d}, dt, dev), dtab = empty({50, d}, dt, dev);
      embedding_forward(ids, table, emb);
      embedding_backward(on(gout, dev), ids, dtab, false);
      res.insert(res.end(), {emb, dtab});
      // Patch embedding, plain and with overlapping 8×8 windows over 4×4 cells (and their gradients).
      Tensor image = on(pix, dev);
      for (int64_t K : {0, 8}) {
        PatchParams pp;
        pp.patch = 4;
        pp.window = K;
        pp.scale = 0.5;
        pp.shift = -0.25;
        const int64_t kk = pp.k();
        Tensor pe = empty({3, 6, kk * kk * 3}, dt, dev), dimg = empty({3, 8, 12, 3}, DType::F32, dev);
        patch_embed(image, pp, pe);
        patch_embed_backward(on(dpatch[K == 0 ? 0 : 1], dev), pp, dimg);
        res.insert(res.end(), {pe, dimg});
      }
    };
    std::vector<Tensor> rc, rg;
    run(cpu, rc);
    run(gpu, rg);
    const char* names[] = {"rmsnorm y", "rmsnorm dx", "rmsnorm dw", "layernorm y", "layernorm dx", "layernorm dw", "layernorm db",
                           "rope", "swiglu", "swiglu dgate", "swiglu dup", "gelu", "gelu dx", "sumRows", "embedding", "embedding dtable",
                           "patchEmbed", "patchEmbed backward", "patchEmbed window 8", "patchEmbed window 8 backward"};
    CHECK_MSG(rc.size() == std::size(names) && rg.size() == rc.size(), "one name per compared result: " << rc.size() << " results, " << std::size(names) << " names");
    for (size_t i = 0; i < rc.size() && i < std::size(names); ++i) cmp(rc[i], rg[i], tol, names[i]);
  }
  // AdamW and squared norms (f32)
  const int64_t n = 5000;
  auto p = random_floats(n), g = random_floats(n);
  Tensor pc = tensor_from(p, {n}), pg = tensor_from(p, {n}, gpu);
  Tensor mc = empty({n}, DType::F32, cpu), vc = empty({n}, DType::F32, cpu), mg = empty({n}, DType::F32, gpu), vg = empty({n}, DType::F32, gpu);
  fill(mc, 0), fill(vc, 0), fill(mg, 0), fill(vg, 0);
  AdamWParams ap;
  ap.lr = 0.01;
  for (int s = 1; s <= 3; ++s) {
    ap.step = s;
    adamw_step(pc, tensor_from(g, {n}), mc, vc, ap);
    adamw_step(pg, tensor_from(g, {n}, gpu), mg, vg, ap);
  }
  double d = max_abs_diff(to_vector(pc), to_vector(pg));
  CHECK_MSG(d < 1e-6, "adamw cuda vs cpu " << d);
  double sc = sum_squares(pc), sg = sum_squares(pg);
  CHECK_MSG(std::fabs(sc - sg) <= 1e-9 * sc, "sum_squares " << sc << " vs " << sg);
  note("cuda vs cpu max rel diff: f32 " + sci(worst[0]) + ", bf16 " + sci(worst[1]) + "; adamw " + sci(d));
}
