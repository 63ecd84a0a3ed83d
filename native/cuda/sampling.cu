// CUDA token sampling, log-softmax and logprob gathering: one thread block per row, no sorting.
// Follows the definition in mtrl/sampling.h step for step with the same float operations (explicit
// FMA / round-to-nearest intrinsics, so nvcc's contraction cannot change a bit) and exact integer
// weight sums, so it keeps the same set and draws the same token as the CPU. The top-k / top-p cut
// is a threshold search: a 255-bucket histogram of z (counts and integer masses, shared-memory
// atomics, which are exact and order-free for integers), then four 8-bit radix levels over the
// order key inside the chosen bucket, then the n-th equal-logit token in id order: a fixed number
// of passes over the row (at most 16 for top-k + top-p), each reading it once, always ending on a
// valid cut. Penalties are applied to a widened f32 copy of the penalised rows.
#include <cuda_runtime.h>

#include <climits>
#include <cstring>

#include "cuda_check.cuh"
#include "mtrl/bf16.h"
#include "mtrl/runtime.h"
#include "mtrl/sampling.h"

namespace mtrl::cuda {
namespace {

typedef unsigned long long u64;
constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;
constexpr int kBadUnset = 0x7f7f7f7f;  // cudaMemset(0x7f) pattern: "no bad index yet" for atomicMin

template <typename T>
__device__ __forceinline__ float load_logit(const T* p, long long i);
template <>
__device__ __forceinline__ float load_logit<float>(const float* p, long long i) {
  return p[i];
}
template <>
__device__ __forceinline__ float load_logit<uint16_t>(const uint16_t* p, long long i) {
  return bf16_to_f32(p[i]);
}

// ---- block-wide reductions and scans (warp shuffles + one shared slot per warp) --------------------
struct MaxF {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
struct MinLL {
  __device__ long long operator()(long long a, long long b) const { return a < b ? a : b; }
};
template <typename T>
struct Sum {
  __device__ T operator()(T a, T b) const { return a + b; }
};

template <typename T, typename Op>
__device__ T block_reduce(T v, Op op, T identity, u64* buf) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  T* b = reinterpret_cast<T*>(buf);
  __syncthreads();  // the previous user of buf has read its result
  if ((threadIdx.x & 31) == 0) b[threadIdx.x >> 5] = v;
  __syncthreads();
  if (threadIdx.x < 32) {
    T w = threadIdx.x < kWarps ? b[threadIdx.x] : identity;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) w = op(w, __shfl_xor_sync(0xffffffffu, w, o));
    if (threadIdx.x == 0) b[0] = w;
  }
  __syncthreads();
  return b[0];
}

// Inclusive prefix sum over the block in thread order; *total gets the block's sum.
__device__ u64 block_inclusive_scan(u64 v, u64* buf, u64* total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    u64 n = __shfl_up_sync(0xffffffffu, v, o);
    if (lane >= o) v += n;
  }
  __syncthreads();
  if (lane == 31) buf[warp] = v;
  __syncthreads();
  if (warp == 0) {
    u64 w = lane < kWarps ? buf[lane] : 0ull;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      u64 n = __shfl_up_sync(0xffffffffu, w, o);
      if (lane >= o) w += n;
    }
    if (lane < kWarps) buf[lane] = w;
  }
  __syncthreads();
  *total = buf[kWarps - 1];
  return v + (warp > 0 ? buf[warp - 1] : 0ull);
}

// ---- one row ----------------------------------------------------------------------------------------
template <typename T>
struct RowView {
  const T* x;        // raw logits of the row
  const float* yp;   // penalised logits (f32 copy) or null
  __device__ float raw(long long i) const { return load_logit(x, i); }
  __device__ float y(long long i) const { return yp ? yp[i] : load_logit(x, i); }
};

struct RowCut {
  int active;
  float y;
  long long id;
  u64 count, mass;
  int bucket;
  u64 count_before, mass_before;
};

__device__ __forceinline__ bool at_or_before(const RowCut& c, float y, long long i) {
  return y > c.y || (y == c.y && i <= c.id);
}

struct SharedState {
  u64 red[kWarps];
  u64 h_cnt[256], h_mass[256];  // level-0 histogram over all finite tokens
  u64 r_cnt[256], r_mass[256];  // current radix level
  u64 t, cc, cm, bc, bm, n, q;
  unsigned prefix, pmask;
  int bucket, found;
  long long id;
};

