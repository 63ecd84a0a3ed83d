// The CUDA runtime and device intrinsics used by native/cuda/*.cu, mapped onto HIP-CPU (a header-only
// runtime that runs CUDA-style kernels on the CPU: blocks in parallel through the C++17 parallel
// algorithms, the threads of a block as fibers). Only the emulated test build includes this (through
// the cuda_runtime.h / cuda_bf16.h / mma.h next to it); scripts/cuda-emu-rewrite.cjs turns the .cu
// files into plain C++ (kernel launches, __shared__ declarations) in the build folder.
//
// Warp model: CUDA's warp is 32 threads, HIP-CPU's is 64 and its shuffles are block-wide barriers,
// which breaks kernels whose warps take different paths (a warp-uniform `continue`, one warp doing the
// final reduction). Here the warp intrinsics (__shfl*_sync, __syncwarp) synchronise only the 32 lanes
// of the calling warp: the lanes of a warp yield to each other in a ring, and HIP-CPU's
// __syncthreads yields through every thread of the block. That is exact for code that is correct on a
// GPU without relying on lock-step execution: all 32 lanes of a warp reach the same warp intrinsics
// (full masks, as every kernel here uses) and all threads of a block reach the same __syncthreads.
//
// Two things HIP-CPU gets wrong for this project are fixed here, outside its unmodified copy:
// - Stream order on the null stream. HIP-CPU's Runtime::wait_all_streams_ drains the null stream's
//   queue on a std::async thread while its parallel for_each over all streams (the null stream is one of
//   them) drains the same queue again, so two operations queued back to back on the null stream can run
//   concurrently and out of order (measured: a kernel that reads what the previous one wrote saw it half
//   written in 184 of 200 tries when the host paused between the two launches). Every operation the
//   kernels queue on stream 0 goes to one stream created here instead (mtrl_emu::stream), which only the
//   for_each drains, in order. This was the "fused linear grad_hidden 0.72" flake.
// - Fiber stacks. HIP-CPU gives each thread of a block a 7 KB fiber stack (malloc'ed, no guard), which a
//   kernel frame can outgrow (more so under AddressSanitizer, whose redzones enlarge frames), silently
//   overwriting the neighbouring heap. Here each fiber gets kFiberStackBytes of mmap'ed stack (pages are
//   committed only when touched) below which a PROT_NONE guard page makes an overflow fault at once.
//   MTRL_EMU_STACK_REPORT=1 prints the deepest fiber stack use at exit.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <unordered_map>

// libco (HIP-CPU's fibers) with the settings HIP-CPU's fiber.hpp uses, included first so that the
// co_create / co_delete calls in HIP-CPU's headers below go to mtrl_emu::fiber_create / fiber_delete.
#if !defined(LIBCO_MP)
#define LIBCO_MP
#endif
#if !defined(__clang__) && !defined(_MSC_VER)
#define LIBCO_MPROTECT
#endif
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wparentheses"
#include <libco/libco.h>
#pragma GCC diagnostic pop
#if defined(thread_local)  // libco sometimes defines it
#undef thread_local
#endif

