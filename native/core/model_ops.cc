// Argument checks and device dispatch for the model ops (model_ops.h). Every message names the
// function, the argument and the expected shape or dtype; the device code only sees valid input.
#include "mtrl/model_ops.h"

#include <cmath>
#include <string>

#include "mtrl/check.h"
#include "mtrl/runtime.h"

namespace mtrl {
namespace {

#ifdef MTRL_WITH_CUDA
#define MTRL_MO_DISPATCH(dev, fn, ...)           \
  do {                                           \
    if ((dev).is_cpu()) return cpu::fn(__VA_ARGS__); \
    cuda_rt::require_device((dev).index, #fn);   \
    return cuda::fn(__VA_ARGS__);                \
  } while (0)
#else
#define MTRL_MO_DISPATCH(dev, fn, ...)           \
  do {                                           \
    if ((dev).is_cpu()) return cpu::fn(__VA_ARGS__); \
    cuda_rt::require_device((dev).index, #fn);   \
    throw_error(std::string(#fn) + ": not compiled with CUDA"); \
  } while (0)
#endif

std::string S(const char* fn) { return std::string(fn) + ": "; }

// t must be defined, on ref's device, with ref's dtype.
void like(const Tensor& t, const Tensor& ref, const char* fn, const char* arg, const char* ref_name) {
  check_defined(t, fn, arg);
  check_same_device(ref, t, fn, ref_name, arg);
  if (t.dtype != ref.dtype)
    throw_type_error(S(fn) + arg + " must have dtype " + dtype_name(ref.dtype) + " (the dtype of " + ref_name + "), got " +
                     dtype_name(t.dtype));
}
void same_shape_as(const Tensor& t, const Tensor& ref, const char* fn, const char* arg, const char* ref_name) {
  like(t, ref, fn, arg, ref_name);
  if (t.shape != ref.shape)
    throw_range_error(S(fn) + arg + " must have the shape of " + ref_name + " " + shape_str(ref.shape) + ", got " + shape_str(t.shape));
}
void check_vec(const Tensor& t, int64_t d, const Tensor& ref, const char* fn, const char* arg) {
  like(t, ref, fn, arg, "x");
  if (t.ndim() != 1 || t.dim(0) != d)
    throw_range_error(S(fn) + arg + " must have shape (" + std::to_string(d) + ",) (the last dim of x), got " + shape_str(t.shape));
}
// Per-row statistics: f32, shape x.shape[:-1].
void check_stats(const Tensor& t, const Tensor& x, const char* fn, const char* arg) {
  check_dtype(t, DType::F32, fn, arg);
  check_same_device(x, t, fn, "x", arg);
  std::vector<int64_t> want(x.shape.begin(), x.shape.end() - 1);
  if (t.shape != want) throw_range_error(S(fn) + arg + " must have shape " + shape_str(want) + " (one value per row of x), got " + shape_str(t.shape));
}
void rows_of(const Tensor& x, const char* fn, int64_t* rows, int64_t* d) {
  check_float(x, fn, "x");
  if (x.ndim() < 1) throw_range_error(S(fn) + "x must have at least 1 dim (..., D), got a scalar");
  *d = x.dim(-1);
  if (*d == 0) throw_range_error(S(fn) + "x must have a non-empty last dim (..., D), got " + shape_str(x.shape));
  *rows = x.numel() / *d;
}
void check_eps(double eps, const char* fn) {
  if (!(eps >= 0.0) || !std::isfinite(eps)) throw_range_error(S(fn) + "eps must be a finite number >= 0, got " + std::to_string(eps));
}
void distinct(const Tensor& a, const Tensor& b, const char* fn, const char* an, const char* bn) {
  if (a.numel() > 0 && a.raw() == b.raw()) throw_range_error(S(fn) + an + " and " + bn + " must not share memory");
}

}  // namespace

void rmsnorm_forward(const Tensor& x, const Tensor& w, double eps, Tensor& y, Tensor& rstd) {
  const char* fn = "rmsnormForward";
  int64_t rows, d;
  rows_of(x, fn, &rows, &d);
  check_vec(w, d, x, fn, "w");
  same_shape_as(y, x, fn, "out", "x");
  check_stats(rstd, x, fn, "rstd");
  check_eps(eps, fn);
  MTRL_MO_DISPATCH(x.device(), rmsnorm_forward, x, w, eps, y, rstd, rows, d);
}

void rmsnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& rstd, Tensor& dx, Tensor& dw, bool acc) {
  const char* fn = "rmsnormBackward";
  int64_t rows, d;
  rows_of(x, fn, &rows, &d);
  same_shape_as(dy, x, fn, "dy", "x");
  check_vec(w, d, x, fn, "w");
  check_stats(rstd, x, fn, "rstd");
  same_shape_as(dx, x, fn, "dx", "x");
  check_vec(dw, d, x, fn, "dw");
  distinct(dx, x, fn, "dx", "x");
  MTRL_MO_DISPATCH(x.device(), rmsnorm_backward, dy, x, w, rstd, dx, dw, acc, rows, d);
}

void layernorm_forward(const Tensor& x, const Tensor& w, const Tensor& b, double eps, Tensor& y, Tensor& mean, Tensor& rstd) {
  const char* fn = "layernormForward";
  int64_t rows, d;
  rows_of(x, fn, &rows, &d);
  check_vec(w, d, x, fn, "w");
  check_vec(b, d, x, fn, "b");
  same_shape_as(y, x, fn, "out", "x");
  check_stats(mean, x, fn, "mean");
  check_stats(rstd, x, fn, "rstd");
  check_eps(eps, fn);
  MTRL_MO_DISPATCH(x.device(), layernorm_forward, x, w, b, eps, y, mean, rstd, rows, d);
}

void layernorm_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& mean, const Tensor& rstd, Tensor& dx,
                        Tensor& dw, Tensor& db, bool acc) {
  const char* fn = "layernormBackward";
  int64_t rows, d;
  rows_of(x, fn, &rows, &d);
  same_shape_as(dy, x, fn, "dy", "x");
  check_vec(w, d, x, fn, "w");
  check_stats(mean, x, fn, "mean");
  check_stats(rstd, x, fn, "rstd");
  same_shape_as(dx, x, fn, "dx", "x");
  check_vec(dw, d, x, fn, "dw");
  check_vec(db, d, x, fn, "db");
  distinct(dx, x, fn, "dx", "x");
  distinct(dw, db, fn, "dw", "db");
  MTRL_MO_DISPATCH(x.device(), layernorm_backward, dy, x, w, mean, rstd, dx, dw, db, acc, rows, d);
}

void rope(const Tensor& x, const Tensor& positions, const RopeParams& p, Tensor& out) {
  const char* fn = p.inverse ? "ropeBackward" : "ropeForward";
  check_float(x, fn, "x");
  check_ndim(x, 4, fn, "x", "(B, S, H, D)");
  check_dtype(positions, DType::I32, fn, "positions");
  check_same_device(x, positions, fn, "x", "positions");
  const int64_t B = x.dim(0), Sq = x.dim(1), D = x.dim(3);
  bool offsets = positions.ndim() == 1 && positions.dim(0) == B;
  bool explicit_pos = positions.ndim() == 2 && positions.dim(0) == B && positions.dim(1) == Sq;
  if (!offsets && !explicit_pos)
    throw_range_error(S(fn) + "positions must have shape (B=" + std::to_string(B) + ",) (start offsets) or (B=" + std::to_string(B) +
                      ", S=" + std::to_string(Sq) + ") (explicit positions), got " + shape_str(positions.shape));
  int64_t rd = p.rotary_dim == 0 ? D : p.rotary_dim;
  if (rd <= 0 || rd > D || rd % 2 != 0)
    throw_range_error(S(fn) + "rotaryDim must be even and in 2.." + std::to_string(D) + " (D), got " + std::to_string(rd) +
                      (D % 2 ? " (D is odd: pass an even rotaryDim)" : ""));
  if (!(p.base > 1.0) || !std::isfinite(p.base)) throw_range_error(S(fn) + "base must be a finite number > 1, got " + std::to_string(p.base));
  same_shape_as(out, x, fn, "out", "x");
  RopeParams q = p;
  q.rotary_dim = rd;
  MTRL_MO_DISPATCH(x.device(), rope, x, positions, q, out);
}

void swiglu_forward(const Tensor& gate, const Tensor& up, Tensor& out) {
  const char* fn = "swigluForward";
  check_float(gate, fn, "gate");
  same_shape_as(up, gate, fn, "up", "gate");
  same_shape_as(out, gate, fn, "out", "gate");
  MTRL_MO_DISPATCH(gate.device(), swiglu_forward, gate, up, out);
}

void swiglu_backward(const Tensor& dout, const Tensor& gate, const Tensor& up, Tensor& dgate, Tensor& dup) {
  const char* fn = "swigluBackward";
  check_float(gate, fn, "gate");
  same_shape_as(up, gate, fn, "up", "gate");
  same_shape_as(dout, gate, fn, "dout", "gate");
  same_shape_as(dgate, gate, fn, "dgate", "gate");
  same_shape_as(dup, gate, fn, "dup", "gate");
  distinct(dgate, dup, fn, "dgate", "dup");
  // dgate may overwrite dout (each element reads dout first), but not gate/up that dup still needs.
  distinct(dgate, up, fn, "dgate", "up");
  distinct(dup, gate, fn, "dup", "gate");
  MTRL_MO_DISPATCH(gate.device(), swiglu_backward, dout, gate, up, dgate, dup);
}

void gelu_forward(const Tensor& x, Tensor& out) {
  const char* fn = "geluForward";
  check_float(x, fn, "x");
  same_shape_as(out, x, fn, "out", "x");
  MTRL_MO_DISPATCH(x.device(), gelu_forward, x, out);
}

void gelu_backward(const Tensor& dout, const Tensor& x, Tensor& dx) {
  const char* fn = "geluBackward";
  check_float(x, fn, "x");
  same_shape_as(dout, x, fn, "dout", "x");
  same_shape_as(dx, x, fn, "dx", "x");
  MTRL_MO_DISPATCH(x.device(), gelu_backward, dout, x, dx);
}

void axpy(Tensor& y, const Tensor& x, double alpha) {
  const char* fn = "addInPlace";
  check_float(y, fn, "a");
  check_defined(x, fn, "b");
  check_same_device(y, x, fn, "a", "b");
  if (x.dtype != y.dtype) throw_type_error(S(fn) + "b must have dtype " + dtype_name(y.dtype) + " (the dtype of a), got " + dtype_name(x.dtype));
  if (x.shape != y.shape) throw_range_error(S(fn) + "b must have the shape of a " + shape_str(y.shape) + ", got " + shape_str(x.shape));
  if (!std::isfinite(alpha)) throw_range_error(S(fn) + "alpha must be finite, got " + std::to_string(alpha));
  MTRL_MO_DISPATCH(y.device(), axpy, y, x, alpha);
}

void add_bias(Tensor& x, const Tensor& bias) {
  const char* fn = "addBias";
  int64_t rows, d;
  rows_of(x, fn, &rows, &d);
  check_vec(bias, d, x, fn, "bias");
  MTRL_MO_DISPATCH(x.device(), add_bias, x, bias, rows, d);
}

void sum_rows(const Tensor& x, Tensor& out, bool acc) {
  const char* fn = "sumRows";
  int64_t rows, d;
  rows_of(x, fn, &rows, &d);
  check_vec(out, d, x, fn, "out");
  distinct(out, x, fn, "out", "x");
  MTRL_MO_DISPATCH(x.device(), sum_rows, x, out, acc, rows, d);
}

void embedding_forward(const Tensor& ids, const Tensor& table, Tensor& out) {
  const char* fn = "embeddingForward";
  check_dtype(ids, DType::I32, fn, "ids");
  check_float(table, fn, "table");
  check_ndim(table, 2, fn, "table", "(V, D)");
  check_same_device(table, ids, fn, "table", "ids");
  std::vector<int64_t> want = ids.shape;
  want.push_back(table.dim(1));
  like(out, table, fn, "out", "table");
  if (out.shape != want) throw_range_error(S(fn) + "out must have shape " + shape_str(want) + " (ids.shape + (D,)), got " + shape_str(out.shape));
  MTRL_MO_DISPATCH(table.device(), embedding_forward, ids, table, out);
}

void embedding_backward(const Tensor& dout, const Tensor& ids, Tensor& dtable, bool acc) {
  const char* fn = "embeddingBackward";
  check_dtype(ids, DType::I32, fn, "ids");
  check_float(dtable, fn, "dtable");
  check_ndim(dtable, 2, fn, "dtable", "(V, D)");
  check_same_device(dtable, ids, fn, "dtable", "ids");
  like(dout, dtable, fn, "dout", "dtable");
  std::vector<int64_t> want = ids.shape;
  want.push_back(dtable.dim(1));
  if (dout.shape != want) throw_range_error(S(fn) + "dout must have shape " + shape_str(want) + " (ids.shape + (D,)), got " + shape_str(dout.shape));
  MTRL_MO_DISPATCH(dtable.device(), embedding_backward, dout, ids, dtable, acc);
}

namespace {
void check_patch_geometry(const std::vector<int64_t>& img, const PatchParams& p, const char* fn, const char* arg) {
  if (img.size() != 4) throw_range_error(S(fn) + arg + " must have shape (B, H, W, C) (4 dims), got " + shape_str(img));
  if (p.patch <= 0) throw_range_error(S(fn) + "patchSize must be a positive integer, got " + std::to_string(p.patch));
  if (img[1] % p.patch != 0 || img[2] % p.patch != 0)
    throw_range_error(S(fn) + "image height and width must be multiples of patchSize=" + std::to_string(p.patch) + ", got " +
                      shape_str(img));
  if (p.window < 0 || (p.window > 0 && (p.window < p.patch || (p.window - p.patch) % 2 != 0)))
    throw_range_error(S(fn) + "patchWindow must be 0 (= patchSize) or an integer ≥ patchSize=" + std::to_string(p.patch) +
                      " that differs from it by an even number (the window is centred on the patch), got " + std::to_string(p.window));
  if (!std::isfinite(p.scale) || !std::isfinite(p.shift)) throw_range_error(S(fn) + "scale and shift must be finite");
}
std::vector<int64_t> patch_shape(const std::vector<int64_t>& img, const PatchParams& p) {
  const int64_t P = p.patch, K = p.k();
  return {img[0], (img[1] / P) * (img[2] / P), K * K * img[3]};
}
}  // namespace

void patch_embed(const Tensor& image, const PatchParams& p, Tensor& out) {
  const char* fn = "patchEmbed";
  check_defined(image, fn, "image");
  if (image.dtype != DType::U8 && image.dtype != DType::F32)
    throw_type_error(S(fn) + "image must have dtype u8 or f32, got " + dtype_name(image.dtype));
  check_patch_geometry(image.shape, p, fn, "image");
  check_float(out, fn, "out");
  check_same_device(image, out, fn, "image", "out");
  auto want = patch_shape(image.shape, p);
  if (out.shape != want) throw_range_error(S(fn) + "out must have shape " + shape_str(want) + " (B, nPatches, K*K*C with K the window), got " + shape_str(out.shape));
  MTRL_MO_DISPATCH(image.device(), patch_embed, image, p, out);
}

void patch_embed_backward(const Tensor& dpatches, const PatchParams& p, Tensor& dimage) {
  const char* fn = "patchEmbedBackward";
  check_defined(dimage, fn, "dimage");
  if (dimage.dtype != DType::F32)
    throw_type_error(S(fn) + "dimage must have dtype f32 (u8 images are inputs, not parameters, and have no gradient), got " +
                     dtype_name(dimage.dtype));
  check_patch_geometry(dimage.shape, p, fn, "dimage");
  check_dtype(dpatches, DType::F32, fn, "dpatches");
  check_same_device(dimage, dpatches, fn, "dimage", "dpatches");
  auto want = patch_shape(dimage.shape, p);
  if (dpatches.shape != want) throw_range_error(S(fn) + "dpatches must have shape " + shape_str(want) + ", got " + shape_str(dpatches.shape));
  MTRL_MO_DISPATCH(dimage.device(), patch_embed_backward, dpatches, p, dimage);
}

void adamw_step(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWParams& p) {
  const char* fn = "adamwStep";
  check_dtype(param, DType::F32, fn, "param");
  check_dtype(grad, DType::F32, fn, "grad");
  check_dtype(m, DType::F32, fn, "m");
  check_dtype(v, DType::F32, fn, "v");
  check_same_device(param, grad, fn, "param", "grad");
  check_same_device(param, m, fn, "param", "m");
  check_same_device(param, v, fn, "param", "v");
  check_same_shape(param, grad, fn, "param", "grad");
  check_same_shape(param, m, fn, "param", "m");
  check_same_shape(param, v, fn, "param", "v");
  distinct(m, v, fn, "m", "v");
  distinct(param, m, fn, "param", "m");
  distinct(param, v, fn, "param", "v");
  auto in01 = [&](double x, const char* name) {
    if (!(x >= 0.0 && x < 1.0)) throw_range_error(S(fn) + name + " must be in [0, 1), got " + std::to_string(x));
  };
  in01(p.beta1, "beta1");
  in01(p.beta2, "beta2");
  if (!(p.lr >= 0.0) || !std::isfinite(p.lr)) throw_range_error(S(fn) + "lr must be a finite number >= 0, got " + std::to_string(p.lr));
  if (!(p.eps > 0.0) || !std::isfinite(p.eps)) throw_range_error(S(fn) + "eps must be a finite number > 0, got " + std::to_string(p.eps));
  if (!(p.weight_decay >= 0.0) || !std::isfinite(p.weight_decay))
    throw_range_error(S(fn) + "weightDecay must be a finite number >= 0, got " + std::to_string(p.weight_decay));
  if (!std::isfinite(p.grad_scale)) throw_range_error(S(fn) + "gradScale must be finite, got " + std::to_string(p.grad_scale));
  if (p.step < 1) throw_range_error(S(fn) + "step must be an integer >= 1 (the step being taken, for bias correction), got " + std::to_string(p.step));
  MTRL_MO_DISPATCH(param.device(), adamw_step, param, grad, m, v, p);
}

double sum_squares(const Tensor& x) {
  check_float(x, "sumSquares", "x");
  MTRL_MO_DISPATCH(x.device(), sum_squares, x);
}

namespace {
void check_list(const std::vector<Tensor>& ts, const char* fn) {
  for (size_t i = 0; i < ts.size(); ++i) {
    std::string arg = "tensors[" + std::to_string(i) + "]";
    check_float(ts[i], fn, arg.c_str());
  }
}
}  // namespace

double global_norm(const std::vector<Tensor>& tensors) {
  check_list(tensors, "gradNorm");
  double s = 0.0;
  for (const Tensor& t : tensors) s += sum_squares(t);  // fixed order: the list's
  return std::sqrt(s);
}

double clip_grad_norm(std::vector<Tensor>& tensors, double max_norm) {
  const char* fn = "clipGradNorm";
  check_list(tensors, fn);
  if (!(max_norm > 0.0) || !std::isfinite(max_norm)) throw_range_error(S(fn) + "maxNorm must be a finite number > 0, got " + std::to_string(max_norm));
  double norm = global_norm(tensors);
  if (!std::isfinite(norm)) return norm;
  double coef = max_norm / (norm + 1e-6);
  if (coef < 1.0) {
    for (Tensor& t : tensors) {
      if (t.device().is_cpu()) cpu::scale_inplace(t, coef);
#ifdef MTRL_WITH_CUDA
      else cuda::scale_inplace(t, coef);
#endif
    }
  }
  return norm;
}

}  // namespace mtrl
