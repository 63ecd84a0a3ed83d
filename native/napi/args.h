// Argument conversion and checks for Node-API entry points. Every message names the function and
// the argument and says what was expected; nothing here lets bad input reach a kernel.
#pragma once
#include <napi.h>

#include <optional>
#include <string>
#include <vector>

#include "mtrl/tensor.h"

namespace mtrl::napi {

// Runs an entry point, turning mtrl::Error (and std exceptions) into TypeError/RangeError/Error.
Napi::Value guarded(const Napi::CallbackInfo& info, const std::function<Napi::Value()>& body);
#define MTRL_NAPI_FN(name) Napi::Value name(const Napi::CallbackInfo& info)

Tensor get_tensor(const Napi::Value& v, const char* fn, const char* arg);
std::optional<Tensor> get_optional_tensor(const Napi::Value& v, const char* fn, const char* arg);
Napi::Object get_options(const Napi::CallbackInfo& info, size_t index, const char* fn);

std::vector<int64_t> get_shape(const Napi::Value& v, const char* fn, const char* arg);
DType get_dtype(const Napi::Value& v, const char* fn, const char* arg);
Device get_device(const Napi::Value& v, const char* fn, const char* arg);
Device parse_device(const std::string& s, const char* fn, const char* arg);

double get_number(const Napi::Value& v, const char* fn, const char* arg);
double opt_number(const Napi::Object& o, const char* key, double dflt, const char* fn);
int64_t opt_integer(const Napi::Object& o, const char* key, int64_t dflt, const char* fn);
bool opt_bool(const Napi::Object& o, const char* key, bool dflt, const char* fn);
std::string opt_string(const Napi::Object& o, const char* key, const std::string& dflt, const char* fn);
std::optional<Tensor> opt_tensor(const Napi::Object& o, const char* key, const char* fn);

Napi::Value wrap(Napi::Env env, Tensor t);

}  // namespace mtrl::napi
