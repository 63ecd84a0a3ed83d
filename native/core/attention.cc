// Argument checks and device dispatch for the fused attention family (forward, backward, decode and
// the unfused baseline). Everything a kernel relies on (shapes, dtypes, devices, length ranges,
// cache capacity) is verified here, so kernels can index without further checks.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "mtrl/attention.h"
#include "mtrl/check.h"
#include "mtrl/ops.h"
#include "mtrl/runtime.h"

namespace mtrl {
namespace {

constexpr int64_t kMaxHeadDim = 256;
// CUDA decode with at most this many new queries per row uses the split-KV kernel.
constexpr int64_t kDecodeSplitMaxQueries = 8;

// Reads an i32 (B) tensor to the host (a small copy on CUDA) so its values can be range-checked.
std::vector<int32_t> host_lengths(const Tensor& t) {
  std::vector<int32_t> h(static_cast<size_t>(t.numel()));
  if (h.empty()) return h;
  if (t.device().is_cpu()) std::memcpy(h.data(), t.raw(), h.size() * 4);
  else cuda_rt::memcpy_d2h(h.data(), t.raw(), h.size() * 4, t.device().index);
  return h;
}

void check_lengths(const std::optional<Tensor>& t, const Tensor& q, int64_t batch, int64_t limit, const char* fn,
                   const char* arg, const char* limit_name) {
  if (!t) return;
  check_dtype(*t, DType::I32, fn, arg);
  if (t->ndim() != 1 || t->dim(0) != batch)
    throw_range_error(std::string(fn) + ": " + arg + " must have shape (B=" + std::to_string(batch) + ",), got " + shape_str(t->shape));
  check_same_device(q, *t, fn, "q", arg);
  auto h = host_lengths(*t);
  for (size_t b = 0; b < h.size(); ++b)
    if (h[b] < 0 || h[b] > limit)
      throw_range_error(std::string(fn) + ": " + arg + "[" + std::to_string(b) + "] = " + std::to_string(h[b]) +
                        " is out of range [0, " + limit_name + "=" + std::to_string(limit) + "]");
}

// Validates q/k/v (and the options) and fills the shape part of the params.
AttentionParams check_qkv(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& o, const char* fn,
                          const char* kn = "k", const char* vn = "v") {
  check_float(q, fn, "q");
  check_ndim(q, 4, fn, "q", "(B, S, H, D)");
  int64_t B = q.dim(0), S = q.dim(1), H = q.dim(2), D = q.dim(3);
  check_defined(k, fn, kn);
  check_defined(v, fn, vn);
  const std::string f(fn), K(kn), V(vn);
  if (k.ndim() != 4 || k.dim(0) != B || k.dim(3) != D)
    throw_range_error(f + ": " + K + " must have shape (B=" + std::to_string(B) + ", Sk, Hkv, D=" + std::to_string(D) + "), got " +
                      shape_str(k.shape));
  if (v.shape != k.shape) throw_range_error(f + ": " + V + " must have the shape of " + K + " " + shape_str(k.shape) + ", got " + shape_str(v.shape));
  if (k.dtype != q.dtype || v.dtype != q.dtype)
    throw_type_error(f + ": q, " + K + " and " + V + " must share one dtype, got " + dtype_name(q.dtype) + ", " + dtype_name(k.dtype) +
                     ", " + dtype_name(v.dtype));
  check_same_device(q, k, fn, "q", kn);
  check_same_device(q, v, fn, "q", vn);
  int64_t Sk = k.dim(1), Hkv = k.dim(2);
  if (H < 1 || Hkv < 1) throw_range_error(std::string(fn) + ": q and k need at least one head, got H=" + std::to_string(H) + ", Hkv=" + std::to_string(Hkv));
  if (H % Hkv != 0)
    throw_range_error(std::string(fn) + ": q has H=" + std::to_string(H) + " heads, which must be a multiple of the Hkv=" +
                      std::to_string(Hkv) + " heads of " + K + " and " + V + " (GQA)");
  if (D < 1 || D > kMaxHeadDim)
    throw_range_error(std::string(fn) + ": head dim D must be in [1, " + std::to_string(kMaxHeadDim) + "], got " + std::to_string(D));
  if (q.device().is_cpu() && q.dtype != DType::F32)
    throw_type_error(std::string(fn) + ": " + dtype_name(q.dtype) +
                     " attention runs on CUDA only; on the CPU cast q, " + K + " and " + V + " to f32 (.cast('f32'))");
  AttentionParams p;
  p.batch = B, p.seqlen_q = S, p.seqlen_k = Sk, p.heads = H, p.kv_heads = Hkv, p.head_dim = D;
  double scale = o.scale ? *o.scale : 1.0 / std::sqrt(static_cast<double>(D));
  if (!std::isfinite(scale)) throw_range_error(std::string(fn) + ": scale must be a finite number, got " + std::to_string(scale));
  p.scale = static_cast<float>(scale);
  p.causal = o.causal;
  p.dtype = q.dtype;
  p.device_index = q.device().is_cuda() ? q.device().index : 0;
  check_lengths(o.kv_lengths, q, B, Sk, fn, "kvLengths", "Sk");
  check_lengths(o.q_lengths, q, B, S, fn, "qLengths", "S");
  p.kv_lengths = o.kv_lengths ? o.kv_lengths->ptr<int32_t>() : nullptr;
  p.q_lengths = o.q_lengths ? o.q_lengths->ptr<int32_t>() : nullptr;
  p.q = q.raw(), p.k = k.raw(), p.v = v.raw();
  return p;
}

void check_like_q(const Tensor& q, const Tensor& t, const char* fn, const char* arg) {
  check_defined(t, fn, arg);
  if (t.shape != q.shape)
    throw_range_error(std::string(fn) + ": " + arg + " must have the shape of q " + shape_str(q.shape) + ", got " + shape_str(t.shape));
  if (t.dtype != q.dtype) throw_type_error(std::string(fn) + ": " + arg + " must have dtype " + dtype_name(q.dtype) + " like q, got " + dtype_name(t.dtype));
  check_same_device(q, t, fn, "q", arg);
}

void check_lse(const Tensor& q, const Tensor& lse, const char* fn) {
  check_dtype(lse, DType::F32, fn, "lse");
  std::vector<int64_t> want{q.dim(0), q.dim(2), q.dim(1)};
  if (lse.shape != want)
    throw_range_error(std::string(fn) + ": lse must have shape (B, H, S) = " + shape_str(want) + ", got " + shape_str(lse.shape));
  check_same_device(q, lse, fn, "q", "lse");
}

}  // namespace

AttentionForwardResult attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& opts) {
  const char* fn = "attentionForward";
  AttentionParams p = check_qkv(q, k, v, opts, fn);
  AttentionForwardResult r{empty(q.shape, q.dtype, q.device()), empty({p.batch, p.heads, p.seqlen_q}, DType::F32, q.device())};
  p.out = r.out.raw();
  p.lse = r.lse.ptr<float>();
  if (q.device().is_cpu()) {
    cpu::attention_forward(p);
  } else {
    cuda_rt::require_device(q.device().index, fn);
#ifdef MTRL_WITH_CUDA
    cuda::attention_forward(p);
#endif
  }
  return r;
}

