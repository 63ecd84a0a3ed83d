// Tensor: a contiguous row-major block of one dtype on one device, with shared ownership of its
// storage (reshape shares storage; memory is freed when the last owner lets go).
#pragma once
#include <memory>
#include <string>
#include <vector>
#include "mtrl/common.h"

namespace mtrl {

// Owns one allocation. Construction/destruction update the per-device memory statistics.
struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  Device device;
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

struct Tensor {
  std::shared_ptr<Storage> storage;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
  int64_t dim(int i) const { return shape[static_cast<size_t>(i < 0 ? static_cast<int>(shape.size()) + i : i)]; }
  int ndim() const { return static_cast<int>(shape.size()); }
  Device device() const { return storage ? storage->device : Device{}; }
  void* raw() const { return storage ? storage->data : nullptr; }
  template <typename T>
  T* ptr() const { return static_cast<T*>(raw()); }
  std::string describe() const { return std::string(dtype_name(dtype)) + " " + shape_str(shape) + " on " + device().name(); }
};

// Checks a shape (non-negative dims, numel fits in 2^53 and in memory) and allocates.
Tensor empty(const std::vector<int64_t>& shape, DType dtype, Device device);
Tensor empty_like(const Tensor& t);

struct DeviceMemoryStats {
  Device device;
  int64_t live_tensors = 0;  // live storages (tensors that share one storage count once)
  int64_t live_bytes = 0;
  int64_t peak_bytes = 0;
};
std::vector<DeviceMemoryStats> memory_stats();

// Copies between any two devices; shapes must hold the same number of bytes.
void copy_bytes(const Tensor& src, Tensor& dst);
Tensor to_device(const Tensor& src, Device device);

}  // namespace mtrl
