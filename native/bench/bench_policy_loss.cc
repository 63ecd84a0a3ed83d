// Native policy-loss benchmarks (no Node; runs as is on a GPU machine): forward + backward of the
// fused-linear path and of the logits path (loss kernel only, logits given) on the CPU, and on CUDA
// when a device exists, over N·T × V × d. Reports the median time and GFLOP/s of the fused path's
// three GEMMs (6·N·T·V·d flops) or GB/s of logits read and written by the logits path (8·N·T·V bytes).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "bench_util.h"
#include "mtrl/ops.h"
#include "mtrl/policy_loss.h"
#include "mtrl/runtime.h"

using namespace mtrl;

namespace {

PolicyLossBatch make_batch(int64_t N, int64_t T, int64_t V, Device dev) {
  Tensor tok = empty({N, T}, DType::I32, Device{});
  for (int64_t i = 0; i < N * T; ++i) tok.ptr<int32_t>()[i] = static_cast<int32_t>((i * 7919) % V);
  Tensor adv = empty({N}, DType::F32, Device{});
  for (int64_t i = 0; i < N; ++i) adv.ptr<float>()[i] = i % 2 ? 1.0f : -1.0f;
  Tensor mask = empty({N, T}, DType::U8, Device{});
  fill(mask, 1.0);
  PolicyLossBatch b;
  b.tokens = dev.is_cpu() ? tok : to_device(tok, dev);
  b.mask = dev.is_cpu() ? mask : to_device(mask, dev);
  b.advantages = dev.is_cpu() ? adv : to_device(adv, dev);
  return b;
}

void run(Device dev) {
  const int64_t T = 256;
  std::vector<int64_t> nts = bench::quick() ? std::vector<int64_t>{1024} : std::vector<int64_t>{1024, 4096};
  std::vector<int64_t> vs = bench::quick() ? std::vector<int64_t>{32000} : std::vector<int64_t>{32000, 151936};
  std::vector<int64_t> ds = bench::quick() ? std::vector<int64_t>{512} : std::vector<int64_t>{512, 2048};
  for (int64_t NT : nts)
    for (int64_t V : vs) {
      const int64_t N = NT / T;
      PolicyLossBatch b = make_batch(N, T, V, dev);
      PolicyLossParams p;
      char shape[96];
      for (int64_t d : ds) {
        Tensor h = empty({N, T, d}, DType::F32, dev), w = empty({V, d}, DType::F32, dev);
        randn(h, 1, 0.0, 1.0);
        randn(w, 2, 0.0, 1.0 / std::sqrt(static_cast<double>(d)));
        std::snprintf(shape, sizeof shape, "NT=%lld,V=%lld,d=%lld", (long long)NT, (long long)V, (long long)d);
        auto t = bench::time_ms([&] { policy_loss_linear(h, w, b, p); }, dev, 1, 3, 3000);
        bench::report("policy_loss", "fused-linear", "fwd+bwd", shape, t, "GFLOP/s", 6.0 * NT * V * d / (t.p50 * 1e6), dev.name());
      }
      // Logits path: the loss kernel alone on given logits.
      if (static_cast<double>(NT) * V * 4 * 2 < 6e9) {
        Tensor z = empty({N, T, V}, DType::F32, dev);
        randn(z, 3, 0.0, 2.0);
        std::snprintf(shape, sizeof shape, "NT=%lld,V=%lld", (long long)NT, (long long)V);
        auto t = bench::time_ms([&] { policy_loss_logits(z, b, p); }, dev, 1, 3, 3000);
        bench::report("policy_loss", "logits-kernel", "fwd+bwd", shape, t, "GB/s", 8.0 * NT * V / (t.p50 * 1e6), dev.name());
      }
    }
}

}  // namespace

MTRL_BENCH(policy_loss_cpu) { run(Device{}); }

MTRL_BENCH(policy_loss_cuda) {
  CudaAvailability a = cuda_rt::availability();
  if (!a.available) {
    std::printf("policy_loss_cuda: skipped (%s)\n", a.reason.c_str());
    return;
  }
  run(Device{Device::CUDA, 0});
}
