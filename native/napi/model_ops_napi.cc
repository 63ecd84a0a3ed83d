// Node-API entries for the model ops: convert and check arguments, allocate outputs that were not
// given, call mtrl:: (model_ops.h). Backward entries return plain objects of tensors.
#include "args.h"
#include "mtrl/model_ops.h"
#include "mtrl/check.h"
#include "mtrl/ops.h"
#include "registry.h"

namespace mtrl::napi {
namespace {

// An output tensor from options, or a fresh one. `accumulate` needs the caller's tensor.
Tensor out_or_new(const Napi::Object& o, const char* key, const char* fn, const std::vector<int64_t>& shape, DType dt, Device dev,
                  bool must_exist = false) {
  auto t = opt_tensor(o, key, fn);
  if (t) return *t;
  if (must_exist) throw_range_error(std::string(fn) + ": accumulate = true needs " + key + " (the gradient to add into)");
  return empty(shape, dt, dev);
}

std::vector<int64_t> row_shape(const Tensor& x) { return std::vector<int64_t>(x.shape.begin(), x.shape.end() - (x.ndim() > 0 ? 1 : 0)); }
std::vector<int64_t> last_dim(const Tensor& x) { return {x.ndim() > 0 ? x.dim(-1) : 0}; }

std::vector<Tensor> get_tensor_list(const Napi::Value& v, const char* fn) {
  if (!v.IsArray()) throw_type_error(std::string(fn) + ": tensors must be an array of Tensors");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<Tensor> out;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    std::string arg = "tensors[" + std::to_string(i) + "]";
    out.push_back(get_tensor(a.Get(i), fn, arg.c_str()));
  }
  return out;
}

// Returns the given option tensor's JS value when present (so identity is kept), else wraps t.
Napi::Value ret(const Napi::CallbackInfo& info, const Napi::Object& o, const char* key, const Tensor& t) {
  Napi::Value v = o.Get(key);
  if (!v.IsUndefined() && !v.IsNull()) return v;
  return wrap(info.Env(), t);
}

MTRL_NAPI_FN(RmsnormForward) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "rmsnormForward";
    Tensor x = get_tensor(info[0], fn, "x");
    Tensor w = get_tensor(info[1], fn, "w");
    Napi::Object o = get_options(info, 2, fn);
    double eps = opt_number(o, "eps", 1e-6, fn);
    Tensor y = out_or_new(o, "out", fn, x.shape, x.dtype, x.device());
    Tensor rstd = out_or_new(o, "rstd", fn, row_shape(x), DType::F32, x.device());
    rmsnorm_forward(x, w, eps, y, rstd);
    Napi::Object r = Napi::Object::New(info.Env());
    r.Set("y", ret(info, o, "out", y));
    r.Set("rstd", ret(info, o, "rstd", rstd));
    return r;
  });
}

MTRL_NAPI_FN(RmsnormBackward) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "rmsnormBackward";
    Tensor dy = get_tensor(info[0], fn, "dy");
    Tensor x = get_tensor(info[1], fn, "x");
    Tensor w = get_tensor(info[2], fn, "w");
    Tensor rstd = get_tensor(info[3], fn, "rstd");
    Napi::Object o = get_options(info, 4, fn);
    bool acc = opt_bool(o, "accumulate", false, fn);
    Tensor dx = out_or_new(o, "dx", fn, x.shape, x.dtype, x.device());
    Tensor dw = out_or_new(o, "dw", fn, last_dim(x), x.dtype, x.device(), acc);
    rmsnorm_backward(dy, x, w, rstd, dx, dw, acc);
    Napi::Object r = Napi::Object::New(info.Env());
    r.Set("dx", ret(info, o, "dx", dx));
    r.Set("dw", ret(info, o, "dw", dw));
    return r;
  });
}

MTRL_NAPI_FN(LayernormForward) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "layernormForward";
    Tensor x = get_tensor(info[0], fn, "x");
    Tensor w = get_tensor(info[1], fn, "w");
    Tensor b = get_tensor(info[2], fn, "b");
    Napi::Object o = get_options(info, 3, fn);
    double eps = opt_number(o, "eps", 1e-5, fn);
    Tensor y = out_or_new(o, "out", fn, x.shape, x.dtype, x.device());
    Tensor mean = out_or_new(o, "mean", fn, row_shape(x), DType::F32, x.device());
    Tensor rstd = out_or_new(o, "rstd", fn, row_shape(x), DType::F32, x.device());
    layernorm_forward(x, w, b, eps, y, mean, rstd);
    Napi::Object r = Napi::Object::New(info.Env());
    r.Set("y", ret(info, o, "out", y));
    r.Set("mean", ret(info, o, "mean", mean));
    r.Set("rstd", ret(info, o, "rstd", rstd));
    return r;
  });
}

