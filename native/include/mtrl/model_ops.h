// The transformer's building blocks, forward and backward: RMSNorm, LayerNorm, RoPE, SwiGLU, GELU
// (tanh), axpy / bias add / row sums, embedding gather with deterministic scatter-add backward,
// patch embedding (image → patch vectors), AdamW and the global gradient norm with clipping.
//
// dtypes: activations and parameters share one dtype, f32 or bf16 (math in f32, one rounding per
// stored value); saved statistics (rstd, mean) are always f32; AdamW state is f32; ids are i32.
// Every entry checks its arguments (mtrl::Error naming the function and the argument) and runs on
// the device its tensors live on. Parameter gradients either overwrite or accumulate (`accumulate`),
// and every reduction is deterministic: a fixed summation order independent of the thread count.
#pragma once
#include <cstdint>
#include <vector>

#include "mtrl/tensor.h"

namespace mtrl {

// ---- normalisation. x (..., D), w/b (D,); rstd and mean (...,) f32 (one value per row).
// y = x · rstd · w with rstd = 1/sqrt(mean(x²) + eps).
void rmsnorm_forward(const Tensor& x, const Tensor& w, double eps, Tensor& y, Tensor& rstd);
void rmsnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& rstd, Tensor& dx, Tensor& dw,
                      bool accumulate);
// y = (x − mean) · rstd · w + b with rstd = 1/sqrt(var(x) + eps) (biased variance).
void layernorm_forward(const Tensor& x, const Tensor& w, const Tensor& b, double eps, Tensor& y, Tensor& mean, Tensor& rstd);
void layernorm_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& mean, const Tensor& rstd, Tensor& dx,
                        Tensor& dw, Tensor& db, bool accumulate);

// ---- rotary position embedding on x (B, S, H, D). positions: i32 (B,) start offsets (row b's
// token s sits at offsets[b] + s, which is what KV-cache decode needs) or (B, S) explicit positions.
// Pair i (< rotary_dim/2) rotates by angle pos · base^(−2i/rotary_dim): 'half' layout pairs
// (i, i + rotary_dim/2) (GPT-NeoX / Llama in HF), interleaved pairs (2i, 2i+1) (GPT-J, Meta Llama).
// Dimensions past rotary_dim pass through. inverse = true rotates by −angle: the backward pass
// (a rotation's transpose is its inverse). out may be x itself (in place).
struct RopeParams {
  double base = 10000.0;
  int64_t rotary_dim = 0;  // 0 = D
  bool interleaved = false;
  bool inverse = false;
};
void rope(const Tensor& x, const Tensor& positions, const RopeParams& p, Tensor& out);

// ---- gated and plain activations (all same shape). out = silu(gate) · up.
void swiglu_forward(const Tensor& gate, const Tensor& up, Tensor& out);
void swiglu_backward(const Tensor& dout, const Tensor& gate, const Tensor& up, Tensor& dgate, Tensor& dup);
// GELU, tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
void gelu_forward(const Tensor& x, Tensor& out);
void gelu_backward(const Tensor& dout, const Tensor& x, Tensor& dx);

// ---- small BLAS-1 and reductions.
void axpy(Tensor& y, const Tensor& x, double alpha);             // y += alpha · x (same shape)
void add_bias(Tensor& x, const Tensor& bias);                   // x (..., D) += bias (D,) on every row
void sum_rows(const Tensor& x, Tensor& out, bool accumulate);   // out (D,) (+)= Σ over rows of x (..., D)

// ---- embedding. ids i32 (...) with values in [0, V); table (V, D) → out (..., D).
// Backward: dtable (V, D) (+)= scatter-add of dout rows, summing each table row's contributions in
// token order (deterministic on every device).
void embedding_forward(const Tensor& ids, const Tensor& table, Tensor& out);
void embedding_backward(const Tensor& dout, const Tensor& ids, Tensor& dtable, bool accumulate);

// ---- patch embedding: image (B, H, W, C) u8 or f32 → patches (B, (H/P)·(W/P), K·K·C), patches in
// row-major grid order, each flattened (wy, wx, c). Patch (py, px) is the K×K window of pixels
// centred on the P×P cell at (py·P, px·P): rows py·P − (K−P)/2 … +K−1 (K = window ≥ P, K − P even;
// window 0 means K = P, the plain non-overlapping patches). Values become x·scale + shift (defaults:
// u8 maps 0..255 to [−1, 1]; f32 is copied unchanged); window pixels outside the image are 0.
// Backward (f32 images only; a u8 image is data, not a parameter) sums, for every pixel, dpatches·scale
// over the windows that contain it (in patch order: deterministic).
struct PatchParams {
  int64_t patch = 0;
  int64_t window = 0;  // 0 = patch
  double scale = 1.0, shift = 0.0;
  int64_t k() const { return window > 0 ? window : patch; }
};
void patch_embed(const Tensor& image, const PatchParams& p, Tensor& out);
void patch_embed_backward(const Tensor& dpatches, const PatchParams& p, Tensor& dimage);

