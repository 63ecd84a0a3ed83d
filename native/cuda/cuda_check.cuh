// Every CUDA call goes through MTRL_CUDA_CHECK so a failure becomes a JS Error that names the
// operation and the file:line, instead of a silent wrong result or a crash.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "mtrl/common.h"

namespace mtrl {

[[noreturn]] inline void cuda_fail(cudaError_t err, const char* what, const char* file, int line) {
  throw_error(std::string("CUDA error in ") + what + " at " + file + ":" + std::to_string(line) + ": " +
              cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
}

}  // namespace mtrl

#define MTRL_CUDA_CHECK(expr)                                          \
  do {                                                                 \
    cudaError_t mtrl_err_ = (expr);                                    \
    if (mtrl_err_ != cudaSuccess) ::mtrl::cuda_fail(mtrl_err_, #expr, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: launch-configuration errors surface here.
#define MTRL_CUDA_LAUNCH_CHECK(name) MTRL_CUDA_CHECK(cudaGetLastError())

namespace mtrl::cuda {

// Sets the current device for the scope of one op.
struct DeviceGuard {
  int prev = 0;
  explicit DeviceGuard(int device) {
    MTRL_CUDA_CHECK(cudaGetDevice(&prev));
    if (prev != device) MTRL_CUDA_CHECK(cudaSetDevice(device));
  }
  ~DeviceGuard() { cudaSetDevice(prev); }
};

inline unsigned grid_for(long long n, int block) {
  long long g = (n + block - 1) / block;
  return static_cast<unsigned>(g > 65535LL * 32 ? 65535LL * 32 : (g < 1 ? 1 : g));
}

}  // namespace mtrl::cuda