MTRL_NAPI_FN(LayernormBackward) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "layernormBackward";
    Tensor dy = get_tensor(info[0], fn, "dy");
    Tensor x = get_tensor(info[1], fn, "x");
    Tensor w = get_tensor(info[2], fn, "w");
    Tensor mean = get_tensor(info[3], fn, "mean");
    Tensor rstd = get_tensor(info[4], fn, "rstd");
    Napi::Object o = get_options(info, 5, fn);
    bool acc = opt_bool(o, "accumulate", false, fn);
    Tensor dx = out_or_new(o, "dx", fn, x.shape, x.dtype, x.device());
    Tensor dw = out_or_new(o, "dw", fn, last_dim(x), x.dtype, x.device(), acc);
    Tensor db = out_or_new(o, "db", fn, last_dim(x), x.dtype, x.device(), acc);
    layernorm_backward(dy, x, w, mean, rstd, dx, dw, db, acc);
    Napi::Object r = Napi::Object::New(info.Env());
    r.Set("dx", ret(info, o, "dx", dx));
    r.Set("dw", ret(info, o, "dw", dw));
    r.Set("db", ret(info, o, "db", db));
    return r;
  });
}

// rope(x, positions, {base, rotaryDim, interleaved, inverse, out, inPlace})
MTRL_NAPI_FN(Rope) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Object o = get_options(info, 2, "rope");
    bool inverse = opt_bool(o, "inverse", false, "rope");
    const char* fn = inverse ? "ropeBackward" : "ropeForward";
    Tensor x = get_tensor(info[0], fn, "x");
    Tensor pos = get_tensor(info[1], fn, "positions");
    RopeParams p;
    p.base = opt_number(o, "base", 10000.0, fn);
    p.rotary_dim = opt_integer(o, "rotaryDim", 0, fn);
    if (p.rotary_dim < 0) throw_range_error(std::string(fn) + ": rotaryDim must be >= 0 (0 = D), got " + std::to_string(p.rotary_dim));
    p.interleaved = opt_bool(o, "interleaved", false, fn);
    p.inverse = inverse;
    bool in_place = opt_bool(o, "inPlace", false, fn);
    if (in_place) {
      rope(x, pos, p, x);
      return info[0];
    }
    Tensor out = out_or_new(o, "out", fn, x.shape, x.dtype, x.device());
    rope(x, pos, p, out);
    return ret(info, o, "out", out);
  });
}

MTRL_NAPI_FN(SwigluForward) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "swigluForward";
    Tensor g = get_tensor(info[0], fn, "gate");
    Tensor u = get_tensor(info[1], fn, "up");
    Napi::Object o = get_options(info, 2, fn);
    Tensor out = out_or_new(o, "out", fn, g.shape, g.dtype, g.device());
    swiglu_forward(g, u, out);
    return ret(info, o, "out", out);
  });
}

MTRL_NAPI_FN(SwigluBackward) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "swigluBackward";
    Tensor d = get_tensor(info[0], fn, "dout");
    Tensor g = get_tensor(info[1], fn, "gate");
    Tensor u = get_tensor(info[2], fn, "up");
    Napi::Object o = get_options(info, 3, fn);
    Tensor dg = out_or_new(o, "dgate", fn, g.shape, g.dtype, g.device());
    Tensor du = out_or_new(o, "dup", fn, g.shape, g.dtype, g.device());
    swiglu_backward(d, g, u, dg, du);
    Napi::Object r = Napi::Object::New(info.Env());
    r.Set("dgate", ret(info, o, "dgate", dg));
    r.Set("dup", ret(info, o, "dup", du));
    return r;
  });
}

MTRL_NAPI_FN(GeluForward) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "geluForward";
    Tensor x = get_tensor(info[0], fn, "x");
    Napi::Object o = get_options(info, 1, fn);
    Tensor out = out_or_new(o, "out", fn, x.shape, x.dtype, x.device());
    gelu_forward(x, out);
    return ret(info, o, "out", out);
  });
}

MTRL_NAPI_FN(GeluBackward) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "geluBackward";
    Tensor d = get_tensor(info[0], fn, "dout");
    Tensor x = get_tensor(info[1], fn, "x");
    Napi::Object o = get_options(info, 2, fn);
    Tensor dx = out_or_new(o, "dx", fn, x.shape, x.dtype, x.device());
    gelu_backward(d, x, dx);
    return ret(info, o, "dx", dx);
  });
}

// addInPlace(a, b, alpha): a += alpha * b; returns a.
MTRL_NAPI_FN(AddInPlace) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "addInPlace";
    Tensor a = get_tensor(info[0], fn, "a");
    Tensor b = get_tensor(info[1], fn, "b");
    double alpha = info.Length() > 2 && !info[2].IsUndefined() ? get_number(info[2], fn, "alpha") : 1.0;
    axpy(a, b, alpha);
    return info[0];
  });
}

