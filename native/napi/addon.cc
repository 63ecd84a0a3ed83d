// Module entry point: defines the Tensor handle class, then lets every registered family add its
// functions.
#include <napi.h>

#include <utility>
#include <vector>

#include "registry.h"
#include "tensor_wrap.h"

namespace mtrl::napi {
namespace {
std::vector<std::pair<const char*, InitFn>>& registry() {
  static std::vector<std::pair<const char*, InitFn>> r;
  return r;
}
}  // namespace

Registrar::Registrar(const char* name, InitFn fn) { registry().emplace_back(name, fn); }

void init_all(Napi::Env env, Napi::Object exports) {
  for (auto& [name, fn] : registry()) fn(env, exports);
}

}  // namespace mtrl::napi

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeTensor", mtrl::napi::TensorWrap::Define(env));
  mtrl::napi::init_all(env, exports);
  return exports;
}

NODE_API_MODULE(mtrl, InitAddon)
