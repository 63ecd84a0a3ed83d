// Elementwise ops, fills, random init and a reference matmul: the small set that proves the
// Tensor path end to end on every device. Entry points check their arguments and dispatch on device.
#pragma once
#include <cstdint>
#include "mtrl/tensor.h"

namespace mtrl {

void fill(Tensor& t, double value);
// Standard normal numbers from Philox4x32-10 keyed by seed: element i uses counter i/2 and the
// Box-Muller pair, so CPU and CUDA produce the same values for the same seed.
void randn(Tensor& t, uint64_t seed, double mean, double stddev);

enum class BinaryOp { Add, Mul, Sub };
// out = a (op) b, same shape and dtype (f32 or bf16); out may alias a or b.
void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out, const char* fn);
// out = alpha * a + beta
void scale(const Tensor& a, double alpha, double beta, Tensor& out);
// Converts between dtypes on the same device (f32 <-> bf16, i32/u8 -> f32, f32 -> i32 truncating).
void cast(const Tensor& src, Tensor& dst);

struct MatmulParams {
  bool trans_a = false, trans_b = false;
  float alpha = 1.0f, beta = 0.0f;
};
// Reference (correct, unblocked) batched matmul: a (..., M, K), b (..., K, N) -> out (..., M, N);
// batch dims of a and b must match, or b has none (broadcast).
void matmul_reference(const Tensor& a, const Tensor& b, Tensor& out, const MatmulParams& p);

namespace cpu {
void fill(Tensor& t, double value);
void randn(Tensor& t, uint64_t seed, double mean, double stddev);
void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out);
void scale(const Tensor& a, double alpha, double beta, Tensor& out);
void cast(const Tensor& src, Tensor& dst);
void matmul_reference(const Tensor& a, const Tensor& b, Tensor& out, const MatmulParams& p, int64_t batch, int64_t m,
                      int64_t n, int64_t k, bool broadcast_b);
}  // namespace cpu

#ifdef MTRL_WITH_CUDA
namespace cuda {
void fill(Tensor& t, double value);
void randn(Tensor& t, uint64_t seed, double mean, double stddev);
void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out);
void scale(const Tensor& a, double alpha, double beta, Tensor& out);
void cast(const Tensor& src, Tensor& dst);
void matmul_reference(const Tensor& a, const Tensor& b, Tensor& out, const MatmulParams& p, int64_t batch, int64_t m,
                      int64_t n, int64_t k, bool broadcast_b);
}  // namespace cuda
#endif

}  // namespace mtrl
