// Run-time SIMD dispatch. Kernels are compiled once per level with function target attributes
// (never -march=native) and the best level the CPU supports is picked when first needed.
#pragma once

namespace mtrl {

enum class SimdLevel { Scalar = 0, AVX2 = 1, AVX512 = 2 };

// Best supported level, lowered by the MTRL_SIMD environment variable (scalar|avx2|avx512) so
// every path can be tested on one machine.
SimdLevel simd_level();
const char* simd_level_name(SimdLevel level);
// Lets tests force a level at run time (clamped to what the CPU supports).
void set_simd_level(SimdLevel level);
int cpu_threads();

}  // namespace mtrl

#if defined(__x86_64__) || defined(_M_X64)
#define MTRL_X86 1
#define MTRL_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define MTRL_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))
#else
#define MTRL_X86 0
#define MTRL_TARGET_AVX2
#define MTRL_TARGET_AVX512
#endif
