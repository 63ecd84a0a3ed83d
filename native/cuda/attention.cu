// CUDA fused attention (FlashAttention-2 algorithm on CUDA cores, f32 accumulation; f32 or bf16
// storage): a forward kernel with one block per (query tile, batch·head) streaming K/V tiles through
// shared memory with an online softmax and saving the log-sum-exp; a backward pass that recomputes
// the probabilities (one warp per key tile and kv head, looping over the heads of its GQA group so
// dK/dV need no atomics; dQ accumulates with f32 atomics); and a split-KV decode kernel whose
// partial results (unnormalised output, running max and sum per split) are merged by a second
// kernel. Semantics match native/cpu/attention_cpu.cc exactly (visibility rule, zeros and -inf for
// rows that see nothing, nothing past the lengths is read). Tensor cores are not used yet.
#include <cuda_runtime.h>

#include <algorithm>
#include <string>
#include <type_traits>

#include "cuda_check.cuh"
#include "mtrl/attention.h"
#include "mtrl/bf16.h"
#include "mtrl/tensor.h"

namespace mtrl::cuda {
namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
constexpr unsigned kFull = 0xffffffffu;
constexpr int kFwdWarps = 4;
constexpr int kRowsPerWarp = 8;
constexpr int kFwdRows = kFwdWarps * kRowsPerWarp;  // query rows per forward block

__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(uint16_t x) { return bf16_to_f32(x); }
template <typename T>
__device__ __forceinline__ T from_f32(float x);
template <>
__device__ __forceinline__ float from_f32<float>(float x) { return x; }
template <>
__device__ __forceinline__ uint16_t from_f32<uint16_t>(float x) { return f32_to_bf16(x); }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(kFull, v, o));
  return v;
}

struct Dims {
  int B, S, Sk, H, Hkv, D, group;
  float scale;
  bool causal;
  const int32_t* kv_len;
  const int32_t* q_len;
  int tile_k;  // keys per shared-memory tile (<= 32)
};

__device__ __forceinline__ int q_len_of(const Dims& p, int b) { return p.q_len ? p.q_len[b] : p.S; }
__device__ __forceinline__ int kv_len_of(const Dims& p, int b) { return p.kv_len ? p.kv_len[b] : p.Sk; }
// Keys of a tile starting at j0 (nc keys) that query s may see.
__device__ __forceinline__ int visible(const Dims& p, int s, int off, int j0, int nc) {
  if (!p.causal) return nc;
  return min(max(s + off + 1 - j0, 0), nc);
}

