// Argument checks and device dispatch for the Tensor-level GEMM (matmul): shapes, dtypes, devices,
// aliasing, then the CPU or CUDA strided-batched kernel.
#include "mtrl/gemm.h"

#include <cmath>
#include <string>

#include "mtrl/check.h"
#include "mtrl/runtime.h"

namespace mtrl {

GemmShape gemm_check(const Tensor& a, const Tensor& b, const GemmParams& p, const char* fn, std::vector<int64_t>* out_shape) {
  check_float(a, fn, "a");
  check_float(b, fn, "b");
  check_same_device(a, b, fn, "a", "b");
  if (a.dtype != b.dtype)
    throw_type_error(std::string(fn) + ": a and b must share one dtype, got " + dtype_name(a.dtype) + " and " + dtype_name(b.dtype));
  if (a.ndim() < 2)
    throw_range_error(std::string(fn) + ": a must have at least 2 dims " + (p.trans_a ? "(..., K, M)" : "(..., M, K)") + ", got " +
                      shape_str(a.shape));
  if (b.ndim() < 2)
    throw_range_error(std::string(fn) + ": b must have at least 2 dims " + (p.trans_b ? "(..., N, K)" : "(..., K, N)") + ", got " +
                      shape_str(b.shape));
  GemmShape s;
  s.m = p.trans_a ? a.dim(-1) : a.dim(-2);
  s.k = p.trans_a ? a.dim(-2) : a.dim(-1);
  int64_t kb = p.trans_b ? b.dim(-1) : b.dim(-2);
  s.n = p.trans_b ? b.dim(-2) : b.dim(-1);
  if (s.k != kb)
    throw_range_error(std::string(fn) + ": inner dimensions differ: a " + shape_str(a.shape) + (p.trans_a ? " (transA)" : "") +
                      " has K=" + std::to_string(s.k) + " but b " + shape_str(b.shape) + (p.trans_b ? " (transB)" : "") +
                      " has K=" + std::to_string(kb));
  std::vector<int64_t> batch_a(a.shape.begin(), a.shape.end() - 2), batch_b(b.shape.begin(), b.shape.end() - 2);
  s.broadcast_b = batch_b.empty();
  if (!s.broadcast_b && batch_a != batch_b)
    throw_range_error(std::string(fn) + ": batch dims of a " + shape_str(batch_a) + " and b " + shape_str(batch_b) +
                      " differ (b may also be a single matrix shared by the batch)");
  for (int64_t d : batch_a) s.batch *= d;
  if (out_shape) {
    *out_shape = batch_a;
    out_shape->push_back(s.m);
    out_shape->push_back(s.n);
  }
  return s;
}

void gemm(const Tensor& a, const Tensor& b, Tensor& out, const GemmParams& p, const char* fn) {
  std::vector<int64_t> want;
  GemmShape s = gemm_check(a, b, p, fn, &want);
  check_defined(out, fn, "out");
  check_same_device(a, out, fn, "a", "out");
  if (out.dtype != a.dtype)
    throw_type_error(std::string(fn) + ": out must have dtype " + dtype_name(a.dtype) + " (the dtype of a and b), got " +
                     dtype_name(out.dtype));
  if (out.shape != want)
    throw_range_error(std::string(fn) + ": out must have shape " + shape_str(want) + ", got " + shape_str(out.shape));
  if (out.numel() > 0 && (out.raw() == a.raw() || out.raw() == b.raw()))
    throw_range_error(std::string(fn) + ": out must not share memory with a or b");
  if (!std::isfinite(p.alpha) || !std::isfinite(p.beta))
    throw_range_error(std::string(fn) + ": alpha and beta must be finite, got " + std::to_string(p.alpha) + " and " +
                      std::to_string(p.beta));
  if (out.numel() == 0) return;
  const int64_t lda = p.trans_a ? s.m : s.k, ldb = p.trans_b ? s.k : s.n, ldc = s.n;
  const int64_t sa = s.m * s.k, sb = s.broadcast_b ? 0 : s.k * s.n, sc = s.m * s.n;
  if (a.device().is_cpu()) {
    if (a.dtype == DType::F32)
      cpu::sgemm_strided_batched(p.trans_a, p.trans_b, s.m, s.n, s.k, p.alpha, a.ptr<float>(), lda, sa, b.ptr<float>(), ldb, sb,
                                 p.beta, out.ptr<float>(), ldc, sc, s.batch);
    else
      cpu::bgemm_strided_batched(p.trans_a, p.trans_b, s.m, s.n, s.k, p.alpha, a.ptr<uint16_t>(), lda, sa, b.ptr<uint16_t>(), ldb,
                                 sb, p.beta, out.ptr<uint16_t>(), ldc, sc, s.batch);
    return;
  }
  cuda_rt::require_device(a.device().index, fn);
#ifdef MTRL_WITH_CUDA
  cuda::gemm_tensor(a, b, out, p, s);
#endif
}

}  // namespace mtrl