// The prefix of the sampling order selected by count (target tokens) or mass (tokens whose mass
// before them is < target) among finite tokens at or before `prev` (when has_prev). Mirrors
// resolve() in cpu/sampling_cpu.cc; the result is unique by definition, so both agree exactly.
template <typename T>
__device__ RowCut resolve(const RowView<T>& rv, long long V, float m, float inv, float tps, bool count_mode, u64 target,
                          const RowCut& prev, bool has_prev, SharedState& sh) {
  const int tid = threadIdx.x;
  const int last = has_prev ? prev.bucket : 254;
  if (tid == 0) {
    u64 cc = 0, cm = 0;
    int b = 0;
    for (; b <= last; ++b) {
      u64 c = sh.h_cnt[b], ms = sh.h_mass[b];
      if (has_prev && b == prev.bucket) c = prev.count - prev.count_before, ms = prev.mass - prev.mass_before;
      if (count_mode ? cc + c >= target : cm + ms >= target) break;
      cc += c;
      cm += ms;
    }
    sh.bucket = b;
    sh.cc = cc;
    sh.cm = cm;
    sh.t = count_mode ? target - cc : target - cm;
    sh.bc = sh.bm = 0;
    sh.prefix = sh.pmask = 0;
    sh.n = 1;
    sh.q = 0;
    sh.id = -1;
  }
  __syncthreads();
  const int b = sh.bucket;
  if (b > last) {  // target beyond the eligible set (cannot happen for valid targets): keep it all
    RowCut c = has_prev ? prev : RowCut{};
    __syncthreads();
    return c;
  }
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int j = tid; j < 256; j += kThreads) sh.r_cnt[j] = sh.r_mass[j] = 0;
    __syncthreads();
    const unsigned prefix = sh.prefix, pmask = sh.pmask;
    for (long long i = tid; i < V; i += kThreads) {
      float y = rv.y(i);
      if (!(y > -INFINITY)) continue;
      if (has_prev && !at_or_before(prev, y, i)) continue;
      float z = sample_z(y, m, inv);
      if (sample_bucket(z) != b) continue;
      unsigned key = sample_desc_key(y);
      if ((key & pmask) != prefix) continue;
      unsigned d = (key >> shift) & 255u;
      atomicAdd(&sh.r_cnt[d], 1ull);
      atomicAdd(&sh.r_mass[d], static_cast<u64>(sample_fixed(sampling_exp(z), tps)));
    }
    __syncthreads();
    if (tid == 0) {
      u64 t = sh.t;
      int d = 0;
      for (; d < 255; ++d) {
        if (count_mode ? sh.r_cnt[d] >= t : sh.r_mass[d] >= t) break;
        t -= count_mode ? sh.r_cnt[d] : sh.r_mass[d];
        sh.bc += sh.r_cnt[d];
        sh.bm += sh.r_mass[d];
      }
      sh.t = t;
      sh.prefix |= static_cast<unsigned>(d) << shift;
      sh.pmask |= 255u << shift;
      if (shift == 0) {
        // Every remaining token has the same logit, hence the same weight; order among them is by id.
        u64 c = sh.r_cnt[d];
        u64 q = c ? sh.r_mass[d] / c : 0;
        u64 n = count_mode ? t : (q > 0 ? (t + q - 1) / q : c);
        if (n > c) n = c;
        if (n == 0) n = 1;
        sh.n = n;
        sh.q = q;
      }
    }
    __syncthreads();
  }
  // The n-th eligible token with the final key, in id order.
  const unsigned key_full = sh.prefix;
  const u64 n = sh.n;
  u64 running = 0;
  for (long long base = 0; base < V; base += kThreads) {
    long long i = base + tid;
    u64 f = 0;
    if (i < V) {
      float y = rv.y(i);
      if (y > -INFINITY && (!has_prev || at_or_before(prev, y, i)) && sample_desc_key(y) == key_full) f = 1;
    }
    u64 total;
    u64 incl = block_inclusive_scan(f, sh.red, &total);
    if (running + total >= n) {  // uniform: running and total are the same on every thread
      if (f && running + incl == n) sh.id = i;
      __syncthreads();
      break;
    }
    running += total;
  }
  __syncthreads();
  RowCut c;
  c.active = 1;
  c.id = sh.id >= 0 ? sh.id : 0;
  c.y = rv.y(c.id);
  c.count = sh.cc + sh.bc + n;
  c.mass = sh.cm + sh.bm + n * sh.q;
  c.bucket = b;
  c.count_before = sh.cc;
  c.mass_before = sh.cm;
  __syncthreads();  // sh is reused by the caller
  return c;
}

