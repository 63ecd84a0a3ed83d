// Storage allocation, per-device memory statistics and cross-device copies.
#include "mtrl/tensor.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#ifdef __linux__
#include <sys/mman.h>
#endif

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

// Large CPU buffers (logits blocks, weight gradients, activations) are 2 MiB-aligned and asked to be
// backed by transparent huge pages: a fresh 64 MiB gradient otherwise costs 16k page faults (measured:
// a tenth of the fused policy loss's time went to the kernel's fault handler) and GEMMs that stream
// such buffers miss the TLB less. MTRL_HUGEPAGES=0 turns it off (for A/B benchmarks).
constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kHugeMin = size_t{4} << 20;
bool huge_pages_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("MTRL_HUGEPAGES");
    return !(e && e[0] == '0');
  }();
  return on;
}

// MTRL_POISON_ALLOC=1 fills every new CPU buffer with 0xFF bytes (f32 NaN, bf16 NaN): a kernel that
// reads an output it was meant to overwrite, or leaves part of it unwritten, then shows NaNs in the
// tests instead of the zeros a fresh mmap page would give (test/alloc-poison.test.ts).
bool poison_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("MTRL_POISON_ALLOC");
    return e && e[0] == '1';
  }();
  return on;
}

void* cpu_alloc(size_t bytes) {
#ifdef __linux__
  if (bytes >= kHugeMin && huge_pages_enabled()) {
    size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    void* p = std::aligned_alloc(kHugePage, rounded);
    if (p) madvise(p, rounded, MADV_HUGEPAGE);  // advice only: failure leaves normal pages
    return p;
  }
#endif
  size_t rounded = (bytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
  return std::aligned_alloc(kCpuAlignment, rounded);
}

}  // namespace

Storage::Storage(size_t nbytes, Device dev) : bytes(nbytes), device(dev) {
  size_t alloc = nbytes == 0 ? kCpuAlignment : nbytes;
  if (dev.is_cpu()) {
    data = cpu_alloc(alloc);
    if (data && poison_enabled()) std::memset(data, 0xFF, alloc);
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
