// Node-API entry for the fast GEMM: matmul(a, b, out?, {transA, transB, alpha, beta}) and the name
// of the CPU micro-kernel in use (for benchmarks and bug reports).
#include "args.h"
#include "mtrl/gemm.h"
#include "registry.h"

namespace mtrl::napi {
namespace {

MTRL_NAPI_FN(Matmul) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "matmul";
    Tensor a = get_tensor(info[0], fn, "a");
    Tensor b = get_tensor(info[1], fn, "b");
    std::optional<Tensor> out = get_optional_tensor(info[2], fn, "out");
    Napi::Object o = get_options(info, 3, fn);
    GemmParams p;
    p.trans_a = opt_bool(o, "transA", false, fn);
    p.trans_b = opt_bool(o, "transB", false, fn);
    p.alpha = static_cast<float>(opt_number(o, "alpha", 1.0, fn));
    p.beta = static_cast<float>(opt_number(o, "beta", 0.0, fn));
    if (out) {
      gemm(a, b, *out, p, fn);
      return info[2];
    }
    if (p.beta != 0.0f)
      throw_range_error(std::string(fn) + ": beta = " + std::to_string(p.beta) +
                        " needs out (the tensor to accumulate into); without out the result is alpha * op(a) op(b)");
    std::vector<int64_t> shape;
    gemm_check(a, b, p, fn, &shape);
    Tensor res = empty(shape, a.dtype, a.device());
    gemm(a, b, res, p, fn);
    return wrap(info.Env(), res);
  });
}

MTRL_NAPI_FN(GemmKernelName) {
  return Napi::String::New(info.Env(), cpu::sgemm_kernel_name());
}

void init(Napi::Env env, Napi::Object exports) {
  exports.Set("matmul", Napi::Function::New(env, Matmul, "matmul"));
  exports.Set("gemmKernelName", Napi::Function::New(env, GemmKernelName, "gemmKernelName"));
}

}  // namespace

MTRL_NAPI_MODULE(gemm, init);

}  // namespace mtrl::napi