MTRL_NAPI_FN(AddBias) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "addBias";
    Tensor x = get_tensor(info[0], fn, "x");
    Tensor b = get_tensor(info[1], fn, "bias");
    add_bias(x, b);
    return info[0];
  });
}

MTRL_NAPI_FN(SumRows) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "sumRows";
    Tensor x = get_tensor(info[0], fn, "x");
    Napi::Object o = get_options(info, 1, fn);
    bool acc = opt_bool(o, "accumulate", false, fn);
    check_float(x, fn, "x");
    Tensor out = out_or_new(o, "out", fn, last_dim(x), x.dtype, x.device(), acc);
    sum_rows(x, out, acc);
    return ret(info, o, "out", out);
  });
}

MTRL_NAPI_FN(EmbeddingForward) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "embeddingForward";
    Tensor ids = get_tensor(info[0], fn, "ids");
    Tensor table = get_tensor(info[1], fn, "table");
    Napi::Object o = get_options(info, 2, fn);
    check_float(table, fn, "table");
    std::vector<int64_t> shape = ids.shape;
    shape.push_back(table.ndim() == 2 ? table.dim(1) : 0);
    Tensor out = out_or_new(o, "out", fn, shape, table.dtype, table.device());
    embedding_forward(ids, table, out);
    return ret(info, o, "out", out);
  });
}

// embeddingBackward(dout, ids, {dtable | vocabSize, accumulate})
MTRL_NAPI_FN(EmbeddingBackward) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "embeddingBackward";
    Tensor dout = get_tensor(info[0], fn, "dout");
    Tensor ids = get_tensor(info[1], fn, "ids");
    Napi::Object o = get_options(info, 2, fn);
    bool acc = opt_bool(o, "accumulate", false, fn);
    auto given = opt_tensor(o, "dtable", fn);
    Tensor dtable;
    if (given) {
      dtable = *given;
    } else {
      if (acc) throw_range_error(std::string(fn) + ": accumulate = true needs dtable (the gradient to add into)");
      int64_t V = opt_integer(o, "vocabSize", -1, fn);
      if (V <= 0) throw_range_error(std::string(fn) + ": pass dtable or vocabSize (a positive integer, the table's row count)");
      check_float(dout, fn, "dout");
      dtable = empty({V, dout.ndim() > 0 ? dout.dim(-1) : 0}, dout.dtype, dout.device());
    }
    embedding_backward(dout, ids, dtable, acc);
    return ret(info, o, "dtable", dtable);
  });
}

PatchParams patch_params(const Napi::Object& o, const char* fn, DType image_dtype) {
  PatchParams p;
  p.patch = opt_integer(o, "patchSize", 0, fn);
  if (p.patch <= 0) throw_range_error(std::string(fn) + ": patchSize must be a positive integer, got " + std::to_string(p.patch));
  p.window = opt_integer(o, "patchWindow", 0, fn);
  bool u8 = image_dtype == DType::U8;
  p.scale = opt_number(o, "scale", u8 ? 1.0 / 127.5 : 1.0, fn);
  p.shift = opt_number(o, "shift", u8 ? -1.0 : 0.0, fn);
  return p;
}

// patchEmbed(image, {patchSize, patchWindow, scale, shift, dtype, out})
MTRL_NAPI_FN(PatchEmbed) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "patchEmbed";
    Tensor img = get_tensor(info[0], fn, "image");
    Napi::Object o = get_options(info, 1, fn);
    PatchParams p = patch_params(o, fn, img.dtype);
    DType dt = o.Has("dtype") && !o.Get("dtype").IsUndefined() ? get_dtype(o.Get("dtype"), fn, "dtype") : DType::F32;
    std::vector<int64_t> shape;
    if (img.ndim() == 4 && img.dim(1) % p.patch == 0 && img.dim(2) % p.patch == 0 && p.k() >= p.patch)
      shape = {img.dim(0), (img.dim(1) / p.patch) * (img.dim(2) / p.patch), p.k() * p.k() * img.dim(3)};
    Tensor out;
    auto given = opt_tensor(o, "out", fn);
    if (given) out = *given;
    else if (!shape.empty()) out = empty(shape, dt, img.device());
    else out = empty({0}, dt, img.device());  // the check below names the bad image shape
    patch_embed(img, p, out);
    return ret(info, o, "out", out);
  });
}