namespace mtrl_emu {
constexpr std::size_t kFiberStackBytes = std::size_t{256} << 10;

inline std::size_t page_bytes() {
  static const std::size_t p = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return p;
}

// Deepest use seen on any fiber stack (bytes), for MTRL_EMU_STACK_REPORT.
struct FiberStacks {
  std::mutex mu;
  std::unordered_map<unsigned char*, int> live;  // stack bottom -> 0
  std::size_t deepest = 0, created = 0;
  static std::size_t used(const unsigned char* bottom) {  // untouched mmap pages read as zero
    std::size_t i = 0;
    while (i < kFiberStackBytes && bottom[i] == 0) ++i;
    return kFiberStackBytes - i;
  }
  static FiberStacks& get() {
    static FiberStacks* r = [] {
      auto* f = new FiberStacks;  // never destroyed: fibers are deleted from thread-exit destructors
      if (const char* e = std::getenv("MTRL_EMU_STACK_REPORT"); e && *e && *e != '0') std::atexit(report);
      return f;
    }();
    return *r;
  }
  static void report() {
    FiberStacks& f = get();
    std::lock_guard<std::mutex> lock(f.mu);
    std::size_t d = f.deepest;
    for (auto& [bottom, unused] : f.live) d = std::max(d, used(bottom));
    std::fprintf(stderr, "mtrl cuda-emu: deepest fiber stack use %zu bytes of %zu (%zu fibers created)\n", d, kFiberStackBytes, f.created);
  }
};

// Under AddressSanitizer every switch between fibers is announced (__sanitizer_start_switch_fiber /
// __sanitizer_finish_switch_fiber), so ASan knows which stack is live: without it ASan warns that
// "false positive error reports may follow" and cannot tell a stack from a wild pointer.
#if defined(__SANITIZE_ADDRESS__)
}  // namespace mtrl_emu
#include <sanitizer/common_interface_defs.h>
namespace mtrl_emu {
struct AsanFibers {
  std::mutex mu;
  std::unordered_map<cothread_t, void (*)(void)> entry;  // fiber -> HIP-CPU's entry, run by fiber_start
  static AsanFibers& get() {
    static AsanFibers* r = new AsanFibers;  // never destroyed, as FiberStacks
    return *r;
  }
};
// The stack of this thread's own (non-fiber) context, learnt when it first switches to a fiber.
inline thread_local const void* thread_stack_bottom = nullptr;
inline thread_local std::size_t thread_stack_size = 0;

inline bool is_fiber(const void* bottom) {
  FiberStacks& f = FiberStacks::get();
  std::lock_guard<std::mutex> lock(f.mu);
  return f.live.count(static_cast<unsigned char*>(const_cast<void*>(bottom))) != 0;
}
// After a switch: remember the thread's own stack if that is where we came from.
inline void arrived(void* fake_stack) {
  const void* from_bottom = nullptr;
  std::size_t from_size = 0;
  __sanitizer_finish_switch_fiber(fake_stack, &from_bottom, &from_size);
  if (from_bottom != nullptr && thread_stack_bottom == nullptr && !is_fiber(from_bottom)) {
    thread_stack_bottom = from_bottom;
    thread_stack_size = from_size;
  }
}
inline void fiber_switch(cothread_t to) {
  // A fiber's stack is the kFiberStackBytes after its handle; anything else is the thread's own stack.
  const bool fiber = is_fiber(to);
  void* fake_stack = nullptr;
  __sanitizer_start_switch_fiber(&fake_stack, fiber ? to : thread_stack_bottom, fiber ? kFiberStackBytes : thread_stack_size);
  co_switch(to);
  arrived(fake_stack);
}
inline void fiber_start() {
  arrived(nullptr);
  void (*entry)(void) = nullptr;
  {
    AsanFibers& a = AsanFibers::get();
    std::lock_guard<std::mutex> lock(a.mu);
    entry = a.entry.at(co_active());
  }
  entry();
}
#endif

inline cothread_t fiber_create(unsigned /*HIP-CPU asks for 7 KB*/, void (*entry)(void)) {
  const std::size_t guard = page_bytes();
  void* m = mmap(nullptr, guard + kFiberStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED || mprotect(m, guard, PROT_NONE) != 0) {
    std::fputs("mtrl cuda-emu: could not map a fiber stack\n", stderr);
    std::abort();
  }
  unsigned char* bottom = static_cast<unsigned char*>(m) + guard;
  FiberStacks& f = FiberStacks::get();
  {
    std::lock_guard<std::mutex> lock(f.mu);
    f.live.emplace(bottom, 0);
    ++f.created;
  }
  // libco keeps the fiber's saved registers at the start of the block and its stack grows down from the end.
#if defined(__SANITIZE_ADDRESS__)
  cothread_t handle = co_derive(bottom, static_cast<unsigned>(kFiberStackBytes), fiber_start);
  AsanFibers& a = AsanFibers::get();
  std::lock_guard<std::mutex> lock(a.mu);
  a.entry[handle] = entry;
  return handle;
#else
  return co_derive(bottom, static_cast<unsigned>(kFiberStackBytes), entry);
#endif
}

inline void fiber_delete(cothread_t handle) {
  unsigned char* bottom = static_cast<unsigned char*>(handle);
#if defined(__SANITIZE_ADDRESS__)
  {
    AsanFibers& a = AsanFibers::get();
    std::lock_guard<std::mutex> lock(a.mu);
    a.entry.erase(handle);
  }
#endif
  FiberStacks& f = FiberStacks::get();
  {
    std::lock_guard<std::mutex> lock(f.mu);
    f.deepest = std::max(f.deepest, FiberStacks::used(bottom));
    f.live.erase(bottom);
  }
  munmap(bottom - page_bytes(), page_bytes() + kFiberStackBytes);
}
}  // namespace mtrl_emu