AttentionBackwardResult attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                                           const Tensor& out, const Tensor& lse, const AttentionOptions& opts) {
  const char* fn = "attentionBackward";
  AttentionParams p = check_qkv(q, k, v, opts, fn);
  check_like_q(q, dout, fn, "dOut");
  check_like_q(q, out, fn, "out");
  check_lse(q, lse, fn);
  AttentionBackwardResult r{empty(q.shape, q.dtype, q.device()), empty(k.shape, k.dtype, k.device()), empty(v.shape, v.dtype, v.device())};
  p.dout = dout.raw();
  p.out_in = out.raw();
  p.lse = lse.ptr<float>();
  p.dq = r.dq.raw(), p.dk = r.dk.raw(), p.dv = r.dv.raw();
  if (q.device().is_cpu()) {
    cpu::attention_backward(p);
  } else {
    cuda_rt::require_device(q.device().index, fn);
#ifdef MTRL_WITH_CUDA
    cuda::attention_backward(p);
#endif
  }
  return r;
}

Tensor attention_decode(const Tensor& q, Tensor& k_cache, Tensor& v_cache, Tensor& cache_lengths, const Tensor& k_new,
                        const Tensor& v_new, std::optional<double> scale) {
  const char* fn = "attentionDecode";
  AttentionOptions o;
  o.scale = scale;
  o.causal = true;
  AttentionParams base = check_qkv(q, k_cache, v_cache, o, fn, "kCache", "vCache");
  int64_t B = base.batch, Snew = base.seqlen_q, Smax = base.seqlen_k, Hkv = base.kv_heads, D = base.head_dim;
  std::vector<int64_t> want_new{B, Snew, Hkv, D};
  const char* names[2] = {"kNew", "vNew"};
  const Tensor* news[2] = {&k_new, &v_new};
  for (int i = 0; i < 2; ++i) {
    check_defined(*news[i], fn, names[i]);
    if (news[i]->shape != want_new)
      throw_range_error(std::string(fn) + ": " + names[i] + " must have shape (B, Snew, Hkv, D) = " + shape_str(want_new) + ", got " +
                        shape_str(news[i]->shape));
    if (news[i]->dtype != q.dtype)
      throw_type_error(std::string(fn) + ": " + names[i] + " must have dtype " + dtype_name(q.dtype) + " like q, got " + dtype_name(news[i]->dtype));
    check_same_device(q, *news[i], fn, "q", names[i]);
  }
  check_dtype(cache_lengths, DType::I32, fn, "cacheLengths");
  if (cache_lengths.ndim() != 1 || cache_lengths.dim(0) != B)
    throw_range_error(std::string(fn) + ": cacheLengths must have shape (B=" + std::to_string(B) + ",), got " + shape_str(cache_lengths.shape));
  check_same_device(q, cache_lengths, fn, "q", "cacheLengths");
  std::vector<int32_t> lens = host_lengths(cache_lengths);
  for (int64_t b = 0; b < B; ++b) {
    int64_t l = lens[static_cast<size_t>(b)];
    if (l < 0 || l > Smax)
      throw_range_error(std::string(fn) + ": cacheLengths[" + std::to_string(b) + "] = " + std::to_string(l) + " is out of range [0, Smax=" +
                        std::to_string(Smax) + "]");
    if (l + Snew > Smax)
      throw_range_error(std::string(fn) + ": the cache of row " + std::to_string(b) + " is full: cacheLengths[" + std::to_string(b) +
                        "] = " + std::to_string(l) + " plus Snew=" + std::to_string(Snew) + " new entries exceeds Smax=" +
                        std::to_string(Smax));
  }
  // Append the new keys/values: row b's block (Snew, Hkv, D) is contiguous in both tensors.
  size_t es = dtype_size(q.dtype);
  size_t block = static_cast<size_t>(Snew * Hkv * D) * es;
  std::vector<int32_t> new_lens(lens);
  int32_t max_len = 0;
  for (int64_t b = 0; b < B; ++b) {
    size_t bi = static_cast<size_t>(b);
    size_t dst_off = static_cast<size_t>((b * Smax + lens[bi]) * Hkv * D) * es, src_off = static_cast<size_t>(b) * block;
    for (int i = 0; i < 2; ++i) {
      Tensor& cache = i == 0 ? k_cache : v_cache;
      char* dst = static_cast<char*>(cache.raw()) + dst_off;
      const char* src = static_cast<const char*>(news[i]->raw()) + src_off;
      if (block == 0) continue;
      if (q.device().is_cpu()) std::memcpy(dst, src, block);
      else cuda_rt::memcpy_d2d(dst, q.device().index, src, q.device().index, block);
    }
    new_lens[bi] = static_cast<int32_t>(lens[bi] + Snew);
    if (new_lens[bi] > max_len) max_len = new_lens[bi];
  }
  if (B > 0) {
    if (q.device().is_cpu()) std::memcpy(cache_lengths.raw(), new_lens.data(), new_lens.size() * 4);
    else cuda_rt::memcpy_h2d(cache_lengths.raw(), new_lens.data(), new_lens.size() * 4, q.device().index);
  }
  Tensor out = empty(q.shape, q.dtype, q.device());
  if (q.device().is_cpu()) {
    // The new queries attend causally, bottom-right aligned, to the updated cache: the forward kernel
    // with kvLengths = the new lengths and every query row valid is exactly that.
    AttentionParams p = base;
    p.kv_lengths = new_lens.data();
    p.q_lengths = nullptr;
    p.causal = true;
    p.out = out.raw();
    p.lse = nullptr;
    cpu::attention_forward(p);
  } else if (Snew > kDecodeSplitMaxQueries) {
#ifdef MTRL_WITH_CUDA
    // Many new queries per row (a prefill through the cache): the forward kernel's query tiles use
    // the GPU better than one warp per query; it reads the updated lengths on the device.
    AttentionParams p = base;
    p.kv_lengths = cache_lengths.ptr<int32_t>();
    p.q_lengths = nullptr;
    p.causal = true;
    p.out = out.raw();
    p.lse = nullptr;
    cuda::attention_forward(p);
#endif
  } else {
#ifdef MTRL_WITH_CUDA
    AttentionDecodeParams p;
    p.batch = B, p.seqlen_new = Snew, p.cache_len_max = Smax, p.heads = base.heads, p.kv_heads = Hkv, p.head_dim = D;
    p.scale = base.scale;
    p.dtype = q.dtype;
    p.device_index = base.device_index;
    p.q = q.raw(), p.k_cache = k_cache.raw(), p.v_cache = v_cache.raw();
    p.new_lengths = cache_lengths.ptr<int32_t>();
    p.max_new_length = max_len;
    p.out = out.raw();
    cuda::attention_decode(p);
#endif
  }
  return out;
}

