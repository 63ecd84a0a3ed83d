// Each Node-API file registers its exports with MTRL_NAPI_MODULE(name, init) so adding a kernel
// family never means editing a central list.
#pragma once
#include <napi.h>

namespace mtrl::napi {

using InitFn = void (*)(Napi::Env env, Napi::Object exports);

struct Registrar {
  Registrar(const char* name, InitFn fn);
};

void init_all(Napi::Env env, Napi::Object exports);

}  // namespace mtrl::napi

#define MTRL_NAPI_MODULE(name, fn) static ::mtrl::napi::Registrar mtrl_napi_registrar_##name(#name, fn)
