// CPU elementwise ops (SIMD through run-time dispatch), fill, randn, cast and the reference matmul.
#include <cmath>
#include <cstring>

#include "mtrl/bf16.h"
#include "mtrl/cpu_features.h"
#include "mtrl/ops.h"
#include "mtrl/philox.h"

namespace mtrl::cpu {
namespace {

// The loop bodies are plain C++; the wrappers below compile them once per instruction set and the
// compiler vectorises each copy for its target.
inline void binary_f32_loop(BinaryOp op, const float* a, const float* b, float* o, int64_t n) {
  switch (op) {
    case BinaryOp::Add:
      for (int64_t i = 0; i < n; ++i) o[i] = a[i] + b[i];
      break;
    case BinaryOp::Sub:
      for (int64_t i = 0; i < n; ++i) o[i] = a[i] - b[i];
      break;
    case BinaryOp::Mul:
      for (int64_t i = 0; i < n; ++i) o[i] = a[i] * b[i];
      break;
  }
}
inline void scale_f32_loop(const float* a, float alpha, float beta, float* o, int64_t n) {
  for (int64_t i = 0; i < n; ++i) o[i] = alpha * a[i] + beta;
}

void binary_f32_scalar(BinaryOp op, const float* a, const float* b, float* o, int64_t n) { binary_f32_loop(op, a, b, o, n); }
MTRL_TARGET_AVX2 void binary_f32_avx2(BinaryOp op, const float* a, const float* b, float* o, int64_t n) { binary_f32_loop(op, a, b, o, n); }
MTRL_TARGET_AVX512 void binary_f32_avx512(BinaryOp op, const float* a, const float* b, float* o, int64_t n) { binary_f32_loop(op, a, b, o, n); }
void scale_f32_scalar(const float* a, float al, float be, float* o, int64_t n) { scale_f32_loop(a, al, be, o, n); }
MTRL_TARGET_AVX2 void scale_f32_avx2(const float* a, float al, float be, float* o, int64_t n) { scale_f32_loop(a, al, be, o, n); }
MTRL_TARGET_AVX512 void scale_f32_avx512(const float* a, float al, float be, float* o, int64_t n) { scale_f32_loop(a, al, be, o, n); }

constexpr int64_t kChunk = 1 << 14;  // elements per OpenMP task: large enough to amortise the fork

template <typename F>
void parallel_chunks(int64_t n, F&& f) {
  int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (int64_t c = 0; c < chunks; ++c) {
    int64_t lo = c * kChunk, hi = lo + kChunk < n ? lo + kChunk : n;
    f(lo, hi);
  }
}

}  // namespace

void fill(Tensor& t, double value) {
  int64_t n = t.numel();
  switch (t.dtype) {
    case DType::F32: {
      float* p = t.ptr<float>();
      float v = static_cast<float>(value);
      parallel_chunks(n, [&](int64_t lo, int64_t hi) { for (int64_t i = lo; i < hi; ++i) p[i] = v; });
      break;
    }
    case DType::BF16: {
      uint16_t* p = t.ptr<uint16_t>();
      uint16_t v = f32_to_bf16(static_cast<float>(value));
      parallel_chunks(n, [&](int64_t lo, int64_t hi) { for (int64_t i = lo; i < hi; ++i) p[i] = v; });
      break;
    }
    case DType::I32: {
      int32_t* p = t.ptr<int32_t>();
      int32_t v = static_cast<int32_t>(value);
      parallel_chunks(n, [&](int64_t lo, int64_t hi) { for (int64_t i = lo; i < hi; ++i) p[i] = v; });
      break;
    }
    case DType::U8: {
      std::memset(t.raw(), static_cast<int>(static_cast<uint8_t>(value)), static_cast<size_t>(n));
      break;
    }
  }
}

void randn(Tensor& t, uint64_t seed, double mean, double stddev) {
  int64_t n = t.numel();
  int64_t pairs = (n + 1) / 2;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  bool bf = t.dtype == DType::BF16;
  float* pf = bf ? nullptr : t.ptr<float>();
  uint16_t* ph = bf ? t.ptr<uint16_t>() : nullptr;
#pragma omp parallel for schedule(static) if (pairs > 4096)
  for (int64_t p = 0; p < pairs; ++p) {
    U32x4 r = philox4x32_10(U32x4{static_cast<uint32_t>(p), static_cast<uint32_t>(p >> 32), 0x6d74726cu, 0u}, k0, k1);
    double u1 = u64_to_unit_open0(r.x, r.y), u2 = u64_to_unit_open0(r.z, r.w);
    double rad = std::sqrt(-2.0 * std::log(u1)), th = 6.283185307179586 * u2;
    double z[2] = {rad * std::cos(th), rad * std::sin(th)};
    for (int j = 0; j < 2; ++j) {
      int64_t i = 2 * p + j;
      if (i >= n) break;
      float v = static_cast<float>(mean + stddev * z[j]);
      if (bf) ph[i] = f32_to_bf16(v);
      else pf[i] = v;
    }
  }
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  int64_t n = a.numel();
  if (a.dtype == DType::F32) {
    const float *pa = a.ptr<float>(), *pb = b.ptr<float>();
    float* po = out.ptr<float>();
    SimdLevel lvl = simd_level();
    parallel_chunks(n, [&](int64_t lo, int64_t hi) {
      if (lvl == SimdLevel::AVX512) binary_f32_avx512(op, pa + lo, pb + lo, po + lo, hi - lo);
      else if (lvl == SimdLevel::AVX2) binary_f32_avx2(op, pa + lo, pb + lo, po + lo, hi - lo);
      else binary_f32_scalar(op, pa + lo, pb + lo, po + lo, hi - lo);
    });
  } else {
    const uint16_t *pa = a.ptr<uint16_t>(), *pb = b.ptr<uint16_t>();
    uint16_t* po = out.ptr<uint16_t>();
    parallel_chunks(n, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        float x = bf16_to_f32(pa[i]), y = bf16_to_f32(pb[i]);
        float r = op == BinaryOp::Add ? x + y : op == BinaryOp::Sub ? x - y : x * y;
        po[i] = f32_to_bf16(r);
      }
    });
  }
}

