// Node-API entry points of the policy-gradient loss: argument conversion only (the checks on shapes,
// dtypes and values live in core/policy_loss.cc and name the JS-facing function and argument).
#include <cmath>

#include "args.h"
#include "mtrl/policy_loss.h"
#include "registry.h"

namespace mtrl::napi {
namespace {

PolicyLossParams get_params(const Napi::Object& o, const char* fn) {
  PolicyLossParams p;
  std::string lt = opt_string(o, "lossType", "grpo", fn);
  if (lt == "grpo") p.loss_type = PgLossType::Grpo;
  else if (lt == "bnpo") p.loss_type = PgLossType::Bnpo;
  else if (lt == "dr_grpo") p.loss_type = PgLossType::DrGrpo;
  else if (lt == "dapo") p.loss_type = PgLossType::Dapo;
  else if (lt == "nll") p.loss_type = PgLossType::Nll;
  else throw_type_error(std::string(fn) + ": lossType must be 'grpo', 'bnpo', 'dr_grpo', 'dapo' or 'nll', got '" + lt + "'");
  p.epsilon = opt_number(o, "epsilon", 0.2, fn);
  p.epsilon_high = opt_number(o, "epsilonHigh", p.epsilon, fn);
  Napi::Value dv = o.Get("delta");
  if (!dv.IsUndefined() && !dv.IsNull()) {
    p.use_delta = true;
    p.delta = opt_number(o, "delta", 0.0, fn);
  }
  p.beta = opt_number(o, "beta", 0.0, fn);
  std::string kl = opt_string(o, "klEstimator", "k3", fn);
  if (kl == "k1") p.kl = KlEstimator::K1;
  else if (kl == "k2") p.kl = KlEstimator::K2;
  else if (kl == "k3") p.kl = KlEstimator::K3;
  else throw_type_error(std::string(fn) + ": klEstimator must be 'k1', 'k2' or 'k3', got '" + kl + "'");
  std::string lvl = opt_string(o, "importanceSamplingLevel", "token", fn);
  if (lvl == "token") p.is_level = IsLevel::Token;
  else if (lvl == "sequence") p.is_level = IsLevel::Sequence;
  else throw_type_error(std::string(fn) + ": importanceSamplingLevel must be 'token' or 'sequence', got '" + lvl + "'");
  p.temperature = opt_number(o, "temperature", 1.0, fn);
  if (!o.Get("maxCompletionLength").IsUndefined()) {
    p.max_completion_length = opt_integer(o, "maxCompletionLength", 0, fn);
    if (p.max_completion_length < 1)
      throw_range_error(std::string(fn) + ": maxCompletionLength must be a positive integer, got " + std::to_string(p.max_completion_length));
  }
  if (!o.Get("numItemsInBatch").IsUndefined()) {
    p.num_items_in_batch = opt_number(o, "numItemsInBatch", 0.0, fn);
    if (!(p.num_items_in_batch > 0) || !std::isfinite(p.num_items_in_batch))
      throw_range_error(std::string(fn) + ": numItemsInBatch must be a positive finite number");
  }
  p.entropy_coef = opt_number(o, "entropyCoef", 0.0, fn);
  auto positive = [&](const char* key) -> int64_t {
    if (o.Get(key).IsUndefined()) return 0;
    int64_t v = opt_integer(o, key, 0, fn);
    if (v < 1) throw_range_error(std::string(fn) + ": " + key + " must be a positive integer, got " + std::to_string(v));
    return v;
  };
  p.chunk_size = positive("chunkSize");
  p.vocab_chunk_size = positive("vocabChunkSize");
  p.compute_grads = opt_bool(o, "grads", true, fn);
  return p;
}

PolicyLossBatch get_batch(const Napi::Value& v, const char* fn) {
  if (!v.IsObject() || v.IsArray()) throw_type_error(std::string(fn) + ": batch must be an object { tokens, mask, advantages, ... }");
  Napi::Object o = v.As<Napi::Object>();
  PolicyLossBatch b;
  auto tok = opt_tensor(o, "tokens", fn);
  if (!tok) throw_type_error(std::string(fn) + ": batch.tokens is missing (an i32 (N, T) tensor)");
  b.tokens = *tok;
  auto mask = opt_tensor(o, "mask", fn);
  if (!mask) throw_type_error(std::string(fn) + ": batch.mask is missing (an (N, T) tensor of 0/1)");
  b.mask = *mask;
  if (auto a = opt_tensor(o, "advantages", fn)) b.advantages = *a;
  if (auto a = opt_tensor(o, "oldLogprobs", fn)) b.old_logprobs = *a;
  if (auto a = opt_tensor(o, "refLogprobs", fn)) b.ref_logprobs = *a;
  return b;
}

Napi::Value result_object(Napi::Env env, const PolicyLossResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("loss", r.loss);
  Napi::Object m = Napi::Object::New(env);
  m.Set("kl", r.metrics.kl);
  m.Set("clipLow", r.metrics.clip_low);
  m.Set("clipHigh", r.metrics.clip_high);
  m.Set("clipRegion", r.metrics.clip_region);
  m.Set("ratio", r.metrics.ratio);
  m.Set("entropy", r.metrics.entropy);
  m.Set("nll", r.metrics.nll);
  m.Set("tokens", static_cast<double>(r.metrics.tokens));
  o.Set("metrics", m);
  o.Set("logprobs", wrap(env, r.logprobs));
  Napi::Object g = Napi::Object::New(env);
  if (r.grad_logits.storage) g.Set("logits", wrap(env, r.grad_logits));
  if (r.grad_hidden.storage) g.Set("hidden", wrap(env, r.grad_hidden));
  if (r.grad_weight.storage) g.Set("weight", wrap(env, r.grad_weight));
  o.Set("grads", g);
  return o;
}

// policyLossLogits(logits, batch, opts)
MTRL_NAPI_FN(PolicyLossLogits) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "policyLoss";
    Tensor logits = get_tensor(info[0], fn, "logits");
    PolicyLossBatch b = get_batch(info[1], fn);
    PolicyLossParams p = get_params(get_options(info, 2, fn), fn);
    return result_object(info.Env(), policy_loss_logits(logits, b, p));
  });
}

