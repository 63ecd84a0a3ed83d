// A check of the emulation itself, not of the project's kernels (only the cuda-emu runners compile this):
// operations queued back to back on stream 0 run in order (HIP-CPU's own null stream does not
// guarantee it; see mtrl_cuda_emu.h). (A second check, a kernel with a 32 KB frame on fiber stacks,
// passed once in the plain runner but took over 7 CPU-minutes to compile under ASan, so it was dropped.)
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

  cudaFree(buf);
  cudaFree(out);
}