template <typename T>
__global__ void __launch_bounds__(kThreads) sample_kernel(const T* __restrict__ logits, const float* __restrict__ ypen, long long V,
                                                          const SampleRow* __restrict__ rows, u64 seed, u64 offset, int shift,
                                                          float tps, int32_t* tokens, float* logprobs, float* raws,
                                                          int32_t* status, int32_t* bad_index) {
  __shared__ SharedState sh;
  const long long r = blockIdx.x;
  const int tid = threadIdx.x;
  const SampleRow p = rows[r];
  RowView<T> rv{logits + r * V, (p.penalize && ypen) ? ypen + r * V : nullptr};

  // Raw statistics: max, finite count, first NaN/+inf.
  float mx = -INFINITY;
  long long fin = 0, badi = LLONG_MAX;
  for (long long i = tid; i < V; i += kThreads) {
    float v = rv.raw(i);
    if (!(v < INFINITY) && i < badi) badi = i;
    if (v > -INFINITY) ++fin;
    mx = fmaxf(mx, v);
  }
  badi = block_reduce(badi, MinLL{}, LLONG_MAX, sh.red);
  fin = block_reduce(fin, Sum<long long>{}, 0ll, sh.red);
  mx = block_reduce(mx, MaxF{}, -INFINITY, sh.red);
  if (badi != LLONG_MAX) {
    if (tid == 0) {
      status[r] = isnan(rv.raw(badi)) ? kSampleNaN : kSamplePosInf;
      bad_index[r] = static_cast<int32_t>(badi);
    }
    return;
  }
  if (fin == 0) {
    if (tid == 0) status[r] = kSampleAllMasked;
    return;
  }
  // A penalty that produced NaN/+inf (reported by penalty_kernel) counts after the raw checks, as on the CPU.
  if (status[r] != kSampleOk) return;
  const float mraw = mx;
  double acc = 0.0;
  for (long long i = tid; i < V; i += kThreads) acc += sampling_exp(sample_z(rv.raw(i), mraw, 1.0f));
  const double raw_sum = block_reduce(acc, Sum<double>{}, 0.0, sh.red);

  float m = mraw;
  long long finite = fin;
  if (rv.yp) {
    mx = -INFINITY;
    fin = 0;
    for (long long i = tid; i < V; i += kThreads) {
      float v = rv.yp[i];
      if (v > -INFINITY) ++fin;
      mx = fmaxf(mx, v);
    }
    fin = block_reduce(fin, Sum<long long>{}, 0ll, sh.red);
    mx = block_reduce(mx, MaxF{}, -INFINITY, sh.red);
    if (fin == 0) {
      if (tid == 0) status[r] = kSampleAllMasked;
      return;
    }
    m = mx;
    finite = fin;
  }

  long long tok;
  float lp = 0.0f;
  if (p.greedy) {
    long long am = LLONG_MAX;
    for (long long i = tid; i < V; i += kThreads)
      if (rv.y(i) == m) {
        am = i;
        break;
      }
    tok = block_reduce(am, MinLL{}, LLONG_MAX, sh.red);
  } else {
    const float inv = p.inv_temperature;
    const bool need_k = p.top_k > 0 && p.top_k < finite;
    const bool need_p = p.top_p < 1.0;
    const bool filters = need_k || need_p;
    for (int j = tid; j < 256; j += kThreads) sh.h_cnt[j] = sh.h_mass[j] = 0;
    __syncthreads();
    u64 qa = 0;
    for (long long i = tid; i < V; i += kThreads) {
      float y = rv.y(i);
      if (!(y > -INFINITY)) continue;
      float z = sample_z(y, m, inv);
      u64 q = sample_fixed(sampling_exp(z), tps);
      qa += q;
      if (filters) {
        int b = sample_bucket(z);
        atomicAdd(&sh.h_cnt[b], 1ull);
        atomicAdd(&sh.h_mass[b], q);
      }
    }
    const u64 q_all = block_reduce(qa, Sum<u64>{}, 0ull, sh.red);  // also orders the histogram atomics

    RowCut cut{};
    cut.active = 0;
    if (need_k) cut = resolve(rv, V, m, inv, tps, true, static_cast<u64>(p.top_k), cut, false, sh);
    if (need_p) {
      const RowCut prev = cut;
      u64 q_k = need_k ? prev.mass : q_all;
      cut = resolve(rv, V, m, inv, tps, false, sample_top_p_threshold(p.top_p, q_k), prev, need_k, sh);
    }
    KeptSet ks;
    ks.has_cut = cut.active != 0;
    ks.cut_y = cut.y;
    ks.cut_id = static_cast<int32_t>(cut.id);
    ks.has_min_p = p.log_min_p > -INFINITY;
    ks.log_min_p = p.log_min_p;
    ks.m = m;
    ks.inv_t = inv;
    ks.two_pow_s = tps;

    u64 qk = 0;
    for (long long i = tid; i < V; i += kThreads) {
      float y = rv.y(i);
      if (kept(ks, y, i)) qk += sample_fixed(sampling_exp(sample_z(y, m, inv)), tps);
    }
    const u64 q_kept = block_reduce(qk, Sum<u64>{}, 0ull, sh.red);
    const u64 target = sample_mulhi(sample_random_bits(seed, p.row_id, offset), q_kept);

    // Inverse CDF in id order: tile by tile, the first kept token whose inclusive prefix > target.
    if (tid == 0) sh.id = -1;
    __syncthreads();
    u64 running = 0;
    for (long long base = 0; base < V; base += kThreads) {
      long long i = base + tid;
      u64 q = 0;
      if (i < V) {
        float y = rv.y(i);
        if (kept(ks, y, i)) q = sample_fixed(sampling_exp(sample_z(y, m, inv)), tps);
      }
      u64 total;
      u64 incl = block_inclusive_scan(q, sh.red, &total);
      if (running + total > target) {  // uniform over the block
        if (q > 0 && running + incl > target && running + incl - q <= target) sh.id = i;
        __syncthreads();
        break;
      }
      running += total;
    }
    __syncthreads();
    tok = sh.id;
    if (tok < 0) {  // unreachable (target < q_kept); fall back to the first token of the order
      long long am = LLONG_MAX;
      for (long long i = tid; i < V; i += kThreads)
        if (rv.y(i) == m) {
          am = i;
          break;
        }
      tok = block_reduce(am, MinLL{}, LLONG_MAX, sh.red);
    }
    lp = sample_logprob(sample_z(rv.y(tok), m, inv), q_kept, shift);
  }
  if (tid == 0) {
    tokens[r] = static_cast<int32_t>(tok);
    logprobs[r] = lp;
    raws[r] = static_cast<float>(static_cast<double>(rv.raw(tok)) - mraw - log(raw_sum));
  }
}

