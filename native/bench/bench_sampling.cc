// Native sampling benchmarks (no Node; runs as is on a GPU machine): sample_tokens on the CPU
// against the sort-based reference, and on CUDA when a device exists, over B x V x mode. Reports
// the median time and GB/s of logits read (B * V * 4 bytes per call). Logits are 2.5 * N(0, 1).
#include <cstdio>
#include <random>
#include <string>

#include "bench_util.h"
#include "mtrl/runtime.h"
#include "mtrl/sampling.h"

using namespace mtrl;

namespace {

struct Mode {
  const char* name;
  SampleOptions opts;
};

std::vector<Mode> modes() {
  std::vector<Mode> m(5);
  m[0].name = "greedy";
  m[0].opts.temperature = {0.0};
  m[1].name = "top-k";
  m[1].opts.top_k = {50};
  m[2].name = "top-p";
  m[2].opts.top_p = {0.9};
  m[3].name = "top-k+top-p";
  m[3].opts.top_k = {50};
  m[3].opts.top_p = {0.9};
  m[4].name = "min-p";
  m[4].opts.min_p = {0.05};
  return m;
}

Tensor random_logits(int64_t B, int64_t V) {
  Tensor x = empty({B, V}, DType::F32, Device{});
  std::mt19937_64 g(42);
  std::normal_distribution<float> nd(0.f, 2.5f);
  for (int64_t i = 0; i < B * V; ++i) x.ptr<float>()[i] = nd(g);
  return x;
}

std::vector<int64_t> batches() { return bench::quick() ? std::vector<int64_t>{1, 16} : std::vector<int64_t>{1, 16, 128, 512}; }
std::vector<int64_t> vocabs() { return bench::quick() ? std::vector<int64_t>{32000, 151936} : std::vector<int64_t>{32000, 128256, 151936}; }

void run(Device dev, bool with_reference) {
  for (int64_t V : vocabs())
    for (int64_t B : batches()) {
      Tensor x = random_logits(B, V);
      Tensor xd = dev.is_cpu() ? x : to_device(x, dev);
      double gb = B * V * 4 / 1e9;
      std::string shape = "B=" + std::to_string(B) + ",V=" + std::to_string(V);
      bool big = B * V >= 128 * 128256;
      for (Mode& m : modes()) {
        SampleResult r;
        uint64_t off = 0;
        auto t = bench::time_ms(
            [&] {
              m.opts.offset = static_cast<double>(off++);
              sample_tokens(xd, nullptr, m.opts, r);
            },
            dev, 1, big ? 3 : 5, big ? 400 : 800);
        bench::report("sampleTokens", "mtrl", m.name, shape, t, "GB/s", gb / (t.p50 / 1e3), dev.name());
        if (with_reference && std::string(m.name) != "greedy") {
          auto tr = bench::time_ms([&] { sample_tokens_sort_reference(x, nullptr, m.opts, r); }, Device{}, 1, big ? 2 : 3, big ? 400 : 800);
          bench::report("sampleTokens", "sort-reference", m.name, shape, tr, "GB/s", gb / (tr.p50 / 1e3), "cpu");
          bench::report("sampleTokens", "mtrl", m.name, shape, t, "speedup_vs_sort", tr.p50 / t.p50, dev.name());
        }
      }
    }
}

}  // namespace

MTRL_BENCH(sampling_cpu) { run(Device{}, true); }

MTRL_BENCH(sampling_cuda) {
  CudaAvailability a = cuda_rt::availability();
  if (!a.available) {
    std::printf("   skipped: %s\n", a.reason.c_str());
    return;
  }
  run(Device{Device::CUDA, 0}, false);
}