AttentionForwardResult attention_naive_forward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& opts) {
  const char* fn = "attentionNaiveForward";
  AttentionParams p = check_qkv(q, k, v, opts, fn);
  if (!q.device().is_cpu()) throw_type_error(std::string(fn) + ": the unfused baseline runs on the CPU only, got q on " + q.device().name());
  AttentionForwardResult r{empty(q.shape, q.dtype, q.device()), empty({p.batch, p.heads, p.seqlen_q}, DType::F32, q.device())};
  p.out = r.out.raw();
  p.lse = r.lse.ptr<float>();
  cpu::attention_naive_forward(p);
  return r;
}

AttentionBackwardResult attention_naive_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                                                 const Tensor& out, const Tensor& lse, const AttentionOptions& opts) {
  const char* fn = "attentionNaiveBackward";
  AttentionParams p = check_qkv(q, k, v, opts, fn);
  if (!q.device().is_cpu()) throw_type_error(std::string(fn) + ": the unfused baseline runs on the CPU only, got q on " + q.device().name());
  check_like_q(q, dout, fn, "dOut");
  check_like_q(q, out, fn, "out");
  check_lse(q, lse, fn);
  AttentionBackwardResult r{empty(q.shape, q.dtype, q.device()), empty(k.shape, k.dtype, k.device()), empty(v.shape, v.dtype, v.device())};
  p.dout = dout.raw();
  p.out_in = out.raw();
  p.lse = lse.ptr<float>();
  p.dq = r.dq.raw(), p.dk = r.dk.raw(), p.dv = r.dv.raw();
  cpu::attention_naive_backward(p);
  return r;
}

}  // namespace mtrl
