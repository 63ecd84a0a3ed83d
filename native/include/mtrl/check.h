// Argument checks shared by every entry point. Messages name the function, the argument and what
// was expected, e.g. "attentionForward: k must have shape (B=2, Sk, Hkv, D=64), got (2, 7, 3, 32)".
#pragma once
#include <string>
#include "mtrl/tensor.h"

namespace mtrl {

inline void check_defined(const Tensor& t, const char* fn, const char* arg) {
  if (!t.storage) throw_type_error(std::string(fn) + ": " + arg + " is missing (undefined or disposed tensor)");
}

inline void check_dtype(const Tensor& t, DType want, const char* fn, const char* arg) {
  check_defined(t, fn, arg);
  if (t.dtype != want)
    throw_type_error(std::string(fn) + ": " + arg + " must have dtype " + dtype_name(want) + ", got " + dtype_name(t.dtype));
}

inline void check_float(const Tensor& t, const char* fn, const char* arg) {
  check_defined(t, fn, arg);
  if (t.dtype != DType::F32 && t.dtype != DType::BF16)
    throw_type_error(std::string(fn) + ": " + arg + " must have dtype f32 or bf16, got " + dtype_name(t.dtype));
}

inline void check_ndim(const Tensor& t, int nd, const char* fn, const char* arg, const char* dims) {
  check_defined(t, fn, arg);
  if (t.ndim() != nd)
    throw_range_error(std::string(fn) + ": " + arg + " must have shape " + dims + " (" + std::to_string(nd) +
                      " dims), got " + shape_str(t.shape));
}

inline void check_same_device(const Tensor& a, const Tensor& b, const char* fn, const char* an, const char* bn) {
  if (a.device() != b.device())
    throw_type_error(std::string(fn) + ": " + an + " is on " + a.device().name() + " but " + bn + " is on " +
                     b.device().name() + "; move them to one device with .to()");
}

inline void check_same_shape(const Tensor& a, const Tensor& b, const char* fn, const char* an, const char* bn) {
  if (a.shape != b.shape)
    throw_range_error(std::string(fn) + ": " + bn + " must have the shape of " + an + " " + shape_str(a.shape) +
                      ", got " + shape_str(b.shape));
}

}  // namespace mtrl
