// Native timings of the attention kernels (no Node needed, so benchmarks/gpu/run.sh can run it on a
// GPU machine): fused vs unfused forward/backward on the CPU, and forward/backward/decode in f32 and
// bf16 on CUDA when a device exists. GFLOP/s use forward 4·B·S·Sk·H·D (halved when causal) and
// backward 2.5× that; decode reports the GB/s of K/V cache read.
#include <cmath>
#include <string>

#include "bench_util.h"
#include "mtrl/attention.h"
#include "mtrl/ops.h"
#include "mtrl/runtime.h"

using namespace mtrl;

namespace {

struct Inputs {
  Tensor q, k, v, dout;
};

Inputs make(int64_t B, int64_t S, int64_t H, int64_t D, DType dt, Device dev) {
  auto mk = [&](std::vector<int64_t> shape, uint64_t seed) {
    Tensor t = empty(shape, DType::F32, dev);
    randn(t, seed, 0.0, 1.0);
    if (dt == DType::F32) return t;
    Tensor b = empty(shape, dt, dev);
    cast(t, b);
    return b;
  };
  return Inputs{mk({B, S, H, D}, 1), mk({B, S, H, D}, 2), mk({B, S, H, D}, 3), mk({B, S, H, D}, 4)};
}

std::string shape_name(int64_t B, int64_t S, int64_t H, int64_t D, bool causal) {
  return "B=" + std::to_string(B) + " S=" + std::to_string(S) + " H=" + std::to_string(H) + " D=" + std::to_string(D) + (causal ? " causal" : "");
}

void run_grid(Device dev, DType dt, bool with_naive) {
  const int64_t B = 1, H = 8;
  std::vector<int64_t> seqs = bench::quick() ? std::vector<int64_t>{128, 512} : std::vector<int64_t>{128, 512, 1024, 2048};
  if (dev.is_cuda() && !bench::quick()) seqs.push_back(4096);
  std::vector<int64_t> dims = bench::quick() ? std::vector<int64_t>{64} : std::vector<int64_t>{64, 128};
  const std::string devname = dev.name(), impl = std::string("fused_") + dtype_name(dt);
  for (int64_t D : dims)
    for (int64_t S : seqs)
      for (bool causal : {false, true}) {
        Inputs x = make(B, S, H, D, dt, dev);
        AttentionOptions o;
        o.causal = causal;
        const double flops = 4.0 * B * S * S * H * D * (causal ? 0.5 : 1.0);
        const std::string shape = shape_name(B, S, H, D, causal);
        auto fw = attention_forward(x.q, x.k, x.v, o);
        auto tf = bench::time_ms([&] { attention_forward(x.q, x.k, x.v, o); }, dev, 2, 5, 600);
        bench::report("attention", impl, "forward", shape, tf, "GFLOP/s", flops / tf.p50 / 1e6, devname);
        auto tb = bench::time_ms([&] { attention_backward(x.dout, x.q, x.k, x.v, fw.out, fw.lse, o); }, dev, 2, 5, 600);
        bench::report("attention", impl, "backward", shape, tb, "GFLOP/s", 2.5 * flops / tb.p50 / 1e6, devname);
        if (with_naive && S <= 2048) {
          auto nf = bench::time_ms([&] { attention_naive_forward(x.q, x.k, x.v, o); }, dev, 1, 3, 600);
          bench::report("attention", "unfused", "forward", shape, nf, "fused_speedup", nf.p50 / tf.p50, devname);
          auto nb = bench::time_ms([&] { attention_naive_backward(x.dout, x.q, x.k, x.v, fw.out, fw.lse, o); }, dev, 1, 3, 600);
          bench::report("attention", "unfused", "backward", shape, nb, "fused_speedup", nb.p50 / tb.p50, devname);
        }
      }
}

void run_decode(Device dev, DType dt) {
  const int64_t B = 8, H = 8, Hkv = 2, D = 128;
  std::vector<int64_t> lens = bench::quick() ? std::vector<int64_t>{512} : std::vector<int64_t>{512, 2048, 8192};
  for (int64_t L : lens) {
    const int64_t Smax = L + 64;
    auto mk = [&](std::vector<int64_t> shape, uint64_t seed) {
      Tensor t = empty(shape, DType::F32, dev);
      randn(t, seed, 0.0, 1.0);
      if (dt == DType::F32) return t;
      Tensor b = empty(shape, dt, dev);
      cast(t, b);
      return b;
    };
    Tensor kc = mk({B, Smax, Hkv, D}, 5), vc = mk({B, Smax, Hkv, D}, 6), q = mk({B, 1, H, D}, 7), kn = mk({B, 1, Hkv, D}, 8),
           vn = mk({B, 1, Hkv, D}, 9);
    Tensor lens_t = empty({B}, DType::I32, dev);
    auto t = bench::time_ms(
        [&] {
          fill(lens_t, static_cast<double>(L));  // every repetition appends at position L
          attention_decode(q, kc, vc, lens_t, kn, vn, std::nullopt);
        },
        dev, 2, 10, 600);
    const double bytes = 2.0 * B * (L + 1) * Hkv * D * dtype_size(dt);
    bench::report("attention", std::string("decode_") + dtype_name(dt), "decode", "B=8 H=8 Hkv=2 D=128 L=" + std::to_string(L), t, "GB/s",
                  bytes / t.p50 / 1e6, dev.name());
  }
}

}  // namespace

MTRL_BENCH(attention_cpu) {
  run_grid(Device{}, DType::F32, true);
  run_decode(Device{}, DType::F32);
}

MTRL_BENCH(attention_cuda) {
  CudaAvailability a = cuda_rt::availability();
  if (!a.available) {
    std::printf("   skipped: %s\n", a.reason.c_str());
    return;
  }
  Device gpu{Device::CUDA, 0};
  for (DType dt : {DType::F32, DType::BF16}) {
    run_grid(gpu, dt, false);
    run_decode(gpu, dt);
  }
}
