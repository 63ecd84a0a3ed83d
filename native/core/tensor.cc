// Storage allocation, per-device memory statistics and cross-device copies.
#include "mtrl/tensor.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "mtrl/runtime.h"

namespace mtrl {
namespace {

std::mutex g_stats_mutex;
std::map<std::pair<int, int>, DeviceMemoryStats>& stats_table() {
  static std::map<std::pair<int, int>, DeviceMemoryStats> table;
  return table;
}

void record(Device d, int64_t tensors, int64_t bytes) {
  std::lock_guard<std::mutex> lock(g_stats_mutex);
  auto& s = stats_table()[{static_cast<int>(d.kind), d.is_cpu() ? 0 : d.index}];
  s.device = d;
  s.live_tensors += tensors;
  s.live_bytes += bytes;
  if (s.live_bytes > s.peak_bytes) s.peak_bytes = s.live_bytes;
}

constexpr size_t kCpuAlignment = 64;  // one cache line, and a full AVX-512 register

}  // namespace

Storage::Storage(size_t nbytes, Device dev) : bytes(nbytes), device(dev) {
  size_t alloc = nbytes == 0 ? kCpuAlignment : nbytes;
  if (dev.is_cpu()) {
    size_t rounded = (alloc + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
    data = std::aligned_alloc(kCpuAlignment, rounded);
    if (!data) throw_range_error("out of memory: could not allocate " + std::to_string(nbytes) + " bytes on cpu");
  } else {
    data = cuda_rt::malloc(alloc, dev.index);
  }
  record(device, 1, static_cast<int64_t>(bytes));
}

Storage::~Storage() {
  if (device.is_cpu()) {
    std::free(data);
  } else {
    cuda_rt::free(data, device.index);
  }
  record(device, -1, -static_cast<int64_t>(bytes));
}

Tensor empty(const std::vector<int64_t>& shape, DType dtype, Device device) {
  int64_t numel = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) throw_range_error("shape[" + std::to_string(i) + "] must be a non-negative integer, got " + std::to_string(shape[i]));
    if (shape[i] > 0 && numel > (int64_t{1} << 53) / shape[i]) throw_range_error("shape " + shape_str(shape) + " has too many elements");
    numel *= shape[i];
  }
  Tensor t;
  t.dtype = dtype;
  t.shape = shape;
  t.storage = std::make_shared<Storage>(static_cast<size_t>(numel) * dtype_size(dtype), device);
  return t;
}

Tensor empty_like(const Tensor& t) { return empty(t.shape, t.dtype, t.device()); }

std::vector<DeviceMemoryStats> memory_stats() {
  std::lock_guard<std::mutex> lock(g_stats_mutex);
  std::vector<DeviceMemoryStats> out;
  bool has_cpu = false;
  for (auto& kv : stats_table()) {
    out.push_back(kv.second);
    if (kv.second.device.is_cpu()) has_cpu = true;
  }
  if (!has_cpu) out.insert(out.begin(), DeviceMemoryStats{Device{}, 0, 0, 0});
  return out;
}

void copy_bytes(const Tensor& src, Tensor& dst) {
  size_t n = src.nbytes();
  if (n != dst.nbytes()) throw_range_error("copy: source has " + std::to_string(n) + " bytes but destination has " + std::to_string(dst.nbytes()));
  if (n == 0) return;
  Device s = src.device(), d = dst.device();
  if (s.is_cpu() && d.is_cpu()) {
    std::memmove(dst.raw(), src.raw(), n);
  } else if (s.is_cpu()) {
    cuda_rt::memcpy_h2d(dst.raw(), src.raw(), n, d.index);
  } else if (d.is_cpu()) {
    cuda_rt::memcpy_d2h(dst.raw(), src.raw(), n, s.index);
  } else {
    cuda_rt::memcpy_d2d(dst.raw(), d.index, src.raw(), s.index, n);
  }
}

Tensor to_device(const Tensor& src, Device device) {
  Tensor out = empty(src.shape, src.dtype, device);
  copy_bytes(src, out);
  return out;
}

}  // namespace mtrl
