// Device dispatch and argument checks for the elementwise ops, fill, randn, cast and the
// reference matmul.
#include "mtrl/ops.h"

#include "mtrl/check.h"
#include "mtrl/runtime.h"

namespace mtrl {

#ifdef MTRL_WITH_CUDA
#define MTRL_DISPATCH(dev, fn, ...)                  \
  do {                                               \
    if ((dev).is_cpu()) cpu::fn(__VA_ARGS__);        \
    else {                                           \
      cuda_rt::require_device((dev).index, #fn);     \
      cuda::fn(__VA_ARGS__);                         \
    }                                                \
  } while (0)
#else
#define MTRL_DISPATCH(dev, fn, ...)                  \
  do {                                               \
    if ((dev).is_cpu()) cpu::fn(__VA_ARGS__);        \
    else cuda_rt::require_device((dev).index, #fn);  \
  } while (0)
#endif

void fill(Tensor& t, double value) {
  check_defined(t, "fill", "tensor");
  MTRL_DISPATCH(t.device(), fill, t, value);
}

void randn(Tensor& t, uint64_t seed, double mean, double stddev) {
  check_float(t, "randn", "tensor");
  MTRL_DISPATCH(t.device(), randn, t, seed, mean, stddev);
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out, const char* fn) {
  check_float(a, fn, "a");
  check_float(b, fn, "b");
  check_defined(out, fn, "out");
  check_same_device(a, b, fn, "a", "b");
  check_same_device(a, out, fn, "a", "out");
  check_same_shape(a, b, fn, "a", "b");
  check_same_shape(a, out, fn, "a", "out");
  if (a.dtype != b.dtype || a.dtype != out.dtype)
    throw_type_error(std::string(fn) + ": a, b and out must share one dtype, got " + dtype_name(a.dtype) + ", " +
                     dtype_name(b.dtype) + ", " + dtype_name(out.dtype));
  MTRL_DISPATCH(a.device(), binary, op, a, b, out);
}

void scale(const Tensor& a, double alpha, double beta, Tensor& out) {
  check_float(a, "scale", "a");
  check_dtype(out, a.dtype, "scale", "out");
  check_same_device(a, out, "scale", "a", "out");
  check_same_shape(a, out, "scale", "a", "out");
  MTRL_DISPATCH(a.device(), scale, a, alpha, beta, out);
}

void cast(const Tensor& src, Tensor& dst) {
  check_defined(src, "cast", "src");
  check_defined(dst, "cast", "dst");
  check_same_device(src, dst, "cast", "src", "dst");
  if (src.numel() != dst.numel()) throw_range_error("cast: dst must have " + std::to_string(src.numel()) + " elements");
  MTRL_DISPATCH(src.device(), cast, src, dst);
}

void matmul_reference(const Tensor& a, const Tensor& b, Tensor& out, const MatmulParams& p) {
  const char* fn = "matmulReference";
  check_dtype(a, DType::F32, fn, "a");
  check_dtype(b, DType::F32, fn, "b");
  check_dtype(out, DType::F32, fn, "out");
  check_same_device(a, b, fn, "a", "b");
  check_same_device(a, out, fn, "a", "out");
  if (a.ndim() < 2) throw_range_error(std::string(fn) + ": a must have at least 2 dims (..., M, K), got " + shape_str(a.shape));
  if (b.ndim() < 2) throw_range_error(std::string(fn) + ": b must have at least 2 dims (..., K, N), got " + shape_str(b.shape));
  int64_t m = p.trans_a ? a.dim(-1) : a.dim(-2);
  int64_t k = p.trans_a ? a.dim(-2) : a.dim(-1);
  int64_t kb = p.trans_b ? b.dim(-1) : b.dim(-2);
  int64_t n = p.trans_b ? b.dim(-2) : b.dim(-1);
  if (k != kb)
    throw_range_error(std::string(fn) + ": inner dimensions differ: a " + shape_str(a.shape) + (p.trans_a ? "ᵀ" : "") +
                      " has K=" + std::to_string(k) + " but b " + shape_str(b.shape) + (p.trans_b ? "ᵀ" : "") +
                      " has K=" + std::to_string(kb));
  std::vector<int64_t> batch_a(a.shape.begin(), a.shape.end() - 2), batch_b(b.shape.begin(), b.shape.end() - 2);
  bool broadcast_b = batch_b.empty();
  if (!broadcast_b && batch_a != batch_b)
    throw_range_error(std::string(fn) + ": batch dims of a " + shape_str(batch_a) + " and b " + shape_str(batch_b) + " differ");
  std::vector<int64_t> want = batch_a;
  want.push_back(m);
  want.push_back(n);
  if (out.shape != want) throw_range_error(std::string(fn) + ": out must have shape " + shape_str(want) + ", got " + shape_str(out.shape));
  int64_t batch = 1;
  for (int64_t d : batch_a) batch *= d;
  MTRL_DISPATCH(a.device(), matmul_reference, a, b, out, p, batch, m, n, k, broadcast_b);
}

}  // namespace mtrl