template <typename T>
__global__ void widen_kernel(const T* __restrict__ x, float* __restrict__ y, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    y[i] = load_logit(x, i);
}

// Applies the penalties of row blockIdx.x to its f32 copy: each distinct history token once, with
// its occurrence count (first occurrence found by a scan of the earlier positions).
__global__ void penalty_kernel(float* y, long long V, const int32_t* __restrict__ hist, long long L, const SampleRow* __restrict__ rows,
                               int32_t* status, int32_t* bad_index) {
  const long long r = blockIdx.x;
  const SampleRow p = rows[r];
  if (!p.penalize) return;
  const int32_t* h = hist + r * L;
  float* yr = y + r * V;
  for (long long j = threadIdx.x; j < L; j += blockDim.x) {
    int32_t t = h[j];
    if (t < 0) continue;
    bool first = true;
    for (long long k = 0; k < j && first; ++k) first = h[k] != t;
    if (!first) continue;
    int c = 1;
    for (long long k = j + 1; k < L; ++k) c += h[k] == t;
    float v = yr[t];
    if (p.repetition_penalty != 1.0f) v = v > 0.0f ? __fdiv_rn(v, p.repetition_penalty) : __fmul_rn(v, p.repetition_penalty);
    if (p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f)
      v = __fsub_rn(v, __fmaf_rn(p.frequency_penalty, static_cast<float>(c), p.presence_penalty));
    if (isnan(v) || v == INFINITY) {
      status[r] = kSamplePenaltyNonFinite;
      atomicMin(&bad_index[r], t);
    }
    yr[t] = v;
  }
}