// ---------------------------------------------------------------------------------------------
// Forward: block = 4 warps, 32 query rows (8 per warp) of one (batch, head); lane j of a warp owns
// key j of the current tile for the scores and d = lane + 32·i of the output accumulator.
template <typename T, int DC>
__global__ void __launch_bounds__(kFwdWarps * 32) attn_fwd_kernel(Dims p, const T* __restrict__ q, const T* __restrict__ k,
                                                                  const T* __restrict__ v, T* __restrict__ out, float* __restrict__ lse) {
  extern __shared__ float smem[];
  const int D = p.D, ld = D + 1, tk = p.tile_k;  // ld: padded rows, so lanes reading one column hit distinct banks
  float* qs = smem;
  float* ks = qs + kFwdRows * D;
  float* vs = ks + tk * ld;
  const int b = blockIdx.y / p.H, h = blockIdx.y % p.H, hk = h / p.group;
  const int s0 = blockIdx.x * kFwdRows, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int qlen = q_len_of(p, b), kvlen = kv_len_of(p, b), off = kvlen - qlen;
  const float c = p.scale * kLog2e;  // scores in log2 units: softmax through exp2
  for (int idx = threadIdx.x; idx < kFwdRows * D; idx += blockDim.x) {
    const int r = idx / D, d = idx % D, s = s0 + r;
    qs[idx] = s < qlen ? to_f32(q[((size_t)(b * p.S + s) * p.H + h) * D + d]) * c : 0.0f;
  }
  float m[kRowsPerWarp], l[kRowsPerWarp], o[kRowsPerWarp][DC];
#pragma unroll
  for (int rr = 0; rr < kRowsPerWarp; ++rr) {
    m[rr] = -INFINITY;
    l[rr] = 0.0f;
#pragma unroll
    for (int i = 0; i < DC; ++i) o[rr][i] = 0.0f;
  }
  const int s_last = min(s0 + kFwdRows, qlen) - 1;
  const int kv_end = s_last < s0 ? 0 : (p.causal ? min(kvlen, s_last + off + 1) : kvlen);
  for (int j0 = 0; j0 < kv_end; j0 += tk) {
    const int nc = min(tk, kv_end - j0);
    __syncthreads();  // the previous tile is consumed (and, the first time, the q tile is stored)
    for (int idx = threadIdx.x; idx < tk * D; idx += blockDim.x) {
      const int j = idx / D, d = idx % D;
      float kx = 0.0f, vx = 0.0f;
      if (j < nc) {
        const size_t g = ((size_t)(b * p.Sk + j0 + j) * p.Hkv + hk) * D + d;
        kx = to_f32(k[g]);
        vx = to_f32(v[g]);
      }
      ks[j * ld + d] = kx;
      vs[j * ld + d] = vx;
    }
    __syncthreads();
#pragma unroll
    for (int rr = 0; rr < kRowsPerWarp; ++rr) {
      const int r = warp * kRowsPerWarp + rr, s = s0 + r;
      if (s >= qlen) continue;  // warp-uniform
      const int lim = visible(p, s, off, j0, nc);
      if (lim == 0) continue;  // warp-uniform
      const float* qr = qs + r * D;
      float sc = -INFINITY;
      if (lane < lim) {
        float acc = 0.0f;
        for (int d = 0; d < D; ++d) acc = fmaf(qr[d], ks[lane * ld + d], acc);
        sc = acc;
      }
      const float mx = fmaxf(m[rr], warp_max(sc));
      const float pj = lane < lim ? exp2f(sc - mx) : 0.0f;
      const float alpha = exp2f(m[rr] - mx);  // 0 on the first visible tile (m = -inf)
      l[rr] = l[rr] * alpha + warp_sum(pj);
      m[rr] = mx;
#pragma unroll
      for (int i = 0; i < DC; ++i) o[rr][i] *= alpha;
      for (int jj = 0; jj < lim; ++jj) {
        const float pjj = __shfl_sync(kFull, pj, jj);
#pragma unroll
        for (int i = 0; i < DC; ++i) {
          const int d = lane + 32 * i;
          if (d < D) o[rr][i] = fmaf(pjj, vs[jj * ld + d], o[rr][i]);
        }
      }
    }
  }
#pragma unroll
  for (int rr = 0; rr < kRowsPerWarp; ++rr) {
    const int s = s0 + warp * kRowsPerWarp + rr;
    if (s >= p.S) continue;
    const bool valid = s < qlen && l[rr] > 0.0f;
    const float inv = valid ? 1.0f / l[rr] : 0.0f;
    const size_t base = ((size_t)(b * p.S + s) * p.H + h) * D;
#pragma unroll
    for (int i = 0; i < DC; ++i) {
      const int d = lane + 32 * i;
      if (d < D) out[base + d] = from_f32<T>(valid ? o[rr][i] * inv : 0.0f);
    }
    if (lane == 0 && lse) lse[((size_t)b * p.H + h) * p.S + s] = valid ? m[rr] * kLn2 + logf(l[rr]) : -INFINITY;
  }
}