// policyLossLinear(hidden, weight, batch, opts)
MTRL_NAPI_FN(PolicyLossLinear) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "policyLoss";
    Tensor hidden = get_tensor(info[0], fn, "hidden");
    Tensor weight = get_tensor(info[1], fn, "weight");
    PolicyLossBatch b = get_batch(info[2], fn);
    PolicyLossParams p = get_params(get_options(info, 3, fn), fn);
    return result_object(info.Env(), policy_loss_linear(hidden, weight, b, p));
  });
}

// policyLossUnfused(hidden, weight, batch, opts): the benchmark baseline.
MTRL_NAPI_FN(PolicyLossUnfused) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "policyLossUnfused";
    Tensor hidden = get_tensor(info[0], fn, "hidden");
    Tensor weight = get_tensor(info[1], fn, "weight");
    PolicyLossBatch b = get_batch(info[2], fn);
    PolicyLossParams p = get_params(get_options(info, 3, fn), fn);
    return result_object(info.Env(), policy_loss_linear_unfused(hidden, weight, b, p));
  });
}

Napi::Value logprob_object(Napi::Env env, const TokenLogprobsResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("logprobs", wrap(env, r.logprobs));
  if (r.entropy.storage) o.Set("entropy", wrap(env, r.entropy));
  return o;
}

// tokenLogprobsLogits(logits, tokens, mask | undefined, { temperature, entropy })
MTRL_NAPI_FN(TokenLogprobsLogits) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "tokenLogprobs";
    Tensor logits = get_tensor(info[0], fn, "logits");
    Tensor tokens = get_tensor(info[1], fn, "tokens");
    auto mask = get_optional_tensor(info[2], fn, "mask");
    Napi::Object o = get_options(info, 3, fn);
    return logprob_object(info.Env(), token_logprobs_logits(logits, tokens, mask ? *mask : Tensor{}, opt_number(o, "temperature", 1.0, fn),
                                                            opt_bool(o, "entropy", false, fn)));
  });
}

// tokenLogprobsLinear(hidden, weight, tokens, mask | undefined, { temperature, entropy, chunkSize, vocabChunkSize })
MTRL_NAPI_FN(TokenLogprobsLinear) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "tokenLogprobs";
    Tensor hidden = get_tensor(info[0], fn, "hidden");
    Tensor weight = get_tensor(info[1], fn, "weight");
    Tensor tokens = get_tensor(info[2], fn, "tokens");
    auto mask = get_optional_tensor(info[3], fn, "mask");
    Napi::Object o = get_options(info, 4, fn);
    int64_t chunk = o.Get("chunkSize").IsUndefined() ? 0 : opt_integer(o, "chunkSize", 0, fn);
    int64_t vchunk = o.Get("vocabChunkSize").IsUndefined() ? 0 : opt_integer(o, "vocabChunkSize", 0, fn);
    if (!o.Get("chunkSize").IsUndefined() && chunk < 1) throw_range_error(std::string(fn) + ": chunkSize must be a positive integer");
    if (!o.Get("vocabChunkSize").IsUndefined() && vchunk < 1) throw_range_error(std::string(fn) + ": vocabChunkSize must be a positive integer");
    return logprob_object(info.Env(), token_logprobs_linear(hidden, weight, tokens, mask ? *mask : Tensor{}, opt_number(o, "temperature", 1.0, fn),
                                                            opt_bool(o, "entropy", false, fn), chunk, vchunk));
  });
}

void init(Napi::Env env, Napi::Object exports) {
  exports.Set("policyLossLogits", Napi::Function::New(env, PolicyLossLogits, "policyLossLogits"));
  exports.Set("policyLossLinear", Napi::Function::New(env, PolicyLossLinear, "policyLossLinear"));
  exports.Set("policyLossUnfused", Napi::Function::New(env, PolicyLossUnfused, "policyLossUnfused"));
  exports.Set("tokenLogprobsLogits", Napi::Function::New(env, TokenLogprobsLogits, "tokenLogprobsLogits"));
  exports.Set("tokenLogprobsLinear", Napi::Function::New(env, TokenLogprobsLinear, "tokenLogprobsLinear"));
}

}  // namespace

MTRL_NAPI_MODULE(policy_loss, init);

}  // namespace mtrl::napi
