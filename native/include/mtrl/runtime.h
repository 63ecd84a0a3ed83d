// Device runtime: what the CPU build and the CUDA build each provide for allocation, copies and
// device discovery. Functions in mtrl::cuda_rt exist in every build; in a build without CUDA they
// report "not compiled with CUDA" instead of touching a GPU.
#pragma once
#include <cstddef>
#include <string>
#include <vector>
#include "mtrl/common.h"

namespace mtrl {

struct DeviceInfo {
  Device device;
  std::string name;
  size_t total_memory = 0;
  size_t free_memory = 0;
  int cc_major = 0, cc_minor = 0;
  int multiprocessors = 0;
};

struct CudaAvailability {
  bool available = false;
  bool compiled = false;
  int device_count = 0;
  std::string reason;  // why not available ("not compiled with CUDA", "no driver", ...)
};

namespace cuda_rt {
bool compiled();
CudaAvailability availability();
std::vector<DeviceInfo> devices();
void* malloc(size_t bytes, int device);
void free(void* p, int device) noexcept;
void memcpy_h2d(void* dst, const void* src, size_t bytes, int device);
void memcpy_d2h(void* dst, const void* src, size_t bytes, int device);
void memcpy_d2d(void* dst, int dst_device, const void* src, int src_device, size_t bytes);
void memset_zero(void* p, size_t bytes, int device);
void synchronize(int device);
// Throws mtrl::Error unless `device` is a usable CUDA device index.
void require_device(int device, const char* fn);
}  // namespace cuda_rt

}  // namespace mtrl
