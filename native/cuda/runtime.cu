// The device runtime of a CUDA build: discovery, allocation and copies. The addon links cudart
// statically, so it loads on machines without a driver and reports why CUDA is unavailable.
#include <cuda_runtime.h>

#include <mutex>

#include "cuda_check.cuh"
#include "mtrl/runtime.h"

namespace mtrl::cuda_rt {

bool compiled() { return true; }

CudaAvailability availability() {
  CudaAvailability a;
  a.compiled = true;
  if (const char* env = std::getenv("MTRL_DEVICE"); env && std::string(env) == "cpu") {
    a.reason = "disabled by MTRL_DEVICE=cpu";
    return a;
  }
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls are not poisoned
    if (err == cudaErrorInsufficientDriver) a.reason = "no CUDA driver (or a driver older than this build's CUDA runtime)";
    else if (err == cudaErrorNoDevice) a.reason = "no CUDA device";
    else a.reason = std::string("no usable CUDA device: ") + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
    return a;
  }
  if (count == 0) {
    a.reason = "no CUDA device";
    return a;
  }
  a.available = true;
  a.device_count = count;
  return a;
}

std::vector<DeviceInfo> devices() {
  std::vector<DeviceInfo> out;
  CudaAvailability a = availability();
  for (int i = 0; i < a.device_count; ++i) {
    cudaDeviceProp prop{};
    MTRL_CUDA_CHECK(cudaGetDeviceProperties(&prop, i));
    DeviceInfo d;
    d.device = Device{Device::CUDA, i};
    d.name = prop.name;
    d.total_memory = prop.totalGlobalMem;
    d.cc_major = prop.major;
    d.cc_minor = prop.minor;
    d.multiprocessors = prop.multiProcessorCount;
    size_t free_b = 0, total_b = 0;
    int prev = 0;
    cudaGetDevice(&prev);
    cudaSetDevice(i);
    if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) d.free_memory = free_b;
    cudaSetDevice(prev);
    out.push_back(d);
  }
  return out;
}

void require_device(int device, const char* fn) {
  CudaAvailability a = availability();
  if (!a.available) throw_error(std::string(fn) + ": CUDA is not available: " + a.reason);
  if (device < 0 || device >= a.device_count)
    throw_range_error(std::string(fn) + ": device cuda:" + std::to_string(device) + " does not exist (" +
                      std::to_string(a.device_count) + " CUDA device(s) found)");
}

void* malloc(size_t bytes, int device) {
  require_device(device, "cudaMalloc");
  cuda::DeviceGuard g(device);
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, bytes);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    throw_range_error("out of memory: could not allocate " + std::to_string(bytes) + " bytes on cuda:" + std::to_string(device));
  }
  MTRL_CUDA_CHECK(err);
  return p;
}

void free(void* p, int device) noexcept {
  if (!p) return;
  int prev = 0;
  cudaGetDevice(&prev);
  cudaSetDevice(device);
  cudaFree(p);
  cudaSetDevice(prev);
}

void memcpy_h2d(void* dst, const void* src, size_t bytes, int device) {
  cuda::DeviceGuard g(device);
  MTRL_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}
void memcpy_d2h(void* dst, const void* src, size_t bytes, int device) {
  cuda::DeviceGuard g(device);
  MTRL_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}
void memcpy_d2d(void* dst, int dst_device, const void* src, int src_device, size_t bytes) {
  if (dst_device == src_device) {
    cuda::DeviceGuard g(dst_device);
    MTRL_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
  } else {
    MTRL_CUDA_CHECK(cudaMemcpyPeer(dst, dst_device, src, src_device, bytes));
  }
}
void memset_zero(void* p, size_t bytes, int device) {
  cuda::DeviceGuard g(device);
  MTRL_CUDA_CHECK(cudaMemset(p, 0, bytes));
}
void synchronize(int device) {
  cuda::DeviceGuard g(device);
  MTRL_CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace mtrl::cuda_rt
