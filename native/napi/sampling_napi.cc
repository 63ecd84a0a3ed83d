// Node-API entry points for token sampling, the sort-based reference, log-softmax and logprob
// gathering. Only converts JS values (numbers, per-row arrays, tensors) into SampleOptions; every
// range check and the device dispatch happen in native/core/sampling.cc.
#include <cstring>

#include "args.h"
#include "mtrl/sampling.h"
#include "registry.h"
#include "tensor_wrap.h"

namespace mtrl::napi {
namespace {

std::string js_kind(const Napi::Value& v) {
  if (v.IsNull()) return "null";
  if (v.IsString()) return "string";
  if (v.IsBoolean()) return "boolean";
  if (v.IsArray()) return "array";
  if (v.IsTypedArray()) return "typed array";
  return v.IsObject() ? "object" : "value";
}

// A per-row option: undefined (empty = default), a number (one value for every row), or an array /
// typed array of numbers (one per row; the core checks the length).
std::vector<double> per_row(const Napi::Object& o, const char* key, const char* fn) {
  Napi::Value v = o.Get(key);
  std::vector<double> out;
  if (v.IsUndefined()) return out;
  if (v.IsNumber()) {
    out.push_back(v.As<Napi::Number>().DoubleValue());
    return out;
  }
  if (v.IsArray()) {
    Napi::Array a = v.As<Napi::Array>();
    out.reserve(a.Length());
    for (uint32_t i = 0; i < a.Length(); ++i) {
      Napi::Value e = a.Get(i);
      if (!e.IsNumber())
        throw_type_error(std::string(fn) + ": " + key + "[" + std::to_string(i) + "] must be a number, got " + js_kind(e));
      out.push_back(e.As<Napi::Number>().DoubleValue());
    }
    return out;
  }
  if (v.IsTypedArray()) {
    Napi::TypedArray t = v.As<Napi::TypedArray>();
    const uint8_t* base = static_cast<const uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset();
    size_t n = t.ElementLength();
    out.resize(n);
    switch (t.TypedArrayType()) {
      case napi_float64_array: for (size_t i = 0; i < n; ++i) out[i] = reinterpret_cast<const double*>(base)[i]; break;
      case napi_float32_array: for (size_t i = 0; i < n; ++i) out[i] = reinterpret_cast<const float*>(base)[i]; break;
      case napi_int32_array: for (size_t i = 0; i < n; ++i) out[i] = reinterpret_cast<const int32_t*>(base)[i]; break;
      case napi_uint32_array: for (size_t i = 0; i < n; ++i) out[i] = reinterpret_cast<const uint32_t*>(base)[i]; break;
      default:
        throw_type_error(std::string(fn) + ": " + key + " must be a number or an array / Float64Array / Float32Array / Int32Array");
    }
    return out;
  }
  throw_type_error(std::string(fn) + ": " + key + " must be a number or an array with one number per row, got " + js_kind(v));
}

double scalar_option(const Napi::Object& o, const char* key, double dflt, const char* fn) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  if (!v.IsNumber()) throw_type_error(std::string(fn) + ": " + key + " must be a number, got " + js_kind(v));
  return v.As<Napi::Number>().DoubleValue();
}

const char* const kKnown[] = {"temperature", "topK", "topP", "minP", "repetitionPenalty", "presencePenalty", "frequencyPenalty",
                              "history", "seed", "offset", "rowIds"};

SampleOptions parse_options(const Napi::Object& o, const char* fn) {
  // A misspelt option would silently sample from the wrong distribution: reject unknown keys.
  Napi::Array keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    std::string k = keys.Get(i).ToString().Utf8Value();
    bool ok = false;
    for (const char* known : kKnown) ok = ok || k == known;
    if (!ok)
      throw_type_error(std::string(fn) + ": unknown option '" + k +
                       "' (expected temperature, topK, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty, history, "
                       "seed, offset, rowIds)");
  }
  SampleOptions s;
  s.temperature = per_row(o, "temperature", fn);
  s.top_k = per_row(o, "topK", fn);
  s.top_p = per_row(o, "topP", fn);
  s.min_p = per_row(o, "minP", fn);
  s.repetition_penalty = per_row(o, "repetitionPenalty", fn);
  s.presence_penalty = per_row(o, "presencePenalty", fn);
  s.frequency_penalty = per_row(o, "frequencyPenalty", fn);
  s.row_ids = per_row(o, "rowIds", fn);
  if (o.Get("rowIds").IsNumber()) throw_type_error(std::string(fn) + ": rowIds must be an array with one id per row");
  s.seed = scalar_option(o, "seed", 0, fn);
  s.offset = scalar_option(o, "offset", 0, fn);
  return s;
}

