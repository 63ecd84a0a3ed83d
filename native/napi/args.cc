// Argument conversion and checks for Node-API entry points.
#include "args.h"

#include <cmath>
#include <new>

#include "tensor_wrap.h"

namespace mtrl::napi {
namespace {
std::string describe_js(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsNumber()) return "number " + std::to_string(v.As<Napi::Number>().DoubleValue());
  if (v.IsString()) return "string '" + v.As<Napi::String>().Utf8Value() + "'";
  if (v.IsBoolean()) return "boolean";
  if (v.IsArray()) return "array";
  if (v.IsTypedArray()) return "typed array";
  if (v.IsFunction()) return "function";
  return "object";
}
}  // namespace

Napi::Value guarded(const Napi::CallbackInfo& info, const std::function<Napi::Value()>& body) {
  Napi::Env env = info.Env();
  try {
    return body();
  } catch (const Error& e) {
    switch (e.kind) {
      case ErrorKind::Type: throw Napi::TypeError::New(env, e.what());
      case ErrorKind::Range: throw Napi::RangeError::New(env, e.what());
      default: throw Napi::Error::New(env, e.what());
    }
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw Napi::RangeError::New(env, "out of memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

Tensor get_tensor(const Napi::Value& v, const char* fn, const char* arg) {
  Napi::Env env = v.Env();
  if (!TensorWrap::IsTensor(env, v))
    throw_type_error(std::string(fn) + ": " + arg + " must be a Tensor, got " + describe_js(v));
  TensorWrap* w = TensorWrap::Unwrap(v.As<Napi::Object>());
  if (w->disposed) throw_error(std::string(fn) + ": " + arg + " was disposed; a tensor cannot be used after dispose()");
  return w->tensor;
}

std::optional<Tensor> get_optional_tensor(const Napi::Value& v, const char* fn, const char* arg) {
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  return get_tensor(v, fn, arg);
}

Napi::Object get_options(const Napi::CallbackInfo& info, size_t index, const char* fn) {
  if (info.Length() <= index || info[index].IsUndefined() || info[index].IsNull()) return Napi::Object::New(info.Env());
  if (!info[index].IsObject() || info[index].IsArray())
    throw_type_error(std::string(fn) + ": options must be an object, got " + describe_js(info[index]));
  return info[index].As<Napi::Object>();
}

std::vector<int64_t> get_shape(const Napi::Value& v, const char* fn, const char* arg) {
  if (!v.IsArray()) throw_type_error(std::string(fn) + ": " + arg + " must be an array of non-negative integers, got " + describe_js(v));
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int64_t> shape;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value d = a.Get(i);
    if (!d.IsNumber()) throw_type_error(std::string(fn) + ": " + arg + "[" + std::to_string(i) + "] must be a non-negative integer, got " + describe_js(d));
    double x = d.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(x) || x < 0 || std::floor(x) != x || x > 9007199254740991.0)
      throw_range_error(std::string(fn) + ": " + arg + "[" + std::to_string(i) + "] must be a non-negative integer, got " + describe_js(d));
    shape.push_back(static_cast<int64_t>(x));
  }
  return shape;
}

DType get_dtype(const Napi::Value& v, const char* fn, const char* arg) {
  std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (s == "f32") return DType::F32;
  if (s == "bf16") return DType::BF16;
  if (s == "i32") return DType::I32;
  if (s == "u8") return DType::U8;
  throw_type_error(std::string(fn) + ": " + arg + " must be one of 'f32', 'bf16', 'i32', 'u8', got " + describe_js(v));
}

Device parse_device(const std::string& s, const char* fn, const char* arg) {
  if (s == "cpu") return Device{};
  if (s == "cuda") return Device{Device::CUDA, 0};
  if (s.rfind("cuda:", 0) == 0 && s.size() > 5 && s.size() < 9) {
    int idx = 0;
    for (size_t i = 5; i < s.size(); ++i) {
      if (s[i] < '0' || s[i] > '9') idx = -1;
      if (idx >= 0) idx = idx * 10 + (s[i] - '0');
    }
    if (idx >= 0) return Device{Device::CUDA, idx};
  }
  throw_type_error(std::string(fn) + ": " + arg + " must be 'cpu', 'cuda' or 'cuda:N', got '" + s + "'");
}

Device get_device(const Napi::Value& v, const char* fn, const char* arg) {
  if (v.IsUndefined()) return Device{};
  if (!v.IsString()) throw_type_error(std::string(fn) + ": " + arg + " must be 'cpu', 'cuda' or 'cuda:N', got " + describe_js(v));
  return parse_device(v.As<Napi::String>().Utf8Value(), fn, arg);
}

double get_number(const Napi::Value& v, const char* fn, const char* arg) {
  if (!v.IsNumber()) throw_type_error(std::string(fn) + ": " + arg + " must be a number, got " + describe_js(v));
  return v.As<Napi::Number>().DoubleValue();
}

double opt_number(const Napi::Object& o, const char* key, double dflt, const char* fn) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  double x = get_number(v, fn, key);
  if (std::isnan(x)) throw_range_error(std::string(fn) + ": " + key + " must not be NaN");
  return x;
}

int64_t opt_integer(const Napi::Object& o, const char* key, int64_t dflt, const char* fn) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  double x = get_number(v, fn, key);
  if (!std::isfinite(x) || std::floor(x) != x || std::fabs(x) > 9007199254740991.0)
    throw_range_error(std::string(fn) + ": " + key + " must be an integer, got " + describe_js(v));
  return static_cast<int64_t>(x);
}

bool opt_bool(const Napi::Object& o, const char* key, bool dflt, const char* fn) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  if (!v.IsBoolean()) throw_type_error(std::string(fn) + ": " + key + " must be a boolean, got " + describe_js(v));
  return v.As<Napi::Boolean>().Value();
}

std::string opt_string(const Napi::Object& o, const char* key, const std::string& dflt, const char* fn) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  if (!v.IsString()) throw_type_error(std::string(fn) + ": " + key + " must be a string, got " + describe_js(v));
  return v.As<Napi::String>().Utf8Value();
}

std::optional<Tensor> opt_tensor(const Napi::Object& o, const char* key, const char* fn) {
  return get_optional_tensor(o.Get(key), fn, key);
}

Napi::Value wrap(Napi::Env env, Tensor t) { return TensorWrap::Wrap(env, std::move(t)); }

}  // namespace mtrl::napi