#define co_create(bytes, entry) ::mtrl_emu::fiber_create(bytes, entry)
#define co_delete(handle) ::mtrl_emu::fiber_delete(handle)
#if defined(__SANITIZE_ADDRESS__)
#define co_switch(handle) ::mtrl_emu::fiber_switch(handle)
#endif

#include <hip/hip_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <thread>
#include <type_traits>

#define MTRL_CUDA_EMULATED 1

// Device-code keywords. HIP-CPU marks __device__ functions `simd` on GCC (vector clones nothing here
// uses); kernels keep `flatten` so everything they call is inlined into one frame. Not under ASan:
// flattening instrumented sampling kernels made GCC run for over 7 CPU-minutes on one file, and the
// 256 KB fiber stacks (below) leave room for real calls and ASan's redzones.
#undef __device__
#define __device__
#undef __global__
#if defined(__SANITIZE_ADDRESS__)
#define __global__
#else
#define __global__ __attribute__((flatten))
#endif
#define __align__(n) __attribute__((aligned(n)))
#define __trap() (std::fputs("mtrl cuda-emu: __trap() reached\n", stderr), std::abort())

// <cmath> classification functions, unqualified in device code.
using std::isfinite;
using std::isinf;
using std::isnan;

// CUDA's integer min/max overloads (device code calls them unqualified).
template <typename A, typename B, typename = std::enable_if_t<std::is_integral_v<A> && std::is_integral_v<B>>>
inline std::common_type_t<A, B> min(A a, B b) { return b < a ? b : a; }
template <typename A, typename B, typename = std::enable_if_t<std::is_integral_v<A> && std::is_integral_v<B>>>
inline std::common_type_t<A, B> max(A a, B b) { return a < b ? b : a; }

static_assert(sizeof(float4) == 16 && sizeof(uint4) == 16, "vector types must be 16 bytes (the kernels reinterpret memory as them)");

// ------------------------------------------------------------------------------------------------
// Runtime API
using cudaError_t = hipError_t;
using cudaStream_t = hipStream_t;
using cudaMemcpyKind = hipMemcpyKind;
constexpr cudaError_t cudaSuccess = hipSuccess;
constexpr cudaError_t cudaErrorMemoryAllocation = hipErrorOutOfMemory;
constexpr cudaError_t cudaErrorInsufficientDriver = hipErrorInsufficientDriver;
constexpr cudaError_t cudaErrorNoDevice = hipErrorNoDevice;
constexpr cudaMemcpyKind cudaMemcpyHostToDevice = hipMemcpyHostToDevice;
constexpr cudaMemcpyKind cudaMemcpyDeviceToHost = hipMemcpyDeviceToHost;
constexpr cudaMemcpyKind cudaMemcpyDeviceToDevice = hipMemcpyDeviceToDevice;