// patchEmbedBackward(dpatches, imageShape, {patchSize, patchWindow, scale, dimage})
MTRL_NAPI_FN(PatchEmbedBackward) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "patchEmbedBackward";
    Tensor dp = get_tensor(info[0], fn, "dpatches");
    auto shape = get_shape(info[1], fn, "imageShape");
    Napi::Object o = get_options(info, 2, fn);
    PatchParams p = patch_params(o, fn, DType::F32);
    Tensor dimage = out_or_new(o, "dimage", fn, shape, DType::F32, dp.device());
    if (dimage.shape != shape)
      throw_range_error(std::string(fn) + ": dimage must have shape imageShape " + shape_str(shape) + ", got " + shape_str(dimage.shape));
    patch_embed_backward(dp, p, dimage);
    return ret(info, o, "dimage", dimage);
  });
}

MTRL_NAPI_FN(AdamwStep) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "adamwStep";
    Tensor param = get_tensor(info[0], fn, "param");
    Tensor grad = get_tensor(info[1], fn, "grad");
    Tensor m = get_tensor(info[2], fn, "m");
    Tensor v = get_tensor(info[3], fn, "v");
    Napi::Object o = get_options(info, 4, fn);
    AdamWParams p;
    p.lr = opt_number(o, "lr", p.lr, fn);
    p.beta1 = opt_number(o, "beta1", p.beta1, fn);
    p.beta2 = opt_number(o, "beta2", p.beta2, fn);
    p.eps = opt_number(o, "eps", p.eps, fn);
    p.weight_decay = opt_number(o, "weightDecay", p.weight_decay, fn);
    p.grad_scale = opt_number(o, "gradScale", 1.0, fn);
    if (!o.Has("step") || o.Get("step").IsUndefined()) throw_type_error(std::string(fn) + ": step is required (1 for the first step; used for bias correction)");
    p.step = opt_integer(o, "step", 1, fn);
    adamw_step(param, grad, m, v, p);
    return info.Env().Undefined();
  });
}

MTRL_NAPI_FN(SumSquares) {
  return guarded(info, [&]() -> Napi::Value {
    Tensor x = get_tensor(info[0], "sumSquares", "x");
    return Napi::Number::New(info.Env(), sum_squares(x));
  });
}

MTRL_NAPI_FN(GradNorm) {
  return guarded(info, [&]() -> Napi::Value {
    auto ts = get_tensor_list(info[0], "gradNorm");
    return Napi::Number::New(info.Env(), global_norm(ts));
  });
}

MTRL_NAPI_FN(ClipGradNorm) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "clipGradNorm";
    auto ts = get_tensor_list(info[0], fn);
    double max_norm = get_number(info[1], fn, "maxNorm");
    return Napi::Number::New(info.Env(), clip_grad_norm(ts, max_norm));
  });
}

void init(Napi::Env env, Napi::Object exports) {
  exports.Set("rmsnormForward", Napi::Function::New(env, RmsnormForward, "rmsnormForward"));
  exports.Set("rmsnormBackward", Napi::Function::New(env, RmsnormBackward, "rmsnormBackward"));
  exports.Set("layernormForward", Napi::Function::New(env, LayernormForward, "layernormForward"));
  exports.Set("layernormBackward", Napi::Function::New(env, LayernormBackward, "layernormBackward"));
  exports.Set("rope", Napi::Function::New(env, Rope, "rope"));
  exports.Set("swigluForward", Napi::Function::New(env, SwigluForward, "swigluForward"));
  exports.Set("swigluBackward", Napi::Function::New(env, SwigluBackward, "swigluBackward"));
  exports.Set("geluForward", Napi::Function::New(env, GeluForward, "geluForward"));
  exports.Set("geluBackward", Napi::Function::New(env, GeluBackward, "geluBackward"));
  exports.Set("addInPlace", Napi::Function::New(env, AddInPlace, "addInPlace"));
  exports.Set("addBias", Napi::Function::New(env, AddBias, "addBias"));
  exports.Set("sumRows", Napi::Function::New(env, SumRows, "sumRows"));
  exports.Set("embeddingForward", Napi::Function::New(env, EmbeddingForward, "embeddingForward"));
  exports.Set("embeddingBackward", Napi::Function::New(env, EmbeddingBackward, "embeddingBackward"));
  exports.Set("patchEmbed", Napi::Function::New(env, PatchEmbed, "patchEmbed"));
  exports.Set("patchEmbedBackward", Napi::Function::New(env, PatchEmbedBackward, "patchEmbedBackward"));
  exports.Set("adamwStep", Napi::Function::New(env, AdamwStep, "adamwStep"));
  exports.Set("sumSquares", Napi::Function::New(env, SumSquares, "sumSquares"));
  exports.Set("gradNorm", Napi::Function::New(env, GradNorm, "gradNorm"));
  exports.Set("clipGradNorm", Napi::Function::New(env, ClipGradNorm, "clipGradNorm"));
}

}  // namespace

MTRL_NAPI_MODULE(model_ops, init);

}  // namespace mtrl::napi