// Row-wise log-softmax (out != null) and/or raw logprob of tokens[r] (gathered != null).
template <typename T>
__global__ void __launch_bounds__(kThreads) log_softmax_kernel(const T* __restrict__ logits, long long V, float* out,
                                                               const int32_t* __restrict__ tokens, float* gathered, int32_t* status,
                                                               int32_t* bad_index) {
  __shared__ u64 red[kWarps];
  const long long r = blockIdx.x;
  const int tid = threadIdx.x;
  const T* x = logits + r * V;
  float mx = -INFINITY;
  long long fin = 0, badi = LLONG_MAX;
  for (long long i = tid; i < V; i += kThreads) {
    float v = load_logit(x, i);
    if (!(v < INFINITY) && i < badi) badi = i;
    if (v > -INFINITY) ++fin;
    mx = fmaxf(mx, v);
  }
  badi = block_reduce(badi, MinLL{}, LLONG_MAX, red);
  fin = block_reduce(fin, Sum<long long>{}, 0ll, red);
  mx = block_reduce(mx, MaxF{}, -INFINITY, red);
  if (badi != LLONG_MAX) {
    if (tid == 0) {
      status[r] = isnan(load_logit(x, badi)) ? kSampleNaN : kSamplePosInf;
      bad_index[r] = static_cast<int32_t>(badi);
    }
    return;
  }
  if (fin == 0) {
    if (tid == 0) status[r] = kSampleAllMasked;
    return;
  }
  double acc = 0.0;
  for (long long i = tid; i < V; i += kThreads) acc += sampling_exp(sample_z(load_logit(x, i), mx, 1.0f));
  const double sum = block_reduce(acc, Sum<double>{}, 0.0, red);
  if (out) {
    const float ls = static_cast<float>(log(sum));
    for (long long i = tid; i < V; i += kThreads) out[r * V + i] = __fsub_rn(__fsub_rn(load_logit(x, i), mx), ls);
  }
  if (gathered && tid == 0) gathered[r] = static_cast<float>(static_cast<double>(load_logit(x, tokens[r])) - mx - log(sum));
}

// Device scratch for one call: per-row settings in, five per-row result arrays out.
struct RowBuffers {
  Tensor mem;
  SampleRow* rows = nullptr;
  int32_t *tokens = nullptr, *status = nullptr, *bad = nullptr;
  float *logprobs = nullptr, *raws = nullptr;
};

RowBuffers row_buffers(int64_t B, Device dev, const std::vector<SampleRow>* rows) {
  RowBuffers rb;
  size_t rows_bytes = rows ? ((B * sizeof(SampleRow) + 255) / 256) * 256 : 0;
  rb.mem = empty({static_cast<int64_t>(rows_bytes) + 5 * B * 4}, DType::U8, dev);
  uint8_t* base = rb.mem.ptr<uint8_t>();
  if (rows) {
    rb.rows = reinterpret_cast<SampleRow*>(base);
    cuda_rt::memcpy_h2d(rb.rows, rows->data(), B * sizeof(SampleRow), dev.index);
  }
  int32_t* res = reinterpret_cast<int32_t*>(base + rows_bytes);
  rb.tokens = res;
  rb.logprobs = reinterpret_cast<float*>(res + B);
  rb.raws = reinterpret_cast<float*>(res + 2 * B);
  rb.status = res + 3 * B;
  rb.bad = res + 4 * B;
  MTRL_CUDA_CHECK(cudaMemset(res, 0, 4 * B * 4));
  MTRL_CUDA_CHECK(cudaMemset(rb.bad, 0x7f, B * 4));
  return rb;
}

void copy_status(const RowBuffers& rb, int64_t B, int dev, std::vector<int32_t>& status, std::vector<int32_t>& bad) {
  status.resize(B);
  bad.resize(B);
  cuda_rt::memcpy_d2h(status.data(), rb.status, B * 4, dev);
  cuda_rt::memcpy_d2h(bad.data(), rb.bad, B * 4, dev);
  for (auto& b : bad)
    if (b == kBadUnset) b = -1;
}

}  // namespace

