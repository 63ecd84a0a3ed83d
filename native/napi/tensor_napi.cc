// Node-API entry points for tensor creation, copies, the elementwise ops, the reference matmul,
// memory statistics and device discovery.
#include <cmath>
#include <cstring>

#include "args.h"
#include "mtrl/bf16.h"
#include "mtrl/cpu_features.h"
#include "mtrl/ops.h"
#include "mtrl/runtime.h"
#include "mtrl/sampling.h"
#include "registry.h"

namespace mtrl::napi {
namespace {

// empty(shape, dtype, device)
MTRL_NAPI_FN(Empty) {
  return guarded(info, [&]() -> Napi::Value {
    auto shape = get_shape(info[0], "Tensor.empty", "shape");
    DType dt = get_dtype(info[1], "Tensor.empty", "dtype");
    Device dev = get_device(info[2], "Tensor.empty", "device");
    return wrap(info.Env(), empty(shape, dt, dev));
  });
}

// fromTypedArray(data, shape, dtype, device): copies data. f32 data is rounded for bf16; Uint16Array
// is taken as raw bf16 bits. The element count must equal the shape's.
MTRL_NAPI_FN(FromTypedArray) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "Tensor.fromArray";
    if (!info[0].IsTypedArray()) throw_type_error(std::string(fn) + ": data must be a typed array or an array of numbers");
    Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
    auto shape = get_shape(info[1], fn, "shape");
    DType dt = get_dtype(info[2], fn, "dtype");
    Device dev = get_device(info[3], fn, "device");
    Tensor host = empty(shape, dt, Device{});
    int64_t n = host.numel();
    if (static_cast<int64_t>(ta.ElementLength()) != n)
      throw_range_error(std::string(fn) + ": data has " + std::to_string(ta.ElementLength()) + " elements but shape " +
                        shape_str(shape) + " needs " + std::to_string(n));
    const uint8_t* src = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    napi_typedarray_type tt = ta.TypedArrayType();
    auto expect = [&](napi_typedarray_type want, const char* name) {
      if (tt != want) throw_type_error(std::string(fn) + ": dtype " + dtype_name(dt) + " needs data as " + name);
    };
    switch (dt) {
      case DType::F32:
        expect(napi_float32_array, "Float32Array (or an array of numbers)");
        if (n) std::memcpy(host.raw(), src, host.nbytes());
        break;
      case DType::BF16:
        if (tt == napi_uint16_array) {
          if (n) std::memcpy(host.raw(), src, host.nbytes());
        } else {
          expect(napi_float32_array, "Float32Array, Uint16Array of raw bf16 bits, or an array of numbers");
          const float* f = reinterpret_cast<const float*>(src);
          for (int64_t i = 0; i < n; ++i) host.ptr<uint16_t>()[i] = f32_to_bf16(f[i]);
        }
        break;
      case DType::I32:
        expect(napi_int32_array, "Int32Array (or an array of integers)");
        if (n) std::memcpy(host.raw(), src, host.nbytes());
        break;
      case DType::U8:
        if (tt != napi_uint8_array && tt != napi_uint8_clamped_array) expect(napi_uint8_array, "Uint8Array (or an array of integers 0..255)");
        if (n) std::memcpy(host.raw(), src, host.nbytes());
        break;
    }
    if (dev.is_cpu()) return wrap(info.Env(), host);
    return wrap(info.Env(), to_device(host, dev));
  });
}

MTRL_NAPI_FN(Fill) {
  return guarded(info, [&]() -> Napi::Value {
    Tensor t = get_tensor(info[0], "Tensor.fill", "tensor");
    fill(t, get_number(info[1], "Tensor.fill", "value"));
    return info.Env().Undefined();
  });
}

MTRL_NAPI_FN(Randn) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "Tensor.randn";
    Tensor t = get_tensor(info[0], fn, "tensor");
    double seed = get_number(info[1], fn, "seed");
    if (!std::isfinite(seed) || seed < 0 || std::floor(seed) != seed || seed > 9007199254740991.0)
      throw_range_error(std::string(fn) + ": seed must be a non-negative integer, got " + std::to_string(seed));
    randn(t, static_cast<uint64_t>(seed), get_number(info[2], fn, "mean"), get_number(info[3], fn, "std"));
    return info.Env().Undefined();
  });
}

Napi::Value binary_entry(const Napi::CallbackInfo& info, BinaryOp op, const char* fn) {
  return guarded(info, [&]() -> Napi::Value {
    Tensor a = get_tensor(info[0], fn, "a");
    Tensor b = get_tensor(info[1], fn, "b");
    std::optional<Tensor> out = get_optional_tensor(info[2], fn, "out");
    Tensor o = out ? *out : empty_like(a);
    binary(op, a, b, o, fn);
    return out ? info[2] : wrap(info.Env(), o);
  });
}
MTRL_NAPI_FN(Add) { return binary_entry(info, BinaryOp::Add, "add"); }
MTRL_NAPI_FN(Sub) { return binary_entry(info, BinaryOp::Sub, "sub"); }
MTRL_NAPI_FN(Mul) { return binary_entry(info, BinaryOp::Mul, "mul"); }

