// Node-API entry points of the attention family: argument conversion only (the checks that need
// shapes live in core/attention.cc). Options objects mirror lib/kernels/attention.ts; lengths arrive
// as i32 tensors (the TypeScript wrapper converts plain arrays and moves them to q's device).
#include "args.h"
#include "mtrl/attention.h"
#include "registry.h"

namespace mtrl::napi {
namespace {

AttentionOptions get_attention_options(const Napi::CallbackInfo& info, size_t index, const char* fn) {
  Napi::Object o = get_options(info, index, fn);
  AttentionOptions a;
  a.causal = opt_bool(o, "causal", false, fn);
  Napi::Value s = o.Get("scale");
  if (!s.IsUndefined()) a.scale = opt_number(o, "scale", 0.0, fn);
  a.kv_lengths = opt_tensor(o, "kvLengths", fn);
  a.q_lengths = opt_tensor(o, "qLengths", fn);
  return a;
}

Napi::Value forward_result(Napi::Env env, AttentionForwardResult r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("out", wrap(env, std::move(r.out)));
  o.Set("lse", wrap(env, std::move(r.lse)));
  return o;
}

Napi::Value backward_result(Napi::Env env, AttentionBackwardResult r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("dq", wrap(env, std::move(r.dq)));
  o.Set("dk", wrap(env, std::move(r.dk)));
  o.Set("dv", wrap(env, std::move(r.dv)));
  return o;
}

// attentionForward(q, k, v, opts) -> { out, lse }
MTRL_NAPI_FN(AttentionForward) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "attentionForward";
    Tensor q = get_tensor(info[0], fn, "q"), k = get_tensor(info[1], fn, "k"), v = get_tensor(info[2], fn, "v");
    return forward_result(info.Env(), attention_forward(q, k, v, get_attention_options(info, 3, fn)));
  });
}

// attentionBackward(dOut, q, k, v, out, lse, opts) -> { dq, dk, dv }
MTRL_NAPI_FN(AttentionBackward) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "attentionBackward";
    Tensor dout = get_tensor(info[0], fn, "dOut"), q = get_tensor(info[1], fn, "q"), k = get_tensor(info[2], fn, "k"),
           v = get_tensor(info[3], fn, "v"), out = get_tensor(info[4], fn, "out"), lse = get_tensor(info[5], fn, "lse");
    return backward_result(info.Env(), attention_backward(dout, q, k, v, out, lse, get_attention_options(info, 6, fn)));
  });
}

// attentionDecode(q, kCache, vCache, cacheLengths, kNew, vNew, { scale }) -> out; advances cacheLengths.
MTRL_NAPI_FN(AttentionDecode) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "attentionDecode";
    Tensor q = get_tensor(info[0], fn, "q"), kc = get_tensor(info[1], fn, "kCache"), vc = get_tensor(info[2], fn, "vCache"),
           lens = get_tensor(info[3], fn, "cacheLengths"), kn = get_tensor(info[4], fn, "kNew"), vn = get_tensor(info[5], fn, "vNew");
    Napi::Object o = get_options(info, 6, fn);
    std::optional<double> scale;
    if (!o.Get("scale").IsUndefined()) scale = opt_number(o, "scale", 0.0, fn);
    return wrap(info.Env(), attention_decode(q, kc, vc, lens, kn, vn, scale));
  });
}

MTRL_NAPI_FN(AttentionNaiveForward) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "attentionNaiveForward";
    Tensor q = get_tensor(info[0], fn, "q"), k = get_tensor(info[1], fn, "k"), v = get_tensor(info[2], fn, "v");
    return forward_result(info.Env(), attention_naive_forward(q, k, v, get_attention_options(info, 3, fn)));
  });
}

MTRL_NAPI_FN(AttentionNaiveBackward) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "attentionNaiveBackward";
    Tensor dout = get_tensor(info[0], fn, "dOut"), q = get_tensor(info[1], fn, "q"), k = get_tensor(info[2], fn, "k"),
           v = get_tensor(info[3], fn, "v"), out = get_tensor(info[4], fn, "out"), lse = get_tensor(info[5], fn, "lse");
    return backward_result(info.Env(), attention_naive_backward(dout, q, k, v, out, lse, get_attention_options(info, 6, fn)));
  });
}

void init(Napi::Env env, Napi::Object exports) {
  exports.Set("attentionForward", Napi::Function::New(env, AttentionForward, "attentionForward"));
  exports.Set("attentionBackward", Napi::Function::New(env, AttentionBackward, "attentionBackward"));
  exports.Set("attentionDecode", Napi::Function::New(env, AttentionDecode, "attentionDecode"));
  exports.Set("attentionNaiveForward", Napi::Function::New(env, AttentionNaiveForward, "attentionNaiveForward"));
  exports.Set("attentionNaiveBackward", Napi::Function::New(env, AttentionNaiveBackward, "attentionNaiveBackward"));
}

}  // namespace

MTRL_NAPI_MODULE(attention, init);

}  // namespace mtrl::napi
