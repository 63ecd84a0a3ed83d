// Checks of the emulation itself, not of the project's kernels (only the cuda-emu runners compile this):
// that operations queued back to back on stream 0 run in order (HIP-CPU's own null stream does not
// guarantee it; see mtrl_cuda_emu.h), and that a kernel whose threads run as fibers can use a deep
// stack frame (HIP-CPU's 7 KB fiber stacks would overflow into the heap).
#include <chrono>
#include <thread>
#include <vector>

#include "mtrl_cuda_emu.h"
#include "test_util.h"

namespace {

__global__ void emu_slow_fill(float* buf, int n, float v) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  volatile float x = 0;
  for (int k = 0; k < 400; ++k) x = x + 1.0f;  // keeps the kernel running while the host queues the next one
  buf[i] = v + 0.0f * x;
}

__global__ void emu_copy(const float* src, float* dst, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = src[i];
}

// 32 KB of locals per thread and a barrier, so the block's threads run on fiber stacks.
__global__ void emu_deep_frame(float* out) {
  volatile float big[8192];
  for (int i = 0; i < 8192; ++i) big[i] = static_cast<float>(threadIdx.x + i);
  __syncthreads();
  float s = 0;
  for (int i = 0; i < 8192; i += 1024) s += big[i];
  out[blockIdx.x * blockDim.x + threadIdx.x] = s;
}

}  // namespace

MTRL_TEST(cuda_emu, cuda_emu_runtime) {
  // Stream order: fill, (host pause), copy, read back. Before the fix most iterations failed.
  const int n = 4096, iters = 40;
  float *buf = nullptr, *out = nullptr;
  CHECK(cudaMalloc(reinterpret_cast<void**>(&buf), n * sizeof(float)) == cudaSuccess);
  CHECK(cudaMalloc(reinterpret_cast<void**>(&out), n * sizeof(float)) == cudaSuccess);
  std::vector<float> h(n);
  int bad_iters = 0;
  for (int it = 0; it < iters; ++it) {
    CHECK(cudaMemset(buf, 0, n * sizeof(float)) == cudaSuccess);
    hipLaunchKernelGGL(emu_slow_fill, dim3(n / 128), dim3(128), 0, nullptr, buf, n, static_cast<float>(it + 1));
    std::this_thread::sleep_for(std::chrono::microseconds(it % 20 * 50));
    hipLaunchKernelGGL(emu_copy, dim3(n / 128), dim3(128), 0, nullptr, buf, out, n);
    CHECK(cudaMemcpy(h.data(), out, n * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess);
    int bad = 0;
    for (float x : h) bad += x != static_cast<float>(it + 1);
    bad_iters += bad > 0;
  }
  CHECK_MSG(bad_iters == 0, bad_iters << " of " << iters << " iterations: a kernel on stream 0 ran before the previous one finished");
  ::mtrl::test::note("stream 0 order: " + std::to_string(iters - bad_iters) + "/" + std::to_string(iters) + " ordered");

  // Deep frames on fiber stacks.
  const int blocks = 4, threads = 64;
  float* deep = nullptr;
  CHECK(cudaMalloc(reinterpret_cast<void**>(&deep), blocks * threads * sizeof(float)) == cudaSuccess);
  hipLaunchKernelGGL(emu_deep_frame, dim3(blocks), dim3(threads), 0, nullptr, deep);
  std::vector<float> d(blocks * threads);
  CHECK(cudaMemcpy(d.data(), deep, d.size() * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess);
  int wrong = 0;
  for (int b = 0; b < blocks; ++b)
    for (int t = 0; t < threads; ++t) {
      float want = 0;
      for (int i = 0; i < 8192; i += 1024) want += static_cast<float>(t + i);
      wrong += d[b * threads + t] != want;
    }
  CHECK_MSG(wrong == 0, wrong << " threads of a kernel with a 32 KB frame returned wrong sums");
  ::mtrl::test::note("32 KB frames on fiber stacks: ok (stacks " + std::to_string(mtrl_emu::kFiberStackBytes >> 10) + " KB + guard page)");
  cudaFree(buf);
  cudaFree(out);
  cudaFree(deep);
}
