// Philox4x32-10 counter-based generator (Salmon et al., SC'11). The same (key, counter) gives the
// same four 32-bit words on CPU and GPU, so seeded randomness does not depend on thread count,
// batch composition or device.
#pragma once
#include <cstdint>
#include "mtrl/common.h"

namespace mtrl {

struct U32x4 {
  uint32_t x, y, z, w;
};

MTRL_HD uint32_t mulhilo32(uint32_t a, uint32_t b, uint32_t* hi) {
  uint64_t p = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  *hi = static_cast<uint32_t>(p >> 32);
  return static_cast<uint32_t>(p);
}

// key: 64 bits (seed); counter: 128 bits.
MTRL_HD U32x4 philox4x32_10(U32x4 ctr, uint32_t k0, uint32_t k1) {
  const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0, hi1;
    uint32_t lo0 = mulhilo32(M0, ctr.x, &hi0);
    uint32_t lo1 = mulhilo32(M1, ctr.z, &hi1);
    ctr = U32x4{hi1 ^ ctr.y ^ k0, lo1, hi0 ^ ctr.w ^ k1, lo0};
    k0 += W0;
    k1 += W1;
  }
  return ctr;
}

// Uniform float in (0, 1]: 24 random bits, never 0 (safe for log).
MTRL_HD float u32_to_unit_open0(uint32_t v) { return (static_cast<float>(v >> 8) + 1.0f) * (1.0f / 16777216.0f); }

// Uniform double in (0, 1] from 53 random bits of two words.
MTRL_HD double u64_to_unit_open0(uint32_t a, uint32_t b) {
  uint64_t v = (static_cast<uint64_t>(a) << 21) ^ static_cast<uint64_t>(b >> 11);
  v &= ((1ull << 53) - 1);
  return (static_cast<double>(v) + 1.0) * (1.0 / 9007199254740992.0);
}

}  // namespace mtrl