void scale(const Tensor& a, double alpha, double beta, Tensor& out) {
  int64_t n = a.numel();
  float al = static_cast<float>(alpha), be = static_cast<float>(beta);
  if (a.dtype == DType::F32) {
    const float* pa = a.ptr<float>();
    float* po = out.ptr<float>();
    SimdLevel lvl = simd_level();
    parallel_chunks(n, [&](int64_t lo, int64_t hi) {
      if (lvl == SimdLevel::AVX512) scale_f32_avx512(pa + lo, al, be, po + lo, hi - lo);
      else if (lvl == SimdLevel::AVX2) scale_f32_avx2(pa + lo, al, be, po + lo, hi - lo);
      else scale_f32_scalar(pa + lo, al, be, po + lo, hi - lo);
    });
  } else {
    const uint16_t* pa = a.ptr<uint16_t>();
    uint16_t* po = out.ptr<uint16_t>();
    parallel_chunks(n, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) po[i] = f32_to_bf16(al * bf16_to_f32(pa[i]) + be);
    });
  }
}

namespace {
float load_as_f32(const Tensor& t, int64_t i) {
  switch (t.dtype) {
    case DType::F32: return t.ptr<float>()[i];
    case DType::BF16: return bf16_to_f32(t.ptr<uint16_t>()[i]);
    case DType::I32: return static_cast<float>(t.ptr<int32_t>()[i]);
    case DType::U8: return static_cast<float>(t.ptr<uint8_t>()[i]);
  }
  return 0.0f;
}
}  // namespace

void cast(const Tensor& src, Tensor& dst) {
  int64_t n = src.numel();
  if (src.dtype == dst.dtype) {
    std::memmove(dst.raw(), src.raw(), src.nbytes());
    return;
  }
  parallel_chunks(n, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      if (src.dtype == DType::I32 && dst.dtype != DType::F32 && dst.dtype != DType::BF16) {
        int32_t v = src.ptr<int32_t>()[i];
        if (dst.dtype == DType::U8) dst.ptr<uint8_t>()[i] = static_cast<uint8_t>(v);
        continue;
      }
      float v = load_as_f32(src, i);
      switch (dst.dtype) {
        case DType::F32: dst.ptr<float>()[i] = v; break;
        case DType::BF16: dst.ptr<uint16_t>()[i] = f32_to_bf16(v); break;
        case DType::I32: dst.ptr<int32_t>()[i] = std::isfinite(v) ? static_cast<int32_t>(v) : 0; break;
        case DType::U8: dst.ptr<uint8_t>()[i] = static_cast<uint8_t>(std::isfinite(v) ? (v < 0 ? 0 : v > 255 ? 255 : v) : 0); break;
      }
    }
  });
}

void matmul_reference(const Tensor& a, const Tensor& b, Tensor& out, const MatmulParams& p, int64_t batch, int64_t m,
                      int64_t n, int64_t k, bool broadcast_b) {
  const float* A = a.ptr<float>();
  const float* B = b.ptr<float>();
  float* C = out.ptr<float>();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t bi = 0; bi < batch; ++bi) {
    for (int64_t i = 0; i < m; ++i) {
      const float* Ab = A + bi * m * k;
      const float* Bb = B + (broadcast_b ? 0 : bi * k * n);
      float* Cb = C + bi * m * n;
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0.0;
        for (int64_t kk = 0; kk < k; ++kk) {
          float x = p.trans_a ? Ab[kk * m + i] : Ab[i * k + kk];
          float y = p.trans_b ? Bb[j * k + kk] : Bb[kk * n + j];
          acc += static_cast<double>(x) * y;
        }
        float prev = p.beta != 0.0f ? Cb[i * n + j] : 0.0f;
        Cb[i * n + j] = static_cast<float>(p.alpha * acc + (p.beta != 0.0f ? p.beta * prev : 0.0f));
      }
    }
  }
}

}  // namespace mtrl::cpu