// The stream every operation queued on stream 0 (the legacy default stream, which the kernels use) goes
// to; see the top of this file for why HIP-CPU's own null stream cannot be used.
namespace mtrl_emu {
inline hipStream_t legacy_stream() {
  static const hipStream_t s = [] {
    hipStream_t x = nullptr;
    if (hipStreamCreate(&x) != hipSuccess || !x) {
      std::fputs("mtrl cuda-emu: hipStreamCreate failed\n", stderr);
      std::abort();
    }
    return x;
  }();
  return s;
}
inline hipStream_t stream(hipStream_t s) { return s ? s : legacy_stream(); }
}  // namespace mtrl_emu

// HIP-CPU's hipLaunchKernelGGL with the stream mapped as above.
#undef hipLaunchKernelGGL
#define hipLaunchKernelGGL(kernel_name, num_blocks, dim_blocks, group_mem_bytes, stream_arg, ...)                     \
  if (true) {                                                                                                         \
    ::hip::detail::launch(num_blocks, dim_blocks, group_mem_bytes, ::mtrl_emu::stream(stream_arg),                    \
                          [=](auto&&... xs) noexcept { kernel_name(std::forward<decltype(xs)>(xs)...); },             \
                          std::make_tuple(__VA_ARGS__));                                                              \
  } else                                                                                                              \
    ((void)0)

inline const char* cudaGetErrorName(cudaError_t e) { return hipGetErrorName(e); }
inline const char* cudaGetErrorString(cudaError_t e) { return hipGetErrorString(e); }
inline cudaError_t cudaGetLastError() { return hipGetLastError(); }
inline cudaError_t cudaGetDeviceCount(int* n) { return hipGetDeviceCount(n); }
inline cudaError_t cudaGetDevice(int* d) { return hipGetDevice(d); }
inline cudaError_t cudaSetDevice(int d) { return hipSetDevice(d); }
inline cudaError_t cudaDeviceSynchronize() { return hipDeviceSynchronize(); }
// Device memory is host memory from malloc (exact sizes, so AddressSanitizer sees every overrun).
inline cudaError_t cudaMalloc(void** p, size_t n) { return hipMalloc(p, n); }
inline cudaError_t cudaFree(void* p) { return hipFree(p); }  // waits for the device, as CUDA's does
inline cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind k) { return hipMemcpy(d, s, n, k); }
inline cudaError_t cudaMemcpyPeer(void* d, int, const void* s, int, size_t n) { return hipMemcpy(d, s, n, hipMemcpyDeviceToDevice); }
inline cudaError_t cudaMemset(void* p, int v, size_t n) { return hipMemset(p, v, n); }
inline cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t s = nullptr) { return hipMemsetAsync(p, v, n, mtrl_emu::stream(s)); }
inline cudaError_t cudaMemGetInfo(size_t* free_b, size_t* total_b) { return hipMemGetInfo(free_b, total_b); }

// The emulated device reports compute capability 7.5: no tensor cores, so the bf16 GEMM takes the SIMT
// kernel (the wmma kernel cannot run here), and the shared-memory opt-in limit of sm_86/sm_89
// (99 KB), the smallest of the GPUs the build targets, so launches that would not fit there fail here too.
namespace mtrl_emu {
constexpr int kCcMajor = 7, kCcMinor = 5, kSharedOptin = 101376, kMultiprocessors = 132;
}

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  int major, minor, multiProcessorCount;
};
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  hipDeviceProp_t h{};
  cudaError_t e = hipGetDeviceProperties(&h, device);
  if (e != hipSuccess) return e;
  std::memset(p, 0, sizeof *p);
  std::snprintf(p->name, sizeof p->name, "HIP-CPU emulated device (CUDA kernels on %u CPU threads)", std::thread::hardware_concurrency());
  p->totalGlobalMem = h.totalGlobalMem;
  p->major = mtrl_emu::kCcMajor;
  p->minor = mtrl_emu::kCcMinor;
  p->multiProcessorCount = mtrl_emu::kMultiprocessors;
  return cudaSuccess;
}