// scale(a, alpha, beta, out?) -> alpha * a + beta
MTRL_NAPI_FN(Scale) {
  return guarded(info, [&]() -> Napi::Value {
    Tensor a = get_tensor(info[0], "scale", "a");
    double alpha = get_number(info[1], "scale", "alpha"), beta = get_number(info[2], "scale", "beta");
    std::optional<Tensor> out = get_optional_tensor(info[3], "scale", "out");
    Tensor o = out ? *out : empty_like(a);
    scale(a, alpha, beta, o);
    return out ? info[3] : wrap(info.Env(), o);
  });
}

// copy(src, dst): any devices, same dtype and element count.
MTRL_NAPI_FN(Copy) {
  return guarded(info, [&]() -> Napi::Value {
    Tensor src = get_tensor(info[0], "copy", "src");
    Tensor dst = get_tensor(info[1], "copy", "dst");
    if (src.dtype != dst.dtype) throw_type_error(std::string("copy: dst must have dtype ") + dtype_name(src.dtype) + ", got " + dtype_name(dst.dtype));
    if (src.numel() != dst.numel()) throw_range_error("copy: dst must have " + std::to_string(src.numel()) + " elements, got " + std::to_string(dst.numel()));
    copy_bytes(src, dst);
    return info.Env().Undefined();
  });
}

MTRL_NAPI_FN(ToDevice) {
  return guarded(info, [&]() -> Napi::Value {
    Tensor src = get_tensor(info[0], "Tensor.to", "tensor");
    Device dev = get_device(info[1], "Tensor.to", "device");
    return wrap(info.Env(), to_device(src, dev));
  });
}

// reshape(t, shape): a new handle sharing t's storage.
MTRL_NAPI_FN(Reshape) {
  return guarded(info, [&]() -> Napi::Value {
    Tensor t = get_tensor(info[0], "Tensor.reshape", "tensor");
    auto shape = get_shape(info[1], "Tensor.reshape", "shape");
    Tensor r = t;
    r.shape = shape;
    if (r.numel() != t.numel())
      throw_range_error("Tensor.reshape: cannot view " + shape_str(t.shape) + " (" + std::to_string(t.numel()) + " elements) as " +
                        shape_str(shape) + " (" + std::to_string(r.numel()) + " elements)");
    return wrap(info.Env(), r);
  });
}

MTRL_NAPI_FN(Cast) {
  return guarded(info, [&]() -> Napi::Value {
    Tensor src = get_tensor(info[0], "Tensor.cast", "tensor");
    DType dt = get_dtype(info[1], "Tensor.cast", "dtype");
    Tensor dst = empty(src.shape, dt, src.device());
    cast(src, dst);
    return wrap(info.Env(), dst);
  });
}

// matmulReference(a, b, out?, {transA, transB, alpha, beta})
MTRL_NAPI_FN(MatmulReference) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "matmulReference";
    Tensor a = get_tensor(info[0], fn, "a");
    Tensor b = get_tensor(info[1], fn, "b");
    std::optional<Tensor> out = get_optional_tensor(info[2], fn, "out");
    Napi::Object o = get_options(info, 3, fn);
    MatmulParams p;
    p.trans_a = opt_bool(o, "transA", false, fn);
    p.trans_b = opt_bool(o, "transB", false, fn);
    p.alpha = static_cast<float>(opt_number(o, "alpha", 1.0, fn));
    p.beta = static_cast<float>(opt_number(o, "beta", 0.0, fn));
    Tensor res;
    if (out) {
      res = *out;
    } else {
      if (a.ndim() < 2 || b.ndim() < 2) throw_range_error(std::string(fn) + ": a and b must have at least 2 dims, got " + shape_str(a.shape) + " and " + shape_str(b.shape));
      std::vector<int64_t> shape(a.shape.begin(), a.shape.end() - 2);
      shape.push_back(p.trans_a ? a.dim(-1) : a.dim(-2));
      shape.push_back(p.trans_b ? b.dim(-2) : b.dim(-1));
      res = empty(shape, DType::F32, a.device());
      if (p.beta != 0.0f) fill(res, 0.0);
    }
    matmul_reference(a, b, res, p);
    return out ? info[2] : wrap(info.Env(), res);
  });
}

MTRL_NAPI_FN(MemoryStats) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto stats = memory_stats();
    Napi::Array arr = Napi::Array::New(env, stats.size());
    for (size_t i = 0; i < stats.size(); ++i) {
      Napi::Object s = Napi::Object::New(env);
      s.Set("device", stats[i].device.name());
      s.Set("liveTensors", static_cast<double>(stats[i].live_tensors));
      s.Set("liveBytes", static_cast<double>(stats[i].live_bytes));
      s.Set("peakBytes", static_cast<double>(stats[i].peak_bytes));
      arr.Set(static_cast<uint32_t>(i), s);
    }
    return arr;
  });
}