void sample_tokens(const Tensor& logits, const Tensor* history, const std::vector<SampleRow>& rows, uint64_t seed, uint64_t offset,
                   SampleResult& out) {
  const Device dev = logits.device();
  DeviceGuard g(dev.index);
  const int64_t B = logits.dim(0), V = logits.dim(1);
  const bool bf = logits.dtype == DType::BF16;
  RowBuffers rb = row_buffers(B, dev, &rows);
  bool any_penalty = false;
  for (const SampleRow& r : rows) any_penalty = any_penalty || r.penalize;
  Tensor ws;
  if (history && any_penalty) {
    ws = empty({B, V}, DType::F32, dev);
    long long n = B * V;
    if (bf) widen_kernel<uint16_t><<<grid_for(n, 256), 256>>>(logits.ptr<uint16_t>(), ws.ptr<float>(), n);
    else widen_kernel<float><<<grid_for(n, 256), 256>>>(logits.ptr<float>(), ws.ptr<float>(), n);
    MTRL_CUDA_LAUNCH_CHECK("sampleTokens widen");
    penalty_kernel<<<static_cast<unsigned>(B), 256>>>(ws.ptr<float>(), V, history->ptr<int32_t>(), history->dim(1), rb.rows, rb.status,
                                                      rb.bad);
    MTRL_CUDA_LAUNCH_CHECK("sampleTokens penalties");
  }
  const int shift = sample_weight_shift(V);
  const float tps = std::ldexp(1.0f, shift);
  const float* yp = ws.storage ? ws.ptr<float>() : nullptr;
  if (bf)
    sample_kernel<uint16_t><<<static_cast<unsigned>(B), kThreads>>>(logits.ptr<uint16_t>(), yp, V, rb.rows, seed, offset, shift, tps,
                                                                    rb.tokens, rb.logprobs, rb.raws, rb.status, rb.bad);
  else
    sample_kernel<float><<<static_cast<unsigned>(B), kThreads>>>(logits.ptr<float>(), yp, V, rb.rows, seed, offset, shift, tps,
                                                                 rb.tokens, rb.logprobs, rb.raws, rb.status, rb.bad);
  MTRL_CUDA_LAUNCH_CHECK("sampleTokens");
  out.resize(B);
  cuda_rt::memcpy_d2h(out.tokens.data(), rb.tokens, B * 4, dev.index);
  cuda_rt::memcpy_d2h(out.logprobs.data(), rb.logprobs, B * 4, dev.index);
  cuda_rt::memcpy_d2h(out.raw_logprobs.data(), rb.raws, B * 4, dev.index);
  copy_status(rb, B, dev.index, out.status, out.bad_index);
}

void log_softmax(const Tensor& logits, Tensor& out, std::vector<int32_t>& status, std::vector<int32_t>& bad_index) {
  const Device dev = logits.device();
  DeviceGuard g(dev.index);
  const int64_t V = logits.dim(-1), R = logits.numel() / V;
  RowBuffers rb = row_buffers(R, dev, nullptr);
  if (logits.dtype == DType::BF16)
    log_softmax_kernel<uint16_t><<<static_cast<unsigned>(R), kThreads>>>(logits.ptr<uint16_t>(), V, out.ptr<float>(), nullptr, nullptr,
                                                                         rb.status, rb.bad);
  else
    log_softmax_kernel<float><<<static_cast<unsigned>(R), kThreads>>>(logits.ptr<float>(), V, out.ptr<float>(), nullptr, nullptr,
                                                                      rb.status, rb.bad);
  MTRL_CUDA_LAUNCH_CHECK("logSoftmax");
  copy_status(rb, R, dev.index, status, bad_index);
}

void gather_logprobs(const Tensor& logits, const std::vector<int32_t>& tokens, std::vector<float>& out, std::vector<int32_t>& status,
                     std::vector<int32_t>& bad_index) {
  const Device dev = logits.device();
  DeviceGuard g(dev.index);
  const int64_t V = logits.dim(-1), R = logits.numel() / V;
  RowBuffers rb = row_buffers(R, dev, nullptr);
  // tokens go into the (otherwise unused) token slots of the row buffers
  cuda_rt::memcpy_h2d(rb.tokens, tokens.data(), R * 4, dev.index);
  if (logits.dtype == DType::BF16)
    log_softmax_kernel<uint16_t><<<static_cast<unsigned>(R), kThreads>>>(logits.ptr<uint16_t>(), V, nullptr, rb.tokens, rb.logprobs,
                                                                         rb.status, rb.bad);
  else
    log_softmax_kernel<float><<<static_cast<unsigned>(R), kThreads>>>(logits.ptr<float>(), V, nullptr, rb.tokens, rb.logprobs,
                                                                      rb.status, rb.bad);
  MTRL_CUDA_LAUNCH_CHECK("gatherLogprobs");
  out.resize(R);
  cuda_rt::memcpy_d2h(out.data(), rb.logprobs, R * 4, dev.index);
  copy_status(rb, R, dev.index, status, bad_index);
}

}  // namespace mtrl::cuda