enum cudaDeviceAttr {
  cudaDevAttrMultiProcessorCount,
  cudaDevAttrComputeCapabilityMajor,
  cudaDevAttrComputeCapabilityMinor,
  cudaDevAttrMaxSharedMemoryPerBlockOptin,
};
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int device) {
  int n = 0;
  if (hipGetDeviceCount(&n) != hipSuccess || device < 0 || device >= n) return hipErrorInvalidDevice;
  switch (a) {
    case cudaDevAttrMultiProcessorCount: *v = mtrl_emu::kMultiprocessors; break;
    case cudaDevAttrComputeCapabilityMajor: *v = mtrl_emu::kCcMajor; break;
    case cudaDevAttrComputeCapabilityMinor: *v = mtrl_emu::kCcMinor; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *v = mtrl_emu::kSharedOptin; break;
  }
  return cudaSuccess;
}

enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize };
template <typename K>
inline cudaError_t cudaFuncSetAttribute(K, cudaFuncAttribute, int value) {
  return value >= 0 && value <= mtrl_emu::kSharedOptin ? cudaSuccess : hipErrorInvalidValue;
}

// ------------------------------------------------------------------------------------------------
// Device intrinsics
namespace mtrl_emu {

// (id and count are hidden friends of HIP-CPU's types: found through argument-dependent lookup.)
inline std::uint32_t thread_id() { return id(hip::detail::Fiber::this_fiber()); }
inline std::uint32_t block_threads() { return count(hip::detail::Tile::this_tile().dimensions()); }

[[noreturn]] inline void die(const char* what, unsigned a, unsigned b) {
  std::fprintf(stderr, "mtrl cuda-emu: %s (%u, %u)\n", what, a, b);
  std::abort();
}

// Returns once every lane of the calling thread's 32-lane warp has reached it.
inline void warp_round() {
  const std::uint32_t n = block_threads(), t = thread_id(), base = t / 32 * 32;
  const std::uint32_t lanes = std::min<std::uint32_t>(32, n - base);
  if (lanes <= 1) return;
  hip::detail::this_tile::has_barrier = true;  // the block now runs as fibers (as after a __syncthreads)
  hip::detail::Fiber::yield(hip::detail::Tile::fibers()[base + (t - base + 1) % lanes]);
}

// One slot per thread of the block (blocks run one at a time on an OS thread, so thread_local is per block).
inline std::uint64_t* exchange_slots() {
  thread_local std::uint64_t slots[1024];
  return slots;
}

enum class Shfl { Idx, Xor, Up, Down };
template <Shfl kind, typename T>
inline T shfl(T v, int arg, int width) {
  static_assert(sizeof(T) <= 8, "shuffles move at most 8 bytes");
  if (width <= 0 || width > 32 || (width & (width - 1))) die("shuffle width must be a power of two <= 32", width, 0);
  const std::uint32_t t = thread_id(), lane = t % 32, base = t - lane, n = block_threads();
  std::uint64_t* slot = exchange_slots();
  std::memcpy(&slot[t], &v, sizeof(T));
  warp_round();
  const int seg = static_cast<int>(lane) / width * width, l = static_cast<int>(lane) - seg;
  int src;
  switch (kind) {
    case Shfl::Idx: src = seg + (arg % width + width) % width; break;
    case Shfl::Xor: src = (l ^ arg) < width ? seg + (l ^ arg) : static_cast<int>(lane); break;
    case Shfl::Up: src = l - arg >= 0 ? static_cast<int>(lane) - arg : static_cast<int>(lane); break;
    default: src = l + arg < width ? static_cast<int>(lane) + arg : static_cast<int>(lane); break;
  }
  if (base + src >= n) die("shuffle reads a lane past the end of the block (partial warp)", lane, static_cast<unsigned>(src));
  T r;
  std::memcpy(&r, &slot[base + src], sizeof(T));
  warp_round();  // nobody overwrites a slot before every lane has read
  return r;
}

// __syncthreads_or / _and / _count: a block barrier that also reduces one int per thread.
template <int op>
inline int sync_reduce(int pred) {
  const std::uint32_t t = thread_id(), n = block_threads();
  std::uint64_t* slot = exchange_slots();
  slot[t] = pred != 0;
  __syncthreads();
  int r = op == 1 ? 1 : 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    if (op == 0) r |= static_cast<int>(slot[i]);
    else if (op == 1) r &= static_cast<int>(slot[i]);
    else r += static_cast<int>(slot[i]);
  }
  __syncthreads();
  return r;
}