Napi::Value result_object(Napi::Env env, const SampleResult& r) {
  size_t b = r.tokens.size();
  Napi::Int32Array tokens = Napi::Int32Array::New(env, b);
  Napi::Float32Array lp = Napi::Float32Array::New(env, b);
  Napi::Float32Array raw = Napi::Float32Array::New(env, b);
  if (b) {
    std::memcpy(tokens.Data(), r.tokens.data(), b * 4);
    std::memcpy(lp.Data(), r.logprobs.data(), b * 4);
    std::memcpy(raw.Data(), r.raw_logprobs.data(), b * 4);
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("tokens", tokens);
  o.Set("logprobs", lp);
  o.Set("rawLogprobs", raw);
  return o;
}

Napi::Value sample_entry(const Napi::CallbackInfo& info, bool reference) {
  const char* fn = reference ? "sampleTokensSortReference" : "sampleTokens";
  return guarded(info, [&]() -> Napi::Value {
    Tensor logits = get_tensor(info[0], fn, "logits");
    Napi::Object o = get_options(info, 1, fn);
    SampleOptions opts = parse_options(o, fn);
    std::optional<Tensor> history = opt_tensor(o, "history", fn);
    SampleResult res;
    if (reference) sample_tokens_sort_reference(logits, history ? &*history : nullptr, opts, res);
    else sample_tokens(logits, history ? &*history : nullptr, opts, res);
    return result_object(info.Env(), res);
  });
}

MTRL_NAPI_FN(SampleTokens) { return sample_entry(info, false); }
MTRL_NAPI_FN(SampleTokensSortReference) { return sample_entry(info, true); }

// logSoftmax(logits) -> new f32 tensor of the same shape and device.
MTRL_NAPI_FN(LogSoftmax) {
  return guarded(info, [&]() -> Napi::Value {
    Tensor logits = get_tensor(info[0], "logSoftmax", "logits");
    Tensor out = empty(logits.shape, DType::F32, logits.device());
    log_softmax(logits, out);
    return wrap(info.Env(), out);
  });
}

// gatherLogprobs(logits, tokens: Int32Array | number[] | i32 Tensor) -> Float32Array
MTRL_NAPI_FN(GatherLogprobs) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "gatherLogprobs";
    Tensor logits = get_tensor(info[0], fn, "logits");
    std::vector<int32_t> tokens;
    Napi::Value tv = info[1];
    if (TensorWrap::IsTensor(info.Env(), tv)) {
      Tensor t = get_tensor(tv, fn, "tokens");
      if (t.dtype != DType::I32) throw_type_error(std::string(fn) + ": tokens must have dtype i32, got " + dtype_name(t.dtype));
      Tensor host = t.device().is_cpu() ? t : to_device(t, Device{});
      tokens.assign(host.ptr<int32_t>(), host.ptr<int32_t>() + host.numel());
    } else if (tv.IsTypedArray() && tv.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
      Napi::Int32Array a = tv.As<Napi::Int32Array>();
      tokens.assign(a.Data(), a.Data() + a.ElementLength());
    } else if (tv.IsArray()) {
      Napi::Array a = tv.As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); ++i) {
        Napi::Value e = a.Get(i);
        double d = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : -1.5;
        if (!e.IsNumber() || d != static_cast<double>(static_cast<int32_t>(d)))
          throw_type_error(std::string(fn) + ": tokens[" + std::to_string(i) + "] must be an integer token id");
        tokens.push_back(static_cast<int32_t>(d));
      }
    } else {
      throw_type_error(std::string(fn) + ": tokens must be an Int32Array, an array of integers or an i32 Tensor, got " + js_kind(tv));
    }
    std::vector<float> out;
    gather_logprobs(logits, tokens, out);
    Napi::Float32Array res = Napi::Float32Array::New(info.Env(), out.size());
    if (!out.empty()) std::memcpy(res.Data(), out.data(), out.size() * 4);
    return res;
  });
}

void init(Napi::Env env, Napi::Object exports) {
  exports.Set("sampleTokens", Napi::Function::New(env, SampleTokens, "sampleTokens"));
  exports.Set("sampleTokensSortReference", Napi::Function::New(env, SampleTokensSortReference, "sampleTokensSortReference"));
  exports.Set("logSoftmax", Napi::Function::New(env, LogSoftmax, "logSoftmax"));
  exports.Set("gatherLogprobs", Napi::Function::New(env, GatherLogprobs, "gatherLogprobs"));
}

}  // namespace

MTRL_NAPI_MODULE(sampling, init);

}  // namespace mtrl::napi