// ---------------------------------------------------------------------------------------------
// Backward, step 1: delta = rowsum(dO ∘ O) per (b, h, s), one warp per row.
template <typename T>
__global__ void attn_bwd_delta_kernel(Dims p, const T* __restrict__ dout, const T* __restrict__ out, float* __restrict__ delta) {
  const long long row = (long long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;  // (b, s, h)
  const int lane = threadIdx.x % 32;
  if (row >= (long long)p.B * p.S * p.H) return;
  const int h = row % p.H, s = (row / p.H) % p.S, b = row / p.H / p.S;
  float acc = 0.0f;
  if (s < q_len_of(p, b))
    for (int d = lane; d < p.D; d += 32) acc = fmaf(to_f32(dout[row * p.D + d]), to_f32(out[row * p.D + d]), acc);
  acc = warp_sum(acc);
  if (lane == 0) delta[((size_t)b * p.H + h) * p.S + s] = acc;
}

// Backward, step 2: one warp per (key tile, batch, kv head). Lane j owns key j: its K/V rows and its
// dK/dV accumulators live in shared memory; every query row (of every head in the GQA group) that
// can see the tile contributes, recomputing p = exp(z − lse) from the saved lse.
template <typename T>
__global__ void __launch_bounds__(32) attn_bwd_kernel(Dims p, const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                                                     const T* __restrict__ dout, const float* __restrict__ lse,
                                                     const float* __restrict__ delta, float* __restrict__ dq_acc, T* __restrict__ dk,
                                                     T* __restrict__ dv) {
  extern __shared__ float smem[];
  const int D = p.D, ld = D + 1, tk = p.tile_k, lane = threadIdx.x;
  float* ks = smem;
  float* vs = ks + tk * ld;
  float* dks = vs + tk * ld;
  float* dvs = dks + tk * ld;
  float* qr = dvs + tk * ld;
  float* dor = qr + D;
  float* dss = dor + D;  // 32 floats: dS of the current row, read by every lane for dQ
  const int b = blockIdx.y / p.Hkv, hk = blockIdx.y % p.Hkv, j0 = blockIdx.x * tk;
  const int qlen = q_len_of(p, b), kvlen = kv_len_of(p, b), off = kvlen - qlen;
  const int jn = min(tk, p.Sk - j0), nc = min(max(kvlen - j0, 0), jn);
  const float c = p.scale * kLog2e;
  for (int idx = lane; idx < tk * D; idx += 32) {
    const int j = idx / D, d = idx % D;
    float kx = 0.0f, vx = 0.0f;
    if (j < nc) {
      const size_t g = ((size_t)(b * p.Sk + j0 + j) * p.Hkv + hk) * D + d;
      kx = to_f32(k[g]);
      vx = to_f32(v[g]);
    }
    ks[j * ld + d] = kx;
    vs[j * ld + d] = vx;
    dks[j * ld + d] = 0.0f;
    dvs[j * ld + d] = 0.0f;
  }
  __syncwarp();
  const int s_first = p.causal ? max(0, j0 - off) : 0;
  for (int g = 0; nc > 0 && g < p.group; ++g) {
    const int h = hk * p.group + g;
    for (int s = s_first; s < qlen; ++s) {
      const int lim = visible(p, s, off, j0, nc);
      if (lim == 0) continue;  // warp-uniform
      const size_t row = ((size_t)(b * p.S + s) * p.H + h) * D;
      for (int d = lane; d < D; d += 32) {
        qr[d] = to_f32(q[row + d]) * c;
        dor[d] = to_f32(dout[row + d]);
      }
      const float lse2 = lse[((size_t)b * p.H + h) * p.S + s] * kLog2e, dl = delta[((size_t)b * p.H + h) * p.S + s];
      __syncwarp();
      float pj = 0.0f, dsj = 0.0f;
      if (lane < lim) {
        float acc = 0.0f, accd = 0.0f;
        for (int d = 0; d < D; ++d) {
          acc = fmaf(qr[d], ks[lane * ld + d], acc);
          accd = fmaf(dor[d], vs[lane * ld + d], accd);
        }
        pj = exp2f(acc - lse2);
        dsj = pj * (accd - dl);
        for (int d = 0; d < D; ++d) {
          dvs[lane * ld + d] = fmaf(pj, dor[d], dvs[lane * ld + d]);
          dks[lane * ld + d] = fmaf(dsj, qr[d], dks[lane * ld + d]);
        }
      }
      dss[lane] = dsj;
      __syncwarp();
      for (int d = lane; d < D; d += 32) {
        float acc = 0.0f;
        for (int jj = 0; jj < lim; ++jj) acc = fmaf(dss[jj], ks[jj * ld + d], acc);
        atomicAdd(dq_acc + row + d, acc * p.scale);
      }
      __syncwarp();  // qr/dor/dss are rewritten by the next row
    }
  }
  __syncwarp();  // every lane's dK/dV rows are complete and visible
  // dK = scale·Σ dS·q = Σ dS·(c·q)/log2 e; keys past kvLen get zeros.
  for (int idx = lane; idx < jn * D; idx += 32) {
    const int j = idx / D, d = idx % D;
    const size_t g = ((size_t)(b * p.Sk + j0 + j) * p.Hkv + hk) * D + d;
    dk[g] = from_f32<T>(j < nc ? dks[j * ld + d] * (1.0f / kLog2e) : 0.0f);
    dv[g] = from_f32<T>(j < nc ? dvs[j * ld + d] : 0.0f);
  }
}

template <typename T>
__global__ void f32_to_kernel(const float* __restrict__ src, T* __restrict__ dst, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    dst[i] = from_f32<T>(src[i]);
}

// ---------------------------------------------------------------------------------------------
// Decode, split-KV (a few new tokens per row; longer blocks of new queries go through the forward
// kernel, see core/attention.cc): one warp per (split, query row). Lanes split the head dim; each key's score is a
// warp reduction, 32 keys at a time feed one online-softmax update. Partial results go to a
// workspace and attn_decode_combine_kernel merges the splits of each row.
struct DecodeDims {
  int B, Snew, Smax, H, Hkv, D, group, splits, chunk;
  float scale;
};

template <typename T, int DC>
__global__ void __launch_bounds__(32) attn_decode_split_kernel(DecodeDims p, const T* __restrict__ q, const T* __restrict__ kc,
                                                              const T* __restrict__ vc, const int32_t* __restrict__ lens,
                                                              float* __restrict__ part_o, float* __restrict__ part_ml) {
  const int split = blockIdx.y, row = blockIdx.x, lane = threadIdx.x;  // rows on x: B·Snew·H may exceed 65535
  const int h = row % p.H, s = (row / p.H) % p.Snew, b = row / p.H / p.Snew, hk = h / p.group;
  const int n = lens[b] - p.Snew + s + 1;  // visible keys: everything before this query, itself included
  const int jb = split * p.chunk, je = min(n, jb + p.chunk);
  const float c = p.scale * kLog2e;
  float qv[DC], o[DC];
#pragma unroll
  for (int i = 0; i < DC; ++i) {
    const int d = lane + 32 * i;
    qv[i] = d < p.D ? to_f32(q[(size_t)row * p.D + d]) * c : 0.0f;
    o[i] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  for (int j0 = jb; j0 < je; j0 += 32) {
    const int cnt = min(32, je - j0);
    float my = -INFINITY;
    for (int jj = 0; jj < cnt; ++jj) {
      const T* kr = kc + ((size_t)(b * p.Smax + j0 + jj) * p.Hkv + hk) * p.D;
      float part = 0.0f;
#pragma unroll
      for (int i = 0; i < DC; ++i) {
        const int d = lane + 32 * i;
        if (d < p.D) part = fmaf(qv[i], to_f32(kr[d]), part);
      }
      const float sc = warp_sum(part);
      if (lane == jj) my = sc;
    }
    const float mx = fmaxf(m, warp_max(my));
    const float pj = lane < cnt ? exp2f(my - mx) : 0.0f;
    const float alpha = exp2f(m - mx);
    l = l * alpha + warp_sum(pj);
    m = mx;
#pragma unroll
    for (int i = 0; i < DC; ++i) o[i] *= alpha;
    for (int jj = 0; jj < cnt; ++jj) {
      const float pjj = __shfl_sync(kFull, pj, jj);
      const T* vr = vc + ((size_t)(b * p.Smax + j0 + jj) * p.Hkv + hk) * p.D;
#pragma unroll
      for (int i = 0; i < DC; ++i) {
        const int d = lane + 32 * i;
        if (d < p.D) o[i] = fmaf(pjj, to_f32(vr[d]), o[i]);
      }
    }
  }
  const size_t idx = (size_t)row * p.splits + split;
#pragma unroll
  for (int i = 0; i < DC; ++i) {
    const int d = lane + 32 * i;
    if (d < p.D) part_o[idx * p.D + d] = o[i];
  }
  if (lane == 0) {
    part_ml[2 * idx] = m;
    part_ml[2 * idx + 1] = l;
  }
}

template <typename T>
__global__ void attn_decode_combine_kernel(DecodeDims p, const float* __restrict__ part_o, const float* __restrict__ part_ml, T* __restrict__ out) {
  const long long row = (long long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= (long long)p.B * p.Snew * p.H) return;
  float M = -INFINITY;
  for (int sp = 0; sp < p.splits; ++sp) M = fmaxf(M, part_ml[2 * (row * p.splits + sp)]);
  float L = 0.0f;
  for (int sp = 0; sp < p.splits; ++sp) {
    const float ms = part_ml[2 * (row * p.splits + sp)];
    if (ms != -INFINITY) L += exp2f(ms - M) * part_ml[2 * (row * p.splits + sp) + 1];
  }
  for (int d = lane; d < p.D; d += 32) {
    float acc = 0.0f;
    for (int sp = 0; sp < p.splits; ++sp) {
      const float ms = part_ml[2 * (row * p.splits + sp)];
      if (ms != -INFINITY) acc = fmaf(exp2f(ms - M), part_o[(row * p.splits + sp) * p.D + d], acc);
    }
    out[row * p.D + d] = from_f32<T>(L > 0.0f ? acc / L : 0.0f);
  }
}

// ---------------------------------------------------------------------------------------------
Dims make_dims(const AttentionParams& a) {
  Dims p;
  p.B = (int)a.batch, p.S = (int)a.seqlen_q, p.Sk = (int)a.seqlen_k, p.H = (int)a.heads, p.Hkv = (int)a.kv_heads, p.D = (int)a.head_dim;
  p.group = p.H / p.Hkv;
  p.scale = a.scale;
  p.causal = a.causal;
  p.kv_len = a.kv_lengths;
  p.q_len = a.q_lengths;
  p.tile_k = p.D > 128 ? 16 : 32;  // keeps shared memory within 99 KB (sm_86/89) for D = 256
  return p;
}

// Allows `bytes` of dynamic shared memory for `kernel`, or throws naming the limit.
template <typename K>
void allow_smem(K kernel, size_t bytes, const char* what) {
  int dev = 0, optin = 0;
  MTRL_CUDA_CHECK(cudaGetDevice(&dev));
  MTRL_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  if (bytes > (size_t)optin)
    throw_error(std::string(what) + ": needs " + std::to_string(bytes) + " bytes of shared memory per block, this GPU allows " +
                std::to_string(optin));
  if (bytes > 48 * 1024) MTRL_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
}

template <typename T, int DC>
void launch_fwd(const Dims& p, const AttentionParams& a) {
  const size_t smem = ((size_t)kFwdRows * p.D + 2 * (size_t)p.tile_k * (p.D + 1)) * sizeof(float);
  auto kernel = attn_fwd_kernel<T, DC>;
  allow_smem(kernel, smem, "attentionForward");
  dim3 grid((p.S + kFwdRows - 1) / kFwdRows, p.B * p.H);
  kernel<<<grid, kFwdWarps * 32, smem>>>(p, (const T*)a.q, (const T*)a.k, (const T*)a.v, (T*)a.out, a.lse);
  MTRL_CUDA_LAUNCH_CHECK("attention forward");
}

template <typename T>
void forward_typed(const Dims& p, const AttentionParams& a) {
  switch ((p.D + 31) / 32) {
    case 1: return launch_fwd<T, 1>(p, a);
    case 2: return launch_fwd<T, 2>(p, a);
    case 3: return launch_fwd<T, 3>(p, a);
    case 4: return launch_fwd<T, 4>(p, a);
    case 5: return launch_fwd<T, 5>(p, a);
    case 6: return launch_fwd<T, 6>(p, a);
    case 7: return launch_fwd<T, 7>(p, a);
    default: return launch_fwd<T, 8>(p, a);
  }
}

template <typename T>
void backward_typed(const Dims& p, const AttentionParams& a, Device dev) {
  const long long rows = (long long)p.B * p.S * p.H, q_elems = rows * p.D;
  Tensor delta = empty({std::max<long long>(rows, 1)}, DType::F32, dev);
  attn_bwd_delta_kernel<T><<<grid_for(rows, 8), 256>>>(p, (const T*)a.dout, (const T*)a.out_in, delta.ptr<float>());
  MTRL_CUDA_LAUNCH_CHECK("attention backward (delta)");
  // f32 outputs accumulate dQ in place; bf16 ones through an f32 buffer converted at the end.
  Tensor acc;
  float* dq_acc = (float*)a.dq;
  if (!std::is_same<T, float>::value) {
    acc = empty({std::max<long long>(q_elems, 1)}, DType::F32, dev);
    dq_acc = acc.ptr<float>();
  }
  if (q_elems) MTRL_CUDA_CHECK(cudaMemsetAsync(dq_acc, 0, (size_t)q_elems * sizeof(float)));
  const size_t smem = (4 * (size_t)p.tile_k * (p.D + 1) + 2 * (size_t)p.D + 32) * sizeof(float);
  auto kernel = attn_bwd_kernel<T>;
  allow_smem(kernel, smem, "attentionBackward");
  dim3 grid((p.Sk + p.tile_k - 1) / p.tile_k, p.B * p.Hkv);
  if (grid.x > 0) {
    kernel<<<grid, 32, smem>>>(p, (const T*)a.q, (const T*)a.k, (const T*)a.v, (const T*)a.dout, a.lse, delta.ptr<float>(), dq_acc,
                               (T*)a.dk, (T*)a.dv);
    MTRL_CUDA_LAUNCH_CHECK("attention backward");
  }
  if (!std::is_same<T, float>::value && q_elems) {
    f32_to_kernel<T><<<grid_for(q_elems, 256), 256>>>(dq_acc, (T*)a.dq, q_elems);
    MTRL_CUDA_LAUNCH_CHECK("attention backward (dq convert)");
  }
}

template <typename T, int DC>
void launch_decode(const DecodeDims& p, const AttentionDecodeParams& a, float* part_o, float* part_ml) {
  const long long rows = (long long)p.B * p.Snew * p.H;
  dim3 grid((unsigned)rows, p.splits);
  attn_decode_split_kernel<T, DC><<<grid, 32>>>(p, (const T*)a.q, (const T*)a.k_cache, (const T*)a.v_cache, a.new_lengths, part_o, part_ml);
  MTRL_CUDA_LAUNCH_CHECK("attention decode (split)");
  attn_decode_combine_kernel<T><<<grid_for(rows, 8), 256>>>(p, part_o, part_ml, (T*)a.out);
  MTRL_CUDA_LAUNCH_CHECK("attention decode (combine)");
}

template <typename T>
void decode_typed(const DecodeDims& p, const AttentionDecodeParams& a, float* part_o, float* part_ml) {
  switch ((p.D + 31) / 32) {
    case 1: return launch_decode<T, 1>(p, a, part_o, part_ml);
    case 2: return launch_decode<T, 2>(p, a, part_o, part_ml);
    case 3: return launch_decode<T, 3>(p, a, part_o, part_ml);
    case 4: return launch_decode<T, 4>(p, a, part_o, part_ml);
    case 5: return launch_decode<T, 5>(p, a, part_o, part_ml);
    case 6: return launch_decode<T, 6>(p, a, part_o, part_ml);
    case 7: return launch_decode<T, 7>(p, a, part_o, part_ml);
    default: return launch_decode<T, 8>(p, a, part_o, part_ml);
  }
}

}  // namespace

void attention_forward(const AttentionParams& a) {
  if (a.batch * a.heads * a.seqlen_q == 0) return;
  DeviceGuard guard(a.device_index);
  Dims p = make_dims(a);
  if (a.dtype == DType::BF16) forward_typed<uint16_t>(p, a);
  else forward_typed<float>(p, a);
}

void attention_backward(const AttentionParams& a) {
  if (a.batch == 0) return;
  DeviceGuard guard(a.device_index);
  Dims p = make_dims(a);
  Device dev{Device::CUDA, a.device_index};
  if (a.dtype == DType::BF16) backward_typed<uint16_t>(p, a, dev);
  else backward_typed<float>(p, a, dev);
}

void attention_decode(const AttentionDecodeParams& a) {
  const long long rows = a.batch * a.seqlen_new * a.heads;
  if (rows == 0) return;
  DeviceGuard guard(a.device_index);
  int dev = a.device_index, sms = 0;
  MTRL_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  DecodeDims p;
  p.B = (int)a.batch, p.Snew = (int)a.seqlen_new, p.Smax = (int)a.cache_len_max, p.H = (int)a.heads, p.Hkv = (int)a.kv_heads;
  p.D = (int)a.head_dim, p.group = p.H / p.Hkv, p.scale = a.scale;
  // Enough (split, row) warps to fill the GPU several times over, but splits of at least 256 keys.
  const long long want = std::max<long long>(1, (8LL * sms + rows - 1) / rows);
  const long long most = std::max<long long>(1, (a.max_new_length + 255) / 256);
  p.splits = (int)std::min(std::min(want, most), 65535LL);
  p.chunk = (int)(((a.max_new_length + p.splits - 1) / p.splits + 31) / 32 * 32);
  if (p.chunk == 0) p.chunk = 32;
  Device d{Device::CUDA, dev};
  Tensor part_o = empty({rows * p.splits * p.D}, DType::F32, d), part_ml = empty({rows * p.splits * 2}, DType::F32, d);
  if (a.dtype == DType::BF16) decode_typed<uint16_t>(p, a, part_o.ptr<float>(), part_ml.ptr<float>());
  else decode_typed<float>(p, a, part_o.ptr<float>(), part_ml.ptr<float>());
}

}  // namespace mtrl::cuda