// Static __shared__ variables (rewritten by scripts/cuda-emu-rewrite.cjs): one exactly-sized heap
// object per OS thread, so AddressSanitizer catches reads and writes past a shared array.
template <typename T, int Tag, std::size_t Align>
inline T& shared_var() {
  struct Free {
    void operator()(T* p) const { ::operator delete(static_cast<void*>(p), std::align_val_t{Align}); }
  };
  thread_local std::unique_ptr<T, Free> p(static_cast<T*>(::operator new(sizeof(T), std::align_val_t{Align})));
  return *p;
}

// Dynamic shared memory (extern __shared__): exactly the launch's byte count, reallocated when it changes.
inline void* dynamic_shared() {
  thread_local std::unique_ptr<unsigned char[]> mem;
  thread_local std::uint32_t size = ~0u;
  const std::uint32_t want = hip::detail::Tile::this_tile().domain().scratchpad_size();
  if (want != size) {
    mem.reset(want ? new unsigned char[want] : nullptr);
    size = want;
  }
  return mem.get();
}

}  // namespace mtrl_emu

#define MTRL_EMU_DYNAMIC_SHARED(type, name) type* name = static_cast<type*>(::mtrl_emu::dynamic_shared())

template <typename T>
inline T __shfl_sync(unsigned, T v, int src, int width = 32) { return mtrl_emu::shfl<mtrl_emu::Shfl::Idx>(v, src, width); }
template <typename T>
inline T __shfl_xor_sync(unsigned, T v, int mask, int width = 32) { return mtrl_emu::shfl<mtrl_emu::Shfl::Xor>(v, mask, width); }
template <typename T>
inline T __shfl_up_sync(unsigned, T v, unsigned delta, int width = 32) { return mtrl_emu::shfl<mtrl_emu::Shfl::Up>(v, static_cast<int>(delta), width); }
template <typename T>
inline T __shfl_down_sync(unsigned, T v, unsigned delta, int width = 32) { return mtrl_emu::shfl<mtrl_emu::Shfl::Down>(v, static_cast<int>(delta), width); }
inline void __syncwarp(unsigned = 0xffffffffu) { mtrl_emu::warp_round(); }
inline int __syncthreads_or(int p) { return mtrl_emu::sync_reduce<0>(p); }
inline int __syncthreads_and(int p) { return mtrl_emu::sync_reduce<1>(p); }
inline int __syncthreads_count(int p) { return mtrl_emu::sync_reduce<2>(p); }

inline float __int_as_float(int x) { float f; std::memcpy(&f, &x, 4); return f; }
inline float __uint_as_float(unsigned x) { float f; std::memcpy(&f, &x, 4); return f; }
inline int __float_as_int(float f) { int x; std::memcpy(&x, &f, 4); return x; }
inline unsigned __float_as_uint(float f) { unsigned x; std::memcpy(&x, &f, 4); return x; }
// Round-to-nearest arithmetic: what plain float arithmetic does on the host (the build uses -ffp-contract=off).
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