// ---- optimiser. One AdamW step in place on f32 tensors of one shape, PyTorch semantics:
// g = grad·grad_scale; m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²; p −= lr·wd·p (decoupled);
// p −= lr/(1−β1^t) · m / (sqrt(v/(1−β2^t)) + eps), t = step ≥ 1.
struct AdamWParams {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.01, grad_scale = 1.0;
  int64_t step = 1;
};
void adamw_step(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWParams& p);

// Σ x² in double (a fixed-order reduction), and the global L2 norm over many tensors.
double sum_squares(const Tensor& x);
double global_norm(const std::vector<Tensor>& tensors);
// PyTorch clip_grad_norm_: when the norm exceeds max_norm every tensor is scaled by
// max_norm / (norm + 1e-6). Returns the norm before clipping; a non-finite norm scales nothing (the
// caller should skip the step).
double clip_grad_norm(std::vector<Tensor>& tensors, double max_norm);

// Device implementations (arguments already checked; shapes folded into rows × D).
namespace cpu {
void rmsnorm_forward(const Tensor& x, const Tensor& w, double eps, Tensor& y, Tensor& rstd, int64_t rows, int64_t d);
void rmsnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& rstd, Tensor& dx, Tensor& dw, bool acc,
                      int64_t rows, int64_t d);
void layernorm_forward(const Tensor& x, const Tensor& w, const Tensor& b, double eps, Tensor& y, Tensor& mean, Tensor& rstd,
                       int64_t rows, int64_t d);
void layernorm_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& mean, const Tensor& rstd, Tensor& dx,
                        Tensor& dw, Tensor& db, bool acc, int64_t rows, int64_t d);
void rope(const Tensor& x, const Tensor& positions, const RopeParams& p, Tensor& out);
void swiglu_forward(const Tensor& gate, const Tensor& up, Tensor& out);
void swiglu_backward(const Tensor& dout, const Tensor& gate, const Tensor& up, Tensor& dgate, Tensor& dup);
void gelu_forward(const Tensor& x, Tensor& out);
void gelu_backward(const Tensor& dout, const Tensor& x, Tensor& dx);
void axpy(Tensor& y, const Tensor& x, double alpha);
void add_bias(Tensor& x, const Tensor& bias, int64_t rows, int64_t d);
void sum_rows(const Tensor& x, Tensor& out, bool acc, int64_t rows, int64_t d);
void embedding_forward(const Tensor& ids, const Tensor& table, Tensor& out);
void embedding_backward(const Tensor& dout, const Tensor& ids, Tensor& dtable, bool acc);
void patch_embed(const Tensor& image, const PatchParams& p, Tensor& out);
void patch_embed_backward(const Tensor& dpatches, const PatchParams& p, Tensor& dimage);
void adamw_step(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWParams& p);
double sum_squares(const Tensor& x);
void scale_inplace(Tensor& x, double s);
}  // namespace cpu

#ifdef MTRL_WITH_CUDA
namespace cuda {
void rmsnorm_forward(const Tensor& x, const Tensor& w, double eps, Tensor& y, Tensor& rstd, int64_t rows, int64_t d);
void rmsnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& rstd, Tensor& dx, Tensor& dw, bool acc,
                      int64_t rows, int64_t d);
void layernorm_forward(const Tensor& x, const Tensor& w, const Tensor& b, double eps, Tensor& y, Tensor& mean, Tensor& rstd,
                       int64_t rows, int64_t d);
void layernorm_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& mean, const Tensor& rstd, Tensor& dx,
                        Tensor& dw, Tensor& db, bool acc, int64_t rows, int64_t d);
void rope(const Tensor& x, const Tensor& positions, const RopeParams& p, Tensor& out);
void swiglu_forward(const Tensor& gate, const Tensor& up, Tensor& out);
void swiglu_backward(const Tensor& dout, const Tensor& gate, const Tensor& up, Tensor& dgate, Tensor& dup);
void gelu_forward(const Tensor& x, Tensor& out);
void gelu_backward(const Tensor& dout, const Tensor& x, Tensor& dx);
void axpy(Tensor& y, const Tensor& x, double alpha);
void add_bias(Tensor& x, const Tensor& bias, int64_t rows, int64_t d);
void sum_rows(const Tensor& x, Tensor& out, bool acc, int64_t rows, int64_t d);
void embedding_forward(const Tensor& ids, const Tensor& table, Tensor& out);
void embedding_backward(const Tensor& dout, const Tensor& ids, Tensor& dtable, bool acc);
void patch_embed(const Tensor& image, const PatchParams& p, Tensor& out);
void patch_embed_backward(const Tensor& dpatches, const PatchParams& p, Tensor& dimage);
void adamw_step(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWParams& p);
double sum_squares(const Tensor& x);
void scale_inplace(Tensor& x, double s);
}  // namespace cuda
#endif

}  // namespace mtrl
