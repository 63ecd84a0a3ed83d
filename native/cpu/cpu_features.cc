// CPU feature detection for run-time SIMD dispatch.
#include "mtrl/cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <thread>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace mtrl {
namespace {

SimdLevel detect() {
#if MTRL_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq"))
    return SimdLevel::AVX512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return SimdLevel::AVX2;
#endif
  return SimdLevel::Scalar;
}

SimdLevel from_env(SimdLevel best) {
  const char* env = std::getenv("MTRL_SIMD");
  if (!env) return best;
  SimdLevel want = best;
  if (!std::strcmp(env, "scalar")) want = SimdLevel::Scalar;
  else if (!std::strcmp(env, "avx2")) want = SimdLevel::AVX2;
  else if (!std::strcmp(env, "avx512")) want = SimdLevel::AVX512;
  return static_cast<int>(want) < static_cast<int>(best) ? want : best;
}

std::atomic<int> g_level{-1};

}  // namespace

SimdLevel simd_level() {
  int v = g_level.load(std::memory_order_relaxed);
  if (v < 0) {
    v = static_cast<int>(from_env(detect()));
    g_level.store(v, std::memory_order_relaxed);
  }
  return static_cast<SimdLevel>(v);
}

void set_simd_level(SimdLevel level) {
  SimdLevel best = detect();
  g_level.store(static_cast<int>(static_cast<int>(level) < static_cast<int>(best) ? level : best));
}

const char* simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::AVX512: return "avx512";
    case SimdLevel::AVX2: return "avx2";
    default: return "scalar";
  }
}

int cpu_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

}  // namespace mtrl