MTRL_NAPI_FN(CudaAvailable) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    CudaAvailability a = cuda_rt::availability();
    Napi::Object o = Napi::Object::New(env);
    o.Set("available", a.available);
    o.Set("compiled", a.compiled);
    o.Set("deviceCount", a.device_count);
    o.Set("reason", a.available ? std::string("") : a.reason);
    return o;
  });
}

MTRL_NAPI_FN(CudaDevices) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto devs = cuda_rt::devices();
    Napi::Array arr = Napi::Array::New(env, devs.size());
    for (size_t i = 0; i < devs.size(); ++i) {
      Napi::Object d = Napi::Object::New(env);
      d.Set("id", devs[i].device.name());
      d.Set("name", devs[i].name);
      d.Set("totalMemory", static_cast<double>(devs[i].total_memory));
      d.Set("freeMemory", static_cast<double>(devs[i].free_memory));
      d.Set("computeCapability", std::to_string(devs[i].cc_major) + "." + std::to_string(devs[i].cc_minor));
      d.Set("multiprocessors", devs[i].multiprocessors);
      arr.Set(static_cast<uint32_t>(i), d);
    }
    return arr;
  });
}

MTRL_NAPI_FN(Synchronize) {
  return guarded(info, [&]() -> Napi::Value {
    Device dev = get_device(info[0], "synchronize", "device");
    if (dev.is_cuda()) cuda_rt::synchronize(dev.index);
    return info.Env().Undefined();
  });
}

MTRL_NAPI_FN(BuildInfo) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("simd", simd_level_name(simd_level()));
  o.Set("threads", cpu_threads());
  o.Set("cuda", cuda_rt::compiled());
#ifdef _OPENMP
  o.Set("openmp", true);
#else
  o.Set("openmp", false);
#endif
#ifdef MTRL_BUILD_SYSTEM
  o.Set("buildSystem", MTRL_BUILD_SYSTEM);
#else
  o.Set("buildSystem", "node-gyp");
#endif
  return o;
}

MTRL_NAPI_FN(SetSimdLevel) {
  return guarded(info, [&]() -> Napi::Value {
    std::string s = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
    if (s == "scalar") set_simd_level(SimdLevel::Scalar);
    else if (s == "avx2") set_simd_level(SimdLevel::AVX2);
    else if (s == "avx512") set_simd_level(SimdLevel::AVX512);
    else throw_type_error("setSimdLevel: level must be 'scalar', 'avx2' or 'avx512', got '" + s + "'");
    return Napi::String::New(info.Env(), simd_level_name(simd_level()));
  });
}

MTRL_NAPI_FN(SetSamplingSplitMinVocab) {
  return guarded(info, [&]() -> Napi::Value {
    if (!info[0].IsNumber() || !(info[0].As<Napi::Number>().DoubleValue() >= 0))
      throw_type_error("setSamplingSplitMinVocab: minVocab must be a non-negative number");
    double v = info[0].As<Napi::Number>().DoubleValue();
    int64_t prev = cpu::set_sampling_split_min_vocab(v > 9.0e15 ? int64_t{9000000000000000} : static_cast<int64_t>(v));
    return Napi::Number::New(info.Env(), static_cast<double>(prev));
  });
}

void init(Napi::Env env, Napi::Object exports) {
  exports.Set("empty", Napi::Function::New(env, Empty, "empty"));
  exports.Set("fromTypedArray", Napi::Function::New(env, FromTypedArray, "fromTypedArray"));
  exports.Set("fill", Napi::Function::New(env, Fill, "fill"));
  exports.Set("randn", Napi::Function::New(env, Randn, "randn"));
  exports.Set("add", Napi::Function::New(env, Add, "add"));
  exports.Set("sub", Napi::Function::New(env, Sub, "sub"));
  exports.Set("mul", Napi::Function::New(env, Mul, "mul"));
  exports.Set("scale", Napi::Function::New(env, Scale, "scale"));
  exports.Set("copy", Napi::Function::New(env, Copy, "copy"));
  exports.Set("toDevice", Napi::Function::New(env, ToDevice, "toDevice"));
  exports.Set("reshape", Napi::Function::New(env, Reshape, "reshape"));
  exports.Set("cast", Napi::Function::New(env, Cast, "cast"));
  exports.Set("matmulReference", Napi::Function::New(env, MatmulReference, "matmulReference"));
  exports.Set("memoryStats", Napi::Function::New(env, MemoryStats, "memoryStats"));
  exports.Set("cudaAvailable", Napi::Function::New(env, CudaAvailable, "cudaAvailable"));
  exports.Set("cudaDevices", Napi::Function::New(env, CudaDevices, "cudaDevices"));
  exports.Set("synchronize", Napi::Function::New(env, Synchronize, "synchronize"));
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfo, "buildInfo"));
  exports.Set("setSimdLevel", Napi::Function::New(env, SetSimdLevel, "setSimdLevel"));
  exports.Set("setSamplingSplitMinVocab", Napi::Function::New(env, SetSamplingSplitMinVocab, "setSamplingSplitMinVocab"));
}

}  // namespace

MTRL_NAPI_MODULE(tensor, init);

}  // namespace mtrl::napi
