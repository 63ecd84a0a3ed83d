// Native GEMM benchmarks (CPU and, where a device exists, CUDA): GFLOP/s of the fast matmul over
// square sizes and the judge model's own shapes, against the reference (naive) matmul in the same
// run. Used by the GPU check script, so it needs no Node.
#include <cstdio>
#include <string>
#include <vector>

#include "bench_util.h"
#include "mtrl/gemm.h"
#include "mtrl/model_ops.h"
#include "mtrl/ops.h"
#include "mtrl/runtime.h"

using namespace mtrl;

namespace {

struct Shape {
  int64_t m, n, k;
  bool tb;
  const char* label;
};

std::vector<Shape> shapes() {
  std::vector<Shape> s;
  for (int64_t v : bench::quick() ? std::vector<int64_t>{256, 1024} : std::vector<int64_t>{64, 128, 256, 512, 1024, 2048})
    s.push_back({v, v, v, false, "square"});
  // Model shapes (tokens × d → projections, MLP, LM head) for a small judge.
  s.push_back({2048, 768, 256, true, "qkv"});
  s.push_back({2048, 1024, 256, true, "mlp_up"});
  s.push_back({2048, 256, 1024, true, "mlp_down"});
  s.push_back({2048, 4096, 256, true, "lm_head"});
  return s;
}

void run_gemm(Device dev, DType dt) {
  for (const Shape& s : shapes()) {
    GemmParams p;
    p.trans_b = s.tb;
    Tensor a = empty({s.m, s.k}, dt, dev), b = empty(s.tb ? std::vector<int64_t>{s.n, s.k} : std::vector<int64_t>{s.k, s.n}, dt, dev);
    Tensor c = empty({s.m, s.n}, dt, dev);
    randn(a, 1, 0, 1);
    randn(b, 2, 0, 1);
    const std::string shape = std::string(s.label) + " " + std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k);
    const double flops = 2.0 * s.m * s.n * s.k;
    bench::Timing t = bench::time_ms([&] { gemm(a, b, c, p); }, dev);
    const char* impl = dev.is_cpu() ? cpu::sgemm_kernel_name() : (dt == DType::BF16 ? "wmma-bf16" : "tiled-f32");
    bench::report("matmul", impl, dtype_name(dt), shape, t, "GFLOP/s", flops / t.p50 / 1e6, dev.name());
    // The naive reference only for small problems (it is O(1 GFLOP/s)).
    if (dt == DType::F32 && flops <= 2.0 * 512 * 512 * 512) {
      MatmulParams mp;
      mp.trans_b = s.tb;
      bench::Timing r = bench::time_ms([&] { matmul_reference(a, b, c, mp); }, dev, 1, 3, 300);
      bench::report("matmul", "naive", dtype_name(dt), shape, r, "speedup", r.p50 / t.p50, dev.name());
    }
  }
}

}  // namespace

MTRL_BENCH(gemm_cpu) { run_gemm(Device{}, DType::F32); }

MTRL_BENCH(gemm_cuda) {
  auto a = cuda_rt::availability();
  if (!a.available) {
    std::printf("   skipped: %s\n", a.reason.c_str());
    return;
  }
  run_gemm(Device{Device::CUDA, 0}, DType::F32);
  run_gemm(Device{Device::CUDA, 0}, DType::BF16);
}

MTRL_BENCH(model_ops) {
  std::vector<Device> devs{Device{}};
  if (cuda_rt::availability().available) devs.push_back(Device{Device::CUDA, 0});
  for (Device dev : devs) {
    const int64_t rows = 4096, d = 512;
    Tensor x = empty({rows, d}, DType::F32, dev), w = empty({d}, DType::F32, dev), y = empty({rows, d}, DType::F32, dev);
    Tensor r = empty({rows}, DType::F32, dev), dx = empty({rows, d}, DType::F32, dev), dw = empty({d}, DType::F32, dev);
    randn(x, 3, 0, 1);
    randn(w, 4, 1, 0.1);
    const double bytes = 2.0 * rows * d * 4;
    bench::Timing t = bench::time_ms([&] { rmsnorm_forward(x, w, 1e-6, y, r); }, dev);
    bench::report("rmsnorm", "fwd", "f32", "4096x512", t, "GB/s", bytes / t.p50 / 1e6, dev.name());
    t = bench::time_ms([&] { rmsnorm_backward(y, x, w, r, dx, dw, false); }, dev);
    bench::report("rmsnorm", "bwd", "f32", "4096x512", t, "GB/s", 1.5 * bytes / t.p50 / 1e6, dev.name());
    t = bench::time_ms([&] { swiglu_forward(x, y, dx); }, dev);
    bench::report("swiglu", "fwd", "f32", "4096x512", t, "GB/s", 1.5 * bytes / t.p50 / 1e6, dev.name());
    Tensor m = empty({rows, d}, DType::F32, dev), v = empty({rows, d}, DType::F32, dev);
    fill(m, 0);
    fill(v, 0);
    AdamWParams ap;
    t = bench::time_ms([&] { adamw_step(x, y, m, v, ap); }, dev);
    bench::report("adamw", "step", "f32", "2M params", t, "GB/s", 3.5 * bytes / t.p50 / 1e6, dev.name());
  }
}
