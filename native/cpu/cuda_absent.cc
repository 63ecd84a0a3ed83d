// The device runtime of a build without CUDA: every entry says so instead of touching a GPU.
#ifndef MTRL_WITH_CUDA
#include "mtrl/runtime.h"

namespace mtrl::cuda_rt {
namespace {
[[noreturn]] void absent(const char* fn) {
  throw_error(std::string(fn) + ": this build of mtrl-judge was not compiled with CUDA; rebuild with `npm run build:native` on a machine with nvcc, or use device 'cpu'");
}
}  // namespace

bool compiled() { return false; }
CudaAvailability availability() {
  CudaAvailability a;
  a.reason = "not compiled with CUDA (this binary was built without nvcc; run `npm run build:native` where the CUDA toolkit is installed)";
  return a;
}
std::vector<DeviceInfo> devices() { return {}; }
void* malloc(size_t, int) { absent("cudaMalloc"); }
void free(void*, int) noexcept {}
void memcpy_h2d(void*, const void*, size_t, int) { absent("copy to cuda"); }
void memcpy_d2h(void*, const void*, size_t, int) { absent("copy from cuda"); }
void memcpy_d2d(void*, int, const void*, int, size_t) { absent("copy between cuda devices"); }
void memset_zero(void*, size_t, int) { absent("cudaMemset"); }
void synchronize(int) {}
void require_device(int, const char* fn) { absent(fn); }

}  // namespace mtrl::cuda_rt
#endif
